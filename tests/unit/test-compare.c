/* test-compare.c: speedup against the sync row of the same variant, and
 * the columns a table shows or leaves out. */
#include <glib.h>
#include <string.h>

#include "ctkx/compare.h"

static const ctk_field extra[] = {{"checksum", CTK_FIELD_STRING}, {"lost", CTK_FIELD_NUMBER}};

static ctk_compare *sample(void)
{
    ctk_compare *c;
    g_assert_cmpint(ctk_compare_new(&c, "tasks", "ops", extra, 2), ==, 0);
    ctk_row *r = ctk_compare_add(c, "sync", "", 1);
    r->baseline = 1;
    r->usage.wall = 2.0;
    r->work = 100;
    r->units = 4;
    r->extra[0] = g_strdup("abc");
    r = ctk_compare_add(c, "thread", "", 2);
    r->usage.wall = 1.0;
    r->work = 100;
    r->units = 4;
    r->extra[0] = g_strdup("abc");
    r = ctk_compare_add(c, "thread", "gil", 2);
    r->usage.wall = 2.0;
    r->work = 100;
    r->units = 4;
    return c;
}

static void test_speedup(void)
{
    ctk_compare *c = sample();
    g_assert_cmpfloat_with_epsilon(ctk_compare_speedup(c, 0), 1.0, 1e-9);
    g_assert_cmpfloat_with_epsilon(ctk_compare_speedup(c, 1), 2.0, 1e-9);
    /* No sync row with variant "gil": unknown, not 0.5 against another. */
    g_assert_cmpfloat(ctk_compare_speedup(c, 2), ==, 0);
    ctk_compare_free(c);
}

/* A timed run does different amounts of work in the same time: speedup
 * is the ratio of work per second. */
static void test_speedup_of_timed_runs(void)
{
    ctk_compare *c;
    ctk_compare_new(&c, "tasks", "ops", NULL, 0);
    ctk_row *r = ctk_compare_add(c, "sync", "", 1);
    r->baseline = 1;
    r->usage.wall = 1.0;
    r->work = 1000;
    r = ctk_compare_add(c, "process", "", 2);
    r->usage.wall = 1.0;
    r->work = 1900;
    g_assert_cmpfloat_with_epsilon(ctk_compare_speedup(c, 1), 1.9, 1e-9);
    ctk_compare_free(c);
}

static char *print(ctk_compare *c, ctk_format f)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    g_assert_cmpint(ctk_compare_print(c, out, f, 1, 2), ==, 0);
    fclose(out);
    return text;
}

static void test_columns(void)
{
    ctk_compare *c = sample();
    char *tsv = print(c, CTK_FORMAT_TSV);
    /* TSV keeps every column, so scripts see one schema. */
    g_assert_true(g_str_has_prefix(tsv, "strategy\tvariant\tjobs\twall_s\tcpu_s\tspeedup\t"
                                        "efficiency\tmax_rss_kb\ttasks_per_s\tops_per_s\t"
                                        "failed\tchecksum\tlost\n"));
    g_assert_nonnull(strstr(tsv, "\nthread\t\t2\t1.000\t0.000\t2.00\t1.00\t"));
    char *table = print(c, CTK_FORMAT_TABLE);
    /* The table drops "lost" (no row has one) but keeps the variant. */
    g_assert_null(strstr(table, "lost"));
    g_assert_nonnull(strstr(table, "variant"));
    g_assert_nonnull(strstr(table, "checksum"));
    free(tsv);
    free(table);
    ctk_compare_free(c);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/compare/speedup", test_speedup);
    g_test_add_func("/compare/timed", test_speedup_of_timed_runs);
    g_test_add_func("/compare/columns", test_columns);
    return g_test_run();
}
