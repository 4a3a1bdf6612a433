/*
 * cburn: CPU-bound work under each concurrency strategy, measured.
 * Parses options, then hands the work to libctk's burn engine and prints
 * one row per strategy (or, in map mode, one record per input line).
 */
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "burn.h"
#include "report.h"
#include "workloads.h"
#include "ctkx/closeout.h"
#include "ctkx/cli.h"
#include "ctkx/compare.h"
#include "ctkx/isolate.h"
#include "ctkx/parse.h"

enum {
    OPT_WORKLOAD = 256,
    OPT_TASKS,
    OPT_SIZE,
    OPT_DURATION,
    OPT_GIL,
    OPT_SWITCH,
    OPT_SHARE,
    OPT_LIST_WORKLOADS,
};

static const ctk_cli_option cburn_options[] = {
    {"workload", 'w', CTK_ARG_REQUIRED, "NAME", "sumsq (default), primes, sha256, matmul, ...",
     OPT_WORKLOAD},
    {"tasks", 't', CTK_ARG_REQUIRED, "N", "split the work into N tasks (default 16)", OPT_TASKS},
    {"size", 'n', CTK_ARG_REQUIRED, "S", "iterations per task (suffixes k, M, G, T: x1024)",
     OPT_SIZE},
    {"duration", 'd', CTK_ARG_REQUIRED, "SECS", "start tasks until SECS have passed; report ops/s",
     OPT_DURATION},
    {"gil", 0, CTK_ARG_NONE, NULL, "hold one global lock while computing, as CPython does",
     OPT_GIL},
    {"switch-interval", 0, CTK_ARG_REQUIRED, "MS", "GIL hand-over interval (default 5)",
     OPT_SWITCH},
    {"share", 0, CTK_ARG_REQUIRED, "MODES",
     "add into one shared total: none, lock, atomic, shm (all: those four), ordered, crossed "
     "(two locks)",
     OPT_SHARE},
    {"list-workloads", 0, CTK_ARG_NONE, NULL, "list the workloads and exit", OPT_LIST_WORKLOADS},
    {NULL, 0, 0, NULL, NULL, 0},
};

static int parse_shares(cburn_opts *o, const char *value, char *why, size_t why_len)
{
    char **names = g_strsplit(value, ",", -1);
    int rc = 0;
    o->n_shares = 0;
    for (char **n = names; *n != NULL && rc == 0; n++) {
        if (strcmp(*n, "all") == 0) {
            for (int m = 0; m < CTK_SHARE_ALL_COUNT; m++)
                o->shares[m] = (ctk_share)m;
            o->n_shares = CTK_SHARE_ALL_COUNT;
        } else if (o->n_shares == CTK_SHARE_COUNT ||
                   ctk_share_parse(*n, &o->shares[o->n_shares++]) < 0) {
            snprintf(why, why_len,
                     "unknown mode '%s' (known: none, lock, atomic, shm, all, ordered, crossed)",
                     *n);
            rc = CTK_EINVAL;
        }
    }
    g_strfreev(names);
    return rc;
}

static int on_option(void *arg, int id, const char *value, char *why, size_t why_len)
{
    cburn_opts *o = arg;
    switch (id) {
    case OPT_WORKLOAD:
        o->workload = value;
        return 0;
    case OPT_TASKS:
        return ctk_parse_u64(value, 1, 100000000, &o->tasks, why, why_len);
    case OPT_SIZE:
        return ctk_parse_size(value, CTK_SIZE_BINARY, 1, UINT64_MAX / 2, &o->size, why, why_len);
    case OPT_DURATION: {
        int rc = ctk_parse_seconds(value, 86400, &o->duration, why, why_len);
        if (rc == 0 && o->duration <= 0) {
            snprintf(why, why_len, "must be more than 0");
            rc = CTK_ERANGE;
        }
        return rc;
    }
    case OPT_GIL:
        o->gil = 1;
        return 0;
    case OPT_SWITCH: {
        int rc = ctk_parse_seconds(value, 10000, &o->switch_ms, why, why_len);
        if (rc < 0)
            snprintf(why, why_len, "not a number of milliseconds");
        else if (o->switch_ms <= 0) {
            snprintf(why, why_len, "must be more than 0");
            rc = CTK_ERANGE;
        }
        return rc;
    }
    case OPT_SHARE:
        return parse_shares(o, value, why, why_len);
    case OPT_LIST_WORKLOADS:
        o->list_workloads = 1;
        return 0;
    }
    return CTK_EINVAL;
}

