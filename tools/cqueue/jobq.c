/*
 * jobq.c: cqueue's worker (see ctk/jobq.h). The main thread owns the
 * store: it claims, records pids, renews leases and records outcomes, one
 * transaction each. A thread per running job starts it and waits for it,
 * and hands its events back through one queue, so the store is never
 * touched by two threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jobq.h"

enum { EV_WAKE, EV_STARTED, EV_ENDED };

typedef struct running {
    ctk_jobq *q;
    ctk_job job;
    pthread_t thread;
    ctk_spawn_child child;
    int child_live; /* between start and dispose, under q->lock */
    ctk_spawn_result res;
    pid_t pid;        /* the child, set before EV_STARTED */
    int out_fd[2];    /* its stdout and stderr files, once created, or -1 */
    double pid_due;   /* when to record the pid in the store; 0: done or not yet started */
    int rc;           /* a library error running it */
    char reason[256]; /* why it could not start, or "" */
} running;

typedef struct event {
    int kind;
    running *r;
} event;

struct ctk_jobq {
    ctk_jobq_opts o;
    ctk_worker_id wid;
    char *worker_name, *host;
    /* Events from job threads (GAsyncQueue would do, but a queue under our
     * own mutex is one that ThreadSanitizer can see synchronize). */
    GQueue events;
    pthread_cond_t event_ready;
    pthread_mutex_t lock; /* running list and cancelled, against the signal thread */
    GPtrArray *running;
    int cancelled;
    unsigned weight_used;
    uint64_t ran;
    char error[512];
};

/* ---- process identities -------------------------------------------------------- */

int ctk_proc_start_time(pid_t pid, uint64_t *start)
{
    char path[64], *stat = NULL;
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    if (pid <= 0 || !g_file_get_contents(path, &stat, NULL, NULL))
        return CTK_ENOENT;
    /* After "pid (comm) ": state is field 3, starttime field 22. */
    const char *p = strrchr(stat, ')');
    int rc = CTK_ENOENT;
    if (p != NULL) {
        char **f = g_strsplit(p + 2, " ", 21);
        if (g_strv_length(f) >= 20 && f[0][0] != 'Z') {
            *start = g_ascii_strtoull(f[19], NULL, 10);
            rc = 0;
        }
        g_strfreev(f);
    }
    g_free(stat);
    return rc;
}

char *ctk_jobq_worker_name(void)
{
    uint64_t start = 0;
    ctk_proc_start_time(getpid(), &start);
    return g_strdup_printf("%s/%ld/%llu", g_get_host_name(), (long)getpid(),
                           (unsigned long long)start);
}

/* Splits "host/pid/start". */
static int parse_worker(const char *w, char *host, size_t host_len, pid_t *pid, uint64_t *start)
{
    if (w == NULL)
        return CTK_EINVAL;
    const char *a = strchr(w, '/'), *b = a != NULL ? strchr(a + 1, '/') : NULL;
    if (b == NULL)
        return CTK_EINVAL;
    snprintf(host, host_len, "%.*s", (int)(a - w), w);
    *pid = (pid_t)g_ascii_strtoll(a + 1, NULL, 10);
    *start = g_ascii_strtoull(b + 1, NULL, 10);
    return 0;
}

static int on_this_host(const ctk_job *job)
{
    char host[256];
    pid_t pid;
    uint64_t start;
    return parse_worker(job->worker, host, sizeof host, &pid, &start) == 0 &&
           strcmp(host, g_get_host_name()) == 0;
}

int ctk_jobq_signal_job(const ctk_job *job, int signo)
{
    uint64_t start;
    if (job->pid <= 0 || !on_this_host(job) || ctk_proc_start_time((pid_t)job->pid, &start) < 0 ||
        start != job->pid_start)
        return CTK_ENOENT;
    return kill(-(pid_t)job->pid, signo) < 0 ? -errno : 0;
}

char *ctk_jobq_out_path(const char *out_dir, int64_t id, int stream)
{
    char name[48];
    snprintf(name, sizeof name, "%lld.%s", (long long)id, stream == 2 ? "err" : "out");
    return g_build_filename(out_dir, name, NULL);
}

/* ---- life cycle ---------------------------------------------------------------- */

