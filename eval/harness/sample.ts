import { seededRandom } from '../../src/core/random.js';

/**
 * Deterministic sampling: the same seed always picks and orders the same
 * questions, whatever machine or concurrency runs them.
 */

/** Fisher–Yates with a seeded generator; returns a new array. */
export function shuffle<T>(xs: readonly T[], random: () => number): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * Up to `limit` items spread over the groups: each group is shuffled with the
 * seed, then the groups are taken from in turn (round robin), so a small
 * sample still holds every (length, type, task) group rather than the first
 * file's questions. Without a limit every item is kept, in that same order.
 */
export function stratifiedSample<T>(groups: ReadonlyArray<readonly T[]>, seed: number, limit = Infinity): T[] {
  const random = seededRandom(seed);
  const queues = groups.map((g) => shuffle(g, random));
  const out: T[] = [];
  for (let round = 0; out.length < limit; round++) {
    let took = false;
    for (const q of queues) {
      if (round < q.length && out.length < limit) {
        out.push(q[round]!);
        took = true;
      }
    }
    if (!took) break;
  }
  return out;
}
