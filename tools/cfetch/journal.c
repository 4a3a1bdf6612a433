/*
 * journal.c: cfetch's --journal in SQLite. WAL mode with synchronous=FULL
 * makes every commit durable when it returns (an fsync of the log), and
 * a reader never blocks the writer. One row per URL; the latest outcome
 * replaces the earlier ones.
 *
 * The file is cfetch's only when it says so (application_id), or when it
 * is new: empty, or created here (0600: its URLs may name private
 * places). Anything else, another program's database included, is
 * refused before a byte of it changes. Several cfetch runs may open a new
 * journal at once: the busy timeout is set first, and the set-up is done
 * by one of them at a time under an advisory lock on the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"

/* "cfJ1": PRAGMA application_id of a cfetch journal. */
#define APPLICATION_ID 0x63664A31
/* PRAGMA user_version: 2 added the file's mtime to each row. */
#define SCHEMA_VERSION 2
#define BUSY_MS        10000

struct ctk_journal {
    sqlite3 *db;
    sqlite3_stmt *lookup, *record, *owner;
    int lock_fd;          /* held open while db is: closing it would drop db's locks */
    pthread_mutex_t lock; /* the statements are shared by reader and writer */
};

/* One transaction: a cfetch killed while it creates the journal leaves an
 * empty file (which a rerun takes as new), never a database without the
 * table that the next run would take for another program's. WAL is set
 * after the commit, on every open (it cannot change in a transaction). */
static const char create_schema[] = "BEGIN IMMEDIATE;"
                                    "CREATE TABLE IF NOT EXISTS fetched ("
                                    " url TEXT PRIMARY KEY,"
                                    " ok INTEGER NOT NULL,"
                                    " status INTEGER,"
                                    " bytes INTEGER,"
                                    " path TEXT,"
                                    " error TEXT,"
                                    " finished REAL NOT NULL,"
                                    " mtime_ns INTEGER);"
                                    "CREATE INDEX IF NOT EXISTS fetched_path ON fetched(path);"
                                    "PRAGMA application_id=1667648049;"
                                    "PRAGMA user_version=2;"
                                    "COMMIT;";

/* A journal of version 1 (no application_id yet): the same table. */
static const char upgrade_v1[] = "BEGIN IMMEDIATE;"
                                 "ALTER TABLE fetched ADD COLUMN mtime_ns INTEGER;"
                                 "CREATE INDEX IF NOT EXISTS fetched_path ON fetched(path);"
                                 "PRAGMA application_id=1667648049;"
                                 "PRAGMA user_version=2;"
                                 "COMMIT;";

G_STATIC_ASSERT(APPLICATION_ID == 1667648049);

static int pragma_int(sqlite3 *db, const char *sql, long long *out)
{
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(s, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    return rc;
}

/* The names of db's tables and indexes, comma-separated (g_free), or NULL
 * when they cannot be read (not a database). */
static char *object_names(sqlite3 *db, int *count)
{
    sqlite3_stmt *s;
    *count = 0;
    if (sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master ORDER BY name", -1, &s, NULL) !=
        SQLITE_OK)
        return NULL;
    GString *names = g_string_new("");
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const unsigned char *n = sqlite3_column_text(s, 0);
        g_string_append_printf(names, "%s%s", names->len ? ", " : "", n ? (const char *)n : "");
        (*count)++;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        g_string_free(names, TRUE);
        return NULL;
    }
    return g_string_free(names, FALSE);
}

/* Version 1 had exactly a table "fetched" and its primary key's index. */
static int legacy_journal(sqlite3 *db, const char *names)
{
    long long cols = 0;
    return strcmp(names, "fetched, sqlite_autoindex_fetched_1") == 0 &&
           pragma_int(db, "SELECT count(*) FROM pragma_table_info('fetched')", &cols) ==
               SQLITE_OK &&
           cols == 7;
}

/* Decides, reading only, whether the file is a journal to use; then sets
 * it up (a new one) or brings it to this version (an old one). */
static int claim_file(ctk_journal *j, int fresh, char *err, size_t err_len)
{
    long long app = 0, version = 0;
    int count, rc = pragma_int(j->db, "PRAGMA application_id", &app);
    if (rc == SQLITE_OK)
        rc = pragma_int(j->db, "PRAGMA user_version", &version);
    char *names = rc == SQLITE_OK ? object_names(j->db, &count) : NULL;
    if (names == NULL) {
        snprintf(err, err_len, "%s", sqlite3_errmsg(j->db));
        return CTK_EIO;
    }
    const char *setup = NULL;
    if (app == APPLICATION_ID && version == SCHEMA_VERSION)
        setup = "";
    else if (app == APPLICATION_ID && version > SCHEMA_VERSION)
        snprintf(err, err_len, "a journal of a newer cfetch (version %lld)", version);
    else if (app == 0 && version == 0 && count == 0 && fresh)
        setup = create_schema;
    else if (app == 0 && version == 0 && legacy_journal(j->db, names))
        setup = upgrade_v1;
    else
        snprintf(err, err_len,
                 "not a cfetch journal (application_id %lld, tables: %s); it was left as it was",
                 app, names[0] ? names : "none");
    g_free(names);
    if (setup == NULL)
        return CTK_EINVAL;
    if (setup[0] != '\0' && sqlite3_exec(j->db, setup, NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, err_len, "%s", sqlite3_errmsg(j->db));
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
        return CTK_EIO;
    }
    if (sqlite3_exec(j->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, err_len, "%s", sqlite3_errmsg(j->db));
        return CTK_EIO;
    }
    return 0;
}

