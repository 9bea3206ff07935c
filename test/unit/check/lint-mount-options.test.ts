import { describe, expect, it } from 'vitest';
import { lintMountOptions, parseMountOptionsFlag, settingOf, type MountOptions } from '../../../src/check/lint-mount-options.js';
import { btrfsMountGroups, takeMountOptions } from '../../../src/commands/check.js';
import { parseMountinfo } from '../../../src/fs/mountinfo.js';
import { readFileSync } from 'node:fs';

const one = (options: string): MountOptions[] => [{ mountPoint: '/', options }];
const summary = (mounts: MountOptions[], snapshots = true) => lintMountOptions(mounts, { snapshots }).map((f) => `${f.severity}: ${f.what}`);

describe('lintMountOptions on one mount', () => {
  it.each<[string, string, string[]]>([
    ['a clean SSD setup', 'rw,noatime,compress=zstd:3,ssd,discard=async,space_cache=v2', []],
    ['generic options only', 'ro,noatime,nodev,nosuid,noexec,subvol=/@root,subvolid=256', []],
    ['ssd + nossd', 'noatime,ssd,nossd', ['error: ssd and nossd are both set']],
    ['ssd_spread + nossd', 'nossd,ssd_spread', ['error: ssd_spread and nossd are both set']],
    ['nodatacow + compress', 'nodatacow,compress=zstd', ['error: nodatacow and compress=zstd are both set']],
    ['nodatacow + compress-force (bare means zlib)', 'compress-force,nodatacow', ['error: nodatacow and compress-force=zlib are both set']],
    ['nodatasum + compress', 'compress=lzo,nodatasum', ['error: nodatasum and compress=lzo are both set']],
    ['compress=no does not clash with nodatacow', 'compress=no,nodatacow', ['warning: nodatacow for the whole filesystem']],
    ['commit over 300', 'commit=301', ['warning: commit=301 is over 300 s']],
    ['commit of exactly 300', 'commit=300', []],
    ['commit that is not a number', 'commit=soon', ['error: commit=soon is not a number of seconds']],
    ['autodefrag with snapshots', 'autodefrag', ['warning: autodefrag with snapshots']],
    ['autodefrag turned off again', 'autodefrag,noautodefrag', ['warning: autodefrag and noautodefrag are both set']],
    ['nodatacow alone', 'nodatacow', ['warning: nodatacow for the whole filesystem']],
    ['nodatasum alone', 'nodatasum', ['warning: nodatasum for the whole filesystem']],
    ['synchronous discard (bare)', 'discard', ['warning: discard (synchronous)']],
    ['discard=async', 'discard=async', []],
    ['space_cache=v1', 'space_cache=v1', ['warning: space_cache=v1']],
    ['nobarrier', 'nobarrier', ['warning: nobarrier']],
    ['two compress values', 'compress=zlib,compress=zstd', ['warning: compress=zlib and compress=zstd are both set']],
  ])('%s', (_, options, expected) => {
    expect(summary(one(options))).toEqual(expected);
  });

  it('autodefrag is fine without snapshots', () => {
    expect(summary(one('autodefrag'), false)).toEqual([]);
  });

  it('says why and what to do for every finding', () => {
    for (const f of lintMountOptions(one('ssd,nossd,nodatacow,compress,commit=900,autodefrag,discard,space_cache=v1,nobarrier'))) {
      expect(f.subject).toBe('/');
      expect(f.why.length).toBeGreaterThan(20);
      expect(f.fix.length).toBeGreaterThan(5);
    }
  });
});

