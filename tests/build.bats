#!/usr/bin/env bats
# build.bats: what an outside plugin author and a packager rely on: the
# uninstalled pkg-config file, building the pinned plugin out of tree
# with one cc line, `make install DESTDIR=...` installing exactly the
# public pieces, building and loading a plugin against the installed
# tree, and libctk exporting only its public ctk_ API.

load helpers

setup_file() {
    DESTROOT="$BATS_FILE_TMPDIR/root"
    PREFIX=$(sed -n 's/^prefix=//p' "$CTK_BUILDDIR/ctk.pc")
    INST="$DESTROOT$PREFIX"
    export DESTROOT PREFIX INST
    # A make inside `make check` must not inherit the outer jobserver.
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
        timeout 300 make -C "$CTK_BUILDDIR" install DESTDIR="$DESTROOT" \
        >"$BATS_FILE_TMPDIR/install.log" 2>&1 || {
        cat "$BATS_FILE_TMPDIR/install.log" >&2
        return 1
    }
}

# Runs the installed cburn with the installed libctk and plugins.
installed_cburn() {
    LD_LIBRARY_PATH="$INST/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        CTK_PLUGIN_PATH="${PLUGIN_DIR:-$INST/lib/ctk/plugins}" \
        timeout -k 5 "$CTK_TIMEOUT" "$INST/bin/cburn" "$@"
}

# The flags that build a plugin against the installed tree.
installed_flags() {
    PKG_CONFIG_PATH="$INST/lib/pkgconfig" pkg-config --define-variable=prefix="$INST" \
        --cflags --libs ctk
}

# ---- the build tree ------------------------------------------------------------

@test "pkg-config picks ctk-uninstalled.pc from the build directory" {
    assert_file_exists "$CTK_BUILDDIR/ctk-uninstalled.pc"
    run --separate-stderr env PKG_CONFIG_PATH="$CTK_BUILDDIR" pkg-config --cflags --libs ctk
    assert_success
    assert_output --partial "-I$CTK_SRCDIR/libshared/include"
    assert_output --partial "-L$CTK_BUILDDIR/libshared/.libs"
    assert_output --partial '-lctk'
    assert_output --regexp '-luv'
}

@test "the pinned plugin source builds out of tree with one cc line and loads" {
    local dir="$BATS_TEST_TMPDIR/oot"
    mkdir -p "$dir"
    run --separate-stderr bash -c 'cc -shared -fPIC -o "$1/pinned.so" "$CTK_SRCDIR/plugins/pinned/pinned.c" \
        $(PKG_CONFIG_PATH="$CTK_BUILDDIR" pkg-config --cflags --libs ctk)' _ "$dir"
    [[ $status -eq 0 ]] || fail "cc failed: $stderr"
    assert_equal "$(nm -D --defined-only "$dir/pinned.so" | awk '{ print $3 }')" ctk_plugin
    CTK_PLUGIN_PATH=$dir run --separate-stderr cb -s pinned --cpu-list 0 -t 2 -n 10 --format tsv
    assert_success
    assert_equal "$(cut -f1,11,12 <<<"$output")" "pinned	0	00000000000009a6"
}

@test "the pinned plugin as built exports only ctk_plugin" {
    assert_file_exists "$PINNED_SO"
    assert_equal "$(nm -D --defined-only "$PINNED_SO" | awk '{ print $3 }')" ctk_plugin
}

