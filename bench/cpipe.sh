#!/bin/sh
# bench/cpipe.sh [--rss] [BUILDDIR]: cpipe against what a user would use
# instead, in one run, as ratios against the bars of issue 6:
#   - cpipe -a FILE -j2 wc -l vs parallel --pipepart --block 4M (>= 4x),
#     with two dd readers of the halves as the limit to approach;
#   - cat FILE | cpipe -j2 wc -l vs cat FILE | parallel --pipe -j2 (>= 3x);
#   - gzip -1 of 100 MB with -j2 vs one gzip -1 (>= 1.8x), the output
#     checked against per-block gzip members and a gunzip round trip;
#   - --rss: 10 GB through `cat` as the filter, max RSS (< 64 MB); long.
# SIZE_MB (default 500) sets the text file's size.
set -u
rss=0
if [ "${1:-}" = "--rss" ]; then
    rss=1
    shift
fi
here=$(cd "$(dirname "$0")" && pwd)
builddir=${1:-$(dirname "$here")}
cpipe=$builddir/tools/cpipe/cpipe
[ -x "$cpipe" ] || { echo "cpipe.sh: $cpipe not found; run 'make' first" >&2; exit 2; }
SIZE_MB=${SIZE_MB:-500}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ctk-bench.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
export PARALLEL_HOME="$tmp/parallel-home"
unset PARALLEL

# secs CMD: wall seconds of the shell command CMD (stdout discarded).
secs() {
    python3 - "$1" <<'PY'
import subprocess, sys, time
t = time.monotonic()
subprocess.run(["sh", "-c", sys.argv[1]], stdout=subprocess.DEVNULL, check=False)
print(f"{time.monotonic() - t:.4f}")
PY
}
# median3 CMD: the median of three timings.
median3() {
    a=$(secs "$1"); b=$(secs "$1"); c=$(secs "$1")
    printf '%s\n%s\n%s\n' "$a" "$b" "$c" | sort -n | sed -n 2p
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mbs() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / 1048576 / s }'; }
verdict() { awk -v r="$1" -v b="$2" 'BEGIN { print (r >= b ? "meets" : "BELOW") }'; }
row() { printf '  %-50s %8s s  %6s MB/s\n' "$1" "$2" "$(mbs "$bytes" "$2")"; }

# Base64 text: 77-byte lines, incompressible enough to be honest for gzip.
f=$tmp/big.txt
head -c $((SIZE_MB * 1048576 * 3 / 4)) /dev/urandom | base64 -w 76 >"$f"
bytes=$(wc -c <"$f")
cat "$f" >/dev/null # from the page cache from here on
half=$(((bytes / 2 + 1048575) / 1048576))
lines=$(wc -l <"$f")
got=$("$cpipe" -a "$f" -j2 wc -l | awk '{ s += $1 } END { print s }')
[ "$got" = "$lines" ] || { echo "cpipe.sh: cpipe counted $got lines, wc -l $lines" >&2; exit 1; }

echo "== Counting lines of a $((bytes / 1048576)) MB text file, 2 jobs (median of 3)"
limit=$(median3 "(dd if='$f' bs=1M count=$half status=none | wc -l) & (dd if='$f' bs=1M skip=$half status=none | wc -l); wait")
seek=$(median3 "'$cpipe' -a '$f' -j2 wc -l")
seek1=$(median3 "'$cpipe' -a '$f' -j2 --block 1M wc -l")
piped=$(median3 "cat '$f' | '$cpipe' -j2 wc -l")
row "two dd readers of the halves | wc -l (the limit)" "$limit"
row "cpipe -a FILE -j2 wc -l" "$seek"
row "cpipe -a FILE -j2 --block 1M wc -l" "$seek1"
row "cat FILE | cpipe -j2 wc -l" "$piped"
if command -v parallel >/dev/null 2>&1; then
    ppart=$(secs "parallel --pipepart -a '$f' --block 4M -j2 wc -l")
    ppipe=$(secs "cat '$f' | parallel --pipe -j2 wc -l")
    row "parallel --pipepart -a FILE --block 4M -j2 wc -l" "$ppart"
    row "cat FILE | parallel --pipe -j2 wc -l" "$ppipe"
    r=$(ratio "$ppart" "$seek")
    echo "cpipe -a FILE vs parallel --pipepart:     ${r}x (bar >= 4x: $(verdict "$r" 4))"
    r=$(ratio "$ppart" "$seek1")
    echo "  the same with --block 1M:               ${r}x"
    r=$(ratio "$ppipe" "$piped")
    echo "cat | cpipe vs cat | parallel --pipe:     ${r}x (bar >= 3x: $(verdict "$r" 3))"
