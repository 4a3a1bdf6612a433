#!/bin/bash
# bench/soak.sh [BUILDDIR]: the fault soak of issue 13. For SOAK_SECONDS
# (default 600) it runs rounds of real work under faults, with
# `ulimit -n 64` and a private TMPDIR:
#
#   cpar    a random strategy, killed by SIGINT/SIGTERM/SIGKILL (it, or one
#           of its jobs), then --resume until every job ran
#   cpipe   a random strategy, killed the same way; then a whole run whose
#           output must equal its input
#   cfetch  a random strategy with --journal, killed, rerun until every URL
#           is in place with the right body (the test server)
#   cqueue  producers and workers killed with -9 at random, beside one
#           long-lived worker whose /proc/PID/fd count must not grow; a
#           tmpfs output folder that fills and frees (root only)
#
# After each round: nothing lost (every id in the jobs' own output files),
# nothing run twice beyond the work a kill interrupted, no zombie, no
# process of the round left, no temporary file left in TMPDIR. Prints one
# line per finding and a summary; exits 1 when anything was found.
# tests/soak.bats runs it for 30 seconds.
set -u
here=$(cd "$(dirname "$0")" && pwd)
builddir=${1:-${CTK_BUILDDIR:-$(dirname "$here")}}
SOAK_SECONDS=${SOAK_SECONDS:-600}
SOAK_FDS=${SOAK_FDS:-64}
for t in cpar cpipe cfetch cqueue; do
    [ -x "$builddir/tools/$t/$t" ] || {
        echo "soak: $builddir/tools/$t/$t is not built" >&2
        exit 2
    }
    PATH=$builddir/tools/$t:$PATH
