/*
 * test-store.c: the SQLite store through its ops table: the job state
 * machine, leases under a fake clock, dependencies and their cancellation
 * reasons, keys, retries, counts, and the schema rules (a newer database
 * and a foreign one refused, an older one migrated).
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#include "ctk/store.h"
#include "store-sqlite.h"

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
    ADD("newer-schema-refused", test_newer_schema_refused);
    ADD("migration", test_migration);
    return g_test_run();
}
