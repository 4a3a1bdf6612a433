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

struct stat;

/* Whether a file or folder of the queue can be trusted: the user's own and
 * writable by no one else; with shared_group, also one whose group is one
 * of the user's and that the group may write (never others). Anyone who
 * can write the database decides what a worker runs; anyone who can write
 * the side folder decides where its output goes. 0, or -EPERM with err
 * saying why (what names the file). */
int cq_check_trusted(const struct stat *st, int shared_group, const char *what, char *err,
                     size_t err_len);

/* The folder next to the database for job output, pid files and logs
 * ("BASE.d", and its "out"), created 0700 (0770 with shared_group), each
 * checked by cq_check_trusted and held open: everything in them is opened
 * relative to these descriptors, never through a symbolic link. */
typedef struct cq_side {
    char *dir, *out_dir;
    int dir_fd, out_fd; /* -1 when not open */
} cq_side;

int cq_side_open(cq_side *side, const char *base, int shared_group, char *err, size_t err_len);
void cq_side_close(cq_side *side);

#endif
