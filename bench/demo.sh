#!/bin/sh
# bench/demo.sh BUILDDIR: what `make demo` runs.
#
# The course's CPU-bound comparisons, measured on this machine with cburn:
# each comparison runs once (TSV), is printed as a table, and is followed by
# one line computed from that table's numbers. Takes well under a minute on
# two cores.
set -u

here=$(cd "$(dirname "$0")" && pwd)
builddir=${1:-$(dirname "$here")}
cburn=$builddir/tools/cburn/cburn
if [ ! -x "$cburn" ]; then
    echo "demo.sh: $cburn not found; run 'make' first" >&2
    exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ctk-demo.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
status=0

# table FILE: cburn's TSV (with header) as an aligned table; columns that
# are empty in every row are left out, numbers are right-aligned.
table() {
    awk -F'\t' '
        { for (i = 1; i <= NF; i++) { cell[NR, i] = $i
              if (length($i) > w[i]) w[i] = length($i)
              if (NR > 1 && $i != "") used[i] = 1 }
          if (NF > nf) nf = NF }
        END { for (r = 1; r <= NR; r++) { line = ""
                  for (i = 1; i <= nf; i++) { if (!used[i]) continue
                      v = cell[r, i]
                      num = (r > 1 && v ~ /^-?[0-9.]+$/) || (r == 1 && cell[2, i] ~ /^-?[0-9.]+$/)
                      line = line sprintf(num ? "%*s  " : "%-*s  ", w[i], v) }
                  sub(/ +$/, "", line); print "  " line } }' "$1"
}

# get FILE STRATEGY VARIANT FIELD: one cell of cburn's TSV.
get() {
    awk -F'\t' -v s="$2" -v v="$3" -v f="$4" '
        NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        $col["strategy"] == s && $col["variant"] == v { print $col[f]; exit }' "$1"
}

# run_compare TOOL TITLE LESSON ARGS...: run TOOL ARGS once (ARGS holding
# its --compare) and print the table, then TOOL's stderr indented. Returns
# non-zero when TOOL gave no table.
run_compare() {
    tool=$1 title=$2 lesson=$3
    shift 3
    name=$(basename "$tool")
    echo "== $title"
    echo "$lesson"
    printf '$ %s %s\n' "$name" "$*"
    # Options first: cpar takes everything after ::: as arguments.
    "$tool" --format tsv --header "$@" >"$tmp/t" 2>"$tmp/err" </dev/null
    rc=$?
    if [ "$(wc -l <"$tmp/t")" -lt 2 ]; then
        echo "demo.sh: $name $* failed (exit $rc):" >&2
        cat "$tmp/err" >&2
        status=1
        return 1
    fi
    table "$tmp/t"
    [ -s "$tmp/err" ] && sed 's/^/  /' "$tmp/err"
    [ "$rc" -eq 0 ] || echo "  ($name exited $rc)"
    return 0
}

# compare TITLE LESSON ARGS...: the same for cburn.
compare() {
    run_compare "$cburn" "$@"
}

echo "ctk demo: CPU-bound work under each concurrency strategy, measured here"
echo "($(nproc 2>/dev/null || echo '?') cores; speedup = sync wall time / this row's wall time;"
echo " timings move with whatever else the machine is doing)"
echo

# ---- 1. CPU-bound: threads and processes scale, async does not -----------------

if compare "CPU-bound work: sync, thread, process, async" \
    "Processes and threads both use every core on CPU-bound work; async runs it inline on one core: ~1x." \
    --compare=sync,thread,process,async; then
    t=$tmp/t
    echo "Measured here: thread $(get "$t" thread "" speedup)x, process $(get "$t" process "" speedup)x," \
         "async $(get "$t" async "" speedup)x of sync, with $(get "$t" thread "" jobs) workers."
    awk -v a="$(get "$t" thread "" speedup)" -v b="$(get "$t" process "" speedup)" \
        -v j="$(get "$t" thread "" jobs)" 'BEGIN { m = a > b ? a : b
            if (j > 1 && m < 0.65 * j)
                printf "(Well short of %dx: something else is probably using the other cores right now.)\n", j }'
fi
echo

# ---- 2. the GIL ---------------------------------------------------------------

