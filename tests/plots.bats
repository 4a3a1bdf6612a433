#!/usr/bin/env bats
# plots.bats: --plot FILE, the chart of a --compare table (drawn by
# gnuplot), in every tool; and the page `make demo` writes, rendered in
# headless Chromium to see that every chart on it loads.

load helpers
load httpd

TOOLS='cburn cpar cfetch cpipe cqueue'

setup() {
    T=$BATS_TEST_TMPDIR
}

teardown() {
    if [[ -n ${HTTPD_GUARD:-} ]]; then httpd_stop; fi
}

need_gnuplot() {
    command -v gnuplot >/dev/null || skip "gnuplot is not installed (apt-get install gnuplot-nox)"
}

need_chromium() {
    CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
    [[ -n $CHROMIUM ]] || skip "chromium is not installed (apt-get install chromium)"
}

# svg_texts FILE: the text of every <text> element of an SVG, one a line;
# fails unless FILE is well-formed XML whose root is <svg>.
svg_texts() {
    python3 - "$1" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
if root.tag != '{http://www.w3.org/2000/svg}svg':
    sys.exit('root is %s, not svg' % root.tag)
for t in root.iter('{http://www.w3.org/2000/svg}text'):
    print(''.join(t.itertext()).strip())
PY
}

# tsv_column FILE NAME: one column of a TSV with a header line.
tsv_column() {
    awk -F'\t' -v f="$2" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next } { print $c[f] }' "$1"
}

# check_chart TSV SVG: the chart has, per row of the table, its label once
# in each of the three panels and its wall and CPU times as the table
# prints them.
check_chart() {
    local tsv=$1 svg=$2 s n rows
    run svg_texts "$svg"
    assert_success
    svg_text=$output
    rows=$(($(wc -l <"$tsv") - 1))
    [[ $rows -ge 2 ]] || fail "only $rows rows in $tsv"
    for s in $(tsv_column "$tsv" strategy | sort -u); do
        n=$(grep -cx -- "$s" <<<"$svg_text")
        assert_equal "$s: $n" "$s: $((3 * $(tsv_column "$tsv" strategy | grep -cx -- "$s")))"
    done
    for s in $(tsv_column "$tsv" wall_s) $(tsv_column "$tsv" cpu_s); do
        grep -qx -- "$s" <<<"$svg_text" || fail "value $s of the table is not in the chart"
    done
    # A bar label per row and panel, nothing more: no stray strategy.
    n=$(grep -cxE "$(tsv_column "$tsv" strategy | sort -u | paste -sd'|')" <<<"$svg_text")
    assert_equal "$n" "$((3 * rows))"
}

# ---- the option ------------------------------------------------------------------

@test "every tool lists --plot in --help and its man page" {
    local t
    for t in $TOOLS; do
        run --separate-stderr "$t" --help
        assert_success
        assert_line --regexp '^ +--plot FILE +with --compare'
        grep -q -- '\\-\\-plot' "$CTK_SRCDIR/man/$t.1" || fail "man/$t.1 does not document --plot"
    done
}

@test "cburn --plot FILE.svg: one bar per row in each panel, with the table's numbers" {
    need_gnuplot
    run --separate-stderr cb --compare=sync,thread,process -n 64k -t 4 --format tsv --header \
        --plot "$T/c.svg"
    assert_success
    printf '%s\n' "$output" >"$T/c.tsv"
    assert_file_exists "$T/c.svg"
    check_chart "$T/c.tsv" "$T/c.svg"
    # The table itself is printed as without --plot.
    assert_equal "$(head -1 "$T/c.tsv")" "$(cb --compare=sync -n 1k -t 1 --format tsv --header | head -1)"
}

@test "cburn --plot: rows with a variant are labelled with it" {
    need_gnuplot
    run --separate-stderr cb --gil --compare=sync,thread -n 64k -t 4 --format tsv --header \
        --plot "$T/g.svg"
    assert_success
    run svg_texts "$T/g.svg"
    assert_success
    assert_equal "$(grep -cx gil <<<"$output")" 6
}

@test "cburn --plot with many rows (--share=all): still one bar per row in each panel" {
    need_gnuplot
    run --separate-stderr cb --share=all --compare=sync,thread,process -n 16k -t 4 --format tsv \
        --header --plot "$T/s.svg"
    printf '%s\n' "$output" >"$T/s.tsv"
    [[ $(wc -l <"$T/s.tsv") -gt 8 ]] || fail "too few rows: $output"
    check_chart "$T/s.tsv" "$T/s.svg"
}

