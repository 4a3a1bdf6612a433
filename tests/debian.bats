#!/usr/bin/env bats
# debian.bats: `dpkg-buildpackage -us -uc -b` on a copy of the tree builds
# ctk, libctk1, libctk-dev and the optional plugins' packages; each holds
# what it should, with the right Depends; every file `make install` makes
# lands in one package; lintian finds no error; and the tools run from
# the packages' files (extracted with dpkg-deb -x into a temporary root,
# never installed: the test machine is left as it was).
#
# The build takes one CPU-minute (no test suite, no dbgsym packages: nocheck,
# noautodbgsym), a few minutes of wall time on a loaded machine.
# CTK_SKIP_DEBIAN=1 skips this file.

load helpers

setup_file() {
    [[ -z ${CTK_IN_PACKAGE_BUILD:-} ]] || { export FILE_SKIP="inside a package build (debian/rules runs the tests)"; return 0; }
    [[ -z ${CTK_SKIP_DEBIAN:-} ]] || { export FILE_SKIP="CTK_SKIP_DEBIAN is set"; return 0; }
    command -v dpkg-buildpackage >/dev/null || { export FILE_SKIP="dpkg-buildpackage is not installed (apt-get install dpkg-dev debhelper)"; return 0; }
    command -v dh >/dev/null || { export FILE_SKIP="debhelper is not installed"; return 0; }
    is_git_checkout || { export FILE_SKIP="the source tree is not a git checkout (the copy takes git's file list)"; return 0; }
    OUT="$BATS_FILE_TMPDIR/out"
    SRC="$OUT/ctk"
    ROOT="$BATS_FILE_TMPDIR/root"
    export OUT SRC ROOT
    mkdir -p "$SRC" "$ROOT"
    # The working tree as it is, uncommitted edits and new files included.
    (cd "$CTK_SRCDIR" && git ls-files -co --exclude-standard -z | xargs -0 tar -cf - --no-recursion) |
        tar -xf - -C "$SRC"
    # An optional plugin's package is built when its source and its build
    # dependency are here; otherwise its build profile leaves it out.
    PROFILES=nocheck
    [[ -d $SRC/plugins/mpi ]] && pkg-config --exists ompi-c || PROFILES+=,pkg.ctk.nompi
    [[ -d $SRC/plugins/store-postgres ]] && pkg-config --exists libpq || PROFILES+=,pkg.ctk.nopostgres
    export PROFILES
    local start=$SECONDS
    (cd "$SRC" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL DEB_BUILD_OPTIONS="nocheck noautodbgsym parallel=2" \
        timeout 900 dpkg-buildpackage -us -uc -b --build-profiles="$PROFILES") >"$OUT/build.log" 2>&1 || {
        tail -n 40 "$OUT/build.log" >&2
        return 1
    }
    echo "# dpkg-buildpackage took $((SECONDS - start)) s (profiles $PROFILES)" >&3
    local deb
    for deb in "$OUT"/*.deb; do
        dpkg-deb -x "$deb" "$ROOT"
    done
    MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
    VERSION=$(sed -n 's/^AC_INIT(\[ctk\], *\[\([^]]*\)\].*/\1/p' "$CTK_SRCDIR/configure.ac")
    export MA VERSION
}

# bats 1.8 takes no skip in setup_file: it leaves the reason for each test.
setup() {
    [[ -z ${FILE_SKIP:-} ]] || skip "$FILE_SKIP"
}

# contents PACKAGE: the paths in PACKAGE's .deb, one a line, without "./".
contents() {
    local deb
    deb=$(ls "$OUT/$1"_*.deb) || return 1
    dpkg-deb --contents "$deb" | awk '{ print $6 }' | sed 's|^\./|/|; s|/$||'
}

built_packages() {
    ls "$OUT"/*.deb | sed 's|.*/||; s|_.*||' | grep -v -- '-dbgsym$' | sort
}

@test "the packages named in debian/control are built, the optional ones unless their profile is on" {
    local want="ctk libctk-dev libctk1"
    [[ $PROFILES == *pkg.ctk.nompi* ]] || want+=" ctk-plugin-mpi"
    [[ $PROFILES == *pkg.ctk.nopostgres* ]] || want+=" ctk-store-postgres"
    assert_equal "$(built_packages | tr '\n' ' ')" "$(tr ' ' '\n' <<<"$want" | sort | tr '\n' ' ')"
}

@test "debian/changelog's version is configure.ac's" {
    run dpkg-parsechangelog -l "$CTK_SRCDIR/debian/changelog" -S Version
    assert_success
    assert_equal "${output%%-*}" "$VERSION"
}

@test "ctk holds the five tools, their man pages and ctk(7)" {
    run contents ctk
    assert_success
    local t
    for t in cburn cpar cfetch cpipe cqueue; do
        assert_line "/usr/bin/$t"
        assert_line "/usr/share/man/man1/$t.1.gz"
    done
    assert_line /usr/share/man/man7/ctk.7.gz
    # the front door, and the completions generated from the tables
    assert_line /usr/bin/ctk
    assert_line /usr/share/man/man1/ctk.1.gz
    for t in cburn cpar cfetch cpipe cqueue; do
        assert_line "/usr/share/bash-completion/completions/$t.bash"
        assert_line "/usr/share/zsh/vendor-completions/_$t"
        assert_line "/usr/share/fish/vendor_completions.d/$t.fish"
    done
    refute_line --regexp '/usr/lib/|/usr/include/'
}

