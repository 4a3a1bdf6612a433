/*
 * ctk/spawn.h: starts one child command and collects what it did: its
 * exit status or signal, its time, and its output, as cpar and cpipe need.
 *
 * The API is blocking and usable from any thread. It comes in pieces so
 * that each strategy takes what it needs: ctk_spawn_start() sets the child
 * up and hands back its pid and pipe ends; ctk_spawn_finish() feeds stdin,
 * drains stdout and stderr, enforces the deadline and reaps the child;
 * ctk_spawn_run() does both. Captured output lives in a ctk_spawn_stream,
 * which an event-loop strategy can also fill itself.
 *
 * Every child leads its own process group (pgid = pid), so a signal, a
 * timeout or ctk_spawn_terminate() reaches the whole job tree. The child
 * starts with an empty signal mask and default dispositions, whatever the
 * caller blocked or ignored. Nothing but fds 0, 1 and 2 reaches it.
 *
 * The caller must not ignore SIGCHLD or reap with waitpid(-1): the child
 * is waited for by pid, on every path, so no zombie is left behind. Nor
 * may another thread setenv() while a child with opts.env starts.
 */
#ifndef CTK_SPAWN_H
#define CTK_SPAWN_H

#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ctk/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- captured output ---------------------------------------------------- */

/* The first `limit` bytes stay in memory; the rest go to an unlinked
 * temporary file, so a job writing 2 GB holds at most `limit` of RAM. */
typedef struct ctk_spawn_stream {
    ctk_buf mem;        /* the first bytes, at most limit */
    int spill_fd;       /* unlinked file with the bytes after them, or -1 */
    uint64_t spill_at;  /* where in spill_fd they start: 0, but for a view
                           of a range of a spool (ctkx/spool.h) */
    uint64_t bytes;     /* everything captured */
    size_t limit;       /* memory bound */
    const char *tmpdir; /* where to spill; NULL: $TMPDIR, else /tmp */
} ctk_spawn_stream;

#define CTK_SPAWN_MEM_LIMIT ((size_t)1 << 20)

/* limit 0 means CTK_SPAWN_MEM_LIMIT. tmpdir is borrowed, not copied. */
void ctk_spawn_stream_init(ctk_spawn_stream *s, size_t limit, const char *tmpdir);
int ctk_spawn_stream_append(ctk_spawn_stream *s, const void *data, size_t len);
/* Writes everything captured to fd (memory part, then file part with
 * sendfile), retrying short writes, EINTR and EAGAIN. May be repeated. */
int ctk_spawn_stream_copy(const ctk_spawn_stream *s, int fd);
/* Calls fn on the captured bytes in order, in chunks of any size (for
 * --tag, which prefixes lines). Stops at fn's first non-zero return. */
typedef int (*ctk_spawn_chunk_fn)(void *arg, const void *data, size_t len);
int ctk_spawn_stream_foreach(const ctk_spawn_stream *s, ctk_spawn_chunk_fn fn, void *arg);
void ctk_spawn_stream_free(ctk_spawn_stream *s);
/* An anonymous read-write file in tmpdir (NULL: $TMPDIR, else /tmp):
 * O_TMPFILE, or where the file system lacks it a named file unlinked at
 * once, so a kill -9 leaves nothing behind. Close-on-exec; a negative
 * code when it cannot be made. */
int ctk_spawn_tmpfile(const char *tmpdir);

/* ---- the termination sequence ------------------------------------------ */

/* Send signo to the job's process group, then give it ms to end before
 * the next step (GNU parallel's --termseq). */
typedef struct ctk_spawn_termstep {
    int signo;
    unsigned ms;
} ctk_spawn_termstep;

#define CTK_SPAWN_TERMSEQ_MAX 32
/* GNU parallel's default: "TERM,200,TERM,100,TERM,50,KILL,25". */
const ctk_spawn_termstep *ctk_spawn_default_termseq(size_t *n);
/* Parses "SIG,MS,SIG,MS,...": a signal by name (TERM, SIGTERM) or number,
 * then milliseconds; a last signal without milliseconds gets 0. Fills at
 * most max steps. CTK_EINVAL for a bad name or number, CTK_ERANGE for too
 * many steps. */
