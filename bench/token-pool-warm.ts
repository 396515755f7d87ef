/**
 * What TokenPool.warm() saves the first large upload: the time of the first
 * count of a LaRA book on a fresh pool whose thread is started by that call
 * (cold, the baseline) and on one warmed beforehand and then left idle for
 * --idle-ms (as the API server is between start-up and its first upload),
 * alternating the two for --rounds rounds in the same run. Each pool is new,
 * so each thread loads its modules and its tokenizer afresh (no memo hit).
 *
 *   npx tsx bench/token-pool-warm.ts [--rounds 5] [--idle-ms 2000]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cliHelp, exitOnHelp, type CliOptions } from '../src/cli/help.js';
import { TokenPool } from '../src/infra/token-pool.js';
import { median } from './stats.js';

const LARA = fileURLToPath(new URL('../../shared/datasets/lara/', import.meta.url));
const OPTIONS = {
  rounds: { type: 'string', default: '5' },
  'idle-ms': { type: 'string', default: '2000' },
} satisfies CliOptions;
exitOnHelp(() =>
  cliHelp({
    usage: 'npx tsx bench/token-pool-warm.ts [options]',
    about:
      'The first count of a LaRA book on a cold tokenizer thread (baseline) against a warmed one, alternating, in the same run.',
    options: OPTIONS,
    describe: { rounds: 'alternating rounds', 'idle-ms': 'idle time of the warmed pool before its first count' },
  }),
);
const { values } = parseArgs({ options: OPTIONS });
const rounds = Number(values.rounds);
const idleMs = Number(values['idle-ms']);
const book = readFileSync(`${LARA}documents/128k/book/A Room with a View.txt`, 'utf8');

async function firstCount(warm: boolean): Promise<number> {
  const pool = new TokenPool();
  try {
    if (warm) {
      pool.warm();
      await new Promise((r) => setTimeout(r, idleMs));
    }
    const t0 = performance.now();
    await pool.count(book);
    return performance.now() - t0;
  } finally {
    await pool.close();
  }
}

const cold: number[] = [];
const warmed: number[] = [];
for (let r = 0; r < rounds; r++) {
  cold.push(await firstCount(false));
  warmed.push(await firstCount(true));
}
const fmt = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join(', ');
console.log(`first count of a ${book.length}-character book, ${rounds} rounds, warmed pools idle ${idleMs} ms first`);
console.log(`cold   (thread started by the call): median ${median(cold).toFixed(0)} ms  [${fmt(cold)}]`);
console.log(`warmed (TokenPool.warm() beforehand): median ${median(warmed).toFixed(0)} ms  [${fmt(warmed)}]`);
console.log(`cold / warmed: ${(median(cold) / median(warmed)).toFixed(2)}x`);
