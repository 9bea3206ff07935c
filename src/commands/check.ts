// TODO(issue 5): the `check` subcommand.
import type { Command } from '../cli/command.js';
import { UsageError } from '../errors.js';

export const checkCommand: Command = {
  name: 'check',
  summary: '(not yet implemented)',
  usage: 'pantheros-rollback check — not yet implemented',
  run() {
    throw new UsageError('check: not yet implemented');
  },
};
