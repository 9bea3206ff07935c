// What a run holds — private mounts, temporary snapshots, staging directories, child processes — and how it is
// given back when SIGINT, SIGTERM or SIGHUP stops the run: children first, then everything else, newest first.
//
// A signal handler only runs when JavaScript yields to the event loop: never during spawnSync, never inside a
// synchronous loop. So long work is asynchronous (tracked children, loops that call yieldToSignals), and code that
// holds something registers it here before the first await; the normal path releases it itself.
import { readFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { SIGNAL_NUMBERS } from '../errors.js';
import { writeErr } from './io.js';

/** The signals that end a run cleanly (Ctrl-C, systemctl stop, a closed terminal). */
export const HANDLED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Something the run holds; release() gives it back once (later calls do nothing) and returns a problem, if any. */
export interface Held {
  release(): string | undefined;
}

interface Entry {
  what: string;
  release: () => string | undefined | void;
}

const held: Entry[] = [];
const children = new Map<ChildProcess, string>();
let handling: NodeJS.Signals | undefined;
let finished = false;

/**
 * Marks the run's work as done: the command has printed its result (src/cli/context.ts output) or returned. A
 * signal that arrives from now on — typically one that came during a synchronous step (a `btrfs` process run with
 * spawnSync), which JavaScript can only handle once that step is over — no longer stops the run: the result is
 * printed once, the exit code stays the command's own, and stderr says the signal came after the work was done.
 */
export function markFinished(): void {
  finished = true;
}

/** True once markFinished was called in this run. */
export function isFinished(): boolean {
  return finished;
}

/**
 * Registers something to give back on a signal. `what` says what releasing it does, as a past-tense clause
 * ("unmounted the private top-level mount /run/…"); `release` runs synchronously, never throws, and returns a
 * problem as text. The caller releases it on the normal path through the returned handle.
 */
export function hold(what: string, release: () => string | undefined | void): Held {
  const entry: Entry = { what, release };
  held.push(entry);
  let done = false;
  return {
    release() {
      if (done) return undefined;
      done = true;
      const i = held.indexOf(entry);
      if (i >= 0) held.splice(i, 1);
      return release() ?? undefined;
    },
  };
}

/** Tracks an asynchronous child until it exits, so a signal stops it before anything it uses is released. */
export function trackChild(child: ChildProcess, what: string): void {
  children.set(child, what);
  const forget = () => children.delete(child);
  child.once('exit', forget);
  child.once('error', forget);
}

/** True while a signal is being handled (the run is ending). */
export function interruptedBy(): NodeJS.Signals | undefined {
  return handling;
}

/** Gone, or a zombie (its files are closed, its references to the filesystem dropped). */
function ended(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X';
  } catch {
    return true;
  }
}

const pause = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Sends signal to pid and waits (synchronously, up to ms) until it has ended. */
function stop(pid: number, signal: NodeJS.Signals, ms: number): boolean {
  try {
    process.kill(pid, signal);
  } catch {
    return true;
  }
  for (const deadline = Date.now() + ms; Date.now() < deadline; pause(10)) if (ended(pid)) return true;
  return ended(pid);
}

/** Stops every tracked child (SIGTERM, then SIGKILL after 2 s) and releases everything held, newest first; returns report lines. */
export function releaseAll(): string[] {
  const lines: string[] = [];
  for (const [child, what] of [...children]) {
    children.delete(child);
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue;
    const ok = stop(child.pid, 'SIGTERM', 2000) || stop(child.pid, 'SIGKILL', 2000);
    lines.push(ok ? `stopped ${what} (pid ${child.pid})` : `could not stop ${what} (pid ${child.pid})`);
  }
  while (held.length) {
    const entry = held.pop()!;
    let problem: string | undefined;
    try {
      problem = entry.release() ?? undefined;
    } catch (error) {
      problem = (error as Error).message;
    }
    lines.push(problem ? `could not complete: ${entry.what}: ${problem}` : entry.what);
  }
  return lines;
}

/**
 * Installs the handlers for SIGINT, SIGTERM and SIGHUP: on the first signal, stop the children, release what is
 * held, say so on stderr, call `onInterrupted` (e.g. to print a JSON error) and exit 128 + the signal number. When
 * the run has already finished its work (markFinished), the signal is only reported on stderr: the command ends as
 * it would have, with its own exit code, and releases what it holds on its normal path. A second signal while
 * either runs is ignored. Returns a function that removes the handlers.
 */
export function installSignalHandlers(onInterrupted: (signal: NodeJS.Signals) => void = () => {}): () => void {
  handling = undefined;
  finished = false;
  const handler = (signal: NodeJS.Signals) => {
    if (handling) return;
    handling = signal;
    if (finished) {
      writeErr(`pantheros-rollback: ${signal} arrived after the work was done; the result stands (exit code as without it)\n`);
      return;
    }
    writeErr(`pantheros-rollback: interrupted by ${signal}; releasing what this run holds\n`);
    const lines = releaseAll();
    writeErr(lines.length ? lines.map((l) => `  ${l}\n`).join('') : '  (nothing was held)\n');
    try {
      onInterrupted(signal);
    } catch {
      // stdout gone (closed by its reader): the exit code still says what happened
    } finally {
      process.exit(128 + (SIGNAL_NUMBERS[signal] ?? 0));
    }
  };
  for (const s of HANDLED_SIGNALS) process.on(s, handler);
  return () => {
    for (const s of HANDLED_SIGNALS) process.off(s, handler);
  };
}

/**
 * Lets a pending signal handler run. Under Node a signal that arrived during synchronous work is dispatched on
 * the second turn of the event loop (measured with Node 20 and Bun 1.4), hence two setImmediate turns.
 */
export async function yieldToSignals(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
}
