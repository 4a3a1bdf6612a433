/*
 * ctk/stats.h: what a run cost: wall time, user+system CPU of the process
 * and of its reaped children, peak resident memory; and the derived
 * throughput, speedup and efficiency against a baseline (the sync row).
 */
#ifndef CTK_STATS_H
#define CTK_STATS_H

#include <sys/resource.h>
#include <time.h>

#include "ctk/common.h"

typedef struct ctk_usage {
    double wall;      /* seconds */
    double user, sys; /* CPU seconds, own and children's */
    long max_rss_kb;  /* peak resident set of the process or any child */
} ctk_usage;

typedef struct ctk_meter {
    struct timespec t0;
    struct rusage self0, children0;
} ctk_meter;

void ctk_meter_start(ctk_meter *m);
/* Usage since start: CPU as deltas; peak RSS since the process began
 * (the kernel keeps no per-interval peak: isolate rows to compare it). */
void ctk_meter_read(const ctk_meter *m, ctk_usage *u);
/* Usage from a child's rusage (wait4), with wall time measured outside. */
void ctk_usage_from_rusage(ctk_usage *u, const struct rusage *ru, double wall);
double ctk_usage_cpu(const ctk_usage *u);
/* base wall / wall; 0 when either is not positive. */
double ctk_speedup(const ctk_usage *base, const ctk_usage *row);
/* Speedup per core actually usable: speedup / min(jobs, cores). */
double ctk_efficiency(double speedup, unsigned jobs, unsigned cores);
/* count / wall; 0 when wall is not positive. */
double ctk_per_second(double count, double wall);

#endif
