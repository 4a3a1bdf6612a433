#!/usr/bin/env bats
# examples.bats: every command of every man page's EXAMPLES section (and
# the shell lines of ctk-plugin(7)'s EXAMPLE: sections), taken from the
# page source at test time (never copied here), run in a scratch
# folder with the files it names prepared, URLs pointed at the test server
# (tests/fixtures/httpd), cqueue on a temporary database. Each test asserts
# what the page promises: the exit status and the output's shape (the
# header and rows it shows, the files it says it writes).
#
# A test names the example it runs by a key: a fixed string the command
# contains (`=COMMAND`: the whole command; `END$`: its end). The first test checks that
# every command of every page is claimed by exactly one key of this file
# and every key by exactly one command, so an example added to a page (or
# removed from it) fails here until a test handles it.
#
# Where an example would take long here (sizes meant to show a speedup on
# an idle machine), the test scales it down with a sed expression that must
# change the command, so a rewrite that no longer applies fails too.

load helpers
load httpd
load pg

PAGES="cburn.1 cpar.1 cfetch.1 cpipe.1 cqueue.1 ctk.1 ctk.7 ctk-plugin.7"

setup_file() {
    httpd_start
}

teardown_file() {
    httpd_stop
}

setup() {
    SCRATCH="$BATS_TEST_TMPDIR/work"
    mkdir -p "$SCRATCH"
    cd "$SCRATCH" || return 1
    export XDG_STATE_HOME="$BATS_TEST_TMPDIR/state"
    export CQUEUE_DB="$BATS_TEST_TMPDIR/q.db"
    # ctk(1)'s examples call the front door by name.
    PATH="$CTK_BUILDDIR/tools/ctk:$PATH"
    QUEUES_STARTED=
}

