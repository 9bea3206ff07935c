// /proc/self/mountinfo parsing: which subvolume is mounted where (so nothing mounted is ever swapped).
import { readFileSync } from 'node:fs';

export interface MountEntry {
  mountId: number;
  /** The mount this one is mounted on (field 2 of mountinfo; itself for the namespace's root). */
  parentId: number;
  majorMinor: string;
  /** Path inside the filesystem that is mounted (for btrfs: the subvolume path, e.g. /@root). */
  root: string;
  mountPoint: string;
  fsType: string;
  source: string;
  superOptions: string;
  options: string;
}

/** Undoes the octal escapes (\\040 for a space, \\011, \\012, \\134) that mountinfo and fstab use for fields with blanks. */
export function unescapeOctal(s: string): string {
  return s.includes('\\') ? s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8))) : s;
}

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const fields = line.split(' ');
    const sep = fields.indexOf('-', 6);
    if (sep < 0 || fields.length < sep + 3) continue;
    out.push({
      mountId: Number(fields[0]),
      parentId: Number(fields[1]),
      majorMinor: fields[2]!,
      root: unescapeOctal(fields[3]!),
      mountPoint: unescapeOctal(fields[4]!),
      options: fields[5]!,
      fsType: fields[sep + 1]!,
      source: unescapeOctal(fields[sep + 2]!),
      superOptions: fields[sep + 3] ?? '',
    });
  }
  return out;
}

/**
 * Whether both the mount and its filesystem are read-write: neither the per-mount options nor the superblock's
 * options (which say `ro` when btrfs has turned the whole filesystem read-only after an error) hold `ro`. Only then
 * does access(W_OK) answer EROFS for a read-only subvolume alone.
 */
export function isWritableMount(entry: Pick<MountEntry, 'options' | 'superOptions'>): boolean {
  return !entry.options.split(',').includes('ro') && !entry.superOptions.split(',').includes('ro');
}

export function readMountinfo(path = '/proc/self/mountinfo'): MountEntry[] {
  return parseMountinfo(readFileSync(path, 'utf8'));
}

/** The entry mounted at exactly `mountPoint` (the last, i.e. topmost, one). */
export function mountAt(entries: readonly MountEntry[], mountPoint: string): MountEntry | undefined {
  return entries.filter((e) => e.mountPoint === mountPoint).at(-1);
}

/** Mount points where `subvolPath` (relative to the top level), or anything inside it, of the same filesystem is mounted. */
export function mountsOfSubvolume(entries: readonly MountEntry[], majorMinor: string, subvolPath: string): string[] {
  const root = `/${subvolPath}`;
  return entries.filter((e) => e.majorMinor === majorMinor && (e.root === root || e.root.startsWith(`${root}/`))).map((e) => e.mountPoint);
}

/**
 * The paths (relative to the top level, no leading slash) of the filesystem `majorMinor` that are in use by a mount:
 * every subvolume or directory of it that is mounted somewhere (a mount's root; the top level itself, "/", left out),
 * and every directory of it that something is mounted on (a mount whose parent is a mount of this filesystem: its
 * mount point as a path inside the filesystem). Deleting a subvolume detaches what is mounted inside it, so both kinds
 * keep it. Source: proc(5) mountinfo (fields 1, 2, 3, 4, 5).
 */
export function pathsInUse(entries: readonly MountEntry[], majorMinor: string): string[] {
  const ours = new Map(entries.filter((e) => e.majorMinor === majorMinor && e.fsType === 'btrfs').map((e) => [e.mountId, e]));
  const out = new Set<string>();
  for (const e of ours.values()) if (e.root !== '/') out.add(e.root.slice(1));
  for (const e of entries) {
    const parent = ours.get(e.parentId);
    if (!parent || parent === e) continue;
    const base = parent.mountPoint === '/' ? '/' : `${parent.mountPoint}/`;
    if (!e.mountPoint.startsWith(base)) continue;
    const inside = `${parent.root === '/' ? '' : parent.root}/${e.mountPoint.slice(base.length)}`;
    out.add(inside.slice(1));
  }
  return [...out];
}

/** The first of `mountedPaths` (as pathsInUse gives them) that is `path` or inside it: what keeps `path` in use. */
export function mountedWithin(mountedPaths: readonly string[], path: string): string | undefined {
  return mountedPaths.find((m) => m === path || m.startsWith(`${path}/`));
}
