// /proc/self/mountinfo parsing: which subvolume is mounted where (so nothing mounted is ever swapped).
import { readFileSync } from 'node:fs';

export interface MountEntry {
  mountId: number;
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
