/*
 * test-store.c: the SQLite store through its ops table: the job state
 * machine, leases under a fake clock, dependencies and their cancellation
 * reasons, keys, retries, counts, and the schema rules (a newer database
 * and a foreign one refused, an older one migrated). Also the worker's
 * unit and result encodings (jobunit.h), and how --db values pick a
 * store (storepath.h).
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#include "ctk/registry.h"
#include "ctk/store.h"
#include "jobunit.h"
#include "store-sqlite.h"
#include "storepath.h"

typedef struct fixture {
    char *dir, *path;
    double now;
    ctk_store *st;
    ctk_worker_id w1, w2;
} fixture;

static double fake_clock(void *arg)
{
    return ((fixture *)arg)->now;
}

static ctk_store *open_at(fixture *f, const char *path, int expect)
{
    ctk_store_opts o = {path, fake_clock, f};
    ctk_store *st = NULL;
    char err[512] = "";
    int rc = ctk_store_open(&st, ctk_store_sqlite_ops(), &o, err, sizeof err);
    if (expect == 0)
        g_assert_cmpstr(err, ==, "");
    g_assert_cmpint(rc, ==, expect);
    return st;
}

static void setup(fixture *f, gconstpointer data)
{
    (void)data;
    f->dir = g_dir_make_tmp("test-store-XXXXXX", NULL);
    f->path = g_build_filename(f->dir, "q.db", NULL);
    f->now = 1000;
    f->st = open_at(f, f->path, 0);
    f->w1 = (ctk_worker_id){"h/1/1", "h"};
    f->w2 = (ctk_worker_id){"h/2/2", "h"};
}

static void teardown(fixture *f, gconstpointer data)
{
    (void)data;
    ctk_store_close(f->st);
    char *cmd = g_strdup_printf("rm -rf '%s'", f->dir);
    g_assert_cmpint(system(cmd), ==, 0);
    g_free(cmd);
    g_free(f->path);
    g_free(f->dir);
}

static int64_t add(fixture *f, const char *cmd, const int64_t *after, size_t n_after,
                   const char *key, unsigned retries)
{
    ctk_job_spec s = {.queue = "q",
                      .cmd = cmd,
                      .cwd = "/",
                      .after = after,
                      .n_after = n_after,
                      .key = key,
                      .retries = retries,
                      .weight = 1};
    int64_t id = 0;
    char err[256] = "";
    g_assert_cmpint(f->st->ops->add(f->st, &s, 1, &id, NULL, err, sizeof err), ==, 0);
    return id;
}

static ctk_job get(fixture *f, int64_t id)
{
    ctk_job j;
    g_assert_cmpint(f->st->ops->get(f->st, id, &j), ==, 0);
    return j;
}

static ctk_job_state state(fixture *f, int64_t id)
{
    ctk_job j = get(f, id);
    ctk_job_state s = j.state;
    ctk_job_clear(&j);
    return s;
}

static int64_t claim(fixture *f, const ctk_worker_id *w, double lease)
{
    ctk_job j;
    int rc = f->st->ops->claim(f->st, "q", w, 8, f->now + lease, &j);
    if (rc == CTK_EAGAIN)
        return 0;
    g_assert_cmpint(rc, ==, 0);
    int64_t id = j.id;
    ctk_job_clear(&j);
    return id;
}

static void finish(fixture *f, const ctk_worker_id *w, int64_t id, int exit_code, int expect)
{
    ctk_job_outcome o = {.exit_code = exit_code};
    g_assert_cmpint(f->st->ops->finish(f->st, id, w, &o), ==, expect);
}

static void test_state_machine(fixture *f, gconstpointer data)
{
    (void)data;
    int64_t a = add(f, "true", NULL, 0, NULL, 0), b = add(f, "false", NULL, 0, NULL, 0);
    g_assert_cmpint(b, >, a);
    g_assert_cmpint(state(f, a), ==, CTK_JOB_QUEUED);
    g_assert_cmpint(claim(f, &f->w1, 30), ==, a); /* oldest first */
    g_assert_cmpint(state(f, a), ==, CTK_JOB_RUNNING);
    g_assert_cmpint(claim(f, &f->w1, 30), ==, b);
    g_assert_cmpint(claim(f, &f->w1, 30), ==, 0); /* nothing left */
    f->now += 2;
    finish(f, &f->w1, a, 0, 0);
    finish(f, &f->w1, b, 3, 0);
    ctk_job ja = get(f, a), jb = get(f, b);
    g_assert_cmpint(ja.state, ==, CTK_JOB_DONE);
    g_assert_cmpint(jb.state, ==, CTK_JOB_FAILED);
    g_assert_cmpint(jb.exit_code, ==, 3);
    g_assert_cmpint(ja.attempts, ==, 1);
    g_assert_cmpfloat(ja.finished_at - ja.started_at, ==, 2);
    ctk_job_clear(&ja);
    ctk_job_clear(&jb);
    ctk_store_stats s;
    g_assert_cmpint(f->st->ops->stats(f->st, "q", &s), ==, 0);
    g_assert_cmpuint(s.count[CTK_JOB_DONE], ==, 1);
    g_assert_cmpuint(s.count[CTK_JOB_FAILED], ==, 1);
    g_assert_cmpuint(s.count[CTK_JOB_QUEUED], ==, 0);
    g_assert_cmpfloat(s.mean_run, ==, 2);
    /* A finished job cannot be finished twice. */
    finish(f, &f->w1, a, 0, CTK_ENOENT);
    /* retry brings the failed one back; rm refuses nothing finished. */
    g_assert_cmpint(f->st->ops->retry(f->st, a), ==, CTK_EINVAL);
    g_assert_cmpint(f->st->ops->retry(f->st, b), ==, 0);
    g_assert_cmpint(state(f, b), ==, CTK_JOB_QUEUED);
    g_assert_cmpint(f->st->ops->remove(f->st, a), ==, 0);
    ctk_job gone;
    g_assert_cmpint(f->st->ops->get(f->st, a, &gone), ==, CTK_ENOENT);
}

