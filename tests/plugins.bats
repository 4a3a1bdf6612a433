#!/usr/bin/env bats
# plugins.bats: black-box tests of plugin loading through cburn: the
# pinned strategy plugin, plugins found by name in $CTK_PLUGIN_PATH or
# loaded with --plugin FILE, and broken plugins, each of which must give
# one clear line on stderr and exit 2, never a crash. The fixture plugins
# (tests/fixtures/*.c) are built here the way an outside author would:
# one cc line against the uninstalled pkg-config file.

load helpers

setup_file() {
    FIXTURES=$BATS_FILE_TMPDIR
    local f
    for f in solo collatz badabi noentry initfail dupe wirepair; do
        fixture_plugin "$f" >/dev/null
    done
    echo "this is text, not a shared object" >"$FIXTURES/x.so"
    export FIXTURES
}

# The sum of the Collatz stopping times of 1 .. N, computed in Python.
collatz_sum() {
    python3 -c '
import sys
total = 0
for n in range(1, int(sys.argv[1]) + 1):
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        total += 1
print(total)' "$1"
}

# A broken plugin: exit 2, nothing on stdout, exactly one stderr line
# `cburn: plugin FILE: REASON` with REASON matching the regex $2.
assert_plugin_error() {
    ((status < 128)) || fail "crashed: status $status, stderr: $stderr"
    assert_equal "$status" 2
    assert_equal "$output" ""
    assert_stderr_lines 1
    [[ $stderr == "cburn: plugin $1: "* ]] || fail "stderr does not name $1: $stderr"
    assert_stderr_regex "^cburn: plugin .*: $2"
}

# ---- the pinned plugin ---------------------------------------------------------

@test "pinned --cpu-list 0 runs and gives sync's checksum" {
    run --separate-stderr cb -s sync -t 4 -n 1M --format json
    assert_success
    local want
    want=$(json_fields checksum <<<"$output")
    assert_equal "$want" "$(sumsq_hex $((4 * 1048576)))"
    run --separate-stderr cb -s pinned --cpu-list 0 -j 2 -t 4 -n 1M --format json
    assert_success
    assert_equal "$(json_fields strategy jobs failed checksum <<<"$output")" "pinned	2	0	$want"
}

@test "pinned without --cpu-list, and in --compare, agrees with sync" {
    run --separate-stderr cb --compare=sync,pinned,thread -j 2 -t 4 -w primes -n 20k --format tsv
    assert_success
    assert_equal "$(cut -f1 <<<"$output" | tr '\n' ' ')" "sync pinned thread "
    assert_equal "$(cut -f12 <<<"$output" | sort -u)" "$(printf '%016x' "$(primes_below $((4 * 20480)))")"
}

@test "pinned --cpu-list garbage is a usage error naming --cpu-list" {
    local v
    for v in garbage 1-0 '0,' -1 '' 0-99999; do
        run --separate-stderr cb -s pinned --cpu-list "$v" -t 1 -n 1
        assert_usage_error "--cpu-list "
    done
}

@test "--help with -s pinned documents --cpu-list under the strategy" {
    run --separate-stderr cb -s pinned --help
    assert_success
    assert_line 'Strategy pinned:'
    assert_line --regexp '^ +--cpu-list LIST +[a-z]'
}

@test "--plugin FILE loads pinned.so by path, with nothing in the search path" {
    local empty="$BATS_TEST_TMPDIR/empty"
    mkdir -p "$empty"
    CTK_PLUGIN_PATH=$empty run --separate-stderr cb --plugin "$PINNED_SO" -s pinned -t 2 -n 10 --format tsv
    assert_success
    assert_equal "$(cut -f1,11,12 <<<"$output")" "pinned	0	00000000000009a6"
    CTK_PLUGIN_PATH=$empty run --separate-stderr cb "--plugin=$PINNED_SO" --plugin "$PINNED_SO" \
        --compare=sync,pinned -t 2 -n 10 --format tsv
    assert_success
    assert_equal "$(cut -f1,12 <<<"$output" | tr '\t\n' ': ')" "sync:00000000000009a6 pinned:00000000000009a6 "
}

# ---- broken plugins ------------------------------------------------------------

@test "--plugin with a missing file: one line, exit 2" {
    run --separate-stderr cb --plugin "$FIXTURES/nope.so" -t 1 -n 1
    assert_plugin_error "$FIXTURES/nope.so" '(no such file|not found)'
}

