#!/usr/bin/env bats
# cburn.bats: black-box tests of the cburn command: its informational
# options, the table/tsv/json rows under every strategy, map mode, usage
# errors, a worker dying mid-task, and SIGINT/SIGTERM.

load helpers

TABLE_HEADER='strategy  jobs  wall_s  cpu_s  speedup  efficiency  max_rss_kb  tasks_per_s'
TSV_FIELDS='strategy variant jobs wall_s cpu_s speedup efficiency max_rss_kb tasks_per_s ops_per_s failed checksum lost shared'
LONG_OPTIONS='workload tasks size duration gil switch-interval share list-workloads jobs strategy
    list-strategies compare format header keep-order progress plugin help version'

# ---- informational options -----------------------------------------------------

@test "--help lists the synopsis and every option, long and short" {
    run --separate-stderr cb --help
    assert_success
    assert_equal "$stderr" ""
    assert_line --index 0 --regexp '^Usage: cburn '
    assert_line --regexp '^   or: cburn .*--compare'
    assert_line --regexp '^   or: cburn .* -$'
    local o
    for o in $LONG_OPTIONS; do
        assert_line --regexp "^ +(-[a-zA-Z], )?--$o([ =[]|$)"
    done
    for o in w:workload t:tasks n:size d:duration j:jobs s:strategy k:keep-order h:help V:version; do
        assert_line --regexp "^  -${o%%:*}, --${o#*:}\\b"
    done
    assert_output --partial 'cburn(1)'
}

@test "every long option in --help is one the parser accepts" {
    run --separate-stderr cb --help
    assert_success
    local specs spec o n=0
    specs=$(sed -nE 's/^ +(-[a-zA-Z], )?--([a-z][a-z-]*)( [A-Z]+)?.*/\2\3/p' <<<"$output")
    while read -r spec; do
        o=${spec%% *}
        n=$((n + 1))
        if [[ $spec == *" "* ]]; then
            run --separate-stderr cb -t 1 -n 1 "--$o" 1
        else
            run --separate-stderr cb -t 1 -n 1 "--$o"
        fi
        [[ $stderr != *"unknown option"* ]] || fail "--help lists --$o, the parser rejects it: $stderr"
        ((status < 128)) || fail "--$o crashed (status $status)"
    done <<<"$specs"
    ((n >= 19)) || fail "only $n options in --help"
}

@test "a value given to a flag is an error that names the flag" {
    local o
    for o in gil header keep-order; do
        run --separate-stderr cb -t 1 -n 1 "--$o=1"
        assert_usage_error ".*--$o"
        ! LC_ALL=C grep -q '[[:cntrl:]]' <<<"$stderr" || fail "control bytes in: $(od -c <<<"$stderr")"
    done
}

@test "every long option in --help appears in man/cburn.1" {
    assert_man_has_options cburn 15
}

@test "--version starts with 'cburn (ctk) VERSION', the configured version" {
    run --separate-stderr cb --version
    assert_success
    assert_regex "${lines[0]}" '^cburn \(ctk\) [0-9]+\.[0-9]+(\.[0-9]+)?$'
    local want
    want=$(sed -n 's/^AC_INIT(\[ctk\], *\[\([^]]*\)\].*/\1/p' "$CTK_SRCDIR/configure.ac")
    [[ -n $want ]] || skip "no version in configure.ac"
    assert_equal "${lines[0]}" "cburn (ctk) $want"
}

@test "--list-strategies lists the built-ins and the pinned plugin, each with a summary" {
    run --separate-stderr cb --list-strategies
    assert_success
    assert_equal "$stderr" ""
    local s
    for s in sync thread process async pinned; do
        assert_line --regexp "^$s +[a-zA-Z].{10,}"
    done
    assert_equal "${#lines[@]}" 5
}

@test "--list-workloads lists the built-in workloads, each with a summary" {
    run --separate-stderr cb --list-workloads
    assert_success
    local w
    for w in sumsq primes sha256 matmul; do
        assert_line --regexp "^$w +[a-zA-Z].{10,}"
    done
    assert_equal "${#lines[@]}" 4
}

# ---- single runs and comparisons ---------------------------------------------------

