// Whether a mount lets access(W_OK) tell a read-only subvolume apart: the mount and its filesystem both read-write.
import { describe, expect, it } from 'vitest';
import { isWritableMount, mountedWithin, parseMountinfo, pathsInUse, unescapeOctal } from '../../../src/fs/mountinfo.js';

const line = (options: string, superOptions: string) => `36 25 0:32 / /top ${options} shared:1 - btrfs /dev/vda2 ${superOptions}`;

describe('isWritableMount', () => {
  it('is true only when neither the mount nor the superblock says ro', () => {
    const cases: [string, string, boolean][] = [
      ['rw,relatime', 'rw,ssd,space_cache=v2,subvolid=5,subvol=/', true],
      ['ro,relatime', 'rw,ssd,subvolid=5,subvol=/', false],
      // btrfs turned the whole filesystem read-only after an error: the mount still says rw.
      ['rw,relatime', 'ro,ssd,subvolid=5,subvol=/', false],
      ['ro', 'ro', false],
      // "ro" only as part of another word is not read-only.
      ['rw,nodiratime', 'rw,rescue=usebackuproot', true],
    ];
    for (const [options, superOptions, writable] of cases) {
      const [entry] = parseMountinfo(line(options, superOptions));
      expect(isWritableMount(entry!), `${options} - ${superOptions}`).toBe(writable);
    }
  });
});

describe('unescapeOctal', () => {
  it('undoes every three-digit octal escape, and returns a field without a backslash as it is', () => {
    expect(unescapeOctal('/mnt/my\\040disk\\011x\\012y\\134z')).toBe('/mnt/my disk\tx\ny\\z');
    expect(unescapeOctal('/@root')).toBe('/@root');
    // A backslash not followed by three octal digits stays, as before.
    expect(unescapeOctal('a\\09b\\')).toBe('a\\09b\\');
    const [entry] = parseMountinfo('36 25 0:32 /@root\\040x /mnt/a\\134b rw shared:1 - btrfs /dev/disk\\040one rw');
    expect([entry!.root, entry!.mountPoint, entry!.source]).toEqual(['/@root x', '/mnt/a\\b', '/dev/disk one']);
  });
});

describe('pathsInUse', () => {
  // The running system: / is @root, /var/lib/pg is @persistent/var/lib/pg, the top level at /mnt/top, a snapshot
  // mounted at /browse with a tmpfs on a directory inside it, a tmpfs on a directory inside an archive (through the
  // top level mount), and a tmpfs inside @root (/tmp) and proc (/proc) as in every system.
  const text = [
    '20 1 0:32 /@root / rw,relatime shared:1 - btrfs /dev/vda2 rw,subvolid=256,subvol=/@root',
    '21 20 0:5 / /proc rw shared:2 - proc proc rw',
    '22 20 0:33 / /tmp rw shared:3 - tmpfs tmpfs rw',
    '23 20 0:32 /@persistent/var/lib/pg /var/lib/pg rw shared:1 - btrfs /dev/vda2 rw,subvolid=260,subvol=/@persistent/var/lib/pg',
    '24 20 0:32 / /mnt/top rw shared:1 - btrfs /dev/vda2 rw,subvolid=5,subvol=/',
    '25 24 0:34 / /mnt/top/@btrfs_tmp/old_roots/20261120T000000Z/srv\\040x rw - tmpfs tmpfs rw',
    '26 20 0:32 /@snapshots/daily/@persistent.20261121T000000Z /browse ro shared:1 - btrfs /dev/vda2 ro,subvolid=270',
    '27 26 0:35 / /browse/data rw - tmpfs tmpfs rw',
    '28 20 0:40 / /other rw - btrfs /dev/vdb rw,subvolid=5,subvol=/',
    '29 28 0:36 / /other/inside rw - tmpfs tmpfs rw',
  ].join('\n');
  it('holds every mounted subvolume or directory of the filesystem, and every directory of it something is mounted on', () => {
    expect(pathsInUse(parseMountinfo(text), '0:32').sort()).toEqual(
      [
        '@root',
        '@root/proc',
        '@root/tmp',
        '@persistent/var/lib/pg',
        '@root/var/lib/pg',
        '@root/mnt/top',
        '@btrfs_tmp/old_roots/20261120T000000Z/srv x',
        '@snapshots/daily/@persistent.20261121T000000Z',
        '@root/browse',
        '@snapshots/daily/@persistent.20261121T000000Z/data',
        '@root/other',
      ].sort(),
    );
  });
  it('mountedWithin names what keeps a path in use: the path itself or a path inside it, never a sibling with a longer name', () => {
    const used = pathsInUse(parseMountinfo(text), '0:32');
    expect(mountedWithin(used, '@btrfs_tmp/old_roots/20261120T000000Z')).toBe('@btrfs_tmp/old_roots/20261120T000000Z/srv x');
    expect(mountedWithin(used, '@snapshots/daily/@persistent.20261121T000000Z')).toBe('@snapshots/daily/@persistent.20261121T000000Z');
    expect(mountedWithin(used, '@btrfs_tmp/old_roots/20261120T00000')).toBeUndefined();
    expect(mountedWithin(used, '@snapshots/daily/@persistent.20261122T000000Z')).toBeUndefined();
  });
});
