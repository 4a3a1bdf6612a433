/*
 * ctk/sources.h: where a command's input items come from, combined as GNU
 * parallel combines them. Each source is stdin, a file (:::: FILE, -a
 * FILE) or a list of words (::: a b c). Several sources make a cross
 * product (the last one varies fastest); a source added as "linked"
 * (:::+, ::::+) pairs element-wise with the one before it, and the
 * group stops at the shorter (or, recycling, goes on to the longer). The first group is streamed
 * when it is a single stdin or file source, so endless input stays flat in memory; every later
 * source is read whole, since the product revisits it.
 */
#ifndef CTK_SOURCES_H
#define CTK_SOURCES_H

#include <stddef.h>

#include "ctk/common.h"

typedef struct ctk_sources ctk_sources;

/* One job's arguments: n columns of bytes (each NUL-terminated as well). */
typedef struct ctk_item {
    size_t n;
    char **cols;
    size_t *lens;
} ctk_item;

/* delim: the record separator for stdin and files ('\n', '\0' with -0). */
int ctk_sources_new(ctk_sources **out, char delim);
/* The same with a separator of sep_len (at least 1) bytes (-d '\n\n'). */
int ctk_sources_new_sep(ctk_sources **out, const char *sep, size_t sep_len);
void ctk_sources_free(ctk_sources *s);
/* A list of words (:::). A word holding the delimiter is split there. */
int ctk_sources_add_words(ctk_sources *s, char *const *words, size_t n, int linked);
/* A file (::::, -a); "-" is stdin. CTK_ENOENT etc. with err filled when
 * it cannot be opened. */
int ctk_sources_add_file(ctk_sources *s, const char *path, int linked, char *err, size_t err_len);
/* Groups every `per_job` consecutive items of a single source into one
 * job (-n / -N). 1 by default. CTK_EINVAL with several sources. */
int ctk_sources_set_per_job(ctk_sources *s, size_t per_job);
/* --colsep: every value is split into columns where REGEX (PCRE, on
 * bytes) matches. CTK_EINVAL with err filled for a bad regex. */
int ctk_sources_set_colsep(ctk_sources *s, const char *regex, char *err, size_t err_len);
/* --csv: every value is a CSV record, parsed as GNU parallel's
 * Text::CSV parses it (see push_csv), its fields the columns; sep is
 * the field separator, 1 to CTK_SOURCES_CSV_SEP_MAX bytes without '"'
 * (else CTK_EINVAL). A value with an odd number of '"' goes on with the
 * next value of its source, joined by the record separator: a quoted
 * field may hold line ends. Takes the place of --colsep. A record the
 * parse refuses makes ctk_sources_next return CTK_EINVAL, with
 * ctk_sources_error saying which. */
#define CTK_SOURCES_CSV_SEP_MAX 16
int ctk_sources_set_csv(ctk_sources *s, const char *sep, size_t sep_len);
/* What the error ctk_sources_next or ctk_sources_take_header returned
 * was, when it was not a read error (a refused CSV record); or NULL.
 * After any error but CTK_EOF and CTK_ECANCELED, ctk_sources_next
 * returns that error again. */
const char *ctk_sources_error(const ctk_sources *s);
/* The next job's arguments into item (valid until the next call).
 * Returns 0, CTK_EOF, CTK_ECANCELED, or a read error. *nul_replaced is
 * set when a NUL byte was replaced by the two characters \0, as GNU
 * parallel does without --null. */
int ctk_sources_next(ctk_sources *s, ctk_item *item, int *nul_replaced, const int *cancel);
/* The fd ctk_sources_next would block reading (the streamed source's,
 * when no whole record is buffered), for a caller that polls it with
 * other fds first; -1 when the next call would not wait there. */
int ctk_sources_wait_fd(ctk_sources *s);
/* 1 when reading may wait on a writer (a source that is a pipe, a
 * terminal, a socket: anything but a regular file or ::: words). */
int ctk_sources_may_wait(const ctk_sources *s);
/* The run's cancel fd: a reader waiting on a pipe or terminal wakes at
 * once on a cancel. */
void ctk_sources_set_cancel_fd(ctk_sources *s, int cancel_fd);
/* GNU parallel's input habits, set before the first ctk_sources_next:
 * --trim (left, right: remove blanks around each column), -E/-e STR (a
 * value equal to STR ends its source), -r (empty and blank values are
 * skipped). */
void ctk_sources_set_trim(ctk_sources *s, int left, int right);
void ctk_sources_set_eof(ctk_sources *s, const char *eof);
void ctk_sources_set_skip_blank(ctk_sources *s, int on);
/* -L/-l: a line of a file or stdin ending in a blank goes on with the
 * next line, as xargs -L and GNU parallel -L read them. */
void ctk_sources_set_line_continue(ctk_sources *s, int on);
/* --link/--xapply: linked sources pair element-wise up to the longest,
 * the shorter ones starting over (GNU parallel's recycling), instead of
 * stopping at the shortest as :::+ does. */
void ctk_sources_set_recycle(ctk_sources *s, int on);
/* --shuf: every job is read first, then they come in a random order. */
void ctk_sources_set_shuffle(ctk_sources *s, int on);
/* --header: takes the first value of every source (the first line of a
 * file or stdin, the first word of a ::: list) as the names of the
 * columns it makes, in column order, appended to names (g_free each).
 * Returns 0 or a read error. */
int ctk_sources_take_header(ctk_sources *s, char ***names, size_t *n_names, int *nul_replaced,
                            const int *cancel);
/* How many of argv[first..argc) come before the first source separator
 * (:::, ::::, :::+, ::::+): the command's words. */
size_t ctk_sources_command_words(int argc, char **argv, int first);
/* Adds the sources the operands after the command's words name (`:::
 * words`, `:::: files`, linked with :::+ / ::::+, every file linked with
 * link), the count of command words in *n_cmd. A negative code with a
 * message in err. */
int ctk_sources_add_operands(ctk_sources *s, int argc, char **argv, int first, int link,
                             size_t *n_cmd, char *err, size_t err_len);
/* Frees the arrays ctk_sources_next allocated in item (start zeroed). */
void ctk_item_clear(ctk_item *item);

#endif
