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
