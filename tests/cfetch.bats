#!/usr/bin/env bats
# cfetch.bats: black-box tests of cfetch against the fault-injecting test
# server (tests/fixtures/httpd): every fault path under every strategy,
# bad input, safe output names, the journal after kill -9, signals, and
# the options. Strategies are looped inside a test to keep the run short.

load helpers
load httpd

STRATEGIES="sync thread process async"

setup_file() {
    httpd_start
}

teardown_file() {
    httpd_stop
}

# cf ARGS...: cfetch under the guard.
cf() {
    timeout -k 5 "$CTK_TIMEOUT" cfetch "$@"
}

# col N: field N of TSV records on stdin.
col() {
    awk -F'\t' -v n="$1" '{ print $n }'
}

# rec URL FIELD: field FIELD (a number) of the record whose url is URL,
# from the records in $output.
rec() {
    awk -F'\t' -v u="$1" -v n="$2" '$2 == u { print $n }' <<<"$output"
}

# pattern N: the first N bytes of /bytes/N's body.
pattern() {
    python3 -c 'import sys; n = int(sys.argv[1]); sys.stdout.write(("0123456789abcdef" * (n // 16 + 1))[:n])' "$1"
}

stats() {
    curl -sS "$HTTPD_URL/stats"
}

reset_stats() {
    curl -sS "$HTTPD_URL/reset-stats" >/dev/null
}

# ---- options, help, usage -----------------------------------------------------------

@test "every option in --help is in the man page, and the reverse" {
    # Only cfetch's own and the shared options: no plugin's.
    CTK_PLUGIN_PATH= run cf --help
    assert_success
    local opts man
    opts=$(grep -oE -- '--[a-z][a-z0-9-]+' <<<"$output" | sort -u)
    # MANY HOSTS quotes mpirun's and GNU parallel's options, not cfetch's.
    man=$(sed '/^\.SH MANY HOSTS/,/^\.SH /d' "$CTK_SRCDIR/man/cfetch.1" |
        grep -oE -- '\\-\\-[a-z][a-z0-9\\-]+' | sed 's/\\//g' | sort -u)
    local missing
    missing=$(comm -23 <(echo "$opts") <(echo "$man"))
    assert_equal "$missing" ""
    missing=$(comm -13 <(echo "$opts") <(echo "$man"))
    assert_equal "$missing" ""
}

@test "man/cfetch.1 renders without warnings and has the expected sections" {
    local man="$CTK_SRCDIR/man/cfetch.1" s
    command -v groff >/dev/null || skip "groff is not installed"
    run groff -man -Tutf8 -ww -z "$man"
    assert_success
    assert_output ""
    for s in NAME SYNOPSIS DESCRIPTION OPTIONS RECORDS STRATEGIES SIGNALS 'EXIT STATUS' EXAMPLES \
        'SEE ALSO'; do
        grep -qE "^\.SH \"?$s\"?$" "$man" || fail "no section $s"
    done
}

@test "usage errors exit 2 with a message and nothing on stdout" {
    local args
    for args in "-j x" "--rate 0" "--rate fast" "-X A\ B" "-o d -O x" "--retries -1" \
        "--timeout 0" "--max-filesize 1Q" "-O {nope}" "--body -o d" "--nosuch" "-H nocolon"; do
        # shellcheck disable=SC2086
        run --separate-stderr cf $args "$HTTPD_URL/ok/x"
        assert_equal "$status" 2
        assert_equal "$output" ""
        assert_stderr_regex "^cfetch: "
        assert_equal "${stderr_lines[-1]}" "Try 'cfetch --help' for more information."
    done
}

# ---- records ---------------------------------------------------------------------------

@test "one record per URL with the nine fields, TSV with --header-line, JSON, -k order" {
    local urls=() i
    for i in $(seq 1 30); do urls+=("$HTTPD_URL/ok/u$i"); done
    run --separate-stderr cf --header-line -k -j 8 "${urls[@]}"
    assert_success
    assert_equal "${lines[0]}" "$(printf 'seq\turl\tstatus\tbytes\telapsed\tttfb\tattempts\tpath\terror\teffective_url\tcontent_type')"
    assert_equal "$(tail -n +2 <<<"$output" | col 1 | paste -sd,)" "$(seq -s, 1 30)"
    assert_equal "$(tail -n +2 <<<"$output" | col 3 | sort -u)" "200"
    assert_equal "$(rec "$HTTPD_URL/ok/u7" 4)" 3
    run --separate-stderr cf --format json "${urls[@]}"
    assert_success
    run json_fields seq url status bytes elapsed ttfb attempts path error <<<"$output"
    assert_success
    assert_equal "$(col 1 <<<"$output" | sort -n | paste -sd,)" "$(seq -s, 1 30)"
}

@test "URLs from stdin and -i FILE; blank lines and comments skipped" {
    printf '# a comment\n\n  %s  \n%s\r\n' "$HTTPD_URL/ok/a" "$HTTPD_URL/ok/b" >"$BATS_TEST_TMPDIR/in"
    run cf -k -i "$BATS_TEST_TMPDIR/in"
    assert_success
    assert_equal "$(col 2 <<<"$output" | paste -sd' ')" "$HTTPD_URL/ok/a $HTTPD_URL/ok/b"
    run cf -k <"$BATS_TEST_TMPDIR/in"
    assert_success
    assert_equal "${#lines[@]}" 2
}

# ---- every fault path under every strategy ----------------------------------------------------

@test "status, delays, trickle, cut bodies, redirects, large body: same records on every strategy" {
    local u=$HTTPD_URL s
    local in=("$u/ok/x" "$u/status/404" "$u/status/503" "$u/delay/200" "$u/trickle/10/20"
        "$u/close/100" "$u/wrong-length/50" "$u/redirect/3" "$u/redirect-loop" "$u/bytes/3000000")
    for s in $STRATEGIES; do
        run --separate-stderr cf -s "$s" -j 4 -L --max-redirs 5 --fail "${in[@]}"
        assert_equal "$status" 1
        assert_equal "${#lines[@]}" "${#in[@]}"
        assert_equal "$(rec "$u/ok/x" 3),$(rec "$u/ok/x" 4),$(rec "$u/ok/x" 9)" "200,2,"
        assert_equal "$(rec "$u/status/404" 3),$(rec "$u/status/404" 9)" "404,HTTP 404"
        assert_equal "$(rec "$u/status/503" 3),$(rec "$u/status/503" 9)" "503,HTTP 503"
        assert_equal "$(rec "$u/delay/200" 3),$(rec "$u/delay/200" 4)" "200,3"
        assert_equal "$(rec "$u/trickle/10/20" 3),$(rec "$u/trickle/10/20" 4)" "200,10"
        [[ -n $(rec "$u/close/100" 9) ]] || fail "$s: /close/100 succeeded"
        assert_equal "$(rec "$u/close/100" 4)" 100
        [[ -n $(rec "$u/wrong-length/50" 9) ]] || fail "$s: /wrong-length/50 succeeded"
        assert_equal "$(rec "$u/redirect/3" 3),$(rec "$u/redirect/3" 9)" "200,"
        [[ $(rec "$u/redirect-loop" 9) == *edirect* ]] || fail "$s: loop: $(rec "$u/redirect-loop" 9)"
        assert_equal "$(rec "$u/bytes/3000000" 4)" 3000000
        # With --no-location a redirect is a record of its own, and a success.
        run cf -s "$s" --no-location "$u/redirect/2"
        assert_success
        assert_equal "$(col 3 <<<"$output")" 302
    done
}

