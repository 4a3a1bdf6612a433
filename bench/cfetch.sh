#!/bin/bash
# bench/cfetch.sh [--slow] [BUILDDIR]: cfetch against what a user would pick
# instead, in one run, as ratios against issue 5's bars.
#
#   1. nginx on a free loopback port (its own config and prefix in a
#      temporary directory, stopped at the end) serving N (20,000) distinct
#      SIZE (2 KB) static files; fetched by `curl --parallel --parallel-max
#      J`, `wget2 --max-threads J` and `cfetch -j J -s async` (J = 64),
#      bodies discarded; wrk measures the server's own limit.
#      Bars: cfetch >= 1.5x curl's requests/s, >= 0.9x wget2's; max RSS
#      <= 1.2x curl's and < 40 MB.
#   2. cfetch --compare against the test server's /delay/100, 200 URLs,
#      -j 50: thread and async 0.4-0.6 s; sync ~20 s, so sync (and process)
#      run only with --slow.
#   3. cfetch --rate 100 over 300 URLs: 3 s +- 10 %.
#
# Max RSS comes from GNU time (/usr/bin/time -f %M), wall time from bash's
# $EPOCHREALTIME around it (GNU time's %e has 10 ms steps). Part 1 runs
# REPS rounds (default 3), the tools taking turns within each so that a
# change in the machine's load falls on all of them, and reports medians;
# wrk runs before and after, and the better is the server's limit. This is
# a report: it exits 0 whatever the bars say, 1 when a run failed (an exit
# status, a missing or failed record, requests nginx did not see) and 2
# when something it needs is missing.
#
# Environment: N (20000), SIZE (2048), J (64), REPS (3), WRK_SECS (3),
# NGINX_WORKERS (auto: one per core, as a stock nginx runs).
# PERF=1 adds a perf profile of cfetch (by library, then its hottest symbols).
# BASE_CFETCH=PROGRAM adds another cfetch (an older build, e.g. main's
# tools/cfetch) to the same rounds, for a before/after in one run.
# KEEP_TMP=1 keeps the temporary directory (configs, outputs, logs).
set -u

usage() {
    sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

slow=
while [ $# -gt 0 ]; do
    case $1 in
    --slow) slow=1 ;;
    -h | --help)
        usage
        exit 0
        ;;
    -*)
        echo "cfetch.sh: unknown option $1" >&2
        exit 2
        ;;
    *) break ;;
    esac
    shift
done

here=$(cd "$(dirname "$0")" && pwd)
builddir=${1:-$(dirname "$here")}
builddir=$(cd "$builddir" && pwd) || exit 2
cfetch=$builddir/tools/cfetch/cfetch
httpd=$builddir/tests/fixtures/httpd

N=${N:-20000}
SIZE=${SIZE:-2048}
J=${J:-64}
REPS=${REPS:-3}
WRK_SECS=${WRK_SECS:-3}
NGINX_WORKERS=${NGINX_WORKERS:-auto}
GNU_TIME=/usr/bin/time

for tool in nginx curl python3; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "cfetch.sh: $tool is not installed (./bootstrap installs it)" >&2
        exit 2
    }
done
[ -x /usr/sbin/nginx ] && nginx=/usr/sbin/nginx || nginx=$(command -v nginx)
"$GNU_TIME" -f %M true 2>/dev/null || {
    echo "cfetch.sh: GNU time is not installed at $GNU_TIME (package time)" >&2
    exit 2
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ctk-bench.XXXXXX") || exit 2
nginx_pid=
httpd_pid=
# shellcheck disable=SC2317 # called by the trap
cleanup() {
    # By pid only: the servers this script started.
    if [ -n "$nginx_pid" ]; then
        kill -QUIT "$nginx_pid" 2>/dev/null
        wait "$nginx_pid" 2>/dev/null
    fi
    if [ -n "$httpd_pid" ]; then
        kill -TERM "$httpd_pid" 2>/dev/null
        wait "$httpd_pid" 2>/dev/null
    fi
    if [ -n "${KEEP_TMP:-}" ]; then
        echo "cfetch.sh: kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

broken=0
summary=$tmp/summary
: >"$summary"

# ---- helpers ------------------------------------------------------------------

# free_port: a port nothing listens on now (the kernel's choice).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# median: the median of the numbers on stdin, one per line.
median() {
    sort -n | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : "" }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "-" }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# verdict VALUE OP BAR [BAR2]: PASS or FAIL; OP is ge, le, lt or in.
verdict() {
    awk -v v="$1" -v op="$2" -v b="$3" -v b2="${4:-0}" 'BEGIN {
        if (v == "" || v == "-") { print "n/a"; exit }
        ok = (op == "ge") ? v >= b : (op == "le") ? v <= b : (op == "lt") ? v < b : (v >= b && v <= b2)
        print ok ? "PASS" : "FAIL" }'
}

