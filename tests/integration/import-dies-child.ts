// A process that starts the 0.1 import on DATA_DIR and hangs in a step after the documents: the test SIGKILLs it there.
import { loadConfig } from '../../src/config.js';
import { buildContainer } from '../../src/container.js';
import { createLogger } from '../../src/logger.js';
import { IMPORT_01_STEPS } from '../../src/adapters/sqlite/import-0.1.js';

const config = loadConfig(undefined, { dotenvPath: null });
const c = buildContainer(config, createLogger('silent'), { role: 'local' });
await c.importLegacy({
  leaseMs: Number(process.env.IMPORT_LEASE_MS),
  steps: [
    IMPORT_01_STEPS[0]!,
    {
      name: 'hangs',
      run: () => {
        process.stdout.write('HANGING\n');
        return new Promise<never>(() => undefined);
      },
    },
  ],
});
