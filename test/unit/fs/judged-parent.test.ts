// atJudgedParent on a real directory chain longer than PATH_MAX: a lookup opens a chunk of components at a time
// through the descriptor before it, gives what the walk one component at a time gives, and falls back to that walk
// (with its refusal of a symlink on the way) whenever a chunk does not end at the directory judged for it.
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { atJudgedParent, atParent, SHORT_PATH_BYTES } from '../../../src/fs/open-dir.js';

const DEPTH = 3000;
const top = mkdtempSync(join(tmpdir(), 'pantheros-judged-'));
// A chain d/d/…/d (6 000 bytes, past PATH_MAX) with a file at its end; made by a process that walks into it.
execFileSync('python3', ['-c', 'import os,sys\nos.chdir(sys.argv[1])\nfor i in range(int(sys.argv[2])):\n    os.mkdir("d"); os.chdir("d")\nopen("f","w").close()', top, String(DEPTH)]);
// rm -r (node's rmSync recurses once per level and runs out of stack at this depth).
afterAll(() => execFileSync('rm', ['-rf', top]));

const chain = (n: number) => Buffer.from(Array.from({ length: n }, () => 'd').join('/'));
const rel = Buffer.concat([chain(DEPTH), Buffer.from('/f')]);
const lstatBy = (parent: Buffer, name: Buffer): Stats => lstatSync(Buffer.concat([parent, name]));
/** What the strict walk finds at every prefix (dev, ino), as the inventory's directoryStat remembers it. */
const strict = (prefix: Buffer) => atParent(top, prefix, lstatBy);

describe('atJudgedParent', () => {
  it('past PATH_MAX: the same lstat as the walk one component at a time, in a few chunks (each prefix at a chunk end asked once)', () => {
    expect(rel.length).toBeGreaterThan(4096);
    const asked: number[] = [];
    const st = atJudgedParent(top, rel, (p) => (asked.push(p.length), strict(p)), lstatBy);
    const want = atParent(top, rel, lstatBy);
    expect([st.dev, st.ino, st.isFile()]).toEqual([want.dev, want.ino, true]);
    // 6 000 bytes of directories in chunks under SHORT_PATH_BYTES: two chunks, not 3 000 opens.
    expect(asked).toHaveLength(Math.ceil((rel.length - 2) / (SHORT_PATH_BYTES - 64)));
    expect(asked.at(-1)).toBe(rel.length - 2);
  });

  it('a chunk that does not end at the directory judged for it (or one never judged): the walk one component at a time decides, with its errors', () => {
    const wrong = (p: Buffer) => ({ ...strict(p), ino: -1 });
    expect(atJudgedParent(top, rel, wrong, lstatBy).ino).toBe(atParent(top, rel, lstatBy).ino);
    expect(atJudgedParent(top, rel, () => undefined, lstatBy).ino).toBe(atParent(top, rel, lstatBy).ino);
    // A symlink swapped in on the way (it points to the very directory it replaced): the chunk would reach the
    // judged directory through it, but the walk it falls back to refuses it.
    const at = 1000;
    const moved = join(top, 'elsewhere');
    const component = Buffer.concat([Buffer.from(`${top}/`), chain(at)]);
    execFileSync('python3', ['-c', 'import os,sys\nos.chdir(sys.argv[1])\nfor i in range(int(sys.argv[2])-1): os.chdir("d")\nos.rename("d", sys.argv[3])\nos.symlink(sys.argv[3], "d")', top, String(at), moved]);
    try {
      expect(lstatSync(component).isSymbolicLink()).toBe(true);
      expect(() => atJudgedParent(top, rel, () => undefined, lstatBy)).toThrow(/is a symlink/);
    } finally {
      execFileSync('python3', ['-c', 'import os,sys\nos.chdir(sys.argv[1])\nfor i in range(int(sys.argv[2])-1): os.chdir("d")\nos.unlink("d")\nos.rename(sys.argv[3], "d")', top, String(at), moved]);
    }
    expect(atJudgedParent(top, rel, strict, lstatBy).isFile()).toBe(true);
  });

  it('a short path is handed over whole: the same bytes the components joined again would give', () => {
    const short = Buffer.from('d/d/d');
    const seen: string[] = [];
    atJudgedParent(top, short, () => undefined, (parent, name) => seen.push(`${parent.toString()}|${name.toString()}`));
    atJudgedParent(`${top}/`, Buffer.from('d//x/'), () => undefined, (parent, name) => seen.push(`${parent.toString()}|${name.toString()}`));
    expect(seen).toEqual([`${top}/d/d/|d`, `${top}/d//x/|`]);
  });
});