int ctk_spawn_termseq_parse(const char *text, ctk_spawn_termstep *steps, size_t max, size_t *n);

/* ---- starting and finishing a child ------------------------------------ */

enum ctk_spawn_in {
    CTK_SPAWN_IN_NULL = 0, /* /dev/null (the default) */
    CTK_SPAWN_IN_FD,       /* opts.in_fd, e.g. 0 for the caller's stdin */
    CTK_SPAWN_IN_PIPE,     /* opts.input, written by ctk_spawn_finish */
    CTK_SPAWN_IN_RANGE     /* opts.input (may be empty), then range_len bytes of
                              range_fd from range_offset, moved into the pipe by
                              splice: file pages never pass through user space */
};

enum ctk_spawn_out {
    CTK_SPAWN_CAPTURE = 0, /* into the result's stream (the default: --group) */
    CTK_SPAWN_INHERIT,     /* the caller's fd 1 or 2 (--ungroup) */
    CTK_SPAWN_DISCARD      /* /dev/null */
};

typedef struct ctk_spawn_opts {
    /* Exactly one: argv runs directly (PATH search, no shell); shell runs
     * under /bin/sh -c. */
    const char *const *argv;
    const char *shell;
    /* With argv: the program to execute, found already (a caller running
     * one command many times searches $PATH once); NULL: search for
     * argv[0]. argv[0] stays what the program sees as its name. */
    const char *path;
    /* With shell: the shell to run it with; NULL: /bin/sh. */
    const char *shell_path;
    /* "NAME=value" entries added to (or replacing in) the environment,
     * NULL-terminated; NULL for the caller's environment unchanged. */
    const char *const *env;
    enum ctk_spawn_in in;
    int in_fd;
    const void *input; /* CTK_SPAWN_IN_PIPE: borrowed until finish returns */
    size_t input_len;
    enum ctk_spawn_out out, err;
    size_t mem_limit;                  /* per captured stream; 0: CTK_SPAWN_MEM_LIMIT */
    const char *tmpdir;                /* spill directory; NULL: $TMPDIR, else /tmp */
    double deadline;                   /* ctk_spawn_clock() time to start terminating; 0: none */
    const ctk_spawn_termstep *termseq; /* NULL: the default */
    size_t termseq_len;
    /* The child's working directory; NULL: the caller's. */
    const char *cwd;
    /* 1: env is the child's whole environment, not laid over the
     * caller's (a job re-run with the environment it was queued with). */
    int env_exact;
    /* CTK_SPAWN_CAPTURE with a sink: each chunk read from stream 1 or 2
     * goes to sink as it arrives (cqueue writes it to a file it creates on
     * the first byte) instead of into the result's streams, whose byte
     * counts still grow. A non-zero return is an error, as a failed spill. */
    int (*sink)(void *arg, int stream, const void *data, size_t len);
    void *sink_arg;
    /* CTK_SPAWN_IN_RANGE: a file (or anything pread works on) and the
     * bytes of it the child reads after opts.input. */
    int range_fd;
    uint64_t range_offset, range_len;
    /* The capacity (F_SETPIPE_SZ) of the stdin and stdout pipes: a block
     * of this size moves in one go; 0: the kernel's default. */
    size_t pipe_size;
    /* CTK_SPAWN_IN_PIPE and _RANGE: hand opts.input to the pipe with
     * vmsplice (its pages, not a copy): the caller must neither change nor
     * reuse that memory until finish returns. */
    int input_vmsplice;
    /* NULL, or the fd of a run's cancel (ctk_pipeline_cancel_fd, an
     * eventfd that turns readable and stays so): the wait for the child
     * watches it beside the pipes, and once it is readable the
     * termination sequence begins at once, as with ctk_spawn_terminate.
     * A pointer, so that a zeroed opts never watches fd 0. */
    const int *stop_fd;
} ctk_spawn_opts;

