#!/bin/bash
# bench/mpi.sh [BUILDDIR]: the mpi strategy (plugins/mpi) on one machine,
# against -s process, the strategy a user on one machine would pick.
#
#   1. cburn sumsq, 16 tasks: mpirun -np 3 (2 worker ranks, -j1 each) vs
#      cburn -s process -j2: tasks/s ratio (bar >= 0.9x), equal checksums
#   2. cpar, N (3000) `true` jobs: mpirun -np 3 cpar -s mpi -j1 (2 worker
#      ranks) vs cpar -s process -j2: jobs/s and their ratio
#   3. the per-unit overhead of mpi in microseconds: (mpi wall - process
#      wall) / N, the start-up of mpirun and MPI_Init subtracted (a run of
#      one job)
#
# The wall times are those of the whole command (mpirun included) and the
# medians of REPS (3) runs. A report: exits 0 whatever the numbers, 1 when
# a run failed or the checksums differ, 2 without Open MPI or the plugin.
set -u

here=$(cd "$(dirname "$0")" && pwd)
builddir=$(cd "${1:-$(dirname "$here")}" && pwd) || exit 2
export PATH=$builddir/tools/cburn:$builddir/tools/cpar:$PATH
export CTK_PLUGIN_PATH=$builddir/plugins/mpi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
command -v mpirun >/dev/null || { echo "mpi.sh: mpirun not found (openmpi-bin)" >&2; exit 2; }
[[ -f $builddir/plugins/mpi/mpi.so ]] || { echo "mpi.sh: plugins/mpi not built" >&2; exit 2; }

REPS=${REPS:-3}
SIZE=${SIZE:-300M}
N=${N:-3000}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ctk-bench.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
failed=0

now() { date +%s.%N; }
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
# wall CMD...: the command's wall time in seconds (failure noted).
wall() {
    local t0 t1
    t0=$(now)
    "$@" >"$tmp/out" 2>"$tmp/err" || { echo "mpi.sh: failed: $*" >&2; cat "$tmp/err" >&2; failed=1; }
    t1=$(now)
    echo "$t1 - $t0" | bc -l
}
mpi() { mpirun --oversubscribe -np 3 "$@"; }

echo "== cburn sumsq, 16 tasks x $SIZE: mpi (2 worker ranks, -j1) vs process -j2 =="
for r in $(seq "$REPS"); do
    wall mpi cburn -s mpi -j1 -t 16 -n "$SIZE" --format tsv >>"$tmp/burn.mpi"
    cut -f12 "$tmp/out" >>"$tmp/sum.mpi"
    cat "$tmp/out" >>"$tmp/rows.mpi"
    wall cburn -s process -j2 -t 16 -n "$SIZE" --format tsv >>"$tmp/burn.proc"
    cut -f12 "$tmp/out" >>"$tmp/sum.proc"
    cat "$tmp/out" >>"$tmp/rows.proc"
done
[[ $(sort -u "$tmp/sum.mpi" "$tmp/sum.proc" | wc -l) -eq 1 ]] || { echo "checksums differ" >&2; failed=1; }
bm=$(median <"$tmp/burn.mpi")
bp=$(median <"$tmp/burn.proc")
printf '  whole command: mpi %.2f s, process %.2f s: mpi/process %.2fx\n' \
    "$bm" "$bp" "$(echo "$bp / $bm" | bc -l)"
# cburn's own tasks/s (column 9: from the run's start, mpirun's start-up
# and MPI_Init's excluded as they are paid once per job, not per unit).
tm=$(cut -f9 "$tmp/rows.mpi" | median)
tp=$(cut -f9 "$tmp/rows.proc" | median)
printf '  cburn tasks/s: mpi %.2f, process %.2f: %.2fx (bar >= 0.9x)\n' "$tm" "$tp" \
    "$(echo "$tm / $tp" | bc -l)"

echo "== cpar, $N true jobs: mpi (2 worker ranks, -j1) vs process -j2 =="
seq "$N" >"$tmp/items"
for r in $(seq "$REPS"); do
    wall mpi cpar -s mpi -j1 true :::: "$tmp/items" >>"$tmp/par.mpi"
    wall cpar -s process -j2 true :::: "$tmp/items" >>"$tmp/par.proc"
    wall mpi cpar -s mpi -j1 true ::: 1 >>"$tmp/par.mpi1"
    wall cpar -s process -j2 true ::: 1 >>"$tmp/par.proc1"
done
pm=$(median <"$tmp/par.mpi")
pp=$(median <"$tmp/par.proc")
pm1=$(median <"$tmp/par.mpi1")
pp1=$(median <"$tmp/par.proc1")
printf '  mpi %.0f jobs/s, process %.0f jobs/s: ratio %.2fx\n' \
    "$(echo "$N / $pm" | bc -l)" "$(echo "$N / $pp" | bc -l)" "$(echo "$pp / $pm" | bc -l)"
printf '  start-up (one job): mpi %.3f s, process %.3f s\n' "$pm1" "$pp1"
printf '  per-unit overhead of mpi over process: %.0f us\n' \
    "$(echo "(($pm - $pm1) - ($pp - $pp1)) / $N * 1000000" | bc -l)"
exit $failed