static void test_priority_and_pause(fixture *f, gconstpointer data)
{
    (void)data;
    int64_t low = add(f, "low", NULL, 0, NULL, 0);
    ctk_job_spec s = {.queue = "q", .cmd = "high", .cwd = "/", .priority = 5, .weight = 1};
    int64_t high;
    char err[128];
    g_assert_cmpint(f->st->ops->add(f->st, &s, 1, &high, NULL, err, sizeof err), ==, 0);
    g_assert_cmpint(f->st->ops->set_paused(f->st, "q", 1), ==, 0);
    g_assert_cmpint(claim(f, &f->w1, 30), ==, 0);
    g_assert_cmpint(f->st->ops->set_paused(f->st, "q", 0), ==, 0);
    g_assert_cmpint(claim(f, &f->w1, 30), ==, high);
    g_assert_cmpint(claim(f, &f->w1, 30), ==, low);
}

static void test_lease_expiry(fixture *f, gconstpointer data)
{
    (void)data;
    int64_t a = add(f, "sleep", NULL, 0, NULL, 0);
    g_assert_cmpint(claim(f, &f->w1, 10), ==, a);
    unsigned n = 99;
    f->now += 5;
    g_assert_cmpint(f->st->ops->renew(f->st, &f->w1, f->now + 10), ==, 0);
    f->now += 9; /* within the renewed lease */
    g_assert_cmpint(f->st->ops->expire(f->st, "q", "other", NULL, NULL, NULL, &n), ==, 0);
    g_assert_cmpuint(n, ==, 0);
    f->now += 2; /* past it: the worker is gone */
    g_assert_cmpint(f->st->ops->expire(f->st, "q", "other", NULL, NULL, NULL, &n), ==, 0);
    g_assert_cmpuint(n, ==, 1);
    ctk_job j = get(f, a);
    g_assert_cmpint(j.state, ==, CTK_JOB_QUEUED);
    g_assert_nonnull(strstr(j.reason, "lost"));
    ctk_job_clear(&j);
    /* Another worker runs it; the lost worker's late result is dropped. */
    g_assert_cmpint(claim(f, &f->w2, 10), ==, a);
    finish(f, &f->w1, a, 0, CTK_ENOENT);
    finish(f, &f->w2, a, 0, 0);
    j = get(f, a);
    g_assert_cmpint(j.state, ==, CTK_JOB_DONE);
    g_assert_cmpuint(j.attempts, ==, 2);
    ctk_job_clear(&j);
}

