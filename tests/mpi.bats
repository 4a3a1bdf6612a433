#!/usr/bin/env bats
# mpi.bats: the mpi strategy plugin (plugins/mpi) on one machine, under
# `mpirun --oversubscribe -np 3` (rank 0 runs the tool, ranks 1 and 2 run
# units). Each tool's records under -s mpi must equal those under -s
# process on the same input (the oracle: the same tool on one machine);
# a worker rank that dies, Ctrl-C on mpirun, and --halt. Skips, saying
# why, where Open MPI or the plugin is missing.

load helpers
load httpd

MPI_SO=$CTK_BUILDDIR/plugins/mpi/mpi.so

setup_file() {
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    # Open MPI's shared-memory files and session folders stay in the test's.
    export OMPI_MCA_orte_tmpdir_base=$BATS_FILE_TMPDIR
    export CTK_PLUGIN_PATH=$CTK_BUILDDIR/plugins/mpi:$CTK_PLUGIN_PATH
}

setup() {
    command -v mpirun >/dev/null || skip "Open MPI is not installed (apt-get install openmpi-bin libopenmpi-dev)"
    [[ -f $MPI_SO ]] || skip "plugins/mpi was not built (./configure found no mpicc)"
    cd "$BATS_TEST_TMPDIR"
}

# mpi N CMD...: CMD on N ranks under the guard. Under ASan, LeakSanitizer
# is off in the ranks: Open MPI's own components leak at MPI_Finalize
# (from dlclosed modules LSan cannot even name), and a report would
# change every rank's exit status.
mpi() {
    local n=$1
    shift
    if [[ -n ${CTK_SANITIZED:-} ]]; then
        ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
            timeout -k 5 "$CTK_TIMEOUT" mpirun --oversubscribe -x ASAN_OPTIONS -np "$n" "$@"
    else
        timeout -k 5 "$CTK_TIMEOUT" mpirun --oversubscribe -np "$n" "$@"
    fi
}

# Drops the start and elapsed columns (5 and 6) of cpar records: timing.
untimed() {
    cut -f1-4,7- "$1"
}

@test "cpar -s mpi -k: the records and output equal -s process" {
    printf '%s\n' 0 1 2 3 7 0 1 >items
    # cpar runs its command line through the shell, as GNU parallel does.
    mpi 3 cpar -s mpi -j2 -k --records rec.mpi 'echo "out {}"; echo "err {}" >&2; exit {}' \
        :::: items >out.mpi 2>err.mpi || status_mpi=$?
    cpar -s process -j2 -k --records rec.proc 'echo "out {}"; echo "err {}" >&2; exit {}' \
        :::: items >out.proc 2>err.proc || status_proc=$?
    assert_equal "${status_mpi:-0}" "${status_proc:-0}"
    assert_equal "${status_proc:-0}" 5 # five jobs failed
    assert_equal "$(untimed rec.mpi)" "$(untimed rec.proc)"
    assert_equal "$(wc -l <rec.mpi)" 7
    assert_equal "$(cat out.mpi)" "$(cat out.proc)"
    assert_equal "$(grep -c '^err ' err.mpi)" 7
}

@test "cpar -s mpi: units run on the worker ranks, never on rank 0" {
    mpi 3 cpar -s mpi -j1 -k 'echo $OMPI_COMM_WORLD_RANK; sleep 0.{}' ::: $(seq 1 6) >ranks
    assert_equal "$(wc -l <ranks)" 6
    run grep -c '^0$' ranks
    assert_output 0
    # Pull: every worker rank asked, so both ran some.
    grep -q '^1$' ranks
    grep -q '^2$' ranks
}

@test "cpar -s mpi --joblog: the joblog equals -s process but for its times" {
    mpi 3 cpar -s mpi -k --joblog log.mpi true ::: a b c
    cpar -s process -k --joblog log.proc true ::: a b c
    assert_equal "$(cut -f1,2,5-9 log.mpi)" "$(cut -f1,2,5-9 log.proc)"
    assert_equal "$(wc -l <log.mpi)" 4
}

@test "cpipe -s mpi: the output is byte for byte -s process's (piped and seekable)" {
    seq 1 300000 | sed 's/$/ some text/' >in.txt
    # mpirun hands rank 0 its stdin through a pipe: --pipe's cut points,
    # as GNU parallel cuts a pipe; -s process is told the same.
    mpi 3 cpipe -s mpi --pipe --block 200k wc -l <in.txt >piped.mpi
    cpipe -s process --pipe --block 200k wc -l <in.txt >piped.proc
    cmp piped.mpi piped.proc
    assert_equal "$(awk '{s += $1} END {print s}' piped.mpi)" 300000
    [[ $(wc -l <piped.mpi) -gt 5 ]]
    cat in.txt | mpi 3 cpipe -s mpi -k --block 100k md5sum >cat.mpi
    cat in.txt | cpipe -s process -k --block 100k md5sum >cat.proc
    cmp cat.mpi cat.proc
    mpi 3 cpipe -s mpi --block 100k -a in.txt gzip -1 | gzip -dc | cmp - in.txt
}

