// Process helpers shared by the benchmark: run a command, time a command, fail loudly with its stderr.
import { execFileSync, spawnSync } from 'node:child_process';

/** Runs a setup/teardown command and returns its stdout; throws with stderr on failure. */
export function sh(cmd, args = [], options = {}) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 << 20, ...options });
  } catch (error) {
    const stderr = error.stderr ? String(error.stderr).trim() : '';
    throw new Error(`${cmd} ${args.join(' ')} failed: ${stderr || error.message}`, { cause: error });
  }
}

/**
 * The environment of every timed command: PATH and what the variant adds (options.env), as a systemd unit in stage 1
 * has it — never the caller's. This machine's shell exports NODE_EXTRA_CA_CERTS, which makes every Node start read and
 * parse a CA bundle first: 53 ms → 145 ms for an empty script here (2026-11-30), a cost no initrd pays.
 */
export function unitEnv(extra = {}) {
  return { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...extra };
}

/** Runs a command the benchmark measures; returns wall milliseconds (spawn to exit) and the outcome. */
export function timeCommand(cmd, args, options = {}) {
  const start = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', maxBuffer: 64 << 20, ...options, env: unitEnv(options.env) });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  return { ms, code: r.status, signal: r.signal, stderr: r.stderr ?? '', error: r.error };
}

/** True when a command exists and exits 0 (probing optional tools). */
export function succeeds(cmd, args = []) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.status === 0;
}
