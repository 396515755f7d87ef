import { writeFileSync } from 'node:fs';
import { renderEnvExample } from '../src/config.js';

// Regenerates .env.example from the config table in src/config.ts.
writeFileSync(new URL('../.env.example', import.meta.url), renderEnvExample());
console.log('wrote .env.example');
