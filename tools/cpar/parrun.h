/*
 * ctk/parrun.h: cpar's run around the par engine: the input sources built
 * from -a files and the ::: / :::: operands (again for every --compare
 * row, and once more to count the jobs, which is why stdin may be spooled
 * to a file first), the joblog's header, the run under one strategy with
 * signal watching and GNU parallel's exit status, and --compare's table.
 */
#ifndef CTK_PARRUN_H
#define CTK_PARRUN_H

#include <stdio.h>

#include "ctkx/cli.h"
#include "par.h"
#include "ctk/registry.h"
#include "ctkx/sources.h"

/* The strategy jobs run under without -s: chosen by measurement (see
 * cpar(1), STRATEGIES). */
#define CTK_PARRUN_DEFAULT_STRATEGY "thread"

/* What the sources are built from. */
typedef struct ctk_parrun_input {
    const char *const *arg_files; /* -a FILE..., "-" for stdin */
    size_t n_arg_files;
    const char *delim; /* item terminator, delim_len bytes (0: paragraphs) */
    size_t delim_len;
    const char *colsep; /* --colsep REGEX, or NULL; with csv the field separator */
    int csv;            /* --csv: items are CSV records */
    uint64_t per_job;   /* -n / -N */
    int argc;
    char **argv;
    int first;              /* argv[first]: the first command word */
    size_t n_cmd;           /* command words before the first ::: / :::: */
    const char *stdin_path; /* stdin's copy, or NULL to read stdin itself */

    /* GNU parallel's input habits (see sources.h) */
    int trim_left, trim_right; /* --trim */
    const char *eof;           /* -E STR, or NULL */
    int skip_blank;            /* -r */
    int line_continue;         /* -L, -l: see ctk_sources_set_line_continue */
    int shuffle;               /* --shuf */
    int link;                  /* --link: every source linked, the shorter recycled */
} ctk_parrun_input;

/* How many of argv[first..argc) come before the first source separator
 * (:::, ::::, :::+, ::::+). */
size_t ctk_parrun_command_words(int argc, char **argv, int first);
/* Whether the sources read standard input. */
int ctk_parrun_reads_stdin(const ctk_parrun_input *in);
/* Builds the sources; CTK_EINVAL or another negative code with a
 * message in err. */
int ctk_parrun_sources(const ctk_parrun_input *in, ctk_sources **out, char *err, size_t err_len);
/* Copies stdin to an anonymous file under $TMPDIR (or /tmp), open as
 * *fd (close it when done); returns a path that reads it from the start,
 * here and in forked children (g_free it), or NULL with errno set. */
char *ctk_parrun_spool_stdin(int *fd);
/* The number of jobs the sources make (0 when they cannot be built). */
uint64_t ctk_parrun_count_jobs(const ctk_parrun_input *in);
/* What a run opens, closed by ctk_parrun_files_close: the joblog, the
 * records' stream and writer, and stdin's spooled copy. */
typedef struct ctk_parrun_files {
    FILE *joblog;
    FILE *records_file; /* stdout for --records - */
    ctk_output *records;
    char *spooled;  /* the path of stdin's copy, or NULL */
    int spooled_fd; /* its descriptor, when spooled is set */
} ctk_parrun_files;

/* Opens --records PATH ("-": stdout) for the par's record fields; -1
 * with errno set. */
int ctk_parrun_open_records(ctk_parrun_files *f, const char *path, ctk_format format, int header);
void ctk_parrun_files_close(ctk_parrun_files *f);

/* Runs every job of po under c->strategy (or the default), watching
 * SIGINT/SIGTERM/SIGHUP; messages on stderr as "prog: ...". Returns the
 * exit status: the par's, 128+signal, or 255. */
int ctk_parrun_jobs(const ctk_common *c, ctk_registry *reg, const ctk_par_opts *po,
                    const char *prog);
/* --compare: runs every job once per strategy in c->compare, each row in
 * an isolated child with its own sources from in, and prints the table on
 * stdout. Returns the exit status. */
int ctk_parrun_compare(const ctk_common *c, ctk_registry *reg, const ctk_parrun_input *in,
                       const ctk_par_opts *po, const char *prog);

#endif
