// Which subvolumes exist at and below a path, with facts a name cannot forge (issue: hostile names).
//
// `btrfs subvolume list` prints names raw, so any user who can create a subvolume (no privilege is needed) can
// add lines to it that look like entries. Nothing here believes a line on its own:
// - a path counts as a subvolume only when the filesystem says so: every component reached with lstat, never
//   through a symlink, the last a directory with inode 256 on a device of its own (its own st_dev);
// - the facts of a path (id, generations) come from the listing only when exactly one line names that
//   path (a real subvolume always has its own line, so a second line naming it can only be forged); otherwise
//   they are read with `btrfs subvolume show PATH`, whose fields after the (known) name cannot be forged;
// - on a writable mount, read-only flags are the kernel's answer to access(W_OK) (EROFS for a read-only subvolume),
//   not a listing's; only a read-only mount reads `btrfs subvolume list -r`;
// - subvolumes below a path are the listing's candidates verified on disk, plus, for a line cut short by a newline
//   in a name, whatever the directory holding that name really holds (read by readdir and walked).
import { accessSync, constants, lstatSync, readdirSync, type Stats } from 'node:fs';
import { atJudgedParent, atParent, lstatBelow } from '../fs/open-dir.js';
import { prefetchLookups, SUBVOLUME_ROOT_INO } from '../fs/entry-kind.js';
import { join } from 'node:path';
import { assertSafePath, btrfsProgram, listArgv } from './commands.js';
import { MAX_LISTING_BYTES, parseListing, type ListingEntry, type ListingText } from './listing.js';
import { CommandError, runCommand, runCommandBytes } from './run.js';
import { defaultSubvolumeId, listSubvolumes } from './native.js';

export interface SubvolumeRecord {
  id: number;
  /** Generation of the last change. */
  gen: number;
  /** Generation at creation (otransid): grows with every transaction, unlike the clock. */
  cgen: number;
  /** Id of the subvolume holding it. */
  parent: number;
  uuid: string | null;
  parentUuid: string | null;
  /** Set when it was made by `btrfs receive` (btrfs then refuses `property set ro false`). */
  receivedUuid: string | null;
  /** Relative to the top level. */
  path: string;
  readOnly: boolean;
  /** When the subvolume was made (btrfs's otime, the kernel clock of that moment); null when only the listing was read. */
  otime: Date | null;
  /** Where the facts come from: the one listing line naming the path, or `btrfs subvolume show`. */
  source: 'listing' | 'show' | 'ioctl';
}

export interface NestedSubvolume {
  /** Relative to the top level; exact for valid UTF-8 names (see `bytes` otherwise). */
  path: string;
  /** The exact bytes of the path, for names that are not valid UTF-8. */
  bytes: Buffer;
  /** True for a read-only subvolume; null when it cannot be told without trusting a forged line. */
  readOnly: boolean | null;
}

/**
 * The listings an inventory is built from: exact bytes of `btrfs subvolume list`, and of `list -r` when read-only
 * flags cannot be asked of the filesystem (a read-only mount: see InventoryOptions.writableMount).
 */
export interface ListingOutput {
  full: Buffer;
  readOnly?: Buffer;
}

const key = (b: Buffer) => b.toString('latin1');

/** A path component that names an entry: not empty, "." or "..". */
const plainComponent = (c: Buffer) => c.length > 0 && !(c[0] === 0x2e && (c.length === 1 || (c.length === 2 && c[1] === 0x2e)));

/** Whether `b` starts with `prefix` (exact bytes), without making a view of `b`. */
const startsWith = (b: Buffer, prefix: Buffer) => b.length >= prefix.length && b.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;

/** The lines of a listing grouped by their path text (exact bytes): more than one line for a path means a forgery. */
function linesByText(entries: readonly ListingEntry[]): Map<string, ListingEntry[]> {
  const byText = new Map<string, ListingEntry[]>();
  for (const e of entries) {
    const lines = byText.get(key(e.text));
    if (lines) lines.push(e);
    else byText.set(key(e.text), [e]);
  }
  return byText;
}
const MAX_PATH_BYTES = 65_536;

