#!/usr/bin/env bats
# habits-tools.bats: the habits of issue 15 that every ctk tool shares
# (cfetch, cqueue, cpipe, cburn; cpar's are in habits.bats): the progress
# bar only when asked and never on a record's line, the warning when
# input comes from a terminal, one exit status for a missing input file,
# and records to a pipe a line at a time. The anchors (GNU parallel,
# curl) are the oracles where they run here; a terminal is a pty from
# script(1).

load helpers
load httpd

setup_file() {
    httpd_start
}

teardown_file() {
    httpd_stop
}

# on_tty CMD: runs the shell command CMD with a terminal on stdin, stdout
# and stderr (all the same pty); its output with CR LF made LF.
on_tty() {
    timeout -k 5 "$CTK_TIMEOUT" script -qec "$1" /dev/null </dev/null | tr -d '\r'
}

@test "no progress bar unless asked, even on a terminal, in every tool (parallel shows none either)" {
    command -v script >/dev/null || skip "no script(1) for a terminal"
    local bar='\[[#-]{10}\]|[0-9]+ (urls|lines|tasks|MB)  '
    run on_tty "cfetch $HTTPD_URL/ok/a $HTTPD_URL/ok/b"
    refute_output --regexp "$bar"
    run on_tty "seq 100 > '$BATS_TEST_TMPDIR/in'; cpipe -a '$BATS_TEST_TMPDIR/in' wc -l"
    refute_output --regexp "$bar"
    run on_tty "printf '1000\n1000\n' | cburn -"
    refute_output --regexp "$bar"
    # Asked for, it shows.
    run on_tty "cfetch --bar $HTTPD_URL/ok/a $HTTPD_URL/ok/b"
    assert_output --regexp "$bar"
}

@test "a bar never shares a line with a record on the same terminal" {
    command -v script >/dev/null || skip "no script(1) for a terminal"
    local raw
    raw=$(timeout -k 5 "$CTK_TIMEOUT" script -qec \
        "cfetch --bar -j1 $HTTPD_URL/delay/300 $HTTPD_URL/delay/300 $HTTPD_URL/ok/c" /dev/null </dev/null)
    # What a terminal shows: after the last \r of a line, or after an
    # erase (\r ESC [K), what is left. A record's line must hold no bar.
    local records=0
    while IFS= read -r line; do
        line=${line%$'\r'}
        shown=${line##*$'\r'}
        shown=${shown//$'\e[K'/}
        if [[ $shown == [0-9]*$'\t'http* ]]; then
            records=$((records + 1))
            [[ $shown != *'['[#-]* ]] || fail "bar and record on one line: $shown"
        fi
        # A record starts after an erase (\r ESC [K), never straight
        # after a bar's text or a bare \r over it.
        local esc=$'\e' cr=$'\r' tab=$'\t'
        re="ETA [0-9:]+(${esc}\\[K)?${cr}?[0-9]+${tab}http"
        [[ ! $line =~ $re ]] || fail "record written over a bar: $line"
    done <<<"$raw"
    assert_equal "$records" 3
}

@test "reading input from a terminal: a warning on stderr, as GNU parallel gives" {
    command -v script >/dev/null || skip "no script(1) for a terminal"
    # The oracle warns too (its wording is longer).
    run bash -c "printf 'echo x\n\004' | timeout 20 script -qec 'parallel --will-cite' /dev/null"
    assert_output --partial "terminal"
    run bash -c "printf '$HTTPD_URL/ok/t\n\004' | timeout 20 script -qec cfetch /dev/null"
    assert_output --partial "cfetch: reading input from the terminal; end with Ctrl-D"
    assert_output --partial "$HTTPD_URL/ok/t"
    run bash -c "printf '1000\n\004' | timeout 20 script -qec 'cburn -' /dev/null"
    assert_output --partial "cburn: reading input from the terminal; end with Ctrl-D"
    run bash -c "printf 'a\n\004' | timeout 20 script -qec 'cpipe cat' /dev/null"
    assert_output --partial "cpipe: reading input from the terminal; end with Ctrl-D"
    export CQUEUE_DB="$BATS_TEST_TMPDIR/q.db" XDG_STATE_HOME="$BATS_TEST_TMPDIR/state"
    run bash -c "printf 'true\n\004' | timeout 20 script -qec 'cqueue add -' /dev/null"
    assert_output --partial "cqueue add: reading input from the terminal; end with Ctrl-D"
    # Not from a pipe or a file: no warning.
    run --separate-stderr bash -c "echo $HTTPD_URL/ok/p | cfetch"
    assert_equal "$stderr" ""
}

@test "a missing input file: the exit status of parallel -a missing, in every tool" {
    run parallel --will-cite -a "$BATS_TEST_TMPDIR/missing" echo
    local want=$status
    assert_equal "$want" 255
    run cpar -a "$BATS_TEST_TMPDIR/missing" echo
    assert_equal "$status" "$want"
    run cpipe -a "$BATS_TEST_TMPDIR/missing" cat
    assert_equal "$status" "$want"
    run cfetch -i "$BATS_TEST_TMPDIR/missing"
    assert_equal "$status" "$want"
    assert_output --partial "missing"
    for page in cfetch cpipe; do
        grep -A400 '^\.SH EXIT STATUS' "$CTK_SRCDIR/man/$page.1" | grep -q '^\.B 255' ||
            fail "$page(1) does not document 255"
    done
}

@test "cburn map mode to a pipe: each record as soon as it is done, not behind a block buffer" {
    # The second line comes 3 s after the first: the first record must be
    # through the pipe long before.
    run bash -c '(echo 1000; sleep 3; echo 1000) | cburn - | { read -r -t 2 first && echo "early: $first"; cat >/dev/null; }'
    assert_output --regexp '^early: 1'$'\t''1000'
    # The same for cfetch's records (a control: it was line-buffered already).
    run bash -c "(echo $HTTPD_URL/ok/a; sleep 3; echo $HTTPD_URL/ok/b) | cfetch | { read -r -t 2 first && echo \"early: \$first\"; cat >/dev/null; }"
    assert_output --partial "early: 1"
}
