#!/usr/bin/env bats
# ctk.bats: the front door. `ctk list` against the tools' own listings
# (--list-strategies, --list-workloads) and the plugin files it was given;
# `ctk doctor` with broken fixture plugins (tests/fixtures) and against the
# shell's own ulimit and nproc; `ctk TOOL ARGS` against the tool run
# directly; usage errors.

load helpers

setup_file() {
    PATH="$CTK_BUILDDIR/tools/ctk:$PATH"
    export PATH
    PLUGDIR=$BATS_FILE_TMPDIR/plugins
    mkdir -p "$PLUGDIR"
    local f
    for f in badabi noentry exstore solo; do
        cp "$(fixture_plugin "$f")" "$PLUGDIR/"
    done
    echo "this is text, not a shared object" >"$PLUGDIR/text.so"
    export PLUGDIR
}

# The canonical path of a file, as the registry records it.
canon() {
    realpath "$1"
}

ctk_run() {
    run --separate-stderr timeout -k 5 "$CTK_TIMEOUT" ctk "$@"
}

@test "ctk list: each strategy, workload and store, with the plugin file it came from" {
    local pinned solo exstore
    pinned=$(canon "$PINNED_SO")
    solo=$(canon "$PLUGDIR/solo.so") exstore=$(canon "$PLUGDIR/exstore.so")
    CTK_PLUGIN_PATH="$CTK_PLUGIN_PATH:$PLUGDIR" ctk_run list
    # the broken fixtures do not load: named on stderr, status 1
    assert_equal "$status" 1
    assert_stderr_regex "ctk: plugin [^ ]*/badabi.so: built for plugin ABI 999"
    assert_line --regexp "^  pinned +$pinned +a thread pool"
    assert_line --regexp "^  solo +$solo( |$)"
    assert_line --regexp "^  exstore +$exstore$"
    assert_line --regexp "^  sqlite +built in \(cqueue\)$"
    assert_line --regexp "^  thread +built in \(libctk\) +a pool of N pthreads"
    # the same strategies and workloads as the tools list
    local section want got
    for section in strategies workloads; do
        got=$(awk -v s="$section:" '/^[a-z]+:$/ {on = ($0 == s); next} on {print $1}' <<<"$output" | sort)
        want=$(CTK_PLUGIN_PATH="$CTK_PLUGIN_PATH:$PLUGDIR" cburn --list-"$section" 2>/dev/null | awk '{print $1}' | sort)
        assert_equal "$got" "$want"
    done
    # every tool, found in this build tree
    local t
    for t in cburn cpar cfetch cpipe cqueue; do
        assert_line "  $(printf '%-10s' "$t") $(canon "$CTK_BUILDDIR/tools/$t/$t")"
    done
}

@test "ctk list: no plugin path, only the built-ins, status 0" {
    CTK_PLUGIN_PATH=/nonexistent ctk_run list
    assert_success
    assert_equal "$stderr" ""
    refute_output --partial pinned
    assert_line --regexp "^  sumsq +built in \(cburn\)"
}

@test "ctk doctor: one line per broken plugin: path, reason, what to do" {
    CTK_PLUGIN_PATH="$CTK_PLUGIN_PATH:$PLUGDIR" ctk_run doctor
    assert_equal "$status" 1
    assert_line "  ok       $PINNED_SO: strategy pinned"
    assert_line "  ok       $PLUGDIR/exstore.so: store exstore"
    assert_line --regexp "^  failed   $PLUGDIR/badabi.so: built for plugin ABI 999, this ctk has ABI [0-9]+: .*; to fix: rebuild it with 'pkg-config --cflags --libs ctk'"
    assert_line --regexp "^  failed   $PLUGDIR/noentry.so: no ctk_plugin entry point .*; to fix: rebuild it with CTK_PLUGIN_DEFINE"
    assert_line --regexp "^  failed   $PLUGDIR/text.so: not a loadable object: .*; to fix: "
    assert_line "problems found (see above)"
    assert_line --regexp "^  folder   $PLUGDIR$"
}

