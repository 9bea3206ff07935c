// What a replayed crash point holds, and the README's promises checked against it: no archive lost,
// nothing outside the archive directory changed, @persistent intact, the blank read-only, a root
// in place or a state the next boot recovers from; plus the promises issue 13 makes precise
// (exit 0 means the new root is committed; a consumed next-boot request is never lost unless the
// boot it asked for happened; every file the tool writes is complete before it replaces another).
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { REPORT_VERSION } from '../../src/boot/report.js';
import { sh } from '../helpers/btrfs-image.js';
import { isStatePath, OLD_STATE, STATE_REQUEST, type StateExpectation } from './state-crash.js';

export const OLD_ROOTS = '@btrfs_tmp/old_roots';
export const NEXT_BOOT = `${OLD_ROOTS}/.pantheros-next-boot`;
export const LAST_REPORT = `${OLD_ROOTS}/.pantheros-last-report.json`;
export const NEW_ROOT_PREFIX = '.pantheros-new-root';

export interface SubvolumeFacts {
  id: number;
  path: string;
  uuid: string;
  /** UUID of the subvolume this one is a snapshot of, or null. */
  parentUuid: string | null;
  readOnly: boolean;
  /** Content fingerprint of the tree (names, kinds, modes, sizes, file contents, link targets; nested subvolumes included). */
  fingerprint: string;
  /** The same of its own tree only: nested subvolumes and the stubs a snapshot leaves for them left out. */
  own: string;
}

export interface CrashFacts {
  subvolumes: SubvolumeFacts[];
  /** Names directly in the top level. */
  topEntries: string[];
  /** Names directly in the archive directory (null when it is not a directory). */
  archiveEntries: string[] | null;
  /** The next-boot request file's content, or null. */
  request: string | null;
  /** The report copy's text, or null when absent. */
  reportCopy: string | null;
  /** The state rollback's request file (state-rollback --next-boot), or null. */
  stateRequest: string | null;
}

/** Subvolume root directories have inode 256, the stubs a snapshot leaves for nested subvolumes inode 2 (btrfs). */
const SUBVOLUME_ROOT_INO = 256;
const STUB_INO = 2;

/**
 * A content fingerprint of a directory tree, never following symlinks. With ownOnly, nested subvolumes (their root
 * directories) and the empty stubs a snapshot leaves in their place are left out: a subvolume and a snapshot of it
 * then compare equal, and so do a subvolume before and after its nested subvolumes were moved out (state-crash.ts).
 */
export function fingerprint(dir: string, options: { ownOnly?: boolean } = {}): string {
  const h = createHash('sha256');
  const walk = (abs: string, rel: string) => {
    for (const name of readdirSync(abs).sort()) {
      const p = join(abs, name);
      const st = lstatSync(p);
      if (options.ownOnly && st.isDirectory() && (st.ino === SUBVOLUME_ROOT_INO || (st.ino === STUB_INO && readdirSync(p).length === 0))) continue;
      h.update(`${rel}/${name}\0${st.mode}\0`);
      if (st.isSymbolicLink()) h.update(`l${readlinkSync(p)}\0`);
      else if (st.isFile()) h.update(`f${st.size}\0`).update(readFileSync(p)).update('\0');
      else if (st.isDirectory()) walk(p, `${rel}/${name}`);
    }
  };
  walk(dir, '');
  return h.digest('hex').slice(0, 16);
}

const readText = (path: string) => (existsSync(path) && lstatSync(path).isFile() ? readFileSync(path, 'utf8') : null);

/** Reads the facts of the mounted top level (subvolid=5) at top. */
export function inspectTop(top: string): CrashFacts {
  const listing = sh('btrfs', ['subvolume', 'list', '-u', '-q', top]);
  const readOnlyIds = new Set(
    sh('btrfs', ['subvolume', 'list', '-r', top]).split('\n').map((l) => /^ID (\d+) /.exec(l)?.[1]).filter(Boolean).map(Number),
  );
  const subvolumes: SubvolumeFacts[] = [];
  for (const line of listing.split('\n')) {
    const m = /^ID (\d+) .*parent_uuid (\S+)\s+uuid (\S+) path (.*)$/.exec(line);
    if (!m) continue;
    const path = m[4]!;
    subvolumes.push({
      id: Number(m[1]), path, uuid: m[3]!, parentUuid: m[2] === '-' ? null : m[2]!, readOnly: readOnlyIds.has(Number(m[1])),
      fingerprint: fingerprint(join(top, path)),
      own: fingerprint(join(top, path), { ownOnly: true }),
    });
  }
  const oldRoots = join(top, OLD_ROOTS);
  const archiveEntries = existsSync(oldRoots) && lstatSync(oldRoots).isDirectory() ? readdirSync(oldRoots).sort() : null;
  return {
    subvolumes: subvolumes.sort((a, b) => (a.path < b.path ? -1 : 1)),
    topEntries: readdirSync(top).sort(),
    archiveEntries,
    request: readText(join(top, NEXT_BOOT)),
    reportCopy: readText(join(top, LAST_REPORT)),
    stateRequest: readText(join(top, STATE_REQUEST)),
  };
}

