// The boots the power-cut test records, each on a disk prepared here on the host. To add one (e.g.
// the state rollback once `boot` does it): a seed that puts the disk in the state before the boot,
// the command line, what the new root must be made from and which archives may go; the test
// replays and checks it like the others.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sh } from '../helpers/btrfs-image.js';
import type { Runtime } from '../helpers/prereq.js';
import { runBundle } from '../helpers/run-bundle.js';
import { LAST_REPORT, OLD_ROOTS, type Source } from './crash-state.js';
import { OLD_STATE, type StateExpectation } from './state-crash.js';

const DAY_MS = 86_400_000;
/** An archive name (YYYYMMDDTHHMMSSZ) daysAgo days before now. */
export function archiveName(now: number, daysAgo: number): string {
  return new Date(now - daysAgo * DAY_MS).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

export interface SeedContext {
  /** The mounted top level (subvolid=5) of the disk being prepared. */
  top: string;
  runtime: Runtime;
  config: object;
  /** A scratch directory for files the seed needs (config, command line). */
  scratch: string;
  now: number;
}

export interface Scenario {
  name: string;
  /** How the guest runs the tool: `device` = the unit's ExecStart (its own private mount); `top-level` = a mounted top level, then an fsync in the new root. */
  mode: 'device' | 'top-level';
  /** pantheros.rollback=… words on the kernel command line of the recorded boot and of every recovery boot. */
  cmdline: string[];
  config: object;
  /** Puts the disk in the state before the boot; returns what depends on the names it made. */
  seed(c: SeedContext): Seeded;
  /** What a recovery boot makes the new root from when no request is pending (the same command line). */
  recoverySource: Source;
}

export interface Seeded {
  /** What the recorded boot makes the new root from. */
  source: Source;
  /** Archives the recorded boot must age out (and so may be gone, or half gone, at a crash point). */
  deletable: string[];
  /** The state rollback the recorded boot carries out, with its promises (state-crash.ts). */
  state?: StateExpectation;
}

const BLANK: Seeded = { source: { kind: 'blank' }, deletable: [] };

const BASE_CONFIG = { deviceTimeoutSeconds: 10, oldRoots: { keepDays: 30, keepAtLeast: 5 } };

/** Snapshots the blank as archive name, with a file naming it (so loss and change are visible). */
function addArchive(top: string, name: string): string {
  const path = join(top, OLD_ROOTS, name);
  sh('btrfs', ['subvolume', 'snapshot', join(top, '@root-blank'), path]);
  writeFileSync(join(path, 'archive'), `${name}\n`);
  return path;
}

/**
 * What a machine has after some boots: two recent archives and, unless firstReport, the last boot's
 * report copy (a report that replaces another is flushed by btrfs' rename heuristics; the first one is not).
 */
function history(c: SeedContext, firstReport = false): { recent: string; newest: string } {
  const recent = archiveName(c.now, 5);
  const newest = archiveName(c.now, 1);
  addArchive(c.top, recent);
  addArchive(c.top, newest);
  if (!firstReport) {
    writeFileSync(join(c.top, LAST_REPORT), `${JSON.stringify({ version: 1, result: 'ok', note: 'the report of the boot before, kept by the seed' }, null, 2)}\n`);
  }
  return { recent, newest };
}

/** Runs the bundled tool on the host against the seed's top level (next-boot, an interrupted boot). */
function tool(c: SeedContext, args: string[], env: Record<string, string> = {}) {
  const config = join(c.scratch, 'seed-config.json');
  const cmdline = join(c.scratch, 'seed-cmdline');
  writeFileSync(config, JSON.stringify(c.config));
  writeFileSync(cmdline, 'console=ttyS0\n');
  return runBundle(c.runtime, [...args, '--top-level', c.top, '--config', config, ...(args[0] === 'boot' ? ['--cmdline', cmdline] : [])], env);
}

/** A scenario on the usual history; more (run after history) may add to the disk and name the source and deletable archives. */
function onHistory(
  name: string,
  options: Partial<Pick<Scenario, 'mode' | 'cmdline' | 'config' | 'recoverySource'>> & {
    /** No report copy yet (the first boot that writes one). */
    firstReport?: boolean;
    more?: (c: SeedContext, h: { recent: string }) => Seeded | void;
  },
): Scenario {
  return {
    name,
    mode: options.mode ?? 'device',
    cmdline: options.cmdline ?? [],
    config: options.config ?? BASE_CONFIG,
    recoverySource: options.recoverySource ?? { kind: 'blank' },
    seed: (c) => {
      const h = history(c, options.firstReport);
      return options.more?.(c, h) ?? BLANK;
    },
  };
}

export const SCENARIOS: Scenario[] = [
  onHistory('normal boot (the unit: --device)', {}),
  onHistory('the first boot that keeps a report copy, with --top-level, then an fsync in the new root', { mode: 'top-level', firstReport: true }),
  onHistory('pantheros.rollback=previous', {
    cmdline: ['pantheros.rollback=previous'],
    recoverySource: { kind: 'previous' },
    more: () => ({ source: { kind: 'previous' }, deletable: [] }),
  }),
  onHistory('next-boot request for an archive', {
    more: (c, { recent }) => {
      const r = tool(c, ['next-boot', recent]);
      if (r.code !== 0) throw new Error(`next-boot ${recent} failed: ${r.stderr}`);
      return { source: { kind: 'archive', name: recent }, deletable: [] };
    },
  }),
  {
    name: 'age-out of two expired archives holding 24 nested subvolumes',
    mode: 'device',
    cmdline: [],
    config: { ...BASE_CONFIG, oldRoots: { keepDays: 30, keepAtLeast: 2 } },
    recoverySource: { kind: 'blank' },
    seed: (c) => {
      // Oldest first: the engine ranks archives by creation generation, as boots would have made them.
      const expired = [archiveName(c.now, 90), archiveName(c.now, 60)];
      for (const [n, name] of expired.entries()) {
        const archive = addArchive(c.top, name);
        mkdirSync(join(archive, 'var/lib/machines'), { recursive: true });
        for (let i = 1; i <= 12; i++) {
          const nested = join(archive, 'var/lib/machines', `m${i}`);
          sh('btrfs', ['subvolume', 'create', nested]);
          writeFileSync(join(nested, 'data'), `nested ${i} of archive ${n}\n`);
        }
      }
      history(c);
      return { source: { kind: 'blank' }, deletable: expired };
    },
  },
  onHistory('recovery from an interrupted run (killed after archiving @root)', {
    more: (c) => {
      const r = tool(c, ['boot', '--now', new Date(c.now - 60_000).toISOString()], { PANTHEROS_FAILPOINT: 'after-step:2' });
      if (r.signal !== 'SIGKILL') throw new Error(`the interrupted run was not killed at its failpoint: ${r.code} ${r.stderr}`);
    },
  }),
  // The state rollback in stage 1 (issue 14): after the root's swap, the same run carries out the request
  // that `state-rollback --next-boot` left for @persistent, whose nested subvolumes (one inside another)
  // are moved over into the new state unchanged; the request goes in the same commit as the swap.
  onHistory('state rollback of @persistent from a next-boot request, nested subvolumes moved over', {
    more: (c) => {
      const nested = ['var/lib/db', 'var/lib/db/wal', 'home'];
      mkdirSync(join(c.top, '@persistent/var/lib'), { recursive: true });
      for (const n of nested) {
        sh('btrfs', ['subvolume', 'create', join(c.top, '@persistent', n)]);
        writeFileSync(join(c.top, '@persistent', n, 'data'), `${n} before the snapshot\n`);
      }
      const taken = new Date(c.now - 3_600_000);
      const snap = tool(c, ['snapshot', '--class', 'hourly', '@persistent', '--now', taken.toISOString()]);
      if (snap.code !== 0) throw new Error(`snapshot failed: ${snap.stderr}`);
      // The bad deploy: @persistent and a nested subvolume change after the snapshot (the nested change must stay).
      writeFileSync(join(c.top, '@persistent/marker'), 'changed after the snapshot\n');
      writeFileSync(join(c.top, '@persistent/var/lib/db/data'), 'changed after the snapshot (kept: nested)\n');
      const asked = tool(c, ['state-rollback', '--next-boot', '@persistent=hourly']);
      if (asked.code !== 0) throw new Error(`state-rollback --next-boot failed: ${asked.stderr}`);
      return {
        source: { kind: 'blank' },
        deletable: [],
        state: { subvolume: '@persistent', snapshot: `@snapshots/hourly/@persistent.${archiveName(taken.getTime(), 0)}`, archiveDir: `${OLD_STATE}/@persistent` },
      };
    },
  }),
];
