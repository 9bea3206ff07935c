#!/bin/sh
# Stage-1 entry installed as /usr/bin/pantheros-rollback: runs the bundled tool under whichever
# JavaScript runtime the initrd carries (Bun if present, else Node). No rollback logic lives here.
runtime=${PANTHEROS_ROLLBACK_RUNTIME:-}
if [ -z "$runtime" ]; then
  for candidate in bun node; do
    if command -v "$candidate" >/dev/null 2>&1; then
      runtime=$candidate
      break
    fi
  done
fi
if [ -z "$runtime" ]; then
  echo "pantheros-rollback: no JavaScript runtime (bun or node) in the initrd" >&2
  exit 3
fi
# The boot-only bundle: the ES module under Bun, the same as CommonJS under Node (which starts it without its ES module
# loader); PANTHEROS_ROLLBACK_BUNDLE names another.
case "${runtime##*/}" in
  bun) bundle=${PANTHEROS_ROLLBACK_BUNDLE:-/usr/lib/pantheros-rollback/pantheros-rollback-boot.mjs} ;;
  *) bundle=${PANTHEROS_ROLLBACK_BUNDLE:-/usr/lib/pantheros-rollback/pantheros-rollback-boot.cjs} ;;
esac
# Bun reads bunfig.toml (its preload runs any module), .env and tsconfig.json files from the working directory unless
# told not to: the flags of nix/bun-launch.json "run" (test/btrfs/boot-entry.test.ts runs this script).
case "${runtime##*/}" in
  bun) exec "$runtime" --config=/dev/null --no-env-file --tsconfig-override=/dev/null "$bundle" "$@" ;;
esac
exec "$runtime" "$bundle" "$@"
