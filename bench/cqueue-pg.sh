#!/bin/bash
# bench/cqueue-pg.sh [BUILDDIR]: cqueue on PostgreSQL (issue 12), side by
# side with SQLite: `add -` of 100,000 items (bar: 100,000 items/s, as on
# SQLite), claim-and-finish throughput of `true` jobs with 1, 2, 4 and 8
# workers on both stores, and the long durability run: 8 workers in
# separate process trees, 20,000 jobs, random kill -9 of workers and one
# `pg_ctl restart -m immediate` mid-run; every job done, none lost, none
# run twice but those whose worker was killed, counted from the jobs' own
# output. A throwaway server (tests/pg.bash) is started and removed.
# Beside `add -` it prints what the server itself can do on this machine
# (psql \copy of the same rows) and the load average, so a rate below the
# bar says whose it is. PG_PLUGIN_DIR=DIR measures another build of the
# plugin (an older one) under the same conditions.
set -u
here=$(cd "$(dirname "$0")" && pwd)
builddir=${1:-$(dirname "$here")}
export CTK_BUILDDIR=$builddir
export LD_LIBRARY_PATH=$builddir/libshared/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# PG_PLUGIN_DIR: another build of the plugin (an older one, to compare).
export CTK_PLUGIN_PATH=${PG_PLUGIN_DIR:-$builddir/plugins/store-postgres/.libs}
cq=$builddir/tools/cqueue/.libs/cqueue
[ -x "$cq" ] || cq=$builddir/tools/cqueue/cqueue
N_ADD=${N_ADD:-100000}
N_TRUE=${N_TRUE:-4000}
N_DUR=${N_DUR:-20000}
DUR_WORKERS=${DUR_WORKERS:-8}
KILLS=${KILLS:-10}
# shellcheck source=../tests/pg.bash
. "$here/../tests/pg.bash"
why=$(pg_missing)
[ -z "$why" ] || { echo "cqueue-pg: skipped: $why"; exit 0; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cqueue-pg-bench.XXXXXX") || exit 2
export XDG_STATE_HOME=$tmp/state
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    pg_stop
    rm -rf "$tmp"
}
trap cleanup EXIT
pg_start || exit 2
status=0

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.4f", b - a }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
dbs=0
# fresh STORE: a new empty queue on STORE (sqlite or pg) in CQUEUE_DB.
fresh() {
    dbs=$((dbs + 1))
    if [ "$1" = pg ]; then
        psql -X -qAt "$PG_URL/postgres" -c "CREATE DATABASE b$dbs" >/dev/null
        export CQUEUE_DB=$PG_URL/b$dbs
    else
        export CQUEUE_DB=$tmp/b$dbs.db
    fi
}

# ---- 1. add - ------------------------------------------------------------------
seq "$N_ADD" | sed 's/^/true item-/' >"$tmp/items"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-34s %12s %12s %8s\n' "measure" "sqlite" "postgresql" "pg/sqlite"
for st in sqlite pg; do
    fresh "$st"
    t=$(now)
    "$cq" add - <"$tmp/items" >/dev/null || status=1
    secs=$(since "$t")
    eval "add_$st=$(rate "$N_ADD" "$secs")"
    [ "$st" = pg ] && add_db=$CQUEUE_DB
done
# shellcheck disable=SC2154
printf '%-34s %12s %12s %8s  %s\n' "add - of $N_ADD items (items/s)" "$add_sqlite" "$add_pg" \
    "$(ratio "$add_pg" "$add_sqlite")" \
    "$(awk -v v="$add_pg" 'BEGIN { print (v >= 100000 ? "ok (bar 100000/s)" : "BELOW THE BAR (100000/s)") }')"
