// The shape of a subcommand; main() dispatches on name.

export interface Command {
  name: string;
  /** Full --help text. */
  usage: string;
  /** Runs the command; returns the exit code. Throws the error family of errors.ts. */
  run(argv: string[]): Promise<number> | number;
}

/** What the dispatcher knows before loading a command: its name, its one-line summary, how to load it. */
export interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<Command>;
}