@test "known values, computed independently, hold: sumsq of i<20 is 2470, 25 primes below 100" {
    assert_equal "$(python3 -c 'print(sum(i * i for i in range(20)))')" 2470
    assert_equal "$(sumsq_hex 20)" 00000000000009a6
    assert_equal "$(primes_below 100)" 25
    assert_equal "$(printf '%016x' 25)" 0000000000000019

    run --separate-stderr cb -s sync -w sumsq --tasks 2 --size 10 --format tsv
    assert_success
    assert_equal "$(cut -f12 <<<"$output")" 00000000000009a6
    run --separate-stderr cb -s thread -w primes -t 1 -n 100 --format tsv
    assert_success
    assert_equal "$(cut -f12 <<<"$output")" 0000000000000019
}

@test "a single run prints a table with the expected columns under each strategy" {
    local want s
    want=$(sumsq_hex $((4 * 1048576)))
    for s in sync thread process async pinned; do
        run --separate-stderr cb -s "$s" -j 2 -t 4 -n 1M
        assert_success
        assert_equal "${#lines[@]}" 2
        assert_line --index 0 --regexp "^$TABLE_HEADER +ops_per_s +failed +checksum$"
        local jobs=2
        [[ $s == sync ]] && jobs=1
        assert_line --index 1 --regexp "^$s +$jobs +[0-9.]+ +[0-9.]+ .* 0 +$want$"
    done
}

@test "--format tsv --header: one header, rows of the same width, checksums equal and right" {
    local want s out=""
    want=$(sumsq_hex $((4 * 1048576)))
    for s in sync thread process async; do
        run --separate-stderr cb -s "$s" -j 2 -t 4 -n 1M --format tsv --header
        assert_success
        assert_equal "${#lines[@]}" 2
        assert_equal "${lines[0]}" "$(tr ' ' '\t' <<<"$TSV_FIELDS")"
        assert_equal "$(tsv_col strategy <<<"$output")" "$s"
        assert_equal "$(tsv_col failed <<<"$output")" 0
        assert_equal "$(tsv_col checksum <<<"$output")" "$want"
        awk -F'\t' '$10 + 0 > 0 && $9 + 0 > 0 { ok = 1 } END { exit !ok }' <<<"${lines[1]}" ||
            fail "no positive throughput: ${lines[1]}"
    done
    run --separate-stderr cb -s sync -t 4 -n 1M --format tsv
    assert_success
    assert_equal "${#lines[@]}" 1
    assert_equal "$(cut -f1 <<<"$output")" sync
}

@test "--format json: every row parses and the checksum is the same under each strategy" {
    local want s all=""
    want=$(sumsq_hex $((4 * 1048576)))
    for s in sync thread process async pinned; do
        run --separate-stderr cb -s "$s" -j 2 -t 4 -n 1M --format json
        assert_success
        assert_equal "${#lines[@]}" 1
        local row
        row=$(json_fields strategy failed checksum <<<"$output")
        assert_equal "$row" "$s	0	$want"
        all+="$row"$'\n'
    done
    assert_equal "$(cut -f3 <<<"${all%$'\n'}" | uniq_count)" 1
}

@test "--compare=sync,thread,process,async: 4 rows, identical checksums, sync the baseline" {
    run --separate-stderr cb --compare=sync,thread,process,async -j 2 -t 4 -n 1M --format json
    assert_success
    assert_equal "${#lines[@]}" 4
    local rows
    rows=$(json_fields strategy speedup failed checksum <<<"$output")
    assert_equal "$(cut -f1 <<<"$rows" | tr '\n' ' ')" "sync thread process async "
    assert_equal "$(cut -f2 <<<"$rows" | head -1)" 1.0
    assert_equal "$(cut -f3 <<<"$rows" | sort -u)" 0
    assert_equal "$(cut -f4 <<<"$rows" | sort -u)" "$(sumsq_hex $((4 * 1048576)))"
}

@test "--compare agrees between strategies for every built-in workload" {
    local w
    for w in "sumsq 100k" "primes 20k" "sha256 2k" "matmul 24"; do
        run --separate-stderr cb --compare=sync,thread,process,async -j 2 -t 4 \
            -w "${w% *}" -n "${w#* }" --format tsv
        assert_success
        assert_equal "${#lines[@]}" 4
        assert_equal "$(cut -f11 <<<"$output" | sort -u)" 0
        assert_equal "$(cut -f12 <<<"$output" | uniq_count)" 1
    done
}

