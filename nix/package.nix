# The bundled CLI (dist/pantheros-rollback.mjs) built from this repository with buildNpmPackage.
{
  lib,
  buildNpmPackage,
  nodejs-slim,
  makeWrapper,
}:
let
  packageJson = lib.importJSON ../package.json;
in
buildNpmPackage {
  pname = "pantheros-rollback";
  inherit (packageJson) version;

  # Only what the build reads, so README or test edits do not rebuild the package.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../package.json
      ../package-lock.json
      ../tsconfig.json
      ../scripts
      ../src
    ];
  };

  # No way to compute this without network access to the npm registry from a Nix build.
  # To update after changing package-lock.json: run `nix build .#default`, copy the
  # "got: sha256-…" value from the hash-mismatch error here (or run
  # `nix run nixpkgs#prefetch-npm-deps -- package-lock.json`).
  npmDepsHash = lib.fakeHash;

  nativeBuildInputs = [ makeWrapper ];
  # `npm run build` = node scripts/build.mjs (esbuild from node_modules; its Go binary is static).
  npmBuildScript = "build";
  dontNpmInstall = true;
  # Keep the bundle free of store references: the initrd copies exactly this one file and runs it
  # with the runtime chosen by the module, never through its shebang.
  dontPatchShebangs = true;

  installPhase = ''
    runHook preInstall
    install -Dm755 dist/pantheros-rollback.mjs $out/lib/pantheros-rollback/pantheros-rollback.mjs
    makeWrapper ${lib.getExe' nodejs-slim "node"} $out/bin/pantheros-rollback \
      --add-flags $out/lib/pantheros-rollback/pantheros-rollback.mjs
    runHook postInstall
  '';

  meta = {
    description = "Boot-time btrfs root rollback for NixOS impermanence";
    license = lib.licenses.mit;
    mainProgram = "pantheros-rollback";
    platforms = lib.platforms.linux;
  };
}
