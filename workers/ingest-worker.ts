import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { buildContainer } from '../src/container.js';
import { AppError } from '../src/errors.js';
import { exitOnHelp, settingsHelp } from '../src/cli/help.js';

/**
 * The worker process: takes jobs from Redis (BullMQ) and runs the processors
 * (chunk, embed, store). Run one per core; each embeds on its own core.
 */
async function main(): Promise<void> {
  exitOnHelp(() =>
    settingsHelp(
      'npm run worker   (or: npx adaptive-reader worker)',
      'An ingestion worker: takes jobs from Redis (REDIS_URL, required) and runs them (chunk, embed, store; query batches). Run one per core.',
    ),
  );
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL).child({ role: 'worker', pid: process.pid });
  if (!config.REDIS_URL) {
    throw new AppError('CONFIG_INVALID', ['the worker needs REDIS_URL; without Redis the API runs jobs in process']);
  }
  const container = buildContainer(config, logger, { role: 'worker' });
  // Jobs run here, so their metrics live here: served on a port of the worker's own when asked for.
  const metricsServer =
    config.WORKER_METRICS_PORT > 0
      ? serveMetrics(container.metrics.registry, config.HOST, config.WORKER_METRICS_PORT)
      : null;
  // Handlers first: a job may start the moment the runner does, while start-up (recovery) still runs.
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'worker stopping: finishing active jobs');
    const deadline = setTimeout(() => process.exit(1), config.SHUTDOWN_TIMEOUT_MS);
    deadline.unref();
    metricsServer?.close();
    container.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  container.warm();
  await container.database?.ready();
  await container.importLegacy();
  await container.ready();
  await container.runner!.start();
  await container.documentService.recoverPending();
  // A change of embedder: live versions without vectors of its size are embedded again.
  await container.documentService.reembedStale();
  logger.info({ concurrency: config.WORKER_CONCURRENCY }, 'worker started');
}

/** A bare HTTP server with GET /metrics (Prometheus text format) and nothing else. */
function serveMetrics(registry: Registry, host: string, port: number): Server {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics failed\n'),
    );
  });
  server.listen(port, host);
  return server;
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? `${err.name}: ${err.message}` : err);
  process.exit(1);
});
