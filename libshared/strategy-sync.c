/* strategy-sync.c: one unit after another in the calling thread; the
 * baseline every comparison is measured against. */
#include "strategies.h"

static int sync_execute(ctk_exec *exec, void *data)
{
    (void)data;
    ctk_unit *unit;
    while (ctk_exec_next(exec, &unit, CTK_WAIT) == 0) {
        ctk_exec_run_unit(exec, unit);
        ctk_exec_done(exec, unit);
    }
    return 0;
}

const ctk_strategy_ops ctk__strategy_sync = {
    .name = "sync",
    .summary = "one unit after another in the calling thread (the baseline)",
    .flags = CTK_STRATEGY_SERIAL | CTK_STRATEGY_ONE_THREAD,
    .execute = sync_execute,
};
