/*
 * store-sqlite.c: the built-in cqueue store (see ctk/store.h) on one
 * SQLite file in WAL mode: readers never wait for the writer, and every
 * change is one BEGIN IMMEDIATE transaction (taking the write lock up
 * front, so two writers never deadlock on a lock upgrade). Statements are
 * prepared once per handle.
 *
 * The hot paths are answered from indexes, never a scan of the queue:
 * claiming from a partial index of ready jobs ordered as they are taken,
 * counts per state from a table that triggers keep, running jobs from a
 * partial index of them.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store-sqlite.h"

/* "ctkq": marks a database as ours, so a foreign one is refused. */
#define APPLICATION_ID 0x63746b71
#define BUSY_MS        10000
/* A transaction that still finds the lock taken after BUSY_MS tries again
 * this many times: a user sees "database is locked" only after minutes. */
#define BUSY_TRIES     12
#define WAL_TRIM_BYTES (128 << 10)

/* Each step brings the schema from version i to i + 1. */
static const char *const migrations[] = {
    /* 1: the jobs, their dependencies and the queues. */
    "CREATE TABLE queues(name TEXT PRIMARY KEY, paused INTEGER NOT NULL DEFAULT 0,"
    " stop_gen INTEGER NOT NULL DEFAULT 0, n_finished INTEGER NOT NULL DEFAULT 0,"
    " sum_wait REAL NOT NULL DEFAULT 0, sum_run REAL NOT NULL DEFAULT 0);"
    "CREATE TABLE jobs(id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL,"
    " state INTEGER NOT NULL, waiting INTEGER NOT NULL DEFAULT 0, name TEXT, cmd TEXT NOT NULL,"
    " argv BLOB, cwd TEXT, env BLOB, key TEXT, priority INTEGER NOT NULL DEFAULT 0,"
    " retries INTEGER NOT NULL DEFAULT 0, weight INTEGER NOT NULL DEFAULT 1,"
    " timeout REAL NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, exit INTEGER,"
    " signal INTEGER, reason TEXT, worker TEXT, host TEXT, queued_at REAL NOT NULL,"
    " started_at REAL, finished_at REAL, lease_until REAL, pid INTEGER, pid_start INTEGER,"
    " kill_requested INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE deps(job INTEGER NOT NULL, after INTEGER NOT NULL, PRIMARY KEY(job, after))"
    " WITHOUT ROWID;"
    "CREATE INDEX deps_after ON deps(after);"
    "CREATE INDEX jobs_ready ON jobs(queue, priority DESC, id) WHERE state = 0 AND waiting = 0;"
    "CREATE INDEX jobs_running ON jobs(queue, lease_until) WHERE state = 1;"
    "CREATE INDEX jobs_worker ON jobs(worker) WHERE state = 1;"
    "CREATE UNIQUE INDEX jobs_key ON jobs(queue, key) WHERE key IS NOT NULL AND state IN (0, 1);"
    "CREATE INDEX jobs_state ON jobs(queue, state, id);"
    "CREATE INDEX jobs_finished ON jobs(queue, finished_at) WHERE finished_at IS NOT NULL;",
    /* 2: counts per state kept by triggers, so `stats` and `work --drain`
     * do not count a long queue row by row. */
    "CREATE TABLE counts(queue TEXT NOT NULL, state INTEGER NOT NULL, n INTEGER NOT NULL,"
    " PRIMARY KEY(queue, state)) WITHOUT ROWID;"
    "INSERT INTO counts SELECT queue, state, count(*) FROM jobs GROUP BY queue, state;"
    "CREATE TRIGGER jobs_counts_ins AFTER INSERT ON jobs BEGIN"
    " INSERT INTO counts VALUES(NEW.queue, NEW.state, 1)"
    " ON CONFLICT(queue, state) DO UPDATE SET n = n + 1; END;"
    "CREATE TRIGGER jobs_counts_upd AFTER UPDATE OF state ON jobs"
    " WHEN OLD.state <> NEW.state BEGIN"
    " UPDATE counts SET n = n - 1 WHERE queue = OLD.queue AND state = OLD.state;"
    " INSERT INTO counts VALUES(NEW.queue, NEW.state, 1)"
    " ON CONFLICT(queue, state) DO UPDATE SET n = n + 1; END;"
    "CREATE TRIGGER jobs_counts_del AFTER DELETE ON jobs BEGIN"
    " UPDATE counts SET n = n - 1 WHERE queue = OLD.queue AND state = OLD.state; END;",
};

#define JOB_COLS                                                                                   \
    "id, state, queue, name, cmd, cwd, key, argv, env, reason, worker, priority, retries,"         \
    " weight, attempts, timeout, exit, signal, queued_at, started_at, finished_at, lease_until,"   \
    " pid, pid_start, kill_requested"

enum stmt_id {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_QUEUE_ENSURE,
    S_INSERT,
    S_DEP_INSERT,
    S_KEY_FIND,
    S_STATE_OF,
    S_READY,
    S_PAUSED,
    S_CLAIM,
    S_GET,
    S_DEPS_OF,
    S_SET_PID,
    S_RENEW,
    S_RUN_INFO,
    S_DONE,
    S_REQUEUE,
    S_FAILED,
    S_UNBLOCK,
    S_QUEUE_STATS_ADD,
    S_DEPENDENTS,
    S_CANCEL,
    S_RELEASE,
    S_EXPIRE_SCAN,
    S_EXPIRE,
    S_LIST_ALL,
    S_LIST_STATE,
    S_DELETE,
    S_DEPS_DELETE,
    S_RETRY,
    S_WAITING_COUNT,
    S_DEP_BROKEN,
    S_FAILED_IDS,
    S_KILL_FLAG,
    S_SET_PAUSED,
    S_STOP,
    S_CONTROL,
    S_COUNTS,
    S_RECENT,
    S_QUEUE_ROW,
    S_KEY_OF,
    S_N
};

