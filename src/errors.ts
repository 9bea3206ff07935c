// The error family the CLI maps to exit codes (see README "Exit codes").

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

export const EXIT = { ok: 0, step: 1, usage: 2, precondition: 3, internal: 4 } as const;

/** Maps an error to the process exit code. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError) return EXIT.usage;
  if (error instanceof PreconditionError) return EXIT.precondition;
  if (error instanceof StepError) return EXIT.step;
  return EXIT.internal;
}

/** The message of an error and its causes, one line. */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  let e: unknown = error;
  for (let depth = 0; e !== undefined && depth < 5; depth++) {
    if (e instanceof Error) {
      const message = e.message;
      if (!parts.some((p) => p.includes(message))) parts.push(message);
      e = e.cause;
    } else {
      parts.push(String(e));
      break;
    }
  }
  return parts.join(': ');
}
