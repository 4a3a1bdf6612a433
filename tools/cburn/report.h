/*
 * report.h: cburn's two runs over the burn engine, as the command prints
 * them: the table (one row per strategy and --share mode, each row in its
 * own process under --compare) and map mode (one record per input line).
 */
#ifndef CBURN_REPORT_H
#define CBURN_REPORT_H

#include "burn.h"
#include "ctkx/cli.h"

#define PROG "cburn"

typedef struct cburn_opts {
    const char *workload;
    uint64_t tasks, size;
    double duration, switch_ms;
    int gil, list_workloads;
    ctk_share shares[CTK_SHARE_COUNT];
    size_t n_shares;
} cburn_opts;

typedef struct cburn_run {
    cburn_opts *opts;
    ctk_common *common;
    const ctk_workload *workload;
    ctk_sigwatch *signals; /* in-process runs only: rows run isolated */
    unsigned jobs;
    int stopped_by; /* the signal that ended the run, or 0 */
} cburn_run;

/* Each returns the command's exit status. */
int cburn_run_table(cburn_run *run, ctk_registry *reg);
int cburn_run_map(cburn_run *run, ctk_registry *reg);

#endif
