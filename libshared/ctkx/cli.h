/*
 * ctk/cli.h: the options every command shares, parsed once for all tools,
 * merged with the tool's own option table and with the options of the
 * strategies that are loaded (plugins extend the command line). Parsing
 * fills structs and does nothing else; the tool decides what to print and
 * how to exit.
 *
 * Shared: -j/--jobs N|N%, -s/--strategy NAME, --list-strategies,
 * --compare[=LIST], --plot FILE, --format tsv|json|table, --header, -k/--keep-order,
 * --progress, --plugin FILE, -h/--help, -V/--version.
 */
#ifndef CTK_CLI_H
#define CTK_CLI_H

#include <stdio.h>

#include "ctkx/output.h"
#include "ctk/registry.h"

typedef enum ctk_arg { CTK_ARG_NONE, CTK_ARG_REQUIRED, CTK_ARG_OPTIONAL } ctk_arg;

typedef struct ctk_cli_option {
    const char *name; /* long name without dashes; NULL ends a table */
    int short_name;   /* 0 when it has none */
    ctk_arg has_arg;
    const char *arg;  /* the argument's name in --help */
    const char *help; /* one line */
    int id;           /* handed to the handler; tools use 256..99999 */
} ctk_cli_option;

/* Handles one of the tool's options. Returns 0, or a negative code with a
 * reason in why ("must be at least 1"); the parser prefixes the option.
 * For the option named by ctk_cli.strategy_option it may also return
 * CTK_CLI_STRATEGY: the value names the shared strategy. */
typedef int (*ctk_cli_handler)(void *arg, int id, const char *value, char *why, size_t why_len);

typedef struct ctk_cli {
    const char *prog;     /* "cburn" */
    const char *synopsis; /* lines after "Usage: ", one per form */
    const char *summary;  /* one paragraph after the synopsis */
    /* An option here with a shared option's long or short name takes
     * that name over: the shared option is left out in this tool. */
    const ctk_cli_option *options;
    ctk_cli_handler handler;
    void *handler_arg;
    int stop_at_operand;     /* options end at the first operand (cpar) */
    unsigned jobs_unbounded; /* -j 0 means this many; 0: -j 0 is an error */
    /* Long names of shared options this command has no use for (cqueue
     * ls has no --compare): left out of the parser and of --help, so
     * --help lists only what works. NULL-terminated, or NULL. */
    const char *const *without;
    /* The id of a tool option that takes the shared -s/--strategy's name
     * yet may still name the strategy (cpar's -s NAME|N, where a number
     * is --max-chars): the pre-scan loads a plugin its value names, as
     * for -s, and when the handler returns CTK_CLI_STRATEGY the value
     * becomes common->strategy, checked as -s checks it. 0: none. */
    int strategy_option;
} ctk_cli;

/* A handler's answer for ctk_cli.strategy_option: "this value is the
 * shared strategy". */
#define CTK_CLI_STRATEGY 1

typedef struct ctk_common {
    unsigned jobs;        /* 0 when not given */
    const char *jobs_arg; /* -j's value as given (100%, 0...); NULL when not given */
    const char *strategy; /* NULL when not given */
    char **compare;       /* NULL unless --compare; strategy names */
    const char *plot;     /* --plot FILE (only with --compare), or NULL */
    ctk_format format;
    int format_given;
    int header, keep_order, progress;
    int list_strategies, help, version;
    char **plugins;   /* --plugin files, in order */
    int dump_options; /* the hidden --dump-options */
} ctk_common;

/* GNU parallel's options that only silence its notices: entries for the
 * option table of a tool that takes parallel's command lines (cpar,
 * cpipe), all with the given id, which the tool's handler ignores. */
/* clang-format off */
#define CTK_CLI_PARALLEL_NOTICE_OPTIONS(id)                                                        \
    {"will-cite", 0, CTK_ARG_NONE, NULL, "accepted for GNU parallel's scripts; no effect", (id)},  \
    {"no-notice", 0, CTK_ARG_NONE, NULL, "accepted; no effect", (id)}
/* clang-format on */

/* parallel's --load and --memfree, which cpar and cpipe accept and do
 * not act on (they start jobs by -j alone), all with the given id; the
 * value is ignored. */
/* clang-format off */
#define CTK_CLI_PARALLEL_LOAD_OPTIONS(id)                                                          \
    {"load", 0, CTK_ARG_REQUIRED, "MAX", "accepted; no effect (the load is not watched)", (id)},   \
    {"memfree", 0, CTK_ARG_REQUIRED, "SIZE", "accepted; no effect (free memory is not watched)",   \
     (id)}
/* clang-format on */

/* The strategies --compare runs when given no list. */
#define CTK_COMPARE_DEFAULT "sync,thread,process,async"

/* Parses argv. Loads plugins named by --plugin, and by -s/--compare when a
 * name is not built in, before parsing so their options are known.
 * Returns 0 with *operands set to the index of the first operand;
 * CTK_EINVAL for a usage error (message in err, no "prog: " prefix);
 * another negative code for a plugin that would not load (err is
 * "plugin FILE: reason"). */
int ctk_cli_parse(const ctk_cli *cli, ctk_registry *reg, int argc, char **argv, ctk_common *common,
                  int *operands, char *err, size_t err_len);
void ctk_common_free(ctk_common *common);
/* --help: usage, summary, the tool's options, the shared options and the
 * options of loaded strategies. */
void ctk_cli_help(const ctk_cli *cli, ctk_registry *reg, FILE *out);
/* --list-strategies: one line per strategy, name and summary. */
void ctk_cli_list_strategies(ctk_registry *reg, FILE *out);
/* Answers --help, --version or --list-strategies on out, loading every
 * plugin in the path first (their strategies and options belong in the
 * answer). Returns 1 when it answered one, else 0. */
int ctk_cli_inform(const ctk_cli *cli, ctk_registry *reg, const ctk_common *common, FILE *out,
                   void (*warn)(void *arg, const ctk_plugin_error *err), void *warn_arg);
/* The hidden --dump-options (only as the one argument): "tool\tPROG\tstop-at-operand|-", then one
 * line per option, "option\tSHORT|-\tLONG\tnone|required|optional\t
 * ARG|-\tHELP\tORIGIN": the tool's (ORIGIN tool), the shared ones it
 * does not shadow (shared), and the options of the strategies registered
 * in reg (strategy). */
void ctk_cli_dump_options(const ctk_cli *cli, ctk_registry *reg, FILE *out);
/* Opens /dev/null onto whichever of fds 0, 1 and 2 is closed, so that no
 * descriptor the library opens later lands there by accident. */
void ctk_cli_guard_stdio(void);
/* --version, as GNU tools print it: "prog (ctk) VERSION", the running
 * libctk's version and plugin ABI, the licence and where to report bugs. */
void ctk_cli_version(const ctk_cli *cli, FILE *out);
/* Looks a strategy up by name; on failure writes
 * "unknown strategy 'x' (known: ...)" into err. */
/* 1 when the strategy runs one unit at a time (CTK_STRATEGY_SERIAL), so
 * that a row or a run says jobs=1 whatever -j says; jobs otherwise. */
unsigned ctk_cli_strategy_jobs(ctk_registry *reg, const char *name, unsigned jobs);
/* Whether the strategy runs its units in other processes. */
int ctk_cli_strategy_forks(ctk_registry *reg, const char *name);
const ctk_strategy *ctk_cli_strategy(ctk_registry *reg, const char *name, char *err,
                                     size_t err_len);

#endif
