// The --now flag of operator commands: tests pin the clock; operators get the system clock.
import { UsageError } from '../errors.js';

/**
 * The clock a command uses: the system clock, or `text` (--now) as an ISO-8601 time (YYYY-MM-DDTHH:MM[:SS[.sss]] with
 * Z or an offset, as Date reads it). Throws UsageError for anything else, also for a date that does not exist
 * (2026-02-30: Date would read it as March 2).
 */
export function parseNow(text: string | undefined, command: string): Date {
  if (text === undefined) return new Date();
  const now = new Date(text);
  const ymd = /^(\d{4})-(\d{2})-(\d{2})T/.exec(text);
  const [y, m, d] = ymd ? [Number(ymd[1]), Number(ymd[2]), Number(ymd[3])] : [0, 0, 0];
  // The written day must exist in its month: day 0 of the next month is the month's last (setUTCFullYear: years 0–99 too).
  const last = new Date(0);
  last.setUTCFullYear(y, m, 0);
  const exists = ymd !== null && m >= 1 && m <= 12 && d >= 1 && d <= last.getUTCDate();
  if (Number.isNaN(now.getTime()) || !exists) {
    throw new UsageError(`${command}: --now must be an ISO-8601 time such as 2026-11-26T06:00:00Z, not ${JSON.stringify(text)}${ymd && !exists ? ` (${ymd[1]}-${ymd[2]} has no day ${ymd[3]})` : ''}`);
  }
  return now;
}
