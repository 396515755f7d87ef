import { spawn } from 'node:child_process';
import { ROOT } from './paths.js';

/**
 * Runs `script` as an ES module in a new Node process (`node --import tsx
 * --input-type=module -e`, from the repository's root, `args` as
 * process.argv[1...]) and resolves with its exit code and output once it
 * exits by itself: a test of "nothing keeps the process alive" fails on the
 * test's timeout if it never does.
 */
export async function runModuleScript(
  script: string,
  args: readonly string[] = [],
): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (err += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code, out, err };
}
