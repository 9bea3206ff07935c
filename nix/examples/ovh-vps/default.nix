# Example host from the design: an OVH VPS serving web sites with Caddy (balanced).
# Build: nix build .#nixosConfigurations.ovh-vps.config.system.build.toplevel
# Install: nix run github:nix-community/disko -- --mode disko --flake .#ovh-vps, then nixos-install.
{ modulesPath, ... }:
let
  # One attrset for the module and for disko, so both derive the same subvolume layout.
  impermanence = {
    device = "/dev/disk/by-label/nixos";
    performanceMode = "balanced";
    runtime = "node";
    persistentTree = {
      # Site content deployed by the operator, kept across boots.
      "/srv/www".options = [
        "nodev"
        "nosuid"
        "noexec"
      ];
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
    "ata_piix"
    "uhci_hcd"
    "virtio_pci"
    "virtio_scsi"
    "virtio_blk"
    "sd_mod"
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

  networking.hostName = "ovh-vps";
  networking.firewall.allowedTCPPorts = [
    80
    443
  ];
  users.mutableUsers = false;
  users.users.root.openssh.authorizedKeys.keys = [
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyReplaceMe operator@example"
  ];
  services.openssh = {
    enable = true;
    settings.PasswordAuthentication = false;
  };

  # Certificates and ACME account live in /var/lib/caddy, a persistent subvolume by default.
  services.caddy = {
    enable = true;
    virtualHosts."example.org".extraConfig = ''
      root * /srv/www
      file_server
    '';
  };
  services.prometheus.exporters.node.enable = true;

  system.stateVersion = "25.11";
}
