// Real power cuts (issue 13), the method of fstests generic/482: a guest boot runs the bundled tool
// on a dm-log-writes device (the log on a second virtio disk); the log is replayed onto copies of
// the pre-boot image up to each crash point, and every point must pass `btrfs check`, mount, keep
// the README's promises (test/powercut/crash-state.ts), and recover with the next boot (the bundle
// on the host with --top-level at every point; a guest boot for one point per scenario).
// `npm test` replays every FLUSH/FUA point; `npm run test:powercut` (PANTHEROS_POWERCUT=every) every entry.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sh } from '../helpers/btrfs-image.js';
import { requirePrerequisites, RUNTIMES } from '../helpers/prereq.js';
import { runBundle } from '../helpers/run-bundle.js';
import { createDiskImage, NIXOS_LABEL } from '../helpers/vm-disk.js';
import { CACHE, fetchKernel, type Kernel } from '../vm/kernel.js';
import { serialTail } from '../vm/qemu.js';
import { requireVmPrerequisites } from '../vm/rig.js';
import {
  checkCrashPoint, checkRecovered, inspectTop, NEW_ROOT_PREFIX, OLD_ROOTS, type CrashFacts, type Expectation,
} from './crash-state.js';
import { flagText, isFlushPoint, readWriteLog, replay, writesData, type WriteLog } from './log-writes.js';
import { bootGuest, buildPowercutInitrd, guestNow } from './record.js';
import { SCENARIOS, type Scenario } from './scenarios.js';
import { checkStateCrashPoint, checkStateRecovered, stateOf } from './state-crash.js';

const EVERY = process.env.PANTHEROS_POWERCUT === 'every';
/** PANTHEROS_POWERCUT_VERBOSE=1 prints one line per crash point (what is on disk there). */
const VERBOSE = process.env.PANTHEROS_POWERCUT_VERBOSE === '1';
const SCENARIO_TIMEOUT_MS = EVERY ? 3_600_000 : 1_200_000;
/** Failing crash-point images kept per scenario (each a sparse 1 GiB file). */
const KEEP_FAILING = 3;
const LOG_SIZE = '1G';

/** Copies a sparse image (only its data). */
const copy = (from: string, to: string) => sh('cp', ['--sparse=always', from, to]);

/** Mounts the top level of an image through a loop device, runs fn, unmounts (and frees the loop device) also when fn throws. */
function withTopLevel<T>(image: string, mnt: string, options: { readOnly?: boolean }, fn: (top: string) => T): T {
  mkdirSync(mnt, { recursive: true });
  sh('mount', ['-o', `loop,subvolid=5${options.readOnly ? ',ro' : ''}`, image, mnt]);
  try {
    return fn(mnt);
  } finally {
    spawnSync('umount', [mnt]);
  }
}

interface PointResult {
  /** Entries replayed (the state after the first `point` entries). */
  point: number;
  /** The last entry replayed, for reports. */
  entry: string;
  /** The last mark before this point. */
  after: string;
  hasRoot: boolean;
  hasLeftover: boolean;
  facts: CrashFacts | null;
  violations: string[];
}

/** The crash points to replay: after every FLUSH/FUA entry (or every entry that writes or flushes), plus the pre-boot state and the end. */
function crashPoints(log: WriteLog, every: boolean): number[] {
  const points = new Set<number>([0, log.entries.length]);
  for (const e of log.entries) if (isFlushPoint(e) || (every && writesData(e))) points.add(e.index + 1);
  return [...points].sort((a, b) => a - b);
}

