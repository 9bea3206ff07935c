// Entry point: dispatches to a subcommand and maps errors to exit codes (text on stderr; with --json also a JSON
// error object on stdout).
import { describeError, errorKind, exitCodeFor, InternalError, InterruptedError, PermissionError, StepError, UsageError } from '../errors.js';
import type { CommandEntry } from './command.js';
import { writeOut, writeErr } from './io.js';
import { JSON_VERSION } from './context.js';
import { rootRefusal } from './privilege.js';
import { installSignalHandlers, yieldToSignals } from './signals.js';

export { VERSION } from '../version.js';
import { VERSION } from '../version.js';

function overview(commands: readonly CommandEntry[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'pantheros-rollback — boot-time btrfs root rollback for NixOS impermanence',
    '',
    'Usage: pantheros-rollback <command> [options]    (pantheros-rollback <command> --help)',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Exit codes: 0 ok, 1 a step failed (state is recoverable), 2 usage, 3 precondition (nothing changed), 4 internal error,',
    '            77 must run as root (nothing looked at), 128+N stopped by signal N (what the run held was released)',
  ].join('\n');
}

/** The JSON error object printed on stdout with --json: {version, error: {message, kind, exitCode}}. */
export function jsonError(error: unknown): { version: number; error: { message: string; kind: string; exitCode: number } } {
  return { version: JSON_VERSION, error: { message: describeError(error), kind: errorKind(error), exitCode: exitCodeFor(error) } };
}

/** True when the command's arguments ask for JSON (before `--`, which ends the flags). */
function wantsJson(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).includes('--json');
}

/**
 * Runs the CLI over `commands` (src/commands/index.ts COMMANDS, or only `boot` in the initrd's entry); returns the
 * exit code instead of exiting so tests can call it. While a command runs, SIGINT, SIGTERM and SIGHUP stop its
 * children, release what it holds and exit 128 + N (src/cli/signals.ts).
 */
export async function main(argv: string[], commands: readonly CommandEntry[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    writeOut(`${overview(commands)}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === 'version') {
    writeOut(`${VERSION}\n`);
    return 0;
  }
  const json = wantsJson(rest);
  const uninstall = installSignalHandlers((signal) => {
    if (json) writeOut(`${JSON.stringify(jsonError(new InterruptedError(signal)))}\n`);
  });
  const entry = commands.find((c) => c.name === name);
  try {
    if (!entry) throw new UsageError(`unknown command "${name}" (see: pantheros-rollback --help)`);
    if (rest.includes('--help') || rest.includes('-h')) {
      writeOut(`${(await entry.load()).usage}\n`);
      return 0;
    }
    const refusal = rootRefusal(name);
    if (refusal) throw new PermissionError(refusal);
    const command = await entry.load();
    const code = await command.run(rest);
    // A signal that arrived during the last synchronous stretch is handled here (and exits 128 + N).
    await yieldToSignals();
    return code;
  } catch (error) {
    await yieldToSignals();
    const code = exitCodeFor(error);
    let text = `pantheros-rollback: ${describeError(error)}`;
    if (error instanceof StepError) {
      text += `\n  completed: ${error.completed.length ? error.completed.join('; ') : 'nothing'}\n  now: ${error.state}`;
    }
    if (!(error instanceof Error) || error instanceof InternalError || code === 4) {
      text += `\n  this is a bug; please report it with the output above${error instanceof Error && error.stack ? `\n${error.stack}` : ''}`;
    }
    writeErr(`${text}\n`);
    if (json) writeOut(`${JSON.stringify(jsonError(error))}\n`);
    return code;
  } finally {
    uninstall();
  }
}

/** Runs main on this process's arguments: sets process.exitCode; a rejection is an internal error (exit 4). */
export function runProcess(commands: readonly CommandEntry[]): void {
  main(process.argv.slice(2), commands).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      writeErr(`pantheros-rollback: internal error: ${String(error)}\n`);
      process.exitCode = 4;
    },
  );
}
