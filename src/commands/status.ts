// TODO(issue 5): the `status` subcommand.
import type { Command } from '../cli/command.js';
import { UsageError } from '../errors.js';

export const statusCommand: Command = {
  name: 'status',
  summary: '(not yet implemented)',
  usage: 'pantheros-rollback status — not yet implemented',
  run() {
    throw new UsageError('status: not yet implemented');
  },
};
