import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startServer, type TestServer } from '../helpers/server.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);

/**
 * Forty paragraphs on unrelated subjects (~2.3k tokens), and one sentence, two
 * thirds in, that holds the answer: the question can only be answered from
 * there. The token buffer is capped at a share of the document
 * (ADAPTIVE_K_BUFFER_MAX_SHARE), so retrieval stays selective on it.
 */
function haystack(): { text: string; needle: string } {
  const subjects = [
    ['the river delta', 'silt', 'fishermen'],
    ['the mountain railway', 'tunnels', 'engineers'],
    ['the old library', 'manuscripts', 'archivists'],
    ['the orchard', 'apple trees', 'pickers'],
    ['the glassworks', 'furnaces', 'glassblowers'],
    ['the observatory', 'telescopes', 'astronomers'],
    ['the harbour market', 'spices', 'merchants'],
    ['the textile mill', 'looms', 'weavers'],
  ] as const;
  const needle = 'The lighthouse keeper named his grey cat Captain Marbles, after a sailor he once rescued.';
  const paragraphs: string[] = [];
  for (let i = 0; i < 40; i++) {
    const [place, thing, people] = subjects[i % subjects.length]!;
    paragraphs.push(
      `Part ${i + 1}. In the year ${1850 + i * 3}, ${place} changed again. The ${people} argued about the ${thing} for weeks, ` +
        `and the town council kept minutes of every meeting. Prices rose by ${(i % 7) + 2} percent that season, ` +
        `and visitors wrote letters describing the ${thing} in great detail.`,
    );
    if (i === 26) paragraphs.push(needle);
  }
  return { text: paragraphs.join('\n\n'), needle };
}

/** Whether the server has a route (an unknown route answers 404 NOT_FOUND; a known one rejects the empty body with 400). */
async function routeExists(server: TestServer, path: string): Promise<boolean> {
  const r = await server.call('POST', path, {});
  return !(r.status === 404 && r.body?.error?.code === 'NOT_FOUND');
}

