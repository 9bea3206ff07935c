{
  description = "pantheros-rollback: boot-time btrfs root rollback for NixOS impermanence";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";
    disko = {
      url = "github:nix-community/disko";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    {
      self,
      nixpkgs,
      disko,
    }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      mkHost =
        path:
        lib.nixosSystem {
          modules = [
            self.nixosModules.default
            disko.nixosModules.disko
            path
          ];
        };
    in
    {
      # pantherOS.filesystems.impermanence (options.nix + module.nix).
      nixosModules.default = { imports = [ ./nix/module.nix ]; };
      nixosModules.pantheros-rollback = self.nixosModules.default;

      # Pure generators (no nixpkgs needed) and the disko layout function.
      lib = import ./nix/lib.nix;
      diskoLayout = import ./nix/disko.nix;

      packages = forAllSystems (pkgs: {
        default = pkgs.callPackage ./nix/package.nix { };
        pantheros-rollback = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
      });

      nixosConfigurations = {
        hetzner-vps = mkHost ./nix/examples/hetzner-vps;
        ovh-vps = mkHost ./nix/examples/ovh-vps;
      };

      checks = forAllSystems (
        pkgs:
        {
          package = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
          # The tool config of each performance mode, rendered as the module renders it.
          tool-config = pkgs.linkFarm "pantheros-rollback-tool-configs" (
            map (mode: {
              name = "${mode}.json";
              path = (pkgs.formats.json { }).generate "${mode}.json" (
                self.lib.toolConfig {
                  device = "/dev/disk/by-label/nixos";
                  performanceMode = mode;
                }
              );
            }) self.lib.performanceModes
          );
          rollback = pkgs.testers.runNixOSTest (import ./nix/tests/rollback.nix { inherit self; });
        }
        // lib.optionalAttrs (pkgs.stdenv.hostPlatform.system == "x86_64-linux") {
          hetzner-vps = self.nixosConfigurations.hetzner-vps.config.system.build.toplevel;
          ovh-vps = self.nixosConfigurations.ovh-vps.config.system.build.toplevel;
        }
      );

      formatter = forAllSystems (pkgs: pkgs.nixfmt-rfc-style);
    };
}
