/*
 * groupby.h: cpipe --group-by COL, done the way parallel does it: the
 * input passes through a thread that writes a random marker before each
 * line whose COL (split by --colsep) differs from the line before; the
 * engine then reads that stream with the marker as --recstart, --recend
 * '' and --rrs. Records are groups of lines, and blocks are cut (and
 * grow) exactly as parallel's are, the marker's bytes counted as in
 * parallel.
 */
#ifndef CPIPE_GROUPBY_H
#define CPIPE_GROUPBY_H

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

/* The marker's length: 20 letters and digits, as parallel's. */
#define CPIPE_GROUPBY_MARKER 20

typedef struct cpipe_groupby cpipe_groupby;

/* The value of line's column col (0 up), split as perl -a splits it by
 * the regexp sep: the newline, kept, is part of the last column's value;
 * a column beyond the last has the empty value, and 0 is returned.
 * line[len] is readable. Shared with --shard and --bin (shard.c). */
int cpipe_column(const GRegex *sep, size_t col, const char *line, size_t len, const char **value,
                 size_t *value_len);
/* The column (0 up) whose value in line (a header, without its newline)
 * is name: 1 and *col, or 0 when there is none. */
int cpipe_column_named(const GRegex *sep, const char *line, size_t len, const char *name,
                       size_t *col);

/* Whether spec (--group-by's value) is one cpipe takes: a column number
 * (1 up) or a column name. NULL when it is; else why not. */
const char *cpipe_groupby_check(const char *spec);

/* A new random marker (and a NUL), for the record rules made before
 * the input is opened. */
void cpipe_groupby_marker(char marker[CPIPE_GROUPBY_MARKER + 1]);
/* Starts the marking thread on in_fd (read until its end; not closed).
 * spec: a column number, or a column name looked up in the first line,
 * which then passes unmarked (the caller makes it the header: *named is
 * set). colsep: a regexp (NULL: a tab). header_lines: lines passed
 * unmarked first (--header N). *out_fd: the stream to read (the caller
 * closes it before cpipe_groupby_end). CTK_EINVAL with err filled (a bad
 * regexp, a name not in the header). */
int cpipe_groupby_start(cpipe_groupby **out, int in_fd, const char *spec, const char *colsep,
                        uint64_t header_lines, const char *marker, int *named, int *out_fd,
                        char *err, size_t err_len);
/* Stops the thread (it may be waiting on input or on a reader that has
 * gone) and frees g; NULL does nothing. */
void cpipe_groupby_end(cpipe_groupby *g);

#endif
