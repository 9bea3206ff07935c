import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fsTreeReader, parseGetfattr } from '../../../src/diff/walk-fs.js';

describe('parseGetfattr', () => {
  it('groups NAME=VALUE lines by file and undoes the \\ooo and \\\\ escaping of paths', () => {
    const text = ['# file: /r/etc/a', 'user.k=0x76', 'security.selinux=0x00', '', '# file: /r/caf\\351 x\\\\y\\012z', 'user.empty', ''].join('\n');
    const out = parseGetfattr(text);
    expect([...out.keys()]).toEqual(['/r/etc/a', Buffer.from('/r/caf\xe9 x\\y\nz', 'latin1').toString('utf8')]);
    expect(Object.fromEntries(out.get('/r/etc/a')!)).toEqual({ 'user.k': '0x76', 'security.selinux': '0x00' });
    expect([...out.values()][1]!.get('user.empty')).toBe('');
  });
});

describe('fsTreeReader', () => {
  it('reads types, symlink targets without following them, and names that are not UTF-8 through their bytes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'walk-fs-'));
    try {
      mkdirSync(join(dir, 'd'));
      writeFileSync(join(dir, 'd/f'), 'abc');
      symlinkSync('/nonexistent', join(dir, 'ln'));
      const bad = Buffer.concat([Buffer.from(`${dir}/`), Buffer.from([0x78, 0xff])]);
      mkdirSync(bad);
      writeFileSync(Buffer.concat([bad, Buffer.from('/in')]), 'x');
      const t = fsTreeReader(dir);
      expect(t.list('').sort()).toEqual(['d', 'ln', 'x\uFFFD']);
      expect(t.stat('d')?.type).toBe('dir');
      expect(t.stat('d/f')).toMatchObject({ type: 'file', size: 3n, nlink: 1 });
      expect(t.stat('ln')?.type).toBe('symlink');
      expect(t.readlink('ln')).toBe('/nonexistent');
      expect(t.stat('x\uFFFD')?.type).toBe('dir');
      expect(t.list('x\uFFFD')).toEqual(['in']);
      expect(t.stat('x\uFFFD/in')?.size).toBe(1n);
      expect(t.stat('missing')).toBeUndefined();
      expect(t.stat('d/f/below-a-file')).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