static const ctk_cli cburn_cli = {
    .prog = PROG,
    .synopsis = "[OPTION]...\n[OPTION]... --compare[=LIST]\n[OPTION]... -",
    .summary = "Run CPU-bound work split into tasks under a concurrency strategy and print\n"
               "what it cost: wall and CPU time, speedup, efficiency, memory, throughput.\n"
               "With '-', read one task size per line and write one record per line.",
    .options = cburn_options,
    .handler = on_option,
};

/* ---- main ------------------------------------------------------------------- */

static int usage_error(const char *message)
{
    fprintf(stderr, PROG ": %s\nTry '" PROG " --help' for more information.\n", message);
    return 2;
}

static void warn_plugin(void *arg, const ctk_plugin_error *err)
{
    (void)arg;
    fprintf(stderr, PROG ": plugin %s: %s\n", err->file, err->reason);
}

/* A workload not built in may be a plugin of that name in the path. */
static const ctk_workload *find_workload(ctk_registry *reg, const char *name, char *err,
                                         size_t err_len)
{
    const ctk_workload *w = ctk_registry_workload(reg, name);
    ctk_plugin_error perr;
    if (w == NULL && ctk_registry_load_name(reg, name, &perr) == 0)
        w = ctk_registry_workload(reg, name);
    if (w == NULL) {
        char *known = ctk_registry_names_joined(reg, CTK_KIND_WORKLOAD);
        snprintf(err, err_len, "unknown workload '%s' (known: %s)", name, known);
        free(known);
    }
    return w;
}

/* --list-workloads, or the shared informational options. */
static int informational(const ctk_common *common, const cburn_opts *o, ctk_registry *reg)
{
    if (!o->list_workloads)
        return ctk_cli_inform(&cburn_cli, reg, common, stdout, warn_plugin, NULL);
    ctk_registry_load_all(reg, warn_plugin, NULL);
    char **names = ctk_registry_names(reg, CTK_KIND_WORKLOAD);
    for (char **n = names; *n != NULL; n++)
        printf("%-10s %s\n", *n, ctk_registry_workload(reg, *n)->ops->summary);
    g_strfreev(names);
    return 1;
}

int main(int argc, char **argv)
{
    cburn_opts o = {.workload = "sumsq", .tasks = 16, .switch_ms = 5, .n_shares = 1};
    ctk_common common = {0};
    ctk_registry *reg;
    char err[1600];
    int operands, status;
    ctk_cli_guard_stdio();
    ctk_closeout_init(PROG, 1);
    ctk_cli cli = cburn_cli;
    cli.handler_arg = &o;
    if (ctk_registry_new(&reg) < 0 || cburn_register_workloads(reg) < 0) {
        fprintf(stderr, PROG ": cannot set up the registry\n");
        return 2;
    }
    int rc = ctk_cli_parse(&cli, reg, argc, argv, &common, &operands, err, sizeof err);
    if (rc < 0) {
        status = rc == CTK_EINVAL ? usage_error(err) : (fprintf(stderr, PROG ": %s\n", err), 2);
        goto out;
    }
    status = 0;
    if (informational(&common, &o, reg))
        goto out;
    int map = operands < argc && strcmp(argv[operands], "-") == 0;
    cburn_run run = {&o,
                     &common,
                     find_workload(reg, o.workload, err, sizeof err),
                     NULL,
                     common.jobs ? common.jobs : ctk_cpu_count(),
                     0};
    if (operands + map < argc) {
        snprintf(err, sizeof err, "unexpected argument '%s'", argv[operands + map]);
        status = usage_error(err);
    } else if (run.workload == NULL) {
        status = usage_error(err);
    } else if (map && (common.compare != NULL || o.n_shares > 1 || o.duration > 0)) {
        status = usage_error("'-' (map mode) takes no --compare, --duration or share list");
    }
    if (status != 0)
        goto out;
    if (o.size == 0)
        o.size = run.workload->ops->default_size;
    /* --compare rows run in child processes; the parent then waits with
     * no thread of its own, so it must not start a signal thread. */
    if (common.compare == NULL)
        ctk_sigwatch_start(&run.signals, NULL, NULL);
    status = map ? cburn_run_map(&run, reg) : cburn_run_table(&run, reg);
    int signo = ctk_sigwatch_stop(run.signals);
    if (signo == 0)
        signo = run.stopped_by;
    if (signo != 0)
        status = ctk_signal_exit_status(signo);
out:
    ctk_common_free(&common);
    ctk_registry_free(reg);
    return status;
}
