import { describe, expect, it } from 'vitest';
import { groupEntries } from '../../../src/commands/diff.js';
import type { DiffEntry } from '../../../src/diff/parse-dump.js';

const e = (path: string, status: DiffEntry['status']): DiffEntry => ({ path, status, changes: [] });

describe('groupEntries (--summary)', () => {
  it.each<[string, DiffEntry[], ReturnType<typeof groupEntries>]>([
    ['nothing', [], []],
    [
      'counts per top-level directory, the root directory on its own, in path order',
      [e('/', 'changed'), e('/tmp/a/b', 'added'), e('/etc', 'changed'), e('/etc/x', 'deleted'), e('/etc/y/z', 'added'), e('/tmp', 'added')],
      [
        { path: '/', added: 0, changed: 1, deleted: 0 },
        { path: '/etc', added: 1, changed: 1, deleted: 1 },
        { path: '/tmp', added: 2, changed: 0, deleted: 0 },
      ],
    ],
  ])('%s', (_name, entries, expected) => {
    expect(groupEntries(entries)).toEqual(expected);
  });
});
