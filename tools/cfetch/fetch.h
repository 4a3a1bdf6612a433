/*
 * fetch.h: cfetch's engine on libcurl as one ctk_work: one URL is one unit
 * of work. The blocking form (`run`, for strategies that call it) is
 * fetch-block.c's, the non-blocking form (`start`, for a strategy with a
 * libuv loop) fetch-async.c's; both drive a transfer through transfer.c's
 * steps. This file only owns them and the options they share: the top of
 * the engine, which nothing below calls back.
 */
#ifndef CTK_FETCH_H
#define CTK_FETCH_H

#include "transfer.h"

typedef struct ctk_fetch ctk_fetch;

/* Call before any thread starts (curl's global init is not thread-safe). */
int ctk_fetch_new(ctk_fetch **out, const ctk_fetch_opts *opts);
void ctk_fetch_free(ctk_fetch *f);
ctk_work ctk_fetch_work(ctk_fetch *f);
/* The run's cancel flag and cancel fd (ctk_pipeline_cancel_flag and
 * ctk_pipeline_cancel_fd; -1: none), before the run starts: both engines
 * wait on the fd beside their sockets, so a cancelled run ends its
 * transfers at once and an idle one never wakes to look at the flag. */
void ctk_fetch_set_cancel(ctk_fetch *f, const int *cancel, int cancel_fd);

#endif
