// The physical floor of the trivial boot under one runtime: its start-up, the swap's renames, one
// snapshot and one commit, through src/btrfs/native.ts (ioctls under Bun, btrfs-progs under Node) —
// and nothing else (no config, no observation, no report). The bench bundles it with
// scripts/build.mjs and runs it beside the tool.
// Usage: RUNTIME floor.mjs TOP one-commit|two-commits
//   one-commit   rename @root to an archive, snapshot the blank as @root — the snapshot's own commit
//                covers the rename — then syncFilesystem, which finds nothing left to commit
//   two-commits  snapshot the blank as a temporary new root (a commit), rename @root away and the new
//                root into place, then syncFilesystem (a second commit): the engine's order today
import { renameSync } from 'node:fs';
import { snapshotSubvolume, syncFilesystem } from '../src/btrfs/native.js';

const [top, mode = 'one-commit'] = process.argv.slice(2);
if (!top || !['one-commit', 'two-commits'].includes(mode)) throw new Error('usage: floor.mjs TOP one-commit|two-commits');
const archive = `${top}/@btrfs_tmp/old_roots/20261126T060000Z`;
if (mode === 'one-commit') {
  renameSync(`${top}/@root`, archive);
  snapshotSubvolume(`${top}/@root-blank`, `${top}/@root`);
} else {
  const fresh = `${top}/@btrfs_tmp/old_roots/.pantheros-new-root`;
  snapshotSubvolume(`${top}/@root-blank`, fresh);
  renameSync(`${top}/@root`, archive);
  renameSync(fresh, `${top}/@root`);
}
syncFilesystem(top);