/**
 * Runs the listings: the full one, and with `readOnly` the read-only one first (so a line cannot appear in it without
 * being in the full one). Throws CommandError when btrfs fails.
 */
export function readListings(top: string, { readOnly: withReadOnly }: { readOnly: boolean }): ListingOutput {
  const run = (argv: string[]) => {
    const r = runCommandBytes(argv);
    if (r.code !== 0) throw new CommandError({ argv, code: r.code, stdout: '', stderr: r.stderr });
    return r.stdout;
  };
  const readOnly = withReadOnly ? run(listArgv(top, 'read-only')) : undefined;
  const full = run(listArgv(top));
  return readOnly ? { full, readOnly } : { full };
}

/** Parses the fields of `btrfs subvolume show` that follow the known name line; undefined when the shape is not the expected one. */
export function parseShow(output: string, relPath: string): Omit<SubvolumeRecord, 'path' | 'source'> | undefined {
  const name = relPath.split('/').at(-1)!;
  const lines = output.split('\n');
  // Line 1 is the path, line 2 the name: both known, so nothing after them can come from a name.
  if (lines[1]?.replace(/^\s*Name:\s*/, '') !== name) return undefined;
  const fields = new Map<string, string>();
  for (const line of lines.slice(2)) {
    const m = /^\t([A-Za-z() ]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === 'Snapshot(s)') break;
    fields.set(m[1]!, m[2]!.trim());
  }
  const num = (k: string) => (fields.has(k) && /^\d+$/.test(fields.get(k)!) ? Number(fields.get(k)) : undefined);
  const uuid = (k: string) => (fields.get(k) && fields.get(k) !== '-' ? fields.get(k)! : null);
  const id = num('Subvolume ID');
  const gen = num('Generation');
  const cgen = num('Gen at creation');
  const parent = num('Parent ID');
  if (id === undefined || gen === undefined || cgen === undefined || parent === undefined || !fields.has('Flags')) return undefined;
  const created = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) ([+-]\d{2})(\d{2})$/.exec(fields.get('Creation time') ?? '');
  const otime = created ? new Date(`${created[1]}T${created[2]}${created[3]}:${created[4]}`) : null;
  return {
    id,
    gen,
    cgen,
    parent,
    uuid: uuid('UUID'),
    parentUuid: uuid('Parent UUID'),
    receivedUuid: uuid('Received UUID'),
    readOnly: /\breadonly\b/.test(fields.get('Flags')!),
    otime: otime && !Number.isNaN(otime.getTime()) ? otime : null,
  };
}

/**
 * `btrfs subvolume list -s …` of the top level, run with TZ=UTC0 (its `otime` field is local time without a zone):
 * the snapshots with their creation times, as exact bytes; undefined when btrfs fails.
 */
export function readSnapshotListing(top: string): Buffer | undefined {
  const r = runCommandBytes(listArgv(top, 'snapshots'), { env: { TZ: 'UTC0' } });
  return r.code === 0 ? r.stdout : undefined;
}

function showSubvolume(abs: string): string | undefined {
  // The fixed fields come first; btrfs-progs exits 1 when it then cannot list the snapshots of the subvolume (a
  // path longer than PATH_MAX anywhere), so the output is judged by parseShow, not by the exit code.
  const r = runCommand([btrfsProgram(), 'subvolume', 'show', assertSafePath(abs)]);
  return r.stdout || undefined;
}

export interface InventoryOptions {
  /** Reads `btrfs subvolume show` output for an absolute path (tests pass their own). */
  show?: (abs: string) => string | undefined;
  /** Reads `btrfs subvolume list -s` output of the top level, in UTC (tests pass their own). */
  listSnapshots?: (top: string) => Buffer | undefined;
  /**
   * The top level is mounted read-write, so read-only subvolumes answer access(W_OK) with EROFS (btrfs_permission,
   * fs/btrfs/inode.c): read-only flags are then asked of the filesystem, path by path, and `list -r` is not run.
   */
  writableMount?: boolean;
}

