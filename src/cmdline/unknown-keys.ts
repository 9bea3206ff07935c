// Kernel command line keys that look meant for this tool but that it does not know (pantheros.rollbak=previous):
// ignored by the boot, so they must at least be named in a warning, with the key that was probably meant.
import { editDistance, nearest } from '../cli/nearest.js';
import { normalizeKey, ROLLBACK_KEYS, splitCmdline } from './parse-cmdline.js';
import { STATE_KEYS } from '../state/request.js';

/** Every key the tool reads from the kernel command line (the root's, and the state rollback's: src/state). */
export const KNOWN_KEYS: readonly string[] = [...ROLLBACK_KEYS, ...STATE_KEYS];

export interface UnknownKey {
  /** The key as written, e.g. pantheros.rollbak. */
  key: string;
  /** The known key it is nearest to (keeping its rd. form), or null when none is near. */
  nearest: string | null;
}

/** Our namespace, in any case, with _ and - as systemd treats them. */
const OURS = /^(rd\.)?pantheros\./i;

/**
 * The keys of the command line that are ours but unknown: every `pantheros.*` / `rd.pantheros.*` key (any case)
 * that is not a known key (compared with - equal to _, as systemd does), and any other key within two edits of a
 * known one (`pantheros_rollback`, `panthros.rollback`). Each key once, in order of first appearance, with the
 * nearest known key. Pure: `cmdline` is the text of /proc/cmdline.
 */
export function unknownKeys(cmdline: string, known: readonly string[] = KNOWN_KEYS): UnknownKey[] {
  const knownExact = new Set(known.map(normalizeKey));
  const knownNormal = known.map((k) => normalizeKey(k).toLowerCase());
  const seen = new Set<string>();
  const out: UnknownKey[] = [];
  for (const word of splitCmdline(cmdline)) {
    const eq = word.indexOf('=');
    const key = eq === -1 ? word : word.slice(0, eq);
    if (knownExact.has(normalizeKey(key)) || seen.has(key)) continue;
    const lower = normalizeKey(key).toLowerCase();
    // Two strings whose lengths differ by more than 2 are more than 2 edits apart: most words of a real command
    // line (init=, console=, systemd.*) are ruled out without computing the distance.
    const close = knownNormal.some((k) => Math.abs(lower.length - k.length) <= 2 && editDistance(lower, k) <= 2);
    if (!OURS.test(lower) && !close) continue;
    seen.add(key);
    // Suggest a key of the same form: rd.pantheros.x for rd.…, pantheros.x otherwise.
    const rd = lower.startsWith('rd.');
    const sameForm = knownNormal.filter((k) => k.startsWith('rd.') === rd);
    const guess = nearest(lower, sameForm.length ? sameForm : knownNormal);
    out.push({ key, nearest: guess === undefined ? null : known[knownNormal.indexOf(guess)]! });
  }
  return out;
}

/** One warning line per unknown key, for the boot report and the journal. */
export function describeUnknownKeys(found: readonly UnknownKey[]): string[] {
  return found.map((u) => `unknown kernel command line key ${JSON.stringify(u.key)} is ignored${u.nearest ? ` (did you mean ${u.nearest}?)` : ''}`);
}