static const char *const stmt_sql[S_N] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_QUEUE_ENSURE] = "INSERT OR IGNORE INTO queues(name) VALUES(?1)",
    [S_INSERT] = "INSERT INTO jobs(queue, state, waiting, name, cmd, argv, cwd, env, key,"
                 " priority, retries, weight, timeout, queued_at, reason, finished_at)"
                 " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    [S_DEP_INSERT] = "INSERT OR IGNORE INTO deps(job, after) VALUES(?1, ?2)",
    [S_KEY_FIND] = "SELECT id FROM jobs WHERE queue = ?1 AND key = ?2 AND state IN (0, 1)",
    [S_STATE_OF] = "SELECT state FROM jobs WHERE id = ?1",
    [S_READY] = "SELECT id FROM jobs WHERE queue = ?1 AND state = 0 AND waiting = 0"
                " AND weight <= ?2 ORDER BY priority DESC, id LIMIT 1",
    [S_PAUSED] = "SELECT paused FROM queues WHERE name = ?1",
    [S_CLAIM] = "UPDATE jobs SET state = 1, worker = ?2, host = ?3, attempts = attempts + 1,"
                " started_at = ?4, lease_until = ?5, pid = NULL, pid_start = NULL WHERE id = ?1",
    [S_GET] = "SELECT " JOB_COLS " FROM jobs WHERE id = ?1",
    [S_DEPS_OF] = "SELECT after FROM deps WHERE job = ?1 ORDER BY after",
    [S_SET_PID] = "UPDATE jobs SET pid = ?3, pid_start = ?4 WHERE id = ?1 AND state = 1"
                  " AND worker = ?2 RETURNING kill_requested",
    [S_RENEW] = "UPDATE jobs SET lease_until = ?2 WHERE worker = ?1 AND state = 1",
    [S_RUN_INFO] = "SELECT state, worker, attempts, retries, kill_requested, queued_at,"
                   " started_at, queue FROM jobs WHERE id = ?1",
    [S_DONE] = "UPDATE jobs SET state = 2, exit = ?2, signal = ?3, reason = NULL,"
               " finished_at = ?4, lease_until = NULL, pid = NULL WHERE id = ?1",
    [S_REQUEUE] = "UPDATE jobs SET state = 0, exit = ?2, signal = ?3, reason = ?4,"
                  " lease_until = NULL, pid = NULL, worker = NULL WHERE id = ?1",
    [S_FAILED] = "UPDATE jobs SET state = 3, exit = ?2, signal = ?3, reason = ?4,"
                 " finished_at = ?5, lease_until = NULL, pid = NULL WHERE id = ?1",
    [S_UNBLOCK] = "UPDATE jobs SET waiting = waiting - 1 WHERE state = 0 AND waiting > 0"
                  " AND id IN (SELECT job FROM deps WHERE after = ?1)",
    [S_QUEUE_STATS_ADD] = "UPDATE queues SET n_finished = n_finished + 1,"
                          " sum_wait = sum_wait + ?2, sum_run = sum_run + ?3 WHERE name = ?1",
    [S_DEPENDENTS] = "SELECT d.job, j.state, j.reason FROM deps d JOIN jobs j ON j.id = d.job"
                     " WHERE d.after = ?1",
    [S_CANCEL] = "UPDATE jobs SET state = 4, reason = ?2, finished_at = ?3 WHERE id = ?1",
    [S_RELEASE] = "UPDATE jobs SET state = 0, worker = NULL, lease_until = NULL, pid = NULL,"
                  " reason = ?3 WHERE id = ?1 AND state = 1 AND worker = ?2",
    [S_EXPIRE_SCAN] = "SELECT " JOB_COLS ", host FROM jobs WHERE queue = ?1 AND state = 1"
                      " AND (lease_until < ?2 OR host = ?3)",
    [S_EXPIRE] = "UPDATE jobs SET state = 0, worker = NULL, lease_until = NULL, pid = NULL,"
                 " reason = ?2 WHERE id = ?1 AND state = 1",
    [S_LIST_ALL] = "SELECT " JOB_COLS " FROM jobs WHERE queue = ?1 AND id > ?2 ORDER BY id"
                   " LIMIT ?3",
    [S_LIST_STATE] = "SELECT " JOB_COLS " FROM jobs WHERE queue = ?1 AND state = ?4"
                     " AND id > ?2 ORDER BY id LIMIT ?3",
    [S_DELETE] = "DELETE FROM jobs WHERE id = ?1",
    [S_DEPS_DELETE] = "DELETE FROM deps WHERE job = ?1 OR after = ?1",
    [S_RETRY] = "UPDATE jobs SET state = 0, waiting = ?2, reason = NULL, finished_at = NULL,"
                " kill_requested = 0, retries = attempts WHERE id = ?1",
    [S_WAITING_COUNT] = "SELECT count(*) FROM deps d JOIN jobs j ON j.id = d.after"
                        " WHERE d.job = ?1 AND j.state <> 2",
    [S_DEP_BROKEN] = "SELECT d.after, j.state FROM deps d JOIN jobs j ON j.id = d.after"
                     " WHERE d.job = ?1 AND j.state IN (3, 4) LIMIT 1",
    [S_FAILED_IDS] = "SELECT id FROM jobs WHERE queue = ?1 AND state = 3 ORDER BY id",
    [S_KILL_FLAG] = "UPDATE jobs SET kill_requested = 1 WHERE id = ?1",
    [S_SET_PAUSED] = "UPDATE queues SET paused = ?2 WHERE name = ?1",
    [S_STOP] = "UPDATE queues SET stop_gen = stop_gen + 1 WHERE name = ?1",
    [S_CONTROL] = "SELECT paused, stop_gen FROM queues WHERE name = ?1",
    [S_COUNTS] = "SELECT state, n FROM counts WHERE queue = ?1",
    [S_RECENT] = "SELECT count(*) FROM jobs WHERE queue = ?1 AND finished_at >= ?2",
    [S_QUEUE_ROW] = "SELECT n_finished, sum_wait, sum_run, paused FROM queues WHERE name = ?1",
    [S_KEY_OF] = "SELECT queue, key FROM jobs WHERE id = ?1",
};

typedef struct sqlite_store {
    ctk_store base;
    sqlite3 *db;
    char *path;
    sqlite3_stmt *stmt[S_N];
    double (*clock)(void *arg);
    void *clock_arg;
    int ours; /* known to be a cqueue database: closing may write to it */
    char error[512];
} sqlite_store;

static double real_clock(void *arg)
{
    (void)arg;
    return (double)g_get_real_time() / 1e6;
}

static double now_of(sqlite_store *s)
{
    return s->clock(s->clock_arg);
}

/* Keeps SQLite's words for the user and returns CTK_EIO. */
static int db_error(sqlite_store *s, const char *what)
{
    snprintf(s->error, sizeof s->error, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
    return CTK_EIO;
}

static sqlite3_stmt *prep(sqlite_store *s, enum stmt_id id)
{
    if (s->stmt[id] == NULL &&
        sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[id],
                           NULL) != SQLITE_OK) {
        db_error(s, "prepare");
        return NULL;
    }
    sqlite3_reset(s->stmt[id]);
    sqlite3_clear_bindings(s->stmt[id]);
    return s->stmt[id];
}

/* Runs a statement that returns no rows (or whose rows do not matter). */
static int exec_stmt(sqlite_store *s, sqlite3_stmt *st)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : db_error(s, "write");
}

/* Steps a statement that gives at most one row: 1 with the row there
 * (read it, then sqlite3_reset), 0 for none, or an error. */
static int step_one(sqlite_store *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return 1;
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : db_error(s, "read");
}

/* For a query of one integer: 1 with *out set, 0 (and *out 0) for no
 * row, or an error. */
static int one_int64(sqlite_store *s, sqlite3_stmt *st, int64_t *out)
{
    int rc = step_one(s, st);
    *out = rc == 1 ? sqlite3_column_int64(st, 0) : 0;
    if (rc == 1)
        sqlite3_reset(st);
    return rc;
}

static void bind_text(sqlite3_stmt *st, int i, const char *text)
{
    if (text != NULL)
        sqlite3_bind_text(st, i, text, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

/* ---- transactions ----------------------------------------------------------- */

static int begin(sqlite_store *s)
{
    for (int i = 0;; i++) {
        sqlite3_stmt *st = prep(s, S_BEGIN);
        if (st == NULL)
            return CTK_EIO;
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_DONE)
            return 0;
        if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || i + 1 == BUSY_TRIES)
            return db_error(s, "begin");
    }
}

static int commit(sqlite_store *s)
{
    for (int i = 0;; i++) {
        sqlite3_stmt *st = prep(s, S_COMMIT);
        int rc = st != NULL ? sqlite3_step(st) : SQLITE_ERROR;
        if (st != NULL)
            sqlite3_reset(st);
        if (rc == SQLITE_DONE)
            return 0;
        if (rc != SQLITE_BUSY || i + 1 == BUSY_TRIES)
            return db_error(s, "commit");
    }
}

