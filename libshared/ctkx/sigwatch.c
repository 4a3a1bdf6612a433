/* sigwatch.c: a thread that sigwait()s for the terminating signals. The
 * thread is stopped with a SIGUSR2 sent to it alone. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "ctkx/sigwatch.h"

struct ctk_sigwatch {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t ready_cond;
    int ready;
    sigset_t watched;
    sigset_t old_mask;
    ctk_signal_fn on_signal;
    void *arg;
    int received;
    int stopping;
};

/* How long a cancelled process may take to wind down before the watcher
 * ends it the hard way: a writer stuck on a pipe nobody reads would
 * otherwise keep it alive for ever. */
#define GRACE_SECONDS 5

/* Ends the process with signo's default action, as if never caught. */
static void __attribute__((noreturn)) die_of(int signo)
{
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, signo);
    signal(signo, SIG_DFL);
    pthread_sigmask(SIG_UNBLOCK, &only, NULL);
    raise(signo);
    _exit(128 + signo);
}

/* Handles one signal; returns 1 when the watcher should stop. */
static int handle(ctk_sigwatch *w, int signo)
{
    pthread_mutex_lock(&w->lock);
    int stop = signo == SIGUSR2 && w->stopping;
    if (signo != SIGUSR2) {
        if (w->received == 0)
            w->received = signo;
        /* Called under the lock so retargeting waits for a call under way. */
        if (w->on_signal != NULL)
            w->on_signal(w->arg, signo);
    }
    pthread_mutex_unlock(&w->lock);
    return stop;
}

static void *watch_main(void *p)
{
    ctk_sigwatch *w = p;
    struct timespec grace = {GRACE_SECONDS, 0};
    /* The thread's start-up allocates (the sanitizers' allocators take
     * locks there that fork does not): say when it is done, so a fork
     * after ctk_sigwatch_start never copies a lock held mid-allocation. */
    pthread_mutex_lock(&w->lock);
    w->ready = 1;
    pthread_cond_signal(&w->ready_cond);
    pthread_mutex_unlock(&w->lock);
    for (;;) {
        int first = ctk_sigwatch_received(w);
        int signo = first ? sigtimedwait(&w->watched, NULL, &grace) : 0;
        if (!first && sigwait(&w->watched, &signo) != 0)
            continue;
        if (signo < 0 && errno == EAGAIN) {
            /* Still here after the grace period: escalate, then go. */
            handle(w, first);
            nanosleep(&(struct timespec){0, 200000000}, NULL);
            die_of(first);
        }
        if (signo > 0 && handle(w, signo))
            return NULL;
    }
}

int ctk_sigwatch_start(ctk_sigwatch **out, ctk_signal_fn on_signal, void *arg)
{
    ctk_sigwatch *w = calloc(1, sizeof *w);
    if (w == NULL)
        return CTK_ENOMEM;
    w->on_signal = on_signal;
    w->arg = arg;
    sigemptyset(&w->watched);
    sigaddset(&w->watched, SIGINT);
    sigaddset(&w->watched, SIGTERM);
    sigaddset(&w->watched, SIGHUP);
    sigaddset(&w->watched, SIGUSR2);
    if (pthread_mutex_init(&w->lock, NULL) != 0)
        goto fail_lock;
    if (pthread_cond_init(&w->ready_cond, NULL) != 0)
        goto fail_cond;
    if (pthread_sigmask(SIG_BLOCK, &w->watched, &w->old_mask) != 0)
        goto fail_mask;
    if (pthread_create(&w->thread, NULL, watch_main, w) != 0)
        goto fail_thread;
    pthread_mutex_lock(&w->lock);
    while (!w->ready)
        pthread_cond_wait(&w->ready_cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
    *out = w;
    return 0;

fail_thread:
    pthread_sigmask(SIG_SETMASK, &w->old_mask, NULL);
fail_mask:
    pthread_cond_destroy(&w->ready_cond);
fail_cond:
    pthread_mutex_destroy(&w->lock);
fail_lock:
    free(w);
    return CTK_ESYS;
}

void ctk_sigwatch_retarget(ctk_sigwatch *w, ctk_signal_fn on_signal, void *arg)
{
    pthread_mutex_lock(&w->lock);
    w->on_signal = on_signal;
    w->arg = arg;
    pthread_mutex_unlock(&w->lock);
}

int ctk_sigwatch_received(ctk_sigwatch *w)
{
    if (w == NULL)
        return 0;
    pthread_mutex_lock(&w->lock);
    int signo = w->received;
    pthread_mutex_unlock(&w->lock);
    return signo;
}

int ctk_sigwatch_stop(ctk_sigwatch *w)
{
    if (w == NULL)
        return 0;
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_mutex_unlock(&w->lock);
    pthread_kill(w->thread, SIGUSR2);
    pthread_join(w->thread, NULL);
    int signo = w->received;
    /* Leave SIGUSR2 blocked if it was: a late one must not kill us. */
    pthread_sigmask(SIG_SETMASK, &w->old_mask, NULL);
    pthread_cond_destroy(&w->ready_cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
    return signo;
}

int ctk_signal_exit_status(int signo)
{
    return 128 + signo;
}

int ctk_signal_pending(void)
{
    sigset_t watched;
    sigemptyset(&watched);
    sigaddset(&watched, SIGINT);
    sigaddset(&watched, SIGTERM);
    sigaddset(&watched, SIGHUP);
    struct timespec zero = {0, 0};
    int signo = sigtimedwait(&watched, NULL, &zero);
    return signo > 0 ? signo : 0;
}
