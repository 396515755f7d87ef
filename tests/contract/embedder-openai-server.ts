import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local server speaking OpenAI's embeddings protocol
 * (https://platform.openai.com/docs/api-reference/embeddings/create):
 * `POST /v1/embeddings` with `{ model, input: string[] }`, answering
 * `{ object: "list", data: [{ object: "embedding", index, embedding }], model, usage }`.
 * Vectors are a hashed bag of words (not normalised), so texts sharing words
 * are similar. Requests that break the protocol get the 400 OpenAI would send.
 * Tests queue scripted failures in `script`; each request takes the next one.
 */
export type Scripted =
  | { status: number; headers?: Record<string, string>; body?: string }
  | { raw: string }
  | { transform: (data: EmbeddingItem[]) => unknown }
  | { delayMs: number };

export interface EmbeddingItem {
  object: 'embedding';
  index: number;
  embedding: number[];
}

export interface ReceivedRequest {
  at: number;
  authorization: string | undefined;
  body: { model: string; input: string[] };
}

export const FAKE_DIMS = 64;

export function bagOfWords(text: string, dims = FAKE_DIMS): number[] {
  const v = new Array<number>(dims).fill(0);
  for (const word of text.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
    const h = createHash('sha256').update(word).digest();
    v[h.readUInt16LE(0) % dims]! += h[2]! & 1 ? 1 : -1;
  }
  // Keeps every vector non-zero, like a real model.
  v[dims - 1]! += 0.5;
  return v;
}

export class FakeEmbeddingsServer {
  readonly requests: ReceivedRequest[] = [];
  readonly script: Scripted[] = [];
  /** Answers data items in reverse order, to check that clients sort by index. */
  reverse = true;
  private server: Server | undefined;
  baseUrl = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.baseUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    const error = (status: number, message: string): void =>
      send(status, { error: { message, type: 'invalid_request_error', param: null, code: null } });

    if (req.method !== 'POST' || req.url !== '/v1/embeddings') return error(404, `no route ${req.method} ${req.url}`);
    if (!String(req.headers['content-type']).startsWith('application/json'))
      return error(400, 'content-type must be application/json');
    let body: { model?: unknown; input?: unknown };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return error(400, 'body is not JSON');
    }
    if (typeof body.model !== 'string' || !body.model) return error(400, "'model' is required");
    if (
      !Array.isArray(body.input) ||
      body.input.length === 0 ||
      !body.input.every((s) => typeof s === 'string' && s.length > 0)
    ) {
      return error(400, "'input' must be a non-empty array of non-empty strings");
    }
    const input = body.input as string[];
    this.requests.push({
      at: Date.now(),
      authorization: req.headers.authorization,
      body: { model: body.model, input },
    });

    const data: EmbeddingItem[] = input.map((text, index) => ({
      object: 'embedding',
      index,
      embedding: bagOfWords(text),
    }));
    if (this.reverse) data.reverse();
    const step = this.script.shift();
    if (step && 'delayMs' in step) await new Promise((r) => setTimeout(r, step.delayMs));
    if (step && 'status' in step)
      return send(step.status, step.body ?? { error: { message: `scripted ${step.status}` } }, step.headers);
    if (step && 'raw' in step) return send(200, step.raw);
    const payload = step && 'transform' in step ? step.transform(data) : data;
    const tokens = input.reduce((n, t) => n + t.split(/\s+/).length, 0);
    send(200, {
      object: 'list',
      data: payload,
      model: body.model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    });
  }
}
