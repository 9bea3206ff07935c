// Real btrfs, bundled file, Node and Bun: names nobody can forge (issue 9). Any user may create subvolumes (no
// privilege is needed), with names holding newlines and text shaped like `btrfs subvolume list` lines, leading
// dashes, `..`-looking parts, bytes that are not UTF-8, and paths near PATH_MAX. None of it may make a run delete the
// wrong thing, refuse the whole plan, or stop the machine from being cleaned up.
import { chmodSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { sh } from '../helpers/btrfs-image.js';
import { commit, describeRun, OLD_ROOTS, seedArchives, useBootCase, type BootCase } from '../helpers/boot-case.js';
import { NOBODY, showRun } from '../helpers/ops.js';
import { requirePrerequisites, RUNTIMES, type Runtime } from '../helpers/prereq.js';
import { runBundle } from '../helpers/run-bundle.js';

beforeAll(() => requirePrerequisites(['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount', 'setpriv'], 'apt-get install -y btrfs-progs util-linux'));

const NOW = '2026-11-26T06:00:00Z';
/** Debian's python3 (python3-minimal, which .ci/run installs), which any user may run. */
const PYTHON = '/usr/bin/python3';
beforeAll(() => expect(existsSync(PYTHON), `${PYTHON} is missing — run: apt-get install -y python3-minimal`).toBe(true));
const CONFIG = { deviceTimeoutSeconds: 1, oldRoots: { keepDays: 30, keepAtLeast: 3 } };

/** A directory of the image that any user may create entries in (as /tmp of a live root is). */
function userArea(c: BootCase, rel: string): void {
  chmodSync(c.image.dir, 0o755);
  mkdirSync(c.abs(rel), { recursive: true });
  chmodSync(c.abs(rel), 0o1777);
}

/** A listing line as `btrfs subvolume list -c -g -p -u -q -R` prints one, naming `path` (the forgery). */
const forgedLine = (id: number, path: string, cgen = 1) => `ID ${id} gen ${cgen} cgen ${cgen} parent 5 top level 5 parent_uuid - received_uuid - uuid - path ${path}`;

/** Creates a subvolume whose path (below the top level) is the exact bytes given, as nobody, through btrfs itself. */
function userSubvolume(c: BootCase, rel: Buffer | string): void {
  const abs = Buffer.concat([Buffer.from(`${c.top}/`), typeof rel === 'string' ? Buffer.from(rel) : rel]);
  // A name cannot hold "/": a forged line naming a path is spread over directories (made by the user too).
  const script = 'import os,sys\np=bytes.fromhex(sys.argv[1])\nos.makedirs(os.path.dirname(p), exist_ok=True)\nos.execvp("btrfs", ["btrfs", "subvolume", "create", p])';
  const r = spawnSync('setpriv', [`--reuid=${NOBODY.uid}`, `--regid=${NOBODY.gid}`, '--clear-groups', PYTHON, '-c', script, abs.toString('hex')], { encoding: 'utf8' });
  expect(r.status, `btrfs subvolume create as nobody: ${r.stderr}`).toBe(0);
}

/** A subvolume made by root with exact bytes and any path length (python: chdir down, then a relative name). */
function rootSubvolume(c: BootCase, rel: Buffer): void {
  const r = spawnSync(PYTHON, ['-c', 'import os,sys,subprocess\np=bytes.fromhex(sys.argv[1]).split(b"/")\nos.chdir(sys.argv[2])\nfor d in p[:-1]:\n  os.makedirs(d, exist_ok=True); os.chdir(d)\nsubprocess.run(["btrfs","subvolume","create",b"./"+p[-1]], check=True, stdout=subprocess.DEVNULL)', rel.toString('hex'), c.top], { encoding: 'utf8' });
  expect(r.status, `python3 subvolume ${rel.toString('utf8')}: ${r.stderr}`).toBe(0);
}

/** The subvolume paths the filesystem has, as exact bytes in hex (python walks by id, so nothing is read through a name). */
function subvolumeCount(c: BootCase): number {
  return c.image.subvolumes().length;
}

function run(c: BootCase, runtime: Runtime, args: string[], env: Record<string, string> = {}) {
  return runBundle(runtime, [...args, '--top-level', c.top, '--config', writeConfig(c)], env);
}

function writeConfig(c: BootCase, config: unknown = { ...CONFIG, snapshotRetention: { hourly: 24, daily: 7, weekly: 4, monthly: 6 } }): string {
  const file = join(c.image.dir, 'hostile-config.json');
  sh('sh', ['-c', `cat > ${file}`], JSON.stringify(config));
  return file;
}

describe.each(RUNTIMES)('hostile names under $name', (runtime: Runtime) => {
  it('an unprivileged user forges a listing line (cgen 1) for every daily snapshot: prune deletes nothing wrong, keeps the newest, and says what it did not trust', () => {
    const c = useBootCase(runtime);
    const days = Array.from({ length: 8 }, (_, i) => `202611${String(18 + i)}T000000Z`);
    for (const d of days) {
      sh('btrfs', ['subvolume', 'snapshot', '-r', c.abs('@persistent'), c.abs(`@snapshots/daily/@persistent.${d}`)]);
      commit(c);
    }
    userArea(c, '@root/tmp');
    days.forEach((d, i) => userSubvolume(c, `@root/tmp/x${i}\n${forgedLine(900 + i, `@snapshots/daily/@persistent.${d}`)}`));
    // And one forging a line for a snapshot that does not exist, and one that repeats a real id with cgen 1.
    userSubvolume(c, `@root/tmp/y\n${forgedLine(999, '@snapshots/daily/@persistent.20200101T000000Z')}`);
    commit(c);
    const r = run(c, runtime, ['prune', '--json']);
    expect(r.code, showRun(r, 'prune')).toBe(0);
    const out = JSON.parse(r.stdout) as { deleted: string[]; warnings: string[] };
    // Retention 7 of 8: exactly the oldest goes, as without the forged lines.
    expect(out.deleted).toEqual([`@snapshots/daily/@persistent.${days[0]}`]);
    expect(readdirSync(c.abs('@snapshots/daily')).sort()).toEqual(days.slice(1).map((d) => `@persistent.${d}`));
    const distrust = /lines of the subvolume listing name @snapshots\/daily\/@persistent\.\d+T000000Z .* btrfs subvolume show/;
    // The `btrfs subvolume list` text is read on the process path (Node; Bun's fallback); under Bun the ioctl path
    // reads the root tree's items, which hold no text to forge, so there is nothing to distrust.
    // (Bun takes the ioctl path here: test/btrfs/ioctl-native.test.ts requires it.)
    if (runtime.name !== 'bun') expect(out.warnings.join('\n')).toMatch(distrust);
    else expect(out.warnings.join('\n')).not.toMatch(/subvolume listing/);
    // The process path under every runtime: again nothing wrong goes (retention is met now), and it says what it did not trust.
    const forced = run(c, runtime, ['prune', '--json'], { PANTHEROS_BTRFS_BACKEND: 'process' });
    expect(forced.code, showRun(forced, 'prune (process backend)')).toBe(0);
    const again = JSON.parse(forced.stdout) as { deleted: string[]; warnings: string[] };
    expect(again.deleted).toEqual([]);
    expect(readdirSync(c.abs('@snapshots/daily')).sort()).toEqual(days.slice(1).map((d) => `@persistent.${d}`));
    expect(again.warnings.join('\n')).toMatch(distrust);
  });

  it('a subvolume named a<newline>b (and one forging a line for the newest archive) inside an expired archive: the archive goes with it, the other expired one too, the wipe happens', () => {
    const c = useBootCase(runtime);
    const expired = ['20250101T000000Z', '20250102T000000Z'];
    const recent = ['20261120T000000Z', '20261121T000000Z', '20261122T000000Z'];
    seedArchives(c, [...expired, ...recent]);
    const x = `${OLD_ROOTS}/${expired[0]}`;
    userArea(c, `${x}/tmp`);
    userSubvolume(c, `${x}/tmp/a\nb`);
    userSubvolume(c, `${x}/tmp/c\n${forgedLine(5000, `${OLD_ROOTS}/${recent.at(-1)}`, 1)}`);
    userSubvolume(c, `${x}/tmp/d\n${forgedLine(5001, `${x}/tmp/does-not-exist`)}`);
    userSubvolume(c, `${x}/tmp/d\n${forgedLine(5001, `${x}/tmp/does-not-exist`)}/inner`);
    commit(c);
    const before = subvolumeCount(c);
    const r = c.boot(NOW, { config: CONFIG });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.result).toBe('ok');
    expect(r.report?.deleted.map((d) => d.path).sort()).toEqual(expired.map((e) => `${OLD_ROOTS}/${e}`));
    expect(c.archives()).toEqual([...recent, '20261126T060000Z']);
    expect(readdirSync(c.abs('@root'))).toEqual([]);
    // Two archives with 1 + 4 nested subvolumes went, one root was archived and a new one made: 6 fewer, 1 more.
    expect(subvolumeCount(c)).toBe(before - 6 + 1);
  });

  it('nested subvolumes named with leading dashes, ..-looking parts, bytes that are not UTF-8, newlines and a path near PATH_MAX go with their expired archive', () => {
    const c = useBootCase(runtime);
    seedArchives(c, ['20250101T000000Z', '20261120T000000Z', '20261121T000000Z', '20261122T000000Z']);
    const x = `${OLD_ROOTS}/20250101T000000Z`;
    rootSubvolume(c, Buffer.from(`${x}/-rf`));
    rootSubvolume(c, Buffer.from(`${x}/--commit-after`));
    rootSubvolume(c, Buffer.from(`${x}/..x`));
    rootSubvolume(c, Buffer.from(`${x}/...`));
    rootSubvolume(c, Buffer.concat([Buffer.from(`${x}/bad-`), Buffer.from([0xff, 0xfe, 0x80]), Buffer.from('-utf8')]));
    rootSubvolume(c, Buffer.from(`${x}/line\nbreak`));
    const deep = Array.from({ length: 18 }, (_, i) => `${String(i).padStart(2, '0')}${'d'.repeat(230)}`).join('/');
    rootSubvolume(c, Buffer.from(`${x}/${deep}/deepest`));
    commit(c);
    expect(Buffer.byteLength(`${c.top}/${x}/${deep}/deepest`)).toBeGreaterThan(4096);
    const r = c.boot(NOW, { config: CONFIG });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.deleted.map((d) => d.path), JSON.stringify(r.report?.kept)).toEqual([x]);
    expect(r.report?.deleted[0]!.subvolumes).toHaveLength(8);
    expect(c.kind(x)).toBe('missing');
    expect(c.archives()).toEqual(['20261120T000000Z', '20261121T000000Z', '20261122T000000Z', '20261126T060000Z']);
  });

  it('previous brings the nested subvolumes of the root back (recursively, odd names included) as writable snapshots, lists them, and leaves the archive intact', () => {
    const c = useBootCase(runtime);
    seedArchives(c, ['20261120T000000Z']);
    c.createSubvolume('@root/var/lib/docker', { marker: 'docker\n' });
    c.createSubvolume('@root/var/lib/docker/btrfs/subvolumes/abc', { marker: 'layer\n' });
    rootSubvolume(c, Buffer.from('@root/srv/-odd\nname'));
    rootSubvolume(c, Buffer.concat([Buffer.from('@root/srv/'), Buffer.from([0xff, 0x41])]));
    commit(c);
    const r = c.boot(NOW, { config: CONFIG, cmdline: 'pantheros.rollback=previous' });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.nested.map((n) => n.path).sort()).toEqual(['srv/-odd\nname', 'srv/\uFFFDA', 'var/lib/docker', 'var/lib/docker/btrfs/subvolumes/abc'].sort());
    expect(c.read('@root/var/lib/docker/marker')).toBe('docker\n');
    expect(c.read('@root/var/lib/docker/btrfs/subvolumes/abc/marker')).toBe('layer\n');
    for (const p of ['@root/var/lib/docker', '@root/var/lib/docker/btrfs/subvolumes/abc', '@root/srv/-odd\nname']) {
      expect(c.kind(p), p).toBe('subvolume');
      expect(c.image.isReadOnly(p), p).toBe(false);
    }
    const odd = Buffer.concat([Buffer.from(`${c.top}/@root/srv/`), Buffer.from([0xff, 0x41])]);
    expect(readdirSync(Buffer.from(`${c.top}/@root/srv`), { encoding: 'buffer' }).some((n) => n.equals(Buffer.from([0xff, 0x41])))).toBe(true);
    expect(spawnSync('stat', ['-c', '%i', odd.toString('latin1')]).status).not.toBeNull();
    // The archive (the root of the previous boot) still holds its own nested subvolumes, untouched.
    const archive = `${OLD_ROOTS}/20261126T060000Z`;
    expect(c.read(`${archive}/var/lib/docker/btrfs/subvolumes/abc/marker`)).toBe('layer\n');
    expect(c.kind(`${archive}/var/lib/docker`)).toBe('subvolume');
  });

  it('an archive within keepDays as the target, and the newest archive when @root is missing: their nested subvolumes come back too (facts are read below every possible source, not only below what ages out)', () => {
    const c = useBootCase(runtime);
    seedArchives(c, ['20261120T000000Z', '20261121T000000Z', '20261122T000000Z']);
    for (const a of ['20261121T000000Z', '20261122T000000Z']) c.createSubvolume(`${OLD_ROOTS}/${a}/var/lib/docker`, { marker: `docker of ${a}\n` });
    commit(c);
    const named = c.boot(NOW, { config: CONFIG, cmdline: 'pantheros.rollback=20261121T000000Z' });
    expect(named.code, describeRun(named)).toBe(0);
    expect(named.report?.nested.map((n) => n.path)).toEqual(['var/lib/docker']);
    expect(c.read('@root/var/lib/docker/marker')).toBe('docker of 20261121T000000Z\n');
    // A normal boot archives that root (with its docker) as the newest archive; then @root goes (an interrupted run):
    // `previous` is that newest archive, well within keepDays.
    expect(c.boot('2026-11-26T07:00:00Z', { config: CONFIG }).code).toBe(0);
    sh('btrfs', ['subvolume', 'delete', c.abs('@root')]);
    commit(c);
    const missing = c.boot('2026-11-26T08:00:00Z', { config: CONFIG, cmdline: 'pantheros.rollback=previous' });
    expect(missing.code, describeRun(missing)).toBe(0);
    expect(missing.report?.nested.map((n) => n.path)).toEqual(['var/lib/docker']);
    expect(c.read('@root/var/lib/docker/marker')).toBe('docker of 20261121T000000Z\n');
  });

  it('an archive that is the default subvolume is kept with the reason and a warning naming the fix; the other expired archives still go', () => {
    const c = useBootCase(runtime);
    const expired = ['20250101T000000Z', '20250102T000000Z'];
    seedArchives(c, [...expired, '20261120T000000Z', '20261121T000000Z', '20261122T000000Z']);
    sh('btrfs', ['subvolume', 'set-default', c.abs(`${OLD_ROOTS}/${expired[0]}`)]);
    try {
      const r = c.boot(NOW, { config: CONFIG });
      expect(r.code, describeRun(r)).toBe(0);
      expect(r.report?.deleted.map((d) => d.path)).toEqual([`${OLD_ROOTS}/${expired[1]}`]);
      expect(r.report?.kept.find((k) => k.name === expired[0])?.reason).toMatch(/default subvolume .*refuses to delete it/);
      expect(r.report?.warnings.join('\n')).toMatch(/is the default subvolume.*btrfs subvolume set-default 5/);
      expect(c.archives()).toContain(expired[0]);
    } finally {
      sh('btrfs', ['subvolume', 'set-default', '5', c.top]);
    }
  });

  it('a root whose directory does not exist (subvolumes.root "nonexist/@root"): refused before anything changes, by the dry run and the boot alike (before: the dry run planned a new root, and every boot failed with ENOENT saying the next one would make it)', () => {
    const c = useBootCase(runtime);
    const config = { ...CONFIG, subvolumes: { root: 'nonexist/@root' } };
    for (const dryRun of [true, false]) {
      const r = c.boot(NOW, { config, dryRun });
      expect(r.code, describeRun(r)).toBe(3);
      expect(r.stderr).toContain('nonexist, the directory nonexist/@root goes in, does not exist: no root can be made there');
    }
    expect(c.kind('nonexist')).toBe('missing');
    expect(c.kind('@root')).toBe('subvolume');
  });

  it('an archive that holds the default subvolume nested in it: the dry run, check and the boot keep it with the reason (before: promised deleted, and every boot failed that delete with EPERM)', () => {
    const c = useBootCase(runtime);
    const expired = ['20250101T000000Z', '20250102T000000Z'];
    seedArchives(c, [...expired, '20261120T000000Z', '20261121T000000Z', '20261122T000000Z']);
    c.createSubvolume(`${OLD_ROOTS}/${expired[0]}/inner`);
    sh('btrfs', ['subvolume', 'set-default', c.abs(`${OLD_ROOTS}/${expired[0]}/inner`)]);
    try {
      const reason = /holds the default subvolume inner \(btrfs subvolume set-default\): btrfs refuses to delete it/;
      const dry = c.boot(NOW, { config: CONFIG, dryRun: true });
      expect(dry.code, describeRun(dry)).toBe(0);
      expect(dry.report?.kept.find((k) => k.name === expired[0])?.reason, describeRun(dry)).toMatch(reason);
      const r = c.boot(NOW, { config: CONFIG });
      expect(r.code, describeRun(r)).toBe(0);
      expect(r.report?.deleted.map((d) => d.path)).toEqual([`${OLD_ROOTS}/${expired[1]}`]);
      expect(r.report?.kept.find((k) => k.name === expired[0])?.reason).toMatch(reason);
      expect(r.report?.warnings.join('\n')).toMatch(/inner inside .* is the default subvolume: .*never ages out.*btrfs subvolume set-default 5/);
      expect(c.archives()).toContain(expired[0]);
      expect(c.kind(`${OLD_ROOTS}/${expired[0]}/inner`)).toBe('subvolume');
    } finally {
      sh('btrfs', ['subvolume', 'set-default', '5', c.top]);
    }
  });
});
