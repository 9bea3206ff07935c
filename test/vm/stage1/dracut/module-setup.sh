#!/bin/bash
# dracut module "pantheros-vmtest" of the VM test's systemd stage 1 (test/vm/stage1-initrd.ts).
# Installs what NixOS' stage 1 would carry besides systemd and btrfs-progs: the JavaScript runtime
# the unit's entry script runs (with the libraries ldd names), and systemd's own emergency.service
# with sulogin (dracut's dracut-systemd module, left out here, would bring its own shell hooks).
# The unit, its entry script, the bundle and the config come in a separate cpio (stage1-initrd.ts),
# so that a change to src/ does not rebuild this part.

check() {
    return 0
}

depends() {
    echo systemd base
    return 0
}

install() {
    inst_binary "$PANTHEROS_VMTEST_RUNTIME" "/usr/bin/$PANTHEROS_VMTEST_RUNTIME_NAME"
    inst_multiple sulogin "$systemdutildir/systemd-sulogin-shell" \
        "$systemdsystemunitdir/emergency.service" "$systemdsystemunitdir/rescue.service"
}
