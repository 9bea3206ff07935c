#!/nix/vmtest/busybox sh
# Stage 2 with systemd as PID 1 (test/vm/state.test.ts: the online state rollback under a real
# systemd). What switch-root starts with init=/nix/vmtest/init-systemd: like NixOS' stage-2
# activation, it makes the fresh root (an empty @root made from the blank) a system from what lives
# on /nix, then execs systemd as PID 1:
#   /usr      bind-mounted from @nix/vmtest-system, the tree of the dracut-built stage 1 (systemd 252,
#             udev, util-linux, btrfs-progs, the runtime, the tool), and /bin, /lib… linked into it;
#   /etc      copied from it without /etc/initrd-release (so systemd runs as a system, not an initrd)
#             and without the stage-1 units; the test's units, enabled for multi-user.target;
#   /etc/fstab the persistent subvolume's mount at /var/lib/db, as NixOS writes it from fileSystems
#             (systemd-fstab-generator makes var-lib-db.mount of it).
export PATH=/nix/vmtest/bin
exec >/dev/console 2>&1
sys=/nix/vmtest-system
fail() {
    echo "vmtest: stage-2 activation failed: $*"
    echo "==vmtest:activation-failed==" >/dev/ttyS1
    sync
    poweroff -f
}
echo "==vmtest:activation:$(cut -d' ' -f1 /proc/uptime)==" >/dev/ttyS1
mkdir -p /usr /etc /var/lib/db /tmp /root || fail mkdir
mount --bind "$sys/usr" /usr || fail "mount --bind $sys/usr /usr"
for d in bin lib lib64 sbin; do
    [ -e "/$d" ] || ln -s "usr/$d" "/$d" || fail "ln /$d"
done
cp -a "$sys/etc/." /etc/ || fail "cp /etc"
rm -rf /etc/initrd-release /etc/os-release /etc/machine-id /etc/systemd/system /etc/cmdline.d /etc/conf.d
printf 'NAME="pantheros-rollback VM test stage 2"\nID=vmtest\nVERSION_ID=1\n' >/etc/os-release
echo 7b0c5e4a9d3f41c8a2e6b1d0f5c3a9e7 >/etc/machine-id
mkdir -p /etc/systemd/system/multi-user.target.wants
cp /nix/vmtest/units/* /etc/systemd/system/ || fail "cp units"
ln -s /usr/lib/systemd/system/multi-user.target /etc/systemd/system/default.target
for unit in vmtest-db.service vmtest-online.service; do
    ln -s "../$unit" "/etc/systemd/system/multi-user.target.wants/$unit"
done
echo '/dev/disk/by-label/nixos /var/lib/db btrfs subvol=@persistent/var/lib/db,x-systemd.device-timeout=60s 0 0' >/etc/fstab
exec /usr/lib/systemd/systemd