# bar MEASUREMENT BAR MEASURED VERDICT: one summary row.
bar() {
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$summary"
}

# nginx_requests: the requests nginx has served so far (stub_status).
nginx_requests() {
    curl -s "$base/nginx-status" | awk 'NR == 3 { print $3 }'
}

# run_once NAME CMD...: one run of CMD under GNU time (stdout in
# $tmp/NAME.out, stderr in $tmp/NAME.err), its wall, max RSS, user and
# system time appended to NAME's samples; checks that it exited 0, that
# nginx saw N requests and that every transfer was a 200.
run_once() {
    local name=$1 before after status start end ok records
    shift
    before=$(nginx_requests)
    status=0
    start=$EPOCHREALTIME
    timeout -k 5 600 "$GNU_TIME" -f '%M %U %S' -o "$tmp/$name.time" "$@" \
        >"$tmp/$name.out" 2>"$tmp/$name.err" || status=$?
    end=$EPOCHREALTIME
    after=$(nginx_requests)
    if [ "$status" != 0 ]; then
        echo "  $name: exit status $status: $(tail -n 3 "$tmp/$name.err")" >&2
        broken=1
    fi
    # after - before counts the first status request too.
    if [ $((after - before - 1)) -lt "$N" ]; then
        echo "  $name: nginx served $((after - before - 1)) requests, not $N" >&2
        broken=1
    fi
    case $name in
    curl)
        ok=$(grep -c '^200$' "$tmp/curl.out")
        if [ "$ok" != "$N" ]; then
            echo "  curl: $ok transfers with status 200, for $N URLs" >&2
            broken=1
        fi
        ;;
    cfetch | base)
        # Every URL has exactly one record, and each is a 200.
        records=$(wc -l <"$tmp/$name.out")
        ok=$(awk -F'\t' '$3 == 200' "$tmp/$name.out" | wc -l)
        if [ "$records" != "$N" ] || [ "$ok" != "$N" ]; then
            echo "  $name: $records records, $ok with status 200, for $N URLs" >&2
            broken=1
        fi
        ;;
    esac
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f\n", b - a }' >>"$tmp/$name.walls"
    tail -n 1 "$tmp/$name.time" | awk '{ print $1 }' >>"$tmp/$name.rss"
    tail -n 1 "$tmp/$name.time" | awk '{ print $2 }' >>"$tmp/$name.user"
    tail -n 1 "$tmp/$name.time" | awk '{ print $3 }' >>"$tmp/$name.sys"
}

# medians NAME: sets WALL, RSS (kB), USER_S and SYS_S to the medians of
# NAME's samples.
medians() {
    WALL=$(median <"$tmp/$1.walls")
    RSS=$(median <"$tmp/$1.rss")
    USER_S=$(median <"$tmp/$1.user")
    SYS_S=$(median <"$tmp/$1.sys")
}

# run_wrk: the server's own limit, one URL over J connections; prints
# requests/s.
run_wrk() {
    timeout -k 5 120 wrk -t1 -c"$J" -d"${WRK_SECS}s" "$base/f/00001" >"$tmp/wrk.out" 2>&1 ||
        echo "  wrk failed: $(tail -n 2 "$tmp/wrk.out")" >&2
    awk '/^Requests\/sec:/ { printf "%.0f\n", $2 }' "$tmp/wrk.out"
}

