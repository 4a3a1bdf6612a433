#!/bin/sh
# bench/cpar.sh [BUILDDIR]: cpar against what a user would use instead,
# in one run, as ratios: a raw posix_spawn loop (the floor), xargs -P and
# GNU parallel (measured on fewer jobs and scaled: it is ~10x slower).
set -u
here=$(cd "$(dirname "$0")" && pwd)
builddir=${1:-$(dirname "$here")}
cpar=$builddir/tools/cpar/cpar
N=${N:-3000}
PN=${PN:-300}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ctk-bench.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT

cc -O2 -o "$tmp/spawn-loop" "$here/spawn-loop.c" || exit 2

# secs CMD...: wall seconds of CMD (stdout discarded).
secs() {
    python3 - "$@" <<'PY'
import subprocess, sys, time
t = time.monotonic()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=False)
print(f"{time.monotonic() - t:.4f}")
PY
}

seq "$N" >"$tmp/items"
seq "$PN" >"$tmp/pitems"
# median3 CMD...: the median of three timings.
median3() {
    a=$(secs "$@"); b=$(secs "$@"); c=$(secs "$@")
    printf '%s\n%s\n%s\n' "$a" "$b" "$c" | sort -n | sed -n 2p
}
raw=$(median3 "$tmp/spawn-loop" "$N" 2 true)
cp=$(median3 sh -c "'$cpar' -j2 true < '$tmp/items'")
cpa=$(median3 sh -c "'$cpar' -s async -j2 true < '$tmp/items'")
cpp=$(median3 sh -c "'$cpar' -s process -j2 true < '$tmp/items'")
cpk=$(median3 sh -c "'$cpar' -j2 -k echo {} < '$tmp/items'")
xa=$(median3 sh -c "xargs -P2 -n1 true < '$tmp/items'")
if command -v parallel >/dev/null 2>&1; then
    par=$(secs sh -c "parallel -j2 true < '$tmp/pitems'")
    park=$(secs sh -c "parallel -j2 -k echo {} < '$tmp/pitems'")
else
    par="" park=""
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
echo "$N jobs of 'true', -j2 (GNU parallel timed on $PN jobs and scaled)"
printf '  %-28s %8s s  %6s jobs/s\n' "raw posix_spawn loop" "$raw" "$(rate "$N" "$raw")"
printf '  %-28s %8s s  %6s jobs/s\n' "cpar -j2 true" "$cp" "$(rate "$N" "$cp")"
printf '  %-28s %8s s  %6s jobs/s\n' "cpar -s async -j2 true" "$cpa" "$(rate "$N" "$cpa")"
printf '  %-28s %8s s  %6s jobs/s\n' "cpar -s process -j2 true" "$cpp" "$(rate "$N" "$cpp")"
printf '  %-28s %8s s  %6s jobs/s\n' "cpar -j2 -k echo {}" "$cpk" "$(rate "$N" "$cpk")"
printf '  %-28s %8s s  %6s jobs/s\n' "xargs -P2 -n1 true" "$xa" "$(rate "$N" "$xa")"
[ -n "$par" ] && printf '  %-28s %8s s  %6s jobs/s\n' "parallel -j2 true" "$par" "$(rate "$PN" "$par")"
echo
echo "cpar vs raw spawn loop:   $(ratio "$raw" "$cp")x (bar >= 0.9x)"
echo "cpar vs xargs -P2:        $(ratio "$xa" "$cp")x (bar >= 1.5x)"
if [ -n "$par" ]; then
    echo "cpar vs GNU parallel:     $(ratio "$(awk -v s="$par" -v n="$N" -v p="$PN" 'BEGIN{print s*n/p}')" "$cp")x (bar >= 8x)"
    echo "cpar -k echo vs parallel: $(ratio "$(awk -v s="$park" -v n="$N" -v p="$PN" 'BEGIN{print s*n/p}')" "$cpk")x (bar >= 5x)"
fi
echo "(the default strategy is thread; async vs it: $(ratio "$cpa" "$cp")x, process vs it: $(ratio "$cpp" "$cp")x)"

# Busy: two CPU-bound background processes first, then cpar vs xargs in
# the same conditions (bar >= 1.3x).
sh -c 'while :; do :; done' & b1=$!
sh -c 'while :; do :; done' & b2=$!
sleep 0.5
bcp=$(median3 sh -c "'$cpar' -j2 true < '$tmp/items'")
bxa=$(median3 sh -c "xargs -P2 -n1 true < '$tmp/items'")
kill "$b1" "$b2"
wait "$b1" "$b2" 2>/dev/null
echo "with two busy processes: cpar $bcp s, xargs -P2 $bxa s: $(ratio "$bxa" "$bcp")x (bar >= 1.3x)"

# Memory: a million input lines, and a job writing 2 GB (spilled to
# $TMPDIR, never held: RSS stays flat and nothing deadlocks).
if [ -x /usr/bin/time ]; then
    echo
    seq "${M:-1000000}" >"$tmp/million"
    /usr/bin/time -f %M -o "$tmp/rss" "$cpar" -k --dry-run echo {} <"$tmp/million" >/dev/null
    echo "${M:-1000000} lines, --dry-run:       max RSS $(tail -n 1 "$tmp/rss") kB (bar < 30000)"
    head -n "${ME:-100000}" "$tmp/million" >"$tmp/echo-lines"
    /usr/bin/time -f %M -o "$tmp/rss" "$cpar" -k echo {} <"$tmp/echo-lines" >/dev/null
    echo "${ME:-100000} lines, echo {} jobs:   max RSS $(tail -n 1 "$tmp/rss") kB (bar < 30000; ME=1000000 for the full million)"
    t0=$(date +%s.%N)
    /usr/bin/time -f %M -o "$tmp/rss" "$cpar" 'head -c ${BIG:-2G} /dev/zero # {}' ::: 1 | wc -c >"$tmp/bytes"
    t1=$(date +%s.%N)
    echo "a job writing ${BIG:-2G}: $(cat "$tmp/bytes") bytes through cpar in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s, max RSS $(tail -n 1 "$tmp/rss") kB (no deadlock)"
fi
