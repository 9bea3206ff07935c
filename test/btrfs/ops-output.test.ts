// Real btrfs, bundled file, Node and Bun (issue 11, operator-command review): what the commands print and how they
// end — names with control and bidi characters escaped in every text output, one JSON document on stdout whatever
// stops the run, a closed stdout that is no bug and leaves nothing behind, flags named like Object's properties, list
// with a subvolume listing that fails — and mount/umount acting on exactly the directory and the mount they checked.
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { sh } from '../helpers/btrfs-image.js';
import { commit, OLD_ROOTS, useBootCase, type BootCase } from '../helpers/boot-case.js';
import { PYTHON, requirePython } from '../helpers/attack.js';
import { asNobody, mountsOf, NOBODY, scratchArea, showRun, startBundle, waitFor } from '../helpers/ops.js';
import { BUNDLE, requirePrerequisites, RUNTIMES, type Runtime } from '../helpers/prereq.js';
import { runBundle } from '../helpers/run-bundle.js';
import { parseMountinfo } from '../../src/fs/mountinfo.js';

beforeAll(() => requirePrerequisites(['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount', 'setpriv', 'bash', 'head'], 'apt-get install -y btrfs-progs util-linux coreutils bash'));
beforeAll(requirePython);

const ARCHIVE = '20261120T000000Z';

/**
 * What a terminal acts on or reorders: C0 but the newline, DEL, C1, the bidi controls, U+2028/U+2029. Text output
 * must hold none of them, whatever the names.
 */
const RAW_UNSAFE = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/u;

/** Names a user can give a file: C1 controls (NEL, CSI), bidi overrides and isolates, DEL, ESC, a newline. */
const HOSTILE = [
  { name: 'nel\u0085line', shown: '"nel\\u0085line"' },
  { name: 'csi\u009b31m', shown: '"csi\\u009b31m"' },
  { name: 'invoice\u202egpj.exe', shown: '"invoice\\u202egpj.exe"' },
  { name: 'iso\u2066late\u2069', shown: '"iso\\u2066late\\u2069"' },
  { name: 'ltr\u202amark', shown: '"ltr\\u202amark"' },
  { name: 'del\u007fete', shown: '"del\\u007fete"' },
  { name: 'esc\u001b[2J', shown: '"esc\\u001b[2J"' },
  { name: 'two\nlines', shown: '"two\\nlines"' },
];

function configFile(c: BootCase, config: object = { deviceTimeoutSeconds: 1 }): string {
  const file = join(c.image.dir, 'output-config.json');
  writeFileSync(file, JSON.stringify(config));
  return file;
}

const mountPoints = () => parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));

/**
 * A scratch area (ops.ts scratchArea) whose mounts, should the code under test leave any, are taken off when the
 * test ends, before the area is removed.
 */
function mountArea(prefix: string): string {
  const area = scratchArea(prefix);
  onTestFinished(() => {
    for (const m of mountPoints().filter((e) => e.mountPoint.startsWith(`${area}/`)).sort((a, b) => b.mountPoint.length - a.mountPoint.length)) spawnSync('umount', ['-l', m.mountPoint]);
  });
  return area;
}

/** Subvolumes at the top level whose name marks a temporary snapshot of diff. */
const temporarySnapshots = (c: BootCase) => c.image.paths().filter((p) => p.includes('.pantheros-diff-'));

