// TODO(issue 5): the `restore` subcommand.
import type { Command } from '../cli/command.js';
import { UsageError } from '../errors.js';

export const restoreCommand: Command = {
  name: 'restore',
  summary: '(not yet implemented)',
  usage: 'pantheros-rollback restore — not yet implemented',
  run() {
    throw new UsageError('restore: not yet implemented');
  },
};
