/* test-spawn.c: exit codes and signals as a shell reports them, a
 * command not found as 127, argv passed unchanged, stdin fed while output
 * drains, output spilled to a file past the memory bound, timeouts that
 * end the whole job tree, kill from another thread, no fd leaks, and
 * passthrough output. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctkx/spawn.h"

static int collect(void *arg, const void *data, size_t len)
{
    g_byte_array_append(arg, data, (guint)len);
    return 0;
}

/* The whole captured stream as a NUL-terminated string (tests only). */
static char *stream_text(const ctk_spawn_stream *s)
{
    GByteArray *all = g_byte_array_new();
    g_assert_cmpint(ctk_spawn_stream_foreach(s, collect, all), ==, 0);
    g_assert_cmpuint(all->len, ==, s->bytes);
    g_byte_array_append(all, (const guint8 *)"", 1);
    return (char *)g_byte_array_free(all, FALSE);
}

static int run_argv(const char *const *argv, ctk_spawn_result *r)
{
    ctk_spawn_opts o = {.argv = argv};
    return ctk_spawn_run(&o, r);
}

static int run_shell(const char *line, ctk_spawn_result *r)
{
    ctk_spawn_opts o = {.shell = line};
    return ctk_spawn_run(&o, r);
}

static void test_exit_codes(void)
{
    ctk_spawn_result r;
    const char *t[] = {"true", NULL}, *f[] = {"false", NULL};
    g_assert_cmpint(run_argv(t, &r), ==, 0);
    g_assert_cmpint(r.exit, ==, 0);
    g_assert_cmpint(r.signal, ==, 0);
    g_assert_cmpfloat(r.elapsed, >, 0);
    ctk_spawn_result_free(&r);
    g_assert_cmpint(run_argv(f, &r), ==, 0);
    g_assert_cmpint(r.exit, ==, 1);
    ctk_spawn_result_free(&r);
    g_assert_cmpint(run_shell("exit 3", &r), ==, 0);
    g_assert_cmpint(r.exit, ==, 3);
    ctk_spawn_result_free(&r);
}

/* Three children served by one poll loop through the watch API: each
 * result complete, a deadline honoured, a command not found reported. */
static void test_watch_many(void)
{
    const char *a[] = {"sh", "-c", "echo one; echo err >&2; exit 4", NULL};
    const char *b[] = {"sleep", "10", NULL};
    const char *c[] = {"no-such-cmd-ctk", NULL};
    ctk_spawn_opts o[3] = {{.argv = a}, {.argv = b}, {.argv = c}};
    o[1].deadline = ctk_spawn_clock() + 0.3;
    ctk_spawn_child kids[3];
    ctk_spawn_result res[3];
    ctk_spawn_watch *w[3];
    int left = 0;
    for (int i = 0; i < 3; i++) {
        g_assert_cmpint(ctk_spawn_start(&kids[i], &o[i]), ==, 0);
        int rc = ctk_spawn_watch_begin(&w[i], &kids[i], &res[i]);
        g_assert_cmpint(rc, ==, i == 2 ? 1 : 0);
        left += rc == 0;
    }
    g_assert_null(w[2]);
    double t0 = ctk_spawn_clock();
    while (left > 0) {
        struct pollfd p[2 * CTK_SPAWN_WATCH_FDS];
        double due = -1;
        for (int i = 0; i < 2; i++) {
            double d;
            if (w[i] == NULL) {
                for (int k = 0; k < CTK_SPAWN_WATCH_FDS; k++)
                    p[i * CTK_SPAWN_WATCH_FDS + k] = (struct pollfd){.fd = -1};
                continue;
            }
            if (ctk_spawn_watch_fds(w[i], &p[i * CTK_SPAWN_WATCH_FDS], &d))
                d = 0;
            if (d >= 0 && (due < 0 || d < due))
                due = d;
        }
        int ms = due < 0 ? -1 : (int)((due - ctk_spawn_clock()) * 1000 + 1);
        g_assert_cmpint(poll(p, 2 * CTK_SPAWN_WATCH_FDS, ms < 0 && due >= 0 ? 0 : ms), >=, 0);
        for (int i = 0; i < 2; i++) {
            if (w[i] == NULL)
                continue;
            int rc = ctk_spawn_watch_step(w[i], &p[i * CTK_SPAWN_WATCH_FDS]);
            g_assert_cmpint(rc, >=, 0);
            if (rc == 1) {
                ctk_spawn_watch_free(w[i]);
                w[i] = NULL;
                left--;
            }
        }
    }
    g_assert_cmpfloat(ctk_spawn_clock() - t0, <, 5);
    g_assert_cmpint(res[0].exit, ==, 4);
    g_assert_cmpuint(res[0].out.mem.len, ==, 4);
    g_assert_cmpint(memcmp(res[0].out.mem.data, "one\n", 4), ==, 0);
    g_assert_cmpuint(res[0].err.mem.len, ==, 4);
    g_assert_true(res[1].timed_out);
    g_assert_cmpint(res[1].signal, ==, SIGTERM);
    g_assert_cmpint(res[2].exit, ==, 127);
    g_assert_nonnull(g_strstr_len((const char *)res[2].err.mem.data, (gssize)res[2].err.mem.len,
                                  "command not found"));
    for (int i = 0; i < 3; i++) {
        ctk_spawn_dispose(&kids[i]);
        ctk_spawn_result_free(&res[i]);
    }
}