@test "cfetch -s mpi: the records and pages equal -s process's" {
    httpd_start
    {
        for n in 1 100 5000 70000; do echo "$HTTPD_URL/bytes/$n"; done
        echo "$HTTPD_URL/status/404"
        echo "$HTTPD_URL/ok/hello"
    } >urls
    mkdir m p
    (cd m && mpi 3 cfetch -s mpi -k -o pages <../urls >../rec.mpi) || status_mpi=$?
    (cd p && cfetch -s process -k -o pages <../urls >../rec.proc) || status_proc=$?
    httpd_stop
    assert_equal "${status_mpi:-0}" "${status_proc:-0}"
    # seq, url, status, bytes; then attempts, path, error (not the times).
    assert_equal "$(cut -f1-4,7- rec.mpi)" "$(cut -f1-4,7- rec.proc)"
    assert_equal "$(wc -l <rec.mpi)" 6
    diff -r m/pages p/pages
    assert_equal "$(wc -c <m/pages/70000)" 70000
}

@test "cburn -s mpi: the checksum equals -s process's, also under --compare" {
    mpi 3 cburn -s mpi -j1 -n 30 --format tsv >burn.mpi
    cburn -s process -j2 -n 30 --format tsv >burn.proc
    sum_mpi=$(awk -F'\t' '{print $12}' burn.mpi)
    assert_equal "$sum_mpi" "$(awk -F'\t' '{print $12}' burn.proc)"
    [[ $sum_mpi =~ ^[0-9a-f]{16}$ && $sum_mpi != 0000000000000000 ]]
    mpi 3 cburn -j1 -n 30 --compare=process,mpi --format tsv >cmp
    assert_equal "$(cut -f1 cmp | tr '\n' ' ')" "process mpi "
    assert_equal "$(cut -f12 cmp | sort -u)" "$sum_mpi"
    seq 1 20 | sed 's/$/000/' | mpi 3 cburn -s mpi -w primes -k - | cut -f1-4 >map.mpi
    seq 1 20 | sed 's/$/000/' | cburn -s process -w primes -k - | cut -f1-4 >map.proc
    assert_equal "$(cat map.mpi)" "$(cat map.proc)"
}

@test "-s mpi outside mpirun: every unit fails and says why" {
    run cpar -s mpi true ::: a b
    assert_failure 2
    assert_output --partial "not started by mpirun"
    run bash -c 'mpirun --oversubscribe -np 1 cpar -s mpi true ::: a 2>&1'
    assert_failure
    assert_output --partial "no worker rank"
}

@test "--mpi-timeout: checked like any option, and only with -s mpi" {
    run cpar -s mpi --mpi-timeout 0 true ::: a
    assert_failure 2
    assert_output --partial "--mpi-timeout"
    run cpar -s process --mpi-timeout 5 true ::: a
    assert_failure 2
    assert_output --partial "belongs to strategy 'mpi'"
    run cpar --help
    assert_output --partial "--mpi-timeout"
}

# Each job writes its worker rank and that rank's pid, then sleeps; the
# test kills rank 2 once it runs a job.
@test "a worker rank that dies: its units become error records, the others go on" {
    export OMPI_MCA_orte_enable_recovery=1
    mpi 3 cpar -s mpi -j1 -k --mpi-timeout 2 --records rec \
        'echo "$OMPI_COMM_WORLD_RANK $PPID" >>ran; sleep {}' ::: 1 1 1 1 1 1 >/dev/null 2>err &
    local job=$! i
    # mpirun's start-up takes seconds on a loaded machine.
    for ((i = 0; i < 1200; i++)); do
        grep -q '^2 ' ran 2>/dev/null && break
        sleep 0.05
    done
    grep -q '^2 ' ran || fail "rank 2 ran no job within 60 s"
    kill -9 "$(awk '$1 == 2 {print $2; exit}' ran)"
    # Under --enable-recovery mpirun's own status does not follow rank 0's
    # (Open MPI 4.1): the records and messages are what count.
    wait "$job" || true
    grep -q 'cpar: job [0-9]*: worker rank 2 on .* died' err
    # Every job has a record; the one rank 2 ran says so.
    assert_equal "$(wc -l <rec)" 6
    run grep -c 'worker rank 2 on .* died' rec
    [[ $output -ge 1 ]]
    # Rank 1 ran the rest: at least four jobs succeeded.
    [[ $(awk -F'\t' '$3 == 0' rec | wc -l) -ge 4 ]]
}

@test "Ctrl-C on mpirun: every rank's jobs end, nothing is left behind" {
    timeout -k 5 "$CTK_TIMEOUT" mpirun --oversubscribe -np 3 cpar -s mpi -j2 --joblog log \
        'echo $$ >>pids; exec sleep 47.{}' ::: 1 2 3 4 5 6 >/dev/null 2>&1 &
    local job=$! i
    for ((i = 0; i < 200; i++)); do
        [[ -f pids && $(wc -l <pids) -ge 4 ]] && break
        sleep 0.05
    done
    assert_equal "$(wc -l <pids)" 4
    kill -INT "$(pgrep -P "$job" -x mpirun)"
    wait "$job" || status=$?
    # Not 130: Open MPI's mpirun (4.1) makes its own status 1 on SIGINT
    # whatever rank 0 returns, and will not forward SIGINT to the ranks
    # (ess_base_forward_signals refuses it); see cpar(1), -s mpi.
    [[ ${status:-0} -ne 0 ]]
    local pid
    for pid in $(cat pids); do
        run kill -0 "$pid"
        assert_failure
    done
    # Interrupted jobs are not logged (a --resume runs them again).
    assert_equal "$(wc -l <log)" 1
}

