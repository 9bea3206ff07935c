import { describe, expect, it } from 'vitest';
import { statSync } from 'node:fs';
import { validateConfig } from '../../../src/config/load-config.js';
import { PreconditionError, UsageError } from '../../../src/errors.js';
import { parseMountinfo } from '../../../src/fs/mountinfo.js';
import { findHolders, makeDev, parseMaps } from '../../../src/state/holders.js';
import { mountsToTakeDown } from '../../../src/state/online.js';
import { mountUnitName, parseDependents, stoppable } from '../../../src/state/units.js';

const MOUNTINFO = [
  '29 1 0:27 /@root / rw,noatime shared:1 - btrfs /dev/vda2 rw,compress=zstd:1,subvolid=256,subvol=/@root',
  '40 29 0:27 /@persistent /persistent rw,nosuid,nodev,noatime shared:2 - btrfs /dev/vda2 rw,subvolid=257,subvol=/@persistent',
  '41 29 0:27 /@persistent/var/lib/postgresql /var/lib/postgresql rw,nosuid,nodev,noatime shared:3 - btrfs /dev/vda2 rw,subvolid=260,subvol=/@persistent/var/lib/postgresql',
  '42 41 0:27 /@persistent/var/lib/postgresql/16 /var/lib/postgresql/16 rw,noatime shared:4 - btrfs /dev/vda2 rw,subvolid=261,subvol=/@persistent/var/lib/postgresql/16',
  '43 29 0:27 /@persistent/var/lib/postgresql/conf /etc/postgresql rw,noatime shared:5 - btrfs /dev/vda2 rw,subvolid=260,subvol=/@persistent/var/lib/postgresql',
  '44 41 0:50 / /var/lib/postgresql/run rw shared:6 - tmpfs tmpfs rw',
].join('\n');

describe('mountsToTakeDown', () => {
  const config = validateConfig({ persistentTree: [{ path: '/persistent', subvolume: '@persistent', neededForBoot: true }] });
  const mounts = parseMountinfo(MOUNTINFO);
  it('takes every mount of the subvolume and below its mount points; a bind of a directory inside comes back as a bind', () => {
    const down = mountsToTakeDown(['@persistent/var/lib/postgresql'], '0:27', mounts.filter((m) => m.fsType === 'btrfs'), config, '/run/top', () => false);
    expect(down.map((r) => [r.entry.mountPoint, r.how])).toEqual([
      ['/var/lib/postgresql', { subvol: '@persistent/var/lib/postgresql' }],
      // A nested subvolume mounted by itself comes back by its id (it is moved over, the same one): by path the kernel
      // follows a symlink a user put on the way (a review, 2026-12-01).
      ['/var/lib/postgresql/16', { subvolid: '261', subvol: '@persistent/var/lib/postgresql/16' }],
      ['/etc/postgresql', { bind: '/var/lib/postgresql/conf' }],
    ]);
  });
  it('a bind of a directory inside with no mount of the subvolume taken down comes back from the top level (before: as subvol= of the directory)', () => {
    const only = parseMountinfo('43 29 0:27 /@persistent/var/lib/postgresql/conf /etc/postgresql rw,noatime shared:5 - btrfs /dev/vda2 rw,subvolid=260,subvol=/@persistent/var/lib/postgresql');
    expect(mountsToTakeDown(['@persistent/var/lib/postgresql'], '0:27', only, config, '/run/top', () => false).map((r) => r.how)).toEqual([{ bind: '/run/top/@persistent/var/lib/postgresql/conf' }]);
  });
  // A bind that would not come back as it is: refused before anything changes (a review, 2026-12-01).
  it.each<[string, string, (dir: string) => boolean, RegExp]>([
    ['a deleted directory', '43 29 0:27 /@persistent/var/lib/postgresql/gone//deleted /etc/pg rw - btrfs /dev/vda2 rw,subvolid=260,subvol=/@persistent/var/lib/postgresql', () => false, /a bind of a directory that was deleted \(@persistent\/var\/lib\/postgresql\/gone\)/],
    ['flags a bind made again loses', '43 29 0:27 /@persistent/var/lib/postgresql/conf /etc/pg ro,nosuid - btrfs /dev/vda2 rw,subvolid=260,subvol=/@persistent/var/lib/postgresql', () => false, /a bind with ro,nosuid, which a bind made again does not keep/],
    ['a directory a user may change on the way', '43 29 0:27 /@persistent/var/lib/postgresql/u/src /etc/pg rw - btrfs /dev/vda2 rw,subvolid=260,subvol=/@persistent/var/lib/postgresql', (d) => d.endsWith('/u'), /reached through @persistent\/var\/lib\/postgresql\/u, which someone other than root may change/],
  ])('refuses a bind of %s, naming why and the next boot', (_, line, changeable, message) => {
    expect(() => mountsToTakeDown(['@persistent/var/lib/postgresql'], '0:27', parseMountinfo(line), config, '/run/top', changeable)).toThrow(message);
    expect(() => mountsToTakeDown(['@persistent/var/lib/postgresql'], '0:27', parseMountinfo(line), config, '/run/top', changeable)).toThrow(/state-rollback --next-boot/);
  });
  it('refuses another filesystem mounted inside (its contents would be lost) and what the running system needs', () => {
    expect(() => mountsToTakeDown(['@persistent/var/lib/postgresql'], '0:27', mounts, config, '/run/top', () => false)).toThrow(PreconditionError);
    expect(() => mountsToTakeDown(['@persistent'], '0:27', mounts, config, '/run/top', () => false)).toThrow(UsageError);
    expect(() => mountsToTakeDown(['@root'], '0:27', mounts, config, '/run/top', () => false)).toThrow(/which the running system needs/);
  });
});

describe('holders and units', () => {
  it('device numbers: makedev and /proc/PID/maps', () => {
    expect(makeDev(0, 0x2f)).toBe(0x2f);
    expect(makeDev(8, 1)).toBe(0x801);
    expect(makeDev(259, 300)).toBe(0x2c + 0x10300 + 0x100000);
    expect(parseMaps('7f00-7f01 r--p 00000000 00:2f 1234 /var/lib/x/lib.so\n7f01-7f02 rw-p 00000000 00:00 0 \n')).toEqual([{ dev: 0x2f, inode: 1234, path: '/var/lib/x/lib.so' }]);
  });
  it('finds this test process by its working directory, and nothing for an unused device', () => {
    const dev = statSync(process.cwd()).dev;
    expect(findHolders(new Set([dev]), { exclude: [] }).some((h) => h.pid === process.pid && h.what.startsWith('cwd → '))).toBe(true);
    expect(findHolders(new Set([-1]), { exclude: [] })).toEqual([]);
  });
  it('mount unit names as systemd-escape --path --suffix=mount writes them; dependents; only services and sockets are stopped', () => {
    expect(mountUnitName('/var/lib/postgresql')).toBe('var-lib-postgresql.mount');
    expect(mountUnitName('/srv/my-db')).toBe('srv-my\\x2ddb.mount');
    expect(mountUnitName('/')).toBe('-.mount');
    expect(parseDependents('RequiredBy=postgresql.service local-fs.target\nBoundBy=\nWantedBy=backup.timer\n')).toEqual(['postgresql.service', 'local-fs.target', 'backup.timer']);
    expect(['postgresql.service', 'local-fs.target', 'backup.timer', 'x.socket', 'var-lib.mount'].filter(stoppable)).toEqual(['postgresql.service', 'x.socket']);
  });
});
