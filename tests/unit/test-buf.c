/* test-buf.c: byte buffers and unit errors. */
#include <glib.h>
#include <string.h>

#include "ctk/plugin.h"

static void test_append_grows(void)
{
    ctk_buf b = {0};
    for (int i = 0; i < 1000; i++)
        g_assert_cmpint(ctk_buf_append(&b, "ab", 2), ==, 0);
    g_assert_cmpuint(b.len, ==, 2000);
    g_assert_cmpuint(b.cap, >=, 2000);
    g_assert_cmpmem(b.data + 1998, 2, "ab", 2);
    g_assert_cmpint(ctk_buf_set(&b, "z", 1), ==, 0);
    g_assert_cmpuint(b.len, ==, 1);
    ctk_buf_free(&b);
    g_assert_null(b.data);
    g_assert_cmpuint(b.len, ==, 0);
}

static void test_unit_fail(void)
{
    ctk_unit u = {0};
    g_assert_cmpint(ctk_unit_fail(&u, CTK_ECHILD, "worker %d died", 12), ==, CTK_ECHILD);
    g_assert_cmpstr(u.error, ==, "worker 12 died");
    /* A non-negative status still marks the unit failed. */
    g_assert_cmpint(ctk_unit_fail(&u, 0, "again"), ==, CTK_EWORK);
    g_assert_cmpstr(u.error, ==, "again");
    free(u.error);
}

static void test_strerror_table(void)
{
    g_assert_cmpstr(ctk_strerror(CTK_EABI), ==, "ABI version mismatch");
    g_assert_cmpstr(ctk_err_name(CTK_ECHILD), ==, "ECHILD");
    g_assert_cmpstr(ctk_strerror(0), ==, "success");
    /* Negated errno values keep their system text. */
    g_assert_cmpstr(ctk_strerror(-2), ==, strerror(2));
    g_assert_cmpstr(ctk_err_name(12345), ==, "UNKNOWN");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/buf/append", test_append_grows);
    g_test_add_func("/buf/unit-fail", test_unit_fail);
    g_test_add_func("/buf/strerror", test_strerror_table);
    return g_test_run();
}
