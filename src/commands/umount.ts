// TODO(issue 5): the `umount` subcommand.
import type { Command } from '../cli/command.js';
import { UsageError } from '../errors.js';

export const umountCommand: Command = {
  name: 'umount',
  summary: '(not yet implemented)',
  usage: 'pantheros-rollback umount — not yet implemented',
  run() {
    throw new UsageError('umount: not yet implemented');
  },
};
