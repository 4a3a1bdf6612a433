/*
 * forkserver.c: the server loop and its little protocol. Requests and
 * replies are fixed-size datagrams on a SOCK_SEQPACKET pair; a new
 * worker's socket travels back as SCM_RIGHTS.
 */
#include <glib.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctk/common.h"
#include "forkserver.h"

enum { REQ_SPAWN = 1, REQ_REAP = 2 };

typedef struct request {
    int op;
    pid_t pid;
} request;

typedef struct reply {
    int error; /* 0 or a negated errno */
    pid_t pid;
    int status;
} reply;

struct ctk__forkserver {
    pid_t pid;
    int sock;
    pthread_mutex_t lock; /* one request and its reply at a time */
};

static int send_reply(int sock, const reply *r, int fd)
{
    struct iovec iov = {(void *)r, sizeof *r};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        memset(&ctl, 0, sizeof ctl);
        msg.msg_control = ctl.buf;
        msg.msg_controllen = sizeof ctl.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    ssize_t n;
    do
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof *r ? 0 : -1;
}

static void serve_spawn(int sock, ctk__worker_fn worker, void *arg)
{
    reply r = {0};
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        r.error = -errno;
        send_reply(sock, &r, -1);
        return;
    }
    pid_t pid = fork();
    int fork_errno = errno;
    if (pid == 0) {
        close(sock);
        close(sv[0]);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        worker(arg, sv[1]);
        _exit(0);
    }
    close(sv[1]);
    r.error = pid < 0 ? -fork_errno : 0;
    r.pid = pid;
    send_reply(sock, &r, pid > 0 ? sv[0] : -1);
    close(sv[0]);
}

static void serve_reap(int sock, pid_t pid)
{
    reply r = {.pid = pid};
    while (waitpid(pid, &r.status, 0) < 0) {
        if (errno != EINTR) {
            r.error = -errno;
            break;
        }
    }
    send_reply(sock, &r, -1);
}

static void __attribute__((noreturn)) server_main(int sock, ctk__worker_fn worker, void *arg)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Ctrl-C reaches the whole process group: the workers stop, and the
     * server stays to reap them until its owner closes the socket. */
    signal(SIGINT, SIG_IGN);
    /* A signal to the whole group must not take the server before the
     * workers it has to reap; it ends when its owner closes the socket. */
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    request req;
    ssize_t n;
    while ((n = recv(sock, &req, sizeof req, 0)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof req)
            break;
        if (req.op == REQ_SPAWN)
            serve_spawn(sock, worker, arg);
        else if (req.op == REQ_REAP)
            serve_reap(sock, req.pid);
    }
    while (wait(NULL) > 0 || errno == EINTR)
        ;
    _exit(0);
}

int ctk__forkserver_start(ctk__forkserver **out, ctk__worker_fn worker, void *arg)
{
    ctk__forkserver *fs = g_new0(ctk__forkserver, 1);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        goto fail_socket;
    if (pthread_mutex_init(&fs->lock, NULL) != 0)
        goto fail_lock;
    fs->pid = fork();
    if (fs->pid < 0)
        goto fail_fork;
    if (fs->pid == 0) {
        close(sv[0]);
        server_main(sv[1], worker, arg);
    }
    close(sv[1]);
    fs->sock = sv[0];
    *out = fs;
    return 0;

fail_fork:
    pthread_mutex_destroy(&fs->lock);
fail_lock:
    close(sv[0]);
    close(sv[1]);
fail_socket:
    g_free(fs);
    return CTK_ESYS;
}

/* Sends a request and reads its reply (and a descriptor, if one came). */
static int ask(ctk__forkserver *fs, const request *req, reply *r, int *fd)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {r, sizeof *r};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    msg.msg_control = ctl.buf;
    msg.msg_controllen = sizeof ctl.buf;
    ssize_t n;
    pthread_mutex_lock(&fs->lock);
    do
        n = send(fs->sock, req, sizeof *req, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof *req) {
        do
            n = recvmsg(fs->sock, &msg, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
    }
    pthread_mutex_unlock(&fs->lock);
    if (n != (ssize_t)sizeof *r)
        return CTK_ECHILD; /* the server is gone */
    if (fd != NULL) {
        *fd = -1;
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        if (c != NULL && c->cmsg_type == SCM_RIGHTS)
            memcpy(fd, CMSG_DATA(c), sizeof *fd);
    }
    return r->error;
}

int ctk__forkserver_spawn(ctk__forkserver *fs, pid_t *pid, int *fd)
{
    request req = {REQ_SPAWN, 0};
    reply r = {0};
    int rc = ask(fs, &req, &r, fd);
    if (rc == 0 && *fd < 0)
        rc = CTK_EIO;
    if (rc == 0)
        *pid = r.pid;
    return rc;
}

int ctk__forkserver_reap(ctk__forkserver *fs, pid_t pid, int *status)
{
    request req = {REQ_REAP, pid};
    reply r = {0};
    int rc = ask(fs, &req, &r, NULL);
    if (rc == 0)
        *status = r.status;
    return rc;
}

void ctk__forkserver_stop(ctk__forkserver *fs)
{
    if (fs == NULL)
        return;
    close(fs->sock);
    while (waitpid(fs->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    pthread_mutex_destroy(&fs->lock);
    g_free(fs);
}
