import { describe, expect, it } from 'vitest';
import { staleDiffSnapshots, takeRepeated } from '../../../src/commands/diff.js';

describe('staleDiffSnapshots', () => {
  it('only .pantheros-diff-<pid> names of processes that are gone, never our own', () => {
    const names = ['.pantheros-diff-12', '.pantheros-diff-13', `.pantheros-diff-${process.pid}`, '.pantheros-diff-x', '.pantheros-new-root', '20261126T060000Z', '.pantheros-diff-12.bak'];
    expect(staleDiffSnapshots(names, (pid) => pid === 13)).toEqual(['.pantheros-diff-12']);
  });
});

describe('takeRepeated', () => {
  it.each([
    [['--prefix', '/a', 'X', '--prefix=/b', '--json'], ['X', '--json'], ['/a', '/b']],
    [['--json'], ['--json'], []],
  ])('%j', (argv, rest, values) => {
    expect(takeRepeated(argv, 'prefix')).toEqual({ rest, values });
  });
  it('a flag without its value is a usage error', () => {
    expect(() => takeRepeated(['--prefix'], 'prefix')).toThrow(/needs a value/);
    expect(() => takeRepeated(['--prefix', '--json'], 'prefix')).toThrow(/needs a value/);
  });
});
