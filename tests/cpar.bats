#!/usr/bin/env bats
# cpar.bats: black-box tests of the cpar command. The first part runs the
# same invocations through GNU parallel and cpar and compares what they
# print, their exit statuses and their joblogs; the second tests what is
# cpar's own: records, strategies, usage errors, big outputs, grouping,
# signals and resuming after an interruption.

# Replacement strings such as {} and {1} are literal words here.
# shellcheck disable=SC1083,SC2016
load helpers

# ---- comparing with GNU parallel ---------------------------------------------------

setup() {
    parallel_env
}

# joblog_format FILE: the Starttime and JobRuntime columns are formatted as
# parallel formats them (%.3f and %10.3f), and every row has 9 fields.
joblog_format() {
    awk -F'\t' '
        NR == 1 { if ($0 != "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand") exit 1; next }
        NF < 9 || $3 !~ /^[0-9]+\.[0-9][0-9][0-9]$/ || $4 !~ /^ *[0-9]+\.[0-9][0-9][0-9]$/ || length($4) < 10 { exit 1 }
    ' "$1" || fail "$1 is not formatted as parallel's joblog: $(cat -A "$1")"
}

# joblog_cols FILE: the header, then the rows sorted by Seq, without the
# Starttime and JobRuntime columns.
joblog_cols() {
    { head -n 1 "$1"; tail -n +2 "$1" | sort -t "$(printf '\t')" -k1,1n; } | cut -f 1,2,5-
}

# same_joblog LOG ARGS...: same_as_parallel ARGS... --joblog LOG (each tool
# in its own directory), then the joblogs are the same but for the times,
# and the times are formatted as parallel's.
same_joblog() {
    local log=$1 d=$BATS_TEST_TMPDIR
    shift
    same_as_parallel --joblog "$log" "$@"
    joblog_format "$d/parallel.d/$log"
    joblog_format "$d/cpar.d/$log"
    diff <(joblog_cols "$d/parallel.d/$log") <(joblog_cols "$d/cpar.d/$log") ||
        fail "joblogs differ (parallel <, cpar >)"
}

# A file in the test's directory with the bytes printf %b makes of $1.
bytes_file() {
    local f="$BATS_TEST_TMPDIR/in.$RANDOM$RANDOM"
    printf '%b' "$1" >"$f"
    echo "$f"
}

@test "the comparison itself notices a difference" {
    need_parallel
    run same_as_parallel -k echo ::: a b
    assert_success
    # --shell is cpar's own (parallel finds it ambiguous): they must differ.
    run same_as_parallel --shell echo ::: a
    assert_failure
    assert_output --partial 'exit status: parallel'
}

@test "compat: items from stdin, ::: lists, :::: files, -a FILE" {
    local f1 f2
    f1=$(bytes_file 'x\ny\n')
    f2=$(bytes_file '1\n2\n3')
    PAR_IN=$(bytes_file 'a\nb\nc\n') same_as_parallel -k echo
    PAR_IN=$(bytes_file 'a\n\nb\n') same_as_parallel -k echo '[{}]'
    PAR_IN=$(bytes_file 'no newline at the end') same_as_parallel -k echo '[{}]'
    PAR_IN=$(bytes_file '  spaces  \nx\r\n') same_as_parallel -k echo '[{}]'
    same_as_parallel -k echo ::: a b c
    same_as_parallel -k echo :::: "$f1" "$f2"
    same_as_parallel -k -a "$f1" echo
    same_as_parallel -k -a "$f1" -a "$f2" echo
    same_as_parallel -k echo {1}{2} :::: "$f1" ::: p q
}

@test "compat: cross products and :::+ / ::::+ linking" {
    local f1 f2
    f1=$(bytes_file 'x\ny\nz\n')
    f2=$(bytes_file '1\n2\n3\n')
    same_as_parallel -k echo ::: a b ::: 1 2
    same_as_parallel -k echo {2} {1} ::: a b ::: 1 2 3
    same_as_parallel -k echo ::: a b ::: c d ::: e f
    same_as_parallel -k echo ::: a b c :::+ 1 2 3
    same_as_parallel -k echo {1}-{2}-{3} ::: a b :::+ 1 2 ::: X Y
    same_as_parallel -k echo :::: "$f1" ::::+ "$f2"
}

@test "compat: --link/--xapply recycle the shorter sources; :::+ stops at the shortest" {
    local f1 f2
    f1=$(bytes_file 'x\ny\nz\n')
    f2=$(bytes_file '1\n2\n')
    # nothing of the longest source is dropped: c pairs with 1 again
    same_as_parallel -k --link echo {1}{2} ::: a b c ::: 1 2
    same_as_parallel -k --xapply echo {1}{2} ::: a b ::: 1 2 3
    same_as_parallel -k --link echo {1}{2}{3} ::: a b ::: 1 2 3 ::: X Y Z W
    same_as_parallel -k --link echo ::: a b c :::+ 1 2
    same_as_parallel -k --link echo ::: a b c ::: 1
    same_as_parallel -k --link -a "$f1" -a "$f2" echo
    same_as_parallel -k --link -a "$f2" echo ::: a b c
    same_as_parallel -k --link echo {1}{2} :::: "$f1" "$f2"
    same_as_parallel -k --link echo {1}{2} :::: "$f2" ::: a b c d e
    same_as_parallel -k --link --header : echo {A}{B} ::: A a b c ::: B 1 2
    PAR_IN=$(bytes_file 'p\nq\nr\n') same_as_parallel -k --link echo ::: a b :::: -
    same_as_parallel -k --link --dry-run echo {1}{2} ::: a b c ::: 1 2
    # without --link: :::+ and ::::+ stop at the shorter, files cross
    same_as_parallel -k echo {1}{2} ::: a b c :::+ 1 2
    same_as_parallel -k echo {1}{2} ::: a b :::+ 1 2 3
    same_as_parallel -k echo {1}{2}{3} ::: a b :::+ 1 2 3 :::+ X
    same_as_parallel -k echo {1}{2} :::: "$f1" ::::+ "$f2"
    same_as_parallel -k echo {1}{2} :::: "$f1" "$f2"
    same_as_parallel -k -a "$f1" -a "$f2" echo
}

@test "compat: -0/--null and -d DELIM, newlines inside -0 items" {
    PAR_IN=$(bytes_file 'a\nb\0c d\0') same_as_parallel -k -0 echo '<{}>'
    PAR_IN=$(bytes_file 'a\nb\0c d\0') same_as_parallel -k --null printf '%s|\n'
    PAR_IN=$(bytes_file 'a\nb\0c d\0') same_as_parallel -k -0 --dry-run echo '<{}>'
    PAR_IN=$(bytes_file 'a\nb\0c d\0') same_as_parallel -k -0 --tag echo '{}'
    same_as_parallel -k -0 -a "$(bytes_file 'x y\0z\0')" echo '[{}]'
    PAR_IN=$(bytes_file 'a,b,c') same_as_parallel -k -d , echo '[{}]'
    PAR_IN=$(bytes_file 'a:b\n:c:') same_as_parallel -k -d : echo '[{}]'
    PAR_IN=$(bytes_file 'a\tb\tc\n') same_as_parallel -k -d '\t' echo '[{}]'
}

@test "compat: a NUL byte without -0 is replaced with \\0 and warned about" {
    PAR_IN=$(bytes_file 'a\0b\nc\n') same_as_parallel -k echo
    printf 'a\0b\n' | timeout 10 cpar echo 2>"$BATS_TEST_TMPDIR/err" >/dev/null
    grep -q -- '--null' "$BATS_TEST_TMPDIR/err" || fail "no warning: $(cat "$BATS_TEST_TMPDIR/err")"
}

