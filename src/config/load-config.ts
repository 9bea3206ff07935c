// Reads and validates the JSON config; every key is optional and has a default.
import { readRegularFile } from '../fs/read-regular.js';
import * as v from 'valibot';
import { UsageError } from '../errors.js';
import { nearest } from '../cli/nearest.js';
import { configSchema } from './schema.js';

// `activation`: the snapshots the NixOS module takes of every persistent subvolume before each activation (state
// rollback, issue 14); it has its own count retention like the timed classes.
export const SNAPSHOT_CLASSES = ['hourly', 'daily', 'weekly', 'monthly', 'activation'] as const;
export type SnapshotClass = (typeof SNAPSHOT_CLASSES)[number];

export interface Config {
  device: string | undefined;
  deviceTimeoutSeconds: number;
  /**
   * The most nested subvolumes a boot brings back with a root target (`previous`, an archive, a snapshot): each is its
   * own snapshot, a transaction commit each (milliseconds each; anyone may create subvolumes in a root's /tmp, by the
   * tens of thousands). A target holding more is refused, and the boot makes a fresh root from the blank.
   */
  targetMaxNested: number;
  /** oldState: where state rollbacks archive the subvolumes they replace, one directory per subvolume (src/state). */
  subvolumes: { root: string; blank: string; oldRoots: string; snapshots: string; oldState: string };
  /** ageOutSeconds: the most time (seconds, a monotonic clock) one boot spends ageing out archives; what is left goes at the next boot. */
  oldRoots: { keepDays: number; keepAtLeast: number; minFreePercent: number; ageOutSeconds: number };
  snapshotRetention: Record<SnapshotClass, number>;
  snapshotSubvolumes: string[];
  persistentPaths: string[];
  /** Persistent subvolumes by mount point, with the units that use them (state rollback; the NixOS module renders it). */
  persistentTree: PersistentMount[];
}

/** One persistent mount: where it is mounted, the subvolume, whether stage 1 needs it, the systemd units that use it. */
export interface PersistentMount {
  path: string;
  subvolume: string;
  neededForBoot: boolean;
  units: string[];
}

export const DEFAULT_CONFIG_PATH = '/etc/pantheros/rollback.json';

export const DEFAULTS: Config = {
  device: undefined,
  deviceTimeoutSeconds: 30,
  targetMaxNested: 1000,
  subvolumes: { root: '@root', blank: '@root-blank', oldRoots: '@btrfs_tmp/old_roots', snapshots: '@snapshots', oldState: '@btrfs_tmp/old_state' },
  oldRoots: { keepDays: 30, keepAtLeast: 5, minFreePercent: 10, ageOutSeconds: 60 },
  snapshotRetention: { hourly: 24, daily: 7, weekly: 4, monthly: 6, activation: 10 },
  snapshotSubvolumes: ['@persistent'],
  persistentPaths: [],
  persistentTree: [],
};

/** Validates parsed JSON and fills in defaults; the message names the offending key. */
export function validateConfig(raw: unknown, source = 'config'): Config {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new UsageError(`${source}: the top level must be a JSON object, not ${Array.isArray(raw) ? 'an array' : raw === null ? 'null' : typeof raw}`);
  }
  const result = v.safeParse(configSchema, raw);
  if (!result.success) {
    const messages = result.issues.map((issue) => {
      const key = v.getDotPath(issue) ?? '(top level)';
      // A key the schema does not know (strictObject): valibot says "Invalid key: Expected never but received …".
      if (issue.kind === 'schema' && issue.expected === 'never') return `${source}: unknown key "${key}"${knownKeysNear(key)}`;
      return `${source}: key "${key}": ${issue.message}`;
    });
    throw new UsageError(messages.join('; '));
  }
  const c = result.output;
  const config: Config = {
    device: c.device ?? DEFAULTS.device,
    deviceTimeoutSeconds: c.deviceTimeoutSeconds ?? DEFAULTS.deviceTimeoutSeconds,
    targetMaxNested: c.targetMaxNested ?? DEFAULTS.targetMaxNested,
    subvolumes: { ...DEFAULTS.subvolumes, ...stripUndefined(c.subvolumes ?? {}) },
    oldRoots: { ...DEFAULTS.oldRoots, ...stripUndefined(c.oldRoots ?? {}) },
    snapshotRetention: { ...DEFAULTS.snapshotRetention, ...stripUndefined(c.snapshotRetention ?? {}) },
    snapshotSubvolumes: c.snapshotSubvolumes ?? [...DEFAULTS.snapshotSubvolumes],
    persistentPaths: c.persistentPaths ?? [...DEFAULTS.persistentPaths],
    persistentTree: (c.persistentTree ?? []).map((m) => ({ path: m.path, subvolume: m.subvolume, neededForBoot: m.neededForBoot ?? false, units: m.units ?? [] })),
  };
  checkDistinct(config, source);
  return config;
}

/** The keys the config knows at the level of the dot path `key`, for an unknown one: "(did you mean …?)" or the list. */
function knownKeysNear(key: string): string {
  const parts = key.split('.');
  const name = parts.pop()!;
  let level: unknown = DEFAULTS;
  for (const p of parts) level = level !== null && typeof level === 'object' && !Array.isArray(level) ? (level as Record<string, unknown>)[p] : undefined;
  const known = parts.length === 0 ? Object.keys(DEFAULTS) : level !== null && typeof level === 'object' && !Array.isArray(level) ? Object.keys(level) : [];
  if (!known.length) return '';
  const guess = nearest(name, known);
  return guess ? ` (did you mean "${guess}"?)` : ` (known here: ${known.join(', ')})`;
}

function stripUndefined<T extends object>(o: T): { [K in keyof T]-?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as never;
}

// The root, blank, archive and snapshot locations must not overlap, or a wipe could reach another.
function checkDistinct(config: Config, source: string): void {
  const entries = Object.entries(config.subvolumes);
  for (const [ka, a] of entries) {
    for (const [kb, b] of entries) {
      if (ka < kb && (a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`))) {
        throw new UsageError(`${source}: keys "subvolumes.${ka}" (${a}) and "subvolumes.${kb}" (${b}) overlap; they must name distinct paths`);
      }
    }
  }
}

/** The largest config file read (bytes): a real one is a few hundred. */
export const CONFIG_MAX_BYTES = 1024 * 1024;

/**
 * Loads the config file. A missing file at the default path means "all defaults";
 * a missing file that was asked for explicitly is a usage error, and so is one that is not a regular file (a FIFO, a
 * device, a directory), is larger than CONFIG_MAX_BYTES, is not JSON or does not match the schema (UsageError).
 */
export function loadConfig(path: string | undefined): Config {
  const file = path ?? DEFAULT_CONFIG_PATH;
  let text: string;
  try {
    // A regular file only, and a bounded one: a FIFO named as the config hung the run in open(2) (no signal stops a
    // synchronous read), /dev/zero was read until memory ran out.
    text = readRegularFile(file, { maxBytes: CONFIG_MAX_BYTES }).toString('utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (path === undefined && code === 'ENOENT') return validateConfig({});
    // The cause's own text says the rest ("ENOENT: no such file or directory, open …"): describeError appends it.
    throw new UsageError(`cannot read config ${file}`, { cause: error });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`config ${file} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  return validateConfig(raw, file);
}
