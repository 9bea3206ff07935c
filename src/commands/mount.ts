// TODO(issue 5): the `mount` subcommand.
import type { Command } from '../cli/command.js';
import { UsageError } from '../errors.js';

export const mountCommand: Command = {
  name: 'mount',
  summary: '(not yet implemented)',
  usage: 'pantheros-rollback mount — not yet implemented',
  run() {
    throw new UsageError('mount: not yet implemented');
  },
};
