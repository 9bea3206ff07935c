// Where the top level lives and how an operator reaches it (impermanence #258: "where are my old_roots?").
import { realpathSync } from 'node:fs';
import type { TopLevel } from '../btrfs/top-level.js';
import { mountAt, readMountinfo, type MountEntry } from '../fs/mountinfo.js';

export interface TopLocation {
  /** The block device holding the filesystem. */
  device: string | null;
  /** major:minor of the filesystem (btrfs reports one anonymous device for all its mounts). */
  majorMinor: string | null;
  /** Mount points of the top level (subvolid=5) in the running system, apart from this run's private one. */
  mountedAt: string[];
}

/** Finds the device and the other top-level mounts of the filesystem at `top`. */
export function locateTopLevel(top: TopLevel, mounts: readonly MountEntry[] = readMountinfo()): TopLocation {
  let real = top.path;
  try {
    real = realpathSync(top.path);
  } catch {
    // keep the path as given
  }
  const entry = mountAt(mounts, real);
  const majorMinor = entry?.majorMinor ?? null;
  const others = majorMinor === null ? [] : mounts.filter((e) => e.majorMinor === majorMinor && e.root === '/' && e.mountPoint !== real && !e.mountPoint.startsWith('/run/pantheros-rollback/'));
  // A --top-level the operator gave is a real mount of theirs; a private mount of this run is not.
  const mountedAt = [...(top.mountedDevice ? [] : [real]), ...others.map((e) => e.mountPoint)];
  return { device: top.mountedDevice ?? entry?.source ?? null, majorMinor, mountedAt };
}

/** One line telling an operator how to look at `dir` (relative to the top level) with ordinary tools. */
export function browseHint(location: TopLocation, dir: string): string {
  if (location.mountedAt.length) return `the top level is mounted at ${location.mountedAt[0]}: ls ${location.mountedAt[0]}/${dir}`;
  const dev = location.device ?? 'DEVICE';
  return `the top level (subvolid=5) is not mounted; browse one item with: pantheros-rollback mount NAME — or mount it all: mkdir -p /mnt/top && mount -o ro,subvolid=5 ${dev} /mnt/top && ls /mnt/top/${dir}`;
}
