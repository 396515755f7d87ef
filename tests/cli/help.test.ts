import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/paths.js';

const run = promisify(execFile);

/**
 * Every command prints its options on --help and exits 0 without doing its
 * work (no dataset, Redis or server needed). Each entry: the command, and
 * options its help must name.
 */
const COMMANDS: Array<[string, string[], string[]]> = [
  ['npx adaptive-reader', ['--help'], ['serve', 'worker', 'ingest', 'import-0.1', 'eval']],
  ['npx adaptive-reader serve', ['serve', '--help'], ['PORT=3000', 'RETRIEVAL_SCORE=bm25', 'CORS_ORIGINS=']],
  ['npx adaptive-reader worker', ['worker', '--help'], ['REDIS_URL=', 'WORKER_CONCURRENCY=1']],
  ['npx adaptive-reader ingest', ['ingest', '--help'], ['--namespace', '--url', '--api-key', '--no-wait']],
  ['npx adaptive-reader import-0.1', ['import-0.1', '--help'], ['--data-dir', '--force']],
  [
    'npx adaptive-reader eval',
    ['eval', '--help'],
    [
      '--dataset',
      '--strategies',
      '--limit',
      '--judge-url',
      '--replay-predictions',
      '--replay-only',
      '--calibrate',
      '--library',
      '--library-queries',
    ],
  ],
];
const SCRIPTS: Array<[string, string[]]> = [
  ['eval/replay/cli.ts', ['--model', '--window', '--folds', '--records']],
  ['eval/measure-retrieval.ts', ['--dataset', '--scores', '--sweep', '--data-dir', '--detail']],
  ['eval/calibrate-judge.ts', ['--judge', '--judge-url', '--model']],
  ['bench/ingest.ts', ['--length', '--limit']],
  ['bench/load.ts', ['--seconds', '--concurrency', '--phases', '--url']],
  ['bench/ingest-loop.ts', ['--tokens', '--rounds']],
  ['bench/token-pool-warm.ts', ['--rounds', '--idle-ms']],
  ['bench/chat-overhead.ts', ['--rounds', '--document']],
  ['bench/catalogue-stall.ts', ['--mb', '--docs', '--runs']],
  ['bench/library.ts', ['--sizes', '--store', '--baseline-max', '--data-dir']],
  ['bench/analyse.ts', ['--rounds']],
  ['bench/pathological.ts', ['--rounds', '--scale']],
  ['eval/library-sweep.ts', ['--folds', '--max-tokens', '--candidates']],
  ['bench/store.ts', ['--documents', '--chunks', '--backends']],
  ['scripts/distill-use-lite.ts', ['--threads', '--out']],
  ['scripts/env-example.ts', ['--help']],
  ['scripts/make-fixture-0.1.ts', ['OUT_DIR']],
];

describe('--help', () => {
  it('prints the options of every command through the adaptive-reader bin and exits 0', async () => {
    await Promise.all(
      COMMANDS.map(async ([name, args, expected]) => {
        const { stdout } = await run(process.execPath, ['bin/adaptive-reader.mjs', ...args], { cwd: ROOT });
        expect(stdout, name).toMatch(/^Usage: /m);
        for (const e of expected) expect(stdout, `${name} names ${e}`).toContain(e);
      }),
    );
  }, 120_000);

  it('prints the options of every script and benchmark and exits 0', async () => {
    await Promise.all(
      SCRIPTS.map(async ([file, expected]) => {
        const { stdout } = await run(process.execPath, ['--import', 'tsx', file, '--help'], { cwd: ROOT });
        expect(stdout, file).toMatch(/^Usage: /);
        for (const e of expected) expect(stdout, `${file} names ${e}`).toContain(e);
      }),
    );
  }, 120_000);

  it('leaves no command without --help: every script that reads arguments answers it', () => {
    const files = [
      ...['bench', 'eval', 'scripts', 'workers', 'src/cli'].flatMap((dir) =>
        readdirSync(join(ROOT, dir))
          .filter((f) => f.endsWith('.ts'))
          .map((f) => `${dir}/${f}`),
      ),
      'eval/replay/cli.ts',
      'src/server.ts',
    ];
    const listed = new Set([
      ...SCRIPTS.map(([f]) => f),
      'src/cli/help.ts',
      'src/cli/ingest.ts',
      'src/cli/import-0.1.ts',
      'src/server.ts',
      'workers/ingest-worker.ts',
      'eval/cli.ts',
    ]);
    const unanswered = files.filter((f) => {
      const src = readFileSync(join(ROOT, f), 'utf8');
      const readsArguments = /parseArgs\(|process\.argv\[2\]|process\.argv\.slice\(2\)/.test(src);
      return readsArguments && !/exitOnHelp\(|help: \{ type: 'boolean'/.test(src);
    });
    expect(unanswered).toEqual([]);
    // And each of them is run with --help above.
    expect(files.filter((f) => /exitOnHelp\(/.test(readFileSync(join(ROOT, f), 'utf8')) && !listed.has(f))).toEqual([]);
  });

  it('sends an unknown command to stderr with the list of commands and exit code 2', async () => {
    const err = await run(process.execPath, ['bin/adaptive-reader.mjs', 'frobnicate'], { cwd: ROOT }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect((err as { code: number }).code).toBe(2);
    expect((err as { stderr: string }).stderr).toMatch(/Unknown command "frobnicate"[\s\S]*Commands:/);
  });
});
