/*
 * rate.c: evenly spaced start slots (a GCRA with no burst allowance). The
 * state is one timestamp, the next free slot, kept under a mutex: a slot
 * is taken far less often than a microsecond, so the lock never contends
 * enough to matter, and it keeps reserve() simple for threads and loops.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctkx/parse.h"
#include "ctkx/rate.h"

struct ctk_rate {
    pthread_mutex_t lock;
    double interval;  /* seconds between two starts */
    double next_slot; /* when the next start may happen; < 0 before the first */
};

int ctk_rate_parse(const char *text, double *per_sec, char *why, size_t why_len)
{
    static const struct {
        const char *suffix;
        double seconds;
    } units[] = {{"", 1}, {"/s", 1}, {"/sec", 1}, {"/m", 60}, {"/min", 60}, {"/h", 3600}};
    if (text == NULL)
        text = "";
    const char *slash = strchr(text, '/');
    size_t num_len = slash != NULL ? (size_t)(slash - text) : strlen(text);
    const char *suffix = text + num_len;
    double unit = 0;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(suffix, units[i].suffix) == 0)
            unit = units[i].seconds;
    char number[64];
    if (unit == 0 || num_len == 0 || num_len >= sizeof number) {
        if (why != NULL && why_len > 0)
            snprintf(why, why_len, "not a rate (N, N/s, N/m or N/h)");
        return CTK_EINVAL;
    }
    memcpy(number, text, num_len);
    number[num_len] = '\0';
    double n = 0;
    int rc = ctk_parse_seconds(number, 1e9, &n, why, why_len);
    if (rc != 0) {
        if (rc == CTK_EINVAL && why != NULL && why_len > 0)
            snprintf(why, why_len, "not a rate (N, N/s, N/m or N/h)");
        return rc;
    }
    if (n <= 0) {
        if (why != NULL && why_len > 0)
            snprintf(why, why_len, "must be more than 0");
        return CTK_ERANGE;
    }
    *per_sec = n / unit;
    return 0;
}

ctk_rate *ctk_rate_new(double per_sec)
{
    if (!(per_sec > 0))
        return NULL;
    ctk_rate *rate = calloc(1, sizeof *rate);
    if (rate == NULL)
        return NULL;
    pthread_mutex_init(&rate->lock, NULL);
    rate->interval = 1.0 / per_sec;
    rate->next_slot = -1;
    return rate;
}

void ctk_rate_free(ctk_rate *rate)
{
    if (rate == NULL)
        return;
    pthread_mutex_destroy(&rate->lock);
    free(rate);
}

double ctk_rate_reserve(ctk_rate *rate, double now)
{
    pthread_mutex_lock(&rate->lock);
    /* An idle spell earns no credit: the slot moves up to now, so a pause
     * is never followed by a burst. */
    double slot = rate->next_slot < now ? now : rate->next_slot;
    rate->next_slot = slot + rate->interval;
    pthread_mutex_unlock(&rate->lock);
    return slot - now;
}

double ctk_rate_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int ctk_rate_wait(ctk_rate *rate, const int *cancel, int cancel_fd)
{
    double now = ctk_rate_clock();
    double due = now + ctk_rate_reserve(rate, now);
    for (;;) {
        if (cancel != NULL && __atomic_load_n(cancel, __ATOMIC_RELAXED) != 0)
            return CTK_ECANCELED;
        double left = due - ctk_rate_clock();
        if (left <= 0)
            return 0;
        if (cancel_fd >= 0) {
            /* One sleep to the due time, cut short by a cancel. */
            struct pollfd p = {.fd = cancel_fd, .events = POLLIN};
            if (poll(&p, 1, (int)(left * 1000) + 1) > 0 && (p.revents & POLLIN))
                return CTK_ECANCELED;
            continue;
        }
        if (left > 0.05)
            left = 0.05;
        struct timespec ts = {(time_t)left, (long)((left - (double)(time_t)left) * 1e9)};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
}
