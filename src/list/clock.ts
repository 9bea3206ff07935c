// The --now flag of operator commands: tests pin the clock; operators get the system clock.
import { UsageError } from '../errors.js';

export function parseNow(text: string | undefined, command: string): Date {
  if (text === undefined) return new Date();
  const now = new Date(text);
  if (Number.isNaN(now.getTime()) || !/^\d{4}-\d{2}-\d{2}T/.test(text)) {
    throw new UsageError(`${command}: --now must be an ISO-8601 time such as 2026-11-26T06:00:00Z, not ${JSON.stringify(text)}`);
  }
  return now;
}
