import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseCreationTime, parseGetDefault, parseQgroupShow } from '../../../src/list/btrfs-info.js';
import { formatAge, formatBytes, formatTable } from '../../../src/list/format.js';

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/operator/${name}`, import.meta.url), 'utf8');

describe('btrfs-progs output parsers (captured fixtures)', () => {
  it('reads "Creation time" from subvolume show, with its offset', () => {
    expect(parseCreationTime(fixture('subvolume-show.txt'))?.toISOString()).toBe('2026-11-26T06:43:27.000Z');
    expect(parseCreationTime('\tCreation time: \t\t2026-11-26 08:43:27 +0200\n')?.toISOString()).toBe('2026-11-26T06:43:27.000Z');
    expect(parseCreationTime('\tCreation time: \t\t-\n')).toBeUndefined();
  });

  it('reads level-0 qgroups from qgroup show --raw', () => {
    const sizes = parseQgroupShow(fixture('qgroup-show-raw.txt'));
    expect(sizes.get(266)).toEqual({ referenced: 4210688, exclusive: 16384 });
    expect(sizes.get(5)).toEqual({ referenced: 20480, exclusive: 20480 });
    expect(sizes.size).toBe(15);
    expect(parseQgroupShow('qgroupid rfer excl\n1/100 1 1\n').size).toBe(0);
  });

  it('reads the default subvolume', () => {
    expect(parseGetDefault(fixture('get-default-top.txt'))).toEqual({ id: 5, path: null });
    expect(parseGetDefault(fixture('get-default-root.txt'))).toEqual({ id: 271, path: '@root' });
    expect(parseGetDefault('garbage')).toBeUndefined();
  });
});

describe('format helpers', () => {
  it.each<[number, string]>([
    [5, '5 s'],
    [125, '2 min'],
    [3600 * 2 + 300, '2 h 5 min'],
    [86_400 * 3, '3 d'],
    [86_400 * 3 + 3600 * 4 + 59, '3 d 4 h'],
    [-10, 'in the future'],
  ])('formatAge(%i) = %s', (s, text) => expect(formatAge(s)).toBe(text));

  it('formats bytes and tables', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(16384)).toBe('16.0 KiB');
    expect(formatBytes(4210688)).toBe('4.0 MiB');
    expect(formatTable(['A', 'BB'], [['xyz', 'last column not padded']])).toBe('A    BB\nxyz  last column not padded');
  });
});