/** The subvolumes of one filesystem, trusted only as far as the filesystem confirms them. */
export class Inventory {
  private readonly full: ListingText;
  private byText = new Map<string, ListingEntry[]>();
  private readonly readOnlyLines = new Set<string>();
  /** No `list -r` was read: read-only flags come from access(W_OK) on the writable mount (readOnlyOnDisk). */
  private readonly readOnlyFromDisk: boolean = false;
  private readonly stats = new Map<string, Stats | null>();
  /** directoryStat's verdicts by path (latin1 of the bytes). */
  private readonly directories = new Map<string, Stats | null>();
  private readonly dirs = new Map<string, Buffer[] | null>();
  private readonly newlineNames = new Map<string, Buffer[]>();
  private readonly records = new Map<string, SubvolumeRecord | null>();
  private readonly show: (abs: string) => string | undefined;
  /** What could not be trusted, said once each (for the report). */
  readonly notes: string[] = [];

  /** Set when `btrfs subvolume list` failed (e.g. a subvolume path longer than PATH_MAX): facts come item by item. */
  readonly listingFailure: string | undefined;
  /** The root tree read through the btrfs ioctls (src/btrfs/native.ts, under Bun): facts no name can forge, by path. */
  private readonly kernel: Map<string, KernelRecord> | undefined;

  constructor(
    readonly top: string,
    listings: ListingOutput | { failure: string } | { kernel: readonly KernelRecord[] },
    private readonly options: InventoryOptions = {},
  ) {
    this.show = options.show ?? showSubvolume;
    if ('kernel' in listings) {
      this.listingFailure = undefined;
      this.kernel = new Map(listings.kernel.map((r) => [key(r.path), r]));
      this.full = { lineCount: 0, entries: [] };
      return;
    }
    this.kernel = undefined;
    // A listing too long to read as one string is a listing that failed: facts then come subvolume by subvolume.
    const tooLong = 'full' in listings ? [listings.full, listings.readOnly].find((b) => b !== undefined && b.length > MAX_LISTING_BYTES) : undefined;
    if ('failure' in listings || tooLong) {
      this.listingFailure = 'failure' in listings ? listings.failure : `its output is ${tooLong!.length} bytes, longer than the longest string this runtime holds (${MAX_LISTING_BYTES})`;
      this.full = { lineCount: 0, entries: [] };
      this.note(`btrfs subvolume list failed (${this.listingFailure}): facts were read subvolume by subvolume (btrfs subvolume show) and nested subvolumes found by walking the directories`);
      return;
    }
    this.listingFailure = undefined;
    this.full = parseListing((listings as ListingOutput).full);
    this.byText = linesByText(this.full.entries);
    const readOnly = (listings as ListingOutput).readOnly;
    if (readOnly) for (const e of parseListing(readOnly).entries) this.readOnlyLines.add(`${e.id}\0${key(e.text)}`);
    this.readOnlyFromDisk = readOnly === undefined;
  }

  /** lstat of top/rel (bytes), cached; null when it does not exist. */
  private stat(rel: Buffer): Stats | null {
    const k = key(rel);
    if (this.stats.has(k)) return this.stats.get(k)!;
    let st: Stats | null = null;
    try {
      // A long path through the directories judged on the way to it (directoryStat), a chunk at a time.
      st = rel.length === 0 ? lstatSync(this.top) : atJudgedParent(this.top, rel, (prefix) => this.directories.get(key(prefix)), (parent, name) => lstatSync(Buffer.concat([parent, name])));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR' && code !== 'ELOOP' && code !== 'ENAMETOOLONG') throw error;
    }
    this.stats.set(k, st);
    return st;
  }

