// Every subcommand, in the order --help lists them.
import type { Command } from '../cli/command.js';
import { bootCommand } from './boot.js';
import { statusCommand } from './status.js';
import { listCommand } from './list.js';
import { diffCommand } from './diff.js';
import { mountCommand } from './mount.js';
import { umountCommand } from './umount.js';
import { restoreCommand } from './restore.js';
import { snapshotCommand } from './snapshot.js';
import { pruneCommand } from './prune.js';
import { nextBootCommand } from './next-boot.js';
import { metricsCommand } from './metrics.js';
import { checkCommand } from './check.js';

export const COMMANDS: readonly Command[] = [
  bootCommand,
  statusCommand,
  listCommand,
  diffCommand,
  mountCommand,
  umountCommand,
  restoreCommand,
  snapshotCommand,
  pruneCommand,
  nextBootCommand,
  metricsCommand,
  checkCommand,
];
