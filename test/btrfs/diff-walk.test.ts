// Real btrfs, bundled file, Node and Bun: `diff --method walk` (the default) reports every kind of change right, and
// agrees with `diff --method send` — two independent methods (lstat of both trees vs. the kernel's send stream).
import { chmodSync, chownSync, closeSync, linkSync, openSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { sh } from '../helpers/btrfs-image.js';
import { commit, OLD_ROOTS, useBootCase, type BootCase } from '../helpers/boot-case.js';
import { requirePrerequisites, RUNTIMES, type Runtime } from '../helpers/prereq.js';
import { runBundle } from '../helpers/run-bundle.js';
import { rootFromFilledBlank } from '../helpers/diff-case.js';
import { makeDeepTree } from '../helpers/deep-tree.js';
import type { DiffEntry } from '../../src/diff/parse-dump.js';

beforeAll(() => requirePrerequisites(['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount', 'setfattr', 'getfattr', 'chattr', 'mkfifo'], 'apt-get install -y btrfs-progs util-linux attr e2fsprogs coreutils'));

type Entry = DiffEntry;
interface DiffJson {
  method: string;
  summary: { added: number; changed: number; deleted: number; persistedSkipped: number };
  entries: Entry[];
}

const brief = (e: Entry) =>
  `${e.status[0]!.toUpperCase()} ${e.path}${e.type ? ` ${e.type}` : ''}${e.changes.length ? ` [${e.changes.join(',')}]` : ''}${e.from ? ` from ${e.from}` : ''}${e.target !== undefined ? ` -> ${e.target}` : ''}${e.xattrs ? ` x:${e.xattrs.join(',')}` : ''}`;

function diff(c: BootCase, extra: string[], env: Record<string, string> = {}): DiffJson {
  const config = join(c.image.dir, 'config.json');
  writeFileSync(config, JSON.stringify({ persistentPaths: ['/var/log'] }));
  const argv = ['diff', '--json', '--top-level', c.top, '--config', config, ...extra];
  const r = runBundle(c.runtime, argv, env);
  expect(r.code, `${argv.join(' ')}\n${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout) as DiffJson;
}

/**
 * As in the running system, @root is mounted and /var/log (a persistentPaths entry) has its bind mount from
 * @persistent: only then is it persisted (a persistentPaths entry with nothing mounted is reported, issue 11).
 */
function mountPersistedVarLog(c: BootCase): void {
  const sysroot = join(c.image.dir, 'sysroot');
  mkdirSync(sysroot);
  sh('mount', ['-o', 'subvol=@root', c.image.loop, sysroot]);
  onTestFinished(() => void spawnSync('umount', ['-R', sysroot]));
  sh('mount', ['--bind', c.abs('@persistent'), join(sysroot, 'var/log')]);
}

/** Non-UTF-8 names (Latin-1 bytes) are shown with U+FFFD by both methods. */
const LATIN1_FILE = Buffer.from('caf\xe9', 'latin1');
const LATIN1_DIR = Buffer.from('d\xefr', 'latin1');

/** A blank with content; @root snapshotted from it; then one change of each kind. */
function prepare(c: BootCase): void {
  const r = rootFromFilledBlank(c, (b) => {
    for (const d of ['etc/deldir', 'srv/movedir/inner', 'var/log', 'var/lib']) mkdirSync(b(d), { recursive: true });
    for (const f of ['keep', 'hosts', 'motd', 'chmodme', 'chownme', 'touchme', 'xattrme', 'chattrme', 'deleteme', 'renameme', 'linkme', 'typeme', 'overwritten', 'deldir/f']) writeFileSync(b(`etc/${f}`), `${f}\n`);
    writeFileSync(b('srv/movedir/inner/f'), 'f\n');
    writeFileSync(b('var/log/old.log'), 'old\n');
    symlinkSync('hosts', b('etc/ln'));
  });
  writeFileSync(r('etc/newfile'), 'new\n');
  mkdirSync(r('etc/newdir'));
  writeFileSync(r('etc/newdir/inner'), 'inner\n');
  sh('mkfifo', [r('etc/newfifo')]);
  unlinkSync(r('etc/deleteme'));
  rmSync(r('etc/deldir'), { recursive: true });
  writeFileSync(r('etc/hosts'), 'hosts\nappended\n');
  chmodSync(r('etc/chmodme'), 0o600);
  chownSync(r('etc/chownme'), 1000, 1000);
  utimesSync(r('etc/touchme'), new Date('2020-01-01T00:00:00Z'), new Date('2020-01-01T00:00:00Z'));
  sh('setfattr', ['-n', 'user.pantheros', '-v', 'yes', r('etc/xattrme')]);
  sh('chattr', ['+A', r('etc/chattrme')]);
  unlinkSync(r('etc/ln'));
  symlinkSync('motd', r('etc/ln'));
  unlinkSync(r('etc/typeme'));
  mkdirSync(r('etc/typeme'));
  writeFileSync(r('etc/typeme/in'), 'in\n');
  renameSync(r('etc/renameme'), r('etc/renamed'));
  renameSync(r('etc/motd'), r('etc/overwritten'));
  renameSync(r('srv/movedir'), r('srv/moved'));
  linkSync(r('etc/linkme'), r('etc/linkme2'));
  writeFileSync(r('var/log/new.log'), 'persisted\n');
  writeFileSync(r('var/log/old.log'), 'rewritten\n');
  writeFileSync(Buffer.concat([Buffer.from(r('etc/')), LATIN1_FILE]), 'latin1\n');
  mkdirSync(Buffer.concat([Buffer.from(r('')), LATIN1_DIR]));
  writeFileSync(Buffer.concat([Buffer.from(r('')), LATIN1_DIR, Buffer.from('/x')]), 'x\n');
  c.createSubvolume('@root/var/lib/machines', { inside: 'container\n' });
  commit(c);
}

/** What the walk must report for prepare(): every path the next boot erases, with what changed. */
const EXPECTED = [
  'C / [times]',
  'A /d\uFFFDr dir',
  'A /d\uFFFDr/x file',
  'C /etc [times]',
  'A /etc/caf\uFFFD file',
  'C /etc/chattrme [metadata]',
  'C /etc/chmodme [mode]',
  'C /etc/chownme [owner]',
  'D /etc/deldir dir',
  'D /etc/deldir/f file',
  'D /etc/deleteme file',
  'C /etc/hosts [content,times]',
  'C /etc/linkme [metadata]',
  'A /etc/linkme2 hardlink -> /etc/linkme',
  'C /etc/ln symlink [replaced] -> motd',
  'D /etc/motd file',
  'A /etc/newdir dir',
  'A /etc/newdir/inner file',
  'A /etc/newfifo fifo',
  'A /etc/newfile file',
  'C /etc/overwritten file [replaced] from /etc/motd',
  'A /etc/renamed file from /etc/renameme',
  'D /etc/renameme file',
  'C /etc/touchme [times]',
  'C /etc/typeme dir [replaced]',
  'A /etc/typeme/in file',
  'C /etc/xattrme [xattr] x:user.pantheros',
  'C /srv [times]',
  'A /srv/moved dir from /srv/movedir',
  'A /srv/moved/inner dir from /srv/movedir/inner',
  'A /srv/moved/inner/f file from /srv/movedir/inner/f',
  'D /srv/movedir dir',
  'D /srv/movedir/inner dir',
  'D /srv/movedir/inner/f file',
  'C /var/lib [times]',
  'A /var/lib/machines subvolume',
];

/**
 * The two methods' reports made comparable. Where they legitimately differ:
 * - a renamed directory: send names only the directory (its contents travel along unmentioned); the walk also lists
 *   the contents at the old and the new place — dropped here below renamed directories;
 * - a change of the inode change time alone (a link count, chattr): send has `times`, the walk `metadata`; send adds
 *   `times` to every changed inode — `times` and `metadata` are left out of the kinds here (the walk's are checked
 *   against EXPECTED);
 * - types: send knows them only for inodes it creates or removes — compared where send has one.
 */
function normalise(entries: Entry[], renamedDirs: string[]): Map<string, { status: string; changes: string[]; from?: string; target?: string; xattrs?: string[]; type?: string }> {
  const below = (p: string) => renamedDirs.some((d) => p.startsWith(`${d}/`));
  return new Map(
    entries
      .filter((e) => !below(e.path))
      .map((e) => [e.path, { status: e.status, changes: e.changes.filter((k) => k !== 'times' && k !== 'metadata') as string[], from: e.from, target: e.target, xattrs: e.xattrs, type: e.type as string | undefined }]),
  );
}

describe.each(RUNTIMES)('diff --method walk under $name', (runtime: Runtime) => {
  it('reports every kind of change, equals --method send, takes no snapshot and runs no btrfs command', () => {
    const c = useBootCase(runtime);
    prepare(c);
    mountPersistedVarLog(c);
    const log = join(c.image.dir, 'btrfs.log');
    const wrapper = join(c.image.dir, 'btrfs-wrapper.sh');
    writeFileSync(wrapper, `#!/bin/sh\necho "$*" >> ${log}\nexec btrfs "$@"\n`);
    chmodSync(wrapper, 0o755);
    writeFileSync(log, '');
    const before = c.image.paths();

    const walk = diff(c, [], { PANTHEROS_BTRFS: wrapper });
    expect(walk.method).toBe('walk');
    expect(walk.entries.map(brief)).toEqual(EXPECTED);
    expect(walk.summary).toEqual({ added: 14, changed: 14, deleted: 8, persistedSkipped: 1 });
    expect(readFileSync(log, 'utf8')).toBe('');
    expect(c.image.paths()).toEqual(before);

    // With an extended attribute in the root, send does not trust its dump (btrfs-progs prints xattr names and values
    // unescaped: a newline in one forges lines) and compares by walking: the same answer, method "walk".
    const fellBack = diff(c, ['--method', 'send']);
    expect(fellBack.method).toBe('walk');
    expect(fellBack.entries.map(brief)).toEqual(EXPECTED);
    // Without it, send's own answer (the kernel's stream) agrees with the walk's.
    sh('setfattr', ['-x', 'user.pantheros', c.abs('@root/etc/xattrme')]);
    const send = diff(c, ['--method', 'send']);
    expect(send.method).toBe('send');
    const renamedDirs = walk.entries.filter((e) => e.from !== undefined && e.type === 'dir').flatMap((e) => [e.path, e.from!]);
    expect(renamedDirs).toEqual(['/srv/moved', '/srv/movedir', '/srv/moved/inner', '/srv/movedir/inner']);
    const w = normalise(diff(c, []).entries, renamedDirs);
    const s = normalise(send.entries, renamedDirs);
    expect([...w.keys()]).toEqual([...s.keys()]);
    for (const [path, e] of s) {
      const other = w.get(path)!;
      expect({ ...other, type: e.type === undefined ? undefined : other.type }, path).toEqual(e);
    }
    expect(c.image.paths()).toEqual(before);

    // A snapshot of the root holds an empty stub (inode 2, its own st_dev) where the nested subvolume was: the walk
    // shows an empty directory, send shows nothing there (its stream skips subvolume entries).
    sh('btrfs', ['subvolume', 'snapshot', c.abs('@root'), c.abs(`${OLD_ROOTS}/20261126T060000Z`)]);
    const stub = diff(c, ['20261126T060000Z', '--prefix', '/var/lib']);
    expect(stub.entries.map(brief)).toEqual(['C /var/lib [times]', 'A /var/lib/machines dir']);
    const stubSend = diff(c, ['20261126T060000Z', '--prefix', '/var/lib', '--method', 'send']);
    expect(stubSend.entries.map((e) => `${e.status} ${e.path}`)).toEqual(['changed /var/lib']);
  });

  it('an extended attribute whose value forges dump lines (a second snapshot line, made-up entries): send compares by walking, says so, and shows what is really there (before: the forged entries, and not the real file after them)', () => {
    const c = useBootCase(runtime);
    mkdirSync(c.abs('@root/tmp'), { mode: 0o1777 });
    writeFileSync(c.abs('@root/tmp/a'), 'a\n');
    const forged = 'v\nsnapshot ./forged uuid=0 transid=1 parent_uuid=0 parent_transid=1\nmkfile ./forged/etc/FORGED\nunlink ./forged/boot-loader';
    sh('setfattr', ['-n', 'user.x', '-v', `0x${Buffer.from(forged).toString('hex')}`, c.abs('@root/tmp/a')]);
    mkdirSync(c.abs('@root/etc'), { recursive: true });
    writeFileSync(c.abs('@root/etc/cron-backdoor'), 'evil\n');
    commit(c);
    const config = join(c.image.dir, 'config.json');
    writeFileSync(config, '{}');
    const r = runBundle(runtime, ['diff', '--json', '--method', 'send', '--top-level', c.top, '--config', config]);
    expect(r.code, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout) as DiffJson;
    const paths = d.entries.map((e) => e.path);
    expect(paths).toContain('/etc/cron-backdoor');
    expect(paths.filter((p) => /FORGED|boot-loader/.test(p))).toEqual([]);
    expect(d.method).toBe('walk');
    expect(r.stderr).toMatch(/diff: the dump names 2 subvolumes .*compared by walking the trees instead/);
  });

  it('--prefix prunes both methods alike; persisted paths stay hidden even when asked for', () => {
    const c = useBootCase(runtime);
    prepare(c);
    mountPersistedVarLog(c);
    const prefixes = ['--prefix', '/etc/typeme', '--prefix', '/srv/moved', '--prefix', '/var'];
    const walk = diff(c, prefixes);
    // The walk does not read /srv/movedir (outside the prefixes), so it cannot name where /srv/moved came from.
    expect(walk.entries.map(brief)).toEqual([
      'C /etc/typeme dir [replaced]',
      'A /etc/typeme/in file',
      'A /srv/moved dir',
      'A /srv/moved/inner dir',
      'A /srv/moved/inner/f file',
      'C /var/lib [times]',
      'A /var/lib/machines subvolume',
    ]);
    expect(walk.summary.persistedSkipped).toBe(1);
    sh('setfattr', ['-x', 'user.pantheros', c.abs('@root/etc/xattrme')]);
    const send = diff(c, [...prefixes, '--method', 'send']);
    expect(send.method).toBe('send');
    expect(send.entries.map((e) => `${e.status} ${e.path}`)).toEqual(
      walk.entries.filter((e) => !e.path.startsWith('/srv/moved/')).map((e) => `${e.status} ${e.path}`),
    );
    const log = diff(c, ['--prefix', '/var/log/new.log']);
    expect(log.entries).toEqual([]);
    expect(log.summary.persistedSkipped).toBe(1);
  });

  it('an archive holding 2 000 new files: both methods list the same paths; human output', () => {
    const c = useBootCase(runtime);
    for (let d = 0; d < 20; d++) {
      mkdirSync(c.abs(`@root/d${d}`));
      for (let f = 0; f < 100; f++) writeFileSync(c.abs(`@root/d${d}/f${f}`), `${d}/${f}\n`);
    }
    sh('btrfs', ['subvolume', 'snapshot', c.abs('@root'), c.abs(`${OLD_ROOTS}/20261126T060000Z`)]);
    commit(c);
    const walk = diff(c, ['20261126T060000Z']);
    const send = diff(c, ['20261126T060000Z', '--method', 'send']);
    expect(walk.summary).toEqual({ added: 2021, changed: 1, deleted: 0, persistedSkipped: 0 });
    expect(walk.entries.map((e) => `${e.status} ${e.path}`)).toEqual(send.entries.map((e) => `${e.status} ${e.path}`));
    const config = join(c.image.dir, 'config.json');
    const human = runBundle(runtime, ['diff', '--top-level', c.top, '--config', config, '--prefix', '/d0/f1']);
    expect(human.stdout).toMatch(/^A \/d0\/f1 {2}\(file\)$/m);
    expect(human.stdout).toMatch(/^1 added, 0 changed, 0 deleted — the next boot erases these/m);
    // --summary: counts per top-level directory instead of 2 000 lines.
    const summary = runBundle(runtime, ['diff', '20261126T060000Z', '--summary', '--top-level', c.top, '--config', config]);
    expect(summary.code, summary.stderr).toBe(0);
    const lines = summary.stdout.trim().split('\n');
    expect(lines.slice(1, 4)).toEqual(['/  1 changed', '/d0  101 added', '/d1  101 added']);
    expect(lines).toHaveLength(1 + 1 + 20 + 1 + 1 + 1);
    expect(lines.at(-2)).toMatch(/^2021 added, 1 changed, 0 deleted \(\d+ ms\)$/);
    // The config's /var/log has nothing mounted here: said, since what is there would be reported (issue 11).
    expect(lines.at(-1)).toMatch(/^warning: nothing is mounted on persistentPaths \/var\/log: /);
    const groups = diff(c, ['20261126T060000Z', '--summary']) as DiffJson & { groups: { path: string; added: number }[] };
    expect(groups.entries).toBeUndefined();
    expect(groups.groups.find((g) => g.path === '/marker')).toEqual({ path: '/marker', added: 1, changed: 0, deleted: 0 });
  });

  it('a tree deeper than PATH_MAX, which any user can make in the root: every level listed and each change at its bottom named (before: "cannot compare", exit 3); send, which the kernel refuses there, points to the walk', () => {
    const c = useBootCase(runtime);
    let deep = '';
    const r = rootFromFilledBlank(c, (b) => {
      deep = makeDeepTree(b(''), 'deep', 30, (bottom) => {
        for (const f of ['chmodme', 'rewriteme', 'touchme']) writeFileSync(`${bottom}/${f}`, `${f}\n`);
      });
    });
    makeDeepTree(r(''), 'deeper', 30, () => {});
    let bottom = r('');
    for (const part of deep.split('/')) bottom = `${bottom}/${part}`;
    // Reached through held directories, as the tool must reach them.
    const at = (fn: (dir: string) => void) => {
      const dirs = deep.split('/');
      let fd = openSync(r(''), 'r');
      for (const d of dirs) {
        const next = openSync(`/proc/self/fd/${fd}/${d}`, 'r');
        closeSync(fd);
        fd = next;
      }
      try {
        fn(`/proc/self/fd/${fd}`);
      } finally {
        closeSync(fd);
      }
    };
    at((dir) => {
      chmodSync(`${dir}/chmodme`, 0o600);
      writeFileSync(`${dir}/rewriteme`, 'REWRITEME\n');
      utimesSync(`${dir}/touchme`, new Date('2026-01-01T00:00:00Z'), new Date('2026-01-01T00:00:00Z'));
      writeFileSync(`${dir}/new`, 'new\n');
      symlinkSync('rewriteme', `${dir}/ln`);
    });
    commit(c);
    const walk = diff(c, []);
    const shown = walk.entries.filter((e) => e.path.startsWith('/deep/')).map((e) => `${brief({ ...e, path: e.path.slice(`/${deep}/`.length) })}`);
    // The bottom directory itself (its times), then each entry; touchme's data is read on both sides: only its times.
    expect(shown).toEqual(['C  [times]', 'C chmodme [mode]', 'A ln symlink -> rewriteme', 'A new file', 'C rewriteme [content,times]', 'C touchme [times]']);
    // The other tree is new: its 31 directories are each added.
    expect(walk.entries.filter((e) => e.path.startsWith('/deeper')).map((e) => `${e.status} ${e.type}`)).toEqual(Array<string>(31).fill('added dir'));
    expect(Math.max(...walk.entries.map((e) => Buffer.byteLength(e.path)))).toBeGreaterThan(6000);

    const config = join(c.image.dir, 'config.json');
    const send = runBundle(runtime, ['diff', '--method', 'send', '--top-level', c.top, '--config', config]);
    expect(send.code, send.stderr).toBe(3);
    // btrfs may add a second line of its own ("failed to read stream from kernel") before the hint.
    expect(send.stderr).toMatch(/File name too long[^]*; --method walk \(the default\) compares the trees without btrfs send/);
  });
});
