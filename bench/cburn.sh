#!/bin/sh
# bench/cburn.sh [BUILDDIR]: measure cburn against its bars.
#
#   1. sumsq, 16 tasks: thread and process speedup over sync   (>= 1.85x each)
#   2. the same with --gil: thread ~ sync (0.85-1.15x), async ~ sync (0.9-1.1x)
#   3. cburn -s thread vs an OpenMP loop of the same kernel and total work,
#      same thread count (omp_wall / cburn_wall >= 0.95x, equal checksums)
#   4. map mode over 1,000,000 one-iteration lines, -s thread, without and
#      with -k: lines/s (>= 100k/s) and max RSS (< 30 MB)
#
# Each measurement runs REPS times (default 3) and the median is reported.
# The machine may be shared, so only ratios taken within one run are used.
# This is a report: it exits 0 whatever the bars say, and 1 only when a run
# crashed, failed or produced wrong results (checksums that differ).
#
# Environment: REPS (3), JOBS (2), SIZE (400M, iterations per sumsq task),
# GIL_SIZE (200M), MAP_LINES (1000000), CC and CFLAGS (default: those libctk
# was built with, read from BUILDDIR/Makefile).
set -u

here=$(cd "$(dirname "$0")" && pwd)
builddir=${1:-$(dirname "$here")}
builddir=$(cd "$builddir" && pwd) || exit 2
cburn=$builddir/tools/cburn/cburn
if [ ! -x "$cburn" ]; then
    echo "cburn.sh: $cburn not found; run 'make' first" >&2
    exit 2
fi

REPS=${REPS:-3}
JOBS=${JOBS:-2}
TASKS=16
SIZE=${SIZE:-400M}
GIL_SIZE=${GIL_SIZE:-200M}
MAP_LINES=${MAP_LINES:-1000000}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ctk-bench.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

broken=0        # set when something crashed or gave wrong results
summary=$tmp/summary

# ---- helpers ------------------------------------------------------------------

# field FILE STRATEGY NAME: NAME's value in STRATEGY's row of cburn's TSV.
field() {
    awk -F'\t' -v s="$2" -v f="$3" '
        NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        ($col["strategy"] == s) && (f in col) { print $col[f]; exit }' "$1"
}

# distinct_checksums FILE: how many different checksums the table holds.
distinct_checksums() {
    awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
                { seen[$col["checksum"]] = 1 }
                END { n = 0; for (k in seen) n++; print n }' "$1"
}

# ratio A B: A/B to 3 decimals, or nothing when either is missing or B is 0.
ratio() {
    awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a != "" && b != "" && b + 0 > 0) printf "%.3f", a / b }'
}

# median V...: the median of the numbers given (empty ones ignored).
median() {
    printf '%s\n' "$@" | awk 'NF' | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2];
                                  else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# max V...
maximum() {
    printf '%s\n' "$@" | awk 'NF' | sort -g | tail -n 1
}

# verdict VALUE OP BAR [BAR2]: PASS or FAIL; OP is ge, lt or in (BAR..BAR2).
verdict() {
    [ -n "$1" ] || { echo "n/a"; return; }
    awk -v v="$1" -v op="$2" -v a="$3" -v b="${4:-0}" 'BEGIN {
        ok = (op == "ge") ? (v >= a) : (op == "lt") ? (v < a) : (v >= a && v <= b)
        print ok ? "PASS" : "FAIL" }'
}

# report WHAT MEASURED BAR RESULT: one line now, one row of the summary.
report() {
    printf '%s: %s (bar %s) %s\n' "$1" "$2" "$3" "$4"
    printf '%s\t%s\t%s\t%s\n' "$1" "$3" "$2" "$4" >>"$summary"
}

# run_cburn OUT ARGS...: cburn with ARGS, TSV with header into OUT; notes a
# crash or failure (non-zero exit, no rows) and returns non-zero for it.
run_cburn() {
    out=$1
    shift
    "$cburn" "$@" --format tsv --header >"$out" 2>"$out.err"
    rc=$?
    if [ "$rc" -ne 0 ] || [ "$(wc -l <"$out")" -lt 2 ]; then
        echo "  ERROR: cburn $* exited $rc:" >&2
        sed 's/^/    /' "$out.err" >&2
        broken=1
        return 1
    fi
    return 0
}

