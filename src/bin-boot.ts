// The initrd's executable (dist/pantheros-rollback-boot.mjs): only `boot` (with --help, --version),
// so a boot loads and parses nothing it does not run — under half of the full bundle's bytes.
// node|bun dist/pantheros-rollback-boot.mjs boot …; any other command is a usage error (exit 2).
// scripts/build.mjs also bundles it as CommonJS, dist/pantheros-rollback-boot.cjs: what stage 1 runs under Node, which
// starts a CommonJS script without its ES module loader (about 14 ms less a boot, docs/benchmarks.md). It imports
// nothing `boot` does not run (src/bin-boot-snapshot.ts imports node:v8 for the snapshot's build, about 9 ms more).
import { runProcess } from './cli/main.js';
import { BOOT_COMMANDS } from './boot-commands.js';

runProcess(BOOT_COMMANDS);
