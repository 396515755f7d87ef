/**
 * Words in a question that say its answer is spread over the text rather than
 * sitting in one place: a comparison needs two places, an aggregation all of
 * them, a global question the whole arc. LaRA (Li et al., 2025, arXiv
 * 2502.09977) finds retrieval weakest on exactly these (comparison: GPT-4o at
 * 128k, 64.7% with the full text against 40.8% with retrieval).
 */
export type CueName = 'comparison' | 'aggregation' | 'global';

export const CUE_NAMES: readonly CueName[] = ['comparison', 'aggregation', 'global'];

export interface Cue {
  name: CueName;
  /** The words of the question that matched, as written. */
  match: string;
}

const PATTERNS: Record<CueName, RegExp[]> = {
  comparison: [
    /\bcompar(?:e|es|ed|ing|ison|isons)\b/i,
    /\bcontrast(?:s|ed|ing)?\b/i,
    /\bdiffer(?:s|ed|ent|ence|ences|ently)?\b/i,
    /\b(?:versus|vs\.?)(?=\s)/i,
    /\bboth\b/i,
    /\b(?:more|less|fewer|greater|larger|smaller|higher|lower|better|worse|earlier|later)\s+than\b/i,
    /\bsimilar(?:ity|ities|ly)?\b/i,
    /\bchange[sd]?\s+(?:\w+\s+){0,4}?from\b.*\bto\b/i,
  ],
  aggregation: [
    /\bhow many\b/i,
    /\bhow much\b.*\b(?:total|in all|altogether)\b/i,
    /\blist (?:all|every|each)\b/i,
    /\bin total\b/i,
    /\btotal (?:number|amount|of)\b/i,
    /\b(?:every|each of the|all of the|all the)\b/i,
  ],
  global: [
    /\bthroughout\b/i,
    /\boverall\b/i,
    /\bsummari[sz](?:e|es|ed|ing)\b|\bsummary\b/i,
    /\bover the course of\b/i,
    /\b(?:evolve|evolves|evolved|evolution|develop|develops|developed|development|progress(?:es|ed)?|transform(?:s|ed)?)\b/i,
    /\b(?:the whole|the entire|entirety)\b/i,
    /\bmain (?:theme|themes|idea|ideas|argument|point|points)\b/i,
  ],
};

/** The cues found in a question, at most one per cue name (the first match), in CUE_NAMES order. */
export function findCues(question: string): Cue[] {
  const out: Cue[] = [];
  for (const name of CUE_NAMES) {
    for (const re of PATTERNS[name]) {
      const m = re.exec(question);
      if (m) {
        out.push({ name, match: m[0] });
        break;
      }
    }
  }
  return out;
}

/** Parses a comma-separated list of cue names (config), rejecting unknown ones. */
export function parseCueNames(list: string): CueName[] {
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const n of names) {
    if (!(CUE_NAMES as readonly string[]).includes(n))
      throw new RangeError(`unknown cue ${JSON.stringify(n)}: use ${CUE_NAMES.join(', ')}`);
  }
  return [...new Set(names)] as CueName[];
}
