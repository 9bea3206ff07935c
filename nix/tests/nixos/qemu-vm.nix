# Stand-in for nixpkgs' nixos/modules/virtualisation/qemu-vm.nix as every runNixOSTest node imports
# it: the options the VM test sets, and the one behaviour that decides what such a test mounts —
# `fileSystems = mkVMOverride cfg.fileSystems` (priority 10): inside the VM, fileSystems is exactly
# virtualisation.fileSystems (the host's store over 9p, plus "/" on the boot disk unless
# useDefaultFilesystems is false); definitions of `fileSystems` itself are dropped.
{ config, lib, options, ... }:
let
  inherit (lib) mkIf mkOption types;
  cfg = config.virtualisation;
in
{
  options.virtualisation = {
    memorySize = mkOption {
      type = types.ints.positive;
      default = 1024;
      description = "Memory of the VM in MiB.";
    };
    useDefaultFilesystems = mkOption {
      type = types.bool;
      default = true;
      description = "Format and mount the boot disk as /; false: the configuration mounts /.";
    };
    emptyDiskImages = mkOption {
      type = types.listOf types.ints.positive;
      default = [ ];
      description = "Sizes (MiB) of extra empty disks: /dev/vdb, /dev/vdc, …";
    };
    fileSystems = options.fileSystems;
  };

  config = {
    virtualisation.fileSystems = {
      "/" = mkIf cfg.useDefaultFilesystems {
        device = "/dev/disk/by-label/nixos";
        fsType = "ext4";
      };
      "/nix/.ro-store" = {
        device = "nix-store";
        fsType = "9p";
        neededForBoot = true;
        options = [
          "trans=virtio"
          "version=9p2000.L"
          "cache=loose"
        ];
      };
      "/nix/store" = {
        device = "/nix/.ro-store";
        fsType = "none";
        neededForBoot = true;
        options = [ "bind" ];
        depends = [ "/nix/.ro-store" ];
      };
    };
    fileSystems = lib.mkOverride 10 cfg.fileSystems;
  };
}
