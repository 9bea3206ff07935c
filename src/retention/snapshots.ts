// Timed snapshots of persistent subvolumes: their names, and which ones `prune` keeps, each with its reason. Pure.
import { nextArchiveName, parseArchiveName } from '../archive/naming.js';
import { orderNewestFirst } from './age-out.js';
import { SNAPSHOT_CLASSES, type SnapshotClass } from '../config/load-config.js';

/**
 * Snapshot names are `<encoded subvolume>.<YYYYMMDDTHHMMSSZ>[_NN]`. The subvolume name is encoded so that
 * the snapshot name is one path component that a boot target (`<class>/<name>`) accepts: every byte
 * outside `A-Z a-z 0-9 _ @ : + - .` (and a leading `.`) becomes `~` and two lowercase hex digits of its
 * UTF-8 encoding, so `/` → `~2f` (`@home/alice` → `@home~2falice`) and `~` → `~7e`. Decoding is exact.
 */
export function encodeSubvolume(subvolume: string): string {
  let out = '';
  for (const byte of new TextEncoder().encode(subvolume)) {
    const ch = String.fromCharCode(byte);
    const plain = byte < 0x80 && /[A-Za-z0-9_@:+.-]/.test(ch) && !(out === '' && ch === '.');
    out += plain ? ch : `~${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** The subvolume an encoded name stands for; undefined unless the text is exactly what encodeSubvolume writes. */
export function decodeSubvolume(encoded: string): string | undefined {
  if (!/^(?:[A-Za-z0-9_@:+.-]|~[0-9a-f]{2})+$/.test(encoded)) return undefined;
  const bytes: number[] = [];
  for (let i = 0; i < encoded.length; i++) {
    if (encoded[i] === '~') {
      bytes.push(parseInt(encoded.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(encoded.charCodeAt(i));
  }
  let decoded: string;
  try {
    decoded = new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(bytes));
  } catch {
    return undefined;
  }
  return encodeSubvolume(decoded) === encoded ? decoded : undefined;
}

const NAME = /^(.+)\.(\d{8}T\d{6}Z(?:_\d{2,})?)$/;

/** Parses one of our snapshot names; undefined for anything else (prune never touches those). */
export function parseSnapshotName(name: string): { subvolume: string; time: Date; seq: number } | undefined {
  const m = NAME.exec(name);
  if (!m) return undefined;
  const subvolume = decodeSubvolume(m[1]!);
  const stamp = parseArchiveName(m[2]!);
  if (subvolume === undefined || !stamp || stamp.legacy) return undefined;
  return { subvolume, time: stamp.time, seq: stamp.seq };
}

/**
 * The name of a new snapshot of `subvolume` taken at `now`, given the names already in the class directory:
 * the time of `now` (with `_NN` when taken); it collides with nothing.
 */
export function snapshotName(subvolume: string, now: Date, existingNames: Iterable<string>): string {
  const prefix = `${encodeSubvolume(subvolume)}.`;
  const stamps: string[] = [];
  for (const name of existingNames) {
    if (name.startsWith(prefix) && parseSnapshotName(name)?.subvolume === subvolume) stamps.push(name.slice(prefix.length));
  }
  return `${prefix}${nextArchiveName(now, stamps)}`;
}

export interface SnapshotFact {
  class: SnapshotClass;
  subvolume: string;
  name: string;
  path: string;
  /** btrfs creation generation; undefined when the listing does not have it (ordered after those that do). */
  cgen: number | undefined;
}

export interface SnapshotVerdict {
  path: string;
  name: string;
  class: SnapshotClass;
  subvolume: string;
  action: 'keep' | 'delete';
  reason: string;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * Keeps the newest N (retention[class]) snapshots of each class, per subvolume, and never the newest one of a
 * class even when N is 0. Counts, not wall-clock windows: a machine that was off keeps its history.
 * Verdicts come grouped by class (hourly → monthly), then subvolume, newest first.
 */
export function decideSnapshotRetention(facts: SnapshotFact[], retention: Record<SnapshotClass, number>): SnapshotVerdict[] {
  const groups = new Map<string, SnapshotFact[]>();
  for (const f of facts) {
    const key = `${SNAPSHOT_CLASSES.indexOf(f.class)}\0${f.subvolume}`;
    groups.set(key, [...(groups.get(key) ?? []), f]);
  }
  const keys = [...groups.keys()].sort((a, b) => {
    const [ca, sa] = a.split('\0') as [string, string];
    const [cb, sb] = b.split('\0') as [string, string];
    return Number(ca) - Number(cb) || (sa < sb ? -1 : sa > sb ? 1 : 0);
  });
  const out: SnapshotVerdict[] = [];
  for (const key of keys) {
    const group = orderNewestFirst(groups.get(key)!);
    const { class: cls, subvolume } = group[0]!;
    const n = Math.max(0, Math.floor(retention[cls] ?? 0));
    group.forEach((f, i) => {
      const verdict = (action: 'keep' | 'delete', reason: string): SnapshotVerdict => ({ path: f.path, name: f.name, class: cls, subvolume, action, reason });
      if (i === 0) out.push(verdict('keep', `newest ${cls} snapshot of ${subvolume}${n === 0 ? ` (kept although ${cls} retention is 0)` : ''}`));
      else if (i < n) out.push(verdict('keep', `among the newest ${plural(n, `${cls} snapshot`)} of ${subvolume} (#${i + 1})`));
      else out.push(verdict('delete', `beyond the newest ${plural(Math.max(n, 1), `${cls} snapshot`)} of ${subvolume} (#${i + 1} of ${group.length})`));
    });
  }
  return out;
}
