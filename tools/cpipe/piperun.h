/*
 * ctk/piperun.h: cpipe's runs as a whole, over pipe.h: one run (the bar,
 * signals forwarded to the filters and the --reduce command, the outcome
 * mapped to an exit status) and --compare (each strategy in its own
 * process on the same seekable input, outputs digested and checked
 * equal). Messages go to stderr as "prog: ...".
 */
#ifndef CTK_PIPERUN_H
#define CTK_PIPERUN_H

#include "ctkx/cli.h"
#include "pipe.h"
#include "ctkx/sigwatch.h"

typedef struct ctk_piperun {
    const char *prog;
    ctk_pipe_opts po;
    const ctk_strategy *strategy;
    int unordered;
    int force_progress;
    ctk_sigwatch *signals;    /* NULL: start one (an isolated row) */
    ctk_spawn_child *reducer; /* --reduce's, to signal with the filters */
} ctk_piperun;

/* Like GNU parallel, runs fewer filters at once than -j asks rather than
 * failing mid-run with EMFILE: raises the soft limit toward the hard one,
 * then, if that is not enough, returns fewer jobs with a warning. */
unsigned ctk_piperun_fit_jobs(const char *prog, unsigned jobs);
/* Runs every block, then --reduce's command (NULL: none) on the outputs
 * in order; returns the exit status. */
int ctk_piperun_run(const ctk_piperun *plan, const char *reduce);
/* --compare reads the input once per row: a pipe is kept in a temporary
 * file in tmpdir (NULL: $TMPDIR) first. Returns a new fd, or -1 (message
 * printed). */
int ctk_piperun_seekable_copy(const char *prog, int fd, const char *tmpdir);
/* Each strategy in names in its own child on plan->po.in_fd (seekable);
 * prints the table on stdout and returns the exit status. */
int ctk_piperun_compare(ctk_piperun *plan, char **names, const ctk_common *c, ctk_registry *reg);

#endif
