#!/bin/bash
# The online state rollback under systemd as PID 1 (run by vmtest-online.service, test/vm/state.test.ts).
# Prints on /dev/ttyS1, between ==vmtest:…== markers: what stage 1 left (the report, /run/vmtest),
# then, with vmtest-db.service running on the persistent subvolume mounted at /var/lib/db:
#   refused   a process in no unit (moved to the root cgroup) holds /var/lib/db/data open:
#             `state-rollback /var/lib/db=hourly` must refuse and change nothing;
#   rollback  without it, the same command stops the unit, swaps, mounts again and starts it;
# with systemd's own evidence around each (systemctl show, the journal), and powers off.
export SYSTEMD_PAGER=cat SYSTEMD_COLORS=0 LC_ALL=C
exec 3>/dev/ttyS1
busybox=/nix/vmtest/busybox
properties=Id,LoadState,ActiveState,SubState,Result,InvocationID,MainPID,ExecMainStartTimestampMonotonic
properties+=,ActiveEnterTimestampMonotonic,InactiveEnterTimestampMonotonic,InactiveExitTimestampMonotonic
properties+=,RequiresMountsFor,Requires,After,RequiredBy,What,Where,Options,FragmentPath,SourcePath

section() { # NAME: copies stdin between markers
    echo "==vmtest:$1:begin==" >&3
    cat >&3
    echo "==vmtest:$1:end==" >&3
}
uptime() {
    local up _
    read -r up _ </proc/uptime
    echo "$up"
}
# Waits until vmtest-db.service's main process is the sleep that holds its files (its start wrote /var/lib/db/starts).
await_db() {
    local pid
    for ((i = 0; i < 300; i++)); do
        pid=$(systemctl show -P MainPID vmtest-db.service)
        [ "$pid" != 0 ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sleep ] && return 0
        sleep 0.2
    done
    echo "vmtest: vmtest-db.service did not come up" >&2
}
# Evidence of one moment: systemd's view of the unit and the mount, the files, what the service holds.
record() { # NAME
    systemctl show vmtest-db.service var-lib-db.mount -p "$properties" | section "$1-show"
    for f in /var/lib/db/*; do
        [ -f "$f" ] && printf '%s\t%s\n' "${f##*/}" "$(tr '\n' '|' <"$f")"
    done | section "$1-files"
    local pid
    pid=$(systemctl show -P MainPID vmtest-db.service)
    { readlink "/proc/$pid/cwd"; readlink "/proc/$pid/fd/3"; } 2>&1 | section "$1-holds"
}
run() { # NAME ARGS…: the tool as an operator runs it, with its exit code and the uptime around it
    local name=$1 rc
    shift
    echo "==vmtest:$name-start:$(uptime)==" >&3
    # The running system's command: the whole bundle (the initrd's entry defaults to the boot-only one).
    PANTHEROS_ROLLBACK_BUNDLE=/usr/lib/pantheros-rollback/pantheros-rollback.mjs pantheros-rollback "$@" >"/run/vmtest-$name.out" 2>"/run/vmtest-$name.err"
    rc=$?
    echo "==vmtest:$name-end:$(uptime)==" >&3
    echo "==vmtest:$name-exit:$rc==" >&3
    section "$name-stdout" <"/run/vmtest-$name.out"
    section "$name-stderr" <"/run/vmtest-$name.err"
}

echo "==vmtest:stage2:$$:$(uptime)==" >&3
[ -f /run/pantheros-rollback/report.json ] && section report </run/pantheros-rollback/report.json
for f in /run/vmtest/*.txt; do
    name=${f##*/}
    section "${name%.txt}" <"$f"
done
{ readlink /proc/1/exe; cat /proc/1/comm; } | section pid1

await_db
record before

# A process that no unit owns holds a file open in the state: the tool must refuse (and say who).
bash -c 'exec 4</var/lib/db/data && exec sleep 600' &
holder=$!
echo "$holder" >/sys/fs/cgroup/cgroup.procs
for ((i = 0; i < 50; i++)); do
    [ "$(cat "/proc/$holder/comm" 2>/dev/null)" = sleep ] && break
    sleep 0.1
done
{ echo "$holder"; cat "/proc/$holder/cgroup"; } | section holder
run refused state-rollback /var/lib/db=hourly
await_db
record refused
kill "$holder"
wait "$holder" 2>/dev/null

run rollback state-rollback /var/lib/db=hourly --json
await_db
record after

section mountinfo </proc/self/mountinfo
journalctl -o short-monotonic --no-pager | section stage2-journal
echo "==vmtest:done==" >&3
"$busybox" sync
systemctl poweroff --force
