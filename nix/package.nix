# The bundled CLI (dist/pantheros-rollback.mjs) built from this repository with buildNpmPackage.
# Dependencies come from package-lock.json through importNpmLock: every package is fetched from the
# lock's own `resolved` URL and checked against its `integrity`, so there is no dependency hash to
# keep in sync and a flake user builds it with no edits (.npmrc makes npm write those URLs;
# test/nix/package.test.ts checks the lock and this file).
{
  lib,
  buildNpmPackage,
  importNpmLock,
  nodejs-slim,
  makeWrapper,
}:
let
  packageJson = lib.importJSON ../package.json;
  packageLock = lib.importJSON ../package-lock.json;

  # Only the tests use these: @oven/bun-linux-x64 is the Bun binary the test suite runs the bundle
  # with (40 MB, and restricted to linux-x64 without being optional, so npm refuses to install it
  # on any other platform: EBADPLATFORM). The build needs esbuild only.
  testOnly = [ "@oven/bun-linux-x64" ];
  withoutTestOnly = deps: removeAttrs deps testOnly;
  buildPackageJson = packageJson // {
    devDependencies = withoutTestOnly packageJson.devDependencies;
  };
  buildPackageLock = packageLock // {
    packages =
      removeAttrs packageLock.packages (map (name: "node_modules/${name}") testOnly)
      // {
        "" = packageLock.packages."" // {
          devDependencies = withoutTestOnly packageLock.packages."".devDependencies;
        };
      };
  };
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

  npmDeps = importNpmLock {
    package = buildPackageJson;
    packageLock = buildPackageLock;
  };
  npmConfigHook = importNpmLock.npmConfigHook;

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
    # What stage 1 runs: only `boot` (nix/module.nix), as an ES module for Bun and as CommonJS for Node
    # (which starts that without its ES module loader), and its entry for Node's start-up snapshot
    # (nix/boot-snapshot.nix builds the blob with the Node that runs it).
    install -Dm644 dist/pantheros-rollback-boot.mjs $out/lib/pantheros-rollback/pantheros-rollback-boot.mjs
    install -Dm644 dist/pantheros-rollback-boot.cjs $out/lib/pantheros-rollback/pantheros-rollback-boot.cjs
    install -Dm644 dist/pantheros-rollback-boot-snapshot.cjs $out/lib/pantheros-rollback/pantheros-rollback-boot-snapshot.cjs
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
