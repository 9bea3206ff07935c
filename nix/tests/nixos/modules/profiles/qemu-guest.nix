# Stand-in for nixpkgs' nixos/modules/profiles/qemu-guest.nix (imported by the example hosts through
# modulesPath): the virtio drivers it adds to stage 1.
{ ... }:
{
  boot.initrd.availableKernelModules = [
    "virtio_net"
    "virtio_pci"
    "virtio_mmio"
    "virtio_blk"
    "virtio_scsi"
    "9p"
    "9pnet_virtio"
  ];
  boot.initrd.kernelModules = [
    "virtio_balloon"
    "virtio_console"
    "virtio_rng"
    "virtio_gpu"
  ];
}
