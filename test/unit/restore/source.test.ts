import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/errors.js';
import { checkDestination, copyArgv, mountHolding, openDestination } from '../../../src/restore/copy.js';
import { countTree, openSource, splitRestorePath } from '../../../src/restore/source.js';
import { parseMountinfo } from '../../../src/fs/mountinfo.js';

// A small archived root on the real filesystem: /etc/foo.conf, /etc/sub/, /etc/evil -> /etc (outside), /etc/link -> foo.conf.
const root = mkdtempSync(join(tmpdir(), 'restore-unit-'));
mkdirSync(join(root, 'etc/sub'), { recursive: true });
writeFileSync(join(root, 'etc/foo.conf'), 'hello\n');
writeFileSync(join(root, 'etc/sub/a'), 'abc');
symlinkSync('/etc', join(root, 'etc/evil'));
symlinkSync('foo.conf', join(root, 'etc/link'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('splitRestorePath', () => {
  it.each<[string, string[] | RegExp]>([
    ['/etc/foo.conf', ['etc', 'foo.conf']],
    ['//etc///foo.conf/', ['etc', 'foo.conf']],
    ['etc/foo.conf', /must be absolute/],
    ['/etc/../root/.ssh', /contains \.\./],
    ['/etc/./foo', /contains a \. component/],
    ['/', /whole root/],
  ])('%s', (path, expected) => {
    if (expected instanceof RegExp) expect(() => splitRestorePath(path)).toThrow(expected);
    else expect(splitRestorePath(path)).toEqual(expected);
  });
});

describe('openSource', () => {
  const resolve = (p: string) => {
    const opened = openSource(root, '', splitRestorePath(p), 'archive X');
    opened.close();
    return { name: opened.name, kind: opened.kind };
  };
  it('resolves files and directories inside the archive', () => {
    expect(resolve('/etc/foo.conf')).toEqual({ name: 'foo.conf', kind: 'file' });
    expect(resolve('/etc/sub').kind).toBe('directory');
  });
  it('holds the directory: the item is read through /proc/self/fd/N/NAME', () => {
    const opened = openSource(root, '', ['etc', 'sub', 'a'], 'archive X');
    try {
      expect(opened.abs).toBe(`/proc/self/fd/${opened.dirFd}/a`);
      expect(readFileSync(opened.abs, 'utf8')).toBe('abc');
    } finally {
      opened.close();
    }
  });
  it('copies a symlink named by PATH as a symlink', () => {
    expect(resolve('/etc/evil').kind).toBe('symlink');
  });
  it('refuses a symlink on the way, even one that points to a real directory outside', () => {
    expect(() => resolve('/etc/evil/passwd')).toThrow(/\/etc\/evil in archive X is a symlink \(→ \/etc\); refusing to follow it/);
    expect(() => resolve('/etc/evil/passwd')).toThrow(UsageError);
  });
  it('refuses a file used as a directory, and says what is missing', () => {
    expect(() => resolve('/etc/foo.conf/x')).toThrow(/is a file, not a directory/);
    expect(() => resolve('/etc/nope')).toThrow(/\/etc\/nope does not exist in archive X/);
  });
  it('counts a tree without following symlinks', () => {
    expect(countTree(join(root, 'etc'))).toEqual({ files: 2, directories: 2, symlinks: 2, other: 0, bytes: 9 });
  });
});

describe('destination checks', () => {
  it('refuses to replace without --force; with --force anything is replaced as a whole', () => {
    const dest = join(root, 'etc/foo.conf');
    expect(() => checkDestination(dest, { exists: true, kind: 'file' }, false)).toThrow(/refusing to overwrite it without --force/);
    expect(() => checkDestination(dest, { exists: true, kind: 'file' }, true)).not.toThrow();
    expect(() => checkDestination(dest, { exists: true, kind: 'directory' }, true)).not.toThrow();
    expect(() => checkDestination(dest, { exists: false }, false)).not.toThrow();
  });
  it('opens DEST\'s directory without following a symlink, and says what is at DEST', () => {
    const opened = openDestination(join(root, 'etc/foo.conf'));
    opened.close();
    expect(opened.state).toEqual({ exists: true, kind: 'file' });
    expect(() => openDestination(join(root, 'etc/evil/x'))).toThrow(/\/etc\/evil is a symlink \(→ \/etc\); refusing to follow it on the way to .*give the real path/);
    expect(() => openDestination(join(root, 'missing/x'))).toThrow(/does not exist/);
  });
  it('builds a cp argv that writes only through the held directories and never into a directory', () => {
    expect(copyArgv('a', 'b')).toEqual(['cp', '-a', '--reflink=auto', '--no-target-directory', '--', '/proc/self/fd/3/a', '/proc/self/fd/4/b']);
  });
  it('finds the mount holding a path (longest mount point)', () => {
    const mounts = parseMountinfo('1 0 0:30 /@root / rw - btrfs /dev/vda2 rw\n2 1 0:31 / /nix rw - btrfs /dev/vdb rw\n3 1 0:32 / /nixos rw - ext4 /dev/vdc rw\n');
    expect(mountHolding(mounts, '/nix/store/x')?.majorMinor).toBe('0:31');
    expect(mountHolding(mounts, '/nixos-x/y')?.majorMinor).toBe('0:30');
    expect(mountHolding(mounts, '/nixos')?.majorMinor).toBe('0:32');
  });
});
