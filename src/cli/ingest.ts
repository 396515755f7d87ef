import { readdir, readFile, stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { basename, extname, join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { buildContainer, type Container } from '../container.js';
import { htmlToText } from '../core/ingest/html.js';
import { isAppError } from '../errors.js';

const HELP = `Batch ingestion: load a directory of .txt/.md/.html files or a JSONL file.

Usage: npm run ingest -- <dir | file.jsonl> [options]

  --namespace NS    tenant to ingest into (default: default)
  --url URL         send to a running server (e.g. http://127.0.0.1:3000) instead of the in-process core
  --api-key KEY     API key for --url when auth is on
  --id-from-path    use the file's relative path (sanitised) as the document id (default: content hash)
  --no-wait         submit only; do not wait for indexing
  -h, --help

JSONL lines: {"id"?: string, "title"?: string, "text": string, "metadata"?: object}.
Resumable: content already ingested is skipped (same content, same document).`;

interface Item {
  id?: string;
  title?: string;
  text: string;
  metadata?: Record<string, unknown>;
  source: string;
  /** Where the item came from, for error messages: file, or file:line. */
  origin: string;
}

const EXTENSIONS = new Set(['.txt', '.md', '.markdown', '.html', '.htm']);

async function* walk(dir: string): AsyncGenerator<string> {
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (e.isFile() && EXTENSIONS.has(extname(e.name).toLowerCase())) yield p;
  }
}

function idFromPath(root: string, file: string): string {
  const rel = relative(root, file).replace(/\.[^.]+$/, '');
  const id = rel
    .replace(/[^A-Za-z0-9._:-]+/g, '_')
    .replace(/^[.-]+/, '')
    .slice(0, 128);
  return id || 'doc';
}

export async function* readItems(
  input: string,
  opts: { idFromPath: boolean },
): AsyncGenerator<Item | { error: string; origin: string }> {
  const s = await stat(input);
  if (s.isDirectory()) {
    for await (const file of walk(input)) {
      const raw = await readFile(file, 'utf8');
      const isHtml = /\.html?$/i.test(file);
      yield {
        ...(opts.idFromPath ? { id: idFromPath(input, file) } : {}),
        title: basename(file),
        text: isHtml ? htmlToText(raw) : raw,
        source: basename(file),
        origin: file,
      };
    }
    return;
  }
  const rl = createInterface({ input: createReadStream(input, 'utf8'), crlfDelay: Infinity });
  let line = 0;
  for await (const text of rl) {
    line++;
    if (text.trim() === '') continue;
    const origin = `${input}:${line}`;
    try {
      const o = JSON.parse(text) as Partial<Item>;
      if (typeof o.text !== 'string') throw new Error('"text" must be a string');
      yield {
        ...(typeof o.id === 'string' ? { id: o.id } : {}),
        ...(typeof o.title === 'string' ? { title: o.title } : {}),
        text: o.text,
        ...(o.metadata && typeof o.metadata === 'object' ? { metadata: o.metadata as Record<string, unknown> } : {}),
        source: basename(input),
        origin,
      };
    } catch (err) {
      yield { error: `malformed line: ${(err as Error).message}`, origin };
    }
  }
}

interface Target {
  submit(item: Item): Promise<{ id: string; jobId: string; unchanged: boolean; ready: boolean }>;
  status(id: string): Promise<{ status: string; error: string | null }>;
  close(): Promise<void>;
}

function localTarget(container: Container, namespace: string): Target {
  return {
    async submit(item) {
      const r = await container.documentService.submit({ ...item, namespace });
      return {
        id: r.document.id,
        jobId: r.jobId,
        unchanged: r.unchanged,
        ready: r.document.status === 'ready' && !r.document.pending,
      };
    },
    async status(id) {
      const d = await container.documentService.get(namespace, id);
      return {
        status: d.pending ? (d.error ? 'failed' : 'indexing') : d.status,
        error: d.error ? `${d.error.code}: ${d.error.message}` : null,
      };
    },
    close: () => container.close(),
  };
}

function httpTarget(base: string, namespace: string, apiKey: string | undefined): Target {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-namespace': namespace };
  if (apiKey) headers['x-api-key'] = apiKey;
  const call = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(new URL(path, base), {
      ...init,
      headers: { ...headers, ...(init.headers as Record<string, string>) },
    });
    const body = (await res.json().catch(() => ({}))) as Record<string, any>;
    if (!res.ok) throw new Error(`${res.status} ${body.error?.code ?? ''}: ${body.error?.message ?? res.statusText}`);
    return body;
  };
  return {
    async submit(item) {
      const { origin: _o, source: _s, ...payload } = item;
      const b = await call('/v1/documents', { method: 'POST', body: JSON.stringify(payload) });
      return {
        id: b.document.id,
        jobId: b.jobId,
        unchanged: b.unchanged,
        ready: b.document.status === 'ready' && !b.document.pending,
      };
    },
    async status(id) {
      const d = await call(`/v1/documents/${encodeURIComponent(id)}`);
      return {
        status: d.pending ? (d.error ? 'failed' : 'indexing') : d.status,
        error: d.error ? `${d.error.code}: ${d.error.message}` : null,
      };
    },
    close: async () => undefined,
  };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      namespace: { type: 'string', default: 'default' },
      url: { type: 'string' },
      'api-key': { type: 'string' },
      'id-from-path': { type: 'boolean', default: false },
      'no-wait': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help || positionals.length !== 1) {
    console.log(HELP);
    process.exit(values.help ? 0 : 2);
  }
  const input = positionals[0]!;
  let target: Target;
  if (values.url) {
    target = httpTarget(values.url, values.namespace!, values['api-key']);
  } else {
    const config = loadConfig();
    const container = buildContainer(config, createLogger('warn'), { role: 'local' });
    await container.importLegacy();
    await container.runner!.start();
    target = localTarget(container, values.namespace!);
  }

  const items: Array<Item | { error: string; origin: string }> = [];
  for await (const it of readItems(input, { idFromPath: values['id-from-path']! })) items.push(it);
  const bar = new cliProgress.SingleBar(
    {
      format: 'ingest |{bar}| {value}/{total} docs | {percentage}% | ETA {eta_formatted} | {state}',
      hideCursor: true,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(items.length, 0, { state: '' });
  const counts = { submitted: 0, skipped: 0, indexed: 0, failed: 0, invalid: 0 };
  const problems: string[] = [];
  const waiting = new Map<string, string>();
  for (const it of items) {
    if ('error' in it) {
      counts.invalid++;
      problems.push(`${it.origin}: ${it.error}`);
      bar.increment(1, { state: 'invalid line' });
      continue;
    }
    try {
      const r = await target.submit(it);
      if (r.unchanged && r.ready) {
        counts.skipped++;
        bar.increment(1, { state: `skipped ${r.id} (already ingested)` });
      } else {
        counts.submitted++;
        waiting.set(r.id, it.origin);
        if (values['no-wait']) bar.increment(1, { state: `queued ${r.id}` });
      }
    } catch (err) {
      counts.failed++;
      problems.push(`${it.origin}: ${isAppError(err) ? `${err.code}: ${err.message}` : (err as Error).message}`);
      bar.increment(1, { state: 'rejected' });
    }
    if (!values['no-wait']) {
      // Keep the queue short so progress reflects indexing, not submission.
      while (waiting.size >= 4) await settle();
    }
  }
  async function settle(): Promise<void> {
    await new Promise((r) => setTimeout(r, 250));
    for (const [id, origin] of waiting) {
      const s = await target.status(id);
      if (s.status === 'ready') {
        counts.indexed++;
        waiting.delete(id);
        bar.increment(1, { state: `indexed ${id}` });
      } else if (s.status === 'failed') {
        counts.failed++;
        waiting.delete(id);
        problems.push(`${origin}: ${s.error}`);
        bar.increment(1, { state: `failed ${id}` });
      }
    }
  }
  if (!values['no-wait']) while (waiting.size > 0) await settle();
  bar.stop();
  await target.close();
  console.log(
    `done: ${counts.indexed} indexed, ${counts.skipped} already ingested, ${counts.failed} failed, ${counts.invalid} invalid lines` +
      (values['no-wait'] ? `, ${counts.submitted} queued` : ''),
  );
  for (const p of problems) console.log(`  ${p}`);
  process.exit(counts.failed + counts.invalid > 0 ? 1 : 0);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