/* A running child. Fields are readable (the pid is also the process
 * group id); only this module changes them. It holds a mutex: keep it in
 * one place from start to dispose, never copy it. */
typedef struct ctk_spawn_child {
    pid_t pid;  /* 0 when none was started, or once reaped */
    int in_fd;  /* write end of the stdin pipe, or -1 */
    int out_fd; /* read ends of the capture pipes, or -1 */
    int err_fd;
    int pidfd;                  /* readable when the child exits, or -1 */
    int wake_fd;                /* eventfd ctk_spawn_terminate() pokes, or -1 */
    int exec_errno;             /* the command could not be started: ENOENT, EACCES */
    int terminate;              /* ctk_spawn_terminate() was called */
    double started;             /* ctk_spawn_clock() just before spawning */
    const ctk_spawn_opts *opts; /* borrowed until finish returns */
    pthread_mutex_t lock;       /* orders signalling against reaping */
} ctk_spawn_child;

typedef struct ctk_spawn_result {
    int exit;        /* exit status 0-255; 0 when a signal ended it */
    int signal;      /* the signal that ended it, or 0 */
    int exec_errno;  /* why it could not start (exit is then 127/126) */
    int timed_out;   /* the deadline passed and the sequence ran */
    int terminated;  /* ctk_spawn_terminate() ended it */
    double started;  /* ctk_spawn_clock() at start */
    double elapsed;  /* seconds from start until reaped */
    double cpu_user; /* CPU seconds of the child and what it waited for */
    double cpu_sys;
    long maxrss_kb;            /* its peak resident set */
    uint64_t in_bytes;         /* input the child accepted (CTK_SPAWN_IN_PIPE) */
    ctk_spawn_stream out, err; /* captured output (empty unless CAPTURE) */
    int input_errno;           /* feeding stdin failed on our side (EIO: the IN_RANGE
                                * file ended before the range); not EPIPE */
} ctk_spawn_result;

/* Monotonic seconds; the clock of opts.deadline and the result's times. */
double ctk_spawn_clock(void);

/* Starts the child. A command that cannot be found or executed is not an
 * error: it returns 0 with child->pid 0 and child->exec_errno set, and
 * ctk_spawn_finish reports exit 127 (126 when not executable) and puts
 * "NAME: command not found" where the child's stderr would have gone, as
 * a shell does. Other failures return a negative code. Either way, call
 * ctk_spawn_dispose afterwards. */
int ctk_spawn_start(ctk_spawn_child *child, const ctk_spawn_opts *opts);
/* Feeds, drains and waits (poll over all pipes at once, so neither side
 * can deadlock), runs the termination sequence on the deadline or on
 * ctk_spawn_terminate, and reaps the child on every path. Fills result,
 * which the caller frees with ctk_spawn_result_free, also on error.
 *
 * Without a deadline or terminate it waits, as GNU parallel does, until
 * the leader has exited and the capture pipes are closed (a background
 * grandchild holding stdout keeps the job running). Once the sequence
 * has begun: each step's signal goes to the whole group; after the last
 * step comes a SIGKILL; whatever is still in the group when the leader is
 * gone gets SIGKILL before the leader is reaped (its zombie keeps the
 * group id from being reused until then); and pipes still held after the
 * sequence, by a process that left the group, are abandoned. A library
 * error (out of memory, a spill file that cannot be written) kills the
 * group too, then reaps, then returns the code. */
int ctk_spawn_finish(ctk_spawn_child *child, ctk_spawn_result *result);
/* Releases the child; kills and reaps one that finish never waited for. */
void ctk_spawn_dispose(ctk_spawn_child *child);
/* start + finish + dispose. */
int ctk_spawn_run(const ctk_spawn_opts *opts, ctk_spawn_result *result);
void ctk_spawn_result_free(ctk_spawn_result *result);

/* ---- a command run many times -------------------------------------------- */

/* The program of a direct command, searched in $PATH once: the same
 * search per job costs as much as the rest of a short job's start. The
 * first name asked for is cached; another name gets NULL (spawn searches
 * it). Thread-safe. */