int ctk_jobq_new(ctk_jobq **out, const ctk_jobq_opts *o)
{
    ctk_jobq *q = g_new0(ctk_jobq, 1);
    q->o = *o;
    if (q->o.slots == 0)
        q->o.slots = 1;
    if (q->o.lease <= 0)
        q->o.lease = 30;
    if (q->o.poll <= 0)
        q->o.poll = 0.1;
    q->worker_name = ctk_jobq_worker_name();
    q->host = g_strdup(g_get_host_name());
    q->wid = (ctk_worker_id){q->worker_name, q->host};
    g_queue_init(&q->events);
    pthread_cond_init(&q->event_ready, NULL);
    q->running = g_ptr_array_new();
    pthread_mutex_init(&q->lock, NULL);
    *out = q;
    return 0;
}

void ctk_jobq_free(ctk_jobq *q)
{
    if (q == NULL)
        return;
    g_queue_clear_full(&q->events, g_free);
    pthread_cond_destroy(&q->event_ready);
    g_ptr_array_free(q->running, TRUE);
    pthread_mutex_destroy(&q->lock);
    g_free(q->worker_name);
    g_free(q->host);
    g_free(q);
}

const char *ctk_jobq_error(ctk_jobq *q)
{
    return q->error;
}

uint64_t ctk_jobq_ran(ctk_jobq *q)
{
    return q->ran;
}

static double wall(void)
{
    return (double)g_get_real_time() / 1e6;
}