# row LABEL: one line from the last medians.
row() {
    printf '  %-36s %7s s %7s req/s %6s MB  %5s user %5s sys\n' "$1" "$WALL" \
        "$(rate "$N" "$WALL")" "$(mb "$RSS")" "$USER_S" "$SYS_S"
}

# field FILE STRATEGY NAME: NAME's value in STRATEGY's row of a TSV table
# with a header.
field() {
    awk -F'\t' -v s="$2" -v f="$3" '
        NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        ($col["strategy"] == s) && (f in col) { print $col[f]; exit }' "$1"
}

# ---- 1. nginx and 20,000 static files -----------------------------------------

mkdir -p "$tmp/nginx/logs" "$tmp/nginx/tmp" "$tmp/www/f"
# nginx's workers drop root privileges (to nobody): they must be able to
# read the files, and mktemp made the directory private.
chmod 755 "$tmp"
python3 - "$tmp/www/f" "$N" "$SIZE" <<'PY'
import os, sys
root, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    # Distinct content per file, same size.
    head = b"%08d\n" % i
    with open(os.path.join(root, "%05d" % i), "wb") as f:
        f.write((head * (size // len(head) + 1))[:size])
PY
port=$(free_port)
cat >"$tmp/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes $NGINX_WORKERS;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log warn;
events { worker_connections 4096; multi_accept on; }
http {
    access_log off;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 60s;
    keepalive_requests 1000000;
    client_body_temp_path $tmp/nginx/tmp/body;
    proxy_temp_path $tmp/nginx/tmp/proxy;
    fastcgi_temp_path $tmp/nginx/tmp/fastcgi;
    uwsgi_temp_path $tmp/nginx/tmp/uwsgi;
    scgi_temp_path $tmp/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:$port backlog=4096;
        root $tmp/www;
        location = /nginx-status { stub_status; }
    }
}
EOF
"$nginx" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/logs/error.log" &
nginx_pid=$!
base=http://127.0.0.1:$port
for ((i = 0; i < 250; i++)); do
    curl -s -o /dev/null "$base/f/00000" && break
    kill -0 "$nginx_pid" 2>/dev/null || {
        echo "cfetch.sh: nginx did not start: $(cat "$tmp/nginx/logs/error.log")" >&2
        nginx_pid=
        exit 2
    }
    sleep 0.02
done
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/f/00000")
if [ "$code" != 200 ]; then
    echo "cfetch.sh: nginx answers $code, not 200: $(tail -n 3 "$tmp/nginx/logs/error.log")" >&2
    exit 2
fi
awk -v b="$base" -v n="$N" 'BEGIN { for (i = 0; i < n; i++) printf "%s/f/%05d\n", b, i }' >"$tmp/urls"
# curl's config file: one url and one output per transfer, and each
# transfer's status on stdout, to be checked.
{
    printf '%s\n' 'write-out = "%{http_code}\n"'
    awk '{ printf "url = \"%s\"\noutput = \"/dev/null\"\n", $0 }' "$tmp/urls"
} >"$tmp/curl.cfg"

echo "nginx (worker_processes $NGINX_WORKERS) on $base: $N files of $SIZE bytes; -j $J; median of $REPS; $(nproc) cores"

tools="curl"
if command -v wget2 >/dev/null 2>&1; then
    tools="$tools wget2"
else
    echo "  wget2 is not installed: skipped (apt-get install wget2)"
fi
if [ -n "${BASE_CFETCH:-}" ]; then
    if [ -x "$BASE_CFETCH" ]; then
        tools="$tools base"
    else
        echo "cfetch.sh: BASE_CFETCH=$BASE_CFETCH is not executable" >&2
        exit 2
    fi
fi
if [ -x "$cfetch" ]; then
    tools="$tools cfetch"
else
    echo "  cfetch is not built ($cfetch): its rows are skipped"
fi

# The server's limit, before and after the clients (the better of the two).
wrk_rps=
command -v wrk >/dev/null 2>&1 && wrk_rps=$(run_wrk)

# Round robin: the machine's load drifts, and it should drift over every
# tool alike.
for ((rep = 0; rep < REPS; rep++)); do
    for tool in $tools; do
        case $tool in
        curl) run_once curl curl -s --parallel --parallel-max "$J" -K "$tmp/curl.cfg" ;;
        wget2) run_once wget2 wget2 -q --no-config --robots=off --max-threads="$J" \
            -O /dev/null -i "$tmp/urls" ;;
        base) run_once base "$BASE_CFETCH" -j "$J" -s async -i "$tmp/urls" ;;
        cfetch) run_once cfetch "$cfetch" -j "$J" -s async -i "$tmp/urls" ;;
        esac
    done
