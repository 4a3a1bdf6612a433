/*
 * gil.h: a global interpreter lock as CPython has one. A thread holds it
 * while it computes and hands it over once it has held it for the switch
 * interval and another thread is waiting; handover is FIFO (a ticket
 * lock), so a releasing thread cannot immediately take it back. Threads
 * then take turns on one core's worth of work: the course's lesson that
 * threads under a GIL give no speedup on CPU-bound work.
 */
#ifndef CTK_GIL_H
#define CTK_GIL_H

#include <pthread.h>
#include <stdint.h>

typedef struct ctk__gil {
    pthread_mutex_t lock;
    pthread_cond_t turn;
    uint64_t next_ticket;
    uint64_t serving;
    unsigned waiting;   /* read without the lock by the holder */
    double interval;    /* seconds a holder keeps it while others wait */
    double acquired_at; /* the holder's clock when it took it */
    uint64_t switches;  /* handovers to another thread */
} ctk__gil;

int ctk__gil_init(ctk__gil *gil, double interval);
void ctk__gil_destroy(ctk__gil *gil);
void ctk__gil_acquire(ctk__gil *gil);
void ctk__gil_release(ctk__gil *gil);
/* Called by the holder between slices of work: hands the lock over when
 * the interval has passed and someone waits. Returns 1 when it did. */
int ctk__gil_yield(ctk__gil *gil);
uint64_t ctk__gil_switches(ctk__gil *gil);

#endif
