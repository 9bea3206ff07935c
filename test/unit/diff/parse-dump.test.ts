import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createDumpParser, parseDump, unescapeDumpPath, type DiffEntry } from '../../../src/diff/parse-dump.js';

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/diff/${name}`, import.meta.url), 'utf8');
const byPath = (entries: DiffEntry[]) => new Map(entries.map((e) => [e.path, e]));

describe('unescapeDumpPath', () => {
  it.each([
    ['plain/path', 'plain/path'],
    ['dir\\ with\\ space', 'dir with space'],
    ['new\\ file\\nnl', 'new file\nnl'],
    ['tab\\tname', 'tab\tname'],
    ['back\\\\slash', 'back\\slash'],
    ['\\303\\274n\\303\\257', 'ünï'],
    ['bell\\a\\e\\v\\f\\r\\b', 'bell\x07\x1b\x0b\x0c\r\b'],
  ])('%s', (escaped, plain) => {
    expect(unescapeDumpPath(escaped)).toBe(plain);
  });
});

describe('parseDump on basic.dump (real capture)', () => {
  const result = parseDump(fixture('basic.dump'));
  const entries = byPath(result.entries);
  it.each([
    ['/etc/hosts', 'changed', ['content', 'times']],
    ['/etc/chmodme', 'changed', ['mode', 'times']],
    ['/etc/chownme', 'changed', ['owner', 'times']],
    ['/etc/xattrme', 'changed', ['xattr', 'times']],
    ['/etc/touchme', 'changed', ['times']],
    ['/etc/oldlink', 'changed', ['replaced']],
    ['/etc/deleteme', 'deleted', []],
    ['/etc/deldir', 'deleted', []],
    ['/etc/deldir/f', 'deleted', []],
    ['/etc/renameme', 'deleted', []],
    ['/etc/newfile', 'added', []],
    ['/etc/newlink', 'added', []],
    ['/etc/fifo', 'added', []],
    ['/etc/nod', 'added', []],
    ['/etc/hardlink', 'added', []],
    ['/new/dir/deep/file', 'added', []],
    ['/dir with space/new file\nnl', 'added', []],
    ['/etc/tab\tname', 'added', []],
    ['/etc/back\\slash', 'added', []],
    ['/etc/ünï', 'added', []],
    ['/etc', 'changed', ['times']],
    ['/', 'changed', ['times']],
  ])('%s is %s %j', (path, status, changes) => {
    expect(entries.get(path)).toMatchObject({ status, changes });
  });

  it('resolves every temporary o<ino>-<gen>-<n> name', () => {
    expect(result.entries.filter((e) => /\/o\d+-\d+-\d+(\/|$)/.test(e.path))).toEqual([]);
  });

  it('knows the type of what it created and the targets of links', () => {
    expect(entries.get('/etc/newlink')).toMatchObject({ type: 'symlink', target: '/target' });
    expect(entries.get('/etc/oldlink')).toMatchObject({ type: 'symlink', target: 'other' });
    expect(entries.get('/etc/hardlink')).toMatchObject({ type: 'hardlink', target: '/etc/hosts' });
    expect(entries.get('/etc/fifo')?.type).toBe('fifo');
    expect(entries.get('/etc/nod')?.type).toBe('device');
    expect(entries.get('/new')?.type).toBe('dir');
    expect(entries.get('/etc/deldir')?.type).toBe('dir');
    expect(entries.get('/etc/xattrme')?.xattrs).toEqual(['user.test']);
  });

  it('reports a moved file as added at the new path, from the old one', () => {
    expect(entries.get('/etc/renamed')).toEqual({ path: '/etc/renamed', status: 'added', changes: [], from: '/etc/renameme' });
  });

  it('reports nothing else, and skips nothing', () => {
    expect(result.skippedLines).toBe(0);
    expect(result.entries).toHaveLength(31);
    expect(result.entries.map((e) => e.path)).toEqual([...result.entries.map((e) => e.path)].sort());
  });
});

describe('parseDump on renames.dump (real capture)', () => {
  const result = parseDump(fixture('renames.dump'));
  const entries = byPath(result.entries);
  it('a renamed directory: the old path deleted, the new one added from it, new files inside added', () => {
    expect(entries.get('/srv/olddir')).toMatchObject({ status: 'deleted' });
    expect(entries.get('/srv/newdir')).toMatchObject({ status: 'added', from: '/srv/olddir' });
    expect(entries.get('/srv/newdir/sub/c')).toMatchObject({ status: 'added', type: 'file' });
  });
  it.each([
    ['/etc/moved', 'deleted', []],
    ['/var-moved', 'added', []],
    ['/etc/trunc', 'changed', ['content', 'times']],
    ['/etc/dir2file', 'changed', ['replaced']],
    ['/etc/reflinked', 'added', []],
    ['/etc/acl', 'changed', ['xattr', 'times']],
  ])('%s is %s %j', (path, status, changes) => {
    expect(entries.get(path)).toMatchObject({ status, changes });
  });
  it('xattr names with spaces, and removed ones', () => {
    expect(entries.get('/etc/xa')?.xattrs).toEqual(['user.gone', 'user.sp ace']);
  });
  it('skips the raw xattr bytes that spilled onto lines of their own, even one that looks like a command', () => {
    expect(result.skippedLines).toBe(2);
    expect(entries.has('/b2')).toBe(false);
    expect(result.entries.every((e) => e.path.startsWith('/'))).toBe(true);
  });
});

describe('a dump an extended attribute wrote lines into (a review as nobody, 2026-12-01)', () => {
  const head = 'snapshot        ./r                         uuid=x transid=1 parent_uuid=y parent_transid=1';
  it('a value with a newline and a second snapshot line: marked untrusted, the later paths not moved out of view', () => {
    const r = parseDump(
      [
        head,
        'set_xattr       ./r/tmp/a                   name=user.x data=v',
        'snapshot ./forged uuid=0',
        'mkfile ./forged/etc/FORGED',
        'unlink ./forged/boot-loader len=60',
        'mkfile          ./r/etc/cron-backdoor',
      ].join('\n'),
    );
    expect(r.untrusted).toMatch(/names 2 subvolumes/);
    // The first snapshot line stays the prefix: the real entry after the forged lines is still seen.
    expect(r.entries.map((e) => e.path)).toContain('/etc/cron-backdoor');
    expect(r.entries.map((e) => e.path)).not.toContain('/etc/FORGED');
  });
  it('any xattr command marks the dump untrusted (its name or value may have written any line)', () => {
    expect(parseDump([head, 'remove_xattr    ./r/etc/a                   name=user.y'].join('\n')).untrusted).toMatch(/1 extended attribute command/);
    expect(parseDump([head, 'mkfile          ./r/etc/b'].join('\n')).untrusted).toBeNull();
  });
});

describe('stream semantics (hand-written streams in the same format)', () => {
  const run = (...lines: string[]) => parseDump(['snapshot        ./r                         uuid=x transid=1 parent_uuid=y parent_transid=1', ...lines].join('\n')).entries;
  it.each([
    { what: 'nothing before the subvol line counts', lines: [], expected: [] },
    {
      what: 'a file moved to a temporary name and back is only changed',
      lines: ['rename ./r/a dest=./r/o9-1-0', 'chmod ./r/o9-1-0 mode=600', 'rename ./r/o9-1-0 dest=./r/a'],
      expected: [{ path: '/a', status: 'changed', changes: ['mode'] }],
    },
    {
      what: 'a path overwritten by a rename is replaced',
      lines: ['mkfile ./r/o5-2-0', 'rename ./r/o5-2-0 dest=./r/a'],
      expected: [{ path: '/a', status: 'added', type: 'file', changes: [] }],
    },
    {
      what: 'children follow a renamed new directory',
      lines: ['mkdir ./r/o5-2-0', 'mkfile ./r/o5-2-0/f', 'rename ./r/o5-2-0 dest=./r/d'],
      expected: [
        { path: '/d', status: 'added', type: 'dir', changes: [] },
        { path: '/d/f', status: 'added', type: 'file', changes: [] },
      ],
    },
    { what: 'paths outside the sent subvolume are ignored', lines: ['unlink ./other/x', 'garbage'], expected: [] },
    {
      what: 'version 2 stream commands (fallocate, fileattr, enable_verity)',
      lines: ['fallocate ./r/a mode=0 offset=0 len=4096', 'fileattr ./r/b fileattr=0x10', 'enable_verity ./r/b algorithm=1 block_size=4096'],
      expected: [
        { path: '/a', status: 'changed', changes: ['content'] },
        { path: '/b', status: 'changed', changes: ['flags'] },
      ],
    },
  ])('$what', ({ lines, expected }) => {
    expect(run(...lines)).toEqual(expected);
  });

  it('the incremental parser gives the same result line by line', () => {
    const parser = createDumpParser();
    for (const l of fixture('basic.dump').split('\n')) parser.line(l);
    expect(parser.finish()).toEqual(parseDump(fixture('basic.dump')));
  });
});
