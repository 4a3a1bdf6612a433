/* isolate.c: fork, run, report over a pipe, measure with wait4. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctk/isolate.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void __attribute__((noreturn)) child_main(int fd, ctk_isolated_fn fn, void *arg)
{
    ctk_buf result = {0}, frame = {0};
    int rc = fn(arg, &result);
    unsigned char code[4];
    uint32_t urc = (uint32_t)rc;
    memcpy(code, &urc, sizeof code);
    ctk_buf_append(&frame, code, sizeof code);
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

int ctk_isolate_run(ctk_isolate *iso, ctk_isolated_fn fn, void *arg, ctk_buf *result,
                    ctk_usage *usage, int *signo)
{
    int fds[2];
    *signo = 0;
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    fflush(stdout);
    fflush(stderr);
    double t0 = now();
    pid_t pid = fork();
    if (pid < 0) {
        int rc = -errno;
        close(fds[0]);
        close(fds[1]);
        return rc;
    }
    if (pid == 0) {
        close(fds[0]);
        child_main(fds[1], fn, arg);
    }
    __atomic_store_n(&iso->child, pid, __ATOMIC_SEQ_CST);
    close(fds[1]);
    ctk_buf frame = {0};
    int got = ctk_wire_recv(fds[0], &frame);
    close(fds[0]);
    int status = 0;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
        ;
    __atomic_store_n(&iso->child, 0, __ATOMIC_SEQ_CST);
    ctk_usage_from_rusage(usage, &ru, now() - t0);
    int rc = got == 0 ? decode_answer(&frame, result) : CTK_ECHILD;
    ctk_buf_free(&frame);
    if (WIFSIGNALED(status)) {
        *signo = WTERMSIG(status);
        rc = CTK_ECHILD;
    }
    return rc;
}

void ctk_isolate_forward(ctk_isolate *iso, int signo)
{
    pid_t pid = __atomic_load_n(&iso->child, __ATOMIC_SEQ_CST);
    if (pid > 0)
        kill(pid, signo);
}
