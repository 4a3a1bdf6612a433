#!/usr/bin/env bats
# completion.bats: the shell completions in completions/, generated at
# build time from each tool's option table (the hidden --dump-options).
# The table is checked against --help (an independent listing); the
# generated files against a fresh generation; the bash completion by
# driving its function with COMP_WORDS/COMP_CWORD as bash does on TAB;
# fish by its own `complete -C`; zsh by its completion system run in a
# pseudo-terminal (tests/zsh-complete.zsh). fish and zsh tests skip when
# the shell is not installed.

load helpers

TOOLS=(cburn cpar cfetch cpipe cqueue)

setup_file() {
    export COMPDIR="$CTK_BUILDDIR/completions"
    export CQUEUE_DB="$BATS_FILE_TMPDIR/queue.db"
}

# scope_options TOOL: "SCOPE SHORT LONG" per option of TOOL's table,
# SCOPE being cqueue's command, "." at the top; SHORT "." for none.
scope_options() {
    "$1" --dump-options | awk -F'\t' '
        BEGIN { scope = "." }
        $1 == "command" { scope = $2 }
        $1 == "option" { print scope, ($2 == "-" ? "." : $2), $3 }'
}

# bash_complete TOOL WORD...: COMPREPLY, one per line, for the command
# line TOOL WORD... with the cursor at the end of the last word.
bash_complete() {
    local tool=$1
    shift
    bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
        COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
        fn=$(complete -p "$1" | awk "{print \$3}"); $fn
        ((${#COMPREPLY[@]} == 0)) || printf "%s\n" "${COMPREPLY[@]}"' \
        _ "$COMPDIR/$tool.bash" "$tool" "$@"
}

# first_words CMD...: the first word of each line of CMD's output, sorted.
first_words() {
    "$@" | awk '{print $1}' | sort
}

@test "--dump-options is hidden from --help and lists every option --help lists" {
    local tool o
    for tool in "${TOOLS[@]}"; do
        # no plugin: their options are not in the built table
        CTK_PLUGIN_PATH=/nonexistent run --separate-stderr "$tool" --help
        assert_success
        refute_output --partial dump-options
        local table
        table=$("$tool" --dump-options | awk -F'\t' '$1 == "option" {print $3}')
        for o in $(grep -oE '^ +(-[a-zA-Z0-9], )?--[a-z][a-z0-9-]*' <<<"$output" | sed 's/.*--//'); do
            grep -qx -- "$o" <<<"$table" || fail "$tool: --$o is in --help, not in the table"
        done
    done
    # cqueue's commands have their own tables.
    run --separate-stderr cqueue ls --help
    table=$(cqueue --dump-options | awk -F'\t' '$1 == "command" {s = $2} s == "ls" && $1 == "option" {print $3}')
    grep -qx state <<<"$table" || fail "cqueue ls: --state not in its table"
}

@test "the installed completions are what the tables generate now" {
    local paths=() tool f
    for tool in "${TOOLS[@]}"; do paths+=("$CTK_BUILDDIR/tools/$tool/$tool"); done
    run "$CTK_SRCDIR/completions/gen-completions.sh" "$BATS_TEST_TMPDIR/gen" "${paths[@]}"
    assert_success
    for tool in "${TOOLS[@]}"; do
        for f in "$tool.bash" "_$tool" "$tool.fish"; do
            assert_file_exists "$COMPDIR/$f"
            diff -u "$COMPDIR/$f" "$BATS_TEST_TMPDIR/gen/$f" || fail "$f differs from its table"
        done
    done
}

@test "make install puts them where bash-completion, zsh and fish look" {
    local dest="$BATS_TEST_TMPDIR/root" prefix tool
    prefix=$(sed -n 's/^prefix = //p' "$CTK_BUILDDIR/Makefile")
    run make -s -C "$CTK_BUILDDIR" DESTDIR="$dest" install-bashcompletionDATA \
        install-zshcompletionDATA install-fishcompletionDATA
    assert_success
    for tool in "${TOOLS[@]}"; do
        assert_file_exists "$dest$prefix/share/bash-completion/completions/$tool.bash"
        assert_file_exists "$dest$prefix/share/zsh/vendor-completions/_$tool"
        assert_file_exists "$dest$prefix/share/fish/vendor_completions.d/$tool.fish"
    done
    # nothing else, nowhere else
    assert_equal "$(cd "$dest" && find . -type f | wc -l)" 15
}

@test "bash: every option of every table completes, long and short" {
    local tool scope short long missing=() got
    for tool in "${TOOLS[@]}"; do
        bash -n "$COMPDIR/$tool.bash" || fail "$tool.bash: syntax"
        while read -r scope short long; do
            local at=()
            [[ $scope != . ]] && at=("$scope")
            got=$(bash_complete "$tool" "${at[@]}" "--${long%?}")
            grep -qx -- "--$long" <<<"$got" || missing+=("$tool $scope --$long")
            if [[ $short != . ]]; then
                got=$(bash_complete "$tool" "${at[@]}" "-")
                grep -qx -- "-$short" <<<"$got" || missing+=("$tool $scope -$short")
            fi
        done < <(scope_options "$tool")
    done
    ((${#missing[@]} == 0)) || fail "do not complete: ${missing[*]}"
}

@test "bash: -s, --strategy= and --compare= complete the strategies, a plugin's included" {
    local want
    want=$(first_words cburn --list-strategies)
    [[ $want == *pinned* ]] || fail "pinned is not in the plugin path: $want"
    run bash_complete cburn -s ""
    assert_success
    assert_equal "$(sort <<<"$output")" "$want"
    run bash_complete cpar --strategy=pi
    assert_output "--strategy=pinned"
    # readline splits at '=': "--compare" "=" "sync,p"
    run bash_complete cpipe --compare = sync,p
    assert_equal "$(sort <<<"$output")" "$(printf 'sync,pinned\nsync,process')"
    # a --plugin on the line counts, as the tool would load it
    local solo
    solo=$(fixture_plugin solo)
    CTK_PLUGIN_PATH=/nonexistent run bash_complete cburn --plugin "$solo" -s so
    assert_output "solo"
    CTK_PLUGIN_PATH=/nonexistent run bash_complete cburn -s so
    assert_output ""
}

@test "bash: values: workloads, formats, files; no options after cpar's command" {
    run bash_complete cburn -w ""
    assert_equal "$(sort <<<"$output")" "$(first_words cburn --list-workloads)"
    run bash_complete cfetch --format ""
    assert_equal "$(sort <<<"$output")" "$(printf 'json\ntable\ntsv')"
    touch "$BATS_TEST_TMPDIR/plugfile.so"
    run bash_complete cburn --plugin "$BATS_TEST_TMPDIR/plugf"
    assert_output "$BATS_TEST_TMPDIR/plugfile.so"
    # cpar's options end at the command: "--" there is the command's
    run bash_complete cpar -j 2 echo --
    assert_output ""
    run bash_complete cpar -j 2 --
    assert_line -- --jobs
}

@test "bash: cqueue completes its commands, and job ids of the queue named on the line" {
    run bash_complete cqueue ""
    assert_equal "$output" "$(cqueue --dump-options | awk -F'\t' '$1 == "command" {print $2}')"
    run bash_complete cqueue -q default s
    assert_equal "$(sort <<<"$output")" "$(printf 'show\nstats\nstop')"
    local a b c other="$BATS_TEST_TMPDIR/other.db"
    a=$(cqueue add true) b=$(cqueue add --name two true) c=$(cqueue --db "$other" add true)
    run bash_complete cqueue show ""
    assert_equal "$(sort -n <<<"$output")" "$(printf '%s\n' "$a" "$b")"
    run bash_complete cqueue --db "$other" kill ""
    assert_output "$c"
    run bash_complete cqueue --db="$other" cat ""
    assert_output "$c"
    run bash_complete cqueue -q elsewhere rm ""
    assert_output ""
    # --after takes a list of ids
    run bash_complete cqueue add --after "$a,"
    assert_equal "$(sort -n <<<"$output")" "$(printf '%s\n' "$a,$a" "$a,$b")"
    run bash_complete cqueue kill --signal K
    assert_output "KILL"
}

@test "fish: every option completes; strategies (plugin too) and job ids" {
    command -v fish >/dev/null || skip "fish is not installed (apt-get install fish)"
    local tool scope short long script="" missing
    for tool in "${TOOLS[@]}"; do
        fish -n "$COMPDIR/$tool.fish" || fail "$tool.fish: syntax"
        script+="source $COMPDIR/$tool.fish;"
        while read -r scope short long; do
            [[ $scope == . ]] && scope=
            script+="complete -C'$tool $scope --${long%?}' | string match -q -r -- '^--$long(\t|\$)'; or echo '$tool $scope --$long';"
        done < <(scope_options "$tool")
    done
    missing=$(fish -c "$script")
    assert_equal "$missing" ""
    run fish -c "source $COMPDIR/cburn.fish; complete -C'cburn -s ' | string replace -r '\t.*' ''"
    assert_equal "$(sort <<<"$output")" "$(first_words cburn --list-strategies)"
    local id
    id=$(cqueue add true)
    run fish -c "source $COMPDIR/cqueue.fish; complete -C'cqueue show ' | string replace -r '\t.*' ''"
    assert_line "$id"
}

# zsh_complete LINE: the matches zsh's completion system offers for LINE,
# one per line (tests/zsh-complete.zsh drives an interactive zsh in a pty).
zsh_complete() {
    timeout -k 5 60 zsh "$CTK_SRCDIR/tests/zsh-complete.zsh" "$COMPDIR" "$1" |
        tr -d '\r\0' | grep -av -e '^$' -e $'\e'
}

zsh_or_skip() {
    command -v zsh >/dev/null || skip "zsh is not installed (apt-get install zsh)"
    zsh -fc 'zmodload zsh/zpty' 2>/dev/null || skip "zsh has no zsh/zpty module"
}

@test "zsh: every option of every table completes, by zsh's own completion system" {
    zsh_or_skip
    local tool scope short long missing=() got="" cmdline="" last=""
    for tool in "${TOOLS[@]}"; do
        zsh -n "$COMPDIR/_$tool" || fail "_$tool: syntax"
        head -n 1 "$COMPDIR/_$tool" | grep -qx "#compdef $tool" || fail "_$tool: no #compdef"
        while read -r scope short long; do
            cmdline=$tool
            [[ $scope != . ]] && cmdline="$tool $scope"
            # one TAB per scope: "-" offers every option, short and long
            [[ $cmdline == "$last" ]] || got=$(zsh_complete "$cmdline -") last=$cmdline
            grep -qx -- "--$long" <<<"$got" || missing+=("$cmdline --$long")
            [[ $short == . ]] || grep -qx -- "-$short" <<<"$got" || missing+=("$cmdline -$short")
        done < <(scope_options "$tool")
    done
    ((${#missing[@]} == 0)) || fail "do not complete: ${missing[*]}"
}

@test "zsh: strategies (a plugin's too), workloads, cqueue commands and job ids" {
    zsh_or_skip
    run zsh_complete "cburn -s "
    assert_equal "$(sort <<<"$output")" "$(first_words cburn --list-strategies)"
    assert_line pinned
    run zsh_complete "cpipe --compare=sync,"
    assert_equal "$(sort <<<"$output")" "$(first_words cburn --list-strategies)"
    run zsh_complete "cburn -w "
    assert_equal "$(sort <<<"$output")" "$(first_words cburn --list-workloads)"
    run zsh_complete "cqueue "
    assert_equal "$output" "$(cqueue --dump-options | awk -F'\t' '$1 == "command" {print $2}')"
    local id other="$BATS_TEST_TMPDIR/other.db" mine
    id=$(cqueue add true)
    mine=$(cqueue --db "$other" add true && cqueue --db "$other" add true)
    run zsh_complete "cqueue show "
    assert_line "$id"
    run zsh_complete "cqueue --db $other kill "
    assert_equal "$(sort -n <<<"$output")" "$mine"
}
