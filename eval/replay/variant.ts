import type { ProbeZones } from '../../src/core/routing/settings.js';

/** The rule set (a cv.ts VARIANTS name) that zones switch on. */
export function primaryVariant(z: ProbeZones): string {
  const direct = z.directCues.length > 0 || z.directMaxRelativeGap > 0;
  const trust = z.trustMinRelativeGap > 0;
  return ['probe', ...(direct ? ['direct'] : []), ...(trust ? ['trust'] : [])].join('+');
}
