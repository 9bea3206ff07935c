// A persistentPaths entry counts as persisted only where something is mounted on it; `check` warns about the others.
import { describe, expect, it } from 'vitest';
import { parseMountinfo } from '../../../src/fs/mountinfo.js';
import { persistedPaths } from '../../../src/diff/persisted.js';
import { persistedMountFindings, systemdMountUnit } from '../../../src/check/persisted-mounts.js';
import { validateConfig } from '../../../src/config/load-config.js';

// A running system: @root at /, @nix, @persistent, bind mounts for /var/log and /etc/ssh keys, a tmpfs on /var/cache,
// and /home bind-mounted from the root itself (still in @root).
const MOUNTINFO = parseMountinfo(
  [
    '22 1 0:25 /@root / rw,relatime shared:1 - btrfs /dev/sda2 rw,subvolid=256,subvol=/@root',
    '23 22 0:25 /@nix /nix rw,relatime shared:2 - btrfs /dev/sda2 rw,subvolid=257,subvol=/@nix',
    '24 22 0:25 /@persistent /persistent rw,relatime shared:3 - btrfs /dev/sda2 rw,subvolid=258,subvol=/@persistent',
    '25 22 0:25 /@persistent/var/log /var/log rw,relatime shared:3 - btrfs /dev/sda2 rw,subvolid=258,subvol=/@persistent',
    '26 22 0:25 /@persistent/var/lib /var/lib rw,relatime shared:3 - btrfs /dev/sda2 rw,subvolid=258,subvol=/@persistent',
    '27 22 0:40 / /var/cache rw - tmpfs tmpfs rw',
    '28 22 0:25 /@root/srv /home rw,relatime shared:1 - btrfs /dev/sda2 rw,subvolid=256,subvol=/@root',
  ].join('\n'),
);
const config = validateConfig({ persistentPaths: ['/var/log', '/var/lib/nixos', '/var/cache', '/etc/machine-id', '/home/', '/srv'] }, 'test');

describe('persistedPaths', () => {
  it('entries count only where something is mounted on them or above them; a bind mount of the root itself does not count', () => {
    expect(persistedPaths(MOUNTINFO, '0:25', '@root', config.persistentPaths)).toEqual({
      mounted: ['/nix', '/persistent', '/var/cache', '/var/lib', '/var/log'],
      unmounted: ['/etc/machine-id', '/home', '/srv'],
      rootMountPoint: '/',
    });
  });
  it('every entry is unmounted when the root subvolume is not mounted here', () => {
    expect(persistedPaths(MOUNTINFO, '0:99', '@root', ['/var/log'])).toEqual({ mounted: [], unmounted: ['/var/log'], rootMountPoint: null });
  });
  it('relative to where the root subvolume is mounted', () => {
    const m = parseMountinfo(['40 1 0:30 /@root /mnt/r rw - btrfs /dev/loop3 rw', '41 40 0:30 /@persistent/var/log /mnt/r/var/log rw - btrfs /dev/loop3 rw'].join('\n'));
    expect(persistedPaths(m, '0:30', '@root', ['/var/log', '/etc/ssh'])).toEqual({ mounted: ['/var/log'], unmounted: ['/etc/ssh'], rootMountPoint: '/mnt/r' });
  });
});

describe('persistedMountFindings (check)', () => {
  it('one warning per entry with nothing mounted, saying what happens and what to do', () => {
    const findings = persistedMountFindings(config, MOUNTINFO, '0:25');
    expect(findings.map((f) => [f.severity, f.subject])).toEqual([
      ['warning', '/etc/machine-id'],
      ['warning', '/home'],
      ['warning', '/srv'],
    ]);
    expect(findings[0]).toMatchObject({
      what: 'listed in persistentPaths, but nothing is mounted there',
      why: 'files written to /etc/machine-id land in @root, and the next boot erases them',
    });
    expect(findings[0]!.fix).toContain('systemctl status etc-machine\\x2did.mount');
    expect(findings[0]!.fix).toContain('pantheros-rollback diff --prefix /etc/machine-id');
  });
  it('nothing to say when the root is not mounted in this namespace (a rescue system)', () => {
    expect(persistedMountFindings(config, MOUNTINFO, '0:99')).toEqual([]);
  });
  it.each([
    ['/', '-.mount'],
    ['/var/log', 'var-log.mount'],
    ['/etc/machine-id', 'etc-machine\\x2did.mount'],
    ['/srv/.hidden dir', 'srv-\\x2ehidden\\x20dir.mount'],
  ])('mount unit of %s is %s (systemd-escape --path --suffix=mount)', (path, unit) => {
    expect(systemdMountUnit(path)).toBe(unit);
  });
});
