/*
 * store-postgres.c: a cqueue store (ctk/store.h) on PostgreSQL, for a
 * queue that workers on many machines share. Picked by a --db value
 * postgresql://... or postgres://... (libpq's connection URI, passed as
 * it is). Built as an outside author builds a plugin:
 *
 *   cc -shared -fPIC -o store-postgres.so store-postgres.c \
 *      $(pkg-config --cflags --libs ctk libpq)
 *
 * The tables live in their own schema, "cqueue", so the queue can share a
 * database with other programs; a schema of that name that is not ours,
 * or that a newer cqueue wrote, is refused. Every operation is one
 * transaction. Times (queued, started, leases) are the server's clock,
 * never a worker's: the hosts' clocks need not agree. Claims take the
 * next job with FOR UPDATE SKIP LOCKED, so workers never queue behind
 * each other's claims, and every change that can make a job ready sends
 * NOTIFY, which idle workers wait for on a second connection (LISTEN).
 *
 * Round trips are what a job costs here, so the common paths take one:
 * a claim is one UPDATE that returns the job, a successful finish one
 * statement (its NOTIFY within), both in autocommit; a batch of `add -`
 * streams its rows with COPY between two round trips.
 *
 * When the server goes away (a restart), an operation reconnects with
 * backoff and runs its transaction again; the jobs keep running
 * meanwhile. A transaction whose COMMIT got no answer may have committed:
 * add and claim tag their work with a token, so running them again finds
 * what they did instead of doing it twice.
 */
#define _DEFAULT_SOURCE /* strdup, poll, clock_gettime under -std=c11 */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ctk/plugin.h>

#define SCHEMA_VERSION 1
#define LOCK_KEY       "7238634212427740017" /* "ctkqueue": migrations one at a time */
#define CHANNEL        "cqueue"
/* How long an operation keeps reconnecting before it gives up. */
#define RECONNECT_SECONDS 600.0
#define MAX_PARAMS        16

/* Each step brings the schema from version i to i + 1. */
static const char *const migrations[] = {
    /* 1: the jobs, their dependencies, the queues and add's tokens. */
    "CREATE TABLE cqueue.queues(name text PRIMARY KEY, paused int NOT NULL DEFAULT 0,"
    " stop_gen bigint NOT NULL DEFAULT 0, n_finished bigint NOT NULL DEFAULT 0,"
    " sum_wait float8 NOT NULL DEFAULT 0, sum_run float8 NOT NULL DEFAULT 0);"
    "CREATE TABLE cqueue.jobs(id bigserial PRIMARY KEY, queue text NOT NULL, state int NOT NULL,"
    " waiting int NOT NULL DEFAULT 0, name text, cmd text NOT NULL, argv bytea, cwd text,"
    " env bytea, key text, priority bigint NOT NULL DEFAULT 0, retries int NOT NULL DEFAULT 0,"
    " weight int NOT NULL DEFAULT 1, timeout float8 NOT NULL DEFAULT 0,"
    " attempts int NOT NULL DEFAULT 0, exit int, signal int, reason text, worker text, host text,"
    " queued_at float8 NOT NULL, started_at float8, finished_at float8, lease_until float8,"
    " pid bigint, pid_start bigint, kill_requested int NOT NULL DEFAULT 0, claim_tok text);"
    "CREATE TABLE cqueue.deps(job bigint NOT NULL, after bigint NOT NULL,"
    " PRIMARY KEY(job, after));"
    "CREATE INDEX deps_after ON cqueue.deps(after);"
    "CREATE INDEX jobs_ready ON cqueue.jobs(queue, priority DESC, id)"
    " WHERE state = 0 AND waiting = 0;"
    "CREATE INDEX jobs_running ON cqueue.jobs(queue, lease_until) WHERE state = 1;"
    "CREATE INDEX jobs_worker ON cqueue.jobs(worker) WHERE state = 1;"
    "CREATE UNIQUE INDEX jobs_key ON cqueue.jobs(queue, key)"
    " WHERE key IS NOT NULL AND state IN (0, 1);"
    "CREATE INDEX jobs_state ON cqueue.jobs(queue, state, id);"
    "CREATE INDEX jobs_finished ON cqueue.jobs(queue, finished_at)"
    " WHERE finished_at IS NOT NULL;"
    "CREATE TABLE cqueue.batches(tok text PRIMARY KEY, ids bigint[] NOT NULL,"
    " at float8 NOT NULL);",
};

#define NOW "extract(epoch from now())::float8"
#define JOB_COLS                                                                                   \
    "j.id, j.state, j.queue, j.name, j.cmd, j.cwd, j.key, j.argv, j.env, j.reason, j.worker,"      \
    " j.priority, j.retries, j.weight, j.attempts, j.timeout, j.exit, j.signal, j.queued_at,"      \
    " j.started_at, j.finished_at, j.lease_until, j.pid, j.pid_start, j.kill_requested,"           \
    " ARRAY(SELECT d.after FROM cqueue.deps d WHERE d.job = j.id ORDER BY d.after)"
#define N_JOB_COLS 26

enum stmt_id {
    S_QUEUE_ENSURE,
    S_INSERT,
    S_BATCH_NOTE,
    S_BATCH_FIND,
    S_BATCH_TRIM,
    S_DEP_INSERT,
    S_KEY_FIND,
    S_STATE_OF,
    S_LOCK_STATE,
    S_CLAIM,
    S_CLAIM_FIND,
    S_FINISH_OK,
    S_GET,
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
    S_HERE_RUNNING,
    S_EXPIRE,
    S_LIST_ALL,
    S_LIST_STATE,
    S_DELETE,
    S_DEPS_DELETE,
    S_RETRY,
    S_DEP_STATES,
    S_FAILED_IDS,
    S_KILL_FLAG,
    S_SET_PAUSED,
    S_STOP,
    S_CONTROL,
    S_COUNTS,
    S_RECENT,
    S_QUEUE_ROW,
    S_KEY_OF,
    S_NOTIFY,
    S_N
};

