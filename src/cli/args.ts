// Flag parsing shared by every subcommand: explicit flag lists, typos rejected.
import minimist from 'minimist';
import { UsageError } from '../errors.js';

export interface FlagSpec {
  string?: string[];
  boolean?: string[];
  alias?: Record<string, string>;
}

export interface ParsedArgs {
  _: string[];
  [flag: string]: unknown;
}

/** The flags every command that touches the filesystem takes. */
export const COMMON_FLAGS: Required<FlagSpec> = {
  string: ['config', 'device', 'top-level'],
  boolean: ['json', 'help'],
  alias: { h: 'help' },
};

/** Parses argv with minimist; an unknown flag or a flag without its value is a usage error. */
export function parseFlags(argv: string[], spec: FlagSpec, command: string): ParsedArgs {
  const strings = [...COMMON_FLAGS.string, ...(spec.string ?? [])];
  const booleans = [...COMMON_FLAGS.boolean, ...(spec.boolean ?? [])];
  const alias = { ...COMMON_FLAGS.alias, ...(spec.alias ?? {}) };
  const known = new Set([...strings, ...booleans, ...Object.keys(alias), ...Object.values(alias)]);
  const args = minimist(argv, {
    string: strings,
    boolean: booleans,
    alias,
    unknown: (arg) => {
      if (arg.startsWith('-') && arg !== '-') {
        const name = arg.replace(/^--?/, '').split('=')[0] ?? '';
        if (!known.has(name)) throw new UsageError(`${command}: unknown option ${arg.split('=')[0]} (see: pantheros-rollback ${command} --help)`);
      }
      return true;
    },
  }) as ParsedArgs;
  for (const name of strings) {
    const value = args[name];
    if (Array.isArray(value)) throw new UsageError(`${command}: --${name} given more than once`);
    if (value === '' && argv.some((a) => a === `--${name}`)) throw new UsageError(`${command}: --${name} needs a value`);
  }
  return args;
}

/** A string flag's value, or undefined when absent. */
export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const value = args[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}
