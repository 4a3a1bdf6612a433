/* spawn.c: one child command, started with vfork in its own process
 * group and bound to die with the thread that started it, its pipes
 * served by one poll loop (so feeding stdin never waits on a full
 * stdout), its output kept in memory up to a bound and spilled to an
 * unlinked file beyond, and its end enforced by a termination sequence
 * sent to the whole group. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctkx/spawn.h"
#include "ctkx/guard.h"

extern char **environ;

#define CHUNK 65536
/* How often to look for the child's exit when the kernel has no pidfd. */
#define TICK_MS 20

double ctk_spawn_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* ---- captured output ---------------------------------------------------- */

void ctk_spawn_stream_init(ctk_spawn_stream *s, size_t limit, const char *tmpdir)
{
    memset(s, 0, sizeof *s);
    s->spill_fd = -1;
    s->limit = limit > 0 ? limit : CTK_SPAWN_MEM_LIMIT;
    s->tmpdir = tmpdir;
}

void ctk_spawn_stream_free(ctk_spawn_stream *s)
{
    ctk_buf_free(&s->mem);
    close_fd(&s->spill_fd);
    s->bytes = 0;
}

/* An anonymous file: O_TMPFILE where the file system has it, otherwise a
 * named one unlinked at once. Either way nothing is left behind on exit. */
int ctk_spawn_tmpfile(const char *tmpdir)
{
    const char *dir = tmpdir != NULL ? tmpdir : getenv("TMPDIR");
    if (dir == NULL || *dir == '\0')
        dir = "/tmp";
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/ctk-spawn-XXXXXX", dir);
    if (n < 0 || (size_t)n >= sizeof path)
        return CTK_ERANGE;
    fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        return -errno;
    unlink(path);
    return fd;
}

/* Waits until fd takes more bytes: the target of a copy may be
 * non-blocking (a terminal or pipe set so by someone else). */
static int wait_writable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    if (poll(&p, 1, -1) < 0 && errno != EINTR)
        return -errno;
    return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EAGAIN) {
            int rc = wait_writable(fd);
            if (rc < 0)
                return rc;
            continue;
        }
        if (n < 0 && errno != EINTR)
            return -errno;
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        }
    }
    return 0;
}

int ctk_spawn_stream_append(ctk_spawn_stream *s, const void *data, size_t len)
{
    size_t room = s->mem.len < s->limit ? s->limit - s->mem.len : 0;
    size_t keep = len < room ? len : room;
    int rc;
    if (keep > 0 && (rc = ctk_buf_append(&s->mem, data, keep)) < 0)
        return rc;
    if (len > keep) {
        if (s->spill_fd < 0) {
            int fd = ctk_spawn_tmpfile(s->tmpdir);
            if (fd < 0)
                return fd;
            s->spill_fd = fd;
        }
        rc = write_all(s->spill_fd, (const char *)data + keep, len - keep);
        if (rc < 0)
            return rc;
    }
    s->bytes += len;
    return 0;
}

static uint64_t spilled(const ctk_spawn_stream *s)
{
    return s->bytes - s->mem.len;
}

/* The spilled bytes from `off` on. pread, not read: the file offset is
 * left alone, so this may run again (say, for --results, then stdout). */
static int each_spilled(const ctk_spawn_stream *s, uint64_t off, ctk_spawn_chunk_fn fn, void *arg)
{
    int rc = 0;
    char *chunk = malloc(CHUNK);
    if (chunk == NULL)
        return CTK_ENOMEM;
    while (off < spilled(s) && rc == 0) {
        ssize_t n = pread(s->spill_fd, chunk, CHUNK, (off_t)(s->spill_at + off));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : CTK_EIO;
            break;
        }
        off += (uint64_t)n;
        rc = fn(arg, chunk, (size_t)n);
    }
    free(chunk);
    return rc;
}

int ctk_spawn_stream_foreach(const ctk_spawn_stream *s, ctk_spawn_chunk_fn fn, void *arg)
{
    int rc = 0;
    if (s->mem.len > 0 && (rc = fn(arg, s->mem.data, s->mem.len)) != 0)
        return rc;
    return spilled(s) > 0 ? each_spilled(s, 0, fn, arg) : 0;
}

static int write_chunk(void *arg, const void *data, size_t len)
{
    return write_all(*(const int *)arg, data, len);
}

/* The spilled part in the kernel (sendfile); falls back to a copy loop
 * for targets sendfile refuses (an O_APPEND file, for one). */
static int copy_spill(const ctk_spawn_stream *s, int fd)
{
    off_t off = (off_t)s->spill_at;
    while ((uint64_t)off - s->spill_at < spilled(s)) {
        uint64_t left = spilled(s) - ((uint64_t)off - s->spill_at);
        ssize_t n = sendfile(fd, s->spill_fd, &off, left < (1u << 30) ? left : (1u << 30));
        if (n > 0 || (n < 0 && errno == EINTR))
            continue;
        if (n == 0)
            return CTK_EIO;
        if (errno == EAGAIN) {
            int rc = wait_writable(fd);
            if (rc < 0)
                return rc;
            continue;
        }
        if (errno != EINVAL && errno != ENOSYS)
            return -errno;
        return each_spilled(s, (uint64_t)off - s->spill_at, write_chunk, &fd);
    }
    return 0;
}

int ctk_spawn_stream_copy(const ctk_spawn_stream *s, int fd)
{
    int rc = write_all(fd, s->mem.data, s->mem.len);
    if (rc < 0 || spilled(s) == 0)
        return rc;
    return copy_spill(s, fd);
}

