import type { Worker } from 'node:worker_threads';

/**
 * Stops a worker thread the pool no longer wants: drops the pool's own
 * listeners (not Worker's internal ones, which ref its port), keeps a silent
 * 'error' listener (an 'error' with none would be thrown in this process),
 * and terminates it. Shared by the tokenizer pool and the USE-lite embedder.
 */
export async function stopThread(worker: Worker): Promise<void> {
  for (const event of ['message', 'error', 'exit'] as const) worker.removeAllListeners(event);
  worker.on('error', () => {});
  await worker.terminate();
}
