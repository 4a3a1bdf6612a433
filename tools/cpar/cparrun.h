/* cparrun.h: cpar's run, from parsed options to its exit status. */
#ifndef CTK_CPARRUN_H
#define CTK_CPARRUN_H

#include "ctk/registry.h"
#include "opts.h"

/* Opens the input, builds the command and the outputs, runs the jobs.
 * Returns cpar's exit status. */
int cpar_run(cpar_opts *o, ctk_common *c, ctk_registry *reg, int first);

#endif
