#ifndef CPIPE_OPERANDS_H
#define CPIPE_OPERANDS_H

#include <glib.h>
#include <stddef.h>

#include "opts.h"

/* --tee's filters: one per job the operands after FILTER make, combined
 * as cpar combines them (::: crossed, :::+ linked, :::: FILE), the file
 * --pipepart reads as the input left out. */
typedef struct tee_jobs {
    GPtrArray *words; /* every column's bytes (g_free) */
    GArray *items;    /* ctk_cmdline_item, all jobs' columns in order */
    GArray *args;     /* ctk_cmdline_args, one per job (cols set at the end) */
} tee_jobs;

int cpipe_cut_sources(cpipe_opts *o, int first, int argc, char **argv);
int cpipe_tee_jobs_read(tee_jobs *t, const cpipe_opts *o, int end, int argc, char **argv, char *err,
                        size_t err_len);
void cpipe_tee_jobs_free(tee_jobs *t);
int cpipe_has_sources(int first, int argc, char **argv);

#endif
