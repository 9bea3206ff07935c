// `diff`: what the next boot erases — every path where the root (or an archive) differs from the blank.
import { existsSync } from 'node:fs';
import { isatty } from 'node:tty';
import { join } from 'node:path';
import type { Command } from '../cli/command.js';
import { parseFlags, stringFlag } from '../cli/args.js';
import { output, withTopLevel, type Context } from '../cli/context.js';
import { describeError, PreconditionError, UsageError } from '../errors.js';
import { readMountinfo } from '../fs/mountinfo.js';
import { takeInventory } from '../btrfs/inventory.js';
import { kindOf, topLevelMount } from '../boot/observe.js';
import { removeTemporarySnapshot, takeTemporarySnapshot } from '../diff/temporary-snapshot.js';
import { createLogger } from '../log/logger.js';
import { dumpDifference } from '../diff/send-dump.js';
import { isUnder, normalisePrefix, persistedPaths } from '../diff/persisted.js';
import type { DiffEntry } from '../diff/parse-dump.js';
import { startComparison } from '../diff/compare-trees.js';
import { fsProbe, fsTreeReader } from '../diff/walk-fs.js';
import { writeErr } from '../cli/io.js';
import { hold, yieldToSignals } from '../cli/signals.js';
import { showName } from '../cli/show-text.js';

const USAGE = `Usage: pantheros-rollback diff [ARCHIVE] [--prefix PATH ...] [--method walk|send] [--summary]
                               [--device DEV | --top-level DIR] [--config FILE] [--json]

Shows what differs between the current root subvolume (default; e.g. @root) or an archived root
(a name under the archive directory, e.g. 20261126T063251Z) and the blank snapshot: every added,
changed and deleted path, i.e. exactly what the next boot erases. Changes of metadata only (mode,
owner, extended attributes, timestamps) count too.

How (--method walk, the default): both trees are read through the top level side by side,
directory by directory, with lstat only. The root was snapshotted from the blank, so an entry it has not touched
has the same inode number, birth time and change time (ns) in both; the change time moves on every
write, chmod, chown, xattr change, link and rename, so nothing is missed. Subtrees outside --prefix
and below persisted paths are not read. Reads the live root (no snapshot): a file written during
the run may or may not be seen.
--method send: a temporary read-only snapshot of the source is taken in the archive directory
(.pantheros-diff-<pid>, deleted again at the end, also on SIGINT/SIGTERM/SIGHUP), and
  btrfs send --no-data -p BLANK SNAPSHOT | btrfs receive --dump
lists the differences (slower: about 7 s instead of about 1 s for 100 000 changed files).

Persisted paths are not reported: where the root is mounted, the mount points of other subvolumes of
the same filesystem (bind mounts from @persistent, /nix, …) and the config's persistentPaths that have
something mounted on them. A persistentPaths entry with nothing mounted (a missing bind mount) is
reported like any other path, with a warning: its files are in the root and the next boot erases them.
On a terminal, a walk that takes more than half a second shows its progress on stderr.

  ARCHIVE          an archive name (see: pantheros-rollback list); default: the live root
  --prefix PATH    only paths at or below PATH (absolute; may be given several times)
  --method M       walk (default) or send
  --summary        counts per top-level directory instead of one line per path (JSON: groups, no entries)
  --device DEV     mount the btrfs top level of DEV privately for this run
  --top-level DIR  use an already-mounted top level (subvolid=5)
  --config FILE    JSON config (default /etc/pantheros/rollback.json)
  --json           print {version, source, method, persisted, unmountedPersistentPaths, summary,
                   entries:[{path, status, type, changes, from, target}]}

Output: one line per path, "A" added, "C" changed (with what changed), "D" deleted.
Exit: 0 (also when there are differences), 2 usage (e.g. unknown archive), 3 precondition failed,
77 not run as root, 128+N stopped by signal N (the temporary snapshot and the mount are released).`;

export type DiffMethod = 'walk' | 'send';

interface DiffReport {
  source: { kind: 'root' | 'archive'; name: string; path: string };
  blank: string;
  method: DiffMethod;
  prefixes: string[];
  /** Paths not reported because something is mounted there where the root is mounted (they survive a boot). */
  persisted: string[];
  /** persistentPaths entries with nothing mounted there: reported like any other path, since the next boot erases them. */
  unmountedPersistentPaths: string[];
  summary: { added: number; changed: number; deleted: number; persistedSkipped: number };
  /** Lines of the dump that were not a command on the compared subvolume (raw xattr values with newlines, unknown commands). */
  unparsedLines: number;
  /** Absent with --summary. */
  entries?: DiffEntry[];
  /** With --summary: counts per top-level directory. */
  groups?: DiffGroup[];
  durationMs: number;
}

