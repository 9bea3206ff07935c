// `check`: a persistentPaths entry with nothing mounted on it keeps its files in the root, which the next boot erases.
import type { Config } from '../config/load-config.js';
import type { MountEntry } from '../fs/mountinfo.js';
import { persistedPaths } from '../diff/persisted.js';
import type { Finding } from './finding.js';

/**
 * One warning per persistentPaths entry of config that has nothing mounted on it (or above it) where the root
 * subvolume is mounted, e.g. a bind mount from /persistent that failed or was never configured. `mounts` is
 * /proc/self/mountinfo (readMountinfo()), `majorMinor` the filesystem's (the top level's mountinfo entry). Empty
 * when the root subvolume is not mounted in this namespace (a rescue system: nothing to say about the running one).
 */
export function persistedMountFindings(config: Config, mounts: readonly MountEntry[], majorMinor: string): Finding[] {
  const found = persistedPaths(mounts, majorMinor, config.subvolumes.root, config.persistentPaths);
  if (found.rootMountPoint === null) return [];
  const at = (p: string) => (found.rootMountPoint === '/' ? p : `${found.rootMountPoint}${p}`);
  return found.unmounted.map((p) => ({
    severity: 'warning',
    subject: at(p),
    what: 'listed in persistentPaths, but nothing is mounted there',
    why: `files written to ${at(p)} land in ${config.subvolumes.root}, and the next boot erases them`,
    fix: `mount it (NixOS: the bind mount from /persistent${p}; see systemctl status ${systemdMountUnit(at(p))}), or remove it from persistentPaths; see what the next boot would erase there: pantheros-rollback diff --prefix ${p}`,
  }));
}

/** The name systemd gives the mount unit of an absolute path (systemd-escape --path --suffix=mount), ASCII only. */
export function systemdMountUnit(path: string): string {
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  if (trimmed === '') return '-.mount';
  const escaped = trimmed
    .split('/')
    .filter(Boolean)
    .map((c) => [...Buffer.from(c)].map((b, i) => (/[A-Za-z0-9:_]/.test(String.fromCharCode(b)) || (b === 0x2e && i > 0) ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join(''))
    .join('-');
  return `${escaped}.mount`;
}
