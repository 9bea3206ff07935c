// Which paths of the root are persisted elsewhere (and so survive a boot): never reported by `diff`.
import type { MountEntry } from '../fs/mountinfo.js';

/**
 * Mount points, relative to where the root subvolume is mounted, of other subvolumes of the same filesystem
 * (bind mounts from @persistent, @nix, …). Empty when the root subvolume is not mounted in this namespace.
 */
export function mountedPersistedPaths(mounts: readonly MountEntry[], majorMinor: string, rootSubvolume: string): string[] {
  const root = `/${rootSubvolume}`;
  const same = mounts.filter((m) => m.majorMinor === majorMinor);
  const rootMounts = same.filter((m) => m.root === root).map((m) => m.mountPoint);
  const base = rootMounts.includes('/') ? '/' : rootMounts[0];
  if (base === undefined) return [];
  const out = new Set<string>();
  for (const m of same) {
    if (m.root === root || m.root.startsWith(`${root}/`)) continue;
    if (m.mountPoint === base) continue;
    if (base === '/') out.add(m.mountPoint);
    else if (m.mountPoint.startsWith(`${base}/`)) out.add(m.mountPoint.slice(base.length));
  }
  return [...out].sort();
}

/** Where the persisted paths of the root are, and which configured ones are missing their mount. */
export interface PersistedPaths {
  /**
   * Paths that survive a boot because something is mounted there where the root subvolume is mounted: other
   * subvolumes of the filesystem (bind mounts from @persistent, @nix) and persistentPaths entries with a mount of
   * any filesystem on them. Sorted; relative to the root's mount point.
   */
  mounted: string[];
  /**
   * persistentPaths entries (normalised) with nothing mounted on them or above them: what is there lives in the root
   * subvolume, and the next boot erases it. All entries when the root subvolume is not mounted in this namespace.
   */
  unmounted: string[];
  /** Where the root subvolume is mounted in this namespace ("/" in the running system), or null. */
  rootMountPoint: string | null;
}

/**
 * Which paths of the root are really persisted: a persistentPaths entry counts only where something is mounted
 * (a bind mount of the root subvolume itself does not count: its files are still in the root). Source of the
 * facts: /proc/self/mountinfo, as parsed by src/fs/mountinfo.ts.
 */
export function persistedPaths(mounts: readonly MountEntry[], majorMinor: string, rootSubvolume: string, persistentPaths: readonly string[]): PersistedPaths {
  const root = `/${rootSubvolume}`;
  const rootMounts = mounts.filter((m) => m.majorMinor === majorMinor && m.root === root).map((m) => m.mountPoint);
  const base = rootMounts.includes('/') ? '/' : (rootMounts[0] ?? null);
  const configured = [...new Set(persistentPaths.map((p) => normalisePrefix(p) ?? p))].sort();
  if (base === null) return { mounted: [], unmounted: configured, rootMountPoint: null };
  const mounted = new Set(mountedPersistedPaths(mounts, majorMinor, rootSubvolume));
  const inRoot = (m: MountEntry) => m.majorMinor === majorMinor && (m.root === root || m.root.startsWith(`${root}/`));
  for (const p of configured) {
    const at = base === '/' ? p : `${base}${p}`;
    if (mounts.some((m) => m.mountPoint === at && !inRoot(m))) mounted.add(p);
  }
  const list = [...mounted].sort();
  return { mounted: list, unmounted: configured.filter((p) => !isUnder(p, list)), rootMountPoint: base };
}

/** True when path is one of the prefixes or lies below one ("/" matches everything). */
export function isUnder(path: string, prefixes: readonly string[]): boolean {
  return prefixes.some((p) => p === '/' || path === p || path.startsWith(`${p}/`));
}

/** Normalises an absolute path given by the operator: no trailing slash, no empty, . or .. components. */
export function normalisePrefix(p: string): string | undefined {
  if (!p.startsWith('/')) return undefined;
  const parts = p.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) return undefined;
  return `/${parts.join('/')}`;
}
