import { describe, expect, it } from 'vitest';
import type { SubvolumeInfo } from '../../../src/btrfs/list.js';
import { collectSnapshotFacts } from '../../../src/retention/snapshot-facts.js';

let id = 256;
const sv = (path: string, cgen = id): SubvolumeInfo => ({ id: id++, gen: cgen, cgen, parent: 5, topLevel: 5, parentUuid: null, uuid: null, path });

describe('collectSnapshotFacts', () => {
  const listing = [
    sv('@persistent'),
    sv('@snapshots'),
    sv('@snapshots/hourly/@persistent.20261126T060000Z', 10),
    sv('@snapshots/daily/@home~2falice.20261126T060000Z', 11),
    sv('@snapshots/hourly/manual-backup'),
    sv('@snapshots/hourly/@persistent.20261126T070000Z'),
    sv('@snapshots/hourly/@persistent.20261126T070000Z/nested'),
    sv('@snapshots/hourly/deeper/@persistent.20261126T080000Z'),
    sv('@snapshots/yearly/@persistent.20261126T060000Z'),
    sv('@snapshots-old/hourly/@persistent.20261126T060000Z'),
    sv('@snapshots/weekly/@persistent.20261126T090000Z'),
  ];
  it('takes only our names directly inside a known class directory, with their cgen', () => {
    const r = collectSnapshotFacts(listing, '@snapshots', undefined, (p) => !p.includes('weekly'));
    expect(r.facts).toEqual([
      { class: 'hourly', subvolume: '@persistent', name: '@persistent.20261126T060000Z', path: '@snapshots/hourly/@persistent.20261126T060000Z', cgen: 10 },
      { class: 'daily', subvolume: '@home/alice', name: '@home~2falice.20261126T060000Z', path: '@snapshots/daily/@home~2falice.20261126T060000Z', cgen: 11 },
    ]);
    expect(r.ignored.map((i) => [i.path, i.reason.split(':')[0]])).toEqual([
      ['@snapshots/hourly/manual-backup', 'name is not <subvolume>.<YYYYMMDDTHHMMSSZ>[_NN]'],
      ['@snapshots/hourly/@persistent.20261126T070000Z', 'holds nested subvolumes'],
      ['@snapshots/weekly/@persistent.20261126T090000Z', 'writable'],
    ]);
  });
  it('restricted to one class', () => {
    expect(collectSnapshotFacts(listing, '@snapshots', ['daily']).facts.map((f) => f.class)).toEqual(['daily']);
  });
});
