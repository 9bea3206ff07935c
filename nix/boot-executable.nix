# What stage 1 runs with runtime = "bun" (initrd.startupSnapshot, the default): one executable made by
# `bun build --compile --bytecode` from the package's boot-only bundle — the Bun runtime with the
# bundle's bytecode appended, so no parse at boot and nothing to look up (scripts/build.mjs --compile
# makes the same file; test/btrfs/boot-entry.test.ts boots it from a read-only directory).
{
  lib,
  runCommand,
  bun,
  pantheros-rollback,
}:
runCommand "pantheros-rollback-boot-${pantheros-rollback.version}"
  {
    nativeBuildInputs = [ bun ];
    # runCommand runs only this script (no fixup phase). Bun appends the bytecode to a copy of its own
    # binary: strip or patchelf would cut it off, so they must never run on this file.
    dontStrip = true;
    dontPatchELF = true;
    meta = {
      description = "The boot command of pantheros-rollback as one Bun executable (stage 1)";
      license = lib.licenses.mit;
      mainProgram = "pantheros-rollback-boot";
      platforms = bun.meta.platforms or lib.platforms.linux;
    };
  }
  ''
    # Bun wants a writable home and would keep a transpiler cache there; an initrd has neither.
    export HOME="$TMPDIR" BUN_RUNTIME_TRANSPILER_CACHE_PATH=0
    mkdir -p "$out/bin"
    bun build ${pantheros-rollback}/lib/pantheros-rollback/pantheros-rollback-boot.mjs \
      --compile --bytecode --outfile "$out/bin/pantheros-rollback-boot"
    "$out/bin/pantheros-rollback-boot" --version
  ''
