# Evaluates flake.nix's outputs with stand-ins for nixpkgs and disko (CI has neither), so
# test/nix/flake.test.ts can check the output structure, the example hosts and the VM test.
let
  lib = import ./stub-lib.nix;
  fake = name: {
    type = "derivation";
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
    inherit name;
  };
  pkgsFor = system: {
    inherit lib;
    stdenv.hostPlatform.system = system;
    callPackage = path: _: fake "callPackage-${baseNameOf path}";
    testers.runNixOSTest = test: fake "nixos-test" // { inherit test; };
    linkFarm = name: entries: fake name // { inherit entries; };
    formats.json = _: { generate = name: value: fake name // { json = value; }; };
    nixfmt-rfc-style = fake "nixfmt";
    util-linux = fake "util-linux";
    e2fsprogs = fake "e2fsprogs";
  };
  systems = [ "x86_64-linux" "aarch64-linux" ];
  nixpkgs = {
    lib = lib // {
      nixosSystem = args: {
        inherit args;
        config.system.build.toplevel = fake "toplevel";
      };
    };
    legacyPackages = lib.genAttrs systems pkgsFor;
  };
  disko.nixosModules.disko = { _file = "disko"; };
  flake = import ../../flake.nix;
  self = flake.outputs {
    inherit self nixpkgs disko;
  };
  # The VM test as runNixOSTest receives it, with its node's configuration.
  vmTest = (self.checks.x86_64-linux.rollback.test) { inherit lib; };
  vmNode = vmTest.nodes.machine { pkgs = pkgsFor "x86_64-linux"; };
  # An example host's module with the stand-ins (imports are returned, not followed).
  example =
    name:
    import ../examples/${name} {
      inherit lib;
      pkgs = pkgsFor "x86_64-linux" // { postgresql_17 = fake "postgresql"; };
      modulesPath = "/nixpkgs/nixos/modules";
    };
in
{
  inherit (flake) description inputs;
  outputNames = builtins.attrNames self;
  nixosModules = builtins.mapAttrs (_: m: toString m) self.nixosModules;
  packages = builtins.mapAttrs (_: builtins.attrNames) self.packages;
  checks = builtins.mapAttrs (_: builtins.attrNames) self.checks;
  nixosConfigurations = builtins.mapAttrs (_: c: map toString (builtins.filter (m: !builtins.isAttrs m) c.args.modules)) self.nixosConfigurations;
  toolConfigCheck = map (e: e.name) self.checks.x86_64-linux.tool-config.entries;
  libModes = self.lib.performanceModes;
  vmTest = {
    inherit (vmTest) name testScript;
    host = vmNode.pantherOS.filesystems.impermanence;
    formatScript = vmNode.boot.initrd.systemd.services.pantheros-test-format.script;
    useDefaultFilesystems = vmNode.virtualisation.useDefaultFilesystems;
  };
  examples = lib.genAttrs [ "hetzner-vps" "ovh-vps" ] (
    name:
    let
      m = example name;
      diskoModule = builtins.elemAt m.imports 1;
    in
    {
      host = m.pantherOS.filesystems.impermanence;
      initrdSystemd = m.boot.initrd.systemd.enable;
      mutableUsers = m.users.mutableUsers;
      disko = diskoModule.disko.devices.disk.main.content.partitions.root.content.subvolumes;
    }
  );
}
