#!/bin/bash
# Builds the systemd stage-1 base initrd with Debian's dracut without installing dracut (see
# ../../shared/notes/real-boot.md): runs inside `unshare -m` (a private mount namespace, gone when
# this script ends), unpacks dracut-core, udev and kpartx (maintainer scripts never run) and the
# guest kernel's modules into a tmpfs overlay of /, and runs dracut there under chroot.
set -euo pipefail
: "${VMTEST_SCRATCH:?}" "${VMTEST_DEBS:?}" "${VMTEST_KERNEL_DEB:?}" "${VMTEST_KVER:?}" "${VMTEST_MODULE:?}"
: "${VMTEST_RUNTIME:?}" "${VMTEST_RUNTIME_NAME:?}" "${VMTEST_OUT:?}" "${VMTEST_DRIVERS:?}" "${VMTEST_DRACUT_MODULES:?}"

mount -t tmpfs -o size=4g,mode=0755 vmtest-dracut "$VMTEST_SCRATCH"
mkdir "$VMTEST_SCRATCH/upper" "$VMTEST_SCRATCH/work" "$VMTEST_SCRATCH/root"
mount -t overlay vmtest-dracut -o "lowerdir=/,upperdir=$VMTEST_SCRATCH/upper,workdir=$VMTEST_SCRATCH/work" "$VMTEST_SCRATCH/root"
root=$VMTEST_SCRATCH/root

# --keep-directory-symlink: the packages ship /lib and /bin as directories; / has them as links to /usr.
for deb in "$VMTEST_DEBS"/*.deb; do
    dpkg-deb --fsys-tarfile "$deb" | tar -x --keep-directory-symlink -C "$root"
done
dpkg-deb --fsys-tarfile "$VMTEST_KERNEL_DEB" | tar -x --keep-directory-symlink -C "$root" "./lib/modules/$VMTEST_KVER"
cp -r "$VMTEST_MODULE" "$root/usr/lib/dracut/modules.d/99pantheros-vmtest"
install -D -m 0755 "$VMTEST_RUNTIME" "$root/tmp/vmtest-runtime/$VMTEST_RUNTIME_NAME"
for fs in proc sys dev; do mount --bind "/$fs" "$root/$fs"; done

chroot "$root" depmod -a "$VMTEST_KVER"
chroot "$root" env PANTHEROS_VMTEST_RUNTIME="/tmp/vmtest-runtime/$VMTEST_RUNTIME_NAME" \
    PANTHEROS_VMTEST_RUNTIME_NAME="$VMTEST_RUNTIME_NAME" \
    dracut --no-hostonly --zstd --force --kver "$VMTEST_KVER" \
    --drivers "$VMTEST_DRIVERS" -m "$VMTEST_DRACUT_MODULES" /tmp/vmtest-initrd.img
cp "$root/tmp/vmtest-initrd.img" "$VMTEST_OUT"