@test "--compare with no list runs the default list in the table format" {
    run --separate-stderr cb --compare -j 2 -t 2 -n 1k
    assert_success
    assert_equal "${#lines[@]}" 5
    assert_line --index 0 --regexp "^$TABLE_HEADER"
    local s i=1
    for s in sync thread process async; do
        assert_line --index $i --regexp "^$s +[0-9]+ .* $(sumsq_hex 2048)$"
        i=$((i + 1))
    done
}

@test "primes -t 1 -n 100 counts 25 primes under every strategy" {
    run --separate-stderr cb -w primes -t 1 -n 100 --compare=sync,thread,process,async --format tsv
    assert_success
    assert_equal "$(cut -f12 <<<"$output" | sort -u)" "$(printf '%016x' "$(primes_below 100)")"
}

@test "--duration runs for about that long and reports throughput" {
    run --separate-stderr cb -s thread -j 2 -d 0.3 -n 100k --format json
    assert_success
    local wall tps failed
    IFS=$'\t' read -r wall tps failed < <(json_fields wall_s tasks_per_s failed <<<"$output")
    assert_equal "$failed" 0
    awk -v w="$wall" -v t="$tps" -v l="$CTK_SLOW" 'BEGIN { exit !(w >= 0.3 && w < 3 * l && t > 0) }' ||
        fail "wall $wall, tasks/s $tps"
}

# ---- --gil and --share ------------------------------------------------------------

@test "--gil: every row has variant gil and the checksum is unchanged" {
    run --separate-stderr cb --gil --compare=sync,thread,process -j 2 -t 4 -n 100k --format tsv --header
    assert_success
    assert_equal "${#lines[@]}" 4
    assert_equal "$(tsv_col variant <<<"$output" | sort -u)" gil
    assert_equal "$(tsv_col checksum <<<"$output" | sort -u)" "$(sumsq_hex 409600)"
    run --separate-stderr cb --gil -s thread -j 2 -t 2 -n 1k
    assert_success
    assert_line --index 0 --regexp '^strategy +variant +jobs'
    assert_line --index 1 --regexp '^thread +gil +2 '
}

@test "--share=all: a row per mode; lock and atomic lose nothing; shm on sync loses nothing" {
    run --separate-stderr cb --share=all --compare=sync,thread,process -j 2 -t 4 -n 100k \
        --format tsv --header
    assert_success
    assert_equal "${#lines[@]}" 13
    local want rows
    want=$(sumsq_hex 409600)
    rows=$(awk -F'\t' 'NR > 1 { print $1 "/" $2 "/" $13 "/" $14 "/" $12 }' <<<"$output")
    local s m
    for s in sync thread process; do
        grep -qx "$s////$want" <<<"$rows" || fail "no plain $s row: $rows"
        for m in lock atomic; do
            grep -qx "$s/share=$m/0/$want/$want" <<<"$rows" || fail "$s share=$m: $rows"
        done
        grep -qE "^$s/share=shm/[0-9]+/[0-9a-f]{16}/$want$" <<<"$rows" || fail "$s share=shm: $rows"
    done
    grep -qx "sync/share=shm/0/$want/$want" <<<"$rows" || fail "sync lost under shm: $rows"
}

@test "--share=ordered never deadlocks; crossed deadlocks under threads, is reported, exits 1" {
    run --separate-stderr cb --share=ordered --compare=sync,thread,process -j 2 -t 4 -n 200k \
        --format tsv
    assert_success
    local want
    want=$(sumsq_hex 819200)
    assert_equal "$(cut -f 11,12,13,14 <<<"$output" | sort -u)" "0	$want	0	$want"
    # Scheduling decides when two tasks collide, so give it a few tries.
    local try
    for try in 1 2 3 4 5; do
        run --separate-stderr cb --share=crossed --compare=sync,thread -j 2 -t 4 -n 1M
        [ "$status" -eq 0 ] || break
    done
    assert_failure 1
    assert_line --regexp '^sync +share=crossed +1 .* 0 +[0-9a-f]{16} +0 +[0-9a-f]{16}$'
    assert_line --regexp '^note: thread with share=crossed: [1-4] of 4 tasks deadlocked'
    grep -qE '^cburn: task [1-4]: deadlock after [0-9]+ additions: this task held lock ([AB]) and waited for lock [AB], whose holder waited for lock \1$' <<<"$stderr" ||
        fail "no deadlock report: $stderr"
}

