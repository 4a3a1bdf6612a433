#!/usr/bin/env bats
# version.bats: every tool's --version, as GNU tools print it: the tool and
# ctk's version, the running libctk's version and plugin ABI, the licence,
# where to report bugs; one shared function, so the same text in all five.

load helpers

TOOLS=(cburn cpar cfetch cpipe cqueue)

# The values the build was configured with, read from the sources.
want_version() { sed -n 's/^AC_INIT(\[ctk\], *\[\([^]]*\)\].*/\1/p' "$CTK_SRCDIR/configure.ac"; }
want_abi() { sed -n 's/^#define CTK_PLUGIN_ABI \([0-9]*\)$/\1/p' "$CTK_SRCDIR/libshared/include/ctk/plugin.h"; }
want_license() { sed -n 's/^CTK_LICENSE="\(.*\)"$/\1/p' "$CTK_SRCDIR/configure.ac"; }

@test "every tool's --version names the tool, ctk's version, libctk's version and the plugin ABI" {
    local v abi t
    v=$(want_version)
    abi=$(want_abi)
    [[ -n $v && -n $abi ]] || fail "no version or ABI found in the sources"
    for t in "${TOOLS[@]}"; do
        run --separate-stderr timeout 10 "$t" --version
        assert_success
        assert_equal "$stderr" ""
        assert_equal "${lines[0]}" "$t (ctk) $v"
        assert_equal "${lines[1]}" "libctk $v, plugin ABI $abi"
    done
}

@test "every tool's --version states the licence, the warranty and where to report bugs" {
    local lic t
    lic=$(want_license)
    [[ -n $lic ]] || fail "no CTK_LICENSE in configure.ac"
    for t in "${TOOLS[@]}"; do
        run --separate-stderr timeout 10 "$t" --version
        assert_success
        assert_line "License $lic"
        assert_line --regexp '^Copyright \(C\) [0-9]{4} '
        assert_line 'There is NO WARRANTY, to the extent permitted by law.'
        assert_line --regexp '^Report bugs to <[^@ ]+@[^> ]+>\.$'
    done
}

@test "-V is --version, and all five print the same text but for the tool's name" {
    local t first="" body
    for t in "${TOOLS[@]}"; do
        run --separate-stderr timeout 10 "$t" -V
        assert_success
        assert_equal "${lines[0]%% *}" "$t"
        body=$(sed 1d <<<"$output")
        [[ -n $first ]] || first=$body
        assert_equal "$body" "$first"
    done
}

@test "--version reports the libctk the tool runs with, not only the one it was built with" {
    # A stand-in libctk.so.1 that answers another version: preloaded, its
    # ctk_version is the one the dynamic linker binds.
    local so="$BATS_TEST_TMPDIR/fakever.so"
    printf 'const char *ctk_version(void) { return "9.8.7"; }\n' |
        cc -shared -fPIC -o "$so" -x c - || fail "cc failed"
    # Under ASan the preload must not be refused for coming before libasan.
    run --separate-stderr env LD_PRELOAD="$so" ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
        timeout 10 cpar --version
    assert_success
    assert_equal "${lines[1]}" "libctk 9.8.7 (built with $(want_version)), plugin ABI $(want_abi)"
}

@test "--version ignores the other options and operands: it answers and exits 0" {
    run --separate-stderr timeout 10 cqueue --version
    assert_success
    assert_equal "${lines[0]}" "cqueue (ctk) $(want_version)"
    run --separate-stderr timeout 10 cpar --version -j 3 echo ::: a
    assert_success
    assert_equal "${lines[0]}" "cpar (ctk) $(want_version)"
    refute_line a
}
