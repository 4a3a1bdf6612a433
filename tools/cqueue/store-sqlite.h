/*
 * store-sqlite.h: cqueue's built-in SQLite store, and the internals its unit test
 * reaches (to build a database of an older schema and watch it migrate).
 */
#ifndef CTK_STORE_SQLITE_H
#define CTK_STORE_SQLITE_H

#include <sqlite3.h>

#include "ctk/store.h"

/* The built-in SQLite store, which cqueue registers as "sqlite". */
const ctk_store_ops *ctk_store_sqlite_ops(void);
/* The schema version the SQLite store writes. */
#define CTK_STORE_SQLITE_VERSION 2

/* Runs the migrations that bring db from schema version `from` to `to`
 * (no transaction of its own). */
int ctk__store_sqlite_migrate(sqlite3 *db, int from, int to);

#endif
