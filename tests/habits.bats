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
    parallel_env
}

# in_file TEXT: a file holding printf %b TEXT, set as $PAR_IN.
in_file() {
    PAR_IN="$BATS_TEST_TMPDIR/in.$RANDOM$RANDOM"
    printf '%b' "$1" >"$PAR_IN"
}

# ---- wrong results and silent no-ops -----------------------------------------

@test "--header : --colsep names the columns {name}" {
    in_file 'a\tb\n1\t2\n3\t4\n'
    same_as_parallel -k --header : --colsep '\t' echo {a}-{b}
}

@test "--header : without --colsep: the first line names column 1" {
    in_file 'word\nx\ny\n'
    same_as_parallel -k --header : echo {word} {1}
}

@test "--header : with ::: sources: the first value names each source" {
    same_as_parallel -k --header : echo {f}{g} ::: f 1 2 ::: g 3
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
    same_as_parallel -k
}

@test "no command with -j1 and a ::: source of commands" {
    same_as_parallel -j1 -k ::: 'echo x' 'echo y'
}

@test "-X with two sources" {
    same_as_parallel -j1 -kX echo {1}-{2} ::: a ::: b
}

@test "-m with two sources" {
    same_as_parallel -j1 -km echo {1}-{2} ::: a b ::: c
}

@test "\$PARALLEL_SEQ in jobs" {
    same_as_parallel -k echo '$PARALLEL_SEQ' ::: a b c
}

@test "\$PARALLEL_PID in jobs is cpar's pid" {
    run cpar -k 'echo $PARALLEL_PID' ::: a
    assert_success
    [[ $output =~ ^[0-9]+\ a$ ]] || fail "no pid: $output"
    same_as_parallel -k 'test -n "$PARALLEL_PID" && echo set' ::: a
}

@test "a command line longer than parallel's limit is refused (exit 255)" {
    local long
    long=$(head -c 70000 /dev/zero | tr '\0' x)
    PAR_ERRSHAPE=1 same_as_parallel echo ::: "$long"
}

@test "--replace without a value means {}" {
    same_as_parallel -k --replace echo {} ::: a b
}

@test "-I STR" {
    same_as_parallel -k -I XX echo XX ::: a b
    same_as_parallel -k -IARG echo ARG ::: a b
}

@test "-i means -I {}" {
    same_as_parallel -k -i -j1 echo {} ::: a b
    same_as_parallel -k -i repl echo repl ::: a b
}

@test "--joblog - writes the log on stdout" {
    run cpar --joblog - -j1 -k echo ::: a b
    assert_success
    assert_line --index 0 "$(printf 'Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand')"
    assert_line --index 1 a
    [[ ! -e - ]] || fail "a file named - was written"
}

@test "--tagstring with \\t" {
    same_as_parallel -k --tagstring 'a\tb' echo ::: x y
}

@test "-N2 echo a{}b" {
    same_as_parallel -k -N2 echo a{}b ::: 1 2 3 4
}

@test "-P, --max-procs, --linebuffer, --halt-on-error" {
    same_as_parallel -k -P2 echo ::: a b
    same_as_parallel -k --max-procs 2 echo ::: a b
    same_as_parallel -k --linebuffer echo ::: a b
    same_as_parallel -k --halt-on-error 1 -j1 'echo {}; exit {}' ::: 0 1 0
}

@test "exported bash functions run through the shell" {
    export SHELL=/bin/bash
    myfunc() { echo "func $1"; }
    export -f myfunc
    same_as_parallel -k myfunc ::: a b
}

@test "--env passes a variable" {
    export MYVAR=hello
    same_as_parallel -k --env MYVAR 'echo $MYVAR' ::: a
}

@test "-s N is --max-chars; -s NAME a strategy" {
    same_as_parallel -k -s 20 -X echo ::: aaa bbb ccc ddd eee fff
    run cpar -s sync -k echo ::: a b
    assert_success
    assert_output $'a\nb'
}

# ---- missing options, in the order parallel's test suite uses them ----------

@test "--xapply and --link" {
    same_as_parallel -k --xapply echo ::: a b c ::: 1 2 3
    same_as_parallel -k --link echo {1}{2} ::: a b ::: 1 2
}

@test "-N without a command template" {
    same_as_parallel -k -N3 echo ::: 1 2 3 4 5 6 7
}

@test "-N0 runs the command once per item without it" {
    same_as_parallel -k -N0 echo foo ::: 1 2 3
}

@test "-v prints each command line" {
    same_as_parallel -k -v echo ::: a b
}

@test "--compress gives the same output" {
    same_as_parallel -k --compress echo ::: a b
}

@test "-L and -l: lines per job" {
    in_file 'a\nb\nc\nd\ne\n'
    same_as_parallel -k -L2 echo
    same_as_parallel -k -l2 echo
    same_as_parallel -k -L1 echo
}

@test "--process-slot-var sets NAME to the job's slot - 1" {
    in_file '0.5\n0.1\n0.3\n0.4\n0.2\n'
    same_as_parallel -n1 -kP4 --process-slot-var=name -q bash -c 'sleep $1; echo "$name"' _
    same_as_parallel -k -j1 --process-slot-var SLOT 'echo {} $SLOT' ::: a b
    run cpar --process-slot-var '1x' echo ::: a
    assert_failure 2
    assert_output --partial "not a variable name"
}

@test "--colsep trims a CRLF file's \\r, in --header names too" {
    in_file 'foo,x\r\nbar, y \r\nbaz,z\r\n'
    same_as_parallel -k --colsep , --header : echo {foo}-{x}-
    same_as_parallel -k --colsep , echo {1}-{2}-
    same_as_parallel -k --trim r echo {}-
    # without --colsep or --trim the \r stays
    same_as_parallel -k echo {}-
}

