import { cp, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import playground from '../../routes/playground.js';
import { PLAYGROUND_ROOT } from '../../playground/build.js';

/** A copy of the playground's sources without dist/, as in a clean clone. */
async function cleanCopy(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'air-playground-'));
  for (const name of ['index.html', 'style.css', 'src'])
    await cp(join(PLAYGROUND_ROOT, name), join(root, name), { recursive: true });
  return root;
}

async function serve(root: string) {
  const app = Fastify({ logger: false });
  await app.register(playground, { root });
  await app.ready();
  return app;
}

describe('the playground plugin', () => {
  let root: string;
  beforeEach(async () => {
    root = await cleanCopy();
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('bundles the page script on demand when dist/ is missing, and caches the bundle there', async () => {
    const app = await serve(root);
    const js = await app.inject('/playground/app.js');
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toMatch(/^text\/javascript/);
    // One self-contained module: no import left for the browser to resolve.
    expect(js.body).not.toMatch(/\bimport\s*[{("'*]/);
    expect(js.body).toContain('sourceMappingURL=app.js.map');
    expect(await readFile(join(root, 'dist', 'app.js'), 'utf8')).toBe(js.body);
    const map = await app.inject('/playground/app.js.map');
    expect(JSON.parse(map.body).sources.some((s: string) => s.endsWith('main.ts'))).toBe(true);
    await app.close();
  });

  it('serves the page at /playground and /playground/ and its stylesheet, each with a content security policy', async () => {
    const app = await serve(root);
    for (const url of ['/playground', '/playground/']) {
      const r = await app.inject(url);
      expect(r.statusCode).toBe(200);
      expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(r.body).toContain('<script type="module" src="/playground/app.js">');
      expect(r.headers['content-security-policy']).toContain("script-src 'self'");
    }
    const css = await app.inject('/playground/style.css');
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(css.body).toBe(await readFile(join(root, 'style.css'), 'utf8'));
    expect((await app.inject('/playground/../package.json')).statusCode).toBe(404);
    expect((await app.inject('/playground/index.ts')).statusCode).toBe(404);
    await app.close();
  });

  it('reuses a bundle newer than its sources and rebuilds one older than them', async () => {
    await (await serve(root)).close();
    const dist = join(root, 'dist', 'app.js');
    await writeFile(dist, '/* prebuilt */');
    const future = new Date(Date.now() + 60_000);
    await utimes(dist, future, future);
    let app = await serve(root);
    expect((await app.inject('/playground/app.js')).body).toBe('/* prebuilt */');
    await app.close();

    const past = new Date(Date.now() - 60_000);
    await utimes(dist, past, past);
    app = await serve(root);
    expect((await app.inject('/playground/app.js')).body).not.toBe('/* prebuilt */');
    expect((await stat(dist)).mtimeMs).toBeGreaterThan(past.getTime());
    await app.close();
  });

  it('refuses to start with a clear error when the sources do not compile', async () => {
    await writeFile(join(root, 'src', 'main.ts'), 'const = ;');
    await expect(serve(root)).rejects.toThrow(/main\.ts/);
  });
});
