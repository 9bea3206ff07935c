// --now (parseNow): an ISO-8601 time, and only a day that exists. A review (2026-12-02) passed --now
// 2026-02-30T00:00:00Z: Date reads it as 2026-03-02, and the run went on with a clock nobody gave it.
import { describe, expect, it } from 'vitest';
import { parseNow } from '../../../src/list/clock.js';
import { UsageError } from '../../../src/errors.js';

describe('parseNow', () => {
  it.each(['2026-11-26T06:00:00Z', '2026-02-28T23:59:59Z', '2028-02-29T00:00:00Z', '2026-12-31T00:00:00.123Z', '2026-11-26T06:00:00+01:00', '2000-02-29T00:00Z'])('reads %s', (text) => {
    expect(parseNow(text, 'boot').getTime()).toBe(new Date(text).getTime());
  });

  it.each([
    ['2026-02-30T00:00:00Z', /2026-02 has no day 30/],
    ['2026-02-29T00:00:00Z', /2026-02 has no day 29/],
    ['1900-02-29T00:00:00Z', /1900-02 has no day 29/],
    ['2026-04-31T00:00:00Z', /2026-04 has no day 31/],
    ['2026-11-00T00:00:00Z', /2026-11 has no day 00/],
    ['2026-13-01T00:00:00Z', /ISO-8601/],
    ['2026-11-26', /ISO-8601/],
    ['now', /ISO-8601/],
    ['1e12', /ISO-8601/],
  ])('refuses %s', (text, said) => {
    expect(() => parseNow(text, 'boot')).toThrow(UsageError);
    expect(() => parseNow(text, 'boot')).toThrow(said);
  });

  it('is the system clock without --now', () => {
    const before = Date.now();
    const t = parseNow(undefined, 'list').getTime();
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThanOrEqual(Date.now());
  });
});