@test "-L and -l: a line ending in a blank goes on with the next, as xargs -L" {
    in_file 'a_b \nc\nd\ne \n\nf\n'
    same_as_parallel -k -L1 printf '[%s]'
    same_as_parallel -k -l printf '[%s]'
    same_as_parallel -k -L2 printf '[%s]'
    same_as_parallel -k -l1 -r echo
    same_as_parallel -k --max-lines -k echo
    in_file 'foo\n\nole \nbar\nquux\n'
    same_as_parallel -kr -L2 -E bar echo
    # -n reads lines as they are
    same_as_parallel -k -n1 printf '[%s]'
}

@test "-q quotes the command" {
    same_as_parallel -k -q perl -e 'print "@ARGV\n"' ::: a b
}

@test "-E stops at an end-of-file string" {
    in_file 'a\nb\nSTOP\nc\n'
    same_as_parallel -k -E STOP echo
}

@test "-e WORD and --eof WORD take the next word as the end string, -l takes a number" {
    in_file 'include this\nEND\nnot this\n'
    same_as_parallel -k -e END echo
    same_as_parallel -k --eof END echo
    # an option after -e is no end string
    same_as_parallel -k -e -k echo
    in_file '1\n2\n3\n4\n'
    same_as_parallel -k -l 2 echo
}

@test "-E and -r end the input without GLib criticals (a value freed twice)" {
    in_file 'a\nb\nSTOP\nc\n'
    run --separate-stderr cpar -k -E STOP echo <"$PAR_IN"
    assert_success
    assert_output $'a\nb'
    assert_equal "$stderr" ""
    in_file 'a\n \n'
    run --separate-stderr cpar -k -r echo <"$PAR_IN"
    assert_output a
    assert_equal "$stderr" ""
}

@test "--jl is --joblog; --joblog +FILE appends; a dry run logs nothing" {
    need_parallel
    local p log
    for p in parallel cpar; do
        log="$BATS_TEST_TMPDIR/$p.log"
        $p --jl "$log" echo ::: a >/dev/null
        $p --dry-run -k --jl +"$log" echo ::: 1 2 >/dev/null
        $p -k --joblog +"$log" echo ::: b c >/dev/null
        cut -f1,7- "$log" >"$log.cut"
    done
    assert_equal "$(cat "$BATS_TEST_TMPDIR/cpar.log.cut")" "$(cat "$BATS_TEST_TMPDIR/parallel.log.cut")"
    assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/cpar.log.cut")" 4
}

@test "-r skips empty lines" {
    in_file 'a\n\n\nb\n'
    same_as_parallel -k -r echo x
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
    # One slot: parallel's lines in parallel's order. More: each job's
    # line when it starts, so the slots' race orders them (a set).
    PAR_ERR=1 same_as_parallel -j1 -k -t echo ::: a b
    run --separate-stderr cpar -j2 -k -t echo ::: a b c d
    assert_success
    assert_output $'a\nb\nc\nd'
    assert_equal "$(sort <<<"$stderr")" $'echo a\necho b\necho c\necho d'
}

@test "-e and --eof" {
    in_file 'a\nb\nEND\nc\n'
    same_as_parallel -k -eEND echo
}

@test "--arg-sep and --arg-file-sep" {
    same_as_parallel -k --arg-sep ,, echo ,, a b
    local f="$BATS_TEST_TMPDIR/list"
    printf '1\n2\n' >"$f"
    same_as_parallel -k --arg-file-sep // echo // "$f"
}

@test "--trim and --colsep trimming" {
    in_file ' a , b \n'
    same_as_parallel -k --colsep , echo '[{1}][{2}]'
    same_as_parallel -k --trim n --colsep , echo '[{1}][{2}]'
    same_as_parallel -k --trim l echo '[{}]' ::: '  x  '
    same_as_parallel -k --trim r echo '[{}]' ::: '  x  '
}

@test "options from \$PARALLEL" {
    export PARALLEL="-k --tag"
    same_as_parallel echo ::: a b
}

@test "-j +N and -j -N" {
    PAR_SORT=1 same_as_parallel -j +0 echo ::: a b c
    PAR_SORT=1 same_as_parallel -j -1 echo ::: a b c
}

@test "--will-cite, --no-notice, --nice, --tmpdir, --load, --memfree are accepted" {
    same_as_parallel -k --no-notice echo ::: a
    same_as_parallel -k --nice 10 echo ::: a
    same_as_parallel -k --tmpdir "$BATS_TEST_TMPDIR" echo ::: a
    same_as_parallel -k --load 10000 echo ::: a
    same_as_parallel -k --memfree 1k echo ::: a
}

@test "--shuf runs every job" {
    PAR_SORT=1 same_as_parallel --shuf echo ::: a b c d
}

@test "--tag with several sources" {
    same_as_parallel -k --tag echo ::: a b ::: 1 2
    # a dry run tags its lines too
    same_as_parallel -k --dry-run --tag echo ::: a b ::: 1 2
    same_as_parallel -k --dry-run --tagstring 'T{}' echo ::: a b
}

