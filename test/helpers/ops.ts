// For the operator-command tests of issue 11: the bundle run in the background (to race it or signal it), an
// unprivileged user (nobody) to attack it, and what a run left mounted.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { parseMountinfo, type MountEntry } from '../../src/fs/mountinfo.js';
import { BUNDLE, type Runtime } from './prereq.js';
import { bundleEnv, type RunResult } from './run-bundle.js';

/** The unprivileged user the attacks run as (Debian's nobody). */
export const NOBODY = { uid: 65534, gid: 65534 };

export interface Started {
  child: ChildProcess;
  done: Promise<RunResult>;
}

/** Starts the bundle under runtime in the background; `done` resolves when it exits. */
export function startBundle(runtime: Runtime, args: string[], env: Record<string, string> = {}): Started {
  const child = spawn(runtime.bin, [...runtime.flags, BUNDLE, ...args], { env: bundleEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<RunResult>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

/** Polls predicate every few ms until it is true; throws after timeoutMs with `what`. */
export async function waitFor(what: string, predicate: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Runs argv as nobody (setpriv: real and effective ids, no supplementary groups); throws on failure. */
export function asNobody(argv: string[], env: Record<string, string> = {}): RunResult {
  const r = spawnSync('setpriv', [`--reuid=${NOBODY.uid}`, `--regid=${NOBODY.gid}`, '--clear-groups', ...argv], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Mounts of the loop device other than `except` (the test's own top-level mount): what a run left behind. */
export function mountsOf(loop: string, except: string): MountEntry[] {
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).filter((e) => e.source === loop && e.mountPoint !== except);
}

/** A world-traversable (0755) scratch directory under the temporary directory, removed when the test ends. */
export function scratchArea(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  return dir;
}

/** A run, readable in an assertion message. */
export const showRun = (r: RunResult, what: string) => `${what}\nexit ${r.code} signal ${r.signal}\nstderr:\n${r.stderr}\nstdout:\n${r.stdout.slice(0, 2000)}`;