static const char *const stmt_sql[S_N] = {
    [S_QUEUE_ENSURE] = "INSERT INTO cqueue.queues(name) VALUES($1) ON CONFLICT DO NOTHING",
    [S_INSERT] = "INSERT INTO cqueue.jobs(queue, state, waiting, name, cmd, argv, cwd, env, key,"
                 " priority, retries, weight, timeout, queued_at, reason, finished_at)"
                 " VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, " NOW ", $14,"
                 " CASE WHEN $2 = 4 THEN " NOW " END) RETURNING id",
    [S_BATCH_NOTE] = "INSERT INTO cqueue.batches(tok, ids, at) VALUES($1, $2::bigint[], " NOW ")",
    [S_BATCH_FIND] = "SELECT ids FROM cqueue.batches WHERE tok = $1",
    [S_BATCH_TRIM] = "DELETE FROM cqueue.batches WHERE at < " NOW " - 3600",
    [S_DEP_INSERT] = "INSERT INTO cqueue.deps(job, after) VALUES($1, $2) ON CONFLICT DO NOTHING",
    [S_KEY_FIND] = "SELECT id FROM cqueue.jobs WHERE queue = $1 AND key = $2 AND state IN (0, 1)",
    [S_STATE_OF] = "SELECT state FROM cqueue.jobs WHERE id = $1",
    /* A job that another job waits for: locked while the waiter is added
     * or retried, so that it cannot finish unseen in between. */
    [S_LOCK_STATE] = "SELECT state FROM cqueue.jobs WHERE id = $1 FOR SHARE",
    [S_CLAIM] = "WITH c AS (SELECT id FROM cqueue.jobs WHERE queue = $1 AND state = 0"
                " AND waiting = 0 AND weight <= $2 AND NOT EXISTS (SELECT 1 FROM cqueue.queues"
                " WHERE name = $1 AND paused <> 0) ORDER BY priority DESC, id LIMIT 1"
                " FOR UPDATE SKIP LOCKED)"
                " UPDATE cqueue.jobs j SET state = 1, worker = $3, host = $4,"
                " attempts = attempts + 1, started_at = " NOW ", lease_until = " NOW " + $5,"
                " pid = NULL, pid_start = NULL, claim_tok = $6 FROM c WHERE j.id = c.id"
                " RETURNING " JOB_COLS,
    [S_CLAIM_FIND] = "SELECT " JOB_COLS " FROM cqueue.jobs j WHERE j.worker = $1 AND j.state = 1"
                     " AND j.claim_tok = $2",
    /* A run that succeeded, as one statement: done, its dependents one
     * wait fewer, the queue's totals, and the NOTIFY, all in the
     * statement's own transaction. No row: w no longer holds the job. */
    [S_FINISH_OK] =
        "WITH f AS (UPDATE cqueue.jobs SET state = 2, exit = 0, signal = 0, reason = NULL,"
        " finished_at = " NOW ", lease_until = NULL, pid = NULL WHERE id = $1 AND state = 1"
        " AND worker = $2 RETURNING id, queue, queued_at, started_at),"
        " u AS (UPDATE cqueue.jobs SET waiting = waiting - 1 WHERE state = 0 AND waiting > 0"
        " AND id IN (SELECT d.job FROM cqueue.deps d JOIN f ON d.after = f.id)),"
        " q AS (UPDATE cqueue.queues SET n_finished = n_finished + 1,"
        " sum_wait = sum_wait + (f.started_at - f.queued_at),"
        " sum_run = sum_run + (" NOW " - f.started_at) FROM f WHERE name = f.queue)"
        " SELECT pg_notify('" CHANNEL "', f.queue) FROM f",
    [S_GET] = "SELECT " JOB_COLS " FROM cqueue.jobs j WHERE j.id = $1",
    [S_SET_PID] = "UPDATE cqueue.jobs SET pid = $3, pid_start = $4 WHERE id = $1 AND state = 1"
                  " AND worker = $2 RETURNING kill_requested",
    [S_RENEW] = "UPDATE cqueue.jobs SET lease_until = " NOW " + $2 WHERE worker = $1"
                " AND state = 1",
    [S_RUN_INFO] = "SELECT state, worker, attempts, retries, kill_requested, queued_at,"
                   " started_at, queue FROM cqueue.jobs WHERE id = $1 FOR UPDATE",
    [S_DONE] = "UPDATE cqueue.jobs SET state = 2, exit = $2, signal = $3, reason = NULL,"
               " finished_at = " NOW ", lease_until = NULL, pid = NULL WHERE id = $1",
    [S_REQUEUE] = "UPDATE cqueue.jobs SET state = 0, exit = $2, signal = $3, reason = $4,"
                  " lease_until = NULL, pid = NULL, worker = NULL WHERE id = $1",
    [S_FAILED] = "UPDATE cqueue.jobs SET state = 3, exit = $2, signal = $3, reason = $4,"
                 " finished_at = " NOW ", lease_until = NULL, pid = NULL WHERE id = $1",
    [S_UNBLOCK] = "UPDATE cqueue.jobs SET waiting = waiting - 1 WHERE state = 0 AND waiting > 0"
                  " AND id IN (SELECT job FROM cqueue.deps WHERE after = $1)",
    [S_QUEUE_STATS_ADD] = "UPDATE cqueue.queues SET n_finished = n_finished + 1,"
                          " sum_wait = sum_wait + $2, sum_run = sum_run + (" NOW " - $3)"
                          " WHERE name = $1",
    [S_DEPENDENTS] = "SELECT d.job, j.state, j.reason FROM cqueue.deps d JOIN cqueue.jobs j"
                     " ON j.id = d.job WHERE d.after = $1 ORDER BY d.job",
    [S_CANCEL] =
        "UPDATE cqueue.jobs SET state = 4, reason = $2, finished_at = " NOW " WHERE id = $1",
    [S_RELEASE] = "UPDATE cqueue.jobs SET state = 0, worker = NULL, lease_until = NULL,"
                  " pid = NULL, reason = $3 WHERE id = $1 AND state = 1 AND worker = $2",
    [S_HERE_RUNNING] = "SELECT id, worker FROM cqueue.jobs WHERE queue = $1 AND state = 1"
                       " AND host = $2",
    /* The old row is what on_orphan needs (its worker, its pid). */
    [S_EXPIRE] = "WITH x AS (SELECT " JOB_COLS " FROM cqueue.jobs j WHERE j.queue = $1"
                 " AND j.state = 1 AND (j.lease_until < " NOW " OR j.id = ANY($2::bigint[]))"
                 " FOR UPDATE SKIP LOCKED), u AS (UPDATE cqueue.jobs j SET state = 0,"
                 " worker = NULL, lease_until = NULL, pid = NULL, reason = 'worker '"
                 " || coalesce(x.worker, '?') || ' lost during attempt ' || x.attempts"
                 " || '; queued again' FROM x WHERE j.id = x.id) SELECT * FROM x",
    [S_LIST_ALL] = "SELECT " JOB_COLS " FROM cqueue.jobs j WHERE j.queue = $1 AND j.id > $2"
                   " ORDER BY j.id LIMIT $3",
    [S_LIST_STATE] = "SELECT " JOB_COLS " FROM cqueue.jobs j WHERE j.queue = $1 AND j.state = $4"
                     " AND j.id > $2 ORDER BY j.id LIMIT $3",
    [S_DELETE] = "DELETE FROM cqueue.jobs WHERE id = $1",
    [S_DEPS_DELETE] = "DELETE FROM cqueue.deps WHERE job = $1 OR after = $1",
    [S_RETRY] = "UPDATE cqueue.jobs SET state = 0, waiting = $2, reason = NULL,"
                " finished_at = NULL, kill_requested = 0, retries = attempts WHERE id = $1",
    [S_DEP_STATES] = "SELECT d.after, j.state FROM cqueue.deps d JOIN cqueue.jobs j"
                     " ON j.id = d.after WHERE d.job = $1 ORDER BY d.after FOR SHARE OF j",
    [S_FAILED_IDS] = "SELECT id FROM cqueue.jobs WHERE queue = $1 AND state = 3 ORDER BY id",
    [S_KILL_FLAG] = "UPDATE cqueue.jobs SET kill_requested = 1 WHERE id = $1",
    [S_SET_PAUSED] = "UPDATE cqueue.queues SET paused = $2 WHERE name = $1",
    [S_STOP] = "UPDATE cqueue.queues SET stop_gen = stop_gen + 1 WHERE name = $1",
    [S_CONTROL] = "SELECT paused, stop_gen FROM cqueue.queues WHERE name = $1",
    [S_COUNTS] = "SELECT state, count(*) FROM cqueue.jobs WHERE queue = $1 GROUP BY state",
    [S_RECENT] = "SELECT count(*) FROM cqueue.jobs WHERE queue = $1"
                 " AND finished_at >= " NOW " - 60",
    [S_QUEUE_ROW] = "SELECT n_finished, sum_wait, sum_run, paused FROM cqueue.queues"
                    " WHERE name = $1",
    [S_KEY_OF] = "SELECT queue, key FROM cqueue.jobs WHERE id = $1",
    [S_NOTIFY] = "SELECT pg_notify('" CHANNEL "', $1)",
};

typedef struct pg_store {
    ctk_store base; /* first: cqueue sees a ctk_store */
    PGconn *conn;
    PGconn *listen; /* wait's own connection, LISTENing */
    char *conninfo;
    char prepared[S_N];
    int lost;      /* the connection failed during this transaction */
    int retryable; /* the server asked for the transaction again (deadlock, conflict) */
    int ambiguous; /* a COMMIT went unanswered: it may have happened */
    char error[768];
} pg_store;

/* One parameter of a statement, sent as text. */
typedef struct param {
    char kind; /* 't' text (NULL: SQL NULL), 'i' integer, 'f' float */
    const char *text;
    int64_t i;
    double f;
} param;

/* A statement's parameters are written where it is run, in order:
 * run(s, S_GET, PARAMS(P_INT(id))). The compound literals give each its
 * type, so an int, an int64_t or a double cannot be sent as another. */
#define P_TEXT(v) ((param){.kind = 't', .text = (v)})
#define P_INT(v)  ((param){.kind = 'i', .i = (v)})
#define P_REAL(v) ((param){.kind = 'f', .f = (v)})
#define PARAMS(...)                                                                                \
    (const param[]){__VA_ARGS__}, (int)(sizeof((param[]){__VA_ARGS__}) / sizeof(param))
#define NO_PARAMS NULL, 0

static int fail(pg_store *s, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(pg_store *s, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->error, sizeof s->error, fmt, ap);
    va_end(ap);
    return code;
}

static double monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A token no other transaction anywhere uses. */
static void make_token(char *out, size_t len)
{
    static unsigned counter;
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    snprintf(out, len, "%s/%ld/%.6f/%u", host, (long)getpid(), wall(), ++counter);
}

/* libpq's words, on one line. */
static const char *pq_words(PGconn *c, const PGresult *r)
{
    const char *m = r != NULL ? PQresultErrorMessage(r) : "";
    if (m == NULL || *m == '\0')
        m = PQerrorMessage(c);
    return m;
}

static void set_error(pg_store *s, const char *what, const PGresult *r)
{
    snprintf(s->error, sizeof s->error, "postgresql: %s: %s", what, pq_words(s->conn, r));
    size_t n = strlen(s->error);
    while (n > 0 && (s->error[n - 1] == '\n' || s->error[n - 1] == ' '))
        s->error[--n] = '\0';
    for (char *p = s->error; *p != '\0'; p++)
        if (*p == '\n')
            *p = ' ';
}

/* Sorts out why a statement failed: the connection (run the transaction
 * again once reconnected), a conflict the server asks to retry, or an
 * error of the statement itself. */
static void classify(pg_store *s, const PGresult *r)
{
    const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (PQstatus(s->conn) == CONNECTION_BAD || state == NULL || strncmp(state, "08", 2) == 0 ||
        strncmp(state, "57P", 3) == 0)
        s->lost = 1;
    else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
             strcmp(state, "23505") == 0)
        s->retryable = 1;
}

/* r if it is a success (rows or none), else NULL with the error noted
 * under `what` and r cleared. */
static PGresult *checked(pg_store *s, const char *what, PGresult *r)
{
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    set_error(s, what, r);
    classify(s, r);
    PQclear(r);
    return NULL;
}

/* Runs a statement of the table (prepared once per connection) with its
 * parameters. The result is the caller's to PQclear; NULL on an error,
 * which is noted. */
static PGresult *run(pg_store *s, enum stmt_id id, const param *ps, int n)
{
    char name[16], num[MAX_PARAMS][32];
    const char *v[MAX_PARAMS];
    if (n > MAX_PARAMS) {
        fail(s, CTK_EINVAL, "postgresql: %d parameters for statement %d", n, (int)id);
        return NULL;
    }
    for (int k = 0; k < n; k++) {
        v[k] = num[k];
        if (ps[k].kind == 't')
            v[k] = ps[k].text;
        else if (ps[k].kind == 'i')
            snprintf(num[k], sizeof num[k], "%" PRId64, ps[k].i);
        else
            snprintf(num[k], sizeof num[k], "%.17g", ps[k].f);
    }
    snprintf(name, sizeof name, "s%d", (int)id);
    if (!s->prepared[id]) {
        PGresult *r = checked(s, "prepare", PQprepare(s->conn, name, stmt_sql[id], 0, NULL));
        if (r == NULL)
            return NULL;
        PQclear(r);
        s->prepared[id] = 1;
    }
    return checked(s, "query", PQexecPrepared(s->conn, name, n, v, NULL, NULL, 0));
}

/* Runs SQL text as it is, without parameters: run's result, its error
 * noted under `what`. */
static PGresult *run_sql(pg_store *s, const char *what, const char *sql)
{
    return checked(s, what, PQexec(s->conn, sql));
}

/* Runs a statement whose rows, if any, are not wanted. */
static int exec_stmt(pg_store *s, enum stmt_id id, const param *ps, int n)
{
    PGresult *r = run(s, id, ps, n);
    int rc = r != NULL ? 0 : CTK_EIO;
    PQclear(r);
    return rc;
}