done

if command -v wrk >/dev/null 2>&1; then
    r=$(run_wrk)
    wrk_rps=$(printf '%s\n%s\n' "${wrk_rps:-0}" "${r:-0}" | sort -n | tail -n 1)
    printf '  %-36s %7s   %7s req/s (the server'"'"'s limit, one URL)\n' \
        "wrk -t1 -c$J -d${WRK_SECS}s" "" "$wrk_rps"
else
    echo "  wrk is not installed: no server limit (apt-get install wrk)"
fi

medians curl
curl_wall=$WALL curl_rss=$RSS
row "curl --parallel --parallel-max $J"
wget2_wall=
case " $tools " in *" wget2 "*)
    medians wget2
    wget2_wall=$WALL
    row "wget2 --max-threads $J"
    ;;
esac
base_wall=
case " $tools " in *" base "*)
    medians base
    base_wall=$WALL
    row "cfetch (BASE_CFETCH) -j $J -s async"
    ;;
esac
cf_wall=
case " $tools " in *" cfetch "*)
    medians cfetch
    cf_wall=$WALL cf_rss=$RSS
    row "cfetch -j $J -s async"
    if [ -n "${PERF:-}" ] && command -v perf >/dev/null 2>&1; then
        # Where cfetch's time goes: its hottest symbols, one more run.
        perf record -q -F 999 -g -o "$tmp/perf.data" -- "$cfetch" -j "$J" -s async \
            -i "$tmp/urls" >/dev/null 2>"$tmp/perf.err"
        echo "  perf: where cfetch's time goes, by library (self time)"
        perf report -i "$tmp/perf.data" --stdio --no-children --sort dso \
            --percent-limit 1 -g none 2>/dev/null | grep -v '^#' | grep -v '^$' |
            head -n 12 | sed 's/^/    /'
        echo "  perf: its hottest symbols"
        perf report -i "$tmp/perf.data" --stdio --no-children --sort dso,sym \
            --percent-limit 1 -g none 2>/dev/null | grep -v '^#' | grep -v '^$' |
            head -n 20 | sed 's/^/    /'
    fi
    ;;
esac

if [ -n "$cf_wall" ]; then
    r=$(ratio "$curl_wall" "$cf_wall")
    bar "async requests/s vs curl --parallel" ">= 1.5x" "${r}x" "$(verdict "$r" ge 1.5)"
    if [ -n "$wget2_wall" ]; then
        r=$(ratio "$wget2_wall" "$cf_wall")
        bar "async requests/s vs wget2" ">= 0.9x" "${r}x" "$(verdict "$r" ge 0.9)"
    fi
    r=$(ratio "$cf_rss" "$curl_rss")
    bar "max RSS vs curl's" "<= 1.2x" "${r}x" "$(verdict "$r" le 1.2)"
    bar "max RSS, $N URLs" "< 40 MB" "$(mb "$cf_rss") MB" "$(verdict "$(mb "$cf_rss")" lt 40)"
    if [ -n "$wrk_rps" ]; then
        r=$(ratio "$(rate "$N" "$cf_wall")" "$wrk_rps")
        bar "async requests/s vs wrk (server limit)" "(info)" "${r}x" "-"
    fi
fi
if [ -n "$base_wall" ] && [ -n "$cf_wall" ]; then
    bar "(cfetch vs BASE_CFETCH requests/s)" "(info)" "$(ratio "$base_wall" "$cf_wall")x" "-"
