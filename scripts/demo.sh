#!/usr/bin/env bash
# A real rollback on a throwaway btrfs image: lay out the subvolumes, write a file into @root,
# boot twice, recover the previous root from the "kernel command line", show what happened.
# Needs root (loop device + mount) and btrfs-progs. Everything lives under one temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE="$PWD/dist/pantheros-rollback.mjs"
RUNTIME="${RUNTIME:-node}"
FLAGS=()
# Bun as the NixOS module launches it: no bunfig.toml, no .env from the working directory (nix/bun-launch.json).
[ "$RUNTIME" = bun ] && RUNTIME="$PWD/node_modules/@oven/bun-linux-x64/bin/bun" && FLAGS=(--config=/dev/null --no-env-file --tsconfig-override=/dev/null)
[ "$(id -u)" = 0 ] || { echo "demo: needs root (loop device and mount)"; exit 1; }
command -v mkfs.btrfs >/dev/null || { echo "demo: needs btrfs-progs (apt-get install btrfs-progs)"; exit 1; }

work=$(mktemp -d /tmp/pantheros-demo.XXXXXX)
top="$work/top"
cleanup() { umount "$top" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
tool() { "$RUNTIME" "${FLAGS[@]}" "$BUNDLE" "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1. a 1 GiB sparse image with the server layout"
truncate -s 1G "$work/disk.img"
mkfs.btrfs -q "$work/disk.img" >/dev/null
mkdir "$top" && mount -o loop,subvolid=5 "$work/disk.img" "$top"
btrfs -q subvolume create "$top/@root"
btrfs -q subvolume create "$top/@root-blank" && btrfs property set -ts "$top/@root-blank" ro true
btrfs -q subvolume create "$top/@nix"
btrfs -q subvolume create "$top/@persistent"
btrfs -q subvolume create "$top/@snapshots"
mkdir -p "$top/@btrfs_tmp/old_roots"
echo "written before boot 1" > "$top/@root/forgotten.txt"
echo "kept forever" > "$top/@persistent/notes.txt"
btrfs subvolume list "$top"
echo quiet > "$work/cmdline"

say "2. boot 1 — plan first (--dry-run changes nothing)"
tool boot --top-level "$top" --cmdline "$work/cmdline" --dry-run

say "3. boot 1 — for real"
tool boot --top-level "$top" --cmdline "$work/cmdline" --report "$work/report1.json"
echo "new @root holds: [$(ls -A "$top/@root")]   the archive holds: [$(ls -A "$top"/@btrfs_tmp/old_roots/2*)]"

say "4. boot 2 — with pantheros.rollback=previous on the kernel command line"
echo "written during boot 1" > "$top/@root/boot1.txt"
echo "quiet pantheros.rollback=previous" > "$work/cmdline"
tool boot --top-level "$top" --cmdline "$work/cmdline" --report "$work/report2.json" --json > "$work/report2.stdout"
echo "new @root holds: [$(ls -A "$top/@root")]"
echo "report: $(node -e 'const r=require(process.argv[1]);console.log(JSON.stringify({result:r.result,archived:r.archived.name,createdFrom:r.created.from,durationMs:r.durationMs}))' "$work/report2.json")"

say "5. a hostile command line is refused, and the normal boot happens"
echo "pantheros.rollback=../@persistent" > "$work/cmdline"
tool boot --top-level "$top" --cmdline "$work/cmdline" --report "$work/report3.json" || true
echo "@persistent still holds: [$(cat "$top/@persistent/notes.txt")]"

say "6. the filesystem now"
btrfs subvolume list "$top"
ls -l "$top/@btrfs_tmp/old_roots"
