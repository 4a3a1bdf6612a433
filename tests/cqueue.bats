#!/usr/bin/env bats
# cqueue.bats: black-box tests of the cqueue command: every command as a
# user sees it, bad input, dependencies, leases after kill -9 (a short
# version of bench/cqueue.sh's durability run) and many producers and
# workers at once.

#
# CQUEUE_TEST_STORE picks the store every test runs on: sqlite (the
# default) or postgres, for which a throwaway server is started for the
# file (tests/pg.bash) and each test gets a database of its own
# (tests/cqueue-pg.bats runs this file so).

# shellcheck disable=SC1083,SC2016
load helpers
load pg

# tests/cqueue-pg.bats is a link to this file: run under that name, the
# store is postgres.
STORE=${CQUEUE_TEST_STORE:-sqlite}
[[ $(basename "$BATS_TEST_FILENAME") == cqueue-pg.bats ]] && STORE=${CQUEUE_TEST_STORE:-postgres}

setup_file() {
    # A store plugin, built the way an outside author would build one.
    FIXTURES=$BATS_FILE_TMPDIR
    fixture_plugin memtest >/dev/null
    fixture_plugin wirepair >/dev/null
    export FIXTURES
    if [[ $STORE == postgres ]]; then
        local why
        why=$(pg_missing)
        [[ -z $why ]] || skip "$why"
        pg_start
        CTK_PLUGIN_PATH="$CTK_PLUGIN_PATH:$CTK_BUILDDIR/plugins/store-postgres/.libs"
        export CTK_PLUGIN_PATH
    fi
}

teardown_file() {
    pg_stop
}

setup() {
    export XDG_STATE_HOME="$BATS_TEST_TMPDIR/state"
    WORKERS=()
    if [[ $STORE == postgres ]]; then
        export CQUEUE_DB
        CQUEUE_DB=$(new_db q)
        SIDE="$XDG_STATE_HOME/ctk/postgresql.d"
    else
        export CQUEUE_DB="$BATS_TEST_TMPDIR/q.db"
        SIDE="$BATS_TEST_TMPDIR/q.db.d"
    fi
    OUT="$SIDE/out"
}

teardown() {
    local p
    for p in "${WORKERS[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    ctk_cleanup
}

# new_db NAME: the --db value of a new, empty queue database.
new_db() {
    if [[ $STORE == postgres ]]; then
        psql -X -qAt "$PG_URL/postgres" -c "CREATE DATABASE t${BATS_TEST_NUMBER}_$1" >/dev/null
        echo "$PG_URL/t${BATS_TEST_NUMBER}_$1"
    else
        echo "$BATS_TEST_TMPDIR/$1.db"
    fi
}

# dbq SQL: a query on the jobs table of $CQUEUE_DB, on either store.
dbq() {
    if [[ $STORE == postgres ]]; then
        PGOPTIONS='-c search_path=cqueue' psql -X -qAt "$CQUEUE_DB" -c "$1"
    else
        sqlite3 "$CQUEUE_DB" "$1"
    fi
}

# db_check: the store's own integrity check says ok.
db_check() {
    if [[ $STORE == postgres ]]; then
        assert_equal "$(dbq "SELECT count(*) FROM deps d WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = d.job)")" 0
    else
        assert_equal "$(sqlite3 "$CQUEUE_DB" 'PRAGMA integrity_check')" ok
    fi
}

# sqlite_only: the test is about the SQLite file itself.
sqlite_only() {
    [[ $STORE == sqlite ]] || skip "about the SQLite store's file ($1)"
}

cq() {
    timeout -k 5 "$CTK_TIMEOUT" cqueue "$@"
}

# state ID: the job's state as ls prints it.
state() {
    cq ls | awk -F'\t' -v id="$1" '$1 == id { print $2 }'
}

# field ID NAME: a line of `show ID`.
field() {
    cq show "$1" | awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print }'
}

