# runNixOSTest: boots the module three times on a real btrfs disk and asserts the wipe, the
# archive, the persistent tree and recovery with `pantheros.rollback=previous`.
# Run: nix build .#checks.x86_64-linux.rollback (or -L for the log).
{ self }:
{ lib, ... }:
let
  nixLib = import ../lib.nix;
  disk = "/dev/vdb";
  impermanence = {
    device = disk;
    # The VM test shares the host's /nix/store; @nix would only shadow it.
    subvolumes.nix = null;
    persistentTree."/var/lib/postgresql" = { };
  };
in
{
  name = "pantheros-rollback";

  nodes.machine =
    { config, pkgs, ... }:
    {
      imports = [ self.nixosModules.default ];
      environment.systemPackages = [ pkgs.e2fsprogs ];

      pantherOS.filesystems.impermanence = impermanence // {
        enable = true;
      };

      boot.initrd.systemd.enable = true;
      virtualisation = {
        memorySize = 2048;
        # The module owns `/`; the first disk stays unused, the second gets the btrfs layout.
        useDefaultFilesystems = false;
        emptyDiskImages = [ 2048 ];
        # qemu-vm.nix replaces fileSystems with virtualisation.fileSystems (mkVMOverride), which
        # would drop every mount of the module: hand them over (next to the VM's shared store).
        fileSystems = config.pantherOS.filesystems.impermanence.fileSystems;
      };

      # First boot only: an empty disk gets the layout disko would create (same generator).
      boot.initrd.systemd.extraBin.blkid = "${pkgs.util-linux}/bin/blkid";
      boot.initrd.systemd.services.pantheros-test-format = {
        description = "Create the pantheros-rollback layout on an empty test disk";
        unitConfig.DefaultDependencies = false;
        requires = [ "dev-vdb.device" ];
        after = [ "dev-vdb.device" ];
        before = [ "pantheros-rollback.service" ];
        requiredBy = [ "pantheros-rollback.service" ];
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
        };
        script = ''
          set -eu
          if [ "$(blkid -o value -s TYPE ${disk} || true)" != btrfs ]; then
            mkfs.btrfs -f -L nixos ${disk}
            top=/run/pantheros-test-top
            mkdir -p "$top"
            mount -t btrfs -o subvolid=5 ${disk} "$top"
            ${nixLib.installScript impermanence "$top"}
            umount "$top"
          fi
        '';
      };
    };

  testScript = ''
    import json
    import os

    def report():
        return json.loads(machine.succeed("cat /run/pantheros-rollback/report.json"))

    def on_top_level(cmd):
        return machine.succeed(
            "mkdir -p /mnt/top && mount -t btrfs -o subvolid=5 ${disk} /mnt/top && "
            # The driver runs commands under `set -e`: keep the status, always unmount.
            f"rc=0; ({cmd}) || rc=$?; umount /mnt/top; exit $rc"
        )

    machine.start()
    machine.wait_for_unit("multi-user.target")

    with subtest("first boot: / is @root, the persistent tree and system state are mounted"):
        machine.succeed("findmnt -no OPTIONS / | grep -q 'subvol=/@root'")
        for path in ["/persistent", "/var/log", "/var/lib/services", "/home", "/var/lib/postgresql",
                     "/var/lib/nixos", "/var/lib/systemd", "/etc/machine-id"]:
            machine.succeed(f"mountpoint {path}")
        machine.succeed("systemctl is-active pantheros-rollback-attributes.service")
        machine.succeed("lsattr -d /var/lib/postgresql | grep -q C")
        r = report()
        assert r["result"] == "ok", r
        machine.succeed("echo boot1 > /etc/volatile-marker")
        machine.succeed("echo boot1 > /var/log/persistent-marker")
        machine.succeed("sync")
        machine_id = machine.succeed("cat /etc/machine-id").strip()

    machine.shutdown()
    machine.start()
    machine.wait_for_unit("multi-user.target")

    with subtest("second boot: the root was wiped and archived, persistent data kept"):
        machine.fail("test -e /etc/volatile-marker")
        machine.succeed("grep -qx boot1 /var/log/persistent-marker")
        assert machine.succeed("cat /etc/machine-id").strip() == machine_id
        r = report()
        assert r["result"] == "ok" and r["archived"] is not None, r
        archive = r["archived"]["name"]
        on_top_level(f"grep -qx boot1 '/mnt/top/@btrfs_tmp/old_roots/{archive}/etc/volatile-marker'")
        on_top_level("btrfs property get -ts /mnt/top/@root-blank ro | grep -qx ro=true")
        machine.succeed("echo boot2 > /etc/volatile-marker")
        machine.succeed("sync")

    machine.shutdown()
    # qemu-vm's start script appends $QEMU_KERNEL_PARAMS to the kernel command line.
    os.environ["QEMU_KERNEL_PARAMS"] = "pantheros.rollback=previous"
    machine.start()
    machine.wait_for_unit("multi-user.target")
    del os.environ["QEMU_KERNEL_PARAMS"]

    with subtest("third boot with pantheros.rollback=previous: the previous root is back"):
        machine.succeed("grep -q 'pantheros.rollback=previous' /proc/cmdline")
        machine.succeed("grep -qx boot2 /etc/volatile-marker")
        r = report()
        assert r["result"] == "ok", r
        assert r["target"]["kind"] == "previous", r
        assert r["archived"] is not None and r["archived"]["name"] in r["created"]["from"], r

    with subtest("operator side: snapshot timer service and metrics run"):
        machine.succeed("systemctl start pantheros-snapshot-hourly.service")
        on_top_level("ls /mnt/top/@snapshots/hourly | grep -q .")
        machine.succeed("systemctl start pantheros-rollback-metrics.service")
        machine.succeed("grep -q '^pantheros_archives ' /run/pantheros-rollback/metrics/pantheros_rollback.prom")

    machine.shutdown()
  '';
}
