/**
 * What the OpenAI-compatible endpoint costs over the service's own: the same
 * question on the same document sent to POST /v1/query (the baseline) and to
 * POST /v1/chat/completions, without and with streaming, alternating the two
 * (ABBA) for --rounds rounds in the same run, over loopback HTTP with plain
 * fetch (no SDK on either side, so only the server's work differs). Prints
 * the median and p90 latency of each and the ratio chat / query; target ≤ 1.05.
 *
 *   npx tsx bench/chat-overhead.ts [--rounds 40] [--document <path>] [--question "..."]
 *
 * The service runs in this process with embedded stores, the in-process queue,
 * USE lite and the extractive reader (the defaults): the reader's time is the
 * same for both routes, so the ratio isolates the translation.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cliHelp, exitOnHelp, type CliOptions } from '../src/cli/help.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { buildContainer } from '../src/container.js';
import { serveInProcess } from './serve.js';
import { median } from './stats.js';

const LARA = fileURLToPath(new URL('../../shared/datasets/lara/', import.meta.url));
const OPTIONS = {
  rounds: { type: 'string', default: '40' },
  document: { type: 'string', default: join(LARA, 'documents/32k/book/A Christmas Carol.txt') },
  question: { type: 'string', default: 'What does Scrooge see when he looks at the knocker on his door?' },
  warmup: { type: 'string', default: '5' },
} satisfies CliOptions;
exitOnHelp(() =>
  cliHelp({
    usage: 'npx tsx bench/chat-overhead.ts [options]',
    about:
      'Latency of POST /v1/chat/completions against POST /v1/query on the same question and document, without and with streaming, in the same run (target ratio ≤ 1.05).',
    options: OPTIONS,
    describe: {
      rounds: 'ABBA rounds per mode (each round sends two requests to each route)',
      document: 'text file to ingest and ask about',
      question: 'the question',
      warmup: 'requests to each route before measuring',
    },
  }),
);
const { values } = parseArgs({ options: OPTIONS });
const rounds = Number(values.rounds);
const warmup = Number(values.warmup);
const question = values.question!;

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

async function main(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'air-bench-chat-'));
  const config = loadConfig(
    {},
    { dotenvPath: null, overrides: { DATA_DIR: dataDir, LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: 0 } },
  );
  const container = buildContainer(config, createLogger(config.LOG_LEVEL), { role: 'api' });
  const { app, base } = await serveInProcess(container);
  try {
    const text = await readFile(values.document!, 'utf8');
    const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(base + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
    const submitted = (await (
      await post('/v1/documents', { id: 'doc', title: basename(values.document!), text })
    ).json()) as { jobId: string };
    for (;;) {
      const job = (await (await fetch(`${base}/v1/jobs/${submitted.jobId}`)).json()) as { state: string };
      if (job.state === 'completed') break;
      if (job.state === 'failed') throw new Error(`ingestion failed: ${JSON.stringify(job)}`);
      await new Promise((r) => setTimeout(r, 100));
    }

    const scope = { documentIds: ['doc'] };
    // Each returns once the whole response has been read, and checks it is a success.
    const calls = {
      query: async () => {
        const r = await post('/v1/query', { question, ...scope });
        const body = (await r.json()) as { answer?: string };
        if (r.status !== 200 || typeof body.answer !== 'string') throw new Error(`/v1/query ${r.status}`);
      },
      chat: async () => {
        const r = await post('/v1/chat/completions', {
          model: 'auto',
          messages: [{ role: 'user', content: question }],
          ...scope,
        });
        const body = (await r.json()) as { choices?: unknown[] };
        if (r.status !== 200 || !Array.isArray(body.choices)) throw new Error(`/v1/chat/completions ${r.status}`);
      },
      'query stream': async () => {
        const r = await post('/v1/query', { question, ...scope }, { accept: 'text/event-stream' });
        const t = await r.text();
        if (r.status !== 200 || !t.includes('event: result'))
          throw new Error('/v1/query stream did not end in a result');
      },
      'chat stream': async () => {
        const r = await post('/v1/chat/completions', {
          model: 'auto',
          messages: [{ role: 'user', content: question }],
          stream: true,
          ...scope,
        });
        const t = await r.text();
        if (r.status !== 200 || !t.trimEnd().endsWith('data: [DONE]'))
          throw new Error('/v1/chat/completions stream did not end in [DONE]');
      },
    };
    const time = async (fn: () => Promise<void>) => {
      const t0 = performance.now();
      await fn();
      return performance.now() - t0;
    };

    console.log(`document: ${basename(values.document!)} (${text.length} chars); question: ${question}`);
    console.log(`rounds: ${rounds} (ABBA), warm-up: ${warmup} per route; Node ${process.version}`);
    console.log('');
    console.log('mode        route                   median ms   p90 ms   ratio (median)');
    for (const [mode, a, b] of [
      ['json', 'query', 'chat'],
      ['stream', 'query stream', 'chat stream'],
    ] as const) {
      for (let i = 0; i < warmup; i++) {
        await calls[a]();
        await calls[b]();
      }
      const ta: number[] = [];
      const tb: number[] = [];
      for (let i = 0; i < rounds; i++) {
        ta.push(await time(calls[a]));
        tb.push(await time(calls[b]));
        tb.push(await time(calls[b]));
        ta.push(await time(calls[a]));
      }
      const ma = median(ta);
      const mb = median(tb);
      const pathOf = (route: string) => (route.startsWith('query') ? 'POST /v1/query' : 'POST /v1/chat/completions');
      console.log(
        `${mode.padEnd(12)}${pathOf(a).padEnd(24)}${ma.toFixed(2).padStart(9)}${quantile(ta, 0.9).toFixed(2).padStart(9)}   1 (baseline)`,
      );
      console.log(
        `${mode.padEnd(12)}${pathOf(b).padEnd(24)}${mb.toFixed(2).padStart(9)}${quantile(tb, 0.9).toFixed(2).padStart(9)}   ${(mb / ma).toFixed(3)}${mb / ma <= 1.05 ? '' : '  (above the 1.05 target)'}`,
      );
    }
  } finally {
    await app.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
