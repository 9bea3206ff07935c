#!/bin/bash
# The VM test's helper inside the systemd stage 1 (installed as /usr/bin/vmtest-stage1):
#   evidence     record systemd's evidence in /run/vmtest (vmtest-evidence.service, before switch-root)
#   emergency    the same once emergency.target is reached, printed on /dev/ttyS1, then power off
#   late-device  load virtio_blk after vmtest.late_device=SECONDS (vmtest-late-device.service)
# Sections are framed as ==vmtest:NAME:begin== … ==vmtest:NAME:end== for test/vm/evidence.ts.
export SYSTEMD_PAGER=cat SYSTEMD_COLORS=0 LC_ALL=C
out=/run/vmtest
units=(pantheros-rollback.service sysroot.mount 'dev-disk-by\x2dlabel-nixos.device' initrd.target
    initrd-switch-root.target emergency.target emergency.service vmtest-late-device.service
    sysroot-persistent.mount)
properties=Id,LoadState,ActiveState,SubState,Result,ExecMainStatus,ExecMainStartTimestampMonotonic
properties+=,ExecMainExitTimestampMonotonic,InactiveExitTimestampMonotonic,ActiveEnterTimestampMonotonic
properties+=,After,Before,Requires,Wants,WantedBy,RequiredBy,FragmentPath,What,Where,Options

uptime() {
    local up _
    read -r up _ </proc/uptime
    echo "$up"
}

record() {
    mkdir -p "$out"
    uptime >"$out/uptime.txt"
    systemctl show "${units[@]}" -p "$properties" >"$out/show.txt" 2>&1
    systemctl list-dependencies --after --plain --no-pager sysroot.mount >"$out/after-sysroot.txt" 2>&1
    journalctl -o short-monotonic --no-pager >"$out/journal.txt" 2>&1
    # The tool's own lines, selected by the journal field (not by matching text).
    journalctl -o short-monotonic --no-pager SYSLOG_IDENTIFIER=pantheros-rollback >"$out/journal-tool.txt" 2>&1
}

case "${1:-}" in
evidence)
    record
    ;;
emergency)
    # Wait for the emergency shell itself, then a little longer: a switch-root racing it would
    # happen now (and end this script, so the test would see stage 2 instead of this).
    for ((i = 0; i < 60; i++)); do
        [ "$(systemctl is-active emergency.service)" = active ] && break
        sleep 1
    done
    sleep 5
    record
    {
        echo "==vmtest:emergency:$(uptime)=="
        for f in "$out"/*.txt; do
            name=${f##*/}
            echo "==vmtest:${name%.txt}:begin=="
            cat "$f"
            echo "==vmtest:${name%.txt}:end=="
        done
        echo "==vmtest:done=="
    } >/dev/ttyS1
    systemctl poweroff --force --force
    ;;
late-device)
    for word in $(</proc/cmdline); do
        case $word in vmtest.late_device=*) sleep "${word#*=}" ;; esac
    done
    modprobe virtio_blk
    ;;
*)
    echo "usage: vmtest-stage1 evidence|emergency|late-device" >&2
    exit 2
    ;;
esac
