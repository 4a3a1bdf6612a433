/*
 * forkserver.h: a process that forks workers on request (Python's
 * multiprocessing calls it the forkserver). fork() in a process that has
 * other threads copies whatever locks they hold at that instant (malloc's,
 * GLib's, a sanitizer's) into a child that can never release them; the
 * forkserver is forked once, at a moment when the caller has no busy
 * threads, and every worker is then forked from it, single-threaded.
 * Workers are its children: it reaps them and reports how they ended.
 */
#ifndef CTK_FORKSERVER_H
#define CTK_FORKSERVER_H

#include <sys/types.h>

typedef struct ctk__forkserver ctk__forkserver;

/* Runs in each worker with its end of a socketpair; must not return. */
typedef void (*ctk__worker_fn)(void *arg, int fd);

/* Forks the server now. Call before starting threads that allocate. */
int ctk__forkserver_start(ctk__forkserver **out, ctk__worker_fn worker, void *arg);
/* A new worker: its pid and the parent's end of its socketpair.
 * Thread-safe. */
int ctk__forkserver_spawn(ctk__forkserver *fs, pid_t *pid, int *fd);
/* Waits for worker pid to end and returns its wait status. Thread-safe. */
int ctk__forkserver_reap(ctk__forkserver *fs, pid_t pid, int *status);
/* Ends the server; it reaps what is left first. */
void ctk__forkserver_stop(ctk__forkserver *fs);

#endif
