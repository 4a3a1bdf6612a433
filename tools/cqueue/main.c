/*
 * cqueue: a durable producer/consumer job queue for the shell. Parses the
 * global options and one command from a table (opts.c); what each command
 * does is cqcmd.c, the queue itself (leases, workers) jobq.c over a store
 * that is registered, as a plugin's would be, and picked by the --db value.
 */
#include <stdio.h>

#include "cqcmd.h"
#include "ctkx/closeout.h"
#include "ctkx/cli.h"
#include "opts.h"
#include "store-sqlite.h"

#define PROG CQUEUE_PROG

static int run_call(ctk_cqcmd_opts *o, ctk_registry *reg, const cqueue_call *call)
{
    ctk_cqcmd x = {.o = o,
                   .reg = reg,
                   .side = {.dir_fd = -1, .out_fd = -1},
                   .args = call->args,
                   .n_args = call->n_args};
    int status = ctk_cqcmd_prepare(&x, call->with_store);
    if (status == 0)
        status = call->run(&x);
    ctk_cqcmd_close(&x);
    return status;
}

int main(int argc, char **argv)
{
    ctk_cqcmd_opts o;
    cqueue_call call;
    ctk_registry *reg;
    int status;
    ctk_cli_guard_stdio();
    ctk_closeout_init(PROG, 1);
    cqueue_opts_init(&o);
    /* The built-in store registers as a plugin's would: --db picks either. */
    if (ctk_registry_new(&reg) < 0) {
        cqueue_opts_free(&o);
        fputs(PROG ": out of memory\n", stderr);
        return 1;
    }
    int rc = ctk_register_store(reg, ctk_store_sqlite_ops(), NULL, NULL);
    if (rc < 0)
        status = (fprintf(stderr, PROG ": the sqlite store: %s\n", ctk_strerror(rc)), 1);
    else if ((status = cqueue_opts_parse(&o, reg, argc, argv, &call)) < 0)
        status = run_call(&o, reg, &call);
    cqueue_opts_free(&o);
    ctk_registry_free(reg);
    return status;
}
