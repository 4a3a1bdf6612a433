/*
 * opts.c: cpipe's option table and what it fills (opts.h). Parsing fills
 * struct cpipe_opts and does nothing else; main.c decides what to print
 * and how to exit.
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctkx/parse.h"
#include "opts.h"
#include "shard.h"

enum {
    OPT_INPUT = 256,
    OPT_BLOCK,
    OPT_RECEND,
    OPT_RECSTART,
    OPT_NULL,
    OPT_REGEXP,
    OPT_CSV,
    OPT_HEADER,
    OPT_FIXED,
    OPT_UNORDERED,
    OPT_REDUCE,
    OPT_BLOCK_ID,
    OPT_TAG,
    OPT_KEEP_GOING,
    OPT_HALT,
    OPT_EMPTY_BLOCK,
    OPT_SHELL,
    OPT_TMPDIR,
    OPT_PIPE,
    OPT_PIPEPART,
    OPT_RECORDS,
    OPT_LINES,
    OPT_CAT,
    OPT_FIFO,
    OPT_RRS,
    OPT_ROUND_ROBIN,
    OPT_ACCEPTED,
    OPT_TAGSTRING,
    OPT_VERBOSE,
    OPT_QUOTE,
    OPT_DELAY,
    OPT_LINE_BUFFER,
    OPT_UNGROUP,
    OPT_FILES,
    OPT_COMPRESS,
    OPT_BLOCK_TIMEOUT,
    OPT_NO_RUN_IF_EMPTY,
    OPT_SKIP_FIRST_LINE,
    OPT_DRY_RUN,
    OPT_JOBLOG,
    OPT_GROUP_BY,
    OPT_COLSEP,
    OPT_TEE,
    OPT_SHARD,
    OPT_BIN,
};

static const ctk_cli_option cpipe_options[] = {
    {"arg-file", 'a', CTK_ARG_REQUIRED, "FILE",
     "read FILE instead of stdin ('-': stdin; seekable: fast path)", OPT_INPUT},
    {"block", 'b', CTK_ARG_REQUIRED, "SIZE",
     "about SIZE bytes per block (k=1000, K=1024, m, M, g, G; default 1M;\n"
     "-N: N blocks per job slot, --pipepart's default -10)",
     OPT_BLOCK},
    {"block-size", 0, CTK_ARG_REQUIRED, "SIZE", "the same as --block", OPT_BLOCK},
    {"blocksize", 0, CTK_ARG_REQUIRED, "SIZE", "the same as --block", OPT_BLOCK},
    {"pipe", 0, CTK_ARG_NONE, NULL, "cut blocks as parallel --pipe does (also a seekable input)",
     OPT_PIPE},
    {"spreadstdin", 0, CTK_ARG_NONE, NULL, "the same as --pipe (parallel's old name)", OPT_PIPE},
    {"pipepart", 0, CTK_ARG_NONE, NULL,
     "cut blocks as parallel --pipepart does (the default for a seekable input)", OPT_PIPEPART},
    {"max-replace-args", 'N', CTK_ARG_REQUIRED, "N",
     "exactly N records per block (the last may have fewer)", OPT_RECORDS},
    {"max-args", 'n', CTK_ARG_REQUIRED, "N", "the same as -N (parallel --pipe -n)", OPT_RECORDS},
    {"max-lines", 'L', CTK_ARG_REQUIRED, "N", "a record is N lines (with -N: N*L lines per block)",
     OPT_LINES},
    {"lines", 'l', CTK_ARG_REQUIRED, "N", "the same as -L (parallel --pipe -l)", OPT_LINES},
    {"recend", 0, CTK_ARG_REQUIRED, "STR", "records end with STR (default \\n)", OPT_RECEND},
    {"recstart", 0, CTK_ARG_REQUIRED, "STR", "records start with STR", OPT_RECSTART},
    {"round-robin", 0, CTK_ARG_NONE, NULL,
     "start -j filters once and feed each many blocks as it takes them (output per filter)",
     OPT_ROUND_ROBIN},
    {"tee", 0, CTK_ARG_NONE, NULL,
     "pipe all of the input into every filter: one filter per argument after FILTER\n"
     "(::: ARG..., :::: FILE; {}, {1}, {2}: its argument), all at once",
     OPT_TEE},
    {"roundrobin", 0, CTK_ARG_NONE, NULL, "the same as --round-robin", OPT_ROUND_ROBIN},
    {"round", 0, CTK_ARG_NONE, NULL, "the same as --round-robin", OPT_ROUND_ROBIN},
    {"rrs", 0, CTK_ARG_NONE, NULL,
     "remove the record separators (recend+recstart) before FILTER reads the block", OPT_RRS},
    {"remove-rec-sep", 0, CTK_ARG_NONE, NULL, "the same as --rrs", OPT_RRS},
    {"null", '0', CTK_ARG_NONE, NULL, "records end with a NUL byte", OPT_NULL},
    {"regexp", 0, CTK_ARG_NONE, NULL, "--recend and --recstart are regular expressions",
     OPT_REGEXP},
    {"csv", 0, CTK_ARG_NONE, NULL,
     "records are CSV records: cut blocks only at a newline outside quoted fields", OPT_CSV},
    {"header", 0, CTK_ARG_REQUIRED, "N|REGEXP",
     "repeat the first N lines (':' one), or what REGEXP matches at the start, atop every block",
     OPT_HEADER},
    {"group-by", 0, CTK_ARG_REQUIRED, "COL",
     "a record is a run of lines with the same value in column COL (a number, or a name in "
     "the first line)",
     OPT_GROUP_BY},
    {"groupby", 0, CTK_ARG_REQUIRED, "COL", "the same as --group-by", OPT_GROUP_BY},
    {"shard", 0, CTK_ARG_REQUIRED, "COL",
     "start -j filters once; each line goes to the filter the hash of its column COL picks",
     OPT_SHARD},
    {"bin", 0, CTK_ARG_REQUIRED, "COL",
     "as --shard, but column COL's value (a number) modulo -j picks the filter", OPT_BIN},
    {"colsep", 'C', CTK_ARG_REQUIRED, "REGEXP",
     "the column separator of --group-by (default a tab), --shard and --bin (a tab with "
     "--header, else ',')",
     OPT_COLSEP},
    {"fixed", 0, CTK_ARG_REQUIRED, "SIZE", "records of exactly SIZE bytes (binary data)",
     OPT_FIXED},
    {"unordered", 0, CTK_ARG_NONE, NULL, "write outputs as blocks finish, not in input order",
     OPT_UNORDERED},
    {"reduce", 0, CTK_ARG_REQUIRED, "CMD", "pipe the outputs, in order, into CMD", OPT_REDUCE},
    {"block-id", 0, CTK_ARG_NONE, NULL, "give FILTER the block number as its last argument",
     OPT_BLOCK_ID},
    {"tag", 0, CTK_ARG_NONE, NULL,
     "prefix each output line with a tab, as parallel --pipe --tag (after --tee's argument;\n"
     "else the empty argument)",
     OPT_TAG},
    {"tagstring", 0, CTK_ARG_REQUIRED, "STR",
     "prefix each output line with STR and a tab ({#}: block, {%}: job slot; \\t: a tab)",
     OPT_TAGSTRING},
    {"verbose", 'v', CTK_ARG_NONE, NULL, "print each block's command line before its output",
     OPT_VERBOSE},
    {"quote", 'q', CTK_ARG_NONE, NULL, "quote FILTER: no shell syntax, its words as they are",
     OPT_QUOTE},
    {"delay", 0, CTK_ARG_REQUIRED, "SECS",
     "start filters at least SECS apart (s, m, h, d postfixes: 1m30s)", OPT_DELAY},
    {"line-buffer", 0, CTK_ARG_NONE, NULL,
     "write a filter's whole lines as it writes them (the next block's, or any with -u)",
     OPT_LINE_BUFFER},
    {"linebuffer", 0, CTK_ARG_NONE, NULL, "the same as --line-buffer", OPT_LINE_BUFFER},
    {"lb", 0, CTK_ARG_NONE, NULL, "the same as --line-buffer", OPT_LINE_BUFFER},
    {"ungroup", 'u', CTK_ARG_NONE, NULL,
     "write outputs as blocks finish (as --unordered; each output still whole)", OPT_UNGROUP},
    {"files", 0, CTK_ARG_NONE, NULL,
     "write each block's output to a file in --tmpdir and print the file's name instead",
     OPT_FILES},
    {"compress", 0, CTK_ARG_NONE, NULL,
     "accepted; no effect (outputs beyond memory wait in temporary files as they are)",
     OPT_COMPRESS},
    {"blocktimeout", 0, CTK_ARG_REQUIRED, "SECS",
     "cut a block early when piped input has stalled for SECS (at least 1)", OPT_BLOCK_TIMEOUT},
    {"block-timeout", 0, CTK_ARG_REQUIRED, "SECS", "the same as --blocktimeout", OPT_BLOCK_TIMEOUT},
    {"bt", 0, CTK_ARG_REQUIRED, "SECS", "the same as --blocktimeout", OPT_BLOCK_TIMEOUT},
    {"halt", 0, CTK_ARG_REQUIRED, "WHEN,WHY=N",
     "stop early: now|soon,fail|success|done=N (default never: run every block)", OPT_HALT},
    {"halt-on-error", 0, CTK_ARG_REQUIRED, "WHEN,WHY=N", "the same as --halt", OPT_HALT},
    {"keep-going", 0, CTK_ARG_NONE, NULL, "run every block whatever fails (--halt never)",
     OPT_KEEP_GOING},
    {"empty-block", 0, CTK_ARG_NONE, NULL, "run FILTER once on empty input", OPT_EMPTY_BLOCK},
    {"shell", 0, CTK_ARG_NONE, NULL, "run FILTER under /bin/sh -c even without shell syntax",
     OPT_SHELL},
    {"tmpdir", 0, CTK_ARG_REQUIRED, "DIR",
     "where outputs waiting their turn spill (default $TMPDIR)", OPT_TMPDIR},
    {"cat", 0, CTK_ARG_NONE, NULL,
     "give FILTER the block in a temporary file named by {} (appended when absent)", OPT_CAT},
    {"fifo", 0, CTK_ARG_NONE, NULL,
     "give FILTER the block through a named pipe named by {} (appended when absent)", OPT_FIFO},
    {"no-run-if-empty", 'r', CTK_ARG_NONE, NULL,
     "drop blank (whitespace-only) lines of piped input; no filter runs on none",
     OPT_NO_RUN_IF_EMPTY},
    {"skip-first-line", 0, CTK_ARG_NONE, NULL, "the input's first line is not passed (nor counted)",
     OPT_SKIP_FIRST_LINE},
    {"dry-run", 0, CTK_ARG_NONE, NULL,
     "cut the blocks, print each block's command line instead of running it", OPT_DRY_RUN},
    {"dryrun", 0, CTK_ARG_NONE, NULL, "the same as --dry-run", OPT_DRY_RUN},
    {"joblog", 0, CTK_ARG_REQUIRED, "FILE",
     "log each finished block to FILE in parallel's format ('-': stdout; +FILE: append)",
     OPT_JOBLOG},
    {"jl", 0, CTK_ARG_REQUIRED, "FILE", "the same as --joblog", OPT_JOBLOG},
    CTK_CLI_PARALLEL_NOTICE_OPTIONS(OPT_ACCEPTED),
    CTK_CLI_PARALLEL_LOAD_OPTIONS(OPT_ACCEPTED),
    {NULL, 0, 0, NULL, NULL, 0},
};

/* Whether v compiles as the engine will compile it (raw bytes). */
static int check_regexp(const char *v, const char *prefix, char *why, size_t why_len)
{
    GError *gerr = NULL;
    GRegex *re = g_regex_new(v, G_REGEX_RAW, 0, &gerr);
    if (re == NULL) {
        snprintf(why, why_len, "%s%s", prefix, gerr->message);
        g_error_free(gerr);
        return CTK_EINVAL;
    }
    g_regex_unref(re);
    return 0;
}