  /**
   * True when rel (bytes, relative to the top level) is a subvolume: every component a real directory (no
   * symlink), the last one inode 256 with a device number of its own (different from its parent directory's).
   */
  isSubvolume(rel: Buffer): boolean {
    if (rel.length === 0 || rel.length > MAX_PATH_BYTES || rel[0] === 0x2f) return false;
    const slash = rel.lastIndexOf(0x2f);
    const parent = slash < 0 ? this.stat(Buffer.alloc(0)) : this.directoryStat(rel.subarray(0, slash));
    if (!parent?.isDirectory() || !plainComponent(rel.subarray(slash + 1))) return false;
    const st = this.stat(rel);
    if (!st || !st.isDirectory() || st.isSymbolicLink()) return false;
    return st.ino === SUBVOLUME_ROOT_INO && st.dev !== parent.dev;
  }

  /**
   * The lstat of rel (bytes, relative to the top level) when it is a directory reached through real directories only
   * (no symlink, no empty, . or .. component), else null. Remembered per path, and a path is judged from its parent's
   * verdict: a chain of n directories one inside the next costs n lookups in all. Judged prefix by prefix for every
   * path, it cost n² lookups and n³ bytes of keys, and a chain of 5 000 subvolumes a user made in 0.3 s took minutes
   * to observe before the swap (a review, 2026-12-02).
   */
  private directoryStat(rel: Buffer): Stats | null {
    // Up to the nearest path already judged (or the top), then down again, judging each.
    const pending: Buffer[] = [];
    let known: Stats | null | undefined;
    for (let cur = rel; ; ) {
      known = this.directories.get(key(cur));
      if (known !== undefined) break;
      pending.push(cur);
      const slash = cur.lastIndexOf(0x2f);
      if (slash < 0) {
        known = this.stat(Buffer.alloc(0));
        break;
      }
      cur = cur.subarray(0, slash);
    }
    for (let i = pending.length - 1; i >= 0; i--) {
      const p = pending[i]!;
      let st: Stats | null = null;
      if (known?.isDirectory() && plainComponent(p.subarray(p.lastIndexOf(0x2f) + 1))) {
        const s = this.stat(p);
        st = s && s.isDirectory() && !s.isSymbolicLink() ? s : null;
      }
      this.directories.set(key(p), st);
      known = st;
    }
    return known ?? null;
  }

  private children(dir: Buffer): Buffer[] {
    const k = key(dir);
    if (!this.dirs.has(k)) {
      let names: Buffer[] | null = null;
      const st = this.stat(dir);
      if (st?.isDirectory()) {
        try {
          names = readdirSync(Buffer.concat([Buffer.from(`${this.top}/`), dir]), { encoding: 'buffer' });
        } catch {
          names = null;
        }
      }
      this.dirs.set(k, names);
    }
    return this.dirs.get(k) ?? [];
  }

  /** The names in `dir` that hold a newline (the only ones a cut listing line can be the start of), cached. */
  private childrenWithNewline(dir: Buffer): Buffer[] {
    const k = key(dir);
    let names = this.newlineNames.get(k);
    if (!names) {
      names = this.children(dir).filter((n) => n.includes(0x0a));
      this.newlineNames.set(k, names);
    }
    return names;
  }

  private note(text: string): void {
    if (!this.notes.includes(text)) this.notes.push(text);
  }

