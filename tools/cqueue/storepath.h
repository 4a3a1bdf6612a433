/*
 * storepath.h: cqueue's rules for which store a --db value names, where
 * the database lives by default, and where its side folder is.
 */
#ifndef CQUEUE_STOREPATH_H
#define CQUEUE_STOREPATH_H

#include <stddef.h>

#include "ctk/registry.h"

/* A --db value resolved: the store, what it opens, and the path whose
 * ".d" folder holds the jobs' output, pid files and logs. */
typedef struct cq_db {
    const ctk_store_entry *store;
    char *location;
    char *side_base;
} cq_db;

/* The --db value by cqueue's rules: db_opt (--db) wins over $CQUEUE_DB,
 * and the default is $XDG_STATE_HOME/ctk/queue.db, else
 * ~/.local/state/ctk/queue.db (its folder created 0700 when missing).
 * Then the store, by the value's scheme: a plain path or sqlite:PATH is
 * the "sqlite" store's file; NAME:... or NAME://... names the registered
 * store NAME, which gets the whole value as its location (its side
 * folder is the default folder's NAME.d). Returns 0; CTK_EINVAL for a
 * scheme no store has (err names the known ones); CTK_EIO when a folder
 * cannot be made. cq_db_clear undoes it. */
int cq_db_pick(ctk_registry *reg, const char *db_opt, cq_db *db, char *err, size_t err_len);
void cq_db_clear(cq_db *db);

/* The folder next to the database for job output, pid files and logs
 * ("BASE.d"), created 0700. Free with g_free. */
int ctk_store_side_dir(const char *base, char **out, char *err, size_t err_len);

#endif