if compare "The same work holding a global interpreter lock (--gil)" \
    "With a GIL threads take turns on one lock: ~1x; each process has its own GIL, so processes still scale." \
    --gil --compare=sync,thread,process,async; then
    t=$tmp/t
    echo "Measured here: thread $(get "$t" thread gil speedup)x, process $(get "$t" process gil speedup)x," \
         "async $(get "$t" async gil speedup)x of sync under the GIL."
fi
echo

# ---- 3. sharing state ------------------------------------------------------------

if compare "Adding every value into one shared total (--share)" \
    "A lock or an atomic makes workers queue for one cache line (slower than no sharing); plain shared memory without one (shm) is fast but loses updates." \
    -n 2M --share=all --compare=sync,thread,process; then
    t=$tmp/t
    line=""
    for mode in none lock atomic shm; do
        v=share=$mode
        [ "$mode" = none ] && v=""
        line="$line${line:+; }$mode: thread $(get "$t" thread "$v" speedup)x, process $(get "$t" process "$v" speedup)x"
    done
    echo "Measured here, each against sync in the same mode: $line."
    base=$(get "$t" sync "" wall_s)
    cost=""
    for mode in lock atomic shm; do
        c=$(awk -v a="$(get "$t" sync share=$mode wall_s)" -v b="$base" \
                'BEGIN { if (a != "" && b > 0) printf "%.1fx", a / b; else printf "?" }')
        cost="$cost${cost:+, }$mode $c"
    done
    echo "What sharing costs sync itself (wall time against no sharing): $cost."
    lost=""
    for s in thread process; do
        total=$(get "$t" "$s" share=shm shared)
        want=$(get "$t" "$s" share=shm checksum)
        n=$(get "$t" "$s" share=shm lost)
        if [ -z "$total" ]; then
            r="not run"
        elif [ "$total" != "$want" ]; then
            r="total $total, should be $want"
        else
            r="total right this time"
        fi
        [ -n "$n" ] && [ "$n" != 0 ] && r="$r, $n of its additions lost from the count"
        lost="$lost${lost:+; }$s $r"
    done
    echo "Unsynchronized (shm): $lost."
fi
echo

# ---- 3b. lock order and deadlock -------------------------------------------------

if compare "Two locks per addition, in one order or crossed (--share=ordered,crossed)" \
    "Each addition holds two locks, like a transfer between two accounts. Taken in one order everywhere, they cannot deadlock; when half the tasks take them the other way round, two tasks each end up holding one lock and waiting for the other's. Run one at a time (sync) nothing happens." \
    -t 4 -n 1M --share=ordered,crossed --compare=sync,thread,process; then
    t=$tmp/t
    line=""
    for s in sync thread process; do
        line="$line${line:+; }$s $(get "$t" "$s" share=ordered failed)/$(get "$t" "$s" share=crossed failed)"
    done
    echo "Measured here, tasks deadlocked with the locks in one order / crossed: $line (of 4 each)."
fi
echo

# ---- 4. map mode -------------------------------------------------------------------

echo "== Map mode: one task per input line, one record per line"
echo "Each line is a task size; workers take lines as they come and -k writes the records in input order."
sizes="600M 100M 400M 200M 500M 300M"
printf '$ printf '"'%%s\\\\n'"' %s | cburn -s thread -k --header -\n' "$sizes"
t0=$(date +%s.%N)
printf '%s\n' $sizes | "$cburn" -s thread -k --header - >"$tmp/map" 2>"$tmp/err"
rc=$?
t1=$(date +%s.%N)
if [ "$(wc -l <"$tmp/map")" -lt 2 ]; then
    echo "demo.sh: cburn map mode failed (exit $rc):" >&2
    cat "$tmp/err" >&2
    status=1
else
    table "$tmp/map"
    awk -F'\t' -v t0="$t0" -v t1="$t1" '
        NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        { n++; work += $c["elapsed"]; if ($c["seq"] != n) order = 1; if ($c["error"] != "") bad++ }
        END { wall = t1 - t0
              printf("Measured here: %d records%s, %.2f s of task time in %.2f s of wall time: %.2fx%s.\n",
                     n, order ? " OUT OF ORDER" : " in input order", work, wall,
                     (wall > 0 ? work / wall : 0), (bad ? sprintf(", %d failed", bad) : "")) }' "$tmp/map"
