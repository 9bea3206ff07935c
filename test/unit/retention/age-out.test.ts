import { describe, expect, it } from 'vitest';
import { decideRetention, type ArchiveFact } from '../../../src/retention/age-out.js';
import { formatTimestamp } from '../../../src/archive/naming.js';

const DAY = 86_400_000;
const now = new Date('2026-11-26T12:00:00Z');
const policy = { keepDays: 30, keepAtLeast: 5 };
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
    const v = decideRetention(a, policy, new Date(now.getTime() - 10 * DAY));
    expect(deleted(v)).toEqual([]);
    expect(v.at(-1)?.reason).toMatch(/clock .* is earlier than the newest archive/);
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
});
