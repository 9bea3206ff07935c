// The process path of the btrfs facade (native.ts): btrfs-progs run without a shell, never given a
// path that is not printable ASCII (odd names are reached through /proc/self/fd/N of a descriptor
// this process opened and passes on as fd N), its outcome decided from the filesystem, its errno
// read from the fixed start of btrfs-progs' message (a name can only ever follow that start).
import { closeSync, constants, fchmodSync, fchownSync, fstatSync, lstatSync, openSync, renameSync, statfsSync, type Stats } from 'node:fs';
import { btrfsProgram, createArgv, deleteArgv, getDefaultArgv, snapshotArgv, syncArgv } from './commands.js';
import { CommandError, runCommand, type CommandResult } from './run.js';
import { mountIdOf } from '../fs/open-dir.js';
import {
  BtrfsError,
  btrfsError,
  checkPath,
  fsError,
  openDirectory,
  openSubvolume,
  STRERROR,
  splitPath,
  type BtrfsOperation,
  type BtrfsPath,
  type DeleteOutcome,
  type DeleteResult,
  type SplitPath,
} from './native-common.js';

/** The child sees the descriptors passed to it as fd 3, 4, … */
const FIRST_CHILD_FD = 3;
/** At most this many descriptors are passed to one btrfs process (the soft RLIMIT_NOFILE is often 1024). */
const MAX_FDS_PER_PROCESS = 200;
/** Longer paths go through a descriptor: btrfs-progs copies some paths into PATH_MAX-sized buffers. */
const MAX_PLAIN_PATH = 1024;

/** statfs(2) f_type of btrfs (linux/magic.h). */
const BTRFS_SUPER_MAGIC = 0x9123683e;

const procFd = (index: number) => `/proc/self/fd/${FIRST_CHILD_FD + index}`;

function printable(bytes: Uint8Array): boolean {
  // A plain loop: `every` calls a function per byte, and the executor asks this of every path it deletes.
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! < 0x20 || bytes[i]! >= 0x7f) return false;
  return true;
}

/** A name that may follow "/proc/self/fd/N/" on a command line: printable ASCII. */
export function isSafeName(name: Uint8Array): boolean {
  return printable(name);
}

/** A path btrfs may be given as it is: absolute, printable ASCII, no "." or ".." component, not too long. */
export function isSafePath(bytes: Buffer): boolean {
  if (bytes[0] !== 0x2f || bytes.length > MAX_PLAIN_PATH || !printable(bytes)) return false;
  return !bytes.toString('latin1').split('/').some((c) => c === '.' || c === '..');
}

/**
 * The errno name in btrfs-progs' (v6.2) message. Only the first line is read, and it starts with
 * progs' own words; where it names a path, that path is one this module wrote (printable, no
 * newline), except in the default-subvolume warning, which is recognised by its start. Falls back
 * to EIO when the message is not one progs prints.
 */
export function codeFromProgs(stderr: string): string {
  const line = stderr.split('\n', 1)[0] ?? '';
  if (line.startsWith('WARNING: not deleting default subvolume')) return 'EPERM';
  if (/^ERROR: (target path already exists|'.*' exists and it is not a directory)/.test(line)) return 'EEXIST';
  if (/^ERROR: (invalid snapshot name|invalid subvolume name|Not a Btrfs subvolume)/.test(line)) return 'EINVAL';
  if (/^ERROR: (snapshot|subvolume) name too long/.test(line)) return 'ENAMETOOLONG';
  if (/^ERROR: not a btrfs filesystem/i.test(line)) return 'ENOTTY';
  for (const [code, text] of Object.entries(STRERROR)) if (line.endsWith(`: ${text}`)) return code;
  return 'EIO';
}

function failure(r: CommandResult, operation: BtrfsOperation, path: BtrfsPath, source?: BtrfsPath): BtrfsError {
  return btrfsError(codeFromProgs(r.stderr), operation, path, { source, cause: new CommandError(r) });
}

function exists(path: Buffer): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return false;
    throw error;
  }
}

let temporaries = 0;

/**
 * Makes a subvolume whose last name cannot go on a command line: `make` creates it under a
 * printable temporary name in the same directory, then rename(2) gives it its name, and a commit
 * (`btrfs filesystem sync`) writes the rename — so the subvolume is on disk under its name when this
 * returns, as after the snapshot ioctl itself (a boot plan whose last change is the snapshot of the
 * root has no commit step after it). EEXIST first if the name is taken (rename would replace an
 * empty directory where the kernel refuses).
 */
