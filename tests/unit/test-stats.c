/*
 * test-stats.c: the meter sees CPU burnt by the process and by its reaped
 * children, wall time, and a child's peak memory; the derived figures
 * (speedup, efficiency, rate) do the arithmetic the report relies on.
 */
#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctkx/stats.h"

#define CHILD_MB 96

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Spins until this process has used `secs` more CPU. The result only
 * keeps the compiler from dropping the loop. */
static unsigned long burn(double secs)
{
    volatile unsigned long sink = 0;
    double end = cpu_now() + secs;
    while (cpu_now() < end)
        for (int i = 0; i < 10000; i++)
            sink += (unsigned long)i;
    return sink;
}

/* Makes `mb` MiB resident; volatile so the stores cannot be elided. */
static int touch(size_t mb)
{
    volatile char *mem = malloc(mb << 20);
    if (mem == NULL)
        return -1;
    for (size_t i = 0; i < mb << 20; i += 4096)
        mem[i] = 1;
    return 0;
}

/* Forks a child that burns CPU and touches `mb` MiB, and reaps it. */
static void run_child(double secs, size_t mb, struct rusage *ru)
{
    pid_t pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        int rc = touch(mb);
        burn(secs);
        _exit(rc == 0 ? 0 : 1);
    }
    int status;
    g_assert_cmpint(wait4(pid, &status, 0, ru), ==, pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
}

static void test_meter_self_cpu(void)
{
    ctk_meter m;
    ctk_usage u;
    ctk_meter_start(&m);
    burn(0.05);
    ctk_meter_read(&m, &u);
    /* getrusage may round to a scheduler tick; leave room for that. */
    g_assert_cmpfloat(u.user, >=, 0.02);
    g_assert_cmpfloat(ctk_usage_cpu(&u), >=, 0.04);
    g_assert_cmpfloat(u.wall, >=, 0.04);
    g_assert_cmpfloat(u.wall, <, 10);
    g_assert_cmpint(u.max_rss_kb, >, 0);
}

static void test_meter_idle(void)
{
    ctk_meter m;
    ctk_usage u;
    gint64 before = g_get_monotonic_time();
    ctk_meter_start(&m);
    g_usleep(60000);
    ctk_meter_read(&m, &u);
    double outer = (double)(g_get_monotonic_time() - before) / 1e6;
    g_assert_cmpfloat(u.wall, >=, 0.06);
    g_assert_cmpfloat(u.wall, <=, outer);
    /* Sleeping costs wall time, not CPU. */
    g_assert_cmpfloat(ctk_usage_cpu(&u), <, 0.04);
    g_assert_cmpfloat(u.user, >=, 0);
    g_assert_cmpfloat(u.sys, >=, 0);
}

