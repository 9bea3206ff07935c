// The commands of the initrd's entry points: only `boot` (with --help, --version). One list for the boot-only bundle
// (src/bin-boot.ts) and Node's start-up snapshot of it (src/bin-boot-snapshot.ts).
import type { CommandEntry } from './cli/command.js';
import { bootCommand } from './commands/boot.js';

/** [{name: 'boot', summary, load}]: what stage 1 may run. */
export const BOOT_COMMANDS: readonly CommandEntry[] = [{ name: 'boot', summary: 'archive the root and make a fresh one (run by the initrd)', load: async () => bootCommand }];
