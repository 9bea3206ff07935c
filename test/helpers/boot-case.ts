// Real-disk `boot` tests: a throwaway image per test, the files one run reads (cmdline, config) and
// writes (report), and snapshots of the subvolume listing to compare before/after a run.
import { lstatSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import type { BootReport } from '../../src/boot/report.js';
import { createImage, sh, type Image, type LayoutOptions, type Subvolume } from './btrfs-image.js';
import type { Runtime } from './prereq.js';
import { runBundle, type RunResult } from './run-bundle.js';

export const OLD_ROOTS = '@btrfs_tmp/old_roots';
export const NEXT_BOOT = `${OLD_ROOTS}/.pantheros-next-boot`;
export const LAST_REPORT = `${OLD_ROOTS}/.pantheros-last-report.json`;
export const NEW_ROOT = `${OLD_ROOTS}/.pantheros-new-root`;
/** What a NixOS kernel command line looks like around the parameter under test. */
export const CMDLINE_BASE = 'BOOT_IMAGE=(hd0,gpt1)//kernels/bzImage init=/nix/store/0000-nixos-system/init loglevel=4 quiet';
/** The config every run gets unless a test passes its own (a short device wait keeps failures fast). */
export const BASE_CONFIG = { deviceTimeoutSeconds: 1, oldRoots: { keepDays: 30, keepAtLeast: 5 } };

export type Kind = 'subvolume' | 'directory' | 'symlink' | 'file' | 'missing' | 'other';

export interface BootOptions {
  /** Extra kernel command line words (after CMDLINE_BASE). */
  cmdline?: string;
  /** The whole command line file, verbatim. */
  rawCmdline?: string;
  config?: unknown;
  dryRun?: boolean;
  json?: boolean;
  env?: Record<string, string>;
  /** Replaces `--top-level <top>` (e.g. with `--device <loop>`). */
  access?: string[];
}

export interface BootRun extends RunResult {
  /** The --report file, parsed; undefined when none was written. */
  report: BootReport | undefined;
  /** stdout parsed as JSON when --json was given. */
  json: BootReport | undefined;
  /** The command line, for failure messages. */
  argv: string[];
}

export interface BootCase {
  runtime: Runtime;
  image: Image;
  top: string;
  /** Runs `boot` with --now, a fresh --report file and the given cmdline/config. */
  boot(now: string, options?: BootOptions): BootRun;
  abs(rel: string): string;
  kind(rel: string): Kind;
  read(rel: string): string;
  write(rel: string, text: string): void;
  /** Names of the entries directly inside the archive directory (any kind), sorted. */
  entries(): string[];
  /** Archive names: subvolumes directly inside the archive directory, not hidden, sorted. */
  archives(): string[];
  subvolume(rel: string): Subvolume | undefined;
  /** Creates a subvolume (and missing parents as plain directories), optionally with files. */
  createSubvolume(rel: string, files?: Record<string, string>): void;
}

/** The kind of a path without following symlinks; a subvolume is a directory with inode 256. */
export function kindOf(abs: string): Kind {
  try {
    const st = lstatSync(abs);
    if (st.isSymbolicLink()) return 'symlink';
    if (st.isDirectory()) return st.ino === 256 ? 'subvolume' : 'directory';
    return st.isFile() ? 'file' : 'other';
  } catch {
    return 'missing';
  }
}

/** Makes a loop-mounted image for the current test; destroyed when it ends, kept (with removal hint) when it fails. */
export function useBootCase(runtime: Runtime, options: LayoutOptions = {}): BootCase {
  const image = createBootImage(options);
  // onTestFinished runs before onTestFailed, so it reads the test's state itself.
  onTestFinished(({ task }) => image.destroy(task.result?.state === 'fail'));
  return bootCaseFor(runtime, image);
}

/** Runs fn on a fresh image, destroyed afterwards or kept (with a removal hint) when fn throws; for loops inside one test. */
export function withBootCase<T>(runtime: Runtime, fn: (c: BootCase) => T, options: LayoutOptions = {}): T {
  const image = createBootImage(options);
  let result: T;
  try {
    result = fn(bootCaseFor(runtime, image));
  } catch (error) {
    image.destroy(true);
    throw error;
  }
  image.destroy();
  return result;
}

function createBootImage(options: LayoutOptions): Image {
  const image = createImage(options);
  // noatime: the tests' own reads must not bump generations that before/after comparisons look at.
  sh('mount', ['-o', 'remount,noatime', image.top]);
  return image;
}

export function bootCaseFor(runtime: Runtime, image: Image): BootCase {
  const top = image.top;
  const abs = (rel: string) => join(top, rel);
  let runs = 0;
  const c: BootCase = {
    runtime,
    image,
    top,
    abs,
    kind: (rel) => kindOf(abs(rel)),
    read: (rel) => readFileSync(abs(rel), 'utf8'),
    write: (rel, text) => writeFileSync(abs(rel), text),
    entries: () => readdirSync(abs(OLD_ROOTS)).sort(),
    archives: () => c.entries().filter((n) => !n.startsWith('.') && kindOf(abs(`${OLD_ROOTS}/${n}`)) === 'subvolume'),
    subvolume: (rel) => image.subvolumes().find((s) => s.path === rel),
    createSubvolume: (rel, files = {}) => {
      const parent = rel.split('/').slice(0, -1).join('/');
      if (parent) sh('mkdir', ['-p', abs(parent)]);
      sh('btrfs', ['subvolume', 'create', abs(rel)]);
      for (const [name, text] of Object.entries(files)) writeFileSync(join(abs(rel), name), text);
    },
    boot: (now, o = {}) => {
      runs += 1;
      const file = (name: string) => join(image.dir, `${name}-${runs}`);
      const cmdlineFile = file('cmdline');
      const configFile = file('config.json');
      const reportFile = file('report.json');
      writeFileSync(cmdlineFile, o.rawCmdline ?? `${CMDLINE_BASE}${o.cmdline ? ` ${o.cmdline}` : ''}\n`);
      writeFileSync(configFile, JSON.stringify(o.config ?? BASE_CONFIG));
      rmSync(reportFile, { force: true });
      const argv = [
        'boot',
        ...(o.access ?? ['--top-level', top]),
        '--cmdline',
        cmdlineFile,
        '--config',
        configFile,
        '--now',
        now,
        '--report',
        reportFile,
        ...(o.dryRun ? ['--dry-run'] : []),
        ...(o.json ? ['--json'] : []),
      ];
      const r = runBundle(runtime, argv, o.env);
      let report: BootReport | undefined;
      try {
        report = JSON.parse(readFileSync(reportFile, 'utf8')) as BootReport;
      } catch {
        report = undefined;
      }
      let json: BootReport | undefined;
      if (o.json) {
        try {
          json = JSON.parse(r.stdout) as BootReport;
        } catch {
          json = undefined;
        }
      }
      return { ...r, report, json, argv: [runtime.name, ...argv] };
    },
  };
  return c;
}

/** Commits the running transaction, so generations in a listing reflect every write made so far (and seeds get distinct generations). */
export function commit(c: BootCase): void {
  sh('btrfs', ['filesystem', 'sync', c.top]);
}

/** A readable summary of a run for assertion messages. */
export function describeRun(r: BootRun): string {
  return `${r.argv.join(' ')}\nexit ${r.code} signal ${r.signal}\nstderr:\n${r.stderr}\nstdout:\n${r.stdout.slice(0, 4000)}`;
}

/** Ids and generations of every subvolume outside the archive directory except the root and the blank (which a snapshot touches). */
export function outsideState(c: BootCase): Record<string, { id: number; gen: number }> {
  commit(c);
  const out: Record<string, { id: number; gen: number }> = {};
  for (const s of c.image.subvolumes()) {
    if (s.path === '@root' || s.path.startsWith('@root/') || s.path.startsWith(`${OLD_ROOTS}/`)) continue;
    out[s.path] = s.path === '@root-blank' ? { id: s.id, gen: 0 } : { id: s.id, gen: s.gen };
  }
  return out;
}

/** The full listing as comparable text: every subvolume with id, generation and creation generation. */
export function fullState(c: BootCase): string[] {
  commit(c);
  return c.image.subvolumes().map((s) => `${s.path} id=${s.id} gen=${s.gen} cgen=${s.cgen}`);
}

/**
 * Puts archives in place directly with btrfs (creation order = cgen order = the order given), each
 * holding a file `marker` with "archive <name>", then replaces @root with a newer one (marker text
 * `rootMarker`) so that, as on a real machine, the live root is younger than every archive.
 */
export function seedArchives(c: BootCase, names: string[], rootMarker = 'live-root\n'): void {
  for (const name of names) {
    c.createSubvolume(`${OLD_ROOTS}/${name}`, { marker: `archive ${name}\n` });
    commit(c);
  }
  sh('btrfs', ['subvolume', 'delete', '--commit-after', c.abs('@root')]);
  c.createSubvolume('@root', { marker: rootMarker });
  commit(c);
}
