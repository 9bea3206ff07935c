#!/nix/vmtest/busybox sh
# The VM test's stage 2: what the systemd stage 1 switches root to (init=/nix/vmtest/init, on @nix).
# Prints on /dev/ttyS1 what survived switch-root (/run/pantheros-rollback/report.json and the
# evidence stage 1 left in /run/vmtest), what is mounted at /, writes vmtest.boot=N into the new
# root (so later boots can tell roots apart) and powers off.
export PATH=/nix/vmtest/bin
echo 1 >/proc/sys/kernel/printk
exec 3>/dev/ttyS1
section() { # NAME: copies stdin between markers
    echo "==vmtest:$1:begin==" >&3
    cat >&3
    echo "==vmtest:$1:end==" >&3
}
echo "==vmtest:stage2:$$:$(cut -d' ' -f1 /proc/uptime)==" >&3
if [ -f /run/pantheros-rollback/report.json ]; then
    section report </run/pantheros-rollback/report.json
fi
for f in /run/vmtest/*.txt; do
    name=$(basename "$f" .txt)
    section "$name" <"$f"
done
section mountinfo </proc/self/mountinfo
# What stage 1 mounted at /persistent (the state rollback test): every file with its content.
if [ -d /persistent ]; then
    find /persistent -maxdepth 6 -type f | sort | while read -r f; do printf '%s\t%s\n' "$f" "$(cat "$f")"; done |
        section persistent-files
fi
section cmdline </proc/cmdline
boot=$(sed -n 's/.*vmtest\.boot=\([0-9]*\).*/\1/p' /proc/cmdline)
if echo "${boot:-0}" >/vmtest-boot && sync; then
    echo "==vmtest:root:ok==" >&3
else
    echo "==vmtest:root:read-only==" >&3
fi
ls -a / | section root-listing
echo "==vmtest:done==" >&3
sync
poweroff -f
