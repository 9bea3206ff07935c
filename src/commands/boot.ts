// TODO(issue 2): the `boot` subcommand.
import type { Command } from '../cli/command.js';
import { UsageError } from '../errors.js';

export const bootCommand: Command = {
  name: 'boot',
  summary: '(not yet implemented)',
  usage: 'pantheros-rollback boot — not yet implemented',
  run() {
    throw new UsageError('boot: not yet implemented');
  },
};
