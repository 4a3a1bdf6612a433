/*
 * test-journal.c: what the journal records survives closing and reopening
 * (as after kill -9), only successes count as done, the latest outcome of
 * a URL wins, and a file that is not a database is a clear error.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

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
    g_assert_cmpint(ctk_journal_record(j, "http://a/", 1, 200, 42, "d/a", ""), ==, 0);
    g_assert_cmpint(ctk_journal_record(j, "http://b/", 0, 503, 0, "", "HTTP 503"), ==, 0);
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
    g_assert_cmpint(ctk_journal_record(j, "http://b/", 1, 200, 3, "", ""), ==, 0);
    g_assert_cmpint(ctk_journal_record(j, "http://a/", 0, 0, 0, "", "refused"), ==, 0);
    g_assert_cmpint(ctk_journal_done(j, "http://b/", &e), ==, 1);
    ctk_journal_entry_free(&e);
    g_assert_cmpint(ctk_journal_done(j, "http://a/", &e), ==, 0);
    ctk_journal_close(j);
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
    return g_test_run();
}
