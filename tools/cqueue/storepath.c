/*
 * storepath.c: which store a --db value names, and where the database
 * and its side folder live (see storepath.h).
 */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storepath.h"

#define BUILTIN_STORE "sqlite"

/* Makes dir (and its parents) private to the user. */
static int make_private_dir(const char *dir, char *err, size_t err_len)
{
    if (g_mkdir_with_parents(dir, 0700) == 0)
        return 0;
    snprintf(err, err_len, "cannot create %s: %s", dir, g_strerror(errno));
    return CTK_EIO;
}

/* $XDG_STATE_HOME/ctk, else ~/.local/state/ctk, created. */
static int state_dir(char **out, char *err, size_t err_len)
{
    const char *state = g_getenv("XDG_STATE_HOME");
    char *dir = state != NULL && *state == '/'
                    ? g_build_filename(state, "ctk", NULL)
                    : g_build_filename(g_get_home_dir(), ".local", "state", "ctk", NULL);
    int rc = make_private_dir(dir, err, err_len);
    if (rc < 0) {
        g_free(dir);
        return rc;
    }
    *out = dir;
    return 0;
}

/* The length of value's URI scheme ("NAME:"), or 0 when it has none. */
static size_t scheme_len(const char *value)
{
    if (!g_ascii_isalpha(value[0]))
        return 0;
    size_t n = 1;
    while (g_ascii_isalnum(value[n]) || value[n] == '+' || value[n] == '-' || value[n] == '.')
        n++;
    return value[n] == ':' ? n : 0;
}

static int unknown_store(ctk_registry *reg, const char *what, const char *value, size_t n,
                         char *err, size_t err_len)
{
    char *known = ctk_registry_names_joined(reg, CTK_KIND_STORE);
    snprintf(err, err_len, "%s '%s': no store for '%.*s:' (known: %s)", what, value, (int)n, value,
             known != NULL ? known : BUILTIN_STORE);
    free(known);
    return CTK_EINVAL;
}

int cq_db_pick(ctk_registry *reg, const char *db_opt, cq_db *db, char *err, size_t err_len)
{
    const char *env = g_getenv("CQUEUE_DB");
    const char *value = db_opt, *what = "--db";
    int rc;
    memset(db, 0, sizeof *db);
    if (value == NULL && env != NULL && *env != '\0') {
        value = env;
        what = "$CQUEUE_DB";
    }
    if (value == NULL) {
        char *dir;
        if ((rc = state_dir(&dir, err, err_len)) < 0)
            return rc;
        db->location = g_build_filename(dir, "queue.db", NULL);
        g_free(dir);
    } else {
        size_t n = scheme_len(value);
        char *name = g_strndup(value, n);
        if (n > 0 && strcmp(name, BUILTIN_STORE) == 0) {
            db->location = g_strdup(value + n + 1);
        } else if (n > 0 && (db->store = ctk_registry_store(reg, name)) != NULL) {
            db->location = g_strdup(value);
        } else if (n > 0 && !g_file_test(value, G_FILE_TEST_EXISTS)) {
            g_free(name);
            return unknown_store(reg, what, value, n, err, err_len);
        } else {
            db->location = g_strdup(value); /* a file name with a colon */
        }
        g_free(name);
    }
    if (db->store == NULL) {
        db->store = ctk_registry_store(reg, BUILTIN_STORE);
        db->side_base = g_strdup(db->location);
    } else {
        /* A store that is no file keeps its side folder with the default
         * database's: STORE.d, next to queue.db. */
        char *dir;
        if ((rc = state_dir(&dir, err, err_len)) < 0) {
            cq_db_clear(db);
            return rc;
        }
        db->side_base = g_build_filename(dir, db->store->ops->name, NULL);
        g_free(dir);
    }
    if (db->store == NULL) {
        snprintf(err, err_len, "no " BUILTIN_STORE " store is registered");
        cq_db_clear(db);
        return CTK_ENOENT;
    }
    return 0;
}

void cq_db_clear(cq_db *db)
{
    g_free(db->location);
    g_free(db->side_base);
    memset(db, 0, sizeof *db);
}

int ctk_store_side_dir(const char *base, char **out, char *err, size_t err_len)
{
    char *dir = g_strconcat(base, ".d", NULL);
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
