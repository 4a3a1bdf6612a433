/*
 * jobrun.c: one job's run (see jobrun.h). The child is watched with
 * ctk_spawn's step API beside the worker's cancel fd, so a stop reaches
 * a running job at once, without a timer; the blocking form waits in
 * poll(2), the async form in an epoll set that one uv_poll watches.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "jobrun.h"
#include "jobunit.h"

#define NFDS (CTK_SPAWN_WATCH_FDS + 1) /* the child's, then the cancel fd */

typedef struct jobexec {
    const cq_runner *rn;
    cq_jobunit ju;
    ctk_spawn_opts so;
    ctk_spawn_child child;
    ctk_spawn_watch *watch;
    ctk_spawn_result res;
    int out_fd[2];
    int started;     /* the child needs ctk_spawn_dispose */
    int stopping;    /* the cancel fd was seen: the sequence runs */
    int unstarted;   /* never started for want of a resource (for_want_of) */
    int lost_output; /* its output could not be kept for want of a resource */
    int rc;          /* a library error running it */
    char reason[300];
    struct pollfd p[NFDS];
} jobexec;

/* The name to open path by: its base name in the output folder when the
 * runner holds that folder open, else path itself. */
static const char *out_name(const cq_runner *rn, const char *path)
{
    const char *slash = strrchr(path, '/');
    return rn->out_dir_fd >= 0 && slash != NULL ? slash + 1 : path;
}

static int out_dirfd(const cq_runner *rn)
{
    return rn->out_dir_fd >= 0 ? rn->out_dir_fd : AT_FDCWD;
}

static int for_want_of(int rc);

/* The job's output files are created on its first byte: creating two
 * files per job cost more than running a short one. A file that cannot
 * be created or written for want of descriptors or space ends the job,
 * which then runs again later: its output is kept or it is not done. */