static void test_meter_children_cpu(void)
{
    ctk_meter m;
    ctk_usage u;
    struct rusage ru;
    ctk_meter_start(&m);
    run_child(0.05, 0, &ru);
    ctk_meter_read(&m, &u);
    /* The parent only waited, so the CPU seen is the child's 0.05 s. On a
     * loaded machine the kernel may book part of it as sys, so the split
     * between user and sys is not asserted; the sum must be there. */
    double child = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                   (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    g_assert_cmpfloat(ctk_usage_cpu(&u), >=, 0.04);
    g_assert_cmpfloat(ctk_usage_cpu(&u), >=, child - 0.005);
}

static void test_meter_children_rss(void)
{
    ctk_meter m;
    ctk_usage u;
    struct rusage ru;
    ctk_meter_start(&m);
    run_child(0, CHILD_MB, &ru);
    ctk_meter_read(&m, &u);
    /* The child's peak, not the (smaller) parent's. */
    g_assert_cmpint(u.max_rss_kb, >=, CHILD_MB * 1024);
}

static void test_usage_from_wait4(void)
{
    struct rusage ru;
    ctk_usage u;
    run_child(0.05, 0, &ru);
    ctk_usage_from_rusage(&u, &ru, 0.25);
    g_assert_cmpfloat(u.wall, ==, 0.25);
    g_assert_cmpfloat(ctk_usage_cpu(&u), >=, 0.04);
    g_assert_cmpint(u.max_rss_kb, ==, ru.ru_maxrss);
    g_assert_cmpint(u.max_rss_kb, >, 0);
}

static void test_usage_from_rusage_fields(void)
{
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    ru.ru_utime.tv_sec = 1;
    ru.ru_utime.tv_usec = 500000;
    ru.ru_stime.tv_usec = 250000;
    ru.ru_maxrss = 4321;
    ctk_usage u;
    ctk_usage_from_rusage(&u, &ru, 2.0);
    g_assert_cmpfloat_with_epsilon(u.user, 1.5, 1e-9);
    g_assert_cmpfloat_with_epsilon(u.sys, 0.25, 1e-9);
    g_assert_cmpfloat_with_epsilon(ctk_usage_cpu(&u), 1.75, 1e-9);
    g_assert_cmpfloat(u.wall, ==, 2.0);
    g_assert_cmpint(u.max_rss_kb, ==, 4321);
}

static void test_speedup(void)
{
    ctk_usage base = {.wall = 10}, row = {.wall = 2.5}, zero = {.wall = 0}, neg = {.wall = -1};
    g_assert_cmpfloat_with_epsilon(ctk_speedup(&base, &row), 4.0, 1e-12);
    g_assert_cmpfloat_with_epsilon(ctk_speedup(&row, &base), 0.25, 1e-12);
    g_assert_cmpfloat(ctk_speedup(&base, &zero), ==, 0);
    g_assert_cmpfloat(ctk_speedup(&zero, &row), ==, 0);
    g_assert_cmpfloat(ctk_speedup(&base, &neg), ==, 0);
    g_assert_cmpfloat(ctk_speedup(&neg, &row), ==, 0);
}

static void test_efficiency(void)
{
    /* min(jobs, cores) is what could run at once. */
    g_assert_cmpfloat_with_epsilon(ctk_efficiency(4.0, 8, 4), 1.0, 1e-12);
    g_assert_cmpfloat_with_epsilon(ctk_efficiency(3.0, 4, 8), 0.75, 1e-12);
    g_assert_cmpfloat_with_epsilon(ctk_efficiency(1.0, 1, 8), 1.0, 1e-12);
    g_assert_cmpfloat_with_epsilon(ctk_efficiency(2.0, 16, 2), 1.0, 1e-12);
    g_assert_cmpfloat(ctk_efficiency(2.0, 0, 4), ==, 0);
    g_assert_cmpfloat(ctk_efficiency(2.0, 4, 0), ==, 0);
}

static void test_rate(void)
{
    g_assert_cmpfloat_with_epsilon(ctk_per_second(1000, 4), 250, 1e-12);
    g_assert_cmpfloat_with_epsilon(ctk_per_second(1, 0.5), 2, 1e-12);
    g_assert_cmpfloat(ctk_per_second(1000, 0), ==, 0);
    g_assert_cmpfloat(ctk_per_second(1000, -1), ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/stats/meter/self-cpu", test_meter_self_cpu);
    g_test_add_func("/stats/meter/idle", test_meter_idle);
    g_test_add_func("/stats/meter/children-cpu", test_meter_children_cpu);
    g_test_add_func("/stats/meter/children-rss", test_meter_children_rss);
    g_test_add_func("/stats/usage/from-wait4", test_usage_from_wait4);
    g_test_add_func("/stats/usage/from-rusage", test_usage_from_rusage_fields);
    g_test_add_func("/stats/speedup", test_speedup);
    g_test_add_func("/stats/efficiency", test_efficiency);
    g_test_add_func("/stats/rate", test_rate);
    return g_test_run();
}