static int always_dead(void *arg, const char *worker)
{
    (void)arg;
    return strcmp(worker, "h/1/1") == 0;
}

static void test_dead_worker_needs_no_lease_expiry(fixture *f, gconstpointer data)
{
    (void)data;
    int64_t a = add(f, "x", NULL, 0, NULL, 0), b = add(f, "y", NULL, 0, NULL, 0);
    g_assert_cmpint(claim(f, &f->w1, 100), ==, a);
    g_assert_cmpint(claim(f, &f->w2, 100), ==, b);
    unsigned n = 0;
    g_assert_cmpint(f->st->ops->expire(f->st, "q", "h", always_dead, NULL, NULL, &n), ==, 0);
    g_assert_cmpuint(n, ==, 1);
    g_assert_cmpint(state(f, a), ==, CTK_JOB_QUEUED);
    g_assert_cmpint(state(f, b), ==, CTK_JOB_RUNNING);
}

static void test_retries(fixture *f, gconstpointer data)
{
    (void)data;
    int64_t a = add(f, "flaky", NULL, 0, NULL, 1);
    g_assert_cmpint(claim(f, &f->w1, 10), ==, a);
    finish(f, &f->w1, a, 1, 0);
    g_assert_cmpint(state(f, a), ==, CTK_JOB_QUEUED); /* one retry left */
    g_assert_cmpint(claim(f, &f->w1, 10), ==, a);
    finish(f, &f->w1, a, 1, 0);
    ctk_job j = get(f, a);
    g_assert_cmpint(j.state, ==, CTK_JOB_FAILED);
    g_assert_cmpuint(j.attempts, ==, 2);
    ctk_job_clear(&j);
}

static void test_dependencies(fixture *f, gconstpointer data)
{
    (void)data;
    int64_t a = add(f, "a", NULL, 0, NULL, 0);
    int64_t b = add(f, "b", &a, 1, NULL, 0);
    int64_t c = add(f, "c", &b, 1, NULL, 0);
    g_assert_cmpint(claim(f, &f->w1, 10), ==, a);
    g_assert_cmpint(claim(f, &f->w1, 10), ==, 0); /* b waits for a */
    finish(f, &f->w1, a, 0, 0);
    g_assert_cmpint(claim(f, &f->w1, 10), ==, b);
    finish(f, &f->w1, b, 2, 0);
    ctk_job jc = get(f, c);
    g_assert_cmpint(jc.state, ==, CTK_JOB_CANCELLED);
    char want[64];
    snprintf(want, sizeof want, "dependency %lld failed", (long long)b);
    g_assert_cmpstr(jc.reason, ==, want);
    g_assert_cmpuint(jc.n_after, ==, 1);
    g_assert_cmpint(jc.after[0], ==, b);
    ctk_job_clear(&jc);
    /* Added after its dependency failed: cancelled at once. */
    int64_t d = add(f, "d", &b, 1, NULL, 0);
    g_assert_cmpint(state(f, d), ==, CTK_JOB_CANCELLED);
    /* Retrying b brings back what was cancelled because of it. */
    g_assert_cmpint(f->st->ops->retry(f->st, b), ==, 0);
    g_assert_cmpint(state(f, c), ==, CTK_JOB_QUEUED);
    g_assert_cmpint(state(f, d), ==, CTK_JOB_QUEUED);
    g_assert_cmpint(claim(f, &f->w1, 10), ==, b);
    g_assert_cmpint(claim(f, &f->w1, 10), ==, 0);
    /* An unknown dependency adds nothing. */
    int64_t nope = 999, id = 0;
    ctk_job_spec s = {.queue = "q", .cmd = "x", .cwd = "/", .after = &nope, .n_after = 1};
    char err[256] = "";
    g_assert_cmpint(f->st->ops->add(f->st, &s, 1, &id, NULL, err, sizeof err), ==, CTK_ENOENT);
    g_assert_nonnull(strstr(err, "999"));
}

