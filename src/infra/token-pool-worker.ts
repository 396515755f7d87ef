import { parentPort } from 'node:worker_threads';
import { chunkText } from '../core/ingest/chunker.js';
import { cl100k } from '../core/tokenizer.js';
import type { TokenReply, TokenRequest } from './token-pool.js';

/**
 * Entry of a {@link TokenPool} thread: the same `cl100k.count` and `chunkText`
 * the event loop would run, answered one request at a time. Chunks go back as
 * one transferred array of (start, end, tokens) triples, not as objects with
 * their text: the caller slices the text it already holds, so no copy of a
 * book crosses back.
 */
const port = parentPort;
if (!port) throw new Error('token-pool-worker runs only as a worker thread');

port.on('message', (req: TokenRequest) => {
  let reply: TokenReply;
  try {
    if (req.kind === 'count') {
      reply = { id: req.id, ok: true, count: cl100k.count(req.text) };
    } else {
      const chunks = chunkText(req.text, { chunkTokens: req.chunkTokens, overlapTokens: req.overlapTokens });
      const spans = new Int32Array(chunks.length * 3);
      chunks.forEach((c, i) => {
        spans[3 * i] = c.start;
        spans[3 * i + 1] = c.end;
        spans[3 * i + 2] = c.tokens;
      });
      port.postMessage({ id: req.id, ok: true, spans } satisfies TokenReply, [spans.buffer]);
      return;
    }
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    reply = { id: req.id, ok: false, name: e.name, message: e.message };
  }
  port.postMessage(reply);
});
