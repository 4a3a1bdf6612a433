/*
 * ctk/isolate.h: runs a function in a forked child and measures it from
 * outside (wait4), so each row of a --compare table gets its own CPU time
 * and peak memory, children included, untouched by the rows before it.
 */
#ifndef CTK_ISOLATE_H
#define CTK_ISOLATE_H

#include <sys/types.h>

#include "ctk/plugin.h"
#include "ctk/stats.h"

/* Runs in the child; fills result with bytes for the parent and returns
 * 0 or a negative code, which the parent gets back. */
typedef int (*ctk_isolated_fn)(void *arg, ctk_buf *result);

typedef struct ctk_isolate {
    pid_t child; /* the running child, 0 when none; read by forward() */
} ctk_isolate;

/* Returns fn's code; CTK_ECHILD when the child died without answering
 * (message in *why if not NULL, malloc'd); *signo the signal that ended
 * it or 0. usage covers the child and everything it waited for. */
CTK_EXTERN int ctk_isolate_run(ctk_isolate *iso, ctk_isolated_fn fn, void *arg, ctk_buf *result,
                               ctk_usage *usage, int *signo);
/* Sends signo to the running child, if any (from a signal thread). */
CTK_EXTERN void ctk_isolate_forward(ctk_isolate *iso, int signo);

#endif
