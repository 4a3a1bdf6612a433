#!/usr/bin/env bats
# httpd.bats: the test HTTP server (tests/fixtures/httpd) checked with the
# curl command-line tool, path by path, so that a cfetch test failing
# against it points at cfetch, not at the fixture.

load helpers
load httpd

setup_file() {
    command -v curl >/dev/null || skip "curl is not installed"
    httpd_start
    export OUTER_GUARD=$HTTPD_GUARD
}

teardown_file() {
    httpd_stop
}

# A server a test started itself (the httpd_stop test) is stopped even when
# the test failed half-way.
teardown() {
    if [[ -n ${HTTPD_GUARD:-} && $HTTPD_GUARD != "$OUTER_GUARD" ]]; then
        httpd_stop || true
    fi
    ctk_cleanup
}

# get PATH [CURL ARGS...]: curl under the guard; body on stdout.
get() {
    local path=$1
    shift
    timeout -k 5 "$CTK_TIMEOUT" curl -sS "$HTTPD_URL$path" "$@"
}

# stats: the /stats line.
stats() {
    get /stats
}

# raw REQUEST: sends REQUEST (printf format) on one connection, prints all
# the server answers until it closes or 2 s pass with nothing.
raw() {
    python3 - "$HTTPD_PORT" "$1" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
s.settimeout(2)
out = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            out += b"<EOF>"
            break
        out += b
except socket.timeout:
    pass
sys.stdout.write(out.decode("latin-1").replace("\r", ""))
EOF
}

# pattern N: the first N bytes of the /bytes body, into a file; prints its name.
pattern() {
    local f=$BATS_TEST_TMPDIR/pattern.$1
    python3 -c '
import sys
n = int(sys.argv[1])
block = b"0123456789abcdef" * 4096
with open(sys.argv[2], "wb") as f:
    while n > 0:
        f.write(block[:min(n, len(block))])
        n -= len(block)' "$1" "$f"
    echo "$f"
}

@test "/ok, /status and unknown paths: status, type and exact body" {
    run get '/ok/some/thing?q=1' -i
    assert_success
    assert_line --index 0 $'HTTP/1.1 200 OK\r'
    assert_line $'Content-Type: text/plain\r'
    assert_line $'Content-Length: 11\r'
    assert_line $'Connection: keep-alive\r'
    assert_line --index 5 'some/thing'
    for code in 201 404 429 503; do
        run get "/status/$code" -w ' %{http_code}'
        assert_output "$code"$'\n'" $code"
    done
    run get /status/204 -w '%{http_code} %{size_download}'
    assert_output '204 0'
    run get /nope -w ' %{http_code}'
    assert_output $'not found\n 404'
}

@test "/bytes/N: exactly N bytes of the pattern, streamed" {
    local n
    for n in 0 1 17 65536 1000003; do
        get "/bytes/$n" -o "$BATS_TEST_TMPDIR/got.$n"
        cmp "$BATS_TEST_TMPDIR/got.$n" "$(pattern "$n")"
    done
    run get /bytes/10 -I
    assert_line $'Content-Length: 10\r'
}

@test "/bytes of 1 GB to a slow reader: the server's memory stays small" {
    timeout -k 5 "$CTK_TIMEOUT" curl -sS --limit-rate 20M "$HTTPD_URL/bytes/1000000000" \
        -o /dev/null 3>&- &
    local reader=$! i
    # Until well past the socket buffers (a few MB).
    for ((i = 0; i < 50; i++)); do
        sleep 0.02
    done
    local hwm
    hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$HTTPD_PID/status")
    kill "$reader"
    wait "$reader" || true
    ((hwm < 60000 * CTK_SLOW)) || fail "httpd VmHWM ${hwm} kB"
}

# libuv's timers count from the loop's cached clock, in whole milliseconds,
# so a delay can end up to a few ms before curl's own clock says it should.
@test "/delay/MS waits MS ms before the headers; /trickle sends a byte every MS ms" {
    run get /delay/300 -w ' %{time_starttransfer}'
    assert_success
    assert_line --index 0 ok
    awk -v t="${lines[1]}" 'BEGIN { exit !(t >= 0.295) }' || fail "first byte after ${lines[1]} s"
    run get /delay/200/any/thing -w ' %{time_starttransfer}'
    assert_line --index 0 ok
    awk -v t="${lines[1]}" 'BEGIN { exit !(t >= 0.195) }' || fail "first byte after ${lines[1]} s"
    run get /trickle/4/100 -w ' %{time_total}'
    assert_success
    assert_output --regexp '^0123 '
    awk -v t="${output#* }" 'BEGIN { exit !(t >= 0.39) }' || fail "took ${output#* } s"
}

