import { describe, expect, it } from 'vitest';
import { decideRetention as decide, mayAgeOut, type ArchiveFact, type RetentionPolicy } from '../../../src/retention/age-out.js';
import { formatTimestamp } from '../../../src/archive/naming.js';

const DAY = 86_400_000;
const now = new Date('2026-11-26T12:00:00Z');
const policy = { keepDays: 30, keepAtLeast: 5, minFreePercent: 10 };
const decideRetention = (archives: ArchiveFact[], p: Omit<RetentionPolicy, 'minFreePercent'> & { minFreePercent?: number }, at: Date, protect?: Map<string, string>) =>
  decide({ archives, policy: { minFreePercent: 10, ...p }, now: at, protect }).verdicts;
/** n archives, one a day going back from `now - startDays`, cgen growing with time. */
function archives(n: number, startDays = 0): ArchiveFact[] {
  return Array.from({ length: n }, (_, i) => ({
    name: formatTimestamp(new Date(now.getTime() - (startDays + n - 1 - i) * DAY)),
    cgen: 100 + i,
  }));
}
const deleted = (v: ReturnType<typeof decideRetention>) => v.filter((x) => x.action === 'delete').map((x) => x.name);

describe('decideRetention', () => {
  it('deletes only what is older than keepDays and beyond the newest keepAtLeast', () => {
    const a = archives(40); // ages 39..0 days
    const v = decideRetention(a, policy, now);
    expect(deleted(v)).toEqual(a.slice(0, 9).map((x) => x.name).reverse()); // ages 39..31
    expect(v.find((x) => x.name === a[9]!.name)?.reason).toMatch(/within keepDays/);
  });

  it('keeps the newest keepAtLeast after a long power-off, even though all are old', () => {
    const a = archives(8, 100);
    const v = decideRetention(a, policy, now);
    expect(deleted(v)).toEqual(a.slice(0, 3).map((x) => x.name).reverse());
    expect(v.filter((x) => x.action === 'keep').map((x) => x.reason)).toEqual(['newest archive', ...Array(4).fill('among the newest 5')]);
  });

  it('never deletes the newest, even with keepAtLeast 0 or 1', () => {
    const a = archives(3, 100);
    for (const keepAtLeast of [0, 1]) {
      const v = decideRetention(a, { keepDays: 0, keepAtLeast }, now);
      expect(v[0]).toMatchObject({ name: a[2]!.name, action: 'keep', reason: 'newest archive' });
      expect(deleted(v)).toHaveLength(2);
    }
  });

  it('orders by creation generation, not by the clock in the name', () => {
    // The archive with the highest generation carries an old (wrong-clock) name: it is still the newest.
    const a: ArchiveFact[] = [
      { name: '20200101T000000Z', cgen: 500 },
      { name: '20261001T000000Z', cgen: 100 },
      { name: '20261002T000000Z', cgen: 101 },
    ];
    const v = decideRetention(a, { keepDays: 30, keepAtLeast: 1 }, now);
    expect(v[0]).toMatchObject({ name: '20200101T000000Z', action: 'keep', reason: 'newest archive' });
    expect(deleted(v).sort()).toEqual(['20261001T000000Z', '20261002T000000Z']);
  });

  it('deletes nothing by age when the clock is behind the newest archive', () => {
    const a = archives(40);
    const r = decide({ archives: a, policy, now: new Date(now.getTime() - 10 * DAY) });
    expect(deleted(r.verdicts)).toEqual([]);
    expect(r.clockBehind).toBe(true);
    expect(r.verdicts.at(-1)?.reason).toMatch(/the clock is behind the newest archive/);
    expect(r.warnings.join()).toMatch(/is dated after the clock/);
  });

  // A review (2026-12-02): after boots named 2026-12-03…06, a snapshot another tool named 2019-1-1_00:00:00 (made a
  // minute ago: its creation time is the real one), then a boot with the clock behind (RTC reset: 2026-06-01). Every
  // real archive carries a name after that clock; the 2019 name was the only "known" age, and each of them counted as
  // at least as old as it: 2 708 days, all deleted — the previous boot's root among them.
  describe('a name with a creation time after the clock is no bound for the archives made before it', () => {
    const behind = new Date('2026-06-01T00:00:00Z');
    const real = new Date('2026-12-06T00:05:00Z');
    const p = { keepDays: 30, keepAtLeast: 2, minFreePercent: 10 };
    const boots = ['20261203T000000Z', '20261204T000000Z', '20261205T000000Z', '20261206T000000Z'];
    const made = (days: number) => new Date(real.getTime() - days * DAY);
    it('the forged name newest before this boot (R1)', () => {
      const a: ArchiveFact[] = [
        ...boots.map((name, i) => ({ name, cgen: 100 + i, createdAt: made(4 - i) })),
        { name: '2019-1-1_00:00:00', cgen: 200, createdAt: made(0) },
        { name: '20260601T000000Z', cgen: Number.MAX_SAFE_INTEGER },
      ];
      const r = decide({ archives: a, policy: p, now: behind, protect: new Map([['20260601T000000Z', 'archived this boot'], ['2019-1-1_00:00:00', 'newest archive before this boot']]) });
      expect(deleted(r.verdicts)).toEqual([]);
      // Bounded by the archive of this boot (named by this clock), not by the 2019 name.
      for (const name of boots) expect(r.verdicts.find((v) => v.name === name)?.reason).toMatch(/0 d at least.*made before 20260601T000000Z/);
    });
    it('the forged name older, kept read-only, and a boot archived with the clock behind newest (R1b)', () => {
      const a: ArchiveFact[] = [
        ...boots.slice(0, 3).map((name, i) => ({ name, cgen: 100 + i, createdAt: made(4 - i) })),
        { name: '2019-1-1_00:00:00', cgen: 150, createdAt: made(1.5) },
        { name: '20261206T000000Z', cgen: 160, createdAt: made(1) },
        { name: '20260601T000000Z', cgen: 170, createdAt: made(0) },
        { name: '20260602T000000Z', cgen: Number.MAX_SAFE_INTEGER },
      ];
      const r = decide({ archives: a, policy: p, now: new Date('2026-06-02T00:00:00Z'), protect: new Map([['20260602T000000Z', 'archived this boot'], ['2019-1-1_00:00:00', 'read-only']]) });
      expect(deleted(r.verdicts)).toEqual([]);
    });
    it('an archive made before the clock still bounds the ones before it (a clock that was ahead once)', () => {
      const a: ArchiveFact[] = [
        { name: '20990101T000000Z', cgen: 100, createdAt: new Date('2026-09-01T00:00:00Z') },
        { name: '20261001T000000Z', cgen: 110, createdAt: new Date('2026-09-30T00:00:00Z') },
        { name: '20261120T000000Z', cgen: 120, createdAt: new Date('2026-11-19T00:00:00Z') },
        { name: '20261125T000000Z', cgen: 130, createdAt: new Date('2026-11-24T00:00:00Z') },
      ];
      const r = decide({ archives: a, policy: { keepDays: 30, keepAtLeast: 2, minFreePercent: 10 }, now });
      expect(deleted(r.verdicts)).toEqual(['20261001T000000Z', '20990101T000000Z']);
      expect(r.verdicts.find((v) => v.name === '20990101T000000Z')).toMatchObject({ ageFrom: 'generation' });
    });
  });

  it('never deletes a protected archive or one whose name is not a timestamp', () => {
    const a = [...archives(10, 60), { name: 'hand-made', cgen: 1 }];
    const protect = new Map([[a[0]!.name, "source of this boot's root"]]);
    const v = decideRetention(a, policy, now, protect);
    expect(v.find((x) => x.name === a[0]!.name)).toMatchObject({ action: 'keep', reason: "source of this boot's root" });
    expect(v.find((x) => x.name === 'hand-made')).toMatchObject({ action: 'keep', reason: expect.stringMatching(/not a timestamp/) });
    expect(deleted(v)).toHaveLength(4);
  });

  it('ages legacy impermanence names too', () => {
    const v = decideRetention([{ name: '2026-1-2_03:04:05', cgen: 1 }, ...archives(5)], policy, now);
    expect(deleted(v)).toEqual(['2026-1-2_03:04:05']);
  });

  it('below the free-space floor deletes beyond keepAtLeast even within keepDays; above it only by age', () => {
    const a = archives(10);
    expect(deleted(decide({ archives: a, policy, now, freePercent: 9.9 }).verdicts)).toHaveLength(5);
    expect(deleted(decide({ archives: a, policy, now, freePercent: 10 }).verdicts)).toHaveLength(0);
  });
});