/* ---- the termination sequence ------------------------------------------ */

static const ctk_spawn_termstep default_termseq[] = {
    {SIGTERM, 200},
    {SIGTERM, 100},
    {SIGTERM, 50},
    {SIGKILL, 25},
};

const ctk_spawn_termstep *ctk_spawn_default_termseq(size_t *n)
{
    *n = sizeof default_termseq / sizeof default_termseq[0];
    return default_termseq;
}

static const struct {
    const char *name;
    int signo;
} signal_names[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ABRT", SIGABRT}, {"KILL", SIGKILL},
    {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM},
    {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},
};

/* Decimal digits only, at most max. */
static int parse_number(const char *text, size_t len, unsigned long max, unsigned long *out)
{
    unsigned long v = 0;
    if (len == 0)
        return CTK_EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return CTK_EINVAL;
        v = v * 10 + (unsigned long)(text[i] - '0');
        if (v > max)
            return CTK_EINVAL;
    }
    *out = v;
    return 0;
}

static int parse_signal(const char *text, size_t len, int *signo)
{
    unsigned long v;
    if (parse_number(text, len, NSIG - 1, &v) == 0 && v > 0) {
        *signo = (int)v;
        return 0;
    }
    if (len > 3 && strncmp(text, "SIG", 3) == 0) {
        text += 3;
        len -= 3;
    }
    for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++) {
        if (strlen(signal_names[i].name) == len && strncmp(signal_names[i].name, text, len) == 0) {
            *signo = signal_names[i].signo;
            return 0;
        }
    }
    return CTK_EINVAL;
}

int ctk_spawn_termseq_parse(const char *text, ctk_spawn_termstep *steps, size_t max, size_t *n)
{
    size_t count = 0;
    for (int want_signal = 1;; want_signal = !want_signal) {
        size_t len = strcspn(text, ",");
        unsigned long ms = 0;
        int rc;
        if (want_signal) {
            if (count == max)
                return CTK_ERANGE;
            steps[count].ms = 0;
            rc = parse_signal(text, len, &steps[count++].signo);
        } else {
            rc = parse_number(text, len, UINT_MAX, &ms);
            steps[count - 1].ms = (unsigned)ms;
        }
        if (rc < 0)
            return rc;
        if (text[len] == '\0')
            break;
        text += len + 1;
    }
    *n = count;
    return 0;
}

/* ---- starting ----------------------------------------------------------- */

/* Pipe ends of the child's fds 0, 1, 2: ends[i][0] reads, ends[i][1]
 * writes; -1 where that fd is not a pipe. */
typedef int pipe_ends[3][2];

/* A pipe whose ends are CLOEXEC and above 2, so that when the caller runs
 * with fd 0, 1 or 2 closed, the dup2 actions cannot clobber each other. */
static int open_pipe(int ends[2])
{
    if (pipe2(ends, O_CLOEXEC) < 0)
        return -errno;
    for (int i = 0; i < 2; i++) {
        if (ends[i] > 2)
            continue;
        int high = fcntl(ends[i], F_DUPFD_CLOEXEC, 3);
        if (high < 0)
            return -errno;
        close(ends[i]);
        ends[i] = high;
    }
    return 0;
}

static void close_pipes(pipe_ends ends)
{
    for (int i = 0; i < 3; i++) {
        close_fd(&ends[i][0]);
        close_fd(&ends[i][1]);
    }
}

static int open_pipes(const ctk_spawn_opts *o, pipe_ends ends)
{
    int want[3] = {o->in == CTK_SPAWN_IN_PIPE || o->in == CTK_SPAWN_IN_RANGE,
                   o->out == CTK_SPAWN_CAPTURE, o->err == CTK_SPAWN_CAPTURE};
    for (int i = 0; i < 3; i++) {
        int rc = want[i] ? open_pipe(ends[i]) : 0;
        if (rc < 0)
            return rc;
    }
    /* Only our end of the stdin pipe is non-blocking, so a partial write
     * returns to the poll loop instead of stalling the drain. */
    if (ends[0][1] >= 0 && fcntl(ends[0][1], F_SETFL, O_NONBLOCK) < 0)
        return -errno;
    /* A larger pipe is an optimisation only: a refusal (over
     * /proc/sys/fs/pipe-max-size) leaves the default. */
    for (int i = 0; i < 2 && o->pipe_size > 0; i++)
        if (ends[i][0] >= 0)
            (void)fcntl(ends[i][0], F_SETPIPE_SZ, (int)o->pipe_size);
    return 0;
}

/* Whether `entry` ("NAME=...") is replaced by one of `extra`. */
static int overridden(const char *entry, const char *const *extra)
{
    size_t name_len = strcspn(entry, "=");
    for (; *extra != NULL; extra++)
        if (strncmp(*extra, entry, name_len + 1) == 0)
            return 1;
    return 0;
}

/* The caller's environment with `extra` laid over it. The strings are
 * borrowed; only the array is allocated. */
static int merge_env(char ***out, const char *const *extra)
{
    size_t n = 0, m = 0;
    while (environ[n] != NULL)
        n++;
    while (extra[m] != NULL)
        m++;
    char **env = calloc(n + m + 1, sizeof *env);
    if (env == NULL)
        return CTK_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!overridden(environ[i], extra))
            env[k++] = environ[i];
    for (size_t i = 0; i < m; i++)
        env[k++] = (char *)extra[i];
    *out = env;
    return 0;
}

