import { Worker } from 'node:worker_threads';

/**
 * Stops a worker thread the pool no longer wants: drops the pool's own
 * listeners (not Worker's internal ones, which ref its port), keeps a silent
 * 'error' listener (an 'error' with none would be thrown in this process),
 * and terminates it. Shared by every thread of the service.
 */
export async function stopThread(worker: Worker): Promise<void> {
  for (const event of ['message', 'error', 'exit'] as const) worker.removeAllListeners(event);
  worker.on('error', () => {});
  await worker.terminate();
}

/**
 * Loads a thread's entry module. Under tsx or vitest the entry is
 * TypeScript and the thread may not have inherited a loader (vitest's forks
 * do not): tsx's `tsImport` loads it then. Compiled output imports the
 * sibling `.js` directly. Only dynamic imports: the evaluated source is
 * parsed as CommonJS or as a module depending on the flags the thread
 * inherits (`--input-type=module` makes it a module, without `require`).
 */
const BOOTSTRAP = `
import('node:worker_threads').then(({ workerData }) =>
  workerData.tsx ? import(workerData.tsx).then((api) => api.tsImport(workerData.entry, workerData.entry)) : import(workerData.entry),
);
`;

/**
 * Starts a worker thread running the module `name` beside `base` (pass
 * `import.meta.url`): `name.ts` under tsx, `name.js` when compiled. `data`
 * is the module's `workerData`, with `entry` and `tsx` added.
 */
export function startModuleThread(name: string, base: string, data: Record<string, unknown> = {}): Worker {
  const ts = base.endsWith('.ts');
  const entry = new URL(`./${name}.${ts ? 'ts' : 'js'}`, base).href;
  return new Worker(BOOTSTRAP, {
    eval: true,
    workerData: { ...data, entry, tsx: ts ? import.meta.resolve('tsx/esm/api') : null },
  });
}
