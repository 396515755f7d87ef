import { loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { buildContainer } from './container.js';
import { buildApp } from './app.js';
import { exitOnHelp, settingsHelp } from './cli/help.js';

/** Process entry: config, container, HTTP, signals. */
async function main(): Promise<void> {
  exitOnHelp(() =>
    settingsHelp(
      'npm start   (or: npx adaptive-reader serve)',
      'The HTTP API: documents, retrieval, answers, /v1/chat/completions, /mcp, /metrics; docs at /docs.',
    ),
  );
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL);
  const container = buildContainer(config, logger, { role: 'api' });
  container.warm();
  const app = await buildApp(container);
  app.addHook('onClose', async () => container.close());

  // Migrations first, once per deployment (an advisory lock keeps replicas from applying one twice).
  await container.database?.ready();
  // A DATA_DIR written by 0.1: its data moves into the database before anything is served.
  await container.importLegacy();
  await container.ready();
  // An in-process model loads in the background: wait, so prompts are sized with its own tokenizer.
  await container.llm.ready?.();
  if (container.runner) {
    await container.runner.start();
    await container.documentService.recoverPending();
    // A DATA_DIR filled by another embedder (a change of EMBEDDER, or of its default): its live versions are embedded again.
    await container.documentService.reembedStale();
  }
  await app.listen({ host: config.HOST, port: config.PORT });
  // Live versions stored before their terms were recorded (an older DATA_DIR or database): recorded in the
  // background; until then whole-namespace retrieval uses chunk-level term weights and says so.
  void container.documentService
    .recordMissingTerms()
    .catch((err: unknown) => logger.error({ err }, 'recording the terms of live versions failed'));
  logger.info(
    {
      embedder: config.EMBEDDER,
      vectorStore: config.VECTOR_STORE,
      queue: container.queue.name,
      llm: config.LLM_PROVIDER,
    },
    `adaptive-reader listening on http://${config.HOST}:${config.PORT} (docs at /docs)`,
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests and jobs');
    const deadline = setTimeout(() => {
      logger.error('shutdown deadline passed, exiting');
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS);
    deadline.unref();
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? `${err.name}: ${err.message}` : err);
  process.exit(1);
});
