/*
 * storepath.c: where cqueue's database and its side folder live.
 */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>

#include "storepath.h"

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
