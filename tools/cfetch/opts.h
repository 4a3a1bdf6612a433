/*
 * opts.h: cfetch's options: the table, the handler that fills one
 * cfetch_opts, the checks of what cannot be combined, and the settings
 * derived from them (output path, trusted folder, headers, data) before
 * main hands o.run to fetchcmd.
 */
#ifndef CFETCH_OPTS_H
#define CFETCH_OPTS_H

#include <glib.h>

#include "ctkx/cli.h"
#include "fetchcmd.h"

#define CFETCH_PROG "cfetch"

typedef struct cfetch_opts {
    ctk_fetchcmd run; /* the run's settings, filled in here */
    GPtrArray *headers;
    const char *input;
    const char *output_path; /* -o: a file or a directory, decided by cfetch_opts_finish */
    char *trusted_dir;       /* the folder the user named, links followed there */
    int header_line;
    int bad_header; /* an -H without ':' (its value is not echoed) */
    GString *data;  /* -d, --data-binary, --data-raw joined by '&', or NULL */
} cfetch_opts;

extern const ctk_cli cfetch_cli;

/* The defaults: curl's (follow, fail, 50 redirects) and the retry backoff. */
void cfetch_opts_init(cfetch_opts *o);
/* Parses argv into o and c (ctk_cli_parse's contract: 0, or a negative
 * code with the message in err; *first is the first URL operand). */
int cfetch_opts_parse(cfetch_opts *o, ctk_registry *reg, int argc, char **argv, ctk_common *c,
                      int *first, char *err, size_t err_len);
/* The usage error of options that cannot go together, or NULL. */
const char *cfetch_opts_check(const cfetch_opts *o, const ctk_common *c, size_t n_urls);
/* Fills in what follows from the options once they are known good. */
void cfetch_opts_finish(cfetch_opts *o, ctk_common *c, size_t n_urls);
void cfetch_opts_free(cfetch_opts *o);

#endif