@test "/close/N and /wrong-length/N cut the body; /drop sends nothing" {
    run --separate-stderr get /close/10 -D "$BATS_TEST_TMPDIR/h"
    assert_failure 18 # partial file
    assert_output 0123456789
    grep -qx $'Content-Length: 20\r' "$BATS_TEST_TMPDIR/h"
    grep -qx $'Connection: close\r' "$BATS_TEST_TMPDIR/h"
    run --separate-stderr get /wrong-length/5 -D "$BATS_TEST_TMPDIR/h"
    assert_failure 18
    assert_output 01234
    grep -qx $'Content-Length: 105\r' "$BATS_TEST_TMPDIR/h"
    run get /drop
    assert_failure 52 # empty reply
}

@test "/flaky counts per path; /retry-after fails once" {
    local i
    for i in 1 2; do
        run get /flaky/t1/2/503 -i
        assert_line --index 0 $'HTTP/1.1 503 Service Unavailable\r'
        assert_line $'Retry-After: 1\r'
    done
    run get /flaky/t1/2/503 -w ' %{http_code}'
    assert_output $'ok\n 200'
    # Another key, another code (no Retry-After), its own counter.
    run get /flaky/t2/1/500 -i
    assert_line --index 0 $'HTTP/1.1 500 Internal Server Error\r'
    refute_line --partial Retry-After
    run get /flaky/t2/1/500 -w ' %{http_code}'
    assert_output $'ok\n 200'
    run get /retry-after/t3/7 -i
    assert_line --index 0 $'HTTP/1.1 503 Service Unavailable\r'
    assert_line $'Retry-After: 7\r'
    run get /retry-after/t3/7 -w ' %{http_code}'
    assert_output $'ok\n 200'
}

@test "/redirect/N and /redirect-loop" {
    run get /redirect/2 -i
    assert_line --index 0 $'HTTP/1.1 302 Found\r'
    assert_line $'Location: /redirect/1\r'
    run get /redirect/3 -L -w ' %{http_code} %{num_redirects}'
    assert_output $'ok\n 200 3'
    run get /redirect-loop -L --max-redirs 5
    assert_failure 47 # too many redirects
}

@test "/headers echoes the request's headers; /method its method; POST bodies are skipped" {
    run get /headers -H 'X-Test: a b' -A 'agent/1'
    assert_success
    assert_line 'X-Test: a b'
    assert_line 'User-Agent: agent/1'
    assert_line "Host: 127.0.0.1:$HTTPD_PORT"
    run get /method
    assert_output GET
    run get /method -X DELETE
    assert_output DELETE
    run get /method -I
    assert_line $'Content-Length: 5\r'
    # A body (with curl's Expect: 100-continue for a big one, and chunked),
    # then another request on the same connection.
    head -c 2000000 /dev/zero >"$BATS_TEST_TMPDIR/big"
    run get /method --data-binary "@$BATS_TEST_TMPDIR/big" "$HTTPD_URL/ok/after"
    assert_output $'POST\nafter'
    run get /method -H 'Transfer-Encoding: chunked' --data-binary "@$BATS_TEST_TMPDIR/big" \
        "$HTTPD_URL/ok/after"
    assert_output $'POST\nafter'
}

@test "pipelined requests are answered in order; malformed ones get 400 and a close" {
    run raw 'GET /ok/one HTTP/1.1\r\nHost: x\r\n\r\nGET /ok/two HTTP/1.1\r\n\r\nGET /ok/three HTTP/1.1\r\nConnection: close\r\n\r\n'
    assert_output --regexp $'\none\n.*\ntwo\n.*Connection: close\n\nthree\n<EOF>$'
    run raw 'POST /method HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /ok/next HTTP/1.0\r\n\r\n'
    assert_output --regexp $'\nPOST\n.*\nnext\n<EOF>$'
    run raw 'this is not http\r\n\r\n'
    assert_line --index 0 'HTTP/1.1 400 Bad Request'
    assert_line 'Connection: close'
    assert_output --regexp '<EOF>$'
    run raw 'GET /ok/x HTTP/1.1\r\nno colon here\r\n\r\n'
    assert_line --index 0 'HTTP/1.1 400 Bad Request'
}

