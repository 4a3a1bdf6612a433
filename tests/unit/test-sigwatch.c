/* test-sigwatch.c: a signal sent to the process reaches the callback on
 * the watcher thread and is remembered; stop restores the mask. */
#include <glib.h>
#include <signal.h>
#include <unistd.h>

#include "ctkx/sigwatch.h"

static int seen;

static void on_signal(void *arg, int signo)
{
    (void)arg;
    __atomic_store_n(&seen, signo, __ATOMIC_SEQ_CST);
}

static void test_callback_and_received(void)
{
    ctk_sigwatch *w;
    g_assert_cmpint(ctk_sigwatch_start(&w, on_signal, NULL), ==, 0);
    kill(getpid(), SIGTERM);
    for (int i = 0; i < 200 && __atomic_load_n(&seen, __ATOMIC_SEQ_CST) == 0; i++)
        g_usleep(5000);
    g_assert_cmpint(__atomic_load_n(&seen, __ATOMIC_SEQ_CST), ==, SIGTERM);
    g_assert_cmpint(ctk_sigwatch_received(w), ==, SIGTERM);
    /* A second, different signal does not replace the first. */
    kill(getpid(), SIGHUP);
    for (int i = 0; i < 200 && __atomic_load_n(&seen, __ATOMIC_SEQ_CST) != SIGHUP; i++)
        g_usleep(5000);
    g_assert_cmpint(ctk_sigwatch_stop(w), ==, SIGTERM);
    sigset_t now;
    sigprocmask(SIG_SETMASK, NULL, &now);
    g_assert_false(sigismember(&now, SIGTERM));
    g_assert_cmpint(ctk_signal_exit_status(SIGINT), ==, 130);
}

static void test_pending(void)
{
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, &old);
    g_assert_cmpint(ctk_signal_pending(), ==, 0);
    kill(getpid(), SIGINT);
    g_assert_cmpint(ctk_signal_pending(), ==, SIGINT);
    g_assert_cmpint(ctk_signal_pending(), ==, 0); /* taken */
    sigprocmask(SIG_SETMASK, &old, NULL);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/sigwatch/callback", test_callback_and_received);
    g_test_add_func("/sigwatch/pending", test_pending);
    return g_test_run();
}
