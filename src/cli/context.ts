// What every operator subcommand starts with: the config and the top level (mounted privately if needed).
import { loadConfig, type Config } from '../config/load-config.js';
import { acquireTopLevel, releaseTopLevel, type TopLevel } from '../btrfs/top-level.js';
import { stringFlag, type ParsedArgs } from './args.js';
import { writeOut, writeErr } from './io.js';
import { isFinished, markFinished } from './signals.js';
import { escapeUnsafeText } from './show-text.js';

export interface Context {
  config: Config;
  top: TopLevel;
  json: boolean;
}

/**
 * Loads the config, mounts the top level (from --top-level, --device, or the config's device), runs fn, and
 * unmounts whatever happens — also on SIGINT/SIGTERM/SIGHUP (the mount is registered with src/cli/signals.ts).
 */
export async function withTopLevel<T>(args: ParsedArgs, options: { readOnly?: boolean }, fn: (ctx: Context) => Promise<T> | T): Promise<T> {
  const config = loadConfig(stringFlag(args, 'config'));
  const topLevel = stringFlag(args, 'top-level');
  const top = await acquireTopLevel({
    topLevel,
    device: stringFlag(args, 'device') ?? (topLevel ? undefined : config.device),
    timeoutSeconds: Math.min(config.deviceTimeoutSeconds, 5),
    readOnly: options.readOnly,
  });
  try {
    return await fn({ config, top, json: args.json === true });
  } finally {
    const problem = releaseTopLevel(top);
    if (problem) writeErr(`pantheros-rollback: warning: ${problem}\n`);
  }
}

/**
 * Version of every JSON shape printed with --json (results and errors alike); raised when a field changes
 * meaning or goes away. The boot report carries its own `version` (the same number today).
 */
export const JSON_VERSION = 1;

let deferring = false;
let pending: string | undefined;

/**
 * For a command that changes nothing (list, diff, status, check): output() keeps the result until flushResult, so
 * a signal that arrived during the last synchronous step still stops the run (128 + N) before anything is printed.
 * A command that changes something prints its result at once: the change is made, and the result says so.
 */
export function deferResult(on: boolean): void {
  deferring = on;
  pending = undefined;
}

/** Prints a result output() kept (see deferResult); from then on a signal no longer stops the run. */
export function flushResult(): void {
  if (pending === undefined) return;
  const text = pending;
  pending = undefined;
  markFinished();
  writeOut(text);
}

/** True when output() has produced a result in this run (printed or kept for flushResult). */
export function hasResult(): boolean {
  return pending !== undefined || isFinished();
}

/**
 * Prints the command's result: data as JSON with --json (with `version` first), else the human text with every
 * control or bidi character a name may carry written as an escape (src/cli/show-text.ts). Called once per run, when
 * the work is done: from then on a signal no longer turns the run into an interrupted one (markFinished), and an
 * error thrown afterwards adds no second JSON document to stdout. Kept for later with deferResult(true).
 */
export function output(json: boolean, data: object, human: () => string): void {
  const text = json ? `${JSON.stringify({ version: JSON_VERSION, ...data }, null, 2)}\n` : `${escapeUnsafeText(human())}\n`;
  if (deferring) {
    pending = (pending ?? '') + text;
    return;
  }
  markFinished();
  writeOut(text);
}
