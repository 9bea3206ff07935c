// TODO(issue 5): the `metrics` subcommand.
import type { Command } from '../cli/command.js';
import { UsageError } from '../errors.js';

export const metricsCommand: Command = {
  name: 'metrics',
  summary: '(not yet implemented)',
  usage: 'pantheros-rollback metrics — not yet implemented',
  run() {
    throw new UsageError('metrics: not yet implemented');
  },
};
