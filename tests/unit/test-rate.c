/*
 * test-rate.c: the start-rate limiter spaces starts evenly, never lets an
 * idle spell turn into a burst, parses what users type, and gives every
 * thread its own slot.
 */
#include <glib.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ctkx/rate.h"

static void test_parse(void)
{
    static const struct {
        const char *text;
        double per_sec;
    } good[] = {{"100", 100},   {"100/s", 100}, {"0.5/s", 0.5}, {"120/m", 2},
                {"120/min", 2}, {"3600/h", 1},  {"7/sec", 7}};
    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        double v = 0;
        char why[80] = "";
        g_assert_cmpint(ctk_rate_parse(good[i].text, &v, why, sizeof why), ==, 0);
        g_assert_cmpfloat_with_epsilon(v, good[i].per_sec, 1e-9);
    }
    static const char *const bad[] = {"",  "/s",  "x",   "10/d",  "-1",
                                      "0", "0/s", "1e3", "10 /s", NULL};
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        double v = 42;
        char why[80] = "";
        g_assert_cmpint(ctk_rate_parse(bad[i], &v, why, sizeof why), <, 0);
        g_assert_cmpfloat(v, ==, 42);
        g_assert_cmpstr(why, !=, "");
    }
}

static void test_spacing_and_no_burst(void)
{
    ctk_rate *rate = ctk_rate_new(10); /* one start per 0.1 s */
    g_assert_nonnull(rate);
    g_assert_cmpfloat_with_epsilon(ctk_rate_reserve(rate, 5.0), 0.0, 1e-9);
    g_assert_cmpfloat_with_epsilon(ctk_rate_reserve(rate, 5.0), 0.1, 1e-9);
    g_assert_cmpfloat_with_epsilon(ctk_rate_reserve(rate, 5.0), 0.2, 1e-9);
    /* Ten idle seconds later: one start at once, then spacing again. */
    g_assert_cmpfloat_with_epsilon(ctk_rate_reserve(rate, 15.0), 0.0, 1e-9);
    g_assert_cmpfloat_with_epsilon(ctk_rate_reserve(rate, 15.0), 0.1, 1e-9);
    g_assert_null(ctk_rate_new(0));
    g_assert_null(ctk_rate_new(-1));
    ctk_rate_free(rate);
}

typedef struct {
    ctk_rate *rate;
    double due[50];
} taker;

static void *take_slots(void *arg)
{
    taker *t = arg;
    for (size_t i = 0; i < G_N_ELEMENTS(t->due); i++)
        t->due[i] = ctk_rate_reserve(t->rate, 0.0);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Four threads take 200 slots: every slot is distinct, evenly spaced. */
static void test_threads_get_distinct_slots(void)
{
    ctk_rate *rate = ctk_rate_new(1000);
    taker takers[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        takers[i].rate = rate;
        g_assert_cmpint(pthread_create(&threads[i], NULL, take_slots, &takers[i]), ==, 0);
    }
    double all[200];
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        memcpy(all + 50 * i, takers[i].due, sizeof takers[i].due);
    }
    qsort(all, 200, sizeof all[0], cmp_double);
    for (int i = 0; i < 200; i++)
        g_assert_cmpfloat_with_epsilon(all[i], i * 0.001, 1e-9);
    ctk_rate_free(rate);
}

static void *write_fd_later(void *arg)
{
    g_usleep(100000);
    uint64_t one = 1;
    g_assert_cmpint(write(*(int *)arg, &one, sizeof one), ==, sizeof one);
    return NULL;
}

static void test_wait_paces_and_cancels(void)
{
    ctk_rate *rate = ctk_rate_new(20); /* 0.05 s apart */
    double t0 = ctk_rate_clock();
    for (int i = 0; i < 5; i++)
        g_assert_cmpint(ctk_rate_wait(rate, NULL, -1), ==, 0);
    double took = ctk_rate_clock() - t0;
    /* Four gaps of 0.05 s: never less, whatever the machine's load. */
    g_assert_cmpfloat(took, >=, 0.195);
    int cancel = 1;
    ctk_rate *slow = ctk_rate_new(0.001);
    g_assert_cmpint(ctk_rate_wait(slow, NULL, -1), ==, 0);                /* first is free */
    g_assert_cmpint(ctk_rate_wait(slow, &cancel, -1), ==, CTK_ECANCELED); /* next in 1000 s */
    /* The cancel fd alone ends a wait of 1000 s as soon as it is written. */
    int cancel_fd = eventfd(0, EFD_CLOEXEC);
    g_assert_cmpint(cancel_fd, >=, 0);
    pthread_t t;
    pthread_create(&t, NULL, write_fd_later, &cancel_fd);
    t0 = ctk_rate_clock();
    g_assert_cmpint(ctk_rate_wait(slow, NULL, cancel_fd), ==, CTK_ECANCELED);
    g_assert_cmpfloat(ctk_rate_clock() - t0, <, 5.0);
    pthread_join(t, NULL);
    close(cancel_fd);
    ctk_rate_free(slow);
    ctk_rate_free(rate);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/rate/parse", test_parse);
    g_test_add_func("/rate/spacing-and-no-burst", test_spacing_and_no_burst);
    g_test_add_func("/rate/threads-get-distinct-slots", test_threads_get_distinct_slots);
    g_test_add_func("/rate/wait-paces-and-cancels", test_wait_paces_and_cancels);
    return g_test_run();
}
