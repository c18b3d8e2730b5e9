#!/bin/sh
# Checkpoint and resume, as a pre-empted batch job sees them: SIGTERM after
# the first checkpoint exits 75 with no partial result; --resume finishes
# with the uninterrupted run's /summary, /hist and /samples byte for byte and
# removes the checkpoint; a checkpoint of another seed is refused (exit 2).
# Exit 77 (skip) without Debian's h5py.
set -eu
py=/usr/bin/python3
[ -x "$py" ] || py=python3
if ! "$py" -c 'import h5py' 2>/dev/null; then
  echo "SKIP: $py cannot import h5py"
  exit 77
fi
bin="${SCHELLING_BIN:?run through meson test}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
small="--paths 200000 --set simulation.horizon=2h --set loanbook.generate.accounts=1000"

"$bin" run $small --quiet -o full.h5
"$bin" run $small --quiet -o resumed.h5 --checkpoint ck.h5 \
  --checkpoint-every 0 &
pid=$!
i=0
while [ ! -e ck.h5 ] && [ $i -lt 6000 ]; do sleep 0.01; i=$((i + 1)); done
kill -TERM $pid
set +e
wait $pid
rc=$?
set -e
[ "$rc" -eq 75 ] || { echo "interrupted run exited $rc, expected 75"; exit 1; }
[ ! -e resumed.h5 ] || { echo "an interrupted run left resumed.h5"; exit 1; }
ls -a | grep -q 'tmp' && { echo "a temporary file was left"; exit 1; }

set +e
"$bin" run $small --seed 7 --quiet -o other.h5 --checkpoint ck.h5 --resume \
  2>err.txt
rc=$?
set -e
[ "$rc" -eq 2 ] && grep -q "another configuration" err.txt ||
  { echo "foreign checkpoint: exit $rc"; cat err.txt; exit 1; }
set +e
"$bin" run $small --quiet -o pp.h5 --checkpoint x.h5 \
  --set output.per_path=true 2>err.txt
rc=$?
set -e
[ "$rc" -eq 2 ] || { echo "per_path with checkpoint: exit $rc"; exit 1; }

# A process killed while writing a checkpoint (SIGKILL after the batch
# system's grace time) leaves its temporary file: the resumed run overwrites
# it and removes it with the checkpoint.
echo stale > .ck.h5.tmp
"$bin" run $small --quiet -o resumed.h5 --checkpoint ck.h5 --resume
[ ! -e ck.h5 ] || { echo "the checkpoint outlived the result"; exit 1; }
[ ! -e .ck.h5.tmp ] || { echo "a stale temporary checkpoint was left"; exit 1; }
"$py" - full.h5 resumed.h5 <<'PY'
import sys, h5py
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
names = []
for top in ("summary", "hist", "samples"):
    a[top].visititems(lambda n, o: names.append(f"{top}/{n}")
                      if isinstance(o, h5py.Dataset) else None)
bad = [n for n in names if a[n][()].tobytes() != b[n][()].tobytes()]
if bad:
    sys.exit(f"resumed differs: {bad[:5]} ({len(bad)} of {len(names)})")
print(f"{len(names)} datasets equal after resume")
PY