@test "--share=all is the four ways of sharing one total, without the lock-order modes" {
    run --separate-stderr cb --share=all -s sync -t 1 -n 1k --format tsv
    assert_success
    assert_equal "$(cut -f 2 <<<"$output" | tr '\n' ' ')" " share=lock share=atomic share=shm "
    run --separate-stderr cb --share=locked -s sync -t 1 -n 1k
    assert_failure 2
    assert_equal "$stderr" "cburn: --share locked: unknown mode 'locked' (known: none, lock, atomic, shm, all, ordered, crossed)
Try 'cburn --help' for more information."
}

@test "--share with --gil names both in the variant" {
    run --separate-stderr cb --share=lock,atomic --gil -s thread -j 2 -t 2 -n 1k --format json
    assert_success
    assert_equal "$(json_fields variant lost <<<"$output")" "gil,share=lock	0
gil,share=atomic	0"
}

# ---- map mode ---------------------------------------------------------------------

@test "map mode: one record per line in input order; a bad line is an error record, exit 1" {
    run --separate-stderr cb_in $'10\n100\nabc\n5\n' -w primes -k -
    assert_failure 1
    assert_equal "${#lines[@]}" 4
    assert_equal "$(cut -f1,2 <<<"$output" | tr '\t\n' ': ')" "1:10 2:100 3:abc 4:5 "
    assert_equal "$(cut -f3 <<<"${lines[0]}")" "$(primes_below 10)"
    assert_equal "$(cut -f3 <<<"${lines[1]}")" "$(primes_below 100)"
    assert_equal "$(cut -f3 <<<"${lines[3]}")" "$(primes_below 5)"
    assert_equal "$(cut -f3 <<<"${lines[2]}")" ""
    assert_regex "$(cut -f6 <<<"${lines[2]}")" 'not a (task size|number)'
    local ok
    for ok in 0 1 3; do
        assert_equal "$(cut -f6 <<<"${lines[$ok]}")" ""
    done
}

@test "map mode --format json: records parse, the error record has an error and no result" {
    run --separate-stderr cb_in $'10\n100\nabc\n5\n' -w primes -k --format json -
    assert_failure 1
    local recs
    recs=$(json_fields seq input result error <<<"$output")
    assert_equal "$(cut -f1-3 <<<"$recs" | tr '\t\n' ': ')" "1:10:4 2:100:25 3:abc: 4:5:2 "
    assert_regex "$(sed -n 3p <<<"$recs" | cut -f4)" 'not a (task size|number)'
    assert_equal "$(cut -f4 <<<"$recs" | grep -c .)" 1
}

@test "map mode --header names the fields" {
    run --separate-stderr cb_in $'7\n' -k --header -
    assert_success
    assert_equal "${lines[0]}" "$(printf 'seq\tinput\tresult\titerations\telapsed\terror')"
    assert_equal "$(tsv_col result <<<"$output")" "$(python3 -c 'print(sum(i * i for i in range(7)))')"
}