fi
echo "cpipe -a FILE vs the dd limit:            $(ratio "$limit" "$seek")x of the limit's speed"

echo
echo "== gzip -1 of 100 MB: -j2 against one gzip (median of 3)"
g=$tmp/g.txt
head -c 104857600 "$f" >"$g"
bytes=$(wc -c <"$g")
one=$(median3 "gzip -1 < '$g'")
two=$(median3 "'$cpipe' -a '$g' -j2 --block 4M gzip -1")
row "gzip -1" "$one"
row "cpipe -a FILE -j2 --block 4M gzip -1" "$two"
"$cpipe" -a "$g" -j2 --block 4M gzip -1 -n >"$tmp/g.gz"
# The oracle: GNU parallel cutting the same file into the same blocks
# (cpipe follows --pipepart's cut points), one gzip member per block.
if command -v parallel >/dev/null 2>&1; then
    parallel --will-cite --pipepart -a "$g" -k -j2 --block 4M gzip -1 -n | cmp -s - "$tmp/g.gz" &&
        same="identical to parallel --pipepart's gzip members" || same="DIFFERS from parallel --pipepart's members"
else
    same="not compared (no GNU parallel)"
fi
gunzip <"$tmp/g.gz" | cmp -s - "$g" && back="gunzip restores the input" || back="gunzip DOES NOT restore the input"
r=$(ratio "$one" "$two")
echo "cpipe -j2 gzip -1 vs gzip -1:             ${r}x (bar >= 1.8x: $(verdict "$r" 1.8)); output $same; $back"

echo
echo "== --round-robin: a filter slow to start (sleep 0.05), 20 MB in 100k blocks, -j2 (median of 3)"
rr_in=$tmp/rr.txt
head -c $((20 * 1048576)) "$f" >"$rr_in"
slow='sleep 0.05; wc -l'
c_block=$(median3 "$cpipe -j2 --pipe -b 100k '$slow' < $rr_in")
c_rr=$(median3 "$cpipe -j2 --round-robin --pipe -b 100k '$slow' < $rr_in")
if command -v parallel >/dev/null; then
    p_rr=$(median3 "parallel -j2 --round-robin --pipe --block 100k '$slow' < $rr_in")
    printf '  %-50s %8s s\n' "parallel --pipe --round-robin" "$p_rr"
fi
printf '  %-50s %8s s\n' "cpipe (a filter per block)" "$c_block" "cpipe --round-robin" "$c_rr"
echo "cpipe --round-robin vs a filter per block:  $(ratio "$c_block" "$c_rr")x"
[ -z "${p_rr:-}" ] || echo "cpipe --round-robin vs parallel's:          $(ratio "$p_rr" "$c_rr")x"

if [ "$rss" -eq 1 ]; then
    echo
    echo "== 10 GB through cat as the filter, --block 1M: max RSS"
    line=$(head -c 3000 /dev/urandom | base64 -w 100 | head -1)
    t0=$(date +%s.%N)
    out=$(yes "$line" | head -c 10737418240 |
        /usr/bin/time -f '%M' -o "$tmp/rss" "$cpipe" -j2 --block 1M cat | wc -c)
    t1=$(date +%s.%N)
    kb=$(cat "$tmp/rss")
    echo "  $out bytes out in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s," \
        "max RSS $((kb / 1024)) MB (bar < 64 MB: $([ "$kb" -lt 65536 ] && echo meets || echo ABOVE))"
fi
