# A host's disko layout for pantherOS.filesystems.impermanence: GPT with a BIOS boot partition
# (GRUB on VPS firmware), an ESP and one btrfs partition labelled `label` holding every subvolume
# of the module's layout; the read-only empty blank snapshot is taken right after creation.
# Usage (a NixOS module): imports = [ (import ./nix/disko.nix { device = "/dev/sda"; impermanence = { … }; }) ];
# `impermanence` is the same attrset as pantherOS.filesystems.impermanence (subvolumes,
# persistentTree, performanceMode), so disko and the module derive one layout from lib.nix.
# Uses only builtins: the module owns fileSystems (disko.enableConfig = false); disko uses the
# mount points only to mount the target for nixos-install.
{
  device,
  diskName ? "main",
  label ? "nixos",
  espSize ? "512M",
  impermanence ? { },
}:
let
  nixLib = import ./lib.nix;
  layout = nixLib.layout impermanence;
  notSubvol = o: builtins.substring 0 7 o != "subvol=";
  mountpointOf = builtins.listToAttrs (
    map (mp: {
      name = layout.${mp}.subvolume;
      value = mp;
    }) (builtins.attrNames layout)
  );
  partDevice = "/dev/disk/by-partlabel/disk-${diskName}-root";
in
{
  disko.enableConfig = false;
  disko.devices.disk.${diskName} = {
    type = "disk";
    inherit device;
    content = {
      type = "gpt";
      partitions = {
        boot = {
          size = "1M";
          type = "EF02";
          priority = 1;
        };
        ESP = {
          size = espSize;
          type = "EF00";
          priority = 2;
          content = {
            type = "filesystem";
            format = "vfat";
            mountpoint = "/boot";
            mountOptions = [ "umask=0077" ];
          };
        };
        root = {
          size = "100%";
          content = {
            type = "btrfs";
            extraArgs = [
              "-f"
              "-L"
              label
            ];
            subvolumes = builtins.listToAttrs (
              map (
                name:
                {
                  inherit name;
                  value =
                    if mountpointOf ? ${name} then
                      {
                        mountpoint = mountpointOf.${name};
                        mountOptions = builtins.filter notSubvol layout.${mountpointOf.${name}}.options;
                      }
                    else
                      { };
                }
              ) (nixLib.subvolumesToCreate impermanence)
            );
            # After disko created the subvolumes and before anything is mounted or written:
            # the archive directory and the read-only blank snapshot of the still-empty root.
            postCreateHook = ''
              (
                top=$(mktemp -d)
                mount -t btrfs -o subvolid=5 ${partDevice} "$top"
                trap 'umount "$top"; rmdir "$top"' EXIT
                ${nixLib.installScript impermanence "$top"}
              )
            '';
          };
        };
      };
    };
  };
}
