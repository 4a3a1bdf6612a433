/*
 * store-sqlite.h: internals of the SQLite store that its unit test reaches
 * (to build a database of an older schema and watch it migrate).
 */
#ifndef CTK_STORE_SQLITE_H
#define CTK_STORE_SQLITE_H

#include <sqlite3.h>

/* Runs the migrations that bring db from schema version `from` to `to`
 * (no transaction of its own). */
int ctk__store_sqlite_migrate(sqlite3 *db, int from, int to);

#endif
