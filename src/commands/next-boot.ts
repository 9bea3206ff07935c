// TODO(issue 5): the `next-boot` subcommand.
import type { Command } from '../cli/command.js';
import { UsageError } from '../errors.js';

export const nextBootCommand: Command = {
  name: 'next-boot',
  summary: '(not yet implemented)',
  usage: 'pantheros-rollback next-boot — not yet implemented',
  run() {
    throw new UsageError('next-boot: not yet implemented');
  },
};
