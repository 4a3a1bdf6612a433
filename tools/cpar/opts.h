/*
 * opts.h: cpar's command line: its option table (GNU parallel's options
 * and spellings over the shared ones), $PARALLEL, and the checks the
 * parser cannot make. main.c only runs what this parsed.
 */
#ifndef CPAR_OPTS_H
#define CPAR_OPTS_H

#include <glib.h>
#include <stdint.h>

#include "ctkx/cli.h"
#include "ctkx/cmdline.h"
#include "ctkx/halt.h"
#include "ctkx/spawn.h"
#include "ctk/registry.h"

#define PROG "cpar"

/* GNU parallel's usable command line length for -X/-m on Linux: its probe
 * of the longest line (parallel --max-line-length-allowed: 130329) less
 * 3000 for wrapping, halved for hexing. */
#define GNU_LINE_MAX 63664

typedef struct cpar_opts {
    GPtrArray *arg_files;
    const char *delim; /* the record separator, delim_len bytes; 0: paragraphs (-d '') */
    size_t delim_len;
    int delim_given; /* -d: wins over -0 */
    const char *replace;
    uint64_t per_job;
    int shell, ungroup, tag, dry_run, resume;
    const char *joblog, *records;
    uint64_t retries;
    double timeout;
    ctk_spawn_termstep termseq[CTK_SPAWN_TERMSEQ_MAX];
    size_t termseq_len;
    ctk_halt halt;
    double delay, rate;
    const char *tagstring, *colsep, *results;
    int csv; /* --csv: items are CSV records, colsep their field separator */
    int bar, line_buffer;
    int fill; /* 'X' or 'm' */
    uint64_t max_chars;
    int per_job_given;
    const char *slot_var; /* --process-slot-var */
    int max_lines;        /* -L/-l given: lines ending in a blank go on */
    int max_replace;      /* -N: {} repeats per item, as -X does */
    const char *jobs, *header;
    int records_header, link, verbose, trace, quote, no_empty, files, shuf, pipe, plus;
    int tollef, gnu; /* --tollef is retired: an error unless --gnu overrides it */
    const char *eof_str, *arg_sep, *arg_file_sep, *trim;
    int retry_failed;         /* --retry-failed: the joblog's failed commands are the jobs */
    int shellquote;           /* --shellquote: how many times */
    const char *retries_text; /* --retries with replacement strings: per job */
    ctk_cmdline_names names;  /* names.all is -I's: see replace */

    /* What parsing allocated: argv with $PARALLEL's words, and rewritten
     * option words. */
    int argc;
    char **argv;
    char **orig_argv;
    char **env_words;
    GPtrArray *owned;
} cpar_opts;

extern const ctk_cli cpar_cli;

void cpar_opts_init(cpar_opts *o, int argc, char **argv);
void cpar_opts_free(cpar_opts *o);
/* Parses o->argv ($PARALLEL's options first) into o and c, answers
 * --help, --version and --list-strategies, and checks what the parser
 * cannot. Returns -1 to go on with the command at o->argv[*first], else
 * the exit status (0 after an answer, 2 for a usage error). */
int cpar_opts_parse(cpar_opts *o, ctk_common *c, ctk_registry *reg, int *first);
/* "cpar: MESSAGE" and the pointer to --help on stderr; returns 2. */
int cpar_usage_error(const char *message);

#endif
