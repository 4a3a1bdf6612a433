/*
 * opts.h: cpipe's command line (curl's tool_getparam.c beside a short
 * tool_main.c). The option table and its handler fill one struct
 * cpipe_opts; cpipe_opts_check finds the combinations that make no sense,
 * and cpipe_opts_filter turns the rest into what the engine takes: the
 * record rules and the filter's command template.
 */
#ifndef CPIPE_OPTS_H
#define CPIPE_OPTS_H

#include <stddef.h>
#include <stdint.h>

#include "blocks.h"
#include "ctkx/cli.h"
#include "ctkx/cmdline.h"
#include "ctkx/halt.h"
#include "groupby.h"

typedef struct cpipe_opts {
    const char *input;
    uint64_t block, header, fixed, records, lines;
    int part; /* -1: by the input; 0: --pipe; 1: --pipepart */
    const char *recend, *recstart;
    const char *header_regexp; /* --header REGEXP; NULL: --header N (header lines) */
    size_t recend_len;
    int csv; /* --csv: blocks end between CSV records */
    int regexp, unordered, block_id, tag, empty_block, shell, cat, fifo, rrs, round_robin;
    int tee; /* --tee: all of the input to one filter per argument after FILTER */
    ctk_halt halt;
    const char *reduce, *tmpdir;
    const char *tagstring;
    int verbose, quote, files, dry_run, line_buffer;
    const char *joblog; /* --joblog FILE, '-' or +FILE; NULL: none */
    double delay, block_timeout;
    /* cpipecut */
    unsigned block_slots; /* --block -N: N blocks per job slot */
    int skip_empty;       /* -r */
    int skip_first_line;
    const char *group_by, *colsep;               /* --group-by COL, --colsep REGEXP; NULL: none */
    const char *shard, *bin;                     /* --shard COL, --bin COL; NULL: none */
    const char *jobs_arg;                        /* -j as given (the caller's; NULL: none) */
    char group_marker[CPIPE_GROUPBY_MARKER + 1]; /* --group-by's --recstart */
} cpipe_opts;

/* The command line's description, its handler filling a cpipe_opts
 * (handler_arg, set by the caller on a copy). */
extern const ctk_cli cpipe_cli;

/* The defaults: the block size 0 (the engine chooses), cut by the input. */
void cpipe_opts_init(cpipe_opts *o);
/* A usage error in options that each parsed well, given n_cmd words of
 * FILTER; NULL when there is none. */
const char *cpipe_opts_check(const cpipe_opts *o, int n_cmd);
/* --shard or --bin's column separator: --colsep, else a tab with
 * --header (as parallel) or a named column, else ','. */
const char *cpipe_opts_shard_colsep(const cpipe_opts *o);

/* The record rules and the filter's template from the options and the
 * n_words words of FILTER. CTK_EINVAL with the reason in err (a usage
 * error); on success the caller frees *rules and *cmd. */
int cpipe_opts_filter(cpipe_opts *o, char *const *words, size_t n_words, ctk_blocks **rules,
                      ctk_cmdline **cmd, char *err, size_t err_len);

/* --tag or --tagstring's template (a text with {#} and {%}) in *tag, or
 * NULL when neither is given. CTK_EINVAL with the reason in err. */
int cpipe_opts_tagstring(const cpipe_opts *o, ctk_cmdline **tag, char *err, size_t err_len);

#endif
