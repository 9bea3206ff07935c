// The fallback delete of src/btrfs/native-process.ts deleteIn (btrfs-progs: Node, or Bun forced onto it) on real btrfs,
// with a user racing it as uid 65534 (a btrfs wrapper in PANTHEROS_BTRFS plays the user at the exact moment). The
// kernel's delete by id (SNAP_DESTROY_V2, BTRFS_SUBVOL_SPEC_BY_ID) finds the subvolume's parent and name at that
// moment and looks the name up again there, deleting whatever it finds; found by a review of 280200b, where a user who
// moved their subvolume out of the archive, next to another owner's, and exchanged the two names made root delete the
// other's. The first two tests fail on 280200b (the second by chance, within a few tries).
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createImage, sh, type Image } from '../helpers/btrfs-image.js';
import { requirePrerequisites } from '../helpers/prereq.js';
import { codes, nativeDriver, NATIVE_VARIANTS, removeNativeDriver, runNative, type Answer } from '../helpers/native-run.js';

beforeAll(() => {
  requirePrerequisites(['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount', 'setpriv', 'python3'], 'apt-get install -y btrfs-progs util-linux python3-minimal');
  nativeDriver();
});
afterAll(() => removeNativeDriver());

const NOBODY = 'setpriv --reuid=65534 --regid=65534 --clear-groups';

function kind(p: string): string {
  const r = spawnSync('stat', ['-c', '%i %F', p], { encoding: 'utf8' });
  if (r.status !== 0) return 'missing';
  return r.stdout.startsWith('256 ') ? 'subvolume' : r.stdout.trim();
}

interface Area {
  image: Image;
  top: string;
  /** The user's directory in /tmp of an archive, holding their subvolume `mine`. */
  u: string;
  /** A world-writable, non-sticky shared directory outside the archive. */
  shared: string;
  /** deleteSubvolumeIn(u, 'mine') on the btrfs-progs path, with the user's move played by `wrapper` lines (sh). */
  deleteMine(whenDeleting: string[]): Answer[];
  makeMine(): void;
}

function withUserArea(fn: (a: Area) => void): void {
  const image = createImage();
  try {
    const top = image.top;
    chmodSync(image.dir, 0o755);
    const tmp = `${top}/@btrfs_tmp/old_roots/x/tmp`;
    const u = `${tmp}/u`;
    mkdirSync(u, { recursive: true });
    chmodSync(tmp, 0o1777);
    chownSync(u, 65534, 65534);
    const shared = `${top}/@data/shared`;
    mkdirSync(shared, { recursive: true });
    chmodSync(shared, 0o777);
    const makeMine = () => {
      sh('btrfs', ['subvolume', 'create', `${u}/mine`]);
      chownSync(`${u}/mine`, 65534, 65534);
    };
    makeMine();
    const wrapper = join(image.dir, 'btrfs-w');
    const deleteMine = (whenDeleting: string[]) => {
      writeFileSync(wrapper, ['#!/bin/sh', 'case "$*" in', '  "subvolume delete --subvolid"*)', ...whenDeleting.map((l) => `    ${l}`), '    ;;', 'esac', 'exec btrfs "$@"'].join('\n'), { mode: 0o755 });
      return runNative({ ...NATIVE_VARIANTS[0]!, env: { PANTHEROS_BTRFS: wrapper } }, [{ op: 'deleteIn', parent: u, name: 'mine', top }]);
    };
    fn({ image, top, u, shared, deleteMine, makeMine });
  } finally {
    image.destroy(false);
  }
}

describe('attack: the delete by id of a user\'s subvolume on a full filesystem (btrfs-progs path)', () => {
  it('the user moves their subvolume out of the archive as the delete starts: they cannot (it is root\'s by then), and it goes where it was', () => {
    withUserArea(({ image, u, shared, deleteMine }) => {
      const a = deleteMine([`${NOBODY} mv '${u}/mine' '${shared}/moved' && : > '${image.dir}/moved-ok'`]);
      expect(codes(a)).toEqual(['ok']);
      expect(existsSync(`${image.dir}/moved-ok`), 'the user moved it out').toBe(false);
      expect(kind(`${u}/mine`), 'deleted in the archive').toBe('missing');
      expect(readdirSync(shared)).toEqual([]);
    });
  }, 120_000);

  it('the user exchanges their subvolume with another owner\'s in a shared directory as the kernel looks the name up: the other\'s stays', () => {
    withUserArea(({ image, u, shared: d, deleteMine, makeMine }) => {
      sh('btrfs', ['subvolume', 'create', `${d}/b`]); // root's (another owner's) subvolume: the user cannot delete it
      writeFileSync(`${d}/b/precious`, 'not the user\'s\n');
      const loop = join(image.dir, 'xchg.py');
      writeFileSync(loop, [
        'import ctypes,os,sys,time',
        'libc=ctypes.CDLL(None,use_errno=True)',
        'd=sys.argv[1].encode(); end=time.time()+float(sys.argv[2])',
        'while time.time()<end and not os.path.exists(sys.argv[3]):',
        '    libc.renameat2(-100,d+b"/a",-100,d+b"/b",2)', // RENAME_EXCHANGE
      ].join('\n'));
      const stop = join(image.dir, 'stop');
      const race = [
        `${NOBODY} mv '${u}/mine' '${d}/a'`,
        `rm -f '${stop}'; ${NOBODY} python3 '${loop}' '${d}' 1.0 '${stop}' & p=$!`,
        'sleep 0.05',
        'btrfs "$@"; rc=$?',
        `: > '${stop}'; wait $p; exit $rc`,
      ];
      const tries = Number(process.env.TRIES ?? 10);
      for (let i = 0; i < tries; i++) {
        if (kind(`${u}/mine`) === 'missing') makeMine();
        const a = deleteMine(race);
        expect(codes(a)).toEqual(['ok']);
        expect(existsSync(`${d}/a/precious`) || existsSync(`${d}/b/precious`), `try ${i}: the other owner's subvolume in @data/shared was deleted by root`).toBe(true);
        // The user's leftover out of the way, the other's back under its name, for the next try.
        for (const n of readdirSync(d)) if (kind(`${d}/${n}`) === 'subvolume' && !existsSync(`${d}/${n}/precious`)) sh('btrfs', ['subvolume', 'delete', `${d}/${n}`]);
        for (const n of readdirSync(d)) if (n !== 'b') sh('mv', [`${d}/${n}`, `${d}/b`]);
      }
    });
  }, 180_000);

  it('the user removes their empty subvolume as the delete starts: refused cleanly, nothing else goes', () => {
    withUserArea(({ image, top, u, deleteMine }) => {
      mkdirSync(`${top}/@data`, { recursive: true });
      sh('btrfs', ['subvolume', 'create', `${top}/@data/other`]);
      const before = image.paths();
      const a = deleteMine([`${NOBODY} rmdir '${u}/mine'`]);
      expect(codes(a)).toEqual(['ENOENT']);
      expect(image.paths()).toEqual(before.filter((p) => !p.endsWith('/u/mine')));
    });
  }, 120_000);
});
