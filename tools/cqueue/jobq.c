/*
 * jobq.c: cqueue's worker (see jobq.h). Jobs run through a pipeline and
 * whichever strategy the user picked: produce claims the next ready job
 * (waiting for a free slot and for a job), the strategy runs it
 * (jobrun.c), consume records how it ended. A keeper thread renews the
 * leases of running jobs, records their pids and requeues the jobs of
 * dead workers. The three share one store handle under one lock.
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

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>

#include "ctk/pipeline.h"
#include "jobq.h"
#include "jobrun.h"
#include "jobunit.h"

/* A job this worker holds, from claim to consume. */
typedef struct claim {
    ctk_job job;
    int64_t pid;    /* its process group, once reported */
    double pid_due; /* when to record the pid in the store; 0: done or not yet */
    int kill_sent;  /* a `kill` from another host was honoured */
    /* A job that could not be started for want of a resource stays ours
     * and is started again at retry_due (0: it is not waiting), after a
     * backoff that doubles with each of its start_fails. */
    double retry_due;
    unsigned start_fails;
} claim;

struct ctk_jobq {
    ctk_jobq_opts o;
    ctk_worker_id wid;
    char *worker_name, *host;
    cq_runner runner;
    int report[2]; /* jobs' (id, pid), from any thread or worker process */
    int wake_fd;   /* produce waits on it for a free slot */
    int keeper_fd; /* wakes the keeper: a first job, or the end (keeper_end) */
    int keeper_end;
    pthread_mutex_t lock; /* the store, the claims, the counts */
    GHashTable *claims;   /* id -> claim */
    unsigned weight_used;
    uint64_t ran, failed_jobs;
    int64_t stop_gen0;
    int stopping, claimed_once;
    int lowered; /* slots were lowered after a start failed: said once */
    int told;    /* a start that failed was said on stderr (once) */
    double last_busy, last_control;
    int failed; /* a store error ended the run; error says which */
    char error[512];
    pthread_mutex_t cancel_lock; /* the pipeline, against the signal thread */
    ctk_pipeline *p;
    int cancel_signo; /* a cancel that came before the pipeline */
    pthread_t keeper;
    int keeper_started;
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

static void claim_free(void *p)
{
    claim *c = p;
    ctk_job_clear(&c->job);
    g_free(c);
}

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
    q->report[0] = q->report[1] = q->wake_fd = q->keeper_fd = -1;
    if (pipe2(q->report, O_CLOEXEC) < 0 || fcntl(q->report[0], F_SETFL, O_NONBLOCK) < 0 ||
        (q->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
        (q->keeper_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
        int rc = -errno;
        q->o.store = NULL;
        ctk_jobq_free(q);
        return rc;
    }
    q->worker_name = ctk_jobq_worker_name();
    q->host = g_strdup(g_get_host_name());
    q->wid = (ctk_worker_id){q->worker_name, q->host};
    q->runner = (cq_runner){.shell = o->shell,
                            .termseq = o->termseq,
                            .termseq_len = o->termseq_len,
                            .cancel_fd = -1,
                            .report_fd = q->report[1],
                            .out_dir_fd = o->out_dir_fd};
    q->claims = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, claim_free);
    pthread_mutex_init(&q->lock, NULL);
    pthread_mutex_init(&q->cancel_lock, NULL);
    *out = q;
    return 0;
}

void ctk_jobq_free(ctk_jobq *q)
{
    if (q == NULL)
        return;
    for (int i = 0; i < 2; i++)
        if (q->report[i] >= 0)
            close(q->report[i]);
    if (q->wake_fd >= 0)
        close(q->wake_fd);
    if (q->keeper_fd >= 0)
        close(q->keeper_fd);
    if (q->claims != NULL) {
        g_hash_table_destroy(q->claims);
        pthread_mutex_destroy(&q->lock);
        pthread_mutex_destroy(&q->cancel_lock);
    }
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

uint64_t ctk_jobq_failed(ctk_jobq *q)
{
    return q->failed_jobs;
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

static void poke(int fd)
{
    uint64_t one = 1;
    if (write(fd, &one, sizeof one) < 0) {
        /* EAGAIN: the counter is full, so it is readable anyway. */
    }
}

static void drain(int fd)
{
    uint64_t n;
    while (read(fd, &n, sizeof n) > 0)
        ;
}

/* Under q->lock. Remembers the store's words and ends the run: what runs
 * is stopped and goes back to the queue. */
static void store_failed(ctk_jobq *q, int rc)
{
    if (!q->failed)
        snprintf(q->error, sizeof q->error, "%s", q->o.store->ops->last_error(q->o.store));
    q->failed = rc;
    ctk_jobq_cancel(q);
}

static int is_cancelled(ctk_jobq *q)
{
    pthread_mutex_lock(&q->cancel_lock);
    int c =
        q->cancel_signo != 0 || (q->p != NULL && ctk_is_cancelled(ctk_pipeline_cancel_flag(q->p)));
    pthread_mutex_unlock(&q->cancel_lock);
    return c;
}

/* ---- produce: claim the next job ------------------------------------------------ */

static unsigned free_weight(const ctk_jobq *q)
{
    /* A job heavier than -j still runs, alone, on an idle worker. */
    if (q->weight_used == 0)
        return INT_MAX;
    return q->weight_used < q->o.slots ? q->o.slots - q->weight_used : 0;
}

static void *keeper_main(void *arg);

/* Under q->lock: a claimed job becomes the unit. 1 when one was claimed,
 * 0 when none is ready, or a negative code. */
static int claim_one(ctk_jobq *q, ctk_unit *unit)
{
    ctk_store *st = q->o.store;
    claim *c = g_new0(claim, 1);
    int rc = st->ops->claim(st, q->o.queue, &q->wid, free_weight(q), wall() + q->o.lease, &c->job);
    if (rc < 0) {
        g_free(c);
        if (rc == CTK_EAGAIN)
            return 0;
        store_failed(q, rc);
        return rc;
    }
    char *out = ctk_jobq_out_path(q->o.out_dir, c->job.id, 1);
    char *err = ctk_jobq_out_path(q->o.out_dir, c->job.id, 2);
    rc = cq_jobunit_encode(&unit->in, &c->job, out, err);
    g_free(out);
    g_free(err);
    if (rc < 0) {
        /* Out of memory: the job goes back for a later claim, and the
         * unit reaches consume as an error that names no job. */
        int released = st->ops->release(st, c->job.id, &q->wid);
        logf_job(q, &c->job, "cannot encode it (%s); %s", ctk_strerror(rc),
                 released == 0 ? "queued again" : "it goes back when its lease ends");
        claim_free(c);
        return ctk_unit_fail(unit, rc, "cannot encode a job: %s", ctk_strerror(rc));
    }
    /* An idle keeper sleeps until its next look for dead workers: a
     * first lease must not run out before it wakes. */
    if (g_hash_table_size(q->claims) == 0)
        poke(q->keeper_fd);
    q->weight_used += c->job.weight > 0 ? c->job.weight : 1;
    q->claimed_once = 1;
    g_hash_table_insert(q->claims, &c->job.id, c);
    logf_job(q, &c->job, "started (attempt %u): %s", c->job.attempts, c->job.cmd);
    return 1;
}

/* Under q->lock: a job whose start failed for want of a resource goes to
 * a strategy again once its backoff is over and there is room. 1 when
 * one did, 0 when none is due; *next gets the seconds until the next one
 * is (unchanged when none waits). */
static int restart_one(ctk_jobq *q, ctk_unit *unit, double now, double *next)
{
    GHashTableIter it;
    void *v;
    g_hash_table_iter_init(&it, q->claims);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        claim *c = v;
        if (c->retry_due <= 0)
            continue;
        if (c->retry_due > now) {
            if (c->retry_due - now < *next)
                *next = c->retry_due - now;
            continue;
        }
        unsigned w = c->job.weight > 0 ? c->job.weight : 1;
        if (free_weight(q) < w && q->weight_used > 0)
            continue;
        char *out = ctk_jobq_out_path(q->o.out_dir, c->job.id, 1);
        char *err = ctk_jobq_out_path(q->o.out_dir, c->job.id, 2);
        int rc = cq_jobunit_encode(&unit->in, &c->job, out, err);
        g_free(out);
        g_free(err);
        if (rc < 0)
            continue; /* out of memory: on a later turn */
        c->retry_due = 0;
        q->weight_used += w;
        logf_job(q, &c->job, "started again (attempt %u): %s", c->job.attempts, c->job.cmd);
        return 1;
    }
    return 0;
}

/* Under q->lock, with nothing to claim: whether the worker is done. */
static int should_end(ctk_jobq *q, double now)
{
    /* The one job may still run: the pipeline waits for it. */
    if (q->o.mode == CTK_JOBQ_ONCE)
        return 1;
    if (g_hash_table_size(q->claims) > 0) {
        q->last_busy = now;
        return 0;
    }
    if (q->o.idle_exit > 0 && now - q->last_busy >= q->o.idle_exit)
        return 1;
    if (q->o.mode == CTK_JOBQ_DRAIN) {
        ctk_store_stats s;
        int rc = q->o.store->ops->stats(q->o.store, q->o.queue, &s);
        if (rc < 0) {
            store_failed(q, rc);
            return 1;
        }
        return s.count[CTK_JOB_QUEUED] == 0 && s.count[CTK_JOB_RUNNING] == 0;
    }
    return 0;
}

/* Under q->lock: a `stop` is seen within a poll interval, not at every
 * job's end. */
static void look_for_stop(ctk_jobq *q, double now)
{
    if (q->stopping || now - q->last_control < q->o.poll)
        return;
    ctk_queue_control c = {0, q->stop_gen0};
    int rc = q->o.store->ops->control(q->o.store, q->o.queue, &c);
    if (rc < 0) {
        store_failed(q, rc);
        return;
    }
    q->last_control = now;
    if (c.stop_gen > q->stop_gen0) {
        q->stopping = 1;
        if (q->o.log != NULL)
            fprintf(q->o.log, "cqueue: stop requested; finishing %u running job(s)\n",
                    g_hash_table_size(q->claims));
    }
}

/* A store that tells when a job may be ready (PostgreSQL's LISTEN) is
 * waited on with no timer but --idle-exit's and a slow safety net; one
 * that cannot tell (SQLite) is looked at again after the poll interval. */
#define STORE_WAIT_NET 30.0

/* Waits for a slot to free, the worker to stop, or the next look at the
 * queue. */
/* next: seconds until a job that could not start is due again (1e9:
 * none). */
static void wait_for_work(ctk_jobq *q, int room, double next)
{
    ctk_store *st = q->o.store;
    if (room && st->ops->wait != NULL) {
        double timeout = STORE_WAIT_NET;
        if (q->o.idle_exit > 0 && q->o.idle_exit - (wall() - q->last_busy) < timeout)
            timeout = q->o.idle_exit - (wall() - q->last_busy);
        if (next < timeout)
            timeout = next;
        int fds[2] = {q->wake_fd, q->runner.cancel_fd};
        /* A store error here is the next claim's to report. */
        st->ops->wait(st, q->o.queue, fds, 2, timeout > 0 ? timeout : 0);
        /* A notification may be a `stop`: the next turn looks at the
         * queue's control row even if it looked a moment ago, or the
         * worker would sleep through it until the safety net. */
        q->last_control = 0;
        struct pollfd p = {.fd = q->wake_fd, .events = POLLIN};
        if (poll(&p, 1, 0) > 0)
            drain(q->wake_fd);
        return;
    }
    struct pollfd p[2] = {{.fd = q->wake_fd, .events = POLLIN},
                          {.fd = q->runner.cancel_fd, .events = POLLIN}};
    int ms = room ? (int)(q->o.poll * 1000) : -1;
    if (next < 1e9 && (ms < 0 || next * 1000 < ms))
        ms = (int)(next * 1000) + 1;
    if (poll(p, 2, ms) > 0 && p[0].revents != 0)
        drain(q->wake_fd);
}

static int produce(void *arg, ctk_unit *unit)
{
    ctk_jobq *q = arg;
    if (!q->keeper_started) {
        /* Started here, on the pipeline's reader thread, so that a
         * strategy that forks does so before this thread exists. */
        int rc = pthread_create(&q->keeper, NULL, keeper_main, q);
        if (rc != 0) {
            snprintf(q->error, sizeof q->error, "cannot start a thread: %s", g_strerror(rc));
            q->failed = -rc;
            return CTK_EOF;
        }
        q->keeper_started = 1;
    }
    for (;;) {
        if (is_cancelled(q))
            return CTK_EOF;
        double now = wall();
        pthread_mutex_lock(&q->lock);
        look_for_stop(q, now);
        int room = free_weight(q) > 0;
        int rc = 0;
        double next = 1e9;
        if (!q->stopping && !q->failed)
            rc = restart_one(q, unit, now, &next);
        /* While a job waits to start again, no other is claimed: what
         * it lacks, another would too, and other workers may have it. */
        if (rc == 0 && !q->stopping && !q->failed && room && next >= 1e9 &&
            !(q->o.mode == CTK_JOBQ_ONCE && q->claimed_once))
            rc = claim_one(q, unit);
        int end = rc == 0 && (q->stopping || q->failed || should_end(q, now));
        pthread_mutex_unlock(&q->lock);
        if (rc != 0)
            return rc > 0 ? 0 : rc;
        if (end)
            return CTK_EOF;
        /* A full worker waits for a slot; an idle one looks again after
         * the poll interval; a job to start again is due at next. */
        wait_for_work(q, room, next);
    }
}

/* ---- consume: record how a job ended ------------------------------------------- */

static void outcome_of(const ctk_job *job, const ctk_unit *unit, const cq_outcome *oc,
                       ctk_job_outcome *o, char *reason, size_t len)
{
    memset(o, 0, sizeof *o);
    reason[0] = '\0';
    if (unit->status < 0) {
        o->exit_code = 127;
        snprintf(reason, len, "cannot run: %s", unit->error ? unit->error : "?");
    } else if (oc->reason != NULL) {
        o->exit_code = 127;
        snprintf(reason, len, "%s", oc->reason);
    } else if (oc->rc < 0) {
        o->exit_code = 127;
        snprintf(reason, len, "cannot run: %s", ctk_strerror((int)oc->rc));
    } else {
        o->exit_code = (int)oc->exit_code;
        o->signal = (int)oc->signal;
        if (oc->timed_out)
            snprintf(reason, len, "timed out after %g s", job->timeout);
        else if (oc->exec_errno == ENOENT)
            snprintf(reason, len, "command not found");
        else if (oc->exec_errno != 0)
            snprintf(reason, len, "cannot execute: %s", g_strerror((int)oc->exec_errno));
    }
    o->reason = reason[0] != '\0' ? reason : NULL;
}

/* Under q->lock. The store decides whether a failed attempt is retried:
 * only a job that ended failed counts against `work --drain`. */
static void count_if_failed(ctk_jobq *q, int64_t id)
{
    ctk_job j;
    if (q->o.store->ops->get(q->o.store, id, &j) < 0)
        return;
    q->failed_jobs += j.state == CTK_JOB_FAILED;
    ctk_job_clear(&j);
}

#define RESTART_FIRST 0.05 /* seconds before a job that could not start tries again */
#define RESTART_MAX   5.0

/* Under q->lock. A job that could not start for want of a resource is no
 * failure and costs no attempt: it stays this worker's and starts again
 * after a backoff. Running that many at once is what ran out, so the
 * worker runs fewer from now on (as many as run now), and says so once. */
static void restart_later(ctk_jobq *q, claim *c, const cq_outcome *oc)
{
    unsigned w = c->job.weight > 0 ? c->job.weight : 1;
    unsigned others = q->weight_used > w ? q->weight_used - w : 0;
    double backoff = RESTART_FIRST * (double)(1u << (c->start_fails < 7 ? c->start_fails : 7));
    c->start_fails++;
    c->retry_due = wall() + (backoff < RESTART_MAX ? backoff : RESTART_MAX);
    const char *why = oc->reason != NULL ? oc->reason : ctk_strerror((int)oc->rc);
    /* Fewer at once helps with descriptors and processes, not with space. */
    int crowded = oc->rc == -EMFILE || oc->rc == -ENFILE || oc->rc == -EAGAIN ||
                  oc->rc == -ENOMEM || oc->rc == CTK_ENOMEM;
    FILE *say = q->o.log != NULL ? q->o.log : stderr;
    if (crowded && others > 0 && others < q->o.slots) {
        if (!q->lowered)
            fprintf(say,
                    "cqueue: cannot start job %lld (%s): running at most %u jobs at once "
                    "(was %u); a job that cannot start waits and starts again\n",
                    (long long)c->job.id, why, others, q->o.slots);
        q->lowered = q->told = 1;
        q->o.slots = others;
    } else if (!q->told) {
        fprintf(say, "cqueue: cannot start job %lld (%s); it waits and starts again\n",
                (long long)c->job.id, why);
        q->told = 1;
    }
    logf_job(q, &c->job, "cannot start (%s); starting it again in %.2f s", why,
             c->retry_due - wall());
}

/* Under q->lock. Returns 1 when the claim stays for a later start. */
static int record(ctk_jobq *q, claim *c, const ctk_unit *unit)
{
    ctk_store *st = q->o.store;
    cq_outcome oc = {0};
    ctk_unit u = *unit; /* status and error only: a malformed result is a failed run */
    if (u.status == 0 && cq_outcome_decode(unit->out.data, unit->out.len, &oc) < 0) {
        u.status = CTK_EIO;
        u.error = (char *)"malformed result";
    }
    int rc;
    if (u.status == 0 && oc.unstarted && !is_cancelled(q)) {
        restart_later(q, c, &oc);
        cq_outcome_clear(&oc);
        return 1;
    }
    if (is_cancelled(q) && (u.status < 0 || oc.terminated || oc.signal != 0)) {
        rc = st->ops->release(st, c->job.id, &q->wid);
        logf_job(q, &c->job, "stopped with the worker; queued again");
    } else {
        ctk_job_outcome o;
        char reason[300];
        outcome_of(&c->job, &u, &oc, &o, reason, sizeof reason);
        rc = st->ops->finish(st, c->job.id, &q->wid, &o);
        q->ran++;
        if (rc == 0 && (o.exit_code != 0 || o.signal != 0 || o.reason != NULL))
            count_if_failed(q, c->job.id);
        if (rc == CTK_ENOENT)
            logf_job(q, &c->job, "its lease was lost; this attempt's result is dropped");
        else
            logf_job(q, &c->job, "ended: exit %d signal %d%s%s", o.exit_code, o.signal,
                     o.reason ? ": " : "", o.reason ? o.reason : "");
    }
    if (rc < 0 && rc != CTK_ENOENT)
        fprintf(q->o.log != NULL ? q->o.log : stderr, "cqueue: job %lld: %s\n",
                (long long)c->job.id, st->ops->last_error(st));
    cq_outcome_clear(&oc);
    return 0;
}

static void consume(void *arg, const ctk_unit *unit)
{
    ctk_jobq *q = arg;
    ctk_wire_reader r;
    int64_t id;
    ctk_wire_reader_init(&r, unit->in.data, unit->in.len);
    if (ctk_wire_get_i64(&r, &id) < 0)
        return; /* a unit that never held a job (claim_one) */
    pthread_mutex_lock(&q->lock);
    claim *c = g_hash_table_lookup(q->claims, &id);
    if (c != NULL) {
        int kept = record(q, c, unit);
        q->weight_used -= c->job.weight > 0 ? c->job.weight : 1;
        if (!kept)
            g_hash_table_remove(q->claims, &id);
    }
    pthread_mutex_unlock(&q->lock);
    poke(q->wake_fd);
}

/* ---- the keeper: leases, pids, dead workers -------------------------------------- */

/* The pid is recorded once the job has run for PID_DELAY: a short job
 * ends first and costs no transaction for it (a `kill` meanwhile is seen
 * when the job ends, and stops its retries). */
#define PID_DELAY 0.05

static void take_reports(ctk_jobq *q)
{
    cq_report r;
    pthread_mutex_lock(&q->lock);
    while (read(q->report[0], &r, sizeof r) == (ssize_t)sizeof r) {
        claim *c = g_hash_table_lookup(q->claims, &r.id);
        if (c != NULL) {
            c->pid = r.pid;
            c->pid_due = ctk_spawn_clock() + PID_DELAY;
        }
    }
    pthread_mutex_unlock(&q->lock);
}

/* Under q->lock. */
static void record_pid(ctk_jobq *q, claim *c)
{
    uint64_t start = 0, now_start = 0;
    int kill_requested = 0;
    c->pid_due = 0;
    if (ctk_proc_start_time((pid_t)c->pid, &start) < 0)
        return; /* it has just ended */
    ctk_store *st = q->o.store;
    if (st->ops->set_pid(st, c->job.id, &q->wid, c->pid, start, &kill_requested) < 0)
        return; /* the lease went; expire says so */
    /* The group is signalled only while its leader is the process started. */
    if (kill_requested && ctk_proc_start_time((pid_t)c->pid, &now_start) == 0 && now_start == start)
        kill(-(pid_t)c->pid, SIGTERM);
}

/* Under q->lock. Records the pids that are due; returns seconds until the
 * next one is (1e9: none). */
static double record_pids(ctk_jobq *q)
{
    double now = ctk_spawn_clock(), next = 1e9;
    GHashTableIter it;
    void *v;
    g_hash_table_iter_init(&it, q->claims);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        claim *c = v;
        if (c->pid_due > 0 && c->pid_due <= now)
            record_pid(q, c);
        else if (c->pid_due > 0 && c->pid_due - now < next)
            next = c->pid_due - now;
    }
    return next;
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

#define EXPIRE_EVERY 1.0

/* Under q->lock, at each lease renewal: `kill` run on another host cannot
 * signal a job here, so it only marks it; the worker that holds the job
 * sends the signal. (One on this host was signalled by `kill` itself.) */
static int honour_kills(ctk_jobq *q)
{
    ctk_store *st = q->o.store;
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, q->claims);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        claim *c = value;
        ctk_job now;
        if (c->kill_sent || c->pid <= 0)
            continue;
        int rc = st->ops->get(st, c->job.id, &now);
        if (rc == CTK_ENOENT)
            continue;
        if (rc < 0)
            return rc;
        if (now.kill_requested && now.state == CTK_JOB_RUNNING && now.worker != NULL &&
            strcmp(now.worker, q->wid.id) == 0) {
            c->kill_sent = 1;
            kill(-(pid_t)c->pid, SIGTERM);
            logf_job(q, &c->job, "kill requested; sent SIGTERM");
        }
        ctk_job_clear(&now);
    }
    return 0;
}