static int64_t get_i64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static double get_f64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtod(PQgetvalue(r, row, col), NULL);
}

static char *get_text(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : strdup(PQgetvalue(r, row, col));
}

/* For a query of one integer: 1 with *out set, 0 (and *out 0) for no
 * row, or an error. */
static int one_i64(pg_store *s, int64_t *out, enum stmt_id id, const param *ps, int n)
{
    PGresult *r = run(s, id, ps, n);
    *out = 0;
    if (r == NULL)
        return CTK_EIO;
    int rows = PQntuples(r);
    if (rows > 0)
        *out = get_i64(r, 0, 0);
    PQclear(r);
    return rows > 0;
}

static int notify(pg_store *s, const char *queue)
{
    return exec_stmt(s, S_NOTIFY, PARAMS(P_TEXT(queue)));
}

static int notify_job_queue(pg_store *s, int64_t id);

/* ---- connections and transactions ------------------------------------------ */

static int plain(pg_store *s, const char *sql)
{
    PGresult *r = run_sql(s, sql, sql);
    int rc = r != NULL ? 0 : CTK_EIO;
    PQclear(r);
    return rc;
}

static PGconn *connect_quiet(const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) == CONNECTION_OK)
        PQsetNoticeProcessor(c, NULL, NULL); /* no NOTICE lines on cqueue's stderr */
    return c;
}

/* A connection that broke is made again, with backoff, for up to
 * RECONNECT_SECONDS: the jobs running meanwhile keep running. */
static int reconnect(pg_store *s)
{
    double give_up = monotonic() + RECONNECT_SECONDS, pause = 0.1;
    for (;;) {
        PQfinish(s->conn);
        memset(s->prepared, 0, sizeof s->prepared);
        s->conn = connect_quiet(s->conninfo);
        if (PQstatus(s->conn) == CONNECTION_OK)
            return 0;
        set_error(s, "reconnect", NULL);
        if (monotonic() + pause > give_up)
            return CTK_EIO;
        usleep((useconds_t)(pause * 1e6));
        pause = pause < 2 ? pause * 2 : 5;
    }
}

typedef int (*txn_fn)(pg_store *s, void *arg);

/* Runs fn in one transaction, again after a lost connection or a
 * conflict. fn sees s->ambiguous set when the previous try's COMMIT went
 * unanswered. Returns fn's code (the transaction rolled back unless 0). */
static int txn(pg_store *s, txn_fn fn, void *arg)
{
    s->ambiguous = 0;
    for (unsigned tries = 0;; tries++) {
        s->lost = s->retryable = 0;
        int rc = plain(s, "BEGIN");
        if (rc == 0)
            rc = fn(s, arg);
        int committing = rc == 0;
        if (rc == 0)
            rc = plain(s, "COMMIT");
        else if (!s->lost)
            plain(s, "ROLLBACK");
        if (rc == 0 || (!s->lost && !s->retryable))
            return rc;
        if (s->lost) {
            if (committing)
                s->ambiguous = 1;
            if (reconnect(s) < 0)
                return CTK_EIO;
        } else if (tries > 50) {
            return rc;
        } else {
            usleep((useconds_t)(1000 + (unsigned)rand() % 10000)); /* let the other one finish */
        }
    }
}

/* Runs fn, whose work is one statement, in that statement's own
 * transaction (autocommit): no BEGIN and COMMIT, so one round trip where
 * txn costs three. Reads go here too: under READ COMMITTED each statement
 * of a transaction sees its own snapshot anyway. A statement sent on a
 * connection that broke may have committed, so the next try sees
 * s->ambiguous, as after an unanswered COMMIT. */
static int once(pg_store *s, txn_fn fn, void *arg)
{
    s->ambiguous = 0;
    for (unsigned tries = 0;; tries++) {
        s->lost = s->retryable = 0;
        int rc = fn(s, arg);
        if (rc == 0 || (!s->lost && !s->retryable))
            return rc;
        if (s->lost) {
            s->ambiguous = 1;
            if (reconnect(s) < 0)
                return CTK_EIO;
        } else if (tries > 50) {
            return rc;
        } else {
            usleep((useconds_t)(1000 + (unsigned)rand() % 10000));
        }
    }
}

/* ---- opening ---------------------------------------------------------------- */

static int migrate(pg_store *s, void *arg)
{
    char *err = arg;
    PGresult *r = run_sql(s, "lock", "SELECT pg_advisory_xact_lock(" LOCK_KEY ")");
    if (r == NULL)
        return CTK_EIO;
    PQclear(r);
    r = run_sql(s, "read",
                "SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = 'cqueue'),"
                " to_regclass('cqueue.meta') IS NOT NULL");
    if (r == NULL)
        return CTK_EIO;
    int have_schema = get_i64(r, 0, 0) > 0, have_meta = PQgetvalue(r, 0, 1)[0] == 't';
    PQclear(r);
    int64_t version = 0;
    if (have_meta) {
        r = run_sql(s, "read",
                    "SELECT (SELECT v FROM cqueue.meta WHERE k = 'application'),"
                    " (SELECT v FROM cqueue.meta WHERE k = 'version')");
        if (r == NULL)
            return CTK_EIO;
        int ours = !PQgetisnull(r, 0, 0) && strcmp(PQgetvalue(r, 0, 0), "cqueue") == 0;
        version = get_i64(r, 0, 1);
        PQclear(r);
        if (!ours)
            have_meta = 0;
    }
    if (have_schema && !have_meta) {
        snprintf(err, 512,
                 "%s: not a cqueue database (its schema \"cqueue\" belongs to another program)",
                 s->conninfo);
        return CTK_EINVAL;
    }
    if (version > SCHEMA_VERSION) {
        snprintf(err, 512,
                 "%s: written by a newer cqueue (schema version %" PRId64
                 "; this one knows up to %d)",
                 s->conninfo, version, SCHEMA_VERSION);
        return CTK_ERANGE;
    }
    if (!have_schema && (plain(s, "CREATE SCHEMA cqueue") < 0 ||
                         plain(s, "CREATE TABLE cqueue.meta(k text PRIMARY KEY, v text NOT NULL);"
                                  "INSERT INTO cqueue.meta VALUES('application', 'cqueue'),"
                                  " ('version', '0')") < 0))
        return CTK_EIO;
    for (int64_t v = version; v < SCHEMA_VERSION; v++) {
        char sql[96];
        snprintf(sql, sizeof sql, "UPDATE cqueue.meta SET v = '%" PRId64 "' WHERE k = 'version'",
                 v + 1);
        if (plain(s, migrations[v]) < 0 || plain(s, sql) < 0)
            return CTK_EIO;
    }
    return 0;
}

static void pg_close(ctk_store *st)
{
    pg_store *s = (pg_store *)st;
    if (s == NULL)
        return;
    PQfinish(s->conn);
    PQfinish(s->listen);
    free(s->conninfo);
    free(s);
}

static const ctk_store_ops *ops_named(const char *location);

static int pg_open(ctk_store **out, const ctk_store_opts *o, char *err, size_t err_len)
{
    pg_store *s = calloc(1, sizeof *s);
    if (s == NULL || (s->conninfo = strdup(o->location)) == NULL) {
        free(s);
        snprintf(err, err_len, "out of memory");
        return CTK_ENOMEM;
    }
    s->base.ops = ops_named(o->location);
    /* Opening does not retry: a server that is not there is the user's
     * to hear about now. */
    s->conn = connect_quiet(s->conninfo);
    if (PQstatus(s->conn) != CONNECTION_OK) {
        set_error(s, "cannot connect", NULL);
        snprintf(err, err_len, "%s", s->error);
        pg_close(&s->base);
        return CTK_EIO;
    }
    char why[512] = "";
    int rc = txn(s, migrate, why);
    if (rc < 0) {
        snprintf(err, err_len, "%s", why[0] != '\0' ? why : s->error);
        pg_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return 0;
}

/* ---- encoding ----------------------------------------------------------------- */

/* A vector as bytea's hex text: NUL-terminated strings, as the SQLite
 * store keeps them (any bytes, not only valid UTF-8). */
static int put_vector_hex(ctk_buf *b, const char *const *v, int prefix)
{
    static const char hex[] = "0123456789abcdef";
    int rc = prefix ? ctk_buf_append(b, "\\x", 2) : 0;
    for (; rc == 0 && v != NULL && *v != NULL; v++)
        for (const unsigned char *c = (const unsigned char *)*v; rc == 0; c++) {
            char two[2] = {hex[*c >> 4], hex[*c & 15]};
            rc = ctk_buf_append(b, two, 2);
            if (*c == '\0')
                break;
        }
    return rc == 0 ? ctk_buf_append(b, "", 1) : CTK_ENOMEM;
}

static char **get_vector(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return NULL;
    size_t len = 0;
    unsigned char *p = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), &len);
    size_t n = 0;
    for (size_t i = 0; p != NULL && i < len; i++)
        n += p[i] == '\0';
    char **v = calloc(n + 2, sizeof *v);
    size_t k = 0;
    for (size_t off = 0; v != NULL && p != NULL && off < len; k++) {
        size_t l = strnlen((const char *)p + off, len - off);
        v[k] = strndup((const char *)p + off, l);
        off += l + 1;
    }
    PQfreemem(p);
    return v;
}

/* "{1,2,3}" */
static void get_ids(const PGresult *r, int row, int col, int64_t **out, size_t *n)
{
    const char *t = PQgetisnull(r, row, col) ? "{}" : PQgetvalue(r, row, col);
    size_t cap = 1;
    for (const char *c = t; *c != '\0'; c++)
        cap += *c == ',';
    *out = NULL;
    *n = 0;
    if (strcmp(t, "{}") == 0 || (*out = calloc(cap, sizeof **out)) == NULL)
        return;
    for (const char *c = t + 1; *c != '\0' && *c != '}';) {
        char *end;
        (*out)[(*n)++] = strtoll(c, &end, 10);
        c = *end == ',' ? end + 1 : end;
        if (end == c && *c != '}')
            break;
    }
}

