#!/bin/sh
# scripts/plot.py on a small result, as a user runs it: every PNG exists, is
# non-empty and 800 x 500 pixels. A 2-point sweep when the engine runs
# sweeps, else one point. Exit 77 (skip) without Debian's numpy/h5py/
# matplotlib.
set -eu
py=/usr/bin/python3
[ -x "$py" ] || py=python3
if ! "$py" -c 'import h5py, matplotlib, numpy' 2>/dev/null; then
  echo "SKIP: $py cannot import h5py, matplotlib and numpy"
  exit 77
fi
bin="${SCHELLING_BIN:?run through meson test}"
src="${SCHELLING_SOURCE_ROOT:?run through meson test}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
run() {
  "$bin" run "$src/configs/example.yaml" --paths 400 --quiet \
    --set simulation.horizon=2h --set assets.ETH.vol=2.5 \
    -o "$dir/out.h5" "$@"
}
if ! run --sweep protocol.assets.ETH.liquidation_bonus=0.03,0.08 \
    2>"$dir/err"; then
  grep -q "not supported" "$dir/err" || { cat "$dir/err"; exit 1; }
  echo "engine runs one point only: plotting a one-point sweep"
  run --sweep protocol.assets.ETH.liquidation_bonus=0.05
fi
"$py" "$src/scripts/plot.py" "$dir/out.h5" -o "$dir/plots" \
  --metric shortfall --stat es_99
"$py" - "$dir/plots" <<'PY'
import os, struct, sys
d = sys.argv[1]
for name in ("survival", "incentive", "fan", "cascade_depth"):
    path = os.path.join(d, name + ".png")
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG"
    w, h = struct.unpack(">II", data[16:24])
    assert (w, h) == (800, 500), f"{path}: {w} x {h}, expected 800 x 500"
    assert len(data) > 5000, f"{path}: only {len(data)} bytes"
    print(f"{path}: {w} x {h}, {len(data)} bytes")
PY