/** Where the new root of the recorded boot comes from. */
export type Source =
  | { kind: 'blank' }
  /** pantheros.rollback=previous: a copy of the @root the boot found. */
  | { kind: 'previous' }
  | { kind: 'archive'; name: string };

export interface Expectation {
  /** The state before the recorded boot. */
  pre: CrashFacts;
  source: Source;
  /** Archives the boot may delete (expired); every other archive must survive. */
  deletable: string[];
  /** The state rollback the boot carries out (its promises: state-crash.ts); the state subvolume is then exempt from checkPreserved. */
  state?: StateExpectation;
}

const isArchivePath = (p: string) => p.startsWith(`${OLD_ROOTS}/`) && !p.slice(OLD_ROOTS.length + 1).includes('/');
const archiveName = (p: string) => p.slice(OLD_ROOTS.length + 1);
const byPath = (f: CrashFacts, path: string) => f.subvolumes.find((s) => s.path === path);
const byId = (f: CrashFacts, id: number) => f.subvolumes.find((s) => s.id === id);

/** The UUID the new @root must be a snapshot of for a source, looked up in the pre-boot state. */
export function sourceUuid(e: Expectation, source: Source): string | null {
  if (source.kind === 'blank') return byPath(e.pre, '@root-blank')?.uuid ?? null;
  if (source.kind === 'previous') return byPath(e.pre, '@root')?.uuid ?? null;
  return byPath(e.pre, `${OLD_ROOTS}/${source.name}`)?.uuid ?? null;
}

/** The source a pending next-boot request asks for (the request's one line). */
export function requestSource(request: string): Source {
  const target = request.split('\n')[0]!.trim();
  if (target === 'previous') return { kind: 'previous' };
  if (target === 'blank' || target === '') return { kind: 'blank' };
  return { kind: 'archive', name: target };
}

/**
 * The promises that hold at every crash point and after every recovery: returns one message per
 * violation (empty when all hold). `after` is the state at the point (or after the recovery boot).
 */
export function checkPreserved(e: Expectation, after: CrashFacts): string[] {
  const v: string[] = [];
  const root = byPath(e.pre, '@root');
  // No archive lost: every archive of the pre-boot state not due for age-out, with its nested subvolumes and content.
  for (const s of e.pre.subvolumes.filter((x) => x.path.startsWith(`${OLD_ROOTS}/`))) {
    const archive = s.path.slice(OLD_ROOTS.length + 1).split('/')[0]!;
    const now = byId(after, s.id);
    if (now && now.path !== s.path) v.push(`${s.path} moved to ${now.path}`);
    else if (e.deletable.includes(archive) || archive.startsWith('.')) continue; // expired or a leftover: may be (partly) deleted
    else if (!now) v.push(`archive subvolume ${s.path} (id ${s.id}) lost`);
    else if (isArchivePath(s.path) && now.fingerprint !== s.fingerprint) v.push(`archive ${s.path} changed`); // the walk covers nested subvolumes
  }
  // The root the boot found is never lost: still @root, or archived under a plain (non-hidden) name, unchanged.
  if (root) {
    const now = byId(after, root.id);
    if (!now) v.push(`the old @root (id ${root.id}) lost`);
    else if (now.path !== '@root' && !(isArchivePath(now.path) && !archiveName(now.path).startsWith('.'))) v.push(`the old @root is at ${now.path}`);
    else if (now.fingerprint !== root.fingerprint && now.path !== '@root') v.push(`the archived old @root changed`);
  }
  // Nothing outside the archive directory changed (the blank, @nix, @persistent, @snapshots and their content, read-only flags).
  for (const s of e.pre.subvolumes.filter((x) => !x.path.startsWith(`${OLD_ROOTS}/`) && x.path !== '@root' && !isStatePath(e, x.path))) {
    const now = byId(after, s.id);
    if (!now) v.push(`${s.path} lost`);
    else if (now.path !== s.path) v.push(`${s.path} moved to ${now.path}`);
    else if (now.fingerprint !== s.fingerprint) v.push(`${s.path} changed`);
    else if (now.readOnly !== s.readOnly) v.push(`${s.path} read-only ${s.readOnly} → ${now.readOnly}`);
  }
  if (!byPath(after, '@root-blank')?.readOnly && byPath(e.pre, '@root-blank')) v.push('@root-blank is not read-only');
  const without = (names: string[]) => names.filter((n) => n !== '@root');
  if (without(after.topEntries).join(',') !== without(e.pre.topEntries).join(',')) v.push(`top level entries ${after.topEntries.join(',')}`);
  for (const s of after.subvolumes) {
    const stateMade = e.state !== undefined && (s.path === e.state.subvolume || s.path.startsWith(`${OLD_STATE}/`));
    if (!e.pre.subvolumes.some((p) => p.id === s.id) && !s.path.startsWith(`${OLD_ROOTS}/`) && s.path !== '@root' && !stateMade) v.push(`new subvolume outside the archive directory: ${s.path}`);
  }
  // A report copy, when there is one, is a whole report (never an empty or torn file).
  if (after.reportCopy !== null) {
    try {
      const r = JSON.parse(after.reportCopy) as { version?: unknown; result?: unknown };
      // Any version `status` reads (1 to the current one): a boot of this engine writes the current one.
      if (!(Number.isInteger(r.version) && (r.version as number) >= 1 && (r.version as number) <= REPORT_VERSION) || typeof r.result !== 'string') v.push(`report copy without version/result: ${after.reportCopy.slice(0, 60)}`);
    } catch {
      v.push(`report copy is not JSON (${after.reportCopy.length} bytes): ${JSON.stringify(after.reportCopy.slice(0, 40))}`);
    }
  }
  return v;
}

