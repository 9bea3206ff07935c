// Real btrfs, the btrfs facade (src/btrfs/native.ts) bundled like the product, under Node (process
// path), Bun (ioctl path, asserted taken) and Bun forced onto the process path: every operation and
// its errors give the same outcome and the same error on every path. Durability is read from the
// disk itself: the superblock generation on the loop device (O_DIRECT) moves only when a transaction
// is committed.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createImage, sh, type Image } from '../helpers/btrfs-image.js';
import { requirePrerequisites } from '../helpers/prereq.js';
import { codes, hexPath, NATIVE_VARIANTS, nativeDriver, removeNativeDriver, runNative, type Answer, type NativeVariant } from '../helpers/native-run.js';

beforeAll(() => {
  requirePrerequisites();
  nativeDriver();
});
afterAll(() => removeNativeDriver());

/** The generation of the last committed transaction, read from the primary superblock on the device. */
function superGeneration(loop: string): bigint {
  const sb = execFileSync('dd', [`if=${loop}`, 'bs=4096', 'skip=16', 'count=1', 'iflag=direct', 'status=none'], { maxBuffer: 1 << 20 });
  expect(sb.subarray(64, 72).toString('latin1')).toBe('_BHRfS_M');
  return sb.readBigUInt64LE(72);
}

/** A fresh image with the server layout whose transactions commit only when asked (commit=300). */
function freshImage(): Image {
  const image = createImage();
  sh('mount', ['-o', 'remount,commit=300', image.top]);
  sh('btrfs', ['filesystem', 'sync', image.top]);
  return image;
}

/** Extra mounts a test made of its image (unmounted before the image is destroyed). */
const extraMounts = new Map<Image, string[]>();

function withImage(fn: (image: Image) => void): void {
  const image = freshImage();
  let ok = false;
  try {
    fn(image);
    ok = true;
  } finally {
    for (const m of extraMounts.get(image) ?? []) spawnSync('umount', [m]);
    extraMounts.delete(image);
    image.destroy(!ok && process.env.KEEP_FAILED === '1');
  }
}

/** A second, read-only mount of the image's top level (a read-only mount of a writable filesystem). */
function readOnlyMount(image: Image): string {
  const dir = join(image.dir, 'ro');
  mkdirSync(dir, { recursive: true });
  sh('mount', ['-o', 'ro,subvolid=5', image.loop, dir]);
  extraMounts.set(image, [...(extraMounts.get(image) ?? []), dir]);
  return dir;
}

const errorOf = (a: Answer | undefined) => (a && !a.ok ? a.error : undefined);
const names = (dir: string | Buffer) => readdirSync(dir, { encoding: 'buffer' }).map((b) => b.toString('hex')).sort();
const isSubvolume = (p: string | Buffer) => {
  const st = lstatSync(p);
  return st.isDirectory() && st.ino === 256;
};

