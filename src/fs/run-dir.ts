// The /run/pantheros-rollback layout, with the same modes whichever command (or stage 1) creates it first.
// /run is a tmpfs writable only by root, so these directories are root's unless someone configured otherwise:
// anything else found there (a symlink, a directory of another owner, a file) is refused, never followed or used.
import { closeSync, fchmodSync, fstatSync, mkdirSync, mkdtempSync } from 'node:fs';
import { PreconditionError } from '../errors.js';
import { fdPath, openChildDirectory, openDirectoryNoFollow, PathWalkError } from './open-dir.js';

export const RUN_DIR = '/run/pantheros-rollback';

export interface RunDirSpec {
  path: string;
  /** Permission bits it always has (set with fchmod after creating or finding it). */
  mode: number;
  what: string;
}

/**
 * What lives where:
 * - `base` 0755: the boot report report.json (0644), readable by `status` and node exporter without root;
 * - `mounts` 0700: private read-write mounts of the btrfs top level (top-XXXXXX), root only — never /tmp;
 * - `metrics` 0755: the default textfile-collector directory (pantheros_rollback.prom, 0644);
 * - `browse` 0700: read-only browse mounts of `pantheros-rollback mount` (root only: an archive keeps the old
 *   permissions of files that may have been tightened since).
 */
export const RUN_LAYOUT = {
  base: { path: RUN_DIR, mode: 0o755, what: 'the report and the directories below' },
  mounts: { path: `${RUN_DIR}/mnt`, mode: 0o700, what: 'private mounts of the btrfs top level' },
  metrics: { path: `${RUN_DIR}/metrics`, mode: 0o755, what: "metrics for node exporter's textfile collector" },
  browse: { path: `${RUN_DIR}/browse`, mode: 0o700, what: 'read-only browse mounts (pantheros-rollback mount)' },
} as const satisfies Record<string, RunDirSpec>;

export type RunDirName = keyof typeof RUN_LAYOUT;

/** Opens (creating if missing) NAME in the directory held by parentFd and gives it owner root and exactly `mode`. */
function ensureOne(parentFd: number, name: string, spec: RunDirSpec): number {
  try {
    mkdirSync(fdPath(parentFd, name), { mode: spec.mode });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new PreconditionError(`cannot create ${spec.path} (${spec.what}): ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
  }
  let fd: number;
  try {
    fd = openChildDirectory(parentFd, name, spec.path);
  } catch (error) {
    const how = error instanceof PathWalkError && error.problem === 'symlink' ? `it is a symlink (→ ${error.target ?? '?'}), not a directory` : (error as Error).message;
    throw new PreconditionError(`refusing to use ${spec.path} (${spec.what}): ${how}; remove it (rm ${spec.path}) and run again`, { cause: error });
  }
  const st = fstatSync(fd);
  if (st.uid !== 0) {
    closeSync(fd);
    throw new PreconditionError(`refusing to use ${spec.path} (${spec.what}): it is owned by uid ${st.uid}, not root, so its owner could redirect what root puts there; remove it (rm -r ${spec.path}) and run again`);
  }
  if ((st.mode & 0o7777) !== spec.mode) fchmodSync(fd, spec.mode);
  return fd;
}

/**
 * Makes sure /run/pantheros-rollback and the named directory below it exist as real directories owned by root
 * with the layout's modes (fixing the mode of a root-owned one); returns the directory's path. Throws
 * PreconditionError for a symlink, a non-directory or another owner anywhere on the way (/run included).
 */
export function ensureRunDir(name: RunDirName): string {
  const spec = RUN_LAYOUT[name];
  let runFd: number;
  try {
    runFd = openDirectoryNoFollow('/run');
  } catch (error) {
    throw new PreconditionError(`cannot use /run: ${(error as Error).message}`, { cause: error });
  }
  let baseFd: number | undefined;
  try {
    baseFd = ensureOne(runFd, 'pantheros-rollback', RUN_LAYOUT.base);
    if (name !== 'base') closeSync(ensureOne(baseFd, spec.path.slice(RUN_DIR.length + 1), spec));
  } finally {
    if (baseFd !== undefined) closeSync(baseFd);
    closeSync(runFd);
  }
  return spec.path;
}

/**
 * A fresh, empty directory for one private mount of the top level: /run/pantheros-rollback/mnt/top-XXXXXX
 * (mkdtemp: created exclusively, 0700, inside the root-only mnt directory). Never falls back to /tmp.
 */
export function makePrivateMountPoint(): string {
  const dir = ensureRunDir('mounts');
  try {
    return mkdtempSync(`${dir}/top-`);
  } catch (error) {
    throw new PreconditionError(`cannot create a private mount point in ${dir}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
  }
}