function viaTemporaryName(parentFd: number, dest: SplitPath, operation: BtrfsOperation, reported: BtrfsPath, source: BtrfsPath | undefined, make: (arg: string) => CommandResult): void {
  if (exists(dest.bytes)) throw btrfsError('EEXIST', operation, reported, { source });
  temporaries += 1;
  const temporary = `.pantheros-tmp.${process.pid}.${temporaries}`;
  const r = make(temporary);
  if (r.code !== 0) throw failure(r, operation, reported, source);
  const temporaryPath = Buffer.concat([dest.parent, Buffer.from(dest.parent.length > 1 ? '/' : ''), Buffer.from(temporary)]);
  try {
    if (exists(dest.bytes)) throw btrfsError('EEXIST', operation, reported, { source });
    renameSync(temporaryPath, dest.bytes);
  } catch (error) {
    runCommand(deleteArgv([`${procFd(0)}/${temporary}`], false), { fds: [parentFd] });
    throw error instanceof BtrfsError ? error : fsError(error, operation, reported, source);
  }
  const committed = runCommand(syncArgv(procFd(0)), { fds: [parentFd] });
  if (committed.code !== 0) throw failure(committed, operation, reported, source);
}

/** `btrfs subvolume snapshot [-r] /proc/self/fd/3 /proc/self/fd/4/<name>`; see snapshotSubvolume. */
export function snapshot(sourceFd: number, parentFd: number, dest: SplitPath, readOnly: boolean, reported: BtrfsPath, source: BtrfsPath): void {
  // btrfs-progs snapshots *into* an existing directory; the ioctl refuses an existing name.
  if (exists(dest.bytes)) throw btrfsError('EEXIST', 'snapshot', reported, { source });
  const run = (name: string) => runCommand(snapshotArgv(procFd(0), `${procFd(1)}/${name}`, readOnly), { fds: [sourceFd, parentFd] });
  if (!isSafeName(dest.name)) return viaTemporaryName(parentFd, dest, 'snapshot', reported, source, run);
  const r = run(dest.name.toString('latin1'));
  if (r.code !== 0) throw failure(r, 'snapshot', reported, source);
}

/** `btrfs subvolume create /proc/self/fd/3/<name>`; see createSubvolume. */
export function create(parentFd: number, dest: SplitPath, reported: BtrfsPath): void {
  const run = (name: string) => runCommand(createArgv(`${procFd(0)}/${name}`), { fds: [parentFd] });
  if (!isSafeName(dest.name)) return viaTemporaryName(parentFd, dest, 'create', reported, undefined, run);
  const r = run(dest.name.toString('latin1'));
  if (r.code !== 0) throw failure(r, 'create', reported);
}

/** `btrfs filesystem sync /proc/self/fd/3`; see syncFilesystem. */
export function sync(fd: number, bytes: Buffer, reported: BtrfsPath): void {
  const r = runCommand(syncArgv(procFd(0)), { fds: [fd] });
  if (r.code !== 0) throw failure(r, 'sync', reported ?? bytes);
}

/** `btrfs subvolume get-default /proc/self/fd/3`: only the number after the leading "ID " is read. */
export function defaultId(fd: number, bytes: Buffer, reported: BtrfsPath): number {
  const r = runCommand(getDefaultArgv(procFd(0)), { fds: [fd] });
  const m = /^ID (\d+)\b/.exec(r.stdout);
  if (r.code !== 0 || !m) throw failure(r, 'list', reported ?? bytes);
  return Number(m[1]);
}

interface Candidate {
  index: number;
  path: BtrfsPath;
  bytes: Buffer;
  /** Parent directory, for the commit. */
  parent: Buffer;
  /** The subvolume itself, open, when its path cannot go on a command line. */
  fd: number | undefined;
  /** st_dev of the subvolume: btrfs gives every subvolume its own, so two paths to one subvolume share it. */
  dev: number;
}

/** lstat(2) of what a delete names (never through a final symlink): its fs error, or ENOTDIR unless it is a directory. */
function directoryToDelete(bytes: Buffer, reported: BtrfsPath): Stats {
  let st;
  try {
    st = lstatSync(bytes);
  } catch (error) {
    throw fsError(error, 'delete', reported);
  }
  if (!st.isDirectory()) throw btrfsError('ENOTDIR', 'delete', reported);
  return st;
}