static void test_signal(void)
{
    ctk_spawn_result r;
    g_assert_cmpint(run_shell("kill -9 $$", &r), ==, 0);
    g_assert_cmpint(r.signal, ==, SIGKILL);
    g_assert_cmpint(r.exit, ==, 0);
    ctk_spawn_result_free(&r);
}

static void test_not_found(void)
{
    ctk_spawn_result r;
    const char *argv[] = {"ctk-no-such-command", "x", NULL};
    g_assert_cmpint(run_argv(argv, &r), ==, 0);
    g_assert_cmpint(r.exit, ==, 127);
    g_assert_cmpint(r.exec_errno, ==, ENOENT);
    char *err = stream_text(&r.err);
    g_assert_cmpstr(err, ==, "ctk-no-such-command: command not found\n");
    g_free(err);
    ctk_spawn_result_free(&r);
    /* Through a shell the shell itself says so, with the same status. */
    g_assert_cmpint(run_shell("ctk-no-such-command", &r), ==, 0);
    g_assert_cmpint(r.exit, ==, 127);
    g_assert_cmpuint(r.err.bytes, >, 0);
    ctk_spawn_result_free(&r);
}

static void test_argv_unchanged(void)
{
    const char *argv[] = {"printf", "%s|\n", "a b", "it's", "\"q\"", "l1\nl2",
                          "$HOME",  "*",     "",    "\\n",  "-x",    NULL};
    ctk_spawn_result r;
    g_assert_cmpint(run_argv(argv, &r), ==, 0);
    char *out = stream_text(&r.out);
    g_assert_cmpstr(out, ==, "a b|\nit's|\n\"q\"|\nl1\nl2|\n$HOME|\n*|\n|\n\\n|\n-x|\n");
    g_free(out);
    ctk_spawn_result_free(&r);
}

static void test_shell_pipe(void)
{
    ctk_spawn_result r;
    g_assert_cmpint(run_shell("printf 'b\\na\\n' | sort", &r), ==, 0);
    char *out = stream_text(&r.out);
    g_assert_cmpstr(out, ==, "a\nb\n");
    g_free(out);
    ctk_spawn_result_free(&r);
}

static void test_stderr_separate(void)
{
    ctk_spawn_result r;
    g_assert_cmpint(run_shell("echo out; echo err >&2; echo out2", &r), ==, 0);
    char *out = stream_text(&r.out), *err = stream_text(&r.err);
    g_assert_cmpstr(out, ==, "out\nout2\n");
    g_assert_cmpstr(err, ==, "err\n");
    g_free(out);
    g_free(err);
    ctk_spawn_result_free(&r);
}

static void test_env(void)
{
    const char *env[] = {"CTK_SEQ=7", "HOME=/elsewhere", NULL};
    ctk_spawn_opts o = {.shell = "echo \"$CTK_SEQ $HOME ${PATH:+path}\"", .env = env};
    ctk_spawn_result r;
    g_assert_cmpint(ctk_spawn_run(&o, &r), ==, 0);
    char *out = stream_text(&r.out);
    g_assert_cmpstr(out, ==, "7 /elsewhere path\n");
    g_free(out);
    ctk_spawn_result_free(&r);
}