@test "compat: ::: items that contain a newline are split into items, as parallel splits them" {
    # Without -0, parallel reads ::: arguments as lines: 'two\nlines' is
    # two items. With -0 it is one.
    same_as_parallel -k --dry-run echo ::: $'two\nlines' x
    same_as_parallel -k --tag echo ::: $'two\nlines'
    same_as_parallel -k -0 --tag echo ::: $'two\nlines' x
}

@test "compat: -n N and -N N" {
    same_as_parallel -k -n2 echo ::: a b c d e
    same_as_parallel -k -n2 echo {} ::: a b c
    same_as_parallel -k -n3 echo {3}{2}{1} ::: a b c d e f g
    same_as_parallel -k -N2 echo {1}+{2} ::: a b c d e
    same_as_parallel -k -N2 echo {} ::: a b c
    same_as_parallel -k -N3 --max-replace-args 3 echo {3}{2}{1} ::: a b c d e f
    same_as_parallel -k --max-args 2 echo ::: a b c
}

@test "compat: every replacement string, and -I" {
    same_as_parallel -k echo {} {.} {/} {//} {/.} ::: /a/b.c/d.e x.tar.gz dir/ ./a plain .hidden a/.b
    same_as_parallel -k -j1 echo {#} {%} ::: a b c
    same_as_parallel -k --jobs 1 echo {%}-{#}-{} ::: a b c
    same_as_parallel -k echo {1.} {2/} {1//} {2/.} {1/} ::: a/b.c x.y ::: d/e.f /g
    same_as_parallel -k echo {-1} {-2} ::: a ::: b
    same_as_parallel -k echo x{}y {.}.out '{}.txt' ::: a.b
    same_as_parallel -k echo {} {} ::: a
    same_as_parallel -k -I XX echo pre-XX-post ::: a b
    same_as_parallel -k --replace ,, echo ,,{} ::: a
    same_as_parallel -k -I '{x}' echo '{x}' '{1x}' ::: a
}

@test "compat: tricky items arrive unchanged, with and without a shell, and --dry-run quotes as parallel" {
    local items=('a b' "it's" 'a$b' 'a`b' 'a*b' '-x' '--y' '' 'a"b' 'a\b' ' lead' $'tab\tx'
        '~' 'a;b' 'a|b' '$(echo no)' '{}' "'" '!x' 'a&&b')
    same_as_parallel -k printf '[%s]\n' ::: "${items[@]}"
    same_as_parallel -k 'printf "[%s]\n" {} | cat' ::: "${items[@]}"
    same_as_parallel -k --dry-run printf '[%s]\n' {} ::: "${items[@]}"
    same_as_parallel -k --dry-run 'echo {} | wc -c' ::: "${items[@]}"
    same_as_parallel -k -- echo ::: -n a
    same_as_parallel -k echo ::: -- x
}

@test "compat: a program that is also a shell builtin behaves as the builtin parallel's shell runs" {
    # parallel runs `echo --version` in a shell: the builtin prints
    # "--version"; /bin/echo run directly prints its version instead.
    same_as_parallel -k echo ::: a --version
    same_as_parallel -k echo ::: --help
}

@test "compat: non-UTF-8 bytes pass through, in items, --tag and --dry-run" {
    same_as_parallel -k printf '%s\n' ::: $'\xff\xfe' $'caf\xe9' $'\xc3('
    PAR_IN=$(bytes_file '\xff\xfe\nok\n\x80 x\n') same_as_parallel -k --tag echo
    PAR_IN=$(bytes_file '\xff\xfe\nok\n\x80 x\n') same_as_parallel -k --dry-run echo {}
}

@test "compat: --dry-run, --tag and -k" {
    same_as_parallel -k --dry-run echo {} {#} ::: a 'b c'
    same_as_parallel --dry-run -j1 echo {} ::: a b c
    same_as_parallel -k --tag echo hi ::: a b
    same_as_parallel -k --tag echo {} ::: 'a b' c
    PAR_ERR=1 same_as_parallel -k --tag sh -c 'echo out; echo err >&2' ::: a
    # Output order: -k keeps input order even when later jobs end first.
    same_as_parallel -k -j3 'sleep {}; echo {}' ::: 0.3 0.1 0.2
    PAR_SORT=1 same_as_parallel -j3 'sleep {}; echo {}' ::: 0.2 0.1 0
}

@test "compat: exit status is the number of failed jobs, capped at 101" {
    same_as_parallel sh -c 'exit {}' ::: 0 1 2 3
    same_as_parallel -k 'exit {}' ::: 0 1 0 200
    same_as_parallel false ::: a b c
    same_as_parallel -j4 false ::: $(seq 100)
    same_as_parallel -j4 false ::: $(seq 101)
    same_as_parallel -j4 false ::: $(seq 150)
    run -101 cp_run -j4 false ::: $(seq 150)
    same_as_parallel 'kill -9 $$' ::: a
}

@test "compat: commands with shell syntax: pipes, redirects, &&, ;" {
    same_as_parallel -k 'echo {} | tr a-z A-Z' ::: ab cd
    same_as_parallel -k 'echo {} > /dev/null && echo ok {}' ::: ab cd
    same_as_parallel -k 'false || echo no {}; echo two' ::: x
    same_as_parallel -k 'for i in 1 2; do echo {}$i; done' ::: a b
    same_as_parallel -k 'echo {} >&2' ::: err
    same_as_parallel -k echo '$HOME' '*' ::: a
}

@test "compat: a command not found fails its job with 127, also in the joblog" {
    PAR_STATUS_ONLY=1 same_as_parallel -k nosuchcmd_ctk_q ::: a b
    PAR_STATUS_ONLY=1 same_as_parallel -k 'nosuchcmd_ctk_q {}' ::: a
    same_joblog jl nosuchcmd_ctk_q ::: a
    run tsv_col Exitval <"$BATS_TEST_TMPDIR/cpar.d/jl"
    assert_output 127
}

@test "compat: empty input runs nothing and exits 0" {
    same_as_parallel echo
    PAR_IN=$(bytes_file '') same_as_parallel -k echo {}
    PAR_IN=$(bytes_file '') same_as_parallel -0 echo {}
    run --separate-stderr cp_in '' touch "$BATS_TEST_TMPDIR/should-not-exist"
    assert_success
    assert_output ""
    assert_file_not_exists "$BATS_TEST_TMPDIR/should-not-exist"
}

@test "compat: -j1, -j2, -j 50% give the same output; -j2 runs two at a time" {
    same_as_parallel -k -j1 echo ::: 1 2 3 4 5
    same_as_parallel -k -j2 echo ::: 1 2 3 4 5
    same_as_parallel -k -j 50% echo ::: 1 2 3 4 5
    same_as_parallel -k -j 200% echo ::: 1 2
    local t0
    t0=$(now)
    run cp_run -j2 sleep ::: 0.4 0.4 0.4 0.4
    assert_success
    elapsed_below "$t0" 2
    awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { exit !(b - a >= 0.75) }' || fail "-j2 ran more than 2 at once"
}

@test "compat: -j 0 runs as many jobs as it can, as parallel does" {
    same_as_parallel -k -j0 echo ::: a b
}

@test "compat: --joblog has parallel's columns and formats" {
    same_joblog jl -k 'echo {}; exit {}' ::: 0 1 2
    same_joblog jl2 -k printf '%s\n' ::: 'a b' "it's" plain
    same_joblog jl3 -j2 'kill -9 $$' ::: x
    run tsv_col Signal <"$BATS_TEST_TMPDIR/cpar.d/jl3"
    assert_output 9
}

@test "compat: --resume skips every logged job, --resume-failed reruns the failed ones" {
    same_joblog jl -k 'echo {}; exit {}' ::: 0 1 2 0
    # Nothing new: nothing runs.
    same_as_parallel -k --resume --joblog jl 'echo {}; exit {}' ::: 0 1 2 0
    assert_equal "$(wc -c <"$BATS_TEST_TMPDIR/cpar.out")" 0
    # One more item: only it runs.
    same_as_parallel -k --resume --joblog jl 'echo {}; exit {}' ::: 0 1 2 0 5
    assert_equal "$(cat "$BATS_TEST_TMPDIR/cpar.out")" 5
    same_as_parallel -k --resume-failed --joblog jl 'echo {}; exit {}' ::: 0 1 2 0 5 6
    assert_equal "$(tr '\n' ' ' <"$BATS_TEST_TMPDIR/cpar.out")" "1 2 5 6 "
    diff <(joblog_cols "$BATS_TEST_TMPDIR/parallel.d/jl") <(joblog_cols "$BATS_TEST_TMPDIR/cpar.d/jl") ||
        fail "joblogs differ after resuming"
}

# The job: count this attempt in cnt.ITEM, fail until the third attempt.
RETRY_JOB='echo x >> cnt.{}; n=$(wc -l < cnt.{}); echo try $n; [ $n -ge 3 ]'

@test "compat: --retries 3: a job that fails twice then succeeds succeeds" {
    same_joblog jl -k --retries 3 "$RETRY_JOB" ::: a b
    assert_equal "$(cat "$BATS_TEST_TMPDIR/cpar.status")" 0
    assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/cpar.d/cnt.a")" 3
    assert_equal "$(cat "$BATS_TEST_TMPDIR/cpar.out")" $'try 3\ntry 3'
}

@test "compat: --retries N makes N attempts in all, as parallel does" {
    # parallel 20221122: --retries 1 runs a failing job once, --retries 2
    # twice (so the job above still fails), --retries 3 three times.
    same_as_parallel -k --retries 1 "$RETRY_JOB" ::: a
    rm -f "$BATS_TEST_TMPDIR"/*.d/cnt.*
    same_as_parallel -k --retries 2 "$RETRY_JOB" ::: a
}

@test "compat: --timeout ends a sleep 10 in about a second; joblog as parallel writes it" {
    same_joblog jl -k --timeout 1 sleep ::: 10 0.1
}

@test "--timeout: the job ends within ~1 s, exit 1, Signal 15 in the joblog, no sleep left" {
    local mark="10.$RANDOM$RANDOM" t0 log=$BATS_TEST_TMPDIR/jl
    t0=$(now)
    run --separate-stderr cp_run --joblog "$log" --timeout 1 sleep ::: "$mark" 0.1
    elapsed_below "$t0" 3
    assert_equal "$status" 1
    joblog_format "$log"
    run awk -F'\t' 'NR > 1 { print $1, $8 }' "$log"
    assert_output $'2 0\n1 15'
    run pgrep -f -- "sleep $mark"
    assert_failure 1
    # Through a shell too: the job's whole process group ends.
    t0=$(now)
    run --separate-stderr cp_run --timeout 1 'sleep {}; echo never' ::: "$mark"
    elapsed_below "$t0" 3
    assert_equal "$status" 1
    assert_output ""
    run pgrep -f -- "sleep $mark"
    assert_failure 1
}

# ---- cpar's own ----------------------------------------------------------------------

LONG_OPTIONS='arg-file null delimiter replace max-args max-replace-args shell ungroup group tag
    joblog resume resume-failed retries timeout termseq dry-run records halt delay rate tagstring
    colsep line-buffer lb results bar eta context-replace multi-args max-chars jobs strategy
    list-strategies compare format header keep-order progress plugin help version'

@test "--help shows the synopsis and every option" {
    run --separate-stderr cp_run --help
    assert_success
    assert_equal "$stderr" ""
    assert_line --index 0 --regexp '^Usage: cpar .*:::.*::::'
    local o
    for o in $LONG_OPTIONS; do
        assert_line --regexp "^ +(-[a-zA-Z0-9], )?--$o([ =[]|$)"
    done
    assert_output --partial 'cpar(1)'
}

@test "every long option in --help appears in man/cpar.1" {
    assert_man_has_options cpar 25
}

@test "man/cpar.1 renders without warnings and has the expected sections" {
    local man="$CTK_SRCDIR/man/cpar.1" s
    command -v groff >/dev/null || skip "groff is not installed"
    run groff -man -Tutf8 -ww -z "$man"
    assert_success
    assert_output ""
    for s in NAME SYNOPSIS DESCRIPTION OPTIONS 'REPLACEMENT STRINGS' 'INPUT SOURCES' OUTPUT \
        'JOBLOG AND RESUME' 'EXIT STATUS' STRATEGIES 'GNU PARALLEL MIGRATION' EXAMPLES 'SEE ALSO'; do
        grep -qE "^\.SH \"?$s\"?$" "$man" || fail "no section $s"
    done
}

@test "--records - --format json: one JSON object per job, with every field, instead of the output" {
    run --separate-stderr cp_run --records - --format json -k 'echo {}; exit {}' ::: 0 1 2
    assert_equal "$status" 2
    assert_equal "${#lines[@]}" 3
    run json_fields seq input exit signal bytes attempts error <<<"$output"
    assert_success
    assert_output $'1\t0\t0\t0\t2\t1\t\n2\t1\t1\t0\t2\t1\t\n3\t2\t2\t0\t2\t1\t'
    run --separate-stderr cp_run --records - --format json -k echo ::: 'a b' $'q"\\'
    assert_success
    run python3 -c '
import json, sys, time
recs = [json.loads(l) for l in sys.stdin]
assert [r["input"] for r in recs] == ["a b", "q\"\\"], recs
for r in recs:
    assert abs(r["start"] - time.time()) < 600, r
    assert 0 <= r["elapsed"] < 60, r
    assert r["bytes"] == len(r["input"]) + 1, r
print("ok")' <<<"$output"
    assert_success
    assert_output ok
}

@test "--records FILE: the jobs' output still goes to stdout; the records to FILE" {
    local rec=$BATS_TEST_TMPDIR/rec.tsv
    run --separate-stderr cp_run --records "$rec" --format tsv --records-header -k 'echo {}; exit {#}' ::: a b
    assert_equal "$status" 2
    assert_output $'a\nb'
    run tsv_col exit <"$rec"
    assert_output $'1\n2'
    run tsv_col attempts <"$rec"
    assert_output $'1\n1'
    # A command not found is a record with exit 127.
    run --separate-stderr cp_run --records - --format json nosuchcmd_ctk_q ::: a
    assert_equal "$status" 1
    run json_fields exit <<<"$output"
    assert_output 127
}

@test "every strategy gives the same output, exit status and joblog; concurrent ones run jobs at once" {
    local s want
    want=$(printf '%s\n' a b c d)
    local strategies=(process sync thread async)
    [[ -f $PINNED_SO ]] && strategies+=(pinned)
    for s in "${strategies[@]}"; do
        run --separate-stderr cp_run -s "$s" -j 4 -k 'echo {}; exit {#}' ::: a b c d
        assert_equal "$status" 4
        assert_output "$want"
    done
    for s in process thread async; do
        local t0
        t0=$(now)
        run cp_run -s "$s" -j 4 sleep ::: 0.5 0.5 0.5 0.5
        assert_success
        elapsed_below "$t0" 2
    done
    # A command not found, a timeout and retries under each.
    for s in "${strategies[@]}"; do
        run --separate-stderr cp_run -s "$s" -k --joblog "$BATS_TEST_TMPDIR/jl.$s" --timeout 1 \
            --retries 2 'echo {}; exit {}' ::: 0 3
        assert_equal "$status" 1
        assert_output $'0\n3'
        run tsv_col Exitval <"$BATS_TEST_TMPDIR/jl.$s"
        assert_output $'0\n3'
        run --separate-stderr cp_run -s "$s" nosuchcmd_ctk_q ::: a
        assert_equal "$status" 1
        assert_stderr_regex 'nosuchcmd_ctk_q: command not found'
        run --separate-stderr cp_run -s "$s" --timeout 0.3 sleep ::: 5
        assert_equal "$status" 1
    done
}

@test "an exec failure reads the same under every strategy: not an ELF nor a script, a missing command" {
    local d=$BATS_TEST_TMPDIR
    printf 'plain bytes\001\002\n' >"$d/not-an-elf"
    chmod +x "$d/not-an-elf"
    run cp_run --list-strategies
    assert_success
    local strategies s want_err want_missing
    strategies=$(awk '{print $1}' <<<"$output")
    [[ $strategies == *thread* ]] || fail "no strategies listed: $output"
    for s in $strategies; do
        run --separate-stderr cp_run -s "$s" --joblog "$d/jl.$s" "$d/not-an-elf" ::: a
        assert_equal "$status" 1
        assert_equal "$stderr" "$d/not-an-elf: Exec format error"
        run tsv_col Exitval <"$d/jl.$s"
        assert_output 126
        run --separate-stderr cp_run -s "$s" --joblog "$d/jm.$s" nosuchcmd_ctk_e ::: a
        assert_equal "$status" 1
        assert_equal "$stderr" "nosuchcmd_ctk_e: command not found"
        run tsv_col Exitval <"$d/jm.$s"
        assert_output 127
    done
}

@test "--compare runs the jobs under each strategy and prints a table, warning on stderr" {
    run --separate-stderr cp_in $'a\nb\nc\nd\n' --compare -j 4 'echo {} >> '"$BATS_TEST_TMPDIR"'/ran'
    assert_success
    assert_stderr_regex 'warning: --compare runs every job once per strategy \(4 times'
    assert_line --index 0 --regexp '^strategy +jobs +wall_s'
    local s
    for s in sync thread process async; do
        assert_line --regexp "^$s +[14] +[0-9.]+ .* 4 +0\$|^$s +[14] .* 0\$"
    done
    # Each strategy ran every job once: 4 x 4 lines, each item 4 times.
    run sort "$BATS_TEST_TMPDIR/ran"
    assert_output "$(printf 'a\na\na\na\nb\nb\nb\nb\nc\nc\nc\nc\nd\nd\nd\nd')"
    # Rows whose jobs failed: the table, and a failing exit (issue 15).
    run --separate-stderr cp_run --compare=sync,process --format tsv --records-header -j 2 false ::: 1 2 3
    assert_equal "$status" 3
    run tsv_col failed <<<"$output"
    assert_output $'3\n3'
}

@test "usage errors: --resume without --joblog, unknown strategy, bad -j, --halt, --rate, --colsep" {
    run --separate-stderr cp_run --resume echo ::: a
    assert_cpar_usage_error '.*--joblog'
    run --separate-stderr cp_run --resume-failed echo ::: a
    assert_cpar_usage_error '.*--joblog'
    run --separate-stderr cp_run -s nosuch echo ::: a
    assert_cpar_usage_error '.*nosuch'
    run --separate-stderr cp_run -j 0x echo ::: a
    assert_cpar_usage_error '.*-j'
    local a
    for a in 'soon' 'later,fail=1' 'now,fail' 'now,fail=x' 'now,oops=1' 'soon,fail=1%%'; do
        run --separate-stderr cp_run --halt "$a" echo ::: a
        assert_cpar_usage_error '.*--halt'
    done
    run --separate-stderr cp_run --rate 0 echo ::: a
    assert_cpar_usage_error '.*--rate'
    run --separate-stderr cp_run --delay -1 echo ::: a
    assert_cpar_usage_error '.*--delay'
    run --separate-stderr cp_run --colsep '(' echo ::: a
    assert_equal "$status" 2
    assert_output ""
    run --separate-stderr cp_run --compare --joblog x echo ::: a
    assert_cpar_usage_error '.*--compare'
    run --separate-stderr cp_run -s process --line-buffer echo ::: a
    assert_cpar_usage_error '.*--line-buffer'
    run --separate-stderr cp_run -X --colsep , echo ::: a
    assert_cpar_usage_error '.*-X'
}

@test "GNU parallel options cpar does not support are usage errors naming the option" {
    local a
    for a in --pipe '--sshlogin x' --onall '--xargs' '--tee' '--sqlmaster x'; do
        # shellcheck disable=SC2086
        run --separate-stderr cp_run $a echo ::: a
        assert_cpar_usage_error ".*${a%% *}"
    done
}

@test "{= perl =} is refused with a clear message" {
    run --separate-stderr cp_run echo '{= $_ .= 1 =}' ::: a
    assert_cpar_usage_error '.*(perl|\{= =\})'
}

@test "a missing :::: or -a file: exit 255 and a message naming the file" {
    local f=$BATS_TEST_TMPDIR/no-such-file
    run --separate-stderr cp_run echo :::: "$f"
    assert_equal "$status" 255
    assert_output ""
    assert_stderr_regex "^cpar: .*$f"
    run --separate-stderr cp_run -a "$f" echo
    assert_equal "$status" 255
    assert_stderr_regex "^cpar: .*$f"
}

@test "a job writing 20 MB passes through intact, without cpar holding it in memory" {
    local out=$BATS_TEST_TMPDIR/big rss=$BATS_TEST_TMPDIR/rss
    if [[ -x /usr/bin/time ]]; then
        timeout -k 5 "$CTK_TIMEOUT" /usr/bin/time -f %M -o "$rss" \
            cpar -j2 -k 'head -c 20000000 /dev/zero; echo end {}' ::: 1 2 >"$out" </dev/null ||
            fail "cpar failed"
        local kb
        kb=$(tail -n 1 "$rss")
        ((kb < 40000)) || fail "max RSS ${kb} kB for 2 x 20 MB of output"
    else
        cp_run -j2 -k 'head -c 20000000 /dev/zero; echo end {}' ::: 1 2 >"$out"
    fi
    assert_equal "$(wc -c <"$out")" $((2 * 20000006))
    assert_equal "$(tr -d '\0' <"$out")" $'end 1\nend 2'
    # --tag on a big output tags every line.
    run bash -c 'timeout 60 cpar --tag "head -c 3000000 /dev/zero | tr \"\\000\" \"\\n\" # {}" ::: T </dev/null | uniq -c'
    assert_success
    assert_output --regexp '^ *3000000 T	$'
}

@test "each job's output is kept together with -j4 and jobs that write slowly" {
    run --separate-stderr cp_run -j4 'for i in 1 2 3 4 5; do echo {}-$i; sleep 0.05; done' ::: a b c d
    assert_success
    assert_equal "${#lines[@]}" 20
    # Four blocks, one per job, each its five lines in order.
    run awk -F- '$1 != prev { blocks++; prev = $1; n = 0 } { if ($2 != ++n) bad = 1 }
        END { print blocks, bad + 0 }' <<<"$output"
    assert_output "4 0"
    # With -u the lines of concurrent jobs mix: the test above can fail.
    run --separate-stderr cp_run -u -j4 'for i in 1 2 3 4 5; do echo {}-$i; sleep 0.05; done' ::: a b c d
    assert_success
    run awk -F- '$1 != prev { blocks++; prev = $1 } END { print (blocks > 4) }' <<<"$output"
    assert_output 1
}

# interrupt_cpar SIG STATUS ARGS...: runs cpar -j2 on three `sleep 30.MARK`
# jobs (ARGS: how the command is written), signals it once both running
# sleeps are seen, and checks it exits STATUS within seconds, leaving no
# sleep behind.
interrupt_cpar() {
    local sig=$1 want=$2 mark="30.$RANDOM$RANDOM"
    shift 2
    bg_cpar -j2 "$@" ::: "$mark" "$mark" "$mark"
    wait_pgrep "sleep $mark" 2 || fail "the jobs did not start"
    local pids t0
    pids=$(descendants "$CPAR")
    t0=$(now)
    kill -"$sig" "$CPAR"
    bg_wait
    elapsed_below "$t0" 5
    assert_equal "$BG_STATUS" "$want"
    assert_gone "$CPAR"
    # The jobs are dead: at most zombies that init has not reaped yet.
    local p i
    for p in $pids; do
        for ((i = 0; i < 100; i++)); do
            [[ $(ps -o stat= -p "$p" 2>/dev/null) == Z* || -z $(ps -o stat= -p "$p" 2>/dev/null) ]] && break
            sleep 0.02
        done
        [[ $(ps -o stat= -p "$p" 2>/dev/null) != [^Z]* ]] || fail "job $p still runs: $(ps -o args= -p "$p")"
    done
    run pgrep -f -- "sleep $mark"
    assert_failure 1
}

@test "SIGTERM: exit 143 within seconds, no job left (direct spawn)" {
    interrupt_cpar TERM 143 sleep
}

@test "SIGTERM under -s thread and -s async: exit 143, no job left" {
    interrupt_cpar TERM 143 -s thread sleep
    interrupt_cpar TERM 143 -s async 'sleep {}; echo never'
}

@test "SIGINT: exit 130 within seconds, no job left (direct spawn)" {
    interrupt_cpar INT 130 sleep
}

@test "SIGTERM: exit 143, no job left (jobs under a shell)" {
    interrupt_cpar TERM 143 'sleep {}; echo never'
}

@test "SIGINT: exit 130, no job left (jobs under a shell), nothing printed" {
    interrupt_cpar INT 130 'sleep {}; echo never'
    assert_equal "$(cat "$BG_OUT")" ""
}

@test "after an interrupted run, --resume runs the interrupted jobs, which were not logged" {
    local d=$BATS_TEST_TMPDIR mark="30.$RANDOM$RANDOM"
    local cmd="if [ {} = fast ] || [ -e $d/flag ]; then echo ran {}; else sleep $mark; fi"
    bg_cpar -j3 --joblog "$d/jl" "$cmd" ::: fast slow1 slow2
    wait_pgrep "^sleep $mark" 2 || fail "the jobs did not start"
    local i
    for ((i = 0; i < 250; i++)); do
        (($(wc -l <"$d/jl") >= 2)) && break
        sleep 0.02
    done
    kill -TERM "$CPAR"
    bg_wait
    assert_equal "$BG_STATUS" 143
    assert_equal "$(cat "$BG_OUT")" "ran fast"
    joblog_format "$d/jl"
    run tsv_col Seq <"$d/jl"
    assert_output 1
    touch "$d/flag"
    run --separate-stderr cp_run -k -j3 --resume --joblog "$d/jl" "$cmd" ::: fast slow1 slow2
    assert_success
    assert_output $'ran slow1\nran slow2'
    run tsv_col Seq <"$d/jl"
    assert_output $'1\n2\n3'
    run tsv_col Exitval <"$d/jl"
    assert_output $'0\n0\n0'
    # And now everything is done: a further --resume runs nothing.
    run --separate-stderr cp_run -k --resume --joblog "$d/jl" "$cmd" ::: fast slow1 slow2
    assert_success
    assert_output ""
}

# ---- options compared with GNU parallel, second part ---------------------------

@test "compat: --halt now|soon,fail|success|done=N|N%, and the old numeric forms" {
    local h
    for h in now,fail=1 soon,fail=1 soon,fail=2 now,success=1 soon,success=2 now,done=2 \
        now,fail=50% soon,success=30% 0 1 2 -1 -2 50%; do
        PAR_ERR=1 same_as_parallel -j1 -k --halt "$h" 'echo {}; exit {}' ::: 0 3 0 4 0 5
    done
    PAR_ERR=1 same_as_parallel -j1 -k --halt now,fail=1 'kill -15 $$' ::: a b
    # Under every strategy, no job starts once the condition is met.
    local s
    for s in thread async sync; do
        run --separate-stderr cp_run -s "$s" -j1 -k --halt now,fail=1 'echo {}; exit {}' ::: 0 3 0 4
        assert_equal "$status" 3
        assert_output $'0\n3'
    done
    # now: the running jobs end at once (their whole group), soon: they finish.
    local t0 mark="20.$RANDOM$RANDOM"
    t0=$(now)
    same_as_parallel -j2 --halt now,fail=1 'if [ {} = x ]; then sleep 0.3; exit 1; else sleep {}; fi' ::: x "$mark"
    elapsed_below "$t0" 10
    run pgrep -f -- "sleep $mark"
    assert_failure 1
    same_as_parallel -j2 -k --halt soon,fail=1 'sleep {}; echo {}; exit 1' ::: 0.2 0.5 0.1
}

# last_start_after T0 JOBLOG SECS: the last job started at least SECS after
# T0. Spacing between two starts can shrink when the first spawn ran late,
# but no start can come before its slot, so this holds on any machine.
last_start_after() {
    awk -v t0="$1" -v secs="$3" 'NR > 1 && $3 > last { last = $3 }
        END { if (last - t0 < secs - 0.002) { print "last start " last - t0 "s after t0"; exit 1 } }' "$2"
}

@test "compat: --delay spaces the starts; --rate N/s too (cpar's own)" {
    local t0 log=$BATS_TEST_TMPDIR/log
    same_as_parallel -k -j3 --delay 0.3 echo ::: a b c
    t0=$(date +%s.%N)
    run cp_run -k -j3 --delay 0.3 --joblog "$log" echo ::: a b c
    assert_success
    assert_output $'a\nb\nc'
    last_start_after "$t0" "$log" 0.6 || fail "--delay 0.3: starts too close"
    local s
    for s in process thread async; do
        t0=$(date +%s.%N)
        run cp_run -k -j3 -s "$s" --rate 5/s --joblog "$log" echo ::: a b c d
        assert_success
        assert_output $'a\nb\nc\nd'
        last_start_after "$t0" "$log" 0.6 || fail "$s --rate 5/s: starts too close"
    done
}

@test "compat: --tagstring with replacement strings" {
    same_as_parallel -k --tagstring '{}-x' echo hi ::: a 'b c'
    same_as_parallel -k --tagstring '[{2}] {1}/{2}' echo ::: a b ::: 1 2
    same_as_parallel -k --tagstring 'T' 'echo one; echo two' ::: a
    PAR_ERR=1 same_as_parallel -k --tagstring '{.}' 'echo out; echo err >&2' ::: f.txt
    same_as_parallel -k -u --tagstring 'ignored' echo ::: a
}

@test "compat: --colsep REGEX splits items into columns" {
    same_as_parallel -k --colsep , echo ::: a,b c,d,e
    same_as_parallel -k --colsep , echo {2} {1} ::: a,b c
    same_as_parallel -k --colsep '[,;]' echo {2}-{1}-{3} ::: 'x,y' ::: '1;2'
    PAR_IN=$(bytes_file 'a  b\nc d\n') same_as_parallel -k --colsep ' +' echo {2}
    PAR_IN=$(bytes_file 'a\tb\nc\td\n') same_as_parallel -k -C '\t' echo {2}{1}
    same_as_parallel -k --colsep , --dry-run echo ::: 'a b,c'
    same_as_parallel -k --colsep , --tag echo {1} ::: a,b
}

@test "compat: --results DIR: GNU parallel's folders and files, nothing on stdout" {
    same_as_parallel -k --results res 'echo {1}; echo e{2} >&2; exit 1' ::: a 'b/c' 'sp ace' 'x\y' ::: 1 2
    same_as_parallel --results res2/ echo ::: q
    local d=$BATS_TEST_TMPDIR
    diff -r "$d/parallel.d/res" "$d/cpar.d/res" || fail "--results trees differ"
    diff -r "$d/parallel.d/res2" "$d/cpar.d/res2" || fail "--results trees differ"
    assert_equal "$(cat "$d/cpar.d/res/1/sp ace/2/2/stderr")" "e2"
}

@test "compat: --line-buffer prints whole lines; with -k the output is in order" {
    same_as_parallel -k --line-buffer -j2 'echo {}-1; sleep 0.{}; echo {}-2' ::: 3 1
    same_as_parallel -k --lb --tag -j2 'echo {}-1; sleep 0.{}; printf {}-2' ::: 3 1
    PAR_SORT=1 same_as_parallel --line-buffer -j3 'echo {}-1; sleep 0.{}; echo {}-2' ::: 3 1 2
    # Lines come out while the job runs, not when it ends.
    bg_cpar --line-buffer 'echo start; sleep 30.{}' ::: "$RANDOM"
    local i
    for ((i = 0; i < 250; i++)); do
        [[ -s $BG_OUT ]] && break
        sleep 0.02
    done
    assert_equal "$(cat "$BG_OUT")" start
    kill -TERM "$CPAR"
    bg_wait
    assert_equal "$BG_STATUS" 143
}

@test "compat: -X and -m fill command lines as GNU parallel does, spread over the slots at the end" {
    same_as_parallel -k -X echo ::: 1 2 3 4 5
    same_as_parallel -k -j1 -X echo ::: 1 2 3 4 5
    same_as_parallel -k -j3 -X echo ::: $(seq 10)
    same_as_parallel -k -j2 -X echo pre{}post ::: 1 2 3 4 5
    same_as_parallel -k -j2 -m echo pre{}post ::: 1 2 3 4 5
    same_as_parallel -k -j2 -X echo {.}.x {#} ::: a.b c.d e.f
    same_as_parallel -k -j2 -X --dry-run echo {} {/} ::: d/a.b 'c d.e' "it's"
    same_as_parallel -k -j1 -m --dry-run echo ::: 'a b' c
    same_as_parallel -k -j1 -X 'echo {} | wc -w' ::: $(seq 20)
    PAR_IN=$(bytes_file "$(seq 30)") same_as_parallel -k -j1 --max-chars 20 -X echo
    PAR_IN=$(bytes_file "$(seq 30)") same_as_parallel -k -j1 -m --max-chars 30 echo {#}: {}
    PAR_IN=$(bytes_file "$(seq 30)") same_as_parallel -k -j1 -X --max-chars 40 echo {.} x{/}y {1}
    # Beyond the system's limit: lines break where GNU parallel breaks them.
    PAR_IN=$(bytes_file "$(seq 30000)") same_as_parallel -k -X echo a{}b
    PAR_IN=$(bytes_file "$(seq 30000)") same_as_parallel -k -m 'echo {} | wc'
}

@test "compat: --bar, --eta and --progress never touch stdout" {
    local o
    for o in --bar --eta --progress; do
        PAR_SORT=1 same_as_parallel "$o" -j2 echo ::: a b c
        PAR_IN=$(bytes_file 'x\ny\n') same_as_parallel -k "$o" echo
        run --separate-stderr cp_run "$o" -k echo ::: a b c
        assert_output $'a\nb\nc'
        [[ -n $stderr ]] || fail "$o drew nothing on stderr"
    done
}

@test "a finished job's output comes out while cpar waits for more input" {
    local out=$BATS_TEST_TMPDIR/out
    { echo first; sleep 3; echo second; } | timeout -k 5 "$CTK_TIMEOUT" cpar -j2 echo >"$out" &
    BG=$!
    local i
    for ((i = 0; i < 100; i++)); do
        [[ -s $out ]] && break
        sleep 0.02
    done
    assert_equal "$(cat "$out")" first
    bg_wait
    assert_equal "$BG_STATUS" 0
    assert_equal "$(cat "$out")" $'first\nsecond'
}

# ---- the bars of the issue, short versions -------------------------------------

@test "kill -9 cpar mid-run, then --resume: every job ran to success exactly once or is rerun" {
    local d=$BATS_TEST_TMPDIR n=40
    local cmd="sleep 0.05; echo x >> $d/ran.{}"
    timeout -k 5 "$CTK_TIMEOUT" cpar -j3 --joblog "$d/jl" "$cmd" ::: $(seq $n) </dev/null \
        >/dev/null 2>&1 &
    BG=$!
    local i
    for ((i = 0; i < 500; i++)); do
        [[ -f $d/jl ]] && (($(wc -l <"$d/jl") >= 6)) && break
        sleep 0.01
    done
    local cpar_pid
    cpar_pid=$(wait_tool cpar "$BG")
    kill -KILL "$cpar_pid"
    bg_wait
    sleep 0.3 # the orphaned jobs of the killed run end
    local first
    first=$(tail -n +2 "$d/jl" | cut -f1 | sort -n | tr '\n' ' ')
    (($(wc -w <<<"$first") < n)) || fail "the run ended before the kill"
    run --separate-stderr cp_run -j3 --resume --joblog "$d/jl" "$cmd" ::: $(seq $n)
    assert_success
    # The joblog has every job once, all succeeded, and no line was cut.
    joblog_format "$d/jl"
    run bash -c "tail -n +2 '$d/jl' | cut -f1 | sort -n"
    assert_output "$(seq $n)"
    run bash -c "tail -n +2 '$d/jl' | cut -f7 | sort -u"
    assert_output 0
    # Logged jobs were not rerun; every job ran at least once.
    local s
    for s in $first; do
        assert_equal "$(wc -l <"$d/ran.$s")" 1
    done
    for s in $(seq $n); do
        [[ -s $d/ran.$s ]] || fail "job $s never ran"
    done
}

@test "1,000,000 input lines with --dry-run: max RSS under 30 MB" {
    [[ -x /usr/bin/time ]] || skip "/usr/bin/time is not installed"
    local rss=$BATS_TEST_TMPDIR/rss
    seq 1000000 >"$BATS_TEST_TMPDIR/m"
    timeout -k 5 "$CTK_TIMEOUT" /usr/bin/time -f %M -o "$rss" cpar -k --dry-run echo {} \
        <"$BATS_TEST_TMPDIR/m" >"$BATS_TEST_TMPDIR/out" || fail "cpar failed"
    assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/out")" 1000000
    assert_equal "$(tail -n 1 "$BATS_TEST_TMPDIR/out")" "echo 1000000"
    # Sanitizers keep freed memory in quarantine: RSS means nothing there.
    [[ -n ${CTK_SANITIZED:-} ]] && return 0
    local kb
    kb=$(tail -n 1 "$rss")
    ((kb < 30000)) || fail "max RSS ${kb} kB"
}

@test "a job writing 300 MB does not deadlock cpar, under each strategy, and arrives whole" {
    local s
    for s in process thread async; do
        run bash -c "timeout 60 cpar -s $s -k 'head -c 300000000 /dev/zero; echo end {}' ::: a </dev/null | wc -c"
        assert_success
        assert_output 300000006
    done
}

@test "jobs and their results cross a process boundary as bytes: the wirepair fixture strategy gives thread's output" {
    local so
    so=$(fixture_plugin wirepair)
    local cmd='printf "%s|%s\n" {1} {2}; echo "err {#}" >&2; exit $(( {#} % 3 ))'
    run --separate-stderr timeout 60 cpar -k --tag --joblog "$BATS_TEST_TMPDIR/t.log" -s thread "$cmd" ::: a 'b c' ::: 1 2
    local want_out=$output want_err=$stderr want_status=$status
    run --separate-stderr timeout 60 cpar --plugin "$so" -k --tag --joblog "$BATS_TEST_TMPDIR/w.log" -s wirepair "$cmd" ::: a 'b c' ::: 1 2
    assert_equal "$status" "$want_status"
    assert_equal "$output" "$want_out"
    assert_equal "$stderr" "$want_err"
    # The joblog's seq, exit value and command agree, line for line.
    assert_equal "$(cut -f1,7,9 "$BATS_TEST_TMPDIR/w.log")" "$(cut -f1,7,9 "$BATS_TEST_TMPDIR/t.log")"
}

# ---- hardening: low limits, full disks, planted links, kills (issue 13) ------------

@test "under a low ulimit -n, -j is capped with a warning and every job's output and joblog line are kept, under each strategy" {
    local s d=$BATS_TEST_TMPDIR
    for s in process sync thread async; do
        rm -f "$d/jl" "$d/side"
        run --separate-stderr bash -c "ulimit -Sn 64 && ulimit -Hn 64 && cd '$d' &&
            seq 100 | timeout 60 cpar -s $s -j60 --joblog jl 'echo {} >> side; echo {}'"
        assert_success
        assert_equal "$(sort -n <<<"$output")" "$(seq 100)"
        assert_equal "$(tail -n +2 "$d/jl" | cut -f1 | sort -n)" "$(seq 100)"
        assert_equal "$(wc -l <"$d/side")" 100
        if [[ $s != sync ]]; then
            [[ $stderr =~ ^cpar:\ only\ enough\ file\ descriptors\ \(64\)\ to\ run\ [0-9]+\ jobs\ at\ once,\ not\ 60$ ]] ||
                fail "$s: no fd cap warning: $stderr"
        fi
    done
    # The soft limit is raised toward the hard one before -j is lowered.
    run --separate-stderr bash -c "ulimit -Sn 64 && ulimit -Hn 4096 && seq 100 | timeout 60 cpar -j60 'echo {}' | wc -l"
    assert_success
    assert_output 100
    assert_equal "$stderr" ""
}

# full_fs: a 1 MB tmpfs at $BATS_TEST_TMPDIR/full (root only; skips
# otherwise); unmounted by teardown_full_fs.
full_fs() {
    FULL=$BATS_TEST_TMPDIR/full
    mkdir -p "$FULL"
    mount -t tmpfs -o size=1m tmpfs "$FULL" 2>/dev/null || skip "cannot mount a tmpfs (not root?)"
}

teardown() {
    [[ -n ${FULL:-} ]] && umount "$FULL" 2>/dev/null
    ctk_cleanup
}

@test "--results on a full disk: a job whose output was lost has failed (exit status, Exitval, message), under each strategy" {
    full_fs
    local s
    for s in process thread async; do
        rm -rf "${FULL:?}"/*
        run --separate-stderr timeout 60 cpar -s "$s" --joblog "$BATS_TEST_TMPDIR/jr" --results "$FULL/res" \
            'head -c 300000 /dev/zero; : {}' ::: $(seq 10)
        local lost
        lost=$(tail -n +2 "$BATS_TEST_TMPDIR/jr" | awk -F'\t' '$7 != 0' | wc -l)
        ((lost > 0)) || fail "$s: no job reported failed"
        assert_equal "$status" "$lost"
        [[ $stderr == *"cannot keep output of job "*"No space left on device"* ]] || fail "$s: $stderr"
        # Every job logged as a success has its whole output.
        local seq
        for seq in $(tail -n +2 "$BATS_TEST_TMPDIR/jr" | awk -F'\t' '$7 == 0 {print $1}'); do
            assert_equal "$(wc -c <"$FULL/res/1/$seq/stdout")" 300000
        done
    done
}

@test "a full TMPDIR: cpar says the job's output could not be kept, and the job counts failed" {
    full_fs
    local s
    for s in process thread async; do
        run --separate-stderr env TMPDIR="$FULL" timeout 60 cpar -s "$s" 'head -c 1600000 /dev/zero; : {}' ::: 1 2 3 4
        ((status > 0)) || fail "$s: exit $status"
        [[ $stderr == *"cannot keep the job's output: No space left on device"* ]] || fail "$s: $stderr"
        [[ $stderr != *"cannot run"* ]] || fail "$s: $stderr"
    done
}

@test "a joblog on a full disk is a reported write error; --resume reruns a torn last line instead of refusing the log" {
    full_fs
    head -c $((1024 * 1024 - 8192)) /dev/zero >"$FULL/fill" 2>/dev/null || true
    run --separate-stderr timeout 60 cpar --joblog "$FULL/jl" 'echo {}' ::: $(seq 300)
    assert_equal "$status" 255
    [[ $stderr == *"--joblog $FULL/jl: cannot write: No space left on device"* ]] || fail "$stderr"
    # The log holds whole lines only.
    assert_equal "$(tail -c 1 "$FULL/jl" | od -An -c | tr -d ' ')" '\n'
    rm "$FULL/fill"
    run timeout 60 cpar --resume --joblog "$FULL/jl" 'echo {}' ::: $(seq 300)
    assert_success
    assert_equal "$(tail -n +2 "$FULL/jl" | cut -f1 | sort -n)" "$(seq 300)"
    # A torn last line (even one with every field) is rerun, and not glued to.
    local jl=$BATS_TEST_TMPDIR/torn
    cpar --joblog "$jl" 'echo {}' ::: 1 2 >/dev/null
    printf '3\t:\t1.0\t0\t2\t0\t0\techo' >>"$jl"
    run timeout 60 cpar --resume --joblog "$jl" 'echo {}' ::: 1 2 3 4
    assert_success
    assert_equal "$(sort <<<"$output")" $'3\n4'
    assert_equal "$(tail -n +2 "$jl" | cut -f1 | sort -n)" "$(seq 4)"
    assert_equal "$(awk -F'\t' 'NF != 9' "$jl")" ""
}

@test "--results follows no planted link, for a file or a folder" {
    local d=$BATS_TEST_TMPDIR
    mkdir -p "$d/res/1/a" "$d/res2/1" "$d/elsewhere"
    echo keep >"$d/victim"
    ln -s "$d/victim" "$d/res/1/a/stdout"
    ln -s "$d/elsewhere" "$d/res2/1/a"
    run --separate-stderr cpar --results "$d/res" 'echo {}' ::: a
    assert_equal "$status" 1
    assert_equal "$(cat "$d/victim")" keep
    [[ $stderr == *"cannot keep output of job 1"* ]] || fail "$stderr"
    run --separate-stderr cpar --results "$d/res2" 'echo {}' ::: a
    assert_equal "$status" 1
    assert_equal "$(ls -A "$d/elsewhere")" ""
}

@test "--timeout ends the job's whole process group under every strategy" {
    local s t0
    for s in process sync thread async; do
        t0=$(now)
        run --separate-stderr timeout 60 cpar -s "$s" --timeout 1 'sleep 30 & echo {}' ::: 1
        assert_equal "$status" 1
        elapsed_below "$t0" 10
    done
}

@test "a job that cannot be started reports the real errno under every strategy" {
    local s big=$BATS_TEST_TMPDIR/big
    head -c 200000 /dev/zero | tr '\0' a >"$big"
    echo >>"$big"
    for s in process sync thread async; do
        # GNU parallel refuses a line over its limit before exec (exit
        # 255, issue 15); cpar says so in parallel's words.
        run --separate-stderr timeout 60 cpar -s "$s" 'echo {} | wc -c' :::: "$big"
        assert_equal "$status" 255
        [[ $stderr == *"Command line too long"* ]] || fail "$s: $stderr"
        [[ $stderr != *"Permission denied"* ]] || fail "$s: $stderr"
    done
}

@test "kill -9 of cpar ends its running jobs too, under every strategy" {
    local s d=$BATS_TEST_TMPDIR pid i
    for s in process sync thread async; do
        rm -f "$d"/job.*
        cpar -s "$s" -j2 'echo $$ > '"$d"'/job.{}; exec sleep 30' ::: a b </dev/null >/dev/null 2>&1 &
        pid=$!
        for i in $(seq 100); do
            [[ -s $d/job.a ]] && { [[ $s == sync ]] || [[ -s $d/job.b ]]; } && break
            sleep 0.05
        done
        [[ -s $d/job.a ]] || fail "$s: no job started"
        kill -KILL "$pid"
        wait "$pid" 2>/dev/null || true
        for i in $(seq 100); do
            alive "$(cat "$d/job.a")" || break
            sleep 0.05
        done
        alive "$(cat "$d/job.a")" && fail "$s: job outlived cpar"
        [[ -s $d/job.b ]] && alive "$(cat "$d/job.b")" && fail "$s: job b outlived cpar"
    done
    return 0
}

@test "compat: --resume reads a joblog Seq past 2^32 as itself, not as a small job number" {
    # Found by fuzzing the joblog reader: seq 4294967297 skipped job 1.
    local d=$BATS_TEST_TMPDIR p
    for p in parallel cpar; do
        mkdir -p "$d/$p.d"
        printf 'Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n4294967297\t:\t1700000000.000\t     0.001\t0\t2\t0\t0\techo x\n' \
            >"$d/$p.d/jl"
    done
    same_as_parallel -k --resume --joblog jl echo ::: a b
    assert_equal "$(tr '\n' ' ' <"$d/cpar.out")" "a b "
}

# ---- nothing left in TMPDIR (issue 13, #14) ------------------------------------------

@test "outputs bigger than memory are byte-identical to parallel's and leave TMPDIR empty, under every strategy" {
    need_parallel
    local s tmp=$BATS_TEST_TMPDIR/tmp want got
    mkdir "$tmp"
    # 2.6 MB of stdout and 0.6 MB of stderr per job: past the 1 MB kept in memory.
    want=$(parallel -k -j3 'seq {} 400000; seq 100000 >&2' ::: 1 2 3 4 5 2>&1 | md5sum)
    for s in process sync thread async; do
        got=$(TMPDIR=$tmp timeout 60 cpar -s "$s" -j3 -k 'seq {} 400000; seq 100000 >&2' ::: 1 2 3 4 5 2>&1 | md5sum)
        assert_equal "$got" "$want"
        got=$(TMPDIR=$tmp timeout 60 cpar -s "$s" -j3 --tag 'seq {} 400000' ::: 1 2 3 4 5 | sort | md5sum)
        assert_equal "$got" "$(parallel -j3 --tag 'seq {} 400000' ::: 1 2 3 4 5 | sort | md5sum)"
        rm -rf "$BATS_TEST_TMPDIR/res"
        TMPDIR=$tmp timeout 60 cpar -s "$s" --results "$BATS_TEST_TMPDIR/res" 'seq {} 400000' ::: 7
        cmp "$BATS_TEST_TMPDIR/res/1/7/stdout" <(seq 7 400000) || fail "$s: --results differs"
        assert_equal "$(ls -A "$tmp")" ""
    done
}

@test "SIGKILL, SIGTERM and SIGINT mid-run leave TMPDIR empty, with outputs past memory waiting, under every strategy" {
    local d=$BATS_TEST_TMPDIR tmp=$BATS_TEST_TMPDIR/tmp
    mkdir "$tmp"
    # Job 8 holds -k's order: the 2.6 MB outputs of the jobs running beside
    # it wait (sync: it is killed while running).
    assert_signals_leave_tmp_empty "$tmp" 6 0.2 - cpar -k -j4 \
        'if [ {} = 8 ]; then sleep @MARK@; fi; seq 400000; touch '"$d"'/done.{}' ::: $(seq 12)
}

@test "kill -9 of cpar --compare leaves no copy of stdin in TMPDIR" {
    local tmp=$BATS_TEST_TMPDIR/tmp mark="30.0$$$RANDOM" pid n
    mkdir "$tmp"
    for n in 1 2 3; do
        seq 3 | TMPDIR=$tmp cpar --compare=sync,process 'sleep '"$mark"'; echo {}' >/dev/null 2>&1 &
        pid=$!
        wait_pgrep "sleep $mark" 1 || fail "no job started"
        kill -KILL "$pid"
        wait "$pid" 2>/dev/null || true
        kill_marked "sleep $mark"
        [[ -z $(ls -A "$tmp") ]] || fail "run $n: left $(ls -A "$tmp")"
    done
    # And the copy still feeds every row.
    seq 3 | TMPDIR=$tmp timeout 60 cpar --compare=sync,process 'echo {} >>'"$BATS_TEST_TMPDIR"'/ran' >/dev/null
    assert_equal "$(sort "$BATS_TEST_TMPDIR/ran" | tr '\n' ' ')" "1 1 2 2 3 3 "
    [[ -z $(ls -A "$tmp") ]] || fail "left $(ls -A "$tmp")"
}

# ---- kill -9 leaves no job process (issue 13, #15) -------------------------------------

@test "kill -9 of cpar ends its jobs' grandchildren too, under every strategy" {
    assert_kill9_ends_grandchildren job - cpar -j4 'sleep @MARK@; echo {}' ::: 1 2 3 4
}
