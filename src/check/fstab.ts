// btrfs entries of an fstab, grouped per filesystem: where per-mount differences in btrfs options are visible (mountinfo shows only the effective ones).
import type { MountOptions } from './lint-mount-options.js';
import { unescapeOctal } from '../fs/mountinfo.js';

export interface FstabGroup {
  /** The fs_spec (device) the entries share. */
  source: string;
  /** In the order the filesystem is mounted: parents first (/ before /nix), then as listed. */
  mounts: MountOptions[];
}


/** Parses fstab text; only btrfs entries, grouped by their fs_spec. */
export function parseFstab(text: string): FstabGroup[] {
  const groups = new Map<string, MountOptions[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [spec, file, type, options] = line.split(/\s+/);
    if (spec === undefined || file === undefined || type !== 'btrfs') continue;
    const source = unescapeOctal(spec);
    groups.set(source, [...(groups.get(source) ?? []), { mountPoint: unescapeOctal(file), options: options ?? 'defaults' }]);
  }
  const depth = (p: string) => (p === '/' ? 0 : p.split('/').length - 1);
  return [...groups].map(([source, mounts]) => ({ source, mounts: mounts.map((m, i) => ({ m, i })).sort((a, b) => depth(a.m.mountPoint) - depth(b.m.mountPoint) || a.i - b.i).map((x) => x.m) }));
}