describe(`power cuts during a boot (dm-log-writes, replayed at every ${EVERY ? 'entry' : 'FLUSH/FUA point'})`, () => {
  let kernel: Kernel;
  const figures: string[] = [];

  beforeAll(() => {
    requireVmPrerequisites();
    requirePrerequisites(['dmsetup', 'btrfs', 'cp', 'mount', 'umount'], 'apt-get install -y dmsetup btrfs-progs util-linux coreutils');
    kernel = fetchKernel();
  });
  afterAll(() => {
    console.log(figures.join('\n'));
    mkdirSync(CACHE, { recursive: true });
    writeFileSync(join(CACHE, `powercut-summary${EVERY ? '-every' : ''}.txt`), `${figures.join('\n')}\n`);
  });

  for (const [n, scenario] of SCENARIOS.entries()) {
    it(scenario.name, () => runScenario(scenario, n), SCENARIO_TIMEOUT_MS);
  }

  function runScenario(scenario: Scenario, n: number): void {
    const started = performance.now();
    const runtime = RUNTIMES[n % RUNTIMES.length]!;
    const dir = mkdtempSync(join(tmpdir(), 'pantheros-powercut-'));
    let keepDir = false;
    try {
      // The disk before the boot, prepared on the host; kept pristine as pre.img.
      const disk = createDiskImage({ label: NIXOS_LABEL });
      const seeded = disk.inspect((top) => scenario.seed({ top, runtime, config: scenario.config, scratch: dir, now: guestNow() }));
      const pre = join(dir, 'pre.img');
      copy(disk.file, pre);
      disk.destroy();
      const mnt = join(dir, 'mnt');
      const preFacts = withTopLevel(pre, mnt, { readOnly: true }, inspectTop);
      const e: Expectation = { pre: preFacts, source: seeded.source, deletable: seeded.deletable, ...(seeded.state ? { state: seeded.state } : {}) };
      /** The promises after a recovery boot, the state rollback's included when the scenario has one. */
      const recovered = (at: CrashFacts, after: CrashFacts) => [...checkRecovered(e, at, after, scenario.recoverySource), ...(e.state ? checkStateRecovered(e, after) : [])];

      // The recorded boot.
      const booted = join(dir, 'booted.img');
      const logPath = join(dir, 'log.img');
      copy(pre, booted);
      sh('truncate', ['-s', LOG_SIZE, logPath]);
      const initrd = buildPowercutInitrd(kernel, runtime, scenario.config);
      const mode = scenario.mode === 'device' ? 'record-device' : 'record-top-level';
      const recordStarted = performance.now();
      const g = bootGuest(kernel, initrd, mode, booted, logPath, scenario.cmdline, join(dir, 'ttyS1-record.txt'));
      const recordS = (performance.now() - recordStarted) / 1000;
      const guestLog = `${serialTail(g.serial, 30)}\n--- ttyS1 ---\n${g.ttyS1.slice(-3000)}`;
      expect(g.completed, `the recording boot did not finish:\n${guestLog}`).toBe(true);
      expect(g.exitCode, `the tool failed in the recording boot: ${g.stderr}`).toBe(0);
      expect(g.root, guestLog).toBe('ok');
      expect(g.logStatus).toMatch(/log-writes/);
      expect(g.logStatus, 'dm-log-writes ran out of log space').not.toMatch(/logging_disabled/);

      const log = readWriteLog(logPath);
      const marks = new Map(log.entries.filter((x) => x.mark !== null).map((x) => [x.mark!, x.index]));
      expect([...marks.keys()], 'marks in the log').toEqual(expect.arrayContaining(['boot-start', 'tool-exit-0', 'root-mounted', 'root-fsync']));
      const exit0 = marks.get('tool-exit-0')!;
      const markBefore = (point: number) => [...marks].filter(([, i]) => i < point).at(-1)?.[0] ?? 'start';

      // Replay up to each crash point onto a working copy, check a copy of it, recover it on the host.
      const work = join(dir, 'work.img');
      copy(pre, work);
      const config = join(dir, 'config.json');
      const cmdline = join(dir, 'cmdline');
      writeFileSync(config, JSON.stringify(scenario.config));
      writeFileSync(cmdline, `BOOT_IMAGE=/vmlinuz console=ttyS0 ${scenario.cmdline.join(' ')}\n`);
      const results: PointResult[] = [];
      let applied = 0;
      let kept = 0;
      const points = crashPoints(log, EVERY);
      const replayStarted = performance.now();
      for (const point of points) {
        replay(log, logPath, work, applied, point);
        applied = point;
        const img = join(dir, 'point.img');
        copy(work, img);
        const last = log.entries[point - 1];
        const r: PointResult = {
          point, entry: last ? `#${last.index} ${flagText(last.flags)}` : 'pre-boot', after: markBefore(point),
          hasRoot: false, hasLeftover: false, facts: null, violations: [],
        };
        const check = spawnSync('btrfs', ['check', '--readonly', img], { encoding: 'utf8' });
        if (check.status !== 0) r.violations.push(`btrfs check failed: ${`${check.stdout}${check.stderr}`.trim().split('\n').slice(-3).join(' | ')}`);
        try {
          withTopLevel(img, mnt, {}, (top) => {
            const at = inspectTop(top);
            r.facts = at;
            r.hasRoot = at.topEntries.includes('@root');
            r.hasLeftover = (at.archiveEntries ?? []).some((x) => x.startsWith(NEW_ROOT_PREFIX));
            const ctx = { afterExit0: point > exit0 };
            r.violations.push(...checkCrashPoint(e, at, ctx), ...(e.state ? checkStateCrashPoint(e, at, ctx) : []));
            // The next boot, as the bundle run on the host with --top-level (runtimes alternate per point).
            const recovery = runBundle(RUNTIMES[point % RUNTIMES.length]!, [
              'boot', '--top-level', top, '--config', config, '--cmdline', cmdline, '--now', new Date(guestNow()).toISOString(), '--report', join(dir, 'report.json'),
            ]);
            if (recovery.code !== 0) r.violations.push(`recovery boot exited ${recovery.code}: ${recovery.stderr.trim().split('\n').at(-1)}`);
            else r.violations.push(...recovered(at, inspectTop(top)).map((x) => `recovery: ${x}`));
          });
        } catch (error) {
          r.violations.push(`does not mount or cannot be read: ${(error as Error).message.split('\n')[0]}`);
        }
        if (r.violations.length && kept < KEEP_FAILING) {
          copy(work, join(dir, `failing-point-${point}.img`));
          kept += 1;
          keepDir = true;
        }
        rmSync(img, { force: true });
        results.push(r);
      }
      replay(log, logPath, work, applied, log.entries.length);
      const replayS = (performance.now() - replayStarted) / 1000;
      const identical = spawnSync('cmp', ['-s', work, booted]).status === 0;

      // One guest boot as the next boot after a cut: the most broken state (no @root; with a state rollback, the last
      // point before its swap is on disk; else a leftover; else mid-boot).
      const statePending = e.state ? results.filter((r) => r.facts && stateOf(e, r.facts) === 'old').at(-1) : undefined;
      const sample = results.find((r) => r.facts && !r.hasRoot) ?? statePending ?? results.find((r) => r.hasLeftover) ?? results[Math.floor(results.length / 2)]!;
      const sampleImg = join(dir, 'sample.img');
      copy(pre, sampleImg);
      replay(log, logPath, sampleImg, 0, sample.point);
      const sampleStarted = performance.now();
      const s = bootGuest(kernel, initrd, 'plain', sampleImg, null, scenario.cmdline, join(dir, 'ttyS1-sample.txt'));
      const sampleS = (performance.now() - sampleStarted) / 1000;
      const sampleViolations: string[] = [];
      if (!s.completed || s.exitCode !== 0 || s.root !== 'ok') sampleViolations.push(`guest boot: exit ${s.exitCode}, root ${s.root}: ${s.stderr.trim()}`);
      else if (sample.facts) {
        sampleViolations.push(...recovered(sample.facts, withTopLevel(sampleImg, mnt, { readOnly: true }, inspectTop)));
      }

      const lost = results.filter((r) => r.violations.length);
      const count = (f: (x: WriteLog['entries'][number]) => boolean) => log.entries.filter(f).length;
      const mb = (log.entries.filter(writesData).reduce((a, x) => a + x.nrSectors, 0) * log.sectorSize) / 1e6;
      figures.push(
        `powercut "${scenario.name}" (${runtime.name}, ${scenario.mode}): log ${log.entries.length} entries ` +
          `(${count(isFlushPoint)} FLUSH/FUA, ${count((x) => x.mark !== null)} marks, ${mb.toFixed(1)} MB); ` +
          `${points.length} points replayed, ${points.length - lost.length} recovered, ${lost.length} lost; ` +
          `whole-log replay ${identical ? 'byte-identical to' : 'DIFFERS from'} the disk QEMU wrote; ` +
          `guest boot of point ${sample.point} (${sample.after}): ${sampleViolations.length ? 'FAILED' : 'recovered'}; ` +
          `${((performance.now() - started) / 1000).toFixed(0)} s (recording boot ${recordS.toFixed(0)} s, replay and checks ${replayS.toFixed(0)} s, guest boot ${sampleS.toFixed(0)} s)`,
      );
      if (VERBOSE) {
        for (const r of results) {
          const f = r.facts;
          const state = f
            ? `@root ${r.hasRoot ? 'yes' : 'NO'}, archive dir: ${(f.archiveEntries ?? []).join(' ')}${f.request !== null ? `, request ${f.request.trim()}` : ''}` +
              `${e.state ? `, ${e.state.subvolume} ${stateOf(e, f)}${f.stateRequest !== null ? ', state request pending' : ''}` : ''}`
            : 'unreadable';
          console.log(`  point ${r.point} (entry ${r.entry}, after ${r.after}): ${state}${r.violations.length ? ` — ${r.violations.join('; ')}` : ''}`);
        }
      }
      const detail = lost
        .slice(0, 12)
        .map((r) => `  point ${r.point} (entry ${r.entry}, after mark ${r.after}): ${r.violations.join('; ')}`)
        .join('\n');
      if (keepDir) console.error(`kept failing crash-point images in ${dir} (pre.img, log.img, failing-point-N.img); remove with: rm -r ${dir}`);
      expect(identical, 'replaying the whole log gives the disk QEMU wrote').toBe(true);
      // The recorded boot did what the scenario says (so its crash points test it): the expired archives are gone at the end.
      const final = results.at(-1)!.facts;
      expect(final?.subvolumes.filter((x) => seeded.deletable.some((d) => x.path.startsWith(`${OLD_ROOTS}/${d}`))).map((x) => x.path), 'left by the age-out').toEqual([]);
      expect(g.report?.deleted.map((d) => d.path).sort()).toEqual(seeded.deletable.map((d) => `${OLD_ROOTS}/${d}`).sort());
      if (e.state) {
        // The recorded boot carried out the state request: its crash points are those of a real state rollback.
        expect(g.report?.state, 'the recorded boot\'s state rollback').toMatchObject({ origin: 'next-boot', result: 'ok', rolledBack: [{ subvolume: e.state.subvolume, from: e.state.snapshot, nested: expect.arrayContaining(['home', 'var/lib/db']) }] });
        expect(final && stateOf(e, final), 'the end of the log').toBe('new');
      }
      expect(lost.length, `${lost.length} of ${points.length} crash points lost a promise:\n${detail}`).toBe(0);
      expect(sampleViolations, `guest boot of point ${sample.point}`).toEqual([]);
    } catch (error) {
      keepDir = true;
      console.error(`kept the scenario's images in ${dir}; remove with: rm -r ${dir}`);
      throw error;
    } finally {
      spawnSync('umount', [join(dir, 'mnt')], { stdio: 'ignore' });
      if (!keepDir) rmSync(dir, { recursive: true, force: true });
    }
  }
});
