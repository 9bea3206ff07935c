// Which archived roots to age out, each with its reason (btrbk's schedule; snapper's candidates → filters). Pure:
// the clock and every fact are passed in. Decisions rest on the creation generation (cgen), which only grows;
// the time in a name is believed only as far as the generations allow (a clock can be wrong at any one boot).
import { archiveNameTime } from '../archive/naming.js';

export interface ArchiveFact {
  name: string;
  /** btrfs generation at which the subvolume was created; undefined when not known (ordered by name then). */
  cgen: number | undefined;
  /**
   * When btrfs made the subvolume (otime: for an archived root, the boot before the one that archived it). An archive
   * cannot be archived before it was made, so a name earlier than this (when this is not after the clock) was written
   * by a clock that was behind.
   */
  createdAt?: Date | null;
}

export interface RetentionPolicy {
  keepDays: number;
  keepAtLeast: number;
  /** Below this much free space (percent of the filesystem), archives beyond keepAtLeast go even within keepDays. */
  minFreePercent: number;
}

export interface Verdict {
  name: string;
  action: 'keep' | 'delete';
  reason: string;
  /** Age in days the decision used; undefined when unknown. */
  ageDays: number | undefined;
  /** Where the age comes from: the time in the name, a bound from the creation generations, or nowhere. */
  ageFrom: 'name' | 'generation' | 'unknown';
}

export interface RetentionInput {
  /** Every archive, including the root archived this boot (give it cgen Number.MAX_SAFE_INTEGER). */
  archives: readonly ArchiveFact[];
  policy: RetentionPolicy;
  now: Date;
  /** Archives that stay whatever their age, with the reason (archived this boot, source of this boot…). */
  protect?: ReadonlyMap<string, string>;
  /** Free space of the filesystem in percent (unallocated included); undefined when not measured. */
  freePercent?: number | undefined;
  /** The filesystem is full (the new root could not be made): archives beyond keepAtLeast go, as below the floor. */
  full?: boolean;
}

export interface RetentionResult {
  /** Newest first. */
  verdicts: Verdict[];
  /** The newest archive before this boot is dated after `now`: nothing is deleted by age this boot. */
  clockBehind: boolean;
  /** Plain statements for the report (clock problems, a big clean-up, the space floor), counted over `verdicts`. */
  warnings: string[];
  /**
   * The same statements counted over the verdicts a caller ends with: a caller that keeps some of these deletions for
   * facts of its own (read-only, the default subvolume, mounted) says how many really go.
   */
  warningsFor(final: readonly Verdict[]): string[];
}

const DAY = 86_400_000;

function days(n: number): string {
  const t = Math.floor(n * 10) / 10;
  return `${Number.isInteger(t) ? t : t.toFixed(1)} d`;
}

/** Newest first: by creation generation, then by name. */
export function orderNewestFirst<T extends ArchiveFact>(archives: readonly T[]): T[] {
  return [...archives].sort((a, b) => {
    const ga = a.cgen ?? -1;
    const gb = b.cgen ?? -1;
    if (ga !== gb) return gb - ga;
    return a.name < b.name ? 1 : a.name > b.name ? -1 : 0;
  });
}

/**
 * True when some archive might be aged out under the policy: more archives than keepAtLeast and either a name
 * older than keepDays, a name dated in the future (its age is bounded by generations), or free space below the
 * floor. Needs no generations: it decides whether the boot must read the subvolume facts at all. Never false
 * when decideRetention could delete something.
 */
export function mayAgeOut(names: readonly string[], policy: RetentionPolicy, now: Date, freePercent: number | undefined): boolean {
  if (names.length + 1 <= Math.max(1, policy.keepAtLeast)) return false;
  if (freePercent !== undefined && freePercent < policy.minFreePercent) return true;
  return names.some((n) => {
    const t = archiveNameTime(n);
    return t !== undefined && (pastKeepDays(t, now.getTime(), policy.keepDays) || t > now.getTime());
  });
}