static void logf_job(ctk_jobq *q, const ctk_job *job, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void logf_job(ctk_jobq *q, const ctk_job *job, const char *fmt, ...)
{
    if (q->o.log == NULL)
        return;
    char stamp[32];
    time_t t = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", localtime_r(&t, &tm));
    fprintf(q->o.log, "%s job %lld: ", stamp, (long long)job->id);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(q->o.log, fmt, ap);
    va_end(ap);
    fputc('\n', q->o.log);
    fflush(q->o.log);
}

/* ---- one job's thread ------------------------------------------------------------ */

/* The job's output files are created on its first byte: creating two
 * files per job cost more than running a short one. */
static int sink(void *arg, int stream, const void *data, size_t len)
{
    running *r = arg;
    int *fd = &r->out_fd[stream == 2];
    if (*fd < 0) {
        char *path = ctk_jobq_out_path(r->q->o.out_dir, r->job.id, stream);
        *fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        g_free(path);
        if (*fd < 0)
            return -errno;
    }
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(*fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* An earlier attempt's output is not this one's. */
static void forget_output(const running *r)
{
    for (int stream = 1; r->job.attempts > 1 && stream <= 2; stream++) {
        char *path = ctk_jobq_out_path(r->q->o.out_dir, r->job.id, stream);
        unlink(path);
        g_free(path);
    }
}

static void post(ctk_jobq *q, int kind, running *r)
{
    event *e = g_new(event, 1);
    e->kind = kind;
    e->r = r;
    pthread_mutex_lock(&q->lock);
    g_queue_push_tail(&q->events, e);
    pthread_cond_signal(&q->event_ready);
    pthread_mutex_unlock(&q->lock);
}

static void run_child(running *r, const ctk_spawn_opts *so)
{
    ctk_jobq *q = r->q;
    r->rc = ctk_spawn_start(&r->child, so);
    pthread_mutex_lock(&q->lock);
    r->child_live = 1;
    if (q->cancelled && r->child.pid > 0)
        ctk_spawn_terminate(&r->child);
    pthread_mutex_unlock(&q->lock);
    if (r->rc == 0) {
        r->pid = r->child.pid;
        if (r->pid > 0)
            post(q, EV_STARTED, r);
        r->rc = ctk_spawn_finish(&r->child, &r->res);
    }
    pthread_mutex_lock(&q->lock);
    r->child_live = 0;
    pthread_mutex_unlock(&q->lock);
    ctk_spawn_dispose(&r->child);
}

static void *job_thread(void *arg)
{
    running *r = arg;
    ctk_jobq *q = r->q;
    const ctk_job *job = &r->job;
    ctk_spawn_opts so = {
        .argv = (const char *const *)job->argv,
        .shell = job->argv == NULL ? job->cmd : NULL,
        .shell_path = q->o.shell,
        .env = (const char *const *)job->env,
        .env_exact = job->env != NULL,
        .cwd = job->cwd,
        .sink = sink,
        .sink_arg = r,
        .termseq = q->o.termseq,
        .termseq_len = q->o.termseq_len,
    };
    if (job->timeout > 0)
        so.deadline = ctk_spawn_clock() + job->timeout;
    forget_output(r);
    if (job->cwd != NULL && access(job->cwd, X_OK) < 0) {
        /* posix_spawn would say ENOENT, which reads as "command not found". */
        snprintf(r->reason, sizeof r->reason, "cannot enter %s: %s", job->cwd, g_strerror(errno));
        char text[300];
        int n = snprintf(text, sizeof text, "cqueue: %s\n", r->reason);
        sink(r, 2, text, (size_t)n);
    } else {
        run_child(r, &so); /* a file that cannot be written makes r->rc an error */
    }
    for (int i = 0; i < 2; i++)
        if (r->out_fd[i] >= 0)
            close(r->out_fd[i]);
    post(q, EV_ENDED, r);
    return NULL;
}

/* ---- the main thread ------------------------------------------------------------- */

static int store_err(ctk_jobq *q, int rc)
{
    snprintf(q->error, sizeof q->error, "%s", q->o.store->ops->last_error(q->o.store));
    return rc;
}

static int start_job(ctk_jobq *q, ctk_job *job)
{
    running *r = g_new0(running, 1);
    r->q = q;
    r->job = *job;
    r->out_fd[0] = r->out_fd[1] = -1;
    ctk_spawn_stream_init(&r->res.out, 0, NULL);
    ctk_spawn_stream_init(&r->res.err, 0, NULL);
    q->weight_used += job->weight > 0 ? job->weight : 1;
    pthread_mutex_lock(&q->lock);
    g_ptr_array_add(q->running, r);
    pthread_mutex_unlock(&q->lock);
    logf_job(q, job, "started (attempt %u): %s", job->attempts, job->cmd);
    int rc = pthread_create(&r->thread, NULL, job_thread, r);
    if (rc != 0) {
        /* Nothing started: the lease runs out and another claim runs it. */
        snprintf(q->error, sizeof q->error, "cannot start a thread: %s", g_strerror(rc));
        pthread_mutex_lock(&q->lock);
        g_ptr_array_remove(q->running, r);
        pthread_mutex_unlock(&q->lock);
        ctk_job_clear(&r->job);
        g_free(r);
        return -rc;
    }
    return 0;
}

/* The pid is recorded once the job has run for PID_DELAY: a short job
 * ends first and costs no transaction for it (a `kill` meanwhile is seen
 * when the job ends, and stops its retries). */
#define PID_DELAY 0.05

static void on_started(ctk_jobq *q, running *r)
{
    r->pid_due = ctk_spawn_clock() + PID_DELAY;
}

static void record_pid(ctk_jobq *q, running *r)
{
    uint64_t start = 0;
    int kill_requested = 0;
    r->pid_due = 0;
    if (ctk_proc_start_time(r->pid, &start) < 0)
        return; /* it has just ended */
    q->o.store->ops->set_pid(q->o.store, r->job.id, &q->wid, r->pid, start, &kill_requested);
    pthread_mutex_lock(&q->lock);
    if (kill_requested && r->child_live)
        ctk_spawn_signal(&r->child, SIGTERM);
    pthread_mutex_unlock(&q->lock);
}

/* Records the pids that are due; returns seconds until the next one is. */
static double record_pids(ctk_jobq *q)
{
    double now = ctk_spawn_clock(), next = 1e9;
    for (guint i = 0; i < q->running->len; i++) {
        running *r = g_ptr_array_index(q->running, i);
        if (r->pid_due > 0 && r->pid_due <= now)
            record_pid(q, r);
        else if (r->pid_due > 0 && r->pid_due - now < next)
            next = r->pid_due - now;
    }
    return next;
}

static void outcome_of(const running *r, ctk_job_outcome *o, char *reason, size_t len)
{
    memset(o, 0, sizeof *o);
    reason[0] = '\0';
    if (r->reason[0] != '\0') {
        o->exit_code = 127;
        snprintf(reason, len, "%s", r->reason);
    } else if (r->rc < 0) {
        o->exit_code = 127;
        snprintf(reason, len, "cannot run: %s", ctk_strerror(r->rc));
    } else {
        o->exit_code = r->res.exit;
        o->signal = r->res.signal;
        if (r->res.timed_out)
            snprintf(reason, len, "timed out after %g s", r->job.timeout);
        else if (r->res.exec_errno == ENOENT)
            snprintf(reason, len, "command not found");
        else if (r->res.exec_errno != 0)
            snprintf(reason, len, "cannot execute: %s", g_strerror(r->res.exec_errno));
    }
    o->reason = reason[0] != '\0' ? reason : NULL;
}

static void on_ended(ctk_jobq *q, running *r)
{
    pthread_join(r->thread, NULL);
    pthread_mutex_lock(&q->lock);
    g_ptr_array_remove(q->running, r);
    int cancelled = q->cancelled;
    pthread_mutex_unlock(&q->lock);
    q->weight_used -= r->job.weight > 0 ? r->job.weight : 1;
    ctk_store *st = q->o.store;
    ctk_job_outcome o;
    char reason[300];
    outcome_of(r, &o, reason, sizeof reason);
    int rc;
    if (cancelled && (r->res.terminated || r->res.signal != 0)) {
        rc = st->ops->release(st, r->job.id, &q->wid);
        logf_job(q, &r->job, "stopped with the worker; queued again");
    } else {
        rc = st->ops->finish(st, r->job.id, &q->wid, &o);
        q->ran++;
        if (rc == CTK_ENOENT)
            logf_job(q, &r->job, "its lease was lost; this attempt's result is dropped");
        else
            logf_job(q, &r->job, "ended: exit %d signal %d%s%s", o.exit_code, o.signal,
                     o.reason ? ": " : "", o.reason ? o.reason : "");
    }
    if (rc < 0 && rc != CTK_ENOENT)
        fprintf(q->o.log != NULL ? q->o.log : stderr, "cqueue: job %lld: %s\n",
                (long long)r->job.id, st->ops->last_error(st));
    ctk_spawn_result_free(&r->res);
    ctk_job_clear(&r->job);
    g_free(r);
}

static void handle(ctk_jobq *q, event *e)
{
    if (e->kind == EV_STARTED)
        on_started(q, e->r);
    else if (e->kind == EV_ENDED)
        on_ended(q, e->r);
    g_free(e);
}

/* A worker on this host whose process is gone (or is another process now). */
static int worker_dead(void *arg, const char *worker)
{
    (void)arg;
    char host[256];
    pid_t pid;
    uint64_t start, now_start;
    if (parse_worker(worker, host, sizeof host, &pid, &start) < 0)
        return 0;
    return ctk_proc_start_time(pid, &now_start) < 0 || now_start != start;
}

/* A dead worker's job may still run, orphaned: end it before it runs again. */
static int kill_orphan(void *arg, const ctk_job *job)
{
    ctk_jobq *q = arg;
    if (ctk_jobq_signal_job(job, SIGKILL) == 0)
        logf_job(q, job, "killed the process group its lost worker left");
    logf_job(q, job, "lease lost by %s; queued again", job->worker ? job->worker : "?");
    return 0;
}

static unsigned free_weight(const ctk_jobq *q)
{
    /* A job heavier than -j still runs, alone, on an idle worker. */
    if (q->weight_used == 0)
        return INT_MAX;
    return q->weight_used < q->o.slots ? q->o.slots - q->weight_used : 0;
}

static int is_cancelled(ctk_jobq *q)
{
    pthread_mutex_lock(&q->lock);
    int c = q->cancelled;
    pthread_mutex_unlock(&q->lock);
    return c;
}

/* Claims while there is room; returns how many started, or an error. */
static int claim_some(ctk_jobq *q, unsigned limit)
{
    ctk_store *st = q->o.store;
    int n = 0;
    while ((unsigned)n < limit && free_weight(q) > 0) {
        ctk_job job;
        int rc = st->ops->claim(st, q->o.queue, &q->wid, free_weight(q), wall() + q->o.lease, &job);
        if (rc == CTK_EAGAIN)
            break;
        if (rc < 0)
            return store_err(q, rc);
        if ((rc = start_job(q, &job)) < 0) {
            ctk_job_clear(&job);
            return rc;
        }
        n++;
    }
    return n;
}

typedef struct loop_state {
    int64_t stop_gen0;
    int stopping, claimed_once;
    double last_busy, last_renew, last_expire, last_control;
} loop_state;

/* Whether the worker is done: returns 1 to leave the loop. */
static int should_exit(ctk_jobq *q, loop_state *ls, int claimed, double now)
{
    int idle = q->running->len == 0;
    if (!idle || claimed > 0) {
        ls->last_busy = now;
        return 0;
    }
    if (ls->stopping || is_cancelled(q))
        return 1;
    if (q->o.mode == CTK_JOBQ_ONCE)
        return 1;
    if (q->o.idle_exit > 0 && now - ls->last_busy >= q->o.idle_exit)
        return 1;
    if (q->o.mode == CTK_JOBQ_DRAIN) {
        ctk_store_stats s;
        if (q->o.store->ops->stats(q->o.store, q->o.queue, &s) == 0 &&
            s.count[CTK_JOB_QUEUED] == 0 && s.count[CTK_JOB_RUNNING] == 0)
            return 1;
    }
    return 0;
}

static int housekeeping(ctk_jobq *q, loop_state *ls, double now)
{
    ctk_store *st = q->o.store;
    ctk_queue_control c = {0, ls->stop_gen0};
    int rc = 0;
    /* A `stop` is seen within a poll interval, not at every job's end. */
    if (now - ls->last_control >= q->o.poll) {
        if ((rc = st->ops->control(st, q->o.queue, &c)) < 0)
            return store_err(q, rc);
        ls->last_control = now;
    }
    if (c.stop_gen > ls->stop_gen0 && !ls->stopping) {
        ls->stopping = 1;
        if (q->o.log != NULL)
            fprintf(q->o.log, "cqueue: stop requested; finishing %u running job(s)\n",
                    q->running->len);
    }
    if (q->running->len > 0 && now - ls->last_renew >= q->o.lease / 3) {
        if ((rc = st->ops->renew(st, &q->wid, now + q->o.lease)) < 0)
            return store_err(q, rc);
        ls->last_renew = now;
    }
    if (now - ls->last_expire >= 1.0) {
        unsigned n;
        if ((rc = st->ops->expire(st, q->o.queue, q->host, worker_dead, kill_orphan, q, &n)) < 0)
            return store_err(q, rc);
        ls->last_expire = now;
    }
    return 0;
}

/* The next event, waiting up to secs for one (0: not at all; < 0: for
 * ever). NULL when none came. */
static event *next_event(ctk_jobq *q, double secs)
{
    pthread_mutex_lock(&q->lock);
    if (secs != 0 && g_queue_is_empty(&q->events)) {
        if (secs < 0) {
            while (g_queue_is_empty(&q->events))
                pthread_cond_wait(&q->event_ready, &q->lock);
        } else {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            double t = (double)until.tv_sec + (double)until.tv_nsec / 1e9 + secs;
            until.tv_sec = (time_t)t;
            until.tv_nsec = (long)((t - (double)until.tv_sec) * 1e9);
            pthread_cond_timedwait(&q->event_ready, &q->lock, &until);
        }
    }
    event *e = g_queue_pop_head(&q->events);
    pthread_mutex_unlock(&q->lock);
    return e;
}

int ctk_jobq_run(ctk_jobq *q)
{
    ctk_store *st = q->o.store;
    ctk_queue_control c;
    int rc = st->ops->control(st, q->o.queue, &c);
    if (rc < 0)
        return store_err(q, rc);
    loop_state ls = {.stop_gen0 = c.stop_gen, .last_busy = wall()};
    for (;;) {
        double now = wall();
        if ((rc = housekeeping(q, &ls, now)) < 0)
            break;
        int claimed = 0;
        int may_claim =
            !ls.stopping && !is_cancelled(q) && !(q->o.mode == CTK_JOBQ_ONCE && ls.claimed_once);
        if (may_claim) {
            claimed = claim_some(q, q->o.mode == CTK_JOBQ_ONCE ? 1 : UINT_MAX);
            if (claimed < 0) {
                rc = claimed;
                break;
            }
            ls.claimed_once |= claimed > 0;
        }
        if (should_exit(q, &ls, claimed, now))
            break;
        /* Sleep until a job event, a pid to record, or the next look at
         * the queue. */
        double wait_s = record_pids(q);
        if (wait_s > q->o.poll)
            wait_s = q->o.poll;
        event *e = next_event(q, wait_s);
        while (e != NULL) {
            handle(q, e);
            e = next_event(q, 0);
        }
    }
    /* On an error, end what runs (it goes back to the queue). */
    if (rc < 0)
        ctk_jobq_cancel(q);
    while (q->running->len > 0) {
        event *e = next_event(q, -1);
        handle(q, e);
    }
    return rc < 0 ? rc : 0;
}

void ctk_jobq_cancel(ctk_jobq *q)
{
    pthread_mutex_lock(&q->lock);
    q->cancelled = 1;
    for (guint i = 0; i < q->running->len; i++) {
        running *r = g_ptr_array_index(q->running, i);
        if (r->child_live)
            ctk_spawn_terminate(&r->child);
    }
    pthread_mutex_unlock(&q->lock);
    /* Wake the main thread from its wait. */
    post(q, EV_WAKE, NULL);
}