teardown() {
    # A cqueue daemon a test started: asked to stop, waited for (by the
    # pid in its pid file), killed if it does not go.
    local q pid i
    for q in $QUEUES_STARTED; do
        pid=$(cat "$CQUEUE_DB.d/work-$q.pid" 2>/dev/null) || pid=
        timeout -k 5 30 cqueue -q "$q" stop >/dev/null 2>&1 || true
        for ((i = 0; i < 500 && ${#pid} > 0; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.02
        done
        [[ -z $pid ]] || kill -KILL "$pid" 2>/dev/null || true
    done
    QUEUES_STARTED=
    pg_stop
    ctk_cleanup
}

# ---- the pages' examples --------------------------------------------------------

# page_examples PAGE [N]: the commands of PAGE's EXAMPLES section, one a
# line, groff escapes undone: in a block whose lines start with `$ ` those
# lines (the rest is the output the page shows); elsewhere every line but
# comments, a line ending in `\`, `|` or `&&` joined with the next. The
# `EXAMPLE: ...` sections of ctk-plugin(7) count too, but for their C
# sources (a block that opens with a comment or an #include). With N, the
# output the page shows for command N (from 0) instead.
page_examples() {
    perl -e '
use strict; use warnings;
my ($page, $want) = @ARGV;
open my $fh, "<", $page or die "$page: $!\n";
my ($in_sec, $in_blk, @cmds, @out, @blk) = (0, 0);
my %esc = ("e" => "\\", "-" => "-", "&" => "", "(aq" => "\x27", "(dq" => "\"", "(ga" => "`", "(ti" => "~", "(ha" => "^");
sub flush_blk {
    my $prompted = grep { /^\$ / } @blk;
    if (@blk && $blk[0] =~ m{^(/\*|#include)}) { @blk = (); return }
    my $pending;
    for my $l (@blk) {
        if ($prompted) {
            if ($l =~ /^\$ (.*)/) { push @cmds, $1; push @out, ""; }
            elsif (@cmds) { $out[-1] .= "$l\n"; }
            next;
        }
        if (defined $pending) { $l =~ s/^\s+//; $pending .= " " . $l; }
        else { next if $l =~ /^\s*(#|$)/; $pending = $l; }
        next if $pending =~ s/\s*\\$//;
        next if $pending =~ /(\||&&)\s*$/;
        push @cmds, $pending; push @out, ""; undef $pending;
    }
    if (defined $pending) { push @cmds, $pending; push @out, ""; }
    @blk = ();
}
while (my $l = <$fh>) {
    chomp $l;
    if ($l =~ /^\.SH\s+"?EXAMPLE(S|: .*)"?\s*$/) { $in_sec = 1; next }
    if ($l =~ /^\.SH/) { $in_sec = 0; next }
    next unless $in_sec;
    if ($l =~ /^\.(EX|nf)\b/) { $in_blk = 1; next }
    if ($l =~ /^\.(EE|fi)\b/) { $in_blk = 0; flush_blk(); next }
    next unless $in_blk;
    next if $l =~ /^\.(RS|RE|PP|sp)\b/;
    $l =~ s/\\(e|-|&|\(aq|\(dq|\(ga|\(ti|\(ha)/$esc{$1}/g;
    push @blk, $l;
}
if (defined $want) { print $out[$want] } else { print "$_\n" for @cmds }
' "$CTK_SRCDIR/man/$1" ${2:+"$2"}
}

# key_matches KEY COMMAND: COMMAND contains KEY; `=KEY`: is KEY; `KEY$`:
# ends with KEY.
key_matches() {
    if [[ $1 == =* ]]; then
        [[ $2 == "${1#=}" ]]
    elif [[ $1 == *\$ ]]; then
        [[ $2 == *"${1%\$}" ]]
    else
        [[ $2 == *"$1"* ]]
    fi
}

# ex_index PAGE KEY: the index of the one command of PAGE that KEY claims.
ex_index() {
    local i=0 found=() c
    while IFS= read -r c; do
        key_matches "$2" "$c" && found+=("$i")
        i=$((i + 1))
    done < <(page_examples "$1")
    ((${#found[@]} == 1)) || {
        echo "man/$1: key '$2' claims ${#found[@]} examples" >&2
        return 1
    }
    echo "${found[0]}"
}

# ex PAGE KEY [SED...]: the command KEY claims, with the page's URLs on
# the test server and each SED expression applied (each must change it).
ex() {
    local page=$1 key=$2 i cmd new e
    shift 2
    i=$(ex_index "$page" "$key") || return 1
    cmd=$(page_examples "$page" | sed -n "$((i + 1))p")
    for e in "$@"; do
        new=$(sed -e "$e" <<<"$cmd")
        [[ $new != "$cmd" ]] || {
            echo "man/$page: '$e' does not change: $cmd" >&2
            return 1
        }
        cmd=$new
    done
    cmd=${cmd//https:\/\/example.com/$HTTPD_URL}
    cmd=${cmd//https:\/\/example.org/$HTTPD_URL}
    cmd=${cmd//http:\/\/127.0.0.1:8080/$HTTPD_URL}
    printf '%s\n' "$cmd"
}

# ex_run PAGE KEY [SED...]: runs the example (bash -c, in the current
# folder, under the guard) with `run --separate-stderr`; EX is the command.
ex_run() {
    EX=$(ex "$@") || fail "no such example"
    echo "# $EX" >&3
    run --separate-stderr timeout -k 5 "$CTK_TIMEOUT" bash -c "$EX"
}

# ex_shown PAGE KEY: the output the page shows under the command.
ex_shown() {
    local i
    i=$(ex_index "$1" "$2") || return 1
    page_examples "$1" "$i"
}

# squeeze: runs of blanks as one space, none at the ends.
squeeze() {
    sed -E 's/[[:space:]]+/ /g; s/^ //; s/ $//'
}

# table_rows: the rows of a blank-aligned table on stdin (a header line
# first; notes and `...` skipped) as STRATEGY[ VARIANT] TAB CHECKSUM TAB
# FAILED. Cells may be empty, so the strategy and variant are cut at the
# header's columns; the checksum is the first 16-hex-digit field and the
# failed count the field before it.
table_rows() {
    awk '
        /^strategy/ { v = index($0, "variant"); j = index($0, "jobs"); next }
        /^(note:|cburn:|\.\.\.)/ || NF == 0 { next }
        {
            key = $1
            if (v) { var = substr($0, v, j - v); gsub(/ +/, "", var); key = key " " var }
            sum = ""; failed = ""
            for (i = 2; i <= NF; i++) if ($i ~ /^[0-9a-f]+$/ && length($i) == 16) { sum = $i; failed = $(i - 1); break }
            print key "\t" sum "\t" failed
        }'
}

# assert_table PAGE KEY [same|any]: $output holds the table the page shows:
# the same header, the same rows (by strategy and variant, in order; only
# in that order among others when the page elides rows with `...`), one
# checksum over the rows that did not fail, and no failed task where the
# page shows none. With `same` (the run was not scaled) the checksum is
# the page's; with `any` (a timed run: rows do different work) the rows'
# checksums may differ.
assert_table() {
    local shown want got
    shown=$(ex_shown "$1" "$2")
    [[ -n $shown ]] || fail "man/$1 shows no output for $2"
    assert_equal "$(grep -E '^strategy' <<<"$output" | squeeze)" \
        "$(grep -E '^strategy' <<<"$shown" | squeeze)"
    want=$(table_rows <<<"$shown" | cut -f1)
    got=$(table_rows <<<"$output" | cut -f1)
    if grep -q '^\.\.\.' <<<"$shown"; then
        local rest=$got w
        while IFS= read -r w; do
            grep -qxF -- "$w" <<<"$rest" || fail "row '$w' of the page is not in order in: $got"
            rest=$(awk -v w="$w" 'found { print } $0 == w { found = 1 }' <<<"$rest")
        done <<<"$want"
    else
        assert_equal "$got" "$want"
    fi
    # A row fails only where the page shows one failing.
    local row
    while IFS=$'\t' read -r row _ f; do
        [[ $f == 0 ]] && continue
        table_rows <<<"$shown" | awk -F'\t' -v r="$row" '$1 == r && $3 != 0 { ok = 1 } END { exit !ok }' ||
            fail "row $row failed $f tasks: $output"
    done < <(table_rows <<<"$output")
    local sums
    sums=$(table_rows <<<"$output" | awk -F'\t' '$3 == 0 { print $2 }' | sort -u)
    [[ -n $sums ]] || fail "no checksum in: $output"
    [[ ${3:-} == any ]] || (($(wc -l <<<"$sums") == 1)) || fail "the rows disagree on the checksum: $output"
    if [[ ${3:-} == same ]]; then
        assert_equal "$sums" "$(table_rows <<<"$shown" | awk -F'\t' '$3 == 0 { print $2 }' | sort -u)"
    fi
}

# ---- the pages have no example without a test ------------------------------------

@test "every example of every page is claimed by exactly one test key, and every key by one example" {
    local page keys cmds k c n bad=() counts=()
    for page in $PAGES; do
        # The keys this file uses for the page: `ex_run PAGE 'KEY'` or
        # `ex PAGE 'KEY'` (single-quoted, no quote inside).
        mapfile -t keys < <(grep -oE "\bex(_run|_shown)? $page '[^']+'" "$BATS_TEST_FILENAME" |
            sed -E "s/^[a-z_]+ [^ ]+ '(.*)'\$/\\1/" | sort -u)
        mapfile -t cmds < <(page_examples "$page")
        for c in "${cmds[@]}"; do
            local claims=0
            for k in "${keys[@]}"; do
                key_matches "$k" "$c" && claims=$((claims + 1))
            done
            ((claims == 1)) || bad+=("man/$page: claimed by $claims keys: $c")
        done
        for k in "${keys[@]}"; do
            local hits=0
            for c in "${cmds[@]}"; do
                key_matches "$k" "$c" && hits=$((hits + 1))
            done
            ((hits == 1)) || bad+=("man/$page: key '$k' claims $hits examples")
        done
        n=${#cmds[@]}
        counts+=("$page:$n/${#keys[@]}")
    done
    echo "# examples/keys: ${counts[*]}" >&3
    ((${#bad[@]} == 0)) || fail "$(printf '%s\n' "${bad[@]}")"
    # The extraction itself: the pages hold this many commands at least
    # (a parser that finds nothing would make the check above vacuous).
    n=0
    for page in $PAGES; do
        n=$((n + $(page_examples "$page" | wc -l)))
    done
    ((n >= 80)) || fail "only $n examples found"
}

# ---- cburn(1) ----------------------------------------------------------------------

@test "cburn(1): the default run, one thread row" {
    ex_run cburn.1 '=cburn' 's/$/ -n 2M/'
    assert_success
    assert_table cburn.1 '=cburn'
}

@test "cburn(1): --compare, the four strategies" {
    ex_run cburn.1 '=cburn --compare -n 20M' 's/20M/2M/'
    assert_success
    assert_table cburn.1 '=cburn --compare -n 20M'
}

@test "cburn(1): --compare --plot writes the chart" {
    ex_run cburn.1 '--plot compare.svg' 's/20M/2M/'
    assert_success
    assert_equal "$(grep -c '^sync\|^thread\|^process\|^async' <<<"$output")" 4
    assert_file_exists compare.svg
    grep -q '<svg' compare.svg || fail "compare.svg is not an SVG: $(head -c 200 compare.svg)"
}

@test "cburn(1): --gil, one row per strategy with the gil variant" {
    ex_run cburn.1 '--gil' 's/$/ -n 1M/'
    assert_success
    assert_table cburn.1 '--gil'
}

@test "cburn(1): --share=all, the page's rows among the variants, a note for each lossy row" {
    ex_run cburn.1 '--share=all' 's/-n 2M/-n 200k/'
    assert_success
    assert_table cburn.1 '--share=all'
    # Every row that lost updates has its note.
    local lossy
    lossy=$(awk 'NR > 1 && $0 !~ /^note:/ && $(NF - 1) ~ /^[1-9][0-9]*$/ && NF >= 13 { print $1 }' <<<"$output")
    for s in $lossy; do
        assert_line --regexp "^note: $s with share=shm lost [0-9]+ of [0-9]+ additions"
    done
}

@test "cburn(1): crossed lock order: deadlocks reported on stderr and exit 1, ordered never fails" {
    ex_run cburn.1 '--share=ordered,crossed'
    assert_table cburn.1 '--share=ordered,crossed'
    local failed
    failed=$(table_rows <<<"$output" | awk -F'\t' '{ s += $3 } END { print s + 0 }')
    # Two tasks must run at once for a deadlock: on a busy machine they
    # may not, and then no row fails and the exit is 0.
    if ((failed > 0)); then
        assert_equal "$status" 1
        assert_stderr_regex "^cburn: task [0-9]+: deadlock after [0-9]+ additions"
        assert_line --regexp "^note: thread with share=crossed: $failed of 4 tasks deadlocked"
    else
        assert_equal "$status" 0
    fi
}

# Map-mode records without the elapsed times (the page's are blank-
# aligned, the tool's tab-separated).
but_elapsed() {
    sed -E 's/(^|[[:space:]])[0-9]+\.[0-9]{6}([[:space:]]|$)/ /g; s/(^|[[:space:]])elapsed([[:space:]]|$)/ /' | squeeze
}

@test "cburn(1): map mode, primes below each input, the last three" {
    ex_run cburn.1 'cburn -w primes -k -'
    assert_success
    assert_equal "$(but_elapsed <<<"$output")" "$(ex_shown cburn.1 'cburn -w primes -k -' | but_elapsed)"
    # An independent count.
    assert_equal "$(tail -n 1 <<<"$output" | cut -f3)" "$(primes_below 1000)"
}

@test "cburn(1): map mode, a bad size is an error record, the others go on, exit 1" {
    ex_run cburn.1 '--header -k -; echo'
    assert_success
    assert_equal "$(but_elapsed <<<"$output")" "$(ex_shown cburn.1 '--header -k -; echo' | but_elapsed)"
}

@test "cburn(1): --format json through jq, one line per strategy" {
    ex_run cburn.1 '--format json | jq' 's/50M/2M/'
    assert_success
    assert_equal "$(awk '{ print $1 }' <<<"$output")" "$(ex_shown cburn.1 '--format json | jq' | awk '{ print $1 }')"
    assert_line --index 0 $'sync\t1\t1'
}

@test "cburn(1): map mode as JSON" {
    ex_run cburn.1 'cburn --format json -'
    assert_success
    local strip='s/"elapsed":[0-9.e-]*/"elapsed":T/'
    assert_equal "$(sed "$strip" <<<"$output")" "$(ex_shown cburn.1 'cburn --format json -' | sed "$strip")"
}

@test "cburn(1): --duration, every row timed" {
    ex_run cburn.1 '--duration 5' 's/--duration 5/--duration 0.3/' 's/10M/1M/'
    assert_success
    assert_table cburn.1 '--duration 5' any
}

@test "cburn(1): many small primes tasks under a pool" {
    ex_run cburn.1 '-w primes -t 32' 's/250k/20k/'
    assert_success
    assert_table cburn.1 '-w primes -t 32'
}

@test "cburn(1): the pinned plugin strategy with its option" {
    ex_run cburn.1 '-s pinned --cpu-list' 's/50M/2M/'
    assert_success
    assert_table cburn.1 '-s pinned --cpu-list'
}

# collatz.c as ctk-plugin(7)'s EXAMPLE: A WORKLOAD gives it.
collatz_c() {
    awk '/^\.SH EXAMPLE: A WORKLOAD/ { s = 1 } s && /^\.EE/ { exit } s == 2 { print } s && /^\.EX/ { s = 2 }' \
        "$CTK_SRCDIR/man/ctk-plugin.7" |
        perl -pe 's/\\(e|-|\(aq|&)/$1 eq "e" ? "\\" : $1 eq "-" ? "-" : $1 eq "&" ? "" : "\x27"/ge' >collatz.c
    [[ -s collatz.c ]] || fail "no EXAMPLE: A WORKLOAD block in man/ctk-plugin.7"
}

@test "cburn(1): a workload plugin of one's own: build, list, compare" {
    collatz_c
    export PKG_CONFIG_PATH="$CTK_BUILDDIR"
    ex_run cburn.1 'cc -shared -fPIC -o myplugin.so collatz.c'
    assert_success
    assert_equal "$(nm -D --defined-only myplugin.so | awk '{ print $3 }')" ctk_plugin
    ex_run cburn.1 '--list-workloads | head -n 1'
    assert_success
    assert_equal "$(squeeze <<<"$output")" "$(ex_shown cburn.1 '--list-workloads | head -n 1' | squeeze)"
    ex_run cburn.1 '-w collatz -n 100k --compare'
    assert_success
    assert_table cburn.1 '-w collatz -n 100k --compare' same
}

@test "cburn(1): half the cores, TSV for a spreadsheet in sha.tsv" {
    ex_run cburn.1 '-w sha256' 's/--compare/-n 50k --compare/'
    assert_success
    assert_output ""
    assert_file_exists sha.tsv
    run tsv_col strategy <sha.tsv
    assert_success
    assert_output $'sync\nthread'
    assert_equal "$(tsv_col jobs <sha.tsv | sed -n 2p)" "$(($(nproc) / 2 > 0 ? $(nproc) / 2 : 1))"
}

# ---- cpar(1) -----------------------------------------------------------------------

# gnu ARGS...: GNU parallel, the oracle.
gnu() {
    command -v parallel >/dev/null || skip "GNU parallel is not installed"
    timeout -k 5 "$CTK_TIMEOUT" parallel --will-cite "$@"
}

@test "cpar(1): gzip every log file, two at a time" {
    mkdir sub
    seq 100 >a.log
    seq 200 >sub/b.log
    echo keep >c.txt
    ex_run cpar.1 'cpar -j2 gzip'
    assert_success
    assert_equal "$(find . -type f | sort)" "$(printf '%s\n' ./a.log.gz ./c.txt ./sub/b.log.gz)"
    assert_equal "$(zcat sub/b.log.gz)" "$(seq 200)"
}

@test "cpar(1): NUL-separated names, one with a newline" {
    printf abc >'x
y'
    printf 12345 >plain
    ex_run cpar.1 'cpar -0 wc -c'
    assert_success
    assert_equal "$(sort <<<"$output")" "$(find . -type f -print0 | xargs -0 -n1 wc -c | sort)"
}

@test "cpar(1): convert every jpg, keeping the base name" {
    command -v convert >/dev/null || skip "convert (ImageMagick) is not installed"
    convert -size 4x4 xc:red a.jpg && convert -size 4x4 xc:blue b.jpg ||
        skip "no ImageMagick here: convert cannot write a JPEG (apt-get install imagemagick)"
    ex_run cpar.1 'cpar convert {} {.}.png'
    assert_success
    for f in a b; do
        assert_equal "$(head -c 4 "$f.png" | od -An -c | squeeze)" '211 P N G'
    done
}

@test "cpar(1): --process-slot-var gives each job a free device number" {
    ex_run cpar.1 '--process-slot-var=DEV'
    assert_success
    assert_equal "${#lines[@]}" 4
    assert_line --index 0 --regexp '^job 1 on device [01]$'
    # each number is held by one running job: at -j2 only 0 and 1 occur
    refute_output --regexp 'device ([^01]|$)'
}

@test "cpar(1): no command: the input lines are the command lines" {
    ex_run cpar.1 'cpar -j4 -k'
    assert_success
    assert_output $'one\ntwo'
}

@test "cpar(1): --header : --colsep names the columns" {
    ex_run cpar.1 '--header : --colsep'
    assert_success
    assert_output "$(printf 'name\tsize\nx\t1\ny\t2\n' | gnu -k --header : --colsep '\t' echo '{name}' '{size}')"
    assert_output $'x 1\ny 2'
}

@test "cpar(1): --plus strings print what GNU parallel prints" {
    local oracle
    # the page's command, run by parallel (a sed edit of the page's text)
    oracle=$(ex cpar.1 'cpar -k --plus' 's/^cpar /parallel --will-cite /') || fail "no such example"
    command -v parallel >/dev/null || skip "GNU parallel is not installed"
    ex_run cpar.1 'cpar -k --plus'
    assert_success
    assert_output "$(bash -c "$oracle")"
    assert_line --index 0 --partial 'a tar.gz a.tar a.TAR.gz'
}

@test "cpar(1): an exported bash function as the command" {
    ex_run cpar.1 'export -f greet'
    assert_success
    assert_output $'hello a\nhello b'
}

@test "cpar(1): -X -s 20 fills command lines as GNU parallel does" {
    ex_run cpar.1 '-X -s 20'
    assert_success
    assert_output "$(gnu -k -X -s 20 echo ::: aaa bbb ccc ddd eee)"
    (($(wc -l <<<"$output") > 1)) || fail "one line only: $output"
}

@test "cpar(1): -d with a separator of two bytes (cparin)" {
    ex_run cpar.1 '-k -d'
    assert_success
    assert_output "$(printf 'a\nb\n\nc' | gnu -k -d '\n\n' echo '[{}]')"
    assert_equal "${#lines[@]}" 3
}

@test "cpar(1): every combination of two lists, in order" {
    ex_run cpar.1 'echo {1}-{2}'
    assert_success
    assert_output "$(gnu -k echo '{1}-{2}' ::: a b c ::: 1 2)"
    assert_equal "${#lines[@]}" 6
}

@test "cpar(1): pairs from two files with ::::+" {
    printf 'one\n' >s1
    printf 'two\n' >s2
    printf '%s\n' s1 s2 >sources.txt
    printf '%s\n' t1 t2 >targets.txt
    ex_run cpar.1 '::::+ targets.txt'
    assert_success
    assert_equal "$(cat t1)" one
    assert_equal "$(cat t2)" two
}

@test "cpar(1): --tag, a shell pipeline per item" {
    printf 'ERROR x\nok\nERROR y\n' >a.log
    printf 'fine\n' >b.log
    ex_run cpar.1 'cpar --tag '
    assert_success
    assert_equal "$(sort <<<"$output")" $'a.log\t2\nb.log\t0'
}

@test "cpar(1): --dry-run prints the command lines and runs nothing" {
    mkdir dir
    touch dir/a.txt 'b c.txt'
    ex_run cpar.1 '--dry-run'
    assert_success
    assert_equal "${#lines[@]}" 2
    # Any shell quoting will do: the words are what counts.
    local words
    words=$(for l in "${lines[@]}"; do eval "printf '<%s>' $l"; echo; done)
    assert_equal "$words" $'<mv><dir/a.txt><a.bak>\n<mv><b c.txt><b c.bak>'
    assert_file_exists dir/a.txt
    assert_file_exists 'b c.txt'
    assert_file_not_exists a.bak
}

@test "cpar(1): -N3, three items per job" {
    ex_run cpar.1 '-N3'
    assert_success
    assert_output "$(seq 10 | gnu -k -N3 echo '{1}+{2}+{3}')"
}

@test "cpar(1): a joblog, --resume runs what did not finish, --resume-failed the failures" {
    # ./fetch fails for `bad` until bad.ok exists; every call is logged.
    cat >fetch <<'SH'
#!/bin/sh
echo "$1" >>calls
[ "$1" != bad ] || [ -e bad.ok ]
SH
    chmod +x fetch
    printf '%s\n' a bad c >urls.txt
    ex_run cpar.1 'cpar --joblog'
    assert_failure
    # bad ran twice (--retries counts every try, as in GNU parallel).
    assert_equal "$(sort calls | uniq -c | squeeze)" $'1 a\n2 bad\n1 c'
    rm calls
    ex_run cpar.1 '--resume --joblog'
    assert_file_not_exists calls
    touch bad.ok
    ex_run cpar.1 '--resume-failed'
    assert_success
    assert_equal "$(cat calls)" bad
}

@test "cpar(1): --records - as JSON, the failed jobs through jq" {
    echo good >a.conf
    echo bad >b.conf
    printf '#!/bin/sh\n! grep -q bad "$1"\n' >check
    chmod +x check
    ex_run cpar.1 '--records - --format json ./check'
    assert_success
    assert_output b.conf
}

@test "cpar(1): --records runs.tsv next to the output" {
    for d in lib app doc; do
        mkdir "$d"
        printf 'all:\n\t@echo built %s\n' "$d" >"$d/Makefile"
    done
    ex_run cpar.1 '--records runs.tsv'
    assert_success
    for d in lib app doc; do
        assert_line "built $d"
    done
    run tsv_col exit <runs.tsv
    assert_success
    assert_output $'0\n0\n0'
}

@test "cpar(1): --compare on a sleep workload" {
    ex_run cpar.1 '--compare -j8' 's/seq 40/seq 8/'
    assert_success
    assert_equal "$(awk 'NR > 1 { print $1 }' <<<"$output")" $'sync\nthread\nprocess\nasync'
    assert_equal "$(awk 'NR > 1 { print $NF }' <<<"$output" | sort -u)" 0
}

@test "cpar(1): --compare --plot writes the chart" {
    ex_run cpar.1 '--plot sleep.svg' 's/seq 40/seq 8/'
    assert_success
    assert_file_exists sleep.svg
    grep -q '<svg' sleep.svg || fail "sleep.svg is not an SVG"
}

@test "cpar(1): --halt now,fail=1 ends the jobs still running" {
    mkdir tests
    printf 'exit 1\n' >tests/a
    printf 'sleep 5; touch b.done\n' >tests/b
    printf '#!/bin/sh\nexec sh "$1"\n' >./test
    chmod +x test
    ex_run cpar.1 '--halt now,fail=1'
    assert_failure
    assert_file_not_exists b.done
}

@test "cpar(1): --rate with --results, one folder per item" {
    printf '%s\n' "$HTTPD_URL/ok/one" "$HTTPD_URL/ok/two" >urls.txt
    ex_run cpar.1 '--results out curl'
    assert_success
    local one two
    one=$(grep -rlx one out) || fail "no result holds one: $(find out)"
    two=$(grep -rlx two out) || fail "no result holds two: $(find out)"
    assert_equal "${one##*/}" stdout
    assert_equal "${two##*/}" stdout
    [[ ${one%/*} != "${two%/*}" ]] || fail "one folder for both"
}

@test "cpar(1): a CSV file's columns as arguments" {
    printf 'ann,30\nbob,41\n' >people.csv
    ex_run cpar.1 '--colsep ,'
    assert_success
    assert_output $'30 is ann\n41 is bob'
}

@test "cpar(1): --csv reads quoted fields, named by the header" {
    printf 'name,amount\n"Doe, Jane",12\n"Roe\nRichard",3\n' >debts.csv
    ex_run cpar.1 '--csv -k --header'
    assert_success
    assert_output $'Doe, Jane owes 12\nRoe\nRichard owes 3'
}

@test "cpar(1): --line-buffer --tagstring tags every line" {
    printf '#!/bin/sh\necho start "$1"; echo end "$1"\n' >build
    chmod +x build
    ex_run cpar.1 '--line-buffer'
    assert_success
    assert_equal "${#lines[@]}" 6
    for x in a b c; do
        assert_line --regexp "^\\[$x\\][[:space:]]+start $x$"
        assert_line --regexp "^\\[$x\\][[:space:]]+end $x$"
    done
}

@test "cpar(1): -0 -X rm -f, many names per command" {
    mkdir sub
    touch a.o 'b c.o' sub/d.o keep.c
    ex_run cpar.1 'cpar -0 -X rm -f'
    assert_success
    assert_equal "$(find . -type f)" ./keep.c
}

# cparout: --retry-failed, --results FILE.csv, --shellquote
@test "cpar(1): --retry-failed runs the failed jobs of the joblog again" {
    run cpar --joblog jobs.log -k 'echo {}; test -e {}.ok' ::: a b c
    assert_failure 3
    touch a.ok b.ok c.ok
    ex_run cpar.1 '--retry-failed'
    assert_success
    assert_equal "$(sort <<<"$output")" $'a\nb\nc'
    # three failed lines, then the same three jobs succeeded
    assert_equal "$(cut -f1,7 jobs.log | tail -n +2 | sort | tr '\n\t' ' :')" \
        "1:0 1:1 2:0 2:1 3:0 3:1 "
}

@test "cpar(1): --results out.csv keeps every job's output in one CSV file" {
    printf '1\n2\n' >a.txt
    printf '1\n' >b.txt
    ex_run cpar.1 '--results out.csv'
    assert_success
    assert_output ""
    gnu --results gnu.csv -k wc -l ::: a.txt b.txt
    # GNU parallel's rows, times aside (our -k-less run may order rows otherwise)
    local ours theirs
    ours=$(sed -E 's/^([0-9]+),:,[0-9.]+,[0-9.]+,/\1,:,T,T,/' out.csv | sort)
    theirs=$(sed -E 's/^([0-9]+),:,[0-9.]+,[0-9.]+,/\1,:,T,T,/' gnu.csv | sort)
    assert_equal "$ours" "$theirs"
    assert_equal "$(head -1 out.csv)" "Seq,Host,Starttime,JobRuntime,Send,Receive,Exitval,Signal,Command,V1,Stdout,Stderr"
}

@test "cpar(1): --shellquote quotes a path for a script" {
    path="a b'c\$d"
    export path
    ex_run cpar.1 '--shellquote ::: "$path"' 's/$/; printf "%s\\n" "$q"/'
    assert_success
    assert_output "$(gnu -0 --shellquote ::: "$path")"
    assert_equal "$(eval "printf '%s' $output")" "$path"
}

# ---- cfetch(1) ---------------------------------------------------------------------

# pattern N: the first N bytes of the test server's /bytes/N.
pattern() {
    python3 -c 'import sys; n = int(sys.argv[1]); sys.stdout.write(("0123456789abcdef" * (n // 16 + 1))[:n])' "$1"
}

# requests: how many requests the server answered since the last call.
requests() {
    curl -sS "$HTTPD_URL/stats" | sed -E 's/.*requests=([0-9]+).*/\1/'
    curl -sS "$HTTPD_URL/reset-stats" >/dev/null
}

@test "cfetch(1): POST a form with -d and see the answer" {
    ex_run cfetch.1 '-d name=ann' 's|/api$|/echo|'
    assert_success
    assert_output $'POST\n\nname=ann&id=7'
}

@test "cfetch(1): -c finishes cut-short downloads, -nc skips those already there" {
    printf '%s\n' "$HTTPD_URL/bytes/5000" "$HTTPD_URL/bytes/300" >urls
    mkdir isos
    pattern 5000 | head -c 1200 >isos/5000
    ex_run cfetch.1 'cfetch -c -P isos'
    assert_success
    cmp isos/5000 <(pattern 5000) || fail "isos/5000 is not the whole file"
    cmp isos/300 <(pattern 300) || fail "isos/300 is not the file"
    requests >/dev/null
    ex_run cfetch.1 'cfetch -nc -P isos'
    assert_success
    assert_equal "$(requests)" 0
    cmp isos/5000 <(pattern 5000) || fail "-nc changed isos/5000"
}

@test "cfetch(1): save the pages and show what did not come back with 200" {
    printf '%s\n' "$HTTPD_URL/ok/a" "$HTTPD_URL/status/404" "$HTTPD_URL/bytes/100" >urls
    ex_run cfetch.1 '!= 200'
    assert_success
    assert_equal "${#lines[@]}" 1
    assert_equal "$(cut -f2,3 <<<"$output")" "$HTTPD_URL/status/404	404"
    assert_equal "$(cat pages/a)" a
    cmp pages/100 <(pattern 100) || fail "pages/100 is not the page"
}

@test "cfetch(1): one file with -o, a token that stays out of the record" {
    export TOKEN=s3cr3t-t0ken
    ex_run cfetch.1 'Authorization: Bearer' 's|/big.iso$|/bytes/70000|'
    assert_success
    cmp big.iso <(pattern 70000) || fail "big.iso is not the file"
    [[ $output$stderr != *s3cr3t* ]] || fail "the token is in the output: $output $stderr"
    assert_equal "$(cut -f3 <<<"$output")" 200
}

@test "cfetch(1): only the failures, as JSON, rate-limited, with retries" {
    printf '%s\n' "$HTTPD_URL/ok/a" "$HTTPD_URL/status/404" "$HTTPD_URL/ok/b" >urls
    ex_run cfetch.1 '--rate 10/s --retries 4'
    assert_success
    assert_equal "${#lines[@]}" 1
    assert_equal "$(json_fields url status <<<"$output")" "$HTTPD_URL/status/404	404"
}

@test "cfetch(1): the saved files fed to cpar gzip" {
    printf '%s\n' "$HTTPD_URL/ok/a" "$HTTPD_URL/status/404" "$HTTPD_URL/bytes/100" >urls
    ex_run cfetch.1 'cpar gzip -9'
    assert_success
    assert_equal "$(find pages -type f | sort)" $'pages/100.gz\npages/a.gz'
    assert_equal "$(zcat pages/a.gz)" a
}

@test "cfetch(1): a journalled crawl fetches only what is missing when rerun" {
    printf '%s\n' "$HTTPD_URL/ok/a" "$HTTPD_URL/bytes/100" >urls.txt
    requests >/dev/null
    ex_run cfetch.1 '--journal crawl.db'
    assert_success
    assert_equal "$(requests)" 2
    local files
    files=$(find site -type f | sort)
    assert_equal "$(wc -l <<<"$files")" 2
    [[ $files == site/127.0.0.1*/1-a* ]] || fail "no site/HOST/1-a: $files"
    ex_run cfetch.1 '--journal crawl.db'
    assert_success
    assert_equal "$(requests)" 0
    assert_equal "$(find site -type f | sort)" "$files"
}

@test "cfetch(1): --body concatenates the bodies in input order" {
    ex_run cfetch.1 '--body https://example.org/part1' 's|/part|/ok/part|g'
    assert_success
    assert_output ""
    assert_equal "$(cat whole)" $'part1\npart2'
}

@test "cfetch(1): --compare on slow URLs, one row per strategy" {
    ex_run cfetch.1 'cfetch --compare -j 50$' 's/seq 200/seq 10/'
    assert_success
    assert_equal "$(awk 'NR > 1 { print $1 }' <<<"$output")" $'sync\nthread\nprocess\nasync'
    assert_equal "$(awk 'NR > 1 { print $NF }' <<<"$output" | sort -u)" 0
}

@test "cfetch(1): --compare --plot writes a PNG" {
    command -v gnuplot >/dev/null || skip "gnuplot is not installed (the PNG chart needs it)"
    ex_run cfetch.1 '--plot fetch.png' 's/seq 200/seq 10/'
    assert_success
    assert_equal "$(head -c 4 fetch.png | od -An -c | squeeze)" '211 P N G'
}

@test "cfetch(1): --per-host bounds the requests in flight to one server" {
    seq 12 | sed "s|^|$HTTPD_URL/delay/100/|" >urls
    requests >/dev/null
    ex_run cfetch.1 '--per-host 4'
    assert_success
    assert_output ""
    assert_equal "$(wc -l <records.tsv)" 12
    assert_equal "$(cut -f3 records.tsv | sort -u)" 200
    local max
    max=$(curl -sS "$HTTPD_URL/stats" | sed -E 's/.*inflight_max=([0-9]+).*/\1/')
    ((max >= 1 && max <= 4)) || fail "$max requests at once"
}

# ---- cpipe(1) ----------------------------------------------------------------------

# lines_file FILE N: N numbered lines of text, some with ERROR or timeout.
lines_file() {
    awk -v n="$2" 'BEGIN { for (i = 1; i <= n; i++)
        printf "%d %s line of the log, padded to look like one\n", i, i % 97 == 0 ? "ERROR" : i % 89 == 0 ? "timeout" : "info" }' >"$1"
}

@test "cpipe(1): gzip by blocks is a valid multi-member gzip file; xz likewise" {
    lines_file big.log 150000
    ex_run cpipe.1 'gzip -1 > big.log.gz' 's/--block 4M/--block 2M/'
    assert_success
    (($(stat -c %s big.log) > 2 * 2 * 1024 * 1024)) || fail "big.log is one block"
    ex_run cpipe.1 'gunzip < big.log.gz | cmp - big.log'
    assert_success
    head -c 700000 big.log >big.tar
    ex_run cpipe.1 'xz -T1' 's/--block 16M/--block 256K/'
    assert_success
    cmp big.tar <(xz -dc big.tar.xz) || fail "big.tar.xz is not big.tar"
}

@test "cpipe(1): --cat gives split(1) each block as a file; --fifo gives wc a named pipe" {
    lines_file big.txt 60000
    ex_run cpipe.1 '--cat -a big.txt' 's/--block 10M/--block 1M/'
    assert_success
    local blocks
    blocks=$(find . -name 'part.*.aa' | wc -l)
    ((blocks >= 2)) || fail "big.txt made $blocks block(s)"
    assert_equal "$(find . -name 'part.*' | wc -l)" "$((4 * blocks))"
    # The parts of every block, blocks in order, are the file again.
    cat $(find . -name 'part.*' | sort -V) | cmp - big.txt || fail "the parts are not big.txt"
    ex_run cpipe.1 '--fifo -a big.txt'
    assert_success
    assert_equal "$(awk '{ s += $1 } END { print s }' <<<"$output")" 60000
    # Each line names the pipe, gone once its block ended.
    local name
    for name in $(awk '{ print $2 }' <<<"$output"); do
        [[ ! -e $name ]] || fail "$name was left behind"
    done
}

@test "cpipe(1): counting lines, summed by awk or by --reduce" {
    lines_file big.txt 60000
    ex_run cpipe.1 'wc -l | awk'
    assert_success
    assert_output 60000
    ex_run cpipe.1 '--reduce'
    assert_success
    assert_output 60000
}

@test "cpipe(1): grep a big log, the matches in the log's order, blocks without one included" {
    lines_file huge.log 60000
    ex_run cpipe.1 'grep -F' 's|/var/log/huge.log|huge.log|'
    assert_success
    assert_output "$(grep -F ERROR huge.log)"
}

@test "cpipe(1): count matches of a compressed log, one count per block" {
    lines_file huge.log 100000
    gzip -k huge.log
    ex_run cpipe.1 'grep -c timeout || true'
    assert_success
    assert_equal "$(awk '{ s += $1 } END { print s }' <<<"$output")" "$(grep -c timeout huge.log)"
}

@test "cpipe(1): --header 1 gives every block the CSV header" {
    python3 -c '
import random
random.seed(7)
print("id,amount,note")
for i in range(30000):
    print("%d,%d.25,some words to make the file bigger than a block" % (i, random.randrange(1000)))' >sales.csv
    ex_run cpipe.1 '--header 1 -a sales.csv'
    assert_success
    (($(wc -l <<<"$output") > 1)) || fail "one block only"
    assert_equal "$(awk '{ s += $1 } END { printf "%.2f", s }' <<<"$output")" \
        "$(awk -F, 'NR > 1 { s += $2 } END { printf "%.2f", s }' sales.csv)"
}

@test "cpipe(1): NUL-terminated records: the sizes of every file under a folder" {
    mkdir -p d/e
    for i in $(seq 50); do head -c "$((i * 37))" /dev/zero >"d/e/f $i"; done
    ex_run cpipe.1 'xargs -0 stat' 's|find / |find . |'
    assert_success
    assert_output "$(find . -print0 | xargs -0 stat -c %s | awk '{s+=$1} END {print s}')"
}

@test "cpipe(1): FASTA records cut at >, a filter of one's own" {
    python3 -c '
import random
random.seed(3)
for i in range(3000):
    print(">seq%d" % i)
    for j in range(8):
        print("".join(random.choice("ACGT") for _ in range(60)))' >genome.fa
    printf '#!/bin/sh\ngrep -v "^>" | tr -cd GC | wc -c\n' >count-gc
    chmod +x count-gc
    ex_run cpipe.1 '--recstart'
    assert_success
    (($(wc -l <<<"$output") > 1)) || fail "one block only"
    assert_equal "$(awk '{ s += $1 } END { print s }' <<<"$output")" "$(grep -v '^>' genome.fa | tr -cd GC | wc -c)"
    # Every block began at a record.
    run bash -c "cpipe --recstart '>' -a genome.fa 'sed -n 1p' | cut -c1 | sort -u"
    assert_output '>'
}

@test "cpipe(1): --compare, one row per strategy; --plot the chart" {
    lines_file big.txt 40000
    ex_run cpipe.1 'cpipe --compare -a big.txt'
    assert_success
    assert_equal "$(awk 'NR > 1 { print $1 }' <<<"$output")" $'sync\nthread\nprocess\nasync'
    assert_equal "$(awk 'NR > 1 { print $(NF - 1) }' <<<"$output" | sort -u)" 0
    # One output whatever the strategy.
    assert_equal "$(awk 'NR > 1 { print $NF }' <<<"$output" | sort -u | wc -l)" 1
    ex_run cpipe.1 '--plot gzip.svg'
    assert_success
    grep -q '<svg' gzip.svg || fail "gzip.svg is not an SVG"
}

@test "cpipe(1): --skip-first-line leaves out the title; -r leaves out blank lines" {
    { echo 'Quarterly report'; seq 100000 | sed 's/$/,x/'; } >report.csv
    ex_run cpipe.1 '--skip-first-line --pipepart'
    assert_success
    assert_equal "$(awk '{ s += $1 } END { print s }' <<<"$output")" 100000
    ((${#lines[@]} >= 2)) || fail "one part only: $output"
    { echo '# log'; seq 5000; echo; echo '  '; seq 5000; } >app.log
    ex_run cpipe.1 'cpipe -r --pipe gzip -1'
    assert_success
    assert_equal "$(gunzip <app.log.gz | md5sum)" "$(grep -v '^#' app.log | grep -v '^[[:space:]]*$' | md5sum)"
}

@test "cpipe(1): --group-by UserID: one block per user, each with the header" {
    { echo 'UserID,amount'; printf 'u1,1\nu1,2\nu2,5\nu3,1\nu3,1\nu3,1\n'; } >usage.csv
    printf '#!/bin/sh\nawk -F, '\''NR == 1 { h = $1 } NR > 1 { u = $1; s += $2 } END { print h, u, s }'\''\n' >bill-user
    chmod +x bill-user
    ex_run cpipe.1 '--group-by UserID'
    assert_success
    assert_equal "$(sort <<<"$output")" $'UserID u1 3\nUserID u2 5\nUserID u3 3'
}

@test "cpipe(1): --shard 1 splits orders into four shards, a customer's lines all in one, as parallel" {
    local i
    for ((i = 1; i <= 200; i++)); do printf 'c%d,%d\n' $((i * 7 % 23)) "$i"; done >orders.csv
    ex_run cpipe.1 '--shard 1 -a orders.csv'
    assert_success
    assert_equal "$(echo shard-*.csv)" "shard-1.csv shard-2.csv shard-3.csv shard-4.csv"
    assert_equal "$(sort shard-*.csv)" "$(sort orders.csv)"
    # No customer in two shards.
    assert_equal "$(for f in shard-*.csv; do cut -d, -f1 "$f" | sort -u; done | sort | uniq -d)" ""
    # Each shard holds the lines GNU parallel gives that job slot.
    command -v parallel >/dev/null || return 0
    mkdir gnu
    (cd gnu && parallel --will-cite --pipe -j4 --colsep , --shard 1 'sort > shard-{%}.csv' <../orders.csv)
    for i in 1 2 3 4; do
        cmp "shard-$i.csv" "gnu/shard-$i.csv" || fail "shard $i differs from parallel's"
    done
}

@test "cpipe(1): --dry-run prints each block's command; --joblog logs each block" {
    seq 3500 >big.txt
    printf '#!/bin/sh\nwc -l | sed "s/^/batch $1: /"\n' >load-batch
    chmod +x load-batch
    ex_run cpipe.1 'cpipe --dry-run -N1000'
    assert_success
    assert_equal "$output" $'./load-batch 1\n./load-batch 2\n./load-batch 3\n./load-batch 4'
    ex_run cpipe.1 'cpipe --joblog blocks.log'
    assert_success
    assert_equal "$output" $'batch 1: 1000\nbatch 2: 1000\nbatch 3: 1000\nbatch 4: 500'
    assert_equal "$(head -1 blocks.log | cut -f1,9)" $'Seq\tCommand'
    assert_equal "$(tail -n +2 blocks.log | cut -f1,7,9)" \
        $'1\t0\t./load-batch 1\n2\t0\t./load-batch 2\n3\t0\t./load-batch 3\n4\t0\t./load-batch 4'
}

@test "cpipe(1): --line-buffer --round-robin on an endless stream: head gets its lines at once" {
    ex_run cpipe.1 '--line-buffer --round-robin cat | head'
    assert_success
    assert_equal "${#lines[@]}" 10
    assert_line --index 0 --regexp '^[0-9]+$'
}

@test "cpipe(1): a --header regexp up to the first blank line reaches every block" {
    { printf 'Title\nby me\n\n'; seq 250; } >report.txt
    printf '#!/bin/sh\nawk '\''NR == 1 { print } /./ { n++ } END { print n }'\''\n' >summarize
    chmod +x summarize
    ex_run cpipe.1 '-N100 -a report.txt ./summarize'
    assert_success
    assert_equal "$output" $'Title\n102\nTitle\n102\nTitle\n52'
}

# ---- cqueue(1) ---------------------------------------------------------------------

# cq_wait QUEUE: waits (under the guard) until no job of QUEUE is queued
# or running.
cq_wait() {
    timeout -k 5 "$CTK_TIMEOUT" cqueue -q "$1" wait --all >/dev/null 2>&1 || true
}

@test "cqueue(1): a download queue served by a daemon: add, list the failures, retry them" {
    QUEUES_STARTED=dl
    ex_run cqueue.1 '--daemon'
    assert_success
    printf '<a href="%s">a</a> <a href="%s">b</a> <a href="%s">c</a>\n' \
        "$HTTPD_URL/ok/a.iso" "$HTTPD_URL/ok/b.iso" "$HTTPD_URL/ok/notes.txt" >index.html
    ex_run cqueue.1 'index.html' 's|https://|http://|'
    assert_success
    # The ids of the jobs added, as a range.
    assert_output --regexp '^[0-9]+-[0-9]+$'
    assert_equal "$((${output#*-} - ${output%-*} + 1))" 2
    export url="$HTTPD_URL/status/404"
    ex_run cqueue.1 'add --key'
    assert_success
    local failed_id=$output
    # Once each: the same key is not added again while it is queued or running.
    run cqueue -q dl add --key "$url" -- true
    cq_wait dl
    assert_equal "$(cat a.iso b.iso)" $'a.iso\nb.iso'
    assert_file_not_exists notes.txt
    ex_run cqueue.1 'ls --state failed$'
    assert_success
    assert_equal "${#lines[@]}" 1
    assert_output --partial "$failed_id"
    ex_run cqueue.1 'retry --failed'
    assert_success
    cq_wait dl
    run cqueue -q dl --format json show "$failed_id"
    assert_success
    assert_equal "$(json_fields attempts <<<"$output")" 2
}

@test "cqueue(1): the nightly batch: a failed test makes the worker exit 1 and the mail go out" {
    mkdir bin
    printf '#!/bin/sh\n{ echo "mail $*"; cat; } >mail.out\n' >bin/mail
    chmod +x bin/mail
    export PATH="$SCRATCH/bin:$PATH"
    printf 'all:\n\t@echo built >built\ncheck:\n\t@echo check >>checks; false\n' >Makefile
    printf '#!/bin/sh\necho report >report.out\n' >report.sh
    chmod +x report.sh
    # Last night's failure, which clear --all forgets.
    cqueue -q nightly add false >/dev/null
    cqueue -q nightly work --drain >/dev/null 2>&1 || true
    # The five lines share variables: one script, in the page's order.
    local script
    script=$(ex cqueue.1 'nightly clear --all') &&
        script+=$'\n'$(ex cqueue.1 'build=$(') &&
        script+=$'\n'$(ex cqueue.1 'tests=$(') &&
        script+=$'\n'$(ex cqueue.1 '-- ./report.sh') &&
        script+=$'\n'$(ex cqueue.1 'nightly work -j 2 --drain') || fail "an example is missing"
    echo "# $script" >&3
    run --separate-stderr timeout -k 5 "$CTK_TIMEOUT" bash -c "$script"
    assert_success
    assert_file_exists built
    # make check ran twice (one retry), then the worker exited 1: the mail.
    assert_equal "$(cat checks)" $'check\ncheck'
    assert_file_exists mail.out
    run head -n 1 mail.out
    assert_output "mail -s nightly failed me"
}

@test "cqueue(1): gzip every log file, three at a time, then the failures as JSON" {
    mkdir -p var/log/app/old var/log/app/broken.log
    seq 100 >var/log/app/a.log
    seq 200 >var/log/app/old/b.log
    ex_run cqueue.1 'find /var/log/app' 's|/var/log/app|var/log/app|'
    assert_success
    assert_output '1-3'
    ex_run cqueue.1 'cqueue work -j 3 --drain'
    # gzip of the folder broken.log failed: the worker says so.
    assert_failure 1
    assert_file_exists var/log/app/a.log.gz
    assert_equal "$(zcat var/log/app/old/b.log.gz)" "$(seq 200)"
    ex_run cqueue.1 'cqueue ls --state failed --format json'
    assert_success
    assert_equal "${#lines[@]}" 1
    assert_output --partial broken.log
}

# ---- ctk(1) ------------------------------------------------------------------------

@test "ctk(1): cpar through the front door" {
    seq 50 >a.txt
    seq 60 >b.txt
    ex_run ctk.1 'ctk cpar'
    assert_success
    assert_equal "$(find . -type f | sort)" $'./a.txt.gz\n./b.txt.gz'
    assert_equal "$(zcat b.txt.gz)" "$(seq 60)"
}

@test "ctk(1): ctk list shows a plugin folder's strategy and its file" {
    export HOME="$SCRATCH/home"
    mkdir -p "$HOME/ctk-plugins"
    cp "$PINNED_SO" "$HOME/ctk-plugins/"
    ex_run ctk.1 'ctk list'
    assert_success
    assert_line --regexp "^  pinned +$HOME/ctk-plugins/pinned\\.so "
    assert_line --regexp '^  thread +built in'
}

@test "ctk(1): ctk doctor, and a script's test for the Open MPI engine" {
    ex_run ctk.1 '=ctk doctor'
    assert_success
    assert_line --regexp '^  ok +cburn '
    assert_line --regexp '^  cores +[0-9]+ online'
    # Without the mpi plugin in the path the engine is unusable, and the
    # script says so.
    ex_run ctk.1 'no mpi here'
    assert_success
    assert_output "no mpi here"
    # With it (and mpirun), the page's pattern matches doctor's line.
    local mpi_so="$CTK_BUILDDIR/plugins/mpi/mpi.so"
    if [[ -e $mpi_so ]] && command -v mpirun >/dev/null; then
        mkdir mpi
        cp "$mpi_so" mpi/
        CTK_PLUGIN_PATH="$SCRATCH/mpi:$CTK_PLUGIN_PATH" ex_run ctk.1 'no mpi here'
        assert_success
        assert_output ""
    fi
}

# ---- ctk-plugin(7) -----------------------------------------------------------------

# page_c SECTION FILE: the first .EX block of ctk-plugin(7)'s section
# SECTION (its C source), groff's escapes undone, into FILE.
page_c() {
    awk -v sec="$1" '$0 == ".SH " sec { s = 1; next } s && /^\.SH/ { exit } s && /^\.EE/ { exit } s == 2 { print } s && /^\.EX/ { s = 2 }' \
        "$CTK_SRCDIR/man/ctk-plugin.7" |
        perl -pe 's/\\(e|-|\(aq|&)/$1 eq "e" ? "\\" : $1 eq "-" ? "-" : $1 eq "&" ? "" : "\x27"/ge' >"$2"
    [[ -s $2 ]] || fail "no $1 block in man/ctk-plugin.7"
}

@test "ctk-plugin(7): the collatz workload: build, compare, map mode" {
    page_c 'EXAMPLE: A WORKLOAD' collatz.c
    export PKG_CONFIG_PATH="$CTK_BUILDDIR"
    ex_run ctk-plugin.7 'o collatz.so collatz.c'
    assert_success
    ex_run ctk-plugin.7 'collatz.so -w collatz -n 100k --compare'
    assert_success
    assert_table ctk-plugin.7 'collatz.so -w collatz -n 100k --compare' same
    ex_run ctk-plugin.7 'collatz.so -w collatz -k -'
    assert_success
    assert_equal "$(but_elapsed <<<"$output")" "$(ex_shown ctk-plugin.7 'collatz.so -w collatz -k -' | but_elapsed)"
    # Independently: the steps of 1..10 and of 1..27.
    assert_equal "$(cut -f3 <<<"$output")" "$(python3 -c '
def steps(n):
    s = 0
    while n != 1:
        n, s = (n // 2 if n % 2 == 0 else 3 * n + 1), s + 1
    return s
for m in (10, 27):
    print(sum(steps(n) for n in range(1, m + 1)))')"
}

@test "ctk-plugin(7): the capped strategy: build, its option in --help, a bad value" {
    page_c 'EXAMPLE: A STRATEGY WITH AN OPTION' capped.c
    export PKG_CONFIG_PATH="$CTK_BUILDDIR"
    ex_run ctk-plugin.7 'o capped.so capped.c'
    assert_success
    ex_run ctk-plugin.7 'capped --help | tail -n 4'
    assert_success
    assert_output "$(ex_shown ctk-plugin.7 'capped --help | tail -n 4')"
    ex_run ctk-plugin.7 'capped --cap 0'
    assert_failure 2
    assert_output ""
    assert_equal "$stderr" "$(ex_shown ctk-plugin.7 'capped --cap 0')"
}

@test "ctk-plugin(7): the example store: build, add a job, list it" {
    page_c 'EXAMPLE: A STORE' exstore.c
    export PKG_CONFIG_PATH="$CTK_BUILDDIR" HOME="$SCRATCH"
    ex_run ctk-plugin.7 'o exstore.so exstore.c'
    assert_success
    ex_run ctk-plugin.7 'exstore:$HOME/q add -- echo hello'
    assert_success
    assert_output 1
    ex_run ctk-plugin.7 'exstore:$HOME/q ls'
    assert_success
    assert_equal "${#lines[@]}" 1
    assert_equal "$(cut -f1,2 <<<"$output")" $'1\tqueued'
    assert_output --partial "echo hello"
}

@test "ctk-plugin(7): store-postgres built from ctk's sources, on a throwaway server" {
    local why
    why=$(pg_missing)
    [[ -z $why ]] || skip "$why"
    pkg-config --exists libpq || skip "libpq is not installed (apt-get install libpq-dev)"
    pg_start || fail "no PostgreSQL server"
    psql -X -qAt "$PG_URL/postgres" -c "CREATE DATABASE jobs" >/dev/null
    cp "$CTK_SRCDIR/plugins/store-postgres/store-postgres.c" .
    export PKG_CONFIG_PATH="$CTK_BUILDDIR"
    ex_run ctk-plugin.7 'o store-postgres.so store-postgres.c'
    assert_success
    ex_run ctk-plugin.7 'postgresql://db.example/jobs stats' "s|postgresql://db.example|$PG_URL|"
    assert_success
    # The default queue's row, empty, from the server.
    assert_output --regexp $'^default(\t0(\\.000)?)+$'
    # It is that server's database the store set up.
    local tables
    tables=$(psql -X -qAt "$PG_URL/jobs" -c "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'cqueue'")
    ((tables > 0)) || fail "no cqueue table in the jobs database"
}

@test "cpipe(1): -v and --tagstring with {%}: each block's command, then its count, tagged with a slot" {
    ex_run cpipe.1 '-N1000 -v --tagstring'
    assert_success
    # -k: three blocks in order, each "slot S<TAB>wc -l" then "slot S<TAB>1000".
    assert_equal "${#lines[@]}" 6
    local i
    for i in 0 2 4; do
        assert_line --index "$i" --regexp $'^slot [1-4]\twc -l$'
        assert_line --index $((i + 1)) --regexp $'^slot [1-4]\t1000$'
    done
}

@test "cpipe(1): --tee gives all of the input to each filter: wc -w -l -c after their lines, grep | wc tagged" {
    ex_run cpipe.1 '--tee -v wc {}'
    assert_success
    # In argument order, each command line before its count.
    assert_equal "$output" "$(printf 'wc -w\n1000\nwc -l\n1000\nwc -c\n3893')"
    ex_run cpipe.1 '--tee --tag'
    assert_success
    # 181 numbers of 1..1000 hold a 0, 272 a 1 (parallel's own figures).
    assert_equal "$output" "$(printf '0 -l\t181\n0 -c\t716\n1 -l\t272\n1 -c\t1069')"
}

@test "cpipe(1): --files sorts blocks into files; sort -m merges them; the files are removed" {
    shuf -i 1-200000 --random-source=<(yes) >big.txt
    ex_run cpipe.1 '--files --delay 1 -a big.txt sort >parts' 's/--delay 1/--delay 0.1/'
    assert_success
    [ "$(wc -l <parts)" -gt 1 ] || fail "one block only: $(cat parts)"
    ex_run cpipe.1 'xargs rm <parts'
    assert_success
    sort big.txt | cmp - sorted.txt
    while read -r f; do assert_file_not_exists "$f"; done <parts
}
