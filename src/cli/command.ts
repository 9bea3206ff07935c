// The shape of a subcommand; main() dispatches on name.

export interface Command {
  name: string;
  summary: string;
  /** Full --help text. */
  usage: string;
  /** Runs the command; returns the exit code. Throws the error family of errors.ts. */
  run(argv: string[]): Promise<number> | number;
}
