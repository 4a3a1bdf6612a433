/* isolate.c: fork, run, report over a pipe, measure with wait4; signals
 * arrive on a signalfd meanwhile and go on to the child. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctkx/isolate.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void __attribute__((noreturn))
child_main(int fd, ctk_isolated_fn fn, void *arg, const sigset_t *mask, pid_t parent)
{
    sigprocmask(SIG_SETMASK, mask, NULL);
    /* A row outlives no killed cburn (kill -9, the OOM killer). */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    ctk_buf result = {0}, frame = {0};
    int rc = fn(arg, &result);
    uint32_t urc = (uint32_t)rc;
    ctk_buf_append(&frame, &urc, sizeof urc);
    ctk_buf_append(&frame, result.data, result.len);
    ctk_wire_send(fd, &frame);
    fflush(stdout);
    fflush(stderr);
    /* _exit: the parent's atexit handlers and stdio copies are not ours. */
    _exit(0);
}

static int decode_answer(const ctk_buf *frame, ctk_buf *result)
{
    if (frame->len < 4)
        return CTK_EIO;
    uint32_t urc;
    memcpy(&urc, frame->data, sizeof urc);
    int rc = ctk_buf_set(result, frame->data + 4, frame->len - 4);
    return rc < 0 ? rc : (int)urc;
}

/* Waits for the child's answer on fd, forwarding signals from sigfd. */
static int await_answer(pid_t pid, int fd, int sigfd, ctk_buf *frame, int *forwarded)
{
    struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = sigfd, .events = POLLIN}};
    for (;;) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (p[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
                if (*forwarded == 0)
                    *forwarded = (int)si.ssi_signo;
                kill(pid, (int)si.ssi_signo);
            }
        }
        if (p[0].revents & (POLLIN | POLLHUP))
            return ctk_wire_recv(fd, frame);
    }
}

int ctk_isolate_run(ctk_isolated_fn fn, void *arg, ctk_buf *result, ctk_usage *usage, int *died_of,
                    int *forwarded)
{
    int fds[2], rc;
    sigset_t watched, old;
    *died_of = *forwarded = 0;
    sigemptyset(&watched);
    sigaddset(&watched, SIGINT);
    sigaddset(&watched, SIGTERM);
    sigaddset(&watched, SIGHUP);
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    sigprocmask(SIG_BLOCK, &watched, &old);
    int sigfd = signalfd(-1, &watched, SFD_CLOEXEC);
    if (sigfd < 0) {
        rc = -errno;
        goto fail_sigfd;
    }
    fflush(stdout);
    fflush(stderr);
    double t0 = now();
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        rc = -errno;
        goto fail_fork;
    }
    if (pid == 0) {
        close(fds[0]);
        close(sigfd);
        child_main(fds[1], fn, arg, &old, parent);
    }
    close(fds[1]);
    fds[1] = -1;
    ctk_buf frame = {0};
    int got = await_answer(pid, fds[0], sigfd, &frame, forwarded);
    int status = 0;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
        ;
    ctk_usage_from_rusage(usage, &ru, now() - t0);
    rc = got == 0 ? decode_answer(&frame, result) : CTK_ECHILD;
    ctk_buf_free(&frame);
    if (WIFSIGNALED(status)) {
        *died_of = WTERMSIG(status);
        rc = CTK_ECHILD;
    }
fail_fork:
    close(sigfd);
fail_sigfd:
    /* Signals that came after the answer are still pending: the caller
     * finds them with sigpending() once it unblocks. Keep them blocked. */
    close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    return rc;
}