typedef struct ctk_spawn_program {
    pthread_mutex_t lock;
    char *name, *path;
} ctk_spawn_program;

void ctk_spawn_program_init(ctk_spawn_program *pg);
/* For opts.path: the program for argv[0] `name`, or NULL. */
const char *ctk_spawn_program_path(ctk_spawn_program *pg, const char *name);
void ctk_spawn_program_free(ctk_spawn_program *pg);

/* Zeroed streams would name fd 0 as their spill file: a result that
 * finish (or watch_begin) has not filled yet is initialised so. */
void ctk_spawn_result_init(ctk_spawn_result *r, const ctk_spawn_opts *opts);

/* From any thread, between start and dispose: sends signo to the child's
 * process group now (a no-op once it has been reaped). */
int ctk_spawn_signal(ctk_spawn_child *child, int signo);
/* From any thread, between start and dispose: makes the thread in
 * ctk_spawn_finish run the termination sequence now (--halt now). */
void ctk_spawn_terminate(ctk_spawn_child *child);

/* ---- watching many children from one thread ----------------------------- */

/* ctk_spawn_finish, cut into steps for a caller that serves many children
 * in one poll loop (cpar's process engine): begin after start; then, each
 * turn, fds fills the child's pollfds and the clock time something falls
 * due, and step serves what poll reported. The same termination sequence,
 * deadline and reaping rules as ctk_spawn_finish apply. A caller feeding
 * stdin (CTK_SPAWN_IN_PIPE) must block or ignore SIGPIPE itself. */
typedef struct ctk_spawn_watch ctk_spawn_watch;

/* wake, exit (pidfd), stdin, stdout, stderr, opts.stop_fd: in this order. */
#define CTK_SPAWN_WATCH_FDS 6

/* Returns 0 with *out to watch; 1 when the child never started (the
 * result is complete, *out NULL); or a negative code (the child is killed
 * and reaped). Fills result (free it with ctk_spawn_result_free). */
int ctk_spawn_watch_begin(ctk_spawn_watch **out, ctk_spawn_child *child, ctk_spawn_result *result);
/* Fills p[0..CTK_SPAWN_WATCH_FDS) (fd -1 where nothing is watched) and
 * *due, the ctk_spawn_clock() time to call step even without events (-1:
 * none). Returns 1 when step is due now. */
int ctk_spawn_watch_fds(ctk_spawn_watch *w, struct pollfd *p, double *due);
/* Serves p (as poll returned it). Returns 0 while the child runs, 1 once
 * it is reaped and the result complete, or a negative code (reaped). */
int ctk_spawn_watch_step(ctk_spawn_watch *w, const struct pollfd *p);
/* Frees the watch (after step returned non-zero, or to abandon it: then
 * ctk_spawn_dispose kills and reaps the child). */
void ctk_spawn_watch_free(ctk_spawn_watch *w);

/* ---- the descriptors a run needs ----------------------------------------- */

/* How many descriptors this process has open now. */
unsigned ctk_spawn_open_fds(void);
/* How many of `jobs` children can run at once when each holds up to
 * per_job of our descriptors and `spare` more are needed besides those
 * open now. Raises
 * the soft RLIMIT_NOFILE toward the hard one first, only as far as the
 * run needs (children inherit it, and some programs still walk every
 * possible fd or use select()). Returns jobs, or fewer when even the hard
 * limit is too low (at least 1), with *limit set to the soft limit. */
unsigned ctk_spawn_fit_jobs(unsigned jobs, unsigned per_job, unsigned spare,
                            unsigned long long *limit);

#ifdef __cplusplus
}
#endif
/* The shell GNU parallel would use: the nearest ancestor that is a shell,
 * else $SHELL, else /bin/sh. Free with g_free. */
char *ctk_spawn_find_shell(void);
/* The shell a command must run under, as GNU parallel picks it: bash
 * when its first word names an exported bash function (BASH_FUNC_*),
 * $PARALLEL_SHELL for every command when set; else NULL. g_free it. */
char *ctk_spawn_function_shell(const char *command);

#endif