static void test_keys(fixture *f, gconstpointer data)
{
    (void)data;
    int64_t a = add(f, "fetch x", NULL, 0, "x", 0);
    ctk_job_spec s = {.queue = "q", .cmd = "fetch x again", .cwd = "/", .key = "x"};
    int64_t id;
    int existed = 0;
    char err[128];
    g_assert_cmpint(f->st->ops->add(f->st, &s, 1, &id, &existed, err, sizeof err), ==, 0);
    g_assert_cmpint(id, ==, a);
    g_assert_cmpint(existed, ==, 1);
    g_assert_cmpint(claim(f, &f->w1, 10), ==, a);
    finish(f, &f->w1, a, 0, 0);
    /* Once done, the key is free again. */
    g_assert_cmpint(f->st->ops->add(f->st, &s, 1, &id, &existed, err, sizeof err), ==, 0);
    g_assert_cmpint(id, !=, a);
    g_assert_cmpint(existed, ==, 0);
}

/* A failed job whose key a live job holds now is not queued again (issue
 * 13 #19): retry says so, retry_failed leaves it and retries the rest. */
static void test_retry_key_taken(fixture *f, gconstpointer data)
{
    (void)data;
    int64_t a = add(f, "fetch x", NULL, 0, "x", 0), b = add(f, "other", NULL, 0, NULL, 0);
    int64_t dep = add(f, "after a", &a, 1, "y", 0);
    for (int i = 0; i < 2; i++)
        finish(f, &f->w1, claim(f, &f->w1, 10), 1, 0);
    g_assert_cmpint(state(f, dep), ==, CTK_JOB_CANCELLED);
    int64_t holder = add(f, "fetch x again", NULL, 0, "x", 0);
    g_assert_cmpint(f->st->ops->retry(f->st, a), ==, CTK_EEXIST);
    g_assert_nonnull(strstr(f->st->ops->last_error(f->st), "held by job"));
    g_assert_cmpint(state(f, a), ==, CTK_JOB_FAILED);
    unsigned n = 0;
    g_assert_cmpint(f->st->ops->retry_failed(f->st, "q", &n), ==, 0);
    g_assert_cmpint(n, ==, 1);
    g_assert_cmpint(state(f, a), ==, CTK_JOB_FAILED);
    g_assert_cmpint(state(f, b), ==, CTK_JOB_QUEUED);
    /* Once the key is free, a comes back, with its dependent; a dependent
     * whose own key is taken stays cancelled. */
    g_assert_cmpint(f->st->ops->remove(f->st, holder), ==, 0);
    add(f, "holds y", NULL, 0, "y", 0);
    g_assert_cmpint(f->st->ops->retry(f->st, a), ==, 0);
    g_assert_cmpint(state(f, a), ==, CTK_JOB_QUEUED);
    g_assert_cmpint(state(f, dep), ==, CTK_JOB_CANCELLED);
}

static void test_kill_and_clear(fixture *f, gconstpointer data)
{
    (void)data;
    int64_t a = add(f, "a", NULL, 0, NULL, 3), b = add(f, "b", &a, 1, NULL, 0);
    ctk_job j;
    g_assert_cmpint(f->st->ops->request_kill(f->st, a, &j), ==, 0);
    ctk_job_clear(&j);
    g_assert_cmpint(state(f, a), ==, CTK_JOB_CANCELLED);
    g_assert_cmpint(state(f, b), ==, CTK_JOB_CANCELLED);
    int64_t c = add(f, "c", NULL, 0, NULL, 3);
    g_assert_cmpint(claim(f, &f->w1, 10), ==, c);
    g_assert_cmpint(f->st->ops->request_kill(f->st, c, &j), ==, 0);
    ctk_job_clear(&j);
    finish(f, &f->w1, c, 143, 0); /* killed: no retry despite 3 left */
    g_assert_cmpint(state(f, c), ==, CTK_JOB_FAILED);
    unsigned n = 0;
    g_assert_cmpint(f->st->ops->clear(f->st, "q", 1u << CTK_JOB_CANCELLED, NULL, NULL, &n), ==, 0);
    g_assert_cmpuint(n, ==, 2);
    ctk_store_stats s;
    g_assert_cmpint(f->st->ops->stats(f->st, "q", &s), ==, 0);
    g_assert_cmpuint(s.count[CTK_JOB_CANCELLED], ==, 0);
    g_assert_cmpuint(s.count[CTK_JOB_FAILED], ==, 1);
}