static int valid_opts(const ctk_spawn_opts *o)
{
    int direct = o->argv != NULL && o->argv[0] != NULL;
    if (direct == (o->shell != NULL))
        return 0;
    if (o->in == CTK_SPAWN_IN_FD && o->in_fd < 0)
        return 0;
    if (o->in == CTK_SPAWN_IN_RANGE && o->range_len > 0 && o->range_fd < 0)
        return 0;
    if (o->env_exact && o->env == NULL)
        return 0;
    return (o->in != CTK_SPAWN_IN_PIPE && o->in != CTK_SPAWN_IN_RANGE) || o->input != NULL ||
           o->input_len == 0;
}

/* Errors of the exec itself, which a shell reports as the command's
 * failure (126/127); anything else (no memory, a bad fd) is ours. */
static int is_exec_failure(int err)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR:
    case EACCES:
    case EPERM:
    case ENOEXEC:
    case E2BIG:
    case ELOOP:
    case ENAMETOOLONG:
    case ETXTBSY:
    case EISDIR:
        return 1;
    default:
        return 0;
    }
}

/* What the child of vfork needs: everything decided before it runs, so
 * that it only makes system calls. */
typedef struct launch {
    const ctk_spawn_opts *o;
    const char *file; /* execve's path */
    char *const *argv;
    char *const *envp;
    int from[3]; /* the fd to become 0, 1, 2; -1: leave it; -2: /dev/null */
    pid_t parent;
    int report_fd; /* the child writes its errno here when exec fails */
} launch;

static const int reset_signals[] = {SIGINT,  SIGTERM, SIGHUP,  SIGPIPE, SIGQUIT, SIGCHLD, SIGUSR1,
                                    SIGUSR2, SIGALRM, SIGTSTP, SIGTTIN, SIGTTOU, SIGXFSZ, SIGXCPU};

static int child_fd(int target, int from)
{
    int flags = target == 0 ? O_RDONLY : O_WRONLY;
    if (from == -2 && (from = open("/dev/null", flags | O_CLOEXEC)) < 0)
        return -1;
    return from >= 0 && from != target && dup2(from, target) < 0 ? -1 : 0;
}

/* The child: runs on the parent's memory until exec, so it touches
 * nothing but its stack, and leaves by exec or _exit. */
static void __attribute__((noreturn, noinline)) launch_child(launch *l)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL}, old;
    sigemptyset(&dfl.sa_mask);
    /* Handlers of the caller must not run here (its memory is ours), and
     * a job starts as from a shell: what was caught or ignored is reset. */
    for (int sig = 1; sig < NSIG; sig++)
        if (sigaction(sig, NULL, &old) == 0 && old.sa_handler != SIG_DFL &&
            old.sa_handler != SIG_IGN)
            sigaction(sig, &dfl, NULL);
    for (size_t i = 0; i < sizeof reset_signals / sizeof reset_signals[0]; i++)
        sigaction(reset_signals[i], &dfl, NULL);
    /* The job dies with the thread that started it (kill -9 of cpar or
     * cpipe included). That thread is the one that waits for it and
     * reaps it in every strategy (sync: the caller; thread: the pool
     * worker, which lives until the run ends; async: the loop thread;
     * process: the worker's own thread), so it never exits first while
     * the job is wanted. A parent already gone before the prctl took
     * effect is seen by getppid. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != l->parent)
        goto fail;
    if (setpgid(0, 0) < 0)
        goto fail;
    for (int i = 0; i < 3; i++)
        if (child_fd(i, l->from[i]) < 0)
            goto fail;
    if (l->o->cwd != NULL && chdir(l->o->cwd) < 0)
        goto fail;
#ifdef SYS_close_range
    /* Our fds are CLOEXEC, but fds other code left inheritable must not
     * reach the job either (a held pipe end would keep a reader waiting).
     * The report pipe stays until exec closes it. */
    if (l->report_fd > 3)
        syscall(SYS_close_range, 3U, (unsigned)l->report_fd - 1, 0U);
    syscall(SYS_close_range, (unsigned)l->report_fd + 1, ~0U, 0U);
#endif
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(l->file, l->argv, l->envp);
fail:;
    int err = errno != 0 ? errno : ECHILD;
    ssize_t n;
    do
        n = write(l->report_fd, &err, sizeof err);
    while (n < 0 && errno == EINTR);
    _exit(127);
}

/* A close-on-exec pipe the child reports a failed exec on: EOF means the
 * exec happened. Not the child writing into our memory, which only a real
 * vfork shares (the sanitizers' vfork is a fork). Both ends above 2, so
 * the child's dup2 onto 0-2 cannot take them. */
static int open_report(int report[2])
{
    if (pipe2(report, O_CLOEXEC) < 0)
        return -errno;
    for (int i = 0; i < 2; i++) {
        if (report[i] > 2)
            continue;
        int moved = fcntl(report[i], F_DUPFD_CLOEXEC, 3);
        int err = errno;
        close(report[i]);
        report[i] = moved;
        if (moved < 0) {
            close(report[1 - i]);
            return -err;
        }
    }
    return 0;
}

/* What the child reported: its errno, or 0 once it has exec'd. */
static int read_report(int fd)
{
    int err = 0;
    ssize_t n;
    do
        n = read(fd, &err, sizeof err);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof err ? err : 0;
}

/* vfork rather than posix_spawn: the child must set PR_SET_PDEATHSIG,
 * which posix_spawn has no attribute for. */
