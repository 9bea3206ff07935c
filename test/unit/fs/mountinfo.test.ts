// Whether a mount lets access(W_OK) tell a read-only subvolume apart: the mount and its filesystem both read-write.
import { describe, expect, it } from 'vitest';
import { isWritableMount, parseMountinfo, unescapeOctal } from '../../../src/fs/mountinfo.js';

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