static void test_newer_schema_refused(fixture *f, gconstpointer data)
{
    (void)data;
    ctk_store_close(f->st);
    f->st = NULL;
    sqlite3 *db;
    g_assert_cmpint(sqlite3_open(f->path, &db), ==, SQLITE_OK);
    g_assert_cmpint(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), ==, SQLITE_OK);
    sqlite3_close(db);
    g_assert_null(open_at(f, f->path, CTK_ERANGE));
    /* A foreign SQLite file and a file that is no database are refused. */
    char *other = g_build_filename(f->dir, "other.db", NULL);
    g_assert_cmpint(sqlite3_open(other, &db), ==, SQLITE_OK);
    g_assert_cmpint(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), ==, SQLITE_OK);
    sqlite3_close(db);
    g_assert_null(open_at(f, other, CTK_EINVAL));
    g_assert_true(
        g_file_set_contents(other, "not a database at all, just some text here\n", -1, NULL));
    g_assert_null(open_at(f, other, CTK_EIO));
    g_free(other);
}

static void test_migration(fixture *f, gconstpointer data)
{
    (void)data;
    ctk_store_close(f->st);
    f->st = NULL;
    /* A version-1 database with jobs in it, as an older cqueue left it. */
    char *old = g_build_filename(f->dir, "v1.db", NULL);
    sqlite3 *db;
    g_assert_cmpint(sqlite3_open(old, &db), ==, SQLITE_OK);
    g_assert_cmpint(ctk__store_sqlite_migrate(db, 0, 1), ==, 0);
    g_assert_cmpint(sqlite3_exec(db,
                                 "INSERT INTO queues(name) VALUES('q');"
                                 "INSERT INTO jobs(queue, state, cmd, queued_at) VALUES"
                                 " ('q', 0, 'a', 1), ('q', 0, 'b', 1), ('q', 2, 'c', 1);",
                                 NULL, NULL, NULL),
                    ==, SQLITE_OK);
    sqlite3_close(db);
    f->st = open_at(f, old, 0);
    ctk_store_stats s;
    g_assert_cmpint(f->st->ops->stats(f->st, "q", &s), ==, 0);
    g_assert_cmpuint(s.count[CTK_JOB_QUEUED], ==, 2);
    g_assert_cmpuint(s.count[CTK_JOB_DONE], ==, 1);
    g_assert_cmpint(claim(f, &f->w1, 10), >, 0);
    g_assert_cmpint(f->st->ops->stats(f->st, "q", &s), ==, 0);
    g_assert_cmpuint(s.count[CTK_JOB_QUEUED], ==, 1);
    g_assert_cmpuint(s.count[CTK_JOB_RUNNING], ==, 1);
    char check[64];
    g_assert_cmpint(f->st->ops->check(f->st, check, sizeof check), ==, 0);
    g_assert_cmpstr(check, ==, "ok");
    g_free(old);
}

/* ---- the worker's unit and result ------------------------------------------ */

