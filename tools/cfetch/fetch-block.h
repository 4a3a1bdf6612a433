/*
 * fetch-block.h: the blocking engine (for strategies that call a unit's
 * `run`: sync, thread, process). Each thread keeps one easy handle on its
 * own curl multi handle for its life, so its transfers reuse connections,
 * and waits in curl_multi_poll with the run's cancel fd beside curl's
 * sockets: a cancelled run ends a transfer at once, with no timer.
 * --per-host limits are shared by threads and forked workers. Depends on
 * transfer.h only.
 */
#ifndef CTK_FETCH_BLOCK_H
#define CTK_FETCH_BLOCK_H

#include "transfer.h"

typedef struct ctk__block ctk__block;

/* conf must outlive the engine. 0, CTK_ENOMEM or CTK_ESYS. */
int ctk__block_new(ctk__block **out, const ctk__xfer_conf *conf);
/* Frees the engine and the calling thread's handles (other threads'
 * went when they ended). */
void ctk__block_free(ctk__block *b);
/* Runs one unit to its end; returns unit->status. cancel_fd (-1: none)
 * turns readable, and *cancel non-zero, when the run is cancelled. */
int ctk__block_run(ctk__block *b, ctk_unit *unit, const int *cancel, int cancel_fd);

#endif