describe.each(NATIVE_VARIANTS)('btrfs facade: $name', (variant: NativeVariant) => {
  it('snapshot: writable and read-only snapshots with the source content, committed before it returns', () => {
    withImage((image) => {
      const t = image.top;
      const before = superGeneration(image.loop);
      const a = runNative(variant, [
        { op: 'snapshot', source: `${t}/@root`, dest: `${t}/@btrfs_tmp/old_roots/w` },
        { op: 'snapshot', source: `${t}/@root`, dest: `${t}/@btrfs_tmp/old_roots/r`, readOnly: true },
      ]);
      expect(codes(a)).toEqual(['ok', 'ok']);
      // The kernel commits inside SNAP_CREATE: durable without a further sync.
      expect(superGeneration(image.loop)).toBeGreaterThan(before);
      expect(image.isReadOnly('@btrfs_tmp/old_roots/w')).toBe(false);
      expect(image.isReadOnly('@btrfs_tmp/old_roots/r')).toBe(true);
      expect(readFileSync(`${t}/@btrfs_tmp/old_roots/w/marker`, 'utf8')).toBe('root-before-boot\n');
      expect(readFileSync(`${t}/@btrfs_tmp/old_roots/r/marker`, 'utf8')).toBe('root-before-boot\n');
      const root = sh('btrfs', ['subvolume', 'show', `${t}/@root`]);
      const uuid = /^\s*UUID:\s+(\S+)/m.exec(root)![1];
      expect(sh('btrfs', ['subvolume', 'show', `${t}/@btrfs_tmp/old_roots/w`])).toContain(`Parent UUID: \t\t${uuid}`);
      expect(image.paths()).toEqual(['@btrfs_tmp/old_roots/r', '@btrfs_tmp/old_roots/w', '@nix', '@persistent', '@root', '@root-blank', '@snapshots']);
    });
  });

  it('snapshot errors: the same code and message on every path, and nothing made', () => {
    withImage((image) => {
      const t = image.top;
      mkdirSync(`${t}/plain`);
      writeFileSync(`${t}/file`, 'x');
      symlinkSync('@root', `${t}/root-link`);
      mkdirSync(`${t}/existing-dir`);
      const ro = readOnlyMount(image);
      const before = image.paths();
      const a = runNative(variant, [
        { op: 'snapshot', source: `${t}/@root`, dest: `${t}/@nix` },
        { op: 'snapshot', source: `${t}/@root`, dest: `${t}/existing-dir` },
        { op: 'snapshot', source: `${t}/@root`, dest: `${t}/file` },
        { op: 'snapshot', source: `${t}/plain`, dest: `${t}/new` },
        { op: 'snapshot', source: `${t}/root-link`, dest: `${t}/new` },
        { op: 'snapshot', source: `${t}/missing`, dest: `${t}/new` },
        { op: 'snapshot', source: `${t}/@root`, dest: `${t}/missing/new` },
        { op: 'snapshot', source: `${t}/@root`, dest: `${t}/@root-blank/new` },
        { op: 'snapshot', source: `${ro}/@root`, dest: `${ro}/new` },
        { op: 'snapshot', source: '@root', dest: `${t}/new` },
        { op: 'snapshot', source: `${t}/@root`, dest: `${t}/..` },
        { op: 'snapshot', source: `${t}/@root`, dest: `${t}/${'n'.repeat(256)}` },
        { op: 'snapshot', source: `${t}/@root`, dest: `${tmpdir()}/pantheros-not-btrfs` },
      ]);
      expect(codes(a)).toEqual(['EEXIST', 'EEXIST', 'EEXIST', 'EINVAL', 'ENOTDIR', 'ENOENT', 'ENOENT', 'EROFS', 'EROFS', 'EINVAL', 'EINVAL', 'ENAMETOOLONG', 'ENOTTY']);
      expect(errorOf(a[0])).toEqual({ name: 'BtrfsError', code: 'EEXIST', operation: 'snapshot', path: `${t}/@nix`, message: `cannot snapshot ${t}/@root to ${t}/@nix: File exists (EEXIST)` });
      expect(errorOf(a[7])?.message).toBe(`cannot snapshot ${t}/@root to ${t}/@root-blank/new: Read-only file system (EROFS)`);
      // btrfs-progs would have snapshotted *into* the existing directory; nothing is there.
      expect(readdirSync(`${t}/existing-dir`)).toEqual([]);
      expect(image.paths()).toEqual(before);
      expect(existsSync(`${tmpdir()}/pantheros-not-btrfs`)).toBe(false);
    });
  });

  it('a snapshot commits what came before it: a rename just before is on the disk when it returns, one made after is not until syncFilesystem', () => {
    withImage((image) => {
      const t = image.top;
      renameSync(`${t}/@root`, `${t}/@btrfs_tmp/old_roots/archived`);
      expect(codes(runNative(variant, [{ op: 'snapshot', source: `${t}/@root-blank`, dest: `${t}/@root` }]))).toEqual(['ok']);
      renameSync(`${t}/@nix`, `${t}/@nix-renamed-later`);
      // What a power cut now would leave: the device's blocks, copied past the page cache.
      const onDisk = () => {
        const copy = join(image.dir, 'on-disk.img');
        execFileSync('dd', [`if=${image.loop}`, `of=${copy}`, 'bs=1M', 'iflag=direct', 'conv=sparse', 'status=none']);
        const at = join(image.dir, 'on-disk');
        mkdirSync(at, { recursive: true });
        // Same fsid as the mounted image: the kernel mounts the copy with a temporary fsid (Linux 6.7+).
        const loop = sh('losetup', ['--find', '--show', '--read-only', copy]).trim();
        try {
          sh('mount', ['-o', 'ro,subvolid=5', loop, at]);
          try {
            return readdirSync(at).sort().concat(readdirSync(join(at, '@btrfs_tmp/old_roots')).sort());
          } finally {
            sh('umount', [at]);
          }
        } finally {
          spawnSync('losetup', ['-d', loop]);
          rmSync(copy);
        }
      };
      expect(onDisk()).toEqual(['@btrfs_tmp', '@nix', '@persistent', '@root', '@root-blank', '@snapshots', 'archived']);
      expect(codes(runNative(variant, [{ op: 'sync', path: t }]))).toEqual(['ok']);
      expect(onDisk()).toEqual(['@btrfs_tmp', '@nix-renamed-later', '@persistent', '@root', '@root-blank', '@snapshots', 'archived']);
    });
  });

  it('create: an empty writable subvolume, committed only by syncFilesystem; and its errors', () => {
    withImage((image) => {
      const t = image.top;
      const ro = readOnlyMount(image);
      const before = superGeneration(image.loop);
      const a = runNative(variant, [
        { op: 'create', dest: `${t}/fresh` },
        { op: 'create', dest: `${t}/fresh` },
        { op: 'create', dest: `${t}/@root-blank/x` },
        { op: 'create', dest: `${ro}/x` },
        { op: 'create', dest: `${t}/missing/x` },
        { op: 'create', dest: `${t}/${'n'.repeat(256)}` },
        { op: 'create', dest: `${t}/.` },
        { op: 'create', dest: 'fresh' },
      ]);
      expect(codes(a)).toEqual(['ok', 'EEXIST', 'EROFS', 'EROFS', 'ENOENT', 'ENAMETOOLONG', 'EINVAL', 'EINVAL']);
      expect(errorOf(a[1])?.message).toBe(`cannot create subvolume ${t}/fresh: File exists (EEXIST)`);
      expect(isSubvolume(`${t}/fresh`)).toBe(true);
      expect(readdirSync(`${t}/fresh`)).toEqual([]);
      expect(image.isReadOnly('fresh')).toBe(false);
      // Creating does not commit; the one sync does.
      expect(superGeneration(image.loop)).toBe(before);
      expect(codes(runNative(variant, [{ op: 'sync', path: `${t}/fresh` }]))).toEqual(['ok']);
      expect(superGeneration(image.loop)).toBeGreaterThan(before);
    });
  });

  it('delete: one result per path, never stopping at a failure, the kernel codes for every refusal, then one commit', () => {
    withImage((image) => {
      const t = image.top;
      const o = `${t}/@btrfs_tmp/old_roots`;
      for (const p of ['a', 'b', 'nested-parent', 'default', 'ro-parent']) sh('btrfs', ['subvolume', 'create', `${o}/${p}`]);
      sh('btrfs', ['subvolume', 'create', `${o}/a/inner`]);
      sh('btrfs', ['subvolume', 'create', `${o}/nested-parent/child`]);
      sh('btrfs', ['subvolume', 'create', `${o}/ro-parent/child`]);
      sh('btrfs', ['property', 'set', '-ts', `${o}/ro-parent`, 'ro', 'true']);
      sh('btrfs', ['subvolume', 'set-default', `${o}/default`]);
      mkdirSync(`${o}/plain`);
      writeFileSync(`${o}/file`, 'x');
      symlinkSync('b', `${o}/link-to-b`);
      const ro = readOnlyMount(image);
      sh('btrfs', ['filesystem', 'sync', t]);
      const before = superGeneration(image.loop);
      const [a] = runNative(variant, [
        {
          op: 'delete',
          commit: true,
          paths: [
            `${o}/a/inner`,
            `${o}/a`,
            `${o}/nested-parent`,
            `${o}/default`,
            `${o}/plain`,
            `${o}/file`,
            `${o}/link-to-b`,
            `${o}/missing`,
            `${o}/file/x`,
            `${o}/ro-parent/child`,
            // The same subvolume through a read-only mount, then through the writable one.
            `${ro}/@btrfs_tmp/old_roots/b`,
            `${o}/b`,
          ],
        },
      ]);
      expect(a?.ok).toBe(true);
      if (!a?.ok) return;
      const got = a.results!.map((r) => (r.deleted ? 'deleted' : r.error.code));
      expect(got).toEqual(['deleted', 'deleted', 'ENOTEMPTY', 'EPERM', 'EINVAL', 'ENOTDIR', 'ENOTDIR', 'ENOENT', 'ENOTDIR', 'EROFS', 'EROFS', 'deleted']);
      const notEmpty = a.results![2]!;
      expect(notEmpty.deleted ? null : notEmpty.error.message).toBe(`cannot delete subvolume ${o}/nested-parent: Directory not empty (ENOTEMPTY)`);
      expect(a.committed).toBe(true);
      expect(a.commitError).toBeNull();
      expect(superGeneration(image.loop)).toBeGreaterThan(before);
      // Exactly the three were deleted; the symlink's target and everything else stand.
      expect(image.paths().filter((p) => p.startsWith('@btrfs_tmp/'))).toEqual([
        '@btrfs_tmp/old_roots/default',
        '@btrfs_tmp/old_roots/nested-parent',
        '@btrfs_tmp/old_roots/nested-parent/child',
        '@btrfs_tmp/old_roots/ro-parent',
        '@btrfs_tmp/old_roots/ro-parent/child',
      ]);
      expect(lstatSync(`${o}/link-to-b`).isSymbolicLink()).toBe(true);
      sh('btrfs', ['subvolume', 'set-default', '5', t]);
    });
  });

  it('deleteSubvolumeIn: the subvolume of that name in the held directory, never one a symlink swapped in points to; the kernel codes for every refusal', () => {
    withImage((image) => {
      const t = image.top;
      const o = `${t}/@btrfs_tmp/old_roots`;
      mkdirSync(`${o}/x/tmp/u`, { recursive: true });
      mkdirSync(`${t}/@data`, { recursive: true });
      for (const p of ['x/tmp/u/victim', 'x/tmp/u/mine', 'x/tmp/u/holder', 'x/tmp/u/holder/inner']) sh('btrfs', ['subvolume', 'create', `${o}/${p}`]);
      sh('btrfs', ['subvolume', 'create', `${t}/@data/victim`]);
      sh('btrfs', ['property', 'set', '-ts', `${o}/x/tmp/u/mine`, 'ro', 'true']);
      mkdirSync(`${o}/x/tmp/u/plain`);
      writeFileSync(`${o}/x/tmp/u/file`, 'x');
      symlinkSync(`${t}/@data/victim`, `${o}/x/tmp/u/link`);
      const u = `${o}/x/tmp/u`;
      const a = runNative(variant, [
        { op: 'create', dest: hexPath(Buffer.concat([Buffer.from(`${u}/`), Buffer.from([0x0a, 0xff, 0x2d])])) },
        { op: 'deleteIn', parent: u, name: 'mine', top: t },
        { op: 'deleteIn', parent: u, name: 'holder', top: t },
        { op: 'deleteIn', parent: u, name: 'plain', top: t },
        { op: 'deleteIn', parent: u, name: 'file', top: t },
        { op: 'deleteIn', parent: u, name: 'link', top: t },
        { op: 'deleteIn', parent: u, name: 'missing', top: t },
        { op: 'deleteIn', parent: u, name: hexPath(Buffer.from([0x0a, 0xff, 0x2d])), top: t },
        // The user's directory swapped for a symlink to @data once root holds it: the held one is used.
        { op: 'deleteIn', parent: u, name: 'victim', top: t, swap: `${t}/@data` },
      ]);
      expect(codes(a)).toEqual(['ok', 'ok', 'ENOTEMPTY', 'EINVAL', 'ENOTDIR', 'ENOTDIR', 'ENOENT', 'ok', 'ok']);
      expect(image.paths().filter((p) => p.startsWith('@btrfs_tmp/') || p.startsWith('@data/'))).toEqual(['@btrfs_tmp/old_roots/x/tmp/u.away/holder', '@btrfs_tmp/old_roots/x/tmp/u.away/holder/inner', '@data/victim']);
      expect(readdirSync(`${o}/x/tmp/u.away`).sort()).toEqual(['file', 'holder', 'link', 'plain']);
    });
  });

  it('deleteSubvolumeIn: a subvolume of another filesystem mounted in the held directory is refused, and nothing with its id is deleted here', () => {
    withImage((image) => {
      const t = image.top;
      const u = `${t}/@btrfs_tmp/old_roots/x/tmp/u`;
      mkdirSync(`${u}/other`, { recursive: true });
      const second = createImage({ size: '256M' });
      try {
        sh('mount', ['--bind', `${second.top}/@root`, `${u}/other`]);
        extraMounts.set(image, [`${u}/other`]);
        const before = [image.paths(), second.paths()];
        const [a] = runNative(variant, [{ op: 'deleteIn', parent: u, name: 'other', top: t }]);
        expect(a?.ok).toBe(false);
        // The ioctl looks the name up in this filesystem (the directory under the mount: EINVAL, not a subvolume);
        // under btrfs-progs the id read through the mount names a subvolume of the other filesystem: EXDEV.
        expect(codes([a!])).toEqual([variant.backend === 'ioctl' ? 'EINVAL' : 'EXDEV']);
        sh('umount', [`${u}/other`]);
        extraMounts.delete(image);
        expect([image.paths(), second.paths()]).toEqual(before);
      } finally {
        spawnSync('umount', [`${u}/other`]);
        second.destroy(false);
      }
    });
  });

  it('delete without commit leaves the on-disk generation; an empty list does nothing', () => {
    withImage((image) => {
      const t = image.top;
      sh('btrfs', ['subvolume', 'create', `${t}/gone`]);
      sh('btrfs', ['filesystem', 'sync', t]);
      const before = superGeneration(image.loop);
      const a = runNative(variant, [
        { op: 'delete', commit: false, paths: [`${t}/gone`] },
        { op: 'delete', commit: true, paths: [] },
      ]);
      expect(a).toEqual([
        { ok: true, committed: false, commitError: null, results: [{ deleted: true }] },
        { ok: true, committed: false, commitError: null, results: [] },
      ]);
      expect(existsSync(`${t}/gone`)).toBe(false);
      expect(superGeneration(image.loop)).toBe(before);
    });
  });

  it('names with newlines, leading dashes, non-UTF-8 bytes, 255 bytes, and odd parent directories: made, listed and deleted exactly', () => {
    withImage((image) => {
      const t = image.top;
      const odd = [
        Buffer.from('new\nline'),
        Buffer.from('-r'),
        Buffer.from('--commit-after'),
        Buffer.from([0x2d, 0x78, 0xff, 0xfe, 0x0a, 0x01, 0x7f]),
        Buffer.from(' spaced "quoted" \\ back'),
        // 254 bytes of UTF-8: with the one-letter prefixes below, 255-byte names.
        Buffer.from('é'.repeat(127)),
      ];
      const dir = Buffer.concat([Buffer.from(`${t}/@btrfs_tmp/`), Buffer.from('-\n\xfe odd dir', 'latin1')]);
      mkdirSync(dir);
      const at = (n: Buffer) => Buffer.concat([dir, Buffer.from('/'), n]);
      const ops = odd.flatMap((n, i) => [
        { op: 'create' as const, dest: hexPath(at(Buffer.concat([Buffer.from('c'), n]))) },
        { op: 'snapshot' as const, source: `${t}/@root`, dest: hexPath(at(i % 2 ? Buffer.concat([Buffer.from('s'), n]) : n)), readOnly: i % 2 === 0 },
      ]);
      const made = runNative(variant, [...ops, { op: 'list', path: t }]);
      expect(codes(made)).toEqual([...ops.map(() => 'ok'), 'ok']);
      const expected = odd.flatMap((n, i) => [Buffer.concat([Buffer.from('c'), n]), i % 2 ? Buffer.concat([Buffer.from('s'), n]) : n]);
      expect(names(dir)).toEqual(expected.map((b) => b.toString('hex')).sort());
      for (const n of expected) expect(isSubvolume(at(n))).toBe(true);
      expect(readFileSync(Buffer.concat([at(odd[0]!), Buffer.from('/marker')]), 'utf8')).toBe('root-before-boot\n');
      // The listing (ioctl path only) gives every path byte for byte.
      const listed = made.at(-1);
      if (variant.backend === 'ioctl') {
        const paths = (listed?.ok ? (listed.list ?? []) : []).map((s) => s.path.hex).filter((h) => h.startsWith(Buffer.from('@btrfs_tmp/-').toString('hex')));
        expect(paths.sort()).toEqual(expected.map((n) => Buffer.concat([Buffer.from('@btrfs_tmp/'), Buffer.from('-\n\xfe odd dir', 'latin1'), Buffer.from('/'), n]).toString('hex')).sort());
      } else expect(listed).toEqual({ ok: true, list: null });
      const [del] = runNative(variant, [{ op: 'delete', commit: true, paths: expected.map((n) => hexPath(at(n))) }]);
      expect(del).toEqual({ ok: true, committed: true, commitError: null, results: expected.map(() => ({ deleted: true })) });
      expect(readdirSync(dir)).toEqual([]);
      // Nothing left behind by the process path's temporary names.
      expect(image.paths().filter((p) => p.startsWith('@btrfs_tmp'))).toEqual([]);
    });
  });

  it('paths near PATH_MAX work on every path; from PATH_MAX on, ENAMETOOLONG on every path', () => {
    withImage((image) => {
      const t = image.top;
      // Directories of 250-byte names, the last one sized so that <deep>/<200-byte name> is 4 090 bytes.
      let deep = `${t}/deep`;
      while (deep.length + 251 < 3_884) deep += `/${'d'.repeat(250)}`;
      deep += `/${'e'.repeat(4_090 - 201 - deep.length - 1)}`;
      mkdirSync(deep, { recursive: true });
      const target = `${deep}/${'s'.repeat(200)}`;
      const created = `${deep}/${'c'.repeat(200)}`;
      expect(target.length).toBe(4_090);
      const a = runNative(variant, [
        { op: 'snapshot', source: `${t}/@root`, dest: target },
        { op: 'create', dest: created },
        { op: 'create', dest: `${target}/inner` },
        { op: 'sync', path: target },
        { op: 'delete', commit: true, paths: [target, created, `${target}/inner`] },
      ]);
      expect(codes(a)).toEqual(['ok', 'ok', 'ENAMETOOLONG', 'ok', 'ok']);
      expect(errorOf(a[2])?.code).toBe('ENAMETOOLONG');
      expect((a[4] as { results: unknown[] }).results).toEqual([{ deleted: true }, { deleted: true }, { deleted: false, error: expect.objectContaining({ code: 'ENAMETOOLONG' }) }]);
      expect(readdirSync(deep)).toEqual([]);
    });
  });

  it('sync: commits; errors for a missing path and a filesystem that is not btrfs; default subvolume id', () => {
    withImage((image) => {
      const t = image.top;
      writeFileSync(`${t}/@persistent/data`, 'data');
      const before = superGeneration(image.loop);
      const a = runNative(variant, [
        { op: 'sync', path: `${t}/@persistent/data` },
        { op: 'sync', path: `${t}/missing` },
        { op: 'sync', path: tmpdir() },
        { op: 'sync', path: 'relative' },
        { op: 'default', path: t },
      ]);
      expect(codes(a)).toEqual(['ok', 'ENOENT', 'ENOTTY', 'EINVAL', 'ok']);
      expect(errorOf(a[2])?.message).toBe(`cannot commit the filesystem of ${tmpdir()}: Inappropriate ioctl for device (ENOTTY)`);
      expect(superGeneration(image.loop)).toBeGreaterThan(before);
      expect(a[4]).toEqual({ ok: true, id: 5 });
      sh('btrfs', ['subvolume', 'set-default', `${t}/@nix`]);
      const nix = image.subvolumes().find((s) => s.path === '@nix')!;
      expect(runNative(variant, [{ op: 'default', path: `${t}/@persistent` }])).toEqual([{ ok: true, id: nix.id }]);
      sh('btrfs', ['subvolume', 'set-default', '5', t]);
    });
  });

  it('listDirectory: the kind of every entry is what an lstat of it says, taken on the ioctl path without looking up a single entry', () => {
    withImage((image) => {
      const d = `${image.top}/@btrfs_tmp/old_roots`;
      const bytes = (name: string | Buffer) => Buffer.concat([Buffer.from(`${d}/`), Buffer.from(name)]);
      // Subvolumes, and directories made between them so that some directory's inode number equals a subvolume's id
      // in this very directory (readdir gives a subvolume's id as its d_ino): a number alone proves nothing.
      for (let i = 0; i < 4; i++) {
        sh('btrfs', ['subvolume', 'create', `${d}/sub${i}`]);
        mkdirSync(`${d}/dir${i}`);
      }
      const ids = new Set(image.subvolumes().map((s) => s.id));
      const inos = readdirSync(d).filter((n) => n.startsWith('dir')).map((n) => lstatSync(`${d}/${n}`).ino);
      expect(inos.some((ino) => ids.has(ino)), `directory inodes ${inos} vs subvolume ids ${[...ids]}`).toBe(true);
      // A snapshot of a subvolume holding another: the snapshot's placeholder directory carries the nested one's id.
      sh('btrfs', ['subvolume', 'create', `${d}/sub0/nested`]);
      sh('btrfs', ['subvolume', 'snapshot', `${d}/sub0`, `${d}/snap`]);
      // Names that are not UTF-8 or hold a newline; a subvolume renamed in from elsewhere and one renamed away;
      // a subvolume named like a directory that was renamed over nothing; symlinks, a file, a fifo.
      sh('btrfs', ['subvolume', 'create', Buffer.concat([bytes('n'), Buffer.from([0xff]), Buffer.from('x')]).toString('latin1')]);
      execFileSync('btrfs', ['subvolume', 'create', bytes('a\nb').toString()]);
      sh('btrfs', ['subvolume', 'create', `${image.top}/@persistent/moved`]);
      renameSync(`${image.top}/@persistent/moved`, `${d}/moved-in`);
      renameSync(`${d}/sub3`, `${image.top}/@persistent/moved-out`);
      mkdirSync(`${d}/sub3`);
      symlinkSync('sub1', `${d}/link-to-subvolume`);
      symlinkSync('/nowhere', `${d}/dangling`);
      writeFileSync(`${d}/file`, 'x');
      execFileSync('mkfifo', [`${d}/fifo`]);
      // A subvolume an unprivileged user made in a directory it may write, and that directory listed too.
      const shared = `${image.top}/@persistent/shared`;
      chmodSync(image.dir, 0o755);
      mkdirSync(shared);
      chmodSync(shared, 0o1777);
      execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'btrfs', 'subvolume', 'create', `${shared}/users`]);
      mkdirSync(`${shared}/plain`);

      const truth = (dir: string) =>
        readdirSync(dir, { encoding: 'buffer' })
          .map((raw) => {
            const st = lstatSync(Buffer.concat([Buffer.from(`${dir}/`), raw]));
            const kind = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? (st.ino === 256 ? 'subvolume' : 'directory') : st.isFile() ? 'file' : 'other';
            return { name: raw.toString('utf8'), validName: Buffer.from(raw.toString('utf8')).equals(raw), kind };
          })
          .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const dirs = [d, `${d}/snap`, shared, `${image.top}/@persistent`];
      const a = runNative(variant, dirs.map((path) => ({ op: 'listDirectory' as const, path })));
      expect(codes(a)).toEqual(dirs.map(() => 'ok'));
      dirs.forEach((dir, i) => expect(a[i]!.ok && a[i]!.entries, dir).toEqual(truth(dir)));
      const kinds = a[0]!.ok ? Object.fromEntries(a[0]!.entries!.map((e) => [e.name, e.kind])) : {};
      expect(kinds).toMatchObject({ sub0: 'subvolume', dir0: 'directory', snap: 'subvolume', 'moved-in': 'subvolume', sub3: 'directory', 'a\nb': 'subvolume', 'link-to-subvolume': 'symlink', fifo: 'other', file: 'file' });
      expect(a[1]!.ok && a[1]!.entries).toEqual([{ name: 'nested', validName: true, kind: 'directory' }]);
      // The ioctl path answers without a lookup of each entry; the process path lstats them.
      expect(a.map((x) => x.ok && x.direct)).toEqual(dirs.map(() => variant.backend === 'ioctl'));
      if (variant.backend === 'ioctl') {
        // Under strace: no stat-family call names an entry of the directory.
        const log = join(image.dir, 'strace.log');
        const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=stat,lstat,newfstatat,statx', '-o', log, variant.bin, nativeDriver(), JSON.stringify([{ op: 'listDirectory', path: d }])], { encoding: 'utf8', env: { ...process.env, ...variant.env } });
        expect(r.status, r.stderr).toBe(0);
        const entryStats = readFileSync(log, 'utf8').split('\n').filter((l) => l.includes(`${d}/`));
        expect(entryStats, entryStats.join('\n')).toEqual([]);
        // Without CAP_SYS_ADMIN the tree search is refused: the kinds come from lstat, the same answer.
        chmodSync(dirname(nativeDriver()), 0o755);
        const unprivileged = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', variant.bin, nativeDriver(), JSON.stringify([{ op: 'listDirectory', path: shared }])], { encoding: 'utf8', env: { ...process.env, ...variant.env, HOME: '/tmp' } });
        expect(unprivileged.status, unprivileged.stderr).toBe(0);
        const answer = JSON.parse(unprivileged.stdout) as { results: Answer[] };
        expect(answer.results[0]).toMatchObject({ ok: true, direct: false, entries: truth(shared) });
        // Another filesystem (the root tree search is ENOTTY there), and a symlink given as the directory: lstat's
        // answers, and nothing read through the symlink.
        const ext = mkdtempSync(join(tmpdir(), 'pantheros-list-'));
        try {
          mkdirSync(join(ext, 'dir'));
          writeFileSync(join(ext, 'file'), '');
          symlinkSync(d, join(ext, 'to-archives'));
          const other = runNative(variant, [
            { op: 'listDirectory', path: ext },
            { op: 'listDirectory', path: join(ext, 'to-archives') },
          ]);
          expect(other[0]).toEqual({ ok: true, direct: false, entries: truth(ext) });
          expect(other[1]).toEqual({ ok: true, direct: false, entries: [] });
        } finally {
          rmSync(ext, { recursive: true, force: true });
        }
      }
    });
  });
});

