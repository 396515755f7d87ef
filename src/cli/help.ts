import type { ParseArgsConfig } from 'node:util';
import { CONFIG_SPEC } from '../config.js';

/** The options of a command, as node:util parseArgs takes them. */
export type CliOptions = NonNullable<ParseArgsConfig['options']>;

/** What `--help` prints: the usage, what the command does, and every option with its default. */
export function cliHelp(o: {
  usage: string;
  about: string;
  options: CliOptions;
  describe?: Readonly<Record<string, string>>;
  footer?: string;
}): string {
  const rows = Object.entries(o.options).map(([name, opt]) => {
    const flag = `${opt.short ? `-${opt.short}, ` : ''}--${name}${opt.type === 'string' ? ' VALUE' : ''}`;
    const dflt =
      opt.default === undefined || opt.default === false
        ? ''
        : ` [default: ${Array.isArray(opt.default) ? opt.default.join(',') : String(opt.default)}]`;
    const repeat = opt.multiple ? ' (repeatable)' : '';
    return [flag, `${o.describe?.[name] ?? ''}${repeat}${dflt}`.trim()] as const;
  });
  rows.push(['-h, --help', 'print this help']);
  const width = Math.max(...rows.map(([f]) => f.length)) + 2;
  const lines = [
    `Usage: ${o.usage}`,
    '',
    o.about.trim(),
    '',
    'Options:',
    ...rows.map(([f, d]) => `  ${f.padEnd(width)}${d}`),
  ];
  if (o.footer) lines.push('', o.footer.trim());
  return `${lines.join('\n')}\n`;
}

/** Prints `help()` and exits 0 when the arguments ask for help (-h, --help), before any other parsing. */
export function exitOnHelp(help: () => string, argv: readonly string[] = process.argv.slice(2)): void {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(help());
    process.exit(0);
  }
}

/** The help of a process configured by settings (the API server, the worker): every setting, its default and the first sentence of its doc. */
export function settingsHelp(usage: string, about: string): string {
  const rows = Object.entries(CONFIG_SPEC).map(([name, spec]) => {
    const first = /^.*?[.:](?=\s|$)/.exec(spec.doc)?.[0] ?? spec.doc;
    return `  ${name}=${String(spec.default)}\n      ${first}`;
  });
  return [
    `Usage: ${usage}`,
    '',
    about.trim(),
    '',
    'Options: none on the command line; settings come from the environment, then .env in the working directory (defaults shown):',
    ...rows,
    '',
    'Every setting with its full description: .env.example.',
    '',
  ].join('\n');
}
