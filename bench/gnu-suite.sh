#!/bin/bash
# GNU parallel's own local test cases, run with GNU parallel (the oracle) and
# with ctk's cpar (cpipe when the case uses --pipe/--pipepart); prints one
# line per case and "N of M cases match (P%)".
#
# Usage: bench/gnu-suite.sh [-j N] [-n MAX] [-k DIR] [-f REGEX] [BUILDDIR]
#   -j N      cases run N at a time (default 2)
#   -n MAX    run every k-th case so that at most MAX run (default 300,
#             which keeps a run near 10 minutes at -j 3; 0: all)
#   -k DIR    keep the cases and outputs in DIR (default: a temp dir, removed)
#   -f REGEX  only the cases whose name (file:function:line) matches REGEX
#   BUILDDIR  the built tree whose tools/cpar/cpar, tools/cpipe/cpipe run
#             (default: the tree this script is in)
# GNU parallel's source comes from $GNU_PARALLEL_GIT (a git dir; default the
# mirror /work/.mirror/GitMirroring+parallel/repo) or $GNU_PARALLEL_SRC (a
# checkout). The oracle is `parallel` on $PATH.
#
# A case is one command line of testsuite/tests-to-run/parallel-local*.sh
# that runs parallel (see gnu-suite-extract.py for how lines are cut and
# which are skipped). Each case runs in a fresh scratch dir under
# `timeout 20`, after the file's top-level set-up lines and the lines of its
# test function before it that do not run parallel. Stdout (which holds
# stderr where the case merges it, as the suite's `stdout` helper does) and
# the exit code are compared. GNU parallel runs each case twice: a case whose
# two GNU runs differ depends on timing and is left out as "flaky", and so is
# a case GNU itself times out on.
set -u
jobs=2 max=300 keep= filter=
while getopts j:n:k:f: o; do
	case $o in
	j) jobs=$OPTARG ;;
	n) max=$OPTARG ;;
	k) keep=$OPTARG ;;
	f) filter=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/..}" && pwd)
for t in cpar/cpar cpipe/cpipe; do
	[ -x "$build/tools/$t" ] || { echo "gnu-suite: no $build/tools/$t (build first)" >&2; exit 2; }
done
command -v parallel >/dev/null || { echo "gnu-suite: GNU parallel not installed" >&2; exit 2; }

if [ -n "$keep" ]; then
	work=$keep
	rm -rf "$work"
	mkdir -p "$work"
else
	work=$(mktemp -d /tmp/gnu-suite.XXXXXX)
	trap 'rm -rf "$work"' EXIT
fi
work=$(cd "$work" && pwd)
if [ -n "${GNU_PARALLEL_SRC:-}" ]; then
	cp -r "$GNU_PARALLEL_SRC/testsuite" "$work/"
else
	git --git-dir="${GNU_PARALLEL_GIT:-/work/.mirror/GitMirroring+parallel/repo}" \
		archive HEAD testsuite | tar -x -C "$work" || exit 2
fi
python3 "$here/gnu-suite-extract.py" "$work/testsuite" "$work/cases" || exit 2

cd "$work/cases" || exit 2
ls | while read -r c; do
	if [ -z "$filter" ] || grep -Eq -- "$filter" "$c/name"; then echo "$c"; fi
done >"$work/list"
total=$(wc -l <"$work/list")
if [ "$max" -gt 0 ] && [ "$total" -gt "$max" ]; then
	# Deterministic sample: every k-th case, so each file keeps its share.
	step=$(((total + max - 1) / max))
	awk -v s="$step" 'NR % s == 1 || s == 1' "$work/list" >"$work/list.s"
	mv "$work/list.s" "$work/list"
	echo "gnu-suite: sampled every ${step}th of $total cases: $(wc -l <"$work/list")"
fi

export GS_WORK=$work GS_BIN="$build/tools/cpar:$build/tools/cpipe"
# Runs one case three times (gnu, gnu2, ctk) and writes its verdict.
runcase() {
	c=$1
	d=$GS_WORK/cases/$c
	for mode in gnu gnu2 ctk; do
		line=$(cat "$d/case")
		if [ $mode = ctk ]; then
			tool=cpar
			case $line in *--pipe* | *--spreadstdin*) tool=cpipe ;; esac
			line=$(printf '%s\n' "$line" | TOOL=$tool \
				perl -pe 's/(?<![-\w.\/\$])parallel(?![-\w.])/$ENV{TOOL}/g')
		fi
		# The same path in every mode: outputs may name it.
		s=$GS_WORK/scratch/$c.run o=$GS_WORK/scratch/$c.$mode
		rm -rf "$s"
		# The suite writes and deletes in /tmp (rm -f /tmp/*.log ...):
		# every /tmp, /run/shm, /dev/shm of a case is the scratch dir's tmp.
		mkdir -p "$s/home" "$s/tmp"
		{
			echo 'stdout() { "$@" 2>&1; }; export -f stdout'
			echo "testsuitedir=$GS_WORK/testsuite"
			echo "cd $s"
			{
				cat "$d/prelude" "$d/setup"
				printf '%s\n' "$line"
			} | S=$s perl -pe 's{(?<![\w.~-])/(?:tmp|run/shm|dev/shm)(?![\w.-])}{$ENV{S}/tmp}g'
		} >"$o.sh"
		(cd "$s" && TMPDIR=$s/tmp HOME=$s/home PATH=$GS_BIN:$PATH \
			timeout -k 2 20 bash "$o.sh" </dev/null >"$o.out" 2>"$o.err")
		echo $? >"$o.rc"
	done
	g=$GS_WORK/scratch/$c
	if [ "$(cat "$g.gnu.rc")" = 124 ] || [ "$(cat "$g.gnu.rc")" = 137 ]; then
		v=skip-timeout
	elif grep -qs '^Unknown option' "$g.gnu.out" "$g.gnu.err"; then
		v=skip-gnu-older # the case's options are newer than the oracle
	elif ! cmp -s "$g.gnu.out" "$g.gnu2.out" || ! cmp -s "$g.gnu.rc" "$g.gnu2.rc"; then
		v=flaky
	elif cmp -s "$g.gnu.out" "$g.ctk.out" && cmp -s "$g.gnu.rc" "$g.ctk.rc"; then
		v=match
	else
		v=DIFF
	fi
	# Scratch dirs can be large (the suite makes big files): keep outputs only.
	rm -rf "$g.run"
	echo "$v $c $(cat "$d/name")"
}
export -f runcase
mkdir -p "$work/scratch"
xargs -P "$jobs" -I{} bash -c 'runcase {}' <"$work/list" | sort -k2 | tee "$work/results"

m=$(grep -c '^match ' "$work/results")
dif=$(grep -c '^DIFF ' "$work/results")
fl=$(grep -c '^flaky ' "$work/results")
to=$(grep -c '^skip-timeout ' "$work/results")
old=$(grep -c '^skip-gnu-older ' "$work/results")
n=$((m + dif))
echo "left out: $fl flaky (GNU's two runs differ), $to GNU timed out, $old newer than GNU $(parallel --version | awk 'NR == 1 { print $3 }')"
awk -v m=$m -v n=$n 'BEGIN { printf "%d of %d cases match (%.0f%%)\n", m, n, n ? 100 * m / n : 0 }'