fi

# ---- 5. I/O-bound: cfetch against a slow server ------------------------------------

echo
echo "== I/O-bound work: 40 URLs that each take 100 ms to answer, 20 at a time (cfetch)"
echo "Waiting is not computing: threads and async overlap the waits (~20x here, one core or not); processes overlap them too but pay for a process and a connection each (CPU time); sync waits 40 times in a row."
httpd=$builddir/tests/fixtures/httpd
cfetch=$builddir/tools/cfetch/cfetch
if [ ! -x "$httpd" ] || [ ! -x "$cfetch" ]; then
    echo "demo.sh: $httpd or $cfetch not built; run 'make check' or 'make demo' first" >&2
    status=1
else
    "$httpd" --port 0 --port-file "$tmp/httpd.port" </dev/null >/dev/null 2>&1 &
    httpd_pid=$!
    i=0
    while [ ! -s "$tmp/httpd.port" ] && [ $i -lt 250 ]; do sleep 0.02; i=$((i + 1)); done
    url=http://127.0.0.1:$(cat "$tmp/httpd.port" 2>/dev/null)
    echo "\$ seq 40 | sed 's|^|$url/delay/100/|' | cfetch --compare -j 20"
    seq 40 | sed "s|^|$url/delay/100/|" |
        "$cfetch" --compare -j 20 --format tsv --header-line >"$tmp/t" 2>"$tmp/err"
    rc=$?
    kill -TERM "$httpd_pid" 2>/dev/null
    wait "$httpd_pid" 2>/dev/null
    if [ "$(wc -l <"$tmp/t")" -lt 2 ]; then
        echo "demo.sh: cfetch --compare failed (exit $rc):" >&2
        cat "$tmp/err" >&2
        status=1
    else
        table "$tmp/t"
        t=$tmp/t
        echo "Measured here: thread $(get "$t" thread "" speedup)x, async $(get "$t" async "" speedup)x," \
             "process $(get "$t" process "" speedup)x of sync ($(get "$t" sync "" wall_s) s);" \
             "CPU time: async $(get "$t" async "" cpu_s) s, thread $(get "$t" thread "" cpu_s) s," \
             "process $(get "$t" process "" cpu_s) s."
    fi
fi

# ---- 6. producer/consumer: cqueue ------------------------------------------------------

echo
echo "== Producer/consumer: a durable queue between processes (cqueue)"
echo "A queue decouples producers from consumers: one producer adds jobs while consumers (worker processes) take them; more consumers drain it faster, and a consumer killed with -9 loses nothing (its job runs again)."
cqueue=$builddir/tools/cqueue/cqueue
if [ ! -x "$cqueue" ]; then
    echo "demo.sh: $cqueue not found; run 'make' first" >&2
    status=1
else
    printf 'consumers\tjobs\twall_s\tjobs_s\tspeedup\n' >"$tmp/cq"
    base=
    for w in 1 2 4; do
        export CQUEUE_DB=$tmp/cq$w.db
        echo "\$ seq 24 | sed 's/^/sleep 0.05 # /' | cqueue add - ; $w x cqueue work -j1 --drain" >>"$tmp/cq.cmds"
        t0=$(date +%s.%N)
        seq 24 | sed 's/^/sleep 0.05 # /' | "$cqueue" add - >/dev/null &
        prod=$!
        wait "$prod"
        i=0
        while [ $i -lt $w ]; do "$cqueue" work -j1 --drain & i=$((i + 1)); done
        wait
        wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
        done_n=$("$cqueue" stats --format tsv | cut -f5)
        [ -z "$base" ] && base=$wall
        printf '%s\t%s\t%s\t%s\t%s\n' "$w" "$done_n" "$wall" \
            "$(awk -v n="$done_n" -v s="$wall" 'BEGIN { printf "%.1f", n / s }')" \
            "$(awk -v a="$base" -v b="$wall" 'BEGIN { printf "%.2f", a / b }')" >>"$tmp/cq"
    done
    sed -n 1p "$tmp/cq.cmds"
    table "$tmp/cq"
    # Kill -9 one of two consumers mid-run and start another.
    export CQUEUE_DB=$tmp/cqkill.db
    seq 20 | sed 's/^/sleep 0.05 # /' | "$cqueue" add - >/dev/null
    "$cqueue" work -j1 --drain & victim=$!
    "$cqueue" work -j1 --drain & other=$!
    sleep 0.2
    kill -KILL "$victim" 2>/dev/null
    wait "$victim" 2>/dev/null
    "$cqueue" work -j1 --drain
    wait "$other"
    killed_done=$("$cqueue" stats --format tsv | cut -f5)
    again=$("$cqueue" ls --format tsv | awk -F'\t' '$5 > 1' | wc -l)
    unset CQUEUE_DB
    echo "Measured here: 2 consumers $(awk -F'\t' '$1 == 2 { print $5 }' "$tmp/cq")x, 4 consumers" \
         "$(awk -F'\t' '$1 == 4 { print $5 }' "$tmp/cq")x the rate of one;" \
         "after kill -9 of a consumer: $killed_done/20 jobs done, $again run again by another consumer."
