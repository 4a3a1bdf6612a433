/*
 * guard.c: the run's guard process (see guard.h).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ctkx/guard.h"
#include "ctk/common.h"

/* The writing end; -1: no guard. Inherited by forked processes, which is
 * how a worker's jobs reach the same guard. */
static int guard_fd = -1;
static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;

/* The guard's set of running groups: an array in its own mapping, grown
 * with mremap, so the forked guard never calls malloc (the tool may have
 * had other threads holding its locks at the fork). */
typedef struct groups {
    int32_t *pg;
    size_t n, cap;
} groups;

static void groups_add(groups *g, int32_t pgid)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 1024;
        void *m = g->pg == NULL
                      ? mmap(NULL, cap * sizeof *g->pg, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                      : mremap(g->pg, g->cap * sizeof *g->pg, cap * sizeof *g->pg, MREMAP_MAYMOVE);
        if (m == MAP_FAILED)
            return; /* that group is not guarded; the others still are */
        g->pg = m;
        g->cap = cap;
    }
    g->pg[g->n++] = pgid;
}

static void groups_del(groups *g, int32_t pgid)
{
    for (size_t i = g->n; i-- > 0;)
        if (g->pg[i] == pgid) {
            g->pg[i] = g->pg[--g->n];
            return;
        }
}

static void __attribute__((noreturn)) guard_main(int sock)
{
    /* Nothing of the tool's is held open here (its stdout pipe above
     * all, whose reader waits for every writer): only the socket, as 0. */
    if (sock != 0 && dup2(sock, 0) < 0)
        _exit(1);
#ifdef SYS_close_range
    syscall(SYS_close_range, 1U, ~0U, 0U);
#endif
    /* Ctrl-C and a TERM to the tool's group are the tool's to handle: the
     * guard must outlive it to do its work. Handlers the tool installed
     * must not run on this copy of its memory. */
    struct sigaction ign = {.sa_handler = SIG_IGN}, dfl = {.sa_handler = SIG_DFL}, old;
    sigemptyset(&ign.sa_mask);
    sigemptyset(&dfl.sa_mask);
    for (int sig = 1; sig < NSIG; sig++)
        if (sigaction(sig, NULL, &old) == 0 && old.sa_handler != SIG_DFL &&
            old.sa_handler != SIG_IGN)
            sigaction(sig, &dfl, NULL);
    sigaction(SIGINT, &ign, NULL);
    sigaction(SIGTERM, &ign, NULL);
    sigaction(SIGHUP, &ign, NULL);
    sigaction(SIGQUIT, &ign, NULL);
    sigaction(SIGPIPE, &ign, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    groups g = {0};
    for (;;) {
        int32_t m;
        ssize_t n = recv(0, &m, sizeof m, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof m)
            break; /* end of file: every writer is gone */
        if (m > 0)
            groups_add(&g, m);
        else if (m < 0)
            groups_del(&g, -m);
    }
    for (size_t i = 0; i < g.n; i++)
        kill(-(pid_t)g.pg[i], SIGKILL);
    _exit(0);
}

int ctk_guard_start(void)
{
    pthread_mutex_lock(&guard_lock);
    if (guard_fd >= 0) {
        pthread_mutex_unlock(&guard_lock);
        return 0;
    }
    int sv[2];
    /* SEQPACKET: one note per record, and end-of-file once the last
     * writer closes (a datagram socket would never see one). */
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        int rc = -errno;
        pthread_mutex_unlock(&guard_lock);
        return rc;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[1]);
        guard_main(sv[0]);
    }
    int fork_errno = errno;
    close(sv[0]);
    if (pid < 0) {
        close(sv[1]);
        pthread_mutex_unlock(&guard_lock);
        return -fork_errno;
    }
    guard_fd = sv[1];
    pthread_mutex_unlock(&guard_lock);
    return 0;
}

void ctk_guard_note(pid_t pgid, int running)
{
    int fd = __atomic_load_n(&guard_fd, __ATOMIC_SEQ_CST);
    if (fd < 0 || pgid <= 0)
        return;
    int32_t m = running ? (int32_t)pgid : -(int32_t)pgid;
    /* A guard that died (killed by pid) costs us nothing but the note. */
    while (send(fd, &m, sizeof m, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}