# The ceiling on this machine: the server's own COPY of the same rows
# (psql \copy from a file), into a fresh cqueue.jobs with its indexes, and
# into a copy of the table with none; a rate well below the bar here is
# the machine's, not the store's.
cols="id, queue, state, waiting, name, cmd, argv, cwd, env, priority, retries, weight, timeout, queued_at"
psql -X -q "$add_db" -c "\\copy (SELECT $cols FROM cqueue.jobs ORDER BY id) TO '$tmp/rows'"
fresh pg
"$cq" stats >/dev/null
t=$(now)
psql -X -q "$CQUEUE_DB" -c "\\copy cqueue.jobs($cols) FROM '$tmp/rows'" || status=1
copy_idx=$(rate "$N_ADD" "$(since "$t")")
psql -X -q "$CQUEUE_DB" -c "CREATE TABLE public.bare (LIKE cqueue.jobs INCLUDING DEFAULTS)"
t=$(now)
psql -X -q "$CQUEUE_DB" -c "\\copy public.bare($cols) FROM '$tmp/rows'" || status=1
copy_bare=$(rate "$N_ADD" "$(since "$t")")
printf '%-34s %12s %12s %8s\n' "  ceiling: psql \\copy, jobs table" "" "$copy_idx" "$(ratio "$copy_idx" "$add_sqlite")"
printf '%-34s %12s %12s %8s\n' "  ceiling: psql \\copy, no index" "" "$copy_bare" "$(ratio "$copy_bare" "$add_sqlite")"

# ---- 2. claim and finish -------------------------------------------------------
for w in 1 2 4 8; do
    for st in sqlite pg; do
        fresh "$st"
        seq "$N_TRUE" | sed 's/^/true /' | "$cq" add - >/dev/null
        t=$(now)
        ws=()
        for ((i = 0; i < w; i++)); do
            "$cq" work -j1 --drain >/dev/null 2>&1 &
            ws+=($!)
        done
        for p in "${ws[@]}"; do wait "$p"; done
        secs=$(since "$t")
        eval "run_$st=$(rate "$N_TRUE" "$secs")"
    done
    # shellcheck disable=SC2154
    printf '%-34s %12s %12s %8s\n' "true jobs, $w worker(s) (jobs/s)" "$run_sqlite" "$run_pg" \
        "$(ratio "$run_pg" "$run_sqlite")"
done

# ---- 3. durability ---------------------------------------------------------------
fresh pg
log=$tmp/ran
seq "$N_DUR" | sed "s|.*|echo & >>$log|" | "$cq" add - >/dev/null
start() { setsid "$cq" work -j2 --drain --lease 5 >/dev/null 2>>"$tmp/werr" & }
ws=()
for ((i = 0; i < DUR_WORKERS; i++)); do
    start
    ws+=($!)
done
t=$(now)
for ((k = 0; k < KILLS; k++)); do
    sleep 0.7
    v=$((RANDOM % DUR_WORKERS))
    kill -KILL -- "-${ws[$v]}" 2>/dev/null
    wait "${ws[$v]}" 2>/dev/null
    start
    ws[$v]=$!
    [ "$k" -eq $((KILLS / 2)) ] && pg_restart && echo "server restarted (-m immediate) after kill $((k + 1))"
done
for p in "${ws[@]}"; do wait "$p"; done
"$cq" work -j4 --drain --lease 5 >/dev/null 2>>"$tmp/werr"
secs=$(since "$t")
done_n=$("$cq" stats --header | awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i } NR == 2 { print $c["done"] }')
uniq_n=$(sort -un "$log" | wc -l)
twice=$(sort -n "$log" | uniq -d | wc -l)
retried=$(PGOPTIONS='-c search_path=cqueue' psql -X -qAt "$CQUEUE_DB" -c 'SELECT count(*) FROM jobs WHERE attempts > 1')
echo "durability: $DUR_WORKERS workers, $N_DUR jobs, $KILLS kill -9, 1 server restart, ${secs}s:" \
    "done $done_n, distinct ids run $uniq_n, ran twice $twice (jobs with attempts > 1: $retried)"
if [ "$done_n" != "$N_DUR" ] || [ "$uniq_n" != "$N_DUR" ] || [ "$twice" -gt "$retried" ]; then
    echo "durability: FAILED"
    status=1
else
    echo "durability: ok (every job done; only jobs of killed workers ran twice)"
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $status