# A worker rank runs -j jobs at a time, so two worker ranks with -j1 run
# what -s process runs with -j2; under --halt a worker slot starts its next
# job only once rank 0 has counted the last, as a local slot does.
@test "cpar --halt now|soon: status, records and joblog as under -s process" {
    local h s
    # Two slots: jobs end at 0 (fails), 1, 1.6, 1.9 (fails), 2.5 and 2.9 s,
    # far enough apart that which are running at a decision is no race.
    for h in now,fail=1 soon,fail=1 now,success=1 soon,done=3 now,fail=2 soon,fail=50%; do
        local -A st=()
        for s in mpi process; do
            if [[ $s == mpi ]]; then r=(mpi 3 cpar -j1); else r=(cpar -j2); fi
            "${r[@]}" -s $s -k --halt $h --colsep ' ' --records rec.$s --joblog log.$s \
                'sleep {1}; exit {2}' ::: '0 3' '1 0' '1.6 0' '1.5 0' '0.3 4' '1 0' \
                >/dev/null 2>err.$s || st[$s]=$?
        done
        echo "--halt $h" >&2
        assert_equal "${st[mpi]:-0}" "${st[process]:-0}"
        assert_equal "$(untimed rec.mpi)" "$(untimed rec.process)"
        assert_equal "$(cut -f1,2,5-9 log.mpi)" "$(cut -f1,2,5-9 log.process)"
        # Rank 0 decided, and said so as cpar does.
        assert_equal "$(grep -c '^cpar: This job' err.mpi)" "$(grep -c '^cpar: This job' err.process)"
    done
    # The last run: half the jobs failed, as GNU parallel counts it.
    assert_equal "${st[mpi]}" 34
}

@test "cpar --halt now,fail=1 -s mpi: the running jobs of every rank end at once" {
    mpi 3 cpar -s mpi -j1 --halt now,fail=1 --joblog log \
        'echo "$OMPI_COMM_WORLD_RANK $$" >>ran; [ {} = 1 ] && sleep 0.5 && exit 4; exec sleep 6{}' \
        ::: 1 2 3 4 >/dev/null 2>&1 || status=$?
    assert_equal "${status:-0}" 4
    # Rank 0 ran none; the job on the other rank was ended, not waited for.
    run grep -c '^0 ' ran
    assert_output 0
    assert_equal "$(awk '{print $1}' ran | sort -u | tr '\n' ' ')" "1 2 "
    local pid
    for pid in $(awk '{print $2}' ran); do
        run kill -0 "$pid"
        assert_failure
    done
    # Only the failed job is logged (an ended one is not: --resume runs it).
    assert_equal "$(wc -l <log)" 2
    assert_equal "$(awk -F'\t' 'NR == 2 {print $1, $7}' log)" "1 4"
}

# One worker rank with -j2 runs as -s process -j2 does (the same window of
# blocks in flight, so the same blocks are cut before --halt stops it).
@test "cpipe --halt now|soon: output and status as under -s process" {
    seq 1 30000 >in.txt
    local h s
    for h in now,fail=1 soon,fail=1 now,done=4; do
        local -A st=()
        for s in mpi process; do
            if [[ $s == mpi ]]; then r=(mpi 2 cpipe); else r=(cpipe); fi
            "${r[@]}" -s $s -j2 --pipe --block 10k --halt $h \
                'wc -l; case $CPIPE_BLOCK in 1|2) ;; 3) sleep 0.5; exit 7;; *) sleep 3;; esac' \
                <in.txt >out.$s 2>err.$s || st[$s]=$?
        done
        echo "--halt $h" >&2
        assert_equal "${st[mpi]:-0}" 7
        assert_equal "${st[process]:-0}" 7
        cmp out.mpi out.process
        grep -q -- '--halt: ' err.mpi
    done
}

# Each rank in a folder of its own: anything a worker rank opens would
# show there (on a shared file system it would truncate rank 0's file).
@test "cpar -s mpi --joblog --records: the worker ranks open no output" {
    mkdir r0 r1 r2
    mpi 3 sh -c 'cd r$OMPI_COMM_WORLD_RANK && exec cpar -s mpi -k --joblog log --records rec \
        "$@"' sh true ::: a b c
    cpar -s process -k --joblog log.proc --records rec.proc true ::: a b c
    assert_equal "$(ls r1 r2)" "$(printf 'r1:\n\nr2:')"
    assert_equal "$(cut -f1,2,5-9 r0/log)" "$(cut -f1,2,5-9 log.proc)"
    assert_equal "$(untimed r0/rec)" "$(untimed rec.proc)"
    assert_equal "$(wc -l <r0/log)" 4
}
