import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../../src/config/load-config.js';
import { decideArchiveVerdicts, decideSnapshotVerdicts } from '../../../src/list/verdicts.js';
import type { StoredItem } from '../../../src/list/stored.js';

const config = validateConfig({ oldRoots: { keepDays: 30, keepAtLeast: 3 }, snapshotRetention: { hourly: 2, daily: 1, weekly: 1, monthly: 1 } });
const now = new Date('2026-12-31T00:00:00Z');
const archives = ['20261001T000000Z', '20261101T000000Z', '20261110T000000Z', '20261201T000000Z', '20261230T000000Z'].map((name, i) => ({ name, cgen: 10 + i }));
const table = (m: Map<string, { action: string; reason: string }>) => [...m].map(([k, v]) => `${k} ${v.action}: ${v.reason}`);

describe('decideArchiveVerdicts (what the next boot would do now)', () => {
  it('counts the current root, archived first, among the newest', () => {
    expect(table(decideArchiveVerdicts(archives, config, { now, rootExists: true, nextBootArchive: undefined }))).toEqual([
      '20261230T000000Z keep: among the newest 3',
      '20261201T000000Z keep: among the newest 3',
      '20261110T000000Z delete: older than 30 d (51 d) and beyond the newest 3',
      '20261101T000000Z delete: older than 30 d (60 d) and beyond the newest 3',
      '20261001T000000Z delete: older than 30 d (91 d) and beyond the newest 3',
    ]);
  });

  it('without a root to archive, the newest existing archive is the newest', () => {
    const v = decideArchiveVerdicts(archives, config, { now, rootExists: false, nextBootArchive: undefined });
    expect(v.get('20261230T000000Z')?.reason).toBe('newest archive');
    expect(v.get('20261110T000000Z')?.action).toBe('keep');
  });

  it("protects the next-boot request's archive, as that boot will", () => {
    const v = decideArchiveVerdicts(archives, config, { now, rootExists: true, nextBootArchive: '20261001T000000Z' });
    expect(v.get('20261001T000000Z')).toEqual({ action: 'keep', reason: "source of the next boot's root (next-boot request)" });
  });
});

describe('decideSnapshotVerdicts (what prune would do)', () => {
  const snap = (cls: string, name: string, cgen: number): StoredItem & { cgen: number } => ({ kind: 'snapshot', name: `${cls}/${name}`, class: cls, path: `@snapshots/${cls}/${name}`, cgen });
  it('uses the configured counts per class and subvolume, and explains what prune leaves alone', () => {
    const v = decideSnapshotVerdicts(
      [
        snap('hourly', '@persistent.20261230T010000Z', 1),
        snap('hourly', '@persistent.20261230T020000Z', 2),
        snap('hourly', '@persistent.20261230T030000Z', 3),
        snap('daily', '@home~2falice.20261230T000000Z', 4),
        snap('yearly', '@persistent.20261230T000000Z', 5),
        snap('daily', 'hand-made', 6),
      ],
      config,
    );
    expect(v.get('@snapshots/hourly/@persistent.20261230T030000Z')?.reason).toBe('newest hourly snapshot of @persistent');
    expect(v.get('@snapshots/hourly/@persistent.20261230T020000Z')?.action).toBe('keep');
    expect(v.get('@snapshots/hourly/@persistent.20261230T010000Z')).toMatchObject({ action: 'delete' });
    expect(v.get('@snapshots/daily/@home~2falice.20261230T000000Z')?.reason).toBe('newest daily snapshot of @home/alice');
    expect(v.get('@snapshots/yearly/@persistent.20261230T000000Z')?.reason).toMatch(/"yearly" is not a snapshot class .*prune leaves it alone/);
    expect(v.get('@snapshots/daily/hand-made')?.reason).toMatch(/not made by `snapshot`, prune leaves it alone/);
  });
});
