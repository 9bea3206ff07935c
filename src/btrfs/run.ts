// Runs a command without a shell; Bun.spawnSync under Bun (no node:child_process set-up cost), spawnSync under Node.
import { spawnSync } from 'node:child_process';

export interface CommandResult {
  argv: string[];
  code: number;
  stdout: string;
  stderr: string;
}

interface BunSpawn {
  spawnSync(argv: string[], options: { stdout: 'pipe'; stderr: 'pipe'; stdin: 'ignore' }): {
    exitCode: number | null;
    stdout: Uint8Array | undefined;
    stderr: Uint8Array | undefined;
  };
}

const bun = (globalThis as { Bun?: BunSpawn }).Bun;
const decoder = new TextDecoder();

/** How many processes this run has started; the report carries it. */
export const spawnCounter = { count: 0 };

/** Runs argv[0] with the rest as arguments; never throws for a non-zero exit (the caller decides). */
export function runCommand(argv: string[]): CommandResult {
  spawnCounter.count += 1;
  if (bun) {
    try {
      const r = bun.spawnSync(argv, { stdout: 'pipe', stderr: 'pipe', stdin: 'ignore' });
      return { argv, code: r.exitCode ?? 128, stdout: r.stdout ? decoder.decode(r.stdout) : '', stderr: r.stderr ? decoder.decode(r.stderr) : '' };
    } catch (error) {
      return { argv, code: 127, stdout: '', stderr: `cannot run ${argv[0]}: ${(error as Error).message}` };
    }
  }
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
  if (r.error) return { argv, code: 127, stdout: '', stderr: `cannot run ${argv[0]}: ${r.error.message}` };
  return { argv, code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
}

export class CommandError extends Error {
  override name = 'CommandError';
  constructor(readonly result: CommandResult) {
    super(`${result.argv.join(' ')} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim() || '(no output)'}`);
  }
}

/** Runs argv and throws CommandError on a non-zero exit. */
export function runChecked(argv: string[]): CommandResult {
  const r = runCommand(argv);
  if (r.code !== 0) throw new CommandError(r);
  return r;
}

/** Like runCommand, but stdout as exact bytes (for output that holds raw file names, which need not be UTF-8). */
export function runCommandBytes(argv: string[]): { argv: string[]; code: number; stdout: Buffer; stderr: string } {
  spawnCounter.count += 1;
  if (bun) {
    try {
      const r = bun.spawnSync(argv, { stdout: 'pipe', stderr: 'pipe', stdin: 'ignore' });
      return { argv, code: r.exitCode ?? 128, stdout: Buffer.from(r.stdout ?? new Uint8Array()), stderr: r.stderr ? decoder.decode(r.stderr) : '' };
    } catch (error) {
      return { argv, code: 127, stdout: Buffer.alloc(0), stderr: `cannot run ${argv[0]}: ${(error as Error).message}` };
    }
  }
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
  if (r.error) return { argv, code: 127, stdout: Buffer.alloc(0), stderr: `cannot run ${argv[0]}: ${r.error.message}` };
  return { argv, code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}