static int on_option(void *arg, int id, const char *v, char *why, size_t why_len)
{
    cpipe_opts *o = arg;
    switch (id) {
    case OPT_INPUT:
        o->input = v;
        return 0;
    case OPT_BLOCK: {
        /* -N: N blocks per job slot, as parallel --pipepart --block -N. */
        uint64_t n;
        o->block_slots = 0;
        if (v[0] != '-')
            return ctk_parse_size(v, CTK_SIZE_PARALLEL, 1, (uint64_t)1 << 40, &o->block, why,
                                  why_len);
        int rc = ctk_parse_size(v + 1, CTK_SIZE_PARALLEL, 1, (uint64_t)1 << 20, &n, why, why_len);
        if (rc == 0) {
            o->block_slots = (unsigned)n;
            o->block = 0;
        }
        return rc;
    }
    case OPT_PIPE:
        o->part = 0;
        return 0;
    case OPT_PIPEPART:
        o->part = 1;
        return 0;
    case OPT_RECORDS:
        return ctk_parse_size(v, CTK_SIZE_PARALLEL, 1, UINT32_MAX, &o->records, why, why_len);
    case OPT_LINES:
        return ctk_parse_size(v, CTK_SIZE_PARALLEL, 1, UINT32_MAX, &o->lines, why, why_len);
    case OPT_RECEND:
        o->recend = v;
        o->recend_len = strlen(v);
        return 0;
    case OPT_RECSTART:
        o->recstart = v;
        return 0;
    case OPT_NULL:
        o->recend = "";
        o->recend_len = 1; /* the NUL byte that ends "" */
        return 0;
    case OPT_CSV:
        o->csv = 1;
        return 0;
    case OPT_REGEXP:
        o->regexp = 1;
        return 0;
    case OPT_HEADER: {
        /* As parallel: a number is that many lines, ':' one, anything
         * else a regexp matched at the input's start. */
        o->header_regexp = NULL;
        if (strcmp(v, ":") == 0) {
            o->header = 1;
            return 0;
        }
        if (*v != '\0' && strspn(v, "0123456789") == strlen(v))
            return ctk_parse_u64(v, 0, 1000000, &o->header, why, why_len);
        if (check_regexp(v, "not a number or a regular expression: ", why, why_len) < 0)
            return CTK_EINVAL;
        o->header = 0;
        o->header_regexp = v;
        return 0;
    }
    case OPT_DRY_RUN:
        o->dry_run = 1;
        return 0;
    case OPT_JOBLOG:
        o->joblog = v;
        return 0;
    case OPT_GROUP_BY: {
        const char *why_not = cpipe_groupby_check(v);
        if (why_not != NULL) {
            snprintf(why, why_len, "%s", why_not);
            return CTK_EINVAL;
        }
        o->group_by = v;
        return 0;
    }
    case OPT_SHARD:
    case OPT_BIN: {
        const char *why_not = cpipe_shard_check(v);
        if (why_not != NULL) {
            snprintf(why, why_len, "%s", why_not);
            return CTK_EINVAL;
        }
        if (id == OPT_SHARD)
            o->shard = v;
        else
            o->bin = v;
        return 0;
    }
    case OPT_COLSEP:
        if (check_regexp(v, "", why, why_len) < 0)
            return CTK_EINVAL;
        o->colsep = v;
        return 0;
    case OPT_FIXED:
        return ctk_parse_size(v, CTK_SIZE_PARALLEL, 1, (uint64_t)1 << 30, &o->fixed, why, why_len);
    case OPT_UNORDERED:
        o->unordered = 1;
        return 0;
    case OPT_REDUCE:
        o->reduce = v;
        return 0;
    case OPT_BLOCK_ID:
        o->block_id = 1;
        return 0;
    case OPT_TAG:
        o->tag = 1;
        return 0;
    case OPT_KEEP_GOING:
        o->halt = (ctk_halt){.when = CTK_HALT_NEVER};
        return 0;
    case OPT_HALT: {
        int rc = ctk_halt_parse(v, &o->halt, why, why_len);
        /* A share of blocks needs their number, unknown on a stream. */
        if (rc == 0 && o->halt.percent > 0) {
            snprintf(why, why_len, "cpipe does not know the number of blocks: use a count, not %%");
            rc = CTK_EINVAL;
        }
        return rc;
    }
    case OPT_EMPTY_BLOCK:
        o->empty_block = 1;
        return 0;
    case OPT_SHELL:
        o->shell = 1;
        return 0;
    case OPT_TMPDIR:
        o->tmpdir = v;
        return 0;
    case OPT_CAT:
        o->cat = 1;
        return 0;
    case OPT_FIFO:
        o->fifo = 1;
        return 0;
    case OPT_RRS:
        o->rrs = 1;
        return 0;
    case OPT_ROUND_ROBIN:
        o->round_robin = 1;
        return 0;
    case OPT_TEE:
        o->tee = 1;
        return 0;
    case OPT_ACCEPTED:
    case OPT_COMPRESS:
        return 0;
    case OPT_LINE_BUFFER:
        o->line_buffer = 1;
        return 0;
    case OPT_TAGSTRING:
        o->tagstring = v;
        return 0;
    case OPT_VERBOSE:
        o->verbose = 1;
        return 0;
    case OPT_QUOTE:
        o->quote = 1;
        return 0;
    case OPT_DELAY:
        return ctk_parse_duration(v, &o->delay, why, why_len);
    case OPT_UNGROUP:
        o->unordered = 1;
        return 0;
    case OPT_FILES:
        o->files = 1;
        return 0;
    case OPT_BLOCK_TIMEOUT: {
        int rc = ctk_parse_duration(v, &o->block_timeout, why, why_len);
        if (rc == 0 && o->block_timeout < 1) {
            snprintf(why, why_len, "must be at least 1 (second), as in parallel");
            rc = CTK_EINVAL;
        }
        return rc;
    }
    case OPT_NO_RUN_IF_EMPTY:
        o->skip_empty = 1;
        return 0;
    case OPT_SKIP_FIRST_LINE:
        o->skip_first_line = 1;
        return 0;
    }
    return CTK_EINVAL;
}

