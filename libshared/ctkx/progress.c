/*
 * progress.c: a one-line progress display (bar, count, rate, ETA) for long
 * runs. Workers on any thread report counts; the line is redrawn at most
 * ten times a second so reporting stays cheap, and only when asked
 * (--progress, --bar), so pipes and logs never see carriage returns.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctkx/progress.h"

#define BAR_WIDTH   10
#define REDRAW_SECS 0.1

struct ctk_progress {
    FILE *stream;
    uint64_t total; /* 0: unknown */
    char *unit;
    struct timespec t0;
    pthread_mutex_t lock; /* guards everything below */
    uint64_t done;
    double drawn_at; /* seconds since t0 of the last draw; < 0: never */
    int finished;
    int shown;      /* a line is on the screen now (cleared by ctk_progress_clear) */
    int shares_tty; /* stdout is the same terminal: records would land on the bar */
};

static double since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

int ctk_progress_new(ctk_progress **out, FILE *stream, int force, uint64_t total, const char *unit)
{
    if (out == NULL)
        return CTK_EINVAL;
    *out = NULL;
    if (stream == NULL)
        return CTK_EINVAL;
    /* None unless asked, in every tool (parallel, xargs and pigz show
     * none either): a terminal alone is no request for one. */
    if (!force)
        return 0;
    ctk_progress *p = calloc(1, sizeof *p);
    if (p == NULL)
        return CTK_ENOMEM;
    p->unit = strdup(unit != NULL ? unit : "");
    if (p->unit == NULL)
        goto fail_unit;
    if (pthread_mutex_init(&p->lock, NULL) != 0)
        goto fail_lock;
    p->stream = stream;
    struct stat a, b;
    p->shares_tty = isatty(fileno(stream)) && isatty(STDOUT_FILENO) &&
                    fstat(fileno(stream), &a) == 0 && fstat(STDOUT_FILENO, &b) == 0 &&
                    a.st_rdev == b.st_rdev;
    p->total = total;
    p->drawn_at = -1;
    clock_gettime(CLOCK_MONOTONIC, &p->t0);
    *out = p;
    return 0;

fail_lock:
    free(p->unit);
fail_unit:
    free(p);
    return CTK_ENOMEM;
}

/* "M:SS", or "H:MM:SS" from an hour up; whole seconds, rounded down. */
static void format_clock(double secs, char *buf, size_t len)
{
    if (!(secs >= 0) || secs > 359999999.0) {
        snprintf(buf, len, "-:--");
        return;
    }
    unsigned long s = (unsigned long)secs;
    if (s >= 3600)
        snprintf(buf, len, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, len, "%lu:%02lu", s / 60, s % 60);
}

/* "[#####-----]  45%": the bar's cells round to nearest, but both the bar
 * and the percentage are full only when done. Past the total, both stay
 * full. */
static void format_bar(uint64_t done, uint64_t total, char *buf, size_t len)
{
    uint64_t d = done < total ? done : total;
    /* long double: done * 100 could overflow uint64_t for huge totals. */
    unsigned fill = (unsigned)((long double)d * BAR_WIDTH / total + 0.5L);
    unsigned pct = (unsigned)((long double)d * 100 / total);
    if (d < total) {
        fill = fill < BAR_WIDTH ? fill : BAR_WIDTH - 1;
        pct = pct < 100 ? pct : 99;
    }
    char bar[BAR_WIDTH + 1];
    memset(bar, '#', fill);
    memset(bar + fill, '-', BAR_WIDTH - fill);
    bar[BAR_WIDTH] = '\0';
    snprintf(buf, len, "[%s] %3u%%", bar, pct);
}

void ctk_progress_render(const ctk_progress *p, uint64_t done, double elapsed, char *line,
                         size_t len)
{
    if (line == NULL || len == 0)
        return;
    line[0] = '\0';
    if (p == NULL)
        return;
    double rate = elapsed > 0 ? (double)done / elapsed : 0;
    const char *sep = p->unit[0] != '\0' ? " " : "";
    char clock[32], bar[BAR_WIDTH + 16];
    if (p->total == 0) {
        format_clock(elapsed, clock, sizeof clock);
        snprintf(line, len, "%" PRIu64 "%s%s  %.1f/s  %s elapsed", done, sep, p->unit, rate, clock);
        return;
    }
    /* No rate yet means no estimate ("-:--"); at the total, nothing is left. */
    double eta = -1;
    if (done >= p->total)
        eta = 0;
    else if (rate > 0)
        eta = (double)(p->total - done) / rate;
    format_clock(eta, clock, sizeof clock);
    format_bar(done, p->total, bar, sizeof bar);
    snprintf(line, len, "%s  %" PRIu64 "/%" PRIu64 "%s%s  %.1f/s  ETA %s", bar, done, p->total, sep,
             p->unit, rate, clock);
}

/* Caller holds the lock. \033[K clears what a longer previous line left. */
static void draw(ctk_progress *p, double now)
{
    char line[256];
    ctk_progress_render(p, p->done, now, line, sizeof line);
    fprintf(p->stream, "\r%s\033[K", line);
    fflush(p->stream);
    p->drawn_at = now;
    p->shown = 1;
}

void ctk_progress_clear(ctk_progress *p)
{
    if (p == NULL || !p->shares_tty)
        return;
    pthread_mutex_lock(&p->lock);
    if (p->shown && !p->finished) {
        fputs("\r\033[K", p->stream);
        fflush(p->stream);
        p->shown = 0;
        p->drawn_at = -1; /* the next update draws it again, below the record */
    }
    pthread_mutex_unlock(&p->lock);
}

void ctk_progress_update(ctk_progress *p, uint64_t done)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    /* Workers report out of order; keep the highest so the count never
     * runs backwards on screen. */
    if (done > p->done)
        p->done = done;
    double now = since(&p->t0);
    if (!p->finished && (p->drawn_at < 0 || now - p->drawn_at >= REDRAW_SECS))
        draw(p, now);
    pthread_mutex_unlock(&p->lock);
}

void ctk_progress_finish(ctk_progress *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    if (!p->finished) {
        draw(p, since(&p->t0));
        fputc('\n', p->stream);
        fflush(p->stream);
        p->finished = 1;
    }
    pthread_mutex_unlock(&p->lock);
}

void ctk_progress_free(ctk_progress *p)
{
    if (p == NULL)
        return;
    /* Freed without finish (an error path): wipe the half-drawn line so
     * the error message that follows starts at column one. */
    if (!p->finished && p->drawn_at >= 0) {
        fputs("\r\033[K", p->stream);
        fflush(p->stream);
    }
    pthread_mutex_destroy(&p->lock);
    free(p->unit);
    free(p);
}
