#!/bin/sh
# mpirun -np 2 schelling run gives the one-process file: /summary, /hist,
# /samples and /paths byte for byte; a failure leaves no output and no part
# files; per-rank checkpoints survive SIGTERM and resume to the same file.
# Exit 77 (skip) without MPI in the build, mpirun, or h5py.
set -eu
py=/usr/bin/python3
[ -x "$py" ] || py=python3
bin="${SCHELLING_BIN:?run through meson test}"
"$bin" --version | grep -q '(mpi)' || { echo "SKIP: built without MPI"; exit 77; }
command -v mpirun >/dev/null || { echo "SKIP: no mpirun"; exit 77; }
"$py" -c 'import h5py' 2>/dev/null || { echo "SKIP: no h5py"; exit 77; }
# Open MPI's own allocations at start-up are not ours to leak-check.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"
export OMPI_MCA_rmaps_base_oversubscribe=1
mpi="mpirun --allow-run-as-root --oversubscribe -np 2"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
small="--paths 6000 --set simulation.horizon=3h --set loanbook.generate.accounts=1200 --set output.per_path=true"
"$bin" run $small --quiet -o one.h5
$mpi "$bin" run $small --quiet --threads 1 -o two.h5
ls -a | grep -q 'rank' && { echo "part files left behind"; ls -a; exit 1; }
"$py" - one.h5 two.h5 <<'PY'
import sys, h5py
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
names = []
for top in ("summary", "hist", "samples", "paths"):
    a[top].visititems(lambda n, o: names.append(f"{top}/{n}")
                      if isinstance(o, h5py.Dataset) else None)
bad = [n for n in names if a[n][()].tobytes() != b[n][()].tobytes()]
if bad or b.attrs["ranks"] != 2:
    sys.exit(f"differ: {bad[:5]}, ranks {b.attrs['ranks']}")
print(f"{len(names)} datasets equal at 2 ranks")
PY

# Per-rank checkpoints: SIGTERM to mpirun after every rank has written its
# checkpoint F.rank<r>; a resumed mpirun run equals the one-process file
# and removes the checkpoints.
long="--paths 1500000 --set simulation.horizon=2h --set loanbook.generate.accounts=1000"
"$bin" run $long --quiet -o long-one.h5
$mpi "$bin" run $long --quiet --threads 1 -o long-two.h5 --checkpoint ck.h5 \
  --checkpoint-every 0 2>ck-err.txt &
pid=$!
i=0
while { [ ! -e ck.h5.rank0 ] || [ ! -e ck.h5.rank1 ]; } && [ $i -lt 6000 ]; do
  sleep 0.01
  i=$((i + 1))
done
kill -TERM $pid
set +e
wait $pid
rc=$?
set -e
[ "$rc" -ne 0 ] || { echo "interrupted mpirun exited 0"; exit 1; }
[ ! -e long-two.h5 ] || { echo "an interrupted mpirun left its output"; exit 1; }
[ -e ck.h5.rank0 ] && [ -e ck.h5.rank1 ] ||
  { echo "per-rank checkpoints missing"; ls -a; cat ck-err.txt; exit 1; }
# mpirun sends SIGKILL a second after SIGTERM: a rank caught writing its
# checkpoint or part leaves the temporary file, which the resumed job
# overwrites and removes.
echo stale > .ck.h5.rank1.tmp
echo stale > ..long-two.h5.rank0.h5.tmp
$mpi "$bin" run $long --quiet --threads 1 -o long-two.h5 --checkpoint ck.h5 \
  --resume
[ ! -e ck.h5.rank0 ] && [ ! -e ck.h5.rank1 ] ||
  { echo "checkpoints outlived the result"; exit 1; }
ls -a | grep -q 'rank' &&
  { echo "temporary files outlived the result"; ls -a; exit 1; }
"$py" - long-one.h5 long-two.h5 <<'PY'
import sys, h5py
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
names = []
for top in ("summary", "hist", "samples"):
    a[top].visititems(lambda n, o: names.append(f"{top}/{n}")
                      if isinstance(o, h5py.Dataset) else None)
bad = [n for n in names if a[n][()].tobytes() != b[n][()].tobytes()]
if bad:
    sys.exit(f"resumed at 2 ranks differs: {bad[:5]}")
print(f"{len(names)} datasets equal after an interrupted 2-rank run resumed")
PY

set +e
$mpi "$bin" run $small --quiet -o missing-dir/x.h5 2>err.txt
rc=$?
set -e
[ "$rc" -ne 0 ] || { echo "unwritable output accepted"; exit 1; }
ls -a | grep -q 'rank' && { echo "part files left after a failure"; ls -a; cat err.txt; exit 1; }
echo "mpi: ok"
