# Stand-in for the nixpkgs package set: what nix/module.nix, nix/package.nix, flake.nix and the
# nix-community modules take from `pkgs`. Packages are derivation-shaped attrsets (nothing is
# built); their store paths are stable hashes of their names and contents, so equal contents give
# equal paths, as in Nix. Files whose contents are known (written scripts, rendered JSON) carry them
# in `files` (relative path -> { text; executable; }) so the tests can put them into a unit
# verification root. The builders that decide how this project builds — buildNpmPackage and
# importNpmLock — keep their arguments so test/nix/package.test.ts can check them.
{
  lib,
  system,
  # pkgs.testers.runNixOSTest, supplied by ./eval.nix (it knows how to evaluate a test node).
  runNixOSTest ? throw "pkgs.testers.runNixOSTest needs nix/tests/nixos/eval.nix",
}:
let
  inherit (builtins) hashString substring toJSON;

  storePath =
    name: key:
    "/nix/store/${substring 0 32 (lib.replaceStrings [ "e" ] [ "x" ] (hashString "sha256" "${name}\n${key}"))}-${name}";

  # stdenv.mkDerivation passes every name through lib.strings.sanitizeDerivationName (Nix refuses
  # store names with other characters, such as the "\x2d" of an escaped unit name).
  mkDerivation =
    rawName: attrs:
    let
      name = lib.strings.sanitizeDerivationName rawName;
      self = {
        type = "derivation";
        inherit name system;
        outPath = storePath name (toJSON (attrs.files or { }) + (attrs.key or ""));
        drvPath = "${self.outPath}.drv";
        outputName = "out";
        outputs = [ "out" ];
        out = self;
        files = { };
        meta = { };
        passthru = { };
        overrideAttrs = f: mkDerivation name (attrs // f attrs);
      }
      // removeAttrs attrs [ "key" ];
    in
    self;

  # A package whose contents are unknown here (a binary); `bins` names its bin/ entries.
  binary =
    name: bins:
    mkDerivation name {
      key = name;
      files = lib.genAttrs (map (b: "bin/${b}") bins) (_: {
        text = null;
        executable = true;
      });
    };

  writeTextFile =
    {
      name,
      text,
      executable ? false,
      destination ? "",
    }:
    mkDerivation name {
      files.${lib.removePrefix "/" destination} = { inherit text executable; };
    };

  shell = "${pkgs.bash}/bin/bash";

  pkgs = {
    inherit lib system;
    stdenv.hostPlatform = {
      inherit system;
      isLinux = true;
    };
    stdenv.mkDerivation = args: mkDerivation (args.name or "${args.pname}-${args.version}") { inherit args; };
    callPackage = lib.callPackageWith pkgs;
    callPackages = lib.callPackagesWith pkgs;

    bash = binary "bash-5.3" [
      "bash"
      "sh"
    ];
    bashInteractive = pkgs.bash;
    runtimeShell = shell;
    coreutils = binary "coreutils-9.7" [
      "mkdir"
      "chmod"
      "tr"
      "dirname"
    ];
    findutils = binary "findutils-4.10" [ "find" ];
    gnugrep = binary "gnugrep-3.12" [ "grep" ];
    gnused = binary "gnused-4.9" [ "sed" ];
    util-linux = binary "util-linux-2.41" [
      "mount"
      "umount"
      "flock"
      "blkid"
    ];
    e2fsprogs = binary "e2fsprogs-1.47" [
      "chattr"
      "lsattr"
    ];
    btrfs-progs = binary "btrfs-progs-6.17" [
      "btrfs"
      "mkfs.btrfs"
    ];
    systemd = binary "systemd-258" [ "systemctl" ];
    nodejs-slim = binary "nodejs-slim-22.20.0" [ "node" ];
    bun = binary "bun-1.3.0" [ "bun" ];
    postgresql_17 = binary "postgresql-17.6" [ "postgres" ];
    caddy = binary "caddy-2.10" [ "caddy" ];
    prometheus-node-exporter = binary "node_exporter-1.9" [ "node_exporter" ];
    openssh = binary "openssh-10.0" [ "sshd" ];
    nixfmt-rfc-style = binary "nixfmt-1.0" [ "nixfmt" ];
    makeWrapper = binary "make-wrapper-hook" [ ];

    writeText = name: text: writeTextFile { inherit name text; };
    writeShellScript =
      name: text:
      writeTextFile {
        inherit name;
        executable = true;
        text = "#!${shell}\n${text}";
      };
    writeShellScriptBin =
      name: text:
      writeTextFile {
        inherit name;
        executable = true;
        destination = "/bin/${name}";
        text = "#!${shell}\n${text}";
      };
    inherit writeTextFile;
    # As nixpkgs' runCommand: env's attributes become the derivation's, and the script its buildCommand.
    runCommand =
      name: env: script:
      mkDerivation name (
        env
        // {
          key = script;
          buildCommand = script;
          inherit env;
        }
      );
    linkFarm =
      name: entries:
      mkDerivation name {
        key = toJSON (map (e: "${e.name}=${e.path}") entries);
        inherit entries;
      };

    formats.json =
      { }:
      {
        type = lib.types.anything;
        generate =
          name: value:
          mkDerivation name {
            files."" = {
              text = toJSON value;
              executable = false;
            };
            inherit value;
          };
      };

    fetchurl =
      { url, hash, ... }:
      assert lib.assertMsg (
        builtins.match "(sha1|sha256|sha512)-[A-Za-z0-9+/]+=*" hash != null
      ) "fetchurl: ${url}: hash must be an SRI hash, got ${hash}";
      mkDerivation (baseNameOf url) {
        key = hash;
        inherit url hash;
      };

    # The parts of nixpkgs' importNpmLock this project relies on: every lock entry with an http(s)
    # `resolved` is fetched by that URL with the entry's `integrity` as its hash; others
    # (links, workspaces) are not fetched. Anything else is refused, as nixpkgs refuses it.
    importNpmLock =
      let
        fetchModule =
          module:
          let
            url = builtins.match "(https?)://.+" module.resolved;
          in
          if !(module ? resolved) then
            null
          else if url != null then
            pkgs.fetchurl {
              url = module.resolved;
              hash = module.integrity;
            }
          else
            throw "importNpmLock: unsupported resolved ${module.resolved}";
        importNpmLock =
          {
            npmRoot ? null,
            package ? lib.importJSON (npmRoot + "/package.json"),
            packageLock ? lib.importJSON (npmRoot + "/package-lock.json"),
            pname ? package.name or "unknown",
            version ? package.version or "0.0.0",
          }:
          let
            fetched = lib.filterAttrs (_: src: src != null) (lib.mapAttrs (_: fetchModule) packageLock.packages);
          in
          mkDerivation "${pname}-${version}-sources" {
            key = toJSON (lib.mapAttrs (_: src: src.outPath) fetched);
            inherit package packageLock fetched;
          };
      in
      {
        __functor = _: importNpmLock;
        npmConfigHook = binary "npm-config-hook" [ ];
      };

    buildNpmPackage =
      args:
      assert lib.assertMsg (
        args ? npmDeps || args ? npmDepsHash
      ) "buildNpmPackage: set npmDeps or npmDepsHash";
      mkDerivation "${args.pname}-${args.version}" {
        key = toJSON (removeAttrs args [ "src" ]);
        inherit args;
        inherit (args) pname version;
        files."lib/pantheros-rollback/pantheros-rollback.mjs" = {
          text = null;
          executable = true;
        };
        meta = args.meta or { };
      };

    testers.runNixOSTest = runNixOSTest;
  };
in
pkgs
