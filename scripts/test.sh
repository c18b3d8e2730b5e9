#!/bin/sh
# Build (warnings are errors) and run every test.
#   scripts/test.sh [BUILD_DIR [meson setup options...]]
# The README's test command is `scripts/test.sh`; CI runs exactly that, then
# the same with -Db_sanitize=address,undefined in another build directory.
set -eu
cd "$(dirname "$0")/.."
dir="${1:-build}"
[ $# -gt 0 ] && shift
if [ ! -f "$dir/build.ninja" ]; then
  meson setup "$dir" --werror "$@"
fi
ninja -C "$dir"
meson test -C "$dir" --print-errorlogs --num-processes 2
