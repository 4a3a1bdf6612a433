/* test-isolate.c: a function run in a child returns its code and bytes;
 * its CPU time and memory are its own; a child that dies is reported. */
#include <glib.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "ctkx/isolate.h"

static int answer(void *arg, ctk_buf *result)
{
    ctk_buf_set(result, arg, strlen(arg));
    return -7;
}

static int burn_and_grow(void *arg, ctk_buf *result)
{
    (void)arg;
    /* 64 MB touched: the child's peak, not the parent's. */
    size_t n = 64u << 20;
    char *big = malloc(n);
    memset(big, 1, n);
    volatile unsigned long sum = 0;
    for (size_t i = 0; i < n; i += 4096)
        sum += (unsigned long)big[i];
    gint64 end = g_get_monotonic_time() + 100000;
    while (g_get_monotonic_time() < end)
        sum++;
    free(big);
    return ctk_buf_set(result, "ok", 2);
}

static int die(void *arg, ctk_buf *result)
{
    (void)arg;
    (void)result;
    raise(SIGKILL);
    return 0;
}

static void test_answer(void)
{
    ctk_buf result = {0};
    ctk_usage u;
    int died_of, forwarded;
    g_assert_cmpint(ctk_isolate_run(answer, "hello", &result, &u, &died_of, &forwarded), ==, -7);
    g_assert_cmpmem(result.data, result.len, "hello", 5);
    g_assert_cmpint(died_of, ==, 0);
    g_assert_cmpint(forwarded, ==, 0);
    ctk_buf_free(&result);
}

static void test_usage_is_the_childs(void)
{
    ctk_buf result = {0};
    ctk_usage u;
    int died_of, forwarded;
    g_assert_cmpint(ctk_isolate_run(burn_and_grow, NULL, &result, &u, &died_of, &forwarded), ==, 0);
    g_assert_cmpfloat(u.wall, >=, 0.1);
    g_assert_cmpfloat(u.user + u.sys, >=, 0.05);
    g_assert_cmpint(u.max_rss_kb, >=, 60 * 1024);
    ctk_buf_free(&result);
}

static void test_death(void)
{
    ctk_buf result = {0};
    ctk_usage u;
    int died_of, forwarded;
    g_assert_cmpint(ctk_isolate_run(die, NULL, &result, &u, &died_of, &forwarded), ==, CTK_ECHILD);
    g_assert_cmpint(died_of, ==, SIGKILL);
    ctk_buf_free(&result);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/isolate/answer", test_answer);
    g_test_add_func("/isolate/usage", test_usage_is_the_childs);
    g_test_add_func("/isolate/death", test_death);
    return g_test_run();
}