describe.each(RUNTIMES)('operator output under $name', (runtime: Runtime) => {
  it('names with C1 controls, bidi overrides and isolates, DEL, ESC and newlines are escaped in diff, list, mount, umount and error messages', () => {
    const c = useBootCase(runtime);
    const cfg = configFile(c);
    for (const h of HOSTILE) writeFileSync(c.abs(`@root/${h.name}`), 'x\n');
    // A snapshot under a name prune does not recognise: list shows it (kept) with its name.
    sh('btrfs', ['subvolume', 'snapshot', '-r', c.abs('@persistent'), c.abs(`@snapshots/daily/x\u202eevil\u0085`)]);
    commit(c);

    const d = runBundle(runtime, ['diff', '--top-level', c.top, '--config', cfg]);
    expect(d.code, showRun(d, 'diff')).toBe(0);
    expect(d.stdout, 'no raw control or bidi character').not.toMatch(RAW_UNSAFE);
    // Each such path is one line, quoted, with its characters as escapes: "/nel\u0085line".
    for (const h of HOSTILE) expect(d.stdout.split('\n').some((line) => line.startsWith(`A "/${h.shown.slice(1)}`)), `${h.shown}\n${d.stdout}`).toBe(true);
    const dj = runBundle(runtime, ['diff', '--json', '--top-level', c.top, '--config', cfg]);
    expect(dj.code, showRun(dj, 'diff --json')).toBe(0);
    // JSON keeps the exact names (a program reads it).
    expect((JSON.parse(dj.stdout) as { entries: { path: string }[] }).entries.map((e) => e.path)).toEqual(expect.arrayContaining(HOSTILE.map((h) => `/${h.name}`)));

    const l = runBundle(runtime, ['list', '--top-level', c.top, '--config', cfg]);
    expect(l.code, showRun(l, 'list')).toBe(0);
    expect(l.stdout, showRun(l, 'list')).not.toMatch(RAW_UNSAFE);
    expect(l.stdout, showRun(l, 'list')).toContain('"x\\u202eevil\\u0085"');

    // A DIR with such a name: mount and umount say it escaped.
    c.createSubvolume(`${OLD_ROOTS}/${ARCHIVE}`, { marker: 'archive\n' });
    const area = mountArea('output-mount-');
    const dir = join(area, 'view\u202e\u0085');
    const m = runBundle(runtime, ['mount', ARCHIVE, dir, '--top-level', c.top, '--config', cfg]);
    try {
      expect(m.code, showRun(m, 'mount')).toBe(0);
      expect(m.stdout, showRun(m, 'mount')).not.toMatch(RAW_UNSAFE);
      expect(m.stdout).toContain(`${JSON.stringify(area).slice(0, -1)}/view\\u202e\\u0085"`);
      expect(readFileSync(join(dir, 'marker'), 'utf8')).toBe('archive\n');
    } finally {
      const u = runBundle(runtime, ['umount', dir, '--config', cfg]);
      expect(u.code, showRun(u, 'umount')).toBe(0);
      expect(u.stdout, showRun(u, 'umount')).not.toMatch(RAW_UNSAFE);
      expect(u.stdout).toContain('/view\\u202e\\u0085"');
    }
    expect(mountPoints().some((e) => e.mountPoint === dir)).toBe(false);

    // Error messages: an unknown archive name holding controls is escaped on stderr too.
    const bad = runBundle(runtime, ['diff', 'x\u009b\u202e', '--top-level', c.top, '--config', cfg]);
    expect(bad.code, showRun(bad, 'diff with a hostile archive name')).toBe(2);
    expect(bad.stderr).not.toMatch(RAW_UNSAFE);
    expect(bad.stderr).toContain('\\u009b\\u202e');
  });

  it('a closed stdout (diff | true, list | true: the reader is gone before the result is written): exit 141, nothing on stderr, no mount and no temporary snapshot left behind', () => {
    const c = useBootCase(runtime);
    const cfg = configFile(c);
    for (let i = 0; i < 20_000; i++) writeFileSync(c.abs(`@root/f${i}`), '');
    commit(c);
    for (const command of [['diff'], ['diff', '--method', 'send'], ['diff', '--json'], ['list']]) {
      const what = command.join(' ');
      // --device: the run mounts the top level itself, so a mount left behind would show.
      const piped = spawnSync('bash', ['-c', '"$0" "$@" | true; echo "${PIPESTATUS[0]}"', runtime.bin, BUNDLE, ...command, '--device', c.image.loop, '--config', cfg], { encoding: 'utf8' });
      expect(piped.stdout.trim(), `${what}\n${piped.stderr}`).toBe('141');
      expect(piped.stderr, what).toBe('');
      expect(mountsOf(c.image.loop, c.top).map((e) => e.mountPoint), what).toEqual([]);
      expect(temporarySnapshots(c), what).toEqual([]);
    }
  });

  it('a signal during the last synchronous step: a command that made its change reports it once with its own exit code; a read-only one prints only the interruption', async () => {
    const c = useBootCase(runtime);
    const cfg = configFile(c);
    const slow = join(c.image.dir, 'slow-btrfs');
    // Every `btrfs subvolume snapshot` sleeps first, so the signal arrives while the tool waits in it (spawnSync).
    // PANTHEROS_BTRFS_BACKEND=process: under Bun the snapshot would otherwise be an ioctl with no process to slow.
    writeFileSync(slow, '#!/bin/sh\nif [ "$2" = snapshot ]; then touch "$SLOW_MARK"; sleep 1; fi\nexec btrfs "$@"\n', { mode: 0o755 });
    const mark = join(c.image.dir, 'in-snapshot');
    const run = startBundle(runtime, ['snapshot', '--class', 'daily', '--json', '--device', c.image.loop, '--config', cfg], { PANTHEROS_BTRFS: slow, SLOW_MARK: mark, PANTHEROS_BTRFS_BACKEND: 'process' });
    await waitFor('btrfs subvolume snapshot', () => existsSync(mark));
    run.child.kill('SIGTERM');
    const r = await run.done;
    expect(r.code, showRun(r, 'snapshot made, then SIGTERM handled')).toBe(0);
    const doc = JSON.parse(r.stdout) as { version: number; created: { path: string }[] };
    expect(doc.version).toBe(1);
    expect(doc.created.length).toBeGreaterThan(0);
    for (const made of doc.created) expect(c.kind(made.path), made.path).toBe('subvolume');
    expect(r.stderr).toContain('SIGTERM arrived after the work was done; the result stands');
    expect(mountsOf(c.image.loop, c.top)).toEqual([]);

    // list --json is read-only: stopped in its last synchronous step, it prints the interruption and nothing else.
    const slowList = join(c.image.dir, 'slow-list');
    writeFileSync(slowList, '#!/bin/sh\nif [ "$2" = list ] && mkdir "$SLOW_MARK" 2>/dev/null; then sleep 1; fi\nexec btrfs "$@"\n', { mode: 0o755 });
    const listMark = join(c.image.dir, 'in-list');
    const list = startBundle(runtime, ['list', '--json', '--device', c.image.loop, '--config', cfg], { PANTHEROS_BTRFS: slowList, SLOW_MARK: listMark, PANTHEROS_BTRFS_BACKEND: 'process' });
    await waitFor('btrfs subvolume list', () => existsSync(listMark));
    list.child.kill('SIGINT');
    const lr = await list.done;
    expect(lr.code, showRun(lr, 'list stopped')).toBe(130);
    expect(JSON.parse(lr.stdout), showRun(lr, 'one JSON document: the interruption')).toEqual({ version: 1, error: { message: 'interrupted by SIGINT', kind: 'interrupted', exitCode: 130 } });
    expect(mountsOf(c.image.loop, c.top)).toEqual([]);
  });

  it('flags named like properties every object has are unknown options (exit 2), not "given more than once"', () => {
    const c = useBootCase(runtime);
    const cfg = configFile(c);
    for (const flag of ['--constructor', '--__proto__', '--toString', '--hasOwnProperty=1', '--valueOf', '--__proto__=x']) {
      for (const command of ['list', 'diff', 'umount']) {
        const r = runBundle(runtime, [command, flag, '--top-level', c.top, '--config', cfg]);
        expect(r.code, showRun(r, `${command} ${flag}`)).toBe(2);
        expect(r.stderr, `${command} ${flag}`).toContain(`${command}: unknown option ${flag.split('=')[0]} `);
      }
    }
  });

  it('list when btrfs subvolume list fails (a path longer than PATH_MAX): each note once, creation times still shown', () => {
    const c = useBootCase(runtime);
    const cfg = configFile(c);
    c.createSubvolume(`${OLD_ROOTS}/${ARCHIVE}`, { marker: 'archive\n' });
    sh('btrfs', ['subvolume', 'snapshot', '-r', c.abs('@persistent'), c.abs('@snapshots/daily/@persistent.20261125T000000Z')]);
    // A nested subvolume deeper than PATH_MAX below the root: btrfs subvolume list fails on it.
    const deep = Array.from({ length: 18 }, (_, i) => `${String(i).padStart(2, '0')}${'d'.repeat(230)}`);
    const made = spawnSync(PYTHON, ['-c', 'import os,sys,subprocess\nos.chdir(sys.argv[1])\nfor d in sys.argv[2:]:\n  os.mkdir(d); os.chdir(d)\nsubprocess.run(["btrfs","-q","subvolume","create","deepest"],check=True)', c.abs('@root'), ...deep], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    commit(c);
    expect(spawnSync('btrfs', ['subvolume', 'list', c.top]).status, 'the listing must fail for this test').not.toBe(0);
    const l = runBundle(runtime, ['list', '--top-level', c.top, '--config', cfg]);
    expect(l.code, showRun(l, 'list')).toBe(0);
    const notes = l.stdout.split('\n').filter((line) => line.startsWith('note: '));
    expect(notes.some((n) => n.includes('btrfs subvolume list failed')), showRun(l, 'list')).toBe(true);
    expect(new Set(notes).size, showRun(l, 'each note once')).toBe(notes.length);
    const lj = runBundle(runtime, ['list', '--json', '--top-level', c.top, '--config', cfg]);
    expect(lj.code, showRun(lj, 'list --json')).toBe(0);
    const jsonNotes = (JSON.parse(lj.stdout) as { notes: string[] }).notes;
    expect(new Set(jsonNotes).size, showRun(lj, 'each note once in JSON')).toBe(jsonNotes.length);
    expect((JSON.parse(lj.stdout) as { archives: { created: string | null }[] }).archives.map((a) => a.created)).not.toContain(null);
    const rows = l.stdout.split('\n').filter((line) => line.startsWith(`${ARCHIVE} `) || line.startsWith('daily  @persistent.20261125T000000Z '));
    expect(rows.length, showRun(l, 'list')).toBe(2);
    // Column 2 (archives) / 3 (snapshots) is the creation time: a date, not "-".
    for (const row of rows) expect(row, showRun(l, 'creation time')).toMatch(/\s\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\s/);
  });
});

describe.each(RUNTIMES)('mount and umount act on what they checked under $name', (runtime: Runtime) => {
  it('mount into a user-owned DIR lands on that directory; umount there detaches exactly that mount; a symlink on the way is refused', () => {
    const c = useBootCase(runtime);
    const cfg = configFile(c);
    c.createSubvolume(`${OLD_ROOTS}/${ARCHIVE}`, { marker: 'archive\n' });
    const area = mountArea('output-own-');
    const home = join(area, 'home');
    mkdirSync(home);
    chownSync(home, NOBODY.uid, NOBODY.gid);
    expect(asNobody(['mkdir', join(home, 'view')]).code).toBe(0);
    expect(asNobody(['ln', '-s', home, join(home, 'link')]).code).toBe(0);
    // Through a symlink: refused, nothing mounted.
    const viaLink = runBundle(runtime, ['mount', ARCHIVE, join(home, 'link/view'), '--top-level', c.top, '--config', cfg]);
    expect(viaLink.code, showRun(viaLink, 'mount through a symlink')).toBe(2);
    expect(viaLink.stderr).toMatch(/link is a symlink \(→ .*\); refusing to follow it/);
    expect(mountsOf(c.image.loop, c.top)).toEqual([]);
    const m = runBundle(runtime, ['mount', ARCHIVE, join(home, 'view'), '--top-level', c.top, '--config', cfg, '--json']);
    expect(m.code, showRun(m, 'mount')).toBe(0);
    expect(JSON.parse(m.stdout)).toMatchObject({ dir: join(home, 'view') });
    expect(readFileSync(join(home, 'view/marker'), 'utf8')).toBe('archive\n');
    // umount through the symlink is refused; the mount stays.
    const uLink = runBundle(runtime, ['umount', join(home, 'link/view'), '--config', cfg]);
    expect(uLink.code, showRun(uLink, 'umount through a symlink')).toBe(2);
    expect(mountsOf(c.image.loop, c.top).map((e) => e.mountPoint)).toEqual([join(home, 'view')]);
    // A directory the user can write: detached lazily through the mount's own descriptor, and said so.
    const u = runBundle(runtime, ['umount', join(home, 'view'), '--config', cfg, '--json']);
    expect(u.code, showRun(u, 'umount')).toBe(0);
    expect(JSON.parse(u.stdout)).toMatchObject({ unmounted: [{ dir: join(home, 'view'), path: `${OLD_ROOTS}/${ARCHIVE}`, lazy: true }] });
    expect(mountsOf(c.image.loop, c.top)).toEqual([]);
  });

  it('umount in a directory only root can write refuses a busy mount (exit 1, still mounted) and unmounts it once free', () => {
    const c = useBootCase(runtime);
    const cfg = configFile(c);
    c.createSubvolume(`${OLD_ROOTS}/${ARCHIVE}`, { marker: 'archive\n' });
    const area = mountArea('output-busy-');
    const dir = join(area, 'view');
    const m = runBundle(runtime, ['mount', ARCHIVE, dir, '--top-level', c.top, '--config', cfg]);
    expect(m.code, showRun(m, 'mount')).toBe(0);
    // A process with its working directory in the mount keeps it busy.
    const holder = spawnSync('bash', ['-c', 'cd "$1" && (sleep 30 >/dev/null 2>&1 & echo $!)', 'holder', dir], { encoding: 'utf8' });
    const pid = Number(holder.stdout.trim());
    try {
      const busy = runBundle(runtime, ['umount', dir, '--config', cfg]);
      expect(busy.code, showRun(busy, 'umount of a busy mount')).toBe(1);
      expect(busy.stderr).toMatch(/target is busy/);
      expect(mountsOf(c.image.loop, c.top).map((e) => e.mountPoint)).toEqual([dir]);
    } finally {
      process.kill(pid, 'SIGKILL');
    }
    waitGone(pid);
    const u = runBundle(runtime, ['umount', ARCHIVE, '--config', cfg, '--json']);
    expect(u.code, showRun(u, 'umount by name')).toBe(0);
    expect(JSON.parse(u.stdout)).toMatchObject({ unmounted: [{ dir, lazy: false }] });
    expect(mountsOf(c.image.loop, c.top)).toEqual([]);
    expect(readdirSync(area)).toEqual(['view']);
  });
});

/** Waits (up to 5 s) until pid is gone. */
function waitGone(pid: number): void {
  const deadline = Date.now() + 5000;
  while (existsSync(`/proc/${pid}`) && Date.now() < deadline) spawnSync('sleep', ['0.05']);
}
