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

#endif
