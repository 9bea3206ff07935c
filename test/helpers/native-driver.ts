// A command-line front for src/btrfs/native.ts, bundled like the product and run under Node and Bun
// by the real-btrfs tests: argv[2] is a JSON list of operations, stdout one JSON answer.
// Paths are given and returned as {"hex": "…"} (any bytes) or plain strings.
import { writeSync } from 'node:fs';
import { closeSync, renameSync, symlinkSync } from 'node:fs';
import { openDirectoryBelowRoot } from '../../src/fs/open-dir.js';
import { btrfsBackend, BtrfsError, createSubvolume, defaultSubvolumeId, deleteSubvolumeIn, deleteSubvolumes, listSubvolumes, readDirectory, snapshotSubvolume, syncFilesystem, type BtrfsPath } from '../../src/btrfs/native.js';
import { listDirectory } from '../../src/boot/observe.js';

type WirePath = string | { hex: string };
export type DriverOp =
  | { op: 'snapshot'; source: WirePath; dest: WirePath; readOnly?: boolean }
  | { op: 'create'; dest: WirePath }
  | { op: 'delete'; paths: WirePath[]; commit: boolean }
  // deleteSubvolumeIn on `parent` held open (as the executor holds it); `swap`: after the open and before the delete,
  // the parent's path is renamed away and a symlink to `swap` put in its place (a user's race, replayed in order).
  | { op: 'deleteIn'; parent: string; name: WirePath; top: string; swap?: string }
  | { op: 'sync'; path: WirePath }
  | { op: 'list'; path: WirePath }
  | { op: 'default'; path: WirePath }
  | { op: 'listDirectory'; path: string };

const toPath = (p: WirePath): BtrfsPath => (typeof p === 'string' ? p : Buffer.from(p.hex, 'hex'));
const wireError = (e: BtrfsError) => ({ name: e.name, code: e.code, operation: e.operation, path: e.path, message: e.message });

function run(op: DriverOp): unknown {
  try {
    switch (op.op) {
      case 'snapshot':
        snapshotSubvolume(toPath(op.source), toPath(op.dest), { readOnly: op.readOnly === true });
        return { ok: true };
      case 'create':
        createSubvolume(toPath(op.dest));
        return { ok: true };
      case 'delete': {
        const out = deleteSubvolumes(op.paths.map(toPath), { commit: op.commit });
        return {
          ok: true,
          committed: out.committed,
          commitError: out.commitError ? wireError(out.commitError) : null,
          results: out.results.map((r) => (r.deleted ? { deleted: true } : { deleted: false, error: wireError(r.error) })),
        };
      }
      case 'deleteIn': {
        const fd = openDirectoryBelowRoot(op.parent);
        if (op.swap !== undefined) {
          renameSync(op.parent, `${op.parent}.away`);
          symlinkSync(op.swap, op.parent);
        }
        try {
          const name = toPath(op.name);
          deleteSubvolumeIn(fd, typeof name === 'string' ? Buffer.from(name) : name, op.top, `${op.parent}/${name.toString()}`);
        } finally {
          closeSync(fd);
        }
        return { ok: true };
      }
      case 'sync':
        syncFilesystem(toPath(op.path));
        return { ok: true };
      case 'list': {
        const list = listSubvolumes(toPath(op.path));
        return { ok: true, list: list?.map((s) => ({ ...s, path: { hex: s.path.toString('hex') } })) ?? null };
      }
      case 'default':
        return { ok: true, id: defaultSubvolumeId(toPath(op.path)) };
      case 'listDirectory': {
        // What observe reads (listDirectory), and whether the kinds came without a lookup of each entry.
        const direct = readDirectory(op.path);
        const entries = listDirectory(op.path).map((e) => ({ name: e.name, validName: e.validName, kind: e.kind }));
        return { ok: true, direct: direct !== null && direct.every((e) => e.kind !== null), entries };
      }
    }
  } catch (error) {
    if (error instanceof BtrfsError) return { ok: false, error: wireError(error) };
    return { ok: false, internal: String((error as Error).stack ?? error) };
  }
}

const ops = JSON.parse(process.argv[2] ?? '[]') as DriverOp[];
const results = ops.map(run);
writeSync(1, `${JSON.stringify({ backend: btrfsBackend(), runtime: process.versions.bun ? 'bun' : 'node', results })}\n`);
