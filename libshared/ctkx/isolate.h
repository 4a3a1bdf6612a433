/*
 * ctk/isolate.h: runs a function in a forked child and measures it from
 * outside (wait4), so each row of a --compare table gets its own CPU time
 * and peak memory, children included, untouched by the rows before it.
 *
 * The parent stays single-threaded while it waits (a signalfd, no signal
 * thread), so the child may start threads of its own: forking a process
 * that has threads is what this avoids. SIGINT, SIGTERM and SIGHUP that
 * reach the parent meanwhile are forwarded to the child.
 */
#ifndef CTK_ISOLATE_H
#define CTK_ISOLATE_H

#include <sys/types.h>

#include "ctk/plugin.h"
#include "ctkx/stats.h"

/* Runs in the child; fills result with bytes for the parent and returns
 * 0 or a negative code, which the parent gets back. */
typedef int (*ctk_isolated_fn)(void *arg, ctk_buf *result);

/* Returns fn's code, or CTK_ECHILD when the child died without answering.
 * *died_of: the signal that ended the child, or 0. *forwarded: the first
 * signal the parent received and passed on, or 0. usage covers the child
 * and everything it waited for. Call from a thread with no siblings. */
int ctk_isolate_run(ctk_isolated_fn fn, void *arg, ctk_buf *result, ctk_usage *usage, int *died_of,
                    int *forwarded);

#endif
