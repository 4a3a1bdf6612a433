#!/usr/bin/env bats
# limits.bats: what runs out does not fail work. A cqueue job that cannot
# start for want of descriptors or space waits and starts again (no
# failure, no attempt counted); cfetch retries a reused connection the
# server closed before answering, without counting an attempt.

# shellcheck disable=SC2016,SC2154
load helpers
load httpd

setup() {
    export CQUEUE_DB="$BATS_TEST_TMPDIR/q.db"
    export XDG_STATE_HOME="$BATS_TEST_TMPDIR/state"
    OUT="$BATS_TEST_TMPDIR/q.db.d/out"
    WORKER=
    MOUNTED=
}

teardown() {
    if [[ -n $WORKER ]]; then
        kill -KILL "$WORKER" 2>/dev/null || true
        wait "$WORKER" 2>/dev/null || true
    fi
    [[ -z $MOUNTED ]] || umount "$MOUNTED" 2>/dev/null || true
    httpd_stop # a failed test leaves no server behind
}

# every_job_done N: N jobs, each done after exactly one attempt, and each
# one's own output file holds its number (nothing lost, nothing twice).
every_job_done() {
    local n=$1
    run cqueue ls
    local states
    states=$(awk -F'\t' '{ print $2 "/" $5 }' <<<"$output" | sort | uniq -c | awk '{ print $1, $2 }')
    [[ $states == "$n done/1" ]] || fail "not every job done after one attempt: $states"
    local got
    got=$(cat "$OUT"/*.out | sort -n | uniq -c | awk '$1 == 1 { n++ } END { print n + 0 }')
    ((got == n)) || fail "$got of $n jobs' outputs hold their number once"
}

@test "cqueue work -j200 under ulimit -n 256: every job runs, none fails, -j lowered with a reason" {
    seq 300 | cqueue add - --cmd 'sleep 0.2; echo {}' >/dev/null
    run --separate-stderr bash -c 'ulimit -n 256 && timeout -k 5 "$1" cqueue work -j200 --drain' x "$CTK_TIMEOUT"
    assert_success
    [[ $stderr == *"only enough file descriptors (256) to run"*"not 200"* ]] || fail "no reason given: $stderr"
    ((${#stderr_lines[@]} == 1)) || fail "said more than once: $stderr"
    every_job_done 300
}

@test "descriptors that run out under a running worker: jobs wait and start again, on every strategy" {
    local s
    for s in thread async process sync; do
        rm -rf "$CQUEUE_DB"* "$BATS_TEST_TMPDIR/q.db.d"
        seq 200 | cqueue add - --cmd 'sleep 0.2; echo {}' >/dev/null
        (
            ulimit -n 4096
            exec timeout -k 5 "$CTK_TIMEOUT" cqueue work -s "$s" -j100 --drain 2>"$BATS_TEST_TMPDIR/err"
        ) &
        WORKER=$!
        local pid='' i
        for ((i = 0; i < 200; i++)); do
            pid=$(pgrep -o -f "^[^ ]*cqueue work -s $s -j100" || true)
            [[ -z $pid ]] || break
            sleep 0.02
        done
        [[ -n $pid ]] || fail "$s: no worker"
        sleep 0.3
        # The soft limit falls under it mid-run: starts fail with EMFILE.
        prlimit --pid "$pid" --nofile=150:150
        wait "$WORKER" || fail "$s: the worker failed: $(cat "$BATS_TEST_TMPDIR/err")"
        WORKER=
        every_job_done 200
    done
}

@test "a full output folder: jobs wait for space instead of failing, and run once it is freed" {
    ((EUID == 0)) || skip "mounting a small tmpfs needs root"
    seq 40 | cqueue add - --cmd 'head -c 1000 /dev/zero; echo {}' >/dev/null
    mount -t tmpfs -o size=256k,mode=0700 tmpfs "$OUT" 2>/dev/null || skip "cannot mount a tmpfs here"
    MOUNTED=$OUT
    head -c 300k /dev/zero >"$OUT/filler" 2>/dev/null || true
    timeout -k 5 "$CTK_TIMEOUT" cqueue work -j4 --drain 2>"$BATS_TEST_TMPDIR/err" &
    WORKER=$!
    sleep 1.5
    run cqueue ls --state failed
    assert_output ''
    run cqueue ls --state "done"
    assert_output ''
    rm "$OUT/filler"
    wait "$WORKER" || fail "the worker failed: $(cat "$BATS_TEST_TMPDIR/err")"
    WORKER=
    grep -q 'No space left on device' "$BATS_TEST_TMPDIR/err" || fail "no reason said: $(cat "$BATS_TEST_TMPDIR/err")"
    rm -f "$OUT/filler"
    every_job_done 40
}

@test "cfetch: a server that closes after each response without saying so: 200 URLs succeed, one attempt each, every strategy" {
    httpd_start
    local s i
    for ((i = 1; i <= 200; i++)); do
        echo "$HTTPD_URL/silent-close/$i"
    done >"$BATS_TEST_TMPDIR/urls"
    # The oracle: curl, reusing its connections, gets every one too.
    local curl_args=()
    for ((i = 1; i <= 50; i++)); do
        curl_args+=(-o /dev/null "$HTTPD_URL/silent-close/curl-$i")
    done
    run curl -sS --fail "${curl_args[@]}"
    assert_success
    for s in sync thread process async; do
        run --separate-stderr timeout -k 5 "$CTK_TIMEOUT" cfetch -s "$s" -j8 -i "$BATS_TEST_TMPDIR/urls"
        ((status == 0)) || fail "$s: exit $status: $stderr"
        local bad
        bad=$(awk -F'\t' '$3 != 200 || $7 != 1' <<<"$output")
        [[ -z $bad ]] || fail "$s: failed or retried: $bad"
        ((${#lines[@]} == 200)) || fail "$s: ${#lines[@]} records"
    done
    # A request sent on a dead connection never reached the server: it
    # answered each URL once per strategy, nothing twice.
    run awk -F'\t' '$3 ~ /^\/silent-close\/[0-9]/ { print $3 }' "$HTTPD_LOG"
    local dup
    dup=$(sort <<<"$output" | uniq -c | awk '$1 != 4' | head -n 3)
    [[ -z $dup ]] || fail "a URL not answered once per strategy: $dup"
    httpd_stop
}

@test "cpar under ulimit -n 50 runs several jobs at once (GNU parallel runs 8), and every job's output is whole" {
    run --separate-stderr bash -c 'ulimit -n 50; seq 40 | cpar -k -j0 "head -c 200000 /dev/zero | wc -c; : {}"'
    assert_success
    [[ $stderr =~ run\ ([0-9]+)\ jobs\ at\ once ]] || fail "no warning: $stderr"
    ((BASH_REMATCH[1] >= 3)) || fail "only ${BASH_REMATCH[1]} jobs at once: $stderr"
    assert_equal "$(sort -u <<<"$output")" 200000
    assert_equal "${#lines[@]}" 40
}
