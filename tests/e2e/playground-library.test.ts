import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startServer, waitForJob, type TestServer } from '../helpers/server.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);

/**
 * Eight paragraphs on one subject; `extra` (if any) is put in the middle.
 * Every document has keepers, so each has chunks matching the question and the
 * documents' curve has a point per document for the cut to separate.
 */
function doc(subject: string, thing: string, people: string, extra?: string): string {
  const paragraphs: string[] = [];
  for (let i = 0; i < 8; i++) {
    paragraphs.push(
      `Entry ${i + 1}. In ${1900 + i * 4} the ${people} of ${subject} talked about the ${thing} again, ` +
        `and wrote down what the ${thing} had cost that season.`,
    );
    if (extra && i === 4) paragraphs.push(extra);
  }
  return paragraphs.join('\n\n');
}

const DOCS = [
  {
    id: 'lighthouse-log',
    title: 'Lighthouse log',
    text: doc(
      'the lighthouse',
      'lamp oil',
      'lamp keepers',
      'The lighthouse keeper named his grey cat Captain Marbles, after a sailor he once rescued.',
    ),
  },
  { id: 'bakery-ledger', title: 'Bakery ledger', text: doc('the bakery', 'rye flour', 'shop keepers') },
  { id: 'railway-minutes', title: 'Railway minutes', text: doc('the railway', 'timetables', 'station keepers') },
];
const QUESTION = 'What did the lighthouse keeper name his cat?';

