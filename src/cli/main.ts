// Entry point: dispatches to a subcommand and maps errors to exit codes (text on stderr; with --json also a JSON
// error object on stdout).
import { describeError, errorKind, exitCodeFor, InternalError, InterruptedError, PermissionError, StepError, UsageError } from '../errors.js';
import type { CommandEntry } from './command.js';
import { OutputClosedError, writeOut, writeErr } from './io.js';
import { rootRefusal } from './privilege.js';
import { installSignalHandlers, markFinished, yieldToSignals } from './signals.js';
import { deferResult, flushResult, hasResult, JSON_VERSION } from './context.js';
import { escapeUnsafeText, oneLine } from './show-text.js';

export { VERSION } from '../version.js';
import { VERSION } from '../version.js';

function overview(commands: readonly CommandEntry[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'pantheros-rollback — boot-time btrfs root rollback for NixOS impermanence',
    '',
    'Usage: pantheros-rollback <command> [options]    (pantheros-rollback <command> --help)',
    '       pantheros-rollback --version                 (print the version and exit 0)',
    '       pantheros-rollback --help                    (this overview)',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Exit codes: 0 ok, 1 a step failed (state is recoverable), 2 usage, 3 precondition (nothing changed), 4 internal error,',
    '            77 must run as root (nothing looked at), 128+N stopped by signal N (what the run held was released),',
    '            141 stdout closed by its reader (| head) before all output was written',
  ].join('\n');
}

/**
 * The JSON error object printed on stdout with --json: {version, error: {message, kind, exitCode}}, and for a step
 * that failed after others ran (kind "step", exit 1) also completed (the steps that ran, in order; may be empty) and
 * state (what is in place now) — the two lines the text gives on stderr.
 */
export function jsonError(error: unknown): {
  version: number;
  error: { message: string; kind: string; exitCode: number; completed?: string[]; state?: string };
} {
  const body: { message: string; kind: string; exitCode: number; completed?: string[]; state?: string } = {
    message: describeError(error),
    kind: errorKind(error),
    exitCode: exitCodeFor(error),
  };
  if (error instanceof StepError) {
    body.completed = [...error.completed];
    body.state = error.state;
  }
  return { version: JSON_VERSION, error: body };
}

/** True when the command's arguments ask for JSON (before `--`, which ends the flags). */
function wantsJson(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).includes('--json');
}

/** True when error, or one of its causes, is a closed stdout. */
function isOutputClosed(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) if (e instanceof OutputClosedError) return true;
  return false;
}

/**
 * Commands that change nothing: their result waits until a signal that arrived meanwhile has had its turn, so a
 * stopped run prints nothing but the interruption (see deferResult).
 */
const READ_ONLY_COMMANDS = new Set(['list', 'diff', 'status', 'check']);

/** Exit code when stdout was closed by its reader before all output was written: 128 + SIGPIPE (13), as a shell reports it. */
export const EXIT_OUTPUT_CLOSED = 141;

/**
 * Runs the CLI over `commands` (src/commands/index.ts COMMANDS, or only `boot` in the initrd's entry); returns the exit code instead of exiting so tests can call it. While a command runs, SIGINT,
 * SIGTERM and SIGHUP stop its children, release what it holds and exit 128 + N (src/cli/signals.ts); once it has
 * done its work and printed its result, a signal is only reported. A closed stdout ends the run quietly with 141
 * after it has released what it held. With --json, stdout holds exactly one JSON document: the result, or the
 * error object when the run printed no result.
 */
export async function main(argv: string[], commands: readonly CommandEntry[]): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      writeOut(`${overview(commands)}\n`);
      return name === undefined ? 2 : 0;
    }
    if (name === '--version' || name === 'version') {
      writeOut(`${VERSION}\n`);
      return 0;
    }
  } catch (error) {
    if (isOutputClosed(error)) return EXIT_OUTPUT_CLOSED;
    throw error;
  }
  const json = wantsJson(rest);
  const uninstall = installSignalHandlers((signal) => {
    if (json) writeOut(`${JSON.stringify(jsonError(new InterruptedError(signal)))}\n`);
  });
  const entry = commands.find((c) => c.name === name);
  deferResult(false);
  try {
    if (!entry) throw new UsageError(`unknown command "${name}" (see: pantheros-rollback --help)`);
    if (rest.includes('--help') || rest.includes('-h')) {
      writeOut(`${(await entry.load()).usage}\n`);
      return 0;
    }
    const refusal = rootRefusal(name);
    if (refusal) throw new PermissionError(refusal);
    const command = await entry.load();
    deferResult(READ_ONLY_COMMANDS.has(name));
    const code = await command.run(rest);
    // A signal that arrived during the last synchronous stretch is handled here: a command that changes nothing is
    // stopped before its result is printed (128 + N); one that made its change has printed it, and ends as it would.
    await yieldToSignals();
    flushResult();
    markFinished();
    return code;
  } catch (error) {
    // A signal that arrived during the last synchronous stretch is handled here (and, before any result, exits 128 + N).
    await yieldToSignals();
    if (isOutputClosed(error)) return EXIT_OUTPUT_CLOSED;
    // One JSON document on stdout: a result the command produced before the error is printed, and stands for it.
    const result = hasResult();
    try {
      flushResult();
    } catch (writeError) {
      if (isOutputClosed(writeError)) return EXIT_OUTPUT_CLOSED;
      throw writeError;
    }
    const code = exitCodeFor(error);
    // Each part one line, its newlines escaped: a message embeds names (and a program's stderr), and no name may print
    // a line of its own ("pantheros-rollback: ok: …") below the error.
    let text = `pantheros-rollback: ${oneLine(describeError(error))}`;
    if (error instanceof StepError) {
      text += `\n  completed: ${error.completed.length ? error.completed.map(oneLine).join('; ') : 'nothing'}\n  now: ${oneLine(error.state)}`;
    }
    if (!(error instanceof Error) || error instanceof InternalError || code === 4) {
      text += `\n  this is a bug; please report it with the output above${error instanceof Error && error.stack ? `\n${escapeUnsafeText(error.stack)}` : ''}`;
    }
    writeErr(`${text}\n`);
    if (json && !result) {
      try {
        writeOut(`${JSON.stringify(jsonError(error))}\n`);
      } catch (writeError) {
        if (!isOutputClosed(writeError)) throw writeError;
      }
    }
    return code;
  } finally {
    uninstall();
  }
}

/**
 * Runs main on this process's arguments (argv: the command and its arguments, by default process.argv after the
 * runtime and the script; Node's start-up snapshot passes process.argv.slice(1)): sets process.exitCode; a rejection
 * is an internal error (exit 4).
 */
export function runProcess(commands: readonly CommandEntry[], argv: string[] = process.argv.slice(2)): void {
  main(argv, commands).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      writeErr(`pantheros-rollback: internal error: ${String(error)}\n`);
      process.exitCode = 4;
    },
  );
}
