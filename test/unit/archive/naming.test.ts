import { describe, expect, it } from 'vitest';
import { archiveNameTime, formatTimestamp, nextArchiveName, parseArchiveName } from '../../../src/archive/naming.js';

const t = (iso: string) => new Date(iso);

describe('formatTimestamp', () => {
  it('zero-pads every field in UTC', () => {
    expect(formatTimestamp(t('2026-01-02T03:04:05.678Z'))).toBe('20260102T030405Z');
    expect(formatTimestamp(t('0999-12-31T23:59:59Z'))).toBe('09991231T235959Z');
  });
  it('sorts in time order as text', () => {
    const times = ['2026-01-09T00:00:00Z', '2026-01-10T00:00:00Z', '2026-10-01T00:00:00Z', '2026-02-01T00:00:00Z'];
    const names = times.map((x) => formatTimestamp(t(x)));
    expect([...names].sort()).toEqual(times.sort().map((x) => formatTimestamp(t(x))));
  });
});

describe('parseArchiveName', () => {
  it.each([
    ['20261126T063251Z', '2026-11-26T06:32:51.000Z', 0, false],
    ['20261126T063251Z_01', '2026-11-26T06:32:51.000Z', 1, false],
    ['20261126T063251Z_123', '2026-11-26T06:32:51.000Z', 123, false],
    ['2026-11-2_10:00:00', '2026-11-02T10:00:00.000Z', 0, true],
  ])('%s', (name, iso, seq, legacy) => {
    expect(parseArchiveName(name)).toEqual({ time: t(iso), seq, legacy });
  });
  it.each(['', 'foo', '20261326T000000Z', '20260230T000000Z', '20261126T246000Z', '20261126T063251Z_1', '20261126T063251', '.pantheros-new-root', '20261126T063251Z/x'])(
    'rejects %j',
    (name) => {
      expect(parseArchiveName(name)).toBeUndefined();
    },
  );
});

describe('nextArchiveName', () => {
  const now = t('2026-11-26T06:32:51.500Z');
  it('is the timestamp of the clock when nothing collides', () => {
    expect(nextArchiveName(now, ['20261125T000000Z'])).toBe('20261126T063251Z');
  });
  it('adds a counter for a second boot in the same second, and keeps counting (past _99 too)', () => {
    expect(nextArchiveName(now, ['20261126T063251Z'])).toBe('20261126T063251Z_01');
    expect(nextArchiveName(now, ['20261126T063251Z', '20261126T063251Z_01'])).toBe('20261126T063251Z_02');
    const taken = ['20261126T063251Z', ...Array.from({ length: 99 }, (_, i) => `20261126T063251Z_${String(i + 1).padStart(2, '0')}`)];
    expect(nextArchiveName(now, taken)).toBe('20261126T063251Z_100');
    expect(parseArchiveName('20261126T063251Z_100')?.seq).toBe(100);
  });
  it('carries the time of this boot even when a wrong clock once wrote a later name (order comes from the creation generation)', () => {
    expect(nextArchiveName(t('2026-11-26T06:32:51Z'), ['20991231T000000Z', '20991231T000000Z_01'])).toBe('20261126T063251Z');
    expect(nextArchiveName(t('2000-01-01T00:00:00Z'), ['20261126T063251Z'])).toBe('20000101T000000Z');
  });
  it('never returns a taken name, whatever occupies it', () => {
    const taken = ['20261126T063251Z', '20261126T063251Z_01', '20261126T063251Z_02'];
    const r = nextArchiveName(t('2026-11-26T06:32:51Z'), taken);
    expect(taken).not.toContain(r);
    expect(r).toBe('20261126T063251Z_03');
  });
  it('ignores legacy and foreign names but never collides with them', () => {
    expect(nextArchiveName(now, ['2027-1-1_00:00:00', 'foo'])).toBe('20261126T063251Z');
  });
});

describe('archiveNameTime', () => {
  it("is parseArchiveName's time in ms, the same on every call for a name", () => {
    const names = ['20261126T063251Z', '20261126T063251Z_07', '2026-1-5_04:05:06', '20260230T000000Z', '20261126T246000Z', 'foo', '', '..', '20261126t063251z'];
    for (let i = 0; i < 200; i++) names.push(formatTimestamp(new Date(Date.UTC(2000, 0, 1) + i * 987_654_321)), `2027-${(i % 13) + 1}-${(i % 32) + 1}_${i % 25}:${String(i % 61).padStart(2, '0')}:00`);
    for (const round of [1, 2]) {
      for (const name of names) expect(archiveNameTime(name), `${name} (call ${round})`).toBe(parseArchiveName(name)?.time.getTime());
    }
    expect(names.filter((n) => archiveNameTime(n) === undefined).length).toBeGreaterThan(5);
  });
});
