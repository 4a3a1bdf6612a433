/*
 * jobunit.c: cqueue's unit and result encodings (see jobunit.h).
 */
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "jobunit.h"

/* A string array is its count, or UINT64_MAX for none, then its strings. */
#define NO_ARRAY UINT64_MAX

static int put_strv(ctk_buf *b, char *const *v)
{
    if (v == NULL)
        return ctk_wire_put_u64(b, NO_ARRAY);
    uint64_t n = 0;
    while (v[n] != NULL)
        n++;
    int rc = ctk_wire_put_u64(b, n);
    for (uint64_t i = 0; rc == 0 && i < n; i++)
        rc = ctk_wire_put_str(b, v[i]);
    return rc;
}

static void free_strv(char **v)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    g_free(v);
}

static int get_strv(ctk_wire_reader *r, char ***out)
{
    uint64_t n;
    int rc = ctk_wire_get_u64(r, &n);
    *out = NULL;
    if (rc < 0 || n == NO_ARRAY)
        return rc;
    /* Each string takes at least its 8-byte length: a count the bytes
     * cannot hold is malformed, not an allocation to attempt. */
    if (n > r->left / 8)
        return CTK_EIO;
    char **v = g_try_new0(char *, n + 1);
    if (v == NULL)
        return CTK_ENOMEM;
    for (uint64_t i = 0; i < n; i++) {
        char *s = NULL;
        if ((rc = ctk_wire_get_str(r, &s)) < 0 || s == NULL) {
            free_strv(v);
            return rc < 0 ? rc : CTK_EIO;
        }
        v[i] = s;
    }
    *out = v;
    return 0;
}

int cq_jobunit_encode(ctk_buf *b, const ctk_job *job, const char *out_path, const char *err_path)
{
    int rc = ctk_wire_put_i64(b, job->id);
    if (rc == 0)
        rc = ctk_wire_put_u64(b, job->attempts);
    if (rc == 0)
        rc = ctk_wire_put_str(b, job->cmd);
    if (rc == 0)
        rc = put_strv(b, job->argv);
    if (rc == 0)
        rc = put_strv(b, job->env);
    if (rc == 0)
        rc = ctk_wire_put_str(b, job->cwd);
    if (rc == 0)
        rc = ctk_wire_put_f64(b, job->timeout);
    if (rc == 0)
        rc = ctk_wire_put_str(b, out_path);
    if (rc == 0)
        rc = ctk_wire_put_str(b, err_path);
    return rc;
}

int cq_jobunit_decode(const void *data, size_t len, cq_jobunit *u)
{
    ctk_wire_reader r;
    memset(u, 0, sizeof *u);
    ctk_wire_reader_init(&r, data, len);
    int rc = ctk_wire_get_i64(&r, &u->id);
    if (rc == 0)
        rc = ctk_wire_get_u64(&r, &u->attempt);
    if (rc == 0)
        rc = ctk_wire_get_str(&r, &u->cmd);
    if (rc == 0)
        rc = get_strv(&r, &u->argv);
    if (rc == 0)
        rc = get_strv(&r, &u->env);
    if (rc == 0)
        rc = ctk_wire_get_str(&r, &u->cwd);
    if (rc == 0)
        rc = ctk_wire_get_f64(&r, &u->timeout);
    if (rc == 0)
        rc = ctk_wire_get_str(&r, &u->out_path);
    if (rc == 0)
        rc = ctk_wire_get_str(&r, &u->err_path);
    /* A job runs a command and writes somewhere, or it is not a job. */
    if (rc == 0 &&
        ((u->cmd == NULL && u->argv == NULL) || (u->argv != NULL && u->argv[0] == NULL) ||
         u->out_path == NULL || u->err_path == NULL || r.left != 0))
        rc = CTK_EIO;
    if (rc < 0)
        cq_jobunit_clear(u);
    return rc;
}

void cq_jobunit_clear(cq_jobunit *u)
{
    free(u->cmd);
    free_strv(u->argv);
    free_strv(u->env);
    free(u->cwd);
    free(u->out_path);
    free(u->err_path);
    memset(u, 0, sizeof *u);
}

int cq_outcome_encode(ctk_buf *b, const cq_outcome *o)
{
    const int64_t f[] = {o->id, o->exit_code, o->signal,     o->exec_errno,
                         o->rc, o->timed_out, o->terminated, o->unstarted};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < G_N_ELEMENTS(f); i++)
        rc = ctk_wire_put_i64(b, f[i]);
    return rc == 0 ? ctk_wire_put_str(b, o->reason) : rc;
}

int cq_outcome_decode(const void *data, size_t len, cq_outcome *o)
{
    ctk_wire_reader r;
    memset(o, 0, sizeof *o);
    ctk_wire_reader_init(&r, data, len);
    int64_t *f[] = {&o->id, &o->exit_code, &o->signal,     &o->exec_errno,
                    &o->rc, &o->timed_out, &o->terminated, &o->unstarted};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < G_N_ELEMENTS(f); i++)
        rc = ctk_wire_get_i64(&r, f[i]);
    if (rc == 0)
        rc = ctk_wire_get_str(&r, &o->reason);
    if (rc == 0 && r.left != 0)
        rc = CTK_EIO;
    if (rc < 0)
        cq_outcome_clear(o);
    return rc;
}

void cq_outcome_clear(cq_outcome *o)
{
    free(o->reason);
    memset(o, 0, sizeof *o);
}
