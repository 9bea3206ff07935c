import { describe, expect, it } from 'vitest';
import {
  decideSnapshotRetention,
  decodeSubvolume,
  encodeSubvolume,
  parseSnapshotName,
  snapshotName,
  type SnapshotFact,
} from '../../../src/retention/snapshots.js';
import type { SnapshotClass } from '../../../src/config/load-config.js';

const RETENTION: Record<SnapshotClass, number> = { hourly: 3, daily: 2, weekly: 0, monthly: 1, activation: 1 };
const at = (iso: string) => new Date(iso);

describe('encodeSubvolume / decodeSubvolume', () => {
  it.each([
    ['@persistent', '@persistent'],
    ['@home/alice', '@home~2falice'],
    ['a~b', 'a~7eb'],
    ['.hidden', '~2ehidden'],
    ['a.b', 'a.b'],
    ['with space', 'with~20space'],
    ['é', '~c3~a9'],
  ])('%s ↔ %s', (plain, encoded) => {
    expect(encodeSubvolume(plain)).toBe(encoded);
    expect(decodeSubvolume(encoded)).toBe(plain);
  });

  it.each(['', 'a/b', 'a~2F', 'a~7', '~zz', '.x', '~61', 'a b'])('rejects %j, which encodeSubvolume never writes', (text) => {
    expect(decodeSubvolume(text)).toBeUndefined();
  });
});

describe('parseSnapshotName', () => {
  it.each([
    ['@persistent.20261126T063251Z', { subvolume: '@persistent', time: at('2026-11-26T06:32:51Z'), seq: 0 }],
    ['@persistent.20261126T063251Z_03', { subvolume: '@persistent', time: at('2026-11-26T06:32:51Z'), seq: 3 }],
    ['@home~2falice.20260101T000000Z', { subvolume: '@home/alice', time: at('2026-01-01T00:00:00Z'), seq: 0 }],
    ['v1.2.20260101T000000Z', { subvolume: 'v1.2', time: at('2026-01-01T00:00:00Z'), seq: 0 }],
  ])('%s', (name, expected) => {
    expect(parseSnapshotName(name)).toEqual(expected);
  });

  it.each([
    '20261126T063251Z',
    '.20261126T063251Z',
    '@persistent',
    '@persistent.20261326T063251Z',
    '@persistent.20261126T063251Z_1',
    '@persistent.2026-11-26_06:32:51',
    '@persistent.20261126T063251Z.tmp',
    '.pantheros-diff-1.20261126T063251Z',
    'a/b.20261126T063251Z',
  ])('%s is not ours', (name) => {
    expect(parseSnapshotName(name)).toBeUndefined();
  });
});

describe('snapshotName', () => {
  const now = at('2026-11-26T06:32:51.400Z');
  it.each([
    ['empty directory', '@persistent', [], '@persistent.20261126T063251Z'],
    ['same second taken', '@persistent', ['@persistent.20261126T063251Z'], '@persistent.20261126T063251Z_01'],
    ['two taken', '@persistent', ['@persistent.20261126T063251Z', '@persistent.20261126T063251Z_01'], '@persistent.20261126T063251Z_02'],
    ['other subvolume at the same second does not count', '@persistent', ['@nix.20261126T063251Z'], '@persistent.20261126T063251Z'],
    ['a later name from a clock that was ahead: the time of now, not after it', '@persistent', ['@persistent.20270101T000000Z'], '@persistent.20261126T063251Z'],
    ['same second', '@persistent', ['@persistent.20261126T063251Z'], '@persistent.20261126T063251Z_01'],
    ['slash encoded', '@home/alice', [], '@home~2falice.20261126T063251Z'],
    ['foreign names ignored', '@persistent', ['notes.txt', '@persistent.tmp'], '@persistent.20261126T063251Z'],
  ])('%s', (_, subvolume, existing, expected) => {
    const name = snapshotName(subvolume, now, existing);
    expect(name).toBe(expected);
    expect(parseSnapshotName(name)?.subvolume).toBe(subvolume);
  });

  it('names taken in sequence carry their clock time and never collide', () => {
    const names: string[] = [];
    for (const iso of ['2026-11-26T06:00:00Z', '2026-11-26T06:00:00Z', '2026-11-26T06:00:00Z', '2026-11-26T07:00:00Z', '2026-11-26T05:00:00Z']) {
      names.push(snapshotName('@persistent', at(iso), names));
    }
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(['@persistent.20261126T060000Z', '@persistent.20261126T060000Z_01', '@persistent.20261126T060000Z_02', '@persistent.20261126T070000Z', '@persistent.20261126T050000Z']);
  });
});

