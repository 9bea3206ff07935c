#!/usr/bin/env bash
# Baseline for `pantheros-rollback diff`: the community "fs-diff.sh" used with the impermanence
# rollback (btrfs subvolume find-new since the blank snapshot's generation). It lists changed data
# extents only: no deletions, renames or metadata-only changes (see the field notes).
# Usage: baseline-diff.sh BLANK_SUBVOLUME ROOT_SUBVOLUME
set -euo pipefail
OLD_TRANSID=$(btrfs subvolume find-new "$1" 9999999)
OLD_TRANSID=${OLD_TRANSID#transid marker was }
btrfs subvolume find-new "$2" "$OLD_TRANSID" | sed '$d' | cut -f17- -d' ' | sort | uniq |
while read -r path; do
    path="/$path"
    if [ -L "$path" ]; then
        : # the path is a symbolic link, so is probably handled by NixOS already
    elif [ -d "$path" ]; then
        : # the path is a directory, ignore
    else
        echo "$path"
    fi
done
