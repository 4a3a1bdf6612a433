#!/usr/bin/env bats
# cpipe.bats: black-box tests of the cpipe command: the round-trip property
# (`cpipe cat` gives back any input byte for byte, for every record mode,
# block size, strategy and input path), agreement with GNU parallel --pipe,
# failures and --keep-going, headers, --reduce, --tag and the environment,
# filters that do not read or write a lot, signals, and usage errors.

# shellcheck disable=SC2016
load helpers

setup() {
    parallel_env
}

# cpp ARGS...: cpipe under the guard.
cpp() {
    timeout -k 5 "$CTK_TIMEOUT" cpipe "$@"
}

# random_input FILE SEED ALPHABET SIZE: SIZE random bytes drawn from
# ALPHABET (a Python bytes literal body, e.g. 'ab\n\0\xff').
random_input() {
    python3 -c '
import random, sys, ast
random.seed(int(sys.argv[2]))
alphabet = ast.literal_eval("b\"" + sys.argv[3] + "\"")
n = int(sys.argv[4])
sys.stdout.buffer.write(bytes(random.choice(alphabet) for _ in range(n)))' \
        "$1" "$2" "$3" "$4" >"$1"
}

# ---- the round trip ------------------------------------------------------------------

# round_trip MODE-ARGS ALPHABET: for every strategy and both input paths,
# with block sizes from one byte to more than the input, `cpipe cat`
# reproduces random inputs exactly.
round_trip() {
    local alphabet=$1 d=$BATS_TEST_TMPDIR
    shift
    local strategies=(sync thread process async) blocks=(1 5 64 700 100k) i=0 s b seed
    for seed in 1 2; do
        random_input "$d/in" "$seed$RANDOM" "$alphabet" $((1500 * seed))
        for s in "${strategies[@]}"; do
            b=${blocks[i++ % ${#blocks[@]}]}
            cpp -s "$s" -j3 -b "$b" "$@" -a "$d/in" cat >"$d/out.file" 2>"$d/err" ||
                fail "cpipe -s $s -b $b $* -a FILE cat failed (exit $?): $(head -c 2000 "$d/err")"
            cmp "$d/in" "$d/out.file" || fail "file path: -s $s -b $b $* differs"
            cat "$d/in" | cpp -s "$s" -j3 -b "$b" "$@" cat >"$d/out.pipe" 2>"$d/err" ||
                fail "cpipe -s $s -b $b $* cat (pipe) failed (exit $?): $(head -c 2000 "$d/err")"
            cmp "$d/in" "$d/out.pipe" || fail "pipe path: -s $s -b $b $* differs"
        done
    done
}

@test "round trip: newline records, with NUL and invalid UTF-8 bytes" {
    round_trip 'ab\n\0\xff\xc3'
}

@test "round trip: a multi-byte --recend" {
    round_trip 'xyz' --recend xy
}

@test "round trip: -0 (NUL-terminated records)" {
    round_trip 'ab\0\n' -0
}

@test "round trip: --recstart, and --recend with --recstart" {
    round_trip 'a>\n' --recstart '>'
    round_trip 'a>\n' --recend $'\n' --recstart '>'
}

@test "round trip: --regexp" {
    round_trip 'a1\n' --regexp --recend '[0-9]+\n'
}

@test "round trip: --fixed records of binary data" {
    round_trip 'a\0\xff' --fixed 7
}

@test "blocks end on records: every block of a --fixed 10 run is a multiple of 10" {
    random_input "$BATS_TEST_TMPDIR/in" 7 'ab' 995
    run cpp --fixed 10 -b 64 -a "$BATS_TEST_TMPDIR/in" 'wc -c'
    assert_success
    # 995 bytes cut as --pipepart cuts: 14 blocks of 70 (the first record
    # end after 64 bytes), then the 15 left.
    run awk '$1 % 10 != 0 && NR < 15 { bad++ } END { print NR, bad + 0, $1 }' <<<"$output"
    assert_output "15 0 15"
}

@test "the file path cuts where the pipe path does, for blocks bigger than its cut window" {
    # Lines of 1 byte to 150 kB: most cuts are found in a window near the
    # block's end, some need the block read from its start.
    python3 -c '
import random, sys
random.seed(7)
out = sys.stdout.buffer
for i in range(400):
    n = random.choice([1, 80, 5000, 70000]) if i % 50 else 150000
    out.write(b"%d>" % i + b"x" * n + b"\n")' >"$BATS_TEST_TMPDIR/in"
    local b mode
    for b in 65537 100k 300k; do
        for mode in "" "--recstart >"; do
            # shellcheck disable=SC2086
            cpp -b "$b" $mode -a "$BATS_TEST_TMPDIR/in" 'wc -c' >"$BATS_TEST_TMPDIR/file"
            # shellcheck disable=SC2086
            cpp -b "$b" $mode 'wc -c' <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/pipe"
            cmp "$BATS_TEST_TMPDIR/file" "$BATS_TEST_TMPDIR/pipe" ||
                fail "-b $b $mode: the file path cut elsewhere"
            [ "$(awk '{ s += $1 } END { print s }' "$BATS_TEST_TMPDIR/file")" = "$(wc -c <"$BATS_TEST_TMPDIR/in")" ]
        done
    done
}

@test "a record bigger than the block is never split" {
    python3 -c 'print("x" * 5000); print("y"); print("z" * 3000)' >"$BATS_TEST_TMPDIR/in"
    # As parallel --pipepart: each block ends at the first record end past
    # its size.
    run cpp -b 100 -a "$BATS_TEST_TMPDIR/in" 'wc -c'
    assert_success
    assert_output $'5001\n3003'
    # As parallel --pipe: the block grew while reading the long record.
    run cpp --pipe -b 100 'wc -c' <"$BATS_TEST_TMPDIR/in"
    assert_output $'5003\n3001'
}

# ---- like GNU parallel ------------------------------------------------------------------

@test "--round-robin starts -j filters once and feeds each many whole blocks, on every strategy" {
    local in=$BATS_TEST_TMPDIR/in starts=$BATS_TEST_TMPDIR/starts s
    seq 1 200000 >"$in"
    for s in sync thread process async; do
        : >"$starts"
        # From a pipe and from a file: every line reaches exactly one
        # filter, whole lines only, and no more filters start than -j.
        run cpp -s "$s" --round-robin -j3 -b 10k "echo x >>$starts; grep -c '^[0-9]*\$'" <"$in"
        assert_success
        [[ $(awk '{s+=$1} END {print s}' <<<"$output") == 200000 ]] || fail "-s $s lost lines: $output"
        (($(wc -l <"$starts") <= 3 && ${#lines[@]} <= 3)) || fail "-s $s started $(wc -l <"$starts") filters"
        run cpp -s "$s" -a "$in" --round-robin -j3 -b 10k 'cksum'
        assert_success
        ((${#lines[@]} >= 1 && ${#lines[@]} <= 3)) || fail "-s $s -a: ${#lines[@]} filters"
        run cpp -s "$s" -a "$in" --round-robin -j3 -b 10k 'wc -l'
        [[ $(awk '{s+=$1} END {print s}' <<<"$output") == 200000 ]] || fail "-s $s -a lost lines"
    done
    # Without it, a filter per block.
    : >"$starts"
    cpp -j3 -b 10k "echo x >>$starts; wc -l" <"$in" >/dev/null
    (($(wc -l <"$starts") > 100)) || fail "a filter per block expected"
}

@test "--round-robin: each filter gets the header once; --rrs; the same totals as parallel" {
    local in=$BATS_TEST_TMPDIR/in s
    { echo hdr; seq 1 50000; } >"$in"
    for s in thread process; do
        run cpp -s "$s" --header 1 --round-robin -j2 -b 1k 'grep -c hdr' <"$in"
        assert_success
        refute_output --regexp '[^1[:space:]]'
        [[ -n $output ]] || fail "no output"
    done
    need_parallel
    local want
    want=$(parallel --pipe --round-robin --rrs -j2 --block 1k 'wc -c' <"$in" | awk '{s+=$1} END {print s}')
    run cpp --round-robin --rrs -j2 -b 1k 'wc -c' <"$in"
    assert_success
    [[ $(awk '{s+=$1} END {print s}' <<<"$output") == "$want" ]] || fail "--rrs total differs: $want"
}

@test "--round-robin: a filter that quits early ends its lane, not the run; failures count filters" {
    local in=$BATS_TEST_TMPDIR/in s
    seq 1 300000 >"$in"
    for s in sync thread process async; do
        run cpp -s "$s" --round-robin -j2 -b 1k 'head -1' <"$in"
        assert_success
        ((${#lines[@]} >= 1)) || fail "-s $s: no output"
        run cpp -s "$s" -a "$in" --round-robin -j2 -b 1k 'cat >/dev/null; exit 3'
        assert_failure
        ((status == 1 || status == 2)) || fail "-s $s: exit $status, not the number of failed filters"
        assert_output --partial "filter 1 of --round-robin exited with status 3"
    done
    run cpp --round-robin --cat wc -l <"$in"
    assert_failure 2
    assert_output --partial "cpipe: --round-robin feeds each filter a stream: no --cat or --fifo"
}

@test "an exported bash function is a filter, as in parallel --pipe" {
    need_parallel
    upper() { tr a-z A-Z; }
    export -f upper
    run cpp upper <<<"shout"
    assert_success
    assert_output "$(parallel --pipe upper <<<"shout")"
    assert_output "SHOUT"
}

@test "--rrs feeds the blocks without their separators, as parallel --pipe --rrs" {
    need_parallel
    local in=$BATS_TEST_TMPDIR/in rules s
    { echo head; seq 1 3000; printf 'x>7\n>8\n>9x\n'; } >"$in"
    for rules in "" "--recend x --recstart >" "--recstart > --recend \\n" \
        "--regexp --recend [0-9]+\\n" "--regexp --recstart ^> --recend \\n" "--header 1"; do
        # shellcheck disable=SC2086 # the rules are words
        local want
        want=$(parallel --pipe --rrs --block 1000 -k $rules 'od -c' <"$in")
        [[ -n $want ]] || fail "no oracle output for: $rules"
        for s in sync thread process async; do
            # shellcheck disable=SC2086
            run cpp -s "$s" --pipe --rrs -b 1000 $rules 'od -c' <"$in"
            assert_success
            [[ $output == "$want" ]] || fail "-s $s --rrs $rules differs from parallel"
        done
        # From a file, cut as --pipe: the same bytes, read from the file.
        # shellcheck disable=SC2086
        run cpp -a "$in" --pipe --rrs -b 1000 $rules 'od -c'
        [[ $output == "$want" ]] || fail "-a --rrs $rules differs from parallel"
    done
    # --cat gives the stripped block in the file.
    run cpp --rrs --cat 'cat {}' <<<$'1\n2\n3'
    assert_output "123"
}

@test "the same blocks as parallel --pipe" {
    command -v parallel >/dev/null || skip "GNU parallel is not installed"
    seq 1 5000 >"$BATS_TEST_TMPDIR/in"
    local b
    for b in 1000 1024 333; do
        run cpp --pipe -b "$b" 'wc -c' <"$BATS_TEST_TMPDIR/in"
        assert_success
        assert_output "$(parallel --pipe --block "$b" -k 'wc -c' <"$BATS_TEST_TMPDIR/in")"
    done
    run cpp --pipe -b 700 --recend 9 'od -c' <"$BATS_TEST_TMPDIR/in"
    assert_output "$(parallel --pipe --recend 9 --block 700 -k 'od -c' <"$BATS_TEST_TMPDIR/in")"
    # parallel's -n and -l spell -N and -L with --pipe.
    run cpp -n 7 -l 3 'wc -l' <"$BATS_TEST_TMPDIR/in"
    assert_output "$(parallel --pipe -n 7 -l 3 -k 'wc -l' <"$BATS_TEST_TMPDIR/in")"
}

@test "--recend and --recstart decode backslash escapes as parallel --pipe does" {
    printf 'a\nb\n\nc\nd\n\ne\n' >"$BATS_TEST_TMPDIR/para"
    run cpp -b 1 --recend '\n\n' 'wc -l' <"$BATS_TEST_TMPDIR/para"
    assert_success
    assert_output "$(printf '3\n3\n1')"
    printf 'a\tbb\tc\t' >"$BATS_TEST_TMPDIR/tabs"
    run cpp -b 1 --recend '\t' 'wc -c' <"$BATS_TEST_TMPDIR/tabs"
    assert_output "$(printf '2\n3\n2')"
    printf 'a\x1eb\x1e' | cpp -b 1 --recend '\x1e' 'wc -c' >"$BATS_TEST_TMPDIR/rs"
    assert_equal "$(cat "$BATS_TEST_TMPDIR/rs")" "$(printf '2\n2')"
    if command -v parallel >/dev/null; then
        printf 'x\tbb\tc' >"$BATS_TEST_TMPDIR/tabs"
        run cpp -b 1 --recstart '\t' 'od -c' <"$BATS_TEST_TMPDIR/tabs"
        assert_output "$(parallel --pipe -k --block 1 --recstart '\t' 'od -c' <"$BATS_TEST_TMPDIR/tabs" 2>/dev/null)"
    fi
}

@test "a regular file that reports size 0 (/proc) is read, not skipped" {
    local lines
    lines=$(wc -l </proc/self/mounts)
    run cpp -a /proc/self/mounts 'wc -l'
    assert_success
    [ "$output" -gt 0 ] || fail "nothing read from /proc/self/mounts"
    [ "$lines" -gt 0 ]
    cat /proc/cpuinfo >"$BATS_TEST_TMPDIR/expected"
    cpp cat </proc/cpuinfo >"$BATS_TEST_TMPDIR/out"
    cmp "$BATS_TEST_TMPDIR/expected" "$BATS_TEST_TMPDIR/out"
}

@test "a file on stdin is consumed: its offset is at the end afterwards" {
    seq 1 1000 >"$BATS_TEST_TMPDIR/in"
    run sh -c 'cpipe -b 1k "wc -l" >/dev/null; wc -c' <"$BATS_TEST_TMPDIR/in"
    assert_success
    assert_output 0
}

@test "the seekable path's memory stays bounded by the block, not the file" {
    [ -x /usr/bin/time ] || skip "GNU time is not installed"
    yes 'a line of text for the memory bound' | head -c 200M >"$BATS_TEST_TMPDIR/big"
    /usr/bin/time -f %M -o "$BATS_TEST_TMPDIR/rss" \
        timeout -k 5 "$CTK_TIMEOUT" cpipe -j2 -b 96k -a "$BATS_TEST_TMPDIR/big" 'wc -c' |
        awk '{ s += $1 } END { print s }' >"$BATS_TEST_TMPDIR/sum"
    assert_equal "$(cat "$BATS_TEST_TMPDIR/sum")" $((200 << 20))
    local rss
    rss=$(tail -1 "$BATS_TEST_TMPDIR/rss")
    # Before: every cut left its mapped pages resident, ~150 MB here; the
    # limit leaves room for a sanitizer's own memory.
    [ "$rss" -lt $((96 * 1024)) ] || fail "max RSS ${rss} kB for a 200 MB file"
}

@test "filters with shell syntax run under sh; plain ones directly" {
    seq 1 1000 >"$BATS_TEST_TMPDIR/in"
    run cpp -b 1k 'grep -c 1 | tr -d " "' <"$BATS_TEST_TMPDIR/in"
    assert_success
    run awk '{ s += $1 } END { print s }' <<<"$output"
    assert_output "$(grep -c 1 "$BATS_TEST_TMPDIR/in")"
    run -127 cpp -b 1k -a "$BATS_TEST_TMPDIR/in" no-such-filter-here
}

# ---- empty input --------------------------------------------------------------------------

@test "empty input runs no filter (as parallel --pipe); --empty-block runs one" {
    local mark="$BATS_TEST_TMPDIR/ran"
    if command -v parallel >/dev/null; then
        run parallel --pipe "touch $mark; wc -l" </dev/null
        assert_output ""
        assert_file_not_exists "$mark"
    fi
    run cpp "touch $mark; wc -l" </dev/null
    assert_success
    assert_output ""
    assert_file_not_exists "$mark"
    : >"$BATS_TEST_TMPDIR/empty"
    run cpp -a "$BATS_TEST_TMPDIR/empty" "touch $mark; wc -l"
    assert_output ""
    run cpp --empty-block "touch $mark; wc -l" </dev/null
    assert_success
    assert_output 0
    assert_file_exists "$mark"
}

# ---- failures ---------------------------------------------------------------------------------

@test "--halt now,fail=1: block number and offset reported, earlier output whole, its status" {
    seq 1 1000 >"$BATS_TEST_TMPDIR/in"
    local s
    for s in thread async process sync; do
        run --separate-stderr cpp -s "$s" -j2 -b 500 --halt now,fail=1 -a "$BATS_TEST_TMPDIR/in" \
            'if [ "$CPIPE_BLOCK" = 3 ]; then exit 7; fi; cat'
        assert_equal "$status" 7
        assert_stderr_regex "cpipe: --halt: 1 block failed; ending the running filters"
        # Blocks 1 and 2 (500 and 500 bytes up to a newline) are complete.
        assert_equal "$output" "$(head -c "$(cpp -b 500 -a "$BATS_TEST_TMPDIR/in" 'wc -c' |
            head -2 | awk '{ s += $1 } END { print s }')" "$BATS_TEST_TMPDIR/in")"
        assert_stderr_regex "^cpipe: block 3 \(offset [0-9]+, [0-9]+ bytes\): the filter exited with status 7"
    done
    # The offset is that of block 3's first byte.
    local want
    want=$(cpp -b 500 -a "$BATS_TEST_TMPDIR/in" 'wc -c' | head -2 | awk '{ s += $1 } END { print s }')
    assert_stderr_regex "offset $want,"
}

@test "a filter killed by a signal: reported with the signal, status 128+N" {
    seq 1 100 >"$BATS_TEST_TMPDIR/in"
    run --separate-stderr cpp -b 100 --halt now,fail=1 -a "$BATS_TEST_TMPDIR/in" 'kill -9 $$'
    assert_equal "$status" 137
    assert_stderr_regex "block 1 \(offset 0, [0-9]+ bytes\): the filter was killed by signal 9"
}

@test "by default every block runs: failures reported, every other block written, exit = failed blocks" {
    seq 1 1000 >"$BATS_TEST_TMPDIR/in"
    local s n
    n=$(cpp -b 500 -a "$BATS_TEST_TMPDIR/in" 'wc -l' | wc -l)
    for s in thread async process sync; do
        run --separate-stderr cpp -s "$s" -b 500 -a "$BATS_TEST_TMPDIR/in" \
            'if [ "$CPIPE_BLOCK" = 2 ] || [ "$CPIPE_BLOCK" = 4 ]; then exit 3; fi; wc -l'
        assert_equal "$status" 2
        assert_equal "${#lines[@]}" $((n - 2))
        assert_stderr_regex "block 2 .*status 3"
        assert_stderr_regex "block 4 .*status 3"
    done
}

@test "GNU parallel --pipe as the oracle: the exit status counts failed blocks, 101 for more than 100" {
    command -v parallel >/dev/null || skip "GNU parallel is not installed (./bootstrap --test-deps)"
    local want got
    for n in 7 150; do
        want=$(seq "$n" | parallel --will-cite --pipe -N1 false 2>/dev/null; echo $?)
        got=$(seq "$n" | cpp -b 1 false 2>/dev/null; echo $?)
        assert_equal "$got" "$want"
    done
    # cpipe(1)'s own example: a block where grep finds nothing does not stop the others.
    seq 1 5000 >"$BATS_TEST_TMPDIR/in"
    run --separate-stderr cpp -b 2000 -a "$BATS_TEST_TMPDIR/in" grep -x 4999
    assert_output 4999
    assert [ "$status" -gt 0 ]
}

@test "--halt soon,fail=1 writes the blocks already running; --halt success and bad values" {
    seq 1 1000 >"$BATS_TEST_TMPDIR/in"
    run --separate-stderr cpp -j1 -b 500 --halt soon,fail=1 -a "$BATS_TEST_TMPDIR/in" \
        'if [ "$CPIPE_BLOCK" = 2 ]; then exit 3; fi; wc -l'
    assert_equal "$status" 3
    assert_stderr_regex "starting no more blocks"
    run --separate-stderr cpp -j1 -b 500 --halt now,success=1 -a "$BATS_TEST_TMPDIR/in" wc -l
    assert_success
    assert_equal "${#lines[@]}" 1
    run --separate-stderr cpp --halt sometime,fail=1 cat </dev/null
    assert_equal "$status" 2
    assert_stderr_regex "^cpipe: --halt sometime,fail=1: use"
    run --separate-stderr cpp --halt-on-error 10% cat </dev/null
    assert_equal "$status" 2
    assert_stderr_regex "use a count"
}

@test "--keep-going (the default) still runs every block" {
    seq 1 1000 >"$BATS_TEST_TMPDIR/in"
    run --separate-stderr cpp --keep-going -b 500 -a "$BATS_TEST_TMPDIR/in" \
        'if [ "$CPIPE_BLOCK" = 2 ]; then exit 3; fi; wc -l'
    assert_equal "$status" 1
    local n
    n=$(cpp -b 500 -a "$BATS_TEST_TMPDIR/in" 'wc -l' | wc -l)
    assert_equal "${#lines[@]}" $((n - 1))
    assert_stderr_regex "block 2 .*status 3"
}

# ---- headers, --reduce, --tag, the environment ----------------------------------------------------

@test "--header 1 on CSV: every block starts with the header line" {
    {
        echo "name,count"
        seq 1 2000 | awk '{ print "row" $1 "," $1 }'
    } >"$BATS_TEST_TMPDIR/in.csv"
    local path
    for path in file pipe; do
        if [[ $path == file ]]; then
            run cpp --header 1 -b 2k -a "$BATS_TEST_TMPDIR/in.csv" 'head -1'
        else
            run cpp --header 1 -b 2k 'head -1' <"$BATS_TEST_TMPDIR/in.csv"
        fi
        assert_success
        ((${#lines[@]} > 5)) || fail "only ${#lines[@]} blocks"
        assert_equal "$(sort -u <<<"$output")" "name,count"
        # And the records after the header, in order, are the input's.
        run cpp --header 1 -b 2k -a "$BATS_TEST_TMPDIR/in.csv" 'tail -n +2'
        assert_equal "$output" "$(tail -n +2 "$BATS_TEST_TMPDIR/in.csv")"
    done
}

@test "--reduce pipes the outputs into one command" {
    seq 1 20000 >"$BATS_TEST_TMPDIR/in"
    run cpp -b 10k --reduce "awk '{ s += \$1 } END { print s }'" wc -l <"$BATS_TEST_TMPDIR/in"
    assert_success
    assert_output 20000
    run cpp --reduce 'exit 4' -a "$BATS_TEST_TMPDIR/in" wc -l
    assert_equal "$status" 4
}

@test "--tagstring {#}, CPIPE_BLOCK, CPIPE_OFFSET and --block-id" {
    seq 1 6 >"$BATS_TEST_TMPDIR/in"
    run cpp --pipe -b 4 --tagstring '{#}' cat <"$BATS_TEST_TMPDIR/in"
    assert_output $'1\t1\n1\t2\n2\t3\n2\t4\n3\t5\n3\t6'
    seq 1 3000 >"$BATS_TEST_TMPDIR/in"
    # Each block's offset is where its bytes are in the input.
    run cpp -b 1000 -a "$BATS_TEST_TMPDIR/in" 'echo "$CPIPE_BLOCK $CPIPE_OFFSET $(wc -c)"'
    assert_success
    run awk -v f="$BATS_TEST_TMPDIR/in" '$1 != NR || $2 != off { bad++ } { off += $3 }
        END { print bad + 0, off }' <<<"$output"
    assert_output "0 $(wc -c <"$BATS_TEST_TMPDIR/in")"
    run cpp -b 1000 --block-id -a "$BATS_TEST_TMPDIR/in" echo block
    assert_equal "${lines[0]}" "block 1"
    assert_equal "${lines[3]}" "block 4"
}

@test "--unordered writes every block's output, in any order" {
    seq 1 5000 >"$BATS_TEST_TMPDIR/in"
    run cpp --unordered -j3 -b 1k 'if [ "$CPIPE_BLOCK" = 1 ]; then sleep 0.3; fi; cat' \
        <"$BATS_TEST_TMPDIR/in"
    assert_success
    assert_equal "$(sort -n <<<"$output")" "$(cat "$BATS_TEST_TMPDIR/in")"
    [[ $output != "$(cat "$BATS_TEST_TMPDIR/in")" ]] || fail "block 1 was not overtaken"
}

# ---- filters that read little or write a lot -------------------------------------------------------

@test "a filter that does not read its stdin, or stops early, does not hang or kill cpipe" {
    head -c 8000000 /dev/zero | tr '\0' 'x' | fold -w 99 >"$BATS_TEST_TMPDIR/in"
    local s
    for s in thread async; do
        run cpp -s "$s" -b 2M -a "$BATS_TEST_TMPDIR/in" true
        assert_success
        run cpp -s "$s" -b 2M 'head -c 10' <"$BATS_TEST_TMPDIR/in"
        assert_success
        assert_equal "${#output}" 40
    done
}

@test "a filter that writes much more than it reads does not deadlock" {
    seq 1 40 >"$BATS_TEST_TMPDIR/in"
    local s blocks
    blocks=$(cpp -b 30 'wc -c' <"$BATS_TEST_TMPDIR/in" | wc -l)
    for s in thread async process; do
        cpp -s "$s" -b 30 'cat; head -c 6000000 /dev/zero' <"$BATS_TEST_TMPDIR/in" \
            >"$BATS_TEST_TMPDIR/out" || fail "-s $s failed"
        assert_equal "$(wc -c <"$BATS_TEST_TMPDIR/out")" \
            $((blocks * 6000000 + $(wc -c <"$BATS_TEST_TMPDIR/in")))
        assert_equal "$(tr -d '\0' <"$BATS_TEST_TMPDIR/out")" "$(cat "$BATS_TEST_TMPDIR/in")"
    done
}

@test "a reader that goes away ends cpipe quietly (status 141), filters and all" {
    seq 1 200000 >"$BATS_TEST_TMPDIR/in"
    run bash -c 'cpipe -b 10k -a "$1" cat | head -1; echo "${PIPESTATUS[0]}"' _ "$BATS_TEST_TMPDIR/in"
    assert_output $'1\n141'
}

# ---- signals --------------------------------------------------------------------------------------------

# interrupt SIG STATUS STRATEGY RUNNING: cpipe -j2 on blocks whose filter
# sleeps; once RUNNING filters run, the signal ends it with STATUS and no
# filter is left.
interrupt() {
    local mark="30.$RANDOM$RANDOM"
    seq 1 100 >"$BATS_TEST_TMPDIR/in"
    bg_tool cpipe -s "$3" -j2 -b 10 -a "$BATS_TEST_TMPDIR/in" "sleep $mark; cat"
    wait_pgrep "^sleep $mark" "$4" || fail "the filters did not start"
    local t0
    t0=$(now)
    kill -"$1" "$BG_TOOL"
    bg_wait
    elapsed_below "$t0" 5
    assert_equal "$BG_STATUS" "$2"
    assert_equal "$(cat "$BG_OUT")" ""
    local i
    for ((i = 0; i < 100; i++)); do
        pgrep -f -- "^sleep $mark" >/dev/null || break
        sleep 0.02
    done
    run pgrep -f -- "^sleep $mark"
    assert_failure 1
}

@test "SIGINT: exit 130, no filter left (thread, async)" {
    interrupt INT 130 thread 2
    interrupt INT 130 async 2
}

@test "SIGTERM: exit 143, no filter left (process, sync)" {
    interrupt TERM 143 process 2
    interrupt TERM 143 sync 1
}

@test "a signal ends a run that waits on a silent pipe at once, under every strategy" {
    # A writer that never writes nor closes: only the cancel fd, not end of
    # input, can wake the reader.
    mkfifo "$BATS_TEST_TMPDIR/fifo"
    exec 4<>"$BATS_TEST_TMPDIR/fifo"
    local s t0
    for s in sync thread process async; do
        bg_tool cpipe -s "$s" -j2 -a "$BATS_TEST_TMPDIR/fifo" cat
        sleep 0.3
        t0=$(now)
        kill -INT "$BG_TOOL"
        bg_wait
        elapsed_below "$t0" 2
        assert_equal "$BG_STATUS" 130
    done
    exec 4>&-
}

@test "SIGINT with --reduce: the reducer is stopped too, no partial result printed" {
    local mark="30.$RANDOM$RANDOM"
    seq 1 100 >"$BATS_TEST_TMPDIR/in"
    bg_tool cpipe -j2 -b 10 -a "$BATS_TEST_TMPDIR/in" --reduce "awk 'END { print \"SUM\", NR }'" \
        "sleep $mark; cat"
    wait_pgrep "^sleep $mark" 2 || fail "the filters did not start"
    kill -INT "$BG_TOOL"
    bg_wait
    assert_equal "$BG_STATUS" 130
    # Before: the reducer, in its own process group, read the end of its
    # input and printed "SUM 0".
    assert_equal "$(cat "$BG_OUT")" ""
}

@test "--progress: a bar on stderr in MB, at 100% when the file is done" {
    head -c 20971520 /dev/zero | tr '\0' 'x' | fold -w 1023 >"$BATS_TEST_TMPDIR/in"
    run --separate-stderr cpp --progress -a "$BATS_TEST_TMPDIR/in" wc -l
    assert_success
    assert_stderr_regex '100%  20/20 MB'
    # Piped: no size, so no percentage, but the amount and a rate.
    run --separate-stderr bash -c 'cat "$1" | cpipe --progress wc -l' _ "$BATS_TEST_TMPDIR/in"
    assert_stderr_regex '20 MB .*/s'
}

# ---- --compare ----------------------------------------------------------------------------------------------

@test "--compare: one row per strategy, the same output digest on every row" {
    seq 1 20000 >"$BATS_TEST_TMPDIR/in"
    run --separate-stderr cpp --compare --format tsv -b 10k -j2 cat <"$BATS_TEST_TMPDIR/in"
    assert_success
    run tsv_col strategy <<<"$output"
    assert_output $'sync\nthread\nprocess\nasync'
    run --separate-stderr cpp --compare --format tsv -b 10k -j2 cat <"$BATS_TEST_TMPDIR/in"
    run tsv_col output_md5 <<<"$output"
    assert_equal "$(sort -u <<<"$output")" "$(md5sum <"$BATS_TEST_TMPDIR/in" | cut -d' ' -f1)"
}

# ---- usage ----------------------------------------------------------------------------------------------------

@test "bad options: exit 2 with 'cpipe: message'" {
    local args
    for args in "--block 0 cat" "--block 1x cat" "" "--header ( cat" "--fixed 0 cat" \
        "--regexp --recend ( cat" "--fixed 4 --recend x cat" "-s nosuch cat" \
        "--no-such-option cat" "-j 0x cat"; do
        # shellcheck disable=SC2086
        run --separate-stderr cpp $args </dev/null
        assert_equal "$status" 2
        assert_output ""
        assert_stderr_regex "^cpipe: "
        assert_equal "${stderr_lines[-1]}" "Try 'cpipe --help' for more information."
    done
}

@test "a file truncated while cpipe reads it: reported, status 255, no crash" {
    local d=$BATS_TEST_TMPDIR pid i=0 rc=0
    yes 'a line of a log that gets rotated' | head -c 8M >"$d/log"
    # Block 1 holds on until the file is truncated; later blocks are cut
    # from, or fed from, a file that is no longer there.
    cpp -j1 -b 1M -a "$d/log" \
        "if [ \$CPIPE_BLOCK = 1 ]; then touch $d/started; while [ ! -e $d/go ]; do sleep 0.05; done; fi; wc -c" \
        >"$d/out" 2>"$d/err" 3>&- &
    pid=$!
    while [ ! -e "$d/started" ] && [ $((i++)) -lt 400 ]; do sleep 0.05; done
    : >"$d/log"
    touch "$d/go"
    wait "$pid" || rc=$?
    # Before: killed by SIGBUS (135), or blocks silently short (0).
    assert_equal "$rc" 255
    grep -q '^cpipe: .*truncated?' "$d/err" || fail "stderr: $(cat "$d/err")"
}

@test "-j beyond the file descriptor limit: fewer filters at once, with a warning, not EMFILE" {
    seq 1 20000 >"$BATS_TEST_TMPDIR/in"
    local s
    for s in async thread; do
        run --separate-stderr bash -c 'ulimit -Sn 256 && ulimit -Hn 256 &&
            exec cpipe -s "$1" -j 100 -b 1k -a "$2" "sleep 0.1; wc -l"' _ "$s" "$BATS_TEST_TMPDIR/in"
        assert_success
        assert_equal "$(awk '{ s += $1 } END { print s }' <<<"$output")" 20000
        assert_stderr_regex "^cpipe: only enough file descriptors \(256\) to run [0-9]+ filters at once, not 100$"
    done
}

@test "-a - reads standard input (pipe and file alike)" {
    seq 1 1000 >"$BATS_TEST_TMPDIR/in"
    run cpp -b 1k -a - 'wc -l' <"$BATS_TEST_TMPDIR/in"
    assert_success
    assert_equal "$(awk '{ s += $1 } END { print s }' <<<"$output")" 1000
    run bash -c 'seq 1 1000 | cpipe -b 1k -a - "wc -l" | awk "{ s += \$1 } END { print s }"'
    assert_output 1000
}

@test "an input that cannot be opened: cpipe: message, status 255" {
    run --separate-stderr cpp -a "$BATS_TEST_TMPDIR/nonexistent" cat
    assert_equal "$status" 255
    assert_stderr_regex "^cpipe: cannot open .*nonexistent"
}

@test "an input that cannot be read fails, with --compare too (not an empty table)" {
    run --separate-stderr cpp cat </
    assert_equal "$status" 255
    assert_stderr_regex "^cpipe: .*Is a directory"
    run --separate-stderr cpp --compare=sync,thread cat </
    assert_equal "$status" 255
    assert_stderr_regex "^cpipe: cannot read the input: Is a directory"
    assert_output ""
}

@test "every long option in --help appears in man/cpipe.1" {
    assert_man_has_options cpipe 25
}

@test "man/cpipe.1 renders without warnings and has the expected sections" {
    assert_man_renders cpipe NAME SYNOPSIS DESCRIPTION OPTIONS RECORDS STRATEGIES 'EXIT STATUS' \
        EXAMPLES 'SEE ALSO'
}

@test "blocks cross a process boundary as bytes: the wirepair fixture strategy gives thread's output" {
    local so
    so=$(fixture_plugin wirepair)
    random_input "$BATS_TEST_TMPDIR/in" 7 'abcxyz \\n' 300000
    # A filter that changes every byte, over a file (windows) and a pipe (bytes).
    run --separate-stderr bash -c 'cpipe --plugin "$1" -s wirepair --block 16k -a "$2" tr a-z A-Z | md5sum' _ "$so" "$BATS_TEST_TMPDIR/in"
    assert_success
    assert_output "$(tr a-z A-Z <"$BATS_TEST_TMPDIR/in" | md5sum)"
    run --separate-stderr bash -c 'cat "$2" | cpipe --plugin "$1" -s wirepair --block 16k rev | md5sum' _ "$so" "$BATS_TEST_TMPDIR/in"
    assert_success
    assert_output "$(rev <"$BATS_TEST_TMPDIR/in" | md5sum)"
}

@test "a full TMPDIR: cpipe says the filter's output could not be kept (not that it could not run), under each strategy" {
    local full=$BATS_TEST_TMPDIR/full s
    mkdir -p "$full"
    mount -t tmpfs -o size=1m tmpfs "$full" 2>/dev/null || skip "cannot mount a tmpfs (not root?)"
    for s in process thread async; do
        run --separate-stderr bash -c "head -c 20000000 /dev/zero | TMPDIR='$full' timeout 60 cpipe -s $s --block 5M cat | wc -c"
        [[ $stderr == *"cannot keep the filter's output: No space left on device"* ]] || { umount "$full"; fail "$s: $stderr"; }
        [[ $stderr != *"cannot run the filter"* ]] || { umount "$full"; fail "$s: $stderr"; }
    done
    umount "$full"
}

@test "kill -9 of cpipe ends its running filters too, under every strategy" {
    local s d=$BATS_TEST_TMPDIR pid i f
    for s in process sync thread async; do
        rm -f "$d"/filter.*
        # shellcheck disable=SC2016
        yes | cpipe -s "$s" -j2 --block 1k 'echo $$ > '"$d"'/filter.$$; exec sleep 30' >/dev/null 2>&1 &
        pid=$!
        for i in $(seq 100); do
            compgen -G "$d/filter.*" >/dev/null && break
            sleep 0.05
        done
        compgen -G "$d/filter.*" >/dev/null || fail "$s: no filter started"
        kill -KILL "$pid"
        wait "$pid" 2>/dev/null || true
        sleep 0.5
        for f in "$d"/filter.*; do
            alive "$(cat "$f")" && fail "$s: filter outlived cpipe"
        done
    done
    return 0
}

# ---- nothing left in TMPDIR (issue 13, #14) ------------------------------------------

@test "outputs bigger than memory are byte-identical and leave the spill folder empty, under every strategy" {
    local s tmp=$BATS_TEST_TMPDIR/tmp in=$BATS_TEST_TMPDIR/in
    command -v parallel >/dev/null || skip "GNU parallel is not installed"
    mkdir "$tmp"
    seq 1 2000000 >"$in"
    # Blocks of about 5 MB, each written twice: past the 4 MB kept in memory.
    for s in process sync thread async; do
        assert_equal "$(TMPDIR=$tmp cpp -s "$s" -j3 --block 5M -a "$in" 'cat; cat' | md5sum)" \
            "$(parallel --pipepart -k -j3 --block 5M -a "$in" 'cat; cat' | md5sum)"
        assert_equal "$(cpp -s "$s" -j3 --block 5M --tmpdir "$tmp" 'cat; cat' <"$in" | md5sum)" \
            "$(parallel --pipe -k -j3 --block 5M 'cat; cat' <"$in" | md5sum)"
        assert_equal "$(ls -A "$tmp")" ""
    done
}

@test "SIGKILL, SIGTERM and SIGINT mid-run leave the spill folder empty, with outputs past memory waiting, under every strategy" {
    local d=$BATS_TEST_TMPDIR tmp=$BATS_TEST_TMPDIR/tmp
    mkdir "$tmp"
    # Block 4 holds the order: the 5 MB outputs of the blocks after it
    # wait (sync: it is killed while running).
    # shellcheck disable=SC2016
    assert_signals_leave_tmp_empty "$tmp" 3 0.3 'seq 1 300000' cpipe -j3 --block 100k \
        'cat >/dev/null; if [ $CPIPE_BLOCK = 4 ]; then sleep @MARK@; fi
         head -c 5000000 /dev/zero; touch '"$d"'/done.$CPIPE_BLOCK'
}

# ---- kill -9 leaves no filter process (issue 13, #15) ----------------------------------

@test "kill -9 of cpipe ends its filters' grandchildren too, under every strategy" {
    assert_kill9_ends_grandchildren filter yes cpipe -j3 --block 1k 'cat >/dev/null; sleep @MARK@; echo'
}

# ---- cut points: GNU parallel is the oracle (issue 15) ----------------------

cut_oracle() { # MODE BLOCK INPUT-COMMAND: compare cpipe with parallel
    command -v parallel >/dev/null || skip "GNU parallel is not installed"
    eval "$3" > "$BATS_TEST_TMPDIR/in"
    local exp got
    if [ "$1" = pipepart ]; then
        exp=$(parallel --will-cite --pipepart -a "$BATS_TEST_TMPDIR/in" -k --block "$2" 'paste -sd,')
        got=$(cpp -a "$BATS_TEST_TMPDIR/in" --block "$2" 'paste -sd,')
    else
        exp=$(cat "$BATS_TEST_TMPDIR/in" | parallel --will-cite --pipe -k $1 --block "$2" 'paste -sd,' 2>/dev/null)
        got=$(cat "$BATS_TEST_TMPDIR/in" | cpp $1 --block "$2" 'paste -sd,')
    fi
    [ "$exp" = "$got" ] || { echo "parallel: $exp"; echo "cpipe: $got"; return 1; }
}

@test "cut points: --pipepart and --pipe match GNU parallel at many sizes" {
    for b in 1 3 5 7 13 40; do
        cut_oracle pipepart $b "seq 30"
        cut_oracle pipepart $b "printf 'a\nbb\nccc\ndddd\neeeee\n'"
        cut_oracle --pipe $b "seq 30"
        cut_oracle --pipe $b "printf 'aaaaaaaaaa\nb\nc\n'"
        cut_oracle --pipe $b "printf '1\n2\n3'"
        cut_oracle "--recend ''" $b "seq 12"
        cut_oracle -L2 $b "seq 11"
    done
    cut_oracle -N3 1 "seq 10"
}

@test "--block-size and lowercase suffixes read as parallel reads them" {
    seq 3000 > "$BATS_TEST_TMPDIR/f"
    a=$(cpp -a "$BATS_TEST_TMPDIR/f" --block-size 2k 'wc -l')
    b=$(cpp -a "$BATS_TEST_TMPDIR/f" --blocksize 2000 'wc -l')
    [ "$a" = "$b" ]
    c=$(cpp -a "$BATS_TEST_TMPDIR/f" --block 2K 'wc -l')
    [ "$a" != "$c" ]
}

# ---- --cat and --fifo: the block behind a name (issue 15) ---------------------------

@test "--cat and --fifo: the filter reads the block from the name {} stands for, as parallel gives it, under every strategy, piped and -a FILE" {
    command -v parallel >/dev/null || skip "GNU parallel is not installed"
    local d=$BATS_TEST_TMPDIR mode s exp got filter filters
    seq 1 2000 >"$d/in"
    for mode in --cat --fifo; do
        # {} named, and appended when absent (plain `cat` then reads it).
        # A fifo can be read once.
        filters=('md5sum <{}' 'cat')
        [ "$mode" = --cat ] && filters+=('wc -c <{}; md5sum <{}')
        for filter in "${filters[@]}"; do
            exp=$(parallel --will-cite --pipe -k "$mode" -N300 "$filter" <"$d/in")
            [ -n "$exp" ] || fail "parallel $mode gave nothing"
            for s in $(cpipe --list-strategies | awk '{print $1}'); do
                got=$(cpp -s "$s" -k "$mode" -N300 "$filter" <"$d/in") ||
                    fail "cpipe -s $s $mode '$filter' failed"
                assert_equal "$got" "$exp"
            done
        done
        exp=$(parallel --will-cite --pipepart -a "$d/in" -k "$mode" --block 999 'wc -c <{}')
        for s in $(cpipe --list-strategies | awk '{print $1}'); do
            got=$(cpp -s "$s" -a "$d/in" -k "$mode" --block 999 'wc -c <{}') ||
                fail "cpipe -s $s -a FILE $mode failed"
            assert_equal "$got" "$exp"
        done
    done
}

@test "--cat and --fifo: the name is a 0600 file or fifo in --tmpdir, \$PARALLEL_TMP, removed after; a failed filter counts as in parallel" {
    command -v parallel >/dev/null || skip "GNU parallel is not installed"
    local tmp=$BATS_TEST_TMPDIR/tmp s exp mode
    mkdir "$tmp"
    for s in $(cpipe --list-strategies | awk '{print $1}'); do
        run cpp -s "$s" -k --tmpdir "$tmp" --cat -N2 \
            'stat -c "%a %F" {}; [ "$(dirname {})" = "$(dirname "$PARALLEL_TMP")" ] && dirname {}' < <(seq 5)
        assert_success
        assert_equal "$(sort -u <<<"$output")" "$(printf '%s\n' "$tmp" "600 regular file" | sort)"
        run cpp -s "$s" -k --tmpdir "$tmp" --fifo -N2 'cat {} >/dev/null; stat -c "%a %F" {}' < <(seq 5)
        assert_success
        assert_equal "$(sort -u <<<"$output")" "600 fifo"
        assert_equal "$(ls -A "$tmp")" ""
        # Every block runs; the exit status counts the failed ones. The
        # oracle is parallel --fifo: its --cat (20221122) exits 0 here.
        exp=$(seq 5 | parallel --will-cite --pipe --fifo -N2 'grep -q 3 {}' >/dev/null 2>&1; echo $?)
        [ "$exp" = 2 ] || fail "parallel --fifo: exit $exp"
        for mode in --cat --fifo; do
            run cpp -s "$s" --tmpdir "$tmp" "$mode" -N2 'grep -q 3 {}' < <(seq 5)
            assert_equal "$status" "$exp"
        done
        assert_equal "$(ls -A "$tmp")" ""
    done
}

@test "--fifo: a filter that never opens the fifo ends its block (parallel would wait forever), under every strategy" {
    local s
    for s in $(cpipe --list-strategies | awk '{print $1}'); do
        run cpp -s "$s" -k --fifo -N1000 'echo x' < <(seq 5000)
        assert_success
        assert_equal "$(grep -c '^x ' <<<"$output")" 5
    done
}

@test "--cat and --fifo: SIGTERM and SIGINT mid-run leave --tmpdir empty, under every strategy" {
    local s sig tmp=$BATS_TEST_TMPDIR/tmp mark pid i p mode
    mkdir "$tmp"
    for s in $(cpipe --list-strategies | awk '{print $1}'); do
        for mode in --cat --fifo; do
            for sig in TERM INT; do
                mark="30.0$$$RANDOM"
                seq 1 3000 | cpipe -s "$s" -j3 -N1000 --tmpdir "$tmp" "$mode" \
                    'cat {} >/dev/null; sleep '"$mark" >/dev/null 2>&1 &
                pid=$!
                for i in $(seq 200); do
                    pgrep -f -- "^sleep $mark" >/dev/null && break
                    sleep 0.05
                done
                pgrep -f -- "^sleep $mark" >/dev/null || fail "$s $mode: no filter started"
                [[ -n $(ls -A "$tmp") ]] || fail "$s $mode: no file in --tmpdir while running"
                kill -"$sig" "$pid"
                wait "$pid" 2>/dev/null || true
                for p in $(pgrep -f -- "sleep $mark"); do
                    kill -KILL "$p" 2>/dev/null || true
                done
                [[ -z $(ls -A "$tmp") ]] || fail "$s $mode SIG$sig: left $(ls -A "$tmp")"
            done
        done
    done
}

@test "--cat with --fifo is a usage error; --will-cite and --no-notice change nothing" {
    run cpp --cat --fifo cat < <(seq 3)
    assert_failure 2
    assert_output --partial -- "--fifo cannot be combined with --cat"
    assert_equal "$(seq 100 | cpp -k --will-cite --no-notice -N7 'paste -sd+')" \
        "$(seq 100 | cpp -k -N7 'paste -sd+')"
}

@test "PARALLEL_SEQ and PARALLEL_PID as parallel --pipe sets them, every strategy" {
    need_parallel
    want=$(printf 01a02a0a0a12a34a45a6a | parallel -k -j1 --pipe --recend a -N 3 \
        'echo -n "$PARALLEL_SEQ>"; cat; echo')
    for s in sync thread process async; do
        run cpp -s "$s" -k -j2 --recend a -N 3 'echo -n "$PARALLEL_SEQ>"; cat; echo' \
            < <(printf 01a02a0a0a12a34a45a6a)
        assert_success
        assert_output "$want"
    done
    run cpp -N 2 'echo "$PARALLEL_PID"' < <(seq 6)
    assert_success
    [ "${#lines[@]}" -eq 3 ]
    for l in "${lines[@]}"; do [ "$l" -gt 1 ] && [ "$l" != $$ ]; done
    [ "${lines[0]}" = "${lines[2]}" ]
}

# cpipeopt: --tag/--tagstring, -v, -q, --delay, --files, --blocktimeout and the
# accepted --line-buffer/--ungroup/--compress, with parallel --pipe as the oracle

# pipe_oracle INPUT-COMMAND ARGS...: cpipe ARGS and parallel --pipe ARGS on the
# same input give the same stdout+stderr and exit status.
pipe_oracle() {
    local input=$1
    shift
    local want got
    want=$(bash -c "$input" | timeout 60 parallel --pipe "$@" 2>&1; echo "rc=$?")
    got=$(bash -c "$input" | cpp "$@" 2>&1; echo "rc=$?")
    [[ $got == "$want" ]] || fail "cpipe $*: $(diff <(echo "$want") <(echo "$got"))"
}

@test "cpipeopt: --tag and --tagstring ({#}, {%}, \t) tag lines as parallel --pipe" {
    pipe_oracle 'seq 3000' -k -j4 -N1000 --tagstring '{%}' LC_ALL=C wc
    pipe_oracle 'seq 5' -k -j1 -N2 --tagstring 'b{#}\ts{%}' cat
    pipe_oracle 'seq 3' --tag cat
    pipe_oracle 'printf "a\nb"' --tagstring x cat
}

@test "cpipeopt: -v prints the command line (tagged), -q quotes the filter" {
    pipe_oracle 'seq 3' -v --tagstring foo cat
    pipe_oracle 'seq 1' -j10 -v cat
    pipe_oracle 'seq 4' -k -N2 -v 'cat >/dev/null; echo $PARALLEL_SEQ | cat'
    # A filter that reads its block: parallel's status is racy for one that does not.
    pipe_oracle 'seq 4' -k -N2 -q -v sh -c 'cat >/dev/null; echo "$PARALLEL_SEQ" "|" {#}'
    pipe_oracle 'echo foo' -k -q sh -c 'cat; echo {#} {%}'
}

@test "cpipeopt: {%} is the job slot and --delay spaces the filters' starts" {
    seq 10000 >"$BATS_TEST_TMPDIR/in"
    # Which block gets which slot depends on timing, in parallel too: the
    # slots are 1 and 2, both used, one line per block as parallel gives.
    local want
    want=$(parallel --pipe -k -j2 --block 10k 'echo {%}' <"$BATS_TEST_TMPDIR/in" | wc -l)
    run cpp -k -j2 --block 10k --delay 0.1 'sleep 0.2; echo {%}' <"$BATS_TEST_TMPDIR/in"
    assert_success
    assert_equal "${#lines[@]}" "$want"
    assert_equal "$(sort -u <<<"$output" | paste -sd,)" 1,2
    # Three filters, 0.4 s apart: the last starts at least 0.8 s after the first.
    run cpp -j3 -N1 --delay 0.4 'date +%s.%N' < <(seq 3)
    assert_success
    run awk 'NR == 1 { a = $1 } END { print ($1 - a >= 0.75) ? "spaced" : "not spaced: " $1 - a }' \
        < <(sort -n <<<"$output")
    assert_output spaced
    run cpp --delay 1x cat < <(seq 1)
    assert_failure 2
    assert_output --partial "cpipe: --delay 1x: not a duration"
}

@test "cpipeopt: --files writes each block's output to a file of --tmpdir and prints its name" {
    local d=$BATS_TEST_TMPDIR/files g=$BATS_TEST_TMPDIR/gnu
    mkdir -p "$d" "$g"
    run cpp --tmpdir "$d" -k -N2 -v --tagstring 'x{#}' --files cat < <(seq 6)
    assert_success
    local want
    want=$(seq 6 | parallel --pipe --tmpdir "$g" -k -N2 -v --tagstring 'x{#}' --files cat)
    # The same lines but for the random names; each file holds what parallel's does.
    assert_equal "$(sed 's|\t/.*\.par$|\tF|' <<<"$output")" "$(sed 's|\t/.*\.par$|\tF|' <<<"$want")"
    paste <(cut -f2 <<<"$output") <(cut -f2 <<<"$want") | while read -r mine theirs; do
        [[ $mine == "$d"/par*.par ]] || fail "not in --tmpdir: $mine"
        cmp "$mine" "$theirs" || fail "$mine differs from parallel's $theirs"
    done
    assert_equal "$(ls "$d" | wc -l)" 3
    seq 500 | cpp --tmpdir "$d" -j10 --block 1k --files wc >/dev/null
    assert_equal "$(ls "$d" | wc -l)" $((3 + $(seq 500 | parallel --pipe --tmpdir "$g" -j10 --block 1k --files wc | wc -l)))
}

@test "cpipeopt: --blocktimeout cuts a stalled pipe at its last whole record, as parallel" {
    # GNU's suite case (par_bug56403) with gaps wide enough for a loaded
    # machine: parallel and cpipe give these three blocks.
    local input='echo job1a; sleep 2.5; echo job2b; echo -n job3c; sleep 2.5; echo job3d'
    run cpp --blocktimeout 1 -j1 --tagstring '{#}' -k cat < <(bash -c "$input")
    assert_success
    assert_output $'1\tjob1a\n2\tjob2b\n3\tjob3cjob3d'
    pipe_oracle 'seq 3' --bt 1 cat
    run cpp --bt 0.5 cat < <(seq 1)
    assert_failure 2
    assert_output --partial "cpipe: --blocktimeout 0.5: must be at least 1"
}

@test "cpipeopt: --line-buffer, --ungroup and --compress keep the output parallel gives" {
    pipe_oracle 'seq 3' -k -j2 --compress -N1 -L1 cat
    pipe_oracle 'seq 4' -k -j3 --compress -N1 -L1 wc
    pipe_oracle 'seq 100' -k -N10 --linebuffer 'paste -sd+'
    pipe_oracle 'seq 100' -k -N10 --lb 'paste -sd+'
    assert_equal "$(seq 1000 | cpp -u -N10 -j4 'paste -sd+' | sort)" \
        "$(seq 1000 | parallel --pipe -u -N10 -j4 'paste -sd+' | sort)"
}

# cpipecut: -r, --skip-first-line, --block -N, --pipepart with :::: and ::: (issue 15) --

# same_as_parallel INPUT ARGS...: cpipe and parallel, fed the printf
# format INPUT, print the same and exit the same.
same_as_parallel() {
    local in=$1 exp got
    shift
    # od: the outputs may hold NUL bytes.
    exp=$({ printf "$in" | parallel --will-cite "$@" 2>&1; echo "rc=$?"; } | od -c)
    got=$({ printf "$in" | cpp "$@" 2>&1; echo "rc=$?"; } | od -c)
    [ "$exp" = "$got" ] || { echo "args: $*"; echo "parallel: $exp"; echo "cpipe: $got"; return 1; }
}

@test "cpipecut: -r drops blank lines of piped input as parallel --pipe -r does (GNU's suite cases)" {
    command -v parallel >/dev/null || skip "GNU parallel is not installed"
    local f='echo {#};cat;echo {#}'
    same_as_parallel ' \nA\n \n\nB\n\n ' -n 1 --pipe -r --recend '\n' -k "$f"
    same_as_parallel ' \0A\0 \0\0B\0\0 ' -n 1 --pipe -r --recend '\0' -k "$f"
    same_as_parallel ' ]][[A]][[ ]][[]][[B]][[]][[ ' -n 1 --pipe -r --recstart '[[' --recend ']]' -k "$f"
    same_as_parallel ' [[A]] ]][[ ]][[]][[[[B]][[]] ' -n 1 --pipe -r --recstart '[[' --recend ']]' -k "$f"
    same_as_parallel 'a\n \n\t\r\nb  \n  c\n\n' --pipe -r -k 'echo x; cat'
    same_as_parallel 'a\n\n\nb\n' --pipe --no-run-if-empty -k --block 2 'echo x; cat'
    # All blank: no filter runs (without -r one does).
    same_as_parallel '\n \n\t\n' --pipe -r 'echo ran; cat'
    same_as_parallel '\n \n\t\n' --pipe 'echo ran; cat'
    # A seekable input read by --pipe is edited too; --pipepart ignores -r.
    printf 'a\n \nb\n' >"$BATS_TEST_TMPDIR/f"
    assert_equal "$(cpp --pipe -r -a "$BATS_TEST_TMPDIR/f" cat)" "$(printf 'a\nb')"
    assert_equal "$(cpp --pipepart --block 1k -r -a "$BATS_TEST_TMPDIR/f" cat)" "$(printf 'a\n \nb')"
}

@test "cpipecut: --skip-first-line passes all but the first line, as parallel --pipe and --pipepart do" {
    command -v parallel >/dev/null || skip "GNU parallel is not installed"
    same_as_parallel 'title\na\nb\n' --pipe --skip-first-line -k 'echo x; cat'
    same_as_parallel 'only a title' --pipe --skip-first-line 'echo x; cat'
    same_as_parallel 'title\nh\na\nb\n' --pipe --skip-first-line --header 1 -N1 -k 'echo x; cat'
    seq 0 30 >"$BATS_TEST_TMPDIR/f"
    assert_equal "$(cpp --pipepart --skip-first-line -a "$BATS_TEST_TMPDIR/f" -k --block 10 'paste -sd,')" \
        "$(parallel --will-cite --pipepart --skip-first-line -a "$BATS_TEST_TMPDIR/f" -k --block 10 'paste -sd,')"
}

@test "cpipecut: --block -N is N blocks per job slot (--pipepart's default -10), :::: FILE is the input, ::: ARGs are ignored, as in parallel" {
    command -v parallel >/dev/null || skip "GNU parallel is not installed"
    local f=$BATS_TEST_TMPDIR/f b exp got
    seq 1000 >"$f"
    for b in "" "--block -1" "--block -2" "--block -10" "--block -0.01k" "--block 10"; do
        exp=$(parallel --will-cite -j2 -k $b --pipepart 'echo {#}; paste -sd+ | bc' :::: "$f")
        got=$(cpp -j2 -k $b --pipepart 'echo {#}; paste -sd+ | bc' :::: "$f")
        [ "$exp" = "$got" ] || { echo "$b: parallel $exp, cpipe $got"; return 1; }
    done
    # GNU's par_block_negative_prefix: 10 blocks for each of 2 job slots.
    seq 100000 >"$f"
    assert_equal "$(cpp -j2 -a "$f" --pipepart --block -0.01k -k md5sum | wc -l)" 20
    seq 3 >"$f"
    assert_equal "$(cpp --pipepart -a "$f" -k 'echo [{}]; cat' ::: a b)" \
        "$(parallel --will-cite --pipepart -a "$f" -k 'echo [{}]; cat' ::: a b)"
    # A block count per job slot needs the input's size.
    run cpp --pipe --block -2 cat < <(seq 3)
    assert_failure 2
    assert_output --partial "cpipe: --block -N (N blocks per job slot) needs --pipepart"
    run cpp --block -2 cat < <(seq 3)
    assert_failure
    assert_output --partial "cpipe: --block -2 needs a seekable input"
    run cpp --block -0.5 cat < <(seq 3)
    assert_failure 2
}

@test "cpipecut: -N --regexp cuts as parallel's pass_n_regexps (a leading record without recstart is a block; recend looked for past the record's recstart)" {
    command -v parallel >/dev/null || skip "GNU parallel is not installed"
    local s n rs
    # GNU's bug #53718 case.
    assert_equal "$(seq 54000 80000 | cpp -N1000 --regexp --pipe --recstart 4 --recend 5 -k wc)" \
        "$(seq 54000 80000 | parallel --will-cite -N1000 --regexp --pipe --recstart 4 --recend 5 -k wc)"
    for s in 'aba' 'aaabab\nbaaa\n' 'xxab\na\nb\na' 'ab\naa\nba' 'b\nabba\naab'; do
        for n in 1 2 3; do
            for rs in "--recstart a" "--recstart a --recend b" "--recstart a. --recend b" "--recend a|b\n"; do
                same_as_parallel "$s" -N$n --regexp --pipe $rs -k 'cat; echo "|"'
            done
        done
    done
}

# cpipemore: --header REGEXP, as parallel --pipe --header
@test "cpipemore: --header takes a regexp (':' one line), matched at the input's start, as parallel" {
    local two='echo h1; echo h2; echo 1a; echo 1b; echo 2a; echo 2b; echo 3a'
    pipe_oracle "$two" -j1 -N2 -k --header '.*\n.*\n' 'echo Start;cat;echo Stop'
    pipe_oracle "(echo h1; echo h2; seq 30 | sed 's/$/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx/')" \
        -j1 -k --block 1k --header '.*\n.*\n' 'echo Start;cat;echo Stop'
    pipe_oracle "$two" -k -N1 --header 'h.\n' 'echo S;cat'
    pipe_oracle "$two" -k -N3 --header : 'echo S;cat'
    pipe_oracle 'printf "a\nb\n\n1\n2\n"' -k -N1 --header '(.+\n)*\n' 'echo S;cat'
    # No match, or fewer lines than asked for: no header, every line a record.
    pipe_oracle 'seq 3' -k -N2 --header 'x' 'echo S;cat'
    pipe_oracle 'seq 2' -k --header 3 'echo S;cat'
    printf 'h1\nh2\n1\n2\n3\n' >"$BATS_TEST_TMPDIR/f"
    run cpp -a "$BATS_TEST_TMPDIR/f" -k --block 3 --header 'h.\nh.\n' 'echo S;cat'
    assert_equal "$output" "$(parallel --pipepart -a "$BATS_TEST_TMPDIR/f" -k --block 3 --header 'h.\nh.\n' 'echo S;cat')"
}

# cpipemore: --group-by COL with --colsep, as parallel --pipe --group-by
@test "cpipemore: --group-by COL (--colsep) keeps a group's lines in one block, as parallel" {
    local input='for s in , " "; do printf "a\t${s}b\na${s}${s}b\nb${s}${s}a\nb${s}a${s}b\n"; done'
    pipe_oracle "$input" --group-by 2 --colsep ',' -kN1 wc
    pipe_oracle "$input" --group-by 2 -C ' ' -kN1 wc
    pipe_oracle 'printf "U,C\n123,1\n123,2\n12-3,1\n221,3\n221,1\n"' --colsep , --group-by U -kN1 'echo S;cat'
    # Each group is a record 20 bytes longer (the marker), so blocks grow as parallel's
    # (whose warnings about it cpipe does not print).
    assert_equal "$(seq 20 | cpp --group-by 1 -k --block 10 'echo S;cat')" \
        "$(seq 20 | parallel --pipe --group-by 1 -k --block 10 'echo S;cat' 2>/dev/null)"
    pipe_oracle "seq 300 | sed 's/^\(.\).*/\1\t&/'" --groupby 1 -k --block 1k 'echo S;cat'
    pipe_oracle "seq 300 | sed 's/^\(.\).*/\1\t&/'" --group-by 1 -k -N2 'echo S;cat'
    # A column missing from the header: status 255, as parallel.
    run cpp --group-by X --colsep , cat < <(printf 'U,C\n1,2\n')
    assert_failure 255
    assert_output "cpipe: --group-by X: no such column in the header"
    local args
    for args in "--group-by 0 cat" "--group-by 1 --recend x cat" "--group-by 1 --pipepart cat" \
        "--colsep , cat" "--group-by 1 -C ( cat" "--group-by s/a//"; do
        # shellcheck disable=SC2086
        run --separate-stderr cpp $args </dev/null
        assert_equal "$status" 2
        assert_stderr_regex "^cpipe: "
    done
    # A run that stops early does not wait for the rest of the input.
    run cpp --group-by 1 -N10 --halt now,fail=1 false < <(seq 100000; sleep 30)
    assert_failure 1
}

# cpipemore: --dry-run, --joblog, --load/--memfree, --spreadstdin, as parallel --pipe
@test "cpipemore: --dry-run prints each block's command line instead of running it, as parallel" {
    pipe_oracle 'seq 500' --block 1k --dry-run wc
    pipe_oracle 'seq 5' -N2 -k --dryrun 'echo {#}'
    pipe_oracle 'seq 5' -N2 -k --dry-run --tagstring 't{#}' 'echo {#}'
    pipe_oracle 'seq 5' -N2 -k --dry-run --joblog - wc
    # Nothing ran: a filter that would leave a file left none.
    run cpp -N1 --dry-run "touch $BATS_TEST_TMPDIR/ran" < <(seq 3)
    assert_success
    assert [ ! -e "$BATS_TEST_TMPDIR/ran" ]
}

@test "cpipemore: --joblog FILE|-|+FILE logs each block as parallel --pipe --joblog does" {
    # The times differ; every other column, the header and the exit status are parallel's.
    local mask='s/\t[0-9]+\.[0-9]{3}\t +[0-9]+\.[0-9]{3}\t/\tT\tR\t/'
    local f=$BATS_TEST_TMPDIR/mine g=$BATS_TEST_TMPDIR/gnu
    run cpp --joblog - wc < <(seq 100)
    assert_equal "$(sed -E "$mask" <<<"$output")" "$(seq 100 | parallel --pipe --joblog - wc | sed -E "$mask")"
    run --separate-stderr cpp -N3 -k --jl "$f" 'cat >/dev/null; exit {#}' < <(seq 10)
    local want gnu_status=0
    want=$(seq 10 | parallel --pipe -N3 -k --jl "$g" 'cat >/dev/null; exit {#}' 2>/dev/null) ||
        gnu_status=$?
    assert_equal "$status" "$gnu_status"
    assert_equal "$output" "$want"
    assert_equal "$(sed -E "$mask" "$f")" "$(sed -E "$mask" "$g")"
    # Starttime is the wall clock.
    local start now
    start=$(awk -F'\t' 'NR==2 {print int($3)}' "$f")
    now=$(date +%s)
    ((start <= now && start > now - 60)) || fail "Starttime $start is not about now ($now)"
    # +FILE appends without a second header, as parallel.
    cpp -j1 -N5 --joblog "+$f" 'cat >/dev/null' < <(seq 10)
    parallel --pipe -j1 -N5 --joblog "+$g" 'cat >/dev/null' < <(seq 10)
    assert_equal "$(sed -E "$mask" "$f")" "$(sed -E "$mask" "$g")"
    # Under every strategy the log is the same.
    local s
    for s in sync thread process async; do
        run cpp -s "$s" -k -N4 --joblog - wc < <(seq 10)
        assert_equal "$(sed -E "$mask" <<<"$output")" "$(seq 10 | parallel --pipe -k -N4 --joblog - wc | sed -E "$mask")"
    done
    run cpp --joblog /nonexistent/dir/log cat < <(seq 1)
    assert_failure 255
    assert_output --partial "cpipe: cannot open joblog /nonexistent/dir/log"
}

@test "cpipemore: --load and --memfree are accepted, --spreadstdin is --pipe, as parallel" {
    pipe_oracle 'seq 1000' -kj2 --load 300% --recend '\n' 'gzip -1 | zcat | wc -l'
    pipe_oracle 'seq 1000' -k --memfree 1G -N100 'paste -sd+ | bc'
    run cpp -k --spreadstdin -N300 wc -l < <(seq 1000)
    assert_equal "$output" "$(seq 1000 | parallel --spreadstdin -k -N300 wc -l)"
}

# cpipemore: a real --line-buffer, as parallel --pipe --line-buffer
@test "cpipemore: --line-buffer writes lines as filters write them; | head ends an endless run" {
    local s out
    for s in sync thread async; do
        # GNU parallel's own case: an endless round-robin run must give head its lines and end.
        out=$(seq 10000000000 | timeout -k 5 30 cpipe -s "$s" --pipe --linebuffer --round cat | head | wc -l)
        assert_equal "$out" "$(seq 10000000000 | parallel --pipe --linebuffer --round cat | head | wc -l)"
        assert_equal "$(seq 30 | cpp -s "$s" -k -N10 --lb --tagstring 'b{#}' 'cat; sleep 0.2; echo end')" \
            "$(seq 30 | parallel --pipe -k -N10 --lb --tagstring 'b{#}' 'cat; sleep 0.2; echo end')"
    done
    # Receive in the joblog counts the lines written early too.
    local mask='s/\t[0-9]+\.[0-9]{3}\t +[0-9]+\.[0-9]{3}\t/\tT\tR\t/'
    run cpp -k -N10 --lb --joblog - 'cat; echo end' < <(seq 30)
    assert_equal "$(sed -E "$mask" <<<"$output")" \
        "$(seq 30 | parallel --pipe -k -N10 --lb --joblog - 'cat; echo end' | sed -E "$mask")"
    # A filter's first line is out before it ends.
    local f=$BATS_TEST_TMPDIR/early go=$BATS_TEST_TMPDIR/go i
    seq 3 | cpp --lb "read -r l; echo \"\$l\"; while [ ! -e $go ]; do sleep 0.05; done; cat" >"$f" &
    local pid=$!
    # The filter waits for go: the "1" must come out while it still runs.
    for ((i = 0; i < 200; i++)); do
        [[ $(cat "$f") == 1 ]] && break
        sleep 0.1
    done
    assert_equal "$(cat "$f")" "1"
    touch "$go"
    wait "$pid"
    assert_equal "$(cat "$f")" "$(seq 3)"
}

# ---- --tee: all of the input to every filter -----------------------------------------

# tee_oracle INPUT ARGS...: stdout and exit status of `parallel --pipe
# --tee ARGS` and of `cpipe -s S --pipe --tee ARGS` on INPUT (a shell
# command), the same under every strategy. (cpipe also names a failed
# filter on stderr, which parallel does not.)
tee_oracle() {
    command -v parallel >/dev/null || skip "GNU parallel is not installed"
    local input=$1 want got s
    shift
    want=$(bash -c "$input" | timeout 60 parallel --will-cite --pipe --tee "$@" 2>/dev/null; echo "rc=$?")
    for s in sync thread process async; do
        got=$(bash -c "$input" | cpp -s "$s" --pipe --tee "$@" 2>/dev/null; echo "rc=$?")
        [[ $got == "$want" ]] || fail "cpipe -s $s --pipe --tee $*: $(diff <(echo "$want") <(echo "$got"))"
    done
}

@test "cpipetee: the man page's examples give parallel --pipe --tee's output, under every strategy" {
    tee_oracle 'seq 1000' -k -v wc {} ::: -w -l -c
    tee_oracle 'seq 1000' -k --tag 'grep {1} | wc {2}' ::: 0 1 ::: -l -c
    # Without -k both write as filters end: the same lines, in some order.
    local s
    for s in sync thread process async; do
        assert_equal "$(seq 1000 | cpp -s "$s" --pipe --tee --tag 'grep {1} | wc {2}' ::: 0 1 ::: -l -c | sort)" \
            "$(seq 1000 | parallel --will-cite --pipe --tee --tag 'grep {1} | wc {2}' ::: 0 1 ::: -l -c | sort)"
    done
}

@test "cpipetee: {} {1} {.} {#} {%}, quoting, linked :::+ and :::: FILE arguments, --tagstring, no FILTER, as parallel" {
    local f=$BATS_TEST_TMPDIR/args
    printf 'p q\nr\n' >"$f"
    tee_oracle 'seq 20' -k -v 'echo {} {.} {/} {#} {%}; wc -l' ::: a.x 'b c' "d'e" /x/y.z
    tee_oracle 'seq 20' -k 'echo {2}{1}; wc -c' ::: a b :::+ 1 2 3
    tee_oracle 'seq 20' -k --tag 'echo {2}{1}; wc -c' ::: a b ::: 1 2
    tee_oracle 'seq 20' -k -v 'echo {}; wc -l' :::: "$f"
    tee_oracle 'seq 20' -k -v 'echo {}; wc -l' :::: "$f" ::: x y
    tee_oracle 'seq 20' -k --tagstring '{#}:{}\t{%}' 'grep {} | wc -l' ::: 1 2 3
    # A filter without replacement strings gets nothing appended (the input is on stdin).
    tee_oracle 'seq 5' -k -v wc ::: -l -c
    # No FILTER: each argument is the command.
    tee_oracle 'seq 20' -k -v --tag ::: 'wc -l' 'head -2' 'tail -1'
    tee_oracle 'seq 20' -k -q echo ::: 'a b'
    # --header and --block cut nothing away: each filter still sees everything once.
    tee_oracle 'seq 20' -k --header 1 'wc -l' ::: a b
    tee_oracle 'seq 20' -k --block 10 'md5sum' ::: a b
}

@test "cpipetee: --pipepart -a FILE and :::: FILE ::: ARGs give each filter the whole file, as parallel" {
    command -v parallel >/dev/null || skip "GNU parallel is not installed"
    local d=$BATS_TEST_TMPDIR s
    seq 10000 >"$d/data"
    printf 'p\nq\n' >"$d/args"
    for s in sync thread process async; do
        assert_equal "$(cpp -s "$s" --pipepart -a "$d/data" --tee -k -v 'wc {}' ::: -l -c)" \
            "$(parallel --will-cite --pipepart -a "$d/data" --tee -k -v 'wc {}' ::: -l -c)"
        assert_equal "$(cpp -s "$s" --pipepart --tee -k 'echo {}; wc -l' :::: "$d/data" ::: x y)" \
            "$(parallel --will-cite --pipepart --tee -k 'echo {}; wc -l' :::: "$d/data" ::: x y)"
        assert_equal "$(cpp -s "$s" --pipepart --tee -k 'echo {}; md5sum' :::: "$d/data" "$d/args")" \
            "$(parallel --will-cite --pipepart --tee -k 'echo {}; md5sum' :::: "$d/data" "$d/args")"
    done
}

@test "cpipetee: the exit status counts the failed filters; empty input still runs each; -r is ignored, as parallel" {
    tee_oracle 'seq 5' -k 'exit {}' ::: 0 1 2 3
    tee_oracle 'seq 5' -k 'cat >/dev/null; exit {}' ::: 0 5 0 7
    tee_oracle 'true' -k 'echo {}; wc -l' ::: a b
    tee_oracle 'printf "a\n\n \nb\n"' -k -r 'wc -l' ::: x
    run cpp --pipe --tee 'cat >/dev/null; exit {}' ::: 0 3 < <(seq 3)
    assert_equal "$status" 1
    [[ $output == *"filter 2 of --tee exited with status 3"* ]] || fail "no message: $output"
}

@test "cpipetee: a filter that quits early (head -1) neither stops the others nor loses their data, under every strategy" {
    local s f=$BATS_TEST_TMPDIR/big
    seq 300000 >"$f"
    for s in sync thread process async; do
        run cpp -s "$s" --tee -k ::: 'head -1' 'md5sum' 'true' 'tail -1' 'wc -l' < <(cat "$f")
        assert_equal "$status" 0
        assert_equal "$output" "$(printf '1\n%s\n300000\n300000' "$(md5sum <"$f")")"
        # From the file (the seekable path) too.
        run cpp -s "$s" --tee -a "$f" -k ::: 'head -1' 'md5sum' 'wc -l'
        assert_equal "$output" "$(printf '1\n%s\n300000' "$(md5sum <"$f")")"
    done
}

@test "cpipetee: 200 MB through --tee ::: 'wc -l' 'wc -c' streams in bounded memory, under every strategy" {
    [[ -x /usr/bin/time ]] || skip "/usr/bin/time is not installed"
    local s want out rss
    want=$(printf '2000000\n200000000')
    for s in sync thread process async; do
        # 2,000,000 lines of 99 zeros and a newline.
        out=$(yes "$(printf "%099d" 0)" |
            head -n 2000000 | /usr/bin/time -f '%M' -o "$BATS_TEST_TMPDIR/rss" \
            env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8" \
            timeout -k 5 "$CTK_TIMEOUT" cpipe -s "$s" --tee ::: 'wc -l' 'wc -c')
        assert_equal "$out" "$want"
        rss=$(tail -1 "$BATS_TEST_TMPDIR/rss")
        # A few blocks of 1 MiB at most, far from the input's 200 MB (a
        # sanitizer's quarantine of freed blocks kept small above).
        ((rss < 60000)) || fail "-s $s: max RSS $rss kB"
    done
}

@test "cpipetee: -v --tag and --joblog name each filter's own command line, -u and --line-buffer keep its lines" {
    tee_oracle 'seq 20' -k -v --tag ::: 'wc -l' 'head -2'
    tee_oracle 'seq 20' -u 'wc -l' ::: a
    tee_oracle 'seq 20' -k --line-buffer 'wc -l' ::: a b
    local mask='s/\t[0-9]+\.[0-9]{3}\t +[0-9]+\.[0-9]{3}\t/\tT\tR\t/'
    run cpp -k --tee --joblog - 'wc -c' ::: x y < <(seq 2)
    assert_equal "$(sed -E "$mask" <<<"$output")" \
        "$(seq 2 | parallel --will-cite --pipe --tee -k --joblog - 'wc -c' ::: x y | sed -E "$mask")"
}

@test "cpipetee: usage errors: no arguments, -j below their number, --round-robin, --cat/--fifo, --rrs, --group-by, a missing :::: file" {
    local e
    run cpp --tee wc < <(seq 3)
    assert_equal "$status" 2
    [[ $output == *"--tee runs one filter per argument"* ]] || fail "$output"
    run cpp --tee -j1 wc ::: -l -c < <(seq 3)
    assert_equal "$status" 2
    [[ $output == *"--tee runs all 2 filters at once: -j 1 is too few"* ]] || fail "$output"
    for e in --round-robin --cat --fifo --rrs "--group-by 1"; do
        run cpp --tee $e wc ::: -l < <(seq 3)
        assert_equal "$status" 2
        [[ $output == "cpipe: --tee"*"${e%% *}"* ]] || fail "$e: $output"
    done
    run cpp --tee wc :::: "$BATS_TEST_TMPDIR/none" < <(seq 3)
    assert_equal "$status" 255
    [[ $output == *"none: No such file or directory"* ]] || fail "$output"
    # Enough -j, or none, is fine.
    assert_equal "$(seq 3 | cpp --tee -j2 wc {} ::: -l -c)" "$(printf '3\n6')"
}

# ---- --csv -------------------------------------------------------------------------

# csv_lines FILE: GNU's par_csv_pipe input: 10 lines of 1001 quoted fields,
# each holding a newline.
csv_lines() {
    perl -e 'for $b (1 .. 10) {
        print join(",", map { "\"$_\n$_\"" } $b * 1000 .. $b * 1000 + 1000), "\n" }' >"$1"
}

@test "cpipecut: --csv cuts only between CSV records, as parallel --pipe --csv (GNU's par_csv_pipe)" {
    command -v parallel >/dev/null || skip "GNU parallel is not installed"
    local f=$BATS_TEST_TMPDIR/in.csv blk s exp n
    csv_lines "$f"
    for blk in 10k 100k; do
        # parallel warns as it grows the block past a record: stdout only.
        exp=$(parallel --will-cite --pipe --csv -k --block "$blk" tail -n1 <"$f" 2>/dev/null)
        [[ $exp == *$'\n11000"' ]] || fail "parallel gave: $exp"
        for s in sync thread process async; do
            assert_equal "$(cpp -s "$s" --csv -k --block "$blk" tail -n1 <"$f")" "$exp"
            # A seekable input is cut as --pipe cuts it, not as --pipepart.
            assert_equal "$(cpp -s "$s" --csv -k --block "$blk" -a "$f" tail -n1)" "$exp"
        done
    done
    # Every block holds whole records: an even number of quotes.
    run cpp --csv --block 3k -a "$f" 'tr -cd "\"" | wc -c'
    assert_success
    ((${#lines[@]} == 10)) || fail "not a block per record: $output"
    for n in "${lines[@]}"; do
        ((n % 2 == 0)) || fail "a block with $n quotes"
    done
    # Small records: a quoted newline is not a cut, a "" is no quote change;
    # an open quote at the end goes with the last block.
    local in
    for in in 'a,"b\nc"\n"x""\n""y",z\nd,e\n' 'a,"b\nc"\nd,e\nf,"g'; do
        exp=$(printf "$in" | parallel --will-cite --pipe --csv -k --block 1 'echo {#}; cat' 2>/dev/null)
        [[ $exp == 1$'\n'* ]] || fail "parallel gave: $exp"
        assert_equal "$(printf "$in" | cpp --csv -k --block 1 'echo {#}; cat')" "$exp"
    done
}

@test "cpipecut: --csv with other record rules or --pipepart is refused (exit 2)" {
    local args
    for args in "--recend x" "--recstart x" "-0" "--regexp" "--fixed 4" "-N 2" "-L 2" "--rrs" \
        "--group-by 1"; do
        # shellcheck disable=SC2086
        run --separate-stderr cpp --csv $args cat </dev/null
        assert_equal "$status" 2
        assert_equal "${stderr_lines[0]}" "cpipe: --csv cuts at newlines outside quotes: no --recend, --recstart, -0, --regexp, --fixed, -N, -L, --rrs or --group-by"
    done
    run --separate-stderr cpp --csv --pipepart cat </dev/null
    assert_equal "$status" 2
    assert_equal "${stderr_lines[0]}" "cpipe: --csv needs --pipe: --pipepart cuts a file where no quote count is known"
}

# ---- --shard and --bin, as parallel --pipe --shard/--bin ------------------------------

# shard_oracle INPUT ARGS...: under every strategy cpipe ARGS gives what
# `parallel --pipe -k ARGS` gives on the output of the shell code INPUT.
# Filters sort what they read: parallel's sharders may interleave a
# filter's lines.
shard_oracle() {
    local input=$1 s want got
    shift
    want=$(bash -c "$input" | timeout 120 parallel --will-cite --pipe -k "$@" 2>&1; echo "rc=$?")
    for s in sync thread process async; do
        got=$(bash -c "$input" | cpp -s "$s" "$@" 2>&1; echo "rc=$?")
        [[ $got == "$want" ]] || fail "cpipe -s $s $*: $(diff <(echo "$want") <(echo "$got"))"
    done
}

@test "--shard and --bin give each line to the filter parallel gives it, under every strategy" {
    need_parallel
    local sorted='echo {%} {#}; LC_ALL=C sort'
    shard_oracle 'seq 1000' --shard 1 -j3 "$sorted"
    shard_oracle 'seq 1000' --bin 1 -j4 "$sorted"
    # Words (the last column's value holds the newline), a middle column, --colsep.
    local words='for i in $(seq 600); do printf "%s\t%s\tx\n" $i $(((i * 7919) % 97))$(printf "%*s" $((i % 5)) | tr " " a); done'
    shard_oracle "$words" --colsep '\t' --shard 2 -j5 "$sorted"
    shard_oracle "$words" --colsep '\t' --shard 3 -j2 "$sorted"
    shard_oracle "$words" -C '\t+' --bin 2 -j7 "$sorted"
    # Without --colsep: commas; with --header: tabs, as parallel.
    shard_oracle 'printf "1,2\t1\n2,2\t1\n3,5\t1\n"' --bin 2 -j3 "$sorted"
    # Bytes of any value (up to 24 with the newline: parallel's choice is fixed there).
    local bytes='python3 -c "
import random, sys
random.seed(5)
ok = [c for c in range(1, 256) if c not in (10, 44)]
for i in range(3000):
    sys.stdout.buffer.write(bytes(random.choice(ok) for _ in range(random.randint(0, 23))) + b\"\n\")"'
    shard_oracle "$bytes" --shard 1 -j5 'echo {%}; LC_ALL=C sort | cksum'
    # Numbers as perl reads them for --bin: signs, fractions, exponents,
    # past 64 bits, trailing garbage, white space, none at all.
    local nums='printf "%s\n" -1 -3.7 3.7 " 12abc" 0x10 "" 18446744073709551615 18446744073709551616 \
        -18446744073709551615 99999999999999999999 +5 .5 5. 1e3x 9007199254740993 1.5e19 -0 1_000 12e \
        1e-5 2.5e1 -9223372036854775808 -9223372036854775809 "   42" 7,8 abc 1e30 -1e30 \
        9007199254740993abc 18446744073709551615abc; printf "\t7\n\v9\n"'
    shard_oracle "$nums" --bin 1 -j7 "$sorted"
    shard_oracle "$nums" --bin 1 -j10 "$sorted"
    # A column past the line's end is empty (0 for --bin); a last line without its newline.
    shard_oracle 'printf "a\nb,c\n3,4\n5"' --bin 2 -j2 'echo {%}; cat; echo'
    shard_oracle 'printf "a\nb,c\n3,4\n5"' --shard 2 -j3 'echo {%}; cat; echo'
    # Every filter runs, with no line or no input at all; {%} and --tagstring.
    # (parallel hangs on this one, some of its sharders getting no line.)
    run cpp --bin 1 -j5 'echo {%}; wc -l' < <(seq 2)
    assert_equal "$output" $'1\n1\n2\n1\n3\n0\n4\n0\n5\n0'
    shard_oracle 'true' --shard 1 -j3 'echo {%} {#}; wc -l'
    shard_oracle 'seq 20' --bin 1 -j3 --tagstring 'slot{%}' cat
    # A seekable input (-a; parallel takes none) is read as --pipe reads a pipe.
    seq 500 >"$BATS_TEST_TMPDIR/f"
    assert_equal "$(cpp -a "$BATS_TEST_TMPDIR/f" --bin 1 -j3 -b 1k "$sorted")" \
        "$(parallel --pipe -k --bin 1 -j3 "$sorted" <"$BATS_TEST_TMPDIR/f")"
}

@test "--shard: a value longer than 24 bytes always goes to one filter (parallel's choice depends on its pid)" {
    local in=$BATS_TEST_TMPDIR/in s first
    for ((s = 0; s < 4000; s++)); do printf 'k%d-%s,%d\n' $((s % 37)) "a-long-long-long-long-long-value" "$s"; done >"$in"
    first=$(cpp --shard 1 -j4 --tagstring '{%}' -b 10k cat <"$in" | cut -d, -f1 | sort -u)
    # Each value in one filter only, every line once, and the same choice on every run.
    assert_equal "$(cut -f2 <<<"$first" | sort | uniq -d)" ""
    assert_equal "$(wc -l <<<"$first")" 37
    for s in sync thread process async; do
        run cpp -s "$s" --shard 1 -j4 --tagstring '{%}' -b 10k cat <"$in"
        assert_success
        assert_equal "$(cut -d, -f1 <<<"$output" | sort -u)" "$first"
        assert_equal "$(cut -f2 <<<"$output" | sort)" "$(sort "$in")"
    done
}

@test "--shard and --bin with --header: each filter gets it once; a named column; a big input under sync" {
    need_parallel
    local in=$BATS_TEST_TMPDIR/in s
    # (parallel finds no named column last in the header: the name holds the newline.)
    { printf 'id\tkey\tx\n'; for ((s = 1; s <= 300; s++)); do printf '%d\t%d\tx\n' "$s" $((s % 11)); done; } >"$in"
    # parallel gives the header line to one filter as data (for a
    # numbered column) or to none (a named one); the data lines go where
    # parallel sends them.
    local want
    want=$(parallel --pipe -k --header 1 --bin 2 -j4 'echo {%}; grep -v key | sort -n' <"$in")
    for s in sync thread process async; do
        run cpp -s "$s" --header 1 --bin 2 -j4 'echo {%}; sort -n' <"$in"
        assert_success
        assert_equal "$(grep -c '^id' <<<"$output")" 4
        assert_equal "$(grep -v '^id' <<<"$output")" "$want"
        run cpp -s "$s" --shard key -j3 'read -r h; echo "$h"; echo {%}; sort -n' <"$in"
        assert_success
        assert_equal "$output" \
            "$(parallel --pipe -k --colsep '\t' --header : --shard key -j3 'printf "id\tkey\tx\n"; echo {%}; sort -n' <"$in")"
    done
    run cpp --bin nokey -j2 cat <"$in"
    assert_failure 255
    assert_output "cpipe: --bin nokey: no such column in the header"
    # Under sync the filters run one after another: the lines of those
    # not started wait in a file (nothing left behind), memory stays small.
    local tmp=$BATS_TEST_TMPDIR/tmp
    mkdir "$tmp"
    seq 4200000 >"$in"
    run /usr/bin/time -f 'maxrss %M' timeout -k 5 "$CTK_TIMEOUT" cpipe -s sync --tmpdir "$tmp" --bin 1 -j3 'wc -l' <"$in"
    assert_success
    assert_equal "$(grep -v maxrss <<<"$output")" $'1400000\n1400000\n1400000'
    assert_equal "$(ls -A "$tmp")" ""
    # The two filters waiting hold 21 MB of lines; cpipe far less. (A
    # sanitizer's quarantine makes RSS mean nothing.)
    [[ -n ${CTK_SANITIZED:-} ]] ||
        (($(sed -n 's/^maxrss //p' <<<"$output") < 16000)) || fail "memory grew: $output"
}

@test "--shard, --bin: a filter that quits early loses its lines only; failures count filters" {
    local in=$BATS_TEST_TMPDIR/in s
    seq 300000 >"$in"
    # parallel loses the others' lines too (its sharder dies of SIGPIPE).
    for s in sync thread process async; do
        run cpp -s "$s" --bin 1 -j3 'if [ {%} = 2 ]; then head -1; else wc -l; fi' <"$in"
        assert_success
        assert_equal "$output" $'100000\n2\n100000'
        run cpp -s "$s" --shard 1 -j3 'cat >/dev/null; [ {%} != 2 ] || exit 3' <"$in"
        assert_failure 1
        assert_output "cpipe: filter 2 of --shard exited with status 3"
    done
}

@test "--shard, --bin: usage errors name the conflict" {
    local args
    for args in "--shard 1 --bin 1" "--shard 1 --round-robin" "--bin 1 --group-by 1" "--shard 1 --cat" \
        "--bin 1 --fifo" "--shard 1 --pipepart" "--shard 1 --dry-run" "--bin 1 --empty-block" \
        "--shard 1 --recend x" "--bin 1 -N2" "--shard 1 -L2" "--bin 1 --rrs" "--shard 1 -0" \
        "--bin 1 -j0" "--shard 1 -j 00" "--bin 0" "--shard a-b" "--colsep , cat"; do
        # shellcheck disable=SC2086
        run --separate-stderr cpp $args cat </dev/null
        assert_equal "$status" 2
        assert_stderr_regex "^cpipe: "
    done
    run --separate-stderr cpp --shard '1 $_%=100' cat </dev/null
    assert_equal "$status" 2
    assert_equal "${stderr_lines[0]}" 'cpipe: --shard 1 $_%=100: perl expressions after the column are not supported: $_%=100'
    run --separate-stderr cpp --bin 1 --round-robin cat </dev/null
    assert_equal "${stderr_lines[0]}" "cpipe: --bin takes no --round-robin (it starts -j filters of its own)"
    run --separate-stderr cpp --shard 1 -j 0 cat </dev/null
    assert_equal "${stderr_lines[0]}" "cpipe: --shard needs a fixed number of filters: -j N, not -j 0"
    # A share of the cores is that many filters, as in parallel (GNU's suite uses -j100%).
    local n
    n=$(getconf _NPROCESSORS_ONLN)
    run cpp --bin 1 -j100% 'echo {%}' < <(seq 3)
    assert_equal "$output" "$(seq "$n")"
    run --separate-stderr cpp --shard 1 --group-by 2 cat </dev/null
    assert_equal "${stderr_lines[0]}" "cpipe: --shard takes no --group-by"
    # parallel runs a filter per argument there (GNU's suite: "broken").
    run --separate-stderr cpp --bin 1 'echo {}; wc' ::: 1 2 </dev/null
    assert_equal "$status" 2
    assert_equal "${stderr_lines[0]}" "cpipe: --bin takes no input sources (::: or ::::)"
    run --separate-stderr cpp --tee --shard 1 'echo {}; wc' ::: 1 2 </dev/null
    assert_equal "$status" 2
    assert_equal "${stderr_lines[0]}" "cpipe: --tee gives every filter all of the input: no --shard or --bin"
    run --separate-stderr cpp --csv --bin 1 wc </dev/null
    assert_equal "$status" 2
    assert_equal "${stderr_lines[0]}" "cpipe: --csv cuts at newlines outside quotes: no --shard or --bin"
}
