
# ---- the same for every ctk command (completions/driver.zsh) -----------------
# Strategies, workloads and job ids are asked of the command on the line,
# so plugins ($CTK_PLUGIN_PATH) and the queue (-q, --db) count.

(( $+functions[_ctk_described] )) ||
_ctk_described() {
    local tag=$1 descr=$2
    shift 2
    local -a lines items
    lines=(${(f)"$("$@" 2>/dev/null)"})
    local l
    for l in $lines; do
        items+=("${${l%%[[:space:]]*}//:/\\:}:${${l#*[[:space:]]}##[[:space:]]#}")
    done
    _describe -t $tag $descr items
}

(( $+functions[_ctk_strategies] )) ||
_ctk_strategies() {
    _ctk_described strategies strategy $_ctk_prog --list-strategies
}

(( $+functions[_ctk_workloads] )) ||
_ctk_workloads() {
    _ctk_described workloads workload $_ctk_prog --list-workloads
}

(( $+functions[_ctk_jobs] )) ||
_ctk_jobs() {
    local -a lines items f
    lines=(${(f)"$($_ctk_prog $_ctk_globals ls --format tsv 2>/dev/null)"})
    local l
    for l in $lines; do
        f=("${(@ps:\t:)l}")
        items+=("${f[1]}:${f[2]} ${f[10]//:/\\:}")
    done
    _describe -t jobs 'job id' items
}
