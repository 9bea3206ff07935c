// Entry point: dispatches to a subcommand and maps errors to exit codes.
import { describeError, exitCodeFor, InternalError, StepError, UsageError } from '../errors.js';
import type { CommandEntry } from './command.js';
import { writeOut, writeErr } from './io.js';

export const VERSION = '0.1.0';

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
    'Exit codes: 0 ok, 1 a step failed (state is recoverable), 2 usage, 3 precondition (nothing changed), 4 internal error',
  ].join('\n');
}

/**
 * Runs the CLI over `commands` (src/commands/index.ts COMMANDS, or only `boot` in the initrd's entry);
 * returns the exit code instead of exiting so tests can call it.
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
  const entry = commands.find((c) => c.name === name);
  try {
    if (!entry) throw new UsageError(`unknown command "${name}" (see: pantheros-rollback --help)`);
    const command = await entry.load();
    if (rest.includes('--help') || rest.includes('-h')) {
      writeOut(`${command.usage}\n`);
      return 0;
    }
    return await command.run(rest);
  } catch (error) {
    const code = exitCodeFor(error);
    let text = `pantheros-rollback: ${describeError(error)}`;
    if (error instanceof StepError) {
      text += `\n  completed: ${error.completed.length ? error.completed.join('; ') : 'nothing'}\n  now: ${error.state}`;
    }
    if (!(error instanceof Error) || error instanceof InternalError || code === 4) {
      text += `\n  this is a bug; please report it with the output above${error instanceof Error && error.stack ? `\n${error.stack}` : ''}`;
    }
    writeErr(`${text}\n`);
    return code;
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