static void rollback(sqlite_store *s)
{
    if (sqlite3_get_autocommit(s->db))
        return;
    sqlite3_stmt *st = prep(s, S_ROLLBACK);
    if (st != NULL) {
        sqlite3_step(st);
        sqlite3_reset(st);
    }
}

/* Ends a transaction: commit on rc 0, else roll back; returns rc. */
static int end(sqlite_store *s, int rc)
{
    if (rc == 0)
        rc = commit(s);
    if (rc < 0)
        rollback(s);
    return rc;
}

/* ---- encoding -------------------------------------------------------------- */

/* A vector as one blob of NUL-terminated strings. */
static void bind_vector(sqlite3_stmt *st, int i, const char *const *v)
{
    if (v == NULL) {
        sqlite3_bind_null(st, i);
        return;
    }
    GString *b = g_string_new(NULL);
    for (; *v != NULL; v++)
        g_string_append_len(b, *v, (gssize)strlen(*v) + 1);
    sqlite3_bind_blob(st, i, b->str, (int)b->len, SQLITE_TRANSIENT);
    g_string_free(b, TRUE);
}

static char **column_vector(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return NULL;
    const char *p = sqlite3_column_blob(st, i);
    size_t len = (size_t)sqlite3_column_bytes(st, i);
    GPtrArray *v = g_ptr_array_new();
    for (size_t off = 0; off < len;) {
        size_t n = strnlen(p + off, len - off);
        g_ptr_array_add(v, g_strndup(p + off, n));
        off += n + 1;
    }
    g_ptr_array_add(v, NULL);
    return (char **)g_ptr_array_free(v, FALSE);
}

static char *column_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t != NULL ? g_strdup((const char *)t) : NULL;
}

/* Fills job from a row of JOB_COLS. */
static void read_job(sqlite3_stmt *st, ctk_job *job)
{
    memset(job, 0, sizeof *job);
    job->id = sqlite3_column_int64(st, 0);
    job->state = (ctk_job_state)sqlite3_column_int(st, 1);
    job->queue = column_text(st, 2);
    job->name = column_text(st, 3);
    job->cmd = column_text(st, 4);
    job->cwd = column_text(st, 5);
    job->key = column_text(st, 6);
    job->argv = column_vector(st, 7);
    job->env = column_vector(st, 8);
    job->reason = column_text(st, 9);
    job->worker = column_text(st, 10);
    job->priority = sqlite3_column_int64(st, 11);
    job->retries = (unsigned)sqlite3_column_int(st, 12);
    job->weight = (unsigned)sqlite3_column_int(st, 13);
    job->attempts = (unsigned)sqlite3_column_int(st, 14);
    job->timeout = sqlite3_column_double(st, 15);
    job->exit_code = sqlite3_column_int(st, 16);
    job->signal = sqlite3_column_int(st, 17);
    job->queued_at = sqlite3_column_double(st, 18);
    job->started_at = sqlite3_column_double(st, 19);
    job->finished_at = sqlite3_column_double(st, 20);
    job->lease_until = sqlite3_column_double(st, 21);
    job->pid = sqlite3_column_int64(st, 22);
    job->pid_start = (uint64_t)sqlite3_column_int64(st, 23);
    job->kill_requested = sqlite3_column_int(st, 24);
}

/* ---- opening ---------------------------------------------------------------- */

static int pragma_int(sqlite_store *s, const char *sql, int64_t *out)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_error(s, "read");
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_error(s, "read");
}

static int exec_sql(sqlite_store *s, const char *sql, const char *what)
{
    return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : db_error(s, what);
}

int ctk__store_sqlite_migrate(sqlite3 *db, int from, int to)
{
    for (int v = from; v < to; v++) {
        if (sqlite3_exec(db, migrations[v], NULL, NULL, NULL) != SQLITE_OK)
            return CTK_EIO;
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
            return CTK_EIO;
    }
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA application_id = %d", APPLICATION_ID);
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : CTK_EIO;
}

#define FOREIGN_FMT "%s: not a cqueue database (another program's SQLite file)"

/* Before anything is written (the switch to WAL rewrites the header):
 * another program's database is refused and left byte-identical. An
 * empty file is ours to set up. */
static int refuse_foreign(sqlite_store *s, char *err, size_t err_len)
{
    /* One statement, one snapshot: another first user may commit the
     * schema between two reads, and a half-seen one looks foreign. */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT (SELECT application_id FROM pragma_application_id()),"
                           " (SELECT user_version FROM pragma_user_version()),"
                           " (SELECT count(*) FROM sqlite_master)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(s, "read");
    int rc = sqlite3_step(st);
    int64_t app = sqlite3_column_int64(st, 0), version = sqlite3_column_int64(st, 1),
            tables = sqlite3_column_int64(st, 2);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return db_error(s, "read");
    if (app != APPLICATION_ID && (tables > 0 || version > 0)) {
        snprintf(err, err_len, FOREIGN_FMT, s->path);
        return CTK_EINVAL;
    }
    return 0;
}

/* Switching a new database to WAL takes an exclusive lock without waiting
 * for it (SQLite calls no busy handler there): many first users at once
 * take turns here instead of seeing "database is locked". */
static int use_wal(sqlite_store *s)
{
    gint64 until = g_get_monotonic_time() + (gint64)BUSY_MS * 1000;
    for (unsigned pause_us = 1000;; pause_us = pause_us < 50000 ? pause_us * 2 : pause_us) {
        sqlite3_stmt *st;
        int rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(st);
            const unsigned char *mode = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
            int wal = mode != NULL && g_ascii_strcasecmp((const char *)mode, "wal") == 0;
            sqlite3_finalize(st);
            if (wal)
                return 0;
            if (rc == SQLITE_ROW)
                rc = SQLITE_BUSY; /* left as it was: someone held it */
        }
        if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
            return db_error(s, "cannot use");
        if (g_get_monotonic_time() >= until)
            return db_error(s, "cannot switch to WAL");
        g_usleep(pause_us);
    }
}

/* Brings the schema up to date in one transaction; refuses a database that
 * is not ours or that a newer cqueue wrote. */
static int check_schema(sqlite_store *s, char *err, size_t err_len)
{
    int64_t version = 0, app = 0;
    /* The common case, an up-to-date database of ours, takes no lock. */
    if (pragma_int(s, "PRAGMA user_version", &version) == 0 &&
        version == CTK_STORE_SQLITE_VERSION && pragma_int(s, "PRAGMA application_id", &app) == 0 &&
        app == APPLICATION_ID)
        return 0;
    int64_t tables;
    int rc = begin(s);
    if (rc == 0)
        rc = pragma_int(s, "PRAGMA user_version", &version);
    if (rc == 0)
        rc = pragma_int(s, "PRAGMA application_id", &app);
    if (rc == 0)
        rc = pragma_int(s, "SELECT count(*) FROM sqlite_master", &tables);
    if (rc < 0) {
        snprintf(err, err_len, "%s", s->error);
        return end(s, rc);
    }
    if (app != APPLICATION_ID && (tables > 0 || version > 0)) {
        snprintf(err, err_len, FOREIGN_FMT, s->path);
        return end(s, CTK_EINVAL);
    }
    if (version > CTK_STORE_SQLITE_VERSION) {
        snprintf(err, err_len,
                 "%s: written by a newer cqueue (schema version %lld; this one knows up to %d)",
                 s->path, (long long)version, CTK_STORE_SQLITE_VERSION);
        return end(s, CTK_ERANGE);
    }
    if (version < CTK_STORE_SQLITE_VERSION &&
        ctk__store_sqlite_migrate(s->db, (int)version, CTK_STORE_SQLITE_VERSION) < 0) {
        db_error(s, "migrate");
        snprintf(err, err_len, "%s", s->error);
        return end(s, CTK_EIO);
    }
    rc = end(s, 0);
    if (rc < 0)
        snprintf(err, err_len, "%s", s->error);
    return rc;
}

