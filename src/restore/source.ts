// The path to restore, resolved inside an archive or snapshot one component at a time, never following a symlink,
// and held open: the copy reads it through /proc/self/fd/N/NAME, so renaming a directory on the way (or swapping a
// symlink in) after the checks changes nothing.
import { closeSync, constants, lstatSync, openSync, readdirSync, type Stats } from 'node:fs';
import { UsageError } from '../errors.js';
import { kindOfStats } from '../fs/entry-kind.js';
import { atPathBelow, fdPath, lstatBelow, openChildDirectory, openDirectoryNoFollow, PathWalkError } from '../fs/open-dir.js';
import { showName } from '../cli/show-text.js';

export type SourceKind = 'file' | 'directory' | 'symlink' | 'other';

/** Splits an absolute path as it was in the archived root into components; refuses . and .. and the root itself. */
export function splitRestorePath(path: string): string[] {
  if (!path.startsWith('/')) throw new UsageError(`restore: PATH must be absolute, as it was in that root (e.g. /etc/foo.conf), not ${JSON.stringify(path)}`);
  if (path.includes('\0') || path.includes('\n')) throw new UsageError('restore: PATH must not contain NUL or newline');
  const parts = path.split('/').filter((p) => p !== '');
  if (parts.some((p) => p === '..')) throw new UsageError(`restore: PATH ${JSON.stringify(path)} contains ..; name the path inside the archive directly`);
  if (parts.some((p) => p === '.')) throw new UsageError(`restore: PATH ${JSON.stringify(path)} contains a . component`);
  if (!parts.length) throw new UsageError('restore: PATH is the whole root; to boot from an archive use: pantheros-rollback next-boot NAME');
  return parts;
}

/** What restore copies: the entry kind (src/fs/entry-kind.ts), a subvolume being a directory to copy. */
export function kindOfStat(st: Stats): SourceKind {
  const kind = kindOfStats(st);
  return kind === 'subvolume' ? 'directory' : (kind as SourceKind);
}

/** The item to copy: NAME inside the directory held by dirFd. */
export interface OpenedSource {
  dirFd: number;
  name: string;
  kind: SourceKind;
  /** The item as this process reaches it (/proc/self/fd/N/NAME), valid until close(). */
  abs: string;
  close(): void;
}

/**
 * Opens the archive or snapshot at `itemPath` (relative to the top level at topPath) and walks PATH's components
 * in it with O_NOFOLLOW|O_DIRECTORY: every component but the last must be a real directory (a symlink is refused,
 * wherever it points); the last may be anything and is copied as it is (a symlink as a symlink). `label` names the
 * archive or snapshot in messages. Throws UsageError.
 */
export function openSource(topPath: string, itemPath: string, parts: readonly string[], label: string): OpenedSource {
  let dirFd: number;
  try {
    const topFd = openSync(topPath, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      dirFd = openDirectoryNoFollow(itemPath, { fd: topFd, shownBase: '<top level>' });
    } finally {
      closeSync(topFd);
    }
  } catch (error) {
    throw new UsageError(`restore: cannot open ${label}: ${(error as Error).message}`, { cause: error });
  }
  try {
    for (let i = 0; i < parts.length - 1; i++) {
      const shown = `/${parts.slice(0, i + 1).join('/')}`;
      let next: number;
      try {
        next = openChildDirectory(dirFd, parts[i]!, shown);
      } catch (error) {
        let kind: SourceKind = 'other';
        try {
          kind = kindOfStat(lstatSync(fdPath(dirFd, parts[i]!)));
        } catch {
          // gone meanwhile
        }
        throw sourceError(error, shown, label, i, kind);
      }
      closeSync(dirFd);
      dirFd = next;
    }
    const name = parts[parts.length - 1]!;
    const shown = `/${parts.join('/')}`;
    let st: Stats;
    try {
      st = lstatSync(fdPath(dirFd, name));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw sourceError(new PathWalkError(shown, code === 'ENOENT' ? 'missing' : 'unreadable', undefined, code), shown, label, parts.length - 1);
    }
    const fd = dirFd;
    return { dirFd: fd, name, kind: kindOfStat(st), abs: fdPath(fd, name), close: () => closeSync(fd) };
  } catch (error) {
    closeSync(dirFd);
    throw error;
  }
}

function sourceError(error: unknown, shown: string, label: string, depth: number, kind: SourceKind = 'other'): UsageError {
  if (!(error instanceof PathWalkError)) return new UsageError(`restore: cannot look at ${shown} in ${label}: ${String(error)}`, { cause: error });
  switch (error.problem) {
    case 'symlink':
      return new UsageError(`restore: ${shown} in ${label} is a symlink (→ ${error.target === undefined ? '?' : showName(error.target)}); refusing to follow it — name the path it stands for directly`);
    case 'missing':
      return new UsageError(`restore: ${shown} does not exist in ${label}${depth > 0 ? '' : ' (paths on other subvolumes, such as /nix or persisted paths, are not in an archived root)'}`);
    case 'not-a-directory':
      return new UsageError(`restore: ${shown} in ${label} is a ${kind}, not a directory`);
    default:
      return new UsageError(`restore: cannot look at ${shown} in ${label}: ${error.code ?? 'error'}`, { cause: error });
  }
}

export interface TreeCount {
  files: number;
  directories: number;
  symlinks: number;
  other: number;
  /** Sum of regular file sizes. */
  bytes: number;
}

/**
 * Counts what a copy of `abs` (a path, usually /proc/self/fd/N/NAME) contains, without following symlinks. Names are
 * read as bytes (a name that is not valid UTF-8 is counted, not looked up by a mangled name), and a tree deeper than
 * PATH_MAX is reached through its directories held open (src/fs/open-dir.ts atPathBelow): a local user's file in the
 * archive cannot make the count fail. An entry that vanishes meanwhile (a live source) is not counted. Throws the fs
 * error of anything else (EACCES, EIO).
 */
export function countTree(abs: string): TreeCount {
  const count: TreeCount = { files: 0, directories: 0, symlinks: 0, other: 0, bytes: 0 };
  const stack: Buffer[] = [Buffer.alloc(0)];
  const slash = Buffer.from('/');
  while (stack.length) {
    const rel = stack.pop()!;
    let st: Stats;
    let names: Buffer[] = [];
    try {
      st = rel.length ? lstatBelow(abs, rel) : lstatSync(abs);
      if (st.isDirectory()) names = rel.length ? atPathBelow(abs, rel, (path) => readdirSync(path, { encoding: 'buffer' })) : readdirSync(abs, { encoding: 'buffer' });
    } catch (error) {
      if (rel.length && ['ENOENT', 'ENOTDIR'].includes((error as NodeJS.ErrnoException).code ?? '')) continue;
      throw error;
    }
    const kind = kindOfStat(st);
    if (kind === 'directory') {
      count.directories += 1;
      for (const name of names) stack.push(rel.length ? Buffer.concat([rel, slash, name]) : name);
    } else if (kind === 'file') {
      count.files += 1;
      count.bytes += st.size;
    } else if (kind === 'symlink') count.symlinks += 1;
    else count.other += 1;
  }
  return count;
}
