import type { SelectionMethod } from '../../src/core/retrieval/select.js';
import { STRATEGY_KEYS, type StrategyKey, type StrategySpec } from './types.js';

/** A bad command line: the CLI prints the message and exits with 2. */
export class UsageError extends Error {}

/** The strategies asked for, with their selection methods (Adaptive-k parameters from the config). */
export function strategySpecs(
  keys: readonly string[],
  opts: { adaptiveK: SelectionMethod; topK: number; budgetTokens: number },
): StrategySpec[] {
  const seen = new Set<string>();
  const specs: Record<StrategyKey, Omit<StrategySpec, 'key'>> = {
    auto: { requested: 'auto', selection: opts.adaptiveK, label: 'router' },
    rag: { requested: 'rag', selection: opts.adaptiveK, label: 'Adaptive-k' },
    topk: { requested: 'rag', selection: { kind: 'top-k', k: opts.topK }, label: `top-k (k=${opts.topK})` },
    budget: {
      requested: 'rag',
      selection: { kind: 'token-budget', tokens: opts.budgetTokens },
      label: `token budget (${opts.budgetTokens})`,
    },
    coa: { requested: 'coa', selection: opts.adaptiveK, label: 'Chain-of-Agents' },
    full: { requested: 'full', selection: opts.adaptiveK, label: 'full context' },
  };
  return keys.map((k) => {
    if (!(STRATEGY_KEYS as readonly string[]).includes(k))
      throw new UsageError(`unknown strategy ${JSON.stringify(k)}; choose from ${STRATEGY_KEYS.join(', ')}`);
    if (seen.has(k)) throw new UsageError(`strategy ${k} named twice`);
    seen.add(k);
    const key = k as StrategyKey;
    return { key, ...specs[key] };
  });
}
