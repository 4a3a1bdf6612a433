/*
 * ctk/lines.h: reads delimited records from a file descriptor with a
 * bound on their length, and gives up waiting when a cancel flag rises
 * (so a reader thread blocked on a terminal or pipe can be stopped).
 */
#ifndef CTK_LINES_H
#define CTK_LINES_H

#include <stddef.h>

#include "ctk/common.h"

typedef struct ctk_lines ctk_lines;

int ctk_lines_open(ctk_lines **out, int fd, char delim, size_t max_len);
/* The same with a separator of sep_len (at least 1) bytes, any of them
 * NUL: records end where the whole string sep occurs. */
int ctk_lines_open_sep(ctk_lines **out, int fd, const char *sep, size_t sep_len, size_t max_len);
/* Next record without its delimiter (the last one may lack it). Returns 0;
 * CTK_EOF; CTK_ECANCELED; CTK_ERANGE for a record longer than max_len
 * (skipped up to its delimiter; *len is its full length, *line NULL); or
 * a negated errno. *line stays valid until the next call. */
int ctk_lines_next(ctk_lines *r, const char **line, size_t *len, const int *cancel);
void ctk_lines_close(ctk_lines *r);
/* A fd that turns readable when the run is cancelled (the pipeline's
 * ctk_pipeline_cancel_fd): a wait for input then wakes at once on a
 * cancel instead of looking at the flag on a timer. */
void ctk_lines_set_cancel_fd(ctk_lines *r, int cancel_fd);
/* 1 when ctk_lines_next can answer from what is buffered (a whole record,
 * or the end of input), without reading: a poll loop then need not wait
 * for ctk_lines_fd to be readable first. */
int ctk_lines_ready(const ctk_lines *r);
int ctk_lines_fd(const ctk_lines *r);

/* When fd (the input about to be read) is a terminal, tells the user on
 * stderr, as GNU parallel does: "PROG: reading input from the terminal;
 * end with Ctrl-D". Every tool that reads its input from stdin calls it
 * once, before the first read. Returns 1 when it warned. */
int ctk_lines_warn_tty(const char *prog, int fd);

/* A missing or unreadable input file (-a, -i): the status every ctk tool
 * exits with, GNU parallel's for `-a missing`. */
#define CTK_EXIT_NO_INPUT 255

#endif
