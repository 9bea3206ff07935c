// Real btrfs, bundled file, Node and Bun (issue 11): mistakes get a clear answer and no harm — a --top-level that
// is not the top level, running without root, a value given to a boolean flag; errors with --json are a JSON
// object; every JSON output has a version; logs reach the journal under systemd (every line) and /dev/kmsg only
// without it; diff reports what is under a persistentPaths entry that has nothing mounted.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { sh } from '../helpers/btrfs-image.js';
import { CMDLINE_BASE, fullState, OLD_ROOTS, useBootCase } from '../helpers/boot-case.js';
import { BUNDLE, requirePrerequisites, RUNTIMES, type Runtime } from '../helpers/prereq.js';
import { runBundle } from '../helpers/run-bundle.js';
import { asNobody, NOBODY, scratchArea, showRun } from '../helpers/ops.js';

beforeAll(() => requirePrerequisites(['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount', 'unshare', 'setpriv', 'dmesg'], 'apt-get install -y btrfs-progs util-linux'));

const ARCHIVE = '20261125T060000Z';
const NOW = '2026-11-26T06:00:00Z';

/** A world-readable scratch directory (nobody must read the config and may write the report there). */
function files(dir: string, config: unknown = { deviceTimeoutSeconds: 1 }): { config: string; cmdline: string } {
  const config_ = join(dir, 'mistakes-config.json');
  writeFileSync(config_, JSON.stringify(config));
  const cmdline = join(dir, 'cmdline');
  writeFileSync(cmdline, `${CMDLINE_BASE}\n`);
  return { config: config_, cmdline };
}

/** Every command that takes --top-level, with the arguments it needs to get that far. */
function commands(f: { cmdline: string }, report: string): [string, string[]][] {
  return [
    ['list', ['list']],
    ['diff', ['diff']],
    ['mount', ['mount', ARCHIVE]],
    ['restore', ['restore', '/etc/x', '--from', ARCHIVE, '--to', '/tmp/never-restored']],
    ['snapshot', ['snapshot', '--class', 'daily']],
    ['prune', ['prune']],
    ['next-boot', ['next-boot', 'previous']],
    ['metrics', ['metrics']],
    ['check', ['check']],
    ['boot', ['boot', '--cmdline', f.cmdline, '--now', NOW, '--report', report]],
  ];
}