  /**
   * The facts of the subvolume at `path` (relative to the top level), or undefined when no subvolume is there.
   * From the listing when exactly one line names the path; else from `btrfs subvolume show` (a forged line names
   * it too). Throws nothing for odd input: an unreadable answer is undefined, with a note.
   */
  record(path: string): SubvolumeRecord | undefined {
    if (this.records.has(path)) return this.records.get(path) ?? undefined;
    const bytes = Buffer.from(path);
    let record: SubvolumeRecord | undefined;
    if (this.isSubvolume(bytes)) {
      const lines = this.byText.get(key(bytes)) ?? [];
      const k = this.kernel?.get(key(bytes));
      if (this.kernel) record = k && fromKernel(k, path);
      else if (this.listingFailure !== undefined) record = this.shown(path);
      else if (lines.length === 1) {
        const e = lines[0]!;
        const readOnly = this.readOnlyFromDisk ? (this.readOnlyOnDisk(bytes) ?? this.shown(path)?.readOnly) : this.readOnlyLines.has(`${e.id}\0${key(bytes)}`);
        if (readOnly === undefined) {
          this.note(`${path}: access(W_OK) gave neither yes nor EROFS and btrfs subvolume show gave no usable answer: not trusted`);
          this.records.set(path, null);
          return undefined;
        }
        record = {
          id: e.id,
          gen: e.gen,
          cgen: e.cgen,
          parent: e.parent,
          uuid: e.uuid,
          parentUuid: e.parentUuid,
          receivedUuid: e.receivedUuid,
          path,
          readOnly,
          otime: null,
          source: 'listing',
        };
      } else {
        const shown = this.shown(path);
        if (shown) {
          record = shown;
          this.note(`${lines.length} lines of the subvolume listing name ${path} (a subvolume name holding a newline and listing-like text?): its facts were read with btrfs subvolume show`);
        } else {
          this.note(`${path}: ${lines.length} lines of the subvolume listing name it and btrfs subvolume show gave no usable answer: not trusted`);
        }
      }
    }
    this.records.set(path, record ?? null);
    return record;
  }

  /**
   * The facts of `path` from `btrfs subvolume show` alone (one process), for a decision that must not rest on a
   * listing line at all (prune confirms each snapshot it deletes this way). Undefined when it is not a subvolume.
   */
  shown(path: string): SubvolumeRecord | undefined {
    if (!this.isSubvolume(Buffer.from(path))) return undefined;
    try {
      const out = this.show(join(this.top, path));
      const facts = out === undefined ? undefined : parseShow(out, path);
      return facts && { ...facts, path, source: 'show' };
    } catch {
      return undefined;
    }
  }

  /**
   * The creation time (otime) of the subvolume at each of `paths` (relative to the top level), from verified records
   * only; null when it is not a subvolume or no trusted answer says. A record that already carries its time (from the
   * ioctls, or from `btrfs subvolume show`) answers itself. A record from a listing line says nothing of the time:
   * - a snapshot (its trusted record has a parent UUID, which only the snapshot ioctl sets; btrfs-progs' `list -s`
   *   lists exactly the subvolumes the snapshot ioctl made, so its own line is there) takes the time from the one
   *   `btrfs subvolume list -s` this inventory runs, when exactly one line of it names the path and that line has
   *   the record's id and creation generation (a second line naming it can only be forged: then `show`);
   * - anything else (a plain subvolume is not in `list -s`, where a forged line could be the only one naming it)
   *   from `btrfs subvolume show PATH`, one process each.
   * Identical answers either way: both print the kernel's otime in whole seconds.
   */
  creationTimes(paths: readonly string[]): Map<string, Date | null> {
    const out = new Map<string, Date | null>();
    const pending: SubvolumeRecord[] = [];
    for (const path of paths) {
      const r = this.record(path);
      if (!r) out.set(path, null);
      else if (r.otime !== null || r.source !== 'listing') out.set(path, r.otime);
      else pending.push(r);
    }
    const snapshots = pending.some((r) => r.parentUuid !== null) ? this.snapshotLines() : undefined;
    for (const r of pending) {
      let otime: Date | null | undefined;
      if (r.parentUuid !== null && snapshots) {
        const lines = snapshots.get(key(Buffer.from(r.path))) ?? [];
        const line = lines.length === 1 ? lines[0]! : undefined;
        if (line && line.id === r.id && line.cgen === r.cgen && line.otime !== undefined) otime = line.otime;
        else if (lines.length > 1) this.note(`${lines.length} lines of the snapshot listing name ${r.path} (a subvolume name holding a newline and listing-like text?): its creation time was read with btrfs subvolume show`);
      }
      out.set(r.path, otime !== undefined ? otime : (this.shown(r.path)?.otime ?? null));
    }
    return out;
  }

