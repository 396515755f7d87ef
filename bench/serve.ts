import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app.js';
import type { Container } from '../src/container.js';

/**
 * Serves `container` over loopback HTTP the way src/server.ts does (stores
 * ready, in-process queue running, an ephemeral port), for benchmarks that
 * measure the service in process. Closing the app closes the container.
 */
export async function serveInProcess(container: Container): Promise<{ app: FastifyInstance; base: string }> {
  const app = await buildApp(container);
  app.addHook('onClose', async () => container.close());
  await container.ready();
  await container.runner!.start();
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  return { app, base: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}` };
}

/**
 * The settings of a benchmark's in-process service on embedded defaults over `dataDir`: no Redis, the embedded
 * stores, no auth or rate limit, the extractive reader, warnings only.
 */
export function embeddedService(dataDir: string) {
  return {
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    REDIS_URL: '',
    VECTOR_STORE: 'embedded',
    AUTH: 'off',
    RATE_LIMIT_PER_MINUTE: 0,
    LLM_PROVIDER: 'extractive',
  } as const;
}
