/*
 * journal.c: cfetch's --journal in SQLite. WAL mode with synchronous=FULL
 * makes every commit durable when it returns (an fsync of the log), and
 * a reader never blocks the writer. One row per URL; the latest outcome
 * replaces the earlier ones.
 */
#include <glib.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "journal.h"

struct ctk_journal {
    sqlite3 *db;
    sqlite3_stmt *lookup, *record;
    pthread_mutex_t lock; /* the statements are shared by reader and writer */
};

static const char schema[] = "PRAGMA journal_mode=WAL;"
                             "PRAGMA synchronous=FULL;"
                             "PRAGMA busy_timeout=10000;"
                             "CREATE TABLE IF NOT EXISTS fetched ("
                             " url TEXT PRIMARY KEY,"
                             " ok INTEGER NOT NULL,"
                             " status INTEGER,"
                             " bytes INTEGER,"
                             " path TEXT,"
                             " error TEXT,"
                             " finished REAL NOT NULL);";

int ctk_journal_open(ctk_journal **out, const char *path, char *err, size_t err_len)
{
    ctk_journal *j = g_new0(ctk_journal, 1);
    int rc = sqlite3_open_v2(path, &j->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(j->db, schema, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(j->db,
                                "SELECT status, bytes, path FROM fetched WHERE url=? AND ok=1", -1,
                                &j->lookup, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(j->db,
                                "INSERT OR REPLACE INTO fetched"
                                " (url, ok, status, bytes, path, error, finished)"
                                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                                -1, &j->record, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, err_len, "%s", j->db != NULL ? sqlite3_errmsg(j->db) : "out of memory");
        ctk_journal_close(j);
        return CTK_EIO;
    }
    pthread_mutex_init(&j->lock, NULL);
    *out = j;
    return 0;
}

void ctk_journal_close(ctk_journal *j)
{
    if (j == NULL)
        return;
    sqlite3_finalize(j->lookup);
    sqlite3_finalize(j->record);
    sqlite3_close(j->db);
    if (j->lookup != NULL && j->record != NULL)
        pthread_mutex_destroy(&j->lock);
    g_free(j);
}

int ctk_journal_done(ctk_journal *j, const char *url, ctk_journal_entry *e)
{
    pthread_mutex_lock(&j->lock);
    sqlite3_bind_text(j->lookup, 1, url, -1, SQLITE_STATIC);
    int found = sqlite3_step(j->lookup) == SQLITE_ROW;
    if (found) {
        const unsigned char *path = sqlite3_column_text(j->lookup, 2);
        e->status = (long)sqlite3_column_int64(j->lookup, 0);
        e->bytes = (uint64_t)sqlite3_column_int64(j->lookup, 1);
        e->path = g_strdup(path != NULL ? (const char *)path : "");
    }
    sqlite3_reset(j->lookup);
    sqlite3_clear_bindings(j->lookup);
    pthread_mutex_unlock(&j->lock);
    return found;
}

void ctk_journal_entry_free(ctk_journal_entry *e)
{
    g_free(e->path);
    e->path = NULL;
}

int ctk_journal_record(ctk_journal *j, const char *url, int ok, long status, uint64_t bytes,
                       const char *path, const char *error)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    pthread_mutex_lock(&j->lock);
    sqlite3_stmt *s = j->record;
    sqlite3_bind_text(s, 1, url, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, ok != 0);
    sqlite3_bind_int64(s, 3, status);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)bytes);
    sqlite3_bind_text(s, 5, path != NULL ? path : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, error != NULL ? error : "", -1, SQLITE_STATIC);
    sqlite3_bind_double(s, 7, (double)now.tv_sec + (double)now.tv_nsec / 1e9);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : CTK_EIO;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    pthread_mutex_unlock(&j->lock);
    return rc;
}