static void read_job(const PGresult *r, int row, ctk_job *job)
{
    memset(job, 0, sizeof *job);
    job->id = get_i64(r, row, 0);
    job->state = (ctk_job_state)get_i64(r, row, 1);
    job->queue = get_text(r, row, 2);
    job->name = get_text(r, row, 3);
    job->cmd = get_text(r, row, 4);
    job->cwd = get_text(r, row, 5);
    job->key = get_text(r, row, 6);
    job->argv = get_vector(r, row, 7);
    job->env = get_vector(r, row, 8);
    job->reason = get_text(r, row, 9);
    job->worker = get_text(r, row, 10);
    job->priority = get_i64(r, row, 11);
    job->retries = (unsigned)get_i64(r, row, 12);
    job->weight = (unsigned)get_i64(r, row, 13);
    job->attempts = (unsigned)get_i64(r, row, 14);
    job->timeout = get_f64(r, row, 15);
    job->exit_code = (int)get_i64(r, row, 16);
    job->signal = (int)get_i64(r, row, 17);
    job->queued_at = get_f64(r, row, 18);
    job->started_at = get_f64(r, row, 19);
    job->finished_at = get_f64(r, row, 20);
    job->lease_until = get_f64(r, row, 21);
    job->pid = get_i64(r, row, 22);
    job->pid_start = (uint64_t)get_i64(r, row, 23);
    job->kill_requested = (int)get_i64(r, row, 24);
    get_ids(r, row, 25, &job->after, &job->n_after);
}

/* ---- adding ----------------------------------------------------------------- */

static int state_of(pg_store *s, enum stmt_id which, int64_t id, int *state)
{
    int64_t v;
    int rc = one_i64(s, &v, which, PARAMS(P_INT(id)));
    *state = (int)v;
    if (rc == 0)
        fail(s, CTK_ENOENT, "no job %" PRId64, id);
    return rc == 0 ? CTK_ENOENT : rc < 0 ? rc : 0;
}

static int find_key(pg_store *s, const char *queue, const char *key, int64_t *id)
{
    int rc = one_i64(s, id, S_KEY_FIND, PARAMS(P_TEXT(queue), P_TEXT(key)));
    return rc < 0 ? rc : 0;
}

static int ensure_queue(pg_store *s, const char *queue)
{
    return exec_stmt(s, S_QUEUE_ENSURE, PARAMS(P_TEXT(queue)));
}

typedef struct add_args {
    const ctk_job_spec *specs;
    size_t n;
    int64_t *ids;
    int *existed;
    char tok[160];
} add_args;

static int insert_one(pg_store *s, const ctk_job_spec *j, int64_t *id, int *existed)
{
    *existed = 0;
    *id = 0;
    int rc = j->key != NULL ? find_key(s, j->queue, j->key, id) : 0;
    if (rc < 0 || (j->key != NULL && *id > 0)) {
        *existed = rc == 0;
        return rc;
    }
    int waiting = 0;
    char reason[128] = "";
    for (size_t i = 0; i < j->n_after; i++) {
        int state;
        rc = state_of(s, S_LOCK_STATE, j->after[i], &state);
        if (rc == CTK_ENOENT)
            fail(s, rc, "--after %" PRId64 ": no such job", j->after[i]);
        if (rc < 0)
            return rc;
        if (state == CTK_JOB_QUEUED || state == CTK_JOB_RUNNING)
            waiting++;
        else if (state != CTK_JOB_DONE && reason[0] == '\0')
            snprintf(reason, sizeof reason, "dependency %" PRId64 " %s", j->after[i],
                     ctk_job_state_name((ctk_job_state)state));
    }
    ctk_buf argv = {0}, env = {0};
    if ((j->argv != NULL && put_vector_hex(&argv, j->argv, 1) < 0) ||
        (j->env != NULL && put_vector_hex(&env, j->env, 1) < 0)) {
        ctk_buf_free(&argv);
        ctk_buf_free(&env);
        return fail(s, CTK_ENOMEM, "out of memory");
    }
    rc = one_i64(s, id, S_INSERT,
                 PARAMS(P_TEXT(j->queue),
                        P_INT(reason[0] != '\0' ? CTK_JOB_CANCELLED : CTK_JOB_QUEUED),
                        P_INT(waiting), P_TEXT(j->name), P_TEXT(j->cmd),
                        P_TEXT(j->argv != NULL ? (const char *)argv.data : NULL), P_TEXT(j->cwd),
                        P_TEXT(j->env != NULL ? (const char *)env.data : NULL), P_TEXT(j->key),
                        P_INT(j->priority), P_INT(j->retries), P_INT(j->weight > 0 ? j->weight : 1),
                        P_REAL(j->timeout), P_TEXT(reason[0] != '\0' ? reason : NULL)));
    ctk_buf_free(&argv);
    ctk_buf_free(&env);
    if (rc < 0)
        return rc;
    for (size_t i = 0; rc >= 0 && i < j->n_after; i++)
        rc = exec_stmt(s, S_DEP_INSERT, PARAMS(P_INT(*id), P_INT(j->after[i])));
    return rc < 0 ? rc : 0;
}

/* What a batch whose COMMIT went unanswered did, if it committed. */
static int batch_done(pg_store *s, const add_args *a, int *found)
{
    PGresult *r = run(s, S_BATCH_FIND, PARAMS(P_TEXT(a->tok)));
    *found = 0;
    if (r == NULL)
        return CTK_EIO;
    if (PQntuples(r) == 1) {
        int64_t *ids;
        size_t n;
        get_ids(r, 0, 0, &ids, &n);
        for (size_t i = 0; i < n && i < a->n; i++)
            a->ids[i] = ids[i];
        free(ids);
        *found = n == a->n;
    }
    PQclear(r);
    return 0;
}

static int note_batch(pg_store *s, const add_args *a)
{
    ctk_buf b = {0};
    int rc = ctk_buf_append(&b, "{", 1);
    for (size_t i = 0; rc == 0 && i < a->n; i++) {
        char num[32];
        int len = snprintf(num, sizeof num, "%s%" PRId64, i > 0 ? "," : "", a->ids[i]);
        rc = ctk_buf_append(&b, num, (size_t)len);
    }
    rc = rc == 0 ? ctk_buf_append(&b, "}", 2) : rc;
    if (rc == 0)
        rc = exec_stmt(s, S_BATCH_NOTE, PARAMS(P_TEXT(a->tok), P_TEXT((const char *)b.data)));
    ctk_buf_free(&b);
    return rc;
}

static int add_txn(pg_store *s, void *arg)
{
    add_args *a = arg;
    int found = 0;
    if (s->ambiguous) {
        int rc = batch_done(s, a, &found);
        if (rc < 0 || found)
            return rc;
    }
    const char *last_queue = NULL;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < a->n; i++)
        if (last_queue == NULL || strcmp(last_queue, a->specs[i].queue) != 0)
            rc = ensure_queue(s, last_queue = a->specs[i].queue);
    for (size_t i = 0; rc == 0 && i < a->n; i++) {
        int dup = 0;
        rc = insert_one(s, &a->specs[i], &a->ids[i], &dup);
        if (a->existed != NULL)
            a->existed[i] = dup;
    }
    last_queue = NULL;
    for (size_t i = 0; rc == 0 && i < a->n; i++)
        if (last_queue == NULL || strcmp(last_queue, a->specs[i].queue) != 0)
            rc = notify(s, last_queue = a->specs[i].queue);
    if (rc == 0 && a->n > 1) {
        rc = exec_stmt(s, S_BATCH_TRIM, NO_PARAMS);
        if (rc == 0)
            rc = note_batch(s, a);
    }
    return rc;
}

/* ---- adding in bulk: COPY ------------------------------------------------------ */

/* Appends text as a field of COPY's text format. */
static int put_copy_text(ctk_buf *b, const char *text)
{
    if (text == NULL)
        return ctk_buf_append(b, "\\N", 2);
    int rc = 0;
    const char *run_start = text, *c = text;
    for (; rc == 0 && *c != '\0'; c++) {
        const char *esc = *c == '\\'   ? "\\\\"
                          : *c == '\n' ? "\\n"
                          : *c == '\r' ? "\\r"
                          : *c == '\t' ? "\\t"
                                       : NULL;
        if (esc == NULL)
            continue;
        rc = ctk_buf_append(b, run_start, (size_t)(c - run_start));
        rc = rc == 0 ? ctk_buf_append(b, esc, 2) : rc;
        run_start = c + 1;
    }
    return rc == 0 ? ctk_buf_append(b, run_start, (size_t)(c - run_start)) : rc;
}

/* A vector as a bytea field of COPY's text format (its \x doubled). */
static int put_copy_vector(ctk_buf *b, ctk_buf *hex, const char *const *v)
{
    if (v == NULL)
        return ctk_buf_append(b, "\\N", 2);
    hex->len = 0;
    int rc = put_vector_hex(hex, v, 0);
    rc = rc == 0 ? ctk_buf_append(b, "\\\\x", 3) : rc;
    return rc == 0 ? ctk_buf_append(b, hex->data, hex->len - 1) : rc; /* not its NUL */
}

/* Appends SQL text with a literal quoted for this connection. */
static int put_literal(pg_store *s, ctk_buf *b, const char *before, const char *text,
                       const char *after)
{
    char *lit = PQescapeLiteral(s->conn, text, strlen(text));
    if (lit == NULL)
        return fail(s, CTK_ENOMEM, "postgresql: %s", PQerrorMessage(s->conn));
    int rc = ctk_buf_append(b, before, strlen(before));
    rc = rc == 0 ? ctk_buf_append(b, lit, strlen(lit)) : rc;
    rc = rc == 0 ? ctk_buf_append(b, after, strlen(after) + 1) : rc; /* with the NUL */
    b->len -= rc == 0;
    PQfreemem(lit);
    return rc == 0 ? 0 : fail(s, CTK_ENOMEM, "out of memory");
}