static void test_stdin_modes(void)
{
    const char *cat[] = {"cat", NULL};
    ctk_spawn_result r;
    /* The default /dev/null: cat ends at once instead of waiting. */
    g_assert_cmpint(run_argv(cat, &r), ==, 0);
    g_assert_cmpuint(r.out.bytes, ==, 0);
    ctk_spawn_result_free(&r);
    int fds[2];
    g_assert_cmpint(pipe(fds), ==, 0);
    g_assert_cmpint(write(fds[1], "abc", 3), ==, 3);
    close(fds[1]);
    ctk_spawn_opts o = {.argv = cat, .in = CTK_SPAWN_IN_FD, .in_fd = fds[0]};
    g_assert_cmpint(ctk_spawn_run(&o, &r), ==, 0);
    close(fds[0]);
    char *out = stream_text(&r.out);
    g_assert_cmpstr(out, ==, "abc");
    g_free(out);
    ctk_spawn_result_free(&r);
}

/* 5 MB in and 5 MB out: far beyond both pipe buffers, so a loop that
 * wrote all input before reading output would deadlock here. */
static void test_feed_and_drain(void)
{
    size_t n = 5u << 20;
    unsigned char *input = g_malloc(n);
    for (size_t i = 0; i < n; i++)
        input[i] = (unsigned char)(i * 2654435761u >> 13);
    const char *cat[] = {"cat", NULL};
    ctk_spawn_opts o = {.argv = cat, .in = CTK_SPAWN_IN_PIPE, .input = input, .input_len = n};
    ctk_spawn_result r;
    g_assert_cmpint(ctk_spawn_run(&o, &r), ==, 0);
    g_assert_cmpint(r.exit, ==, 0);
    g_assert_cmpuint(r.in_bytes, ==, n);
    g_assert_cmpuint(r.out.bytes, ==, n);
    GByteArray *all = g_byte_array_new();
    ctk_spawn_stream_foreach(&r.out, collect, all);
    g_assert_cmpint(memcmp(all->data, input, n), ==, 0);
    g_byte_array_free(all, TRUE);
    ctk_spawn_result_free(&r);
    g_free(input);
}

/* A child that stops reading must not kill us with SIGPIPE. */
static void test_child_ignores_input(void)
{
    size_t n = 1u << 20;
    char *input = g_malloc0(n);
    const char *t[] = {"true", NULL};
    ctk_spawn_opts o = {.argv = t, .in = CTK_SPAWN_IN_PIPE, .input = input, .input_len = n};
    ctk_spawn_result r;
    g_assert_cmpint(ctk_spawn_run(&o, &r), ==, 0);
    g_assert_cmpint(r.exit, ==, 0);
    g_assert_cmpuint(r.in_bytes, <, n);
    ctk_spawn_result_free(&r);
    g_free(input);
}

static long status_kb(const char *field)
{
    char *text = NULL;
    g_assert_true(g_file_get_contents("/proc/self/status", &text, NULL, NULL));
    const char *at = strstr(text, field);
    g_assert_nonnull(at);
    long kb = strtol(at + strlen(field), NULL, 10);
    g_free(text);
    return kb;
}

/* The expected checksum of `yes 0123456789abcdef | head -c total`. */
static char *pattern_checksum(size_t total)
{
    static const char line[] = "0123456789abcdef\n";
    GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);
    for (size_t done = 0; done < total;) {
        size_t k = total - done < 17 ? total - done : 17;
        g_checksum_update(sum, (const guchar *)line, (gssize)k);
        done += k;
    }
    char *hex = g_strdup(g_checksum_get_string(sum));
    g_checksum_free(sum);
    return hex;
}

static int checksum_chunk(void *arg, const void *data, size_t len)
{
    g_checksum_update(arg, data, (gssize)len);
    return 0;
}

/* Copies s into a temporary file (append-only when asked: sendfile
 * refuses those, so the fallback loop runs) and checks what arrived. */
