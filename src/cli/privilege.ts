// Which commands need root before anything else, and why (the "must run as root" answer, exit 77).

/**
 * Commands that refuse to start without root, with what they need it for. `status` and `check` are not here:
 * `status` reads /run/pantheros-rollback/report.json (0644 in a 0755 directory) without root and needs root only to
 * mount the top level for the kept copy; `check` validates a config without root and needs root only for the
 * layout (both get the same answer from acquireTopLevel then).
 */
export const ROOT_COMMANDS: Readonly<Record<string, string>> = {
  boot: 'mount the btrfs top level and rename subvolumes',
  list: 'read the subvolume list of the btrfs top level',
  diff: 'read every file of the root and the blank',
  mount: 'mount an archive or snapshot',
  umount: 'unmount it',
  restore: 'read the archive and write with the original owners',
  snapshot: 'create snapshots',
  prune: 'delete snapshots',
  'next-boot': 'read and write the request at the btrfs top level',
  'state-rollback': 'stop units, unmount and rename subvolumes',
  metrics: 'read the subvolume list and device statistics',
};

/** The "must run as root" message for command, or undefined when it may start without root (or runs as root). */
export function rootRefusal(command: string, euid: number | undefined = process.geteuid?.()): string | undefined {
  const why = ROOT_COMMANDS[command];
  if (why === undefined || euid === 0) return undefined;
  return `${command}: must run as root (it needs to ${why}); nothing was looked at or changed — run it with sudo or as root`;
}
