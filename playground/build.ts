/**
 * Bundles the playground's TypeScript (playground/src) into one ES module,
 * playground/dist/app.js, with esbuild. The service calls this on demand when
 * the bundle is missing or older than its sources (routes/playground.ts), so a
 * clean clone serves the page with no build step; `npm run build:playground`
 * does it ahead of time (e.g. for a read-only image).
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The playground folder (index.html, style.css, src/, dist/). */
export const PLAYGROUND_ROOT = fileURLToPath(new URL('.', import.meta.url));

export interface PlaygroundBundle {
  /** The bundled page script. */
  js: Uint8Array;
  /** Its source map (served beside it, so browser devtools show the TypeScript). */
  map: Uint8Array;
}

/** Bundles in memory; throws esbuild's error (with file:line) when the sources do not compile. */
export async function bundlePlayground(root: string = PLAYGROUND_ROOT): Promise<PlaygroundBundle> {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [join(root, 'src', 'main.ts')],
    outfile: join(root, 'dist', 'app.js'),
    bundle: true,
    format: 'esm',
    // Browsers from 2022 on: top-level await, private fields, TextDecoderStream.
    target: ['es2022', 'chrome100', 'firefox100', 'safari16'],
    minify: true,
    sourcemap: 'linked',
    legalComments: 'none',
    charset: 'utf8',
    write: false,
    logLevel: 'silent',
  });
  const js = result.outputFiles.find((f) => f.path.endsWith('.js'));
  const map = result.outputFiles.find((f) => f.path.endsWith('.js.map'));
  if (!js || !map) throw new Error('esbuild produced no app.js');
  return { js: js.contents, map: map.contents };
}

/**
 * Writes a bundle into `root/dist`. Each file goes to a unique temporary name
 * and is renamed into place, so servers starting at once never read half a file.
 */
export async function writePlaygroundBundle(bundle: PlaygroundBundle, root: string = PLAYGROUND_ROOT): Promise<void> {
  const dist = join(root, 'dist');
  await mkdir(dist, { recursive: true });
  const tag = `${process.pid}-${Date.now()}`;
  for (const [name, data] of [
    ['app.js.map', bundle.map],
    ['app.js', bundle.js],
  ] as const) {
    const tmp = join(dist, `.${name}.${tag}.tmp`);
    await writeFile(tmp, data);
    await rename(tmp, join(dist, name));
  }
}

const invokedDirectly = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  const started = performance.now();
  const bundle = await bundlePlayground();
  await writePlaygroundBundle(bundle);
  console.log(
    `playground/dist/app.js: ${(bundle.js.byteLength / 1024).toFixed(1)} kB in ${Math.round(performance.now() - started)} ms`,
  );
}
