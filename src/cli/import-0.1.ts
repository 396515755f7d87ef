import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { buildContainer } from '../container.js';
import { has01Data } from '../adapters/sqlite/import-0.1.js';

const HELP = `Imports a data directory written by adaptive-reader 0.1 (documents and their texts,
API keys, jobs, and what the chunk store imports) into this release's database in it.
The service does this by itself at its first start on such a directory; this runs it
by hand. The 0.1 files are read, never changed: delete them once the import is checked.

Usage: npm run import-0.1 -- [--data-dir DIR] [--force]

  --data-dir DIR   the directory (default: DATA_DIR, ./data)
  --force          run again although an import finished (only what is missing is added)
  -h, --help`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'data-dir': { type: 'string' },
      force: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const config = loadConfig(undefined, { overrides: values['data-dir'] ? { DATA_DIR: values['data-dir'] } : {} });
  if (config.DATABASE_URL) {
    console.error(
      'The import fills the embedded database in DATA_DIR; DATABASE_URL is set, so the service would not read it. Unset DATABASE_URL to import.',
    );
    process.exitCode = 2;
    return;
  }
  if (!has01Data(config.DATA_DIR)) {
    console.error(
      `${config.DATA_DIR} holds no data of release 0.1 (documents/, api-keys.json, jobs/, vectors/, embedding-cache/)`,
    );
    process.exitCode = 2;
    return;
  }
  const container = buildContainer(config, createLogger('warn'), { role: 'local' });
  try {
    const summary = await container.importLegacy({ force: values.force });
    if (summary === null) console.log(`already imported (run with --force to import again what is missing)`);
    else console.log(JSON.stringify(summary, null, 2));
  } finally {
    await container.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? `${err.name}: ${err.message}` : err);
  process.exit(1);
});
