# What runs with runtime = "bun", made by the Bun of runtimePackage. Stage 1 (initrd.startupSnapshot, the
# default) runs the package's boot-only bundle in one of two forms:
#   bin/pantheros-rollback-boot         `bun build --compile --bytecode`: the Bun runtime with the
#                                       bundle's bytecode in its `.bun` section (the fastest start);
#   lib/pantheros-rollback-boot.js(.jsc) `bun build --bytecode`: run as `bun <that .js>`, Bun reads the
#                                       .jsc beside it read-only (and parses the .js if it must).
# The running system's command runs the full bundle as
#   bin/pantheros-rollback              `bun build --compile --bytecode` of it: an executable reads nothing
#                                       from the directory it is started in, where `bun FILE` still reads
#                                       tsconfig.json and follows its `extends` (nix/bun-launch.json).
# The module takes the executable only when the initrd is not stripped (boot.initrd.systemd.strip =
# false): `strip --strip-all` drops the `.bun` section, and what is left is a bare `bun`. The
# bytecode files are not ELF, so nothing strips them. scripts/build.mjs --compile and --bytecode make
# the same files; test/btrfs/boot-entry.test.ts boots both from a read-only directory.
{
  lib,
  runCommand,
  bun,
  pantheros-rollback,
}:
let
  bunLaunch = lib.importJSON ./bun-launch.json;
  # Stage 1's environment (bunLaunch.env). Bun refuses to start with a BUN_JSC_ variable its
  # JavaScriptCore does not know: the checks below start each stage-1 form with it, so such a Bun
  # fails this build instead of every boot.
  stage1Env = lib.escapeShellArgs (lib.mapAttrsToList (name: value: "${name}=${value}") bunLaunch.env);
in
runCommand "pantheros-rollback-boot-bun-${pantheros-rollback.version}"
  {
    nativeBuildInputs = [ bun ];
    # runCommand runs only this script (no fixup phase); strip or patchelf would cut the bytecode off.
    dontStrip = true;
    dontPatchELF = true;
    meta = {
      description = "pantheros-rollback compiled by Bun: the boot command (stage 1) and the operator's command";
      license = lib.licenses.mit;
      mainProgram = "pantheros-rollback-boot";
      platforms = bun.meta.platforms or lib.platforms.linux;
    };
  }
  ''
    # Bun wants a writable home and would keep a transpiler cache there; an initrd has neither.
    export HOME="$TMPDIR" BUN_RUNTIME_TRANSPILER_CACHE_PATH=0
    bundle=${pantheros-rollback}/lib/pantheros-rollback/pantheros-rollback-boot.mjs
    full=${pantheros-rollback}/lib/pantheros-rollback/pantheros-rollback.mjs
    mkdir -p "$out/bin" "$out/lib"
    # Neither form reads bunfig.toml or .env files from its working directory (nix/bun-launch.json).
    bun build "$bundle" --compile --bytecode ${lib.escapeShellArgs bunLaunch.compile} --outfile "$out/bin/pantheros-rollback-boot"
    bun build "$full" --compile --bytecode ${lib.escapeShellArgs bunLaunch.compile} --outfile "$out/bin/pantheros-rollback"
    bun build "$bundle" --target=bun --format=cjs --bytecode --outdir "$out/lib"
    test -s "$out/lib/pantheros-rollback-boot.js.jsc"
    env ${stage1Env} "$out/bin/pantheros-rollback-boot" boot --help > /dev/null
    "$out/bin/pantheros-rollback" --version > /dev/null
    env ${stage1Env} bun ${lib.escapeShellArgs bunLaunch.run} "$out/lib/pantheros-rollback-boot.js" boot --help > /dev/null
  ''
