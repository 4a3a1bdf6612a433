/*
 * storepath.c: which store a --db value names, and where the database
 * and its side folder live (see storepath.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* A scheme no loaded store has: the plugins in the search path are
 * loaded (store-NAME first), so `--db postgresql://...` needs no
 * --plugin. */
static const ctk_store_entry *find_store(ctk_registry *reg, const char *name)
{
    const ctk_store_entry *e = ctk_registry_store(reg, name);
    if (e != NULL)
        return e;
    char *file = g_strconcat("store-", name, NULL);
    ctk_plugin_error perr;
    ctk_registry_load_name(reg, file, &perr);
    g_free(file);
    if ((e = ctk_registry_store(reg, name)) != NULL)
        return e;
    ctk_registry_load_all(reg, NULL, NULL);
    return ctk_registry_store(reg, name);
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
        } else if (n > 0 && (db->store = find_store(reg, name)) != NULL) {
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

static int in_my_groups(gid_t gid)
{
    if (gid == getegid())
        return 1;
    gid_t groups[256];
    int n = getgroups(G_N_ELEMENTS(groups), groups);
    for (int i = 0; i < n; i++)
        if (groups[i] == gid)
            return 1;
    return 0;
}

int cq_check_trusted(const struct stat *st, int shared_group, const char *what, char *err,
                     size_t err_len)
{
    unsigned mode = (unsigned)st->st_mode & 07777;
    if (st->st_uid != geteuid() && !(shared_group && in_my_groups(st->st_gid)))
        snprintf(err, err_len,
                 "%s is owned by uid %lu, not by you (uid %lu): refusing another user's "
                 "queue%s",
                 what, (unsigned long)st->st_uid, (unsigned long)geteuid(),
                 shared_group ? " (--shared-group: not a group of yours either)"
                              : " (a group's shared queue needs --shared-group)");
    else if (mode & S_IWOTH)
        snprintf(err, err_len, "%s is writable by others (mode %04o): refusing it", what, mode);
    else if ((mode & S_IWGRP) && !shared_group)
        snprintf(err, err_len,
                 "%s is writable by its group (mode %04o): refusing it (chmod g-w it, or "
                 "--shared-group for a queue the group shares)",
                 what, mode);
    else
        return 0;
    return -EPERM;
}

/* Opens the folder name in at (made when missing) without following a
 * link, and checks who may write it. */
static int open_dir_at(int at, const char *name, const char *shown, int shared_group, int *fd,
                       char *err, size_t err_len)
{
    struct stat st;
    if (mkdirat(at, name, shared_group ? 0770 : 0700) < 0 && errno != EEXIST) {
        snprintf(err, err_len, "cannot create %s: %s", shown, g_strerror(errno));
        return CTK_EIO;
    }
    *fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (*fd < 0) {
        snprintf(err, err_len, "cannot open %s: %s%s", shown, g_strerror(errno),
                 errno == ENOTDIR || errno == ELOOP ? " (not a folder, or a symbolic link)" : "");
        return CTK_EIO;
    }
    if (fstat(*fd, &st) < 0) {
        snprintf(err, err_len, "cannot open %s: %s", shown, g_strerror(errno));
        return CTK_EIO;
    }
    return cq_check_trusted(&st, shared_group, shown, err, err_len);
}

int cq_side_open(cq_side *side, const char *base, int shared_group, char *err, size_t err_len)
{
    side->dir = g_strconcat(base, ".d", NULL);
    side->out_dir = g_build_filename(side->dir, "out", NULL);
    side->dir_fd = side->out_fd = -1;
    /* The database's own folder is the user's to choose; the side folder
     * is cqueue's, and is held from here on by descriptor. */
    char *parent = g_path_get_dirname(side->dir);
    int rc = make_private_dir(parent, err, err_len);
    g_free(parent);
    if (rc == 0)
        rc = open_dir_at(AT_FDCWD, side->dir, side->dir, shared_group, &side->dir_fd, err, err_len);
    if (rc == 0)
        rc = open_dir_at(side->dir_fd, "out", side->out_dir, shared_group, &side->out_fd, err,
                         err_len);
    if (rc < 0)
        cq_side_close(side);
    return rc;
}

void cq_side_close(cq_side *side)
{
    if (side->dir_fd >= 0)
        close(side->dir_fd);
    if (side->out_fd >= 0)
        close(side->out_fd);
    g_free(side->dir);
    g_free(side->out_dir);
    memset(side, 0, sizeof *side);
    side->dir_fd = side->out_fd = -1;
}
