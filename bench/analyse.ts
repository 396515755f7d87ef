/**
 * The text analyser (src/core/text/analyse.ts `analyze`: words, stopwords,
 * stems) against the same analysis written as `analyze` was before (the
 * baseline): the regular expression the scanner stands for, a stopword test,
 * then the stem from a map of stems kept, on every LaRA dev document,
 * alternating the two for --rounds rounds in the same run. Both give the same
 * terms (checked here, and by tests/unit/analyse.test.ts on random texts).
 * Level two of whole-namespace retrieval analyses every chunk of each
 * document it reads for the first time, so this is most of its time on cold
 * documents.
 *
 *   npx tsx bench/analyse.ts [--rounds 5]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cliHelp, exitOnHelp, type CliOptions } from '../src/cli/help.js';
import { STOPWORDS, analyze, stem } from '../src/core/text/analyse.js';
import { median } from './stats.js';

const DOCUMENTS = fileURLToPath(new URL('../../shared/datasets/lara/documents/', import.meta.url));
const OPTIONS = { rounds: { type: 'string', default: '5' } } satisfies CliOptions;
exitOnHelp(() =>
  cliHelp({
    usage: 'npx tsx bench/analyse.ts [options]',
    about:
      'analyze() on the LaRA dev documents against the same analysis by regular expression (baseline), alternating, in the same run.',
    options: OPTIONS,
    describe: { rounds: 'alternating rounds' },
  }),
);
const { values } = parseArgs({ options: OPTIONS });

const WORD = /\p{N}+(?:[.,]\p{N}+)*|[\p{L}\p{M}\p{N}]+/gu;
const stems = new Map<string, string>();
function stemmed(word: string): string {
  if (word.length > 32) return stem(word);
  let s = stems.get(word);
  if (s === undefined) {
    if (stems.size >= 100_000) stems.clear();
    s = stem(word);
    stems.set(word, s);
  }
  return s;
}
function byExpression(text: string): string[] {
  const out: string[] = [];
  for (const m of text.toLowerCase().matchAll(WORD)) {
    const raw = m[0].includes(',') ? m[0].replace(/,/g, '') : m[0];
    if (!STOPWORDS.has(raw)) out.push(stemmed(raw));
  }
  return out;
}

const files = readdirSync(DOCUMENTS, { recursive: true, encoding: 'utf8' }).filter((f) => /\.(txt|md)$/.test(f));
const texts = files.map((f) => readFileSync(join(DOCUMENTS, f), 'utf8'));
const chars = texts.reduce((a, t) => a + t.length, 0);
let terms = 0;
for (const t of texts) {
  const a = analyze(t);
  const b = byExpression(t);
  if (a.length !== b.length || a.some((x, i) => x !== b[i])) throw new Error('the two analyses differ');
  terms += a.length;
}
console.log(
  `${texts.length} documents, ${(chars / 1e6).toFixed(1)}M characters, ${(terms / 1e6).toFixed(2)}M terms (the same from both)`,
);

const time = (f: (t: string) => string[]): number => {
  const t0 = performance.now();
  for (const t of texts) f(t);
  return performance.now() - t0;
};
const base: number[] = [];
const ours: number[] = [];
for (let r = 0; r < Number(values.rounds); r++) {
  base.push(time(byExpression));
  ours.push(time((t) => analyze(t)));
}
const b = median(base);
const o = median(ours);
console.log(
  `regular expression (baseline): median ${b.toFixed(0)} ms, ${(((terms / b) * 1000) / 1e6).toFixed(2)}M terms/s`,
);
console.log(
  `analyze (scanner, one lookup a word): median ${o.toFixed(0)} ms, ${(((terms / o) * 1000) / 1e6).toFixed(2)}M terms/s`,
);
console.log(`baseline / analyze: ${(b / o).toFixed(2)}×`);
