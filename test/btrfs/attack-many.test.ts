// Adversarial, real btrfs: under Bun, listDirectory takes the kind of every entry of a directory from getdents64
// (d_ino, d_type, name) and one root-tree search of the ROOT_REF items of the subvolume holding the directory, instead
// of an lstat of each entry. Each test compares the product's answer with lstat's, under Node (lstat), Bun (ioctl
// path) and Bun forced onto the process path.
//
// Found by a review of that change (01a96c6), fixed since: getdents64 reads the directory below anything mounted on
// its entries, while lstat — and every later step — sees what is mounted. An entry that is a mount point is therefore
// looked up with lstat (/proc/self/mountinfo says which): a tmpfs over an archive no longer counts as one (it changed
// the ages of the others and hid the warning), and /dev/null bound over the next-boot request is no longer taken for
// a file to remove (the executor refused, and the boot ended 'failed'). Mounts need root, and stage 1 boots with
// --device (a fresh private mount, nothing mounted inside): only runs on an already-mounted --top-level were exposed.
// Also held: odd layouts, large directories, hostile names, an unprivileged user's own subvolumes, and a rename race.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createImage, sh, type Image } from '../helpers/btrfs-image.js';
import { requirePrerequisites, RUNTIMES, type Runtime } from '../helpers/prereq.js';
import { codes, NATIVE_VARIANTS, nativeDriver, removeNativeDriver, runNative, type NativeVariant } from '../helpers/native-run.js';
import { OLD_ROOTS, seedArchives, useBootCase } from '../helpers/boot-case.js';
import { PYTHON, requirePython } from '../helpers/attack.js';
import { NOBODY } from '../helpers/ops.js';

beforeAll(() => {
  requirePrerequisites(['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount', 'setpriv', 'mkfifo']);
  requirePython();
  nativeDriver();
});
afterAll(() => removeNativeDriver());

type Entry = { name: string; validName: boolean; kind: string };

