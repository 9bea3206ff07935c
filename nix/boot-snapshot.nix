# What stage 1 runs with runtime = "node" and initrd.startupSnapshot = true (off by default under Node:
# it measured slower than the CommonJS boot-only bundle, docs/benchmarks.md): a V8 start-up snapshot
# of the boot-only entry, built by the very Node that runs it (a blob only loads into the binary that
# wrote it). Node starts from the saved heap with the bundle already compiled and its modules
# evaluated: `node --snapshot-blob <this>/lib/pantheros-rollback-boot.blob boot …`
# (scripts/build.mjs --node-snapshot makes the same blob; test/btrfs/boot-entry.test.ts boots it from
# a read-only directory).
{
  lib,
  runCommand,
  nodejs,
  pantheros-rollback,
}:
runCommand "pantheros-rollback-boot-snapshot-${pantheros-rollback.version}"
  {
    nativeBuildInputs = [ nodejs ];
    meta = {
      description = "The boot command of pantheros-rollback as a V8 start-up snapshot for Node (stage 1)";
      license = lib.licenses.mit;
      platforms = lib.platforms.linux;
    };
  }
  ''
    mkdir -p "$out/lib"
    node --snapshot-blob "$out/lib/pantheros-rollback-boot.blob" \
      --build-snapshot ${pantheros-rollback}/lib/pantheros-rollback/pantheros-rollback-boot-snapshot.cjs
    node --snapshot-blob "$out/lib/pantheros-rollback-boot.blob" boot --help > /dev/null
  ''
