#!/bin/sh
# Every example config in configs/ validates and runs at a small path count,
# as a user would try it: exit 0, a result file that `schelling report` reads,
# and the contract's metrics in it. Mechanism examples (auctions, absorb,
# defences, runs) are exercised here end to end.
set -eu
bin="${SCHELLING_BIN:?run through meson test}"
src="${SCHELLING_SOURCE_ROOT:?run through meson test}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
n=0
for cfg in "$src"/configs/*.yaml; do
  name=$(basename "$cfg" .yaml)
  "$bin" validate "$cfg" >"$dir/$name.validate" 2>&1 ||
    { echo "FAIL: validate $name"; cat "$dir/$name.validate"; exit 1; }
  "$bin" run "$cfg" --paths 128 --threads 2 --quiet \
    -o "$dir/$name.h5" 2>"$dir/$name.err" ||
    { echo "FAIL: run $name"; cat "$dir/$name.err"; exit 1; }
  "$bin" report "$dir/$name.h5" --json >"$dir/$name.json" ||
    { echo "FAIL: report $name"; exit 1; }
  for metric in shortfall uncovered_shortfall liquidations auctions \
      withdrawn_share; do
    # several protocols prefix their metrics: "<protocol>.<metric>"
    grep -Eq "\"([A-Za-z0-9_-]+\.)?$metric\"" "$dir/$name.json" ||
      { echo "FAIL: $name: no $metric in the report"; exit 1; }
  done
  n=$((n + 1))
done
[ "$n" -ge 3 ] || { echo "FAIL: only $n example configs found"; exit 1; }
echo "ok: $n example configs validated and run"
