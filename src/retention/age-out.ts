// Which archived roots to age out, each with its reason. Pure: the clock is passed in.
import { parseArchiveName } from '../archive/naming.js';

export interface ArchiveFact {
  name: string;
  /** btrfs generation at which the subvolume was created; grows with every transaction, unlike the clock. Undefined when not listed. */
  cgen: number | undefined;
}

export interface RetentionPolicy {
  keepDays: number;
  keepAtLeast: number;
}

export interface Verdict {
  name: string;
  action: 'keep' | 'delete';
  reason: string;
  /** Age in days from the name's timestamp, when it has one. */
  ageDays: number | undefined;
}

const DAY = 86_400_000;

function days(n: number): string {
  return `${Number.isInteger(n) ? n : n.toFixed(1)} d`;
}

/** Newest first: by creation generation, then by name (names sort in time order). */
export function orderNewestFirst<T extends ArchiveFact>(archives: readonly T[]): T[] {
  return [...archives].sort((a, b) => {
    const ga = a.cgen ?? -1;
    const gb = b.cgen ?? -1;
    if (ga !== gb) return gb - ga;
    return a.name < b.name ? 1 : a.name > b.name ? -1 : 0;
  });
}

/**
 * Decides keep/delete for every archive. Deletes only what is older than keepDays AND beyond the
 * newest keepAtLeast; never the newest, never a protected one (archived or used as a source this
 * boot), never one whose age is unknown, and nothing by age when the clock is behind the newest archive.
 */
export function decideRetention(
  archives: readonly ArchiveFact[],
  policy: RetentionPolicy,
  now: Date,
  protect: ReadonlyMap<string, string> = new Map(),
): Verdict[] {
  const ordered = orderNewestFirst(archives);
  const times = ordered.map((a) => parseArchiveName(a.name)?.time);
  const newestTime = Math.max(...times.map((t) => t?.getTime() ?? -Infinity));
  const clockBehind = Number.isFinite(newestTime) && now.getTime() < newestTime;
  const keepAtLeast = Math.max(1, policy.keepAtLeast);
  return ordered.map((a, i): Verdict => {
    const time = times[i];
    const ageDays = time === undefined ? undefined : (now.getTime() - time.getTime()) / DAY;
    const keep = (reason: string): Verdict => ({ name: a.name, action: 'keep', reason, ageDays });
    const protectedReason = protect.get(a.name);
    if (protectedReason) return keep(protectedReason);
    if (i === 0) return keep('newest archive');
    if (i < keepAtLeast) return keep(`among the newest ${keepAtLeast}`);
    if (time === undefined) return keep('name is not a timestamp: age unknown, never aged out');
    if (clockBehind) {
      return keep(`clock (${now.toISOString()}) is earlier than the newest archive (${new Date(newestTime).toISOString()}): nothing is deleted by age`);
    }
    if (ageDays! <= policy.keepDays) return keep(`within keepDays (${days(Math.floor(ageDays! * 10) / 10)} ≤ ${days(policy.keepDays)})`);
    return {
      name: a.name,
      action: 'delete',
      reason: `older than ${days(policy.keepDays)} (${days(Math.floor(ageDays! * 10) / 10)}) and beyond the newest ${keepAtLeast}`,
      ageDays,
    };
  });
}
