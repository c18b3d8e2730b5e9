#!/bin/sh
# Shards and exact merge, as a cluster user runs them: three shards of a run
# merged in any order give the single run's /summary, /diff, /hist, /paths
# and /samples byte for byte (a plain run with per-path output, and a
# 2-point sweep); a missing, doubled or foreign shard is refused with exit 2
# and no output file. Exit 77 (skip) without Debian's h5py/numpy.
set -eu
py=/usr/bin/python3
[ -x "$py" ] || py=python3
if ! "$py" -c 'import h5py, numpy' 2>/dev/null; then
  echo "SKIP: $py cannot import h5py and numpy"
  exit 77
fi
bin="${SCHELLING_BIN:?run through meson test}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
small="--paths 3000 --set simulation.horizon=4h --set loanbook.generate.accounts=1500"

same() { # every dataset under the groups, byte for byte
  "$py" - "$1" "$2" <<'PY'
import sys, h5py
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
names = []
for top in ("summary", "diff", "hist", "paths", "samples", "sweep", "frontier"):
    if top in a and isinstance(a[top], h5py.Dataset):
        names.append(top)
    elif top in a:
        a[top].visititems(lambda n, o: names.append(f"{top}/{n}")
                          if isinstance(o, h5py.Dataset) else None)
assert names, "nothing to compare"
bad = [n for n in names if n not in b or a[n][()].tobytes() != b[n][()].tobytes()]
if bad:
    sys.exit(f"differ: {bad[:5]} ({len(bad)} of {len(names)})")
print(f"{len(names)} datasets equal")
PY
}

# a plain run with per-path output
"$bin" run $small --set output.per_path=true --quiet -o single.h5
for i in 0 1 2; do
  "$bin" run $small --set output.per_path=true --quiet --shard $i/3 \
    -o part$i.h5
done
"$bin" merge part2.h5 part0.h5 part1.h5 -o merged.h5
same single.h5 merged.h5

# a 2-point sweep: paired differences and their batch intervals too
sweep="--sweep protocol.assets.ETH.liquidation_bonus=0.04,0.08"
"$bin" run $small $sweep --quiet -o sweep.h5
for i in 0 1 2; do
  "$bin" run $small $sweep --quiet --shard $i/3 -o s$i.h5
done
"$bin" merge s0.h5 s1.h5 s2.h5 -o sweep-merged.h5
same sweep.h5 sweep-merged.h5

refuse() { # expect exit 2, a one-line message with $1, and no output
  set +e
  "$bin" merge "$@" -o refused.h5 2>err.txt
  rc=$?
  set -e
  [ "$rc" -eq 2 ] || { echo "exit $rc for: $*"; cat err.txt; exit 1; }
  [ "$(wc -l < err.txt)" -eq 1 ] || { cat err.txt; exit 1; }
  [ ! -e refused.h5 ] || { echo "refused merge left refused.h5"; exit 1; }
}
refuse part0.h5 part1.h5
grep -q "missing" err.txt
refuse part0.h5 part1.h5 part1.h5 part2.h5
grep -q "twice" err.txt
"$bin" run $small --seed 43 --quiet --shard 1/3 -o foreign.h5
refuse part0.h5 foreign.h5 part2.h5
grep -q "another seed" err.txt
refuse part0.h5 s1.h5 part2.h5
grep -q "another configuration" err.txt
refuse single.h5 part1.h5
grep -q "not a schelling shard" err.txt
echo "shards: ok"