/* The results of what was sent, to the last; the first failure is the
 * one noted. want_ids: the rows of the id query go to a->ids. Stops at
 * COPY's request for data (*copy_in set). */
static int take_results(pg_store *s, add_args *a, char *now, size_t now_len, int *copy_in)
{
    int rc = 0;
    PGresult *r;
    while ((r = PQgetResult(s->conn)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_COPY_IN) {
            PQclear(r);
            *copy_in = 1;
            return rc;
        }
        if (st == PGRES_TUPLES_OK && now != NULL && rc == 0) {
            if ((size_t)PQntuples(r) != a->n)
                rc = fail(s, CTK_EIO, "postgresql: %d ids for %zu jobs", PQntuples(r), a->n);
            for (size_t i = 0; rc == 0 && i < a->n; i++)
                a->ids[i] = get_i64(r, (int)i, 0);
            if (rc == 0)
                snprintf(now, now_len, "%s", PQgetvalue(r, 0, 1));
        } else if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && rc == 0) {
            set_error(s, "add", r);
            classify(s, r);
            rc = CTK_EIO;
        }
        PQclear(r);
    }
    if (rc == 0 && PQstatus(s->conn) == CONNECTION_BAD) {
        set_error(s, "add", NULL);
        s->lost = 1;
        rc = CTK_EIO;
    }
    return rc;
}

#define COPY_CHUNK 65536

/* Streams the batch's rows into COPY, in chunks. */
static int copy_rows(pg_store *s, const add_args *a, const char *now)
{
    ctk_buf b = {0}, hex = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < a->n; i++) {
        const ctk_job_spec *j = &a->specs[i];
        char num[160];
        snprintf(num, sizeof num, "%" PRId64 "\t", a->ids[i]);
        rc = ctk_buf_append(&b, num, strlen(num));
        rc = rc == 0 ? put_copy_text(&b, j->queue) : rc;
        rc = rc == 0 ? ctk_buf_append(&b, "\t0\t0\t", 5) : rc;
        rc = rc == 0 ? put_copy_text(&b, j->name) : rc;
        rc = rc == 0 ? ctk_buf_append(&b, "\t", 1) : rc;
        rc = rc == 0 ? put_copy_text(&b, j->cmd) : rc;
        rc = rc == 0 ? ctk_buf_append(&b, "\t", 1) : rc;
        rc = rc == 0 ? put_copy_vector(&b, &hex, j->argv) : rc;
        rc = rc == 0 ? ctk_buf_append(&b, "\t", 1) : rc;
        rc = rc == 0 ? put_copy_text(&b, j->cwd) : rc;
        rc = rc == 0 ? ctk_buf_append(&b, "\t", 1) : rc;
        rc = rc == 0 ? put_copy_vector(&b, &hex, j->env) : rc;
        snprintf(num, sizeof num, "\t%" PRId64 "\t%u\t%u\t%.17g\t%s\n", j->priority, j->retries,
                 j->weight > 0 ? j->weight : 1, j->timeout, now);
        rc = rc == 0 ? ctk_buf_append(&b, num, strlen(num)) : rc;
        if (rc != 0)
            rc = fail(s, CTK_ENOMEM, "out of memory");
        else if ((b.len >= COPY_CHUNK || i + 1 == a->n) &&
                 PQputCopyData(s->conn, (const char *)b.data, (int)b.len) != 1)
            rc = CTK_EIO;
        else if (b.len >= COPY_CHUNK)
            b.len = 0;
    }
    ctk_buf_free(&b);
    ctk_buf_free(&hex);
    /* A failure here ends the COPY with an error: nothing is added. */
    if (PQputCopyEnd(s->conn, rc == 0 ? NULL : "cqueue gave up the batch") != 1 && rc == 0)
        rc = CTK_EIO;
    if (rc == CTK_EIO) {
        set_error(s, "COPY", NULL);
        s->lost = PQstatus(s->conn) == CONNECTION_BAD;
    }
    return rc;
}

/* The batch's SQL around the COPY: sent as one simple query each, so the
 * batch costs two round trips and the stream of rows. The ids come from
 * the sequence first, so COPY (which returns nothing) writes them. */
static int copy_try(pg_store *s, add_args *a, int *committing)
{
    ctk_buf q = {0};
    char num[64], now[64] = "";
    int copy_in = 0;
    *committing = 0;
    int rc = ctk_buf_append(&q, "BEGIN;", 6) == 0 ? 0 : fail(s, CTK_ENOMEM, "out of memory");
    const char *last_queue = NULL;
    for (size_t i = 0; rc == 0 && i < a->n; i++)
        if (last_queue == NULL || strcmp(last_queue, a->specs[i].queue) != 0)
            rc = put_literal(s, &q, "INSERT INTO cqueue.queues(name) VALUES(",
                             last_queue = a->specs[i].queue, ") ON CONFLICT DO NOTHING;");
    snprintf(num, sizeof num, "%zu", a->n);
    if (rc == 0)
        rc = put_literal(
            s, &q, "SELECT nextval('cqueue.jobs_id_seq'), " NOW " FROM generate_series(1, ", num,
            ");COPY cqueue.jobs(id, queue, state, waiting, name, cmd, argv, cwd, env,"
            " priority, retries, weight, timeout, queued_at) FROM STDIN");
    if (rc == 0 && !PQsendQuery(s->conn, (const char *)q.data)) {
        set_error(s, "add", NULL);
        s->lost = 1;
        rc = CTK_EIO;
    }
    if (rc == 0)
        rc = take_results(s, a, now, sizeof now, &copy_in);
    if (rc == 0 && !copy_in)
        rc = fail(s, CTK_EIO, "postgresql: add: COPY did not start");
    if (copy_in) {
        int crc = copy_rows(s, a, now);
        int trc = take_results(s, a, NULL, 0, &copy_in);
        rc = rc < 0 ? rc : crc < 0 ? crc : trc;
    }
    /* Then, in one more round trip: the NOTIFY, the batch's token (what
     * a retry after an unanswered COMMIT looks for) and the COMMIT. The
     * token's row holds no ids (10,000 of them made the COMMIT ten times
     * slower): they are still in a->ids when the retry finds the row. */
    q.len = 0;
    last_queue = NULL;
    for (size_t i = 0; rc == 0 && i < a->n; i++)
        if (last_queue == NULL || strcmp(last_queue, a->specs[i].queue) != 0)
            rc = put_literal(s, &q, "SELECT pg_notify('" CHANNEL "', ",
                             last_queue = a->specs[i].queue, ");");
    if (rc == 0)
        rc = put_literal(s, &q,
                         "DELETE FROM cqueue.batches WHERE at < " NOW " - 3600;"
                         "INSERT INTO cqueue.batches(tok, ids, at) VALUES(",
                         a->tok, ", '{");
    if (rc == 0) {
        const char *end = "}', " NOW ");COMMIT";
        rc = ctk_buf_append(&q, end, strlen(end) + 1) == 0 ? 0
                                                           : fail(s, CTK_ENOMEM, "out of memory");
    }
    if (rc == 0) {
        *committing = 1;
        if (!PQsendQuery(s->conn, (const char *)q.data)) {
            set_error(s, "add", NULL);
            s->lost = 1;
            rc = CTK_EIO;
        } else {
            rc = take_results(s, a, NULL, 0, &copy_in);
        }
    }
    ctk_buf_free(&q);
    if (rc < 0 && !s->lost && PQtransactionStatus(s->conn) != PQTRANS_IDLE)
        plain(s, "ROLLBACK");
    return rc;
}

/* A batch of plain jobs (no key, no --after), as txn runs one: again
 * after a lost connection or a conflict; after an unanswered COMMIT, the
 * batch's token says whether it happened. */
static int copy_batch(pg_store *s, add_args *a)
{
    s->ambiguous = 0;
    for (unsigned tries = 0;; tries++) {
        s->lost = s->retryable = 0;
        int64_t found = 0;
        int committing = 0;
        int rc = s->ambiguous ? one_i64(s, &found, S_BATCH_FIND, PARAMS(P_TEXT(a->tok))) : 0;
        if (rc == 1)
            return 0;
        if (rc == 0)
            rc = copy_try(s, a, &committing);
        if (rc == 0 || (!s->lost && !s->retryable))
            return rc;
        if (s->lost) {
            if (committing)
                s->ambiguous = 1;
            if (reconnect(s) < 0)
                return CTK_EIO;
        } else if (tries > 50) {
            return rc;
        } else {
            usleep((useconds_t)(1000 + (unsigned)rand() % 10000));
        }
    }
}

static int pg_add(ctk_store *st, const ctk_job_spec *specs, size_t n, int64_t *ids, int *existed,
                  char *err, size_t err_len)
{
    pg_store *s = (pg_store *)st;
    if (n == 0)
        return 0;
    add_args a = {specs, n, ids, existed, ""};
    make_token(a.tok, sizeof a.tok);
    int simple = 1;
    for (size_t i = 0; i < n && simple; i++)
        simple = specs[i].key == NULL && specs[i].n_after == 0;
    if (existed != NULL)
        memset(existed, 0, n * sizeof *existed);
    int rc = simple ? copy_batch(s, &a) : txn(s, add_txn, &a);
    if (rc < 0)
        snprintf(err, err_len, "%s", s->error);
    return rc;
}

/* ---- claiming and running --------------------------------------------------- */

static int get_job(pg_store *s, int64_t id, ctk_job *job)
{
    PGresult *r = run(s, S_GET, PARAMS(P_INT(id)));
    if (r == NULL)
        return CTK_EIO;
    int rows = PQntuples(r);
    if (rows == 1)
        read_job(r, 0, job);
    PQclear(r);
    return rows == 1 ? 0 : fail(s, CTK_ENOENT, "no job %" PRId64, id);
}

typedef struct claim_args {
    const char *queue;
    const ctk_worker_id *w;
    unsigned max_weight;
    double lease;
    ctk_job *job;
    char tok[160];
} claim_args;

/* Runs a statement whose rows are jobs: 1 with the first in *job, 0 for
 * none, or an error. */
