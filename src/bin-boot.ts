// The initrd's executable (dist/pantheros-rollback-boot.mjs): only `boot` (with --help, --version),
// so a boot loads and parses nothing it does not run — under half of the full bundle's bytes.
// node|bun dist/pantheros-rollback-boot.mjs boot …; any other command is a usage error (exit 2).
import { runProcess } from './cli/main.js';
import { BOOT_COMMANDS } from './boot-commands.js';

runProcess(BOOT_COMMANDS);
