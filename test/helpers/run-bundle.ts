// Runs the bundled file under a runtime, the way the initrd and operators do.
import { spawnSync } from 'node:child_process';
import { BUNDLE, type Runtime } from './prereq.js';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * The environment a bundle run gets: this process's, then `env`. A test that names its own btrfs program
 * (PANTHEROS_BTRFS: a wrapper that fails or slows a command) means the process path, the only one that
 * program sits on: under Bun the ioctl path would never start it. So PANTHEROS_BTRFS_BACKEND=process is
 * added then, unless the test sets a backend itself.
 */
export function bundleEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const wrapped = env.PANTHEROS_BTRFS !== undefined && env.PANTHEROS_BTRFS_BACKEND === undefined;
  return { ...process.env, ...(wrapped ? { PANTHEROS_BTRFS_BACKEND: 'process' } : {}), ...env };
}

/** Runs the bundle; a run longer than timeoutMs (default 120 s) is killed with SIGKILL (code null, signal SIGKILL). */
export function runBundle(runtime: Runtime, args: string[], env: Record<string, string> = {}, options: { timeoutMs?: number } = {}): RunResult {
  const r = spawnSync(runtime.bin, [...runtime.flags, BUNDLE, ...args], {
    encoding: 'utf8',
    env: bundleEnv(env),
    timeout: options.timeoutMs ?? 120_000,
    killSignal: 'SIGKILL',
    // A plan of thousands of deep nested subvolumes prints megabytes (spawnSync's default, 1 MiB, kills the child).
    maxBuffer: 256 * 1024 * 1024,
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}