fi

# ---- 7. cpipe: a CPU-heavy filter on blocks of a stream ----------------------------

echo
echo "== cpipe: gzip -9 on 1M blocks of a 12 MB stream, under each strategy"
echo "The filters are processes, so every concurrent strategy uses every core: thread and process"
echo "drive one filter per worker, async drives them all from one event loop; only sync runs one at a time."
cpipe=$builddir/tools/cpipe/cpipe
head -c 9437184 /dev/urandom | base64 -w 76 >"$tmp/stream"
printf '$ cpipe --compare -j%s --block 1M gzip -9 < stream\n' "$(nproc 2>/dev/null || echo 2)"
"$cpipe" --compare --format tsv --block 1M gzip -9 <"$tmp/stream" >"$tmp/cp" 2>"$tmp/err"
rc=$?
if [ "$(wc -l <"$tmp/cp")" -lt 2 ]; then
    echo "demo.sh: cpipe --compare failed (exit $rc):" >&2
    cat "$tmp/err" >&2
    status=1
else
    table "$tmp/cp"
    t=$tmp/cp
    same=$(awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        { d[$c["output_md5"]] = 1 } END { n = 0; for (k in d) n++; print (n == 1 ? "the same output" : "DIFFERENT outputs") }' "$t")
    echo "Measured here: thread $(get "$t" thread "" speedup)x, process $(get "$t" process "" speedup)x," \
         "async $(get "$t" async "" speedup)x of sync; every strategy wrote $same."
fi

# ---- 8. cpar: many short commands ------------------------------------------------

cpar=$builddir/tools/cpar/cpar
if [ -x "$cpar" ]; then
    echo
    if run_compare "$cpar" "cpar, I/O-bound jobs: 20 x sleep 0.1, -j 8" \
        "Jobs that wait overlap under every concurrent strategy: ~20 x 0.1 s for sync, ~3 x 0.1 s for the others, whatever the cores." \
        --compare -j 8 'sleep 0.1 # {}' ::: $(seq 20); then
        t=$tmp/t
        echo "Measured here: sync $(get "$t" sync "" wall_s) s; process $(get "$t" process "" wall_s) s" \
             "($(get "$t" process "" speedup)x), thread $(get "$t" thread "" wall_s) s" \
             "($(get "$t" thread "" speedup)x), async $(get "$t" async "" wall_s) s ($(get "$t" async "" speedup)x)."
    fi
    echo
    # A shell loop of about 0.1 s of CPU per job.
    if run_compare "$cpar" "cpar, CPU-bound jobs: 12 shell loops, -j 8" \
        "Jobs that compute overlap only as far as there are cores: ~$(nproc 2>/dev/null || echo N)x at best, however many run at once." \
        --compare -j 8 'i=0; while [ $i -lt 60000 ]; do i=$((i+1)); done # {}' ::: $(seq 12); then
        t=$tmp/t
        echo "Measured here: process $(get "$t" process "" speedup)x, thread $(get "$t" thread "" speedup)x," \
             "async $(get "$t" async "" speedup)x of sync on $(nproc 2>/dev/null || echo '?') cores."
    fi
fi
exit $status