@test "libctk1 is named after the soname and holds the library and the pinned plugin" {
    run contents libctk1
    assert_success
    assert_line "/usr/lib/$MA/libctk.so.1"
    assert_line "/usr/lib/$MA/ctk/plugins/pinned.so"
    refute_line --regexp '\.la$|/usr/include/|/usr/bin/'
    run bash -c 'objdump -p "$1" | awk "\$1 == \"SONAME\" { print \$2 }"' _ "$ROOT/usr/lib/$MA/libctk.so.1"
    assert_output libctk.so.1
}

@test "libctk-dev holds the headers, the libctk.so link, ctk.pc and ctk-plugin(7)" {
    run contents libctk-dev
    assert_success
    local h
    for h in common pipeline plugin registry store; do
        assert_line "/usr/include/ctk/$h.h"
    done
    assert_line "/usr/lib/$MA/libctk.so"
    assert_line "/usr/lib/$MA/pkgconfig/ctk.pc"
    assert_line /usr/share/man/man7/ctk-plugin.7.gz
}

@test "every file make install made is in exactly one package" {
    local tmp="$SRC/debian/tmp" f n missing=() twice=()
    [[ -d $tmp ]] || fail "no debian/tmp"
    for p in $(built_packages); do contents "$p"; done | sort >"$BATS_TEST_TMPDIR/packaged"
    while IFS= read -r f; do
        n=$(grep -cxF "$f" "$BATS_TEST_TMPDIR/packaged")
        ((n == 1)) || { ((n == 0)) && missing+=("$f") || twice+=("$f"); }
    done < <(cd "$tmp" && find . \( -type f -o -type l \) | sed 's|^\.||' | sed 's|/usr/share/man/.*|&.gz|; s|\.gz\.gz$|.gz|')
    ((${#missing[@]} == 0)) || fail "in no package: ${missing[*]}"
    ((${#twice[@]} == 0)) || fail "in several packages: ${twice[*]}"
}

@test "Depends: the tools need libctk1, -dev needs the same libctk1, plugins need their engine" {
    run dpkg-deb -f "$(ls "$OUT"/ctk_*.deb)" Depends
    assert_output --regexp '(^|, )libctk1 \(>= '
    run dpkg-deb -f "$(ls "$OUT"/libctk-dev_*.deb)" Depends
    assert_output --regexp "(^|, )libctk1 \(= $VERSION"
    # The plugin stanzas hold even when this machine did not build them.
    run awk -v RS= '/^Package: ctk-plugin-mpi\n/' "$CTK_SRCDIR/debian/control"
    assert_output --regexp 'Depends:[^\n]*openmpi-bin'
    if [[ $PROFILES != *pkg.ctk.nopostgres* ]]; then
        run dpkg-deb -f "$(ls "$OUT"/ctk-store-postgres_*.deb)" Depends
        assert_output --regexp '(^|, )libpq5'
    fi
    if [[ $PROFILES != *pkg.ctk.nompi* ]]; then
        run dpkg-deb -f "$(ls "$OUT"/ctk-plugin-mpi_*.deb)" Depends
        assert_output --regexp '(^|, )openmpi-bin'
    fi
}

@test "each tool runs from the packages' files: --version names libctk from the package" {
    local t
    for t in cburn cpar cfetch cpipe cqueue; do
        run --separate-stderr env LD_LIBRARY_PATH="$ROOT/usr/lib/$MA" timeout 10 "$ROOT/usr/bin/$t" --version
        assert_success
        assert_equal "${lines[0]}" "$t (ctk) $VERSION"
        assert_regex "${lines[1]}" "^libctk $VERSION, plugin ABI [0-9]+$"
        run env LD_LIBRARY_PATH="$ROOT/usr/lib/$MA" ldd "$ROOT/usr/bin/$t"
        assert_line --regexp "libctk\.so\.1 => $ROOT/usr/lib/$MA/libctk\.so\.1 "
    done
    run --separate-stderr env LD_LIBRARY_PATH="$ROOT/usr/lib/$MA" CTK_PLUGIN_PATH="$ROOT/usr/lib/$MA/ctk/plugins" \
        timeout 10 "$ROOT/usr/bin/cburn" --list-strategies
    assert_success
    assert_line --regexp '^pinned[[:space:]]'
}

@test "the packaged man pages name Debian's paths" {
    run bash -c 'zcat "$1"' _ "$ROOT/usr/share/man/man7/ctk-plugin.7.gz"
    assert_success
    assert_output --partial "/usr/lib/$MA/ctk/plugins"
    refute_output --partial /usr/local
}

@test "lintian reports no error on the packages" {
    command -v lintian >/dev/null || skip "lintian is not installed"
    # Root gets a warning on stderr; the tags are on stdout.
    run --separate-stderr timeout 300 lintian --tag-display-limit 0 "$OUT"/ctk_*.changes
    ! grep '^E: ' <<<"$output" || fail "lintian errors (above)"
    [[ $status -eq 0 ]] || fail "lintian exited $status: $stderr"
}