export interface DiffGroup {
  path: string;
  added: number;
  changed: number;
  deleted: number;
}

/** Counts per top-level directory ("/" for the root directory itself), in path order; for --summary. */
export function groupEntries(entries: readonly DiffEntry[]): DiffGroup[] {
  const groups = new Map<string, DiffGroup>();
  for (const e of entries) {
    const path = e.path === '/' ? '/' : `/${e.path.slice(1).split('/')[0]}`;
    let g = groups.get(path);
    if (!g) groups.set(path, (g = { path, added: 0, changed: 0, deleted: 0 }));
    g[e.status]++;
  }
  return [...groups.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

// The source to compare: the live root, or an archive that must be a real subvolume directly in the archive directory.
function resolveSource(ctx: Context, archive: string | undefined): DiffReport['source'] {
  const { root, oldRoots } = ctx.config.subvolumes;
  if (archive === undefined) {
    const kind = kindOf(join(ctx.top.path, root));
    if (kind !== 'subvolume') throw new PreconditionError(`the root subvolume ${root} is ${kind === 'missing' ? 'missing' : `a ${kind}, not a subvolume`}`);
    return { kind: 'root', name: root, path: root };
  }
  if (archive === '' || archive.includes('/') || archive.startsWith('.') || archive.includes('\0')) {
    throw new UsageError(`diff: "${archive}" is not an archive name (archives are names directly under ${oldRoots}; see: pantheros-rollback list)`);
  }
  const kind = kindOf(join(ctx.top.path, oldRoots, archive));
  if (kind !== 'subvolume') {
    throw new UsageError(`diff: no archive named "${archive}" under ${oldRoots}${kind === 'missing' ? '' : ` (it is a ${kind})`} (see: pantheros-rollback list)`);
  }
  return { kind: 'archive', name: archive, path: `${oldRoots}/${archive}` };
}

async function runDiff(ctx: Context, archive: string | undefined, prefixes: string[], method: DiffMethod): Promise<DiffReport> {
  const started = performance.now();
  const top = ctx.top.path;
  const { blank } = ctx.config.subvolumes;
  const source = resolveSource(ctx, archive);
  if (kindOf(join(top, blank)) !== 'subvolume') throw new PreconditionError(`the blank ${blank} is missing or not a subvolume`);
  const mounts = readMountinfo();
  const topEntry = topLevelMount(top, mounts);
  // A persistentPaths entry counts as persisted only where something is mounted on it: without its bind mount its
  // files are in the root, and the next boot erases them.
  const where = persistedPaths(mounts, topEntry.majorMinor, ctx.config.subvolumes.root, ctx.config.persistentPaths);
  const persisted = where.mounted;
  const found = method === 'walk' ? await walkDifference(ctx, source, prefixes, persisted) : await sendDifference(ctx, source, prefixes, persisted);
  const count = (s: DiffEntry['status']) => found.entries.filter((e) => e.status === s).length;
  return {
    source,
    blank,
    method: found.method,
    prefixes,
    persisted,
    unmountedPersistentPaths: where.unmounted,
    summary: { added: count('added'), changed: count('changed'), deleted: count('deleted'), persistedSkipped: found.persistedSkipped },
    unparsedLines: found.unparsedLines,
    entries: found.entries,
    durationMs: Math.round(performance.now() - started),
  };
}

interface Found {
  entries: DiffEntry[];
  persistedSkipped: number;
  unparsedLines: number;
  /** The method that produced the entries (send falls back to walk when its dump cannot be trusted). */
  method: DiffMethod;
}

/** Progress on stderr, only on a terminal and only once a walk has run this long (ms): small trees print nothing. */
const PROGRESS_AFTER_MS = 500;
/** How long the walk runs between two turns of the event loop (when a signal handler may run), in ms. */
const SLICE_MS = 50;

// The walk method: both trees side by side through the top level, lstat only; see src/diff/compare-trees.ts. It
// yields to the event loop every SLICE_MS so that a signal can interrupt it (and release the top-level mount).
async function walkDifference(ctx: Context, source: DiffReport['source'], prefixes: string[], persisted: string[]): Promise<Found> {
  const top = ctx.top.path;
  const tree = fsTreeReader(join(top, source.path));
  const blankTree = fsTreeReader(join(top, ctx.config.subvolumes.blank));
  const fail = (error: unknown): never => {
    throw new PreconditionError(`cannot compare ${source.path} with ${ctx.config.subvolumes.blank}: ${(error as Error).message}`, { cause: error });
  };
  const terminal = isatty(2);
  const started = performance.now();
  let shown = false;
  let r;
  try {
    const comparison = startComparison(tree, blankTree, { prefixes, persisted, probe: fsProbe(tree, blankTree) });
    for (;;) {
      const slice = performance.now();
      let done = false;
      while (!done && performance.now() - slice < SLICE_MS) done = comparison.step(16);
      if (done) break;
      if (terminal && performance.now() - started > PROGRESS_AFTER_MS) {
        const p = comparison.progress();
        writeErr(`\rdiff: ${p.visited} paths read, ${p.found} differ so far …`);
        shown = true;
      }
      await yieldToSignals();
    }
    r = comparison.result();
  } catch (error) {
    fail(error);
  } finally {
    if (shown) writeErr('\r\x1b[K');
  }
  return { entries: r!.entries, persistedSkipped: r!.persistedSkipped, unparsedLines: 0, method: 'walk' };
}

// The send method: a temporary read-only snapshot and btrfs send --no-data | btrfs receive --dump.
async function sendDifference(ctx: Context, source: DiffReport['source'], prefixes: string[], persisted: string[]): Promise<Found> {
  const top = ctx.top.path;
  const { blank, oldRoots } = ctx.config.subvolumes;
  const log = createLogger({ quiet: true });
  if (kindOf(join(top, oldRoots)) === 'missing') throw new PreconditionError(`the archive directory ${oldRoots} does not exist yet (the first boot makes it); use --method walk`);
  // Taken and removed through plans (the one check, the one executor); removed on a signal too, after btrfs send is
  // stopped (a subvolume being sent cannot be deleted). Stale ones of killed runs go first.
  let tempRel: string;
  try {
    tempRel = takeTemporarySnapshot(top, ctx.config, source.path, log, (pid) => existsSync(`/proc/${pid}`));
  } catch (error) {
    throw new PreconditionError(`cannot take a read-only snapshot of ${source.path}: ${describeError(error)}`, { cause: error });
  }
  const temp = join(top, tempRel);
  const snapshot = hold(`deleted the temporary snapshot ${temp}`, () => {
    try {
      removeTemporarySnapshot(top, ctx.config, tempRel, log);
      return undefined;
    } catch (error) {
      return describeError(error);
    }
  });
  let result;
  try {
    result = await dumpDifference(join(top, blank), temp);
  } catch (error) {
    // e.g. send's ENAMETOOLONG on a tree deeper than PATH_MAX, which the walk reads.
    throw new PreconditionError(`cannot compare ${source.path} with ${blank}: ${(error as Error).message}; --method walk (the default) compares the trees without btrfs send`, { cause: error });
  } finally {
    const problem = snapshot.release();
    if (problem) writeErr(`pantheros-rollback: warning: could not delete ${temp}: ${problem}\n`);
  }
  // Lines a user's extended attribute may have written: not a fact to decide from. The trees are compared by walking.
  if (result.untrusted !== null) {
    writeErr(`pantheros-rollback: diff: ${result.untrusted} (a value or name with a newline forges lines); compared by walking the trees instead (--method walk)\n`);
    return walkDifference(ctx, source, prefixes, persisted);
  }
  // Send streams leave nested subvolumes out; they move to the archive with the root, so the next boot removes them too.
  const inventory = takeInventory(top);
  const nestedIn = (base: string) => new Set(inventory.below(base).map((s) => s.path.slice(base.length)));
  const inBlank = nestedIn(blank);
  const nested: DiffEntry[] = [...nestedIn(source.path)].filter((p) => !inBlank.has(p)).map((path) => ({ path, status: 'added', type: 'subvolume', changes: [] }));
  const all = nested.length ? [...result.entries, ...nested].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)) : result.entries;
  let persistedSkipped = 0;
  const entries = all.filter((e) => {
    if (prefixes.length && !isUnder(e.path, prefixes)) return false;
    if (isUnder(e.path, persisted)) {
      persistedSkipped++;
      return false;
    }
    return true;
  });
  return { entries, persistedSkipped, unparsedLines: result.skippedLines, method: 'send' };
}