describe.skipIf(!hasChromium)(
  'the playground page in a real headless Chromium (skipped: /usr/bin/chromium is missing; apt-get install chromium)',
  () => {
    let server: TestServer;
    let browser: Browser;
    let page: Page;
    const requested: string[] = [];
    const keysSent: Array<string | undefined> = [];

    beforeAll(async () => {
      server = await startServer({ CHUNK_TOKENS: 80, CHUNK_OVERLAP_TOKENS: 8 });
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
        ],
      });
      page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
      page.on('request', (req) => {
        requested.push(req.url());
        if (new URL(req.url()).pathname.startsWith('/v1/')) keysSent.push(req.headers()['x-api-key']);
      });
    });

    afterAll(async () => {
      await browser?.close();
      await server?.close();
    });

    it('serves the page, its script and its stylesheet from the service itself, with a strict content policy', async () => {
      const html = await fetch(`${server.url}/playground`);
      expect(html.status).toBe(200);
      expect(html.headers.get('content-type')).toMatch(/^text\/html/);
      expect(html.headers.get('content-security-policy')).toContain("connect-src 'self'");
      const body = await html.text();
      expect(body).toContain('/playground/app.js');
      const js = await fetch(`${server.url}/playground/app.js`);
      expect(js.status).toBe(200);
      expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
      expect((await js.text()).length).toBeGreaterThan(1000);
      const missing = await server.call('GET', '/playground/secret.txt');
      expect(missing.status).toBe(404);
      expect(missing.body.error.code).toBe('NOT_FOUND');
    });

    it('shows the service’s message when a question is asked before any document exists', async () => {
      await page.goto(`${server.url}/playground`);
      await page.waitForSelector('#doc-list li.muted:text("No documents yet")');
      await page.fill('#question', 'Anything?');
      await page.click('#ask-btn');
      await page.waitForSelector('#ask-error:not([hidden])');
      expect(await page.textContent('#ask-error')).toMatch(/no ready documents \(NO_DOCUMENTS\)/);
      expect(await page.getAttribute('#answer', 'data-state')).toBe('failed');
    });

    it('ingests a pasted document, answers a question with its strategy, and draws the score curve with the cut and the document map', async () => {
      const { text } = haystack();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${server.url}/playground`);
      await page.fill('#doc-title', 'Harbour town chronicle');
      await page.fill('#doc-text', text);
      await page.click('#ingest-btn');
      await page.waitForSelector('#ingest-status:is([data-state=ready], [data-state=failed])', { timeout: 120_000 });
      expect(await page.textContent('#ingest-text')).toMatch(/^Ready: “Harbour town chronicle”, \d+ chunks/);
      // The new document is ticked, so the question is scoped to it.
      expect(await page.isChecked('#doc-list input[type=checkbox]')).toBe(true);

      await page.fill('#question', "What is the name of the lighthouse keeper's cat?");
      await page.click('#ask-btn');
      await page.waitForSelector('#answer:is([data-state=done], [data-state=failed])', { timeout: 120_000 });
      await page.waitForSelector('svg.curve circle.pt');
      // Taken before the checks, so a failing run still leaves a picture to look at.
      await mkdir('test-output', { recursive: true });
      await page.screenshot({ path: 'test-output/playground.png', fullPage: true });

      expect(await page.isVisible('#ask-error'), (await page.textContent('#ask-error')) ?? '').toBe(false);
      expect(await page.textContent('#answer')).toContain('Captain Marbles');
      const strategy = await page.getAttribute('#strategy-badge', 'data-strategy');
      const hasQuery = await routeExists(server, '/v1/query');
      if (hasQuery) {
        expect(['rag', 'coa', 'full']).toContain(strategy);
        expect((await page.$$('#reasons li')).length).toBeGreaterThan(0);
        expect(await page.isVisible('#notice')).toBe(false);
      } else {
        // An older server: the page must say it did not use the router.
        expect(await page.textContent('#notice')).toContain('no /v1/query');
        expect(strategy).toBeTruthy();
      }

      const curve = await page.$eval('svg.curve', (svg) => ({
        points: Number(svg.getAttribute('data-points')),
        k: Number(svg.getAttribute('data-k')),
        circles: svg.querySelectorAll('circle.pt').length,
        read: svg.querySelectorAll('circle.pt.above, circle.pt.buffer').length,
        cut: svg.querySelectorAll('.cut-marker line.cut').length,
      }));
      expect(curve.points).toBeGreaterThan(5);
      expect(curve.circles).toBe(curve.points);
      expect(curve.read).toBe(curve.k);
      expect(curve.k).toBeLessThan(curve.points);
      expect(curve.cut).toBe(1);
      // The best chunk sits where the needle is: two thirds into the document.
      const bestOrder = Number(await page.getAttribute('svg.curve circle.pt[data-rank="0"]', 'data-order'));
      const cells = await page.$$eval('svg.docmap .cell', (cs) =>
        cs.map((c) => ({ order: Number(c.getAttribute('data-order')), cls: c.getAttribute('class') ?? '' })),
      );
      expect(cells.length).toBeGreaterThan(5);
      expect(cells.find((c) => c.order === bestOrder)?.cls).toMatch(/above/);
      expect(bestOrder / cells.length).toBeGreaterThan(0.45);
      expect(bestOrder / cells.length).toBeLessThan(0.9);

      // Offline: the page fetched nothing but the service's own origin.
      expect(requested.filter((u) => !u.startsWith(server.url))).toEqual([]);
      expect(errors).toEqual([]);
    });

    it('shows each Chain-of-Agents worker’s note as the chain reads the segments', async (ctx) => {
      if (!(await routeExists(server, '/v1/query'))) ctx.skip('POST /v1/query is not on this server yet');
      await page.selectOption('#strategy', 'coa');
      await page.click('#ask-btn');
      await page.waitForSelector('#answer:is([data-state=done], [data-state=failed])', { timeout: 120_000 });
      expect(await page.isVisible('#ask-error'), (await page.textContent('#ask-error')) ?? '').toBe(false);
      expect(await page.getAttribute('#strategy-badge', 'data-strategy')).toBe('coa');
      const notes = await page.$$eval('#coa-notes li', (lis) => lis.map((li) => li.textContent ?? ''));
      expect(notes.length).toBeGreaterThan(0);
      expect(notes[0]).toMatch(/^segment 1 of \d+/);
      expect(notes.join(' ')).toContain('Captain Marbles');
      await page.selectOption('#strategy', 'auto');
    });

    it('compares the strategies side by side: retrieval reads fewer tokens than the whole text', async (ctx) => {
      if (!(await routeExists(server, '/v1/answer'))) ctx.skip('POST /v1/answer is not on this server yet');
      await page.click('#compare-btn');
      await page.waitForSelector('#compare tbody tr:nth-child(4)');
      await page.waitForSelector('#compare-btn:not([disabled])', { timeout: 120_000 });
      const rows = await page.$$eval('#compare tbody tr', (trs) =>
        trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')),
      );
      expect(rows.map((r) => r[0])).toEqual([expect.stringMatching(/^auto → (rag|coa|full)$/), 'rag', 'coa', 'full']);
      const tokens = (name: string) => Number(rows.find((r) => r[0] === name)![1]!.replace(/,/g, ''));
      expect(tokens('rag')).toBeGreaterThan(0);
      expect(tokens('rag')).toBeLessThan(tokens('full'));
      for (const r of rows) {
        expect(r).toHaveLength(6);
        expect(Number(r[3])).toBeGreaterThan(0);
        expect(r[5]).toContain('Captain Marbles');
      }
      await page.screenshot({ path: 'test-output/playground-compare.png', fullPage: true });
    });

    it('shows the service’s error message when an upload is refused', async () => {
      await page.click('#tab-upload');
      await page.setInputFiles('#doc-file', {
        name: 'report.pdf',
        mimeType: 'application/pdf',
        buffer: Buffer.from('%PDF-1.4'),
      });
      await page.click('#ingest-btn');
      await page.waitForSelector('#ingest-status[data-state=failed]');
      expect(await page.textContent('#ingest-text')).toContain('Unsupported file type .pdf');
    });

    it('uploads a .md file as multipart and reports it ready', async () => {
      await page.setInputFiles('#doc-file', {
        name: 'notes.md',
        mimeType: 'text/markdown',
        buffer: Buffer.from('# Notes\n\nThe bakery opens at seven.\n\nThe bridge closes at nine.\n'),
      });
      await page.fill('#doc-title', '');
      await page.click('#ingest-btn');
      await page.waitForSelector('#ingest-status:is([data-state=ready], [data-state=failed])', { timeout: 120_000 });
      expect(await page.textContent('#ingest-text')).toMatch(/^Ready: “notes\.md”/);
    });

    it('keeps the API key in localStorage and sends it as x-api-key on every call', async () => {
      await page.fill('#api-key', 'air_test_key');
      await page.dispatchEvent('#api-key', 'change');
      keysSent.length = 0;
      await page.reload();
      expect(await page.inputValue('#api-key')).toBe('air_test_key');
      await page.waitForSelector('#doc-list li label');
      expect(keysSent.length).toBeGreaterThan(0);
      expect(keysSent.every((k) => k === 'air_test_key')).toBe(true);
      await page.fill('#api-key', '');
      await page.dispatchEvent('#api-key', 'change');
    });

    it('works with auth on: asks for a key, then reads the documents with it', async () => {
      const secured = await startServer({ AUTH: 'on', ADMIN_API_KEY: 'admin-secret-for-the-playground' });
      const p = await browser.newPage();
      try {
        await p.goto(`${secured.url}/playground`);
        await p.waitForSelector('#doc-list li.error-text');
        expect(await p.textContent('#doc-list')).toContain('Enter an API key');
        await p.fill('#api-key', 'admin-secret-for-the-playground');
        await p.dispatchEvent('#api-key', 'change');
        await p.waitForSelector('#doc-list li.muted:text("No documents yet")');
        await p.fill('#doc-text', 'The vault code is 4417. '.repeat(20));
        await p.click('#ingest-btn');
        await p.waitForSelector('#ingest-status:is([data-state=ready], [data-state=failed])', { timeout: 120_000 });
        expect(await p.textContent('#ingest-text')).toMatch(/^Ready/);
      } finally {
        await p.close();
        await secured.close();
      }
    });
  },
);
