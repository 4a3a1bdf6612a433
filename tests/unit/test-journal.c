/*
 * test-journal.c: what the journal records survives closing and reopening
 * (as after kill -9), only successes count as done, the latest outcome of
 * a URL wins, a file that is not a database is a clear error, another
 * program's database is refused unchanged, the file is 0600, and a file
 * a success recorded is known as that URL's.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "journal.h"

static char *temp_path(const char *name)
{
    char *dir = g_dir_make_tmp("ctk-journal-XXXXXX", NULL);
    char *path = g_build_filename(dir, name, NULL);
    g_free(dir);
    return path;
}

static void test_records_survive_reopen(void)
{
    char *path = temp_path("j.db");
    char err[256];
    ctk_journal *j;
    g_assert_cmpint(ctk_journal_open(&j, path, err, sizeof err), ==, 0);
    g_assert_cmpint(ctk_journal_record(j, "http://a/", 1, 200, 42, "d/a", -1, ""), ==, 0);
    g_assert_cmpint(ctk_journal_record(j, "http://b/", 0, 503, 0, "", -1, "HTTP 503"), ==, 0);
    /* No close: the row must already be on disk for another connection. */
    ctk_journal *k;
    g_assert_cmpint(ctk_journal_open(&k, path, err, sizeof err), ==, 0);
    ctk_journal_entry e = {0};
    g_assert_cmpint(ctk_journal_done(k, "http://a/", &e), ==, 1);
    g_assert_cmpint(e.status, ==, 200);
    g_assert_cmpuint(e.bytes, ==, 42);
    g_assert_cmpstr(e.path, ==, "d/a");
    ctk_journal_entry_free(&e);
    g_assert_cmpint(ctk_journal_done(k, "http://b/", &e), ==, 0);
    g_assert_cmpint(ctk_journal_done(k, "http://c/", &e), ==, 0);
    ctk_journal_close(k);
    /* A later success replaces the failure; a later failure the success. */
    g_assert_cmpint(ctk_journal_record(j, "http://b/", 1, 200, 3, "", -1, ""), ==, 0);
    g_assert_cmpint(ctk_journal_record(j, "http://a/", 0, 0, 0, "", -1, "refused"), ==, 0);
    g_assert_cmpint(ctk_journal_done(j, "http://b/", &e), ==, 1);
    ctk_journal_entry_free(&e);
    g_assert_cmpint(ctk_journal_done(j, "http://a/", &e), ==, 0);
    ctk_journal_close(j);
    g_free(path);
}

static void test_owner_mode_and_mtime(void)
{
    char *path = temp_path("o.db");
    char err[256];
    ctk_journal *j;
    mode_t old = umask(022);
    g_assert_cmpint(ctk_journal_open(&j, path, err, sizeof err), ==, 0);
    umask(old);
    GStatBuf st;
    g_assert_cmpint(g_stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);
    g_assert_cmpint(ctk_journal_record(j, "http://a/", 1, 200, 4, "d/data", 1234567890123, ""), ==,
                    0);
    g_assert_cmpint(ctk_journal_record(j, "http://f/", 0, 404, 0, "d/f", -1, "HTTP 404"), ==, 0);
    char *url = NULL;
    g_assert_cmpint(ctk_journal_owner(j, "d/data", &url), ==, 1);
    g_assert_cmpstr(url, ==, "http://a/");
    g_free(url);
    /* Only a success owns its file. */
    g_assert_cmpint(ctk_journal_owner(j, "d/f", &url), ==, 0);
    g_assert_cmpint(ctk_journal_owner(j, "d/none", &url), ==, 0);
    ctk_journal_entry e = {0};
    g_assert_cmpint(ctk_journal_done(j, "http://a/", &e), ==, 1);
    g_assert_cmpint(e.mtime_ns, ==, 1234567890123);
    ctk_journal_entry_free(&e);
    ctk_journal_close(j);
    g_free(path);
}

/* Another program's SQLite file: refused, not a byte changed. */
static void test_foreign_database_untouched(void)
{
    char *path = temp_path("app.db");
    sqlite3 *db;
    g_assert_cmpint(sqlite3_open(path, &db), ==, SQLITE_OK);
    g_assert_cmpint(
        sqlite3_exec(db, "CREATE TABLE t(a); INSERT INTO t VALUES (1);", NULL, NULL, NULL), ==,
        SQLITE_OK);
    sqlite3_close(db);
    gchar *before = NULL, *after = NULL;
    gsize n_before, n_after;
    g_assert_true(g_file_get_contents(path, &before, &n_before, NULL));
    char err[256] = "";
    ctk_journal *j = NULL;
    g_assert_cmpint(ctk_journal_open(&j, path, err, sizeof err), ==, CTK_EINVAL);
    g_assert_nonnull(strstr(err, "not a cfetch journal"));
    g_assert_true(g_file_get_contents(path, &after, &n_after, NULL));
    g_assert_cmpmem(before, n_before, after, n_after);
    char *wal = g_strconcat(path, "-wal", NULL);
    g_assert_false(g_file_test(wal, G_FILE_TEST_EXISTS));
    g_free(wal);
    g_free(before);
    g_free(after);
    g_free(path);
}

static void test_not_a_database(void)
{
    char *path = temp_path("junk");
    g_assert_true(g_file_set_contents(path, "this is not sqlite, not at all, no\n", -1, NULL));
    char err[256] = "";
    ctk_journal *j = NULL;
    g_assert_cmpint(ctk_journal_open(&j, path, err, sizeof err), ==, CTK_EIO);
    g_assert_cmpstr(err, !=, "");
    g_assert_cmpint(ctk_journal_open(&j, "/nonexistent-dir/x/j.db", err, sizeof err), ==, CTK_EIO);
    g_free(path);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/journal/records-survive-reopen", test_records_survive_reopen);
    g_test_add_func("/journal/not-a-database", test_not_a_database);
    g_test_add_func("/journal/owner-mode-and-mtime", test_owner_mode_and_mtime);
    g_test_add_func("/journal/foreign-database-untouched", test_foreign_database_untouched);
    return g_test_run();
}
