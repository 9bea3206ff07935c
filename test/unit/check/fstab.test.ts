import { describe, expect, it } from 'vitest';
import { parseFstab } from '../../../src/check/fstab.js';
import { lintMountOptions } from '../../../src/check/lint-mount-options.js';

// The shape NixOS writes to /etc/fstab for a btrfs layout with subvolumes.
const FSTAB = `# This is a generated file.  Do not edit!
/dev/disk/by-uuid/1111 /persistent btrfs subvol=@persistent,noatime,compress=zstd 0 0
/dev/disk/by-uuid/1111 / btrfs subvol=@root,noatime,compress=zstd,ssd 0 0
/dev/disk/by-uuid/1111 /nix btrfs subvol=@nix,noatime,compress=zstd:1,nossd 0 0
/dev/disk/by-uuid/2222 /boot vfat umask=0077 0 2
/dev/disk/by-uuid/3333 /srv/with\\040space btrfs noatime 0 0
`;

describe('parseFstab', () => {
  it('keeps btrfs entries, groups them by device, parents first', () => {
    expect(parseFstab(FSTAB)).toEqual([
      {
        source: '/dev/disk/by-uuid/1111',
        mounts: [
          { mountPoint: '/', options: 'subvol=@root,noatime,compress=zstd,ssd' },
          { mountPoint: '/persistent', options: 'subvol=@persistent,noatime,compress=zstd' },
          { mountPoint: '/nix', options: 'subvol=@nix,noatime,compress=zstd:1,nossd' },
        ],
      },
      { source: '/dev/disk/by-uuid/3333', mounts: [{ mountPoint: '/srv/with space', options: 'noatime' }] },
    ]);
  });

  it('shows the per-mount differences mountinfo hides', () => {
    const [fs] = parseFstab(FSTAB);
    expect(lintMountOptions(fs!.mounts).map((f) => f.what)).toEqual([
      'compress is set differently on mounts of one filesystem: / compress=zstd, /persistent compress=zstd, /nix compress=zstd:1',
      'ssd is set differently on mounts of one filesystem: / ssd, /persistent (not set), /nix nossd',
    ]);
  });
});
