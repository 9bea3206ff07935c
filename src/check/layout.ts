// Checks the subvolume layout the rollback relies on: observed facts in, findings out (checkLayout is pure).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/load-config.js';
import { kindOf, NEW_ROOT_PREFIX, NEXT_BOOT_FILE, observePath, type EntryKind } from '../boot/observe.js';
import { parseTarget } from '../boot/target.js';
import { listReadOnlyIds, listSubvolumes } from '../btrfs/list.js';
import { readDefaultSubvolume } from '../list/btrfs-info.js';
import { readRequest, type Request } from '../list/request.js';
import type { Finding } from './finding.js';

export interface LayoutFacts {
  /** Kinds of the configured paths and each of their components, relative to the top level. */
  kinds: Record<string, EntryKind>;
  blankReadOnly: boolean | undefined;
  blankEntries: number | undefined;
  defaultSubvolume: { id: number; path: string | null } | undefined;
  /** Direct children of the archive directory. */
  archiveEntries: { name: string; kind: EntryKind }[];
  request: Request;
  /** Snapshot class directories (children of the snapshots directory) and their kinds. */
  classes: { name: string; kind: EntryKind }[];
}

const isDir = (k: EntryKind | undefined) => k === 'directory' || k === 'subvolume';

/** The first component of rel that is not a directory (a symlink, a file…), if any. */
function badComponent(kinds: Record<string, EntryKind>, rel: string): string | undefined {
  const parts = rel.split('/');
  return parts.map((_, i) => parts.slice(0, i + 1).join('/')).find((p, i) => i < parts.length - 1 && kinds[p] !== undefined && kinds[p] !== 'missing' && !isDir(kinds[p]));
}

