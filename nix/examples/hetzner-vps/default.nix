# Example host from the design: a Hetzner Cloud VPS running PostgreSQL (io-optimized).
# Build: nix build .#nixosConfigurations.hetzner-vps.config.system.build.toplevel
# Install: nix run github:nix-community/disko -- --mode disko --flake .#hetzner-vps, then nixos-install.
{
  lib,
  pkgs,
  modulesPath,
  ...
}:
let
  # One attrset for the module and for disko, so both derive the same subvolume layout.
  impermanence = {
    device = "/dev/disk/by-label/nixos";
    performanceMode = "io-optimized";
    runtime = "bun";
    persistentTree = {
      # The database gets its own subvolume (own snapshots) and `chattr +C` from io-optimized.
      "/var/lib/postgresql".options = [
        "nodev"
        "nosuid"
      ];
      # No reverse proxy on this host.
      "/var/lib/caddy".enable = false;
    };
    snapshotRetention = {
      hourly = 48;
      daily = 14;
    };
  };
in
{
  imports = [
    "${modulesPath}/profiles/qemu-guest.nix"
    (import ../../disko.nix {
      device = "/dev/sda";
      inherit impermanence;
    })
  ];

  pantherOS.filesystems.impermanence = impermanence // {
    enable = true;
  };

  nixpkgs.hostPlatform = "x86_64-linux";
  boot.initrd.systemd.enable = true;
  boot.initrd.availableKernelModules = [
    "ahci"
    "xhci_pci"
    "virtio_pci"
    "virtio_scsi"
    "sd_mod"
    "sr_mod"
  ];
  boot.loader.grub = {
    enable = true;
    efiSupport = true;
    efiInstallAsRemovable = true;
    devices = [ "/dev/sda" ];
  };
  # disko.enableConfig is false (the module owns the btrfs mounts), so the ESP is declared here.
  fileSystems."/boot" = {
    device = "/dev/disk/by-partlabel/disk-main-ESP";
    fsType = "vfat";
    options = [ "umask=0077" ];
  };

  networking.hostName = "hetzner-vps";
  networking.useNetworkd = true;
  # /etc/passwd and /etc/shadow are rebuilt at every boot from this configuration.
  users.mutableUsers = false;
  users.users.root.openssh.authorizedKeys.keys = [
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyReplaceMe operator@example"
  ];
  services.openssh = {
    enable = true;
    settings.PasswordAuthentication = false;
  };

  services.postgresql = {
    enable = true;
    package = pkgs.postgresql_17;
  };
  services.prometheus.exporters.node = {
    enable = true;
    openFirewall = false;
  };

  system.stateVersion = "25.11";
}
