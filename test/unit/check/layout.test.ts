import { describe, expect, it } from 'vitest';
import { checkLayout, type LayoutFacts } from '../../../src/check/layout.js';
import { validateConfig } from '../../../src/config/load-config.js';

const config = validateConfig({});
/** A healthy layout; each case changes one thing. */
function facts(change: (f: LayoutFacts) => void = () => {}): LayoutFacts {
  const f: LayoutFacts = {
    kinds: { '@root': 'subvolume', '@root-blank': 'subvolume', '@btrfs_tmp': 'directory', '@btrfs_tmp/old_roots': 'directory', '@snapshots': 'subvolume', '@persistent': 'subvolume' },
    blankReadOnly: true,
    blankEntries: 0,
    defaultSubvolume: { id: 5, path: null },
    archiveEntries: [{ name: '20261126T063251Z', kind: 'subvolume' }],
    request: null,
    classes: [{ name: 'daily', kind: 'directory' }],
  };
  change(f);
  return f;
}
const summary = (f: LayoutFacts) => checkLayout(f, config).map((x) => `${x.severity} ${x.subject}: ${x.what}`);

describe('checkLayout', () => {
  it.each<[string, (f: LayoutFacts) => void, string[]]>([
    ['a healthy layout', () => {}, []],
    ['blank missing', (f) => (f.kinds['@root-blank'] = 'missing'), ['error @root-blank: the blank does not exist']],
    ['blank is a directory', (f) => (f.kinds['@root-blank'] = 'directory'), ['error @root-blank: the blank is a directory, not a subvolume']],
    ['blank writable', (f) => (f.blankReadOnly = false), ['error @root-blank: the blank is writable']],
    ['blank not empty', (f) => (f.blankEntries = 3), ['warning @root-blank: the blank is not empty (3 entries)']],
    ['root is the default subvolume', (f) => (f.defaultSubvolume = { id: 256, path: '@root' }), ['error @root: the root is the default subvolume']],
    ['an archive is the default subvolume', (f) => (f.defaultSubvolume = { id: 300, path: '@btrfs_tmp/old_roots/x' }), ['error @btrfs_tmp/old_roots/x: an archive or snapshot is the default subvolume']],
    ['archive directory missing', (f) => (f.kinds['@btrfs_tmp/old_roots'] = 'missing'), ['warning @btrfs_tmp/old_roots: the archive directory does not exist yet']],
    ['archive directory behind a symlink', (f) => ((f.kinds['@btrfs_tmp'] = 'symlink'), (f.kinds['@btrfs_tmp/old_roots'] = 'missing')), ['error @btrfs_tmp: @btrfs_tmp is a symlink, not a directory']],
    ['snapshots is a file', (f) => (f.kinds['@snapshots'] = 'file'), ['error @snapshots: @snapshots is a file, not a directory']],
    ['a class directory is a symlink', (f) => f.classes.push({ name: 'weekly', kind: 'symlink' }), ['error @snapshots/weekly: a symlink where a snapshot class directory belongs']],
    ['root is a directory', (f) => (f.kinds['@root'] = 'directory'), ['error @root: the root is a directory, not a subvolume']],
    ['a snapshotted subvolume is missing', (f) => (f.kinds['@persistent'] = 'missing'), ['warning @persistent: a subvolume to snapshot (snapshotSubvolumes) does not exist']],
    ['stray entries in the archive directory', (f) => f.archiveEntries.push({ name: 'notes', kind: 'directory' }, { name: '.pantheros-new-root', kind: 'subvolume' }), ['warning @btrfs_tmp/old_roots/notes: a directory in the archive directory', 'warning @btrfs_tmp/old_roots/.pantheros-new-root: an unfinished new root of an interrupted boot']],
    ['an invalid pending request', (f) => (f.request = { target: '../etc' }), ['warning @btrfs_tmp/old_roots/.pantheros-next-boot: the pending next-boot request "../etc" is invalid']],
  ])('%s', (_, change, expected) => {
    expect(summary(facts(change))).toEqual(expected);
  });
});