/* Lease renewal and expiry are about time, so they keep their timers:
 * renewal every third of the lease while jobs run, a look for expired
 * leases and dead workers every second. Everything else wakes it: a
 * started job's report, or the end of the run. */
static void *keeper_main(void *arg)
{
    ctk_jobq *q = arg;
    ctk_store *st = q->o.store;
    double last_renew = wall(), last_expire = 0;
    for (;;) {
        double now = wall();
        pthread_mutex_lock(&q->lock);
        double next = record_pids(q);
        int rc = 0;
        int busy = g_hash_table_size(q->claims) > 0;
        if (!busy)
            last_renew = now; /* a lease is fresh when claimed */
        else if (now - last_renew >= q->o.lease / 3) {
            if ((rc = st->ops->renew(st, &q->wid, now + q->o.lease)) == 0) {
                last_renew = now;
                rc = honour_kills(q);
            }
        }
        if (rc == 0 && now - last_expire >= EXPIRE_EVERY) {
            unsigned n;
            if ((rc = st->ops->expire(st, q->o.queue, q->host, worker_dead, kill_orphan, q, &n)) ==
                0)
                last_expire = now;
        }
        if (rc < 0)
            store_failed(q, rc);
        pthread_mutex_unlock(&q->lock);
        double until = last_expire + EXPIRE_EVERY - now;
        if (busy && last_renew + q->o.lease / 3 - now < until)
            until = last_renew + q->o.lease / 3 - now;
        if (next < until)
            until = next;
        struct pollfd p[2] = {{.fd = q->keeper_fd, .events = POLLIN},
                              {.fd = q->report[0], .events = POLLIN}};
        int ms = until <= 0 ? 0 : (int)(until * 1000) + 1;
        if (poll(p, 2, ms) > 0) {
            if (p[0].revents != 0) {
                drain(q->keeper_fd);
                if (__atomic_load_n(&q->keeper_end, __ATOMIC_ACQUIRE))
                    break;
            }
            if (p[1].revents != 0)
                take_reports(q);
        }
    }
    return NULL;
}

