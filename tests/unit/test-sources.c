/* test-sources.c: the job lists GNU parallel makes of its input sources
 * (expected orders taken from `parallel --dry-run`). */
#include <glib.h>
#include <string.h>
#include <unistd.h>

#include "ctkx/sources.h"
#include "testutil.h"

/* Every job as its columns joined by spaces, jobs joined by '|'. */
static char *jobs(ctk_sources *s)
{
    GString *all = g_string_new(NULL);
    ctk_item item = {0};
    int nul = 0, rc;
    while ((rc = ctk_sources_next(s, &item, &nul, NULL)) == 0) {
        if (all->len > 0)
            g_string_append_c(all, '|');
        for (size_t i = 0; i < item.n; i++) {
            g_assert_cmpuint(strlen(item.cols[i]), ==, item.lens[i]);
            g_string_append_printf(all, i ? " %s" : "%s", item.cols[i]);
        }
    }
    g_assert_cmpint(rc, ==, CTK_EOF);
    ctk_item_clear(&item);
    return g_string_free(all, FALSE);
}

static void test_cross_product(void)
{
    ctk_sources *s;
    ctk_sources_new(&s, '\n');
    char *a[] = {"a", "b"}, *n[] = {"1", "2"}, *x[] = {"X"};
    ctk_sources_add_words(s, a, 2, 0);
    ctk_sources_add_words(s, n, 2, 0);
    ctk_sources_add_words(s, x, 1, 0);
    char *got = jobs(s);
    g_assert_cmpstr(got, ==, "a 1 X|a 2 X|b 1 X|b 2 X");
    g_free(got);
    ctk_sources_free(s);
}

static void test_linked_stops_at_shorter(void)
{
    ctk_sources *s;
    ctk_sources_new(&s, '\n');
    char *a[] = {"a", "b", "c"}, *n[] = {"1", "2"}, *z[] = {"Z", "W"};
    ctk_sources_add_words(s, a, 3, 0);
    ctk_sources_add_words(s, n, 2, 1);
    ctk_sources_add_words(s, z, 2, 0);
    char *got = jobs(s);
    g_assert_cmpstr(got, ==, "a 1 Z|a 1 W|b 2 Z|b 2 W");
    g_free(got);
    ctk_sources_free(s);
}

static void test_stdin_streamed_with_words(void)
{
    int fd = pipe_with("x\n\ny", 4);
    ctk_sources *s;
    ctk_sources_new(&s, '\n');
    char err[128];
    char path[64];
    g_snprintf(path, sizeof path, "/dev/fd/%d", fd);
    g_assert_cmpint(ctk_sources_add_file(s, path, 0, err, sizeof err), ==, 0);
    char *w[] = {"a", "b"};
    ctk_sources_add_words(s, w, 2, 0);
    char *got = jobs(s);
    /* The empty line is an item too. */
    g_assert_cmpstr(got, ==, "x a|x b| a| b|y a|y b");
    g_free(got);
    ctk_sources_free(s);
    close(fd);
}

static void test_per_job(void)
{
    ctk_sources *s;
    ctk_sources_new(&s, '\n');
    char *w[] = {"a", "b", "c"};
    ctk_sources_add_words(s, w, 3, 0);
    ctk_sources_set_per_job(s, 2);
    char *got = jobs(s);
    g_assert_cmpstr(got, ==, "a b|c");
    g_free(got);
    ctk_sources_free(s);
}

static void test_nul_replaced(void)
{
    int fd = pipe_with("a\0b\nc\n", 6);
    ctk_sources *s;
    ctk_sources_new(&s, '\n');
    char err[128], path[64];
    g_snprintf(path, sizeof path, "/dev/fd/%d", fd);
    ctk_sources_add_file(s, path, 0, err, sizeof err);
    ctk_item item = {0};
    int nul = 0;
    g_assert_cmpint(ctk_sources_next(s, &item, &nul, NULL), ==, 0);
    g_assert_cmpstr(item.cols[0], ==, "a\\0b");
    g_assert_cmpint(nul, ==, 1);
    ctk_item_clear(&item);
    ctk_sources_free(s);
    close(fd);
}

