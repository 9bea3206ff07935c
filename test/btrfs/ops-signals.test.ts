// Real btrfs, bundled file, Node and Bun (issue 11): SIGINT, SIGTERM and SIGHUP mid-run leave nothing behind —
// no private top-level mount (checked in /proc/self/mountinfo), no temporary snapshot (checked with btrfs subvolume
// list), no staging directory, no half-restored DEST — and the run says so and exits 128 + N. The runs use
// --device, so the tool mounts the top level itself, as on a machine where it is not mounted.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { sh } from '../helpers/btrfs-image.js';
import { OLD_ROOTS, useBootCase, type BootCase } from '../helpers/boot-case.js';
import { BUNDLE, requirePrerequisites, RUNTIMES, type Runtime } from '../helpers/prereq.js';
import type { RunResult } from '../helpers/run-bundle.js';
import { mountsOf, scratchArea, showRun, startBundle, waitFor, type Started } from '../helpers/ops.js';

beforeAll(() => requirePrerequisites(['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount', 'cp', 'script'], 'apt-get install -y btrfs-progs util-linux coreutils bsdutils'));

const SIGNALS = [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
] as const;

function configFile(c: BootCase): string {
  const file = join(c.image.dir, 'signals-config.json');
  writeFileSync(file, JSON.stringify({ deviceTimeoutSeconds: 1 }));
  return file;
}

/** Mounts of the image the run left behind; unmounted here (so later rounds start clean) and returned for the assertion. */
function leftMounts(c: BootCase): string[] {
  const left = mountsOf(c.image.loop, c.top).map((e) => e.mountPoint);
  for (const m of left.reverse()) spawnSync('umount', ['-l', m]);
  return left;
}

/** Sends signal once ready() holds (after `settle` ms more), waits for the exit; returns the result. */
async function interrupt(run: Started, signal: NodeJS.Signals, what: string, ready: () => boolean, settle = 0): Promise<RunResult> {
  let early: RunResult | undefined;
  void run.done.then((r) => (early = r));
  await waitFor(what, () => early !== undefined || ready());
  if (early) throw new Error(showRun(early, `the run ended before ${what}`));
  if (settle) await new Promise((r) => setTimeout(r, settle));
  run.child.kill(signal);
  return run.done;
}