/* ---- the run --------------------------------------------------------------------- */

/* Jobs claimed that never reached consume (a cancel drops the units no
 * strategy had taken yet) go back to the queue. */
static void release_rest(ctk_jobq *q)
{
    GHashTableIter it;
    void *v;
    pthread_mutex_lock(&q->lock);
    g_hash_table_iter_init(&it, q->claims);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        claim *c = v;
        if (q->o.store->ops->release(q->o.store, c->job.id, &q->wid) == 0)
            logf_job(q, &c->job, "never started; queued again");
        g_hash_table_iter_remove(&it);
    }
    q->weight_used = 0;
    pthread_mutex_unlock(&q->lock);
}

/* Each running job holds up to this many of our descriptors (its pipes
 * while it starts, pidfd, eventfd, output files, an epoll set). */
#define FDS_PER_JOB 8
#define FDS_SPARE   32

/* Like cpipe, runs fewer jobs at once than -j asks rather than have them
 * fail to start with EMFILE: raises the soft limit toward the hard one,
 * then, if that is not enough, lowers the slots and says so. */
static void fit_slots(ctk_jobq *q)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return;
    rlim_t need = (rlim_t)q->o.slots * FDS_PER_JOB + FDS_SPARE;
    if (need > rl.rlim_cur && rl.rlim_max > rl.rlim_cur) {
        struct rlimit raised = {need < rl.rlim_max ? need : rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            rl.rlim_cur = raised.rlim_cur;
    }
    if (need <= rl.rlim_cur)
        return;
    unsigned fit = rl.rlim_cur > FDS_SPARE + FDS_PER_JOB
                       ? (unsigned)((rl.rlim_cur - FDS_SPARE) / FDS_PER_JOB)
                       : 1;
    fprintf(q->o.log != NULL ? q->o.log : stderr,
            "cqueue: only enough file descriptors (%llu) to run %u jobs at once, not %u\n",
            (unsigned long long)rl.rlim_cur, fit, q->o.slots);
    q->o.slots = fit;
}

