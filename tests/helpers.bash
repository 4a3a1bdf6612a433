# helpers.bash: what every ctk bats file shares: the assertion libraries,
# the environment `make check` sets (with defaults for running bats by
# hand), a guarded way to run a command, parsers for the record formats,
# independent computations of known results, and background-run helpers
# that never leave a process behind.

bats_require_minimum_version 1.5.0

# ---- libraries ----------------------------------------------------------------

ctk_load_lib() {
    local dir
    for dir in ${BATS_LIB_PATH//:/ } /usr/lib/bats /usr/local/lib/bats /usr/lib /usr/local/lib \
        /usr/local/lib/node_modules; do
        if [[ -f $dir/$1/load.bash ]]; then
            load "$dir/$1/load"
            return 0
        fi
    done
    echo "helpers.bash: $1 is not installed (apt-get install $1)" >&2
    return 1
}
ctk_load_lib bats-support
ctk_load_lib bats-assert
ctk_load_lib bats-file

# ---- environment --------------------------------------------------------------

# `make check` exports these; the defaults let `bats tests/x.bats` work from
# an in-tree build.
: "${CTK_SRCDIR:=$(cd "$BATS_TEST_DIRNAME/.." && pwd)}"
: "${CTK_BUILDDIR:=$CTK_SRCDIR}"
: "${CTK_PLUGIN_PATH:=$CTK_BUILDDIR/plugins/pinned/.libs}"
export CTK_SRCDIR CTK_BUILDDIR CTK_PLUGIN_PATH
for ctk_tool in cburn cpar cfetch cpipe cqueue; do
    case ":$PATH:" in
    *":$CTK_BUILDDIR/tools/$ctk_tool:"*) ;;
    *) PATH="$CTK_BUILDDIR/tools/$ctk_tool:$PATH" ;;
    esac
done
unset ctk_tool
export PATH

# Sanitizer builds run several times slower: every limit scales.
CTK_SLOW=1
[[ -n ${CTK_SANITIZED:-} ]] && CTK_SLOW=4
# The guard on any one command: a hung command fails its test.
CTK_TIMEOUT=$((60 * CTK_SLOW))

# `cqueue add` starts a daemon worker when none serves the queue: no test
# may leave one behind, so none starts unless a test asks (unset it).
export CQUEUE_NO_AUTOSTART=1

PINNED_SO="$CTK_BUILDDIR/plugins/pinned/.libs/pinned.so"

# cb ARGS...: cburn under the guard.
cb() {
    timeout -k 5 "$CTK_TIMEOUT" cburn "$@"
}

# cb_in INPUT ARGS...: cburn reading INPUT (a string) on standard input.
cb_in() {
    local input=$1
    shift
    printf '%s' "$input" | timeout -k 5 "$CTK_TIMEOUT" cburn "$@"
}

# cb_file FILE ARGS...: cburn reading FILE on standard input.
cb_file() {
    local file=$1
    shift
    timeout -k 5 "$CTK_TIMEOUT" cburn "$@" <"$file"
}

# ---- assertions on standard error ---------------------------------------------

# For `run --separate-stderr`: stderr matches an extended regex.
assert_stderr_regex() {
    if ! [[ $stderr =~ $1 ]]; then
        batslib_print_kv_single_or_multi 8 'regex' "$1" 'stderr' "$stderr" |
            batslib_decorate 'stderr does not match' | fail
    fi
}

