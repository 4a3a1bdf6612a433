/* test-gil.c: the GIL admits one holder at a time and hands over in turn. */
#include <glib.h>
#include <pthread.h>

#include "gil.h"

typedef struct shared {
    ctk__gil gil;
    int holders;     /* how many are inside right now */
    int max_holders; /* the most ever inside at once */
    int turns[2];
} shared;

typedef struct worker {
    shared *s;
    int id;
} worker;

static void *hold_and_spin(void *arg)
{
    worker *w = arg;
    shared *s = w->s;
    ctk__gil_acquire(&s->gil);
    gint64 end = g_get_monotonic_time() + 200000;
    while (g_get_monotonic_time() < end) {
        /* Only the holder runs here, so plain accesses are safe. */
        s->holders++;
        if (s->holders > s->max_holders)
            s->max_holders = s->holders;
        s->turns[w->id]++;
        s->holders--;
        ctk__gil_yield(&s->gil);
    }
    ctk__gil_release(&s->gil);
    return NULL;
}

static void test_one_holder_and_handover(void)
{
    shared s = {0};
    g_assert_cmpint(ctk__gil_init(&s.gil, 0.002), ==, 0);
    worker w[2] = {{&s, 0}, {&s, 1}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, hold_and_spin, &w[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    g_assert_cmpint(s.max_holders, ==, 1);
    /* Both got turns, and the lock changed hands many times (2 ms
     * interval over 200 ms of contention). */
    g_assert_cmpint(s.turns[0], >, 0);
    g_assert_cmpint(s.turns[1], >, 0);
    g_assert_cmpuint(ctk__gil_switches(&s.gil), >=, 10);
    ctk__gil_destroy(&s.gil);
}

static void test_no_yield_without_waiters(void)
{
    ctk__gil gil;
    ctk__gil_init(&gil, 0);
    ctk__gil_acquire(&gil);
    g_assert_cmpint(ctk__gil_yield(&gil), ==, 0);
    ctk__gil_release(&gil);
    g_assert_cmpuint(ctk__gil_switches(&gil), ==, 0);
    ctk__gil_destroy(&gil);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/gil/handover", test_one_holder_and_handover);
    g_test_add_func("/gil/no-waiters", test_no_yield_without_waiters);
    return g_test_run();
}