@test "cburn --plot FILE.png writes a PNG and the table as usual" {
    need_gnuplot
    run --separate-stderr cb --compare=sync,thread -n 64k -t 4 --plot "$T/c.png"
    assert_success
    assert_line --regexp '^sync +1 '
    assert_line --regexp '^thread '
    assert_file_exists "$T/c.png"
    assert_equal "$(head -c 8 "$T/c.png" | od -An -tx1 | tr -d ' \n')" 89504e470d0a1a0a
}

@test "cpar, cfetch and cpipe --compare --plot chart their own tables; cqueue refuses" {
    need_gnuplot
    run --separate-stderr timeout 60 cpar --compare=sync,thread -j 2 --format tsv --records-header \
        --plot "$T/cpar.svg" true ::: 1 2 3
    assert_success
    printf '%s\n' "$output" >"$T/cpar.tsv"
    check_chart "$T/cpar.tsv" "$T/cpar.svg"

    seq 40 | head -c 100000 >"$T/in"
    run --separate-stderr timeout 60 cpipe --compare=sync,thread,async --format tsv \
        --plot "$T/cpipe.svg" --block 10k cat <"$T/in"
    assert_success
    printf '%s\n' "$output" >"$T/cpipe.tsv"
    check_chart "$T/cpipe.tsv" "$T/cpipe.svg"

    httpd_start
    run --separate-stderr timeout 60 cfetch --compare=sync,thread,process -j 2 --format tsv \
        --header-line --plot "$T/cfetch.svg" "$HTTPD_URL/bytes/100" "$HTTPD_URL/bytes/200"
    assert_success
    printf '%s\n' "$output" >"$T/cfetch.tsv"
    check_chart "$T/cfetch.tsv" "$T/cfetch.svg"

    run --separate-stderr cqueue --compare --plot "$T/q.svg" ls
    assert_failure 2
    assert_equal "${stderr_lines[0]}" 'cqueue: --plot: cqueue has no --compare table to draw'
    assert_file_not_exists "$T/q.svg"
}

@test "--plot without --compare is a usage error in every tool" {
    local t
    for t in $TOOLS; do
        case $t in
        cpar) run --separate-stderr cpar --plot "$T/x.svg" touch "$T/ran" ::: 1 ;;
        cfetch) run --separate-stderr cfetch --plot "$T/x.svg" http://127.0.0.1:9/ ;;
        cpipe) run --separate-stderr cpipe --plot "$T/x.svg" cat </dev/null ;;
        cburn) run --separate-stderr cburn --plot "$T/x.svg" -n 1k ;;
        cqueue) run --separate-stderr cqueue --plot "$T/x.svg" ls ;;
        esac
        assert_failure 2
        assert_equal "$output" ""
        [[ $stderr == "$t: --plot draws the --compare table: add --compare"* ]] ||
            fail "$t: $stderr"
        assert_file_not_exists "$T/x.svg"
    done
    assert_file_not_exists "$T/ran"
}

@test "--plot with another extension than .svg or .png is a usage error" {
    run --separate-stderr cb --compare=sync -n 1k --plot "$T/x.pdf"
    assert_equal "$status" 2
    assert_equal "${stderr_lines[0]}" "cburn: --plot $T/x.pdf: name a .svg or .png file"
    assert_equal "$output" ""
}

@test "without gnuplot on PATH: one line saying what to install, exit 2, nothing run" {
    # A PATH with every program of /usr/bin except gnuplot.
    mkdir "$T/bin"
    local f t
    for f in /usr/bin/*; do
        [[ ${f##*/} == gnuplot* ]] || ln -s "$f" "$T/bin/"
    done
    for t in cburn cpar cfetch cpipe; do
        case $t in
        cburn) args=(-n 1k) ;;
        cpar) args=(touch "$T/ran" ::: 1) ;;
        cfetch) args=(http://127.0.0.1:9/) ;;
        cpipe) args=(touch "$T/ran") ;;
        esac
        run --separate-stderr env PATH="$T/bin" "$CTK_BUILDDIR/tools/$t/$t" --compare \
            --plot "$T/x.svg" "${args[@]}" </dev/null
        assert_failure 2
        assert_equal "$stderr" "$t: --plot needs gnuplot (apt-get install gnuplot-nox)"
        assert_equal "$output" ""
    done
    assert_file_not_exists "$T/ran"
    assert_file_not_exists "$T/x.svg"
}

@test "a chart that cannot be written: the table is printed, the reason said, exit 1" {
    need_gnuplot
    run --separate-stderr cb --compare=sync,thread -n 1k -t 2 --plot "$T/no/such/dir/c.svg"
    assert_failure 1
    assert_line --regexp '^thread '
    assert_equal "$stderr" "cburn: --plot $T/no/such/dir/c.svg: No such file or directory"
}