@test "retries: backoff on 503 and cut bodies, Retry-After honoured, attempts counted" {
    local u=$HTTPD_URL s
    for s in $STRATEGIES; do
        run cf -s "$s" -k --retries 3 --retry-delay 0.05 "$u/flaky/$s/2/503" "$u/flaky/$s-429/1/429" \
            "$u/close/10" "$u/status/404" "$u/retry-after/$s/1"
        assert_equal "$status" 1 # /close/10 fails every time
        assert_equal "$(rec "$u/flaky/$s/2/503" 3),$(rec "$u/flaky/$s/2/503" 7)" "200,3"
        assert_equal "$(rec "$u/flaky/$s-429/1/429" 3),$(rec "$u/flaky/$s-429/1/429" 7)" "200,2"
        assert_equal "$(rec "$u/close/10" 7)" 4
        assert_equal "$(rec "$u/status/404" 7)" 1
        assert_equal "$(rec "$u/retry-after/$s/1" 7)" 2
        # Retry-After: 1 was waited for, not the 0.05 s backoff.
        awk -v e="$(rec "$u/retry-after/$s/1" 5)" 'BEGIN { exit !(e >= 0.95) }' ||
            fail "$s: Retry-After not honoured: $(rec "$u/retry-after/$s/1" 5)"
    done
    # Counted on the server: the flaky path was asked three times.
    assert_equal "$(grep -c "/flaky/async/2/503" "$HTTPD_LOG")" 3
}

@test "--stall-timeout aborts a trickle and --timeout a slow header, on every strategy" {
    local u=$HTTPD_URL s
    for s in $STRATEGIES; do
        run cf -s "$s" -k --stall-timeout 1 --stall-speed 100 --retries 1 --retry-delay 0.01 \
            "$u/trickle/100/400" "$u/ok/fine"
        assert_equal "$status" 1
        [[ $(rec "$u/trickle/100/400" 9) == stalled* ]] || fail "$s: $(rec "$u/trickle/100/400" 9)"
        assert_equal "$(rec "$u/trickle/100/400" 7)" 2
        assert_equal "$(rec "$u/ok/fine" 3)" 200
        run cf -s "$s" --timeout 0.3 "$u/delay/3000"
        assert_equal "$status" 1
        [[ $(col 9 <<<"$output") == *imeout* || $(col 9 <<<"$output") == *imed\ out* ]] ||
            fail "$s: $(col 9 <<<"$output")"
    done
}

@test "connections are reused on every strategy; -j and --per-host bound what is in flight" {
    local s i urls=()
    for i in $(seq 1 40); do urls+=("$HTTPD_URL/ok/k$i"); done
    for s in $STRATEGIES; do
        reset_stats
        run cf -s "$s" -j 2 "${urls[@]}"
        assert_success
        read -r req conn inflight <<<"$(stats | tr -c '0-9\n' ' ')"
        assert_equal "$req" 40
        ((conn <= 2)) || fail "$s: $conn connections for 40 requests with -j 2"
        ((inflight <= 2)) || fail "$s: $inflight in flight with -j 2"
    done
    urls=()
    for i in $(seq 1 12); do urls+=("$HTTPD_URL/delay/150/p$i"); done
    for s in $STRATEGIES; do
        reset_stats
        run cf -s "$s" -j 8 --per-host 3 "${urls[@]}"
        assert_success
        read -r req conn inflight <<<"$(stats | tr -c '0-9\n' ' ')"
        ((inflight <= 3)) || fail "$s: $inflight in flight with --per-host 3"
    done
}

# ---- bad input ----------------------------------------------------------------------------------

@test "bad input: not a URL, other schemes, unresolvable, refused, a 20 MB line: error records, the rest go on" {
    local port s
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    {
        echo "$HTTPD_URL/ok/first"
        echo "not a url"
        echo "ftp://example.com/file"
        echo "http://no-such-host.invalid/x"
        echo "http://127.0.0.1:$port/refused"
        python3 -c 'print("http://h/" + "a" * (20 * 1024 * 1024))'
        printf 'http://a\001b/\n'
        # TLS to a server that speaks plain HTTP: the handshake never
        # completes (the server waits for a request's end): a timeout.
        echo "https://127.0.0.1:$HTTPD_PORT/ok/tls"
        echo "$HTTPD_URL/ok/last"
    } >"$BATS_TEST_TMPDIR/in"
    for s in $STRATEGIES; do
        run --separate-stderr cf -s "$s" -k --connect-timeout 0.5 -i "$BATS_TEST_TMPDIR/in"
        assert_equal "$status" 1
        assert_equal "${#lines[@]}" 9
        assert_equal "$(col 1 <<<"$output" | paste -sd,)" "1,2,3,4,5,6,7,8,9"
        [[ -n $(rec "https://127.0.0.1:$HTTPD_PORT/ok/tls" 9) ]] || fail "TLS to plain HTTP succeeded"
        assert_equal "$(rec "$HTTPD_URL/ok/first" 3)" 200
        assert_equal "$(rec "$HTTPD_URL/ok/last" 3)" 200
        [[ $(rec "not a url" 9) == "not a URL"* ]] || fail "$(rec "not a url" 9)"
        [[ $(rec "ftp://example.com/file" 9) == *"unsupported scheme"* ]] || fail
        [[ -n $(rec "http://no-such-host.invalid/x" 9) ]] || fail "resolved .invalid"
        [[ -n $(rec "http://127.0.0.1:$port/refused" 9) ]] || fail "connected to a closed port"
        [[ $(awk -F'\t' '$1 == 6 { print $9 }' <<<"$output") == *"too long"* ]] || fail "20 MB line"
        assert_equal "$(awk -F'\t' '$9 != ""' <<<"$output" | wc -l)" 7
    done
}

