// The error family the CLI maps to exit codes (see README "Exit codes").
import { oneLine } from './cli/show-text.js';

/** Bad flags, bad config, bad arguments: nothing was looked at or changed. Exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A check before the first change failed: nothing was changed. Exit 3. */
export class PreconditionError extends Error {
  override name = 'PreconditionError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(`${message} (nothing was changed)`, options);
  }
}

/** A step of a plan failed after earlier steps ran: says what completed and what the system looks like now. Exit 1. */
export class StepError extends Error {
  override name = 'StepError';
  constructor(
    message: string,
    readonly completed: string[],
    readonly state: string,
    options?: { cause?: unknown; execution?: unknown },
  ) {
    super(message, options);
    this.execution = options?.execution;
  }
  /** What the executor did before the failure (src/engine/execute.ts Execution), when a plan was executing. */
  readonly execution: unknown;
}

/** A bug: an invariant of the program itself did not hold. Exit 4. */
export class InternalError extends Error {
  override name = 'InternalError';
}

/**
 * The command needs root and was run without it: nothing was looked at or changed. Exit 77, EX_NOPERM of
 * sysexits.h ("you did not have sufficient permission to perform the operation").
 */
export class PermissionError extends Error {
  override name = 'PermissionError';
}

/** SIGINT, SIGTERM or SIGHUP stopped the run; what it held was released. Exit 128 + the signal number, as a shell reports it. */
export class InterruptedError extends Error {
  override name = 'InterruptedError';
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
  }
}

export const EXIT = { ok: 0, step: 1, usage: 2, precondition: 3, internal: 4, permission: 77 } as const;

/** Signal numbers on Linux, for the 128 + n exit code of an interrupted run. */
export const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

/** Maps an error to the process exit code. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError) return EXIT.usage;
  if (error instanceof PreconditionError) return EXIT.precondition;
  if (error instanceof StepError) return EXIT.step;
  if (error instanceof PermissionError) return EXIT.permission;
  if (error instanceof InterruptedError) return 128 + (SIGNAL_NUMBERS[error.signal] ?? 0);
  return EXIT.internal;
}

export type ErrorKind = 'usage' | 'precondition' | 'step' | 'permission' | 'interrupted' | 'internal';

/** The error's kind as the JSON error object names it (see README "JSON output"). */
export function errorKind(error: unknown): ErrorKind {
  if (error instanceof UsageError) return 'usage';
  if (error instanceof PreconditionError) return 'precondition';
  if (error instanceof StepError) return 'step';
  if (error instanceof PermissionError) return 'permission';
  if (error instanceof InterruptedError) return 'interrupted';
  return 'internal';
}

/**
 * The message of an error and its causes, joined with ": ". A system error's message (one with `syscall`, as node:fs
 * and Bun make them: "ENOENT: no such file or directory, rename 'PATH' -> 'DEST'") holds its paths raw, and a path
 * is anyone's to name: its newlines and other unsafe characters are escaped, so no name can print a line of its own
 * (an escape is a backslash sequence, as oneLine in src/cli/show-text.ts writes it).
 */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  let e: unknown = error;
  for (let depth = 0; e !== undefined && depth < 5; depth++) {
    if (e instanceof Error) {
      const message = typeof (e as NodeJS.ErrnoException).syscall === 'string' ? oneLine(e.message) : e.message;
      if (!parts.some((p) => p.includes(message))) parts.push(message);
      e = e.cause;
    } else {
      parts.push(String(e));
      break;
    }
  }
  return parts.join(': ');
}