static int one_job(pg_store *s, ctk_job *job, enum stmt_id which, const param *ps, int n)
{
    PGresult *r = run(s, which, ps, n);
    if (r == NULL)
        return CTK_EIO;
    int rows = PQntuples(r);
    if (rows > 0)
        read_job(r, 0, job);
    PQclear(r);
    return rows > 0;
}

/* One statement: the job is taken and read back in the same UPDATE. */
static int claim_txn(pg_store *s, void *arg)
{
    claim_args *a = arg;
    int rc = 0;
    if (s->ambiguous) /* did the last try take one? */
        rc = one_job(s, a->job, S_CLAIM_FIND, PARAMS(P_TEXT(a->w->id), P_TEXT(a->tok)));
    if (rc == 0)
        rc =
            one_job(s, a->job, S_CLAIM,
                    PARAMS(P_TEXT(a->queue),
                           P_INT(a->max_weight > INT32_MAX ? INT32_MAX : (int64_t)a->max_weight),
                           P_TEXT(a->w->id), P_TEXT(a->w->host), P_REAL(a->lease), P_TEXT(a->tok)));
    return rc < 0 ? rc : rc == 0 ? CTK_EAGAIN : 0;
}

static int pg_claim(ctk_store *st, const char *queue, const ctk_worker_id *w, unsigned max_weight,
                    double lease_until, ctk_job *job)
{
    pg_store *s = (pg_store *)st;
    /* The lease is a length on the worker's clock, an end on the server's. */
    claim_args a = {queue, w, max_weight, lease_until - wall(), job, ""};
    make_token(a.tok, sizeof a.tok);
    memset(job, 0, sizeof *job);
    int rc = once(s, claim_txn, &a);
    if (rc < 0 && job->id != 0)
        ctk_job_clear(job);
    return rc;
}

typedef struct pid_args {
    int64_t id;
    const ctk_worker_id *w;
    int64_t pid;
    uint64_t pid_start;
    int *kill_requested;
} pid_args;

static int set_pid_txn(pg_store *s, void *arg)
{
    pid_args *a = arg;
    int64_t k;
    int rc = one_i64(
        s, &k, S_SET_PID,
        PARAMS(P_INT(a->id), P_TEXT(a->w->id), P_INT(a->pid), P_INT((int64_t)a->pid_start)));
    *a->kill_requested = rc == 1 && k != 0;
    return rc < 0 ? rc : 0;
}

static int pg_set_pid(ctk_store *st, int64_t id, const ctk_worker_id *w, int64_t pid,
                      uint64_t pid_start, int *kill_requested)
{
    pid_args a = {id, w, pid, pid_start, kill_requested};
    return once((pg_store *)st, set_pid_txn, &a);
}

typedef struct renew_args {
    const ctk_worker_id *w;
    double lease;
} renew_args;

static int renew_txn(pg_store *s, void *arg)
{
    renew_args *a = arg;
    return exec_stmt(s, S_RENEW, PARAMS(P_TEXT(a->w->id), P_REAL(a->lease)));
}

static int pg_renew(ctk_store *st, const ctk_worker_id *w, double lease_until)
{
    renew_args a = {w, lease_until - wall()};
    return once((pg_store *)st, renew_txn, &a);
}

/* Cancels the queued jobs that wait for `id`, and theirs, with the reason
 * that names the job they waited for. */
static int cancel_dependents(pg_store *s, int64_t id, const char *what)
{
    size_t cap = 16, len = 1;
    int64_t *todo = malloc(cap * sizeof *todo);
    if (todo == NULL)
        return fail(s, CTK_ENOMEM, "out of memory");
    todo[0] = id;
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < len; k++) {
        PGresult *r = run(s, S_DEPENDENTS, PARAMS(P_INT(todo[k])));
        if (r == NULL) {
            rc = CTK_EIO;
            break;
        }
        char reason[96];
        snprintf(reason, sizeof reason, "dependency %" PRId64 " %s", todo[k],
                 k == 0 ? what : "cancelled");
        for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
            if (get_i64(r, i, 1) != CTK_JOB_QUEUED)
                continue;
            int64_t j = get_i64(r, i, 0);
            rc = exec_stmt(s, S_CANCEL, PARAMS(P_INT(j), P_TEXT(reason)));
            if (len == cap) {
                int64_t *more = realloc(todo, (cap *= 2) * sizeof *todo);
                if (more == NULL) {
                    rc = fail(s, CTK_ENOMEM, "out of memory");
                    break;
                }
                todo = more;
            }
            todo[len++] = j;
        }
        PQclear(r);
    }
    free(todo);
    return rc;
}

static int bump(pg_store *s, enum stmt_id id, int64_t v)
{
    return exec_stmt(s, id, PARAMS(P_INT(v)));
}

typedef struct finish_args {
    int64_t id;
    const ctk_worker_id *w;
    const ctk_job_outcome *o;
} finish_args;

static int finish_txn(pg_store *s, void *arg)
{
    finish_args *a = arg;
    const ctk_job_outcome *o = a->o;
    PGresult *r = run(s, S_RUN_INFO, PARAMS(P_INT(a->id)));
    if (r == NULL)
        return CTK_EIO;
    if (PQntuples(r) != 1 || get_i64(r, 0, 0) != CTK_JOB_RUNNING || PQgetisnull(r, 0, 1) ||
        strcmp(PQgetvalue(r, 0, 1), a->w->id) != 0) {
        PQclear(r);
        /* The lease was lost (another attempt owns the job now), or the
         * last try's unanswered COMMIT did record it. */
        return s->ambiguous ? 0 : CTK_ENOENT;
    }
    int attempts = (int)get_i64(r, 0, 2), retries = (int)get_i64(r, 0, 3);
    int kill_requested = (int)get_i64(r, 0, 4);
    double queued_at = get_f64(r, 0, 5), started_at = get_f64(r, 0, 6);
    char *queue = get_text(r, 0, 7);
    PQclear(r);
    int ok = o->exit_code == 0 && o->signal == 0;
    int again = !ok && !o->no_retry && !kill_requested && attempts <= retries;
    const char *killed = kill_requested ? "killed by cqueue kill" : NULL;
    const char *reason = o->reason != NULL ? o->reason : killed;
    int rc =
        ok ? exec_stmt(s, S_DONE, PARAMS(P_INT(a->id), P_INT(o->exit_code), P_INT(o->signal)))
           : exec_stmt(s, again ? S_REQUEUE : S_FAILED,
                       PARAMS(P_INT(a->id), P_INT(o->exit_code), P_INT(o->signal), P_TEXT(reason)));
    if (rc == 0 && ok)
        rc = bump(s, S_UNBLOCK, a->id);
    if (rc == 0 && !ok && !again)
        rc = cancel_dependents(s, a->id, "failed");
    if (rc == 0 && !again)
        rc = exec_stmt(s, S_QUEUE_STATS_ADD,
                       PARAMS(P_TEXT(queue), P_REAL(started_at - queued_at), P_REAL(started_at)));
    if (rc == 0)
        rc = notify(s, queue);
    free(queue);
    return rc;
}

/* A success, the common end, in one statement. */
static int finish_ok_txn(pg_store *s, void *arg)
{
    finish_args *a = arg;
    PGresult *r = run(s, S_FINISH_OK, PARAMS(P_INT(a->id), P_TEXT(a->w->id)));
    if (r == NULL)
        return CTK_EIO;
    int rows = PQntuples(r);
    PQclear(r);
    /* No row: the lease was lost, or the last try's statement, whose
     * answer never came, did record it. */
    return rows == 1 || s->ambiguous ? 0 : CTK_ENOENT;
}

static int pg_finish(ctk_store *st, int64_t id, const ctk_worker_id *w, const ctk_job_outcome *o)
{
    finish_args a = {id, w, o};
    if (o->exit_code == 0 && o->signal == 0)
        return once((pg_store *)st, finish_ok_txn, &a);
    return txn((pg_store *)st, finish_txn, &a);
}

typedef struct release_args {
    int64_t id;
    const ctk_worker_id *w;
} release_args;

static int release_txn(pg_store *s, void *arg)
{
    release_args *a = arg;
    int rc =
        exec_stmt(s, S_RELEASE,
                  PARAMS(P_INT(a->id), P_TEXT(a->w->id), P_TEXT("worker stopped; queued again")));
    return rc == 0 ? notify_job_queue(s, a->id) : rc;
}

static int pg_release(ctk_store *st, int64_t id, const ctk_worker_id *w)
{
    release_args a = {id, w};
    return txn((pg_store *)st, release_txn, &a);
}

typedef struct expire_args {
    const char *queue, *host;
    int (*is_dead)(void *arg, const char *worker);
    void *arg;
    PGresult *lost;
} expire_args;

static int expire_txn(pg_store *s, void *arg)
{
    expire_args *a = arg;
    PQclear(a->lost);
    a->lost = NULL;
    /* A worker on this host that is gone is known now, by its pid; one on
     * another host only by its lease. */
    ctk_buf dead = {0};
    int rc = ctk_buf_append(&dead, "{", 1);
    if (a->host != NULL && a->is_dead != NULL) {
        PGresult *r = run(s, S_HERE_RUNNING, PARAMS(P_TEXT(a->queue), P_TEXT(a->host)));
        if (r == NULL)
            rc = CTK_EIO;
        for (int i = 0; r != NULL && rc == 0 && i < PQntuples(r); i++)
            if (a->is_dead(a->arg, PQgetvalue(r, i, 1))) {
                char num[32];
                int len =
                    snprintf(num, sizeof num, "%s%s", dead.len > 1 ? "," : "", PQgetvalue(r, i, 0));
                rc = ctk_buf_append(&dead, num, (size_t)len);
            }
        PQclear(r);
    }
    rc = rc == 0 ? ctk_buf_append(&dead, "}", 2) : rc;
    a->lost = rc == 0 ? run(s, S_EXPIRE, PARAMS(P_TEXT(a->queue), P_TEXT((const char *)dead.data)))
                      : NULL;
    ctk_buf_free(&dead);
    if (a->lost == NULL)
        return rc < 0 ? rc : CTK_EIO;
    return PQntuples(a->lost) > 0 ? notify(s, a->queue) : 0;
}