static void assert_copy(const ctk_spawn_stream *s, int append, const char *want)
{
    FILE *f = tmpfile();
    g_assert_nonnull(f);
    int fd = fileno(f);
    if (append)
        g_assert_cmpint(fcntl(fd, F_SETFL, O_APPEND), ==, 0);
    g_assert_cmpint(ctk_spawn_stream_copy(s, fd), ==, 0);
    struct stat st;
    g_assert_cmpint(fstat(fd, &st), ==, 0);
    g_assert_cmpuint((guint64)st.st_size, ==, s->bytes);
    GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);
    char chunk[65536];
    ssize_t n;
    for (off_t off = 0; (n = pread(fd, chunk, sizeof chunk, off)) > 0; off += n)
        g_checksum_update(sum, (const guchar *)chunk, n);
    g_assert_cmpstr(g_checksum_get_string(sum), ==, want);
    g_checksum_free(sum);
    fclose(f);
}

static void test_spill(void)
{
    size_t total = 50u << 20, cap = 1u << 20;
    long hwm_before = status_kb("VmHWM:");
    ctk_spawn_opts o = {.shell = "yes 0123456789abcdef | head -c 52428800", .mem_limit = cap};
    ctk_spawn_result r;
    g_assert_cmpint(ctk_spawn_run(&o, &r), ==, 0);
    g_assert_cmpfloat(r.elapsed, <, 15.0);
    g_assert_cmpuint(r.out.bytes, ==, total);
    g_assert_cmpuint(r.out.mem.len, ==, cap);
    g_assert_cmpint(r.out.spill_fd, >=, 0);
    /* Peak memory grew by much less than the 50 MB that went through. */
    g_assert_cmpint(status_kb("VmHWM:") - hwm_before, <, 20 * 1024);
    GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_assert_cmpint(ctk_spawn_stream_foreach(&r.out, checksum_chunk, sum), ==, 0);
    char *want = pattern_checksum(total);
    g_assert_cmpstr(g_checksum_get_string(sum), ==, want);
    g_checksum_free(sum);
    assert_copy(&r.out, 0, want);
    assert_copy(&r.out, 1, want);
    g_free(want);
    ctk_spawn_result_free(&r);
}

static void test_timeout_termseq(void)
{
    ctk_spawn_termstep seq[CTK_SPAWN_TERMSEQ_MAX];
    size_t n;
    g_assert_cmpint(ctk_spawn_termseq_parse("TERM,100,TERM,50,KILL,25", seq, 8, &n), ==, 0);
    ctk_spawn_opts o = {.shell = "trap '' TERM; sleep 30", .termseq = seq, .termseq_len = n};
    o.deadline = ctk_spawn_clock() + 0.3;
    ctk_spawn_result r;
    g_assert_cmpint(ctk_spawn_run(&o, &r), ==, 0);
    g_assert_true(r.timed_out);
    /* TERM was ignored, so only the KILL after the TERM steps ended it. */
    g_assert_cmpint(r.signal, ==, SIGKILL);
    g_assert_cmpfloat(r.elapsed, >=, 0.3 + 0.15);
    g_assert_cmpfloat(r.elapsed, <, 5.0);
    ctk_spawn_result_free(&r);
    /* A sequence's own signal is what ends a job that heeds it. */
    g_assert_cmpint(ctk_spawn_termseq_parse("HUP,2000", seq, 8, &n), ==, 0);
    const char *argv[] = {"sleep", "30", NULL};
    ctk_spawn_opts hup = {.argv = argv, .termseq = seq, .termseq_len = n};
    hup.deadline = ctk_spawn_clock() + 0.1;
    g_assert_cmpint(ctk_spawn_run(&hup, &r), ==, 0);
    g_assert_cmpint(r.signal, ==, SIGHUP);
    g_assert_cmpfloat(r.elapsed, <, 1.5);
    ctk_spawn_result_free(&r);
}

/* Gone, or a zombie waiting for whoever adopted it. */
static int process_gone(pid_t pid)
{
    char path[64], *text = NULL;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return 1;
    const char *paren = strrchr(text, ')');
    int zombie = paren != NULL && paren[1] == ' ' && paren[2] == 'Z';
    g_free(text);
    return zombie;
}

