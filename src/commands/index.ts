// Every subcommand, in the order --help lists them. Each is loaded when it runs: the bundle is one
// file, but only the code of the command in use is compiled at start-up (the initrd runs only boot).
import type { CommandEntry } from '../cli/command.js';

export const COMMANDS: readonly CommandEntry[] = [
  { name: 'boot', summary: 'archive the root and make a fresh one (run by the initrd)', load: async () => (await import('./boot.js')).bootCommand },
  { name: 'status', summary: "show what the last boot's rollback did (and whether it failed or fell back)", load: async () => (await import('./status.js')).statusCommand },
  { name: 'list', summary: 'list archived roots and snapshots with age, size and retention verdict', load: async () => (await import('./list.js')).listCommand },
  { name: 'diff', summary: 'what the next boot erases: the root (or an archive) compared with the blank', load: async () => (await import('./diff.js')).diffCommand },
  { name: 'mount', summary: 'mount an archived root or a snapshot read-only for browsing', load: async () => (await import('./mount.js')).mountCommand },
  { name: 'umount', summary: 'unmount what `mount` mounted', load: async () => (await import('./umount.js')).umountCommand },
  { name: 'restore', summary: 'copy a file or directory back out of an archived root or a snapshot', load: async () => (await import('./restore.js')).restoreCommand },
  { name: 'snapshot', summary: 'take read-only timed snapshots of persistent subvolumes (hourly/daily/weekly/monthly)', load: async () => (await import('./snapshot.js')).snapshotCommand },
  { name: 'prune', summary: 'delete timed snapshots beyond the newest N per class and subvolume, with reasons', load: async () => (await import('./prune.js')).pruneCommand },
  { name: 'state-rollback', summary: 'roll persistent subvolumes (a service\'s state) back to a snapshot, online or at the next boot', load: async () => (await import('./state-rollback.js')).stateRollbackCommand },
  { name: 'next-boot', summary: 'ask the next boot (once) to start from an archive, snapshot, previous, keep or blank', load: async () => (await import('./next-boot.js')).nextBootCommand },
  { name: 'metrics', summary: 'Prometheus metrics for node exporter\'s textfile collector', load: async () => (await import('./metrics.js')).metricsCommand },
  { name: 'check', summary: 'validate the config and layout, lint btrfs mount options', load: async () => (await import('./check.js')).checkCommand },
];