/* The next opener reads the whole WAL to rebuild its index: one that has
 * grown is checkpointed and truncated by whoever leaves it so. */
static void trim_wal(sqlite_store *s)
{
    char *wal = g_strconcat(s->path, "-wal", NULL);
    struct stat sb;
    if (stat(wal, &sb) == 0 && sb.st_size > WAL_TRIM_BYTES)
        sqlite3_exec(s->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    g_free(wal);
}

static void sqlite_close(ctk_store *st)
{
    sqlite_store *s = (sqlite_store *)st;
    if (s == NULL)
        return;
    for (int i = 0; i < S_N; i++)
        sqlite3_finalize(s->stmt[i]);
    if (s->db != NULL && s->ours)
        trim_wal(s);
    sqlite3_close(s->db);
    g_free(s->path);
    g_free(s);
}

/* Creates the file 0600 first: SQLite would make it 0644, and its -wal and
 * -shm files take the database file's mode. */
static int create_private(const char *path, char *err, size_t err_len)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, err_len, "cannot open %s: %s", path, g_strerror(errno));
        return -errno;
    }
    close(fd);
    return 0;
}

static int sqlite_open(ctk_store **out, const ctk_store_opts *o, char *err, size_t err_len)
{
    /* SQLite's memory statistics take a global mutex on every malloc; we
     * never read them. Refused (harmlessly) once SQLite is initialised. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    int rc = create_private(o->location, err, err_len);
    if (rc < 0)
        return CTK_EIO;
    sqlite_store *s = g_new0(sqlite_store, 1);
    s->base.ops = ctk_store_sqlite_ops();
    s->path = g_strdup(o->location);
    s->clock = o->clock != NULL ? o->clock : real_clock;
    s->clock_arg = o->clock_arg;
    if (sqlite3_open_v2(o->location, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        rc = db_error(s, "cannot open");
        goto fail;
    }
    /* Before the first statement: creating the schema waits its turn too. */
    sqlite3_busy_timeout(s->db, BUSY_MS);
    /* The first read finds out whether the file is a database at all, and
     * whose; nothing is written to one that is not ours. */
    if ((rc = refuse_foreign(s, err, err_len)) == CTK_EINVAL)
        goto out;
    if (rc < 0)
        goto fail;
    /* One `cqueue add` per job must not pay for recreating the WAL and a
     * checkpoint (two fsyncs) at every exit; the WAL is trimmed when it
     * has grown (trim_wal). */
    int persist = 1;
    sqlite3_file_control(s->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    if ((rc = use_wal(s)) < 0 ||
        (rc = exec_sql(s, "PRAGMA synchronous = NORMAL", "cannot use")) < 0 ||
        (rc = exec_sql(s, "PRAGMA cache_size = -32768", "cannot use")) < 0 ||
        (rc = exec_sql(s, "PRAGMA temp_store = MEMORY", "cannot use")) < 0)
        goto fail;
    if ((rc = check_schema(s, err, err_len)) < 0)
        goto out;
    s->ours = 1;
    *out = &s->base;
    return 0;
fail:
    snprintf(err, err_len, "%s", s->error);
out:
    sqlite_close(&s->base);
    return rc;
}

/* ---- adding ----------------------------------------------------------------- */

static int state_of(sqlite_store *s, int64_t id, int *state)
{
    sqlite3_stmt *st = prep(s, S_STATE_OF);
    if (st == NULL)
        return CTK_EIO;
    sqlite3_bind_int64(st, 1, id);
    int64_t v;
    int rc = one_int64(s, st, &v);
    *state = (int)v;
    return rc == 0 ? CTK_ENOENT : rc < 0 ? rc : 0;
}

static int find_key(sqlite_store *s, const char *queue, const char *key, int64_t *id)
{
    sqlite3_stmt *st = prep(s, S_KEY_FIND);
    if (st == NULL)
        return CTK_EIO;
    bind_text(st, 1, queue);
    bind_text(st, 2, key);
    int rc = one_int64(s, st, id);
    return rc < 0 ? rc : 0;
}

/* How a new job starts given what it waits for: how many are unfinished,
 * and the reason it is cancelled at once when one failed. */
static int check_after(sqlite_store *s, const ctk_job_spec *j, int *waiting, char *reason,
                       size_t reason_len)
{
    *waiting = 0;
    reason[0] = '\0';
    for (size_t i = 0; i < j->n_after; i++) {
        int state, rc = state_of(s, j->after[i], &state);
        if (rc == CTK_ENOENT)
            snprintf(s->error, sizeof s->error, "--after %lld: no such job",
                     (long long)j->after[i]);
        if (rc < 0)
            return rc;
        if (state == CTK_JOB_QUEUED || state == CTK_JOB_RUNNING)
            (*waiting)++;
        else if (state != CTK_JOB_DONE && reason[0] == '\0')
            snprintf(reason, reason_len, "dependency %lld %s", (long long)j->after[i],
                     ctk_job_state_name((ctk_job_state)state));
    }
    return 0;
}

static int insert_deps(sqlite_store *s, int64_t id, const ctk_job_spec *j)
{
    for (size_t i = 0; i < j->n_after; i++) {
        sqlite3_stmt *st = prep(s, S_DEP_INSERT);
        if (st == NULL)
            return CTK_EIO;
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, j->after[i]);
        int rc = exec_stmt(s, st);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int insert_one(sqlite_store *s, const ctk_job_spec *j, double now, int64_t *id, int *existed)
{
    *existed = 0;
    int rc = j->key != NULL ? find_key(s, j->queue, j->key, id) : 0;
    if (rc < 0 || (j->key != NULL && *id > 0)) {
        *existed = rc == 0;
        return rc;
    }
    int waiting;
    char reason[128];
    if ((rc = check_after(s, j, &waiting, reason, sizeof reason)) < 0)
        return rc;
    int cancelled = reason[0] != '\0';
    sqlite3_stmt *st = prep(s, S_INSERT);
    if (st == NULL)
        return CTK_EIO;
    bind_text(st, 1, j->queue);
    sqlite3_bind_int(st, 2, cancelled ? CTK_JOB_CANCELLED : CTK_JOB_QUEUED);
    sqlite3_bind_int(st, 3, waiting);
    bind_text(st, 4, j->name);
    bind_text(st, 5, j->cmd);
    bind_vector(st, 6, j->argv);
    bind_text(st, 7, j->cwd);
    bind_vector(st, 8, j->env);
    bind_text(st, 9, j->key);
    sqlite3_bind_int64(st, 10, j->priority);
    sqlite3_bind_int(st, 11, (int)j->retries);
    sqlite3_bind_int(st, 12, j->weight > 0 ? (int)j->weight : 1);
    sqlite3_bind_double(st, 13, j->timeout);
    sqlite3_bind_double(st, 14, now);
    bind_text(st, 15, cancelled ? reason : NULL);
    if (cancelled)
        sqlite3_bind_double(st, 16, now);
    if ((rc = exec_stmt(s, st)) < 0)
        return rc;
    *id = sqlite3_last_insert_rowid(s->db);
    return insert_deps(s, *id, j);
}

static int ensure_queue(sqlite_store *s, const char *queue)
{
    sqlite3_stmt *st = prep(s, S_QUEUE_ENSURE);
    if (st == NULL)
        return CTK_EIO;
    bind_text(st, 1, queue);
    return exec_stmt(s, st);
}

static int sqlite_add(ctk_store *st, const ctk_job_spec *specs, size_t n, int64_t *ids,
                      int *existed, char *err, size_t err_len)
{
    sqlite_store *s = (sqlite_store *)st;
    int rc = begin(s);
    double now = now_of(s);
    const char *last_queue = NULL;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (last_queue == NULL || strcmp(last_queue, specs[i].queue) != 0)
            rc = ensure_queue(s, last_queue = specs[i].queue);
        int dup = 0;
        if (rc == 0)
            rc = insert_one(s, &specs[i], now, &ids[i], &dup);
        if (existed != NULL)
            existed[i] = dup;
    }
    rc = end(s, rc);
    if (rc < 0)
        snprintf(err, err_len, "%s", s->error);
    return rc;
}

/* ---- claiming and running --------------------------------------------------- */

static int get_job(sqlite_store *s, int64_t id, ctk_job *job)
{
    sqlite3_stmt *st = prep(s, S_GET);
    if (st == NULL)
        return CTK_EIO;
    sqlite3_bind_int64(st, 1, id);
    int rc = step_one(s, st);
    if (rc == 0)
        snprintf(s->error, sizeof s->error, "no job %lld", (long long)id);
    if (rc <= 0)
        return rc == 0 ? CTK_ENOENT : rc;
    read_job(st, job);
    sqlite3_reset(st);
    GArray *after = g_array_new(FALSE, FALSE, sizeof(int64_t));
    st = prep(s, S_DEPS_OF);
    if (st == NULL) {
        g_array_free(after, TRUE);
        ctk_job_clear(job);
        return CTK_EIO;
    }
    sqlite3_bind_int64(st, 1, id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t a = sqlite3_column_int64(st, 0);
        g_array_append_val(after, a);
    }
    sqlite3_reset(st);
    job->n_after = after->len;
    job->after = (int64_t *)(void *)g_array_free(after, FALSE);
    return 0;
}

static int queue_paused(sqlite_store *s, const char *queue, int *paused)
{
    sqlite3_stmt *st = prep(s, S_PAUSED);
    if (st == NULL)
        return CTK_EIO;
    bind_text(st, 1, queue);
    int64_t v;
    int rc = one_int64(s, st, &v);
    *paused = v != 0;
    return rc < 0 ? rc : 0;
}

static int pick_ready(sqlite_store *s, const char *queue, unsigned max_weight, int64_t *id)
{
    sqlite3_stmt *st = prep(s, S_READY);
    if (st == NULL)
        return CTK_EIO;
    bind_text(st, 1, queue);
    sqlite3_bind_int(st, 2, (int)max_weight);
    int rc = one_int64(s, st, id);
    return rc < 0 ? rc : rc == 0 ? CTK_EAGAIN : 0;
}

static int sqlite_claim(ctk_store *st, const char *queue, const ctk_worker_id *w,
                        unsigned max_weight, double lease_until, ctk_job *job)
{
    sqlite_store *s = (sqlite_store *)st;
    int paused = 0;
    int64_t id = 0;
    /* Idle workers look without taking the write lock: only a worker
     * that saw a ready job competes for it (and looks again inside). */
    int rc = pick_ready(s, queue, max_weight, &id);
    if (rc < 0)
        return rc;
    if ((rc = begin(s)) == 0)
        rc = queue_paused(s, queue, &paused);
    if (rc == 0 && paused)
        rc = CTK_EAGAIN;
    if (rc == 0)
        rc = pick_ready(s, queue, max_weight, &id);
    if (rc == 0) {
        sqlite3_stmt *u = prep(s, S_CLAIM);
        if (u == NULL) {
            rc = CTK_EIO;
        } else {
            sqlite3_bind_int64(u, 1, id);
            bind_text(u, 2, w->id);
            bind_text(u, 3, w->host);
            sqlite3_bind_double(u, 4, now_of(s));
            sqlite3_bind_double(u, 5, lease_until);
            rc = exec_stmt(s, u);
        }
    }
    if (rc == 0)
        rc = get_job(s, id, job);
    if (rc == CTK_EAGAIN) {
        end(s, 0);
        return CTK_EAGAIN;
    }
    rc = end(s, rc);
    if (rc < 0 && id > 0 && job->id == id)
        ctk_job_clear(job);
    return rc;
}

static int sqlite_set_pid(ctk_store *st, int64_t id, const ctk_worker_id *w, int64_t pid,
                          uint64_t pid_start, int *kill_requested)
{
    sqlite_store *s = (sqlite_store *)st;
    int rc = begin(s);
    sqlite3_stmt *u = rc == 0 ? prep(s, S_SET_PID) : NULL;
    if (rc == 0 && u == NULL)
        rc = CTK_EIO;
    if (rc == 0) {
        sqlite3_bind_int64(u, 1, id);
        bind_text(u, 2, w->id);
        sqlite3_bind_int64(u, 3, pid);
        sqlite3_bind_int64(u, 4, (int64_t)pid_start);
        int step = sqlite3_step(u);
        *kill_requested = step == SQLITE_ROW && sqlite3_column_int(u, 0) != 0;
        while (step == SQLITE_ROW)
            step = sqlite3_step(u);
        sqlite3_reset(u);
        rc = step == SQLITE_DONE ? 0 : db_error(s, "write");
    }
    return end(s, rc);
}

static int sqlite_renew(ctk_store *st, const ctk_worker_id *w, double lease_until)
{
    sqlite_store *s = (sqlite_store *)st;
    int rc = begin(s);
    sqlite3_stmt *u = rc == 0 ? prep(s, S_RENEW) : NULL;
    if (rc == 0 && u == NULL)
        rc = CTK_EIO;
    if (rc == 0) {
        bind_text(u, 1, w->id);
        sqlite3_bind_double(u, 2, lease_until);
        rc = exec_stmt(s, u);
    }
    return end(s, rc);
}

/* Cancels the queued jobs that wait for `id`, and theirs, with the reason
 * that names the job they waited for. */
static int cancel_dependents(sqlite_store *s, int64_t id, const char *what)
{
    GArray *todo = g_array_new(FALSE, FALSE, sizeof(int64_t));
    g_array_append_val(todo, id);
    int rc = 0;
    double now = now_of(s);
    for (guint k = 0; rc == 0 && k < todo->len; k++) {
        int64_t after = g_array_index(todo, int64_t, k);
        GArray *hit = g_array_new(FALSE, FALSE, sizeof(int64_t));
        sqlite3_stmt *st = prep(s, S_DEPENDENTS);
        if (st == NULL) {
            rc = CTK_EIO;
        } else {
            sqlite3_bind_int64(st, 1, after);
            while (sqlite3_step(st) == SQLITE_ROW)
                if (sqlite3_column_int(st, 1) == CTK_JOB_QUEUED) {
                    int64_t j = sqlite3_column_int64(st, 0);
                    g_array_append_val(hit, j);
                }
            sqlite3_reset(st);
        }
        char reason[96];
        snprintf(reason, sizeof reason, "dependency %lld %s", (long long)after,
                 k == 0 ? what : "cancelled");
        for (guint i = 0; rc == 0 && i < hit->len; i++) {
            sqlite3_stmt *u = prep(s, S_CANCEL);
            if (u == NULL) {
                rc = CTK_EIO;
                break;
            }
            sqlite3_bind_int64(u, 1, g_array_index(hit, int64_t, i));
            bind_text(u, 2, reason);
            sqlite3_bind_double(u, 3, now);
            rc = exec_stmt(s, u);
            g_array_append_val(todo, g_array_index(hit, int64_t, i));
        }
        g_array_free(hit, TRUE);
    }
    g_array_free(todo, TRUE);
    return rc;
}

static int bump_int(sqlite_store *s, enum stmt_id id, int64_t v)
{
    sqlite3_stmt *st = prep(s, id);
    if (st == NULL)
        return CTK_EIO;
    sqlite3_bind_int64(st, 1, v);
    return exec_stmt(s, st);
}

typedef struct run_info {
    int state, attempts, retries, kill_requested;
    double queued_at, started_at;
    char worker[256], queue[256];
} run_info;

static int read_run_info(sqlite_store *s, int64_t id, run_info *ri)
{
    sqlite3_stmt *st = prep(s, S_RUN_INFO);
    if (st == NULL)
        return CTK_EIO;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        ri->state = sqlite3_column_int(st, 0);
        const unsigned char *w = sqlite3_column_text(st, 1);
        snprintf(ri->worker, sizeof ri->worker, "%s", w != NULL ? (const char *)w : "");
        ri->attempts = sqlite3_column_int(st, 2);
        ri->retries = sqlite3_column_int(st, 3);
        ri->kill_requested = sqlite3_column_int(st, 4);
        ri->queued_at = sqlite3_column_double(st, 5);
        ri->started_at = sqlite3_column_double(st, 6);
        snprintf(ri->queue, sizeof ri->queue, "%s", (const char *)sqlite3_column_text(st, 7));
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return CTK_ENOENT;
    return rc == SQLITE_ROW ? 0 : db_error(s, "read");
}

static int record_end(sqlite_store *s, int64_t id, const ctk_job_outcome *o, const run_info *ri,
                      double now)
{
    int ok = o->exit_code == 0 && o->signal == 0;
    int again = !ok && !o->no_retry && !ri->kill_requested && ri->attempts <= ri->retries;
    enum stmt_id which = ok ? S_DONE : again ? S_REQUEUE : S_FAILED;
    sqlite3_stmt *u = prep(s, which);
    if (u == NULL)
        return CTK_EIO;
    sqlite3_bind_int64(u, 1, id);
    sqlite3_bind_int(u, 2, o->exit_code);
    sqlite3_bind_int(u, 3, o->signal);
    if (ok) {
        sqlite3_bind_double(u, 4, now);
    } else {
        const char *killed = ri->kill_requested ? "killed by cqueue kill" : NULL;
        bind_text(u, 4, o->reason != NULL ? o->reason : killed);
        if (!again)
            sqlite3_bind_double(u, 5, now);
    }
    int rc = exec_stmt(s, u);
    if (rc == 0 && ok)
        rc = bump_int(s, S_UNBLOCK, id);
    if (rc == 0 && !ok && !again)
        rc = cancel_dependents(s, id, "failed");
    if (rc == 0 && !again) {
        sqlite3_stmt *q = prep(s, S_QUEUE_STATS_ADD);
        if (q == NULL)
            return CTK_EIO;
        bind_text(q, 1, ri->queue);
        sqlite3_bind_double(q, 2, ri->started_at - ri->queued_at);
        sqlite3_bind_double(q, 3, now - ri->started_at);
        rc = exec_stmt(s, q);
    }
    return rc;
}

static int sqlite_finish(ctk_store *st, int64_t id, const ctk_worker_id *w,
                         const ctk_job_outcome *o)
{
    sqlite_store *s = (sqlite_store *)st;
    run_info ri;
    int rc = begin(s);
    if (rc == 0)
        rc = read_run_info(s, id, &ri);
    if (rc == 0 && (ri.state != CTK_JOB_RUNNING || strcmp(ri.worker, w->id) != 0))
        rc = CTK_ENOENT; /* the lease was lost: another attempt owns the job now */
    if (rc == 0)
        rc = record_end(s, id, o, &ri, now_of(s));
    return end(s, rc);
}

static int sqlite_release(ctk_store *st, int64_t id, const ctk_worker_id *w)
{
    sqlite_store *s = (sqlite_store *)st;
    int rc = begin(s);
    sqlite3_stmt *u = rc == 0 ? prep(s, S_RELEASE) : NULL;
    if (rc == 0 && u == NULL)
        rc = CTK_EIO;
    if (rc == 0) {
        sqlite3_bind_int64(u, 1, id);
        bind_text(u, 2, w->id);
        bind_text(u, 3, "worker stopped; queued again");
        rc = exec_stmt(s, u);
    }
    return end(s, rc);
}

static int sqlite_expire(ctk_store *st, const char *queue, const char *host,
                         int (*is_dead)(void *arg, const char *worker), ctk_job_fn on_orphan,
                         void *arg, unsigned *n)
{
    sqlite_store *s = (sqlite_store *)st;
    *n = 0;
    double now = now_of(s);
    int rc = begin(s);
    sqlite3_stmt *q = rc == 0 ? prep(s, S_EXPIRE_SCAN) : NULL;
    if (rc == 0 && q == NULL)
        rc = CTK_EIO;
    GArray *lost = g_array_new(FALSE, TRUE, sizeof(ctk_job));
    if (rc == 0) {
        bind_text(q, 1, queue);
        sqlite3_bind_double(q, 2, now);
        bind_text(q, 3, host);
        while (sqlite3_step(q) == SQLITE_ROW) {
            ctk_job job;
            read_job(q, &job);
            const unsigned char *h = sqlite3_column_text(q, 25);
            int here = h != NULL && host != NULL && strcmp((const char *)h, host) == 0;
            int expired = job.lease_until < now;
            if (expired || (here && is_dead != NULL && is_dead(arg, job.worker)))
                g_array_append_val(lost, job);
            else
                ctk_job_clear(&job);
        }
        sqlite3_reset(q);
    }
    for (guint i = 0; rc == 0 && i < lost->len; i++) {
        ctk_job *job = &g_array_index(lost, ctk_job, i);
        char reason[160];
        snprintf(reason, sizeof reason, "worker %s lost during attempt %u; queued again",
                 job->worker != NULL ? job->worker : "?", job->attempts);
        sqlite3_stmt *u = prep(s, S_EXPIRE);
        if (u == NULL) {
            rc = CTK_EIO;
            break;
        }
        sqlite3_bind_int64(u, 1, job->id);
        bind_text(u, 2, reason);
        rc = exec_stmt(s, u);
        (*n)++;
    }
    rc = end(s, rc);
    for (guint i = 0; i < lost->len; i++) {
        ctk_job *job = &g_array_index(lost, ctk_job, i);
        if (rc == 0 && on_orphan != NULL)
            on_orphan(arg, job);
        ctk_job_clear(job);
    }
    g_array_free(lost, TRUE);
    return rc;
}

/* ---- reading ---------------------------------------------------------------- */

static int sqlite_get(ctk_store *st, int64_t id, ctk_job *job)
{
    return get_job((sqlite_store *)st, id, job);
}

static int sqlite_list(ctk_store *st, const ctk_store_filter *f, ctk_job_fn fn, void *arg)
{
    sqlite_store *s = (sqlite_store *)st;
    sqlite3_stmt *q = prep(s, f->state >= 0 ? S_LIST_STATE : S_LIST_ALL);
    if (q == NULL)
        return CTK_EIO;
    bind_text(q, 1, f->queue);
    sqlite3_bind_int64(q, 2, f->after_id);
    sqlite3_bind_int64(q, 3, f->limit > 0 ? (int64_t)f->limit : -1);
    if (f->state >= 0)
        sqlite3_bind_int(q, 4, f->state);
    int rc, stop = 0;
    while (!stop && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        ctk_job job;
        read_job(q, &job);
        stop = fn(arg, &job);
        ctk_job_clear(&job);
    }
    sqlite3_reset(q);
    return stop || rc == SQLITE_DONE ? 0 : db_error(s, "read");
}

static int sqlite_control(ctk_store *st, const char *queue, ctk_queue_control *c)
{
    sqlite_store *s = (sqlite_store *)st;
    sqlite3_stmt *q = prep(s, S_CONTROL);
    if (q == NULL)
        return CTK_EIO;
    bind_text(q, 1, queue);
    int rc = sqlite3_step(q);
    c->paused = rc == SQLITE_ROW ? sqlite3_column_int(q, 0) : 0;
    c->stop_gen = rc == SQLITE_ROW ? sqlite3_column_int64(q, 1) : 0;
    sqlite3_reset(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_error(s, "read");
}

static int sqlite_stats(ctk_store *st, const char *queue, ctk_store_stats *out)
{
    sqlite_store *s = (sqlite_store *)st;
    memset(out, 0, sizeof *out);
    sqlite3_stmt *q = prep(s, S_COUNTS);
    if (q == NULL)
        return CTK_EIO;
    bind_text(q, 1, queue);
    while (sqlite3_step(q) == SQLITE_ROW) {
        int state = sqlite3_column_int(q, 0);
        if (state >= 0 && state < CTK_JOB_NSTATES)
            out->count[state] = (uint64_t)sqlite3_column_int64(q, 1);
    }
    sqlite3_reset(q);
    if ((q = prep(s, S_RECENT)) == NULL)
        return CTK_EIO;
    bind_text(q, 1, queue);
    sqlite3_bind_double(q, 2, now_of(s) - 60);
    if (sqlite3_step(q) == SQLITE_ROW)
        out->finished_last_minute = (uint64_t)sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    if ((q = prep(s, S_QUEUE_ROW)) == NULL)
        return CTK_EIO;
    bind_text(q, 1, queue);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        double n = (double)sqlite3_column_int64(q, 0);
        out->mean_wait = n > 0 ? sqlite3_column_double(q, 1) / n : 0;
        out->mean_run = n > 0 ? sqlite3_column_double(q, 2) / n : 0;
        out->paused = sqlite3_column_int(q, 3);
    }
    sqlite3_reset(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_error(s, "read");
}

/* ---- changing ----------------------------------------------------------------- */

static int remove_job(sqlite_store *s, int64_t id)
{
    int rc = bump_int(s, S_DELETE, id);
    return rc == 0 ? bump_int(s, S_DEPS_DELETE, id) : rc;
}

static int sqlite_remove(ctk_store *st, int64_t id)
{
    sqlite_store *s = (sqlite_store *)st;
    int state = 0;
    int rc = begin(s);
    if (rc == 0)
        rc = state_of(s, id, &state);
    if (rc == CTK_ENOENT)
        snprintf(s->error, sizeof s->error, "no job %lld", (long long)id);
    if (rc == 0 && state == CTK_JOB_RUNNING) {
        snprintf(s->error, sizeof s->error, "job %lld is running (kill it first)", (long long)id);
        rc = CTK_EAGAIN;
    }
    if (rc == 0 && state == CTK_JOB_QUEUED)
        rc = cancel_dependents(s, id, "removed");
    if (rc == 0)
        rc = remove_job(s, id);
    return end(s, rc);
}

/* A job whose key a queued or running job holds now cannot be queued
 * again (the key names one live job): CTK_EEXIST, and the error says
 * which job holds it. */
static int key_free(sqlite_store *s, int64_t id)
{
    sqlite3_stmt *q = prep(s, S_KEY_OF);
    if (q == NULL)
        return CTK_EIO;
    sqlite3_bind_int64(q, 1, id);
    int rc = step_one(s, q);
    if (rc <= 0)
        return rc;
    char *queue = column_text(q, 0), *key = column_text(q, 1);
    sqlite3_reset(q);
    int64_t holder = 0;
    rc = key != NULL ? find_key(s, queue, key, &holder) : 0;
    if (rc == 0 && holder != 0 && holder != id) {
        snprintf(s->error, sizeof s->error, "job %lld: its key '%s' is held by job %lld",
                 (long long)id, key, (long long)holder);
        rc = CTK_EEXIST;
    }
    g_free(queue);
    g_free(key);
    return rc;
}

/* Queues a job again with `waiting` recounted; when one of its own
 * dependencies failed meanwhile, it is cancelled again at once. */
static int requeue_one(sqlite_store *s, int64_t id)
{
    int krc = key_free(s, id);
    if (krc < 0)
        return krc;
    sqlite3_stmt *q = prep(s, S_WAITING_COUNT);
    if (q == NULL)
        return CTK_EIO;
    sqlite3_bind_int64(q, 1, id);
    int waiting = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : 0;
    sqlite3_reset(q);
    sqlite3_stmt *u = prep(s, S_RETRY);
    if (u == NULL)
        return CTK_EIO;
    sqlite3_bind_int64(u, 1, id);
    sqlite3_bind_int(u, 2, waiting);
    int rc = exec_stmt(s, u);
    if (rc < 0 || (q = prep(s, S_DEP_BROKEN)) == NULL)
        return rc < 0 ? rc : CTK_EIO;
    sqlite3_bind_int64(q, 1, id);
    char reason[96] = "";
    if (sqlite3_step(q) == SQLITE_ROW)
        snprintf(reason, sizeof reason, "dependency %lld %s", (long long)sqlite3_column_int64(q, 0),
                 ctk_job_state_name((ctk_job_state)sqlite3_column_int(q, 1)));
    sqlite3_reset(q);
    if (reason[0] == '\0')
        return 0;
    if ((u = prep(s, S_CANCEL)) == NULL)
        return CTK_EIO;
    sqlite3_bind_int64(u, 1, id);
    bind_text(u, 2, reason);
    sqlite3_bind_double(u, 3, now_of(s));
    return exec_stmt(s, u);
}

/* A retried job brings back the jobs that were cancelled only because it
 * had failed, and theirs. */
static int retry_tree(sqlite_store *s, int64_t root)
{
    GArray *todo = g_array_new(FALSE, FALSE, sizeof(int64_t));
    g_array_append_val(todo, root);
    int rc = 0;
    for (guint k = 0; rc == 0 && k < todo->len; k++) {
        int64_t id = g_array_index(todo, int64_t, k);
        rc = requeue_one(s, id);
        /* A dependent whose key is taken stays cancelled, with its own. */
        if (rc == CTK_EEXIST && k > 0) {
            rc = 0;
            continue;
        }
        char prefix[64];
        snprintf(prefix, sizeof prefix, "dependency %lld ", (long long)id);
        sqlite3_stmt *q = rc == 0 ? prep(s, S_DEPENDENTS) : NULL;
        if (q == NULL)
            break;
        sqlite3_bind_int64(q, 1, id);
        while (sqlite3_step(q) == SQLITE_ROW) {
            const unsigned char *r = sqlite3_column_text(q, 2);
            if (sqlite3_column_int(q, 1) == CTK_JOB_CANCELLED && r != NULL &&
                g_str_has_prefix((const char *)r, prefix)) {
                int64_t j = sqlite3_column_int64(q, 0);
                g_array_append_val(todo, j);
            }
        }
        sqlite3_reset(q);
    }
    g_array_free(todo, TRUE);
    return rc;
}

static int sqlite_retry(ctk_store *st, int64_t id)
{
    sqlite_store *s = (sqlite_store *)st;
    int state = 0;
    int rc = begin(s);
    if (rc == 0)
        rc = state_of(s, id, &state);
    if (rc == CTK_ENOENT)
        snprintf(s->error, sizeof s->error, "no job %lld", (long long)id);
    if (rc == 0 && state != CTK_JOB_FAILED && state != CTK_JOB_CANCELLED) {
        snprintf(s->error, sizeof s->error, "job %lld is %s, not failed or cancelled",
                 (long long)id, ctk_job_state_name((ctk_job_state)state));
        rc = CTK_EINVAL;
    }
    if (rc == 0)
        rc = retry_tree(s, id);
    return end(s, rc);
}

static int sqlite_retry_failed(ctk_store *st, const char *queue, unsigned *n)
{
    sqlite_store *s = (sqlite_store *)st;
    *n = 0;
    int rc = begin(s);
    sqlite3_stmt *q = rc == 0 ? prep(s, S_FAILED_IDS) : NULL;
    GArray *ids = g_array_new(FALSE, FALSE, sizeof(int64_t));
    if (q != NULL) {
        bind_text(q, 1, queue);
        while (sqlite3_step(q) == SQLITE_ROW) {
            int64_t id = sqlite3_column_int64(q, 0);
            g_array_append_val(ids, id);
        }
        sqlite3_reset(q);
    } else if (rc == 0) {
        rc = CTK_EIO;
    }
    for (guint i = 0; rc == 0 && i < ids->len; i++) {
        int state = 0;
        /* An earlier retry in this loop may have brought it back already. */
        rc = state_of(s, g_array_index(ids, int64_t, i), &state);
        if (rc == 0 && state == CTK_JOB_FAILED) {
            rc = retry_tree(s, g_array_index(ids, int64_t, i));
            /* One whose key a live job holds stays failed; the rest go. */
            if (rc == CTK_EEXIST)
                rc = 0;
            else if (rc == 0)
                (*n)++;
        }
    }
    g_array_free(ids, TRUE);
    return end(s, rc);
}

static int sqlite_request_kill(ctk_store *st, int64_t id, ctk_job *job)
{
    sqlite_store *s = (sqlite_store *)st;
    int rc = begin(s);
    if (rc == 0)
        rc = get_job(s, id, job);
    if (rc < 0)
        return end(s, rc);
    if (job->state == CTK_JOB_QUEUED) {
        sqlite3_stmt *u = prep(s, S_CANCEL);
        rc = u == NULL ? CTK_EIO : 0;
        if (rc == 0) {
            sqlite3_bind_int64(u, 1, id);
            bind_text(u, 2, "killed by cqueue kill before it ran");
            sqlite3_bind_double(u, 3, now_of(s));
            rc = exec_stmt(s, u);
        }
        if (rc == 0)
            rc = cancel_dependents(s, id, "cancelled");
    } else if (job->state == CTK_JOB_RUNNING) {
        rc = bump_int(s, S_KILL_FLAG, id);
    } else {
        snprintf(s->error, sizeof s->error, "job %lld is %s already", (long long)id,
                 ctk_job_state_name(job->state));
        rc = CTK_EINVAL;
    }
    rc = end(s, rc);
    if (rc < 0)
        ctk_job_clear(job);
    return rc;
}

static int queue_update(sqlite_store *s, enum stmt_id id, const char *queue, int value)
{
    int rc = begin(s);
    if (rc == 0)
        rc = ensure_queue(s, queue);
    sqlite3_stmt *u = rc == 0 ? prep(s, id) : NULL;
    if (rc == 0 && u == NULL)
        rc = CTK_EIO;
    if (rc == 0) {
        bind_text(u, 1, queue);
        if (id == S_SET_PAUSED)
            sqlite3_bind_int(u, 2, value);
        rc = exec_stmt(s, u);
    }
    return end(s, rc);
}

static int sqlite_set_paused(ctk_store *st, const char *queue, int paused)
{
    return queue_update((sqlite_store *)st, S_SET_PAUSED, queue, paused);
}

static int sqlite_stop(ctk_store *st, const char *queue)
{
    return queue_update((sqlite_store *)st, S_STOP, queue, 0);
}

static int sqlite_clear(ctk_store *st, const char *queue, unsigned mask, ctk_job_fn fn, void *arg,
                        unsigned *n)
{
    sqlite_store *s = (sqlite_store *)st;
    *n = 0;
    int rc = begin(s);
    for (int state = CTK_JOB_DONE; rc == 0 && state < CTK_JOB_NSTATES; state++) {
        if (!(mask & (1u << state)))
            continue;
        GArray *ids = g_array_new(FALSE, FALSE, sizeof(int64_t));
        sqlite3_stmt *q = prep(s, S_LIST_STATE);
        if (q == NULL) {
            rc = CTK_EIO;
        } else {
            bind_text(q, 1, queue);
            sqlite3_bind_int64(q, 2, 0);
            sqlite3_bind_int64(q, 3, -1);
            sqlite3_bind_int(q, 4, state);
            while (sqlite3_step(q) == SQLITE_ROW) {
                ctk_job job;
                read_job(q, &job);
                if (fn != NULL)
                    fn(arg, &job);
                g_array_append_val(ids, job.id);
                ctk_job_clear(&job);
            }
            sqlite3_reset(q);
        }
        for (guint i = 0; rc == 0 && i < ids->len; i++, (*n)++)
            rc = remove_job(s, g_array_index(ids, int64_t, i));
        g_array_free(ids, TRUE);
    }
    return end(s, rc);
}

static int sqlite_check(ctk_store *st, char *result, size_t len)
{
    sqlite_store *s = (sqlite_store *)st;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db, "PRAGMA integrity_check", -1, &q, NULL) != SQLITE_OK)
        return db_error(s, "check");
    GString *out = g_string_new(NULL);
    while (sqlite3_step(q) == SQLITE_ROW)
        g_string_append_printf(out, "%s%s", out->len ? "\n" : "", sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    snprintf(result, len, "%s", out->str);
    g_string_free(out, TRUE);
    return 0;
}

static const char *sqlite_last_error(ctk_store *st)
{
    return ((sqlite_store *)st)->error;
}

static const ctk_store_ops sqlite_ops = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .add = sqlite_add,
    .claim = sqlite_claim,
    .set_pid = sqlite_set_pid,
    .renew = sqlite_renew,
    .finish = sqlite_finish,
    .release = sqlite_release,
    .expire = sqlite_expire,
    .get = sqlite_get,
    .list = sqlite_list,
    .remove = sqlite_remove,
    .retry = sqlite_retry,
    .retry_failed = sqlite_retry_failed,
    .request_kill = sqlite_request_kill,
    .set_paused = sqlite_set_paused,
    .stop = sqlite_stop,
    .control = sqlite_control,
    .stats = sqlite_stats,
    .clear = sqlite_clear,
    .check = sqlite_check,
    .last_error = sqlite_last_error,
};

const ctk_store_ops *ctk_store_sqlite_ops(void)
{
    return &sqlite_ops;
}