/* Runs line until a timeout; returns the pid it printed first. */
static pid_t run_to_timeout(const char *line, ctk_spawn_result *r)
{
    ctk_spawn_opts o = {.shell = line};
    o.deadline = ctk_spawn_clock() + 0.3;
    g_assert_cmpint(ctk_spawn_run(&o, r), ==, 0);
    g_assert_true(r->timed_out);
    char *out = stream_text(&r->out);
    pid_t pid = (pid_t)strtol(out, NULL, 10);
    g_assert_cmpint(pid, >, 1);
    g_free(out);
    return pid;
}

static void assert_gone(pid_t pid)
{
    /* The KILL was sent before the leader was reaped; allow the kernel a
     * moment to finish delivering it. */
    for (int i = 0; i < 100 && !process_gone(pid); i++)
        g_usleep(10000);
    g_assert_true(process_gone(pid));
}

static void test_grandchild_killed(void)
{
    ctk_spawn_result r;
    pid_t grandchild = run_to_timeout("sleep 30 & echo $!; sleep 30", &r);
    /* The first TERM reached the whole group: the sleeps holding the
     * output pipe ended well within its 200 ms of grace. */
    g_assert_cmpint(r.signal, ==, SIGTERM);
    g_assert_cmpfloat(r.elapsed, <, 0.3 + 0.19);
    assert_gone(grandchild);
    ctk_spawn_result_free(&r);
    /* One that ignores TERM and holds no pipe, so the job looks finished
     * as soon as the leader dies: it must not outlive the job. */
    grandchild =
        run_to_timeout("(trap '' TERM; exec sleep 30) >/dev/null 2>&1 & echo $!; sleep 30", &r);
    assert_gone(grandchild);
    ctk_spawn_result_free(&r);
}

typedef struct killer {
    ctk_spawn_child *child;
    int signo; /* 0: terminate */
} killer;

static void *kill_later(void *arg)
{
    killer *k = arg;
    g_usleep(100000);
    if (k->signo == 0)
        ctk_spawn_terminate(k->child);
    else
        g_assert_cmpint(ctk_spawn_signal(k->child, k->signo), ==, 0);
    return NULL;
}

static void run_killed_by(int signo, ctk_spawn_result *r)
{
    const char *argv[] = {"sleep", "30", NULL};
    ctk_spawn_opts o = {.argv = argv};
    ctk_spawn_child child;
    g_assert_cmpint(ctk_spawn_start(&child, &o), ==, 0);
    g_assert_cmpint(child.pid, >, 0);
    killer k = {&child, signo};
    pthread_t t;
    pthread_create(&t, NULL, kill_later, &k);
    g_assert_cmpint(ctk_spawn_finish(&child, r), ==, 0);
    pthread_join(t, NULL);
    /* After finish a late signal is a harmless no-op. */
    g_assert_cmpint(ctk_spawn_signal(&child, SIGTERM), ==, 0);
    ctk_spawn_dispose(&child);
}

static void test_kill_from_thread(void)
{
    ctk_spawn_result r;
    run_killed_by(SIGINT, &r);
    g_assert_cmpint(r.signal, ==, SIGINT);
    g_assert_false(r.terminated);
    g_assert_cmpfloat(r.elapsed, <, 5.0);
    ctk_spawn_result_free(&r);
    run_killed_by(0, &r);
    g_assert_true(r.terminated);
    g_assert_cmpint(r.signal, ==, SIGTERM);
    g_assert_cmpfloat(r.elapsed, <, 5.0);
    ctk_spawn_result_free(&r);
}

typedef struct poke {
    int fd;
    unsigned ms;
} poke;

static void *poke_later(void *arg)
{
    poke *k = arg;
    g_usleep(k->ms * 1000);
    uint64_t one = 1;
    g_assert_cmpint(write(k->fd, &one, sizeof one), ==, sizeof one);
    return NULL;
}

/* A run's cancel fd, once readable, ends a waiting job at once (no timer
 * polls for it), in ctk_spawn_finish as in a watch. */
