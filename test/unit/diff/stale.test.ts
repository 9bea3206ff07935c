import { describe, expect, it } from 'vitest';
import { staleDiffSnapshots } from '../../../src/diff/temporary-snapshot.js';
import { parseFlags } from '../../../src/cli/args.js';

describe('staleDiffSnapshots', () => {
  it('only .pantheros-diff-<pid> names of processes that are gone, never our own', () => {
    const names = ['.pantheros-diff-12', '.pantheros-diff-13', `.pantheros-diff-${process.pid}`, '.pantheros-diff-x', '.pantheros-new-root', '20261126T060000Z', '.pantheros-diff-12.bak'];
    expect(staleDiffSnapshots(names, (pid) => pid === 13)).toEqual(['.pantheros-diff-12']);
  });
});

describe('diff --prefix (a repeated flag)', () => {
  const spec = { string: ['method'], boolean: ['summary'], multiple: ['prefix'] };
  it.each([
    [['--prefix', '/a', 'X', '--prefix=/b', '--json'], ['X'], ['/a', '/b']],
    [['--json'], [], []],
  ])('%j', (argv, positional, values) => {
    const args = parseFlags(argv, spec, 'diff');
    expect([args._, args.prefix, args.json]).toEqual([positional, values, true]);
  });
  it('a flag without its value is a usage error', () => {
    expect(() => parseFlags(['--prefix'], spec, 'diff')).toThrow(/needs a value/);
    expect(() => parseFlags(['--prefix', '--json'], spec, 'diff')).toThrow(/needs a value/);
  });
});
