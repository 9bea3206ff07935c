// What `list` shows for the state rollback (issue 14): per persistent subvolume, its snapshots by class (count,
// newest with age and size) and its archived states — the choices an operator has for `state-rollback`.
import { join } from 'node:path';
import type { Config } from '../config/load-config.js';
import { parseArchiveName } from '../archive/naming.js';
import { decodeSubvolume } from '../retention/snapshots.js';
import { listDirectory } from '../boot/observe.js';
import { isDirectoryKind, walkPath } from '../fs/entry-kind.js';
import { formatAge, formatBytes, formatTable } from '../list/format.js';
import { readStateRequestFile, stateArchiveDir, STATE_REQUEST_FILE } from './request.js';
import { subvolumeOfName } from './observe.js';

/** A snapshot as `list` has it (the fields this needs). */
export interface ListedSnapshot {
  class: string | null;
  name: string;
  ageSeconds: number | null;
  sizeBytes: { exclusive: number } | null;
}

export interface PersistentListing {
  subvolume: string;
  mountPoint: string | null;
  classes: { class: string; count: number; newest: { name: string; ageSeconds: number | null; exclusiveBytes: number | null }; exclusiveBytes: number | null }[];
  archivedStates: { name: string; path: string; ageSeconds: number | null }[];
}

/**
 * Groups snapshots by the subvolume their names encode and by class (newest by age first), for every persistent
 * subvolume: the config's persistentTree and snapshotSubvolumes, and any other subvolume with snapshots. Pure.
 */
export function groupBySubvolume(snapshots: readonly ListedSnapshot[], config: Config, archived: ReadonlyMap<string, PersistentListing['archivedStates']>): PersistentListing[] {
  const subvolumes = [...new Set([...config.persistentTree.map((m) => m.subvolume), ...config.snapshotSubvolumes, ...snapshots.map((s) => subvolumeOfName(s.name.slice(s.name.indexOf('/') + 1))).filter((s): s is string => s !== undefined)])].sort();
  return subvolumes.map((subvolume) => {
    const mine = snapshots.filter((s) => subvolumeOfName(s.name.slice(s.name.indexOf('/') + 1)) === subvolume);
    const classes = [...new Set(mine.map((s) => s.class ?? '?'))].map((cls) => {
      const of = mine.filter((s) => (s.class ?? '?') === cls).sort((a, b) => (a.ageSeconds ?? Infinity) - (b.ageSeconds ?? Infinity));
      const sizes = of.map((s) => s.sizeBytes?.exclusive);
      const newest = of[0]!;
      return {
        class: cls,
        count: of.length,
        newest: { name: newest.name, ageSeconds: newest.ageSeconds, exclusiveBytes: newest.sizeBytes?.exclusive ?? null },
        exclusiveBytes: sizes.every((x) => x !== undefined) ? sizes.reduce((a, b) => a! + b!, 0)! : null,
      };
    });
    return { subvolume, mountPoint: config.persistentTree.find((m) => m.subvolume === subvolume)?.path ?? null, classes, archivedStates: archived.get(subvolume) ?? [] };
  });
}

/** The archived states of each subvolume (`<oldState>/<encoded>/<time>`), read without following symlinks. */
export function readArchivedStates(top: string, config: Config, subvolumes: readonly string[], now: Date): Map<string, PersistentListing['archivedStates']> {
  const out = new Map<string, PersistentListing['archivedStates']>();
  for (const sv of subvolumes) {
    const dir = stateArchiveDir(config.subvolumes.oldState, sv);
    if (!isDirectoryKind(walkPath(top, dir))) continue;
    out.set(
      sv,
      listDirectory(join(top, dir))
        .filter((e) => e.kind === 'subvolume' && e.validName && !e.name.startsWith('.'))
        .map((e) => {
          const t = parseArchiveName(e.name)?.time;
          return { name: e.name, path: `${dir}/${e.name}`, ageSeconds: t ? Math.floor((now.getTime() - t.getTime()) / 1000) : null };
        }),
    );
  }
  return out;
}

/** The pending state request, if any (text, or the problem that makes the boot ignore it). */
export function pendingStateRequest(top: string, config: Config): string | null {
  const { oldState } = config.subvolumes;
  if (!isDirectoryKind(walkPath(top, oldState))) return null;
  const r = readStateRequestFile(join(top, oldState));
  return r === null ? null : 'text' in r ? r.text : `(${STATE_REQUEST_FILE}: ${r.problem})`;
}

/** The section as text. */
export function formatPersistent(list: readonly PersistentListing[], quotas: boolean, request: string | null): string {
  const rows: string[][] = [];
  for (const p of list) {
    const first = [p.subvolume, p.mountPoint ?? '-'];
    if (!p.classes.length) rows.push([...first, '-', '0', '-', '-', '-']);
    p.classes.forEach((c, i) => rows.push([...(i === 0 ? first : ['', '']), c.class, String(c.count), c.newest.name.slice(c.newest.name.indexOf('/') + 1), c.newest.ageSeconds === null ? '-' : formatAge(c.newest.ageSeconds), quotas && c.exclusiveBytes !== null ? formatBytes(c.exclusiveBytes) : '-']));
    if (p.archivedStates.length) {
      const newest = [...p.archivedStates].sort((a, b) => (a.name < b.name ? 1 : -1))[0]!;
      rows.push(['', '', 'archived', String(p.archivedStates.length), newest.path, newest.ageSeconds === null ? '-' : formatAge(newest.ageSeconds), '-']);
    }
  }
  const lines = [`Persistent subvolumes: snapshots by class (roll one back with: pantheros-rollback state-rollback <mount point>=<class>):`];
  lines.push(list.length ? formatTable(['SUBVOLUME', 'MOUNTED AT', 'CLASS', 'COUNT', 'NEWEST', 'AGE', 'EXCL (CLASS)'], rows) : '  (none)');
  if (request) lines.push(`Next boot: state rollback ${request} was requested (pantheros-rollback state-rollback --next-boot)`);
  return lines.join('\n');
}

/** The state part of a boot report (version 3) as metrics read it; null when absent or not of that shape. */
export function stateOfReport(raw: unknown): { result: string; rolledBack: { subvolume: string; from: string; archived: string }[] } | null {
  const s = raw as { result?: unknown; rolledBack?: unknown } | null | undefined;
  if (!s || typeof s.result !== 'string' || !Array.isArray(s.rolledBack)) return null;
  const rolledBack = (s.rolledBack as { subvolume?: unknown; from?: unknown; archived?: { path?: unknown } }[])
    .filter((r) => typeof r.subvolume === 'string' && typeof r.from === 'string')
    .map((r) => ({ subvolume: r.subvolume as string, from: r.from as string, archived: typeof r.archived?.path === 'string' ? r.archived.path : '' }));
  return { result: s.result, rolledBack };
}

/** Archived states per subvolume: every `<oldState>/<encoded subvolume>` directory, its subvolumes counted. */
export function countArchivedStates(top: string, config: Config): { subvolume: string; count: number }[] {
  const { oldState } = config.subvolumes;
  if (!isDirectoryKind(walkPath(top, oldState))) return [];
  return listDirectory(join(top, oldState)).flatMap((d) => {
    const subvolume = d.validName && isDirectoryKind(d.kind) ? decodeSubvolume(d.name) : undefined;
    if (subvolume === undefined) return [];
    return [{ subvolume, count: listDirectory(join(top, oldState, d.name)).filter((e) => e.kind === 'subvolume' && !e.name.startsWith('.')).length }];
  });
}
