# pg.bash: a throwaway PostgreSQL server for the tests of cqueue's
# PostgreSQL store: initdb and pg_ctl in a temporary folder, listening on
# 127.0.0.1 on a free port, run as the `postgres` user when we are root
# (the server refuses root), trust authentication. pg_start sets PG_URL
# (no database name: append one) and PG_DIR; pg_stop stops it and removes
# the folder. pg_missing says why there can be no server here, or nothing.

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}

# pg_as CMD...: runs CMD as the server's user.
pg_as() {
    if ((EUID == 0)); then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_missing() {
    if [[ -z $PG_BIN || ! -x $PG_BIN/initdb || ! -x $PG_BIN/pg_ctl ]]; then
        echo "PostgreSQL is not installed (apt-get install postgresql)"
    elif ((EUID == 0)) && ! id postgres >/dev/null 2>&1; then
        echo "no postgres user to run the server as (we are root)"
    elif ! command -v psql >/dev/null; then
        echo "psql is not installed (apt-get install postgresql-client)"
    elif [[ ! -e $CTK_BUILDDIR/plugins/store-postgres/.libs/store-postgres.so ]]; then
        echo "the store-postgres plugin is not built (libpq was not found by configure)"
    fi
}

pg_start() {
    PG_DIR=$(mktemp -d /tmp/ctk-pg.XXXXXX)
    chmod 755 "$PG_DIR"
    ((EUID == 0)) && chown postgres "$PG_DIR"
    pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 --no-sync \
        >"$PG_DIR/initdb.log" 2>&1 || {
        cat "$PG_DIR/initdb.log" >&2
        return 1
    }
    local try port
    for try in 1 2 3 4 5 6 7 8 9 10; do
        port=$((20000 + RANDOM % 40000))
        if pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_DIR -c fsync=off -c max_connections=200" \
            start >/dev/null 2>&1; then
            PG_PORT=$port
            PG_URL="postgresql://postgres@127.0.0.1:$port"
            export PG_DIR PG_PORT PG_URL
            return 0
        fi
    done
    cat "$PG_DIR/server.log" >&2
    return 1
}

# pg_restart: an immediate stop (as a crash) and a start on the same port.
pg_restart() {
    pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 -m immediate \
        restart >/dev/null
}

pg_stop() {
    [[ -n ${PG_DIR:-} && -d $PG_DIR ]] || return 0
    pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -w -t 30 -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
    PG_DIR=
}

# pg_sql DB SQL: one statement's rows, unaligned, in the schema cqueue.
pg_sql() {
    PGOPTIONS='-c search_path=cqueue' psql -X -qAt "$PG_URL/$1" -c "$2"
}
