/*
 * store.c: what every cqueue store shares (see ctk/store.h): state names,
 * the job record's clean-up, finding a store by name, and the rules for
 * where the database and its side folder live.
 */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

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

const ctk_store_ops *ctk_store_find(const char *name)
{
    const ctk_store_ops *builtin = ctk_store_sqlite_ops();
    return strcmp(name, builtin->name) == 0 ? builtin : NULL;
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

/* Makes dir (and its parents) private to the user. */
static int make_private_dir(const char *dir, char *err, size_t err_len)
{
    if (g_mkdir_with_parents(dir, 0700) == 0)
        return 0;
    snprintf(err, err_len, "cannot create %s: %s", dir, g_strerror(errno));
    return CTK_EIO;
}

int ctk_store_default_path(const char *db_opt, char **out, char *err, size_t err_len)
{
    const char *env = g_getenv("CQUEUE_DB");
    if (env != NULL && *env != '\0') {
        *out = g_strdup(env);
        return 0;
    }
    if (db_opt != NULL) {
        *out = g_strdup(db_opt);
        return 0;
    }
    const char *state = g_getenv("XDG_STATE_HOME");
    char *dir = state != NULL && *state == '/'
                    ? g_build_filename(state, "ctk", NULL)
                    : g_build_filename(g_get_home_dir(), ".local", "state", "ctk", NULL);
    int rc = make_private_dir(dir, err, err_len);
    *out = rc == 0 ? g_build_filename(dir, "queue.db", NULL) : NULL;
    g_free(dir);
    return rc;
}

int ctk_store_side_dir(const char *db_path, char **out, char *err, size_t err_len)
{
    char *dir = g_strconcat(db_path, ".d", NULL);
    char *jobs = g_build_filename(dir, "out", NULL);
    int rc = make_private_dir(jobs, err, err_len);
    g_free(jobs);
    if (rc < 0) {
        g_free(dir);
        return rc;
    }
    *out = dir;
    return 0;
}
