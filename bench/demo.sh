#!/bin/sh
# bench/demo.sh BUILDDIR: what `make demo` runs.
#
# The course's CPU-bound comparisons, measured on this machine with cburn:
# each comparison runs once (TSV), is printed as a table, and is followed by
# one line computed from that table's numbers. Takes well under a minute on
# two cores.
#
# The same run also writes a page, BUILDDIR/demo/index.html: each lesson's
# line, command, table and chart (--plot, with gnuplot) and the machine it
# was measured on, and, with chromium, a screenshot of it (index.png). The
# terminal output is the same with or without them.
#
# For a quick page (tests): CTK_DEMO_DIR=DIR writes it there instead;
# CTK_DEMO_ONLY="1 2" runs only those lessons (1 2 3 3b 4 5 6 7 8);
# CTK_DEMO_SIZE=S runs cburn's lessons with -n S.
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

# ---- the page ----------------------------------------------------------------------

out=${CTK_DEMO_DIR:-$builddir/demo}
only=" $(echo "${CTK_DEMO_ONLY:-}" | tr ',' ' ') "
size=${CTK_DEMO_SIZE:-}
if ! mkdir -p "$out"; then
    echo "demo.sh: cannot create $out" >&2
    exit 2
fi
rm -f "$out"/*.svg "$out/index.html" "$out/index.png"
: >"$tmp/body.html"
charts=0
have_gnuplot=0
command -v gnuplot >/dev/null 2>&1 && have_gnuplot=1

# want N: whether lesson N runs (all of them unless CTK_DEMO_ONLY says).
want() {
    [ "$only" = "  " ] && return 0
    case $only in *" $1 "*) return 0 ;; esac
    return 1
}

html_esc() {
    printf '%s\n' "$*" | sed 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g; s/"/\&quot;/g'
}

# page_begin TITLE LESSON COMMAND: a lesson's section, as the terminal shows it.
page_begin() {
    {
        printf '<section>\n<h2>%s</h2>\n' "$(html_esc "$1")"
        printf '<p class="lesson">%s</p>\n' "$(html_esc "$2")"
        printf '<pre class="cmd">%s</pre>\n' "$(html_esc "$3")"
    } >>"$tmp/body.html"
}

# page_table FILE: a TSV with its header as an HTML table, leaving out the
# columns that are empty in every row (as table() does).
page_table() {
    awk -F'\t' '
        function esc(v) { gsub(/&/, "\\&amp;", v); gsub(/</, "\\&lt;", v); gsub(/>/, "\\&gt;", v); return v }
        { for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (NR > 1 && $i != "") used[i] = 1 }
          if (NF > nf) nf = NF }
        END { print "<table>"
              for (r = 1; r <= NR; r++) { line = r == 1 ? "<tr>" : "<tr>"
                  for (i = 1; i <= nf; i++) { if (!used[i]) continue
                      v = esc(cell[r, i])
                      if (r == 1) line = line "<th>" v "</th>"
                      else line = line (v ~ /^-?[0-9.]+$/ ? "<td class=\"n\">" : "<td>") v "</td>" }
                  print line "</tr>" }
              print "</table>" }' "$1" >>"$tmp/body.html"
}

# page_chart FILE ALT: the chart --plot drew, when it did.
page_chart() {
    [ -s "$out/$1" ] || return 0
    printf '<img src="%s" alt="%s">\n' "$1" "$(html_esc "$2")" >>"$tmp/body.html"
}

# say TEXT...: a line for the terminal and for the page.
say() {
    echo "$*"
    printf '<p class="measured">%s</p>\n' "$(html_esc "$*")" >>"$tmp/body.html"
}

# page_stderr FILE, page_stderr_line TEXT: what the tool said besides.
page_stderr() {
    [ -s "$1" ] || return 0
    { echo '<pre class="stderr">'; html_esc "$(cat "$1")"; echo '</pre>'; } >>"$tmp/body.html"
}
page_stderr_line() {
    printf '<pre class="stderr">%s</pre>\n' "$(html_esc "$*")" >>"$tmp/body.html"
}

page_end() {
    echo '</section>' >>"$tmp/body.html"
}

# plot_opt: the --plot option for the next chart (nothing without gnuplot).
next_chart() {
    charts=$((charts + 1))
    chart=chart$charts.svg
    plot=
    [ "$have_gnuplot" = 1 ] && plot="--plot=$out/$chart"
}

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
    page_begin "$title" "$lesson" "$(printf '$ %s %s' "$name" "$*")"
    next_chart
    # The TSV header line's option: --header means what the tool's anchor
    # means by it (GNU parallel's column names in cpar, curl's in cfetch).
    case $name in
    cpar) header_opt=--records-header ;;
    cfetch) header_opt=--header-line ;;
    *) header_opt=--header ;;
    esac
    # Options first: cpar takes everything after ::: as arguments.
    "$tool" --format tsv "$header_opt" $plot "$@" >"$tmp/t" 2>"$tmp/err" </dev/null
    rc=$?
    if [ "$(wc -l <"$tmp/t")" -lt 2 ]; then
        echo "demo.sh: $name $* failed (exit $rc):" >&2
        cat "$tmp/err" >&2
        status=1
        page_end
        return 1
    fi
    table "$tmp/t"
    page_table "$tmp/t"
    page_chart "$chart" "$title: wall time, CPU time and speedup per strategy"
    page_stderr "$tmp/err"
    [ -s "$tmp/err" ] && sed 's/^/  /' "$tmp/err"
    [ "$rc" -eq 0 ] || echo "  ($name exited $rc)"
    [ "$rc" -eq 0 ] || page_stderr_line "($name exited $rc)"
    return 0
}

# compare TITLE LESSON ARGS...: the same for cburn.
compare() {
    if [ -n "$size" ]; then
        run_compare "$cburn" "$@" -n "$size"
    else
        run_compare "$cburn" "$@"
    fi
}

echo "ctk demo: CPU-bound work under each concurrency strategy, measured here"
echo "($(nproc 2>/dev/null || echo '?') cores; speedup = sync wall time / this row's wall time;"
echo " timings move with whatever else the machine is doing)"
echo

# ---- 1. CPU-bound: threads and processes scale, async does not -----------------

if want 1 && compare "CPU-bound work: sync, thread, process, async" \
    "Processes and threads both use every core on CPU-bound work; async runs it inline on one core: ~1x." \
    --compare=sync,thread,process,async; then
    t=$tmp/t
    say "Measured here: thread $(get "$t" thread "" speedup)x, process $(get "$t" process "" speedup)x," \
         "async $(get "$t" async "" speedup)x of sync, with $(get "$t" thread "" jobs) workers."
    short=$(awk -v a="$(get "$t" thread "" speedup)" -v b="$(get "$t" process "" speedup)" \
        -v j="$(get "$t" thread "" jobs)" 'BEGIN { m = a > b ? a : b
            if (j > 1 && m < 0.65 * j)
                printf "(Well short of %dx: something else is probably using the other cores right now.)\n", j }')
    [ -n "$short" ] && say "$short"
    page_end
fi
want 1 && echo

# ---- 2. the GIL ---------------------------------------------------------------

if want 2 && compare "The same work holding a global interpreter lock (--gil)" \
    "With a GIL threads take turns on one lock: ~1x; each process has its own GIL, so processes still scale." \
    --gil --compare=sync,thread,process,async; then
    t=$tmp/t
    say "Measured here: thread $(get "$t" thread gil speedup)x, process $(get "$t" process gil speedup)x," \
         "async $(get "$t" async gil speedup)x of sync under the GIL."
    page_end
fi
want 2 && echo

# ---- 3. sharing state ------------------------------------------------------------

if want 3 && compare "Adding every value into one shared total (--share)" \
    "A lock or an atomic makes workers queue for one cache line (slower than no sharing); plain shared memory without one (shm) is fast but loses updates." \
    -n 2M --share=all --compare=sync,thread,process; then
    t=$tmp/t
    line=""
    for mode in none lock atomic shm; do
        v=share=$mode
        [ "$mode" = none ] && v=""
        line="$line${line:+; }$mode: thread $(get "$t" thread "$v" speedup)x, process $(get "$t" process "$v" speedup)x"
    done
    say "Measured here, each against sync in the same mode: $line."
    base=$(get "$t" sync "" wall_s)
    cost=""
    for mode in lock atomic shm; do
        c=$(awk -v a="$(get "$t" sync share=$mode wall_s)" -v b="$base" \
                'BEGIN { if (a != "" && b > 0) printf "%.1fx", a / b; else printf "?" }')
        cost="$cost${cost:+, }$mode $c"
    done
    say "What sharing costs sync itself (wall time against no sharing): $cost."
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
    say "Unsynchronized (shm): $lost."
    page_end
fi
want 3 && echo

# ---- 3b. lock order and deadlock -------------------------------------------------

if want 3b && compare "Two locks per addition, in one order or crossed (--share=ordered,crossed)" \
    "Each addition holds two locks, like a transfer between two accounts. Taken in one order everywhere, they cannot deadlock; when half the tasks take them the other way round, two tasks each end up holding one lock and waiting for the other's. Run one at a time (sync) nothing happens." \
    -t 4 -n 1M --share=ordered,crossed --compare=sync,thread,process; then
    t=$tmp/t
    line=""
    for s in sync thread process; do
        line="$line${line:+; }$s $(get "$t" "$s" share=ordered failed)/$(get "$t" "$s" share=crossed failed)"
    done
    say "Measured here, tasks deadlocked with the locks in one order / crossed: $line (of 4 each)."
    page_end
fi
want 3b && echo

# ---- 4. map mode -------------------------------------------------------------------

if want 4; then
echo "== Map mode: one task per input line, one record per line"
echo "Each line is a task size; workers take lines as they come and -k writes the records in input order."
sizes="600M 100M 400M 200M 500M 300M"
printf '$ printf '"'%%s\\\\n'"' %s | cburn -s thread -k --header -\n' "$sizes"
page_begin "Map mode: one task per input line, one record per line" \
    "Each line is a task size; workers take lines as they come and -k writes the records in input order." \
    "$(printf '$ printf '"'%%s\\\\n'"' %s | cburn -s thread -k --header -' "$sizes")"
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
    page_table "$tmp/map"
    say "$(awk -F'\t' -v t0="$t0" -v t1="$t1" '
        NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        { n++; work += $c["elapsed"]; if ($c["seq"] != n) order = 1; if ($c["error"] != "") bad++ }
        END { wall = t1 - t0
              printf("Measured here: %d records%s, %.2f s of task time in %.2f s of wall time: %.2fx%s.\n",
                     n, order ? " OUT OF ORDER" : " in input order", work, wall,
                     (wall > 0 ? work / wall : 0), (bad ? sprintf(", %d failed", bad) : "")) }' "$tmp/map")"
fi
page_end
fi

# ---- 5. I/O-bound: cfetch against a slow server ------------------------------------

if want 5; then
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
    page_begin "I/O-bound work: 40 URLs that each take 100 ms to answer, 20 at a time (cfetch)" \
        "Waiting is not computing: threads and async overlap the waits (~20x here, one core or not); processes overlap them too but pay for a process and a connection each (CPU time); sync waits 40 times in a row." \
        "\$ seq 40 | sed 's|^|$url/delay/100/|' | cfetch --compare -j 20"
    next_chart
    seq 40 | sed "s|^|$url/delay/100/|" |
        "$cfetch" --compare -j 20 --format tsv --header-line $plot >"$tmp/t" 2>"$tmp/err"
    rc=$?
    kill -TERM "$httpd_pid" 2>/dev/null
    wait "$httpd_pid" 2>/dev/null
    if [ "$(wc -l <"$tmp/t")" -lt 2 ]; then
        echo "demo.sh: cfetch --compare failed (exit $rc):" >&2
        cat "$tmp/err" >&2
        status=1
    else
        table "$tmp/t"
        page_table "$tmp/t"
        page_chart "$chart" "cfetch: wall time, CPU time and speedup per strategy"
        t=$tmp/t
        say "Measured here: thread $(get "$t" thread "" speedup)x, async $(get "$t" async "" speedup)x," \
             "process $(get "$t" process "" speedup)x of sync ($(get "$t" sync "" wall_s) s);" \
             "CPU time: async $(get "$t" async "" cpu_s) s, thread $(get "$t" thread "" cpu_s) s," \
             "process $(get "$t" process "" cpu_s) s."
    fi
    page_end
fi
fi

# ---- 6. producer/consumer: cqueue ------------------------------------------------------

if want 6; then
echo
echo "== Producer/consumer: a durable queue between processes (cqueue)"
echo "A queue decouples producers from consumers: one producer adds jobs while consumers (worker processes) take them; more consumers drain it faster, and a consumer killed with -9 loses nothing (its job runs again)."
cqueue=$builddir/tools/cqueue/cqueue
if [ ! -x "$cqueue" ]; then
    echo "demo.sh: $cqueue not found; run 'make' first" >&2
    status=1
else
    # The lesson counts its own consumers: add must not start the queue's
    # daemon as well (it would be one more consumer, and outlive the demo).
    export CQUEUE_NO_AUTOSTART=1
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
    page_begin "Producer/consumer: a durable queue between processes (cqueue)" \
        "A queue decouples producers from consumers: one producer adds jobs while consumers (worker processes) take them; more consumers drain it faster, and a consumer killed with -9 loses nothing (its job runs again)." \
        "$(sed -n 1p "$tmp/cq.cmds")"
    page_table "$tmp/cq"
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
    say "Measured here: 2 consumers $(awk -F'\t' '$1 == 2 { print $5 }' "$tmp/cq")x, 4 consumers" \
         "$(awk -F'\t' '$1 == 4 { print $5 }' "$tmp/cq")x the rate of one;" \
         "after kill -9 of a consumer: $killed_done/20 jobs done, $again run again by another consumer."
    page_end
fi
fi

# ---- 7. cpipe: a CPU-heavy filter on blocks of a stream ----------------------------

if want 7; then
echo
echo "== cpipe: gzip -9 on 1M blocks of a 12 MB stream, under each strategy"
echo "The filters are processes, so every concurrent strategy uses every core: thread and process"
echo "drive one filter per worker, async drives them all from one event loop; only sync runs one at a time."
cpipe=$builddir/tools/cpipe/cpipe
head -c 9437184 /dev/urandom | base64 -w 76 >"$tmp/stream"
printf '$ cpipe --compare -j%s --block 1M gzip -9 < stream\n' "$(nproc 2>/dev/null || echo 2)"
page_begin "cpipe: gzip -9 on 1M blocks of a 12 MB stream, under each strategy" \
    "The filters are processes, so every concurrent strategy uses every core: thread and process drive one filter per worker, async drives them all from one event loop; only sync runs one at a time." \
    "$(printf '$ cpipe --compare -j%s --block 1M gzip -9 < stream' "$(nproc 2>/dev/null || echo 2)")"
next_chart
"$cpipe" --compare --format tsv $plot --block 1M gzip -9 <"$tmp/stream" >"$tmp/cp" 2>"$tmp/err"
rc=$?
if [ "$(wc -l <"$tmp/cp")" -lt 2 ]; then
    echo "demo.sh: cpipe --compare failed (exit $rc):" >&2
    cat "$tmp/err" >&2
    status=1
else
    table "$tmp/cp"
    page_table "$tmp/cp"
    page_chart "$chart" "cpipe: wall time, CPU time and speedup per strategy"
    t=$tmp/cp
    same=$(awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        { d[$c["output_md5"]] = 1 } END { n = 0; for (k in d) n++; print (n == 1 ? "the same output" : "DIFFERENT outputs") }' "$t")
    say "Measured here: thread $(get "$t" thread "" speedup)x, process $(get "$t" process "" speedup)x," \
         "async $(get "$t" async "" speedup)x of sync; every strategy wrote $same."
fi
page_end
fi

# ---- 8. cpar: many short commands ------------------------------------------------

cpar=$builddir/tools/cpar/cpar
if want 8 && [ -x "$cpar" ]; then
    echo
    if run_compare "$cpar" "cpar, I/O-bound jobs: 20 x sleep 0.1, -j 8" \
        "Jobs that wait overlap under every concurrent strategy: ~20 x 0.1 s for sync, ~3 x 0.1 s for the others, whatever the cores." \
        --compare -j 8 'sleep 0.1 # {}' ::: $(seq 20); then
        t=$tmp/t
        say "Measured here: sync $(get "$t" sync "" wall_s) s; process $(get "$t" process "" wall_s) s" \
             "($(get "$t" process "" speedup)x), thread $(get "$t" thread "" wall_s) s" \
             "($(get "$t" thread "" speedup)x), async $(get "$t" async "" wall_s) s ($(get "$t" async "" speedup)x)."
        page_end
    fi
    echo
    # A shell loop of about 0.1 s of CPU per job.
    if run_compare "$cpar" "cpar, CPU-bound jobs: 12 shell loops, -j 8" \
        "Jobs that compute overlap only as far as there are cores: ~$(nproc 2>/dev/null || echo N)x at best, however many run at once." \
        --compare -j 8 'i=0; while [ $i -lt 60000 ]; do i=$((i+1)); done # {}' ::: $(seq 12); then
        t=$tmp/t
        say "Measured here: process $(get "$t" process "" speedup)x, thread $(get "$t" thread "" speedup)x," \
             "async $(get "$t" async "" speedup)x of sync on $(nproc 2>/dev/null || echo '?') cores."
        page_end
    fi
fi

# ---- the page: the machine, the lessons, a screenshot ----------------------------------

model=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | sed -n 1p)
[ -n "$model" ] || model=$(uname -m)
version=$("$cburn" --version 2>/dev/null | sed -n 1p)
{
    cat <<'HEAD'
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ctk demo: the course's comparisons, measured here</title>
<style>
body { font-family: sans-serif; max-width: 1260px; margin: 1em auto; padding: 0 1em; color: #222; }
section { border-top: 1px solid #ccc; padding-top: .5em; margin-top: 1.5em; }
h2 { font-size: 1.15em; }
.lesson { font-style: italic; }
pre { background: #f4f4f4; padding: .4em; overflow-x: auto; }
pre.stderr { background: #fff4e0; }
table { border-collapse: collapse; font-size: .85em; margin: .5em 0; }
th, td { border: 1px solid #ccc; padding: .15em .5em; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
img { display: block; max-width: 100%; margin: .5em 0; }
.measured { font-weight: bold; }
img[data-broken] { outline: 3px solid red; }
</style>
<script>
// Whether every chart loaded, written into the page itself (#charts), so
// that a browser run headless can be asked: `chromium --dump-dom`.
var problems = [];
window.addEventListener('error', function (e) {
  var t = e.target;
  problems.push(t && t.tagName ? 'failed to load ' + (t.src || t.href) : 'script error: ' + e.message);
}, true);
window.addEventListener('load', function () {
  var imgs = document.images, bad = 0;
  for (var i = 0; i < imgs.length; i++)
    if (!imgs[i].complete || imgs[i].naturalWidth === 0) {
      imgs[i].setAttribute('data-broken', '');
      bad++;
    }
  var s = document.getElementById('charts');
  s.setAttribute('data-charts', imgs.length);
  s.setAttribute('data-broken', bad);
  s.setAttribute('data-problems', problems.length);
  s.textContent = imgs.length + ' charts, ' + bad + ' broken' +
    (problems.length ? ': ' + problems.join('; ') : '') + '.';
});
</script>
</head>
<body>
<h1>ctk demo: the course's comparisons, measured here</h1>
HEAD
    echo '<p>Each lesson below ran under every strategy on this machine; speedup = the serial row'\''s wall time / this row'\''s wall time; timings move with whatever else the machine is doing.</p>'
    echo '<table class="machine">'
    printf '<tr><th>cores</th><td>%s</td></tr>\n' "$(nproc 2>/dev/null || echo '?')"
    printf '<tr><th>CPU</th><td>%s</td></tr>\n' "$(html_esc "$model")"
    printf '<tr><th>kernel</th><td>%s</td></tr>\n' "$(html_esc "$(uname -srm)")"
    printf '<tr><th>measured</th><td>%s</td></tr>\n' "$(date '+%Y-%m-%d %H:%M:%S %Z')"
    printf '<tr><th>ctk</th><td>%s</td></tr>\n' "$(html_esc "$version")"
    echo '</table>'
    [ "$have_gnuplot" = 1 ] ||
        echo '<p>No charts: --plot needs gnuplot (apt-get install gnuplot-nox).</p>'
    cat "$tmp/body.html"
    echo '<p id="charts"></p>'
    echo '</body>'
    echo '</html>'
} >"$tmp/index.html" && mv "$tmp/index.html" "$out/index.html"
# The screenshot is for a person to look at; a browser that is not there,
# or fails, costs the page nothing.
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -n "$browser" ] && [ -s "$out/index.html" ]; then
    sections=$(grep -c '<section>' "$out/index.html")
    timeout -k 5 120 "$browser" --headless --disable-gpu --no-sandbox --hide-scrollbars \
        --user-data-dir="$tmp/browser" --screenshot="$out/index.png" \
        --window-size=1280,$((400 + 900 * sections)) "file://$(cd "$out" && pwd)/index.html" \
        </dev/null >/dev/null 2>&1 || rm -f "$out/index.png"
fi
exit $status
