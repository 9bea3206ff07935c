// TODO(issue 5): the `snapshot` subcommand.
import type { Command } from '../cli/command.js';
import { UsageError } from '../errors.js';

export const snapshotCommand: Command = {
  name: 'snapshot',
  summary: '(not yet implemented)',
  usage: 'pantheros-rollback snapshot — not yet implemented',
  run() {
    throw new UsageError('snapshot: not yet implemented');
  },
};
