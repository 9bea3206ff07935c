// Facts `list` and `check` read from btrfs-progs beyond the subvolume listing: creation time, sizes, default subvolume.
import { assertSafePath, btrfsProgram } from '../btrfs/commands.js';
import { runCommand } from '../btrfs/run.js';

/** The "Creation time:" line of `btrfs subvolume show` (e.g. "2026-11-26 06:41:30 +0000") as a Date; undefined when absent. */
export function parseCreationTime(showOutput: string): Date | undefined {
  const m = /^\s*Creation time:\s+(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) ([+-]\d{2})(\d{2})\s*$/m.exec(showOutput);
  if (!m) return undefined;
  const t = new Date(`${m[1]}T${m[2]}${m[3]}:${m[4]}`);
  return Number.isNaN(t.getTime()) ? undefined : t;
}

export interface QgroupSize {
  referenced: number;
  exclusive: number;
}

/** Parses `btrfs qgroup show --raw`: level-0 qgroups (0/<subvolume id>) with referenced and exclusive bytes. */
export function parseQgroupShow(text: string): Map<number, QgroupSize> {
  const out = new Map<number, QgroupSize>();
  for (const line of text.split('\n')) {
    const m = /^0\/(\d+)\s+(\d+)\s+(\d+)(?:\s|$)/.exec(line.trim());
    if (m) out.set(Number(m[1]), { referenced: Number(m[2]), exclusive: Number(m[3]) });
  }
  return out;
}

/** Parses `btrfs subvolume get-default`: "ID 5 (FS_TREE)" or "ID 256 gen 9 top level 5 path @root". */
export function parseGetDefault(text: string): { id: number; path: string | null } | undefined {
  const line = text.trim();
  const top = /^ID (\d+) \(FS_TREE\)$/.exec(line);
  if (top) return { id: Number(top[1]), path: null };
  const m = /^ID (\d+) .*? path (.+)$/.exec(line);
  if (m) return { id: Number(m[1]), path: m[2]!.replace(/^<FS_TREE>\//, '') };
  return undefined;
}

/**
 * Creation time of one subvolume from `btrfs subvolume show`; undefined when btrfs cannot say. btrfs-progs prints
 * the fixed fields first and exits 1 when it then cannot list the subvolume's snapshots (a subvolume path longer
 * than PATH_MAX anywhere on the filesystem), so the output is judged by its shape, not by the exit code: line 2
 * must name the subvolume, and only the lines after it are read (a name cannot add one there).
 */
export function readCreationTime(abs: string): Date | undefined {
  const r = runCommand([btrfsProgram(), 'subvolume', 'show', assertSafePath(abs)]);
  const lines = r.stdout.split('\n');
  if (lines[1]?.replace(/^\s*Name:\s*/, '') !== abs.slice(abs.lastIndexOf('/') + 1)) return undefined;
  return parseCreationTime(lines.slice(2).join('\n'));
}

/** Sizes per subvolume id when quotas are enabled; `enabled: false` when they are not (or btrfs refuses). */
export function readQgroups(top: string): { enabled: boolean; sizes: Map<number, QgroupSize>; note: string | undefined } {
  const r = runCommand([btrfsProgram(), 'qgroup', 'show', '--raw', assertSafePath(top)]);
  if (r.code !== 0) return { enabled: false, sizes: new Map(), note: r.stderr.trim() || undefined };
  const warn = /rescan is running|inconsistent/i.exec(r.stderr);
  return { enabled: true, sizes: parseQgroupShow(r.stdout), note: warn ? 'quota data may be incomplete (a qgroup rescan is running or is needed: btrfs quota rescan)' : undefined };
}

/** The default subvolume (what a mount without subvol= gets). */
export function readDefaultSubvolume(top: string): { id: number; path: string | null } | undefined {
  const r = runCommand([btrfsProgram(), 'subvolume', 'get-default', assertSafePath(top)]);
  return r.code === 0 ? parseGetDefault(r.stdout) : undefined;
}
