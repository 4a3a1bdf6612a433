
# ---- the same for every ctk command (completions/driver.fish) ----------------
# Strategies, workloads and job ids are asked of the command on the line,
# so plugins ($CTK_PLUGIN_PATH, --plugin) and the queue (-q, --db) count.

function __ctk_described
    $argv 2>/dev/null | string replace -r '^(\S+)\s+' '$1\t'
end

function __ctk_plugins
    set -l words (commandline -opc)
    for i in (seq 2 (count $words))
        switch $words[$i]
            case '--plugin=*'
                echo $words[$i]
            case --plugin
                set -l j (math $i + 1)
                test $j -le (count $words); and echo --plugin=$words[$j]
        end
    end
end

function __ctk_strategies
    set -l words (commandline -opc)
    __ctk_described $words[1] (__ctk_plugins) --list-strategies
end

function __ctk_workloads
    set -l words (commandline -opc)
    __ctk_described $words[1] (__ctk_plugins) --list-workloads
end

function __ctk_jobs
    set -l words (commandline -opc)
    set -l globals
    set -l var __ctk_(basename $words[1])_globals
    for i in (seq 2 (count $words))
        if contains -- $words[$i] $$var
            set -l j (math $i + 1)
            test $j -le (count $words); and set -a globals $words[$i] $words[$j]
        else if string match -qr -- '^--[^=]+=' $words[$i]
            contains -- (string replace -r '=.*' '' -- $words[$i]) $$var; and set -a globals $words[$i]
        end
    end
    $words[1] $globals ls --format tsv 2>/dev/null | string replace -r '^(\d+)\t([^\t]*)\t(?:[^\t]*\t){7}([^\t]*).*' '$1\t$2 $3'
end
