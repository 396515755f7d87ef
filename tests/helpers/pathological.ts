import { seededRandom } from '../../src/core/random.js';

/**
 * The texts of issue 14 that froze the API (no spaces: one pre-token each, or
 * many pre-tokens that BPE must merge), generated at any size from a seed so
 * tests, the fuzz test and bench/pathological.ts send the same kinds.
 */
export type PathologicalKind = 'one-letter' | 'one-cjk-char' | 'acgt' | 'base64' | 'minified-js' | 'cjk-prose';

export const PATHOLOGICAL_KINDS: readonly PathologicalKind[] = [
  'one-letter',
  'one-cjk-char',
  'acgt',
  'base64',
  'minified-js',
  'cjk-prose',
];

// Common characters of modern Chinese prose and its punctuation: generated prose, not a real text (no package here ships one).
const HANZI =
  '的一是不了人我在有他这中大来上个国到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持音';
const PUNCT = ['，', '，', '，', '。', '。', '、', '；', '：', '？', '！', '“', '”'];

/** `chars` characters (UTF-16 units) of one kind, the same for the same seed. */
export function pathologicalText(kind: PathologicalKind, chars: number, seed = 14): string {
  const rnd = seededRandom(seed);
  const pick = <T>(xs: ArrayLike<T>): T => xs[Math.floor(rnd() * xs.length)]!;
  switch (kind) {
    case 'one-letter':
      return 'x'.repeat(chars);
    case 'one-cjk-char':
      return '字'.repeat(chars);
    case 'acgt': {
      const out = new Array<string>(chars);
      for (let i = 0; i < chars; i++) out[i] = pick('ACGT');
      return out.join('');
    }
    case 'base64': {
      const bytes = Buffer.alloc(Math.ceil((chars * 3) / 4) + 3);
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rnd() * 256);
      return bytes.toString('base64').slice(0, chars);
    }
    case 'minified-js': {
      const parts: string[] = [];
      let n = 0;
      const ident = (): string => pick('abcdefghijklmnopqrstuvwxyz_$') + Math.floor(rnd() * 1e4).toString(36);
      while (n < chars) {
        const a = ident();
        const b = ident();
        const piece = pick([
          `var ${a}=${b}||{};`,
          `function ${a}(${b}){return ${b}&&${b}.length>${Math.floor(rnd() * 99)}?${b}.slice(0,-1):"${randomish(rnd, 12)}"}`,
          `${a}.prototype.${b}=function(e,t){for(var n=0;n<e.length;n++)t[n]=e[n]^${Math.floor(rnd() * 255)};return t};`,
          `if(!${a}){throw new Error("${b}")}`,
          `${a}=[${Array.from({ length: 8 }, () => Math.floor(rnd() * 1000)).join(',')}];`,
        ]);
        parts.push(piece);
        n += piece.length;
      }
      return parts.join('').slice(0, chars);
    }
    case 'cjk-prose': {
      const parts: string[] = [];
      let n = 0;
      while (n < chars) {
        const len = 4 + Math.floor(rnd() * 18);
        let clause = '';
        for (let i = 0; i < len; i++) clause += pick(HANZI);
        clause += pick(PUNCT);
        if (rnd() < 0.05) clause += '\n\n';
        parts.push(clause);
        n += clause.length;
      }
      return parts.join('').slice(0, chars);
    }
  }
}

function randomish(rnd: () => number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(97 + Math.floor(rnd() * 26));
  return s;
}
