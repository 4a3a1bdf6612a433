#!/usr/bin/env bats
# stdout.bats: every write to standard output is checked, in every tool
# and every path (records, job output, tables, --help, --version,
# --list-strategies), as GNU tools do with close_stdout: a full device is
# "cmd: write error: No space left on device" and a failing status; a
# reader that went away stays quiet (SIGPIPE or 141).

# shellcheck disable=SC2016,SC2154
load helpers
load httpd

STRATEGIES="sync thread process async"

setup_file() {
    [[ -w /dev/full ]] || skip "no /dev/full"
    httpd_start
}

teardown_file() {
    httpd_stop
}

setup() {
    [[ -w /dev/full ]] || skip "no /dev/full"
    export CQUEUE_DB="$BATS_TEST_TMPDIR/q.db"
    export XDG_STATE_HOME="$BATS_TEST_TMPDIR/state"
}

# full STATUS CMD...: CMD with stdout on /dev/full exits STATUS and says
# why, once.
full() {
    local want=$1
    shift
    run --separate-stderr timeout -k 5 "$CTK_TIMEOUT" bash -c '"$@" >/dev/full' full "$@"
    ((status == want)) || fail "$*: exit $status, not $want (stderr: $stderr)"
    [[ $stderr == *"$1: write error: No space left on device"* ]] ||
        fail "$*: no write error message: $stderr"
    local n
    n=$(grep -c 'write error' <<<"$stderr")
    ((n == 1)) || fail "$*: the write error reported $n times: $stderr"
}

@test "--help, --version and --list-strategies on a full device fail in every tool" {
    local t
    for t in cburn cpar cfetch cpipe cqueue; do
        local fail=1
        [[ $t == cpar || $t == cpipe ]] && fail=255
        full $fail "$t" --help
        full $fail "$t" --version
        full $fail "$t" --list-strategies
    done
    full 1 cqueue ls --help
}

@test "cpar: job output on a full device fails on every strategy; a failed job keeps its count" {
    local s
    for s in $STRATEGIES; do
        full 255 cpar -s "$s" 'seq 1 2000' ::: $(seq 20)
        full 255 cpar -s "$s" echo ::: 1 2
        full 255 cpar -s "$s" --records - true ::: 1 2
    done
    full 255 cpar --dry-run echo ::: 1 2
    full 255 cpar --compare=sync,thread true ::: 1
    # Failed jobs still count: the write error only turns 0 into a failure.
    full 2 cpar 'echo {}; exit {}' ::: 0 1 1
}

@test "cpipe: output on a full device fails on every strategy" {
    local s
    for s in $STRATEGIES; do
        full 255 cpipe -s "$s" -a <(seq 100000) cat
        run --separate-stderr bash -c 'seq 100000 | cpipe -s "$1" cat >/dev/full' x "$s"
        ((status == 255)) || fail "$s: exit $status"
        [[ $stderr == *"cpipe: write error: No space left on device"* ]] || fail "$s: $stderr"
    done
}

@test "cburn: the table and map records on a full device" {
    full 1 cburn -s sync -t 2 -n 10
    full 1 cburn --compare=sync,thread -t 2 -n 10
    run --separate-stderr bash -c 'printf "5\n" | cburn -k - >/dev/full'
    ((status == 1)) || fail "map mode: exit $status"
    [[ $stderr == *"cburn: write error: No space left on device"* ]] || fail "$stderr"
}

@test "cfetch: records and bodies on a full device fail on every strategy" {
    local s
    for s in $STRATEGIES; do
        full 1 cfetch -s "$s" "$HTTPD_URL/bytes/10" "$HTTPD_URL/bytes/20"
        full 1 cfetch -s "$s" --body "$HTTPD_URL/bytes/100000"
        full 1 cfetch -s "$s" --format json "$HTTPD_URL/bytes/10"
    done
}

@test "cqueue: every subcommand that prints fails on a full device" {
    cqueue add -- seq 1 50000 >/dev/null
    cqueue work --drain >/dev/null 2>&1
    local c
    for c in "ls" "ls --format json" "ls --format table" "show 1" "cat 1" "stats" "add -- true"; do
        # shellcheck disable=SC2086
        full 1 cqueue $c
    done
}

@test "a reader that went away is no error message: SIGPIPE or 141, quietly" {
    run --separate-stderr bash -c 'cpar "seq 1 2000" ::: $(seq 20) | head -n 1; echo "${PIPESTATUS[0]}" >&2'
    [[ ${stderr_lines[-1]} == 141 ]] || fail "cpar: $stderr"
    ((${#stderr_lines[@]} == 1)) || fail "cpar said more: $stderr"
    run --separate-stderr bash -c 'seq 1000000 | cpipe cat | head -n 1; echo "${PIPESTATUS[1]}" >&2'
    [[ ${stderr_lines[-1]} == 141 ]] || fail "cpipe: $stderr"
    ((${#stderr_lines[@]} == 1)) || fail "cpipe said more: $stderr"
    cqueue add -- seq 1 500000 >/dev/null
    cqueue work --drain >/dev/null 2>&1
    run --separate-stderr bash -c 'cqueue cat 1 | head -n 1; echo "${PIPESTATUS[0]}" >&2'
    [[ ${stderr_lines[-1]} == 141 ]] || fail "cqueue cat: $stderr"
    ((${#stderr_lines[@]} == 1)) || fail "cqueue cat said more: $stderr"
}
