#!/bin/sh
# scripts/report_html.py opened as a user would, in headless Chromium: the
# page is self-contained (every image a data: URL, nothing fetched) and its
# screenshot is not blank and shows the coloured plots. Exit 77 (skip)
# without chromium or Debian's numpy/h5py/matplotlib.
set -eu
py=/usr/bin/python3
[ -x "$py" ] || py=python3
if ! "$py" -c 'import h5py, matplotlib, numpy' 2>/dev/null; then
  echo "SKIP: $py cannot import h5py, matplotlib and numpy"
  exit 77
fi
chrome=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chrome" ]; then
  echo "SKIP: no chromium (scripts/setup.sh installs it)"
  exit 77
fi
bin="${SCHELLING_BIN:?run through meson test}"
src="${SCHELLING_SOURCE_ROOT:?run through meson test}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$bin" run "$src/configs/example.yaml" --paths 400 --quiet \
  --set simulation.horizon=2h --set assets.ETH.vol=2.5 -o "$dir/out.h5"
"$py" "$src/scripts/report_html.py" "$dir/out.h5" -o "$dir/report.html" \
  --metric shortfall
n=$(grep -o "data:image/png;base64," "$dir/report.html" | wc -l)
[ "$n" -eq 4 ] || { echo "expected 4 embedded PNGs, found $n"; exit 1; }
if grep -Eq "(src|href)=['\"]?(https?:|//)" "$dir/report.html"; then
  echo "the report fetches something from the network"
  exit 1
fi
timeout 120 "$chrome" --headless --no-sandbox --disable-gpu \
  --disable-background-networking --disable-component-update --disable-sync \
  --no-first-run --user-data-dir="$dir/profile" \
  --screenshot="$dir/shot.png" --window-size=1200,2000 \
  "file://$dir/report.html" >"$dir/chromium.log" 2>&1 || {
  cat "$dir/chromium.log"
  exit 1
}
"$py" - "$dir/shot.png" <<'PY'
import sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.image as mpimg
import numpy as np
img = mpimg.imread(sys.argv[1])[:, :, :3]
assert img.shape[:2] == (2000, 1200), img.shape
ink = (img.min(axis=2) < 0.9).mean()
colour = ((img.max(axis=2) - img.min(axis=2)) > 0.25).mean()
print(f"screenshot: {ink:.1%} non-white, {colour:.2%} coloured")
assert ink > 0.02, "the screenshot is blank"
assert colour > 0.002, "no coloured plot pixels in the screenshot"
PY
