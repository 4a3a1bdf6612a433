/*
 * ctk/plot.h: --plot FILE, the picture of a --compare table: wall time,
 * CPU time and speedup per row, drawn by gnuplot (a child process) from
 * the table's own TSV. FILE ends in .svg or .png.
 */
#ifndef CTK_PLOT_H
#define CTK_PLOT_H

#include <stddef.h>

#include "ctkx/compare.h"

/* What a user without gnuplot is told (after "prog: "). */
#define CTK_PLOT_NO_GNUPLOT "--plot needs gnuplot (apt-get install gnuplot-nox)"

/* 0 when file names a picture gnuplot can draw here; CTK_EINVAL (a usage
 * error) for another extension; CTK_ENOENT when gnuplot is not on PATH.
 * why gets the reason, without "prog: ". Checked before any work is done. */
int ctk_plot_check(const char *file, char *why, size_t why_len);
/* Draws the rows of c into file (replaced whole, or left as it was on
 * failure). title heads the picture. Returns 0, or a negative code with
 * the reason in why. */
int ctk_plot_write(const ctk_compare *c, const char *file, const char *title, unsigned cores,
                   char *why, size_t why_len);

/* What a tool calls after printing its table: draws it into file (NULL:
 * nothing to do) titled with prog and the cores, and on failure says so
 * on stderr as "prog: --plot FILE: reason" and returns the code. */
int ctk_plot_compare(const ctk_compare *c, const char *file, const char *prog);

#endif