@test "add prints ids; ls lists the jobs as TSV and JSON with the record fields" {
    run cq add -- echo hello
    assert_success
    assert_output 1
    run cq add --name two 'echo a | tr a b'
    assert_output 2
    run cq ls --header
    assert_success
    assert_line --index 0 "$(printf 'id\tstate\texit\tsignal\tattempts\tqueued_at\tstart\telapsed\tname\tcmd\treason')"
    assert_equal "$(cq ls --header | tsv_col cmd)" "$(printf 'echo hello\necho a | tr a b')"
    run bash -c 'cqueue ls --format json | python3 -c "
import json, sys
for line in sys.stdin:
    r = json.loads(line); print(r[\"id\"], r[\"state\"], r[\"name\"])"'
    assert_output "$(printf '1 queued None\n2 queued two')"
}

@test "work --drain runs every job; cat shows each stream; show records exit and attempts" {
    cq add -- sh -c 'echo out; echo err >&2; exit 3'
    cq add 'echo a | tr a b'
    run cq work --drain -j2
    assert_failure 1 # job 1 failed (issue 15: it was 0)
    assert_equal "$(state 1)" failed
    assert_equal "$(state 2)" done
    run --separate-stderr cq cat 1
    assert_output out
    assert_equal "$stderr" err
    run cq cat 2
    assert_output b
    assert_equal "$(field 1 exit)" 3
    assert_equal "$(field 1 attempts)" 1
    assert_equal "$(field 2 cwd)" "$PWD"
}

@test "add - adds one job per line in a batch and prints the id range; --cmd fills a template" {
    run bash -c 'seq 5 | cqueue add -'
    assert_output 1-5
    run bash -c 'printf "a.txt\nb/c.gz\n" | cqueue add - --cmd "echo {.} {/}"'
    assert_output 6-7
    run cq work --drain
    assert_failure 1  # a job failed (issue 15)
    assert_equal "$(cq cat 7)" "b/c c.gz"
    assert_equal "$(cq cat 6)" "a a.txt"
    run bash -c 'printf "" | cqueue add -'
    assert_success
    assert_output ""
}

@test "a command that does not exist fails with 127, recorded" {
    cq add -- no-such-command-anywhere x
    cq add no-such-command-either
    run cq work --drain
    assert_failure 1  # a job failed (issue 15)
    assert_equal "$(state 1)" failed
    assert_equal "$(field 1 exit)" 127
    assert_equal "$(field 1 reason)" "command not found"
    assert_equal "$(field 2 exit)" 127
    run cq cat 1
    assert_output --partial "command not found"
}

@test "--after waits for a job; a failed dependency cancels its dependents with the reason" {
    cq add -- false
    cq add --after 1 -- echo never
    cq add --after 2 -- echo never2
    cq add -- true
    cq add --after 4 -- echo runs
    run cq work --drain
    assert_failure 1  # a job failed (issue 15)
    assert_equal "$(state 2)" cancelled
    assert_equal "$(field 2 reason)" "dependency 1 failed"
    assert_equal "$(field 3 reason)" "dependency 2 cancelled"
    assert_equal "$(state 5)" done
    assert_equal "$(cq ls --state cancelled | cut -f11)" "$(printf 'dependency 1 failed\ndependency 2 cancelled')"
    run --separate-stderr cq add --after 99 -- true
    assert_failure 1
    assert_stderr_regex "no such job"
}

@test "retry queues a failed job again and brings back what it cancelled; --failed retries all" {
    touch "$BATS_TEST_TMPDIR/flag"
    cq add -- sh -c "test ! -e '$BATS_TEST_TMPDIR/flag'"
    cq add --after 1 -- echo dep
    run cq work --drain
    assert_failure 1  # a job failed (issue 15)
    assert_equal "$(state 2)" cancelled
    rm "$BATS_TEST_TMPDIR/flag"
    cq retry 1
    assert_equal "$(state 2)" queued
    cq work --drain
    assert_equal "$(state 1)" done
    assert_equal "$(state 2)" done
    assert_equal "$(field 1 attempts)" 2
    cq add -- false
    cq add -- false
    run cq work --drain
    assert_failure 1  # a job failed (issue 15)
    run cq retry --failed
    assert_output 2
    run --separate-stderr cq retry 1
    assert_failure 1
    assert_stderr_regex "not failed or cancelled"
}

@test "--retries runs a failing job again; --timeout ends it" {
    cq add --retries 2 -- false
    cq add --timeout 0.3 -- sleep 30
    run cq work --drain -j2
    assert_failure 1  # a job failed (issue 15)
    assert_equal "$(field 1 attempts)" 3
    assert_equal "$(state 1)" failed
    assert_equal "$(state 2)" failed
    assert_equal "$(field 2 reason)" "timed out after 0.3 s"
    assert_equal "$(field 2 signal)" 15
}

@test "--key adds a job once while it is queued; --priority runs first; --weight takes slots" {
    run cq add --key k1 -- echo one
    assert_output 1
    run cq add --key k1 -- echo again
    assert_output 1
    cq add --priority 5 -- echo high
    cq add --priority -3 -- echo low
    cq work --drain -j1
    # start times order the runs.
    order=$(cq ls --header | awk -F'\t' 'NR > 1 { print $7, $10 }' | sort -n | cut -d' ' -f2-)
    assert_equal "$order" "$(printf 'echo high\necho one\necho low')"
    run cq add --weight 0 -- true
    assert_failure 2
}

@test "--env records the environment; the job runs with it" {
    FOO=from-add cq add --env -- sh -c 'echo "$FOO"'
    cq add -- sh -c 'echo "${FOO:-unset}"'
    FOO=from-worker cq work --drain
    assert_equal "$(cq cat 1)" from-add
    assert_equal "$(cq cat 2)" from-worker
}

@test "wait exits with the job's status, or the number of failures" {
    cq add -- sh -c 'exit 4'
    cq add -- true
    cq add -- false
    run cq work --drain
    assert_failure 1  # a job failed (issue 15)
    run cq wait 1
    assert_failure 4
    assert_equal "$(cut -f1,2 <<<"$output")" "$(printf '1\tfailed')"
    run cq wait 2
    assert_success
    run cq wait 1 2 3
    assert_failure 2
    run --separate-stderr cq wait 42
    assert_failure 1
    assert_stderr_regex "no job 42"
}

@test "wait blocks until a worker finishes the job; stats counts per state" {
    cq add -- sleep 0.5
    timeout 20 cqueue work --drain &
    WORKERS+=($!)
    run cq wait --all
    assert_success
    assert_equal "$(state 1)" done
    run cq stats --header
    assert_equal "$(tsv_col done <<<"$output")" 1
    assert_equal "$(tsv_col queued <<<"$output")" 0
    awk -v r="$(tsv_col mean_run <<<"$output")" 'BEGIN { exit !(r >= 0.4) }'
}

@test "kill signals a running job's process group; a queued one is cancelled" {
    cq add -- sh -c 'sleep 30 & sleep 30; wait'
    cq add -- true
    cq pause
    timeout 30 cqueue work -j2 --idle-exit 30 &
    WORKERS+=($!)
    cq kill 2
    assert_equal "$(state 2)" cancelled
    cq resume
    for _ in $(seq 100); do [[ -n $(field 1 pid) ]] && break; sleep 0.05; done
    pgid=$(field 1 pid)
    [[ -n $pgid ]] || fail "job 1 never reported its pid"
    cq kill 1
    run cq wait 1
    assert_failure 143
    assert_equal "$(field 1 signal)" 15
    assert_equal "$(field 1 reason)" "killed by cqueue kill"
    for _ in $(seq 100); do [[ -z $(pgrep -g "$pgid") ]] && break; sleep 0.05; done
    [[ -z $(pgrep -g "$pgid") ]] || fail "process group $pgid still has processes"
    cq stop
    wait "${WORKERS[0]}"
}

@test "cat --follow prints the output while the job runs" {
    cq add -- sh -c 'echo first; sleep 0.6; echo second'
    timeout 30 cqueue work --drain &
    WORKERS+=($!)
    run cq cat --follow 1
    assert_output "$(printf 'first\nsecond')"
}

@test "rm removes a finished job and its output; clear --done removes the done ones" {
    cq add -- echo x
    cq add -- false
    cq add -- echo y
    run cq work --drain
    assert_failure 1  # a job failed (issue 15)
    [[ -f $OUT/1.out ]]
    cq rm 1
    [[ ! -e $OUT/1.out ]]
    run --separate-stderr cq show 1
    assert_failure 1
    assert_stderr_regex "no job 1"
    run cq clear --done
    assert_output 1
    assert_equal "$(cq ls | cut -f1)" 2
    run cq clear
    assert_failure 2
}

@test "pause keeps workers from claiming; resume lets them; stop ends idle workers" {
    cq add -- true
    cq pause
    run cq work --once
    assert_success
    assert_equal "$(state 1)" queued
    run cq stats --header
    assert_equal "$(tsv_col paused <<<"$output")" 1
    cq resume
    timeout 30 cqueue work &
    WORKERS+=($!)
    cq wait 1
    cq stop
    wait "${WORKERS[0]}"
}

@test "named queues are separate" {
    cq -q a add -- echo in-a
    cq -q b add -- echo in-b
    cq -q a work --drain
    assert_equal "$(cq -q a ls | cut -f2)" done
    assert_equal "$(cq -q b ls | cut -f2)" queued
}

@test "work --daemon detaches with a pid file and a log; a second one is refused" {
    run cq work --daemon
    assert_success
    pid=$output
    WORKERS+=("$pid")
    [[ -f $SIDE/work-default.pid ]]
    assert_equal "$(cat "$SIDE/work-default.pid")" "$pid"
    run --separate-stderr cq work --daemon
    assert_failure 1
    assert_stderr_regex "a daemon already works on queue 'default' \\(pid $pid"
    cq add -- echo via-daemon
    cq wait 1
    assert_equal "$(cq cat 1)" via-daemon
    grep -q "job 1: ended: exit 0" "$SIDE/work-default.log"
    cq stop
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    assert_gone "$pid"
}

@test "the store: path rules, modes 0600 and 0700, bad files refused with a clear error" {
    sqlite_only "paths and modes"
    unset CQUEUE_DB
    export XDG_STATE_HOME="$BATS_TEST_TMPDIR/state"
    cq add -- true
    assert_equal "$(stat -c %a "$XDG_STATE_HOME/ctk")" 700
    assert_equal "$(stat -c %a "$XDG_STATE_HOME/ctk/queue.db")" 600
    cq --db "$BATS_TEST_TMPDIR/other.db" add -- true
    [[ -f $BATS_TEST_TMPDIR/other.db ]]
    # The command line wins over the environment.
    CQUEUE_DB="$BATS_TEST_TMPDIR/env.db" cq --db "$BATS_TEST_TMPDIR/other.db" add -- true
    [[ ! -e $BATS_TEST_TMPDIR/env.db ]]
    assert_equal "$(cq --db "$BATS_TEST_TMPDIR/other.db" stats --header | tsv_col queued)" 2
    echo "this is not a database, it is just a text file of some length" >"$BATS_TEST_TMPDIR/text.db"
    run --separate-stderr cq --db "$BATS_TEST_TMPDIR/text.db" ls
    assert_failure 1
    assert_stderr_regex "^cqueue: .*text.db.*not a database"
    sqlite3 "$BATS_TEST_TMPDIR/foreign.db" 'CREATE TABLE t(x); INSERT INTO t VALUES(1);'
    run --separate-stderr cq --db "$BATS_TEST_TMPDIR/foreign.db" ls
    assert_failure 1
    assert_stderr_regex "not a cqueue database"
    assert_equal "$(sqlite3 "$BATS_TEST_TMPDIR/foreign.db" 'SELECT x FROM t')" 1
    cq --db "$BATS_TEST_TMPDIR/new.db" add -- true
    sqlite3 "$BATS_TEST_TMPDIR/new.db" 'PRAGMA user_version = 99'
    run --separate-stderr cq --db "$BATS_TEST_TMPDIR/new.db" ls
    assert_failure 1
    assert_stderr_regex "newer cqueue \\(schema version 99"
    run --separate-stderr cq --db /dev/null/q.db ls
    assert_failure 1
    assert_stderr_regex "^cqueue: cannot (open|create) /dev/null/q.db.*: Not a directory"
    XDG_STATE_HOME=/dev/null run --separate-stderr cq ls
    assert_failure 1
    assert_stderr_regex "^cqueue: cannot create /dev/null/ctk"
}

@test "usage errors exit 2; unknown ids exit 1" {
    run --separate-stderr cq frobnicate
    assert_failure 2
    assert_stderr_regex "unknown command 'frobnicate'"
    run --separate-stderr cq add
    assert_failure 2
    run --separate-stderr cq work -s nosuch
    assert_failure 2
    assert_stderr_regex "unknown strategy 'nosuch'"
    run --separate-stderr cq ls --state sleeping
    assert_failure 2
    run --separate-stderr cq show abc
    assert_failure 1
    assert_stderr_regex "not a job id"
    run --separate-stderr cq kill 77
    assert_failure 1
    assert_stderr_regex "no job 77"
    run --separate-stderr cq rm 77
    assert_failure 1
}

@test "every option in --help is in the man page" {
    local man="$CTK_SRCDIR/man/cqueue.1" cmd opt
    for cmd in "" add work ls show cat wait rm retry kill pause resume stats clear stop; do
        # shellcheck disable=SC2086
        # (without plugins: their options are theirs to document)
        for opt in $(CTK_PLUGIN_PATH=$BATS_TEST_TMPDIR cqueue $cmd --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
            grep -qF -- "${opt//-/\\-}" "$man" || fail "cqueue $cmd: $opt is not in cqueue.1"
        done
        if [[ -n $cmd ]]; then
            grep -q "^\\.B $cmd\\b" "$man" || fail "command $cmd is not in cqueue.1"
        fi
    done
}

@test "durability: workers killed with -9 and restarted; every job done, only killed jobs twice" {
    local log="$BATS_TEST_TMPDIR/ran" n=100 kills=3 i
    for ((i = 1; i <= n; i++)); do echo "echo $i >>'$log'; sleep 0.02"; done | cq add - >/dev/null
    start_worker() { timeout 120 cqueue work -j1 --drain --lease 2 2>>"$BATS_TEST_TMPDIR/werr" & }
    start_worker
    WORKERS+=($!)
    start_worker
    WORKERS+=($!)
    for ((i = 0; i < kills; i++)); do
        sleep 0.4
        local victim=${WORKERS[$((RANDOM % 2))]}
        # The worker is timeout's child: kill it, not only its guard.
        # shellcheck disable=SC2046
        kill -KILL $(pgrep -P "$victim") "$victim" 2>/dev/null || true
        wait "$victim" 2>/dev/null || true
        start_worker
        local fresh=$!
        WORKERS=("${WORKERS[@]/$victim/$fresh}")
    done
    cq work -j1 --drain --lease 2
    for p in "${WORKERS[@]}"; do wait "$p" || true; done
    assert_equal "$(cq stats --header | tsv_col done)" "$n"
    assert_equal "$(sort -un "$log" | wc -l)" "$n"
    # Every id that ran twice was a job whose worker was killed: its
    # attempts say so, and no more of them than kills.
    local twice
    twice=$(sort -n "$log" | uniq -d)
    for i in $twice; do
        (($(field "$i" attempts) > 1)) || fail "job $i ran twice with one attempt"
    done
    local retried
    retried=$(dbq 'SELECT count(*) FROM jobs WHERE attempts > 1')
    ((retried <= kills)) || fail "$retried jobs ran again after $kills kills"
    db_check
    run grep -i locked "$BATS_TEST_TMPDIR/werr"
    assert_failure
}

@test "4 producers and 4 workers at once: every job runs once, no 'database is locked'" {
    local i errs="$BATS_TEST_TMPDIR/errs"
    for ((i = 0; i < 4; i++)); do
        timeout 60 cqueue work -j2 2>>"$errs" &
        WORKERS+=($!)
    done
    local producers=()
    for ((i = 0; i < 4; i++)); do
        (
            seq 100 | sed "s/^/true p$i-/" | cqueue add - >/dev/null
            for j in $(seq 20); do cqueue add -- true "q$i-$j" >/dev/null; done
        ) 2>>"$errs" &
        producers+=($!)
    done
    for p in "${producers[@]}"; do wait "$p"; done
    cq wait --all >/dev/null
    cq stop
    for p in "${WORKERS[@]}"; do wait "$p" || fail "a worker exited $?: $(cat "$errs")"; done
    WORKERS=()
    assert_equal "$(cq stats --header | tsv_col done)" 480
    assert_equal "$(dbq 'SELECT count(*) FROM jobs WHERE attempts <> 1')" 0
    run cat "$errs"
    assert_output ""
}

@test "SIGTERM to a worker ends its jobs and puts them back in the queue" {
    cq add -- sleep 30
    bg_tool cqueue work -j1
    for _ in $(seq 200); do [[ $(state 1) == running ]] && break; sleep 0.05; done
    assert_equal "$(state 1)" running
    kill -TERM "$BG_TOOL"
    bg_wait
    assert_equal "$BG_STATUS" 143
    assert_equal "$(state 1)" queued
    assert_equal "$(field 1 reason)" "worker stopped; queued again"
    [[ -z $(pgrep -f 'sleep 30$' -P "$BG_TOOL") ]]
}

@test "an 'add -' killed with -9 leaves whole batches: a prefix of its input" {
    (
        for ((i = 1; i <= 100000; i++)); do
            echo "true $i"
            ((i % 1000 == 0)) && sleep 0.2
        done
    ) | cqueue add - >/dev/null &
    local producer=$!
    # Killed once some batches are in, while it is still reading.
    for _ in $(seq 200); do (($(cq stats --header | tsv_col queued) >= 2000)) && break; sleep 0.05; done
    kill -KILL "$producer"
    wait "$producer" || true
    local n
    n=$(cq stats --header | tsv_col queued)
    ((n > 0 && n < 100000)) || fail "$n jobs: the producer was not killed mid-input"
    assert_equal "$(dbq "SELECT count(*) FROM jobs WHERE cmd <> 'true ' || id")" 0
    assert_equal "$(dbq 'SELECT max(id) FROM jobs')" "$n"
    db_check
}

@test "--db sqlite:PATH is the database at PATH, with the same side folder" {
    sqlite_only "the sqlite: scheme"
    local db="$BATS_TEST_TMPDIR/s.db"
    run cq --db "sqlite:$db" add -- echo via-scheme
    assert_success
    assert_output 1
    run cq --db "$db" add -- echo via-path
    assert_output 2
    CQUEUE_DB="sqlite:$db" cq work --drain
    assert_equal "$(cq --db "sqlite:$db" stats --header | tsv_col done)" 2
    assert_equal "$(cat "$db.d/out/1.out")" via-scheme
    assert_equal "$(cq --db "$db" cat 2)" via-path
    [[ ! -e $BATS_TEST_TMPDIR/sqlite:$db ]]
}

@test "--db with a scheme no store has: one line naming the known stores, exit 2" {
    run --separate-stderr cq --db 'nosuch://host/q' ls
    assert_failure 2
    assert_equal "$output" ""
    local known=sqlite
    [[ $STORE == postgres ]] && known="postgres, postgresql, sqlite"
    assert_equal "$stderr" "cqueue: --db 'nosuch://host/q': no store for 'nosuch:' (known: $known)"
    CQUEUE_DB=nosuch:q run --separate-stderr cq ls
    assert_failure 2
    assert_equal "$stderr" "cqueue: \$CQUEUE_DB 'nosuch:q': no store for 'nosuch:' (known: $known)"
    # An existing file whose name looks like a scheme is still a file.
    (cd "$BATS_TEST_TMPDIR" && cq --db c.db add -- true >/dev/null && mv c.db odd:c.db &&
        cq --db odd:c.db ls >/dev/null)
}

@test "a plugin's store is picked by its scheme and gets the whole value" {
    run --separate-stderr cq --plugin "$FIXTURES/memtest.so" --db memtest:x ls
    assert_failure 1
    assert_equal "$stderr" "cqueue: memtest store: refusing to open 'memtest:x'"
    run --separate-stderr cq --plugin "$FIXTURES/memtest.so" --db memtest://h/q add -- true
    assert_failure 1
    assert_equal "$stderr" "cqueue: memtest store: refusing to open 'memtest://h/q'"
    run --separate-stderr cq --db memtest:x ls
    assert_failure 2
    local known=sqlite
    [[ $STORE == postgres ]] && known="postgres, postgresql, sqlite"
    assert_stderr_regex "no store for 'memtest:' \\(known: $known\\)"
}

# run_under STRATEGY: 12 jobs (weights, a failure, a missing command, a
# timeout, output on both streams) through `work -s STRATEGY`.
run_under() {
    local s=$1 log="$BATS_TEST_TMPDIR/ran-$1" i
    : >"$log"
    for ((i = 1; i <= 8; i++)); do
        cq add --weight $((i % 3 + 1)) -- sh -c "echo $i >>'$log'; echo out-$s-$i; echo err-$s-$i >&2" >/dev/null
    done
    cq add -- sh -c "echo 9 >>'$log'; exit 3" >/dev/null
    cq add -- no-such-command-cq arg >/dev/null
    cq add --timeout 0.3 -- sh -c "echo 11 >>'$log'; sleep 20" >/dev/null
    cq add --env -- sh -c "echo 12 >>'$log'; echo \"\$CQ_MARK\"" >/dev/null
    run cq work -s "$s" -j3 --drain
    assert_failure 1 # jobs 9-11 fail (issue 15: it was 0)
    assert_equal "$(sort -n "$log" | tr '\n' ' ')" "1 2 3 4 5 6 7 8 9 11 12 "
    for ((i = 1; i <= 8; i++)); do
        assert_equal "$(cq cat "$i" 2>/dev/null)" "out-$s-$i"
        assert_equal "$(cq cat "$i" 2>&1 >/dev/null)" "err-$s-$i"
        assert_equal "$(field "$i" attempts)" 1
    done
    assert_equal "$(cq ls | cut -f1-4 | tr '\t\n' ' |')" \
        "1 done 0 0|2 done 0 0|3 done 0 0|4 done 0 0|5 done 0 0|6 done 0 0|7 done 0 0|8 done 0 0|9 failed 3 0|10 failed 127 0|11 failed 0 15|12 done 0 0|"
    assert_equal "$(field 10 reason)" "command not found"
    assert_equal "$(field 11 reason)" "timed out after 0.3 s"
    assert_equal "$(cq cat 12)" "$s"
}

@test "work runs every job exactly once under every strategy there is" {
    local s n=0
    for s in $(cqueue --list-strategies | awk '{ print $1 }'); do
        CQUEUE_DB=$(new_db "$s")
        export CQUEUE_DB CQ_MARK=$s
        run_under "$s"
        n=$((n + 1))
    done
    ((n >= 4)) || fail "only $n strategies listed"
}

@test "jobs cross a process boundary as bytes: the wirepair fixture strategy runs them" {
    export CTK_PLUGIN_PATH=$FIXTURES:$CTK_PLUGIN_PATH CQ_MARK=wirepair
    run_under wirepair
}

@test "SIGTERM under each strategy ends the jobs by the sequence and queues them again" {
    local s mark=$$$RANDOM
    for s in $(cqueue --list-strategies | awk '{ print $1 }'); do
        CQUEUE_DB=$(new_db "$s")
        export CQUEUE_DB
        # The first ignores TERM: the sequence's KILL must end it. The
        # mark keeps another test file's sleeps (cqueue-pg runs this very
        # test at the same time) out of the count.
        cq add -- sh -c "trap '' TERM; sleep 30.$mark" >/dev/null
        cq add -- sleep "31.$mark" >/dev/null
        bg_tool cqueue work -j1 -s "$s"
        for _ in $(seq 200); do [[ $(state 1) == running ]] && break; sleep 0.05; done
        assert_equal "$(state 1) $(state 2)" "running queued"
        kill -TERM "$BG_TOOL"
        bg_wait
        assert_equal "$BG_STATUS" 143
        assert_equal "$(state 1) $(state 2)" "queued queued"
        assert_equal "$(field 1 reason)" "worker stopped; queued again"
        [[ -z $(pgrep -f "sleep 3[01]\\.$mark\$") ]] || fail "$s: a job outlived its worker"
    done
}

@test "kill reaches a job run by a forked worker (-s process)" {
    cq add -- sh -c 'sleep 30 & sleep 30; wait'
    timeout 30 cqueue work -s process -j1 --idle-exit 30 &
    WORKERS+=($!)
    for _ in $(seq 100); do [[ -n $(field 1 pid) ]] && break; sleep 0.05; done
    pgid=$(field 1 pid)
    [[ -n $pgid ]] || fail "job 1 never reported its pid"
    cq kill 1
    run cq wait 1
    assert_failure 143
    assert_equal "$(field 1 reason)" "killed by cqueue kill"
    for _ in $(seq 100); do [[ -z $(pgrep -g "$pgid") ]] && break; sleep 0.05; done
    [[ -z $(pgrep -g "$pgid") ]] || fail "process group $pgid still has processes"
    cq stop
    wait "${WORKERS[0]}"
}

# ---- issue 15 and 13: habits and hardening ------------------------------------------

@test "work --drain exits 1 when a job it ran failed, 0 when a retry saved it (issue 15)" {
    touch "$BATS_TEST_TMPDIR/once"
    cq add --retries 1 -- sh -c "rm '$BATS_TEST_TMPDIR/once' 2>/dev/null && exit 1; exit 0" >/dev/null
    cq add -- true >/dev/null
    run --separate-stderr cq work --drain
    assert_success
    cq add -- sh -c 'exit 3' >/dev/null
    run --separate-stderr cq work --drain
    assert_failure 1
    assert_stderr_regex "^cqueue: 1 job\\(s\\) failed"
    cq add -- false >/dev/null
    run --separate-stderr cq work --once
    assert_failure 1
}

@test "the nightly example: a failed build makes work --drain and wait --all exit non-zero (issue 15)" {
    build=$(cq -q nightly add --weight 2 -- sh -c 'exit 2')
    tests=$(cq -q nightly add --after "$build" --retries 1 -- true)
    cq -q nightly add --after "$build,$tests" -- true >/dev/null
    run cq -q nightly work -j 2 --drain
    assert_failure 1
    # Every job of the queue counts, also those finished before the wait.
    run cq -q nightly wait --all
    assert_failure 3
    assert_equal "$(cut -f1,2 <<<"$output" | tr '\t\n' ' |')" "1 failed|2 cancelled|3 cancelled|"
    cq -q nightly clear --all >/dev/null
    cq -q nightly add -- true >/dev/null
    cq -q nightly work --drain
    run cq -q nightly wait --all
    assert_success
}

@test "a queue name with '/', '.' or '..' is a usage error; nothing is written outside the side folder (issue 13 #11)" {
    local q
    for q in ../../escape a/b / . .. ''; do
        run --separate-stderr cq -q "$q" work --daemon
        assert_failure 2
        assert_stderr_regex "^cqueue: -q .*: must not (contain '/'|be '\\.' or '\\.\\.'|be empty)"
    done
    [[ ! -e $BATS_TEST_TMPDIR/escape.pid && ! -e $SIDE/a ]]
    [[ -z $(find "$BATS_TEST_TMPDIR" -name '*escape*') ]]
    run cq -q a.b-c_d add -- true
    assert_success
}

@test "tables and show spell out control bytes of names and commands; TSV and JSON keep theirs (issue 13 #12)" {
    cq add --name $'evil\e]0;pwned\a' -- printf $'\e[31mred\x7f\x01' >/dev/null
    cq add $'echo a\tb' >/dev/null
    cq work --drain
    local out
    for out in "$(cq ls --format table)" "$(cq show 1)" "$(cq wait --all --format table)" \
        "$(cq show 2)" "$(cq -q $'\e[2J' stats --format table)"; do
        [[ $out != *[$'\x01'-$'\x08\x0b'-$'\x1f\x7f']* ]] || fail "a control byte reached the table: $(od -c <<<"$out")"
    done
    run cq show 1
    assert_line "name:      evil\\e]0;pwned\\a"
    assert_line "cmd:       printf '\\e[31mred\\x7f\\x01'"
    run cq ls --format table
    assert_output --partial "evil\\e]0;pwned\\a"
    assert_output --partial "echo a\\tb"
    # JSON escapes as JSON does; TSV is for programs and stays as it was.
    assert_equal "$(cq ls --format json | python3 -c 'import json,sys; print(repr(json.loads(sys.stdin.readline())["name"]))')" "'evil\\x1b]0;pwned\\x07'"
    assert_equal "$(cq ls --format tsv | head -1 | cut -f9)" $'evil\e]0;pwned\a'
}

# A root-owned private file that a planted link points at.
victim() {
    printf 'secret %s\n' "$1" >"$BATS_TEST_TMPDIR/victim-$1"
    chmod 600 "$BATS_TEST_TMPDIR/victim-$1"
    echo "$BATS_TEST_TMPDIR/victim-$1"
}

@test "a side folder planted by another user, or writable by others, is refused; its links are not followed (issue 13 #7)" {
    sqlite_only "its side folder next to the file"
    [[ $(id -u) == 0 ]] || skip "needs root to play another user"
    cq add -- echo pwned >/dev/null
    local d="$BATS_TEST_TMPDIR/q.db.d" out pid log
    rm -rf "$d"
    mkdir -p "$d/out"
    out=$(victim out) pid=$(victim pid) log=$(victim log)
    ln -s "$out" "$d/out/1.out"
    ln -s "$pid" "$d/work-default.pid"
    ln -s "$log" "$d/work-default.log"
    chmod 777 "$d" "$d/out"
    chown -hR nobody:nogroup "$d"
    run --separate-stderr cq work --drain
    assert_failure 1
    assert_stderr_regex "^cqueue: .*q\\.db\\.d is owned by uid 65534, not by you \\(uid 0\\): refusing"
    run --separate-stderr cq work --daemon
    assert_failure 1
    run --separate-stderr cq cat 1
    assert_failure 1
    # Ours, but writable by others: refused the same.
    chown -hR root:root "$d"
    run --separate-stderr cq work --drain
    assert_failure 1
    assert_stderr_regex "q\\.db\\.d is writable by others \\(mode 0777\\)"
    chmod 755 "$d"
    run --separate-stderr cq work --drain
    assert_failure 1
    assert_stderr_regex "q\\.db\\.d/out is writable by others"
    # Ours and private, with links someone left inside: never followed.
    chmod 700 "$d/out"
    run --separate-stderr cq work --daemon
    assert_failure 1
    assert_stderr_regex "cannot open .*work-default\\.pid"
    run cq work --drain
    assert_equal "$(field 1 state)" failed
    for f in "$out" "$pid" "$log"; do
        assert_equal "$(cat "$f")" "secret ${f##*-}"
        assert_equal "$(stat -c %a "$f")" 600
    done
    [[ -L $d/out/1.out ]]
}

@test "a database of another user, or writable by others, is refused; --shared-group trusts a group's (issue 13 #8)" {
    sqlite_only "file owner and mode"
    [[ $(id -u) == 0 ]] || skip "needs root to play another user"
    cq add -- touch "$BATS_TEST_TMPDIR/ran-as-root" >/dev/null
    chown nobody:nogroup "$CQUEUE_DB"
    chmod 666 "$CQUEUE_DB"
    run --separate-stderr cq work --drain
    assert_failure 1
    assert_stderr_regex "^cqueue: .*q\\.db is owned by uid 65534, not by you \\(uid 0\\): refusing another user's queue"
    [[ ! -e $BATS_TEST_TMPDIR/ran-as-root ]]
    run --separate-stderr cq ls
    assert_failure 1
    # --shared-group: only a group of the user's; nogroup is not root's.
    chmod 660 "$CQUEUE_DB"
    run --separate-stderr cq --shared-group work --drain
    assert_failure 1
    [[ ! -e $BATS_TEST_TMPDIR/ran-as-root ]]
    # The user's own file, writable by its group or others.
    chown root:root "$CQUEUE_DB"
    chmod 666 "$CQUEUE_DB"
    run --separate-stderr cq --shared-group work --drain
    assert_failure 1
    assert_stderr_regex "q\\.db is writable by others \\(mode 0666\\)"
    chmod 660 "$CQUEUE_DB"
    run --separate-stderr cq work --drain
    assert_failure 1
    assert_stderr_regex "q\\.db is writable by its group \\(mode 0660\\).*--shared-group"
    [[ ! -e $BATS_TEST_TMPDIR/ran-as-root ]]
    run cq --shared-group work --drain
    assert_success
    [[ -e $BATS_TEST_TMPDIR/ran-as-root ]]
}

@test "retry --failed skips a job whose key a live job holds, names it, and retries the rest (issue 13 #19)" {
    cq add --key k1 -- false >/dev/null
    cq add -- false >/dev/null
    cq add --key k3 -- false >/dev/null
    run cq work --drain
    assert_failure 1
    cq add --key k1 -- true >/dev/null # job 4 holds k1 now
    run --separate-stderr cq retry --failed
    assert_failure 1
    assert_output 2
    assert_stderr_regex "job 1: its key 'k1' is held by job 4; not retried"
    assert_stderr_regex "1 failed job\\(s\\) not retried"
    [[ $stderr != *UNIQUE* ]] || fail "a raw SQLite error: $stderr"
    assert_equal "$(cq ls | cut -f1,2 | tr '\t\n' ' |')" "1 failed|2 queued|3 queued|4 queued|"
    run --separate-stderr cq retry 1
    assert_failure 1
    assert_stderr_regex "held by job 4"
}

@test "add - prints each batch's id range as it commits: a kill -9 leaves every committed id on stdout (issue 13 #23)" {
    local ids="$BATS_TEST_TMPDIR/ids"
    (
        for ((i = 1; i <= 100000; i++)); do
            echo "true $i"
            ((i % 1000 == 0)) && sleep 0.3
        done
    ) | cqueue add - >"$ids" &
    local producer=$!
    for _ in $(seq 200); do (($(cq stats --header | tsv_col queued) >= 3000)) && break; sleep 0.05; done
    kill -KILL "$producer"
    wait "$producer" || true
    local n
    n=$(cq stats --header | tsv_col queued)
    ((n >= 3000 && n < 100000)) || fail "$n jobs: the producer was not killed mid-input"
    # One line per batch, FIRST-LAST, together every id committed.
    grep -qvE '^[0-9]+(-[0-9]+)?$' "$ids" && fail "not ranges: $(head -3 "$ids")"
    (($(wc -l <"$ids") >= 3)) || fail "ranges were held back: $(cat "$ids")"
    assert_equal "$(awk -F- '{ n += ($2 == "" ? 1 : $2 - $1 + 1) } END { print n }' "$ids")" "$n"
    assert_equal "$(tail -1 "$ids" | sed 's/.*-//')" "$n"
}

@test "40 first users of a new database at once: 40 jobs, every one exits 0, no 'database is locked' (issue 13 #18)" {
    sqlite_only "creating the file and WAL"
    local run db pids i
    for run in 1 2 3; do
        db="$BATS_TEST_TMPDIR/new-$run.db"
        pids=()
        for ((i = 0; i < 40; i++)); do
            cqueue --db "$db" add -- true >/dev/null 2>>"$BATS_TEST_TMPDIR/err" &
            pids+=($!)
            # Readers among them must not take a half-made schema for a
            # foreign database.
            if ((i % 4 == 0)); then
                cqueue --db "$db" ls >/dev/null 2>>"$BATS_TEST_TMPDIR/err" &
                pids+=($!)
            fi
        done
        for i in "${pids[@]}"; do wait "$i" || fail "an add failed: $(cat "$BATS_TEST_TMPDIR/err")"; done
        assert_equal "$(sqlite3 "$db" 'SELECT count(*) FROM jobs')" 40
    done
    [[ ! -s $BATS_TEST_TMPDIR/err ]] || fail "$(cat "$BATS_TEST_TMPDIR/err")"
}

@test "another program's SQLite file is refused and left byte-identical: no WAL, no side folder (issue 13 #21)" {
    sqlite_only "a foreign SQLite file"
    local app="$BATS_TEST_TMPDIR/app.db" sum cmd
    sqlite3 "$app" 'CREATE TABLE t(x); INSERT INTO t VALUES(1);'
    sum=$(sha256sum <"$app")
    for cmd in ls "add -- true" "work --drain" "work --daemon" "stats"; do
        # shellcheck disable=SC2086
        run --separate-stderr cq --db "$app" $cmd
        assert_failure 1
        assert_stderr_regex "app\\.db: not a cqueue database"
        assert_equal "$(sha256sum <"$app")" "$sum"
    done
    [[ ! -e $app.d && ! -e $app-wal && ! -e $app-shm ]] || fail "$(ls -a "$BATS_TEST_TMPDIR")"
    assert_equal "$(sqlite3 "$app" 'PRAGMA journal_mode')" delete
}

# ---- PostgreSQL only -----------------------------------------------------------------

pg_only() {
    [[ $STORE == postgres ]] || skip "about the PostgreSQL store (tests/cqueue-pg.bats)"
}

# on_host NAME CMD...: CMD as if on another machine (its own host name).
on_host() {
    local name=$1
    shift
    exec unshare --uts sh -c 'hostname "$0" && exec "$@"' "$name" "$@"
}

@test "pg: postgres:// is the same store; a server that is not there is one clear line, exit 1" {
    pg_only
    cq add -- echo one >/dev/null
    run --separate-stderr cq --db "${CQUEUE_DB/postgresql:/postgres:}" ls --format tsv
    assert_success
    assert_output --regexp "echo one"
    run --separate-stderr cq --db "postgresql://postgres@127.0.0.1:1/nosuch" ls
    assert_failure 1
    assert_equal "${#lines[@]}" 0
    assert_stderr_regex "^cqueue: postgresql: cannot connect: .*127\.0\.0\.1.*port 1"
}

@test "pg: another program's schema \"cqueue\" and a newer cqueue's are refused, untouched" {
    pg_only
    local db
    db=$(new_db foreign)
    psql -X -qAt "$db" -c 'CREATE SCHEMA cqueue; CREATE TABLE cqueue.t(x int)' >/dev/null
    run --separate-stderr cq --db "$db" add -- true
    assert_failure 1
    assert_stderr_regex "not a cqueue database \(its schema \"cqueue\" belongs to another program\)"
    assert_equal "$(psql -X -qAt "$db" -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'cqueue'")" 1
    cq add -- true >/dev/null
    dbq "UPDATE meta SET v = '99' WHERE k = 'version'"
    run --separate-stderr cq ls
    assert_failure 1
    assert_stderr_regex "written by a newer cqueue \(schema version 99; this one knows up to 1\)"
}

@test "pg: an idle worker waits on LISTEN, not a polling loop: few transactions, a new job starts at once" {
    pg_only
    cq add -- true >/dev/null
    bg_tool cqueue work -j1
    cq wait 1 >/dev/null
    local db=${CQUEUE_DB##*/} c0 c1
    commits() {
        psql -X -qAt "$PG_URL/postgres" -c "SELECT pg_stat_force_next_flush()" \
            -c "SELECT xact_commit FROM pg_stat_database WHERE datname = '$db'"
    }
    sleep 1.5
    c0=$(commits)
    sleep 4
    c1=$(commits)
    # Its keeper looks for expired leases once a second; a worker that
    # polled the queue every 0.1 s would make 40 or more.
    (((c1 - c0) <= 12)) || fail "$((c1 - c0)) transactions in 4 s of idling"
    cq add -- true >/dev/null
    run cq wait 2
    assert_success
    kill -TERM "$BG_TOOL"
    bg_wait
}

@test "pg: a worker on another host that dies: its lease ends and a worker here queues the job again" {
    pg_only
    command -v unshare >/dev/null && ((EUID == 0)) || skip "needs root and unshare for a second host name"
    cq add -- sh -c 'sleep 4; echo ran >>"$0"' "$BATS_TEST_TMPDIR/ran" >/dev/null
    on_host elsewhere cqueue work -j1 --lease 2 2>/dev/null &
    local far=$!
    for _ in $(seq 200); do [[ $(state 1) == running ]] && break; sleep 0.05; done
    assert_equal "$(field 1 worker | cut -d/ -f1)" elsewhere
    kill -KILL "$far"
    wait "$far" || true
    # No pid here to check: only the lease tells.
    timeout 60 cqueue work -j1 --drain --lease 2
    assert_equal "$(state 1)" done
    assert_equal "$(field 1 attempts)" 2
    assert_equal "$(field 1 worker | cut -d/ -f1)" "$(hostname)"
    # The first attempt's process lived on "elsewhere", as it would on a
    # real host whose worker died; the second ran here.
    grep -q ran "$BATS_TEST_TMPDIR/ran"
}

@test "pg: kill of a job running on another host is honoured at the owner's next lease renewal" {
    pg_only
    command -v unshare >/dev/null && ((EUID == 0)) || skip "needs root and unshare for a second host name"
    cq add -- sleep 60 >/dev/null
    on_host elsewhere cqueue work -j1 --lease 3 2>/dev/null &
    WORKERS+=($!)
    for _ in $(seq 200); do [[ -n $(field 1 pid) && $(field 1 pid) != 0 ]] && break; sleep 0.05; done
    run --separate-stderr cq kill 1
    assert_failure 1
    assert_stderr_regex "job 1: runs on elsewhere/.*, not here"
    run cq wait 1
    assert_equal "$(state 1)" failed
    assert_equal "$(field 1 signal)" 15
    assert_equal "$(field 1 attempts)" 1
}

@test "pg: the server restarts mid-run: workers reconnect, every job done once, none lost" {
    pg_only
    local log="$BATS_TEST_TMPDIR/ran" n=2000 i kills=4
    seq "$n" | sed "s|.*|echo & >>$log|" | cq add - >/dev/null
    start_worker() { timeout 300 cqueue work -j4 --drain --lease 5 2>>"$BATS_TEST_TMPDIR/werr" & }
    for i in 1 2 3 4; do
        start_worker
        WORKERS+=($!)
    done
    sleep 1
    for ((i = 0; i < kills; i++)); do
        sleep 0.5
        local victim=${WORKERS[$((RANDOM % 4))]}
        kill -KILL "$victim" 2>/dev/null || true
        wait "$victim" 2>/dev/null || true
        start_worker
        WORKERS=("${WORKERS[@]/$victim/$!}")
        ((i == 1)) && pg_restart
    done
    for p in "${WORKERS[@]}"; do wait "$p" || true; done
    WORKERS=()
    timeout 120 cqueue work -j4 --drain --lease 5
    assert_equal "$(cq stats --header | tsv_col done)" "$n"
    # The ids from the jobs' own output: each one, and twice only where
    # a killed worker held it (no more than 4 jobs per kill).
    assert_equal "$(sort -un "$log" | wc -l)" "$n"
    local twice
    twice=$(sort -n "$log" | uniq -d | wc -l)
    ((twice <= 4 * kills)) || fail "$twice jobs ran twice after $kills kills"
    for i in $(sort -n "$log" | uniq -d); do
        (($(field "$i" attempts) > 1)) || fail "job $i ran twice with one attempt"
    done
    db_check
}

# ---- tsp habits (issue 15) -------------------------------------------------------------

@test "add starts the queue's daemon when no worker serves it (tsp runs at once); --no-start and CQUEUE_NO_AUTOSTART=1 do not" {
    [[ $STORE == postgres ]] && skip "the daemon's pid file and lock live in the side folder of a file database"
    run cq add --no-start true
    assert_success
    [[ ! -e $SIDE/work-default.pid ]] || [[ -z $(cat "$SIDE/work-default.pid") ]]
    unset CQUEUE_NO_AUTOSTART
    run cq add 'echo now'
    assert_success
    id=$output
    run timeout 20 cqueue wait "$id"
    assert_success
    pid=$(cat "$SIDE/work-default.pid")
    [[ -n $pid ]] && kill -0 "$pid"
    # A second add finds it serving: still one daemon.
    run cq add true
    assert_success
    assert_equal "$(cat "$SIDE/work-default.pid")" "$pid"
    cq stop
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    run kill -0 "$pid"
    assert_failure
}

@test "wait, cat and show with no id take the last job added (tsp -w, -c, -i)" {
    cq add 'echo first' >/dev/null
    id=$(cq add 'echo second; exit 4')
    cq work --drain >/dev/null 2>&1 || true
    run cq wait
    assert_failure 4
    run cq cat
    assert_output second
    run cq show
    assert_line --regexp "^id: +$id$"
    run cq -q empty show
    assert_failure 1
    assert_output --partial "no job"
}

@test "times: epoch in TSV and JSON, ISO 8601 in a table" {
    cq add true >/dev/null
    run cq ls --format tsv
    assert_output --regexp $'\t[0-9]{10}\\.[0-9]{3}\t'
    run cq ls --format table
    assert_output --regexp '20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}'
}

@test "pg: add - goes through COPY: tabs, backslashes, CR and UTF-8 in an item come back and run as given" {
    pg_only
    local out=$BATS_TEST_TMPDIR/out
    # An item's bytes are COPY's escapes where they are not data: each
    # must reach the table and the shell as it was typed.
    printf 'printf "%%s\\n" "a\tb\\\\c\rd é" >%s\n' "$out" >"$BATS_TEST_TMPDIR/items"
    printf 'x\\N\n' >>"$BATS_TEST_TMPDIR/items"
    run bash -c 'cqueue add - <"$1"' _ "$BATS_TEST_TMPDIR/items"
    assert_success
    assert_output 1-2
    assert_equal "$(dbq "SELECT cmd FROM jobs WHERE id = 1")" "$(head -n1 "$BATS_TEST_TMPDIR/items")"
    assert_equal "$(dbq "SELECT cmd FROM jobs WHERE id = 2")" 'x\N'
    assert_equal "$(dbq "SELECT count(*) FROM jobs WHERE name IS NULL AND env IS NULL")" 2
    run cq work --drain
    assert_equal "$(state 1)" done
    assert_equal "$(od -c "$out")" "$(printf 'a\tb\\c\rd é\n' | od -c)"
    # A program and its words, run without a shell: the argv (bytea)
    # goes through COPY too.
    run cq add -- printf '%s|\n' "$(printf 'a\tb\\c é')"
    assert_output 3
    assert_equal "$(dbq "SELECT argv IS NOT NULL FROM jobs WHERE id = 3")" t
    cq work --drain
    assert_equal "$(cq cat 3)" "$(printf 'a\tb\\c é|')"
}

@test "pg: a successful job costs two statements (claim, finish), no BEGIN or COMMIT of its own" {
    pg_only
    local n=30 db=${CQUEUE_DB##*/} log=$PG_DIR/server.log
    seq "$n" | sed 's/^/true /' | cq add - >/dev/null
    psql -X -qAt "$PG_URL/postgres" -c "ALTER DATABASE $db SET log_statement = 'all'" >/dev/null
    local before t0 t1
    before=$(wc -l <"$log")
    t0=$(date +%s)
    cq work -j1 --drain
    t1=$(date +%s)
    psql -X -qAt "$PG_URL/postgres" -c "ALTER DATABASE $db RESET log_statement" >/dev/null
    assert_equal "$(cq stats --header | tsv_col done)" "$n"
    # Only this database logs statements, and only this worker uses it.
    local stmts begins
    stmts=$(tail -n +$((before + 1)) "$log" | grep -cE 'LOG:  (statement|execute [^ ]*):')
    begins=$(tail -n +$((before + 1)) "$log" | grep -cE 'LOG:  (statement|execute [^ ]*): BEGIN')
    # Per job: the claim and the finish; besides, per second, the keeper's
    # look for expired leases (a transaction of four) and a stop check;
    # and a few at the start and the end. Three transactions of their
    # own per job (BEGIN, ..., COMMIT) would make 11 per job.
    local most=$((2 * n + 6 * (t1 - t0 + 1) + 20))
    ((stmts <= most)) || fail "$stmts statements for $n jobs in $((t1 - t0)) s (at most $most)"
    ((begins <= t1 - t0 + 3)) || fail "$begins BEGINs for $n jobs in $((t1 - t0)) s"
}