@test "gnuplot failing: its complaint is said, the old file is left as it was, exit 1" {
    mkdir "$T/fake"
    printf '#!/bin/sh\ncat >/dev/null\necho half a picture\necho "line 3: no such terminal" >&2\nexit 1\n' \
        >"$T/fake/gnuplot"
    chmod +x "$T/fake/gnuplot"
    echo old >"$T/c.svg"
    PATH="$T/fake:$PATH" run --separate-stderr cb --compare=sync -n 1k -t 1 --plot "$T/c.svg"
    assert_failure 1
    assert_line --regexp '^sync '
    assert_equal "$stderr" "cburn: --plot $T/c.svg: gnuplot exited 1: line 3: no such terminal"
    assert_equal "$(cat "$T/c.svg")" old
    # and no half-drawn file beside it.
    assert_equal "$(ls "$T" | grep -v '^separate-stderr')" "$(printf 'c.svg\nfake')"
}

# ---- the demo page -------------------------------------------------------------------

# render PAGE: loads PAGE in headless Chromium; sets DOM (the document after
# the page's own load handler ran) and CONSOLE (what it logged).
render() {
    local page=$1
    timeout -k 5 90 "$CHROMIUM" --headless --disable-gpu --no-sandbox --user-data-dir="$T/browser" \
        --enable-logging=stderr --v=0 --virtual-time-budget=10000 --dump-dom \
        "file://$page" >"$T/dom" 2>"$T/browser.log" </dev/null ||
        fail "chromium failed: $(tail -5 "$T/browser.log")"
    DOM=$(cat "$T/dom")
    CONSOLE=$(grep ':CONSOLE' "$T/browser.log" || true)
}

# charts_status: "CHARTS BROKEN PROBLEMS" from the page's #charts element.
charts_status() {
    sed -n 's/.*<p id="charts" data-charts="\([0-9]*\)" data-broken="\([0-9]*\)" data-problems="\([0-9]*\)".*/\1 \2 \3/p' <<<"$DOM"
}

@test "the demo page: every lesson's table and chart, the machine; all charts load in Chromium" {
    need_gnuplot
    need_chromium
    local demo=$T/demo
    run --separate-stderr env CTK_DEMO_DIR="$demo" CTK_DEMO_ONLY="1 2" CTK_DEMO_SIZE=64k \
        timeout -k 5 120 sh "$CTK_SRCDIR/bench/demo.sh" "$CTK_BUILDDIR"
    assert_success
    assert_line '== CPU-bound work: sync, thread, process, async'
    local page=$demo/index.html
    assert_file_exists "$page"
    # Two lessons, each with its lesson line, a table, and its chart.
    assert_equal "$(grep -c '<section>' "$page")" 2
    assert_equal "$(grep -c '<table>' "$page")" 2
    grep -qF 'Processes and threads both use every core on CPU-bound work' "$page"
    grep -qF 'With a GIL threads take turns on one lock' "$page"
    local imgs
    imgs=$(grep -o '<img src="[^"]*"' "$page" | sed 's/.*src="//; s/"$//')
    assert_equal "$(wc -l <<<"$imgs")" 2
    local i
    for i in $imgs; do
        assert_file_exists "$demo/$i"
        svg_texts "$demo/$i" >/dev/null
    done
    # The machine it was measured on.
    grep -qF "<tr><th>cores</th><td>$(nproc)</td></tr>" "$page"
    grep -qF "$(uname -r)" "$page"
    grep -qF "<th>measured</th><td>$(date +%Y-%m-%d)" "$page"
    local model
    model=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | sed -n 1p)
    [[ -z $model ]] || grep -qF "$model" "$page"
    # The screenshot beside the page, for a person.
    assert_file_exists "$demo/index.png"
    assert_equal "$(head -c 8 "$demo/index.png" | od -An -tx1 | tr -d ' \n')" 89504e470d0a1a0a

    render "$page"
    assert_equal "$(charts_status)" "2 0 0"
    assert_equal "$CONSOLE" ""

    # The same check sees a chart that does not load, and a script error.
    rm "$demo/$(sed -n 1p <<<"$imgs")"
    sed -i 's|</body>|<script>noSuchFunction();</script></body>|' "$page"
    render "$page"
    assert_equal "$(charts_status)" "2 1 2"
    [[ $CONSOLE == *noSuchFunction* ]] || fail "no console error logged: $CONSOLE"
}