@test "--plugin with a text file named x.so: one line, exit 2" {
    run --separate-stderr cb --plugin "$FIXTURES/x.so" -t 1 -n 1
    assert_plugin_error "$FIXTURES/x.so" 'not a loadable object'
}

@test "--plugin with a .so that has no ctk_plugin symbol: one line, exit 2" {
    run --separate-stderr cb --plugin "$FIXTURES/noentry.so" -t 1 -n 1
    assert_plugin_error "$FIXTURES/noentry.so" '.*ctk_plugin'
}

@test "--plugin built for ABI 999: one line naming the ABI, exit 2, no crash" {
    run --separate-stderr cb --plugin "$FIXTURES/badabi.so" -t 1 -n 1
    assert_plugin_error "$FIXTURES/badabi.so" '.*ABI'
    assert_stderr_regex '999'
}

@test "--plugin whose init returns CTK_EINVAL: one line, exit 2" {
    run --separate-stderr cb --plugin "$FIXTURES/initfail.so" -t 1 -n 1
    assert_plugin_error "$FIXTURES/initfail.so" 'init.*invalid argument'
}

@test "--plugin registering a name that is taken: one line, exit 2" {
    run --separate-stderr cb --plugin "$FIXTURES/dupe.so" -t 1 -n 1
    assert_plugin_error "$FIXTURES/dupe.so" 'init.*already exists'
}

@test "-s NAME finding a broken NAME.so in CTK_PLUGIN_PATH: one line, exit 2" {
    local p
    for p in noentry initfail dupe badabi; do
        CTK_PLUGIN_PATH=$FIXTURES run --separate-stderr cb -s "$p" -t 1 -n 1
        assert_plugin_error "$FIXTURES/$p.so" '[a-z]'
    done
    CTK_PLUGIN_PATH=$FIXTURES run --separate-stderr cb --compare=sync,initfail -t 1 -n 1
    assert_plugin_error "$FIXTURES/initfail.so" 'init'
}

@test "--list-strategies warns about each broken plugin in the path and lists the rest" {
    local dir="$BATS_TEST_TMPDIR/mixed"
    mkdir -p "$dir"
    cp "$FIXTURES"/{solo,noentry,initfail,x}.so "$dir/"
    CTK_PLUGIN_PATH=$dir run --separate-stderr cb --list-strategies
    ((status < 128)) || fail "crashed: status $status"
    assert_success
    local s
    for s in async process solo sync thread; do
        assert_line --regexp "^$s +[a-zA-Z]"
    done
    assert_stderr_lines 3
    local f
    for f in noentry initfail x; do
        assert_stderr_regex "(^|
)cburn: plugin $dir/$f.so: [a-z]"
    done
}

@test "--list-strategies with a wrong-ABI plugin in the path does not crash" {
    local dir="$BATS_TEST_TMPDIR/abi"
    mkdir -p "$dir"
    cp "$FIXTURES"/{solo,badabi}.so "$dir/"
    CTK_PLUGIN_PATH=$dir run --separate-stderr cb --list-strategies
    ((status < 128)) || fail "crashed: status $status"
    assert_success
    assert_line --regexp '^solo +'
    assert_stderr_lines 1
    assert_stderr_regex "^cburn: plugin $dir/badabi.so: .*999"
}

# ---- plugins that work -----------------------------------------------------------

@test "a strategy plugin is found by name in CTK_PLUGIN_PATH and agrees with sync" {
    CTK_PLUGIN_PATH="/nonexistent::$FIXTURES" run --separate-stderr cb -s solo -t 4 -n 100k --format json
    assert_success
    assert_equal "$(json_fields strategy failed checksum <<<"$output")" "solo	0	$(sumsq_hex 409600)"
    CTK_PLUGIN_PATH=$FIXTURES run --separate-stderr cb --compare=sync,solo,process -w primes -t 3 -n 1k \
        --format tsv
    assert_success
    assert_equal "$(cut -f1 <<<"$output" | tr '\n' ' ')" "sync solo process "
    assert_equal "$(cut -f12 <<<"$output" | sort -u)" "$(printf '%016x' "$(primes_below $((3 * 1024)))")"
}