  private snapshotsByText: Map<string, ListingEntry[]> | null | undefined;

  /** The lines of `btrfs subvolume list -s` by path text, read once; null when it failed or is too long to read. */
  private snapshotLines(): Map<string, ListingEntry[]> | undefined {
    if (this.snapshotsByText === undefined) {
      let out: Buffer | undefined;
      try {
        out = (this.options.listSnapshots ?? readSnapshotListing)(this.top);
      } catch {
        out = undefined;
      }
      this.snapshotsByText = null;
      // Too long to read as one string: as if btrfs had failed (each creation time then comes from show).
      if (out !== undefined && out.length <= MAX_LISTING_BYTES) this.snapshotsByText = linesByText(parseListing(out).entries);
    }
    return this.snapshotsByText ?? undefined;
  }

  /** Whether rel is read-only when only the filesystem can tell (a read-write mount answers EROFS for it). */
  private readOnlyOnDisk(rel: Buffer): boolean | null {
    if (!this.options.writableMount) return null;
    return readOnlyByAccess(Buffer.concat([Buffer.from(`${this.top}/`), rel]));
  }

  /**
   * Every subvolume strictly below `path`, verified on disk, deepest first. Includes subvolumes whose names hold
   * newlines (their lines are cut short in the listing and followed by whatever their names say).
   */
  below(path: string): NestedSubvolume[] {
    if (this.kernel) return this.kernelBelow(Buffer.from(`${path}/`));
    if (this.listingFailure !== undefined) return this.walkBelow(Buffer.from(path));
    const prefix = Buffer.from(`${path}/`);
    const entries = this.full.entries.filter((e) => startsWith(e.text, prefix));
    this.prefetch(entries);
    return this.collect(path, entries);
  }

  /** below() for every item directly inside `dir` whose name is given, in one pass over the listing. */
  belowEach(dir: string, names: readonly string[]): Map<string, NestedSubvolume[]> {
    if (this.kernel) return new Map(names.map((n) => [n, this.kernelBelow(Buffer.from(`${dir}/${n}/`))]));
    if (this.listingFailure !== undefined) return new Map(names.map((n) => [n, this.walkBelow(Buffer.from(`${dir}/${n}`))]));
    const dirPrefix = Buffer.from(`${dir}/`);
    const groups = new Map<string, ListingEntry[]>(names.map((n) => [key(Buffer.from(n)), []]));
    for (const e of this.full.entries) {
      if (!startsWith(e.text, dirPrefix)) continue;
      const rest = e.text.subarray(dirPrefix.length);
      const slash = rest.indexOf(0x2f);
      if (slash >= 0) groups.get(key(rest.subarray(0, slash)))?.push(e);
    }
    for (const entries of groups.values()) this.prefetch(entries);
    return new Map(names.map((n) => [n, this.collect(`${dir}/${n}`, groups.get(key(Buffer.from(n)))!)]));
  }

  /** The kernel's subvolumes whose paths start with `prefix` (a path and "/"), deepest first, confirmed on disk. */
  private kernelBelow(prefix: Buffer): NestedSubvolume[] {
    const found: NestedSubvolume[] = [];
    for (const r of this.kernel!.values()) {
      if (startsWith(r.path, prefix) && this.isSubvolume(r.path)) found.push({ path: r.path.toString('utf8'), bytes: r.path, readOnly: r.readOnly });
    }
    return deepestFirst(found);
  }