describe.skipIf(!hasChromium)(
  'the playground’s library view in a real headless Chromium (skipped: /usr/bin/chromium is missing; apt-get install chromium)',
  () => {
    let server: TestServer;
    let browser: Browser;
    let page: Page;
    const errors: string[] = [];

    beforeAll(async () => {
      server = await startServer({ CHUNK_TOKENS: 60, CHUNK_OVERLAP_TOKENS: 0 });
      for (const d of DOCS) {
        const r = await server.call('POST', '/v1/documents', d);
        expect(r.status).toBe(202);
        expect((await waitForJob(server, r.body.jobId)).state).toBe('completed');
      }
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
      });
      page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
      page.on('pageerror', (e) => errors.push(e.message));
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await server?.close();
    });

    it('shows which documents a question over the whole library read: the picked ones, their curve with the cut, the candidates and the reasons', async () => {
      await page.goto(`${server.url}/playground`);
      await page.waitForSelector('#doc-list li label');
      expect(await page.$$eval('#doc-list input:checked', (xs) => xs.length)).toBe(0);
      expect(await page.isVisible('#library-panel')).toBe(false);

      await page.fill('#question', QUESTION);
      await page.click('#ask-btn');
      await page.waitForSelector('#answer:is([data-state=done], [data-state=failed])', { timeout: 120_000 });
      await page.waitForSelector('#library-panel[data-scope=library] svg.doc-curve');
      await mkdir('test-output', { recursive: true });
      await page.screenshot({ path: 'test-output/playground-library.png', fullPage: true });

      expect(await page.isVisible('#ask-error'), (await page.textContent('#ask-error')) ?? '').toBe(false);
      expect(await page.isVisible('#library-panel')).toBe(true);
      // What the service says for the same question, to hold the page to.
      const api = await server.call('POST', '/v1/retrieve', { question: QUESTION });
      expect(api.status).toBe(200);
      const lib = api.body.library;
      expect(lib.picked[0].id).toBe('lighthouse-log');

      const rows = await page.$$eval('#library-picked tbody tr', (trs) =>
        trs.map((tr) => ({ id: tr.getAttribute('data-document'), cells: [...tr.cells].map((td) => td.textContent) })),
      );
      expect(rows.map((r) => r.id)).toEqual(lib.picked.map((d: { id: string }) => d.id));
      expect(rows[0]!.cells[1]).toContain('Lighthouse log');
      expect(rows[0]!.cells[1]).toContain('lighthouse-log');
      expect(Number(rows[0]!.cells[2])).toBeCloseTo(lib.picked[0].score, 2);
      expect(Number(rows[0]!.cells[3]!.replace(/,/g, ''))).toBe(lib.picked[0].tokens);
      expect(rows.map((r) => r.cells[4])).toEqual(
        lib.picked.map((d: { by: string }) => (d.by === 'cut' ? 'above the cut' : 'holds the same terms')),
      );

      const reasons = await page.$$eval('#library-reasons li', (lis) => lis.map((li) => li.textContent));
      expect(reasons.length).toBeGreaterThan(0);
      expect(reasons).toEqual(lib.reasons);
      expect(await page.isVisible('#library-fallback')).toBe(lib.fallback !== null);

      const curve = await page.$eval('svg.doc-curve', (svg) => ({
        points: Number(svg.getAttribute('data-points')),
        k: Number(svg.getAttribute('data-k')),
        cut: Number(svg.getAttribute('data-cut')),
        best: svg.querySelector('circle.pt[data-rank="0"]')?.getAttribute('data-document'),
        bestClass: svg.querySelector('circle.pt[data-rank="0"]')?.getAttribute('class'),
        read: svg.querySelectorAll('circle.pt.above, circle.pt.buffer, circle.pt.alike').length,
        alike: [...svg.querySelectorAll('circle.pt.alike')].map((c) => c.getAttribute('data-document')),
        title: svg.querySelector(':scope > title')?.textContent ?? '',
      }));
      expect(lib.curve).toHaveLength(3);
      expect(curve.points).toBe(3);
      expect(await page.$$eval('svg.doc-curve .cut-marker line.cut', (ls) => ls.length)).toBe(1);
      // The first k points are the documents above the cut (and the buffer); those holding the same terms are marked apart.
      const sameTerms = lib.picked
        .filter((d: { by: string }) => d.by === 'same-terms')
        .map((d: { id: string }) => d.id);
      expect(curve.k).toBe(rows.length - sameTerms.length);
      expect(curve.alike).toEqual(sameTerms);
      expect(curve.read).toBe(rows.length);
      expect(curve.cut).toBe(lib.cutIndex);
      expect(curve.best).toBe('lighthouse-log');
      expect(curve.bestClass).toMatch(/above/);
      expect(curve.title).toMatch(/^Documents' score curve: \d+ documents/);

      const facts = Object.fromEntries(
        await page.$$eval('#library-facts > div', (ds) =>
          ds.map((d) => [d.querySelector('dt')?.textContent, d.querySelector('dd')?.textContent]),
        ),
      );
      expect(facts['candidate chunks']).toMatch(
        new RegExp(`: ${lib.candidates.lexical} lexical, ${lib.candidates.dense} dense$`),
      );
      expect(facts['term weights']).toMatch(/^by (documents|chunks) holding the term$/);
      expect(await page.textContent('#library-summary')).toMatch(
        new RegExp(`^${rows.length} of 3 documents \\(${lib.curve.length} with matching chunks\\) read\\.$`),
      );
      expect(errors).toEqual([]);
    });

    it('marks the documents read because they hold the same terms, in the table and on the curve', async () => {
      // Every document's keepers wrote down what their thing had cost that season: the question fits all three.
      const vague = 'What did the keepers write down about the cost that season?';
      const api = await server.call('POST', '/v1/retrieve', { question: vague });
      const lib = api.body.library;
      expect(lib.distinction.singledOut).toBe(false);
      expect(lib.picked.map((d: { id: string }) => d.id).sort()).toEqual(DOCS.map((d) => d.id).sort());
      const sameTerms = lib.picked
        .filter((d: { by: string }) => d.by === 'same-terms')
        .map((d: { id: string }) => d.id);
      expect(sameTerms.length).toBeGreaterThan(0);

      await page.fill('#question', vague);
      const retrieved = page.waitForResponse((r) => new URL(r.url()).pathname === '/v1/retrieve');
      await page.click('#ask-btn');
      const shown = await (await retrieved).json();
      await page.waitForSelector('#answer:is([data-state=done], [data-state=failed])', { timeout: 120_000 });
      await page.waitForSelector('svg.doc-curve circle.pt.alike');
      // Each document's chunks were cut on their own: the chunk curve marks the chunks read, not the first k.
      const chunkCurve = await page.$eval('svg.curve', (svg) => ({
        read: [...svg.querySelectorAll('circle.pt.above, circle.pt.buffer')].map((c) =>
          Number(c.getAttribute('data-rank')),
        ),
      }));
      const readRanks = shown.curve.flatMap((p: { id: string }, i: number) =>
        shown.selected.some((c: { id: string }) => c.id === p.id) ? [i] : [],
      );
      expect(chunkCurve.read).toEqual(readRanks);
      expect(chunkCurve.read.length).toBe(shown.selected.length);
      await page.screenshot({ path: 'test-output/playground-library-alike.png', fullPage: true });
      const rows = await page.$$eval('#library-picked tbody tr', (trs) =>
        trs.map((tr) => [tr.getAttribute('data-document'), tr.cells[4]?.textContent]),
      );
      expect(rows).toEqual(
        lib.picked.map((d: { id: string; by: string }) => [
          d.id,
          d.by === 'cut' ? 'above the cut' : 'holds the same terms',
        ]),
      );
      const alike = await page.$$eval('svg.doc-curve circle.pt.alike', (cs) =>
        cs.map((c) => c.getAttribute('data-document')),
      );
      expect(alike.sort()).toEqual([...sameTerms].sort());
      expect(await page.isVisible('.sw.alike')).toBe(true);
      expect(errors).toEqual([]);
    });

    it('hides the library view when the question names its documents', async () => {
      expect(await page.isVisible('#library-panel')).toBe(true);
      await page.check('#doc-list input[data-id="bakery-ledger"]');
      const retrieved = page.waitForResponse((r) => new URL(r.url()).pathname === '/v1/retrieve');
      await page.click('#ask-btn');
      expect((await (await retrieved).json()).library).toBeNull();
      await page.waitForSelector('#answer:is([data-state=done], [data-state=failed])', { timeout: 120_000 });
      await page.waitForSelector('#library-panel[data-scope=named]', { state: 'attached' });
      expect(await page.isVisible('#ask-error'), (await page.textContent('#ask-error')) ?? '').toBe(false);
      expect(await page.isVisible('#library-panel')).toBe(false);
      expect(errors).toEqual([]);
    });
  },
);