/** Checks one path before btrfs-progs sees it: it must be a subvolume now (lstat: never through a symlink, which progs would follow). */
function candidate(path: BtrfsPath, index: number, onBtrfs: Map<string, boolean>): Candidate {
  const target = splitPath(path, 'delete');
  // What SNAP_DESTROY answers for the same entries: ENOTDIR for a symlink or file, ENOTTY off btrfs,
  // EINVAL for a plain directory.
  const st = directoryToDelete(target.bytes, path);
  // One statfs per parent directory: the nested subvolumes of one item share a few parents.
  const parentKey = target.parent.toString('latin1');
  let btrfs = onBtrfs.get(parentKey);
  if (btrfs === undefined) onBtrfs.set(parentKey, (btrfs = statfsSync(target.parent).type === BTRFS_SUPER_MAGIC));
  if (!btrfs) throw btrfsError('ENOTTY', 'delete', path);
  if (st.ino !== 256) throw btrfsError('EINVAL', 'delete', path);
  let fd: number | undefined;
  if (!isSafePath(target.bytes)) {
    try {
      fd = openSync(target.bytes, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    } catch (error) {
      throw fsError(error, 'delete', path);
    }
  }
  return { index, path, bytes: target.bytes, parent: target.parent, fd, dev: st.dev };
}

/**
 * Splits the candidates into runs that pass at most MAX_FDS_PER_PROCESS descriptors each and never
 * name one subvolume twice (through two mounts or a symlinked parent): lstat after a run tells only
 * whether a subvolume is gone, not which of its paths removed it.
 */
function batches(candidates: readonly Candidate[]): Candidate[][] {
  const out: Candidate[][] = [];
  let fds = 0;
  let devs = new Set<number>();
  for (const c of candidates) {
    if (out.length === 0 || devs.has(c.dev) || (c.fd !== undefined && fds === MAX_FDS_PER_PROCESS)) {
      out.push([]);
      fds = 0;
      devs = new Set();
    }
    if (c.fd !== undefined) fds += 1;
    devs.add(c.dev);
    out.at(-1)!.push(c);
  }
  return out;
}

function runDelete(batch: readonly Candidate[]): CommandResult {
  const fds: number[] = [];
  const args = batch.map((c) => {
    if (c.fd === undefined) return c.bytes.toString('latin1');
    fds.push(c.fd);
    return procFd(fds.length - 1);
  });
  return runCommand(deleteArgv(args, false), { fds });
}

/**
 * `btrfs subvolume delete P…` for every path that is a subvolume now, then one `btrfs filesystem
 * sync` per filesystem when commit is asked; see deleteSubvolumes.
 */
export function deleteAll(absPaths: readonly BtrfsPath[], commit: boolean): DeleteOutcome {
  const results: (DeleteResult | undefined)[] = absPaths.map(() => undefined);
  const candidates: Candidate[] = [];
  const onBtrfs = new Map<string, boolean>();
  try {
    absPaths.forEach((path, index) => {
      try {
        candidates.push(candidate(path, index, onBtrfs));
      } catch (error) {
        if (!(error instanceof BtrfsError)) throw error;
        results[index] = { path, deleted: false, error };
      }
    });
    for (const batch of batches(candidates)) {
      runDelete(batch);
      for (const c of batch) {
        if (!exists(c.bytes)) {
          results[c.index] = { path: c.path, deleted: true };
          continue;
        }
        // Failed (or only some of a run failed): once more alone, so the message is this path's.
        const alone = runDelete([c]);
        results[c.index] = exists(c.bytes) ? { path: c.path, deleted: false, error: failure(alone, 'delete', c.path) } : { path: c.path, deleted: true };
      }
    }
  } finally {
    for (const c of candidates) if (c.fd !== undefined) closeSync(c.fd);
  }
  let committed = false;
  let commitError: BtrfsError | null = null;
  if (commit) {
    const filesystems = new Map<number, Buffer>();
    const seen = new Set<string>();
    for (const c of candidates) {
      const parentKey = c.parent.toString('latin1');
      if (seen.has(parentKey)) continue;
      seen.add(parentKey);
      try {
        const dev = lstatSync(c.parent).dev;
        if (!filesystems.has(dev)) filesystems.set(dev, c.parent);
      } catch {
        // the parent went away: nothing of it left to commit through this path
      }
    }
    for (const parent of filesystems.values()) {
      let fd: number;
      try {
        fd = openSync(parent, constants.O_RDONLY | constants.O_DIRECTORY);
      } catch (error) {
        commitError ??= fsError(error, 'sync', parent);
        continue;
      }
      try {
        sync(fd, parent, parent);
      } catch (error) {
        if (!(error instanceof BtrfsError)) throw error;
        commitError ??= error;
      } finally {
        closeSync(fd);
      }
    }
    committed = filesystems.size > 0 && commitError === null;
  }
  return { results: results.map((r, i) => r ?? { path: absPaths[i]!, deleted: false, error: btrfsError('EIO', 'delete', absPaths[i]!) }), committed, commitError };
}

/**
 * `btrfs inspect-internal rootid /proc/self/fd/3` on the subvolume named `name` in the directory held by parentFd
 * (opened O_NOFOLLOW and checked to be a subvolume first: the id is that of what was opened; progs opens the magic
 * link itself, not a path resolved again), then `btrfs subvolume delete --subvolid ID TOP` (TOP: the top level's
 * path, only root's; the kernel finds the subvolume by its id, wherever it is; Linux >= 5.7); see
 * native.deleteSubvolumeIn. Only a number is read from rootid's output. EXDEV when the subvolume is not on the top
 * level's own mount (its id would name a subvolume of another filesystem).
 */
export function deleteIn(parentFd: number, name: Buffer, top: string, reported: BtrfsPath): void {
  const at = Buffer.concat([Buffer.from(`/proc/self/fd/${parentFd}/`), name]);
  directoryToDelete(at, reported);
  const topBytes = checkPath(top, 'delete', reported);
  if (!isSafePath(topBytes)) throw btrfsError('EINVAL', 'delete', reported);
  const fd = openSubvolume(at, 'delete', reported);
  let id: number;
  try {
    // An id means something only on its own filesystem: the subvolume must be on the very mount of the top level
    // (nested subvolumes share it; anything mounted on the way would not).
    const topFd = openDirectory(topBytes, 'delete', reported);
    try {
      if (mountIdOf(fd) !== mountIdOf(topFd)) throw btrfsError('EXDEV', 'delete', reported);
    } finally {
      closeSync(topFd);
    }
    // The delete by id is not by id all the way: the kernel finds the subvolume's parent directory and name at that
    // moment and looks the name up again there (SNAP_DESTROY_V2, BTRFS_SUBVOL_SPEC_BY_ID), deleting what it finds. So
    // the subvolume is taken from its owner first (root's, 0700: a directory moves to another parent only with write
    // permission on it), and checked to be still the entry `name` of the held directory: whatever the kernel looks up
    // then is an entry of that directory, as on the ioctl path (found by a review: a user who moved their subvolume
    // next to another owner's and exchanged the two names made root delete the other's).
    try {
      try {
        fchownSync(fd, 0, 0);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EROFS') throw error;
        const w = runCommand([btrfsProgram(), 'property', 'set', '-f', '-ts', procFd(0), 'ro', 'false'], { fds: [fd] });
        if (w.code !== 0) throw failure(w, 'delete', reported);
        fchownSync(fd, 0, 0);
      }
      fchmodSync(fd, 0o700);
    } catch (error) {
      throw error instanceof BtrfsError ? error : fsError(error, 'delete', reported);
    }
    let again;
    try {
      again = lstatSync(at);
    } catch (error) {
      throw fsError(error, 'delete', reported);
    }
    const held = fstatSync(fd);
    if (again.dev !== held.dev || again.ino !== held.ino) throw btrfsError('EINVAL', 'delete', reported);
    const r = runCommand([btrfsProgram(), 'inspect-internal', 'rootid', procFd(0)], { fds: [fd] });
    const m = /^(\d+)\n?$/.exec(r.stdout);
    if (r.code !== 0 || !m || Number(m[1]) < 256) throw failure(r, 'delete', reported);
    id = Number(m[1]);
  } finally {
    closeSync(fd);
  }
  const r = runCommand([btrfsProgram(), 'subvolume', 'delete', '--subvolid', String(id), top], {});
  if (r.code !== 0) throw failure(r, 'delete', reported);
}

/** `btrfs property set -f -ts /proc/self/fd/3 ro false`: see native.setWritable. */
export function setWritable(absPath: BtrfsPath): void {
  const bytes = checkPath(absPath, 'delete');
  const fd = openSubvolume(bytes, 'delete', absPath);
  try {
    const r = runCommand([btrfsProgram(), 'property', 'set', '-f', '-ts', procFd(0), 'ro', 'false'], { fds: [fd] });
    if (r.code !== 0) throw failure(r, 'delete', absPath);
  } finally {
    closeSync(fd);
  }
}

/** `btrfs subvolume sync /proc/self/fd/3`, killed after `timeoutSeconds` if given: see native.waitForCleaner. */
export function waitForCleaner(absPathOnFs: BtrfsPath, timeoutSeconds?: number): boolean {
  const bytes = checkPath(absPathOnFs, 'sync');
  const fd = openDirectory(bytes, 'sync', absPathOnFs);
  try {
    const r = runCommand([btrfsProgram(), 'subvolume', 'sync', procFd(0)], { fds: [fd], ...(timeoutSeconds === undefined ? {} : { timeoutMs: timeoutSeconds * 1000 }) });
    if (r.timedOut) return false;
    if (r.code !== 0) throw failure(r, 'sync', absPathOnFs);
    return true;
  } finally {
    closeSync(fd);
  }
}