  /**
   * Subvolumes strictly below `rel`, found by walking its directories (never through a symlink): each directory
   * with inode 256 on a device of its own is one. Used below names holding newlines, and for everything when the
   * listing cannot be had; reads every directory below.
   */
  private walkBelow(rel: Buffer): NestedSubvolume[] {
    const found: NestedSubvolume[] = [];
    const stack: Buffer[] = [rel];
    while (stack.length) {
      const dir = stack.pop()!;
      let names: Buffer[] = [];
      let dev: number | undefined;
      try {
        atParent(this.top, dir, (parent, name) => {
          const abs = Buffer.concat([parent, name]);
          dev = lstatSync(abs).dev;
          names = readdirSync(abs, { encoding: 'buffer' });
        });
      } catch {
        continue;
      }
      for (const n of names) {
        const child = Buffer.concat([dir, Buffer.from('/'), n]);
        let st: Stats;
        try {
          st = lstatBelow(this.top, child);
        } catch {
          continue;
        }
        if (!st.isDirectory()) continue;
        if (st.ino === SUBVOLUME_ROOT_INO && st.dev !== dev) found.push({ path: child.toString('utf8'), bytes: child, readOnly: this.readOnlyOnDisk(child) });
        stack.push(child);
      }
    }
    return deepestFirst(found);
  }

  /**
   * Starts the first lookups of the paths these lines name, all at once (prefetchLookups); collect decides. A line's
   * text may be forged, so only a path whose parent this inventory has already found to be a real directory (every
   * component looked up, none a symlink, none empty, "." or "..") is handed over: the lookup never leaves the top
   * level through a user's symlink or "..".
   */
  private prefetch(entries: readonly ListingEntry[]): void {
    const top = Buffer.from(`${this.top}/`);
    const paths: Buffer[] = [];
    for (const e of entries) {
      const slash = e.text.lastIndexOf(0x2f);
      if (slash <= 0 || !plainComponent(e.text.subarray(slash + 1)) || !this.realDirectory(e.text.subarray(0, slash))) continue;
      paths.push(Buffer.concat([top, e.text]));
    }
    prefetchLookups(paths);
  }

  /** True when rel (bytes, relative to the top level, not empty) is a directory reached through real directories only. */
  private realDirectory(rel: Buffer): boolean {
    return rel.length > 0 && rel.length <= MAX_PATH_BYTES && this.directoryStat(rel) !== null;
  }

  private collect(path: string, entries: readonly ListingEntry[]): NestedSubvolume[] {
    const found = new Map<string, NestedSubvolume>();
    const add = (bytes: Buffer, readOnly: boolean | null) => {
      const k = key(bytes);
      if (!found.has(k)) found.set(k, { path: bytes.toString('utf8'), bytes, readOnly });
    };
    let unverified = 0;
    for (const e of entries) {
      const unique = (this.byText.get(key(e.text)) ?? []).length === 1;
      if (this.isSubvolume(e.text)) add(e.text, unique && !this.readOnlyFromDisk ? this.readOnlyLines.has(`${e.id}\0${key(e.text)}`) : this.readOnlyOnDisk(e.text));
      else unverified += 1;
      // A name holding a newline: the line ends inside a component whose real name starts with the rest of the text
      // and a newline (the lines after it may be anything the name says). The directory names the real names: each
      // such entry is looked at, and walked, for subvolumes — however many lines its name spans.
      const slash = e.text.lastIndexOf(0x2f);
      const dir = e.text.subarray(0, Math.max(slash, 0));
      const withNewline = this.childrenWithNewline(dir);
      if (withNewline.length === 0) continue;
      const start = Buffer.concat([e.text.subarray(slash + 1), Buffer.from('\n')]);
      for (const name of withNewline) {
        if (!startsWith(name, start)) continue;
        const real = Buffer.concat([dir, Buffer.from('/'), name]);
        if (this.isSubvolume(real)) add(real, this.readOnlyOnDisk(real));
        for (const n of this.walkBelow(real)) add(n.bytes, n.readOnly);
      }
    }
    if (unverified > 0) {
      this.note(`${unverified} line(s) of the subvolume listing under ${path} name no subvolume on disk (names holding newlines and listing-like text?): ignored`);
    }
    return deepestFirst([...found.values()]);
  }
}

/** Sorts nested subvolumes deepest first (most `/` in the path), then by path bytes descending; each depth counted once. */
function deepestFirst(list: NestedSubvolume[]): NestedSubvolume[] {
  const depth = new Map(list.map((n) => [n, n.bytes.reduce((d, c) => d + (c === 0x2f ? 1 : 0), 0)]));
  return list.sort((a, b) => depth.get(b)! - depth.get(a)! || Buffer.compare(b.bytes, a.bytes));
}