describe('btrfs facade listing (ioctl path, Bun)', () => {
  const bun = NATIVE_VARIANTS.find((v) => v.backend === 'ioctl')!;

  it('gives the facts `btrfs subvolume list -c -g -p -u -q -R` prints, and the read-only flags of `list -r`, for nested, read-only and received subvolumes, from any mounted subvolume', () => {
    withImage((image) => {
      const t = image.top;
      sh('btrfs', ['subvolume', 'create', `${t}/@root/nested`]);
      mkdirSync(`${t}/@root/nested/deeper/dir`, { recursive: true });
      sh('btrfs', ['subvolume', 'create', `${t}/@root/nested/deeper/dir/inner`]);
      sh('btrfs', ['subvolume', 'snapshot', '-r', `${t}/@persistent`, `${t}/@snapshots/daily/p1`]);
      mkdirSync(`${t}/received`);
      // A received subvolume carries a received uuid.
      execFileSync('bash', ['-o', 'pipefail', '-c', `btrfs send -q "${t}/@snapshots/daily/p1" | btrfs receive -q "${t}/received"`]);
      const sub = join(image.dir, 'sub');
      mkdirSync(sub);
      sh('mount', ['-o', 'subvol=@persistent', image.loop, sub]);
      extraMounts.set(image, [sub]);
      const [listed] = runNative(bun, [{ op: 'list', path: sub }]);
      expect(listed?.ok).toBe(true);
      const list = listed?.ok ? listed.list! : [];
      const text = sh('btrfs', ['subvolume', 'list', '-c', '-g', '-p', '-u', '-q', '-R', t]);
      const expected = text
        .trim()
        .split('\n')
        .map((line) => {
          const m = /^ID (\d+) gen (\d+) cgen (\d+) parent (\d+) top level \d+ parent_uuid (\S+)\s+received_uuid (\S+)\s+uuid (\S+) path (.*)$/.exec(line)!;
          const u = (s: string) => (s === '-' ? null : s);
          return { id: Number(m[1]), gen: Number(m[2]), cgen: Number(m[3]), parentId: Number(m[4]), parentUuid: u(m[5]!), receivedUuid: u(m[6]!), uuid: u(m[7]!), path: m[8] };
        });
      expect(list.map((s) => ({ id: s.id, gen: s.gen, cgen: s.cgen, parentId: s.parentId, parentUuid: s.parentUuid, receivedUuid: s.receivedUuid, uuid: s.uuid, path: Buffer.from(s.path.hex, 'hex').toString() }))).toEqual(expected);
      const readOnly = new Set(sh('btrfs', ['subvolume', 'list', '-r', t]).trim().split('\n').map((l) => Number(/^ID (\d+)/.exec(l)![1])));
      expect(list.filter((s) => s.readOnly).map((s) => s.id)).toEqual([...readOnly].sort((x, y) => x - y));
      expect(list.find((s) => Buffer.from(s.path.hex, 'hex').toString() === '@root/nested/deeper/dir/inner')?.parentId).toBe(list.find((s) => Buffer.from(s.path.hex, 'hex').toString() === '@root/nested')?.id);
      expect(list.some((s) => s.receivedUuid !== null)).toBe(true);
      const now = Date.now() / 1000;
      for (const s of list) expect(Math.abs(s.otime - now)).toBeLessThan(600);
    });
  });
});

