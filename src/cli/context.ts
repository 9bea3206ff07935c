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
 * Loads the config, mounts the top level (from --top-level, --device, or the config's device),
 * runs fn, and unmounts whatever happens.
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

/** Prints data as JSON with --json, else the human text. */
export function output(json: boolean, data: unknown, human: () => string): void {
  writeOut(json ? `${JSON.stringify(data, null, 2)}\n` : `${human()}\n`);
}
