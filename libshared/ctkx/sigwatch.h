/*
 * ctk/sigwatch.h: SIGINT, SIGTERM and SIGHUP handled by one thread that
 * waits for them (sigwait), so the reaction (cancel a pipeline, forward to
 * a child) runs as ordinary code, not in a signal handler. Start it before
 * any other thread: the signals are blocked in the calling thread and so
 * in every thread it creates afterwards.
 */
#ifndef CTK_SIGWATCH_H
#define CTK_SIGWATCH_H

#include "ctk/common.h"

typedef struct ctk_sigwatch ctk_sigwatch;
typedef void (*ctk_signal_fn)(void *arg, int signo);

int ctk_sigwatch_start(ctk_sigwatch **out, ctk_signal_fn on_signal, void *arg);
/* Changes who is told (e.g. the pipeline of the next run); thread-safe. */
void ctk_sigwatch_retarget(ctk_sigwatch *w, ctk_signal_fn on_signal, void *arg);
/* The first signal received so far, or 0. */
int ctk_sigwatch_received(ctk_sigwatch *w);
/* Stops the thread and restores the signal mask. Returns received(). */
int ctk_sigwatch_stop(ctk_sigwatch *w);
/* A SIGINT, SIGTERM or SIGHUP that is blocked and pending in this thread,
 * taken (so it will not fire later), or 0. */
int ctk_signal_pending(void);
/* The shell's exit status for a signal: 128 + signo. */
int ctk_signal_exit_status(int signo);

#endif