static int sink(void *arg, int stream, const void *data, size_t len)
{
    jobexec *je = arg;
    int *fd = &je->out_fd[stream == 2];
    if (*fd < 0) {
        const char *path = stream == 2 ? je->ju.err_path : je->ju.out_path;
        *fd = openat(out_dirfd(je->rn), out_name(je->rn, path),
                     O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (*fd < 0) {
            je->lost_output = for_want_of(-errno);
            return -errno;
        }
    }
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(*fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            je->lost_output = for_want_of(-errno);
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void report(const jobexec *je)
{
    if (je->rn->report_fd < 0 || je->child.pid <= 0)
        return;
    cq_report r = {je->ju.id, je->child.pid};
    ssize_t n;
    do
        n = write(je->rn->report_fd, &r, sizeof r);
    while (n < 0 && errno == EINTR);
    /* A lost report only means `kill` finds no pid until the job ends. */
}

/* A start that failed for want of a resource says "not now", not
 * "never": the worker starts the job again later instead of failing it. */
static int for_want_of(int rc)
{
    switch (-rc) {
    case EMFILE:
    case ENFILE:
    case EAGAIN:
    case ENOMEM:
    case ENOSPC:
    case EDQUOT:
    case ENOBUFS:
        return 1;
    default:
        return rc == CTK_ENOMEM;
    }
}

/* An output folder with no block or inode left could not keep what the
 * job writes: the job waits for space rather than run and fail. */
static int out_dir_full(const cq_runner *rn)
{
    struct statvfs sv;
    if (rn->out_dir_fd < 0 || fstatvfs(rn->out_dir_fd, &sv) < 0)
        return 0;
    fsblkcnt_t blocks = geteuid() == 0 ? sv.f_bfree : sv.f_bavail;
    fsfilcnt_t inodes = geteuid() == 0 ? sv.f_ffree : sv.f_favail;
    return blocks == 0 || (sv.f_files > 0 && inodes < 2);
}

/* Returns 0 while the child runs, 1 when the job has ended already, or a
 * negative code for a unit that is not a job. pre_err: a resource the run
 * needs could not be had (a negative code), so the job is not started. */
static int begin(jobexec *je, const cq_runner *rn, const ctk_unit *unit, int pre_err)
{
    memset(je, 0, sizeof *je);
    je->rn = rn;
    je->out_fd[0] = je->out_fd[1] = -1;
    int rc = cq_jobunit_decode(unit->in.data, unit->in.len, &je->ju);
    if (rc < 0)
        return rc;
    const cq_jobunit *ju = &je->ju;
    je->so = (ctk_spawn_opts){
        .argv = (const char *const *)ju->argv,
        .shell = ju->argv == NULL ? ju->cmd : NULL,
        .shell_path = rn->shell,
        .env = (const char *const *)ju->env,
        .env_exact = ju->env != NULL,
        .cwd = ju->cwd,
        .sink = sink,
        .sink_arg = je,
        .termseq = rn->termseq,
        .termseq_len = rn->termseq_len,
    };
    if (ju->timeout > 0)
        je->so.deadline = ctk_spawn_clock() + ju->timeout;
    ctk_spawn_result_init(&je->res, &je->so);
    if (pre_err == 0 && out_dir_full(rn))
        pre_err = -ENOSPC;
    if (pre_err < 0) {
        je->rc = pre_err;
        je->unstarted = for_want_of(pre_err);
        return 1;
    }
    /* An earlier attempt's output is not this one's. */
    if (ju->attempt > 1) {
        unlinkat(out_dirfd(rn), out_name(rn, ju->out_path), 0);
        unlinkat(out_dirfd(rn), out_name(rn, ju->err_path), 0);
    }
    if (ju->cwd != NULL && access(ju->cwd, X_OK) < 0) {
        /* posix_spawn would say ENOENT, which reads as "command not found". */
        snprintf(je->reason, sizeof je->reason, "cannot enter %s: %s", ju->cwd, g_strerror(errno));
        char text[330];
        int n = snprintf(text, sizeof text, "cqueue: %s\n", je->reason);
        sink(je, 2, text, (size_t)n);
        return 1;
    }
    je->started = 1;
    rc = ctk_spawn_start(&je->child, &je->so);
    if (rc == 0) {
        report(je);
        rc = ctk_spawn_watch_begin(&je->watch, &je->child, &je->res);
    }
    if (rc < 0) {
        je->rc = rc;
        /* A child that started before a later step failed is ended at
         * once by dispose, before it could do much: started again too. */
        je->unstarted = for_want_of(rc);
    }
    return rc == 0 ? 0 : 1;
}

/* Fills je->p; returns poll's timeout in ms (-1: none). */
static int fds(jobexec *je)
{
    double due;
    int now = ctk_spawn_watch_fds(je->watch, je->p, &due);
    je->p[CTK_SPAWN_WATCH_FDS] = (struct pollfd){
        .fd = je->stopping ? -1 : je->rn->cancel_fd,
        .events = POLLIN,
    };
    for (int i = 0; i < NFDS; i++)
        je->p[i].revents = 0;
    if (now)
        return 0;
    if (due < 0)
        return -1;
    double ms = (due - ctk_spawn_clock()) * 1000.0 + 1;
    return ms < 0 ? 0 : ms > 3600e3 ? 3600000 : (int)ms;
}

/* Serves what poll reported. Returns 0 while the child runs, 1 once it
 * has been reaped. */
static int step(jobexec *je)
{
    if (je->p[CTK_SPAWN_WATCH_FDS].revents != 0 && !je->stopping) {
        je->stopping = 1;
        ctk_spawn_terminate(&je->child);
    }
    int rc = ctk_spawn_watch_step(je->watch, je->p);
    if (rc < 0)
        je->rc = rc;
    return rc != 0;
}

/* Puts the outcome into unit->out and releases everything. */
static int end(jobexec *je, ctk_unit *unit)
{
    cq_outcome oc = {
        .id = je->ju.id,
        .exit_code = je->res.exit,
        .signal = je->res.signal,
        .exec_errno = je->res.exec_errno,
        .rc = je->rc,
        .timed_out = je->res.timed_out,
        .terminated = je->res.terminated,
        .unstarted = je->unstarted || (je->lost_output && je->rc < 0),
        .reason = je->reason[0] != '\0' ? je->reason : NULL,
    };
    unit->out.len = 0;
    int rc = cq_outcome_encode(&unit->out, &oc);
    if (je->watch != NULL)
        ctk_spawn_watch_free(je->watch);
    if (je->started)
        ctk_spawn_dispose(&je->child);
    ctk_spawn_result_free(&je->res);
    for (int i = 0; i < 2; i++)
        if (je->out_fd[i] >= 0)
            close(je->out_fd[i]);
    cq_jobunit_clear(&je->ju);
    if (rc < 0)
        return ctk_unit_fail(unit, rc, "cannot record the outcome: %s", ctk_strerror(rc));
    return 0;
}

static int fd_readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return fd >= 0 && poll(&p, 1, 0) > 0;
}

/* ---- blocking ----------------------------------------------------------- */

int cq_runner_run(void *ctx, ctk_unit *unit, const int *cancel)
{
    const cq_runner *rn = ctx;
    /* A worker process must live to end its job by the termination
     * sequence: a stop reaches it through the cancel fd, not by dying.
     * (Threads of cqueue itself have these blocked already.) */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    if (ctk_is_cancelled(cancel) || fd_readable(rn->cancel_fd))
        return ctk_unit_fail(unit, CTK_ECANCELED, "cancelled");
    jobexec *je = g_new(jobexec, 1);
    int rc = begin(je, rn, unit, 0);
    if (rc < 0) {
        g_free(je);
        return ctk_unit_fail(unit, rc, "malformed job: %s", ctk_strerror(rc));
    }
    while (rc == 0) {
        int timeout = fds(je);
        if (poll(je->p, NFDS, timeout) < 0 && errno != EINTR) {
            je->rc = CTK_ESYS;
            break; /* dispose kills and reaps the child */
        }
        rc = step(je);
    }
    rc = end(je, unit);
    g_free(je);
    return rc;
}

/* ---- on a libuv loop ---------------------------------------------------- */

typedef struct async_job {
    jobexec je;
    ctk_unit *unit;
    ctk_done_fn done;
    void *done_arg;
    int epfd;
    int watched[NFDS]; /* fds in the epoll set */
    uv_poll_t poll;
    uv_timer_t timer;
    int handles; /* still open */
} async_job;

static void on_closed(uv_handle_t *h)
{
    async_job *aj = h->data;
    if (--aj->handles > 0)
        return;
    end(&aj->je, aj->unit);
    if (aj->epfd >= 0)
        close(aj->epfd);
    ctk_done_fn done = aj->done;
    ctk_unit *unit = aj->unit;
    void *arg = aj->done_arg;
    g_free(aj);
    done(unit, arg);
}

static void finish(async_job *aj)
{
    if (aj->epfd >= 0)
        uv_close((uv_handle_t *)&aj->poll, on_closed);
    uv_close((uv_handle_t *)&aj->timer, on_closed);
}

static void on_timer(uv_timer_t *t);

/* The epoll set mirrors what the watch wants now; the timer its due time. */
static void arm(async_job *aj)
{
    int timeout = fds(&aj->je);
    for (int i = 0; i < NFDS; i++) {
        if (aj->watched[i] >= 0)
            epoll_ctl(aj->epfd, EPOLL_CTL_DEL, aj->watched[i], NULL);
        aj->watched[i] = -1;
        const struct pollfd *p = &aj->je.p[i];
        if (p->fd < 0)
            continue;
        struct epoll_event ev = {.data.fd = p->fd};
        ev.events = (p->events & POLLIN ? EPOLLIN : 0u) | (p->events & POLLOUT ? EPOLLOUT : 0u);
        if (epoll_ctl(aj->epfd, EPOLL_CTL_ADD, p->fd, &ev) == 0)
            aj->watched[i] = p->fd;
        else
            timeout = 0; /* poll(2) serves it on the next turn */
    }
    if (timeout >= 0)
        uv_timer_start(&aj->timer, on_timer, (uint64_t)timeout, 0);
    else
        uv_timer_stop(&aj->timer);
}

static void serve(async_job *aj)
{
    if (poll(aj->je.p, NFDS, 0) < 0 && errno != EINTR)
        aj->je.rc = CTK_ESYS;
    if (aj->je.rc < 0 || step(&aj->je)) {
        uv_poll_stop(&aj->poll);
        uv_timer_stop(&aj->timer);
        finish(aj);
        return;
    }
    arm(aj);
}

static void on_timer(uv_timer_t *t)
{
    async_job *aj = t->data;
    if (aj->epfd < 0) {
        finish(aj); /* it ended as it began */
        return;
    }
    serve(aj);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    serve(h->data);
}

int cq_runner_start(void *ctx, uv_loop_t *loop, ctk_unit *unit, ctk_done_fn done, void *done_arg)
{
    const cq_runner *rn = ctx;
    if (fd_readable(rn->cancel_fd))
        return CTK_ECANCELED;
    async_job *aj = g_new0(async_job, 1);
    aj->unit = unit;
    aj->done = done;
    aj->done_arg = done_arg;
    aj->epfd = -1;
    for (int i = 0; i < NFDS; i++)
        aj->watched[i] = -1;
    /* The epoll set first: without it the job is not started at all. */
    aj->epfd = epoll_create1(EPOLL_CLOEXEC);
    int rc = begin(&aj->je, rn, unit, aj->epfd < 0 ? -errno : 0);
    if (rc < 0) {
        if (aj->epfd >= 0)
            close(aj->epfd);
        g_free(aj);
        return rc;
    }
    uv_timer_init(loop, &aj->timer);
    aj->timer.data = aj;
    aj->handles = 1;
    if (rc != 0 && aj->epfd >= 0) {
        close(aj->epfd);
        aj->epfd = -1;
    }
    int prc;
    if (aj->epfd >= 0 && (prc = uv_poll_init(loop, &aj->poll, aj->epfd)) < 0) {
        close(aj->epfd);
        aj->epfd = -1;
        aj->je.rc = prc; /* a libuv code is a negated errno */
        aj->je.unstarted = for_want_of(prc);
    }
    if (aj->epfd < 0) {
        /* Done already (or cannot be watched: dispose ends it): report
         * from the loop, not from inside start. */
        uv_timer_start(&aj->timer, on_timer, 0, 0);
        return 0;
    }
    aj->handles = 2;
    aj->poll.data = aj;
    uv_poll_start(&aj->poll, UV_READABLE, on_poll);
    arm(aj);
    return 0;
}