@test "libctk.so exports only ctk_ symbols, none of them ctk__ internals" {
    local lib="$CTK_BUILDDIR/libshared/.libs/libctk.so"
    assert_file_exists "$lib"
    run --separate-stderr bash -c 'nm -D --defined-only "$1" | awk "{ print \$3 }"' _ "$lib"
    assert_success
    ((${#lines[@]} > 20)) || fail "too few exports: $output"
    refute_line --regexp '^([^c]|c[^t]|ct[^k]|ctk[^_])'
    refute_line --regexp '^ctk__'
    assert_line ctk_register_strategy
    assert_line ctk_register_workload
    assert_line ctk_strerror
}

# The names the installed headers declare with CTK_EXTERN, one a line: the
# preprocessor drops the comments and expands CTK_EXTERN to its attribute.
declared_names() {
    local h
    for h in common pipeline plugin registry store; do
        printf '#include "ctk/%s.h"\n' "$h"
    done | cc -E -P -DCTK_BUILDING_LIBRARY -I"$CTK_SRCDIR/libshared/include" $(pkg-config --cflags libuv) -x c - |
        tr '\n' ' ' | sed 's/;/;\n/g' | grep 'visibility("default")' |
        sed -E 's/__attribute__ *\(\(visibility\("default"\)\)\)//; s/\(.*//; s/.*[ *]([a-z_0-9]+) *$/\1/' |
        grep '^ctk' | sort -u
}

@test "libctk.so exports exactly what the installed headers declare, both ways" {
    local lib="$CTK_BUILDDIR/libshared/.libs/libctk.so"
    assert_file_exists "$lib"
    nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBR]$/ { print $3 }' | sort -u >"$BATS_TEST_TMPDIR/exported"
    declared_names >"$BATS_TEST_TMPDIR/declared"
    (($(wc -l <"$BATS_TEST_TMPDIR/declared") > 40)) || fail "the header scan found too few names"
    run diff "$BATS_TEST_TMPDIR/exported" "$BATS_TEST_TMPDIR/declared"
    assert_success
    assert_output ""
}

@test "libctk.so calls nothing that prints, exits or signals its caller: tools own those" {
    local lib="$CTK_BUILDDIR/libshared/.libs/libctk.so"
    run --separate-stderr bash -c 'nm -D --undefined-only "$1" | awk "{ print \$2 }" | sed "s/@.*//"' _ "$lib"
    assert_success
    ((${#lines[@]} > 20)) || fail "too few imports: $output"
    local banned
    # _exit stays allowed: a forked worker of the process strategy ends with it.
    for banned in printf vprintf fprintf vfprintf puts fputs fputc putchar fwrite perror \
        stdout stderr exit abort raise daemon setsid syslog g_print g_printerr g_error \
        g_warning g_log; do
        refute_line "$banned"
    done
    # kill() only ever reaches the library's own worker processes.
    run grep -n 'kill(\(0\|getpid()\)' "$CTK_SRCDIR"/libshared/*.c
    assert_failure 1
}

@test "libctk.so links neither libcurl nor SQLite: only cfetch and cqueue do" {
    run --separate-stderr bash -c 'objdump -p "$1" | grep NEEDED' _ "$CTK_BUILDDIR/libshared/.libs/libctk.so"
    assert_success
    refute_output --partial libcurl
    refute_output --partial libsqlite3
    run --separate-stderr bash -c 'objdump -p "$1/tools/cpar/.libs/cpar" 2>/dev/null || objdump -p "$1/tools/cpar/cpar"' _ "$CTK_BUILDDIR"
    assert_output --partial libctk.so
    refute_output --partial libcurl
}

# file_cycles OBJ...: the loops among the files whose objects are given, as
# tsort reports them: an edge from the file that defines a symbol to each
# file that uses it. Nothing when the files form layers.
file_cycles() {
    local o n s
    declare -A def
    for o in "$@"; do
        n=$(basename "$o" .o)
        n=${n#*_la-}
        while read -r s; do def[$s]=$n; done < <(nm --defined-only "$o" | awk '$2 ~ /[TDBR]/ { print $3 }')
    done
    for o in "$@"; do
        n=$(basename "$o" .o)
        n=${n#*_la-}
        for s in $(nm --undefined-only "$o" | awk '{ print $2 }'); do
            [[ -n ${def[$s]:-} && ${def[$s]} != "$n" ]] && echo "${def[$s]} $n"
        done
    done | sort -u | tsort 2>&1 >/dev/null
}

@test "no import cycles: the files of libctk, ctkx and each tool call each other in layers" {
    local core=("$CTK_BUILDDIR"/libshared/.libs/*.o) ctkx=("$CTK_BUILDDIR"/libshared/ctkx/.libs/*.o)
    ((${#core[@]} > 8 && ${#ctkx[@]} > 8)) || fail "objects not found under $CTK_BUILDDIR/libshared"
    run file_cycles "${core[@]}" "${ctkx[@]}"
    assert_output ""
    local tool objs
    for tool in cburn cpar cfetch cpipe cqueue; do
        objs=("$CTK_BUILDDIR/tools/$tool"/.libs/*.o "$CTK_BUILDDIR/tools/$tool/$tool"-main.o)
        ((${#objs[@]} > 2)) || fail "objects of $tool not found"
        run file_cycles "${objs[@]}" "${core[@]}" "${ctkx[@]}"
        [[ -z $output ]] || fail "$tool: $output"
    done
}

# ---- make install ----------------------------------------------------------------

@test "make install puts exactly the public pieces under the prefix" {
    assert_file_executable "$INST/bin/cburn"
    assert_file_exists "$INST/lib/libctk.so"
    assert_file_exists "$INST/lib/libctk.so.1"
    assert_file_exists "$INST/lib/pkgconfig/ctk.pc"
    assert_file_exists "$INST/lib/ctk/plugins/pinned.so"
    assert_equal "$(cd "$INST/include" && find . -type f | sort | tr '\n' ' ')" \
        "./ctk/common.h ./ctk/pipeline.h ./ctk/plugin.h ./ctk/registry.h ./ctk/store.h "
    local man
    for man in man1/cburn.1 man7/ctk.7 man7/ctk-plugin.7; do
        [[ -n $(find "$INST" -path "*/man/$man" -type f) ]] || fail "no $man under $INST"
    done
    # Nothing outside the prefix.
    run bash -c 'cd "$1" && find . -type f | grep -v "^.${2}/"' _ "$DESTROOT" "$PREFIX"
    assert_output ""
}

@test "the installed ctk.pc points into the prefix and names the plugin directory" {
    local pc="$INST/lib/pkgconfig/ctk.pc"
    run --separate-stderr env PKG_CONFIG_PATH="$INST/lib/pkgconfig" pkg-config --variable=prefix ctk
    assert_success
    assert_output "$PREFIX"
    run --separate-stderr env PKG_CONFIG_PATH="$INST/lib/pkgconfig" pkg-config --variable=plugindir ctk
    assert_success
    assert_output "$PREFIX/lib/ctk/plugins"
    run --separate-stderr installed_flags
    assert_success
    assert_output --partial "-I$INST/include"
    assert_output --partial "-L$INST/lib"
    refute_output --partial "$CTK_SRCDIR"
    run grep -F "$CTK_BUILDDIR/" "$pc"
    assert_failure 1
}

@test "the installed cburn runs with the installed libctk and pinned plugin" {
    run --separate-stderr installed_cburn --version
    assert_success
    assert_output --regexp '^cburn \(ctk\) [0-9]'
    run --separate-stderr installed_cburn -s pinned --cpu-list 0 -t 2 -n 10 --format tsv
    assert_success
    assert_equal "$(cut -f1,11,12 <<<"$output")" "pinned	0	00000000000009a6"
    run --separate-stderr bash -c 'LD_LIBRARY_PATH="$1/lib" ldd "$1/bin/cburn" | grep libctk' _ "$INST"
    assert_output --partial "$INST/lib/libctk.so.1"
}

@test "a plugin builds against the installed tree with one cc line and loads" {
    local dir="$BATS_TEST_TMPDIR/plugins"
    mkdir -p "$dir"
    run --separate-stderr bash -c 'cc -shared -fPIC -o "$1/solo.so" "$2" $(
            PKG_CONFIG_PATH="$3/lib/pkgconfig" pkg-config --define-variable=prefix="$3" --cflags --libs ctk)' \
        _ "$dir" "$CTK_SRCDIR/tests/fixtures/solo.c" "$INST"
    [[ $status -eq 0 ]] || fail "cc failed: $stderr"
    PLUGIN_DIR=$dir run --separate-stderr installed_cburn -s solo -t 2 -n 10 --format tsv
    assert_success
    assert_equal "$(cut -f1,11,12 <<<"$output")" "solo	0	00000000000009a6"
    run --separate-stderr installed_cburn --plugin "$dir/solo.so" --compare=sync,solo -t 2 -n 10 --format tsv
    assert_success
    assert_equal "$(cut -f12 <<<"$output" | sort -u)" 00000000000009a6
}

@test "the pinned plugin builds against the installed tree with one cc line and loads" {
    local dir="$BATS_TEST_TMPDIR/plugins"
    mkdir -p "$dir"
    run --separate-stderr bash -c 'cc -shared -fPIC -o "$1/pinned.so" "$2" $(
            PKG_CONFIG_PATH="$3/lib/pkgconfig" pkg-config --define-variable=prefix="$3" --cflags --libs ctk)' \
        _ "$dir" "$CTK_SRCDIR/plugins/pinned/pinned.c" "$INST"
    [[ $status -eq 0 ]] || fail "cc failed: $stderr"
    PLUGIN_DIR=$dir run --separate-stderr installed_cburn -s pinned --cpu-list 0 -t 2 -n 10 --format tsv
    assert_success
    assert_equal "$(cut -f1,12 <<<"$output")" "pinned	00000000000009a6"
}

@test "the installed plugin header compiles on its own, in C and C++" {
    local uv
    uv=$(pkg-config --cflags libuv)
    run --separate-stderr bash -c 'printf "#include <ctk/plugin.h>\nint main(void) { return CTK_PLUGIN_ABI - 1; }\n" |
        cc -Wall -Wextra -Werror -fsyntax-only -I"$1/include" $2 -x c -' _ "$INST" "$uv"
    assert_success
    assert_equal "$stderr" ""
    if command -v c++ >/dev/null; then
        run --separate-stderr bash -c 'printf "#include <ctk/plugin.h>\nint main() { return CTK_PLUGIN_ABI - 1; }\n" |
            c++ -Wall -Werror -fsyntax-only -I"$1/include" $2 -x c++ -' _ "$INST" "$uv"
        assert_success
    fi
}

@test "the installed libctk.so exports only ctk_ symbols" {
    run --separate-stderr bash -c 'nm -D --defined-only "$1/lib/libctk.so" | awk "{ print \$3 }"' _ "$INST"
    assert_success
    ((${#lines[@]} > 20)) || fail "too few exports: $output"
    refute_line --regexp '^([^c]|c[^t]|ct[^k]|ctk[^_])'
    refute_line --regexp '^ctk__'
}
