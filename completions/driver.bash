
# ---- the same for every ctk command (completions/driver.bash) ----------------

# _ctk_first_words CMD...: the first word of each line CMD prints.
_ctk_first_words() {
    local line
    "$@" 2>/dev/null | while IFS= read -r line; do
        printf '%s\n' "${line%%[[:space:]]*}"
    done
}

# _ctk_values CLASS CUR PREFIX: COMPREPLY for a value of CLASS (from the
# generated _ctk_TOOL_class). Strategies, workloads and job ids are asked
# of the command on the line, so plugins ($CTK_PLUGIN_PATH, --plugin) and
# the queue (-q, --db) count.
_ctk_values() {
    local cur=$2 head=$3 words
    case $1 in
    strategy) words=$(_ctk_first_words "$_ctk_prog" "${_ctk_plugins[@]}" --list-strategies) ;;
    strategies)
        [[ $cur == *,* ]] && head=$head${cur%,*}, cur=${cur##*,}
        words="$(_ctk_first_words "$_ctk_prog" "${_ctk_plugins[@]}" --list-strategies) all"
        ;;
    workload) words=$(_ctk_first_words "$_ctk_prog" "${_ctk_plugins[@]}" --list-workloads) ;;
    format) words='tsv json table' ;;
    state) words='queued running done failed cancelled' ;;
    signal) words='TERM INT HUP KILL QUIT USR1 USR2' ;;
    jobs)
        [[ $cur == *,* ]] && head=$head${cur%,*}, cur=${cur##*,}
        words=$(_ctk_first_words "$_ctk_prog" "${_ctk_globals[@]}" ls --format tsv)
        ;;
    plugin | file)
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -P "$head" -f -- "$cur")
        return
        ;;
    dir)
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -P "$head" -d -- "$cur")
        return
        ;;
    *) return ;;
    esac
    mapfile -t COMPREPLY < <(compgen -P "$head" -W "$words" -- "$cur")
}

# _ctk_complete TOOL: the completion of every ctk command, driven by the
# tables above: which words are options, which take a value, where the
# operands (and cqueue's command) start.
_ctk_complete() {
    local tool=$1 _ctk_prog=${COMP_WORDS[0]} cword=$COMP_CWORD
    local cur=${COMP_WORDS[COMP_CWORD]} prev='' opt='' head='' scope='' w o i
    local operands=0 ended=0 took v cmds stop
    local -a _ctk_plugins=() _ctk_globals=()
    cmds=$("_ctk_${tool}_commands")
    COMPREPLY=()
    ((cword > 0)) && prev=${COMP_WORDS[cword - 1]}
    for ((i = 1; i < cword; i++)); do
        w=${COMP_WORDS[i]}
        stop=$("_ctk_${tool}_stop" "$scope")
        if ((!ended)) && [[ $w == -?* ]] && ((operands == 0 || stop == 0)); then
            if [[ $w == -- ]]; then
                ended=1
                continue
            fi
            o=$w took=0 v=
            # readline splits "--db=x" into "--db" "=" "x"
            if [[ $w == --*=* ]]; then
                o=${w%%=*} v=${w#*=} took=1
            elif [[ ${COMP_WORDS[i + 1]:-} == = ]] && ((i + 2 < cword)); then
                v=${COMP_WORDS[i + 2]} took=1 i=$((i + 2))
            elif [[ ${COMP_WORDS[i + 1]:-} == = ]] && ((i + 1 < cword)); then
                i=$((i + 1)) # the value is the word being completed
            elif "_ctk_${tool}_takes" "$scope" "$w" && ((i + 1 < cword)); then
                v=${COMP_WORDS[i + 1]} took=1 i=$((i + 1))
            fi
            [[ $o == --plugin ]] && ((took)) && _ctk_plugins+=(--plugin "$v")
            if [[ -z $scope ]] && "_ctk_${tool}_global" "$o"; then
                _ctk_globals+=("$o")
                ((took)) && _ctk_globals+=("$v")
            fi
            continue
        fi
        if [[ -n $cmds && -z $scope ]]; then
            scope=$w operands=0 ended=0
        else
            operands=$((operands + 1))
        fi
    done
    stop=$("_ctk_${tool}_stop" "$scope")
    local in_options=0
    ((!ended && (operands == 0 || stop == 0))) && in_options=1
    if ((in_options)); then
        if [[ $cur == = && $prev == --?* ]]; then
            opt=$prev cur=
        elif [[ $prev == = ]] && ((cword >= 2)) && [[ ${COMP_WORDS[cword - 2]} == --?* ]]; then
            opt=${COMP_WORDS[cword - 2]}
        elif [[ $cur == --?*=* ]]; then
            opt=${cur%%=*} head=${cur%%=*}= cur=${cur#*=}
        elif ((cword > 1)) && "_ctk_${tool}_takes" "$scope" "$prev"; then
            opt=$prev
        fi
        if [[ -n $opt ]]; then
            _ctk_values "$("_ctk_${tool}_class" "$opt")" "$cur" "$head"
            return
        fi
        if [[ $cur == -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W "$("_ctk_${tool}_words" "$scope")" -- "$cur")
            return
        fi
    fi
    case $("_ctk_${tool}_operand" "$scope") in
    subcommand) mapfile -t COMPREPLY < <(compgen -W "$cmds" -- "$cur") ;;
    id) _ctk_values jobs "$cur" "" ;;
    command)
        if ((operands == 0)); then
            mapfile -t COMPREPLY < <(compgen -c -- "$cur")
        else
            compopt -o default 2>/dev/null
        fi
        ;;
    none) ;;
    *) compopt -o default 2>/dev/null ;;
    esac
}