static int pg_expire(ctk_store *st, const char *queue, const char *host,
                     int (*is_dead)(void *arg, const char *worker), ctk_job_fn on_orphan, void *arg,
                     unsigned *n)
{
    expire_args a = {queue, host, is_dead, arg, NULL};
    int rc = txn((pg_store *)st, expire_txn, &a);
    *n = 0;
    for (int i = 0; rc == 0 && a.lost != NULL && i < PQntuples(a.lost); i++, (*n)++) {
        ctk_job job;
        read_job(a.lost, i, &job);
        if (on_orphan != NULL)
            on_orphan(arg, &job);
        ctk_job_clear(&job);
    }
    PQclear(a.lost);
    return rc;
}

/* ---- reading ---------------------------------------------------------------- */

typedef struct get_args {
    int64_t id;
    ctk_job *job;
} get_args;

static int get_txn(pg_store *s, void *arg)
{
    get_args *a = arg;
    return get_job(s, a->id, a->job);
}

static int pg_get(ctk_store *st, int64_t id, ctk_job *job)
{
    get_args a = {id, job};
    return once((pg_store *)st, get_txn, &a);
}

typedef struct list_args {
    const ctk_store_filter *f;
    PGresult *r;
} list_args;

static int list_txn(pg_store *s, void *arg)
{
    list_args *a = arg;
    const ctk_store_filter *f = a->f;
    param limit = f->limit > 0 ? P_INT(f->limit) : P_TEXT(NULL); /* LIMIT NULL: all */
    PQclear(a->r);
    if (f->state >= 0)
        a->r = run(s, S_LIST_STATE,
                   PARAMS(P_TEXT(f->queue), P_INT(f->after_id), limit, P_INT(f->state)));
    else
        a->r = run(s, S_LIST_ALL, PARAMS(P_TEXT(f->queue), P_INT(f->after_id), limit));
    return a->r != NULL ? 0 : CTK_EIO;
}

static int pg_list(ctk_store *st, const ctk_store_filter *f, ctk_job_fn fn, void *arg)
{
    list_args a = {f, NULL};
    int rc = once((pg_store *)st, list_txn, &a);
    for (int i = 0; rc == 0 && i < PQntuples(a.r); i++) {
        ctk_job job;
        read_job(a.r, i, &job);
        int stop = fn(arg, &job);
        ctk_job_clear(&job);
        if (stop)
            break;
    }
    PQclear(a.r);
    return rc;
}

typedef struct queue_args {
    const char *queue;
    int value;
    ctk_queue_control *c;
    ctk_store_stats *stats;
    enum stmt_id which;
} queue_args;

static int control_txn(pg_store *s, void *arg)
{
    queue_args *a = arg;
    PGresult *r = run(s, S_CONTROL, PARAMS(P_TEXT(a->queue)));
    if (r == NULL)
        return CTK_EIO;
    a->c->paused = PQntuples(r) == 1 ? (int)get_i64(r, 0, 0) : 0;
    a->c->stop_gen = PQntuples(r) == 1 ? get_i64(r, 0, 1) : 0;
    PQclear(r);
    return 0;
}

static int pg_control(ctk_store *st, const char *queue, ctk_queue_control *c)
{
    queue_args a = {.queue = queue, .c = c};
    return once((pg_store *)st, control_txn, &a);
}

static int stats_txn(pg_store *s, void *arg)
{
    queue_args *a = arg;
    ctk_store_stats *out = a->stats;
    memset(out, 0, sizeof *out);
    PGresult *r = run(s, S_COUNTS, PARAMS(P_TEXT(a->queue)));
    if (r == NULL)
        return CTK_EIO;
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t state = get_i64(r, i, 0);
        if (state >= 0 && state < CTK_JOB_NSTATES)
            out->count[state] = (uint64_t)get_i64(r, i, 1);
    }
    PQclear(r);
    int64_t recent;
    if (one_i64(s, &recent, S_RECENT, PARAMS(P_TEXT(a->queue))) < 0)
        return CTK_EIO;
    out->finished_last_minute = (uint64_t)recent;
    if ((r = run(s, S_QUEUE_ROW, PARAMS(P_TEXT(a->queue)))) == NULL)
        return CTK_EIO;
    if (PQntuples(r) == 1) {
        double n = (double)get_i64(r, 0, 0);
        out->mean_wait = n > 0 ? get_f64(r, 0, 1) / n : 0;
        out->mean_run = n > 0 ? get_f64(r, 0, 2) / n : 0;
        out->paused = (int)get_i64(r, 0, 3);
    }
    PQclear(r);
    return 0;
}

static int pg_stats(ctk_store *st, const char *queue, ctk_store_stats *out)
{
    queue_args a = {.queue = queue, .stats = out};
    return once((pg_store *)st, stats_txn, &a);
}

/* ---- changing ----------------------------------------------------------------- */

static int remove_job(pg_store *s, int64_t id)
{
    int rc = bump(s, S_DELETE, id);
    return rc == 0 ? bump(s, S_DEPS_DELETE, id) : rc;
}

typedef struct id_args {
    int64_t id;
    ctk_job *job;
} id_args;

static int remove_txn(pg_store *s, void *arg)
{
    id_args *a = arg;
    int state = 0;
    int rc = state_of(s, S_LOCK_STATE, a->id, &state);
    if (rc == 0 && state == CTK_JOB_RUNNING)
        rc = fail(s, CTK_EAGAIN, "job %" PRId64 " is running (kill it first)", a->id);
    if (rc == 0 && state == CTK_JOB_QUEUED)
        rc = cancel_dependents(s, a->id, "removed");
    return rc == 0 ? remove_job(s, a->id) : rc;
}

static int pg_remove(ctk_store *st, int64_t id)
{
    id_args a = {id, NULL};
    return txn((pg_store *)st, remove_txn, &a);
}

/* A job whose key a queued or running job holds now cannot be queued
 * again (the key names one live job): CTK_EEXIST, naming that job. */
static int key_free(pg_store *s, int64_t id)
{
    PGresult *r = run(s, S_KEY_OF, PARAMS(P_INT(id)));
    if (r == NULL)
        return CTK_EIO;
    int rc = 0;
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 1)) {
        int64_t holder = 0;
        rc = find_key(s, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), &holder);
        if (rc == 0 && holder != 0 && holder != id)
            rc = fail(s, CTK_EEXIST, "job %" PRId64 ": its key '%s' is held by job %" PRId64, id,
                      PQgetvalue(r, 0, 1), holder);
    }
    PQclear(r);
    return rc;
}

/* Queues a job again with `waiting` recounted; when one of its own
 * dependencies failed meanwhile, it is cancelled again at once. */
static int requeue_one(pg_store *s, int64_t id)
{
    int rc = key_free(s, id);
    if (rc < 0)
        return rc;
    PGresult *r = run(s, S_DEP_STATES, PARAMS(P_INT(id)));
    if (r == NULL)
        return CTK_EIO;
    int waiting = 0;
    char reason[96] = "";
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t state = get_i64(r, i, 1);
        waiting += state != CTK_JOB_DONE;
        if ((state == CTK_JOB_FAILED || state == CTK_JOB_CANCELLED) && reason[0] == '\0')
            snprintf(reason, sizeof reason, "dependency %" PRId64 " %s", get_i64(r, i, 0),
                     ctk_job_state_name((ctk_job_state)state));
    }
    PQclear(r);
    if ((rc = exec_stmt(s, S_RETRY, PARAMS(P_INT(id), P_INT(waiting)))) < 0 || reason[0] == '\0')
        return rc;
    return exec_stmt(s, S_CANCEL, PARAMS(P_INT(id), P_TEXT(reason)));
}

/* A retried job brings back the jobs that were cancelled only because it
 * had failed, and theirs. */
static int retry_tree(pg_store *s, int64_t root)
{
    size_t cap = 16, len = 1;
    int64_t *todo = malloc(cap * sizeof *todo);
    if (todo == NULL)
        return fail(s, CTK_ENOMEM, "out of memory");
    todo[0] = root;
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < len; k++) {
        rc = requeue_one(s, todo[k]);
        /* A dependent whose key is taken stays cancelled, with its own. */
        if (rc == CTK_EEXIST && k > 0) {
            rc = 0;
            continue;
        }
        if (rc < 0)
            break;
        char prefix[64];
        int plen = snprintf(prefix, sizeof prefix, "dependency %" PRId64 " ", todo[k]);
        PGresult *r = run(s, S_DEPENDENTS, PARAMS(P_INT(todo[k])));
        if (r == NULL) {
            rc = CTK_EIO;
            break;
        }
        for (int i = 0; i < PQntuples(r); i++) {
            if (get_i64(r, i, 1) != CTK_JOB_CANCELLED || PQgetisnull(r, i, 2) ||
                strncmp(PQgetvalue(r, i, 2), prefix, (size_t)plen) != 0)
                continue;
            if (len == cap) {
                int64_t *more = realloc(todo, (cap *= 2) * sizeof *todo);
                if (more == NULL) {
                    rc = fail(s, CTK_ENOMEM, "out of memory");
                    break;
                }
                todo = more;
            }
            todo[len++] = get_i64(r, i, 0);
        }
        PQclear(r);
    }
    free(todo);
    return rc;
}

