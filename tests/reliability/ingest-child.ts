/**
 * Child process of embedded-kill.test.ts and shared-data-dir.test.ts: ingests a stream of documents in
 * process (embedded stores, in-process queue) and prints `SUBMITTED <id>` when
 * a submission returned and `INDEXED <id> <chunks>` when its document is live,
 * until it is killed. Recovers what a previous run left pending first.
 */
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { buildContainer } from '../../src/container.js';
import { HashingEmbedder } from '../contract/llm-test-embedder.js';

const config = loadConfig(process.env, { dotenvPath: null });
// JOB_LOG=1: the queue's job events as JSON lines on stdout (which run of which job this process made).
const logger =
  process.env.JOB_LOG === '1'
    ? createLogger('debug', { write: (line: string) => void process.stdout.write(line) })
    : createLogger('silent');
const container = buildContainer(config, logger, { role: 'local', overrides: { embedder: new HashingEmbedder() } });
await container.ready();
await container.runner!.start();
await container.documentService.recoverPending();
const prefix = process.env.DOC_PREFIX ?? 'doc';
const words = ['anchor', 'barley', 'candle', 'dune', 'ember', 'fjord', 'garnet', 'hollow', 'iris', 'juniper'];
const text = (i: number) =>
  Array.from(
    { length: 25 + (i % 7) * 5 },
    (_, j) =>
      `Line ${j} of ledger ${i} lists ${words[(i + j) % words.length]} and ${words[(i * 3 + j) % words.length]} at ${i * 100 + j}.`,
  ).join(' ');

const waiting = new Set<string>();
void (async () => {
  for (;;) {
    for (const id of [...waiting]) {
      const d = await container.documentService.get('default', id);
      if (d.status === 'ready' && !d.pending) {
        waiting.delete(id);
        process.stdout.write(`INDEXED ${id} ${d.chunkCount}\n`);
      }
    }
    await new Promise((r) => setTimeout(r, 5));
  }
})();
for (let i = 0; ; i++) {
  const id = `${prefix}-${i}`;
  await container.documentService.submit({ namespace: 'default', id, text: text(i), source: 'json' });
  process.stdout.write(`SUBMITTED ${id}\n`);
  waiting.add(id);
  while (waiting.size > 3) await new Promise((r) => setTimeout(r, 2));
}
