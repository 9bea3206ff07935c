// The shared atomic writer on a real directory: exclusive temporary file, no symlink followed, nothing left on failure.
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../../src/fs/atomic-write.js';
import { PreconditionError } from '../../../src/errors.js';

const base = mkdtempSync(join(tmpdir(), 'atomic-write-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const d = join(base, `case-${n++}`);
  mkdirSync(d);
  return d;
};

describe('writeFileAtomic', () => {
  it('writes the file with the mode asked for (not narrowed by the umask) and leaves no temporary file', () => {
    const d = fresh();
    const old = process.umask(0o077);
    try {
      writeFileAtomic(join(d, 'm.prom'), 'a 1\n', { mode: 0o644 });
    } finally {
      process.umask(old);
    }
    expect(readFileSync(join(d, 'm.prom'), 'utf8')).toBe('a 1\n');
    expect(lstatSync(join(d, 'm.prom')).mode & 0o777).toBe(0o644);
    expect(readdirSync(d)).toEqual(['m.prom']);
    writeFileAtomic(join(d, 'm.prom'), Buffer.from('b 2\n'));
    expect(readFileSync(join(d, 'm.prom'), 'utf8')).toBe('b 2\n');
  });
  it('syncDirectory: false writes the same way (exclusive temporary, fsync, rename, symlink replaced not followed), only the directory is not fsynced', () => {
    const d = fresh();
    writeFileSync(join(d, 'victim'), 'precious\n');
    symlinkSync(join(d, 'victim'), join(d, 'copy.json'));
    writeFileAtomic(join(d, 'copy.json'), '{"a":1}\n', { syncDirectory: false });
    expect(readFileSync(join(d, 'victim'), 'utf8')).toBe('precious\n');
    expect(lstatSync(join(d, 'copy.json')).isSymbolicLink()).toBe(false);
    expect(readFileSync(join(d, 'copy.json'), 'utf8')).toBe('{"a":1}\n');
    writeFileAtomic(join(d, 'copy.json'), '{"a":2}\n', { syncDirectory: false });
    expect(readFileSync(join(d, 'copy.json'), 'utf8')).toBe('{"a":2}\n');
    expect(readdirSync(d).sort()).toEqual(['copy.json', 'victim']);
    expect(() => writeFileAtomic(join(d, 'missing', 'x'), 'x', { syncDirectory: false })).toThrow(PreconditionError);
  });
  it('replaces a symlink at the target instead of writing through it', () => {
    const d = fresh();
    writeFileSync(join(d, 'victim'), 'precious\n');
    symlinkSync(join(d, 'victim'), join(d, 'm.prom'));
    writeFileAtomic(join(d, 'm.prom'), 'metrics\n');
    expect(readFileSync(join(d, 'victim'), 'utf8')).toBe('precious\n');
    expect(lstatSync(join(d, 'm.prom')).isSymbolicLink()).toBe(false);
  });
  it('refuses a directory reached through a symlink, naming it; writes nothing there', () => {
    const d = fresh();
    mkdirSync(join(d, 'real'));
    symlinkSync(join(d, 'real'), join(d, 'link'));
    expect(() => writeFileAtomic(join(d, 'link/m.prom'), 'x')).toThrow(PreconditionError);
    expect(() => writeFileAtomic(join(d, 'link/m.prom'), 'x')).toThrow(new RegExp(`${d}/link is a symlink \\(→ ${d}/real\\); refusing to follow it`));
    expect(readdirSync(join(d, 'real'))).toEqual([]);
  });
  it('never replaces a device, FIFO or socket at the target (--report /dev/null replaced the system\'s /dev/null with a regular file): a clear error, the node unchanged, no temporary file', () => {
    const d = fresh();
    // A node like /dev/null (character device 1:3), in a scratch directory: the real one is never put at risk.
    execFileSync('mknod', ['-m', '666', join(d, 'null'), 'c', '1', '3']);
    execFileSync('mkfifo', [join(d, 'fifo')]);
    expect(() => writeFileAtomic(join(d, 'null'), 'x')).toThrow(new RegExp(`^cannot write ${d}/null: it is a character device, not a regular file: it is not replaced`));
    expect(() => writeFileAtomic(join(d, 'fifo'), 'x', { syncDirectory: false })).toThrow(/it is a FIFO, not a regular file/);
    // A symlink to one (as /dev/stdout → /proc/self/fd/1) is not replaced either; a symlink to a regular file is.
    symlinkSync(join(d, 'null'), join(d, 'stdout'));
    expect(() => writeFileAtomic(join(d, 'stdout'), 'x')).toThrow(/it is a symlink to a character device \(→ .*\/null\), not to a regular file: it is not replaced/);
    expect(lstatSync(join(d, 'stdout')).isSymbolicLink()).toBe(true);
    rmSync(join(d, 'stdout'));
    // Into /proc (as /dev/stdout → /proc/self/fd/1, whatever fd 1 is: here a regular file) and to a directory (as /dev/fd).
    for (const [link, target, said] of [
      ['stdout', '/proc/self/fd/1', /symlink into \/proc \(→ \/proc\/self\/fd\/1\)/],
      ['fd', '/proc/self/fd', /symlink into \/proc/],
      ['mtab', `${'../'.repeat(12)}proc/self/mounts`, /symlink into \/proc \(→ (\.\.\/)+proc\/self\/mounts\)/],
      ['dd', '//proc/self/fd/1', /symlink into \/proc/],
      ['dir', d, /symlink to a directory/],
    ] as const) {
      symlinkSync(target, join(d, link));
      expect(() => writeFileAtomic(join(d, link), 'x'), link).toThrow(said);
      expect(lstatSync(join(d, link)).isSymbolicLink()).toBe(true);
      rmSync(join(d, link));
    }
    // One that points nowhere (dangling, a loop, a name too long to follow) is replaced as before.
    for (const target of [join(d, 'nowhere'), join(d, 'loop'), 'x'.repeat(300)]) {
      symlinkSync(target, join(d, 'stale'));
      if (target.endsWith('loop')) symlinkSync(join(d, 'loop'), join(d, 'loop'));
      writeFileAtomic(join(d, 'stale'), 'fresh\n');
      expect(readFileSync(join(d, 'stale'), 'utf8')).toBe('fresh\n');
      rmSync(join(d, 'stale'));
      rmSync(join(d, 'loop'), { force: true });
    }
    expect(lstatSync(join(d, 'null')).isCharacterDevice()).toBe(true);
    expect(lstatSync(join(d, 'fifo')).isFIFO()).toBe(true);
    expect(readdirSync(d).sort()).toEqual(['fifo', 'null']);
  });

  it('a missing directory, or a directory at the target (rename fails after the temporary file was written): a clear error, and no temporary file left', () => {
    const d = fresh();
    expect(() => writeFileAtomic(join(d, 'nope/m.prom'), 'x')).toThrow(/nope does not exist/);
    mkdirSync(join(d, 'm.prom'));
    expect(() => writeFileAtomic(join(d, 'm.prom'), 'x')).toThrow(/is a directory/);
    expect(readdirSync(d)).toEqual(['m.prom']);
  });
});