/** @root is a new writable subvolume made from source (its parent UUID), not any subvolume of the pre-boot state. */
function newRootFrom(e: Expectation, at: CrashFacts, source: Source): string | null {
  const root = byPath(at, '@root');
  if (!root) return 'no @root';
  if (e.pre.subvolumes.some((s) => s.id === root.id)) return `@root is the old subvolume ${root.id}`;
  if (root.readOnly) return '@root is read-only';
  const want = sourceUuid(e, source);
  if (root.parentUuid !== want) return `@root is a snapshot of ${root.parentUuid ?? 'nothing'}, not of the ${source.kind === 'archive' ? source.name : source.kind} (${want})`;
  return null;
}

export interface PointContext {
  /** The tool had exited 0 before this point (the mark tool-exit-0 is in the replayed prefix). */
  afterExit0: boolean;
}

/** The promises specific to a crash point of the recorded boot (before any recovery). */
export function checkCrashPoint(e: Expectation, at: CrashFacts, ctx: PointContext): string[] {
  const v = checkPreserved(e, at);
  const root = byPath(at, '@root');
  const oldRoot = byPath(e.pre, '@root');
  // @root, when present, is the old one or a new one made from the expected source.
  if (root && root.id !== oldRoot?.id) {
    const why = newRootFrom(e, at, e.source);
    if (why) v.push(`@root at this point: ${why}`);
  }
  // Exit 0 of boot means the new root is committed: a power cut after the exit must not bring the old state back.
  if (ctx.afterExit0) {
    const why = newRootFrom(e, at, e.source);
    if (why) v.push(`the tool had exited 0, but the swap is not on disk (${why})`);
  }
  // A consumed next-boot request is never lost unless the boot it asked for happened.
  if (e.pre.request !== null) {
    if (at.request !== null && at.request !== e.pre.request) v.push(`next-boot request changed to ${JSON.stringify(at.request)}`);
    if (at.request === null && newRootFrom(e, at, requestSource(e.pre.request)) !== null) {
      v.push(`next-boot request "${e.pre.request.trim()}" gone, but the boot it asked for is not on disk (${newRootFrom(e, at, requestSource(e.pre.request))})`);
    }
  }
  return v;
}

/** Expected facts after a recovery boot run on the state of a crash point. */
export function checkRecovered(e: Expectation, atPoint: CrashFacts, after: CrashFacts, recoverySource: Source): string[] {
  const v = checkPreserved(e, after);
  const root = byPath(after, '@root');
  if (!root) return [...v, 'no @root after the recovery boot'];
  if (root.readOnly) v.push('@root is read-only after the recovery boot');
  if (after.subvolumes.some((s) => s.id === root.id && s.path !== '@root')) v.push('@root is also an archive');
  const leftovers = (after.archiveEntries ?? []).filter((n) => n.startsWith(NEW_ROOT_PREFIX));
  if (leftovers.length) v.push(`leftovers after the recovery boot: ${leftovers.join(', ')}`);
  const oldRoot = byPath(e.pre, '@root');
  if (oldRoot && !after.subvolumes.some((s) => s.id === oldRoot.id && isArchivePath(s.path))) v.push('the old @root is not archived after the recovery boot');
  // A request still pending at the crash point is honoured by the recovery boot, once.
  const source = atPoint.request !== null ? requestSource(atPoint.request) : recoverySource;
  if (after.request !== null) v.push(`next-boot request still there after the recovery boot: ${after.request.trim()}`);
  if (source.kind === 'previous') {
    // The newest root before the recovery was the old @root or the copy of it this boot made: the recovered root copies one of them.
    const parent = after.subvolumes.find((s) => s.uuid === root.parentUuid);
    if (!parent) v.push('the recovered @root is not a snapshot of an archive');
    else if (oldRoot && parent.id !== oldRoot.id && parent.parentUuid !== oldRoot.uuid) v.push(`the recovered @root copies ${parent.path}, which is not the old @root nor a copy of it`);
  } else {
    const why = newRootFrom(e, after, source);
    if (why) v.push(`after the recovery boot: ${why}`);
  }
  return v;
}
