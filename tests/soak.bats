#!/usr/bin/env bats
# soak.bats: a 30-second run of the fault soak (bench/soak.sh: random
# signals to cpar, cpipe, cfetch and their jobs, cqueue producers and
# workers under kill -9, ulimit -n 64, a full disk that frees), which must
# find nothing; and the cases it found, each on its own.

# shellcheck disable=SC2154
load helpers
load httpd

teardown() {
    httpd_stop # a failed test leaves no server behind
}

@test "the fault soak, 30 seconds: nothing lost, nothing twice beyond killed work, no zombie, no fd growth, no temporary file" {
    run --separate-stderr env SOAK_SECONDS=$((30 * CTK_SLOW)) TMPDIR="$BATS_TEST_TMPDIR" \
        timeout -k 5 $((300 * CTK_SLOW)) "$CTK_SRCDIR/bench/soak.sh" "$CTK_BUILDDIR"
    echo "$output" >&3
    ((status == 0)) || fail "the soak found: $(grep FOUND <<<"$output")"
    [[ $output == *" 0 finding(s)"* ]] || fail "no summary: $output"
}

@test "cfetch --journal killed while it creates the journal: the rerun uses it" {
    httpd_start
    local k d
    # (k, not i: bats' run uses i.)
    for ((k = 0; k < 15; k++)); do
        d=$BATS_TEST_TMPDIR/j$k
        mkdir -p "$d/out"
        timeout -s KILL "0.0$((k % 9 + 1))" cfetch --journal "$d/j.db" -o "$d/out/" \
            "$HTTPD_URL/ok/a" "$HTTPD_URL/ok/b" >/dev/null 2>&1 || true
        run --separate-stderr cfetch --journal "$d/j.db" -o "$d/out/" "$HTTPD_URL/ok/a" "$HTTPD_URL/ok/b"
        ((status == 0)) || fail "run $k: the rerun refused: $stderr"
        [[ $(cat "$d/out/a") == a && $(cat "$d/out/b") == b ]] || fail "run $k: bodies wrong"
    done
    httpd_stop
}
