#!/bin/sh
# /init of the power-cut test's initrd (busybox, dmsetup and the dm modules on top of the VM test's base).
# pc_mode=record-device     dm-log-writes over /dev/vda with /dev/vdb as the log; runs the unit's
#                           ExecStart with --device /dev/mapper/lw, then does what sysroot.mount and
#                           stage 2 do (mount @root, write and fsync a file, unmount)
# pc_mode=record-top-level  the same, but the top level is mounted first and the tool runs with
#                           --top-level; the top level stays mounted while the new root is written
# pc_mode=plain             the next boot after a power cut: the unit's ExecStart on /dev/vda, then mount @root
# Marks in the log (dmsetup message lw 0 mark NAME) make every entry attributable: boot-start,
# tool-exit-<code>, root-mounted, root-fsync, root-unmounted, top-unmounted.
# Output goes to /dev/ttyS1 between ==vmtest:…== markers (test/powercut/record.ts parses it).
export PATH=/bin:/usr/bin:/sbin:/usr/sbin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=0755 tmpfs /run
exec </dev/console >/dev/console 2>&1
echo 1 >/proc/sys/kernel/printk
exec 3>/dev/ttyS1

section() { # NAME: copies stdin between markers
    echo "==vmtest:$1:begin==" >&3
    cat >&3
    echo "==vmtest:$1:end==" >&3
}
finish() {
    echo "==vmtest:done==" >&3
    sync
    poweroff -f
}

for list in /etc/vmtest-modules /etc/vmtest-extra-modules; do
    while read -r module; do
        insmod "/lib/modules/$(uname -r)/$module" || echo "powercut: insmod $module failed" >&3
    done <"$list"
done
for i in $(seq 100); do
    [ -b /dev/vda ] && { [ "$pc_mode" = plain ] || [ -b /dev/vdb ]; } && break
    sleep 0.1
done

device=/dev/vda
mark() { :; }
if [ "$pc_mode" != plain ]; then
    size=$(blockdev --getsz /dev/vda)
    dmsetup create lw --noudevsync --table "0 $size log-writes /dev/vda /dev/vdb" || echo "powercut: dmsetup create failed" >&3
    dmsetup mknodes lw
    device=/dev/mapper/lw
    mark() { dmsetup message lw 0 mark "$1" || echo "powercut: mark $1 failed" >&3; }
fi

# The unit's own command (its last ExecStart=) with the device replaced, as test/vm/init.sh does.
command=$(sed -n 's/^ExecStart=//p' /etc/systemd/system/pantheros-rollback.service | tail -n 1 |
    sed "s|--device [^ ]*|--device $device|")
mkdir -p /run/vmtest /run/top /sysroot
if [ "$pc_mode" = record-top-level ]; then
    mount -t btrfs -o subvolid=5 "$device" /run/top
    command=$(echo "$command" | sed "s|--device [^ ]*|--top-level /run/top|")
fi
set -f
# shellcheck disable=SC2086 # word splitting of the unit's command line on purpose
set -- $command --report /run/pantheros-rollback/report.json
set +f
echo "$*" | section command

mark boot-start
"$@" >/run/vmtest/stdout 2>/run/vmtest/stderr
rc=$?
mark "tool-exit-$rc"
echo "==vmtest:exit:$rc==" >&3
section stdout </run/vmtest/stdout
section stderr </run/vmtest/stderr
[ -f /run/pantheros-rollback/report.json ] && section report </run/pantheros-rollback/report.json
dmesg | grep 'pantheros-rollback:' | section kmsg

# What sysroot.mount and stage 2 do next: mount the new @root, write a file and make it durable.
if mount -t btrfs -o subvol=@root "$device" /sysroot 2>/run/vmtest/mount-error; then
    mark root-mounted
    # dd conv=fsync: write, then fsync(2) the file (busybox has no fsync applet).
    if echo "stage 2 of pc_mode=$pc_mode" | dd of=/sysroot/vmtest-stage2 conv=fsync 2>/dev/null; then
        echo "==vmtest:root:ok==" >&3
    else
        echo "==vmtest:root:read-only==" >&3
    fi
    mark root-fsync
    umount /sysroot
    mark root-unmounted
else
    echo "==vmtest:root:unmountable==" >&3
    section mount-error </run/vmtest/mount-error
fi
if [ "$pc_mode" = record-top-level ]; then
    umount /run/top
    mark top-unmounted
fi
if [ "$pc_mode" != plain ]; then
    dmsetup status lw | section log-status
    # Removing the target writes the log's final super block (entry count).
    dmsetup remove lw || echo "powercut: dmsetup remove failed" >&3
fi
finish