@test "a strategy plugin's option reaches it; a bad value is a usage error naming the option" {
    CTK_PLUGIN_PATH=$FIXTURES run --separate-stderr cb -s solo --solo-label good -t 2 -n 10 --format tsv
    assert_success
    assert_equal "$(cut -f1,12 <<<"$output")" "solo	00000000000009a6"
    CTK_PLUGIN_PATH=$FIXTURES run --separate-stderr cb -s solo --solo-label Bad -t 2 -n 10
    assert_usage_error "--solo-label Bad: "
    CTK_PLUGIN_PATH=$FIXTURES run --separate-stderr cb -s solo --help
    assert_success
    assert_line 'Strategy solo:'
    assert_line --regexp '^ +--solo-label WORD +a lower-case word'
}

@test "the plugin's strategy is unknown when CTK_PLUGIN_PATH does not hold it" {
    local empty="$BATS_TEST_TMPDIR/empty"
    mkdir -p "$empty"
    CTK_PLUGIN_PATH=$empty run --separate-stderr cb -s solo -t 1 -n 1
    assert_usage_error "unknown strategy 'solo'"
}

@test "a workload plugin loaded with --plugin FILE gives the same checksum everywhere" {
    local want
    want=$(printf '%016x' "$(collatz_sum 3000)")
    run --separate-stderr cb --plugin "$FIXTURES/collatz.so" -w collatz -t 3 -n 1000 \
        --compare=sync,thread,process,async -j 2 --format tsv
    assert_success
    assert_equal "${#lines[@]}" 4
    assert_equal "$(cut -f11,12 <<<"$output" | sort -u)" "0	$want"
}

@test "a workload plugin shows in --list-workloads and works in map mode" {
    run --separate-stderr cb --plugin "$FIXTURES/collatz.so" --list-workloads
    assert_success
    assert_line --regexp '^collatz +sum of Collatz'
    assert_line --regexp '^sumsq +'
    run --separate-stderr cb_in $'10\n27\n' --plugin "$FIXTURES/collatz.so" -w collatz -k -s process -
    assert_success
    assert_equal "$(cut -f1-3 <<<"$output" | tr '\t\n' ': ')" \
        "1:10:$(collatz_sum 10) 2:27:$(collatz_sum 27) "
}

@test "a workload plugin's name is unknown without its --plugin" {
    run --separate-stderr cb -w collatz -t 1 -n 1
    assert_usage_error "unknown workload 'collatz'"
}

@test "a workload plugin is found by name in CTK_PLUGIN_PATH, like a strategy" {
    local want
    want=$(printf '%016x' "$(collatz_sum 2000)")
    CTK_PLUGIN_PATH="$FIXTURES" run --separate-stderr cb -w collatz -t 2 -n 1000 \
        --format tsv --header
    assert_success
    assert_equal "$(tsv_col checksum <<<"$output")" "$want"
}

@test "a strategy's option without that strategy is a usage error naming it" {
    run --separate-stderr cb --cpu-list 0 -t 2 -n 1k
    assert_usage_error "--cpu-list belongs to strategy 'pinned': add -s pinned"
}

# ---- the pre-scan stops where the command's operands begin ------------------------

@test "cpar: a job's own --plugin FILE is an argument of the job, never loaded" {
    run --separate-stderr timeout 20 cpar -k echo --plugin "$FIXTURES/noentry.so" ::: a
    assert_success
    assert_output "--plugin $FIXTURES/noentry.so a"
    assert_equal "$stderr" ""
    run --separate-stderr timeout 20 cpar -k echo --plugin="$FIXTURES/x.so" ::: a
    assert_success
    assert_output "--plugin=$FIXTURES/x.so a"
}

@test "cpipe: a filter's own --plugin=FILE is the filter's, never loaded" {
    run --separate-stderr timeout 20 cpipe grep --plugin="$FIXTURES/noentry.so" x </dev/null
    refute_output --partial "plugin"
    [[ $stderr != *"ctk_plugin entry point"* ]] || fail "the filter's argument was loaded: $stderr"
}