@test "3,000 pipelined requests (more than the read buffer) on one connection: all answered" {
    get /reset-stats >/dev/null
    run python3 - "$HTTPD_PORT" <<'EOF'
import socket, sys
n = 3000
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"".join(b"GET /bytes/100?%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(n)))
s.settimeout(10)
got = b""
# Each response ends with its 100-byte body, the last one too.
while got.count(b"HTTP/1.1 200 OK\r\n") < n or not got.endswith(b"0123456789abcdef0123"):
    b = s.recv(1 << 20)
    if not b:
        break
    got += b
print(got.count(b"HTTP/1.1 200 OK\r\n"), len(got))
EOF
    assert_success
    assert_output --regexp '^3000 '
    run stats
    assert_output 'requests=3000 connections=1 inflight_max=1'
}

@test "/stats counts requests and keep-alive connections; /reset-stats zeroes them" {
    run get /reset-stats
    assert_output ok
    get /ok/a "$HTTPD_URL/ok/b" "$HTTPD_URL/ok/c" >/dev/null
    run stats
    assert_output 'requests=3 connections=1 inflight_max=1'
    get /ok/a -H 'Connection: close' "$HTTPD_URL/ok/b" >/dev/null
    run stats
    assert_output 'requests=5 connections=3 inflight_max=1'
    # A connection that only asks for /stats is not counted.
    run stats
    assert_output 'requests=5 connections=3 inflight_max=1'
}

@test "inflight_max: concurrent requests in flight at once" {
    get /reset-stats >/dev/null
    local urls=() i
    for ((i = 0; i < 20; i++)); do
        urls+=("$HTTPD_URL/delay/600/$i")
    done
    run --separate-stderr timeout -k 5 "$CTK_TIMEOUT" curl -sS --parallel --parallel-immediate \
        --parallel-max 20 "${urls[@]}"
    assert_success
    assert_equal "$(grep -c '^ok$' <<<"$output")" 20
    run stats
    assert_output 'requests=20 connections=20 inflight_max=20'
}

@test "the log has one line per request: time, method, target, connection" {
    get /ok/logged?x=1 -X PUT >/dev/null
    run tail -n 1 "$HTTPD_LOG"
    assert_output --regexp $'^[0-9]+\\.[0-9]{6}\tPUT\t/ok/logged\\?x=1\t[0-9]+$'
}

@test "httpd_stop ends the server (SIGTERM, status 0) and leaves nothing running" {
    local outer=("$HTTPD_PORT" "$HTTPD_URL" "$HTTPD_PID" "$HTTPD_LOG" "$HTTPD_DIR" "$HTTPD_GUARD")
    httpd_start
    local pid=$HTTPD_PID guard=$HTTPD_GUARD url=$HTTPD_URL
    [[ $pid != "${outer[2]}" ]]
    # shellcheck disable=SC2153 # set by httpd.bash
    exe_is "${HTTPD_BIN##*/}" "$pid" || fail "HTTPD_PID $pid is not the server"
    # A connection open and a response in progress when it stops.
    timeout -k 5 "$CTK_TIMEOUT" curl -s "$url/delay/5000" >/dev/null 3>&- &
    local client=$!
    wait_pgrep "$url/delay/5000" 1
    httpd_stop
    assert_gone "$pid" "$guard"
    run curl -sS "$url/ok/x"
    assert_failure 7 # refused
    wait "$client" || true
    # SIGINT ends it too.
    httpd_start
    pid=$HTTPD_PID
    kill -INT "$pid"
    httpd_stop
    assert_gone "$pid"
    HTTPD_PORT=${outer[0]} HTTPD_URL=${outer[1]} HTTPD_PID=${outer[2]}
    HTTPD_LOG=${outer[3]} HTTPD_DIR=${outer[4]} HTTPD_GUARD=${outer[5]}
}
