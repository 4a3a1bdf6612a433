#!/usr/bin/env zsh
# zsh-complete.zsh FPATHDIR LINE: what zsh's own completion system offers
# for the command line LINE (TAB at its end), one match per line. It runs
# an interactive zsh in a pseudo-terminal (zpty) with compadd wrapped to
# print the matches, as a user's TAB would run it.
emulate -L zsh
zmodload zsh/zpty || exit 77
local dir=$1 line=$2
zpty z zsh -f -i
zpty -w z "PROMPT=''; fpath=(${(q)dir} \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z 'bindkey "^I" complete-word; null-line() { echo -E - $'"'"'\0'"'"' }'
zpty -w z 'compprefuncs=(null-line); comppostfuncs=(null-line exit)'
zpty -w z "zstyle ':completion:*' list-grouped false; zstyle ':completion:*' insert-tab false"
zpty -w z 'compadd() {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return $?; fi
  typeset -a __hits; builtin compadd -A __hits "$@"
  local h; for h in $__hits; do echo -E - "$h"; done
}'
zpty -w z 'echo ready'
local out
while zpty -r z out; do [[ $out == ready* ]] && break; done
zpty -w -n z "$line"$'\t'
integer tog=0
while zpty -r z out; do
  [[ $out == *$'\0'* ]] && (( tog++ )) && { (( tog == 2 )) && break; continue; }
  (( tog == 1 )) && print -r -- "${out%$'\r'}"
done
return 0
zpty -d z
