// The path to restore, resolved inside an archive or snapshot one component at a time, never following a symlink.
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.js';

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

function kindOfStat(st: Stats): SourceKind {
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isDirectory()) return 'directory';
  if (st.isFile()) return 'file';
  return 'other';
}

/**
 * Resolves components below rootAbs with lstat: every component but the last must be a real directory
 * (a symlink is refused, wherever it points); the last may be anything and is copied as it is (a symlink
 * as a symlink). `label` names the archive or snapshot in messages.
 */
export function resolveSource(rootAbs: string, parts: readonly string[], label: string): { abs: string; kind: SourceKind } {
  let abs = rootAbs;
  for (let i = 0; i < parts.length; i++) {
    abs = join(abs, parts[i]!);
    const shown = `/${parts.slice(0, i + 1).join('/')}`;
    let st: Stats;
    try {
      st = lstatSync(abs);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        throw new UsageError(`restore: ${shown} does not exist in ${label}${i > 0 ? '' : ' (paths on other subvolumes, such as /nix or persisted paths, are not in an archived root)'}`);
      }
      throw new UsageError(`restore: cannot look at ${shown} in ${label}: ${code ?? String(error)}`, { cause: error });
    }
    const kind = kindOfStat(st);
    if (i === parts.length - 1) return { abs, kind };
    if (kind === 'symlink') {
      throw new UsageError(`restore: ${shown} in ${label} is a symlink (→ ${readlinkSync(abs)}); refusing to follow it — name the path it stands for directly`);
    }
    if (kind !== 'directory') throw new UsageError(`restore: ${shown} in ${label} is a ${kind}, not a directory`);
  }
  throw new UsageError('restore: empty PATH');
}

export interface TreeCount {
  files: number;
  directories: number;
  symlinks: number;
  other: number;
  /** Sum of regular file sizes. */
  bytes: number;
}

/** Counts what a copy of abs contains, without following symlinks. */
export function countTree(abs: string): TreeCount {
  const count: TreeCount = { files: 0, directories: 0, symlinks: 0, other: 0, bytes: 0 };
  const stack = [abs];
  while (stack.length) {
    const p = stack.pop()!;
    const st = lstatSync(p);
    const kind = kindOfStat(st);
    if (kind === 'directory') {
      count.directories += 1;
      for (const name of readdirSync(p)) stack.push(join(p, name));
    } else if (kind === 'file') {
      count.files += 1;
      count.bytes += st.size;
    } else if (kind === 'symlink') count.symlinks += 1;
    else count.other += 1;
  }
  return count;
}