done
export PATH
httpd_bin=$builddir/tests/fixtures/httpd
root=$(mktemp -d "${TMPDIR:-/tmp}/ctk-soak.XXXXXX") || exit 2
export TMPDIR=$root/tmp
mkdir -p "$TMPDIR"
found=0
rounds=0
kills=0
httpd_pid=
worker_pid=
mounted=
say() { printf 'soak: %s\n' "$*"; }
finding() {
    found=$((found + 1))
    say "FOUND: $*"
}
cleanup() {
    [ -n "$worker_pid" ] && kill -KILL "$worker_pid" 2>/dev/null
    [ -n "$httpd_pid" ] && kill -TERM "$httpd_pid" 2>/dev/null
    wait 2>/dev/null
    [ -n "$mounted" ] && umount "$mounted" 2>/dev/null
    rm -rf "$root"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ulimit -n "$SOAK_FDS" || exit 2
rand() { echo $((RANDOM % $1)); }
pick() {
    local a=("$@")
    echo "${a[RANDOM % ${#a[@]}]}"
}
signals=(INT TERM KILL)
strategies=(sync thread process async)

# descendants PID: every process below PID.
descendants() {
    local p
    for p in $(pgrep -P "$1"); do
        echo "$p"
        descendants "$p"
    done
}

# The round's processes are all in its own session (setsid): after the
# round none may be left, and none is a zombie.
check_leftovers() {
    local what=$1 sid=$2 i left
    for ((i = 0; i < 100; i++)); do
        left=$(ps -eo sid=,pid=,stat=,args= | awk -v s="$sid" '$1 == s')
        [ -z "$left" ] && return 0
        sleep 0.05
    done
    finding "$what: processes left after the round: $(echo "$left" | head -n 3 | tr '\n' ';')"
    ps -eo sid=,pid= | awk -v s="$sid" '$1 == s { print $2 }' | xargs -r kill -KILL 2>/dev/null
}

check_tmp() {
    local left
    left=$(find "$TMPDIR" -mindepth 1 2>/dev/null | head -n 3)
    if [ -n "$left" ]; then
        finding "$1: left in TMPDIR: $(echo "$left" | tr '\n' ' ')"
        rm -rf "${TMPDIR:?}"/*
    fi
}

check_zombies() {
    local z
    z=$(ps -eo stat=,ppid=,pid=,args= | awk -v me=$$ '$1 ~ /^Z/ && $2 == me')
    [ -z "$z" ] || finding "$1: zombie: $z"
}

# run_and_hit WHAT CMD...: runs CMD in its own session, and after a
# random delay sends a random signal to it or to one of its children.
# Sets hit_sid and last_hit (what was done, for the findings).
run_and_hit() {
    local what=$1
    shift
    setsid "$@" &
    local pid=$! delay sig target
    hit_sid=$pid
    delay=0.$(printf '%02d' $((RANDOM % 60 + 5)))
    sleep "$delay"
    sig=$(pick "${signals[@]}")
    target=$pid
    if [ "$(rand 3)" = 0 ]; then
        local kids
        kids=$(descendants "$pid" | grep -v "^$pid\$")
        [ -n "$kids" ] && target=$(pick $kids)
    fi
    if kill -0 "$target" 2>/dev/null && kill -s "$sig" "$target" 2>/dev/null; then
        kills=$((kills + 1))
    fi
    wait "$pid" 2>/dev/null
    last_hit="$what: SIG$sig to $([ "$target" = "$pid" ] && echo it || echo a child) after ${delay}s"
}

# ---- cpar ----------------------------------------------------------------------------

round_cpar() {
    local d=$root/cpar s n=40 j=4 i
    rm -rf "$d"
    mkdir -p "$d/out"
    s=$(pick "${strategies[@]}")
    # Each job appends to its own file: two lines mean it ran twice.
    local cmd="sleep 0.0\$((RANDOM % 9)); echo {} >> $d/out/{}"
    run_and_hit "cpar -s $s" cpar -s "$s" -j$j --joblog "$d/jl" "$cmd" ::: $(seq $n) 2>/dev/null
    check_leftovers "$last_hit" "$hit_sid"
    for ((i = 0; i < 5; i++)); do
        cpar -s "$s" -j$j --joblog "$d/jl" --resume "$cmd" ::: $(seq $n) >/dev/null 2>"$d/err" && break
    done
    [ -s "$d/err" ] && [ $i -ge 5 ] && finding "$last_hit: --resume failed: $(head -c 300 "$d/err")"
    local missing=0 twice=0
    for ((i = 1; i <= n; i++)); do
        if [ ! -s "$d/out/$i" ]; then
            missing=$((missing + 1))
        elif [ "$(wc -l <"$d/out/$i")" -gt 1 ]; then
            twice=$((twice + 1))
        fi
    done
    [ $missing = 0 ] || finding "$last_hit: $missing of $n jobs never ran after --resume"
    [ $twice -le $j ] || finding "$last_hit: $twice jobs ran twice (at most $j were running)"
    check_tmp "$last_hit"
}

# ---- cpipe ---------------------------------------------------------------------------

round_cpipe() {
    local d=$root/cpipe s
    rm -rf "$d"
    mkdir -p "$d"
    s=$(pick "${strategies[@]}")
    seq 200000 >"$d/in"
    run_and_hit "cpipe -s $s" cpipe -s "$s" -j4 --block 20k -a "$d/in" 'sleep 0.01; cat' \
        >"$d/out" 2>/dev/null
    check_leftovers "$last_hit" "$hit_sid"
    check_tmp "$last_hit"
    cpipe -s "$s" -j4 --block 20k -a "$d/in" cat >"$d/out" 2>"$d/err" ||
        finding "cpipe -s $s under ulimit -n $SOAK_FDS: exit $?: $(head -c 300 "$d/err")"
    cmp -s "$d/in" "$d/out" || finding "cpipe -s $s: the output differs from the input"
    check_tmp "cpipe -s $s"
}

# ---- cfetch --------------------------------------------------------------------------

start_httpd() {
    [ -x "$httpd_bin" ] || return 1
    "$httpd_bin" --port 0 --port-file "$root/port" </dev/null >/dev/null 2>&1 &
    httpd_pid=$!
    local i
    for ((i = 0; i < 200; i++)); do
        [ -s "$root/port" ] && break
        sleep 0.02
    done
    [ -s "$root/port" ]
}

round_cfetch() {
    local d=$root/cfetch s n=60 i
    [ -n "$httpd_pid" ] || start_httpd || {
        say "cfetch rounds skipped: no test server ($httpd_bin)"
        return 0
    }
    local port
    port=$(cat "$root/port")
    rm -rf "$d"
    mkdir -p "$d/out"
    for ((i = 1; i <= n; i++)); do
        echo "http://127.0.0.1:$port/delay/$((RANDOM % 50))/$i"
    done >"$d/urls"
    s=$(pick "${strategies[@]}")
    run_and_hit "cfetch -s $s" cfetch -s "$s" -j8 --journal "$d/j.db" -o "$d/out/" -i "$d/urls" \
        >/dev/null 2>&1
    check_leftovers "$last_hit" "$hit_sid"
    for ((i = 0; i < 3; i++)); do
        cfetch -s "$s" -j8 --journal "$d/j.db" -o "$d/out/" -i "$d/urls" >/dev/null 2>"$d/err" && break
    done
    [ $i -lt 3 ] || finding "$last_hit: the rerun failed: $(head -c 300 "$d/err")"
    local bad=0
    for ((i = 1; i <= n; i++)); do
        [ "$(cat "$d/out/$i" 2>/dev/null)" = ok ] || bad=$((bad + 1))
    done
    [ $bad = 0 ] || finding "$last_hit: $bad of $n bodies missing or wrong after the rerun"
    local partial
    partial=$(find "$d/out" -name '.*' | head -n 2)
    [ -z "$partial" ] || finding "$last_hit: a partial file left: $partial"
    check_tmp "$last_hit"
}

# ---- cqueue --------------------------------------------------------------------------

export CQUEUE_DB=$root/q/q.db XDG_STATE_HOME=$root/state
mkdir -p "$root/q" "$root/jobs"

start_worker() {
    setsid cqueue work -j4 --lease 3 >/dev/null 2>"$root/worker.err" &
    worker_pid=$!
    sleep 0.5
    worker_fds0=$(ls "/proc/$worker_pid/fd" 2>/dev/null | wc -l)
}

round_cqueue() {
    local i p ids=$root/ids
    # Producers: one job per add, each id kept once add said it; kill -9
    # at random mid-way.
    local prods=()
    for p in 1 2; do
        setsid bash -c '
            for i in $(seq 30); do
                id=$(cqueue add -- sh -c "echo x >> '"$root"'/jobs/$$.$i; sleep 0.0$((RANDOM % 5))") || exit
                echo "$id" >> '"$ids"'
            done' &
        prods+=($!)
    done
    # Workers that die: kill -9 at random.
    local w
    setsid cqueue work -j3 --lease 2 >/dev/null 2>&1 &
    w=$!
    sleep 0.$((RANDOM % 8 + 1))
    kill -KILL "${prods[0]}" "$w" 2>/dev/null && kills=$((kills + 2))
    wait "${prods[@]}" "$w" 2>/dev/null
    check_zombies "cqueue round"
}

final_cqueue() {
    [ -s "$root/ids" ] || return 0
    timeout 120 cqueue work -j4 --drain --lease 2 >/dev/null 2>"$root/drain.err" ||
        finding "cqueue work --drain: exit $?: $(head -c 300 "$root/drain.err")"
    local n lost=0 twice=0 id state
    n=$(wc -l <"$root/ids")
    while read -r id; do
        state=$(cqueue show "$id" 2>/dev/null | awk '$1 == "state:" { print $2 }')
        [ "$state" = "done" ] || {
            lost=$((lost + 1))
            [ $lost -le 3 ] && say "job $id: state ${state:-unknown}"
        }
    done <"$root/ids"
    [ $lost = 0 ] || finding "cqueue: $lost of $n acknowledged jobs not done"
    # A job file with two lines ran twice: only a killed worker's jobs may.
    twice=$(find "$root/jobs" -type f -exec sh -c '[ "$(wc -l < "$1")" -gt 1 ] && echo "$1"' _ {} \; | wc -l)
    say "cqueue: $n acknowledged jobs, $lost lost, $twice ran twice (killed work)"
}

check_worker_fds() {
    [ -n "$worker_pid" ] || return 0
    if ! kill -0 "$worker_pid" 2>/dev/null; then
        finding "the long-lived cqueue worker died: $(head -c 300 "$root/worker.err")"
        return
    fi
    local now
    now=$(ls "/proc/$worker_pid/fd" | wc -l)
    say "long-lived worker: $worker_fds0 fds at start, $now now"
    [ "$now" -le $((worker_fds0 + 4)) ] || finding "the long-lived worker's fds grew from $worker_fds0 to $now"
}

# ---- a disk that fills and frees ------------------------------------------------------

round_disk() {
    if [ "$(id -u)" != 0 ]; then
        say "disk round skipped: mounting a tmpfs needs root"
        return 1
    fi
    local d=$root/disk n=30 i
    mkdir -p "$d/mnt"
    if ! mount -t tmpfs -o size=256k,mode=0700 tmpfs "$d/mnt" 2>/dev/null; then
        say "disk round skipped: mount -t tmpfs failed here"
        return 1
    fi
    mounted=$d/mnt
    # cqueue's output folder on the tmpfs, full, freed a second later.
    umount "$d/mnt" && mounted=
    CQUEUE_DB=$d/q.db cqueue stats >/dev/null
    mount -t tmpfs -o size=256k,mode=0700 tmpfs "$d/q.db.d/out" && mounted=$d/q.db.d/out
    head -c 300k /dev/zero >"$d/q.db.d/out/filler" 2>/dev/null
    for ((i = 1; i <= n; i++)); do
        echo "echo $i"
    done | CQUEUE_DB=$d/q.db cqueue add - >/dev/null
    CQUEUE_DB=$d/q.db timeout 60 cqueue work -j4 --drain >/dev/null 2>"$d/err" &
    local w=$!
    sleep 1
    rm -f "$d/q.db.d/out/filler"
    wait $w || finding "disk: cqueue work --drain on a full then freed folder: exit $?: $(head -c 300 "$d/err")"
    local failed
    failed=$(CQUEUE_DB=$d/q.db cqueue ls --state failed | wc -l)
    [ "$failed" = 0 ] || finding "disk: $failed cqueue jobs failed on a full folder"
    local ran
    ran=$(cat "$d/q.db.d/out"/*.out 2>/dev/null | sort -n | uniq | wc -l)
    [ "$ran" = $n ] || finding "disk: $ran of $n jobs' outputs kept"
    umount "$d/q.db.d/out" && mounted=
    say "disk: $n cqueue jobs through a full then freed output folder, $failed failed, $ran kept"
    return 0
}

# ---- the soak --------------------------------------------------------------------------

say "for ${SOAK_SECONDS}s under ulimit -n $SOAK_FDS, TMPDIR=$TMPDIR"
start_worker
disk_done=
end=$((SECONDS + SOAK_SECONDS))
while [ $SECONDS -lt $end ]; do
    rounds=$((rounds + 1))
    case $(rand 4) in
    0) round_cpar ;;
    1) round_cpipe ;;
    2) round_cfetch ;;
    3) round_cqueue ;;
    esac
    check_zombies "round $rounds"
    if [ -z "$disk_done" ] && [ $SECONDS -ge $((end - SOAK_SECONDS / 2)) ]; then
        round_disk
        disk_done=1
    fi
done
final_cqueue
check_worker_fds
kill -TERM "$worker_pid" 2>/dev/null
wait "$worker_pid" 2>/dev/null
worker_pid=
check_tmp "the end"
say "$rounds rounds, $kills signals sent, $found finding(s)"
[ $found = 0 ]