@test "--plus: GNU parallel's replacement strings, run and --dry-run" {
    local mode paths=(dir/sub/a.b.c.d a.tar.gz noext /x.y .hid '' 'a b/c.d' "it's.x.y")
    for mode in -k "-k --dry-run"; do
        # shellcheck disable=SC2086 # $mode is one or two options
        {
            same_as_parallel $mode --plus echo {+/} {+.} {+..} {+...} ::: "${paths[@]}"
            same_as_parallel $mode --plus echo {..} {...} {/..} {/...} ::: "${paths[@]}"
            same_as_parallel $mode --plus echo {0#} {##} {#} ::: a b c d e f g h i j k
            same_as_parallel $mode --plus -j1 echo {0%} {%} ::: a b
            same_as_parallel $mode --plus -j 12 echo {0%} ::: a
            same_as_parallel $mode --plus echo {:-x} {:2} {:1:2} {:9} {:5:2} ::: '' 0 abcdef
            same_as_parallel $mode --plus echo '{:-a b}' '{1:-a b}' ::: ''
            same_as_parallel $mode --plus echo '{#a*b}' '{##a*b}' '{%b*c}' '{%%b*c}' ::: aabbcc aabxbcc
            same_as_parallel $mode --plus echo '{#(a)b}' '{%b(c)}' ::: aabbcc
            same_as_parallel $mode --plus echo '{/b/X}' '{//b/X}' '{/#a/X}' '{/%c/X}' ::: aabbcc
            same_as_parallel $mode --plus echo '{//[aeiou]/}' '{/./Z}' '{1/a/ b}' ::: education "a b'c"
            same_as_parallel $mode --plus echo '{^a}' '{^^b}' '{,A}' '{,,B}' ::: aabbcc AABBCC
            # positional forms, -N, -X, -m, -I, --header, --tagstring
            same_as_parallel $mode --plus echo {2+/} {1..} {2/..} {1:-e} {2%.gz} {2//a/} ::: a.b.c ::: x/y.tar.gz
            same_as_parallel $mode --plus echo {-1+.} {-2..} {3+.} ::: a.b.c ::: d.e.f
            same_as_parallel $mode --plus -N2 echo {1+.} {2..} ::: a.b.c d.e.f g.h
            same_as_parallel $mode --plus -X echo {+.} ::: a.1 b.2 c.3
            same_as_parallel $mode --plus -m echo {+.} ::: a.1 b.2 c.3
            same_as_parallel $mode --plus -I ,, echo ,, {+.} ::: a.b
            same_as_parallel $mode --plus --header : echo {A}-{+.} ::: A a.b c.d
            same_as_parallel $mode --plus --tagstring '{##}:{+.}' echo {} ::: a.1 b.2
            same_as_parallel $mode --plus echo {} ::: a.1 b.2
        }
    done
    # {##} and {0#} count the jobs first, read from stdin too
    in_file 'a.x\nb.y\nc.z\n'
    same_as_parallel -k --plus echo {0#}/{##} {+.}
    in_file 'x/y.z\nq\0p/r.s\0'
    same_as_parallel -k --dry-run --plus -0 echo '{+/}' '{/..}' '{+.}' '{%.z}' '{:1:3}'
}

@test "--plus: strings cpar does not have, and {= perl =}, are clear usage errors" {
    run cpar -k --plus echo {host} ::: a b ::: a b
    assert_failure 2
    assert_output --partial '{host} is not supported'
    run cpar -k --plus echo '{%(}' ::: a
    assert_failure 2
    assert_output --partial 'bad regular expression'
    run cpar -k --plus echo '{= $_ =}' ::: a
    assert_failure 2
    assert_output --partial 'perl expressions'
}

@test "--rpl, --match, --filter: a usage error that says why" {
    run cpar --rpl '{:} s/A/D/' echo {:} ::: A
    assert_failure 2
    assert_output --partial 'Perl'
}

@test "renamed replacement strings: --er, --bnr, --dnr, --bner" {
    same_as_parallel -k --er FOO echo FOO ::: /a/b.c a/b.c b.c
    same_as_parallel -k --bnr FOO echo FOO ::: /a/b.c a/b.c b.c
    same_as_parallel -k --dnr II echo II {} ::: a a/b a/b/c
    same_as_parallel -j1 -k -X --bner FOO echo FOO ::: /a/b.c a/b.c b.c
}

@test "-X with -N and -L with {}" {
    same_as_parallel -X -j1 -N 6 echo {-1}orrec{1} ::: t B X D E c
    in_file "$(seq 19 | tr '\n' ' ' | tr ' ' '\n')"
    same_as_parallel -k -L 10 echo a{}b
}

@test "--header without --colsep splits at tabs" {
    in_file 'A\tB\n1\tone\n'
    same_as_parallel --header : echo {B} {A}
}

@test "--dryrun --joblog - prints the command lines only" {
    same_as_parallel --dryrun --joblog - echo ::: Only_this
}

@test "-n0 and -L0 run the command once per item without it" {
    in_file '1\n2\n'
    same_as_parallel -k -n0 echo n0
    same_as_parallel -k -L0 echo L0
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

@test "--verbose is -t (stderr), as in parallel and xargs; -v prints on stdout" {
    in_file 'b\nc\n'
    PAR_ERR=1 same_as_parallel -k --verbose echo {}ar
    run cpar -k --verbose echo {}ar ::: b
    assert_output "echo bar
bar"
    run bash -c 'cpar -k --verbose echo {}ar ::: b 2>/dev/null'
    assert_output bar
    PAR_ERR=1 same_as_parallel -k -v echo {}ar ::: b c
}

@test "-t lists the commands in start order, as parallel's one dispatcher does, under every strategy" {
    local s
    seq 60 >"$BATS_TEST_TMPDIR/in"
    parallel --will-cite -j4 -t true <"$BATS_TEST_TMPDIR/in" 2>"$BATS_TEST_TMPDIR/exp"
    for s in sync thread process async; do
        cpar -s "$s" -j4 -t true <"$BATS_TEST_TMPDIR/in" 2>"$BATS_TEST_TMPDIR/got.$s"
        assert_equal "$(cat "$BATS_TEST_TMPDIR/got.$s")" "$(cat "$BATS_TEST_TMPDIR/exp")"
    done
}

@test "--timeout takes parallel's time units (1s, 0.02m, 1m30s)" {
    PAR_ERR=1 same_as_parallel -k --timeout 1s 'sleep {}; echo {}' ::: 0.1 5
    PAR_STATUS_ONLY=1 same_as_parallel --timeout 0.01m sleep ::: 5
    run cpar --timeout 1x sleep ::: 0
    assert_failure 2
    assert_output --partial 'cpar: --timeout'
}

@test "--lb: a reader that quits (| head) ends the run and its jobs, as parallel's bug #51337 fix does" {
    local s
    for s in sync thread async; do
        run timeout 20 bash -c "cpar -s $s --lb 'echo \$\$ >>$BATS_TEST_TMPDIR/pids.$s; exec yes {}' ::: 1 2 | head -3; echo \"status \${PIPESTATUS[0]}\""
        assert_line --index 0 --regexp '^[12]$'
        assert_line --index 3 'status 141'
        while read -r pid; do
            # Gone, or ended and left to init to reap: within 10 s on a
            # loaded machine (the guard ends the jobs at once).
            local i st
            for ((i = 0; i < 100; i++)); do
                st=$(ps -o stat= -p "$pid" || true)
                [[ -z $st || $st == Z* ]] && break
                sleep 0.1
            done
            [[ -z $st || $st == Z* ]] || fail "job $pid of -s $s still runs ($st)"
        done <"$BATS_TEST_TMPDIR/pids.$s"
    done
}

# cparin: input-side habits (number suffixes, ::::+, multi-byte -d, -L on
# :::, -E with several sources)

@test "-d takes a whole string as the separator, with \\n \\r \\t and octal escapes" {
    in_file '1ab2ab3a'
    same_as_parallel -k -d ab echo 'x{}y'
    same_as_parallel -k -d ab echo 'x{}y' ::: 1ab2 3ab
    in_file '1\n2\n3\n\n4\n5\n'
    same_as_parallel -k -d '\n\n' --tagstring '{#}' echo ABC';'echo
    in_file 'b\r\nc\r\nd\r\n'
    same_as_parallel -k -d '\r\n' echo '{}a'
    in_file 'aAbAc'
    same_as_parallel -k -d '\101' echo 'x{}y'
    same_as_parallel -k -d '\x41' echo 'x{}y'
    in_file 'a\\\\b\\c'
    same_as_parallel -k -d '\\' echo 'x{}y'
    in_file 'a\0\0b\0\0c'
    same_as_parallel -k -d '\0\0' echo 'x{}y'
}

@test "-d wins over -0 in either order" {
    in_file 'aXYb\0c'
    same_as_parallel -k -d XY -0 echo 'x{}y'
    same_as_parallel -k -0 -d XY echo 'x{}y'
}

@test "-d '' reads paragraphs (records end at blank lines)" {
    in_file '\n\na\n\n\nb\nb2\n\nc\n\n\n'
    same_as_parallel -k -d '' echo 'x{}y'
}

@test "-n, -N, -L, -s and --max-chars take GNU parallel's k K m M suffixes" {
    in_file "$(seq 5000 | tr '\n' ' ' | tr ' ' '\n')"
    PAR_SORT=1 same_as_parallel -N 1k 'echo {} | wc -w'
    PAR_SORT=1 same_as_parallel -n 1K 'echo {} | wc -w'
    PAR_SORT=1 same_as_parallel -n 1.5k 'echo {} | wc -w'
    PAR_SORT=1 same_as_parallel -L 2k 'echo {} | wc -w'
    PAR_SORT=1 same_as_parallel -mj1 -s 1k 'echo {} | wc -w'
    PAR_SORT=1 same_as_parallel -mj1 --max-chars 2K 'echo {} | wc -w'
}

@test "a bad suffix is a usage error naming the option" {
    run cpar -N 1q echo ::: a
    assert_failure 2
    assert_output --partial 'cpar: -N 1q: unknown suffix'
}

@test "::::+ links every file after it, as :::+ does words" {
    printf '%s\n' 1 2 3 4 5 6 7 8 9 10 >"$BATS_TEST_TMPDIR/ten"
    printf '%s\n' 1 2 3 >"$BATS_TEST_TMPDIR/three"
    printf '%s\n' 21 22 23 >"$BATS_TEST_TMPDIR/twenty"
    printf '%s\n' 1 2 3 4 >"$BATS_TEST_TMPDIR/four"
    local t=$BATS_TEST_TMPDIR
    same_as_parallel -k echo ::::+ "$t/ten" "$t/three" "$t/four"
    same_as_parallel -k echo ::: 11 22 33 ::::+ "$t/three" "$t/twenty" ::: a b c :::+ aa bb cc
    same_as_parallel -k echo :::: "$t/three" ::::+ "$t/twenty" ::: a b
}

@test "-L and -l join ::: words ending in a blank, as they do input lines" {
    same_as_parallel -kr -L2 echo ::: foo '' 'ole ' bar quux
    same_as_parallel -k -L2 echo ::: foo '' 'ole ' bar quux
    same_as_parallel -k -L2 echo ::: 'a ' b 'c ' 'd ' e f
    same_as_parallel -k -l echo ::: 'a ' b c
    same_as_parallel -kr -L2 -E bar echo ::: foo '' 'ole ' bar quux
}

@test "with several sources an empty one (or one -E ended at once) is one empty value" {
    in_file "$(seq 100 | tr '\n' ' ' | tr ' ' '\n')"
    same_as_parallel -k -E 3 echo :::: - ::: 2 3 4 5 ::: 3 4
    same_as_parallel -k -E 3 echo :::: - ::: 3 4 5
    same_as_parallel -k -E 3 echo ::: 1 3 :::+ 3 5 ::: x
    same_as_parallel -k echo ::: 1 2 :::: /dev/null
    same_as_parallel -k echo :::: /dev/null ::: a b
    same_as_parallel -k echo :::: /dev/null :::: /dev/null
    in_file '3\n4\n'
    same_as_parallel -k -E 3 echo :::: - ::: a b
    same_as_parallel -k -E 3 echo ::: 3
}

# ---- cparout: --shellquote, -x, --results FILE.csv/.tsv/.json, --retries {N},
# ---- --retry-failed, $PARALLEL_ENV, -J profiles

@test "cparout: --shellquote prints the quoted items, or the quoted command lines" {
    same_as_parallel -k --shellquote ::: 'a b' "c'd" '$x' plain ''
    same_as_parallel -k --shellquote echo ::: 'a b' 'c"d'
    same_as_parallel -k --shellquote --shellquote ::: 'a b'
    in_file 'a b\nc$d\n'
    same_as_parallel -k --shellquote
    same_as_parallel -k --shellquote echo
}

@test "cparout: --shellquote -0 keeps a newline; --dry-run and the joblog show the line unquoted" {
    same_as_parallel -0 --shellquote ::: $'a\nb'
    same_as_parallel --dry-run --shellquote echo ::: 'a b'
    PAR_ERR=1 same_as_parallel --shellquote --joblog log echo ::: 'a b'
    assert_equal "$(cut -f9 "$BATS_TEST_TMPDIR/cpar.d/log")" "$(cut -f9 "$BATS_TEST_TMPDIR/parallel.d/log")"
}

@test "cparout: -x is accepted; a line longer than -s ends the run after the jobs before it" {
    in_file '1\n2\n3\n4\n12345\n6\n'
    same_as_parallel -j1 -km -s 10 -x echo
    assert_equal "$(<"$BATS_TEST_TMPDIR/cpar.status")" 255
    same_as_parallel -j1 -kX -s 10 --exit echo
    same_as_parallel -j1 -k -s 10 -x echo
    # GNU parallel's message: the job's items, cut at 50 bytes
    grep -qx 'cpar: Error: Command line too long (10 >= 10) at input 0: 12345' \
        "$BATS_TEST_TMPDIR/cpar.err" || fail "$(cat "$BATS_TEST_TMPDIR/cpar.err")"
    [[ $(grep -c . "$BATS_TEST_TMPDIR/cpar.err") == 1 ]] || fail "more than one message"
}

# table_norm FILE: a --results table with its times as T.
table_norm() {
    perl -pe 's/\d+\.\d{3}/T/g' "$1"
}

@test "cparout: --results -.csv, -.tsv and -.json print GNU parallel's table" {
    local f
    for f in -.csv -.tsv -.json; do
        same_as_parallel -k --results "$f" echo ::: 'a b' 'c"d' 'e,f' ::: 1 2 || true
        assert_equal "$(table_norm "$BATS_TEST_TMPDIR/cpar.out")" \
            "$(table_norm "$BATS_TEST_TMPDIR/parallel.out")"
        assert_equal "$(<"$BATS_TEST_TMPDIR/cpar.status")" 0
    done
}

@test "cparout: --results FILE.json: control bytes, quotes, stderr and exit status" {
    local d=$BATS_TEST_TMPDIR
    same_as_parallel -k --results out.json 'printf "%s\t\\\\\"\n" {}; echo err >&2; exit 3' ::: x y
    assert_equal "$(table_norm "$d/cpar.d/out.json")" "$(table_norm "$d/parallel.d/out.json")"
    assert_equal "$(<"$d/cpar.status")" 2
    [[ ! -s $d/cpar.out ]] || fail "output printed: $(cat "$d/cpar.out")"
}

@test "cparout: --results FILE.csv with --header : names the columns" {
    local d=$BATS_TEST_TMPDIR
    same_as_parallel -k --results t.csv --header : echo ::: foo a b ::: bar c
    assert_equal "$(table_norm "$d/cpar.d/t.csv")" "$(table_norm "$d/parallel.d/t.csv")"
    assert_equal "$(head -1 "$d/cpar.d/t.csv")" 'Seq,Host,Starttime,JobRuntime,Send,Receive,Exitval,Signal,Command,foo,bar,Stdout,Stderr'
}

@test "cparout: --results DIR cuts a value longer than a file name, as GNU parallel does" {
    local long
    long=$(printf 'x%.0s' $(seq 300))
    same_as_parallel --results dir echo ::: "$long"
    assert_equal "$(cd "$BATS_TEST_TMPDIR/cpar.d" && find dir | sort)" \
        "$(cd "$BATS_TEST_TMPDIR/parallel.d" && find dir | sort)"
}

@test "cparout: --retries takes replacement strings, filled per job" {
    PAR_SORT=1 same_as_parallel --retries {//} 'echo {/} >>count; exit {/}' ::: 1/11 2/22 3/33
    assert_equal "$(<"$BATS_TEST_TMPDIR/cpar.status")" 3
    # each job ran as often as its own --retries says
    assert_equal "$(sort "$BATS_TEST_TMPDIR/cpar.d/count" | uniq -c)" \
        "$(sort "$BATS_TEST_TMPDIR/parallel.d/count" | uniq -c)"
    assert_equal "$(grep -c 33 "$BATS_TEST_TMPDIR/cpar.d/count")" 3
}

@test "cparout: --retry-failed reruns the joblog's failed commands, not the ones given" {
    # -j1: parallel's own --retry-failed can miss a job at -j2 on a loaded machine
    same_as_parallel --joblog log -k -j1 'echo {}; exit {}' ::: 0 1 2 0 3
    same_as_parallel --joblog log -k -j1 --retry-failed 'echo NOT {}' ::: x y
    assert_equal "$(<"$BATS_TEST_TMPDIR/cpar.out")" $'1\n2\n3'
    same_as_parallel --joblog log -k --retry-failed
    assert_equal "$(cut -f1,7,9 "$BATS_TEST_TMPDIR/cpar.d/log")" \
        "$(cut -f1,7,9 "$BATS_TEST_TMPDIR/parallel.d/log")"
    # no joblog to read back: the run goes on as given
    PAR_STATUS_ONLY=1 same_as_parallel --joblog - --retry-failed echo ::: run
    assert_equal "$(cut -f1,7,9 "$BATS_TEST_TMPDIR/cpar.out")" \
        "$(cut -f1,7,9 "$BATS_TEST_TMPDIR/parallel.out")"
    run cpar --retry-failed echo ::: a
    assert_failure 2
    assert_output --partial 'cpar: --retry-failed needs --joblog'
}

@test "cparout: a command with newlines is one joblog line (NUL bytes), and --retry-failed runs it" {
    local d=$BATS_TEST_TMPDIR
    same_as_parallel --joblog log -k --timeout 2s 'sleep {}; echo {};
echo finish {}' ::: 0.1 4
    cmp <(cut -f9- "$d/cpar.d/log") <(cut -f9- "$d/parallel.d/log") || fail "joblogs differ"
    PAR_ERR=1 same_as_parallel --joblog log -k --retry-failed --timeout 10
    assert_equal "$(<"$d/cpar.out")" $'4\nfinish 4'
    grep -q 'Forcing --null' "$d/cpar.err" || fail "no warning: $(cat "$d/cpar.err")"
}

@test "cparout: \$PARALLEL_ENV runs before every command, as text, a file or a fifo" {
    PARALLEL_ENV="v='as text'" same_as_parallel {} '$v' ::: echo
    assert_equal "$(<"$BATS_TEST_TMPDIR/cpar.out")" 'as text'
    local f=$BATS_TEST_TMPDIR/penv
    echo "v='as file'" >"$f"
    PARALLEL_ENV=$f same_as_parallel {} '$v' ::: echo
    assert_equal "$(<"$BATS_TEST_TMPDIR/cpar.out")" 'as file'
    PARALLEL_ENV=$'f() { echo fn "$1"; }\001w=1' same_as_parallel -k 'f {}; echo $w ${PARALLEL_ENV-unset}' ::: a b
    assert_equal "$(<"$BATS_TEST_TMPDIR/cpar.out")" $'fn a\n1 unset\nfn b\n1 unset'
    mkfifo "$BATS_TEST_TMPDIR/fifo"
    (echo "v='as fifo'" >"$BATS_TEST_TMPDIR/fifo") &
    PARALLEL_ENV="$BATS_TEST_TMPDIR/fifo" run timeout 10 cpar {} '$v' ::: echo
    wait
    assert_success
    assert_output 'as fifo'
}

@test "cparout: -J reads a profile: ./NAME, /abs/NAME, NAME in \$PARALLEL_HOME; --plain skips it" {
    local d=$BATS_TEST_TMPDIR
    mkdir -p "$PARALLEL_HOME" "$d/parallel.d" "$d/cpar.d"
    echo --tag | tee "$d/parallel.d/local" >"$d/cpar.d/local"
    echo --tag >"$d/abs"
    printf '# a comment\n-k\n\n--tagstring foo\n' >"$PARALLEL_HOME/conf"
    same_as_parallel -J ./local echo ::: local
    assert_equal "$(<"$d/cpar.out")" $'local\tlocal'
    same_as_parallel -J "$d/abs" echo ::: abs
    same_as_parallel -J conf echo ::: 1 2
    assert_equal "$(<"$d/cpar.out")" $'foo\t1\nfoo\t2'
    same_as_parallel --tagstring a -J conf echo ::: a
    # -J after the command is the command's
    same_as_parallel --tagstring a echo -J conf ::: b
    same_as_parallel -Jconf --plain echo ::: p
    same_as_parallel --profile=conf echo ::: q
}

# cparmore: GNU parallel test-suite cases (issue 15)

@test "-N0: a word that is only a replacement string vanishes, as in parallel" {
    PAR_IN=$BATS_TEST_TMPDIR/in
    seq 1 2 >"$PAR_IN"
    same_as_parallel -k -N0 echo replace {} curlies
    same_as_parallel -k -N0 echo x {} y a{}b {.} {1} {#}
    same_as_parallel -N0 --dry-run echo x {} y a{}b {.} {1} {#}
    # Without -N0 an empty argument stays an empty word.
    same_as_parallel -k --dry-run echo x {} y ::: '' a
}

@test "-j FILE: the number of job slots is read from the file, as parallel's procfile" {
    mkdir -p "$BATS_TEST_TMPDIR/parallel.d" "$BATS_TEST_TMPDIR/cpar.d"
    echo 3 >"$BATS_TEST_TMPDIR/parallel.d/slots"
    echo 3 >"$BATS_TEST_TMPDIR/cpar.d/slots"
    # Three slots: the three jobs run at once, in slots 1, 2 and 3.
    PAR_SORT=1 same_as_parallel -j slots 'sleep 1; echo {%}' ::: a b c
    [[ $(<"$BATS_TEST_TMPDIR/cpar.out") == $'1\n2\n3' ]]
    echo x >"$BATS_TEST_TMPDIR/parallel.d/bad"
    echo x >"$BATS_TEST_TMPDIR/cpar.d/bad"
    run cpar -j "$BATS_TEST_TMPDIR/cpar.d/bad" echo ::: 1
    assert_failure 2
    assert_output --partial "cpar: -j $BATS_TEST_TMPDIR/cpar.d/bad: the file holds 'x'"
}

@test "--joblog: each newline of the command is written as a NUL byte, as parallel does" {
    need_parallel
    local cmd=$'false "command\nwith\nnewlines"' t
    for t in parallel cpar; do
        run "$t" -k --jl "$BATS_TEST_TMPDIR/$t.log" "$cmd" ::: a b
        assert_failure 2
        cut -f 7- "$BATS_TEST_TMPDIR/$t.log" | od -c >"$BATS_TEST_TMPDIR/$t.cmds"
    done
    grep -q '\\0' "$BATS_TEST_TMPDIR/parallel.cmds"
    diff "$BATS_TEST_TMPDIR/parallel.cmds" "$BATS_TEST_TMPDIR/cpar.cmds"
    # --resume still reads such a log: nothing is run again.
    run cpar --resume --jl "$BATS_TEST_TMPDIR/cpar.log" "$cmd" ::: a b
    assert_success
    [[ $(wc -l <"$BATS_TEST_TMPDIR/cpar.log") == 3 ]]
}

@test "--results: a value longer than a file name is cut to the longest name, as parallel does (bug #42089)" {
    local a t
    a=$(printf '1234567890%.0s' {1..25})123456
    PAR_SORT=1 same_as_parallel --results res echo ::: "$a" "x$a$a" x
    for t in parallel cpar; do
        (cd "$BATS_TEST_TMPDIR/$t.d/res" && find . -type f | sort | xargs tail -n +1) >"$BATS_TEST_TMPDIR/$t.tree"
    done
    grep -q "$a" "$BATS_TEST_TMPDIR/parallel.tree"
    diff "$BATS_TEST_TMPDIR/parallel.tree" "$BATS_TEST_TMPDIR/cpar.tree"
}

@test "--plus {uniq}, {Nuniq}, {choose_k} skip jobs as parallel does (counted as failed), {slot} is {%}" {
    local s
    same_as_parallel -k --plus echo {uniq} ::: A B C ::: A B C ::: A B C
    same_as_parallel -k --plus echo {1uniq}+{2uniq}+{3uniq} ::: A B C ::: A B C ::: A B C
    same_as_parallel -k --plus echo {choose_k} ::: A B C D ::: A B C D ::: A B C D
    same_as_parallel -k --plus echo {#} {2uniq} {choose_k} ::: A B C ::: A B C
    # Byte order, as Perl's ge; an empty argument repeats parallel's undefined $arg[0].
    same_as_parallel -k --plus echo {choose_k} ::: 10 9 ::: 10 9
    same_as_parallel -k --plus echo {uniq} ::: '' a ::: a b
    same_as_parallel -k --plus --dry-run echo {uniq} ::: A B ::: A B
    same_as_parallel -k --plus -v echo {uniq} ::: A B ::: A B
    same_as_parallel -j1 -k --plus --halt now,fail=1 echo {uniq} ::: A B ::: A B
    for s in sync thread process async; do
        same_as_parallel -k -s "$s" --plus echo {uniq} ::: A B ::: A B
    done
    PAR_SORT=1 same_as_parallel -j2 --plus 'sleep 0.5; echo {slot}=$PARALLEL_JOBSLOT={%}' ::: A B
    # The joblog says Exitval -2 for a skipped job.
    run cpar -k --plus --jl "$BATS_TEST_TMPDIR/log" echo {uniq} ::: A B ::: A
    assert_failure 1
    [[ $(cut -f 7,9 "$BATS_TEST_TMPDIR/log" | sed -n 2p) == $'-2\techo A A' ]]
}

@test "-m/-X with -L or -n: a last full line is spread over the job slots too, as parallel does" {
    in_file 'a_b\nc\n'
    same_as_parallel -j2 -km -L2 echo
    in_file 'a_b\nc\nd\ne\n'
    same_as_parallel -j2 -km -L2 echo
    in_file '1\n2\n3\n4\n5\n6\n'
    same_as_parallel -j2 -km -n3 echo
    same_as_parallel -j3 -kX -n2 echo x{}y
    same_as_parallel -j1 -km -n3 echo
    same_as_parallel -j2 -kX -n2 echo ::: a b c d e f
}

@test "--tollef is retired (an error) unless --gnu overrides it, as in parallel" {
    same_as_parallel -k --tollef --gnu echo ::: 1 2 3 -- a b c
    same_as_parallel -k --gnu --tollef echo ::: 1
    # parallel refuses it (exit 255); cpar too, as a usage error.
    run parallel --will-cite --tollef echo ::: 1
    assert_failure 255
    refute_output --partial 1$'\n'
    run cpar --tollef echo ::: 1
    assert_failure 2
    assert_output --partial 'cpar: --tollef has been retired'
    assert_output --partial 'add --gnu'
}

# ---- --csv ---------------------------------------------------------------------

# GNU parallel's --csv needs Perl's Text::CSV (libtext-csv-perl).
need_text_csv() {
    need_parallel
    perl -MText::CSV -e 1 2>/dev/null || skip "Text::CSV is not installed (parallel --csv needs it)"
}

@test "--csv: the man page's examples, under every strategy" {
    need_text_csv
    in_file '"1 big, 2 small","2""x4"" plank",12.34\n'
    run cpar --csv echo {1} of {2} at {3} <"$PAR_IN"
    assert_success
    assert_output '1 big, 2 small of 2"x4" plank at 12.34'
    for s in sync thread process async; do
        same_as_parallel -k -s "$s" --csv echo {1} of {2} at {3}
    done
    # A quoted field holds the newline: one record over two lines.
    in_file '"Start of field 1 with newline\nLine 2 in field 1";value 2\n'
    run cpar --csv --colsep ';' echo Field 1: {1} Field 2: {2} <"$PAR_IN"
    assert_success
    assert_output $'Field 1: Start of field 1 with newline\nLine 2 in field 1 Field 2: value 2'
    for s in sync thread process async; do
        same_as_parallel -k -s "$s" --csv --colsep ';' echo Field 1: {1} Field 2: {2}
    done
}

@test "--csv: empty fields, trimming only with --colsep, {}, -r, -E, -0 and -d, as parallel" {
    need_text_csv
    in_file 'a,,c\n,\n\n"",""""\n'
    same_as_parallel -k --csv echo '[{1}][{2}][{3}]'
    # No trimming with --csv alone: spaces are data; --colsep given trims.
    in_file ' a , b ,c \n'
    same_as_parallel -k --csv echo '[{1}][{2}][{3}]'
    same_as_parallel -k --csv --trim lr echo '[{1}][{2}][{3}]'
    in_file ' a ; b ;c \n'
    same_as_parallel -k --csv --colsep ';' echo '[{1}][{2}][{3}]'
    # A separator of several bytes is a string, not a regexp.
    in_file 'a;;b\na1b\n'
    same_as_parallel -k --csv --colsep ';;' echo '[{1}][{2}]'
    same_as_parallel -k --csv --colsep '[0-9]' echo '[{1}][{2}]'
    in_file 'a,"b,c"\n\n \nx,"y\n\nz"\nEOF\nq,r\n'
    same_as_parallel -k --csv echo '[{}]'
    same_as_parallel -k --csv -r -E EOF echo '[{1}][{2}]'
    # A record separator inside quotes is data, with -0 and -d too; "0 is a NUL.
    in_file 'a,"b\nc"\0d,e\0'
    same_as_parallel -k -0 --csv echo '[{1}][{2}]'
    in_file 'a,b\r\n"c\r\nd",e\r\n'
    same_as_parallel -k -d '\r\n' --csv echo '[{1}][{2}]'
    in_file '"a"0b",c\n'
    same_as_parallel -k --csv echo '[{1}][{2}]'
}

@test "--csv: ::: words are records too, joined while a quote is open; -N, --link, --header" {
    need_text_csv
    same_as_parallel -k --csv echo '[{1}][{2}]' ::: 'a,b' '"c,d",e' '"x' 'y",z'
    same_as_parallel -k --csv echo '[{1}][{2}][{3}][{4}]' ::: 'a,b' ::: 'c,"d,e"' f
    same_as_parallel -k --link --csv echo '[{1}][{2}][{3}][{4}]' ::: 'a,b' 'c,d' 'e,f' ::: '1,2' '3,"4,5"'
    same_as_parallel -k --csv echo '[{1}][{2}][{3}][{4}]' ::: 'a,b' 'c,d' :::+ '1,2' '3,"4,5"'
    in_file 'a,b\nc,"d\ne"\nf,g\n'
    same_as_parallel -k -N2 --csv echo '[{1}][{2}][{3}][{4}]'
    same_as_parallel -k --csv echo '[{1}][{2}][{3}]' :::: - ::: 1 2
    in_file 'name,age\n"bob, jr",42\nann,7\n'
    same_as_parallel -k --header : --csv echo '{age}: {name}'
}

@test "--csv: a record Text::CSV refuses ends the input; the jobs before it run; exit 255" {
    need_text_csv
    local bad
    # An unterminated quote (at the end of input), a quote inside an
    # unquoted field, text after a closing quote, a CRLF line end.
    for bad in 'x,y\nz,w\na,"b\n' 'x,y\nz,w\na,b"c\n' 'x,y\nz,w\n"a"b,c\n' 'x,y\nz,w\na,b\r\n'; do
        in_file "$bad"
        # parallel dies there (its exit status is Perl's errno, varying)
        run parallel --will-cite -j1 -k --csv echo '[{1}][{2}]' <"$PAR_IN"
        assert_failure
        assert_output --partial 'CSV has unexpected format: ^'
        local want=$'[x][y]\n[z][w]'
        [[ $(parallel --will-cite -j1 -k --csv echo '[{1}][{2}]' <"$PAR_IN" 2>/dev/null) == "$want" ]] ||
            fail "parallel ran other jobs than the two before $bad"
        for s in sync thread process async; do
            run --separate-stderr cpar -s "$s" -j1 -k --csv echo '[{1}][{2}]' <"$PAR_IN"
            assert_failure 255
            assert_output "$want"
            [[ $stderr == 'cpar: CSV has unexpected format: ^'* ]] || fail "stderr: $stderr"
        done
    done
    # The message shows the record as parallel's does: its lines joined.
    in_file 'a,"b\nc,d\n'
    run --separate-stderr cpar --csv echo <"$PAR_IN"
    assert_failure 255
    assert_equal "$stderr" $'cpar: CSV has unexpected format: ^a,"b\nc,d^'
    # ::: words and a header line are parsed too.
    run --separate-stderr cpar --csv echo ::: ok '"open'
    assert_failure 255
    assert_equal "$stderr" 'cpar: CSV has unexpected format: ^"open^'
    in_file 'a,"b\n'
    run --separate-stderr cpar --csv --header : echo <"$PAR_IN"
    assert_failure 255
    assert_equal "$stderr" 'cpar: cannot read the header: CSV has unexpected format: ^a,"b^'
}

@test "--csv: a bad field separator and -X are usage errors" {
    local sep
    for sep in '' '"' 'abcdefghijklmnopq'; do
        run --separate-stderr cpar --csv --colsep "$sep" echo ::: a
        assert_failure 2
        assert_equal "${stderr_lines[0]}" "cpar: --csv: --colsep is the field separator: 1 to 16 bytes, without '\"'"
    done
    run --separate-stderr cpar --csv -X echo ::: a
    assert_failure 2
    assert_equal "${stderr_lines[0]}" 'cpar: -X and -m take no --csv'
}

@test "--header without --colsep does not trim the values, as parallel" {
    in_file 'h\tg\n a \tb\n'
    same_as_parallel -k --header : echo '[{h}][{g}]'
    in_file 'h\tg\r\n a \tb\r\n'
    same_as_parallel -k --header : echo '[{h}][{g}]'
}

@test "an input source that cannot be read ends the input: exit 255, no loop, no crash" {
    # parallel reads a directory as empty; cpar says so and stops (it
    # looped on the failing read, or divided by zero with two sources).
    local s
    for s in sync thread process async; do
        run --separate-stderr timeout -k 5 "$CTK_TIMEOUT" cpar -s "$s" -j1 echo :::: "$BATS_TEST_TMPDIR"
        assert_failure 255
        assert_equal "$stderr" 'cpar: cannot read the input: Is a directory'
        run --separate-stderr timeout -k 5 "$CTK_TIMEOUT" cpar -s "$s" echo :::: - "$BATS_TEST_TMPDIR" <<<a
        assert_failure 255
        assert_equal "$stderr" 'cpar: cannot read the input: Is a directory'
    done
}