// A small state builder: snapshots of one class and subvolume, cgen increasing with the hour.
function facts(cls: SnapshotClass, subvolume: string, hours: number[]): SnapshotFact[] {
  return hours.map((h) => {
    const name = `${encodeSubvolume(subvolume)}.202611${String(1 + Math.floor(h / 24)).padStart(2, '0')}T${String(h % 24).padStart(2, '0')}0000Z`;
    return { class: cls, subvolume, name, path: `@snapshots/${cls}/${name}`, cgen: 100 + h };
  });
}
const deleted = (v: ReturnType<typeof decideSnapshotRetention>) => v.filter((x) => x.action === 'delete').map((x) => x.name);
const kept = (v: ReturnType<typeof decideSnapshotRetention>) => v.filter((x) => x.action === 'keep').map((x) => x.name);

describe('decideSnapshotRetention', () => {
  it.each([
    { what: 'nothing', input: [] as SnapshotFact[], keep: [] as string[], del: [] as string[] },
    {
      what: 'hourly keeps the newest 3',
      input: facts('hourly', '@persistent', [1, 2, 3, 4, 5]),
      keep: ['@persistent.20261101T050000Z', '@persistent.20261101T040000Z', '@persistent.20261101T030000Z'],
      del: ['@persistent.20261101T020000Z', '@persistent.20261101T010000Z'],
    },
    {
      what: 'weekly with retention 0 still keeps the newest',
      input: facts('weekly', '@persistent', [1, 2]),
      keep: ['@persistent.20261101T020000Z'],
      del: ['@persistent.20261101T010000Z'],
    },
    {
      what: 'fewer than N: all kept',
      input: facts('daily', '@persistent', [7]),
      keep: ['@persistent.20261101T070000Z'],
      del: [],
    },
    {
      what: 'per subvolume: each keeps its own newest N',
      input: [...facts('monthly', '@persistent', [1, 2]), ...facts('monthly', '@home/alice', [3, 4])],
      keep: ['@home~2falice.20261101T040000Z', '@persistent.20261101T020000Z'],
      del: ['@home~2falice.20261101T030000Z', '@persistent.20261101T010000Z'],
    },
    {
      what: 'per class: a daily does not count against hourlies',
      input: [...facts('hourly', '@persistent', [1, 2, 3]), ...facts('daily', '@persistent', [10, 20, 30])],
      keep: ['@persistent.20261101T030000Z', '@persistent.20261101T020000Z', '@persistent.20261101T010000Z', '@persistent.20261102T060000Z', '@persistent.20261101T200000Z'],
      del: ['@persistent.20261101T100000Z'],
    },
    {
      what: 'a machine that was off for weeks keeps its history (counts, not windows)',
      input: facts('hourly', '@persistent', [0, 1, 500]),
      keep: ['@persistent.20261121T200000Z', '@persistent.20261101T010000Z', '@persistent.20261101T000000Z'],
      del: [],
    },
  ])('$what', ({ input, keep, del }) => {
    const v = decideSnapshotRetention(input, RETENTION);
    expect(v).toHaveLength(input.length);
    expect(kept(v)).toEqual(keep);
    expect(deleted(v)).toEqual(del);
  });

  it('orders by cgen first (a clock that went back does not decide), then by name', () => {
    const input: SnapshotFact[] = [
      { class: 'monthly', subvolume: 's', name: 's.20300101T000000Z', path: 'p1', cgen: 5 },
      { class: 'monthly', subvolume: 's', name: 's.20200101T000000Z', path: 'p2', cgen: 9 },
      { class: 'monthly', subvolume: 's', name: 's.20200101T000000Z_01', path: 'p3', cgen: 9 },
    ];
    const v = decideSnapshotRetention(input, RETENTION);
    expect(v.map((x) => [x.path, x.action])).toEqual([
      ['p3', 'keep'],
      ['p2', 'delete'],
      ['p1', 'delete'],
    ]);
  });

  it('gives a reason for every verdict', () => {
    const v = decideSnapshotRetention(facts('hourly', '@persistent', [1, 2, 3, 4]), RETENTION);
    expect(v.map((x) => x.reason)).toEqual([
      'newest hourly snapshot of @persistent',
      'among the newest 3 hourly snapshots of @persistent (#2)',
      'among the newest 3 hourly snapshots of @persistent (#3)',
      'beyond the newest 3 hourly snapshots of @persistent (#4 of 4)',
    ]);
    expect(decideSnapshotRetention(facts('weekly', 'x', [1]), RETENTION)[0]!.reason).toBe('newest weekly snapshot of x (kept although weekly retention is 0)');
  });
});