static int spawn_process(ctk_spawn_child *c, pipe_ends ends, char *const *envp)
{
    const ctk_spawn_opts *o = c->opts;
    char *sh_argv[] = {"sh", "-c", (char *)o->shell, NULL};
    launch l = {.o = o, .envp = envp, .parent = getpid()};
    if (o->shell != NULL) {
        l.file = o->shell_path ? o->shell_path : "/bin/sh";
        l.argv = sh_argv;
    } else {
        l.argv = (char *const *)o->argv;
    }
    /* The $PATH search is done here, not by execvpe in the child, which
     * would run a file that is not an executable with /bin/sh (posix_spawn
     * and a shell say "Exec format error"). */
    char *found = NULL;
    if (o->shell == NULL && o->path == NULL && strchr(o->argv[0], '/') == NULL &&
        (found = g_find_program_in_path(o->argv[0])) == NULL) {
        c->pid = 0;
        c->exec_errno = ENOENT;
        return 0;
    }
    if (o->shell == NULL)
        l.file = found != NULL ? found : o->path != NULL ? o->path : o->argv[0];
    l.from[0] = ends[0][0] >= 0              ? ends[0][0]
                : o->in == CTK_SPAWN_IN_NULL ? -2
                : o->in == CTK_SPAWN_IN_FD   ? o->in_fd
                                             : -1;
    l.from[1] = ends[1][1] >= 0 ? ends[1][1] : o->out == CTK_SPAWN_DISCARD ? -2 : -1;
    l.from[2] = ends[2][1] >= 0 ? ends[2][1] : o->err == CTK_SPAWN_DISCARD ? -2 : -1;
    int report[2];
    int rc = open_report(report);
    if (rc < 0) {
        g_free(found);
        return rc;
    }
    l.report_fd = report[1];
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = vfork();
    if (pid == 0)
        launch_child(&l);
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    g_free(found);
    close(report[1]);
    if (pid < 0) {
        close(report[0]);
        return -fork_errno;
    }
    rc = read_report(report[0]);
    close(report[0]);
    if (rc == 0) {
        c->pid = pid;
        /* The group is set up (vfork held us until exec): a kill -9 of
         * us from now on ends all of it, not only its leader. */
        ctk_guard_note(pid, 1);
        return 0;
    }
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    c->pid = 0;
    /* The exec's errno is the job failing (as in a shell), not us. */
    if (!is_exec_failure(rc))
        return -rc;
    c->exec_errno = rc;
    return 0;
}

/* The kernel fds that let finish sleep in one poll: the child's exit
 * (pidfd) and a terminate request from another thread (eventfd). */
static int open_waiters(ctk_spawn_child *c)
{
#ifdef SYS_pidfd_open
    c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
#endif
    /* Without a pidfd finish polls for the exit every TICK_MS instead. */
    c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return c->wake_fd < 0 ? -errno : 0;
}

static void child_init(ctk_spawn_child *c, const ctk_spawn_opts *o)
{
    memset(c, 0, sizeof *c);
    c->in_fd = c->out_fd = c->err_fd = c->pidfd = c->wake_fd = -1;
    c->opts = o;
    pthread_mutex_init(&c->lock, NULL);
}

/* Keeps our ends of the pipes; the child's ends close with the rest. */
static void take_ends(ctk_spawn_child *c, pipe_ends ends)
{
    c->in_fd = ends[0][1];
    c->out_fd = ends[1][0];
    c->err_fd = ends[2][0];
    ends[0][1] = ends[1][0] = ends[2][0] = -1;
}

int ctk_spawn_start(ctk_spawn_child *c, const ctk_spawn_opts *o)
{
    child_init(c, o);
    if (!valid_opts(o))
        return CTK_EINVAL;
    pipe_ends ends = {{-1, -1}, {-1, -1}, {-1, -1}};
    char **env = NULL;
    int rc = open_pipes(o, ends);
    if (rc < 0)
        goto fail_pipes;
    if (o->env != NULL && !o->env_exact && (rc = merge_env(&env, o->env)) < 0)
        goto fail_pipes;
    c->started = ctk_spawn_clock();
    rc = spawn_process(c, ends, o->env_exact ? (char **)o->env : env != NULL ? env : environ);
    if (rc == 0 && c->pid > 0) {
        take_ends(c, ends);
        rc = open_waiters(c);
    }
    free(env);
fail_pipes:
    close_pipes(ends);
    return rc;
}

/* ---- signalling --------------------------------------------------------- */

int ctk_spawn_signal(ctk_spawn_child *c, int signo)
{
    int rc = 0;
    pthread_mutex_lock(&c->lock);
    /* Under the lock the pid cannot be reaped (and so reused) meanwhile. */
    if (c->pid > 0 && kill(-c->pid, signo) < 0)
        rc = -errno;
    pthread_mutex_unlock(&c->lock);
    return rc;
}

void ctk_spawn_terminate(ctk_spawn_child *c)
{
    pthread_mutex_lock(&c->lock);
    __atomic_store_n(&c->terminate, 1, __ATOMIC_RELAXED);
    if (c->wake_fd >= 0) {
        uint64_t one = 1;
        ssize_t n = write(c->wake_fd, &one, sizeof one);
        (void)n; /* only EAGAIN on a counter already set: still woken */
    }
    pthread_mutex_unlock(&c->lock);
}

/* ---- finishing ---------------------------------------------------------- */

