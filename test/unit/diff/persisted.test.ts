import { describe, expect, it } from 'vitest';
import { parseMountinfo } from '../../../src/fs/mountinfo.js';
import { isUnder, mountedPersistedPaths, normalisePrefix } from '../../../src/diff/persisted.js';

// A running impermanence system: @root at /, @nix at /nix, bind mounts from @persistent, another filesystem at /boot.
const MOUNTINFO = [
  '22 1 0:25 /@root / rw,relatime shared:1 - btrfs /dev/sda2 rw,ssd,subvolid=256,subvol=/@root',
  '23 22 0:25 /@nix /nix rw,relatime shared:2 - btrfs /dev/sda2 rw,ssd,subvolid=257,subvol=/@nix',
  '24 22 0:25 /@persistent /persistent rw,relatime shared:3 - btrfs /dev/sda2 rw,ssd,subvolid=258,subvol=/@persistent',
  '25 22 0:25 /@persistent/var/log /var/log rw,relatime shared:3 - btrfs /dev/sda2 rw,ssd,subvolid=258,subvol=/@persistent',
  '26 22 0:25 /@persistent/etc/ssh\\040keys /etc/ssh\\040keys rw,relatime shared:3 - btrfs /dev/sda2 rw,ssd,subvolid=258,subvol=/@persistent',
  '27 22 8:1 / /boot rw,relatime shared:4 - vfat /dev/sda1 rw',
  '28 22 0:25 /@root/home /home rw,relatime shared:1 - btrfs /dev/sda2 rw,ssd,subvolid=256,subvol=/@root',
].join('\n');

describe('mountedPersistedPaths', () => {
  it('mount points of other subvolumes of the same filesystem, not the root itself, not other filesystems', () => {
    expect(mountedPersistedPaths(parseMountinfo(MOUNTINFO), '0:25', '@root')).toEqual(['/etc/ssh keys', '/nix', '/persistent', '/var/log']);
  });
  it('relative to where the root subvolume is mounted', () => {
    const text = ['40 1 0:30 /@root /mnt/r rw - btrfs /dev/loop3 rw', '41 40 0:30 /@persistent/srv /mnt/r/srv rw - btrfs /dev/loop3 rw', '42 1 0:30 /@persistent /elsewhere rw - btrfs /dev/loop3 rw'].join('\n');
    expect(mountedPersistedPaths(parseMountinfo(text), '0:30', '@root')).toEqual(['/srv']);
  });
  it('nothing when the root subvolume is not mounted here', () => {
    expect(mountedPersistedPaths(parseMountinfo(MOUNTINFO), '0:99', '@root')).toEqual([]);
  });
});

describe('isUnder / normalisePrefix', () => {
  it.each([
    ['/var/log', ['/var/log'], true],
    ['/var/log/x', ['/var/log'], true],
    ['/var/logs', ['/var/log'], false],
    ['/etc', ['/'], true],
    ['/etc', [], false],
  ])('%s under %j: %s', (path, prefixes, expected) => {
    expect(isUnder(path, prefixes)).toBe(expected);
  });
  it.each([
    ['/etc/', '/etc'],
    ['/', '/'],
    ['//etc/./ssh', '/etc/ssh'],
    ['etc', undefined],
    ['/etc/../root', undefined],
  ])('%s → %s', (raw, normalised) => {
    expect(normalisePrefix(raw)).toBe(normalised);
  });
});