static void test_stop_fd(void)
{
    int stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    g_assert_cmpint(stop, >=, 0);
    const char *argv[] = {"sleep", "30", NULL};
    ctk_spawn_opts o = {.argv = argv, .stop_fd = &stop};
    poke k = {stop, 100};
    pthread_t t;
    pthread_create(&t, NULL, poke_later, &k);
    ctk_spawn_result r;
    g_assert_cmpint(ctk_spawn_run(&o, &r), ==, 0);
    pthread_join(t, NULL);
    g_assert_true(r.terminated);
    g_assert_cmpint(r.signal, ==, SIGTERM);
    g_assert_cmpfloat(r.elapsed, <, 5.0);
    ctk_spawn_result_free(&r);
    /* Already readable when the job starts: it ends at once, through a
     * watch as well. */
    ctk_spawn_child c;
    g_assert_cmpint(ctk_spawn_start(&c, &o), ==, 0);
    ctk_spawn_watch *w;
    g_assert_cmpint(ctk_spawn_watch_begin(&w, &c, &r), ==, 0);
    int rc = 0;
    while (rc == 0) {
        struct pollfd p[CTK_SPAWN_WATCH_FDS];
        double due;
        ctk_spawn_watch_fds(w, p, &due);
        g_assert_cmpint(poll(p, CTK_SPAWN_WATCH_FDS, 5000), >, 0);
        rc = ctk_spawn_watch_step(w, p);
    }
    g_assert_cmpint(rc, ==, 1);
    g_assert_true(r.terminated);
    ctk_spawn_watch_free(w);
    ctk_spawn_dispose(&c);
    ctk_spawn_result_free(&r);
    close(stop);
}

static int count_fds(void)
{
    GDir *dir = g_dir_open("/proc/self/fd", 0, NULL);
    g_assert_nonnull(dir);
    int n = 0;
    while (g_dir_read_name(dir) != NULL)
        n++;
    g_dir_close(dir);
    return n;
}

static void test_no_fd_leak(void)
{
    /* An inheritable fd of ours must not reach the child either. */
    int stray = dup(2);
    g_assert_cmpint(stray, >=, 0);
    int before = count_fds();
    const char *argv[] = {"ls", "/proc/self/fd", NULL};
    ctk_spawn_opts o = {.argv = argv, .in = CTK_SPAWN_IN_PIPE, .input = "x", .input_len = 1};
    ctk_spawn_result r;
    g_assert_cmpint(ctk_spawn_run(&o, &r), ==, 0);
    char *out = stream_text(&r.out);
    /* 0, 1, 2, and the lowest free fd: ls's own handle on the directory. */
    g_assert_cmpstr(out, ==, "0\n1\n2\n3\n");
    g_free(out);
    ctk_spawn_result_free(&r);
    g_assert_cmpint(count_fds(), ==, before);
    close(stray);
}

static void test_own_group_and_clean_signals(void)
{
    const char *argv[] = {"cat", "/proc/self/stat", NULL};
    ctk_spawn_result r;
    g_assert_cmpint(run_argv(argv, &r), ==, 0);
    char *out = stream_text(&r.out);
    int pid, pgrp;
    char state;
    const char *paren = strrchr(out, ')');
    g_assert_cmpint(sscanf(out, "%d", &pid), ==, 1);
    g_assert_cmpint(sscanf(paren + 1, " %c %*d %d", &state, &pgrp), ==, 2);
    g_assert_cmpint(pgrp, ==, pid);
    g_free(out);
    ctk_spawn_result_free(&r);
    /* Blocked and ignored signals in the caller are reset for the job. */
    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &term, &old);
    void (*old_int)(int) = signal(SIGINT, SIG_IGN);
    int rc_term = run_shell("kill -TERM $$", &r);
    int term_signal = r.signal;
    ctk_spawn_result_free(&r);
    int rc_int = run_shell("kill -INT $$", &r);
    signal(SIGINT, old_int);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    g_assert_cmpint(rc_term, ==, 0);
    g_assert_cmpint(term_signal, ==, SIGTERM);
    g_assert_cmpint(rc_int, ==, 0);
    g_assert_cmpint(r.signal, ==, SIGINT);
    ctk_spawn_result_free(&r);
}