fi
if [ -n "$wget2_wall" ]; then
    bar "(wget2 vs curl requests/s)" "(info)" "$(ratio "$curl_wall" "$wget2_wall")x" "-"
fi

kill -QUIT "$nginx_pid" 2>/dev/null
wait "$nginx_pid" 2>/dev/null
nginx_pid=

# ---- 2 and 3. against the test server -----------------------------------------

if [ -x "$cfetch" ]; then
    if [ ! -x "$httpd" ]; then
        make -C "$builddir" tests/fixtures/httpd >/dev/null 2>&1
    fi
fi
if [ -x "$cfetch" ] && [ -x "$httpd" ]; then
    "$httpd" --port 0 --port-file "$tmp/httpd.port" &
    httpd_pid=$!
    for ((i = 0; i < 250; i++)); do
        [ -s "$tmp/httpd.port" ] && break
        sleep 0.02
    done
    hbase=http://127.0.0.1:$(cat "$tmp/httpd.port")

    strategies=thread,async
    [ -n "$slow" ] && strategies=sync,thread,process,async
    echo
    echo "cfetch --compare=$strategies -j 50: 200 URLs of $hbase/delay/100"
    awk -v b="$hbase" 'BEGIN { for (i = 0; i < 200; i++) printf "%s/delay/100/%d\n", b, i }' \
        >"$tmp/delay.urls"
    status=0
    timeout -k 5 300 "$cfetch" --compare="$strategies" -j 50 --format tsv --header-line \
        -i "$tmp/delay.urls" >"$tmp/compare.tsv" 2>"$tmp/compare.err" || status=$?
    if [ "$status" != 0 ]; then
        echo "  cfetch --compare: exit status $status: $(tail -n 3 "$tmp/compare.err")" >&2
        broken=1
    fi
    column -t -s "$(printf '\t')" "$tmp/compare.tsv" | sed 's/^/  /'
    for s in thread async; do
        w=$(field "$tmp/compare.tsv" "$s" wall_s)
        bar "--compare /delay/100 x200 -j 50: $s" "0.4-0.6 s" "${w:--} s" "$(verdict "$w" in 0.4 0.6)"
    done
    if [ -n "$slow" ]; then
        w=$(field "$tmp/compare.tsv" sync wall_s)
        bar "--compare /delay/100 x200 -j 50: sync" "~20 s (18-22)" "${w:--} s" "$(verdict "$w" in 18 22)"
    else
        echo "  (sync and process take ~20 s: run with --slow to include them)"
    fi

    echo
    echo "cfetch --rate 100: 300 URLs of $hbase/ok/..."
    awk -v b="$hbase" 'BEGIN { for (i = 0; i < 300; i++) printf "%s/ok/%d\n", b, i }' >"$tmp/rate.urls"
    status=0
    timeout -k 5 120 "$GNU_TIME" -f '%e %M' -o "$tmp/rate.time" "$cfetch" --rate 100 \
        -i "$tmp/rate.urls" >"$tmp/rate.out" 2>"$tmp/rate.err" || status=$?
    w=$(awk '{ print $1 }' "$tmp/rate.time" | tail -n 1)
    if [ "$status" != 0 ] || [ "$(wc -l <"$tmp/rate.out")" != 300 ]; then
        echo "  cfetch --rate: exit status $status, $(wc -l <"$tmp/rate.out") records" >&2
        broken=1
    fi
    printf '  %-36s %7s s\n' "cfetch --rate 100" "$w"
    bar "--rate 100 over 300 URLs" "3 s +-10%" "$w s" "$(verdict "$w" in 2.7 3.3)"
elif [ -x "$cfetch" ]; then
    echo "cfetch.sh: $httpd is not built ('make check' builds it): --compare and --rate skipped"
fi

# ---- summary ------------------------------------------------------------------

echo
if [ -s "$summary" ]; then
    printf '%-44s %-14s %-10s %s\n' measurement bar measured verdict
    awk -F'\t' '{ printf "%-44s %-14s %-10s %s\n", $1, $2, $3, $4 }' "$summary"
else
    echo "no bars checked (cfetch is not built)"
fi
exit "$broken"