# For `run --separate-stderr`: stderr is exactly N lines.
assert_stderr_lines() {
    if ((${#stderr_lines[@]} != $1)); then
        batslib_print_kv_single_or_multi 8 'expected' "$1 line(s)" 'stderr' "$stderr" |
            batslib_decorate 'stderr has the wrong number of lines' | fail
    fi
}

# A usage error: exit 2, nothing on stdout, `cburn: MESSAGE` then the
# "Try --help" line on stderr, MESSAGE matching the regex $1.
assert_usage_error() {
    assert_equal "$status" 2
    assert_equal "$output" ""
    assert_stderr_regex "^cburn: $1"
    assert_equal "${stderr_lines[-1]}" "Try 'cburn --help' for more information."
    assert_stderr_lines 2
}

# ---- record formats -------------------------------------------------------------

# json_fields KEY...: reads JSON lines; fails on a line that is not a JSON
# object; prints the values of KEY... tab-separated (null as empty).
json_fields() {
    python3 -c '
import json, sys
keys = sys.argv[1:]
for n, line in enumerate(sys.stdin, 1):
    rec = json.loads(line)
    if not isinstance(rec, dict):
        sys.exit("line %d is not a JSON object: %r" % (n, line))
    missing = [k for k in keys if k not in rec]
    if missing:
        sys.exit("line %d lacks %s: %r" % (n, missing, line))
    print("\t".join("" if rec[k] is None else str(rec[k]) for k in keys))
' "$@"
}

# tsv_col NAME: reads TSV with a header line; prints column NAME, fails
# when there is no such column or a row has another number of fields.
tsv_col() {
    awk -F'\t' -v name="$1" '
        NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) col = i
                  if (!col) { print "no column " name > "/dev/stderr"; exit 1 }
                  nf = NF; next }
        NF != nf { print "row " NR " has " NF " fields, header " nf > "/dev/stderr"; exit 1 }
        { print $col }'
}

# uniq_count: the number of distinct lines on stdin.
uniq_count() {
    sort -u | wc -l | tr -d ' '
}

# ---- known results, computed independently of ctk -------------------------------

# sumsq_hex N: sum of i*i for 0 <= i < N, mod 2^64, as cburn prints it.
sumsq_hex() {
    python3 -c 'import sys; n = int(sys.argv[1]); print("%016x" % (((n - 1) * n * (2 * n - 1) // 6) % 2**64))' "$1"
}

# primes_below N: how many primes are < N (a sieve).
primes_below() {
    python3 -c '
import sys
n = int(sys.argv[1])
s = bytearray([1]) * max(n, 2)
s[0] = s[1] = 0
for i in range(2, int(n ** 0.5) + 1):
    if s[i]:
        s[i * i::i] = bytearray(len(s[i * i::i]))
print(sum(s[:n]))' "$1"
}

# ---- background runs ------------------------------------------------------------

# exe_is TOOL PID: PID runs the TOOL binary (not the libtool wrapper's
# shell, nor one of its subshells).
exe_is() {
    local exe
    exe=$(readlink "/proc/$2/exe" 2>/dev/null) || return 1
    [[ ${exe##*/} == "$1" || ${exe##*/} == "lt-$1" ]]
}

# wait_tool TOOL PARENT [SECS]: prints the first child of PARENT that runs
# TOOL, waiting for one up to SECS seconds.
wait_tool() {
    local tool=$1 parent=$2 limit=$((${3:-10} * CTK_SLOW)) i p
    for ((i = 0; i < limit * 50; i++)); do
        for p in $(pgrep -P "$parent"); do
            if exe_is "$tool" "$p"; then
                echo "$p"
                return 0
            fi
        done
        sleep 0.02
    done
    return 1
}

# wait_child PARENT [SECS]: the child of PARENT that runs cburn.
wait_child() { wait_tool cburn "$@"; }

# wait_worker CBURN [SECS]: prints a process-strategy worker of CBURN: a
# cburn process below it with no children of its own (workers are forked
# by a fork server, so they are grandchildren).
wait_worker() {
    local parent=$1 limit=$((${2:-10} * CTK_SLOW)) i p
    for ((i = 0; i < limit * 50; i++)); do
        for p in $(descendants "$parent"); do
            if exe_is cburn "$p" && [[ -z $(pgrep -P "$p") ]]; then
                echo "$p"
                return 0
            fi
        done
        sleep 0.02
    done
    return 1
}

# wait_busy PID [SECS]: waits until PID has used CPU time (it is working,
# not just started), up to SECS seconds.
wait_busy() {
    local limit=$((${2:-10} * CTK_SLOW)) i stat
    for ((i = 0; i < limit * 100; i++)); do
        stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
        stat=${stat##*) }
        # Fields after the name: state is 1st, utime 12th.
        (($(cut -d' ' -f12 <<<"$stat") > 0)) && return 0
        sleep 0.01
    done
    return 1
}

# descendants PID: every process below PID.
descendants() {
    local p
    for p in $(pgrep -P "$1"); do
        echo "$p"
        descendants "$p"
    done
}

# bg_tool TOOL ARGS...: starts TOOL in the background under the guard
# (stdin from /dev/null), its output in $BG_OUT and $BG_ERR. Sets BG (the
# guard's pid) and BG_TOOL (the tool's own pid, once it runs the binary).
bg_tool() {
    local tool=$1
    shift
    BG_OUT="$BATS_TEST_TMPDIR/bg.out"
    BG_ERR="$BATS_TEST_TMPDIR/bg.err"
    timeout -k 5 "$CTK_TIMEOUT" "$tool" "$@" >"$BG_OUT" 2>"$BG_ERR" </dev/null 3>&- &
    BG=$!
    BG_TOOL=$(wait_tool "$tool" "$BG") || fail "$tool did not start"
}

# bg_cburn ARGS...: bg_tool for cburn; CBURN is its pid.
bg_cburn() {
    bg_tool cburn "$@"
    CBURN=$BG_TOOL
}

# bg_wait: waits for the background run; its exit status in BG_STATUS.
bg_wait() {
    BG_STATUS=0
    wait "$BG" || BG_STATUS=$?
    BG=
}

# now: seconds since the epoch, with microseconds.
now() {
    echo "$EPOCHREALTIME"
}

# elapsed_below START LIMIT: fails unless less than LIMIT seconds (scaled
# for sanitizer builds) have passed since START.
elapsed_below() {
    local took
    took=$(awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
    awk -v t="$took" -v l="$(($2 * CTK_SLOW))" 'BEGIN { exit !(t < l) }' ||
        fail "took ${took}s, limit $(($2 * CTK_SLOW))s"
}

# assert_gone PID...: none of PID... exists any more (not even a zombie).
assert_gone() {
    local p left=()
    for p in "$@"; do
        if kill -0 "$p" 2>/dev/null; then
            left+=("$p: $(ps -o stat=,args= -p "$p" 2>/dev/null)")
        fi
    done
    ((${#left[@]} == 0)) || fail "still there: ${left[*]}"
}

# Kills whatever a failed test left running, by pid, so that no process
# outlives its test.
ctk_cleanup() {
    if [[ -n ${BG:-} ]]; then
        local pids
        pids=$(descendants "$BG")
        # shellcheck disable=SC2086
        kill -KILL $pids "$BG" 2>/dev/null || true
        wait "$BG" 2>/dev/null || true
        BG=
    fi
}

teardown() {
    ctk_cleanup
}

# ---- cpar -----------------------------------------------------------------------

# cp_run ARGS...: cpar under the guard, standard input from /dev/null.
cp_run() {
    timeout -k 5 "$CTK_TIMEOUT" cpar "$@" </dev/null
}

# cp_in INPUT ARGS...: cpar reading INPUT (printf %s of a string) on stdin.
cp_in() {
    local input=$1
    shift
    printf '%s' "$input" | timeout -k 5 "$CTK_TIMEOUT" cpar "$@"
}

# A cpar usage error: exit 2, nothing on stdout, `cpar: MESSAGE` then the
# "Try --help" line on stderr, MESSAGE matching the regex $1.
assert_cpar_usage_error() {
    assert_equal "$status" 2
    assert_equal "$output" ""
    assert_stderr_regex "^cpar: $1"
    assert_equal "${stderr_lines[-1]}" "Try 'cpar --help' for more information."
    assert_stderr_lines 2
}

# bg_cpar ARGS...: bg_tool for cpar; CPAR is its pid.
bg_cpar() {
    bg_tool cpar "$@"
    CPAR=$BG_TOOL
}

# wait_pgrep PATTERN N [SECS]: waits until at least N processes match
# `pgrep -f PATTERN`, up to SECS seconds (default 10).
wait_pgrep() {
    local limit=$((${3:-10} * CTK_SLOW)) i
    for ((i = 0; i < limit * 50; i++)); do
        (($(pgrep -f -- "$1" | wc -l) >= $2)) && return 0
        sleep 0.02
    done
    return 1
}

# ---- man pages --------------------------------------------------------------------

# assert_man_has_options TOOL MIN: every long option of `TOOL --help` (at
# least MIN of them) appears in man/TOOL.1.
assert_man_has_options() {
    local tool=$1 min=$2 man="$CTK_SRCDIR/man/$1.1"
    assert_file_exists "$man"
    run --separate-stderr timeout -k 5 "$CTK_TIMEOUT" "$tool" --help
    assert_success
    local text missing=() o n=0
    text=$(sed -e 's/\\f\[[^]]*\]//g' -e 's/\\f([A-Z][A-Z]//g' -e 's/\\f[A-Z1-4P]//g' \
        -e 's/\\//g' "$man")
    for o in $(grep -oE '^ +(-[a-zA-Z0-9], )?--[a-z][a-z-]*' <<<"$output" | sed 's/.*--//'); do
        n=$((n + 1))
        grep -qE -- "--$o([^a-z-]|$)" <<<"$text" || missing+=("--$o")
    done
    ((n >= min)) || fail "only $n options in --help"
    ((${#missing[@]} == 0)) || fail "not in man/$tool.1: ${missing[*]}"
}

# assert_man_renders TOOL SECTION...: man/TOOL.1 renders without groff
# warnings and has every SECTION.
assert_man_renders() {
    local man="$CTK_SRCDIR/man/$1.1" s
    shift
    command -v groff >/dev/null || skip "groff is not installed"
    run groff -man -Tutf8 -ww -z "$man"
    assert_success
    assert_output ""
    for s in "$@"; do
        grep -qE "^\.SH \"?$s\"?$" "$man" || fail "no section $s"
    done
}

# fixture_plugin NAME: builds tests/fixtures/NAME.c as an outside author
# would (one cc line against the uninstalled ctk.pc) once per test file and
# prints the path of the .so.
fixture_plugin() {
    local so="$BATS_FILE_TMPDIR/$1.so"
    if [[ ! -f $so ]]; then
        # shellcheck disable=SC2046
        cc -shared -fPIC -o "$so" "$CTK_SRCDIR/tests/fixtures/$1.c" \
            $(PKG_CONFIG_PATH="$CTK_BUILDDIR" pkg-config --cflags --libs ctk) >&2 || return 1
    fi
    echo "$so"
}

# ---- GNU parallel as the oracle ---------------------------------------------------

# parallel_env: what setup() runs where GNU parallel is compared: parallel
# keeps its state under $PARALLEL_HOME; options in $PARALLEL would change
# what it does; it runs commands under $SHELL, cpar under /bin/sh: the same
# shell for both.
parallel_env() {
    export PARALLEL_HOME="$BATS_TEST_TMPDIR/parallel-home"
    unset PARALLEL
    export SHELL=/bin/sh
}

need_parallel() {
    command -v parallel >/dev/null || skip "GNU parallel is not installed"
    parallel --version 2>/dev/null | grep -q '^GNU parallel' || skip "parallel is not GNU parallel"
}

# same_as_parallel ARGS...: runs `parallel --will-cite ARGS` and `cpar
# ARGS`, each in its own directory ($BATS_TEST_TMPDIR/parallel.d and
# cpar.d, kept for the whole test so that joblogs and counter files carry
# over between calls) with the same standard input ($PAR_IN, a file;
# /dev/null by default), and fails unless their standard outputs (byte
# for byte) and exit statuses are the same. PAR_SORT=1 sorts both outputs
# first (for runs whose order parallel does not fix); PAR_ERR=1 compares
# standard error too, without the "parallel: "/"cpar: " messages of the
# tools themselves; PAR_ERRSHAPE=1 requires both to say something on
# standard error or both nothing; PAR_STATUS_ONLY=1 compares the exit
# statuses only.
same_as_parallel() {
    need_parallel
    local in=${PAR_IN:-/dev/null} d=$BATS_TEST_TMPDIR p
    for p in parallel cpar; do
        mkdir -p "$d/$p.d"
        local s=0 cmd=("$p")
        [[ $p == parallel ]] && cmd+=(--will-cite)
        (cd "$d/$p.d" && exec timeout -k 5 "$CTK_TIMEOUT" "${cmd[@]}" "$@") \
            <"$in" >"$d/$p.out" 2>"$d/$p.err" || s=$?
        echo "$s" >"$d/$p.status"
        ((s != 124 && s != 137)) || fail "$p $* timed out"
        [[ -z ${PAR_SORT:-} ]] || LC_ALL=C sort -o "$d/$p.out" "$d/$p.out"
        grep -avE '^(parallel|cpar): ' "$d/$p.err" >"$d/$p.err.jobs" || true
    done
    local why=()
    [[ $(<"$d/parallel.status") == "$(<"$d/cpar.status")" ]] ||
        why+=("exit status: parallel $(<"$d/parallel.status"), cpar $(<"$d/cpar.status")")
    if [[ -z ${PAR_STATUS_ONLY:-} ]]; then
        cmp -s "$d/parallel.out" "$d/cpar.out" ||
            why+=("stdout differs (parallel <, cpar >):"
                "$(diff <(od -c "$d/parallel.out") <(od -c "$d/cpar.out") | head -20)")
        if [[ -n ${PAR_ERR:-} ]]; then
            cmp -s "$d/parallel.err.jobs" "$d/cpar.err.jobs" ||
                why+=("stderr differs:" "$(diff "$d/parallel.err.jobs" "$d/cpar.err.jobs" | head -20)")
        fi
    fi
    if [[ -n ${PAR_ERRSHAPE:-} ]]; then
        { [[ -s $d/parallel.err && -s $d/cpar.err ]] || [[ ! -s $d/parallel.err && ! -s $d/cpar.err ]]; } ||
            why+=("only one of them wrote to stderr")
    fi
    if ((${#why[@]} > 0)); then
        printf '%s\n' "invocation: $(printf '%q ' "$@")" "${why[@]}" \
            "parallel stderr: $(head -c 600 "$d/parallel.err")" "cpar stderr: $(head -c 600 "$d/cpar.err")" |
            fail
    fi
}

# ---- kill -9 and signals leave nothing behind (issue 13) -----------------------------

# kill_marked MARK: kills, by pid, the processes whose command line holds
# MARK (a word the test made up), so that no job outlives its test.
kill_marked() {
    local p
    for p in $(pgrep -f -- "$1"); do
        kill -KILL "$p" 2>/dev/null || true
    done
}

# alive PID: the process exists and is not a zombie.
alive() {
    [[ -r /proc/$1/stat ]] && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]
}

# bg_fed FEED CMD...: starts CMD in the background with its output
# thrown away and its standard input the output of the shell command
# FEED ("-": /dev/null); $! is CMD's pid.
bg_fed() {
    local feed=$1
    shift
    if [[ $feed == - ]]; then
        "$@" </dev/null >/dev/null 2>&1 &
    else
        "$@" < <(eval "$feed") >/dev/null 2>&1 &
    fi
}

# assert_kill9_ends_grandchildren WHAT FEED TOOL ARG...: under every
# strategy, twice, starts TOOL -s STRATEGY ARG... (bg_fed FEED), each @MARK@
# in ARG made a number no other process uses, for the jobs to `sleep`;
# once a sleep runs, kill -9 of TOOL must end every sleep within 2 s.
assert_kill9_ends_grandchildren() {
    local what=$1 feed=$2 tool=$3 s n mark pid i left
    shift 3
    for s in process sync thread async; do
        for n in 1 2; do
            # A unique argument: other tests and other users run sleeps too.
            mark="30.0$$$RANDOM$n"
            bg_fed "$feed" "$tool" -s "$s" "${@//@MARK@/$mark}"
            pid=$!
            wait_pgrep "^sleep $mark" 1 || fail "$s: no $what started"
            kill -KILL "$pid"
            wait "$pid" 2>/dev/null || true
            for i in $(seq 40); do
                left=$(pgrep -f -- "^sleep $mark" || true)
                [[ -z $left ]] && break
                sleep 0.05
            done
            if [[ -n $left ]]; then
                kill_marked "sleep $mark"
                fail "$s: still running 2 s after kill -9: $left"
            fi
        done
    done
}

# assert_signals_leave_tmp_empty TMP WANT SETTLE FEED TOOL ARG...: under
# every strategy, for SIGKILL, SIGTERM and SIGINT, three times: starts
# TMPDIR=TMP TOOL -s STRATEGY ARG... (bg_fed FEED), each @MARK@ in ARG made
# a number for one job to `sleep` on while the others' outputs wait past
# memory; once WANT jobs have touched $BATS_TEST_TMPDIR/done.*, waits
# SETTLE seconds, sends the signal, and fails unless TMP is left empty.
assert_signals_leave_tmp_empty() {
    local tmp=$1 want=$2 settle=$3 feed=$4 tool=$5 d=$BATS_TEST_TMPDIR s sig n mark pid i
    shift 5
    mark="30.0$$$RANDOM"
    for s in process sync thread async; do
        for sig in KILL TERM INT; do
            for n in 1 2 3; do
                rm -f "$d"/done.*
                TMPDIR=$tmp bg_fed "$feed" "$tool" -s "$s" "${@//@MARK@/$mark}"
                pid=$!
                for i in $(seq 200); do
                    (($(compgen -G "$d/done.*" | wc -l) >= want)) && break
                    sleep 0.05
                done
                (($(compgen -G "$d/done.*" | wc -l) >= want)) || fail "$s: the jobs did not run"
                sleep "$settle"
                kill -"$sig" "$pid"
                wait "$pid" 2>/dev/null || true
                kill_marked "sleep $mark"
                [[ -z $(ls -A "$tmp") ]] || fail "$s, SIG$sig, run $n: left $(ls -A "$tmp")"
            done
        done
    done
}

# is_git_checkout: whether the sources are the top of a git work tree:
# the packaging tests copy git's file list, and a copy made by make
# distdir inside another checkout (CI's sanitized builds) lists nothing.
# (A test file's setup_file calls skip itself: bats takes a skip there
# only from setup_file's own body.)
is_git_checkout() {
    local top
    command -v git >/dev/null &&
        top=$(git -C "$CTK_SRCDIR" rev-parse --show-toplevel 2>/dev/null) &&
        [[ $top -ef $CTK_SRCDIR ]]
}