describe('full filesystems', () => {
  const goldens: { dataFull?: string; metadataFull?: string; dir?: string } = {};

  /** Mounts a copy of an unmounted golden image; returns the mounted image. */
  function mountCopy(golden: string): Image & { file: string } {
    const dir = mkdtempSync(join(tmpdir(), 'pantheros-test-'));
    const file = join(dir, 'disk.img');
    sh('cp', ['--sparse=always', golden, file]);
    const top = join(dir, 'top');
    mkdirSync(top);
    const loop = sh('losetup', ['--find', '--show', file]).trim();
    sh('mount', ['-o', 'subvolid=5,commit=300', loop, top]);
    return {
      dir,
      file,
      top,
      loop,
      subvolumes: () => [],
      paths: () => sh('btrfs', ['subvolume', 'list', top]).trim().split('\n').map((l) => l.replace(/^.* path /, '')).sort(),
      isReadOnly: (p) => sh('btrfs', ['property', 'get', '-ts', join(top, p), 'ro']).trim() === 'ro=true',
      unmount: () => sh('umount', [top]),
      mount: () => sh('mount', ['-o', 'subvolid=5', loop, top]),
      destroy: () => {
        spawnSync('umount', ['-R', top]);
        spawnSync('losetup', ['-d', loop]);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }

  beforeAll(() => {
    // 256 MiB: data filled by one file until ENOSPC (no unallocated space left), then metadata filled
    // by snapshots until the kernel refuses one with ENOSPC.
    const dir = mkdtempSync(join(tmpdir(), 'pantheros-full-'));
    goldens.dir = dir;
    const file = join(dir, 'data-full.img');
    sh('truncate', ['-s', '256M', file]);
    sh('mkfs.btrfs', ['-q', '-f', file]);
    const loop = sh('losetup', ['--find', '--show', file]).trim();
    const top = join(dir, 'top');
    mkdirSync(top);
    try {
      sh('mount', ['-o', 'subvolid=5', loop, top]);
      for (const p of ['@root', '@root-blank', 'old']) sh('btrfs', ['subvolume', 'create', join(top, p)]);
      writeFileSync(join(top, '@root/marker'), 'root-before-boot\n');
      sh('btrfs', ['property', 'set', '-ts', join(top, '@root-blank'), 'ro', 'true']);
      const dd = spawnSync('dd', ['if=/dev/zero', `of=${join(top, '@root/fill')}`, 'bs=1M'], { encoding: 'utf8' });
      expect(dd.stderr).toContain('No space left on device');
      sh('btrfs', ['filesystem', 'sync', top]);
      sh('umount', [top]);
      goldens.dataFull = join(dir, 'data-full.golden');
      sh('cp', ['--sparse=always', file, goldens.dataFull]);
      sh('mount', ['-o', 'subvolid=5', loop, top]);
      let made = 0;
      for (; made < 2_000; made++) {
        const r = spawnSync('btrfs', ['subvolume', 'snapshot', join(top, '@root'), join(top, 'old', `s${made}`)], { encoding: 'utf8' });
        if (r.status !== 0) {
          expect(r.stderr).toContain('No space left on device');
          break;
        }
      }
      expect(made).toBeGreaterThan(10);
      expect(made).toBeLessThan(2_000);
      sh('btrfs', ['filesystem', 'sync', top]);
      sh('umount', [top]);
      goldens.metadataFull = join(dir, 'metadata-full.golden');
      sh('cp', ['--sparse=always', file, goldens.metadataFull]);
    } finally {
      spawnSync('umount', [top]);
      spawnSync('losetup', ['-d', loop]);
      rmSync(file, { force: true });
    }
  });

  afterAll(() => {
    if (goldens.dir) rmSync(goldens.dir, { recursive: true, force: true });
  });

  it.each(NATIVE_VARIANTS)('data full ($name): snapshot and create still work (they need metadata only) while a file write fails with ENOSPC', (variant) => {
    const image = mountCopy(goldens.dataFull!);
    try {
      const t = image.top;
      const w = spawnSync('dd', ['if=/dev/zero', `of=${t}/@root/more`, 'bs=1M', 'count=4', 'conv=fsync'], { encoding: 'utf8' });
      expect(w.stderr).toContain('No space left on device');
      const a = runNative(variant, [
        { op: 'snapshot', source: `${t}/@root-blank`, dest: `${t}/new-root` },
        { op: 'create', dest: `${t}/empty` },
        { op: 'sync', path: t },
        { op: 'delete', commit: true, paths: [`${t}/empty`] },
      ]);
      expect(codes(a)).toEqual(['ok', 'ok', 'ok', 'ok']);
      expect(isSubvolume(`${t}/new-root`)).toBe(true);
      expect(existsSync(`${t}/empty`)).toBe(false);
    } finally {
      image.destroy();
    }
  });

  it.each(NATIVE_VARIANTS)('metadata full ($name): snapshot and create fail with ENOSPC and make nothing; deleting still works and commits', (variant) => {
    const image = mountCopy(goldens.metadataFull!);
    try {
      const t = image.top;
      const before = image.paths();
      const a = runNative(variant, [
        { op: 'snapshot', source: `${t}/@root-blank`, dest: `${t}/new-root` },
        { op: 'snapshot', source: `${t}/@root`, dest: `${t}/old/ro`, readOnly: true },
        { op: 'create', dest: `${t}/empty` },
      ]);
      expect(codes(a)).toEqual(['ENOSPC', 'ENOSPC', 'ENOSPC']);
      expect(errorOf(a[0])?.message).toBe(`cannot snapshot ${t}/@root-blank to ${t}/new-root: No space left on device (ENOSPC)`);
      expect(image.paths()).toEqual(before);
      expect(existsSync(`${t}/new-root`) || existsSync(`${t}/empty`)).toBe(false);
      const gen = superGeneration(image.loop);
      const [d] = runNative(variant, [{ op: 'delete', commit: true, paths: [`${t}/old/s0`, `${t}/old/s1`] }]);
      expect(d).toEqual({ ok: true, committed: true, commitError: null, results: [{ deleted: true }, { deleted: true }] });
      expect(superGeneration(image.loop)).toBeGreaterThan(gen);
      expect(statSync(`${t}/old`).isDirectory()).toBe(true);
      expect(image.paths()).toEqual(before.filter((p) => p !== 'old/s0' && p !== 'old/s1'));
    } finally {
      image.destroy();
    }
  });
});