# ---- output files -----------------------------------------------------------------------------------

@test "-o DIR: bodies saved whole, names safe and inside DIR, collisions suffixed" {
    local d=$BATS_TEST_TMPDIR/w/out u=$HTTPD_URL s
    for s in $STRATEGIES; do
        rm -rf "$BATS_TEST_TMPDIR/w"
        mkdir -p "$BATS_TEST_TMPDIR/w"
        # --no-fail: /ok/../../../passwd is the server's /passwd, a 404 whose
        # body must still land inside DIR.
        run cf -s "$s" -k --no-fail -o "$d" "$u/ok/../../../passwd" "$u/ok/%2e%2e/%2E%2E/evil" "$u/ok/%2e%2e" \
            "$u/ok/a%2Fb" "$u/ok/.hidden" "$u/ok/" "$u/ok/" "$u/bytes/5000000" "$u/bytes/5000000?again"
        assert_success
        # Nothing outside DIR, nothing hidden inside it.
        assert_equal "$(find "$BATS_TEST_TMPDIR/w" -mindepth 1 -not -path "$d/*" -not -path "$d")" ""
        assert_equal "$(find "$d" -name '.*' | wc -l)" 0
        assert_equal "$(find "$d" -type f | wc -l)" 9
        assert_equal "$(col 8 <<<"$output" | sort -u | wc -l)" 9
        local p
        for p in $(col 8 <<<"$output"); do
            [[ $p == "$d/"* && $p != *..* || $p == "$d/__" ]] || fail "$s: path $p"
            [[ -f $p ]] || fail "$s: $p missing"
        done
        assert_equal "$(rec "$u/ok/" 8 | paste -sd' ')" "$d/index.html $d/index.html.1"
        pattern 5000000 >"$BATS_TEST_TMPDIR/expect"
        cmp "$BATS_TEST_TMPDIR/expect" "$d/5000000"
        cmp "$BATS_TEST_TMPDIR/expect" "$d/5000000.1"
    done
}

@test "-O TEMPLATE names with {seq} {host} {name}; failed bodies leave no file" {
    run cf -k --fail -O "$BATS_TEST_TMPDIR/t/{host}/{seq}-{name}" "$HTTPD_URL/ok/a.txt" \
        "$HTTPD_URL/status/404" "$HTTPD_URL/close/100"
    assert_failure 1
    assert_equal "$(cat "$BATS_TEST_TMPDIR/t/127.0.0.1/1-a.txt")" "a.txt"
    assert_equal "$(find "$BATS_TEST_TMPDIR/t" -type f | wc -l)" 1
    assert_equal "$(rec "$HTTPD_URL/status/404" 8)" ""
}

@test "--body writes bodies in input order; -H, -A and -X HEAD reach the server" {
    run cf --body -j 4 "$HTTPD_URL/delay/300/one" "$HTTPD_URL/ok/two" "$HTTPD_URL/delay/100/three"
    assert_success
    assert_equal "$(paste -sd' ' <<<"$output")" "ok two ok"
    # The records, then, only where --records says.
    run cf --body --records "$BATS_TEST_TMPDIR/r.tsv" "$HTTPD_URL/ok/x" "$HTTPD_URL/ok/y"
    assert_success
    assert_equal "$(paste -sd' ' <<<"$output")" "x y"
    assert_equal "$(col 2 <"$BATS_TEST_TMPDIR/r.tsv" | sort | paste -sd' ')" "$HTTPD_URL/ok/x $HTTPD_URL/ok/y"
    run cf --body -H 'X-Test: yes' -H 'X-Other: 2' -A 'agent/7' "$HTTPD_URL/headers"
    assert_success
    assert_line "X-Test: yes"
    assert_line "X-Other: 2"
    assert_line "User-Agent: agent/7"
    run --separate-stderr cf --bar "$HTTPD_URL/ok/a" "$HTTPD_URL/ok/b"
    assert_success
    assert_stderr_regex "2 urls"
    # --http2 asks for an upgrade; a server that speaks HTTP/1.1 only is fine.
    run cf --http2 -s thread "$HTTPD_URL/ok/h2"
    assert_success
    assert_equal "$(col 3 <<<"$output")" 200
    run cf -X HEAD "$HTTPD_URL/method"
    assert_success
    assert_equal "$(col 3 <<<"$output"),$(col 4 <<<"$output")" "200,0"
    run cf --max-filesize 1k "$HTTPD_URL/bytes/100000" "$HTTPD_URL/bytes/100"
    assert_failure 1
    [[ $(rec "$HTTPD_URL/bytes/100000" 9) == *max-filesize* ]] || fail
    assert_equal "$(rec "$HTTPD_URL/bytes/100" 9)" ""
}

# ---- journal, signals, rate, compare ------------------------------------------------------------------

@test "--journal: kill -9 in the middle, then a rerun skips what succeeded and fetches the rest" {
    local j=$BATS_TEST_TMPDIR/j.db i
    for i in $(seq 1 30); do echo "$HTTPD_URL/delay/100/j$i"; done >"$BATS_TEST_TMPDIR/in"
    echo "$HTTPD_URL/status/500" >>"$BATS_TEST_TMPDIR/in"
    # Through a pipe: records are written one line at a time there.
    (timeout -k 5 "$CTK_TIMEOUT" cfetch -s thread -j 2 --fail --journal "$j" \
        -i "$BATS_TEST_TMPDIR/in" 2>/dev/null | cat >"$BATS_TEST_TMPDIR/first") &
    BG=$!
    local pid= p
    for ((i = 0; i < 500; i++)); do
        for p in $(descendants "$BG"); do exe_is cfetch "$p" && pid=$p; done
        [[ -n $pid ]] && break
        sleep 0.01
    done
    [[ -n $pid ]] || fail "cfetch did not start"
    for ((i = 0; i < 500; i++)); do
        (($(wc -l <"$BATS_TEST_TMPDIR/first") >= 6)) && break
        sleep 0.01
    done
    kill -KILL "$pid"
    bg_wait
    local done_first
    done_first=$(wc -l <"$BATS_TEST_TMPDIR/first")
    ((done_first >= 6 && done_first < 31)) || fail "$done_first records before kill -9"
    : >"$HTTPD_LOG.mark"
    local before
    before=$(wc -l <"$HTTPD_LOG")
    run cf -s async -j 8 --fail --journal "$j" -i "$BATS_TEST_TMPDIR/in"
    assert_failure 1
    assert_equal "${#lines[@]}" 31
    # Every URL the first run recorded as a success is skipped (attempts 0)
    # and not asked for again; the failed one is asked again.
    local skipped
    skipped=$(awk -F'\t' '$7 == 0' <<<"$output" | wc -l)
    local ok_first
    ok_first=$(awk -F'\t' '$9 == ""' "$BATS_TEST_TMPDIR/first" | wc -l)
    ((skipped >= ok_first - 1 && skipped <= ok_first)) || fail "skipped $skipped, first run had $ok_first"
    local refetched
    refetched=$(tail -n +"$((before + 1))" "$HTTPD_LOG" | grep -c '/delay/100/j' || true)
    assert_equal "$((refetched + skipped))" 30
    # A third run has nothing left but the failure.
    run cf --fail --journal "$j" -i "$BATS_TEST_TMPDIR/in"
    assert_failure 1
    assert_equal "$(awk -F'\t' '$7 == 0' <<<"$output" | wc -l)" 30
}

@test "SIGINT: records of finished URLs flushed, partial files removed, exit 130, on every strategy" {
    local s d=$BATS_TEST_TMPDIR/d
    {
        echo "$HTTPD_URL/ok/quick"
        for i in 1 2 3; do echo "$HTTPD_URL/trickle/1000/50?n=$i"; done
    } >"$BATS_TEST_TMPDIR/in"
    for s in $STRATEGIES; do
        rm -rf "$d"
        timeout -k 5 "$CTK_TIMEOUT" cfetch -s "$s" -j 4 -o "$d" -i "$BATS_TEST_TMPDIR/in" \
            >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
        BG=$!
        local pid
        pid=$(wait_tool cfetch "$BG") || fail "cfetch did not start"
        # sync fetches one URL at a time: one part file, not three. The
        # wait is bounded by the clock, not by a count of polls (each
        # poll forks, which a loaded machine slows), well inside the
        # trickles' 20 s.
        local want=3 until=$((SECONDS + 8))
        [[ $s == sync ]] && want=1
        while ((SECONDS < until)); do
            [[ -s $d/quick ]] && (($(find "$d" -name '.*cfetch-part' | wc -l) == want)) && break
            sleep 0.01
        done
        kill -INT "$pid"
        bg_wait
        assert_equal "$BG_STATUS" 130
        [[ $(col 2 <"$BATS_TEST_TMPDIR/out") == "$HTTPD_URL/ok/quick" ]] ||
            fail "$s: records other than quick's: $(cat "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/err")"
        assert_equal "$(ls -A "$d")" "quick"
        assert_equal "$(descendants "$pid")" ""
    done
}

@test "--rate spaces the starts evenly" {
    local i urls=()
    for i in $(seq 1 11); do urls+=("$HTTPD_URL/ok/rate$i"); done
    # A request the server logs before cfetch starts: cfetch's slots count
    # from its start, so the k-th request comes no sooner than k-1 slots of
    # 1/20 s after this one (less 20 ms for the server's clock reading).
    # Not measured from cfetch's own first request, which a loaded machine
    # can delay without delaying the slots after it.
    curl -s -o /dev/null "$HTTPD_URL/ok/before-rate" || fail "curl failed"
    run cf -j 8 --rate 20/s "${urls[@]}"
    assert_success
    grep -F -e '/ok/rate' -e '/ok/before-rate' "$HTTPD_LOG" | awk -F'\t' '
        NR == 1 { start = $1; next }
        $1 - start < (NR - 2) * 0.05 - 0.02 { print "request " NR - 1 " at " $1 - start; bad = 1 }
        END { exit bad || NR != 12 }'
}

@test "--compare prints one row per strategy and fetches the list under each" {
    local i urls=()
    for i in $(seq 1 8); do urls+=("$HTTPD_URL/delay/50/c$i"); done
    reset_stats
    run cf --compare -j 4 --format tsv --header-line "${urls[@]}"
    assert_success
    assert_equal "$(tsv_col strategy <<<"$output" | paste -sd,)" "sync,thread,process,async"
    assert_equal "$(tsv_col failed <<<"$output" | sort -u)" 0
    read -r req _ <<<"$(stats | tr -c '0-9\n' ' ')"
    assert_equal "$req" 32
}

@test "URLs and records cross a process boundary as bytes: the wirepair fixture strategy gives async's records" {
    local so u=$HTTPD_URL
    so=$(fixture_plugin wirepair)
    local in=("$u/ok/x" "$u/status/404" "$u/bytes/200000" "$u/redirect/2" "http://127.0.0.1:1/refused")
    mkdir -p "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/w"
    run --separate-stderr cf -s async -k -L -o "$BATS_TEST_TMPDIR/a" "${in[@]}"
    local want=$output
    run --separate-stderr cf --plugin "$so" -s wirepair -k -L -o "$BATS_TEST_TMPDIR/w" "${in[@]}"
    assert_equal "$status" 1
    # url, status, bytes and error agree; times (in curl's messages too) and paths may not.
    assert_equal "$(cut -f2,3,4,9 <<<"$output" | sed 's/after [0-9]* ms/after N ms/')" \
        "$(cut -f2,3,4,9 <<<"$want" | sed 's/after [0-9]* ms/after N ms/')"
    assert_equal "${#lines[@]}" 5
    run cmp "$BATS_TEST_TMPDIR/a/200000" "$BATS_TEST_TMPDIR/w/200000"
    assert_success
}

# ---- habits of curl and wget2 users (issue 15) ------------------------------------------------

@test "-H/--header sends request headers as curl -H does; --header-line is the TSV header line" {
    run cf --body -H 'Authorization: Bearer SECRET1' --header 'X-Two: 2' "$HTTPD_URL/headers"
    assert_success
    assert_line "Authorization: Bearer SECRET1"
    assert_line "X-Two: 2"
    # The same lines as curl sends for the same options.
    local ours theirs
    ours=$(grep -E '^(Authorization|X-Two):' <<<"$output")
    theirs=$(curl -sS -H 'Authorization: Bearer SECRET1' --header 'X-Two: 2' "$HTTPD_URL/headers" |
        tr -d '\r' | grep -E '^(Authorization|X-Two):')
    assert_equal "$ours" "$theirs"
    # --header takes its value: nothing is read as a URL.
    run --separate-stderr cf --header 'X-A: b' "$HTTPD_URL/ok/one"
    assert_success
    assert_equal "${#lines[@]}" 1
    assert_equal "$(col 2 <<<"$output")" "$HTTPD_URL/ok/one"
    run cf --header-line "$HTTPD_URL/ok/x"
    assert_success
    assert_equal "${lines[0]}" "$(printf 'seq\turl\tstatus\tbytes\telapsed\tttfb\tattempts\tpath\terror\teffective_url\tcontent_type')"
    # --help lists -H/--header as cfetch's, and no shared --header.
    run cf --help
    assert_equal "$(grep -cE -- '--header( |$)' <<<"$output")" 1
    assert_line --regexp '^  -H, --header LINE +send the header'
}

@test "no credential in records, messages or the journal: Authorization, Cookie, user:password@" {
    local j=$BATS_TEST_TMPDIR/j.db hp=${HTTPD_URL#http://} s
    local closed
    closed=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    for s in $STRATEGIES; do
        rm -f "$j"*
        run --separate-stderr cf -s "$s" -k --journal "$j" -H 'Authorization: Bearer SECRET1' \
            -H 'Cookie: k=SECRET2' "http://user:SECRET3@$hp/ok/a" \
            "http://user:SECRET3@127.0.0.1:$closed/refused" "http://SECRET4@$hp/ok/x" \
            'Cookie: SECRET5' "$HTTPD_URL/status/403"
        assert_failure 1
        assert_equal "${#lines[@]}" 5
        assert_equal "$(col 2 <<<"$output" | head -n 1)" "http://user:***@$hp/ok/a"
        assert_equal "$(col 2 <<<"$output" | sed -n 3p)" "http://***@$hp/ok/x"
        assert_equal "$(col 2 <<<"$output" | sed -n 4p)" "Cookie: ***"
        assert_equal "$(rec "http://user:***@$hp/ok/a" 3)" 200
        ! grep -aq SECRET <<<"$output$stderr" || fail "$s: a credential in the output: $output $stderr"
        ! grep -aqr SECRET "$BATS_TEST_TMPDIR" || fail "$s: a credential in the journal"
        # Messages (--body sends failures to stderr) say no more.
        run --separate-stderr cf -s "$s" --body "http://user:SECRET3@127.0.0.1:$closed/refused"
        assert_failure 1
        [[ $stderr == *"user:***@"* ]] || fail "$s: $stderr"
        ! grep -aq SECRET <<<"$output$stderr" || fail "$s: a credential in a message: $stderr"
    done
    # The server got them all the same.
    grep -q "Bearer SECRET1" <(cf --body -H 'Authorization: Bearer SECRET1' "$HTTPD_URL/headers")
    # An -H that is not a header is refused without echoing it.
    run --separate-stderr cf -H 'Authorization Bearer SECRET6' "$HTTPD_URL/ok/a"
    assert_equal "$status" 2
    ! grep -aq SECRET <<<"$output$stderr" || fail "echoed: $stderr"
}

@test "-o FILE with one URL writes that file as curl -o; -o DIR, -P and --directory-prefix save in a folder" {
    cd "$BATS_TEST_TMPDIR"
    run cf -o big.iso "$HTTPD_URL/bytes/50000"
    assert_success
    [[ -f big.iso ]] || fail "big.iso is not a file: $(ls -la)"
    curl -sS -o curl.iso "$HTTPD_URL/bytes/50000"
    cmp big.iso curl.iso
    assert_equal "$(col 8 <<<"$output")" big.iso
    # An existing directory, a trailing slash, several URLs: the folder form.
    mkdir d
    run cf -o d "$HTTPD_URL/ok/one"
    assert_success
    assert_equal "$(cat d/one)" one
    run cf -o e/ "$HTTPD_URL/ok/one"
    assert_success
    assert_equal "$(cat e/one)" one
    run cf -o f "$HTTPD_URL/ok/one" "$HTTPD_URL/ok/two"
    assert_success
    assert_equal "$(cat f/one f/two | paste -sd' ')" "one two"
    run cf -P g "$HTTPD_URL/ok/one"
    assert_success
    assert_equal "$(cat g/one)" one
    run cf --directory-prefix h "$HTTPD_URL/ok/one"
    assert_success
    assert_equal "$(cat h/one)" one
    # A rerun replaces the file whole, as curl -o does.
    run cf -o big.iso "$HTTPD_URL/bytes/10"
    assert_success
    assert_equal "$(stat -c %s big.iso)" 10
    run --separate-stderr cf -o x -P y "$HTTPD_URL/ok/one"
    assert_equal "$status" 2
}

@test "redirects are followed by default, as wget2 does; --max-redirs bounds them; --no-location" {
    local s
    cd "$BATS_TEST_TMPDIR"
    wget2 -q -O wget.out "$HTTPD_URL/redirect/3" || fail "wget2 did not follow"
    for s in $STRATEGIES; do
        run cf -s "$s" -o ours.out "$HTTPD_URL/redirect/3"
        assert_success
        assert_equal "$(col 3 <<<"$output")" 200
        cmp wget.out ours.out
        run cf -s "$s" --max-redirs 2 "$HTTPD_URL/redirect/3"
        assert_failure 1
        [[ $(col 9 <<<"$output") == *edirect* ]] || fail "$s: $(col 9 <<<"$output")"
        run cf -s "$s" --no-location "$HTTPD_URL/redirect/3"
        assert_success
        assert_equal "$(col 3 <<<"$output")" 302
        # -L is accepted for curl habits: no change.
        run cf -s "$s" -L "$HTTPD_URL/redirect/1"
        assert_success
        assert_equal "$(col 3 <<<"$output")" 200
    done
}

@test "a 4xx/5xx body is not kept as the file and the run exits 1, as wget2; --content-on-error, --no-fail" {
    local s
    cd "$BATS_TEST_TMPDIR"
    run wget2 -q -P w "$HTTPD_URL/status/404"
    assert_failure
    [[ ! -e w/404 ]] || fail "wget2 kept the 404 body"
    for s in $STRATEGIES; do
        rm -rf d page.html
        run cf -s "$s" -o page.html "$HTTPD_URL/status/404"
        assert_failure 1
        [[ ! -e page.html ]] || fail "$s: the 404 body was kept as page.html"
        assert_equal "$(col 3 <<<"$output"),$(col 8 <<<"$output"),$(col 9 <<<"$output")" "404,,HTTP 404"
        run cf -s "$s" -k -P d "$HTTPD_URL/ok/a" "$HTTPD_URL/status/500"
        assert_failure 1
        assert_equal "$(ls d)" a
        run cf -s "$s" --content-on-error -o page.html "$HTTPD_URL/status/404"
        assert_failure 1
        assert_equal "$(cat page.html)" 404
        assert_equal "$(col 8 <<<"$output"),$(col 9 <<<"$output")" "page.html,HTTP 404"
        rm page.html
        run cf -s "$s" --no-fail -o page.html "$HTTPD_URL/status/404"
        assert_success
        assert_equal "$(cat page.html)" 404
        assert_equal "$(col 3 <<<"$output"),$(col 9 <<<"$output")" "404,"
    done
}

@test "--compare with a bad URL prints every row and exits 1" {
    run cf --compare -j 2 --format tsv --header-line "$HTTPD_URL/ok/a" "$HTTPD_URL/status/404" \
        "http://127.0.0.1:1/refused"
    assert_failure 1
    assert_equal "$(tsv_col strategy <<<"$output" | paste -sd,)" "sync,thread,process,async"
    assert_equal "$(tsv_col failed <<<"$output" | sort -u)" 2
}

# ---- the journal (issue 13: items 2, 12, 18, 21, 24) -----------------------------------------

@test "--journal is created 0600, and so are its log files" {
    local j=$BATS_TEST_TMPDIR/j.db f
    (umask 022 && cf --journal "$j" "$HTTPD_URL/ok/a" >/dev/null)
    for f in "$j" "$j"-*; do
        [[ -e $f ]] || continue
        assert_equal "$(stat -c %a "$f")" 600
    done
}

@test "20 cfetch --journal at once on a new journal: none says 'database is locked'" {
    local round i j=$BATS_TEST_TMPDIR/c.db
    for round in 1 2 3; do
        rm -f "$j"*
        for i in $(seq 1 20); do
            cf --journal "$j" "$HTTPD_URL/ok/c$round-$i" >"$BATS_TEST_TMPDIR/out.$i" \
                2>"$BATS_TEST_TMPDIR/err.$i" &
        done
        wait
        ! grep -h . "$BATS_TEST_TMPDIR"/err.* || fail "round $round: messages above"
        assert_equal "$(cat "$BATS_TEST_TMPDIR"/out.* | wc -l)" 20
        assert_equal "$(sqlite3 "$j" 'SELECT count(*) FROM fetched WHERE ok = 1')" 20
    done
}

@test "--journal on another program's SQLite file or a non-database refuses it and leaves it byte-identical" {
    command -v sqlite3 >/dev/null || skip "no sqlite3"
    cd "$BATS_TEST_TMPDIR"
    sqlite3 app.db 'CREATE TABLE t(a); INSERT INTO t VALUES (1);'
    # A table named like the journal's does not make it one.
    sqlite3 other.db 'CREATE TABLE fetched(x); PRAGMA application_id = 42;'
    echo 'not sqlite' >junk.db
    local f sum
    for f in app.db other.db junk.db; do
        sum=$(sha256sum "$f")
        run --separate-stderr cf --journal "$f" "$HTTPD_URL/ok/a"
        assert_equal "$status" 2
        assert_equal "$output" ""
        [[ $stderr == *"cannot open journal $f"* ]] || fail "$f: $stderr"
        assert_equal "$(sha256sum "$f")" "$sum"
        [[ ! -e $f-wal && ! -e $f-shm && ! -e $f-journal ]] || fail "$f: $(ls)"
    done
    # A journal of the first version (one table, no application_id) is
    # cfetch's: it is taken on, its rows skipped.
    sqlite3 old.db "CREATE TABLE fetched (url TEXT PRIMARY KEY, ok INTEGER NOT NULL,
        status INTEGER, bytes INTEGER, path TEXT, error TEXT, finished REAL NOT NULL);
        INSERT INTO fetched VALUES ('$HTTPD_URL/ok/old', 1, 200, 3, '', '', 0);"
    run cf --journal old.db "$HTTPD_URL/ok/old" "$HTTPD_URL/ok/new"
    assert_success
    assert_equal "$(rec "$HTTPD_URL/ok/old" 7),$(rec "$HTTPD_URL/ok/new" 7)" "0,1"
}

@test "--journal: the body and its folder are fsynced before the journal commits" {
    command -v strace >/dev/null || skip "no strace"
    local s
    for s in sync thread; do
        rm -rf "$BATS_TEST_TMPDIR"/{d,j.db*}
        # LeakSanitizer cannot run under ptrace: no leak check in a sanitized build here.
        ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
            strace -f -y -qq -e trace=fsync,fdatasync,rename,renameat,renameat2 -o "$BATS_TEST_TMPDIR/trace" \
            cfetch -s "$s" --journal "$BATS_TEST_TMPDIR/j.db" -P "$BATS_TEST_TMPDIR/d" \
            "$HTTPD_URL/ok/body" >/dev/null
        awk -v d="$BATS_TEST_TMPDIR/d" '
            /fsync\(.*\.body\.cfetch-part>\)/ { body = NR }
            /rename.*cfetch-part/ { ren = NR }
            index($0, "fsync(") && index($0, "<" d ">)") { dir = NR }
            /j\.db-wal>\)/ { wal = NR }
            END { if (!(body && body < ren && ren < dir && dir < wal)) {
                print "body " body " rename " ren " folder " dir " last wal sync " wal; exit 1 } }
        ' "$BATS_TEST_TMPDIR/trace" || fail "$s: $(cat "$BATS_TEST_TMPDIR/trace")"
    done
}

@test "--journal: a URL inserted before one that is done never overwrites its file; a changed file is fetched again" {
    local j=$BATS_TEST_TMPDIR/j.db d=$BATS_TEST_TMPDIR/out
    cd "$BATS_TEST_TMPDIR"
    run cf --journal "$j" -P "$d" "$HTTPD_URL/ok/a/data"
    assert_success
    assert_equal "$(cat "$d/data")" a/data
    # URL_B maps to the same name and now comes first.
    run cf -k --journal "$j" -P "$d" "$HTTPD_URL/ok/b/data" "$HTTPD_URL/ok/a/data"
    assert_success
    assert_equal "$(cat "$d/data")" a/data
    assert_equal "$(rec "$HTTPD_URL/ok/a/data" 7),$(rec "$HTTPD_URL/ok/a/data" 8)" "0,$d/data"
    local b
    b=$(rec "$HTTPD_URL/ok/b/data" 8)
    [[ $b != "$d/data" && -n $b ]] || fail "B's path: $b"
    assert_equal "$(cat "$b")" b/data
    # The same with -O 'out/{seq}' and a URL inserted before.
    run cf --journal "$j" -O 'seq/{seq}' "$HTTPD_URL/ok/first"
    assert_success
    run cf -k --journal "$j" -O 'seq/{seq}' "$HTTPD_URL/ok/inserted" "$HTTPD_URL/ok/first"
    assert_success
    assert_equal "$(cat seq/1)" first
    assert_equal "$(rec "$HTTPD_URL/ok/first" 7)" 0
    assert_equal "$(cat "$(rec "$HTTPD_URL/ok/inserted" 8)")" inserted
    # A file changed behind the journal's back is not A's any more: fetched again.
    echo tampered >"$d/data"
    run cf --journal "$j" -P "$d" "$HTTPD_URL/ok/a/data"
    assert_success
    assert_equal "$(rec "$HTTPD_URL/ok/a/data" 7)" 1
    assert_equal "$(cat "$(rec "$HTTPD_URL/ok/a/data" 8)")" a/data
    rm "$(rec "$HTTPD_URL/ok/a/data" 8)"
    run cf --journal "$j" -P "$d" "$HTTPD_URL/ok/a/data"
    assert_equal "$(rec "$HTTPD_URL/ok/a/data" 7)" 1
}

@test "-O 'crawl/{host}/{name}' never follows a link planted where the host goes (issue 13 item 10)" {
    local s
    cd "$BATS_TEST_TMPDIR"
    mkdir crawl elsewhere
    ln -s ../elsewhere crawl/127.0.0.1
    for s in $STRATEGIES; do
        run cf -s "$s" -O 'crawl/{host}/{name}' "$HTTPD_URL/ok/evil"
        assert_failure 1
        [[ $(col 9 <<<"$output") == *"not followed"* ]] || fail "$s: $(col 9 <<<"$output")"
        assert_equal "$(ls -A elsewhere)" ""
    done
    # A link deeper down, and a file where a folder goes, the same.
    rm crawl/127.0.0.1
    mkdir -p crawl/127.0.0.1
    ln -s ../../elsewhere crawl/127.0.0.1/sub
    run cf -O 'crawl/{host}/sub/{name}' "$HTTPD_URL/ok/evil"
    assert_failure 1
    assert_equal "$(ls -A elsewhere)" ""
    # Without links the folders are made; a link the user named is followed.
    rm crawl/127.0.0.1/sub
    run cf -O 'crawl/{host}/sub/{name}' "$HTTPD_URL/ok/good"
    assert_success
    assert_equal "$(cat crawl/127.0.0.1/sub/good)" good
    mkdir real
    ln -s real mine
    run cf -P mine "$HTTPD_URL/ok/a"
    assert_success
    run cf -O 'mine/{host}/{name}' "$HTTPD_URL/ok/b"
    assert_success
    assert_equal "$(cat real/a real/127.0.0.1/b | paste -sd' ')" "a b"
}

@test "ulimit -n 20, -j16, 40 URLs: one record per URL on every strategy, -j lowered with a warning (issue 13 item 17)" {
    local s n urls=() i
    for i in $(seq 1 40); do urls+=("$HTTPD_URL/ok/fd$i"); done
    for s in $STRATEGIES; do
        for n in 20; do
            run --separate-stderr bash -c 'ulimit -n "$1"; shift; exec "$@"' _ "$n" \
                timeout -k 5 "$CTK_TIMEOUT" cfetch -s "$s" -j16 "${urls[@]}"
            [[ ${#lines[@]} == 40 ]] || fail "$s, ulimit -n $n: ${#lines[@]} records; $stderr"
            assert_equal "$(col 1 <<<"$output" | sort -n | paste -sd,)" "$(seq -s, 1 40)"
            [[ $stderr != *"input/output error"* ]] || fail "$s $n: $stderr"
            # Every failure says why: the descriptors ran out.
            local bad
            bad=$(awk -F'\t' '$9 != "" && $9 !~ /open files/' <<<"$output")
            assert_equal "$bad" ""
            assert_success
            [[ $s == sync || $stderr == *"file descriptors"* ]] || fail "$s: no warning: $stderr"
        done
    done
}

# ---- what curl and wget users type (issue 15) ---------------------------------------

@test "-d, --data-binary @FILE and -X: the body and the method as curl sends them" {
    local u="$HTTPD_URL/echo"
    printf 'line1\nline2\n' >"$BATS_TEST_TMPDIR/d"
    for args in "-d a=1 -d b=2" "--data-binary @$BATS_TEST_TMPDIR/d" "-d @$BATS_TEST_TMPDIR/d" \
        "-X PUT -d x=y" "-X DELETE"; do
        # shellcheck disable=SC2086
        want=$(curl -s $args "$u")
        # shellcheck disable=SC2086
        run cf --body $args "$u"
        assert_success
        assert_output "$want"
    done
}

@test "-d @missing: a usage error naming the file; -X with a space is refused" {
    run cf -d @"$BATS_TEST_TMPDIR/nope" "$HTTPD_URL/echo"
    assert_failure 2
    assert_output --partial "nope"
    run cf -X 'GET X' "$HTTPD_URL/ok/a"
    assert_failure 2
    assert_output --partial "not a method"
}

@test "-u user:pass: sent as Basic auth, never in a record or message" {
    run cf --body -u bob:s3cret "$HTTPD_URL/headers"
    assert_success
    assert_output --partial "Authorization: Basic $(printf bob:s3cret | base64)"
    run cf --format json -u bob:s3cret "$HTTPD_URL/redirect/1" "$HTTPD_URL/status/404"
    assert_failure 1
    refute_output --partial s3cret
    refute_output --partial bob
}

@test "--insecure is accepted; -k keeps its ctk meaning (--keep-order) and --help names the clash" {
    run cf --insecure -k "$HTTPD_URL/delay/200" "$HTTPD_URL/ok/b"
    assert_success
    assert_equal "$(col 2 <<<"$output")" "$(printf '%s\n' "$HTTPD_URL/delay/200" "$HTTPD_URL/ok/b")"
    run cf --help
    assert_output --partial "curl's -k: -k is --keep-order here"
    assert_output --partial "curl's -c: -c is --continue here"
}

@test "--compressed asks for an encoding, as curl --compressed does" {
    run cf --body --compressed "$HTTPD_URL/headers"
    assert_success
    assert_output --partial "Accept-Encoding:"
    run cf --body "$HTTPD_URL/headers"
    refute_output --partial "Accept-Encoding:"
}

@test "-c and -C -: a partial file is completed with a Range request, as curl -C - and wget2 -c" {
    for opt in -c "-C -" --continue; do
        pattern 1000 | head -c 300 >"$BATS_TEST_TMPDIR/f"
        # shellcheck disable=SC2086
        run cf $opt -o "$BATS_TEST_TMPDIR/f" "$HTTPD_URL/bytes/1000"
        assert_success
        assert_equal "$(col 3 <<<"$output")" 206
        assert_equal "$(col 4 <<<"$output")" 700
        cmp "$BATS_TEST_TMPDIR/f" <(pattern 1000)
    done
    # The oracle agrees on the result.
    pattern 1000 | head -c 300 >"$BATS_TEST_TMPDIR/g"
    curl -s -C - -o "$BATS_TEST_TMPDIR/g" "$HTTPD_URL/bytes/1000"
    cmp "$BATS_TEST_TMPDIR/f" "$BATS_TEST_TMPDIR/g"
}

@test "-c on a complete file: 416 is success, the file untouched (curl -C - exits 0 too)" {
    pattern 500 >"$BATS_TEST_TMPDIR/f"
    curl -s -C - -o "$BATS_TEST_TMPDIR/f" "$HTTPD_URL/bytes/500"
    run cf -c -o "$BATS_TEST_TMPDIR/f" "$HTTPD_URL/bytes/500"
    assert_success
    assert_equal "$(col 3 <<<"$output")" 416
    cmp "$BATS_TEST_TMPDIR/f" <(pattern 500)
}

@test "-c where the server ignores Range: the file starts over, whole" {
    echo "old junk" >"$BATS_TEST_TMPDIR/f"
    run cf -c -o "$BATS_TEST_TMPDIR/f" "$HTTPD_URL/ok/fresh"
    assert_success
    assert_equal "$(cat "$BATS_TEST_TMPDIR/f")" fresh
}

@test "-c, -nc without an output file, and together: usage errors" {
    run cf -c "$HTTPD_URL/ok/a"
    assert_failure 2
    run cf -nc "$HTTPD_URL/ok/a"
    assert_failure 2
    run cf -c -nc -o "$BATS_TEST_TMPDIR/x" "$HTTPD_URL/ok/a"
    assert_failure 2
    run cf -C 10 -o "$BATS_TEST_TMPDIR/x" "$HTTPD_URL/ok/a"
    assert_failure 2
}

@test "-nc / --no-clobber: an existing file is kept and not fetched, as wget -nc" {
    echo keep >"$BATS_TEST_TMPDIR/a"
    for opt in -nc --no-clobber; do
        : >"$HTTPD_LOG.mark"
        before=$(wc -l <"$HTTPD_LOG")
        run cf "$opt" -P "$BATS_TEST_TMPDIR" "$HTTPD_URL/ok/a" "$HTTPD_URL/ok/b"
        assert_success
        assert_equal "$(cat "$BATS_TEST_TMPDIR/a")" keep
        assert_equal "$(cat "$BATS_TEST_TMPDIR/b")" b
        after=$(wc -l <"$HTTPD_LOG")
        # Only /ok/b went to the server (the first round; then b exists too).
        [[ $opt == -nc ]] && assert_equal $((after - before)) 1
        [[ $opt == --no-clobber ]] && assert_equal $((after - before)) 0
        rm -f "$BATS_TEST_TMPDIR/b.keep"
    done
}

@test "--limit-rate slows a transfer down" {
    run cf --limit-rate 1M "$HTTPD_URL/bytes/3000000"
    assert_success
    # 3 MB at 1 MB/s: libcurl's limiter lets a first burst through, then
    # holds the rest to the rate, well over a second in all.
    awk -F'\t' '{ exit !($5 > 1.0) }' <<<"$output"
    run cf --limit-rate nonsense "$HTTPD_URL/bytes/10"
    assert_failure 2
}

@test "-x/--proxy goes through the proxy; --noproxy bypasses it" {
    # The test server is no proxy: a request through it asks for the full URL.
    want=$(curl -s -o /dev/null -w '%{http_code}' -x "$HTTPD_URL" "http://example.invalid/ok/x")
    run cf -x "$HTTPD_URL" "http://example.invalid/ok/x"
    assert_equal "$(col 3 <<<"$output")" "$want"
    run cf --body -x "http://127.0.0.1:9" --noproxy 127.0.0.1 "$HTTPD_URL/ok/direct"
    assert_success
    assert_output direct
    run cf -x "http://127.0.0.1:9" "$HTTPD_URL/ok/direct"
    assert_failure 1
}

@test "-b and --cookie-jar: cookies sent and saved as curl does" {
    run cf --body -b 'n1=v1; n2=v2' "$HTTPD_URL/headers"
    assert_output --partial "Cookie: n1=v1; n2=v2"
    run cf -j1 -k --cookie-jar "$BATS_TEST_TMPDIR/jar" "$HTTPD_URL/set-cookie/sess/abc"
    assert_success
    curl -s -c "$BATS_TEST_TMPDIR/curljar" "$HTTPD_URL/set-cookie/sess/abc" >/dev/null
    assert_equal "$(grep -v '^#' "$BATS_TEST_TMPDIR/jar" | grep .)" \
        "$(grep -v '^#' "$BATS_TEST_TMPDIR/curljar" | grep .)"
    run cf --body -b "$BATS_TEST_TMPDIR/jar" "$HTTPD_URL/headers"
    assert_output --partial "Cookie: sess=abc"
}

@test "records end with effective_url and content_type; the first nine columns as before" {
    run cf --header-line "$HTTPD_URL/redirect/2" "$HTTPD_URL/bytes/5"
    assert_success
    assert_line --index 0 "$(printf 'seq\turl\tstatus\tbytes\telapsed\tttfb\tattempts\tpath\terror\teffective_url\tcontent_type')"
    assert_equal "$(rec "$HTTPD_URL/redirect/2" 10)" "$HTTPD_URL/redirect/0"
    assert_equal "$(rec "$HTTPD_URL/redirect/2" 11)" "$(curl -sL -o /dev/null -w '%{content_type}' "$HTTPD_URL/redirect/2")"
    assert_equal "$(rec "$HTTPD_URL/bytes/5" 11)" application/octet-stream
    for s in $STRATEGIES; do
        run cf -s "$s" --format json "$HTTPD_URL/redirect/1"
        assert_output --partial "\"effective_url\":\"$HTTPD_URL/redirect/0\""
    done
}