static int notify_job_queue(pg_store *s, int64_t id)
{
    PGresult *r = run(s, S_KEY_OF, PARAMS(P_INT(id)));
    int rc = r == NULL ? CTK_EIO : PQntuples(r) == 1 ? notify(s, PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return rc;
}

static int retry_txn(pg_store *s, void *arg)
{
    id_args *a = arg;
    int state = 0;
    int rc = state_of(s, S_LOCK_STATE, a->id, &state);
    if (rc == 0 && state != CTK_JOB_FAILED && state != CTK_JOB_CANCELLED)
        rc = fail(s, CTK_EINVAL, "job %" PRId64 " is %s, not failed or cancelled", a->id,
                  ctk_job_state_name((ctk_job_state)state));
    if (rc == 0)
        rc = retry_tree(s, a->id);
    return rc == 0 ? notify_job_queue(s, a->id) : rc;
}

static int pg_retry(ctk_store *st, int64_t id)
{
    id_args a = {id, NULL};
    return txn((pg_store *)st, retry_txn, &a);
}

typedef struct retry_failed_args {
    const char *queue;
    unsigned *n;
} retry_failed_args;

static int retry_failed_txn(pg_store *s, void *arg)
{
    retry_failed_args *a = arg;
    *a->n = 0;
    PGresult *r = run(s, S_FAILED_IDS, PARAMS(P_TEXT(a->queue)));
    if (r == NULL)
        return CTK_EIO;
    int rc = 0;
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        int state = 0;
        int64_t id = get_i64(r, i, 0);
        /* An earlier retry in this loop may have brought it back already. */
        rc = state_of(s, S_LOCK_STATE, id, &state);
        if (rc == 0 && state == CTK_JOB_FAILED) {
            rc = retry_tree(s, id);
            /* One whose key a live job holds stays failed; the rest go. */
            if (rc == CTK_EEXIST)
                rc = 0;
            else if (rc == 0)
                (*a->n)++;
        }
    }
    PQclear(r);
    return rc == 0 ? notify(s, a->queue) : rc;
}

static int pg_retry_failed(ctk_store *st, const char *queue, unsigned *n)
{
    retry_failed_args a = {queue, n};
    return txn((pg_store *)st, retry_failed_txn, &a);
}

static int kill_txn(pg_store *s, void *arg)
{
    id_args *a = arg;
    if (a->job->id != 0)
        ctk_job_clear(a->job);
    int state;
    int rc = state_of(s, S_LOCK_STATE, a->id, &state);
    if (rc == 0)
        rc = get_job(s, a->id, a->job);
    if (rc < 0)
        return rc;
    if (a->job->state == CTK_JOB_QUEUED) {
        rc = exec_stmt(s, S_CANCEL,
                       PARAMS(P_INT(a->id), P_TEXT("killed by cqueue kill before it ran")));
        if (rc == 0)
            rc = cancel_dependents(s, a->id, "cancelled");
    } else if (a->job->state == CTK_JOB_RUNNING) {
        /* A worker on another host sees it at its next lease renewal. */
        rc = bump(s, S_KILL_FLAG, a->id);
    } else {
        rc = fail(s, CTK_EINVAL, "job %" PRId64 " is %s already", a->id,
                  ctk_job_state_name(a->job->state));
    }
    return rc;
}

static int pg_request_kill(ctk_store *st, int64_t id, ctk_job *job)
{
    memset(job, 0, sizeof *job);
    id_args a = {id, job};
    int rc = txn((pg_store *)st, kill_txn, &a);
    if (rc < 0 && job->id != 0)
        ctk_job_clear(job);
    return rc;
}

static int queue_update_txn(pg_store *s, void *arg)
{
    queue_args *a = arg;
    int rc = ensure_queue(s, a->queue);
    if (rc == 0 && a->which == S_SET_PAUSED)
        rc = exec_stmt(s, S_SET_PAUSED, PARAMS(P_TEXT(a->queue), P_INT(a->value)));
    else if (rc == 0)
        rc = exec_stmt(s, a->which, PARAMS(P_TEXT(a->queue)));
    return rc == 0 ? notify(s, a->queue) : rc;
}

static int pg_set_paused(ctk_store *st, const char *queue, int paused)
{
    queue_args a = {.queue = queue, .value = paused, .which = S_SET_PAUSED};
    return txn((pg_store *)st, queue_update_txn, &a);
}

static int pg_stop(ctk_store *st, const char *queue)
{
    queue_args a = {.queue = queue, .which = S_STOP};
    return txn((pg_store *)st, queue_update_txn, &a);
}

typedef struct clear_args {
    const char *queue;
    unsigned mask;
    ctk_job_fn fn;
    void *arg;
    unsigned *n;
} clear_args;

static int clear_txn(pg_store *s, void *arg)
{
    clear_args *a = arg;
    *a->n = 0;
    int rc = 0;
    for (int state = CTK_JOB_DONE; rc == 0 && state < CTK_JOB_NSTATES; state++) {
        if (!(a->mask & (1u << state)))
            continue;
        PGresult *r =
            run(s, S_LIST_STATE, PARAMS(P_TEXT(a->queue), P_INT(0), P_TEXT(NULL), P_INT(state)));
        if (r == NULL)
            return CTK_EIO;
        for (int i = 0; rc == 0 && i < PQntuples(r); i++, (*a->n)++) {
            ctk_job job;
            read_job(r, i, &job);
            if (a->fn != NULL)
                a->fn(a->arg, &job);
            rc = remove_job(s, job.id);
            ctk_job_clear(&job);
        }
        PQclear(r);
    }
    return rc;
}

static int pg_clear(ctk_store *st, const char *queue, unsigned mask, ctk_job_fn fn, void *arg,
                    unsigned *n)
{
    clear_args a = {queue, mask, fn, arg, n};
    return txn((pg_store *)st, clear_txn, &a);
}

static int pg_check(ctk_store *st, char *result, size_t len)
{
    pg_store *s = (pg_store *)st;
    /* What SQLite's integrity_check is to a file, these are to the
     * tables: a job in two states at once cannot happen, so look for
     * what can (a dangling dependency, a running job with no worker). */
    PGresult *r = run_sql(s, "check",
                          "SELECT (SELECT count(*) FROM cqueue.deps d WHERE NOT EXISTS (SELECT 1"
                          " FROM cqueue.jobs j WHERE j.id = d.job)),"
                          " (SELECT count(*) FROM cqueue.jobs WHERE state = 1 AND worker IS NULL)");
    if (r == NULL)
        return CTK_EIO;
    int64_t dangling = get_i64(r, 0, 0), orphans = get_i64(r, 0, 1);
    PQclear(r);
    if (dangling == 0 && orphans == 0)
        snprintf(result, len, "ok");
    else
        snprintf(result, len,
                 "%" PRId64 " dependencies of removed jobs, %" PRId64
                 " running jobs without a worker",
                 dangling, orphans);
    return 0;
}

static const char *pg_last_error(ctk_store *st)
{
    return ((pg_store *)st)->error;
}

/* ---- waiting ------------------------------------------------------------------ */

static int listen_again(pg_store *s)
{
    PQfinish(s->listen);
    s->listen = connect_quiet(s->conninfo);
    PGresult *r =
        PQstatus(s->listen) == CONNECTION_OK ? PQexec(s->listen, "LISTEN " CHANNEL) : NULL;
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        PQfinish(s->listen);
        s->listen = NULL;
    }
    return ok ? 0 : CTK_EIO;
}

static int pg_wait(ctk_store *st, const char *queue, const int *fds, size_t n_fds, double timeout)
{
    pg_store *s = (pg_store *)st;
    struct pollfd p[8];
    size_t n = n_fds < 7 ? n_fds : 7;
    double until = timeout >= 0 ? monotonic() + timeout : 0;
    if (s->listen == NULL || PQstatus(s->listen) != CONNECTION_OK) {
        /* Listening begins now: the caller looks at the queue again before
         * it waits. A server away is waited for as it comes back. */
        if (listen_again(s) == 0)
            return 0;
        timeout = timeout >= 0 && timeout < 1 ? timeout : 1;
        until = monotonic() + timeout;
    }
    for (;;) {
        for (size_t i = 0; i < n; i++)
            p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
        p[n] =
            (struct pollfd){.fd = s->listen != NULL ? PQsocket(s->listen) : -1, .events = POLLIN};
        int ms = -1;
        if (timeout >= 0) {
            double left = until - monotonic();
            ms = left <= 0 ? 0 : (int)(left * 1000) + 1;
        }
        int got = poll(p, n + 1, ms);
        if (got < 0 && errno != EINTR)
            return -errno;
        if (got == 0)
            return 0;
        for (size_t i = 0; i < n; i++)
            if (p[i].revents != 0)
                return 0;
        if (s->listen == NULL || p[n].revents == 0)
            continue;
        if (!PQconsumeInput(s->listen)) {
            PQfinish(s->listen);
            s->listen = NULL;
            return 0; /* the server went away: the caller's next op reconnects */
        }
        int ours = 0;
        PGnotify *note;
        while ((note = PQnotifies(s->listen)) != NULL) {
            ours |= queue == NULL || strcmp(note->extra, queue) == 0;
            PQfreemem(note);
        }
        if (ours)
            return 0;
    }
}

/* The same store under both schemes a libpq URI may have. */
#define PG_OPS(scheme)                                                                             \
    {                                                                                              \
        .name = scheme, .open = pg_open, .close = pg_close, .add = pg_add, .claim = pg_claim,      \
        .set_pid = pg_set_pid, .renew = pg_renew, .finish = pg_finish, .release = pg_release,      \
        .expire = pg_expire, .get = pg_get, .list = pg_list, .remove = pg_remove,                  \
        .retry = pg_retry, .retry_failed = pg_retry_failed, .request_kill = pg_request_kill,       \
        .set_paused = pg_set_paused, .stop = pg_stop, .control = pg_control, .stats = pg_stats,    \
        .clear = pg_clear, .check = pg_check, .last_error = pg_last_error, .wait = pg_wait,        \
    }

static const ctk_store_ops postgresql_ops = PG_OPS("postgresql");
static const ctk_store_ops postgres_ops = PG_OPS("postgres");

static const ctk_store_ops *ops_named(const char *location)
{
    return strncmp(location, "postgres:", 9) == 0 ? &postgres_ops : &postgresql_ops;
}

static int store_postgres_init(ctk_registry *reg)
{
    int rc = ctk_register_store(reg, &postgresql_ops, NULL, NULL);
    return rc == 0 ? ctk_register_store(reg, &postgres_ops, NULL, NULL) : rc;
}

CTK_PLUGIN_DEFINE("store-postgres", store_postgres_init);
