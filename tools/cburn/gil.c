/* gil.c: the ticket lock behind cburn --gil (see gil.h for why). */
#include <time.h>

#include "ctk/common.h"
#include "gil.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int ctk__gil_init(ctk__gil *gil, double interval)
{
    *gil = (ctk__gil){.interval = interval};
    if (pthread_mutex_init(&gil->lock, NULL) != 0)
        return CTK_ESYS;
    if (pthread_cond_init(&gil->turn, NULL) != 0) {
        pthread_mutex_destroy(&gil->lock);
        return CTK_ESYS;
    }
    return 0;
}

void ctk__gil_destroy(ctk__gil *gil)
{
    pthread_cond_destroy(&gil->turn);
    pthread_mutex_destroy(&gil->lock);
}

void ctk__gil_acquire(ctk__gil *gil)
{
    pthread_mutex_lock(&gil->lock);
    uint64_t ticket = gil->next_ticket++;
    if (ticket != gil->serving) {
        __atomic_add_fetch(&gil->waiting, 1, __ATOMIC_RELAXED);
        while (ticket != gil->serving)
            pthread_cond_wait(&gil->turn, &gil->lock);
        __atomic_sub_fetch(&gil->waiting, 1, __ATOMIC_RELAXED);
    }
    gil->acquired_at = now();
    pthread_mutex_unlock(&gil->lock);
}

void ctk__gil_release(ctk__gil *gil)
{
    pthread_mutex_lock(&gil->lock);
    gil->serving++;
    pthread_cond_broadcast(&gil->turn);
    pthread_mutex_unlock(&gil->lock);
}

int ctk__gil_yield(ctk__gil *gil)
{
    if (__atomic_load_n(&gil->waiting, __ATOMIC_RELAXED) == 0)
        return 0;
    pthread_mutex_lock(&gil->lock);
    int due = now() - gil->acquired_at >= gil->interval;
    pthread_mutex_unlock(&gil->lock);
    if (!due)
        return 0;
    ctk__gil_release(gil);
    ctk__gil_acquire(gil);
    pthread_mutex_lock(&gil->lock);
    gil->switches++;
    pthread_mutex_unlock(&gil->lock);
    return 1;
}

uint64_t ctk__gil_switches(ctk__gil *gil)
{
    pthread_mutex_lock(&gil->lock);
    uint64_t n = gil->switches;
    pthread_mutex_unlock(&gil->lock);
    return n;
}