@test "ctk doctor: tools, engines, and the cores and limits that bound -j" {
    CTK_PLUGIN_PATH="$CTK_PLUGIN_PATH" ctk_run doctor
    assert_success
    assert_line "no problems found"
    local t
    for t in cburn cpar cfetch cpipe cqueue; do
        assert_line "  ok       $(printf '%-8s' "$t") $(canon "$CTK_BUILDDIR/tools/$t/$t")"
    done
    assert_line --regexp "^  (usable|unusable) +Open MPI "
    assert_line --regexp "^  (usable|unusable) +PostgreSQL "
    if command -v mpirun >/dev/null; then
        assert_line --regexp "Open MPI .*: mpirun $(command -v mpirun);"
    else
        assert_line --regexp "Open MPI .*: mpirun not on PATH \(apt-get install openmpi-bin\)"
    fi
    assert_line --regexp "^  cores    $(nproc) online"
    assert_line --regexp "^  files    ulimit -n $(ulimit -Sn) \(hard $(ulimit -Hn)\)"
    assert_line --regexp "^  procs    ulimit -u $(ulimit -Su) \(hard $(ulimit -Hu)\)"
    # a lower limit is the one reported
    run --separate-stderr bash -c 'ulimit -Sn 100 && ctk doctor'
    assert_line --regexp "^  files    ulimit -n 100 "
}

@test "ctk TOOL ARGS runs the tool: same output and status as the tool itself" {
    ctk_run cpar echo ::: a
    assert_success
    assert_output "a"
    local want
    run --separate-stderr cpar -k echo ::: x y z
    want=$output
    ctk_run cpar -k echo ::: x y z
    assert_equal "$output" "$want"
    # the exit status is the tool's (cpar: the number of failed jobs)
    run cpar false ::: 1 2 3
    local direct=$status
    ctk_run cpar false ::: 1 2 3
    assert_equal "$status" "$direct"
    (( direct != 0 )) || fail "cpar did not report the failures"
    ctk_run cqueue --db "$BATS_TEST_TMPDIR/q.db" add true
    assert_success
    assert_output "1"
}

@test "ctk TOOL: the tool next to ctk comes before one on PATH" {
    mkdir -p "$BATS_TEST_TMPDIR/bin"
    printf '#!/bin/sh\necho impostor\n' >"$BATS_TEST_TMPDIR/bin/cpar"
    chmod +x "$BATS_TEST_TMPDIR/bin/cpar"
    PATH="$BATS_TEST_TMPDIR/bin:$PATH" ctk_run cpar echo ::: real
    assert_output "real"
}

@test "ctk: usage errors exit 2 with one message and the --help hint" {
    local args
    for args in "" "frobnicate" "--bogus" "list extra" "doctor extra"; do
        # shellcheck disable=SC2086
        ctk_run $args
        assert_equal "$status" 2
        assert_equal "$output" ""
        assert_stderr_lines 2
        assert_stderr_regex "^ctk: "
        assert_equal "${stderr_lines[1]}" "Try 'ctk --help' for more information."
    done
    ctk_run frobnicate
    assert_stderr_regex "^ctk: 'frobnicate' is not a ctk command or tool"
}

@test "ctk --help, --version and the man page agree" {
    ctk_run --help
    assert_success
    local w
    for w in list doctor cburn cpar cfetch cpipe cqueue; do
        assert_line --regexp "^  $w +"
        grep -qw -- "$w" "$CTK_SRCDIR/man/ctk.1" || fail "$w not in ctk.1"
    done
    assert_man_has_options ctk 2
    assert_man_renders ctk NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS ENVIRONMENT "EXIT STATUS" EXAMPLES "SEE ALSO"
    ctk_run --version
    assert_success
    assert_line --index 0 "$(cburn --version | head -n 1 | sed 's/^cburn/ctk/')"
}
