/*
 * ctk/cmdline.h: GNU parallel's command templates. A template is parsed once
 * from the command words (`cpar echo {} foo`); each job then renders it with
 * its input columns into the command line GNU parallel would run (and print
 * for --dry-run) and, when the template has no shell syntax, into an argv
 * vector that gives the program the same arguments without a shell.
 *
 * Replacement strings: {} {.} {/} {//} {/.} {#} {%} and the positional
 * forms {n} {n.} {n/} {n//} {n/.} (n counts from 1; negative n from the
 * end). `replace` (-I) renames {} only, as GNU parallel does; positional
 * forms of it exist only when it begins with '{'. Perl expressions {= =}
 * are refused. A template without any replacement string gets the columns
 * appended. -q is not supported here.
 */
#ifndef CTK_CMDLINE_H
#define CTK_CMDLINE_H

#include <stddef.h>
#include <stdint.h>

#include "ctk/common.h"
#include "ctk/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ctk_cmdline ctk_cmdline;

/* One input column: bytes and their length (no NUL terminator needed). */
typedef struct ctk_cmdline_item {
    const char *data;
    size_t len;
} ctk_cmdline_item;

/* What one job fills a template with. With n_cols == 0 every replacement
 * string sees one empty column, as in GNU parallel. */
typedef struct ctk_cmdline_args {
    const ctk_cmdline_item *cols; /* columns or -N items, in order */
    size_t n_cols;
    uint64_t seq;  /* {#}: the job's sequence number, from 1 */
    uint64_t slot; /* {%}: the job slot, from 1 */
} ctk_cmdline_args;

/* Flags for ctk_cmdline_parse. */
enum {
    CTK_CMDLINE_FORCE_SHELL = 1, /* always run under /bin/sh -c (--shell) */
    /* A text, not a command (--tagstring): items go in unquoted and
     * nothing is appended when it has no replacement string. */
    CTK_CMDLINE_TEXT = 2,
    CTK_CMDLINE_NO_APPEND = 4, /* no replacement string: append nothing
                                 (parallel --pipe, where input is stdin) */
    /* -X: every blank-separated word holding a replacement string is
     * repeated once per column (GNU parallel's context replace). Without
     * it, a replacement string expands to all columns joined by spaces,
     * which is -m (and -n). */
    CTK_CMDLINE_CONTEXT = 8,
    /* GNU parallel's --plus strings too: {+/} {+.} {+..} {+...} {..} {...}
     * {/..} {/...} {##} {0#} {0%} {:-str} {:n} {:n:m} {#re} {##re} {%re}
     * {%%re} {/re/str} {/#re/str} {/%re/str} {//re/str} {^re} {^^re} {,re}
     * {,,re}, and their positional forms ({2+/}). */
    CTK_CMDLINE_PLUS = 16
};

/* Parses the command words into *out. `replace` is the -I string, or NULL
 * for "{}". Returns 0; CTK_EINVAL with a message in err (which may be NULL)
 * for {= perl =} or an empty `replace`; CTK_ENOMEM. */
int ctk_cmdline_parse(ctk_cmdline **out, char *const *words, size_t n_words, const char *replace,
                      unsigned flags, char *err, size_t err_len);

/* GNU parallel's renamed replacement strings (-I, --extensionreplace,
 * --basenamereplace, --dirnamereplace, --basenameextensionreplace,
 * --seqreplace, --slotreplace): each NULL keeps its default. */
typedef struct ctk_cmdline_names {
    const char *all, *noext, *base, *dir, *basenoext, *seq, *slot;
} ctk_cmdline_names;

/* ctk_cmdline_parse with every replacement string renamable. */
int ctk_cmdline_parse_names(ctk_cmdline **out, char *const *words, size_t n_words,
                            const ctk_cmdline_names *names, unsigned flags, char *err,
                            size_t err_len);

/* 1 when jobs must run as /bin/sh -c LINE: forced, the replacement string is
 * part of the command name (GNU parallel then inserts items unquoted), the
 * template holds shell syntax, or its command is a shell builtin or
 * keyword. 0 when ctk_cmdline_render gives an argv for posix_spawnp. */
int ctk_cmdline_needs_shell(const ctk_cmdline *t);

/* Renders one job. `line` (may be NULL) is replaced by the shell command
 * line, NUL-terminated after line->len. When argv is not NULL, *argv gets a
 * NULL-terminated vector (free with ctk_cmdline_argv_free), or NULL when
 * the template needs a shell. Returns 0; CTK_EINVAL when a column contains
 * a NUL byte (no argv can carry it); CTK_ENOMEM. */
int ctk_cmdline_render(const ctk_cmdline *t, const ctk_cmdline_args *a, ctk_buf *line,
                       char ***argv);

void ctk_cmdline_argv_free(char **argv);

/* How GNU parallel measures a -X/-m command line of k items (its
 * CommandLine::len, which decides where lines break): base + (k - 1) *
 * per_arg + the sum of ctk_cmdline_arg_cost over the items. */
void ctk_cmdline_fill_cost(const ctk_cmdline *t, size_t *base, size_t *per_arg);
size_t ctk_cmdline_arg_cost(const ctk_cmdline *t, const ctk_cmdline_item *arg, uint64_t seq,
                            uint64_t slot);
void ctk_cmdline_free(ctk_cmdline *t);
/* --plus's {##} and {0#} need the number of jobs: 1 when t has one. */
int ctk_cmdline_wants_total(const ctk_cmdline *t);
/* The number of jobs ({##}, {0#}'s width) and of job slots ({0%}'s
 * width), before rendering. */
void ctk_cmdline_set_totals(ctk_cmdline *t, uint64_t total_jobs, unsigned max_jobs);
/* -N0: rendered with no columns, a replacement string of a column gives
 * nothing rather than an empty word, so a word that is only {} vanishes
 * (GNU parallel: `-N0 echo a {} b` runs `echo a b`). */
void ctk_cmdline_set_no_args(ctk_cmdline *t, int on);
/* 1 when GNU parallel would skip the job of these arguments: t has --plus's
 * {uniq} and two arguments are the same, or {choose_k} and they do not
 * increase. parallel counts a skipped job as failed (Exitval -2). */
int ctk_cmdline_skip(const ctk_cmdline *t, const ctk_cmdline_args *a);

/* Appends s quoted for a POSIX shell exactly as GNU parallel quotes it:
 * [-_.+a-zA-Z0-9/] words as they are, "" as '', anything else in single
 * quotes with ' written as '"'"'. Returns 0 or CTK_ENOMEM. */
int ctk_cmdline_quote(ctk_buf *out, const char *s, size_t len);

#ifdef __cplusplus
}
#endif
/* --tagstring's escapes, as GNU parallel reads them: \t is a tab (cpar,
 * cpipe). Returns a new string, to free(). */
char *ctk_cmdline_text_escapes(const char *text);

#endif
