import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { AppError } from '../src/errors.js';
import { PLAYGROUND_ROOT, bundlePlayground, writePlaygroundBundle } from '../playground/build.js';

/** Options of the playground plugin. */
export interface PlaygroundOptions {
  /** Folder holding index.html, style.css, src/ and dist/. Default: the repository's playground/. */
  root?: string;
}

interface Asset {
  body: Buffer;
  type: string;
}

/**
 * The page talks only to this origin and loads nothing else: a strict policy
 * costs nothing and keeps a pasted document's HTML from ever running.
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

async function newestSourceMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.ts')) {
      newest = Math.max(newest, (await stat(join(entry.parentPath, entry.name))).mtimeMs);
    }
  }
  return newest;
}

async function mtimeOrNull(path: string): Promise<number | null> {
  try {
    return (await stat(path)).mtimeMs;
  } catch {
    return null;
  }
}

/**
 * The bundle from playground/dist when it is at least as new as the sources;
 * otherwise a fresh esbuild bundle (~100 ms), written back to dist when the
 * folder is writable (a read-only image still serves it from memory).
 */
async function loadBundle(
  root: string,
  log: { info: (o: object, m: string) => void; warn: (o: object, m: string) => void },
) {
  const distJs = join(root, 'dist', 'app.js');
  const built = await mtimeOrNull(distJs);
  const sources = await mtimeOrNull(join(root, 'src')).then((m) =>
    m === null ? null : newestSourceMtime(join(root, 'src')),
  );
  if (built !== null && (sources === null || built >= sources)) {
    const [js, map] = await Promise.all([
      readFile(distJs),
      readFile(join(root, 'dist', 'app.js.map')).catch(() => Buffer.from('{}')),
    ]);
    return { js, map };
  }
  if (sources === null) throw new Error(`playground: neither ${distJs} nor its sources exist`);
  const started = performance.now();
  const bundle = await bundlePlayground(root);
  log.info({ ms: Math.round(performance.now() - started), bytes: bundle.js.byteLength }, 'playground bundled');
  await writePlaygroundBundle(bundle, root).catch((err: unknown) =>
    log.warn({ err }, 'playground bundle not cached in dist/ (served from memory)'),
  );
  return { js: Buffer.from(bundle.js), map: Buffer.from(bundle.map) };
}

/**
 * Serves the playground page at /playground and its assets under
 * /playground/…: the files are read (and the script bundled) once when the
 * plugin registers, then answered from memory.
 */
const playground: FastifyPluginAsync<PlaygroundOptions> = async (app, opts) => {
  const root = opts.root ?? PLAYGROUND_ROOT;
  const [html, css, bundle] = await Promise.all([
    readFile(join(root, 'index.html')),
    readFile(join(root, 'style.css')),
    loadBundle(root, app.log),
  ]);
  const assets = new Map<string, Asset>([
    ['style.css', { body: css, type: 'text/css; charset=utf-8' }],
    ['app.js', { body: bundle.js, type: 'text/javascript; charset=utf-8' }],
    ['app.js.map', { body: bundle.map, type: 'application/json; charset=utf-8' }],
  ]);

  const send = (reply: FastifyReply, asset: Asset) =>
    reply
      .header('content-type', asset.type)
      // Revalidate every time: the files change with the service, and they are small.
      .header('cache-control', 'no-cache')
      .header('x-content-type-options', 'nosniff')
      .header('content-security-policy', CSP)
      .send(asset.body);

  const page: Asset = { body: html, type: 'text/html; charset=utf-8' };
  app.get('/playground', { schema: { hide: true } }, async (_req, reply) => send(reply, page));
  app.get('/playground/', { schema: { hide: true } }, async (_req, reply) => send(reply, page));
  app.get('/playground/:file', { schema: { hide: true } }, async (req, reply) => {
    const { file } = req.params as { file: string };
    const asset = assets.get(file);
    if (!asset) throw new AppError('NOT_FOUND', [`GET /playground/${file}`]);
    return send(reply, asset);
  });
};

export default playground;
