// Flag parsing shared by every subcommand: explicit flag lists, typos rejected, one meaning for every boolean flag.
// node:util parseArgs (Node ≥ 18.3 and Bun) reads the tokens; the rules below are ours, so both runtimes say the same.
import { parseArgs } from 'node:util';
import { UsageError } from '../errors.js';
import { nearest } from './nearest.js';

export interface FlagSpec {
  string?: string[];
  boolean?: string[];
  /** String flags that may be given several times; their value is an array (empty when absent). */
  multiple?: string[];
  /** One-letter short names to long names, e.g. { h: 'help' }. */
  alias?: Record<string, string>;
}

export interface ParsedArgs {
  /** Positional arguments, in order (everything after `--` included). */
  _: string[];
  /** Booleans are `true` when given and absent otherwise; strings are strings; `multiple` flags are string arrays. */
  [flag: string]: unknown;
}

/** The flags every command that touches the filesystem takes. */
export const COMMON_FLAGS: Required<Omit<FlagSpec, 'multiple'>> = {
  string: ['config', 'device', 'top-level'],
  boolean: ['json', 'help'],
  alias: { h: 'help' },
};

/**
 * Parses argv. Usage errors (exit 2): an unknown flag (naming the nearest known one), a boolean flag given a value
 * (`--dry-run=false`, `--json=0`: a boolean flag is on when present, off when absent), a string flag without a value or
 * given twice. A separate value starting with `-` is refused (write `--flag=-value`), so a forgotten value never
 * swallows the next flag.
 */
export function parseFlags(argv: string[], spec: FlagSpec, command: string): ParsedArgs {
  const strings = new Set([...COMMON_FLAGS.string, ...(spec.string ?? [])]);
  const multiple = new Set(spec.multiple ?? []);
  const booleans = new Set([...COMMON_FLAGS.boolean, ...(spec.boolean ?? [])]);
  const alias: Record<string, string> = { ...COMMON_FLAGS.alias, ...(spec.alias ?? {}) };
  // Objects without a prototype, and own-property checks: a flag named --constructor or --__proto__ is unknown like
  // any other, never a property every object inherits.
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = Object.create(null);
  for (const name of [...strings, ...multiple]) options[name] = { type: 'string' };
  for (const name of booleans) options[name] = { type: 'boolean' };
  for (const [short, long] of Object.entries(alias)) if (Object.hasOwn(options, long)) options[long]!.short = short;

  const see = `(see: pantheros-rollback ${command} --help)`;
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  const args: ParsedArgs = Object.assign(Object.create(null) as ParsedArgs, { _: [] as string[] });
  for (const name of multiple) args[name] = [];
  for (const token of tokens) {
    if (token.kind === 'positional') {
      args._.push(token.value);
      continue;
    }
    if (token.kind !== 'option') continue;
    const name = token.name;
    const shown = token.rawName;
    if (!Object.hasOwn(options, name)) {
      const guess = name.length > 1 ? nearest(name, Object.keys(options)) : undefined;
      throw new UsageError(`${command}: unknown option ${shown}${guess ? ` (did you mean --${guess}?)` : ''} ${see}`);
    }
    if (booleans.has(name)) {
      if (token.value !== undefined) {
        throw new UsageError(`${command}: ${shown} takes no value, got ${JSON.stringify(`${shown}=${token.value}`)}: give ${shown} to turn it on, leave it out for off`);
      }
      args[name] = true;
      continue;
    }
    const value = token.value;
    if (value === undefined || value === '') throw new UsageError(`${command}: ${shown} needs a value ${see}`);
    if (!token.inlineValue && value.startsWith('-') && value !== '-') {
      throw new UsageError(`${command}: ${shown} needs a value, got the option ${JSON.stringify(value)} (a value starting with - is written ${shown}=VALUE)`);
    }
    if (multiple.has(name)) (args[name] as string[]).push(value);
    else if (Object.hasOwn(args, name)) throw new UsageError(`${command}: ${shown} given more than once`);
    else args[name] = value;
  }
  return args;
}

/** A string flag's value, or undefined when absent. */
export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const value = args[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** A boolean flag: true when given. */
export function booleanFlag(args: ParsedArgs, name: string): boolean {
  return args[name] === true;
}