typedef struct drain {
    ctk_spawn_child *c;
    ctk_spawn_result *r;
    const ctk_spawn_termstep *seq;
    size_t seq_len;
    size_t step;     /* next step of the sequence; seq_len is the final KILL */
    double step_end; /* when the next step is due */
    int killing;     /* the sequence has begun */
    int exited;      /* the leader has exited (a zombie until reaped) */
    int got_epipe;   /* a write to stdin raised SIGPIPE */
    size_t in_off;   /* input written so far */
    char *chunk;
} drain;

/* Looks at the leader's exit without reaping it: while it is a zombie its
 * pid, and so its process group id, cannot be reused, so the sequence can
 * still be sent to the group's remaining members safely. */
static int leader_exited(const ctk_spawn_child *c)
{
    siginfo_t si;
    si.si_pid = 0;
    if (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
        return errno != EINTR; /* ECHILD: someone else reaped it */
    return si.si_pid != 0;
}

static int job_done(const drain *d, double now)
{
    if (!d->exited)
        return 0;
    if (d->c->out_fd < 0 && d->c->err_fd < 0)
        return 1;
    /* The whole sequence ran and the leader is gone: whoever still holds
     * the pipes left the group (setsid); stop waiting for them. */
    return d->killing && d->step > d->seq_len && now >= d->step_end;
}

static void begin_kill(drain *d, double now)
{
    if (d->killing)
        return;
    if (__atomic_load_n(&d->c->terminate, __ATOMIC_RELAXED))
        d->r->terminated = 1;
    else if (d->c->opts->deadline > 0 && now >= d->c->opts->deadline)
        d->r->timed_out = 1;
    else
        return;
    d->killing = 1;
    d->step = 0;
    d->step_end = now;
}

/* Sends every step that is due. After the given sequence comes a KILL,
 * so a job that ignores the sequence's signals still ends. */
static void advance_kill(drain *d, double now)
{
    begin_kill(d, now);
    while (d->killing && d->step <= d->seq_len && now >= d->step_end) {
        int last = d->step == d->seq_len;
        int signo = last ? SIGKILL : d->seq[d->step].signo;
        d->step_end = now + (last ? 0 : d->seq[d->step].ms / 1000.0);
        d->step++;
        kill(-d->c->pid, signo);
    }
}

/* Milliseconds until something is due: a step, the deadline, a tick. */
static int poll_timeout(const drain *d, double now)
{
    double due = -1;
    if (d->killing && d->step <= d->seq_len)
        due = d->step_end;
    else if (!d->killing && d->c->opts->deadline > 0)
        due = d->c->opts->deadline;
    if (d->c->pidfd < 0 && !d->exited && (due < 0 || due > now + TICK_MS / 1000.0))
        due = now + TICK_MS / 1000.0;
    if (due < 0)
        return -1;
    double ms = (due - now) * 1000.0 + 1; /* +1: never wake just early */
    return ms < 0 ? 0 : ms > INT_MAX ? INT_MAX : (int)ms;
}

/* vmsplice gives the pipe our pages instead of a copy of them; where the
 * kernel refuses, write copies. */
static ssize_t write_input(int fd, const char *data, size_t len, int vmsplice_ok)
{
    if (vmsplice_ok) {
        struct iovec iov = {(void *)data, len};
        ssize_t n = vmsplice(fd, &iov, 1, SPLICE_F_NONBLOCK);
        if (n >= 0 || (errno != EINVAL && errno != ENOSYS))
            return n;
    }
    return write(fd, data, len);
}

/* Bytes the child is to read: the input, then a file range after it. */
static uint64_t input_total(const ctk_spawn_opts *o)
{
    return o->input_len + (o->in == CTK_SPAWN_IN_RANGE ? o->range_len : 0);
}

/* Moves file pages into the pipe by splice; where the fd does not
 * splice (EINVAL), reads and writes instead, counting only what the pipe
 * took (the rest is read again next time). */
static ssize_t feed_range(drain *d, uint64_t done)
{
    const ctk_spawn_opts *o = d->c->opts;
    uint64_t left = o->range_len - done;
    loff_t off = (loff_t)(o->range_offset + done);
    size_t want = left > (uint64_t)1 << 30 ? (size_t)1 << 30 : (size_t)left;
    ssize_t n =
        splice(o->range_fd, &off, d->c->in_fd, NULL, want, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
    if (n > 0 || (n < 0 && errno != EINVAL))
        return n;
    ssize_t got = n < 0 ? pread(o->range_fd, d->chunk, want < CHUNK ? want : CHUNK, (off_t)off) : 0;
    if (got <= 0) {
        errno = got == 0 ? EIO : errno; /* the file ended before the range */
        return -1;
    }
    return write(d->c->in_fd, d->chunk, (size_t)got);
}

static void feed_input(drain *d)
{
    const ctk_spawn_opts *o = d->c->opts;
    ssize_t n = 0;
    if (d->in_off < o->input_len)
        n = write_input(d->c->in_fd, (const char *)o->input + d->in_off, o->input_len - d->in_off,
                        o->input_vmsplice);
    else if (d->in_off < input_total(o))
        n = feed_range(d, d->in_off - o->input_len);
    if (n > 0) {
        d->in_off += (size_t)n;
        d->r->in_bytes = d->in_off;
    }
    if (n < 0 && errno == EPIPE)
        d->got_epipe = 1;
    else if (n < 0 && errno != EAGAIN && errno != EINTR)
        d->r->input_errno = errno;
    /* Closing is the child's end of input: all written, or it stopped
     * reading. */
    if (d->in_off == input_total(o) || (n < 0 && errno != EAGAIN && errno != EINTR))
        close_fd(&d->c->in_fd);
}

static int read_output(drain *d, int *fd, ctk_spawn_stream *s)
{
    ssize_t n = read(*fd, d->chunk, CHUNK);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0) {
        close_fd(fd);
        return 0;
    }
    const ctk_spawn_opts *o = d->c->opts;
    if (o->sink != NULL) {
        s->bytes += (uint64_t)n;
        return o->sink(o->sink_arg, s == &d->r->out ? 1 : 2, d->chunk, (size_t)n);
    }
    return ctk_spawn_stream_append(s, d->chunk, (size_t)n);
}

static int serve(drain *d, const struct pollfd *p)
{
    int rc = 0;
    if (p[0].revents != 0) {
        uint64_t count;
        ssize_t n = read(d->c->wake_fd, &count, sizeof count);
        (void)n; /* the flag, not the count, is what matters */
    }
    if (p[1].revents != 0 || (d->c->pidfd < 0 && !d->exited))
        d->exited = leader_exited(d->c);
    if (p[2].revents != 0)
        feed_input(d);
    if (p[3].revents != 0)
        rc = read_output(d, &d->c->out_fd, &d->r->out);
    if (rc == 0 && p[4].revents != 0)
        rc = read_output(d, &d->c->err_fd, &d->r->err);
    if (p[5].fd >= 0 && p[5].revents != 0)
        __atomic_store_n(&d->c->terminate, 1, __ATOMIC_RELAXED);
    return rc;
}

/* What the wait for a child sleeps on. The stop fd stays readable once
 * it is: after it has begun the sequence it is no longer watched, or
 * every poll would return at once. */
static void watched_fds(const drain *d, struct pollfd *p)
{
    const ctk_spawn_opts *o = d->c->opts;
    int stopping = __atomic_load_n(&d->c->terminate, __ATOMIC_RELAXED);
    p[0] = (struct pollfd){.fd = d->c->wake_fd, .events = POLLIN};
    p[1] = (struct pollfd){.fd = d->exited ? -1 : d->c->pidfd, .events = POLLIN};
    p[2] = (struct pollfd){.fd = d->c->in_fd, .events = POLLOUT};
    p[3] = (struct pollfd){.fd = d->c->out_fd, .events = POLLIN};
    p[4] = (struct pollfd){.fd = d->c->err_fd, .events = POLLIN};
    p[5] =
        (struct pollfd){.fd = o->stop_fd != NULL && !stopping ? *o->stop_fd : -1, .events = POLLIN};
}

static int drain_loop(drain *d)
{
    for (;;) {
        double now = ctk_spawn_clock();
        advance_kill(d, now);
        if (job_done(d, now))
            return 0;
        struct pollfd p[CTK_SPAWN_WATCH_FDS];
        watched_fds(d, p);
        int n = poll(p, CTK_SPAWN_WATCH_FDS, poll_timeout(d, now));
        if (n < 0 && errno != EINTR)
            return -errno;
        int rc = n > 0 || d->c->pidfd < 0 ? serve(d, p) : 0;
        if (rc < 0)
            return rc;
    }
}

/* Reaps the leader, first making sure that on the kill path (or on our
 * own error) nothing of the job tree outlives it. */
static int reap(drain *d, int force)
{
    ctk_spawn_child *c = d->c;
    if (d->killing || force)
        kill(-c->pid, SIGKILL);
    pthread_mutex_lock(&c->lock);
    pid_t pid = c->pid;
    c->pid = 0; /* from here signals would reach a reusable pid */
    close_fd(&c->wake_fd);
    pthread_mutex_unlock(&c->lock);
    /* Before the reap: until then the group id cannot be reused. */
    ctk_guard_note(pid, 0);
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0)
        if (errno != EINTR)
            return errno == ECHILD ? CTK_ECHILD : -errno;
    ctk_spawn_result *r = d->r;
    r->elapsed = ctk_spawn_clock() - r->started;
    r->exit = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
    r->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    r->cpu_user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    r->cpu_sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    r->maxrss_kb = ru.ru_maxrss;
    return 0;
}

