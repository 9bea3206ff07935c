// Node's boot-only entry (dist/pantheros-rollback-boot.cjs): the boot-only bundle (src/bin-boot.ts) as CommonJS,
// which Node starts without its ES module loader (about 14 ms less a boot, docs/benchmarks.md). Stage 1 under Node
// runs it when it does not start from the start-up snapshot (initrd.startupSnapshot = false):
//   node pantheros-rollback-boot.cjs boot [options]
// It imports nothing that `boot` does not run (src/bin-boot-snapshot.ts, also CommonJS, imports node:v8 for the
// snapshot's build, about 9 ms more to load: `--version`, 41 runs alternated).
import { runProcess } from './cli/main.js';
import { BOOT_COMMANDS } from './boot-commands.js';

runProcess(BOOT_COMMANDS);
