#!/usr/bin/env node
// `npx adaptive-reader <command> [options]`: the package's commands. The sources are TypeScript,
// run through tsx's loader in this process (no build step), as `npm start` and the npm scripts do.
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

const COMMANDS = {
  serve: ['src/server.ts', 'the HTTP API (settings from the environment and .env)'],
  worker: ['workers/ingest-worker.ts', 'an ingestion worker taking jobs from Redis (REDIS_URL)'],
  ingest: ['src/cli/ingest.ts', 'batch ingestion of a directory or a JSONL file'],
  'import-0.1': ['src/cli/import-0.1.ts', 'import a DATA_DIR written by version 0.1'],
  eval: ['eval/cli.ts', 'replay a LaRA-style evaluation set through the service'],
};

const [command, ...args] = process.argv.slice(2);
if (command === undefined || command === '--help' || command === '-h' || !Object.hasOwn(COMMANDS, command)) {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length)) + 2;
  const lines = [
    'Usage: adaptive-reader <command> [options]   (adaptive-reader <command> --help for its options)',
    '',
    'Commands:',
  ];
  for (const [name, [, about]] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(width)}${about}`);
  const known = command === undefined || command === '--help' || command === '-h';
  (known ? process.stdout : process.stderr).write(
    `${known ? '' : `Unknown command ${JSON.stringify(command)}\n\n`}${lines.join('\n')}\n`,
  );
  process.exit(known ? 0 : 2);
}
const file = fileURLToPath(new URL(`../${COMMANDS[command][0]}`, import.meta.url));
// The command reads its own arguments from process.argv, as when run by tsx directly.
process.argv = [process.argv[0], file, ...args];
register();
await import(file);
