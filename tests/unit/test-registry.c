/* test-registry.c: registration rules and the loader's refusals. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "ctk/registry.h"
#include "workloads.h"

static int noop_execute(ctk_exec *exec, void *data)
{
    (void)exec;
    (void)data;
    return 0;
}

static const ctk_strategy_ops extra_ops = {.name = "extra", .execute = noop_execute};
static const ctk_strategy_ops sync_again = {.name = "sync", .execute = noop_execute};

static int freed;

static void count_free(void *p)
{
    (void)p;
    freed++;
}

static void test_register_and_names(void)
{
    ctk_registry *reg;
    ctk_registry_new(&reg);
    int data = 5;
    freed = 0;
    g_assert_cmpint(ctk_register_strategy(reg, &extra_ops, &data, count_free), ==, 0);
    g_assert_cmpint(ctk_register_strategy(reg, &sync_again, NULL, NULL), ==, CTK_EEXIST);
    g_assert_cmpint(ctk_register_strategy(reg, NULL, NULL, NULL), ==, CTK_EINVAL);
    const ctk_strategy *s = ctk_registry_strategy(reg, "extra");
    g_assert_nonnull(s);
    g_assert_true(s->data == &data);
    char *joined = ctk_registry_names_joined(reg, CTK_KIND_STRATEGY);
    g_assert_cmpstr(joined, ==, "async, extra, process, sync, thread");
    free(joined);
    /* The registry knows no tool: cburn's kernels come from cburn. */
    char *workloads = ctk_registry_names_joined(reg, CTK_KIND_WORKLOAD);
    g_assert_cmpstr(workloads, ==, "");
    free(workloads);
    g_assert_cmpint(cburn_register_workloads(reg), ==, 0);
    workloads = ctk_registry_names_joined(reg, CTK_KIND_WORKLOAD);
    g_assert_cmpstr(workloads, ==, "matmul, primes, sha256, sumsq");
    free(workloads);
    g_assert_cmpint(cburn_register_workloads(reg), ==, CTK_EEXIST);
    /* Only a plugin's registrations have a source file (tests/ctk.bats
     * checks one); built-in and program-registered ones have none. */
    g_assert_null(ctk_registry_source(reg, CTK_KIND_STRATEGY, "sync"));
    g_assert_null(ctk_registry_source(reg, CTK_KIND_STRATEGY, "extra"));
    g_assert_null(ctk_registry_source(reg, CTK_KIND_WORKLOAD, "sumsq"));
    g_assert_null(ctk_registry_source(reg, CTK_KIND_STRATEGY, "nosuch"));
    g_assert_null(ctk_registry_source(reg, CTK_KIND_COUNT, "sync"));
    ctk_registry_free(reg);
    /* The registry owns the data it was given. */
    g_assert_cmpint(freed, ==, 1);
}

static void test_load_refusals(void)
{
    ctk_registry *reg;
    ctk_registry_new(&reg);
    ctk_plugin_error err;
    g_assert_cmpint(ctk_registry_load_file(reg, "/nonexistent/x.so", &err), ==, CTK_ENOENT);
    g_assert_cmpstr(err.file, ==, "/nonexistent/x.so");
    g_assert_cmpstr(err.reason, ==, "no such file");

    char *dir = g_dir_make_tmp("ctk-reg-XXXXXX", NULL);
    char *text = g_build_filename(dir, "text.so", NULL);
    g_file_set_contents(text, "not an ELF file\n", -1, NULL);
    g_assert_cmpint(ctk_registry_load_file(reg, text, &err), ==, CTK_ENOTPLUGIN);
    g_assert_true(g_str_has_prefix(err.reason, "not a loadable object"));

    /* By name: looked up as NAME.so along $CTK_PLUGIN_PATH. */
    g_setenv("CTK_PLUGIN_PATH", dir, TRUE);
    g_assert_cmpint(ctk_registry_load_name(reg, "text", &err), ==, CTK_ENOTPLUGIN);
    g_assert_cmpint(ctk_registry_load_name(reg, "absent", &err), ==, CTK_ENOENT);
    g_assert_cmpstr(err.file, ==, "absent.so");
    char **path = ctk_registry_search_path();
    g_assert_cmpstr(path[0], ==, dir);
    g_assert_cmpstr(path[1], ==, CTK_PLUGIN_DIR);
    g_strfreev(path);
    g_unsetenv("CTK_PLUGIN_PATH");

    g_remove(text);
    g_rmdir(dir);
    g_free(text);
    g_free(dir);
    ctk_registry_free(reg);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/registry/register", test_register_and_names);
    g_test_add_func("/registry/load-refusals", test_load_refusals);
    return g_test_run();
}
