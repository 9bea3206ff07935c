// Long-running child processes (cp of a big tree) run asynchronously and tracked, so a signal can stop them first.
import { spawn } from 'node:child_process';
import { spawnCounter, type CommandResult } from '../btrfs/run.js';
import { trackChild } from './signals.js';

/**
 * Runs argv without a shell and resolves with its exit code and output (never rejects for a non-zero exit; a
 * program that cannot start gives code 127). `fds` are open file descriptors handed to the child as its fd 3, 4, …
 * — so it can reach a directory as /proc/self/fd/3/… whatever happens to that directory's name meanwhile.
 */
export function runTracked(argv: string[], options: { fds?: number[] } = {}): Promise<CommandResult> {
  spawnCounter.count += 1;
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe', ...(options.fds ?? [])] });
    trackChild(child, argv[0]!);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', (error) => resolve({ argv, code: 127, stdout, stderr: `cannot run ${argv[0]}: ${error.message}` }));
    child.once('close', (code, signal) => resolve({ argv, code: code ?? 128, stdout, stderr: signal ? `${stderr}(killed by ${signal})` : stderr }));
  });
}