static void test_null_delimiter(void)
{
    int fd = pipe_with("a b\0c\nd\0", 8);
    ctk_sources *s;
    ctk_sources_new(&s, '\0');
    char err[128], path[64];
    g_snprintf(path, sizeof path, "/dev/fd/%d", fd);
    ctk_sources_add_file(s, path, 0, err, sizeof err);
    char *got = jobs(s);
    g_assert_cmpstr(got, ==, "a b|c\nd");
    g_free(got);
    ctk_sources_free(s);
    close(fd);
}

static void test_errors(void)
{
    ctk_sources *s;
    ctk_sources_new(&s, '\n');
    char err[256];
    g_assert_cmpint(ctk_sources_add_file(s, "/nonexistent/list", 0, err, sizeof err), <, 0);
    g_assert_cmpstr(err, ==, "/nonexistent/list: No such file or directory");
    /* An empty source among others stands as one empty value, as in GNU
     * parallel (`echo ::: a :::: /dev/null` runs "echo a ''"). */
    char *w[] = {"a"};
    ctk_sources_add_words(s, w, 1, 0);
    ctk_sources_add_words(s, NULL, 0, 0);
    char *got = jobs(s);
    g_assert_cmpstr(got, ==, "a ");
    g_free(got);
    ctk_sources_free(s);
    /* When every source is empty there is no job. */
    ctk_sources_new(&s, '\n');
    ctk_sources_add_words(s, NULL, 0, 0);
    ctk_sources_add_words(s, NULL, 0, 0);
    got = jobs(s);
    g_assert_cmpstr(got, ==, "");
    g_free(got);
    ctk_sources_free(s);
}

/* --colsep: values split into columns, several sources' columns in turn. */
static void test_colsep(void)
{
    ctk_sources *s;
    ctk_sources_new(&s, '\n');
    char *a[] = {"a,b", "c", ""}, *n[] = {"1;2"};
    ctk_sources_add_words(s, a, 3, 0);
    ctk_sources_add_words(s, n, 1, 0);
    char err[256];
    g_assert_cmpint(ctk_sources_set_colsep(s, "[,;]", err, sizeof err), ==, 0);
    char *got = jobs(s);
    g_assert_cmpstr(got, ==, "a b 1 2|c 1 2| 1 2");
    g_free(got);
    g_assert_cmpint(ctk_sources_set_colsep(s, "(", err, sizeof err), ==, CTK_EINVAL);
    g_assert_cmpuint(strlen(err), >, 0);
    ctk_sources_free(s);
}

/* --colsep splits bytes: an empty separator between every byte, even
 * one that is not UTF-8 (GLib's own split read before the value then),
 * a lookahead before each match, captures as columns (expected values
 * from `parallel --colsep RE echo {1}={2}={3}= ::: VALUE`; a trailing
 * empty column, which parallel's {n} cannot tell from none, is kept as
 * GLib's split kept it). */
static void test_colsep_bytes(void)
{
    static const struct {
        const char *re, *value, *want;
    } cases[] = {
        {"", "\x80\x04", "\x80 \x04"},
        {"x*", "abcb", "a b c b"},
        {"(?=b)", "abcb", "a bc b"},
        {"(?=b)", "bab", "ba b"},
        {"(:)", "a:", "a : "},
        {"b", "bab", " a "},
        {":", "a:", "a "},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        ctk_sources *s;
        ctk_sources_new(&s, '\n');
        char *w[] = {(char *)cases[i].value};
        ctk_sources_add_words(s, w, 1, 0);
        char err[256];
        g_assert_cmpint(ctk_sources_set_colsep(s, cases[i].re, err, sizeof err), ==, 0);
        char *got = jobs(s);
        g_assert_cmpstr(got, ==, cases[i].want);
        g_free(got);
        ctk_sources_free(s);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/sources/cross-product", test_cross_product);
    g_test_add_func("/sources/linked", test_linked_stops_at_shorter);
    g_test_add_func("/sources/stdin-streamed", test_stdin_streamed_with_words);
    g_test_add_func("/sources/per-job", test_per_job);
    g_test_add_func("/sources/nul", test_nul_replaced);
    g_test_add_func("/sources/null-delimiter", test_null_delimiter);
    g_test_add_func("/sources/errors", test_errors);
    g_test_add_func("/sources/colsep", test_colsep);
    g_test_add_func("/sources/colsep-bytes", test_colsep_bytes);
    return g_test_run();
}
