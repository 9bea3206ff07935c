// Runs the bundled file under a runtime, the way the initrd and operators do.
import { spawnSync } from 'node:child_process';
import { BUNDLE, type Runtime } from './prereq.js';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runBundle(runtime: Runtime, args: string[], env: Record<string, string> = {}): RunResult {
  const r = spawnSync(runtime.bin, [BUNDLE, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}
