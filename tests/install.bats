#!/usr/bin/env bats
# install.bats: what `make install` gives a user outside a package: a
# plugin built with `pkg-config --libs ctk` that loads without
# LD_LIBRARY_PATH whatever the prefix (an rpath where the dynamic linker
# does not search, ldconfig where it does), man pages that name the
# configured paths, and `man -k ctk` finding every page after mandb.
#
# A real --prefix is needed (DESTDIR installs keep the configured paths),
# so setup_file configures a copy of the tree with --prefix in a temporary
# folder and installs libctk, the pinned plugin, the headers, ctk.pc and
# the man pages there: no tool is built, which keeps this file quick.

load helpers

setup_file() {
    is_git_checkout || { export FILE_SKIP="the source tree is not a git checkout (the copy takes git's file list)"; return 0; }
    TREE="$BATS_FILE_TMPDIR/tree"
    PFX="$BATS_FILE_TMPDIR/prefix"
    export TREE PFX
    mkdir -p "$TREE"
    # The working tree as it is, uncommitted edits and new files included.
    (cd "$CTK_SRCDIR" && git ls-files -co --exclude-standard -z | xargs -0 tar -cf - --no-recursion) |
        tar -xf - -C "$TREE"
    local log="$BATS_FILE_TMPDIR/build.log"
    (
        cd "$TREE" &&
            env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL sh -c '
            autoreconf -fi && ./configure --prefix="$1" &&
            make -j2 libshared/libctk.la plugins/pinned/pinned.la &&
            make install-libLTLIBRARIES && make install-data' _ "$PFX"
    ) >"$log" 2>&1 || {
        tail -n 40 "$log" >&2
        return 1
    }
}

# bats 1.8 takes no skip in setup_file: it leaves the reason for each test.
setup() {
    [[ -z ${FILE_SKIP:-} ]] || skip "$FILE_SKIP"
}

@test "configure decides the rpath: ctk.pc adds -Wl,-rpath,\${libdir} for a prefix outside the linker's path" {
    run --separate-stderr env PKG_CONFIG_PATH="$PFX/lib/pkgconfig" pkg-config --libs ctk
    assert_success
    assert_output --partial "-Wl,-rpath,$PFX/lib"
    assert_output --partial "-L$PFX/lib"
}

@test "the default prefix needs no rpath where ldconfig searches /usr/local/lib" {
    grep -qsx '/usr/local/lib' /etc/ld.so.conf /etc/ld.so.conf.d/*.conf ||
        skip "/usr/local/lib is not in ld.so.conf here"
    local pc="$CTK_BUILDDIR/ctk.pc"
    [[ $(sed -n 's/^libdir=//p' "$pc") == '${exec_prefix}/lib' && $(sed -n 's/^prefix=//p' "$pc") == /usr/local ]] ||
        skip "the build tree is not configured for /usr/local"
    run grep '^Libs:' "$pc"
    refute_output --partial rpath
}

# dlopen_ok SO: 0 when SO and what it needs load with a clean environment.
dlopen_ok() {
    local prog="$BATS_FILE_TMPDIR/dlopen"
    [[ -x $prog ]] || printf '%s\n' '#include <dlfcn.h>' '#include <stdio.h>' \
        'int main(int c, char **v) { (void)c; if (!dlopen(v[1], RTLD_NOW)) { puts(dlerror()); return 1; } return 0; }' |
        cc -o "$prog" -x c - -ldl || return 2
    env -u LD_LIBRARY_PATH -u LD_PRELOAD "$prog" "$1"
}

@test "a plugin built as ctk-plugin(7) says, against a temp --prefix, loads without LD_LIBRARY_PATH" {
    local so="$BATS_TEST_TMPDIR/solo.so"
    run --separate-stderr bash -c 'cc -shared -fPIC -o "$1" "$2" $(PKG_CONFIG_PATH="$3/lib/pkgconfig" pkg-config --cflags --libs ctk)' \
        _ "$so" "$CTK_SRCDIR/tests/fixtures/solo.c" "$PFX"
    [[ $status -eq 0 ]] || fail "cc failed: $stderr"
    run env -u LD_LIBRARY_PATH ldd "$so"
    assert_success
    assert_line --regexp "libctk\.so\.1 => $PFX/lib/libctk\.so\.1 "
    run dlopen_ok "$so"
    assert_success
    assert_output ""
}

@test "the installed pinned plugin loads without LD_LIBRARY_PATH too" {
    local so="$PFX/lib/ctk/plugins/pinned.so"
    assert_file_exists "$so"
    run env -u LD_LIBRARY_PATH ldd "$so"
    assert_line --regexp "libctk\.so\.1 => $PFX/lib/libctk\.so\.1 "
    run dlopen_ok "$so"
    assert_success
}

@test "the installed man pages name the configured paths, not /usr/local, and the version" {
    local page v
    v=$(sed -n 's/^AC_INIT(\[ctk\], *\[\([^]]*\)\].*/\1/p' "$CTK_SRCDIR/configure.ac")
    for page in man1/cburn.1 man1/cpar.1 man1/cfetch.1 man1/cpipe.1 man1/cqueue.1 man7/ctk.7 man7/ctk-plugin.7; do
        assert_file_exists "$PFX/share/man/$page"
        run grep -n '/usr/local' "$PFX/share/man/$page"
        assert_failure 1
        run grep -c '^\.TH .*"ctk '"$v"'"' "$PFX/share/man/$page"
        assert_output 1
    done
    run grep -c -F "$PFX/lib/ctk/plugins" "$PFX/share/man/man7/ctk-plugin.7"
    ((output >= 2)) || fail "the plugin directory appears $output times in ctk-plugin.7"
    run grep -F "$PFX/include/ctk/plugin.h" "$PFX/share/man/man7/ctk-plugin.7"
    assert_success
    run grep -F "$PFX/lib/ctk/plugins" "$PFX/share/man/man1/cburn.1"
    assert_success
}

@test "every man page has AUTHOR, REPORTING BUGS, COPYRIGHT and SEE ALSO, in that order" {
    local page
    for page in "$CTK_SRCDIR"/man/*.[17]; do
        run bash -c 'grep -E "^\.SH \"?(AUTHOR|REPORTING BUGS|COPYRIGHT|SEE ALSO)\"?$" "$1" | sed "s/^.SH //; s/\"//g"' _ "$page"
        assert_equal "$output" "$(printf 'AUTHOR\nREPORTING BUGS\nCOPYRIGHT\nSEE ALSO')"
    done
}

@test "man -k ctk finds every installed page after mandb" {
    command -v mandb >/dev/null && command -v apropos >/dev/null || skip "man-db is not installed"
    local mp="$BATS_TEST_TMPDIR/man"
    cp -r "$PFX/share/man" "$mp"
    run mandb -q "$mp"
    assert_success
    run env MANPATH="$mp" apropos ctk
    assert_success
    local page
    for page in cburn:1 cpar:1 cfetch:1 cpipe:1 cqueue:1 ctk:7 ctk-plugin:7; do
        assert_line --regexp "^${page%:*} \(${page#*:}\) +- "
    done
}