const ctk_cli cpipe_cli = {
    .prog = "cpipe",
    .synopsis = "[OPTION]... FILTER [ARG]...",
    .summary = "Cut standard input (or -a FILE) into blocks of about --block bytes that end\n"
               "on a record boundary, run FILTER once per block with the block on its stdin,\n"
               "N at a time, and write the filters' outputs in input order.",
    .options = cpipe_options,
    .handler = on_option,
    .stop_at_operand = 1,
    .jobs_unbounded = 256,
};

void cpipe_opts_init(cpipe_opts *o)
{
    *o = (cpipe_opts){.part = -1};
}

/* What --shard and --bin take: parallel --pipe's line streams to -j
 * filters started at once. */
static const char *check_shard(const cpipe_opts *o)
{
    static char why[200];
    const char *opt = o->shard != NULL ? "--shard" : "--bin", *j = o->jobs_arg;
    const char *no = NULL;
    if (o->shard != NULL && o->bin != NULL)
        return "--shard and --bin cannot be combined";
    /* -j 0 would start a filter per possible job (parallel starts
     * thousands); a share of the cores is a number once started. */
    if (j != NULL && strspn(j, "0") == strlen(j)) {
        snprintf(why, sizeof why, "%s needs a fixed number of filters: -j N, not -j %s", opt, j);
        return why;
    }
    if (o->round_robin)
        no = "--round-robin (it starts -j filters of its own)";
    else if (o->group_by != NULL)
        no = "--group-by";
    else if (o->cat || o->fifo)
        no = "--cat or --fifo (each filter reads a stream)";
    else if (o->dry_run)
        no = "--dry-run";
    else if (o->empty_block)
        no = "--empty-block (every filter runs)";
    else if (o->part == 1)
        no = "--pipepart (it reads lines as --pipe, as in parallel)";
    else if (o->recend != NULL || o->recstart != NULL || o->regexp || o->fixed > 0 || o->rrs ||
             o->records > 0 || o->lines > 0)
        no = "--recend, --recstart, -0, --regexp, --fixed, --rrs, -N or -L (records are lines)";
    if (no == NULL)
        return NULL;
    snprintf(why, sizeof why, "%s takes no %s", opt, no);
    return why;
}