int ctk_jobq_run(ctk_jobq *q)
{
    fit_slots(q);
    ctk_store *st = q->o.store;
    ctk_queue_control c;
    int rc = st->ops->control(st, q->o.queue, &c);
    if (rc < 0) {
        snprintf(q->error, sizeof q->error, "%s", st->ops->last_error(st));
        return rc;
    }
    q->stop_gen0 = c.stop_gen;
    q->last_busy = wall();
    ctk_pipeline_opts po = {
        .work = {.run = cq_runner_run, .start = cq_runner_start, .ctx = &q->runner},
        .jobs = q->o.slots,
        .produce = produce,
        .produce_arg = q,
        .consume = consume,
        .consume_arg = q,
    };
    ctk_pipeline *p;
    if ((rc = ctk_pipeline_new(&p, &po)) < 0) {
        snprintf(q->error, sizeof q->error, "cannot start the run: %s", ctk_strerror(rc));
        return rc;
    }
    /* Forked workers inherit the fd: it must be in the context first. */
    q->runner.cancel_fd = ctk_pipeline_cancel_fd(p);
    pthread_mutex_lock(&q->cancel_lock);
    q->p = p;
    if (q->cancel_signo != 0)
        ctk_pipeline_cancel(p, q->cancel_signo > 0 ? q->cancel_signo : 0);
    pthread_mutex_unlock(&q->cancel_lock);
    rc = ctk_pipeline_run(p, q->o.strategy);
    if (q->keeper_started) {
        __atomic_store_n(&q->keeper_end, 1, __ATOMIC_RELEASE);
        poke(q->keeper_fd);
        pthread_join(q->keeper, NULL);
        q->keeper_started = 0;
    }
    release_rest(q);
    pthread_mutex_lock(&q->cancel_lock);
    q->p = NULL;
    pthread_mutex_unlock(&q->cancel_lock);
    ctk_pipeline_free(p);
    q->runner.cancel_fd = -1;
    if (q->failed)
        return q->failed;
    if (rc < 0 && rc != CTK_ECANCELED) {
        snprintf(q->error, sizeof q->error, "the %s strategy failed: %s", q->o.strategy->ops->name,
                 ctk_strerror(rc));
        return rc;
    }
    return 0;
}

void ctk_jobq_cancel(ctk_jobq *q)
{
    ctk_jobq_cancel_signal(q, 0);
}

void ctk_jobq_cancel_signal(ctk_jobq *q, int signo)
{
    pthread_mutex_lock(&q->cancel_lock);
    if (q->cancel_signo == 0)
        q->cancel_signo = signo > 0 ? signo : -1;
    if (q->p != NULL)
        ctk_pipeline_cancel(q->p, signo);
    pthread_mutex_unlock(&q->cancel_lock);
    poke(q->wake_fd);
}