function describeEntry(e: DiffEntry): string {
  const parts: string[] = [];
  if (e.type === 'subvolume') parts.push('nested subvolume; its contents are not listed');
  else if (e.type === 'mount') parts.push('another filesystem mounted here; its contents are not listed');
  // A deleted regular file is shown bare, as the send method shows it.
  else if (e.type && e.type !== 'hardlink' && !(e.status === 'deleted' && e.type === 'file')) parts.push(e.type);
  if (e.type === 'hardlink') parts.push(`hard link to ${showName(e.target ?? '?')}`);
  else if (e.target !== undefined) parts.push(`→ ${showName(e.target)}`);
  if (e.from !== undefined) parts.push(`renamed from ${showName(e.from)}`);
  if (e.changes.length) parts.push(e.changes.join(', '));
  if (e.xattrs?.length) parts.push(`xattrs: ${e.xattrs.map(showName).join(' ')}`);
  return parts.join('; ');
}

export function formatDiff(r: DiffReport): string {
  const mark = { added: 'A', changed: 'C', deleted: 'D' } as const;
  const lines = [`${r.source.kind === 'root' ? `root ${showName(r.source.name)}` : `archive ${showName(r.source.name)}`} compared with ${showName(r.blank)}${r.prefixes.length ? ` under ${r.prefixes.map(showName).join(', ')}` : ''}:`];
  for (const e of r.entries ?? []) {
    const what = describeEntry(e);
    lines.push(`${mark[e.status]} ${showName(e.path)}${what ? `  (${what})` : ''}`);
  }
  for (const g of r.groups ?? []) {
    const counts = (['added', 'changed', 'deleted'] as const).filter((k) => g[k]).map((k) => `${g[k]} ${k}`);
    lines.push(`${showName(g.path)}  ${counts.join(', ')}`);
  }
  const s = r.summary;
  lines.push(
    (s.added + s.changed + s.deleted === 0
      ? `no differences${r.source.kind === 'root' ? ': the next boot erases nothing' : ''}`
      : `${s.added} added, ${s.changed} changed, ${s.deleted} deleted${r.source.kind === 'root' ? ' — the next boot erases these' : ''}`) +
      `${s.persistedSkipped ? `; ${s.persistedSkipped} under persisted paths not shown` : ''} (${r.durationMs} ms)`,
  );
  if (r.unmountedPersistentPaths.length) {
    lines.push(`warning: nothing is mounted on persistentPaths ${r.unmountedPersistentPaths.map(showName).join(', ')}: what is there is in ${showName(r.source.name)} and shown above${r.source.kind === 'root' ? ' (the next boot erases it)' : ''}; see: pantheros-rollback check`);
  }
  if (r.unparsedLines) lines.push(`note: ${r.unparsedLines} line(s) of the btrfs receive --dump output were not commands on the compared subvolume (e.g. xattr values holding newlines) and were skipped`);
  return lines.join('\n');
}

export const diffCommand: Command = {
  name: 'diff',
  usage: USAGE,
  async run(argv) {
    const args = parseFlags(argv, { string: ['method'], boolean: ['summary'], multiple: ['prefix'] }, 'diff');
    const values = args.prefix as string[];
    const method = stringFlag(args, 'method') ?? 'walk';
    if (method !== 'walk' && method !== 'send') throw new UsageError(`diff: --method must be walk or send, not ${JSON.stringify(method)}`);
    if (args._.length > 1) throw new UsageError(`diff: at most one ARCHIVE, got ${args._.length} arguments`);
    const prefixes = values.map((v) => {
      const p = normalisePrefix(v);
      if (p === undefined) throw new UsageError(`diff: --prefix must be an absolute path without .., not ${JSON.stringify(v)}`);
      return p;
    });
    const archive = args._[0] === undefined ? undefined : String(args._[0]);
    return withTopLevel(args, {}, async (ctx) => {
      const report = await runDiff(ctx, archive, prefixes, method);
      if (args.summary === true) {
        report.groups = groupEntries(report.entries ?? []);
        delete report.entries;
      }
      output(ctx.json, report, () => formatDiff(report));
      return 0;
    });
  },
};