const char *cpipe_opts_check(const cpipe_opts *o, int n_cmd)
{
    /* --tee's arguments may be the filters themselves (::: 'wc -l' 'wc -c'). */
    if (n_cmd == 0 && !o->tee)
        return "no FILTER given";
    if (o->tee && o->round_robin)
        return "--tee gives every filter all of the input: no --round-robin";
    if (o->tee && (o->cat || o->fifo))
        return "--tee feeds each filter a stream: no --cat or --fifo";
    if (o->tee && o->rrs)
        return "--tee passes the input as it is: no --rrs";
    if (o->tee && o->group_by != NULL)
        return "--tee passes the input as it is: no --group-by";
    /* parallel's --csv overrides the record rules (and -N); -L overrides
     * it: refused here rather than half-honoured. */
    if (o->csv && (o->recend != NULL || o->recstart != NULL || o->regexp || o->fixed > 0 ||
                   o->records > 0 || o->lines > 0 || o->rrs || o->group_by != NULL))
        return "--csv cuts at newlines outside quotes: no --recend, --recstart, -0, --regexp, "
               "--fixed, -N, -L, --rrs or --group-by";
    if (o->csv && o->part == 1)
        return "--csv needs --pipe: --pipepart cuts a file where no quote count is known";
    if (o->tee && (o->shard != NULL || o->bin != NULL))
        return "--tee gives every filter all of the input: no --shard or --bin";
    if (o->csv && (o->shard != NULL || o->bin != NULL))
        return "--csv cuts at newlines outside quotes: no --shard or --bin";
    if ((o->shard != NULL || o->bin != NULL) && check_shard(o) != NULL)
        return check_shard(o);
    if (o->fixed > 0 && (o->recend != NULL || o->recstart != NULL || o->regexp))
        return "--fixed takes no --recend, --recstart, -0 or --regexp";
    if (o->fixed > 0 && (o->header > 0 || o->header_regexp != NULL))
        return "--fixed takes no --header (records are not lines)";
    if (o->group_by != NULL &&
        (o->recend != NULL || o->recstart != NULL || o->regexp || o->fixed > 0 || o->lines > 0))
        return "--group-by makes the records: no --recend, --recstart, -0, --regexp, --fixed or -L";
    if (o->group_by != NULL && o->part == 1)
        return "--group-by cuts blocks as --pipe does: no --pipepart";
    if (o->group_by != NULL && o->header_regexp != NULL)
        return "--group-by takes --header N or ':', not a regexp";
    if (o->colsep != NULL && o->group_by == NULL && o->shard == NULL && o->bin == NULL)
        return "--colsep splits the columns of --group-by, --shard or --bin: give one of them";
    if (o->round_robin && o->dry_run)
        return "--round-robin takes no --dry-run";
    if (o->round_robin && (o->cat || o->fifo))
        return "--round-robin feeds each filter a stream: no --cat or --fifo";
    if (o->round_robin && o->empty_block)
        return "--round-robin takes no --empty-block";
    if (o->cat && o->fifo)
        return "--fifo cannot be combined with --cat (as in parallel)";
    if (o->block_slots > 0 && o->part == 0)
        return "--block -N (N blocks per job slot) needs --pipepart";
    if (o->part == 1 && (o->records > 0 || o->lines > 0))
        return "--pipepart takes no -N or -L (as in parallel): records are counted on --pipe";
    return NULL;
}