@test "map mode: a 10 MB line is an error record and the lines after it are processed" {
    local f="$BATS_TEST_TMPDIR/huge"
    { echo 7; head -c 10000000 /dev/zero | tr '\0' '1'; echo; echo 9; } >"$f"
    run --separate-stderr cb_file "$f" -k -
    assert_failure 1
    assert_equal "${#lines[@]}" 3
    assert_equal "$(cut -f1,3 <<<"${lines[0]}")" "1	91"
    assert_equal "$(cut -f1 <<<"${lines[1]}")" 2
    assert_equal "$(cut -f3 <<<"${lines[1]}")" ""
    assert_regex "$(cut -f6 <<<"${lines[1]}")" '[a-z]'
    assert_equal "$(cut -f1,3 <<<"${lines[2]}")" "3	204"
    ((${#output} < 100000)) || fail "the huge line was echoed back (${#output} bytes)"
}

@test "map mode: NUL bytes in a line make an error record, the rest goes on" {
    local f="$BATS_TEST_TMPDIR/nul"
    printf '3\n1\0002\n4\n' >"$f"
    run --separate-stderr cb_file "$f" -k -
    assert_failure 1
    assert_equal "${#lines[@]}" 3
    assert_equal "$(cut -f1,3 <<<"${lines[0]}")" "1	5"
    assert_equal "$(cut -f1,3 <<<"${lines[1]}")" "2	"
    assert_regex "$(cut -f6 <<<"${lines[1]}")" 'NUL'
    assert_equal "$(cut -f1,3 <<<"${lines[2]}")" "3	14"
}

@test "map mode: empty input gives no records and exit 0" {
    run --separate-stderr cb_in '' -k -
    assert_success
    assert_equal "$output" ""
    assert_equal "$stderr" ""
    run --separate-stderr cb_in '' -k --format json -
    assert_success
    assert_equal "$output" ""
}

@test "map mode: a last line without a newline is still a record" {
    run --separate-stderr cb_in $'10\n20' -k -s process -
    assert_success
    assert_equal "$(cut -f1-3 <<<"$output" | tr '\t\n' ': ')" "1:10:285 2:20:2470 "
}

@test "map mode -k with -j 2 keeps input order over 2000 lines, results right" {
    local s
    for s in thread process; do
        run --separate-stderr bash -c "seq 1 2000 | timeout $CTK_TIMEOUT cburn -s $s -j 2 -w sumsq -k -"
        assert_success
        assert_equal "${#lines[@]}" 2000
        awk -F'\t' '$1 != NR || $2 != NR || $3 != (NR - 1) * NR * (2 * NR - 1) / 6 || $6 != "" {
                print "line " NR ": " $0; bad = 1; exit }
            END { exit bad }' <<<"$output" || fail "$s: out of order or wrong"
    done
}

@test "map mode without -k still writes every record exactly once" {
    run --separate-stderr bash -c "seq 1 500 | timeout $CTK_TIMEOUT cburn -j 2 -w primes -"
    assert_success
    assert_equal "$(cut -f1 <<<"$output" | sort -n | uniq | tr '\n' ' ')" "$(seq 1 500 | tr '\n' ' ')"
}

@test "map mode: unreadable input is one error, not an endless stream of them" {
    run --separate-stderr bash -c 'timeout 10 cburn -k - <"$1" | head -n 50; exit "${PIPESTATUS[0]}"' _ \
        "$BATS_TEST_TMPDIR"
    assert_failure 1
    ((${#lines[@]} <= 1)) || fail "${#lines[@]} records for one unreadable input: ${lines[0]}"
    [[ "$output$stderr" == *"Is a directory"* ]] || fail "no reason given: $output $stderr"
}

@test "a write error on standard output is reported, with a failing exit status" {
    [[ -w /dev/full ]] || skip "no /dev/full"
    run --separate-stderr bash -c 'timeout 60 cburn -s sync -t 2 -n 10 >/dev/full'
    ((status != 0)) || fail "exit 0 though nothing could be written"
    assert_stderr_regex '^cburn: .*(write|space|output)'
    run --separate-stderr bash -c 'printf "5\n" | timeout 60 cburn -k - >/dev/full'
    ((status != 0)) || fail "map mode: exit 0 though nothing could be written"
    assert_stderr_regex '^cburn: '
}

# ---- usage errors -------------------------------------------------------------------

@test "unknown strategy: usage error listing the known ones" {
    run --separate-stderr cb -s x -t 1 -n 1
    assert_usage_error "unknown strategy 'x' \\(known: [a-z, ]*async[a-z, ]*\\)"
    assert_stderr_regex 'known: .*sync'
    assert_stderr_regex 'known: .*thread'
    assert_stderr_regex 'known: .*process'
}

@test "unknown workload: usage error listing the known ones" {
    run --separate-stderr cb -w x -t 1 -n 1
    assert_usage_error "unknown workload 'x' \\(known: [a-z0-9, ]*sumsq[a-z0-9, ]*\\)"
    assert_stderr_regex 'known: .*primes'
}

@test "bad -j values: usage errors naming -j" {
    local v
    for v in 0 -1 abc 1.5 ''; do
        run --separate-stderr cb -j "$v" -t 1 -n 1
        assert_usage_error "(-j|--jobs) "
    done
    run --separate-stderr cb --jobs=0 -t 1 -n 1
    assert_usage_error "(-j|--jobs) 0: .*(least|positive|>)"
}

@test "bad --tasks, --size, --duration, --switch-interval: usage errors naming the option" {
    run --separate-stderr cb --tasks 0 -n 1
    assert_usage_error "(-t|--tasks) 0: "
    run --separate-stderr cb -t 1 --size 99999999999999999999999
    assert_usage_error "(-n|--size) 99999999999999999999999: "
    run --separate-stderr cb -t 1 -n 0
    assert_usage_error "(-n|--size) 0: "
    run --separate-stderr cb -t 1 -n 1 --duration -1
    assert_usage_error "(-d|--duration) -1: "
    run --separate-stderr cb -t 1 -n 1 --duration 0
    assert_usage_error "(-d|--duration) 0: "
    run --separate-stderr cb -t 1 -n 1 --switch-interval x
    assert_usage_error "--switch-interval x: "
}

@test "bad --share and --format: usage errors naming the option and the choices" {
    run --separate-stderr cb -t 1 -n 1 --share bogus
    assert_usage_error "--share bogus: .*lock"
    run --separate-stderr cb -t 1 -n 1 --format xml
    assert_usage_error "--format xml: .*json"
}

@test "unknown option, missing value, extra operand: usage errors" {
    run --separate-stderr cb -t 1 -n 1 --bogus
    assert_usage_error "unknown option '--bogus'"
    run --separate-stderr cb -t 1 -n 1 -Z
    assert_usage_error "unknown option '-Z'"
    run --separate-stderr cb -t 1 -n 1 --workload
    assert_usage_error ".*--workload"
    run --separate-stderr cb -t 1 -n 1 extra
    assert_usage_error "unexpected argument 'extra'"
    run --separate-stderr cb_in '1' -t 1 -n 1 - -
    assert_usage_error "unexpected argument '-'"
}

@test "--compare with '-' or an empty name is a usage error" {
    run --separate-stderr cb -t 1 -n 1 --compare=-
    assert_usage_error "unknown strategy '-'"
    run --separate-stderr cb -t 1 -n 1 --compare=sync,-
    assert_usage_error "unknown strategy '-'"
    run --separate-stderr cb -t 1 -n 1 --compare=sync,,thread
    assert_usage_error "--compare .*empty"
    run --separate-stderr cb_in '1' --compare=sync -
    assert_usage_error ".*map mode"
}

@test "--compare= with an empty list is a usage error, not a silent no-op" {
    run --separate-stderr cb -t 1 -n 1 --compare=
    assert_usage_error ".*--compare"
}

# ---- a worker dies -------------------------------------------------------------------

@test "process: a worker killed mid-task fails that task; the others finish" {
    bg_cburn -s process -j 2 --tasks 6 -w primes -n 3M --format json
    local worker
    worker=$(wait_worker "$CBURN") || fail "no worker appeared"
    wait_busy "$worker" || fail "worker $worker never worked"
    kill -KILL "$worker"
    bg_wait
    assert_equal "$BG_STATUS" 1
    grep -qE "^cburn: task [0-9]+: worker $worker killed by signal 9" "$BG_ERR" ||
        fail "stderr: $(cat "$BG_ERR")"
    local failed tps
    IFS=$'\t' read -r failed tps < <(json_fields failed tasks_per_s <"$BG_OUT")
    assert_equal "$failed" 1
    awk -v t="$tps" 'BEGIN { exit !(t > 0) }' || fail "tasks_per_s $tps"
    assert_gone "$worker"
}

@test "process: a killed worker shows in the table too, and no worker is left" {
    bg_cburn -s process -j 2 --tasks 6 -w primes -n 3M
    local worker pids
    worker=$(wait_worker "$CBURN") || fail "no worker appeared"
    wait_busy "$worker" || fail "worker $worker never worked"
    pids=$(descendants "$CBURN")
    kill -KILL "$worker"
    bg_wait
    assert_equal "$BG_STATUS" 1
    grep -qE "^cburn: task [0-9]+: worker $worker killed by signal 9" "$BG_ERR" ||
        fail "stderr: $(cat "$BG_ERR")"
    run awk 'NR == 2 { print $1, $2, $(NF - 1) }' "$BG_OUT"
    assert_output "process 2 1"
    sed -n 1p "$BG_OUT" | grep -qE "^$TABLE_HEADER" || fail "no table header: $(cat "$BG_OUT")"
    # shellcheck disable=SC2086
    assert_gone $pids "$CBURN"
}

# ---- signals ----------------------------------------------------------------------

# interrupt SIG STATUS ARGS...: starts a long run, waits until it is
# working, sends SIG, and checks it exits STATUS within seconds, leaving
# none of its processes behind.
interrupt() {
    local sig=$1 want=$2 marker=$((40000 + RANDOM))
    shift 2
    bg_cburn --tasks "$marker" -n 2G "$@"
    local pids="" i
    # Wait until the work runs: workers exist for the process strategy
    # and --compare, and the signal thread is up for the others.
    for ((i = 0; i < 50 * CTK_SLOW; i++)); do
        pids=$(descendants "$CBURN")
        if [[ $* != *process* && $* != *compare* ]] || (($(wc -w <<<"$pids") >= ${MIN_DESC:-1})); then
            break
        fi
        sleep 0.02
    done
    sleep 0.3
    pids=$(descendants "$CBURN")
    local t0
    t0=$(now)
    kill -"$sig" "$CBURN"
    bg_wait
    elapsed_below "$t0" 5
    assert_equal "$BG_STATUS" "$want"
    # shellcheck disable=SC2086
    assert_gone "$CBURN" $pids
    run pgrep -f -- "--tasks $marker"
    assert_failure 1
    assert_equal "$output" ""
}

@test "thread: SIGTERM exits 143 at once" {
    interrupt TERM 143 -s thread -j 2
}

@test "thread: SIGINT exits 130 at once" {
    interrupt INT 130 -s thread -j 2
}

@test "process: SIGTERM exits 143 and takes the workers down" {
    MIN_DESC=2 interrupt TERM 143 -s process -j 2
}

@test "process: SIGINT exits 130 and takes the workers down" {
    MIN_DESC=2 interrupt INT 130 -s process -j 2
}

@test "--compare: SIGTERM exits 143 and leaves no row process or worker" {
    MIN_DESC=3 interrupt TERM 143 --compare=process,thread -j 2
}

@test "--compare: SIGINT exits 130 during the default list" {
    interrupt INT 130 --compare -j 2
}

@test "map mode: SIGTERM on an endless input exits 143" {
    BG_OUT="$BATS_TEST_TMPDIR/map.out"
    BG_ERR="$BATS_TEST_TMPDIR/map.err"
    timeout -k 5 "$CTK_TIMEOUT" cburn -s process -j 2 -k - < <(yes 1000) >"$BG_OUT" 2>"$BG_ERR" 3>&- &
    BG=$!
    CBURN=$(wait_child "$BG") || fail "cburn did not start"
    sleep 0.3
    local pids
    pids=$(descendants "$CBURN")
    [[ -n $pids ]] || fail "no workers"
    kill -TERM "$CBURN"
    bg_wait
    assert_equal "$BG_STATUS" 143
    # shellcheck disable=SC2086
    assert_gone "$CBURN" $pids
    awk -F'\t' '$1 != NR || $2 != 1000 { exit 1 }' "$BG_OUT" || fail "records out of order"
    [[ $(wc -l <"$BG_OUT") -gt 10 ]] || fail "no records before the signal"
}

@test "tasks and map-mode lines cross a process boundary as bytes under the wirepair fixture strategy" {
    local so
    so=$(fixture_plugin wirepair)
    run --separate-stderr cb --plugin "$so" -s wirepair -w primes -t 5 -n 2000 --format tsv
    assert_success
    local got
    got=$(cut -f1,11,12 <<<"$output")
    run --separate-stderr cb -s sync -w primes -t 5 -n 2000 --format tsv
    assert_equal "$got" "wirepair	0	$(cut -f12 <<<"$output")"
    run --separate-stderr bash -c 'printf "10\n20\nx\n30\n" | cburn --plugin "$1" -s wirepair -k -' _ "$so"
    local via_wire=$output
    run --separate-stderr bash -c 'printf "10\n20\nx\n30\n" | cburn -s sync -k -'
    assert_equal "$(cut -f1,2,3,4,6 <<<"$via_wire")" "$(cut -f1,2,3,4,6 <<<"$output")"
    assert_equal "$(wc -l <<<"$via_wire")" 4
}
