// The boot-only entry as a V8 start-up snapshot for Node (`node --build-snapshot`, Node >= 20): the bundle is loaded,
// compiled and its modules evaluated once, when the snapshot is built, and stage 1 starts from the saved heap with
//   node --snapshot-blob pantheros-rollback-boot.blob boot [options]
// (scripts/build.mjs --node-snapshot NODE builds it; nix/boot-snapshot.nix in the NixOS package). Nothing the run
// depends on may be read while the snapshot is built: module-level code reads no environment, clock or file (the
// environment, argv and clock are read when the run starts). Node takes the first argument after the options as the
// script's name (process.argv[1]) when it starts from a snapshot, so the command starts there.
import { startupSnapshot } from 'node:v8';
import { runProcess } from './cli/main.js';
import { BOOT_COMMANDS } from './boot-commands.js';
import { warmUpBoot } from './boot/warm-up.js';

// Run as a plain script (`node pantheros-rollback-boot-snapshot.cjs boot …`) it is the boot-only bundle.
if (startupSnapshot.isBuildingSnapshot()) {
  // The boot's pure stages run once on a made-up layout (reading nothing), so the snapshot holds their compiled code.
  warmUpBoot();
  startupSnapshot.setDeserializeMainFunction(() => runProcess(BOOT_COMMANDS, process.argv.slice(1)));
} else runProcess(BOOT_COMMANDS);