@test "cqueue: a job command's --plugin is not loaded; cqueue's own still is" {
    local db="$BATS_TEST_TMPDIR/q.db"
    run --separate-stderr timeout 20 cqueue --db "$db" add -- echo --plugin "$FIXTURES/noentry.so"
    assert_success
    run --separate-stderr timeout 20 cqueue --db "$db" --plugin "$FIXTURES/noentry.so" ls
    assert_equal "$status" 2
    assert_equal "${stderr%%$'\n'*}" "cqueue: plugin $FIXTURES/noentry.so: no ctk_plugin entry point (was it built with CTK_PLUGIN_DEFINE?)"
}

@test "option values are not options: -j 2 --plugin FILE still loads; a value that looks like --plugin does not" {
    run --separate-stderr timeout 20 cpar -j 2 --plugin "$FIXTURES/noentry.so" echo ::: a
    assert_equal "$status" 2
    assert_equal "$stderr" "cpar: plugin $FIXTURES/noentry.so: no ctk_plugin entry point (was it built with CTK_PLUGIN_DEFINE?)"
    # --tagstring's value is "--plugin": a value, not an option.
    run --separate-stderr timeout 20 cpar --tagstring --plugin -k echo ::: a
    assert_success
    assert_output "--plugin	a"
}

# ---- the wirepair fixture: units as bytes through a socketpair ---------------------

@test "wirepair: a third-party strategy that moves units through the wire gives sync's checksum" {
    run --separate-stderr cb --plugin "$FIXTURES/wirepair.so" -s wirepair -t 4 -n 1000 --format tsv
    assert_success
    local got=$(cut -f1,11,12 <<<"$output")
    run --separate-stderr cb -s sync -t 4 -n 1000 --format tsv
    assert_equal "$got" "wirepair	0	$(cut -f12 <<<"$output")"
}

# ---- the example store of ctk-plugin(7) --------------------------------------------

@test "ctk-plugin(7)'s example store is tests/fixtures/exstore.c, builds with one cc line and loads" {
    # The page's EXAMPLE: A STORE, its first .EX block, with groff's escapes undone.
    local page="$BATS_TEST_TMPDIR/exstore.c"
    awk '/^\.SH EXAMPLE: A STORE/ { s = 1 } s && /^\.EE/ { exit } s == 2 { print } s && /^\.EX/ { s = 2 }' \
        "$CTK_SRCDIR/man/ctk-plugin.7" |
        perl -pe 's/\\(e|-|\(aq|&)/$1 eq "e" ? "\\" : $1 eq "-" ? "-" : $1 eq "&" ? "" : "\x27"/ge' >"$page"
    [[ -s $page ]] || fail "no EXAMPLE: A STORE block in man/ctk-plugin.7"
    run diff -u "$CTK_SRCDIR/tests/fixtures/exstore.c" "$page"
    assert_success
    local so="$BATS_TEST_TMPDIR/exstore.so" flags
    flags=$(PKG_CONFIG_PATH="$CTK_BUILDDIR" pkg-config --cflags --libs ctk)
    # shellcheck disable=SC2086
    run cc -std=c11 -Wall -Wextra -Werror -shared -fPIC -o "$so" "$page" $flags
    assert_success
    assert_equal "$(nm -D --defined-only "$so" | awk '{ print $3 }')" "ctk_plugin"
    # Any command that loads it runs its init, which registers the store.
    run --separate-stderr cb --plugin "$so" -t 1 -n 1
    assert_success
    assert_equal "$stderr" ""
}

@test "ctk-plugin(7)'s store for many machines, store-postgres, builds with its one cc line" {
    pkg-config --exists libpq || skip "libpq is not installed (apt-get install libpq-dev)"
    local so="$BATS_TEST_TMPDIR/store-postgres.so" flags
    flags=$(PKG_CONFIG_PATH="$CTK_BUILDDIR" pkg-config --cflags --libs ctk libpq)
    # shellcheck disable=SC2086
    run cc -std=c11 -Wall -Wextra -Werror -shared -fPIC -o "$so" \
        "$CTK_SRCDIR/plugins/store-postgres/store-postgres.c" $flags
    assert_success
    assert_equal "$(nm -D --defined-only "$so" | awk '{ print $3 }')" "ctk_plugin"
    # Loaded by path, it registers both schemes: a --db value of either
    # reaches it (and no server is there to answer).
    run --separate-stderr cqueue --plugin "$so" --db postgres://127.0.0.1:1/x ls
    assert_failure 1
    assert_stderr_regex "^cqueue: postgresql: cannot connect: "
}