/* Writing to a child that stopped reading raises SIGPIPE in this thread:
 * keep it blocked meanwhile and take back the one we caused, so the
 * caller's process is not killed by its job's choice. */
static void pipe_guard_begin(sigset_t *old, int *was_pending)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, old);
    sigpending(&pending);
    *was_pending = sigismember(&pending, SIGPIPE);
}

static void pipe_guard_end(const sigset_t *old, int was_pending, int got_epipe)
{
    if (got_epipe && !was_pending) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        struct timespec zero = {0, 0};
        while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

static int drain_and_reap(drain *d)
{
    sigset_t old;
    int was_pending;
    if (input_total(d->c->opts) == 0)
        close_fd(&d->c->in_fd); /* nothing to feed: EOF at once */
    pipe_guard_begin(&old, &was_pending);
    int rc = drain_loop(d);
    pipe_guard_end(&old, was_pending, d->got_epipe);
    int reaped = reap(d, rc < 0);
    return rc < 0 ? rc : reaped;
}

/* Fixed texts rather than strerror, which is not thread-safe. */
static const char *exec_failure_reason(const char *name, int err)
{
    switch (err) {
    case ENOENT:
        return strchr(name, '/') == NULL ? "command not found" : "No such file or directory";
    case ENOTDIR:
        return "Not a directory";
    case EACCES:
    case EPERM:
        return "Permission denied";
    case ENOEXEC:
        return "Exec format error";
    case E2BIG:
        return "Argument list too long";
    default:
        return "cannot execute";
    }
}

/* What a shell says and returns when it cannot run a command. */
static int exec_failure_text(const char *name, int err, char *text, size_t len)
{
    snprintf(text, len, "%s: %s\n", name, exec_failure_reason(name, err));
    return err == ENOENT || err == ENOTDIR ? 127 : 126;
}

/* A command that never started: the shell's exit code, and its message
 * where the child's stderr would have gone. */
static int report_exec_failure(ctk_spawn_child *c, ctk_spawn_result *r)
{
    const ctk_spawn_opts *o = c->opts;
    char text[512];
    const char *name = o->shell != NULL ? "/bin/sh" : o->argv[0];
    r->exit = exec_failure_text(name, c->exec_errno, text, sizeof text);
    r->exec_errno = c->exec_errno;
    if (o->err == CTK_SPAWN_CAPTURE && o->sink != NULL)
        return o->sink(o->sink_arg, 2, text, strlen(text));
    if (o->err == CTK_SPAWN_CAPTURE)
        return ctk_spawn_stream_append(&r->err, text, strlen(text));
    if (o->err == CTK_SPAWN_INHERIT)
        return write_all(2, text, strlen(text));
    return 0;
}

static void close_child_fds(ctk_spawn_child *c)
{
    close_fd(&c->in_fd);
    close_fd(&c->out_fd);
    close_fd(&c->err_fd);
    close_fd(&c->pidfd);
}

void ctk_spawn_result_init(ctk_spawn_result *r, const ctk_spawn_opts *o)
{
    memset(r, 0, sizeof *r);
    ctk_spawn_stream_init(&r->out, o->mem_limit, o->tmpdir);
    ctk_spawn_stream_init(&r->err, o->mem_limit, o->tmpdir);
}

int ctk_spawn_finish(ctk_spawn_child *c, ctk_spawn_result *r)
{
    const ctk_spawn_opts *o = c->opts;
    ctk_spawn_result_init(r, o);
    r->started = c->started;
    if (c->pid <= 0)
        return c->exec_errno != 0 ? report_exec_failure(c, r) : CTK_EINVAL;
    drain d = {.c = c, .r = r};
    d.seq = o->termseq != NULL ? o->termseq : ctk_spawn_default_termseq(&d.seq_len);
    if (o->termseq != NULL)
        d.seq_len = o->termseq_len;
    int rc = CTK_ENOMEM;
    d.chunk = malloc(CHUNK);
    if (d.chunk != NULL)
        rc = drain_and_reap(&d);
    else
        reap(&d, 1);
    free(d.chunk);
    close_child_fds(c);
    return rc;
}

void ctk_spawn_dispose(ctk_spawn_child *c)
{
    /* A child that finish never reaped is killed, group and all, and
     * waited for: no path leaves a zombie or an orphaned job. */
    if (c->pid > 0) {
        kill(-c->pid, SIGKILL);
        ctk_guard_note(c->pid, 0);
        while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        c->pid = 0;
    }
    close_child_fds(c);
    close_fd(&c->wake_fd);
    pthread_mutex_destroy(&c->lock);
}

int ctk_spawn_run(const ctk_spawn_opts *o, ctk_spawn_result *r)
{
    ctk_spawn_child c;
    int rc = ctk_spawn_start(&c, o);
    if (rc == 0)
        rc = ctk_spawn_finish(&c, r);
    else
        ctk_spawn_result_init(r, o); /* so that ctk_spawn_result_free is always right */
    ctk_spawn_dispose(&c);
    return rc;
}

/* ---- a command run many times ---------------------------------------------- */

void ctk_spawn_program_init(ctk_spawn_program *pg)
{
    pthread_mutex_init(&pg->lock, NULL);
    pg->name = pg->path = NULL;
}

const char *ctk_spawn_program_path(ctk_spawn_program *pg, const char *name)
{
    if (strchr(name, '/') != NULL)
        return NULL;
    pthread_mutex_lock(&pg->lock);
    if (pg->name == NULL) {
        pg->name = g_strdup(name);
        pg->path = g_find_program_in_path(name);
    }
    const char *path = strcmp(pg->name, name) == 0 ? pg->path : NULL;
    pthread_mutex_unlock(&pg->lock);
    return path;
}

void ctk_spawn_program_free(ctk_spawn_program *pg)
{
    g_free(pg->name);
    g_free(pg->path);
    pthread_mutex_destroy(&pg->lock);
}

void ctk_spawn_result_free(ctk_spawn_result *r)
{
    ctk_spawn_stream_free(&r->out);
    ctk_spawn_stream_free(&r->err);
}

/* ---- watching from an event loop ---------------------------------------- */

struct ctk_spawn_watch {
    drain d;
};

int ctk_spawn_watch_begin(ctk_spawn_watch **out, ctk_spawn_child *c, ctk_spawn_result *r)
{
    const ctk_spawn_opts *o = c->opts;
    *out = NULL;
    ctk_spawn_result_init(r, o);
    r->started = c->started;
    if (c->pid <= 0) {
        int rc = c->exec_errno != 0 ? report_exec_failure(c, r) : CTK_EINVAL;
        return rc < 0 ? rc : 1;
    }
    ctk_spawn_watch *w = calloc(1, sizeof *w);
    char *chunk = malloc(CHUNK);
    if (w == NULL || chunk == NULL) {
        drain d = {.c = c, .r = r};
        reap(&d, 1);
        close_child_fds(c);
        free(w);
        free(chunk);
        return CTK_ENOMEM;
    }
    drain *d = &w->d;
    d->c = c;
    d->r = r;
    d->chunk = chunk;
    d->seq = o->termseq != NULL ? o->termseq : ctk_spawn_default_termseq(&d->seq_len);
    if (o->termseq != NULL)
        d->seq_len = o->termseq_len;
    if (input_total(o) == 0)
        close_fd(&c->in_fd);
    *out = w;
    return 0;
}

int ctk_spawn_watch_fds(ctk_spawn_watch *w, struct pollfd *p, double *due)
{
    drain *d = &w->d;
    double now = ctk_spawn_clock();
    advance_kill(d, now);
    watched_fds(d, p);
    if (job_done(d, now)) {
        *due = now;
        return 1;
    }
    int ms = poll_timeout(d, now);
    *due = ms < 0 ? -1 : now + ms / 1000.0;
    return 0;
}

int ctk_spawn_watch_step(ctk_spawn_watch *w, const struct pollfd *p)
{
    drain *d = &w->d;
    int events = 0;
    for (int i = 0; i < CTK_SPAWN_WATCH_FDS; i++)
        events |= p[i].fd >= 0 && p[i].revents != 0;
    int rc = events || d->c->pidfd < 0 ? serve(d, p) : 0;
    double now = ctk_spawn_clock();
    if (rc == 0) {
        advance_kill(d, now);
        if (!job_done(d, now))
            return 0;
    }
    int reaped = reap(d, rc < 0);
    close_child_fds(d->c);
    return rc < 0 ? rc : reaped < 0 ? reaped : 1;
}

void ctk_spawn_watch_free(ctk_spawn_watch *w)
{
    if (w == NULL)
        return;
    free(w->d.chunk);
    free(w);
}

/* The parent of pid, from /proc; 0 when unknown. */
static pid_t parent_of(pid_t pid)
{
    char path[64], *stat = NULL;
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    if (!g_file_get_contents(path, &stat, NULL, NULL))
        return 0;
    /* "pid (comm) state ppid ...": comm may hold spaces and parentheses. */
    const char *close = strrchr(stat, ')');
    long ppid = 0;
    if (close == NULL || sscanf(close + 1, " %*c %ld", &ppid) != 1)
        ppid = 0;
    g_free(stat);
    return (pid_t)ppid;
}

char *ctk_spawn_find_shell(void)
{
    static const char *const shells[] = {"bash", "dash", "sh", "zsh", "ksh", "mksh", "ash"};
    /* As GNU parallel does: the nearest shell among our ancestors (cpar
     * may run under timeout, nice, env...), else $SHELL, else /bin/sh. */
    pid_t pid = getppid();
    for (int depth = 0; depth < 16 && pid > 1; depth++, pid = parent_of(pid)) {
        char link[64];
        snprintf(link, sizeof link, "/proc/%ld/exe", (long)pid);
        char *exe = g_file_read_link(link, NULL);
        char *base = exe != NULL ? g_path_get_basename(exe) : NULL;
        for (size_t i = 0; base != NULL && i < G_N_ELEMENTS(shells); i++)
            if (strcmp(base, shells[i]) == 0) {
                g_free(base);
                return exe;
            }
        g_free(base);
        g_free(exe);
    }
    const char *env = g_getenv("SHELL");
    return g_strdup(env != NULL && *env == '/' ? env : "/bin/sh");
}

/* Exported bash functions (BASH_FUNC_name%%) exist only in bash: a
 * command naming one runs under bash, and every command under
 * $PARALLEL_SHELL when it is set, as GNU parallel runs them. Returns the
 * shell, or NULL. */
char *ctk_spawn_function_shell(const char *command)
{
    const char *ps = g_getenv("PARALLEL_SHELL");
    if (ps != NULL && *ps != '\0')
        return g_strdup(ps);
    size_t len = strcspn(command, " \t");
    char *name = g_strndup(command, len);
    char *modern = g_strdup_printf("BASH_FUNC_%s%%%%", name);
    char *older = g_strdup_printf("BASH_FUNC_%s()", name);
    int exported = len > 0 && (g_getenv(modern) != NULL || g_getenv(older) != NULL);
    g_free(name);
    g_free(modern);
    g_free(older);
    return exported ? g_find_program_in_path("bash") : NULL;
}

unsigned ctk_spawn_open_fds(void)
{
    GDir *d = g_dir_open("/proc/self/fd", 0, NULL);
    unsigned n = 0;
    if (d == NULL)
        return 3;
    while (g_dir_read_name(d) != NULL)
        n++;
    g_dir_close(d);
    return n > 0 ? n - 1 : 0; /* the directory's own */
}

unsigned ctk_spawn_fit_jobs(unsigned jobs, unsigned per_job, unsigned spare,
                            unsigned long long *limit)
{
    struct rlimit rl;
    *limit = 0;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return jobs;
    /* What is open now is known: a guess of it would cost a small limit
     * (ulimit -n 50) most of its jobs. */
    spare += ctk_spawn_open_fds();
    rlim_t need = (rlim_t)jobs * per_job + spare;
    if (need > rl.rlim_cur && rl.rlim_max > rl.rlim_cur) {
        struct rlimit raised = {need < rl.rlim_max ? need : rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            rl.rlim_cur = raised.rlim_cur;
    }
    *limit = (unsigned long long)rl.rlim_cur;
    if (need <= rl.rlim_cur)
        return jobs;
    return rl.rlim_cur > (rlim_t)spare + per_job ? (unsigned)((rl.rlim_cur - spare) / per_job) : 1;
}
