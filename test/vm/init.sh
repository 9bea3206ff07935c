#!/bin/sh
# /init of the VM test initrd: does what systemd stage 1 does around pantheros-rollback.service
# (modules, devices, then the unit's ExecStart), checks the new @root, prints the outcome between
# ==vmtest:…== markers on the serial console for test/vm/qemu.ts, and powers off.
# Kernel parameters without a dot reach us as environment: vmtest_boot=N (written into the new
# @root so archives can be told apart) and vmtest_mode=version (run only `pantheros-rollback --version`).
export PATH=/bin:/usr/bin:/sbin:/usr/sbin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=0755 tmpfs /run
exec </dev/console >/dev/console 2>&1
# Keep kernel messages off the console so that the sections below are not interleaved.
echo 1 >/proc/sys/kernel/printk

section() { # NAME: copies stdin between markers
  echo "==vmtest:$1:begin=="
  cat
  echo "==vmtest:$1:end=="
}

echo "==vmtest:init:$(cut -d' ' -f1 /proc/uptime)=="
while read -r module; do
  insmod "/lib/modules/$(uname -r)/$module" || echo "vmtest: insmod $module failed"
done </etc/vmtest-modules
echo "==vmtest:modules:$(cut -d' ' -f1 /proc/uptime)=="
date -u +%Y-%m-%dT%H:%M:%SZ | section date

# vmtest_mode=version: only show that the runtime and the bundle start in this initrd.
if [ "${vmtest_mode:-}" = version ]; then
  echo "==vmtest:tool-start:$(cut -d' ' -f1 /proc/uptime)=="
  /usr/bin/pantheros-rollback --version 2>&1 | section version
  echo "==vmtest:tool-end:$(cut -d' ' -f1 /proc/uptime)=="
  echo "==vmtest:done=="
  poweroff -f
fi

# The unit's own command (the last ExecStart= of pantheros-rollback.service) with its placeholder
# device replaced by this VM's disk; the report path is the default, made explicit.
command=$(sed -n 's/^ExecStart=//p' /etc/systemd/system/pantheros-rollback.service | tail -n 1 |
  sed 's|--device [^ ]*|--device /dev/vda|')
set -f
# shellcheck disable=SC2086 # word splitting of the unit's command line on purpose
set -- $command --report /run/pantheros-rollback/report.json
set +f
echo "$*" | section command
mkdir -p /run/vmtest
echo "==vmtest:tool-start:$(cut -d' ' -f1 /proc/uptime)=="
"$@" >/run/vmtest/stdout 2>/run/vmtest/stderr
rc=$?
echo "==vmtest:tool-end:$(cut -d' ' -f1 /proc/uptime)=="
echo "==vmtest:exit:$rc=="
section stdout </run/vmtest/stdout
section stderr </run/vmtest/stderr
if [ -f /run/pantheros-rollback/report.json ]; then
  section report </run/pantheros-rollback/report.json
fi
# What the tool left mounted (it must unmount its private top-level mount whatever happens).
section mountinfo </proc/self/mountinfo
dmesg | grep 'pantheros-rollback:' | section kmsg

# What sysroot.mount would do next: mount the new @root and use it.
if mount -t btrfs -o subvol=@root /dev/vda /sysroot 2>/run/vmtest/mount-error; then
  if echo "${vmtest_boot:-0}" >/sysroot/vmtest-boot && sync; then
    echo "==vmtest:root:ok=="
  else
    echo "==vmtest:root:read-only=="
  fi
  ls -la /sysroot | section root-listing
  umount /sysroot
else
  echo "==vmtest:root:unmountable=="
  section root-listing </run/vmtest/mount-error
fi
echo "==vmtest:done=="
sync
poweroff -f
