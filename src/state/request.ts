// What a state rollback is asked for, read strictly (issue 14): the kernel command line key, the one-shot request
// file, and the operator's arguments all speak one grammar, parsed here. Existence is judged later, on the disk.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lastValue, type CmdlineValue } from '../cmdline/parse-cmdline.js';
import { kindOf } from '../fs/entry-kind.js';
import { encodeSubvolume } from '../retention/snapshots.js';

/** `pantheros.rollback.state=SPEC[,SPEC…]` (or `rd.pantheros.rollback.state=`), next to `pantheros.rollback=`. */
export const STATE_KEYS = ['pantheros.rollback.state', 'rd.pantheros.rollback.state'] as const;
/** The one-shot request from the running system (`state-rollback --next-boot`), in the state archive directory. */
export const STATE_REQUEST_FILE = '.pantheros-state-request';
/** The temporary name the new subvolume is made under, in the subvolume's own archive directory. */
export const NEW_STATE_NAME = '.pantheros-new-state';
const MAX_REQUEST_BYTES = 4096;

/** Who is rolled back: a subvolume (relative to the top level) or a mount point (absolute). */
export type Who = { kind: 'subvolume'; path: string } | { kind: 'mount'; path: string };

/**
 * One item of a request:
 * - `<class>/<snapshot name>`: that snapshot; the subvolume is the one its name encodes;
 * - `<who>=<class>`: the newest snapshot of that class of who;
 * - `<who>=<class>/<snapshot name>`: that snapshot, which must be of who.
 */
export interface StateSpec {
  /** The item as written. */
  raw: string;
  who: Who | null;
  class: string;
  /** Null: the newest snapshot of the class. */
  name: string | null;
}

export type ParsedSpec = { ok: StateSpec } | { refused: string; raw: string };

const SAFE = /^[A-Za-z0-9._@:+~-]+$/;

function component(c: string, what: string): string | undefined {
  if (c === '') return `empty ${what}`;
  if (c === '.' || c === '..') return `${what} "${c}" is not allowed`;
  if (c.startsWith('.')) return `hidden names (starting with .) are not ${what}s`;
  if (!SAFE.test(c)) return `${what} "${c}" has characters outside A-Z a-z 0-9 . _ @ : + ~ -`;
  return undefined;
}

/** Parses one item (see StateSpec); anything doubtful is refused with the reason. Pure. */
export function parseStateSpec(raw: string): ParsedSpec {
  const refuse = (reason: string): ParsedSpec => ({ refused: reason, raw });
  if (raw.length > 1024) return refuse('longer than 1024 characters');
  const eq = raw.indexOf('=');
  let who: Who | null = null;
  let rest = raw;
  if (eq >= 0) {
    const w = raw.slice(0, eq);
    rest = raw.slice(eq + 1);
    const absolute = w.startsWith('/');
    const parts = (absolute ? w.slice(1) : w).split('/');
    if (w === '' || w === '/') return refuse('no subvolume or mount point before =');
    if (!absolute && w.startsWith('-')) return refuse(`"${w}" starts with -`);
    for (const p of parts) {
      const bad = p === '' || p === '.' || p === '..' ? `"${w}" has an empty, . or .. component` : !SAFE.test(p) ? `"${w}" has characters outside A-Z a-z 0-9 . _ @ : + ~ - /` : undefined;
      if (bad) return refuse(bad);
    }
    who = absolute ? { kind: 'mount', path: w } : { kind: 'subvolume', path: w };
  }
  const parts = rest.split('/');
  if (parts.length > 2) return refuse(`"${rest}" is not <class> or <class>/<snapshot name>`);
  const [cls, name] = parts as [string, string | undefined];
  const badClass = component(cls, 'class');
  if (badClass) return refuse(badClass);
  if (name === undefined) {
    if (who === null) return refuse(`"${raw}" names a class but not what to roll back: write <subvolume or mount point>=${cls}, or <class>/<snapshot name>`);
    return { ok: { raw, who, class: cls, name: null } };
  }
  const badName = component(name, 'snapshot name');
  if (badName) return refuse(badName);
  return { ok: { raw, who, class: cls, name } };
}

/** Splits a request text (command line value or request file line) at commas and parses every item. */
export function parseStateRequest(text: string): ParsedSpec[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(parseStateSpec);
}

/** The `pantheros.rollback.state=` value that wins on this command line (the last one, - and _ equal). */
export function stateParameter(cmdline: string): CmdlineValue | undefined {
  return lastValue(cmdline, STATE_KEYS);
}

/** The directory a subvolume's archives and temporary new state live in: `<oldState>/<encoded subvolume>`. */
export function stateArchiveDir(oldState: string, subvolume: string): string {
  return `${oldState}/${encodeSubvolume(subvolume)}`;
}

/** A pending request file: its text, or why it is ignored; null when there is none. */
export type StateRequestFile = { text: string } | { problem: string } | null;

/** Reads `<oldState>/.pantheros-state-request` the one way the boot reads it: a regular file (never a symlink), ≤ 4 KiB, first line. */
export function readStateRequestFile(oldStateAbs: string): StateRequestFile {
  const abs = join(oldStateAbs, STATE_REQUEST_FILE);
  const kind = kindOf(abs);
  if (kind === 'missing') return null;
  if (kind !== 'file') return { problem: `${STATE_REQUEST_FILE} is a ${kind}, not a regular file: ignored` };
  let bytes: Buffer;
  try {
    bytes = readFileSync(abs);
  } catch (error) {
    return { problem: `${STATE_REQUEST_FILE} cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)}): ignored` };
  }
  if (bytes.length > MAX_REQUEST_BYTES) return { problem: `${STATE_REQUEST_FILE} is larger than 4 KiB: ignored` };
  return { text: (bytes.toString('utf8').split('\n')[0] ?? '').trim() };
}