/** A subvolume as the btrfs ioctls report it (src/btrfs/native.ts listSubvolumes). */
export type KernelRecord = NonNullable<ReturnType<typeof listSubvolumes>>[number];

function fromKernel(k: KernelRecord, path: string): SubvolumeRecord {
  return {
    id: k.id,
    gen: k.gen,
    cgen: k.cgen,
    parent: k.parentId,
    uuid: k.uuid,
    parentUuid: k.parentUuid,
    receivedUuid: k.receivedUuid,
    path,
    readOnly: k.readOnly,
    otime: k.otime > 0 ? new Date(k.otime * 1000) : null,
    source: 'ioctl',
  };
}

/**
 * Whether the subvolume at `abs` is read-only, as the kernel answers access(W_OK) on a mount whose options and
 * superblock are both read-write (isWritableMount; the caller checks that): true for EROFS (btrfs_permission,
 * fs/btrfs/inode.c, answers it for a read-only subvolume alone there), false for success, null for any other
 * answer, which tells nothing: an immutable subvolume answers EPERM whether read-only or not (the caller then asks
 * btrfs subvolume show, or leaves it unknown). Never throws.
 */
export function readOnlyByAccess(abs: string | Buffer): boolean | null {
  return readOnlyFromAnswer(writeAccessAnswer(abs));
}

/** readOnlyByAccess from an answer of writeAccessAnswer already taken. */
export function readOnlyFromAnswer(answer: string | null): boolean | null {
  return answer === null ? false : answer === 'EROFS' ? true : null;
}

/**
 * What the kernel answers access(W_OK) for `abs`: null when it may be written, else the error code (EROFS, EPERM,
 * EACCES, ENOENT…). The one question readOnlyByAccess and immutableByAccess ask; a caller asking both of one path asks
 * this once. Never throws.
 */
export function writeAccessAnswer(abs: string | Buffer): string | null {
  try {
    accessSync(abs, constants.W_OK);
    return null;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? 'EIO';
  }
}

/**
 * Whether the file at `abs` is immutable (chattr +i), as the kernel answers access(W_OK): EPERM, which
 * inode_permission (fs/namei.c) gives for MAY_WRITE on an IS_IMMUTABLE inode, and an immutable entry can be neither
 * renamed nor deleted (may_delete, btrfs_may_delete: EPERM). Only meaningful on a mount whose options and superblock
 * are read-write (a read-only one answers EROFS first). False for every other answer (a missing path included); an
 * append-only one (chattr +a) answers access like any other and is not told apart. Never throws.
 */
export function immutableByAccess(abs: string | Buffer): boolean {
  return writeAccessAnswer(abs) === 'EPERM';
}

/**
 * The inventory of the filesystem whose top level is mounted at `top`: from the root tree through the btrfs
 * ioctls where they work (Bun), else from both `btrfs subvolume list` listings, verified on disk.
 */
export function takeInventory(top: string, options: InventoryOptions = {}): Inventory {
  try {
    const kernel = listSubvolumes(top);
    if (kernel) return new Inventory(top, { kernel }, options);
  } catch {
    // e.g. a directory path within a subvolume longer than the ioctl's lookup buffer: the text listing follows
  }
  let listings: ListingOutput | { failure: string };
  try {
    listings = readListings(top, { readOnly: !options.writableMount });
  } catch (error) {
    if (!(error instanceof CommandError)) throw error;
    listings = { failure: error.result.stderr.trim() || `exit ${error.result.code}` };
  }
  return new Inventory(top, listings, options);
}

/** The id of the default subvolume (what a mount without subvol= gets); undefined when btrfs cannot say (src/btrfs/native.ts). */
export function readDefaultSubvolumeId(top: string): number | undefined {
  try {
    return defaultSubvolumeId(top);
  } catch {
    return undefined;
  }
}