export function checkLayout(f: LayoutFacts, config: Config): Finding[] {
  const { root, blank, oldRoots, snapshots } = config.subvolumes;
  const out: Finding[] = [];
  const add = (severity: Finding['severity'], subject: string, what: string, why: string, fix: string) => out.push({ severity, subject, what, why, fix });
  const k = f.kinds;

  if (k[root] === 'missing') add('warning', root, 'the root subvolume does not exist', 'the next boot makes a new one and has nothing to archive', 'nothing, if this is a new layout; otherwise check subvolumes.root in the config');
  else if (k[root] !== 'subvolume') add('error', root, `the root is a ${k[root]}, not a subvolume`, 'the boot refuses to touch a layout it does not understand (nothing is rolled back)', `make ${root} a subvolume, or point subvolumes.root at the right one`);

  const createBlank = `btrfs subvolume create <top>/${blank} && btrfs property set -ts <top>/${blank} ro true`;
  if (k[blank] === 'missing') add('error', blank, 'the blank does not exist', 'every boot falls back to an empty subvolume and warns', `create an empty read-only blank: ${createBlank}`);
  else if (k[blank] !== 'subvolume') add('error', blank, `the blank is a ${k[blank]}, not a subvolume`, 'a new root can only be a snapshot of a subvolume; every boot falls back to an empty one', `move it away and create a read-only blank: ${createBlank}`);
  else {
    if (f.blankReadOnly === false) add('error', blank, 'the blank is writable', 'anything written into it reappears in every new root', `make it read-only: btrfs property set -ts <top>/${blank} ro true`);
    if ((f.blankEntries ?? 0) > 0) add('warning', blank, `the blank is not empty (${f.blankEntries} entries)`, 'every new root starts with them; fine if intended (a skeleton), surprising otherwise', `recreate it empty: btrfs subvolume delete <top>/${blank} && ${createBlank}`);
  }

  const badOld = badComponent(k, oldRoots) ?? (k[oldRoots] !== undefined && k[oldRoots] !== 'missing' && !isDir(k[oldRoots]) ? oldRoots : undefined);
  if (badOld) add('error', badOld, `${badOld} is a ${k[badOld]}, not a directory`, 'archives cannot be kept safely there: the boot refuses to run', `move it away; the boot creates ${oldRoots} as a directory`);
  else if (k[oldRoots] === 'missing') add('warning', oldRoots, 'the archive directory does not exist yet', 'the first boot creates it', 'nothing');

  const badSnap = badComponent(k, snapshots) ?? (k[snapshots] !== undefined && k[snapshots] !== 'missing' && !isDir(k[snapshots]) ? snapshots : undefined);
  if (badSnap) add('error', badSnap, `${badSnap} is a ${k[badSnap]}, not a directory`, 'snapshots cannot be made or found there', `move it away and create ${snapshots} (btrfs subvolume create <top>/${snapshots})`);
  else if (k[snapshots] === 'missing' && config.snapshotSubvolumes.length) add('warning', snapshots, 'the snapshot directory does not exist', '`pantheros-rollback snapshot` needs it', `btrfs subvolume create <top>/${snapshots}`);
  for (const c of f.classes) {
    if (!isDir(c.kind)) add('error', `${snapshots}/${c.name}`, `a ${c.kind} where a snapshot class directory belongs`, 'snapshots are never looked for through a symlink or in a file', `move ${snapshots}/${c.name} away`);
  }
  for (const s of config.snapshotSubvolumes) {
    if (k[s] === 'missing') add('warning', s, 'a subvolume to snapshot (snapshotSubvolumes) does not exist', '`pantheros-rollback snapshot` fails for it', `create it (btrfs subvolume create <top>/${s}) or remove it from snapshotSubvolumes`);
    else if (k[s] !== 'subvolume') add('error', s, `a subvolume to snapshot is a ${k[s]}, not a subvolume`, 'btrfs can only snapshot subvolumes', `fix snapshotSubvolumes in the config`);
  }

  const def = f.defaultSubvolume;
  if (def?.path === root) {
    add('error', root, 'the root is the default subvolume', 'a mount without subvol= gets the root instead of the top level, and the default subvolume cannot be deleted, so its archive can never be aged out', `make the top level the default again: btrfs subvolume set-default 5 <top>; mount the root with subvol=${root}`);
  } else if (def?.path && (def.path.startsWith(`${oldRoots}/`) || def.path.startsWith(`${snapshots}/`))) {
    add('error', def.path, 'an archive or snapshot is the default subvolume', 'the default subvolume cannot be deleted, so retention can never remove it', 'btrfs subvolume set-default 5 <top>');
  }

  for (const e of f.archiveEntries) {
    if (e.name.startsWith(NEW_ROOT_PREFIX)) add('warning', `${oldRoots}/${e.name}`, 'an unfinished new root of an interrupted boot', 'the next boot removes it (if it is a subvolume) and makes the root again', 'nothing; or run the boot again');
    else if (e.name === NEXT_BOOT_FILE || e.name.startsWith('.')) continue;
    else if (e.kind !== 'subvolume') add('warning', `${oldRoots}/${e.name}`, `a ${e.kind} in the archive directory`, 'it is not an archived root: the boot leaves it alone and never ages it out', 'move it elsewhere');
  }
  if (f.request && 'problem' in f.request) add('warning', `${oldRoots}/${NEXT_BOOT_FILE}`, f.request.problem, 'the next boot ignores the request', 'pantheros-rollback next-boot --cancel, then request again');
  else if (f.request && parseTarget(f.request.target).kind === 'refused') add('warning', `${oldRoots}/${NEXT_BOOT_FILE}`, `the pending next-boot request "${f.request.target}" is invalid`, 'the next boot refuses it and falls back to a fresh root', 'pantheros-rollback next-boot --cancel');
  return out;
}

/** Reads the facts checkLayout needs (the top level may be mounted read-only). */
export function observeLayout(top: string, config: Config): LayoutFacts {
  const { root, blank, oldRoots, snapshots } = config.subvolumes;
  const kinds: Record<string, EntryKind> = {};
  for (const p of [root, blank, oldRoots, snapshots, ...config.snapshotSubvolumes]) observePath(top, p, kinds);
  let blankReadOnly: boolean | undefined;
  let blankEntries: number | undefined;
  if (kinds[blank] === 'subvolume') {
    const id = listSubvolumes(top).find((s) => s.path === blank)?.id;
    blankReadOnly = id === undefined ? undefined : listReadOnlyIds(top).has(id);
    blankEntries = readdirSync(join(top, blank)).length;
  }
  const children = (rel: string) => (isDir(kinds[rel]) ? readdirSync(join(top, rel)).map((name) => ({ name, kind: kindOf(join(top, rel, name)) })) : []);
  return {
    kinds,
    blankReadOnly,
    blankEntries,
    defaultSubvolume: readDefaultSubvolume(top),
    archiveEntries: children(oldRoots),
    request: isDir(kinds[oldRoots]) ? readRequest(top, config) : null,
    classes: children(snapshots),
  };
}
