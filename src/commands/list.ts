// TODO(issue 5): the `list` subcommand.
import type { Command } from '../cli/command.js';
import { UsageError } from '../errors.js';

export const listCommand: Command = {
  name: 'list',
  summary: '(not yet implemented)',
  usage: 'pantheros-rollback list — not yet implemented',
  run() {
    throw new UsageError('list: not yet implemented');
  },
};