/** A root with `dirs` × 1 000 new files, so a walk (or a send) of it takes a while. */
function bigRoot(c: BootCase, dirs: number): void {
  for (let d = 0; d < dirs; d++) {
    const dir = c.abs(`@root/big/d${d}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 1000; f++) writeFileSync(join(dir, `f${f}`), '');
  }
  sh('btrfs', ['filesystem', 'sync', c.top]);
}

describe.each(RUNTIMES)('signals under $name', (runtime: Runtime) => {
  const expectReleased = (c: BootCase, r: RunResult, signal: string, code: number, what: string) => {
    expect(leftMounts(c), `${what}: mounts left behind\n${showRun(r, what)}`).toEqual([]);
    expect(r.code, showRun(r, what)).toBe(code);
    expect(r.stderr, what).toContain(`pantheros-rollback: interrupted by ${signal}; releasing what this run holds`);
  };

  it('list and metrics (synchronous, blocked in a slow btrfs): nothing left mounted, 128 + N', async () => {
    const c = useBootCase(runtime);
    const cfg = configFile(c);
    // The first btrfs call of each run sleeps 1.5 s, so the signal arrives while the tool waits in spawnSync.
    const slow = join(c.image.dir, 'slow-btrfs');
    writeFileSync(slow, '#!/bin/sh\nif mkdir "$SLOW_MARK" 2>/dev/null; then sleep 1.5; fi\nexec btrfs "$@"\n', { mode: 0o755 });
    let n = 0;
    for (const command of [['list'], ['metrics']]) {
      for (const [signal, code] of SIGNALS) {
        const what = `${command[0]} ${signal}`;
        const run = startBundle(runtime, [...command, '--device', c.image.loop, '--config', cfg], { PANTHEROS_BTRFS: slow, SLOW_MARK: join(c.image.dir, `mark-${n++}`) });
        const r = await interrupt(run, signal, `${what}: the private mount`, () => mountsOf(c.image.loop, c.top).length > 0, 100);
        expectReleased(c, r, signal, code, what);
      }
    }
  });

  it('diff (walk of a big tree, send of it): mount and temporary snapshot released, btrfs send stopped first; progress on a terminal', async () => {
    const c = useBootCase(runtime);
    bigRoot(c, 150);
    const cfg = configFile(c);
    for (const [signal, code] of SIGNALS) {
      const what = `diff walk ${signal}`;
      const run = startBundle(runtime, ['diff', '--summary', '--device', c.image.loop, '--config', cfg]);
      const r = await interrupt(run, signal, `${what}: the private mount`, () => mountsOf(c.image.loop, c.top).length > 0, 200);
      expectReleased(c, r, signal, code, what);
      expect(r.stderr).toMatch(/^ {2}unmounted the private top-level mount \/run\/pantheros-rollback\/mnt\/top-\w+ /m);
    }
    const temporary = () => readdirSync(c.abs(OLD_ROOTS)).filter((n) => n.startsWith('.pantheros-diff-'));
    for (const [signal, code] of SIGNALS) {
      const what = `diff --method send ${signal}`;
      const run = startBundle(runtime, ['diff', '--summary', '--method', 'send', '--device', c.image.loop, '--config', cfg]);
      const r = await interrupt(run, signal, `${what}: the temporary snapshot`, () => temporary().length > 0, 300);
      expectReleased(c, r, signal, code, what);
      expect(r.stderr, what).toMatch(/^ {2}stopped btrfs send \(pid \d+\)$/m);
      expect(r.stderr, what).toMatch(/^ {2}deleted the temporary snapshot \S+\.pantheros-diff-\d+$/m);
      expect(c.image.paths().filter((p) => p.includes('.pantheros-diff-')), what).toEqual([]);
      expect(temporary(), what).toEqual([]);
    }
    // On a terminal (script(1) gives it one), a walk that takes a while shows its progress on stderr.
    const tty = spawnSync('script', ['-qec', `${runtime.bin} ${BUNDLE} diff --summary --device ${c.image.loop} --config ${cfg} >/dev/null`, '/dev/null'], { encoding: 'utf8', timeout: 120_000 });
    expect(tty.status, tty.stdout).toBe(0);
    expect(tty.stdout).toMatch(/\rdiff: \d+ paths read, \d+ differ so far …/);
    expect(leftMounts(c)).toEqual([]);
  });

  it('restore of a big tree: the copy is stopped and removed, DEST is as it was, nothing mounted', async () => {
    const c = useBootCase(runtime);
    c.createSubvolume(`${OLD_ROOTS}/20261125T060000Z`);
    for (let d = 0; d < 20; d++) {
      const dir = c.abs(`${OLD_ROOTS}/20261125T060000Z/srv/big/d${d}`);
      mkdirSync(dir, { recursive: true });
      for (let f = 0; f < 1000; f++) writeFileSync(join(dir, `f${f}`), `${f}\n`);
    }
    const cfg = configFile(c);
    const area = scratchArea('ops-signals-');
    const dest = join(area, 'big');
    for (const [signal, code] of SIGNALS) {
      const what = `restore ${signal}`;
      const run = startBundle(runtime, ['restore', '/srv/big', '--from', '20261125T060000Z', '--to', dest, '--device', c.image.loop, '--config', cfg]);
      const r = await interrupt(run, signal, `${what}: the copy to start`, () => readdirSync(area).length > 0, 100);
      expectReleased(c, r, signal, code, what);
      expect(r.stderr, what).toMatch(/^ {2}stopped cp \(pid \d+\)$/m);
      expect(r.stderr, what).toMatch(/^ {2}removed the staging directory \S+\/\.pantheros-restore-\S+$/m);
      expect(readdirSync(area), what).toEqual([]);
      expect(existsSync(dest)).toBe(false);
    }
  });
});
