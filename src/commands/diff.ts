// TODO(issue 5): the `diff` subcommand.
import type { Command } from '../cli/command.js';
import { UsageError } from '../errors.js';

export const diffCommand: Command = {
  name: 'diff',
  summary: '(not yet implemented)',
  usage: 'pantheros-rollback diff — not yet implemented',
  run() {
    throw new UsageError('diff: not yet implemented');
  },
};
