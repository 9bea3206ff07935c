// What every operator subcommand starts with: the config and the top level (mounted privately if needed).
import { loadConfig, type Config } from '../config/load-config.js';
import { acquireTopLevel, releaseTopLevel, type TopLevel } from '../btrfs/top-level.js';
import { stringFlag, type ParsedArgs } from './args.js';
import { writeOut, writeErr } from './io.js';

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

/** Prints data as JSON with --json (with `version` first), else the human text. */
export function output(json: boolean, data: object, human: () => string): void {
  writeOut(json ? `${JSON.stringify({ version: JSON_VERSION, ...data }, null, 2)}\n` : `${human()}\n`);
}
