#!/bin/sh
# CI: submit scripts/slurm/array.sbatch (3 shards + a dependent merge) and
# scripts/slurm/mpi.sbatch (2 MPI tasks) to the local Slurm cluster, wait,
# and require both results to equal a single-process run byte for byte.
# usage: scripts/ci/slurm-test.sh BUILD_DIR
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
export SCHELLING_BIN="$root/${1:-build}/schelling"
export SCHELLING_ARGS="--paths 6000 --set simulation.horizon=3h --set loanbook.generate.accounts=1200"
py=/usr/bin/python3
[ -x "$py" ] || py=python3
dir=$(mktemp -d /tmp/schelling-slurm.XXXXXX)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
start=$(date +%s)
# shellcheck disable=SC2086
"$SCHELLING_BIN" run $SCHELLING_ARGS --quiet -o single.h5
N=3 OUT="$dir/array.h5" sbatch --wait --array=0-2 \
  "$root/scripts/slurm/array.sbatch" >/dev/null
OUT="$dir/mpi.h5" sbatch --wait --ntasks=2 --cpus-per-task=1 \
  "$root/scripts/slurm/mpi.sbatch" >/dev/null
i=0 # the merge job runs after the array: wait for its result
while [ ! -e array.h5 ] && [ $i -lt 300 ]; do sleep 1; i=$((i + 1)); done
cat ./*.out 2>/dev/null | grep -i error && exit 1
"$py" - single.h5 array.h5 mpi.h5 <<'PY'
import sys, h5py
a = h5py.File(sys.argv[1], "r")
names = []
for top in ("summary", "hist", "samples"):
    a[top].visititems(lambda n, o: names.append(f"{top}/{n}")
                      if isinstance(o, h5py.Dataset) else None)
for path in sys.argv[2:]:
    b = h5py.File(path, "r")
    bad = [n for n in names if b[n][()].tobytes() != a[n][()].tobytes()]
    if bad:
        sys.exit(f"{path}: {len(bad)} of {len(names)} datasets differ")
    print(f"slurm: {path.split('/')[-1]} equals the single run "
          f"({len(names)} datasets, {b.attrs['ranks']} ranks)")
PY
echo "slurm: both submissions checked in $(( $(date +%s) - start )) s"
