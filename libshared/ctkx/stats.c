/*
 * stats.c: what a run cost (wall clock, CPU of the process and its reaped
 * children, peak RSS) and the figures derived from it for comparing
 * strategies: throughput, speedup over the sync row and efficiency.
 */
#include <stddef.h>
#include <sys/resource.h>
#include <time.h>

#include "ctkx/stats.h"

static double timeval_seconds(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static double timespec_diff(const struct timespec *end, const struct timespec *start)
{
    return (double)(end->tv_sec - start->tv_sec) + (double)(end->tv_nsec - start->tv_nsec) / 1e9;
}

void ctk_meter_start(ctk_meter *m)
{
    /* Monotonic: a wall-clock step (NTP, the user) must not bend a timing. */
    clock_gettime(CLOCK_MONOTONIC, &m->t0);
    getrusage(RUSAGE_SELF, &m->self0);
    getrusage(RUSAGE_CHILDREN, &m->children0);
}

void ctk_meter_read(const ctk_meter *m, ctk_usage *u)
{
    struct timespec now;
    struct rusage self, kids;
    clock_gettime(CLOCK_MONOTONIC, &now);
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &kids);

    u->wall = timespec_diff(&now, &m->t0);
    u->user = timeval_seconds(self.ru_utime) - timeval_seconds(m->self0.ru_utime) +
              timeval_seconds(kids.ru_utime) - timeval_seconds(m->children0.ru_utime);
    u->sys = timeval_seconds(self.ru_stime) - timeval_seconds(m->self0.ru_stime) +
             timeval_seconds(kids.ru_stime) - timeval_seconds(m->children0.ru_stime);
    /* RUSAGE_CHILDREN's ru_maxrss is the largest single child, not a sum,
     * so the larger of the two is the peak of any one process. */
    u->max_rss_kb = self.ru_maxrss > kids.ru_maxrss ? self.ru_maxrss : kids.ru_maxrss;
}

void ctk_usage_from_rusage(ctk_usage *u, const struct rusage *ru, double wall)
{
    u->wall = wall;
    u->user = timeval_seconds(ru->ru_utime);
    u->sys = timeval_seconds(ru->ru_stime);
    u->max_rss_kb = ru->ru_maxrss;
}

double ctk_usage_cpu(const ctk_usage *u)
{
    return u->user + u->sys;
}

double ctk_speedup(const ctk_usage *base, const ctk_usage *row)
{
    if (base == NULL || row == NULL || !(base->wall > 0) || !(row->wall > 0))
        return 0;
    return base->wall / row->wall;
}

double ctk_efficiency(double speedup, unsigned jobs, unsigned cores)
{
    /* More jobs than cores cannot run at once, so they earn no credit. */
    unsigned usable = jobs < cores ? jobs : cores;
    if (usable == 0)
        return 0;
    return speedup / usable;
}

double ctk_per_second(double count, double wall)
{
    if (!(wall > 0))
        return 0;
    return count / wall;
}
