// The engine's one way to change btrfs: snapshot, create, delete, commit. Through the `btrfs` process (btrfs-progs);
// paths that a process argument cannot carry safely (a newline, bytes that are not UTF-8, longer than PATH_MAX)
// are reached through /proc/<pid>/fd/N of a directory this process opened without following symlinks.
import { closeSync, renameSync } from 'node:fs';
import { openDirectoryBelowRoot } from '../fs/open-dir.js';
import { BTRFS, createArgv, deleteArgv, snapshotArgv } from './commands.js';
import { runCommand, type CommandResult } from './run.js';
import { kindOf } from '../fs/entry-kind.js';

/** A failed btrfs operation: `code` is the errno name when it can be told (ENOSPC, EEXIST, EROFS, ENOTEMPTY, EPERM…). */
export class BtrfsError extends Error {
  override name = 'BtrfsError';
  constructor(
    message: string,
    readonly code: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const ERRNO_TEXT: [RegExp, string][] = [
  [/No space left on device/i, 'ENOSPC'],
  [/File exists/i, 'EEXIST'],
  [/Read-only file system/i, 'EROFS'],
  [/Directory not empty/i, 'ENOTEMPTY'],
  [/Operation not permitted/i, 'EPERM'],
  [/No such file or directory/i, 'ENOENT'],
  [/Not a directory/i, 'ENOTDIR'],
  [/Invalid argument/i, 'EINVAL'],
  [/Permission denied/i, 'EACCES'],
];

/** The errno name btrfs-progs' message names (it prints strerror text), if any. */
export function errnoFromMessage(text: string): string | undefined {
  return ERRNO_TEXT.find(([re]) => re.test(text))?.[1];
}

function fail(r: CommandResult, what: string): never {
  const text = r.stderr.trim() || r.stdout.trim() || `exit ${r.code}`;
  throw new BtrfsError(`${what}: ${text}`, errnoFromMessage(text));
}

/** True when `p` can be handed to a process as an argument exactly (absolute, UTF-8, no newline, no `..`, short). */
export function isArgumentSafe(p: string | Buffer): p is string {
  return typeof p === 'string' && p.startsWith('/') && !/[\0\n]/.test(p) && p.length < 4000 && !p.split('/').some((c) => c === '..');
}

/** Opens a directory without following a symlink on the way (any length); the fd names it for a child process. */
const openDirectory = openDirectoryBelowRoot;

function splitLast(p: string | Buffer): { dir: Buffer; name: Buffer } {
  const b = typeof p === 'string' ? Buffer.from(p) : p;
  const slash = b.lastIndexOf(0x2f);
  return { dir: b.subarray(0, Math.max(slash, 1)), name: b.subarray(slash + 1) };
}

let temporaryCounter = 0;

/**
 * Makes dest a snapshot of source (read-only when asked). Throws BtrfsError (EEXIST when dest exists, ENOSPC,
 * EROFS when dest's directory is on a read-only subvolume). A dest the btrfs process cannot take is made under a
 * temporary name in its directory, then renamed (both reached through directory fds).
 */
export function snapshotSubvolume(source: string | Buffer, dest: string | Buffer, options: { readOnly: boolean }): void {
  if (isArgumentSafe(source) && isArgumentSafe(dest)) {
    const r = runCommand(snapshotArgv(source, dest, options.readOnly));
    if (r.code !== 0) fail(r, `cannot snapshot ${source} to ${dest}`);
    return;
  }
  const fds: number[] = [];
  try {
    const src = isArgumentSafe(source) ? source : `/proc/${process.pid}/fd/${fds[fds.push(openDirectory(source)) - 1]}`;
    const { dir, name } = splitLast(dest);
    const dirFd = openDirectory(dir);
    fds.push(dirFd);
    const temporary = `.pantheros-snapshot-${process.pid}-${temporaryCounter++}`;
    const dirPath = `/proc/${process.pid}/fd/${dirFd}`;
    const r = runCommand(snapshotArgv(src, `${dirPath}/${temporary}`, options.readOnly));
    if (r.code !== 0) fail(r, `cannot snapshot ${String(source)} to ${String(dest)}`);
    renameSync(`${dirPath}/${temporary}`, Buffer.concat([Buffer.from(`${dirPath}/`), name]));
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}

/** Creates an empty subvolume at dest. Throws BtrfsError (EEXIST, ENOSPC, EROFS). */
export function createSubvolume(dest: string): void {
  const r = runCommand(createArgv(dest));
  if (r.code !== 0) fail(r, `cannot create ${dest}`);
}

export interface DeleteResult {
  path: string;
  /** Undefined when deleted; else why not. */
  error: BtrfsError | undefined;
}

/**
 * Deletes the subvolumes in the order given (deepest first), never stopping at the first failure, and commits once
 * at the end when asked (`--commit-after`). One result per path. Paths must be argument-safe (the caller moves
 * odd names to safe ones first).
 */
export function deleteSubvolumes(paths: readonly string[], options: { commit: boolean }): DeleteResult[] {
  if (!paths.length) return [];
  const argv = deleteArgv(paths);
  if (!options.commit) argv.splice(argv.indexOf('--commit-after'), 1);
  const r = runCommand(argv);
  if (r.code === 0) return paths.map((path) => ({ path, error: undefined }));
  // btrfs-progs goes on after a failed path; its messages (stderr) and the names it deleted (stdout) come on
  // separate streams, so the filesystem says which ones are gone. The commit it skipped after a failure is made here.
  const text = r.stderr.trim() || `exit ${r.code}`;
  const results = paths.map((path) => ({ path, error: kindOf(path) === 'missing' ? undefined : new BtrfsError(`cannot delete ${path}: ${text}`, errnoFromMessage(text)) }));
  if (options.commit) syncFilesystem(parentOf(paths[0]!));
  return results;
}

const parentOf = (p: string) => p.slice(0, Math.max(p.lastIndexOf('/'), 1));

/** Commits the current transaction of the filesystem holding `path` and waits for it (`btrfs filesystem sync`). */
export function syncFilesystem(path: string): void {
  const r = runCommand([BTRFS, 'filesystem', 'sync', path]);
  if (r.code !== 0) fail(r, `cannot commit the filesystem at ${path}`);
}

/** Waits until the subvolumes deleted so far are cleaned up and their space is free again (`btrfs subvolume sync`), then commits. */
export function waitForCleaner(path: string): void {
  const r = runCommand([BTRFS, 'subvolume', 'sync', path]);
  if (r.code !== 0) fail(r, `cannot wait for deleted subvolumes to be cleaned at ${path}`);
  syncFilesystem(path);
}

/**
 * Makes the subvolume at `path` writable (clears its read-only flag; `-f` also for one made by `btrfs receive`, whose
 * received_uuid btrfs-progs then clears). Only for subvolumes about to be deleted, so a nested one can be unlinked
 * from it. A path a process argument cannot carry is reached through an fd of the directory itself.
 */
export function setWritable(path: string | Buffer): void {
  if (isArgumentSafe(path)) {
    const r = runCommand([BTRFS, 'property', 'set', '-f', '-ts', path, 'ro', 'false']);
    if (r.code !== 0) fail(r, `cannot make ${path} writable`);
    return;
  }
  const fd = openDirectory(path);
  try {
    const r = runCommand([BTRFS, 'property', 'set', '-f', '-ts', `/proc/${process.pid}/fd/${fd}`, 'ro', 'false']);
    if (r.code !== 0) fail(r, `cannot make ${String(path)} writable`);
  } finally {
    closeSync(fd);
  }
}