/**
 * True when something made at `timeMs` is older than `keepDays` (days, any finite number ≥ 0) at `nowMs` (both ms
 * since the epoch): (now − time) / 86 400 000 > keepDays. The one comparison of an age with keepDays: the verdict
 * (decideRetention's ageDays) and the boot's look ahead (mayAgeOut, which facts to read) compute it alike, so a
 * fractional keepDays cannot fall between them (with `time < now − keepDays × day` they disagreed at the boundary,
 * and the boot stopped with an internal error).
 */
export function pastKeepDays(timeMs: number, nowMs: number, keepDays: number): boolean {
  return (nowMs - timeMs) / DAY > keepDays;
}

/**
 * Decides keep/delete for every archive, newest first by generation:
 * - never the protected ones, never the newest keepAtLeast (at least 1), never one whose name is not a timestamp;
 * - the age comes from the name; a name earlier than that of an archive made before it (a clock that was behind)
 *   counts from that later time; a name dated after `now` (a clock that was ahead) has no age of its own and is
 *   at least as old as the next newer archive with a known age that btrfs made before `now` (createdAt);
 * - nothing goes by age when the newest archive before this boot is dated after `now`;
 * - below the free-space floor everything beyond keepAtLeast with a timestamp name goes, oldest first.
 */
export function decideRetention(input: RetentionInput): RetentionResult {
  const { policy, now } = input;
  const protect = input.protect ?? new Map<string, string>();
  const ordered = orderNewestFirst(input.archives);
  const keepAtLeast = Math.max(1, policy.keepAtLeast);
  const warnings: string[] = [];
  const nowMs = now.getTime();

  // Times from names, corrected from the oldest upwards: an archive is never older than one made before it.
  const times = ordered.map((a) => archiveNameTime(a.name));
  const effective: (number | undefined)[] = new Array(ordered.length).fill(undefined);
  const raisedFrom: (string | undefined)[] = new Array(ordered.length).fill(undefined);
  let floor: { time: number; name: string } | undefined;
  for (let i = ordered.length - 1; i >= 0; i--) {
    const t = times[i];
    if (t === undefined || t > nowMs) continue;
    const made = ordered[i]!.createdAt?.getTime();
    if (made !== undefined && made > t && made <= nowMs) {
      // Archived before it was made: the name's clock was behind. Age it from when it was made. (A creation time
      // after the clock says nothing: this clock or that one is wrong, and the clock-behind rule below applies.)
      raisedFrom[i] = `its creation time ${new Date(made).toISOString()}`;
      effective[i] = Math.max(made, floor?.time ?? made);
      continue;
    }
    if (floor && floor.time > t) {
      effective[i] = floor.time;
      raisedFrom[i] = floor.name;
    } else {
      effective[i] = t;
      floor = { time: t, name: ordered[i]!.name };
    }
  }
  // The newest archive before this boot: the first one that is not protected as archived this boot.
  const newestBefore = ordered.find((a) => a.cgen !== Number.MAX_SAFE_INTEGER);
  const newestBeforeTime = newestBefore ? times[ordered.indexOf(newestBefore)] : undefined;
  const clockBehind = newestBeforeTime !== undefined && newestBeforeTime > nowMs;
  if (clockBehind) {
    warnings.push(
      `the newest archive ${newestBefore!.name} is dated after the clock (${now.toISOString()}): either the clock is behind now or it was ahead at that boot; nothing is deleted by age this boot`,
    );
  }
  const belowFloor = input.full === true || (input.freePercent !== undefined && input.freePercent < policy.minFreePercent);
  const floorText = input.full ? 'the filesystem is full (no space left to make the new root)' : belowFloor ? `free space ${input.freePercent!.toFixed(1)} % is below oldRoots.minFreePercent (${policy.minFreePercent} %)` : '';

  const verdicts = ordered.map((a, i): Verdict => {
    const t = times[i];
    const future = t !== undefined && t > nowMs;
    let ageDays: number | undefined;
    let ageFrom: Verdict['ageFrom'] = 'unknown';
    let bound: string | undefined;
    if (effective[i] !== undefined) {
      ageDays = (nowMs - effective[i]!) / DAY;
      ageFrom = 'name';
    } else if (future) {
      // Made before every newer archive: at least as old as the nearest newer one with a known time — one btrfs made
      // before the clock's now. One made after it (its creation time is after the clock) says nothing of how old
      // anything is now, whatever its name: a snapshot named 2019-1-1_00:00:00 a minute ago, with the clock behind at
      // this boot, had every older archive aged out as years old.
      for (let j = i - 1; j >= 0; j--) {
        const made = ordered[j]!.createdAt?.getTime();
        if (made !== undefined && made > nowMs) continue;
        if (effective[j] !== undefined) {
          ageDays = (nowMs - effective[j]!) / DAY;
          ageFrom = 'generation';
          bound = ordered[j]!.name;
          break;
        }
      }
    }
    const keep = (reason: string): Verdict => ({ name: a.name, action: 'keep', reason, ageDays, ageFrom });
    const del = (reason: string): Verdict => ({ name: a.name, action: 'delete', reason, ageDays, ageFrom });
    const futureText = future ? `dated in the future (the clock was ahead at that boot)${bound ? `, made before ${bound}` : ''}` : '';
    const protectedReason = protect.get(a.name);
    if (protectedReason) return keep(protectedReason);
    if (i === 0) return keep('newest archive');
    if (i < keepAtLeast) return keep(`among the newest ${keepAtLeast}`);
    if (t === undefined) return keep('name is not a timestamp: age unknown, never aged out');
    const age = ageDays === undefined ? '' : `${days(ageDays)}${ageFrom === 'generation' ? ' at least' : ''}`;
    const raised = !raisedFrom[i] ? '' : raisedFrom[i]!.startsWith('its creation') ? `, counted from ${raisedFrom[i]} (its name is earlier: the clock was behind when it was archived)` : `, counted from ${raisedFrom[i]} (made before it, with a later name)`;
    // ageDays > keepDays is pastKeepDays of the time the age was counted from (the same operations).
    if (!clockBehind && ageDays !== undefined && ageDays > policy.keepDays) {
      return del(`older than ${days(policy.keepDays)} (${age}${raised}) and beyond the newest ${keepAtLeast}${future ? `; ${futureText}` : ''}`);
    }
    if (belowFloor) return del(`${floorText}: beyond the newest ${keepAtLeast}, aged out oldest first even within keepDays`);
    if (clockBehind) return keep(`the clock is behind the newest archive (${newestBefore!.name}): nothing is deleted by age this boot`);
    if (ageDays === undefined) return keep(`${futureText}: age unknown, kept until a newer archive is older than keepDays`);
    return keep(`within keepDays (${age} ≤ ${days(policy.keepDays)}${raised})${future ? `; ${futureText}` : ''}`);
  });

  const newestBeforeAge = newestBefore ? verdicts.find((v) => v.name === newestBefore.name)?.ageDays : undefined;
  const warningsFor = (final: readonly Verdict[]): string[] => {
    const out = [...warnings];
    const deleted = final.filter((v) => v.action === 'delete');
    const byFloor = deleted.filter((v) => v.reason.startsWith(floorText || '\0')).length;
    if (byFloor) out.push(`${floorText}: ${byFloor} archive(s) within keepDays but beyond the newest ${keepAtLeast} go this boot, oldest first`);
    if (!belowFloor && deleted.length > 1 && newestBeforeAge !== undefined && newestBeforeAge > policy.keepDays) {
      out.push(
        `every archive is older than keepDays (the newest before this boot, ${newestBefore!.name}, is ${days(newestBeforeAge)} old): the machine was off for a long time or the clock jumped forward; ${deleted.length} archive(s) go at once, the newest ${keepAtLeast} stay (keepAtLeast)`,
      );
    }
    return out;
  };
  return { verdicts, clockBehind, warnings: warningsFor(verdicts), warningsFor };
}