describe.each(RUNTIMES)('mistakes under $name', (runtime: Runtime) => {
  it('every command refuses a --top-level that is not the top level (a subvol=@persistent mount, a plain directory), saying what to pass; nothing changes', () => {
    const c = useBootCase(runtime);
    c.createSubvolume(`${OLD_ROOTS}/${ARCHIVE}`);
    const dir = scratchArea('ops-mistakes-');
    const f = files(dir);
    const persistent = join(dir, 'persistent');
    mkdirSync(persistent);
    sh('mount', ['-o', 'subvol=@persistent', c.image.loop, persistent]);
    onTestFinished(() => void spawnSync('umount', [persistent]));
    const plain = join(dir, 'plain');
    mkdirSync(plain);
    const before = fullState(c);
    for (const [name, args] of commands(f, join(dir, 'report.json'))) {
      const sub = runBundle(runtime, [...args, '--top-level', persistent, '--config', f.config, '--json']);
      expect(sub.code, showRun(sub, `${name} on subvol=@persistent`)).toBe(3);
      expect(sub.stderr, name).toContain(`--top-level ${persistent} is the subvolume /@persistent of ${c.image.loop} (a subvol=@persistent mount), not the top level (subvolid=5); give --device ${c.image.loop} instead`);
      if (name !== 'boot') {
        // With --json the error is a JSON object on stdout, with the same exit code.
        expect(JSON.parse(sub.stdout), name).toEqual({ version: 1, error: { message: expect.stringContaining('not the top level (subvolid=5)'), kind: 'precondition', exitCode: 3 } });
      }
      const dirRun = runBundle(runtime, [...args, '--top-level', plain, '--config', f.config]);
      expect(dirRun.code, showRun(dirRun, `${name} on a plain directory`)).toBe(3);
      expect(dirRun.stderr, name).toMatch(new RegExp(`--top-level ${plain} is a plain directory on the \\w+ filesystem \\S+ mounted at /\\S*, not where a btrfs top level is mounted; give --device`));
      expect(dirRun.stderr, name).not.toContain('this is a bug');
    }
    expect(fullState(c)).toEqual(before);
    // Stage 1 always leaves a report: boot's says it refused, and why.
    expect(JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'))).toMatchObject({ result: 'refused', exitCode: 3, error: expect.stringContaining(`--top-level ${plain} is a plain directory`) });
    expect(existsSync('/tmp/never-restored')).toBe(false);
  });

  // A review (2026-12-02): --config naming a FIFO hung in open(2) until SIGKILL (SIGTERM did nothing: the read is
  // synchronous), /dev/zero was read until memory ran out (10 GB in 30 s). Now anything but a regular file of at most
  // CONFIG_MAX_BYTES is a usage error, also at boot (where stage 1 records it in a report).
  it('--config (and check --fstab) that is a FIFO, a device, a directory or a file over 1 MiB: exit 2 at once, naming it; never a hang', () => {
    const dir = scratchArea('pantheros-config-kinds-');
    const fifo = join(dir, 'config.fifo');
    sh('mkfifo', [fifo]);
    const big = join(dir, 'big.json');
    writeFileSync(big, `{"oldRoots": {"keepDays": 30}}${' '.repeat(1024 * 1024)}`);
    for (const [config, said] of [
      [fifo, /is a fifo, not a regular file/],
      ['/dev/zero', /is a device, not a regular file/],
      [dir, /is a directory, not a regular file/],
      [big, /is \d+ bytes, more than the 1048576 read here/],
    ] as const) {
      for (const args of [['check', '--config'], ['boot', '--dry-run', '--top-level', dir, '--config'], ['check', '--fstab']]) {
        const r = runBundle(runtime, [...args, config], {}, { timeoutMs: 15_000 });
        const what = `${args.join(' ')} --config ${config}`;
        expect(r.signal, showRun(r, what)).toBeNull();
        expect(r.code, showRun(r, what)).toBe(2);
        expect(r.stderr).toMatch(said);
      }
    }
  });

  it('--report naming a device or a FIFO (e.g. /dev/null): the boot runs, says the report was not written and why, and the node stays as it was (before: the report replaced it with a regular file, so /dev/null was a file until the next reboot)', () => {
    const c = useBootCase(runtime);
    // A node like /dev/null (character device 1:3) in a scratch directory: the system's own is never put at risk.
    const dir = scratchArea('pantheros-report-kinds-');
    const nullNode = join(dir, 'null');
    sh('mknod', ['-m', '666', nullNode, 'c', '1', '3']);
    const fifo = join(dir, 'report.fifo');
    sh('mkfifo', [fifo]);
    const stdoutLink = join(dir, 'stdout');
    symlinkSync(nullNode, stdoutLink);
    const f = files(dir);
    for (const [report, said] of [
      [nullNode, /it is a character device, not a regular file: it is not replaced/],
      [stdoutLink, /it is a symlink to a character device \(→ [^)]*\/null\), not to a regular file: it is not replaced/],
      [fifo, /it is a FIFO, not a regular file: it is not replaced/],
    ] as const) {
      const r = runBundle(runtime, ['boot', '--dry-run', '--top-level', c.top, '--config', f.config, '--cmdline', f.cmdline, '--now', NOW, '--report', report], {}, { timeoutMs: 30_000 });
      expect(r.code, showRun(r, `boot --report ${report}`)).toBe(0);
      expect(r.stderr).toMatch(new RegExp(`could not write the report to ${report}: cannot write ${report}: ${said.source}`));
    }
    expect(statSync(nullNode).isCharacterDevice()).toBe(true);
    expect(lstatSync(stdoutLink).isSymbolicLink()).toBe(true);
    expect(statSync(fifo).isFIFO()).toBe(true);
  });

  // A review (2026-12-02): check printed mount points as they are (mountinfo unescapes \012), so a mount point named
  // with a newline printed a line of its own, e.g. a forged last line. Every part of check's text is one line now.
  it('check: a mount point with a newline in it prints no line of its own', () => {
    const forged = '/x\npantheros-rollback: ok: 0 errors, 0 warnings';
    const r = runBundle(runtime, ['check', '--mount-options', `${forged}=noatime,compress=zstd`]);
    expect(r.code, showRun(r, 'check')).toBe(0);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('pantheros-rollback: ok'))).toEqual([]);
    expect(r.stdout).toContain('/x\\npantheros-rollback: ok');
    const json = runBundle(runtime, ['check', '--json', '--mount-options', `${forged}=noatime,compress=zstd`]);
    expect((JSON.parse(json.stdout) as { mountOptions: string[] }).mountOptions.join()).toContain(forged);
  });

  it('without root: "must run as root" first (exit 77), nothing written; status and check without a device still work', () => {
    const c = useBootCase(runtime);
    const dir = scratchArea('ops-mistakes-');
    const f = files(dir);
    chownSync(dir, NOBODY.uid, NOBODY.gid);
    const report = join(dir, 'report.json');
    const tool = [runtime.bin, BUNDLE];
    for (const [name, args] of commands(f, report).filter(([n]) => n !== 'check')) {
      const r = asNobody([...tool, ...args, '--top-level', c.top, '--config', f.config, '--json', '--bogus-flag']);
      expect(r.code, showRun(r, `${name} as nobody`)).toBe(77);
      expect(r.stderr, name).toContain(`pantheros-rollback: ${name}: must run as root (it needs to `);
      expect(r.stderr, name).not.toContain('this is a bug');
      expect(JSON.parse(r.stdout), name).toMatchObject({ version: 1, error: { kind: 'permission', exitCode: 77 } });
    }
    for (const name of ['umount']) expect(asNobody([...tool, name]).code, name).toBe(77);
    expect(existsSync(report), 'boot wrote no report').toBe(false);
    // status reads a report (0644) without root; check validates the config without root when there is no device.
    const made = runBundle(runtime, ['boot', '--dry-run', '--top-level', c.top, '--config', f.config, '--cmdline', f.cmdline, '--now', NOW, '--report', report]);
    expect(made.code, showRun(made, 'boot as root')).toBe(0);
    chmodSync(report, 0o644);
    const status = asNobody([...tool, 'status', '--report', report, '--config', f.config]);
    expect(status.code, showRun(status, 'status as nobody')).toBe(0);
    expect(status.stdout).toMatch(/^Last run: DRY RUN/);
    const check = asNobody([...tool, 'check', '--config', f.config, '--mount-options', '/=noatime']);
    expect(check.code, showRun(check, 'check as nobody')).toBe(0);
    // check with a device needs root for the layout: the same answer.
    const checkDevice = asNobody([...tool, 'check', '--device', c.image.loop, '--config', f.config]);
    expect(checkDevice.code, showRun(checkDevice, 'check --device as nobody')).toBe(77);
    expect(checkDevice.stderr).toContain('must run as root to mount the btrfs top level');
  });

  it('a boolean flag takes no value (--dry-run=false, --json=0 are usage errors), typos name the nearest flag, errors with --json are JSON; every JSON output has a version', () => {
    const c = useBootCase(runtime);
    c.createSubvolume(`${OLD_ROOTS}/${ARCHIVE}`);
    const dir = scratchArea('ops-mistakes-');
    const f = files(dir);
    const top = ['--top-level', c.top, '--config', f.config];
    const before = fullState(c);
    for (const [args, message] of [
      [['prune', '--dry-run=false'], 'prune: --dry-run takes no value, got "--dry-run=false": give --dry-run to turn it on, leave it out for off'],
      [['boot', '--dry-run=no', '--cmdline', f.cmdline], 'boot: --dry-run takes no value'],
      [['list', '--json=0'], 'list: --json takes no value'],
      [['restore', '/etc/x', '--from', ARCHIVE, '--force=false'], 'restore: --force takes no value'],
      [['restore', '/etc/x', '--from', ARCHIVE, '--forse'], 'restore: unknown option --forse (did you mean --force?)'],
      [['diff', '--prefix'], 'diff: --prefix needs a value'],
    ] as const) {
      const r = runBundle(runtime, [...args, ...top]);
      expect(r.code, showRun(r, args.join(' '))).toBe(2);
      expect(r.stderr).toContain(message);
    }
    expect(fullState(c)).toEqual(before);
    const usage = runBundle(runtime, ['list', '--json', '--frobnicate', ...top]);
    expect(usage.code).toBe(2);
    expect(JSON.parse(usage.stdout)).toEqual({ version: 1, error: { message: 'list: unknown option --frobnicate (see: pantheros-rollback list --help)', kind: 'usage', exitCode: 2 } });
    const unknownArchive = runBundle(runtime, ['diff', 'nope', '--json', ...top]);
    expect(unknownArchive.code).toBe(2);
    expect(JSON.parse(unknownArchive.stdout).error).toMatchObject({ kind: 'usage', exitCode: 2, message: expect.stringContaining('no archive named "nope"') });

    for (const args of [['list'], ['diff', '--summary'], ['metrics'], ['next-boot'], ['check'], ['restore', '/etc', '--from', ARCHIVE, '--to', join(dir, 'etc'), '--dry-run']]) {
      if (args[0] === 'restore') mkdirSync(c.abs(`${OLD_ROOTS}/${ARCHIVE}/etc`), { recursive: true });
      const r = runBundle(runtime, [...args, '--json', ...top]);
      expect(r.code, showRun(r, args.join(' '))).toBeLessThan(2);
      expect(Object.keys(JSON.parse(r.stdout))[0], args[0]).toBe('version');
      expect(JSON.parse(r.stdout).version, args[0]).toBe(1);
    }
  });

  it('logs: to the journal (stderr with <N> priorities) when JOURNAL_STREAM names stderr, to /dev/kmsg only in an initrd without systemd', () => {
    const c = useBootCase(runtime);
    const dir = scratchArea('ops-mistakes-');
    const marker = `nope-${process.pid}-${Date.now()}`;
    const f = files(dir);
    writeFileSync(f.cmdline, `${CMDLINE_BASE} pantheros.rollback=${marker}\n`);
    const boot = (env: Record<string, string>, journal: boolean) => {
      const errFile = join(dir, `stderr-${Math.random().toString(36).slice(2)}`);
      const fd = openSync(errFile, 'w');
      const st = statSync(errFile);
      try {
        const r = spawnSync(runtime.bin, [BUNDLE, 'boot', '--dry-run', '--top-level', c.top, '--config', f.config, '--cmdline', f.cmdline, '--now', NOW], {
          stdio: ['ignore', 'pipe', fd],
          encoding: 'utf8',
          env: { ...process.env, ...env, ...(journal ? { JOURNAL_STREAM: `${st.dev}:${st.ino}` } : {}) },
        });
        expect(r.status, r.stdout).toBe(0);
      } finally {
        closeSync(fd);
      }
      return readFileSync(errFile, 'utf8').split('\n').filter(Boolean);
    };
    const journal = boot({}, true);
    expect(journal).toContainEqual(expect.stringMatching(new RegExp(`^<4>pantheros-rollback: warning: .*"${marker}"`)));
    expect(journal).toContainEqual(expect.stringMatching(/^<6>pantheros-rollback: dry-run: /));
    // JOURNAL_STREAM inherited but naming another stream: plain lines.
    const inherited = boot({ JOURNAL_STREAM: '1:1' }, false);
    expect(inherited).toContainEqual(expect.stringMatching(new RegExp(`^pantheros-rollback: warning: .*"${marker}"`)));
    expect(inherited.some((l) => l.startsWith('<'))).toBe(false);

    // An initrd without systemd: /etc/initrd-release exists (an overlay on /etc in a private mount namespace).
    const upper = join(dir, 'upper');
    const work = join(dir, 'work');
    mkdirSync(upper);
    mkdirSync(work);
    const script = `mount -t overlay overlay -o lowerdir=/etc,upperdir=${upper},workdir=${work} /etc && touch /etc/initrd-release && exec ${runtime.bin} ${BUNDLE} boot --dry-run --top-level ${c.top} --config ${f.config} --cmdline ${f.cmdline} --now ${NOW}`;
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr, 'nothing on stderr: it went to /dev/kmsg').not.toContain(marker);
    const kmsg = spawnSync('dmesg', [], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes(marker));
    expect(kmsg.length, 'the refusal is in the kernel log').toBeGreaterThan(0);
    expect(kmsg[0]).toMatch(/pantheros-rollback: warning: /);
  });

  it('diff: files under a persistentPaths entry with nothing mounted are what the next boot erases, reported with a warning; a mounted one is hidden', () => {
    const c = useBootCase(runtime);
    const dir = scratchArea('ops-mistakes-');
    const f = files(dir, { persistentPaths: ['/var/log', '/srv/data'] });
    mkdirSync(c.abs('@root/var/log'), { recursive: true });
    mkdirSync(c.abs('@root/srv/data'), { recursive: true });
    writeFileSync(c.abs('@root/srv/data/db'), 'erased at the next boot\n');
    mkdirSync(c.abs('@persistent/var/log'), { recursive: true });
    writeFileSync(c.abs('@persistent/var/log/kept.log'), 'kept\n');
    // The running system: @root mounted, /var/log bind-mounted from @persistent, /srv/data's bind mount missing.
    const root = join(dir, 'sysroot');
    mkdirSync(root);
    sh('mount', ['-o', 'subvol=@root', c.image.loop, root]);
    onTestFinished(() => void spawnSync('umount', ['-R', root]));
    sh('mount', ['--bind', c.abs('@persistent/var/log'), join(root, 'var/log')]);
    const r = runBundle(runtime, ['diff', '--json', '--top-level', c.top, '--config', f.config]);
    expect(r.code, showRun(r, 'diff')).toBe(0);
    const d = JSON.parse(r.stdout) as { persisted: string[]; unmountedPersistentPaths: string[]; entries: { path: string; status: string }[] };
    expect(d.persisted).toContain('/var/log');
    expect(d.unmountedPersistentPaths).toEqual(['/srv/data']);
    expect(d.entries.map((e) => e.path)).toContain('/srv/data/db');
    expect(d.entries.filter((e) => e.path.startsWith('/var/log'))).toEqual([]);
    const text = runBundle(runtime, ['diff', '--prefix', '/srv', '--top-level', c.top, '--config', f.config]);
    expect(text.stdout).toMatch(/^A \/srv\/data\/db {2}\(file\)$/m);
    expect(text.stdout).toContain('warning: nothing is mounted on persistentPaths /srv/data: what is there is in @root and shown above (the next boot erases it); see: pantheros-rollback check');
  });
});
