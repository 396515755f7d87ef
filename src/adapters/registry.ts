import { AppError } from '../errors.js';

/**
 * A port's registry: adapter name → factory, in the shape of unstorage's
 * `builtinDrivers`. Each `src/adapters/<port>/index.ts` exports one, typed by
 * its names (for a choice of the config, the setting's `choices`: tsc fails if
 * the two differ), and the container looks names up with {@link lookup}. A new
 * adapter is one file beside the others and one line in its registry.
 */
export type Registry<Name extends string, Deps, Port> = Readonly<Record<Name, (deps: Deps) => Port>>;

/**
 * The factory `registry` holds under `name`. `setting` names where the name came
 * from, for the message: CONFIG_INVALID when the registry has no such adapter
 * (a config built by hand, not by loadConfig, which checks the choices).
 */
export function lookup<Name extends string, Deps, Port>(
  registry: Registry<Name, Deps, Port>,
  setting: string,
  name: string,
): (deps: Deps) => Port {
  if (!Object.hasOwn(registry, name))
    throw new AppError('CONFIG_INVALID', [`${setting}=${name} is not one of ${Object.keys(registry).join(', ')}`]);
  return registry[name as Name];
}
