/*
 * strategies.h: the four built-in strategies, registered by the registry
 * like any plugin's. Each lives in its own file (strategy-<name>.c).
 */
#ifndef CTK_STRATEGIES_H
#define CTK_STRATEGIES_H

#include "ctk/plugin.h"

extern const ctk_strategy_ops ctk__strategy_sync;
extern const ctk_strategy_ops ctk__strategy_thread;
extern const ctk_strategy_ops ctk__strategy_process;
extern const ctk_strategy_ops ctk__strategy_async;

/* A strategy that calls ctk_exec_next and ctk_exec_done from one thread
 * only, and never waits in ctk_exec_next, asks the pipeline to produce
 * and consume on that thread (pipeline.c). Returns 1 when it does so for
 * the rest of the run (the tool allowed it: inline_ok), 0 when the reader
 * and writer threads carry units as usual. Call before the first
 * ctk_exec_next. In inline mode ctk_exec_next returns CTK_EAGAIN while the
 * window is full; a ctk_exec_done frees room. */
int ctk__exec_go_inline(ctk_exec *exec);

#endif