/** What an lstat of each entry says (src/fs/entry-kind.ts), sorted as listDirectory sorts. */
function truth(dir: string): Entry[] {
  return readdirSync(dir, { encoding: 'buffer' })
    .map((raw) => {
      const st = lstatSync(Buffer.concat([Buffer.from(`${dir}/`), raw]));
      const kind = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? (st.ino === 256 ? 'subvolume' : 'directory') : st.isFile() ? 'file' : 'other';
      return { name: raw.toString('utf8'), validName: Buffer.from(raw.toString('utf8')).equals(raw), kind };
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Mount points below dir in this process's namespace, deepest first. */
function mountsBelow(dir: string): string[] {
  const unescape = (p: string) => p.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  return execFileSync('cat', ['/proc/self/mountinfo'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => unescape(l.split(' ')[4] ?? ''))
    .filter((m) => m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

function withImage(fn: (image: Image) => void): void {
  const image = createImage();
  try {
    fn(image);
  } finally {
    for (const m of mountsBelow(image.top)) spawnSync('umount', [m]);
    image.destroy();
  }
}

const asNobody = (argv: string[]) => execFileSync('setpriv', [`--reuid=${NOBODY.uid}`, `--regid=${NOBODY.gid}`, '--clear-groups', ...argv], { stdio: 'pipe' });

describe.each(NATIVE_VARIANTS)('attack-many: listDirectory against lstat, $name', (variant: NativeVariant) => {
  it('an entry that is a mount point gets the kind lstat gives it', () => {
    withImage((image) => {
      const d = `${image.top}/${OLD_ROOTS}`;
      // An archive with a tmpfs mounted over it: lstat sees the tmpfs root, a 'directory'.
      sh('btrfs', ['subvolume', 'create', `${d}/20261120T000000Z`]);
      sh('mount', ['-t', 'tmpfs', 'tmpfs', `${d}/20261120T000000Z`]);
      // A plain directory with another subvolume bind-mounted over it, and one with a subvolume mounted by subvol=:
      // lstat sees a subvolume root (inode 256).
      sh('btrfs', ['subvolume', 'create', `${image.top}/@persistent/elsewhere`]);
      mkdirSync(`${d}/20261121T000000Z`);
      sh('mount', ['--bind', `${image.top}/@persistent/elsewhere`, `${d}/20261121T000000Z`]);
      mkdirSync(`${d}/20261122T000000Z`);
      sh('mount', ['-o', 'subvol=@persistent/elsewhere', image.loop, `${d}/20261122T000000Z`]);
      // The next-boot request with /dev/null bound over it: lstat sees a character device.
      writeFileSync(`${d}/.pantheros-next-boot`, 'previous\n');
      sh('mount', ['--bind', '/dev/null', `${d}/.pantheros-next-boot`]);
      const expected = truth(d);
      expect(Object.fromEntries(expected.map((e) => [e.name, e.kind]))).toEqual({
        '20261120T000000Z': 'directory',
        '20261121T000000Z': 'subvolume',
        '20261122T000000Z': 'subvolume',
        '.pantheros-next-boot': 'other',
      });
      const a = runNative(variant, [{ op: 'listDirectory', path: d }]);
      expect(codes(a)).toEqual(['ok']);
      expect(a[0]!.ok && a[0]!.entries).toEqual(expected);
    });
  });

  it('odd-but-legal layouts, large directories and hostile names: the kinds lstat gives, on the ioctl path without a lookup of each entry', () => {
    withImage((image) => {
      const t = image.top;
      const dirs: string[] = [];
      // > 1500 entries (several getdents64 calls) and > 140 subvolumes with 255-byte names (several tree searches),
      // newline and non-UTF-8 names, plain directories between them so inode numbers meet subvolume ids.
      const big = `${t}/big`;
      mkdirSync(big);
      for (let i = 0; i < 320; i++) sh('btrfs', ['subvolume', 'create', `${big}/${String(i).padStart(4, '0')}${'x'.repeat(251)}`]);
      for (let i = 0; i < 1400; i++) writeFileSync(`${big}/f${i}`, '');
      for (let i = 0; i < 300; i++) mkdirSync(`${big}/d${i}`);
      execFileSync('btrfs', ['subvolume', 'create', `${big}/a\nb`]);
      execFileSync('btrfs', ['subvolume', 'create', Buffer.concat([Buffer.from(`${big}/`), Buffer.from([0xff, 0xfe, 0x0a])]).toString('latin1')], { stdio: 'pipe' });
      execFileSync('mkfifo', [`${big}/fifo`]);
      dirs.push(big);
      // Subvolumes with the same names in a sibling directory (same parent tree, other dirid).
      mkdirSync(`${t}/big2`);
      for (let i = 0; i < 20; i++) sh('btrfs', ['subvolume', 'create', `${t}/big2/d${i}`]);
      dirs.push(`${t}/big2`);
      // old_roots inside a nested subvolume, and old_roots itself a subvolume; renamed in, renamed out, renamed across.
      sh('btrfs', ['subvolume', 'create', `${t}/P`]);
      mkdirSync(`${t}/P/old`);
      for (const n of ['a1', 'a2', 'a3']) sh('btrfs', ['subvolume', 'create', `${t}/P/old/${n}`]);
      sh('btrfs', ['subvolume', 'create', `${t}/P/old/a1/nested`]);
      sh('btrfs', ['subvolume', 'create', `${t}/P/oldsv`]);
      sh('btrfs', ['subvolume', 'create', `${t}/P/oldsv/x`]);
      renameSync(`${t}/P/old/a3`, `${t}/P/oldsv/a3`);
      mkdirSync(`${t}/P/old/a3`);
      renameSync(`${t}/big2/d0`, `${t}/P/old/from-top`);
      // Snapshots whose placeholder directories (inode 2) carry nested subvolumes' ids as d_ino.
      sh('btrfs', ['subvolume', 'snapshot', `${t}/P`, `${t}/P2`]);
      sh('btrfs', ['subvolume', 'snapshot', `${t}/P/old/a1`, `${t}/P/old/a1-snap`]);
      // A placeholder removed (btrfs refuses to rename one) and a plain directory made under its name; the nested
      // subvolume another placeholder stands for moved into the snapshot under another name.
      sh('rmdir', [`${t}/P2/old/a1`]);
      mkdirSync(`${t}/P2/old/a1`);
      renameSync(`${t}/P/old/a2`, `${t}/P2/old/a2-moved-in`);
      // A subvolume deleted while in use (its root held open): not cleaned yet.
      sh('btrfs', ['subvolume', 'create', `${t}/P/old/busy`]);
      const holder = spawn('sleep', ['60'], { cwd: `${t}/P/old/busy`, stdio: 'ignore' });
      try {
        sh('btrfs', ['subvolume', 'delete', `${t}/P/old/busy`]);
        dirs.push(`${t}/P/old`, `${t}/P/oldsv`, `${t}/P2/old`, `${t}/P2`, `${t}/P/old/a1-snap`, `${t}/P`);
        // A subvolume of the same filesystem mounted over a directory that is then listed (the listing follows it).
        // (a bind of a plain directory of a nested subvolume, and a nested subvolume mounted by subvol=).
        mkdirSync(`${t}/viewed`);
        sh('mount', ['--bind', `${t}/P/old`, `${t}/viewed`]);
        mkdirSync(`${t}/viewed2`);
        sh('mount', ['-o', 'subvol=P/oldsv', image.loop, `${t}/viewed2`]);
        dirs.push(`${t}/viewed`, `${t}/viewed2`);
        // An unprivileged user's own subvolumes, snapshots, renames and placeholders in a shared sticky directory.
        const shared = `${t}/@persistent/shared`;
        chmodSync(image.dir, 0o755);
        mkdirSync(shared);
        chmodSync(shared, 0o1777);
        asNobody(['btrfs', 'subvolume', 'create', `${shared}/u`]);
        asNobody(['btrfs', 'subvolume', 'create', `${shared}/u/inner`]);
        asNobody(['btrfs', 'subvolume', 'snapshot', `${shared}/u`, `${shared}/u-snap`]);
        asNobody(['mv', `${shared}/u/inner`, `${shared}/inner-out`]);
        asNobody(['mkdir', `${shared}/u/inner`]);
        asNobody(['btrfs', 'subvolume', 'snapshot', `${shared}/u-snap`, `${shared}/u-snap2`]);
        asNobody(['mv', `${shared}/inner-out`, `${shared}/u-snap/inner2`]);
        asNobody(['ln', '-s', 'u', `${shared}/link`]);
        dirs.push(shared, `${shared}/u`, `${shared}/u-snap`, `${shared}/u-snap2`);

        const a = runNative(variant, dirs.map((path) => ({ op: 'listDirectory' as const, path })));
        expect(codes(a)).toEqual(dirs.map(() => 'ok'));
        dirs.forEach((dir, i) => expect(a[i]!.ok && a[i]!.entries, dir).toEqual(truth(dir)));
        expect(a.map((x) => x.ok && x.direct)).toEqual(dirs.map(() => variant.backend === 'ioctl'));
      } finally {
        holder.kill('SIGKILL');
      }
    });
  });

  it('a user exchanging the names of its subvolume and a plain directory while root lists: never two subvolume entries for one subvolume', () => {
    withImage((image) => {
      const shared = `${image.top}/@persistent/shared`;
      chmodSync(image.dir, 0o755);
      mkdirSync(shared);
      chmodSync(shared, 0o1777);
      asNobody(['btrfs', 'subvolume', 'create', `${shared}/s`]);
      asNobody(['mkdir', `${shared}/d`]);
      for (let i = 0; i < 30; i++) asNobody(['mkdir', `${shared}/p${i}`]);
      const script = 'import ctypes,sys\nl=ctypes.CDLL(None)\na=sys.argv[1].encode(); b=sys.argv[2].encode()\nwhile True: l.renameat2(-100,a,-100,b,2)';
      const swapper = spawn('setpriv', [`--reuid=${NOBODY.uid}`, `--regid=${NOBODY.gid}`, '--clear-groups', PYTHON, '-c', script, `${shared}/s`, `${shared}/d`], { stdio: 'ignore' });
      try {
        const a = runNative(variant, Array.from({ length: 300 }, () => ({ op: 'listDirectory' as const, path: shared })));
        const both = a.filter((x) => x.ok && x.entries!.filter((e) => (e.name === 's' || e.name === 'd') && e.kind === 'subvolume').length > 1).length;
        // The lstat path can report the one subvolume under both names (each name looked up at another moment);
        // a ROOT_REF names one entry, so the ioctl path cannot.
        if (variant.backend === 'ioctl') expect(both).toBe(0);
      } finally {
        swapper.kill('SIGKILL');
      }
    });
  });
});

describe.each(RUNTIMES)('attack-many: a boot with a tmpfs mounted over an archive, under $name', (runtime: Runtime) => {
  it('plans what the lstat path plans: the covered archive is a directory, two expired archives go, with a warning', () => {
    const c = useBootCase(runtime);
    seedArchives(c, ['20260101T000000Z', '20260201T000000Z', '20261101T000000Z', '20261120T000000Z']);
    const covered = c.abs(`${OLD_ROOTS}/20261120T000000Z`);
    sh('mount', ['-t', 'tmpfs', 'tmpfs', covered]);
    try {
      const r = c.boot('2026-11-30T00:00:00Z', { config: { deviceTimeoutSeconds: 1, oldRoots: { keepDays: 30, keepAtLeast: 2 } }, dryRun: true, json: true });
      expect(r.code, r.stderr).toBe(0);
      const report = r.json as unknown as { deleted: { name?: string; path?: string }[]; warnings: string[]; kept: { name: string }[] };
      const deleted = report.deleted.map((d) => d.name ?? d.path);
      // What Node (an lstat of each entry) plans: the tmpfs root is a plain directory, left alone with a warning;
      // 20260101 and 20260201 are older than keepDays and beyond the newest two.
      expect({ deleted, kept: report.kept.map((k) => k.name).sort(), warned: report.warnings.some((w) => w.includes('20261120T000000Z: a plain directory')) }, JSON.stringify(report, null, 1)).toEqual({
        deleted: expect.arrayContaining([expect.stringContaining('20260101T000000Z'), expect.stringContaining('20260201T000000Z')]) as unknown,
        kept: ['20261101T000000Z', '20261130T000000Z'],
        warned: true,
      });
    } finally {
      spawnSync('umount', [covered]);
    }
  });
});

describe.each(RUNTIMES)('attack-many: a boot with /dev/null bound over the next-boot request, under $name', (runtime: Runtime) => {
  it('does what the lstat path does: the request is not a regular file, so it is neither acted on nor removed, and the boot succeeds', () => {
    const c = useBootCase(runtime);
    seedArchives(c, ['20261101T000000Z']);
    const request = c.abs(`${OLD_ROOTS}/.pantheros-next-boot`);
    writeFileSync(request, 'previous\n');
    sh('mount', ['--bind', '/dev/null', request]);
    try {
      const r = c.boot('2026-11-30T00:00:00Z', { json: true });
      const report = r.json as unknown as { result: string; steps: { action: string; status: string; detail?: string }[]; warnings: string[]; error: unknown };
      expect({ code: r.code, result: report?.result, steps: report?.steps.map((s) => `${s.action} ${s.status}`) }, `${r.stderr}\n${JSON.stringify(report, null, 1)}`).toEqual({
        code: 0,
        result: 'ok',
        steps: ['rename done', 'snapshot done'],
      });
    } finally {
      spawnSync('umount', [request]);
    }
  });
});
