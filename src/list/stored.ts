// What is stored at the top level for operators: archived roots and snapshots, found and named safely.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/load-config.js';
import { UsageError } from '../errors.js';
import { kindOf, type EntryKind } from '../boot/observe.js';
import { parseTarget } from '../boot/target.js';

export interface StoredItem {
  kind: 'archive' | 'snapshot';
  /** The name operators type: an archive name, or <class>/<name> for a snapshot. */
  name: string;
  /** Snapshot class (directory under the snapshots directory); undefined for archives. */
  class: string | undefined;
  /** Path relative to the top level. */
  path: string;
}

export interface Inventory {
  archives: StoredItem[];
  snapshots: StoredItem[];
  /** Directories directly under the snapshots directory. */
  classes: string[];
  /** Entries that are neither archives nor snapshots, said plainly (plain directories, symlinks, files). */
  warnings: string[];
}

/** Direct children of a directory with their kinds (never following a symlink); empty when it is not a directory. */
function children(abs: string): { name: string; kind: EntryKind }[] {
  const kind = kindOf(abs);
  if (kind !== 'directory' && kind !== 'subvolume') return [];
  return readdirSync(abs)
    .sort()
    .map((name) => ({ name, kind: kindOf(join(abs, name)) }));
}

/** True when every component of rel below top is a real directory or subvolume (no symlinks, nothing missing). */
export function isPlainDirectoryPath(top: string, rel: string): boolean {
  const parts = rel.split('/');
  return parts.every((_, i) => {
    const k = kindOf(join(top, ...parts.slice(0, i + 1)));
    return k === 'directory' || k === 'subvolume';
  });
}

/** Every archive (subvolume in the archive directory) and snapshot (subvolume in <snapshots>/<class>/). */
export function readInventory(top: string, config: Config): Inventory {
  const { oldRoots, snapshots } = config.subvolumes;
  const inv: Inventory = { archives: [], snapshots: [], classes: [], warnings: [] };
  if (isPlainDirectoryPath(top, oldRoots)) {
    for (const e of children(join(top, oldRoots))) {
      if (e.name.startsWith('.')) continue;
      if (e.kind === 'subvolume') inv.archives.push({ kind: 'archive', name: e.name, class: undefined, path: `${oldRoots}/${e.name}` });
      else inv.warnings.push(`${oldRoots}/${e.name} is a ${e.kind}, not a subvolume: not an archive`);
    }
  }
  if (isPlainDirectoryPath(top, snapshots)) {
    for (const c of children(join(top, snapshots))) {
      if (c.kind !== 'directory' && c.kind !== 'subvolume') {
        inv.warnings.push(`${snapshots}/${c.name} is a ${c.kind}, not a snapshot class directory`);
        continue;
      }
      inv.classes.push(c.name);
      for (const e of children(join(top, snapshots, c.name))) {
        if (e.name.startsWith('.')) continue;
        const name = `${c.name}/${e.name}`;
        if (e.kind === 'subvolume') inv.snapshots.push({ kind: 'snapshot', name, class: c.name, path: `${snapshots}/${name}` });
        else inv.warnings.push(`${snapshots}/${name} is a ${e.kind}, not a snapshot`);
      }
    }
  }
  return inv;
}

/** A short list of names for an error message. */
function some(names: string[], max = 12): string {
  if (!names.length) return '(none)';
  const shown = names.slice(-max);
  return `${names.length > max ? `… ${names.length - max} more, ` : ''}${shown.join(', ')}`;
}

/** What exists, for error messages that refuse a name. */
export function describeInventory(inv: Inventory, config: Config): string {
  return `archives in ${config.subvolumes.oldRoots}: ${some(inv.archives.map((a) => a.name))}; snapshots in ${config.subvolumes.snapshots}: ${some(inv.snapshots.map((s) => s.name))} (see: pantheros-rollback list)`;
}

/**
 * Resolves an archive name or <class>/<snapshot name> to a stored subvolume, strictly: the name must pass
 * the boot's target rules, every component must be a real directory (no symlink) and the last a subvolume.
 * Anything else is a usage error that lists what exists.
 */
export function resolveStored(top: string, config: Config, name: string, command: string): StoredItem {
  const { oldRoots, snapshots } = config.subvolumes;
  const target = parseTarget(name);
  const refuse = (why: string): never => {
    throw new UsageError(`${command}: ${why}; ${describeInventory(readInventory(top, config), config)}`);
  };
  if (target.kind === 'refused') return refuse(`"${name}" is not an archive or snapshot name: ${target.reason}`);
  if (target.kind !== 'archive' && target.kind !== 'snapshot') {
    return refuse(`"${name}" is a boot target (${target.kind}), not an archive or snapshot name`);
  }
  if (target.kind === 'archive') {
    const path = `${oldRoots}/${target.name}`;
    if (!isPlainDirectoryPath(top, oldRoots)) return refuse(`the archive directory ${oldRoots} does not exist (or is not a plain directory)`);
    const kind = kindOf(join(top, path));
    if (kind !== 'subvolume') return refuse(kind === 'missing' ? `no archive named "${name}"` : `${path} is a ${kind}, not an archived root`);
    return { kind: 'archive', name, class: undefined, path };
  }
  const [cls, ...rest] = target.path.split('/') as [string, ...string[]];
  if (rest.length !== 1) return refuse(`"${name}" is not <class>/<snapshot name>`);
  const classKind = kindOf(join(top, snapshots, cls));
  if (!isPlainDirectoryPath(top, snapshots) || (classKind !== 'directory' && classKind !== 'subvolume')) {
    const classes = readInventory(top, config).classes;
    return refuse(`no snapshot class "${cls}" in ${snapshots}${classKind === 'symlink' ? ' (it is a symlink)' : ''} (classes: ${classes.join(', ') || 'none'})`);
  }
  const path = `${snapshots}/${target.path}`;
  const kind = kindOf(join(top, path));
  if (kind !== 'subvolume') return refuse(kind === 'missing' ? `no snapshot named "${rest[0]}" in class ${cls}` : `${path} is a ${kind}, not a snapshot`);
  return { kind: 'snapshot', name, class: cls, path };
}
