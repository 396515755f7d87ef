import { writeFileSync } from 'node:fs';
import { renderEnvExample } from '../src/config.js';
import { cliHelp, exitOnHelp } from '../src/cli/help.js';

// Regenerates .env.example from the config table in src/config.ts.
exitOnHelp(() =>
  cliHelp({
    usage: 'npm run env:example',
    about: 'Writes .env.example from the settings table in src/config.ts (a test checks they agree).',
    options: {},
  }),
);
writeFileSync(new URL('../.env.example', import.meta.url), renderEnvExample());
console.log('wrote .env.example');
