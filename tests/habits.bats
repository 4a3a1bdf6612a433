#!/usr/bin/env bats
# habits.bats: what users of GNU parallel type, run through cpar and
# through the real GNU parallel (the oracle) with the same arguments and
# input; stdout, the exit status and (where asked) the shape of stderr
# must agree. Where ctk deliberately differs, the test asserts the clear
# error that names the ctk way. (Issue 15, the cpar part.)

# Replacement strings such as {} and {1} are literal words here.
# shellcheck disable=SC1083,SC2016
load helpers

setup() {
    export PARALLEL_HOME="$BATS_TEST_TMPDIR/parallel-home"
    unset PARALLEL
    export SHELL=/bin/sh
}

need_parallel() {
    command -v parallel >/dev/null || skip "GNU parallel is not installed"
    parallel --version 2>/dev/null | grep -q '^GNU parallel' || skip "parallel is not GNU parallel"
}

# same ARGS...: `parallel --will-cite ARGS` and `cpar ARGS`, each in its
# own directory, with $PAR_IN (a file; /dev/null by default) on stdin.
# Fails unless stdout (byte for byte; PAR_SORT=1 sorts first) and the exit
# status agree; PAR_ERR=1 also compares stderr without the tools' own
# "parallel: "/"cpar: " lines; PAR_ERRSHAPE=1 requires both to say
# something on stderr or both nothing.
same() {
    need_parallel
    local in=${PAR_IN:-/dev/null} d=$BATS_TEST_TMPDIR p
    for p in parallel cpar; do
        mkdir -p "$d/$p.d"
        local s=0 cmd=("$p")
        [[ $p == parallel ]] && cmd+=(--will-cite)
        (cd "$d/$p.d" && exec timeout -k 5 "$CTK_TIMEOUT" "${cmd[@]}" "$@") \
            <"$in" >"$d/$p.out" 2>"$d/$p.err" || s=$?
        echo "$s" >"$d/$p.status"
        ((s != 124 && s != 137)) || fail "$p $* timed out"
        [[ -z ${PAR_SORT:-} ]] || LC_ALL=C sort -o "$d/$p.out" "$d/$p.out"
        grep -avE '^(parallel|cpar): ' "$d/$p.err" >"$d/$p.err.jobs" || true
    done
    local why=()
    [[ $(<"$d/parallel.status") == "$(<"$d/cpar.status")" ]] ||
        why+=("exit status: parallel $(<"$d/parallel.status"), cpar $(<"$d/cpar.status")")
    cmp -s "$d/parallel.out" "$d/cpar.out" ||
        why+=("stdout differs (parallel <, cpar >):" "$(diff "$d/parallel.out" "$d/cpar.out" | head -20)")
    if [[ -n ${PAR_ERR:-} ]]; then
        cmp -s "$d/parallel.err.jobs" "$d/cpar.err.jobs" ||
            why+=("stderr differs:" "$(diff "$d/parallel.err.jobs" "$d/cpar.err.jobs" | head -20)")
    fi
    if [[ -n ${PAR_ERRSHAPE:-} ]]; then
        { [[ -s $d/parallel.err && -s $d/cpar.err ]] || [[ ! -s $d/parallel.err && ! -s $d/cpar.err ]]; } ||
            why+=("only one of them wrote to stderr")
    fi
    if ((${#why[@]} > 0)); then
        printf '%s\n' "invocation: $(printf '%q ' "$@")" "${why[@]}" \
            "parallel stderr: $(head -c 600 "$d/parallel.err")" "cpar stderr: $(head -c 600 "$d/cpar.err")" |
            fail
    fi
}

# in_file TEXT: a file holding printf %b TEXT, set as $PAR_IN.
in_file() {
    PAR_IN="$BATS_TEST_TMPDIR/in.$RANDOM$RANDOM"
    printf '%b' "$1" >"$PAR_IN"
}

# ---- wrong results and silent no-ops -----------------------------------------

@test "--header : --colsep names the columns {name}" {
    in_file 'a\tb\n1\t2\n3\t4\n'
    same -k --header : --colsep '\t' echo {a}-{b}
}

@test "--header : without --colsep: the first line names column 1" {
    in_file 'word\nx\ny\n'
    same -k --header : echo {word} {1}
}

@test "--header : with ::: sources: the first value names each source" {
    same -k --header : echo {f}{g} ::: f 1 2 ::: g 3
}

@test "--header takes a value in cpar: the records' header has its own name" {
    run cpar --header
    assert_failure 2
    run cpar --records-header --records - -k true ::: a
    assert_success
    assert_line --index 0 --partial seq
}

@test "--compare with a list given as the next word compares, and fails when rows fail" {
    run cpar --compare sync,thread false ::: 1 2
    assert_failure
    assert_output --partial sync
    assert_output --partial thread
}

# ---- habits that break --------------------------------------------------------

@test "no command: every input line is a command line" {
    in_file 'echo a\necho b c\nexit 3\n'
    same -k
}

@test "no command with -j1 and a ::: source of commands" {
    same -j1 -k ::: 'echo x' 'echo y'
}

@test "-X with two sources" {
    same -j1 -kX echo {1}-{2} ::: a ::: b
}

@test "-m with two sources" {
    same -j1 -km echo {1}-{2} ::: a b ::: c
}

@test "\$PARALLEL_SEQ in jobs" {
    same -k echo '$PARALLEL_SEQ' ::: a b c
}

@test "\$PARALLEL_PID in jobs is cpar's pid" {
    run cpar -k 'echo $PARALLEL_PID' ::: a
    assert_success
    [[ $output =~ ^[0-9]+\ a$ ]] || fail "no pid: $output"
    same -k 'test -n "$PARALLEL_PID" && echo set' ::: a
}

@test "a command line longer than parallel's limit is refused (exit 255)" {
    local long
    long=$(head -c 70000 /dev/zero | tr '\0' x)
    PAR_ERRSHAPE=1 same echo ::: "$long"
}

@test "--replace without a value means {}" {
    same -k --replace echo {} ::: a b
}

@test "-I STR" {
    same -k -I XX echo XX ::: a b
    same -k -IARG echo ARG ::: a b
}

@test "-i means -I {}" {
    same -k -i -j1 echo {} ::: a b
    same -k -i repl echo repl ::: a b
}

@test "--joblog - writes the log on stdout" {
    run cpar --joblog - -j1 -k echo ::: a b
    assert_success
    assert_line --index 0 "$(printf 'Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand')"
    assert_line --index 1 a
    [[ ! -e - ]] || fail "a file named - was written"
}

@test "--tagstring with \\t" {
    same -k --tagstring 'a\tb' echo ::: x y
}

@test "-N2 echo a{}b" {
    same -k -N2 echo a{}b ::: 1 2 3 4
}

@test "-P, --max-procs, --linebuffer, --halt-on-error" {
    same -k -P2 echo ::: a b
    same -k --max-procs 2 echo ::: a b
    same -k --linebuffer echo ::: a b
    same -k --halt-on-error 1 -j1 'echo {}; exit {}' ::: 0 1 0
}

@test "exported bash functions run through the shell" {
    export SHELL=/bin/bash
    myfunc() { echo "func $1"; }
    export -f myfunc
    same -k myfunc ::: a b
}

@test "--env passes a variable" {
    export MYVAR=hello
    same -k --env MYVAR 'echo $MYVAR' ::: a
}

@test "-s N is --max-chars; -s NAME a strategy" {
    same -k -s 20 -X echo ::: aaa bbb ccc ddd eee fff
    run cpar -s sync -k echo ::: a b
    assert_success
    assert_output $'a\nb'
}

# ---- missing options, in the order parallel's test suite uses them ----------

@test "--xapply and --link" {
    same -k --xapply echo ::: a b c ::: 1 2 3
    same -k --link echo {1}{2} ::: a b ::: 1 2
}

@test "-N without a command template" {
    same -k -N3 echo ::: 1 2 3 4 5 6 7
}

@test "-N0 runs the command once per item without it" {
    same -k -N0 echo foo ::: 1 2 3
}

@test "-v prints each command line" {
    same -k -v echo ::: a b
}

@test "--compress gives the same output" {
    same -k --compress echo ::: a b
}

@test "-L and -l: lines per job" {
    in_file 'a\nb\nc\nd\ne\n'
    same -k -L2 echo
    same -k -l2 echo
    same -k -L1 echo
}

@test "-q quotes the command" {
    same -k -q perl -e 'print "@ARGV\n"' ::: a b
}

@test "-E stops at an end-of-file string" {
    in_file 'a\nb\nSTOP\nc\n'
    same -k -E STOP echo
}

@test "-r skips empty lines" {
    in_file 'a\n\n\nb\n'
    same -k -r echo x
}

@test "--files prints the names of output files" {
    run cpar --files -k echo ::: a b
    assert_success
    assert_equal "${#lines[@]}" 2
    assert_equal "$(cat "${lines[0]}")" a
    assert_equal "$(cat "${lines[1]}")" b
    rm -f "${lines[@]}"
}

@test "-t prints the command on stderr" {
    PAR_ERR=1 same -k -t echo ::: a b
}

@test "-e and --eof" {
    in_file 'a\nb\nEND\nc\n'
    same -k -eEND echo
}

@test "--arg-sep and --arg-file-sep" {
    same -k --arg-sep ,, echo ,, a b
    local f="$BATS_TEST_TMPDIR/list"
    printf '1\n2\n' >"$f"
    same -k --arg-file-sep // echo // "$f"
}

@test "--trim and --colsep trimming" {
    in_file ' a , b \n'
    same -k --colsep , echo '[{1}][{2}]'
    same -k --trim n --colsep , echo '[{1}][{2}]'
    same -k --trim l echo '[{}]' ::: '  x  '
    same -k --trim r echo '[{}]' ::: '  x  '
}

@test "options from \$PARALLEL" {
    export PARALLEL="-k --tag"
    same echo ::: a b
}

@test "-j +N and -j -N" {
    PAR_SORT=1 same -j +0 echo ::: a b c
    PAR_SORT=1 same -j -1 echo ::: a b c
}

@test "--will-cite, --no-notice, --nice, --tmpdir, --load, --memfree are accepted" {
    same -k --no-notice echo ::: a
    same -k --nice 10 echo ::: a
    same -k --tmpdir "$BATS_TEST_TMPDIR" echo ::: a
    same -k --load 10000 echo ::: a
    same -k --memfree 1k echo ::: a
}

@test "--shuf runs every job" {
    PAR_SORT=1 same --shuf echo ::: a b c d
}

@test "--tag with several sources" {
    same -k --tag echo ::: a b ::: 1 2
}

@test "--plus, --rpl, --match, --filter: a usage error that says why" {
    run cpar -k --plus echo {+/} ::: dir/a.tar.gz
    assert_failure 2
    assert_output --partial 'not supported'
    run cpar --rpl '{:} s/A/D/' echo {:} ::: A
    assert_failure 2
    assert_output --partial 'Perl'
}

@test "renamed replacement strings: --er, --bnr, --dnr, --bner" {
    same -k --er FOO echo FOO ::: /a/b.c a/b.c b.c
    same -k --bnr FOO echo FOO ::: /a/b.c a/b.c b.c
    same -k --dnr II echo II {} ::: a a/b a/b/c
    same -j1 -k -X --bner FOO echo FOO ::: /a/b.c a/b.c b.c
}

@test "-X with -N and -L with {}" {
    same -X -j1 -N 6 echo {-1}orrec{1} ::: t B X D E c
    in_file "$(seq 19 | tr '\n' ' ' | tr ' ' '\n')"
    same -k -L 10 echo a{}b
}

@test "--header without --colsep splits at tabs" {
    in_file 'A\tB\n1\tone\n'
    same --header : echo {B} {A}
}

@test "--dryrun --joblog - prints the command lines only" {
    same --dryrun --joblog - echo ::: Only_this
}

@test "-n0 and -L0 run the command once per item without it" {
    in_file '1\n2\n'
    same -k -n0 echo n0
    same -k -L0 echo L0
}

@test "{= perl =} is refused with a clear error" {
    run cpar echo '{= $_ .= "x" =}' ::: a
    assert_failure 2
    assert_output --partial 'perl'
}

@test "--pipe points to cpipe" {
    run cpar --pipe wc -l
    assert_failure 2
    assert_output --partial cpipe
}

@test "reading from a terminal warns" {
    command -v script >/dev/null || skip "script(1) is not installed"
    run bash -c 'printf "" | timeout 10 script -qec "timeout 2 cpar echo" /dev/null' 
    assert_output --partial 'Input is read from the terminal'
}
