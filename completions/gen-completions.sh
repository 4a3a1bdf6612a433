#!/bin/sh
# gen-completions.sh OUTDIR TOOL...: writes OUTDIR/NAME.bash, OUTDIR/_NAME
# (zsh) and OUTDIR/NAME.fish for each TOOL (a path to a built ctk command),
# from the option table the tool itself prints with its hidden
# --dump-options. The completions are never written by hand, so they
# cannot drift from the tables; what a value completes to (strategies,
# workloads, job ids, files) is decided here from the option's name and
# argument, and looked up when the user presses TAB (plugins included).
set -eu
[ $# -ge 2 ] || { echo "usage: $0 OUTDIR TOOL..." >&2; exit 2; }
out=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
for tool in "$@"; do
    name=$(basename "$tool")
    dump=$out/.$name.options
    # The table as built: no plugin of the build machine's path in it.
    CTK_PLUGIN_PATH=/nonexistent "$tool" --dump-options >"$dump"
    head -n 1 "$dump" | grep -q "^tool	$name	" || {
        echo "$0: $tool --dump-options: not an option table" >&2
        exit 1
    }
    for shell in bash zsh fish; do
        case $shell in
        bash) file=$out/$name.bash ;;
        zsh) file=$out/_$name ;;
        fish) file=$out/$name.fish ;;
        esac
        ${AWK:-awk} -F '\t' -v shell="$shell" -v prog="$name" -f "$here/gen-completions.awk" \
            "$dump" >"$file.tmp"
        cat "$here/driver.$shell" >>"$file.tmp"
        [ "$shell" != zsh ] || printf '\n_ctk_%s "$@"\n' "$name" >>"$file.tmp"
        mv "$file.tmp" "$file"
    done
    rm -f "$dump"
done
