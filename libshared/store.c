/*
 * store.c: what every cqueue store shares (see ctk/store.h): state names
 * and the job record's clean-up, so a store plugin fills the same record
 * the built-in SQLite store does.
 */
#include <glib.h>
#include <string.h>

#include "ctk/store.h"

static const char *const state_names[CTK_JOB_NSTATES] = {"queued", "running", "done", "failed",
                                                         "cancelled"};

const char *ctk_job_state_name(ctk_job_state s)
{
    return (unsigned)s < CTK_JOB_NSTATES ? state_names[s] : NULL;
}

int ctk_job_state_parse(const char *text, ctk_job_state *out)
{
    for (int i = 0; i < CTK_JOB_NSTATES; i++)
        if (strcmp(text, state_names[i]) == 0) {
            *out = (ctk_job_state)i;
            return 0;
        }
    return CTK_EINVAL;
}

void ctk_job_clear(ctk_job *job)
{
    g_free(job->queue);
    g_free(job->name);
    g_free(job->cmd);
    g_free(job->cwd);
    g_free(job->key);
    g_strfreev(job->argv);
    g_strfreev(job->env);
    g_free(job->reason);
    g_free(job->worker);
    g_free(job->after);
    memset(job, 0, sizeof *job);
}

int ctk_store_open(ctk_store **out, const ctk_store_ops *ops, const ctk_store_opts *opts, char *err,
                   size_t err_len)
{
    return ops->open(out, opts, err, err_len);
}

void ctk_store_close(ctk_store *st)
{
    if (st != NULL)
        st->ops->close(st);
}
