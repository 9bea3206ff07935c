// Runs a command without a shell; Bun.spawnSync under Bun (no node:child_process set-up cost), spawnSync under Node.

export interface CommandResult {
  argv: string[];
  code: number;
  stdout: string;
  stderr: string;
  /** Killed because it ran longer than CommandOptions.timeoutMs. */
  timedOut?: boolean;
}

export interface CommandOptions {
  /** Open file descriptors the child gets as fd 3, 4, …, so it can reach them as /proc/self/fd/3, … */
  fds?: readonly number[];
  /** Variables set for the child on top of this process's environment (e.g. TZ=UTC0 for output in UTC). */
  env?: Readonly<Record<string, string>>;
  /** Milliseconds after which the child is killed with SIGKILL (the result then has `timedOut`); none by default. */
  timeoutMs?: number;
}

type Stdio = 'ignore' | 'pipe' | number;

interface BunSpawn {
  spawnSync(argv: string[], options: { stdio: Stdio[]; env?: Record<string, string | undefined>; timeout?: number; killSignal?: string }): {
    exitCode: number | null;
    exitedDueToTimeout?: boolean;
    stdout: Uint8Array | undefined;
    stderr: Uint8Array | undefined;
  };
}

type NodeSpawnSync = typeof import('node:child_process').spawnSync;

const bun = (globalThis as { Bun?: BunSpawn }).Bun;
const decoder = new TextDecoder();
let nodeSpawnSync: NodeSpawnSync | undefined;

/**
 * node:child_process, loaded on the first spawn under Node only: a static import is hoisted to the top
 * of the bundle and costs Bun about 3 ms at every start even when nothing is spawned.
 */
function loadNodeSpawnSync(): NodeSpawnSync {
  const load = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  if (!load) throw new Error(`process.getBuiltinModule is missing: this runtime (${process.version}) is older than Node 20.16 or Bun 1.1, which the tool needs`);
  return (load('node:child_process') as typeof import('node:child_process')).spawnSync;
}

/** How many processes this run has started; the report carries it. */
export const spawnCounter = { count: 0 };

/** Runs argv[0] with the rest as arguments, stdout as exact bytes; never throws for a non-zero exit. */
function run(argv: string[], options: CommandOptions): { code: number; stdout: Buffer; stderr: string; timedOut?: boolean } {
  spawnCounter.count += 1;
  const stdio: Stdio[] = ['ignore', 'pipe', 'pipe', ...(options.fds ?? [])];
  const env = options.env && { ...process.env, ...options.env };
  const timeout = options.timeoutMs === undefined ? {} : { timeout: Math.max(1, Math.ceil(options.timeoutMs)), killSignal: 'SIGKILL' as const };
  if (bun) {
    try {
      const r = bun.spawnSync(argv, { stdio, ...(env ? { env } : {}), ...timeout });
      const out = { code: r.exitCode ?? 128, stdout: Buffer.from(r.stdout ?? new Uint8Array()), stderr: r.stderr ? decoder.decode(r.stderr) : '' };
      return r.exitedDueToTimeout ? { ...out, timedOut: true } : out;
    } catch (error) {
      return { code: 127, stdout: Buffer.alloc(0), stderr: `cannot run ${argv[0]}: ${(error as Error).message}` };
    }
  }
  nodeSpawnSync ??= loadNodeSpawnSync();
  const r = nodeSpawnSync(argv[0]!, argv.slice(1), { stdio, maxBuffer: 1 << 30, ...(env ? { env } : {}), ...timeout });
  const stderr = r.stderr ? (r.stderr as Buffer).toString('utf8') : '';
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT') return { code: 128, stdout: (r.stdout as Buffer | null) ?? Buffer.alloc(0), stderr, timedOut: true };
  if (r.error) return { code: 127, stdout: Buffer.alloc(0), stderr: `cannot run ${argv[0]}: ${r.error.message}` };
  return { code: r.status ?? 128, stdout: r.stdout as Buffer, stderr };
}

/** Runs argv[0] with the rest as arguments; never throws for a non-zero exit (the caller decides). */
export function runCommand(argv: string[], options: CommandOptions = {}): CommandResult {
  const r = run(argv, options);
  return { argv, code: r.code, stdout: r.stdout.toString('utf8'), stderr: r.stderr, ...(r.timedOut ? { timedOut: true } : {}) };
}

export class CommandError extends Error {
  override name = 'CommandError';
  constructor(readonly result: CommandResult) {
    super(`${result.argv.join(' ')} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim() || '(no output)'}`);
  }
}

/** Runs argv and throws CommandError on a non-zero exit. */
export function runChecked(argv: string[], options: CommandOptions = {}): CommandResult {
  const r = runCommand(argv, options);
  if (r.code !== 0) throw new CommandError(r);
  return r;
}

/** Like runCommand, but stdout as exact bytes (for output that holds raw file names, which need not be UTF-8). */
export function runCommandBytes(argv: string[], options: CommandOptions = {}): { argv: string[]; code: number; stdout: Buffer; stderr: string } {
  return { argv, ...run(argv, options) };
}
