#!/usr/bin/env bash
# The conventional stage-1 rollback that pantheros-rollback replaces, used as the benchmark baseline.
# A faithful copy of the nix-community/impermanence README snippet ("BTRFS subvolumes"), with only the
# paths adapted to the pantheros layout and the top level passed in (the tool gets --top-level too):
#   README                                   here
#   mkdir /btrfs_tmp; mount DEV /btrfs_tmp   $1 is the already-mounted top level (subvolid=5)
#   /btrfs_tmp/root                          $1/@root
#   /btrfs_tmp/old_roots                     $1/@btrfs_tmp/old_roots
#   btrfs subvolume create /btrfs_tmp/root   same (mode "create", the README), or
#                                            btrfs subvolume snapshot @root-blank @root (mode "snapshot",
#                                            what pantheros-rollback does; the fair comparison)
# Its known defects (field notes: `list -o` of a plain directory, `find` returning old_roots itself,
# deleting the root archived this boot, name collisions) are kept on purpose: this is what runs today.
# "durable" appends one `sync -f` of the filesystem (syncfs(2): one transaction commit), so the
# snippet ends with its swap committed, as the tool does (issue 13): the "equally durable" baseline.
# Usage: baseline-rollback.sh TOP_LEVEL_DIR [create|snapshot] [durable]
btrfs_tmp="$1"
mode="${2:-create}"
durable="${3:-}"
old_roots="$btrfs_tmp/@btrfs_tmp/old_roots"

if [[ -e "$btrfs_tmp/@root" ]]; then
    mkdir -p "$old_roots"
    timestamp=$(date --date="@$(stat -c %Y "$btrfs_tmp/@root")" "+%Y-%m-%-d_%H:%M:%S")
    mv "$btrfs_tmp/@root" "$old_roots/$timestamp"
fi

delete_subvolume_recursively() {
    IFS=$'\n'
    for i in $(btrfs subvolume list -o "$1" | cut -f 9- -d ' '); do
        delete_subvolume_recursively "$btrfs_tmp/$i"
    done
    btrfs subvolume delete "$1"
}

for i in $(find "$old_roots/" -maxdepth 1 -mtime +30); do
    delete_subvolume_recursively "$i"
done

if [[ "$mode" == snapshot ]]; then
    btrfs subvolume snapshot "$btrfs_tmp/@root-blank" "$btrfs_tmp/@root"
else
    btrfs subvolume create "$btrfs_tmp/@root"
fi

if [[ "$durable" == durable ]]; then
    sync -f "$btrfs_tmp"
fi