static void test_jobunit_round_trip(void)
{
    char *argv[] = {"sh", "-c", "echo \"$X\"", "", NULL};
    char *env[] = {"X=1", "EMPTY=", NULL};
    ctk_job job = {.id = 42,
                   .attempts = 3,
                   .cmd = "sh -c ...",
                   .argv = argv,
                   .env = env,
                   .cwd = "/tmp",
                   .timeout = 2.5};
    for (int variant = 0; variant < 2; variant++) {
        if (variant == 1) /* a shell command line, no recorded environment or folder */
            job.argv = job.env = NULL, job.cwd = NULL;
        ctk_buf b = {0};
        g_assert_cmpint(cq_jobunit_encode(&b, &job, "/o/42.out", "/o/42.err"), ==, 0);
        cq_jobunit u;
        g_assert_cmpint(cq_jobunit_decode(b.data, b.len, &u), ==, 0);
        g_assert_cmpint(u.id, ==, 42);
        g_assert_cmpuint(u.attempt, ==, 3);
        g_assert_cmpstr(u.cmd, ==, "sh -c ...");
        g_assert_cmpstr(u.cwd, ==, job.cwd);
        g_assert_cmpfloat(u.timeout, ==, 2.5);
        g_assert_cmpstr(u.out_path, ==, "/o/42.out");
        g_assert_cmpstr(u.err_path, ==, "/o/42.err");
        if (variant == 0) {
            g_assert_cmpuint(g_strv_length(u.argv), ==, 4);
            g_assert_cmpstr(u.argv[2], ==, "echo \"$X\"");
            g_assert_cmpstr(u.argv[3], ==, "");
            g_assert_cmpuint(g_strv_length(u.env), ==, 2);
            g_assert_cmpstr(u.env[1], ==, "EMPTY=");
        } else {
            g_assert_null(u.argv);
            g_assert_null(u.env);
        }
        cq_jobunit_clear(&u);
        /* Every cut short of the whole is refused, and so is a byte more. */
        for (size_t len = 0; len < b.len; len++) {
            g_assert_cmpint(cq_jobunit_decode(b.data, len, &u), ==, CTK_EIO);
            g_assert_null(u.cmd);
        }
        g_assert_cmpint(ctk_buf_append(&b, "", 1), ==, 0);
        g_assert_cmpint(cq_jobunit_decode(b.data, b.len, &u), ==, CTK_EIO);
        ctk_buf_free(&b);
    }
}

static void test_jobunit_refuses_huge_counts(void)
{
    /* id, attempt, cmd "x", then an argv count no input could back. */
    ctk_buf b = {0};
    g_assert_cmpint(ctk_wire_put_i64(&b, 1), ==, 0);
    g_assert_cmpint(ctk_wire_put_u64(&b, 1), ==, 0);
    g_assert_cmpint(ctk_wire_put_str(&b, "x"), ==, 0);
    g_assert_cmpint(ctk_wire_put_u64(&b, UINT64_MAX - 1), ==, 0);
    cq_jobunit u;
    g_assert_cmpint(cq_jobunit_decode(b.data, b.len, &u), ==, CTK_EIO);
    ctk_buf_free(&b);
}

