// TODO(issue 5): the `prune` subcommand.
import type { Command } from '../cli/command.js';
import { UsageError } from '../errors.js';

export const pruneCommand: Command = {
  name: 'prune',
  summary: '(not yet implemented)',
  usage: 'pantheros-rollback prune — not yet implemented',
  run() {
    throw new UsageError('prune: not yet implemented');
  },
};
