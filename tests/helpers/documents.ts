/**
 * Documents built so their retrieval signals genuinely differ, for tests that
 * route questions over real embeddings. Their text is part of what those tests
 * assert (which strategy a question gets, and why): change it only with them.
 */

const TOPICS = [
  ['orchard', 'apples', 'pruning', 'cider', 'blossom', 'grafting'],
  ['observatory', 'telescope', 'nebula', 'eclipse', 'comet', 'parallax'],
  ['railway', 'locomotive', 'signal box', 'timetable', 'sleeper car', 'gauge'],
  ['bakery', 'sourdough', 'rye flour', 'oven', 'croissant', 'proofing'],
  ['glacier', 'moraine', 'crevasse', 'ice core', 'meltwater', 'firn'],
  ['choir', 'soprano', 'hymn', 'rehearsal', 'organ', 'harmony'],
  ['vineyard', 'grapes', 'harvest', 'barrel', 'cellar', 'vintage'],
  ['chess club', 'gambit', 'endgame', 'tournament', 'knight', 'rook'],
  ['beekeeping', 'hive', 'queen bee', 'honeycomb', 'swarm', 'smoker'],
  ['tailor', 'waistcoat', 'linen', 'pattern', 'hem', 'buttonhole'],
  ['printing press', 'typeface', 'ink', 'broadsheet', 'compositor', 'galley'],
  ['pottery', 'kiln', 'glaze', 'clay', 'wheel', 'porcelain'],
  ['falconry', 'hawk', 'jesses', 'lure', 'mews', 'hood'],
  ['clockmaker', 'escapement', 'pendulum', 'mainspring', 'dial', 'gear train'],
  ['shipwright', 'keel', 'caulking', 'mast', 'rigging', 'hull'],
  ['herbalist', 'chamomile', 'tincture', 'mortar', 'yarrow', 'poultice'],
];

function topicParagraph(words: readonly string[], seed: number): string {
  const [a, b, c, d, e, f] = words as [string, string, string, string, string, string];
  const s: string[] = [];
  for (let i = 0; i < 14; i++) {
    const v = (seed * 7 + i * 3) % 5;
    s.push(
      [
        `The ${a} was busy in week ${i + 1}, when the talk was all of ${b} and ${c}.`,
        `Old hands said that ${d} mattered more than ${e}, and nobody argued about ${f}.`,
        `A visitor asked about the ${c}, and was shown how ${b} and ${f} are handled in the ${a}.`,
        `By evening the ${e} had been checked twice, and the notes on ${d} were filed.`,
        `Letters about ${b} came from three towns, each praising the ${a} and its ${c}.`,
      ][v]!,
    );
  }
  return s.join(' ');
}

/**
 * One paragraph answers {@link NEEDLE_Q} and every other paragraph is about
 * something else.
 */
export function needleDocument(): string {
  // One round of the topics (~4.5k tokens): the token buffer is capped at a share of the document (ADAPTIVE_K_BUFFER_MAX_SHARE), so retrieval stays selective.
  const paras = TOPICS.map((t, i) => topicParagraph(t, i));
  paras.splice(
    8,
    0,
    'The lighthouse keeper kept a grey parrot named Admiral Pimento. Admiral Pimento the parrot lived in the lamp room of the lighthouse, ' +
      'and the keeper taught the parrot to whistle whenever a ship rounded the point. Every visitor to the lighthouse asked about the parrot, ' +
      'and the keeper always answered that the parrot was called Admiral Pimento, after a captain he had once served under.',
  );
  return paras.join('\n\n');
}

const CARGO = ['salt', 'timber', 'wool', 'copper', 'grain', 'coal', 'wine', 'hides', 'tin', 'flax', 'oil', 'spices'];
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

/**
 * Every paragraph is a harbour record of the same shape, so for
 * {@link LEDGER_Q} no chunk stands out.
 */
export function ledgerDocument(): string {
  const paras: string[] = [];
  for (let y = 0; y < 4; y++) {
    for (let m = 0; m < 12; m++) {
      const s: string[] = [];
      for (let d = 0; d < 10; d++) {
        const c = CARGO[(y + m + d) % CARGO.length]!;
        s.push(
          `In ${MONTHS[m]} ${1801 + y}, on day ${d * 3 + 1}, the harbour master recorded ${2 + ((y + m * 5 + d) % 7)} ships at the harbour carrying ${c}, and entered their tonnage in the harbour ledger.`,
        );
      }
      paras.push(s.join(' '));
    }
  }
  return paras.join('\n\n');
}

export const NEEDLE_Q = 'What is the name of the lighthouse keeper’s parrot?';
export const LEDGER_Q = 'Which ships did the harbour master record in the harbour ledger?';

const VILLAGE_TOPICS = [
  'orchard apples pruning cider',
  'observatory telescope nebula comet',
  'railway locomotive timetable gauge',
  'bakery sourdough oven proofing',
];

/** 24 short chapters about village topics with one about the lighthouse keeper's parrot: a few hundred tokens. */
export function lighthouseDocument(): string {
  const paras: string[] = [];
  for (let i = 0; i < 24; i++)
    paras.push(
      `Chapter ${i + 1}. The ${VILLAGE_TOPICS[i % VILLAGE_TOPICS.length]} were discussed at length in the village hall that season, as every season.`,
    );
  paras.splice(
    11,
    0,
    'The lighthouse keeper kept a parrot named Admiral Pimento, who greeted every ship that passed the rocks.',
  );
  return paras.join('\n\n');
}