# measure IN OUT STATS CMD...: runs CMD <IN >OUT; writes "wall_s maxrss_kb"
# to STATS (maxrss empty when nothing can measure it); returns CMD's status.
# (NO_GNU_TIME=1 tries the fallback.)
if [ -z "${NO_GNU_TIME:-}" ] && /usr/bin/time -f %M -o "$tmp/probe" true 2>/dev/null &&
   [ -s "$tmp/probe" ]; then
    rss_tool="GNU time (/usr/bin/time -f %M)"
    measure() {
        in=$1 out=$2 stats=$3
        shift 3
        t0=$(date +%s.%N)
        /usr/bin/time -f %M -o "$stats.rss" "$@" <"$in" >"$out"
        rc=$?
        t1=$(date +%s.%N)
        echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') $(tail -n 1 "$stats.rss")" >"$stats"
        return $rc
    }
elif command -v python3 >/dev/null 2>&1; then
    # Not getrusage(RUSAGE_CHILDREN): a child forked from python carries
    # python's peak RSS over exec into ru_maxrss. VmHWM, sampled until the
    # child exits, belongs to the exec'd program alone.
    rss_tool="python3, sampling /proc/PID/status VmHWM"
    measure() {
        in=$1 out=$2 stats=$3
        shift 3
        python3 -c '
import subprocess, sys, time
hwm = 0
with open(sys.argv[1], "rb") as i, open(sys.argv[2], "wb") as o:
    t = time.monotonic()
    p = subprocess.Popen(sys.argv[4:], stdin=i, stdout=o)
    while p.poll() is None:
        try:
            with open("/proc/%d/status" % p.pid) as st:
                for line in st:
                    if line.startswith("VmHWM:"):
                        hwm = max(hwm, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        time.sleep(0.005)
    wall = time.monotonic() - t
with open(sys.argv[3], "w") as s:
    s.write("%.3f %s\n" % (wall, hwm if hwm > 0 else ""))
rc = p.returncode
sys.exit(rc if rc >= 0 else 128 - rc)' "$in" "$out" "$stats" "$@"
    }
else
    rss_tool="nothing (no GNU time, no python3): max RSS not measured"
    measure() {
        in=$1 out=$2 stats=$3
        shift 3
        t0=$(date +%s.%N)
        "$@" <"$in" >"$out"
        rc=$?
        t1=$(date +%s.%N)
        echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" >"$stats"
        return $rc
    }
fi

# ---- the OpenMP reference ----------------------------------------------------------

omp_bin=$tmp/omp-sumsq
omp_skip=""
mk_cc=$(sed -n 's/^CC = //p' "$builddir/Makefile" 2>/dev/null | head -n 1)
mk_cflags=$(sed -n 's/^CFLAGS = //p' "$builddir/Makefile" 2>/dev/null | head -n 1)
omp_cc=${CC:-${mk_cc:-cc}}
# The same loop alignment libctk's kernels get (see Makefile.am).
omp_cflags="${CFLAGS:-${mk_cflags:--O2}} -falign-loops=32"
if ! command -v "${omp_cc%% *}" >/dev/null 2>&1; then
    omp_skip="no C compiler ($omp_cc)"
elif ! $omp_cc $omp_cflags -fopenmp -o "$omp_bin" "$here/omp-sumsq.c" 2>"$tmp/omp.err"; then
    omp_skip="'$omp_cc $omp_cflags -fopenmp' failed: $(head -n 1 "$tmp/omp.err")"
fi

echo "ctk bench: $cburn"
echo "  $(nproc 2>/dev/null || echo '?') cores, load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?');" \
     "$REPS runs each, medians reported; -j $JOBS"
echo "  sumsq: $TASKS tasks x $SIZE iterations (GIL runs: x $GIL_SIZE); map: $MAP_LINES lines"
if [ -z "$omp_skip" ]; then
    echo "  OpenMP reference: $omp_cc $omp_cflags -fopenmp (libctk's CC and CFLAGS)"
else
    echo "  OpenMP comparison skipped: $omp_skip"
fi
echo "  max RSS measured with $rss_tool"
echo

# ---- 1 + 3: sumsq under sync, thread, process; the OpenMP loop -------------------

echo "== sumsq, $TASKS tasks x $SIZE: sync, thread, process (and the OpenMP loop) =="
thr_l="" proc_l="" omp_l="" omp1_l="" kern_l="" scal_l="" cap_l="" omp_sums_ok=1
i=1
while [ "$i" -le "$REPS" ]; do
    t=$tmp/cpu.$i
    if run_cburn "$t" -w sumsq --tasks "$TASKS" --size "$SIZE" -j "$JOBS" \
                 --compare=sync,thread,process; then
        sync_w=$(field "$t" sync wall_s)
        thr_w=$(field "$t" thread wall_s)
        proc_w=$(field "$t" process wall_s)
        sum=$(field "$t" sync checksum)
        if [ "$(distinct_checksums "$t")" != 1 ]; then
            echo "  ERROR: checksums differ between strategies in run $i" >&2
            broken=1
        fi
        thr=$(ratio "$sync_w" "$thr_w")
        proc=$(ratio "$sync_w" "$proc_w")
        thr_l="$thr_l $thr" proc_l="$proc_l $proc"
        line="  run $i: sync ${sync_w}s  thread ${thr_w}s = ${thr}x  process ${proc_w}s = ${proc}x"
        if [ -z "$omp_skip" ]; then
            "$omp_bin" "$TASKS" "$SIZE" "$JOBS" >"$tmp/omp.$i" || broken=1
            "$omp_bin" "$TASKS" "$SIZE" 1 >"$tmp/omp1.$i" || broken=1
            omp_w=$(awk '$1 == "wall_s" { print $2 }' "$tmp/omp.$i")
            omp1_w=$(awk '$1 == "wall_s" { print $2 }' "$tmp/omp1.$i")
            omp_sum=$(awk '$1 == "checksum" { print $2 }' "$tmp/omp.$i")
            if [ "$omp_sum" != "$sum" ]; then
                echo "  ERROR: OpenMP checksum $omp_sum != cburn checksum $sum (run $i)" >&2
                omp_sums_ok=0
                broken=1
            fi
            o=$(ratio "$omp_w" "$thr_w")
            k=$(ratio "$omp1_w" "$sync_w")
            # scaling: cburn's thread speedup relative to OpenMP's own speedup
            s=$(awk -v a="$thr" -v b="$omp1_w" -v c="$omp_w" 'BEGIN { if (a != "" && c > 0 && b > 0) printf "%.3f", a / (b / c) }')
            c=$(ratio "$omp1_w" "$omp_w")
            omp_l="$omp_l $o" omp1_l="$omp1_l $omp1_w" kern_l="$kern_l $k" scal_l="$scal_l $s"
            cap_l="$cap_l $c"
            line="$line  omp(${JOBS}t) ${omp_w}s = ${o}x of thread  omp(1t) ${omp1_w}s"
        fi
        echo "$line"
    fi
    i=$((i + 1))
done
m=$(median $thr_l)
report "thread vs sync (sumsq, $TASKS tasks)" "${m:-n/a}x" ">= 1.85x" "$(verdict "$m" ge 1.85)"
m=$(median $proc_l)
report "process vs sync (sumsq, $TASKS tasks)" "${m:-n/a}x" ">= 1.85x" "$(verdict "$m" ge 1.85)"
if [ -z "$omp_skip" ]; then
    m=$(median $omp_l)
    res=$(verdict "$m" ge 0.95)
    [ "$omp_sums_ok" = 1 ] || res="FAIL (checksums differ)"
    report "cburn -s thread vs OpenMP loop (sumsq, same work, $JOBS threads; omp_wall/cburn_wall)" \
        "${m:-n/a}x" ">= 0.95x" "$res"
    k=$(median $kern_l)
    s=$(median $scal_l)
    echo "  why: one-thread kernel speed, OpenMP(1 thread) wall / cburn sync wall = ${k}x;"
    echo "       cburn's thread speedup / OpenMP's own 1->$JOBS-thread speedup = ${s}x"
    echo "       (the first is code generation, the second is what the strategy costs)"
    c=$(median $cap_l)
    echo "  machine: the OpenMP loop itself ran ${c}x faster on $JOBS threads than on 1"
    if awk -v c="$c" -v j="$JOBS" 'BEGIN { exit !(c != "" && c < 0.85 * j) }'; then
        echo "  WARNING: so this machine did not give $JOBS free cores to this run (other load);"
        echo "           the speedup bars above measure the machine, not cburn. Run again when idle."
        printf '%s\t%s\t%s\t%s\n' "  WARNING: OpenMP 1->$JOBS-thread speedup (cores actually free)" "~${JOBS}x" "${c}x" "machine busy" >>"$summary"
    else
        printf '%s\t%s\t%s\t%s\n' "  (info) OpenMP 1->$JOBS-thread speedup (cores actually free)" "-" "${c}x" "info" >>"$summary"
    fi
    printf '%s\t%s\t%s\t%s\n' "  (info) kernel: OpenMP 1 thread vs cburn sync" "-" "${k}x" "info" >>"$summary"
    printf '%s\t%s\t%s\t%s\n' "  (info) scaling: cburn thread speedup / OpenMP speedup" "-" "${s}x" "info" >>"$summary"
else
    report "cburn -s thread vs OpenMP loop" "skipped" ">= 0.95x" "SKIP ($omp_skip)"
fi
echo

# ---- 2: the same with --gil -------------------------------------------------------

echo "== sumsq --gil, $TASKS tasks x $GIL_SIZE: sync, thread, process, async =="
gthr_l="" gasync_l="" gproc_l=""
i=1
while [ "$i" -le "$REPS" ]; do
    t=$tmp/gil.$i
    if run_cburn "$t" -w sumsq --gil --tasks "$TASKS" --size "$GIL_SIZE" -j "$JOBS" \
                 --compare=sync,thread,process,async; then
        if [ "$(distinct_checksums "$t")" != 1 ]; then
            echo "  ERROR: checksums differ between strategies in GIL run $i" >&2
            broken=1
        fi
        sync_w=$(field "$t" sync wall_s)
        a=$(ratio "$sync_w" "$(field "$t" thread wall_s)")
        b=$(ratio "$sync_w" "$(field "$t" async wall_s)")
        c=$(ratio "$sync_w" "$(field "$t" process wall_s)")
        gthr_l="$gthr_l $a" gasync_l="$gasync_l $b" gproc_l="$gproc_l $c"
        echo "  run $i: sync ${sync_w}s  thread ${a}x  async ${b}x  process ${c}x (sync_wall/x_wall)"
    fi
    i=$((i + 1))
done
m=$(median $gthr_l)
report "thread vs sync under --gil (sumsq)" "${m:-n/a}x" "0.85-1.15x" "$(verdict "$m" in 0.85 1.15)"
m=$(median $gasync_l)
report "async vs sync under --gil (sumsq)" "${m:-n/a}x" "0.90-1.10x" "$(verdict "$m" in 0.90 1.10)"
m=$(median $gproc_l)
echo "  (info) process vs sync under --gil: ${m:-n/a}x (a GIL per process, so processes still scale)"
printf '%s\t%s\t%s\t%s\n' "  (info) process vs sync under --gil" "-" "${m:-n/a}x" "info" >>"$summary"
echo

# ---- 4: map mode ------------------------------------------------------------------

echo "== map mode: $MAP_LINES lines of '1' (one iteration each), -s thread -j $JOBS =="
seq "$MAP_LINES" | sed 's/.*/1/' >"$tmp/lines"
for keep in "" "-k"; do
    rate_l="" rss_l=""
    i=1
    while [ "$i" -le "$REPS" ]; do
        measure "$tmp/lines" "$tmp/map.out" "$tmp/map.stats" \
            "$cburn" -s thread -j "$JOBS" $keep - 2>"$tmp/map.err"
        rc=$?
        n=$(wc -l <"$tmp/map.out")
        errs=$(awk -F'\t' '$6 != "" || $3 == ""' "$tmp/map.out" | wc -l)
        if [ "$rc" -ne 0 ] || [ "$n" -ne "$MAP_LINES" ] || [ "$errs" -ne 0 ]; then
            echo "  ERROR: cburn -s thread $keep - exited $rc, $n records of $MAP_LINES, $errs failed" >&2
            sed 's/^/    /' "$tmp/map.err" >&2
            broken=1
        fi
        if [ -n "$keep" ] &&
           ! awk -F'\t' '$1 != NR { exit 1 }' "$tmp/map.out"; then
            echo "  ERROR: -k output is not in input order" >&2
            broken=1
        fi
        read -r wall rss <"$tmp/map.stats" || true
        rate=$(awk -v n="$n" -v w="$wall" 'BEGIN { if (w > 0) printf "%.0f", n / w }')
        rate_l="$rate_l $rate" rss_l="$rss_l ${rss:-}"
        echo "  run $i${keep:+ (-k)}: ${wall}s, ${rate} lines/s, max RSS ${rss:-?} kB"
        i=$((i + 1))
    done
    r=$(median $rate_l)
    k=$(maximum $rss_l)
    label="map mode, $MAP_LINES lines, -s thread${keep:+ -k}"
    report "$label: throughput" "${r:-n/a} lines/s" ">= 100000 lines/s" "$(verdict "$r" ge 100000)"
    if [ -n "$k" ]; then
        mb=$(awk -v k="$k" 'BEGIN { printf "%.1f", k / 1024 }')
        report "$label: max RSS (worst run)" "$mb MB" "< 30 MB" "$(verdict "$mb" lt 30)"
    else
        report "$label: max RSS" "not measured" "< 30 MB" "SKIP"
    fi
done
echo

# ---- summary ----------------------------------------------------------------------

echo "== summary (medians of $REPS runs; ratios are within-run) =="
{
    printf 'measurement\tbar\tmeasured\tresult\n'
    cat "$summary"
} | awk -F'\t' '{ printf "%-92s  %-18s  %-16s  %s\n", $1, $2, $3, $4 }'
fails=$(awk -F'\t' '$4 ~ /^FAIL/' "$summary" | wc -l)
echo
echo "$fails bar(s) missed."
if [ "$broken" -ne 0 ]; then
    echo "cburn.sh: some runs crashed or gave wrong results (see ERROR lines above)" >&2
    exit 1
fi
exit 0