describe('lintMountOptions across the mounts of one filesystem', () => {
  it.each<[string, MountOptions[], string[]]>([
    [
      'the same options everywhere',
      [
        { mountPoint: '/', options: 'noatime,compress=zstd,ssd' },
        { mountPoint: '/nix', options: 'noatime,compress=zstd,ssd' },
      ],
      [],
    ],
    [
      'only generic options differ',
      [
        { mountPoint: '/', options: 'noatime,compress=zstd' },
        { mountPoint: '/nix', options: 'relatime,ro,nodev,compress=zstd' },
      ],
      [],
    ],
    [
      'a later mount without the option inherits the first one: no finding',
      [
        { mountPoint: '/', options: 'compress=zstd' },
        { mountPoint: '/nix', options: 'noatime' },
      ],
      [],
    ],
    [
      'compress differs',
      [
        { mountPoint: '/', options: 'compress=zstd' },
        { mountPoint: '/nix', options: 'compress=lzo' },
      ],
      ['warning: compress is set differently on mounts of one filesystem: / compress=zstd, /nix compress=lzo'],
    ],
    [
      'a later mount sets what the first does not (ignored by the kernel)',
      [
        { mountPoint: '/', options: 'noatime' },
        { mountPoint: '/var/lib/postgres', options: 'noatime,nodatacow' },
      ],
      ['warning: nodatacow for the whole filesystem', 'warning: datacow is set differently on mounts of one filesystem: / (not set), /var/lib/postgres nodatacow'],
    ],
    [
      'ssd on one mount, nossd on another',
      [
        { mountPoint: '/', options: 'ssd' },
        { mountPoint: '/data', options: 'nossd' },
      ],
      ['warning: ssd is set differently on mounts of one filesystem: / ssd, /data nossd'],
    ],
  ])('%s', (_, mounts, expected) => {
    expect(summary(mounts)).toEqual(expected);
  });

  it('names the first mount in the reason, since its options win', () => {
    const [f] = lintMountOptions([
      { mountPoint: '/', options: 'commit=30' },
      { mountPoint: '/home', options: 'commit=120' },
    ]);
    expect(f?.why).toMatch(/first mount \(\/\) decides \(commit=30\)/);
    expect(f?.subject).toBeNull();
  });
});

describe('settingOf', () => {
  it.each<[string, string | undefined]>([
    ['compress', 'compress=zlib'],
    ['compress=zstd:3', 'compress=zstd:3'],
    ['discard', 'discard=sync'],
    ['nossd', 'nossd'],
    ['noatime', undefined],
    ['subvol=/@root', undefined],
    ['subvolid=256', undefined],
  ])('%s → %s', (option, value) => {
    expect(settingOf(option)?.value).toBe(value);
  });
});

describe('parseMountOptionsFlag', () => {
  it('splits MOUNTPOINT=options at the first = after the path', () => {
    expect(parseMountOptionsFlag('/=noatime,compress=zstd', 0)).toEqual({ mountPoint: '/', options: 'noatime,compress=zstd' });
    expect(parseMountOptionsFlag('/nix=noatime', 1)).toEqual({ mountPoint: '/nix', options: 'noatime' });
    expect(parseMountOptionsFlag('noatime,ssd', 2)).toEqual({ mountPoint: 'mount #3', options: 'noatime,ssd' });
  });
});

describe('btrfsMountGroups', () => {
  const mounts = parseMountinfo(readFileSync(new URL('../../fixtures/operator/mountinfo-two-fs.txt', import.meta.url), 'utf8'));
  it('groups btrfs mounts by filesystem in mount order, leaving out browse mounts and other filesystems', () => {
    const groups = btrfsMountGroups(mounts);
    expect(groups.map((g) => [g.majorMinor, g.source, g.mounts.map((m) => m.mountPoint)])).toEqual([
      ['0:30', '/dev/vda2', ['/', '/nix', '/persistent']],
      ['0:31', '/dev/vdb', ['/data']],
    ]);
    expect(btrfsMountGroups(mounts, '0:31').map((g) => g.source)).toEqual(['/dev/vdb']);
  });

  it('lints the effective options the kernel shows', () => {
    const [vda, vdb] = btrfsMountGroups(mounts);
    expect(summary(vda!.mounts)).toEqual([]);
    expect(summary(vdb!.mounts)).toEqual(['warning: commit=600 is over 300 s', 'warning: autodefrag with snapshots']);
  });
});

describe('takeMountOptions', () => {
  it('collects every --mount-options (both spellings) and leaves the rest to parseFlags', () => {
    expect(takeMountOptions(['--json', '--mount-options', '/=ssd', '--mount-options=/nix=nossd', '--device', '/dev/x'])).toEqual({
      values: ['/=ssd', '/nix=nossd'],
      rest: ['--json', '--device', '/dev/x'],
    });
    expect(() => takeMountOptions(['--mount-options'])).toThrow(/needs a value/);
  });
});
