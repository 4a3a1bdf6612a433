/*
 * fetch-async.h: the async engine (for a strategy that calls a unit's
 * `start` on its libuv loop): one curl multi handle driven through curl's
 * socket and timer callbacks, and a uv_poll on the run's cancel fd while
 * transfers are in flight, so a cancelled run aborts them at once with no
 * timer. Depends on transfer.h only.
 */
#ifndef CTK_FETCH_ASYNC_H
#define CTK_FETCH_ASYNC_H

#include "transfer.h"

typedef struct ctk__multi ctk__multi;

/* conf must outlive the engine. cancel and cancel_fd (-1: none) are the
 * run's; the engine watches its own duplicate of the fd. 0, CTK_ENOMEM
 * or CTK_ESYS. */
int ctk__multi_new(ctk__multi **out, const ctk__xfer_conf *conf, const int *cancel, int cancel_fd);
/* Frees the engine once nothing is in flight (the loop may be gone). */
void ctk__multi_free(ctk__multi *m);
/* ctk_start_fn: starts unit on loop; done is called once, from the loop.
 * CTK_EINVAL while transfers are in flight on another loop. */
int ctk__multi_start(ctk__multi *m, uv_loop_t *loop, ctk_unit *unit, ctk_done_fn done,
                     void *done_arg);

#endif