static void test_outcome_round_trip(void)
{
    const cq_outcome cases[] = {
        {.id = 7, .exit_code = 3},
        {.id = 8, .signal = 9, .terminated = 1},
        {.id = 9, .exit_code = 127, .exec_errno = 2},
        {.id = 10, .timed_out = 1, .signal = 15, .rc = CTK_ENOMEM, .reason = "cannot enter /x"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        ctk_buf b = {0};
        cq_outcome o;
        g_assert_cmpint(cq_outcome_encode(&b, &cases[i]), ==, 0);
        g_assert_cmpint(cq_outcome_decode(b.data, b.len, &o), ==, 0);
        g_assert_cmpint(o.id, ==, cases[i].id);
        g_assert_cmpint(o.exit_code, ==, cases[i].exit_code);
        g_assert_cmpint(o.signal, ==, cases[i].signal);
        g_assert_cmpint(o.exec_errno, ==, cases[i].exec_errno);
        g_assert_cmpint(o.rc, ==, cases[i].rc);
        g_assert_cmpint(o.timed_out, ==, cases[i].timed_out);
        g_assert_cmpint(o.terminated, ==, cases[i].terminated);
        g_assert_cmpstr(o.reason, ==, cases[i].reason);
        cq_outcome_clear(&o);
        for (size_t len = 0; len < b.len; len++)
            g_assert_cmpint(cq_outcome_decode(b.data, len, &o), ==, CTK_EIO);
        ctk_buf_free(&b);
    }
}

/* ---- --db values ------------------------------------------------------------ */

static int fake_open(ctk_store **out, const ctk_store_opts *opts, char *err, size_t err_len)
{
    (void)out;
    (void)opts;
    (void)err;
    (void)err_len;
    return CTK_EIO;
}

static void test_db_schemes(void)
{
    static const ctk_store_ops pg = {.name = "postgresql", .open = fake_open};
    ctk_registry *reg;
    char *dir = g_dir_make_tmp("ctk-db-XXXXXX", NULL);
    char err[512];
    cq_db db;
    g_assert_cmpint(ctk_registry_new(&reg), ==, 0);
    g_assert_cmpint(ctk_register_store(reg, ctk_store_sqlite_ops(), NULL, NULL), ==, 0);
    g_assert_cmpint(ctk_register_store(reg, &pg, NULL, NULL), ==, 0);
    g_setenv("XDG_STATE_HOME", dir, TRUE);
    g_setenv("CQUEUE_DB", "/env/q.db", TRUE);

    g_assert_cmpint(cq_db_pick(reg, "/a/q.db", &db, err, sizeof err), ==, 0);
    g_assert_cmpstr(db.store->ops->name, ==, "sqlite");
    g_assert_cmpstr(db.location, ==, "/a/q.db");
    g_assert_cmpstr(db.side_base, ==, "/a/q.db");
    cq_db_clear(&db);

    g_assert_cmpint(cq_db_pick(reg, "sqlite:rel/q.db", &db, err, sizeof err), ==, 0);
    g_assert_cmpstr(db.store->ops->name, ==, "sqlite");
    g_assert_cmpstr(db.location, ==, "rel/q.db");
    g_assert_cmpstr(db.side_base, ==, "rel/q.db");
    cq_db_clear(&db);

    g_assert_cmpint(cq_db_pick(reg, "postgresql://h/q", &db, err, sizeof err), ==, 0);
    g_assert_cmpstr(db.store->ops->name, ==, "postgresql");
    g_assert_cmpstr(db.location, ==, "postgresql://h/q");
    char *side = g_build_filename(dir, "ctk", "postgresql", NULL);
    g_assert_cmpstr(db.side_base, ==, side);
    g_free(side);
    cq_db_clear(&db);

    /* No --db: the environment. */
    g_assert_cmpint(cq_db_pick(reg, NULL, &db, err, sizeof err), ==, 0);
    g_assert_cmpstr(db.location, ==, "/env/q.db");
    cq_db_clear(&db);

    g_assert_cmpint(cq_db_pick(reg, "mysql://h/q", &db, err, sizeof err), ==, CTK_EINVAL);
    g_assert_cmpstr(err, ==,
                    "--db 'mysql://h/q': no store for 'mysql:' (known: postgresql, sqlite)");
    g_setenv("CQUEUE_DB", "mysql:x", TRUE);
    g_assert_cmpint(cq_db_pick(reg, NULL, &db, err, sizeof err), ==, CTK_EINVAL);
    g_assert_cmpstr(err, ==,
                    "$CQUEUE_DB 'mysql:x': no store for 'mysql:' (known: postgresql, sqlite)");

    /* Neither: the default file. */
    g_unsetenv("CQUEUE_DB");
    g_assert_cmpint(cq_db_pick(reg, NULL, &db, err, sizeof err), ==, 0);
    char *def = g_build_filename(dir, "ctk", "queue.db", NULL);
    g_assert_cmpstr(db.location, ==, def);
    g_free(def);
    cq_db_clear(&db);

    char *ctk_dir = g_build_filename(dir, "ctk", NULL);
    g_rmdir(ctk_dir);
    g_free(ctk_dir);
    g_rmdir(dir);
    g_free(dir);
    ctk_registry_free(reg);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) g_test_add("/store/" name, fixture, NULL, setup, fn, teardown)
    ADD("state-machine", test_state_machine);
    ADD("priority-and-pause", test_priority_and_pause);
    ADD("lease-expiry", test_lease_expiry);
    ADD("dead-worker", test_dead_worker_needs_no_lease_expiry);
    ADD("retries", test_retries);
    ADD("dependencies", test_dependencies);
    ADD("keys", test_keys);
    ADD("kill-and-clear", test_kill_and_clear);
    ADD("retry-key-taken", test_retry_key_taken);
    ADD("newer-schema-refused", test_newer_schema_refused);
    ADD("migration", test_migration);
    g_test_add_func("/jobunit/round-trip", test_jobunit_round_trip);
    g_test_add_func("/jobunit/huge-counts", test_jobunit_refuses_huge_counts);
    g_test_add_func("/jobunit/outcome-round-trip", test_outcome_round_trip);
    g_test_add_func("/store/db-schemes", test_db_schemes);
    return g_test_run();
}
