/*
 * ctk/progress.h: a one-line bar with count, rate and ETA, redrawn at most
 * ten times a second on stderr; only when asked (--progress, --bar).
 */
#ifndef CTK_PROGRESS_H
#define CTK_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

#include "ctk/common.h"

typedef struct ctk_progress ctk_progress;

/* total 0 means unknown (no bar, no ETA). Returns NULL progress (and 0)
 * when the bar should not show: not asked for (force 0), in every tool. */
int ctk_progress_new(ctk_progress **out, FILE *stream, int force, uint64_t total, const char *unit);
/* Thread-safe; cheap when called more often than the redraw rate. */
void ctk_progress_update(ctk_progress *p, uint64_t done);
/* Before a record goes to standard output: when that is the terminal the
 * bar is drawn on, erases the bar's line (it is drawn again on the next
 * update, below the record), so a record never shares a line with it.
 * Thread-safe, NULL-safe. */
void ctk_progress_clear(ctk_progress *p);
/* Draws the final state and ends the line. NULL-safe. */
void ctk_progress_finish(ctk_progress *p);
void ctk_progress_free(ctk_progress *p);
/* The line as it would be drawn (for tests), without the \r and clear:
 * "[#####-----]  45%  450/1000 tasks  123.4/s  ETA 0:04", or with total 0
 * "450 lines  123.4/s  0:03 elapsed". Empty when p is NULL. */
void ctk_progress_render(const ctk_progress *p, uint64_t done, double elapsed, char *line,
                         size_t len);

#endif