/* Opens (creating it 0600 when missing) the file for the advisory lock
 * and says whether it is new: just created, or empty. */
static int open_file(const char *path, int *fresh, char *err, size_t err_len)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    *fresh = fd >= 0;
    if (fd < 0 && errno == EEXIST)
        fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, err_len, "%s", strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
        snprintf(err, err_len, "not a regular file");
        close(fd);
        return -1;
    }
    if (st.st_size == 0)
        *fresh = 1;
    return fd;
}

static int prepare(ctk_journal *j)
{
    int rc = sqlite3_prepare_v2(j->db,
                                "SELECT status, bytes, path, mtime_ns FROM fetched"
                                " WHERE url=? AND ok=1",
                                -1, &j->lookup, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(j->db,
                                "INSERT OR REPLACE INTO fetched"
                                " (url, ok, status, bytes, path, error, finished, mtime_ns)"
                                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                -1, &j->record, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(j->db, "SELECT url FROM fetched WHERE path=? AND ok=1 LIMIT 1", -1,
                                &j->owner, NULL);
    return rc;
}

int ctk_journal_open(ctk_journal **out, const char *path, char *err, size_t err_len)
{
    ctk_journal *j = g_new0(ctk_journal, 1);
    int fresh, ret = CTK_EIO;
    j->lock_fd = open_file(path, &fresh, err, err_len);
    if (j->lock_fd < 0)
        goto fail;
    /* No SQLITE_OPEN_CREATE: the file exists, and sqlite must not make
     * one of its own at a path that changed in between. */
    int rc = sqlite3_open_v2(path, &j->db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_busy_timeout(j->db, BUSY_MS);
    if (rc != SQLITE_OK) {
        snprintf(err, err_len, "%s", j->db != NULL ? sqlite3_errmsg(j->db) : "out of memory");
        goto fail;
    }
    /* One set-up at a time: the others then find the file cfetch's. */
    while (flock(j->lock_fd, LOCK_EX) < 0 && errno == EINTR)
        ;
    ret = claim_file(j, fresh, err, err_len);
    flock(j->lock_fd, LOCK_UN);
    if (ret < 0)
        goto fail;
    ret = CTK_EIO;
    if (sqlite3_exec(j->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK ||
        prepare(j) != SQLITE_OK) {
        snprintf(err, err_len, "%s", sqlite3_errmsg(j->db));
        goto fail;
    }
    pthread_mutex_init(&j->lock, NULL);
    *out = j;
    return 0;
fail:
    ctk_journal_close(j);
    return ret;
}

void ctk_journal_close(ctk_journal *j)
{
    if (j == NULL)
        return;
    int prepared = j->lookup != NULL && j->record != NULL && j->owner != NULL;
    sqlite3_finalize(j->lookup);
    sqlite3_finalize(j->record);
    sqlite3_finalize(j->owner);
    sqlite3_close(j->db);
    if (j->lock_fd >= 0)
        close(j->lock_fd);
    if (prepared)
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
        e->mtime_ns = sqlite3_column_type(j->lookup, 3) == SQLITE_NULL
                          ? -1
                          : (int64_t)sqlite3_column_int64(j->lookup, 3);
    }
    sqlite3_reset(j->lookup);
    sqlite3_clear_bindings(j->lookup);
    pthread_mutex_unlock(&j->lock);
    return found;
}

int ctk_journal_owner(ctk_journal *j, const char *path, char **url)
{
    pthread_mutex_lock(&j->lock);
    sqlite3_bind_text(j->owner, 1, path, -1, SQLITE_STATIC);
    int found = sqlite3_step(j->owner) == SQLITE_ROW;
    if (found) {
        const unsigned char *u = sqlite3_column_text(j->owner, 0);
        *url = g_strdup(u != NULL ? (const char *)u : "");
    }
    sqlite3_reset(j->owner);
    sqlite3_clear_bindings(j->owner);
    pthread_mutex_unlock(&j->lock);
    return found;
}

void ctk_journal_entry_free(ctk_journal_entry *e)
{
    g_free(e->path);
    e->path = NULL;
}

int ctk_journal_record(ctk_journal *j, const char *url, int ok, long status, uint64_t bytes,
                       const char *path, int64_t mtime_ns, const char *error)
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
    if (mtime_ns >= 0)
        sqlite3_bind_int64(s, 8, mtime_ns);
    else
        sqlite3_bind_null(s, 8);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : CTK_EIO;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    pthread_mutex_unlock(&j->lock);
    return rc;
}
