/*
 * storepath.h: cqueue's rules for where the database and its side folder
 * live.
 */
#ifndef CQUEUE_STOREPATH_H
#define CQUEUE_STOREPATH_H

#include <stddef.h>

#include "ctk/common.h"

/* The database path by cqueue's rules: $CQUEUE_DB, else db_opt (--db),
 * else $XDG_STATE_HOME/ctk/queue.db, else ~/.local/state/ctk/queue.db.
 * Creates the folder (0700) of the default path when missing. Free with
 * g_free. CTK_EIO with err filled when the folder cannot be made. */
int ctk_store_default_path(const char *db_opt, char **out, char *err, size_t err_len);
/* The folder next to the database for job output, pid files and logs
 * ("PATH.d"), created 0700. Free with g_free. */
int ctk_store_side_dir(const char *db_path, char **out, char *err, size_t err_len);

#endif
