# httpd.bash: starts and stops the test HTTP server (tests/fixtures/httpd)
# from bats files, after `load helpers`:
#
#   setup_file()    { httpd_start; }      # or setup(), per test
#   teardown_file() { httpd_stop; }
#
# httpd_start exports HTTPD_PORT, HTTPD_URL (http://127.0.0.1:PORT),
# HTTPD_PID (the server itself, for signals) and HTTPD_LOG (one line per
# request, /stats included: monotonic seconds, method, target, connection
# id). The server runs under `timeout`, so even a bats run that is killed
# leaves nothing behind for long; httpd_stop ends it and fails when it did
# not exit cleanly (a sanitizer report, a crash). HTTPD_BIN overrides the
# binary (default: $CTK_BUILDDIR/tests/fixtures/httpd).

: "${HTTPD_BIN:=$CTK_BUILDDIR/tests/fixtures/httpd}"

httpd_start() {
    [[ -x $HTTPD_BIN ]] || fail "httpd_start: $HTTPD_BIN is not built (make check builds it)"
    local base=${BATS_TEST_TMPDIR:-${BATS_FILE_TMPDIR:-${BATS_RUN_TMPDIR:-${TMPDIR:-/tmp}}}}
    HTTPD_DIR=$(mktemp -d "$base/httpd.XXXXXX")
    HTTPD_LOG=$HTTPD_DIR/log
    # fd 3 is bats' own: a background process holding it would make bats
    # wait for it.
    timeout -k 5 $((3600 * ${CTK_SLOW:-1})) "$HTTPD_BIN" --port 0 \
        --port-file "$HTTPD_DIR/port" --log "$HTTPD_LOG" \
        </dev/null >"$HTTPD_DIR/out" 2>"$HTTPD_DIR/err" 3>&- &
    HTTPD_GUARD=$!
    local i limit=$((500 * ${CTK_SLOW:-1}))
    for ((i = 0; i < limit; i++)); do
        [[ -s $HTTPD_DIR/port ]] && break
        if ! kill -0 "$HTTPD_GUARD" 2>/dev/null; then
            wait "$HTTPD_GUARD" 2>/dev/null
            fail "httpd_start: the server exited: $(cat "$HTTPD_DIR/err")"
            return 1
        fi
        sleep 0.02
    done
    [[ -s $HTTPD_DIR/port ]] || {
        httpd_stop
        fail "httpd_start: no port file after $((limit / 50)) s"
        return 1
    }
    HTTPD_PORT=$(<"$HTTPD_DIR/port")
    HTTPD_URL=http://127.0.0.1:$HTTPD_PORT
    HTTPD_PID=$(pgrep -P "$HTTPD_GUARD" | head -n 1)
    [[ -n $HTTPD_PID ]] || HTTPD_PID=$HTTPD_GUARD
    export HTTPD_PORT HTTPD_URL HTTPD_PID HTTPD_LOG HTTPD_DIR HTTPD_GUARD
}

# httpd_stop: SIGTERM, then waits (SIGKILL after 10 s). Safe to call when
# no server runs, twice, or from a test when httpd_start ran in setup_file.
httpd_stop() {
    [[ -n ${HTTPD_GUARD:-} ]] || return 0
    local guard=$HTTPD_GUARD pid=${HTTPD_PID:-$HTTPD_GUARD} status=0 i
    HTTPD_GUARD=
    HTTPD_PID=
    kill -TERM "$pid" 2>/dev/null || true
    # Poll rather than wait: the guard is not our child when httpd_start
    # ran in setup_file and this is a test; a zombie counts as gone.
    local gone=
    for ((i = 0; i < 500 * ${CTK_SLOW:-1}; i++)); do
        if [[ ! -e /proc/$guard || $(awk '{ print $3 }' "/proc/$guard/stat" 2>/dev/null) == Z ]]; then
            gone=1
            break
        fi
        sleep 0.02
    done
    if [[ -z $gone ]]; then
        kill -KILL "$pid" "$guard" 2>/dev/null || true
        status=137
    fi
    # Collects the guard's status when it is our child (127 otherwise).
    local s=0
    wait "$guard" 2>/dev/null || s=$?
    ((s == 127)) || ((s == 0)) || status=$s
    if ((status != 0)); then
        fail "httpd_stop: the server exited with status $status: $(cat "$HTTPD_DIR/err" 2>/dev/null)"
        return 1
    fi
}