describe('mayAgeOut (whether a boot must read the subvolume facts)', () => {
  const names = (a: ArchiveFact[]) => a.map((x) => x.name);
  it('is false when nothing can go, and true whenever decideRetention could delete', () => {
    for (const [a, free] of [
      [archives(4), undefined],
      [archives(20), undefined],
      [archives(40), undefined],
      [archives(8, 100), undefined],
      [archives(10), 5],
      [[...archives(6), { name: '20991231T000000Z', cgen: 1 }], undefined],
      [[...archives(3), { name: '2020-1-2_03:04:05', cgen: 1 }, { name: 'hand', cgen: 2 }], undefined],
    ] as [ArchiveFact[], number | undefined][]) {
      const could = deleted(decide({ archives: [...a, { name: 'new', cgen: Number.MAX_SAFE_INTEGER }], policy, now, freePercent: free }).verdicts).length > 0;
      if (could) expect(mayAgeOut(names(a), policy, now, free)).toBe(true);
    }
    expect(mayAgeOut(names(archives(4)), policy, now, undefined)).toBe(false);
    expect(mayAgeOut(names(archives(20)), policy, now, undefined)).toBe(false);
    expect(mayAgeOut(names(archives(40)), policy, now, undefined)).toBe(true);
  });

  it('agrees with the verdict at the boundary of a fractional keepDays (a review: keepDays 30.099999999999998 and an archive 30.1 days old made the boot exit 4)', () => {
    const at = new Date('2026-11-26T06:00:00Z');
    const boundary = { name: '20261027T033600Z', cgen: 100 };
    const newer = [1, 2].map((d) => ({ name: formatTimestamp(new Date(at.getTime() - d * DAY)), cgen: 200 + d }));
    const p = { keepDays: 30.099999999999998, keepAtLeast: 2, minFreePercent: 0 };
    const gone = deleted(decide({ archives: [boundary, ...newer, { name: 'new', cgen: Number.MAX_SAFE_INTEGER }], policy: p, now: at }).verdicts);
    expect(gone).toEqual([boundary.name]);
    expect(mayAgeOut([boundary, ...newer].map((x) => x.name), p, at, undefined)).toBe(true);
    // Every keepDays with up to three decimals from 0 to 60, an archive at each minute around its boundary: the look
    // ahead is true whenever the verdict deletes by age.
    for (let k = 0; k <= 60_000; k += 7) {
      const keepDays = k / 1000;
      const q = { keepDays, keepAtLeast: 1, minFreePercent: 0 };
      for (const offset of [-60_000, 0, 60_000]) {
        const t = Math.floor((at.getTime() - keepDays * DAY + offset) / 1000) * 1000;
        const a = { name: formatTimestamp(new Date(t)), cgen: 1 };
        const could = deleted(decide({ archives: [a, { name: 'new', cgen: 2 }], policy: q, now: at }).verdicts).length > 0;
        if (could) expect(mayAgeOut([a.name], q, at, undefined), `keepDays ${keepDays}, ${a.name}`).toBe(true);
      }
    }
  });
});
