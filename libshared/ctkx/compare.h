/*
 * ctk/compare.h: the --compare table every command prints: one row per
 * (strategy, variant) with wall and CPU time, speedup and efficiency
 * against the sync row of the same variant, peak memory and throughput,
 * then whatever columns the tool adds (a checksum, bytes/s, ...).
 */
#ifndef CTK_COMPARE_H
#define CTK_COMPARE_H

#include <stdint.h>
#include <stdio.h>

#include "ctkx/output.h"
#include "ctkx/stats.h"

#define CTK_COMPARE_MAX_EXTRA 8

typedef struct ctk_row {
    char strategy[64];
    char variant[64]; /* e.g. "gil", "share=lock"; "" for none */
    unsigned jobs;
    int baseline; /* a serial strategy's row: what speedup is measured against */
    ctk_usage usage;
    uint64_t units; /* finished units (tasks, jobs, URLs) */
    uint64_t failed;
    double work;                        /* amount of work done, for work/s (0: no column) */
    char *extra[CTK_COMPARE_MAX_EXTRA]; /* malloc'd, or NULL */
} ctk_row;

typedef struct ctk_compare ctk_compare;

/* unit_name: "tasks" gives a "tasks_per_s" column; work_name: "ops" gives
 * "ops_per_s" (NULL for none). extra: the tool's own columns. */
int ctk_compare_new(ctk_compare **out, const char *unit_name, const char *work_name,
                    const ctk_field *extra, size_t n_extra);
/* A new zeroed row; valid until the next add. */
ctk_row *ctk_compare_add(ctk_compare *c, const char *strategy, const char *variant, unsigned jobs);
size_t ctk_compare_count(const ctk_compare *c);
const ctk_row *ctk_compare_row(const ctk_compare *c, size_t i);
/* The speedup of row i against the first baseline row of the same variant:
 * the ratio of work per second (of wall times, for the same work); 0 when
 * there is no such row. */
double ctk_compare_speedup(const ctk_compare *c, size_t i);
/* Prints every row. A table hides the variant column when no row has one. */
int ctk_compare_print(const ctk_compare *c, FILE *out, ctk_format format, int header,
                      unsigned cores);
void ctk_compare_free(ctk_compare *c);

#endif