const char *cpipe_opts_shard_colsep(const cpipe_opts *o)
{
    const char *spec = o->shard != NULL ? o->shard : o->bin;
    if (o->colsep != NULL)
        return o->colsep;
    /* parallel splits at tabs with --header, else at commas; a named
     * column implies the header (parallel cannot find one without). */
    if (o->header > 0 || o->header_regexp != NULL || strspn(spec, "0123456789") != strlen(spec))
        return "\t";
    return ",";
}

int cpipe_opts_filter(cpipe_opts *o, char *const *words, size_t n_words, ctk_blocks **rules,
                      ctk_cmdline **cmd, char *err, size_t err_len)
{
    /* --group-by: the marking thread starts each record with the marker,
     * removed before the filter reads the block, as in parallel. */
    if (o->group_by != NULL) {
        cpipe_groupby_marker(o->group_marker);
        o->recend = "";
        o->recend_len = 0;
        o->recstart = o->group_marker;
        o->rrs = 1;
        o->part = 0;
    }
    /* --shard, --bin: lines, read as --pipe reads them, also from a file. */
    if (o->shard != NULL || o->bin != NULL)
        o->part = 0;
    /* --recend '' alone: records end anywhere, blocks are cut at exactly
     * their size, as parallel cuts them. */
    if (o->recend != NULL && o->recend_len == 0 && o->recstart == NULL && o->fixed == 0) {
        o->recend = NULL;
        o->regexp = 0;
        o->fixed = 1;
    }
    /* --csv: a block's quote count starts at a boundary, which a file cut
     * by --pipepart's seeks does not give. */
    if (o->csv && o->part == -1)
        o->part = 0;
    ctk_blocks_opts bo = {.recend = o->recend,
                          .recend_len = o->recend_len,
                          .recstart = o->recstart,
                          .recstart_len = o->recstart ? strlen(o->recstart) : 0,
                          .regexp = o->regexp,
                          .fixed = o->fixed,
                          .strip = o->rrs,
                          .csv = o->csv};
    if (ctk_blocks_new(rules, &bo, err, err_len) < 0)
        return CTK_EINVAL;
    /* --block-id: the block number ({#}) as one more word. -q: each word
     * quoted, so the shell sees it as it is (as cpar -q). */
    char **all = g_new0(char *, n_words + 2);
    memcpy(all, words, n_words * sizeof *all);
    GPtrArray *quoted = g_ptr_array_new_with_free_func(g_free);
    for (size_t i = 0; o->quote && i < n_words; i++) {
        ctk_buf q = {0};
        if (ctk_cmdline_quote(&q, words[i], strlen(words[i])) == 0) {
            char *w = g_strndup((const char *)q.data, q.len);
            g_ptr_array_add(quoted, w);
            all[i] = w;
        }
        ctk_buf_free(&q);
    }
    if (o->block_id)
        all[n_words++] = "{#}";
    /* --tee without FILTER: each argument is the command, as in parallel. */
    if (n_words == 0)
        all[n_words++] = "{}";
    /* The block on stdin needs no {}; a file or fifo's name is appended
     * when the command names it nowhere, as parallel does. */
    unsigned flags =
        (o->cat || o->fifo ? 0 : CTK_CMDLINE_NO_APPEND) | (o->shell ? CTK_CMDLINE_FORCE_SHELL : 0);
    int rc = ctk_cmdline_parse(cmd, all, n_words, NULL, flags, err, err_len);
    g_free(all);
    g_ptr_array_free(quoted, TRUE);
    if (rc < 0) {
        ctk_blocks_free(*rules);
        *rules = NULL;
        return CTK_EINVAL;
    }
    return 0;
}

int cpipe_opts_tagstring(const cpipe_opts *o, ctk_cmdline **tag, char *err, size_t err_len)
{
    *tag = NULL;
    if (o->tagstring == NULL && !o->tag)
        return 0;
    /* --tag tags with the arguments: --pipe has none (an empty tag),
     * --tee a filter's own. */
    char *text = ctk_cmdline_text_escapes(o->tagstring != NULL ? o->tagstring : o->tee ? "{}" : "");
    int rc = ctk_cmdline_parse(tag, &text, 1, NULL, CTK_CMDLINE_TEXT, err, err_len);
    free(text);
    return rc < 0 ? CTK_EINVAL : 0;
}