static void test_ungroup_passthrough(void)
{
    int fds[2];
    g_assert_cmpint(pipe(fds), ==, 0);
    fflush(stdout);
    int saved = dup(1);
    dup2(fds[1], 1);
    close(fds[1]);
    const char *argv[] = {"printf", "hello", NULL};
    ctk_spawn_opts o = {.argv = argv, .out = CTK_SPAWN_INHERIT};
    ctk_spawn_result r;
    int rc = ctk_spawn_run(&o, &r);
    dup2(saved, 1);
    close(saved);
    g_assert_cmpint(rc, ==, 0);
    g_assert_cmpuint(r.out.bytes, ==, 0); /* nothing captured */
    char got[16] = {0};
    g_assert_cmpint(read(fds[0], got, sizeof got - 1), ==, 5);
    g_assert_cmpstr(got, ==, "hello");
    close(fds[0]);
    ctk_spawn_result_free(&r);
}

static void test_termseq_parse(void)
{
    ctk_spawn_termstep seq[CTK_SPAWN_TERMSEQ_MAX];
    size_t n, dn;
    const ctk_spawn_termstep *def = ctk_spawn_default_termseq(&dn);
    g_assert_cmpint(ctk_spawn_termseq_parse("TERM,200,TERM,100,TERM,50,KILL,25", seq, 8, &n), ==,
                    0);
    g_assert_cmpuint(n, ==, dn);
    g_assert_cmpint(memcmp(seq, def, n * sizeof *seq), ==, 0);
    g_assert_cmpint(ctk_spawn_termseq_parse("SIGINT,10,9", seq, 8, &n), ==, 0);
    g_assert_cmpuint(n, ==, 2);
    g_assert_cmpint(seq[0].signo, ==, SIGINT);
    g_assert_cmpuint(seq[0].ms, ==, 10);
    g_assert_cmpint(seq[1].signo, ==, SIGKILL);
    g_assert_cmpuint(seq[1].ms, ==, 0);
    g_assert_cmpint(ctk_spawn_termseq_parse("TERM,x", seq, 8, &n), ==, CTK_EINVAL);
    g_assert_cmpint(ctk_spawn_termseq_parse("FOO,1", seq, 8, &n), ==, CTK_EINVAL);
    g_assert_cmpint(ctk_spawn_termseq_parse("", seq, 8, &n), ==, CTK_EINVAL);
    g_assert_cmpint(ctk_spawn_termseq_parse("TERM,1,TERM,1", seq, 1, &n), ==, CTK_ERANGE);
}

static void test_bad_opts(void)
{
    const char *argv[] = {"true", NULL};
    ctk_spawn_opts both = {.argv = argv, .shell = "true"}, none = {0};
    ctk_spawn_result r;
    g_assert_cmpint(ctk_spawn_run(&both, &r), ==, CTK_EINVAL);
    ctk_spawn_result_free(&r);
    g_assert_cmpint(ctk_spawn_run(&none, &r), ==, CTK_EINVAL);
    ctk_spawn_result_free(&r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/spawn/exit-codes", test_exit_codes);
    g_test_add_func("/spawn/signal", test_signal);
    g_test_add_func("/spawn/not-found", test_not_found);
    g_test_add_func("/spawn/argv-unchanged", test_argv_unchanged);
    g_test_add_func("/spawn/shell-pipe", test_shell_pipe);
    g_test_add_func("/spawn/stderr-separate", test_stderr_separate);
    g_test_add_func("/spawn/env", test_env);
    g_test_add_func("/spawn/stdin-modes", test_stdin_modes);
    g_test_add_func("/spawn/feed-and-drain", test_feed_and_drain);
    g_test_add_func("/spawn/child-ignores-input", test_child_ignores_input);
    g_test_add_func("/spawn/spill", test_spill);
    g_test_add_func("/spawn/timeout-termseq", test_timeout_termseq);
    g_test_add_func("/spawn/grandchild-killed", test_grandchild_killed);
    g_test_add_func("/spawn/kill-from-thread", test_kill_from_thread);
    g_test_add_func("/spawn/no-fd-leak", test_no_fd_leak);
    g_test_add_func("/spawn/own-group-clean-signals", test_own_group_and_clean_signals);
    g_test_add_func("/spawn/ungroup-passthrough", test_ungroup_passthrough);
    g_test_add_func("/spawn/termseq-parse", test_termseq_parse);
    g_test_add_func("/spawn/bad-opts", test_bad_opts);
    g_test_add_func("/spawn/watch-many", test_watch_many);
    g_test_add_func("/spawn/stop-fd", test_stop_fd);
    return g_test_run();
}
