/*
 * cqcmd.c: what cqueue's commands do (see cqcmd.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctkx/closeout.h"
#include "ctkx/cmdline.h"
#include "ctkx/lines.h"
#include "cqcmd.h"
#include "jobadd.h"
#include "jobq.h"
#include "storepath.h"
#include "ctkx/output.h"
#include "ctkx/parse.h"
#include "ctkx/sigwatch.h"

#define PROG "cqueue"
/* How often wait and cat --follow look at the store: it cannot tell
 * anyone that a job changed. A signal ends the wait at once. */
#define WAIT_POLL_MS 100

int ctk_cqcmd_usage_error(const char *cmd, const char *message)
{
    fprintf(stderr, PROG ": %s\nTry '" PROG " %s%s--help' for more information.\n", message,
            cmd ? cmd : "", cmd ? " " : "");
    return 2;
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(PROG ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static int store_fail(ctk_cqcmd *x)
{
    return fail("%s", x->store->ops->last_error(x->store));
}

static int parse_id(const char *text, int64_t *id)
{
    uint64_t v;
    char why[128];
    if (ctk_parse_u64(text, 1, INT64_MAX, &v, why, sizeof why) < 0)
        return fail("'%s': not a job id (%s)", text, why);
    *id = (int64_t)v;
    return 0;
}

/* ---- add ------------------------------------------------------------------------ */

static void fill_spec(ctk_cqcmd *x, ctk_job_spec *s, const char *cwd, char **env)
{
    ctk_cqcmd_opts *o = x->o;
    *s = (ctk_job_spec){
        .queue = o->queue,
        .name = o->name,
        .cwd = cwd,
        .env = (const char *const *)env,
        .key = o->key,
        .after = (const int64_t *)(void *)o->after->data,
        .n_after = o->after->len,
        .priority = o->priority,
        .retries = (unsigned)o->retries,
        .weight = (unsigned)o->weight,
        .timeout = o->timeout,
    };
}

static int add_one(ctk_cqcmd *x, const char *cwd, char **env)
{
    ctk_job_spec s;
    fill_spec(x, &s, cwd, env);
    ctk_buf line = {0};
    /* One word is a shell command line ('make && make test'); several are
     * a program and its arguments, run without a shell. */
    int rc = 0;
    if (x->n_args == 1) {
        s.cmd = x->args[0];
    } else {
        for (int i = 0; rc == 0 && i < x->n_args; i++) {
            if (i > 0)
                rc = ctk_buf_append(&line, " ", 1);
            if (rc == 0)
                rc = ctk_cmdline_quote(&line, x->args[i], strlen(x->args[i]));
        }
        if (rc == 0)
            rc = ctk_buf_append(&line, "", 1);
        s.cmd = (const char *)line.data;
        s.argv = (const char *const *)x->args;
    }
    if (rc < 0) {
        ctk_buf_free(&line);
        return fail("cannot record the command: %s", ctk_strerror(rc));
    }
    int64_t id = 0;
    char err[600];
    rc = x->store->ops->add(x->store, &s, 1, &id, NULL, err, sizeof err);
    ctk_buf_free(&line);
    if (rc < 0)
        return fail("%s", err);
    printf("%lld\n", (long long)id);
    return 0;
}

static void print_range(void *arg, int64_t first, int64_t last)
{
    (void)arg;
    if (first == last)
        printf("%lld\n", (long long)first);
    else
        printf("%lld-%lld\n", (long long)first, (long long)last);
    ctk_closeout_flush(stdout);
}

static void warn_skip(void *arg, uint64_t line, const char *why)
{
    (void)arg;
    fprintf(stderr, PROG ": line %llu: %s; not added\n", (unsigned long long)line, why);
}

static int add_stream(ctk_cqcmd *x, const char *cwd, char **env)
{
    ctk_cmdline *tpl = NULL;
    char err[1024];
    if (x->o->cmd != NULL) {
        char *words[] = {(char *)x->o->cmd};
        if (ctk_cmdline_parse(&tpl, words, 1, NULL, 0, err, sizeof err) < 0)
            return ctk_cqcmd_usage_error("add", err);
    }
    ctk_lines_warn_tty("cqueue add", STDIN_FILENO);
    ctk_job_spec proto;
    fill_spec(x, &proto, cwd, env);
    ctk_jobadd_opts ao = {.store = x->store,
                          .proto = &proto,
                          .tpl = tpl,
                          .on_range = print_range,
                          .on_skip = warn_skip};
    int rc = ctk_jobadd_fd(&ao, 0, err, sizeof err);
    ctk_cmdline_free(tpl);
    if (rc < 0)
        return fail("%s (the lines after the last id printed were not added)", err);
    return rc;
}

/* The file every worker of a queue holds a shared lock on while it runs
 * (on this machine): whether anyone serves the queue is whether an
 * exclusive lock on it is refused. */
static int serve_lock_open(ctk_cqcmd *x)
{
    char *name = g_strdup_printf("work-%s.serve", x->o->queue);
    int fd = openat(x->side.dir_fd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    g_free(name);
    return fd;
}

/* tsp and nq run a job as soon as it is added: when no worker serves the
 * queue, start its daemon (`work --daemon`), quietly; --no-start and
 * CQUEUE_NO_AUTOSTART=1 opt out. */
static void autostart(ctk_cqcmd *x)
{
    const char *env = getenv("CQUEUE_NO_AUTOSTART");
    if (x->o->no_start || (env != NULL && env[0] != '\0' && strcmp(env, "0") != 0))
        return;
    int fd = serve_lock_open(x);
    if (fd < 0)
        return;
    int idle = flock(fd, LOCK_EX | LOCK_NB) == 0;
    close(fd);
    if (!idle)
        return;
    char *argv[12];
    int n = 0;
    argv[n++] = (char *)"cqueue";
    if (x->o->db != NULL) {
        argv[n++] = (char *)"--db";
        argv[n++] = (char *)x->o->db;
    }
    if (x->o->shared_group)
        argv[n++] = (char *)"--shared-group";
    argv[n++] = (char *)"-q";
    argv[n++] = (char *)x->o->queue;
    argv[n++] = (char *)"work";
    argv[n++] = (char *)"--daemon";
    argv[n] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1); /* the daemon's pid: add prints the job's id only */
        dup2(null, 2); /* a daemon started by a concurrent add is no error */
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    if (pid > 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
}

int ctk_cqcmd_add(ctk_cqcmd *x)
{
    char *cwd = g_get_current_dir();
    char **env = x->o->env ? g_get_environ() : NULL;
    int status;
    int from_stdin = x->n_args == 1 && strcmp(x->args[0], "-") == 0;
    if (!from_stdin && strcmp(x->args[0], "-") == 0)
        status = ctk_cqcmd_usage_error("add", "'add -' takes no other operand");
    else if (!from_stdin && x->o->cmd != NULL)
        status = ctk_cqcmd_usage_error("add", "--cmd goes with 'add -' (items on standard input)");
    else if (from_stdin && x->o->key != NULL)
        status = ctk_cqcmd_usage_error("add", "--key names one job; it does not go with 'add -'");
    else
        status = from_stdin ? add_stream(x, cwd, env) : add_one(x, cwd, env);
    if (status == 0)
        autostart(x);
    g_strfreev(env);
    g_free(cwd);
    return status;
}

/* ---- the last job (tsp -w, -c, -i with no id) ----------------------------------- */

static int max_id(void *arg, const ctk_job *j)
{
    int64_t *id = arg;
    if (j->id > *id)
        *id = j->id;
    return 0;
}

/* The id of the queue's last job added, for show, cat and wait without
 * an id; 1 (a message printed) when there is none. */
static int last_job(ctk_cqcmd *x, int64_t *id)
{
    ctk_store_filter f = {x->o->queue, -1, 0, 0};
    *id = 0;
    if (x->store->ops->list(x->store, &f, max_id, id) < 0)
        return store_fail(x);
    if (*id == 0)
        return fail("queue '%s' has no job", x->o->queue);
    return 0;
}

/* The id operand, or the last job when there is none. */
static int job_arg(ctk_cqcmd *x, int64_t *id)
{
    return x->n_args == 0 ? last_job(x, id) : parse_id(x->args[0], id);
}

/* ---- records -------------------------------------------------------------------- */

static const ctk_field job_fields[] = {
    {"id", CTK_FIELD_NUMBER},     {"state", CTK_FIELD_STRING},    {"exit", CTK_FIELD_NUMBER},
    {"signal", CTK_FIELD_NUMBER}, {"attempts", CTK_FIELD_NUMBER}, {"queued_at", CTK_FIELD_NUMBER},
    {"start", CTK_FIELD_NUMBER},  {"elapsed", CTK_FIELD_NUMBER},  {"name", CTK_FIELD_STRING},
    {"cmd", CTK_FIELD_STRING},    {"reason", CTK_FIELD_STRING},
};

/* People get a table; pipes get TSV unless --format says otherwise. */
static ctk_format format_of(const ctk_cqcmd_opts *o)
{
    if (o->c.format_given)
        return o->c.format;
    return isatty(1) ? CTK_FORMAT_TABLE : CTK_FORMAT_TSV;
}

/* Text for a terminal: job names and commands come from anyone who can
 * add a job, and a raw ESC or BEL in them would drive the terminal of
 * whoever lists the queue. Control bytes (C0 and DEL) are spelled out
 * (\e, \a, \t, \n, \x7f, ...). NULL when s needs no change. */
static char *term_escape(const char *s)
{
    const char *p = s;
    while (p != NULL && *p != '\0' && (unsigned char)*p >= 0x20 && *p != 0x7f)
        p++;
    if (s == NULL || *p == '\0')
        return NULL;
    GString *e = g_string_new_len(s, p - s);
    for (; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        const char *named = c == 0x1b   ? "\\e"
                            : c == '\a' ? "\\a"
                            : c == '\b' ? "\\b"
                            : c == '\t' ? "\\t"
                            : c == '\n' ? "\\n"
                            : c == '\v' ? "\\v"
                            : c == '\f' ? "\\f"
                            : c == '\r' ? "\\r"
                                        : NULL;
        if (named != NULL)
            g_string_append(e, named);
        else if (c < 0x20 || c == 0x7f)
            g_string_append_printf(e, "\\x%02x", c);
        else
            g_string_append_c(e, (char)c);
    }
    return g_string_free(e, FALSE);
}

/* Records on stdout; a table gets its text escaped for the terminal,
 * TSV and JSON keep their own escaping. */
typedef struct records {
    ctk_output *out;
    size_t n;
    int table;
} records;

static int records_new(records *r, const ctk_cqcmd_opts *o, const ctk_field *fields, size_t n)
{
    ctk_format f = format_of(o);
    *r = (records){NULL, n, f == CTK_FORMAT_TABLE};
    int rc = ctk_output_new(&r->out, stdout, f, fields, n, o->c.header);
    return rc < 0 ? fail("cannot print records: %s", ctk_strerror(rc)) : 0;
}

static int records_row(records *r, const char *const *values)
{
    if (!r->table)
        return ctk_output_row(r->out, values);
    const char **v = g_new(const char *, r->n);
    char **owned = g_new0(char *, r->n);
    for (size_t i = 0; i < r->n; i++) {
        owned[i] = values[i] != NULL ? term_escape(values[i]) : NULL;
        v[i] = owned[i] != NULL ? owned[i] : values[i];
    }
    int rc = ctk_output_row(r->out, v);
    for (size_t i = 0; i < r->n; i++)
        g_free(owned[i]);
    g_free(owned);
    g_free(v);
    return rc;
}

static int records_end(records *r)
{
    int rc = ctk_output_finish(r->out);
    ctk_output_free(r->out);
    r->out = NULL;
    return rc;
}

/* A time for people (a table, show on a terminal): ISO 8601, local, to
 * the second; scripts (TSV, JSON, a pipe) get seconds since the epoch. */
static void format_time(char *buf, size_t len, double t, int human)
{
    time_t secs = (time_t)t;
    struct tm tm;
    if (human && localtime_r(&secs, &tm) != NULL &&
        strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm) > 0)
        return;
    snprintf(buf, len, "%.3f", t);
}

static double job_elapsed(const ctk_job *j)
{
    if (j->started_at <= 0)
        return -1;
    if (j->state == CTK_JOB_RUNNING)
        return (double)g_get_real_time() / 1e6 - j->started_at;
    return j->finished_at > j->started_at ? j->finished_at - j->started_at : -1;
}

static int job_row(void *arg, const ctk_job *j)
{
    char id[24], ex[16], sig[16], att[16], qa[32], st[32], el[32];
    int finished = j->state >= CTK_JOB_DONE || j->reason != NULL;
    snprintf(id, sizeof id, "%lld", (long long)j->id);
    snprintf(ex, sizeof ex, "%d", j->exit_code);
    snprintf(sig, sizeof sig, "%d", j->signal);
    snprintf(att, sizeof att, "%u", j->attempts);
    int human = ((records *)arg)->table;
    format_time(qa, sizeof qa, j->queued_at, human);
    format_time(st, sizeof st, j->started_at, human);
    snprintf(el, sizeof el, "%.3f", job_elapsed(j));
    int ran = j->started_at > 0;
    int has_exit = finished && j->state != CTK_JOB_CANCELLED && ran;
    const char *v[] = {id,
                       ctk_job_state_name(j->state),
                       has_exit ? ex : NULL,
                       has_exit ? sig : NULL,
                       att,
                       qa,
                       ran ? st : NULL,
                       job_elapsed(j) >= 0 ? el : NULL,
                       j->name,
                       j->cmd,
                       j->reason};
    return records_row(arg, v) < 0;
}

int ctk_cqcmd_ls(ctk_cqcmd *x)
{
    records out;
    if (records_new(&out, x->o, job_fields, G_N_ELEMENTS(job_fields)) != 0)
        return 1;
    ctk_store_filter f = {x->o->queue, x->o->state, 0, 0};
    int rc = x->store->ops->list(x->store, &f, job_row, &out);
    records_end(&out);
    return rc < 0 ? store_fail(x) : 0;
}

/* ---- show, cat ------------------------------------------------------------------ */

static void show_line(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void show_line(const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%-10s ", key);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
}

/* A show line with text from the job: escaped, as in a table. */
static void show_text(const char *key, const char *text)
{
    char *e = term_escape(text);
    show_line(key, "%s", e != NULL ? e : text);
    g_free(e);
}

static void show_job(ctk_cqcmd *x, const ctk_job *j)
{
    show_line("id:", "%lld", (long long)j->id);
    show_text("queue:", j->queue);
    if (j->name)
        show_text("name:", j->name);
    show_line("state:", "%s", ctk_job_state_name(j->state));
    if (j->reason)
        show_text("reason:", j->reason);
    show_text("cmd:", j->cmd);
    show_text("cwd:", j->cwd ? j->cwd : "");
    if (j->key)
        show_text("key:", j->key);
    GString *after = g_string_new(NULL);
    for (size_t i = 0; i < j->n_after; i++)
        g_string_append_printf(after, "%s%lld", i ? " " : "", (long long)j->after[i]);
    if (j->n_after)
        show_line("after:", "%s", after->str);
    g_string_free(after, TRUE);
    show_line("priority:", "%lld", (long long)j->priority);
    show_line("weight:", "%u", j->weight);
    show_line("retries:", "%u", j->retries);
    show_line("attempts:", "%u", j->attempts);
    if (j->timeout > 0)
        show_line("timeout:", "%g", j->timeout);
    if (j->env)
        show_line("env:", "%u variables", g_strv_length(j->env));
    if (j->started_at > 0 && j->state >= CTK_JOB_DONE) {
        show_line("exit:", "%d", j->exit_code);
        show_line("signal:", "%d", j->signal);
    }
    char when[40];
    int human = isatty(STDOUT_FILENO);
    format_time(when, sizeof when, j->queued_at, human);
    show_line("queued_at:", "%s", when);
    if (j->started_at > 0) {
        format_time(when, sizeof when, j->started_at, human);
        show_line("start:", "%s", when);
    }
    if (job_elapsed(j) >= 0)
        show_line("elapsed:", "%.3f", job_elapsed(j));
    if (j->worker)
        show_text("worker:", j->worker);
    if (j->state == CTK_JOB_RUNNING && j->pid > 0)
        show_line("pid:", "%lld", (long long)j->pid);
    char *out = ctk_jobq_out_path(x->side.out_dir, j->id, 1),
         *err = ctk_jobq_out_path(x->side.out_dir, j->id, 2);
    show_line("stdout:", "%s", out);
    show_line("stderr:", "%s", err);
    g_free(out);
    g_free(err);
}

int ctk_cqcmd_show(ctk_cqcmd *x)
{
    int64_t id = 0;
    if (job_arg(x, &id))
        return 1;
    ctk_job j;
    if (x->store->ops->get(x->store, id, &j) < 0)
        return store_fail(x);
    if (x->o->c.format_given) {
        records out;
        if (records_new(&out, x->o, job_fields, G_N_ELEMENTS(job_fields)) != 0) {
            ctk_job_clear(&j);
            return 1;
        }
        job_row(&out, &j);
        records_end(&out);
    } else {
        show_job(x, &j);
    }
    ctk_job_clear(&j);
    return 0;
}

/* A job's output file in the out folder: "ID.out" or "ID.err". */
static char *out_name(int64_t id, int stream)
{
    return g_strdup_printf("%lld.%s", (long long)id, stream == 2 ? "err" : "out");
}

/* Copies what was added to the file name in dir since *off to fd. */
/* Returns the errno of a failed write to stdout (noted for the exit
 * check), or 0. */
static int copy_new(int dir, const char *name, off_t *off, int to)
{
    int fd = openat(dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return 0;
    char buf[65536];
    ssize_t n;
    int err = 0;
    while (err == 0 && (n = pread(fd, buf, sizeof buf, *off)) > 0) {
        ssize_t w = 0;
        while (w < n) {
            ssize_t k = write(to, buf + w, (size_t)(n - w));
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0) {
                err = errno;
                break;
            }
            w += k;
        }
        *off += n;
    }
    close(fd);
    if (err != 0 && to == STDOUT_FILENO) {
        ctk_closeout_note(err);
        return err;
    }
    return 0;
}

/* The stop signals, blocked while a command waits, so that they arrive on
 * a signalfd the wait polls instead of killing it mid-output. */
static void stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
}

/* Sleeps until the next look at the store; returns a stop signal that
 * came meanwhile, or 0. */
static int wait_a_while(int sfd)
{
    struct pollfd p = {.fd = sfd, .events = POLLIN};
    if (sfd < 0) {
        g_usleep(WAIT_POLL_MS * 1000);
        return ctk_signal_pending();
    }
    struct signalfd_siginfo si;
    if (poll(&p, 1, WAIT_POLL_MS) > 0 && read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
        return (int)si.ssi_signo;
    return 0;
}

/* Like wait_a_while, but a store that tells when a job ends (PostgreSQL)
 * is waited on instead of looked at every WAIT_POLL_MS. */
static int wait_for_change(ctk_cqcmd *x, int sfd)
{
    if (x->store->ops->wait == NULL || sfd < 0)
        return wait_a_while(sfd);
    /* Any queue: the jobs waited for may be in another. */
    x->store->ops->wait(x->store, NULL, &sfd, 1, 5.0);
    struct pollfd p = {.fd = sfd, .events = POLLIN};
    struct signalfd_siginfo si;
    if (poll(&p, 1, 0) > 0 && read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
        return (int)si.ssi_signo;
    return 0;
}

int ctk_cqcmd_cat(ctk_cqcmd *x)
{
    int64_t id = 0;
    if (job_arg(x, &id))
        return 1;
    sigset_t set, old;
    stop_signals(&set);
    int sfd = -1;
    if (x->o->follow) {
        pthread_sigmask(SIG_BLOCK, &set, &old);
        sfd = signalfd(-1, &set, SFD_CLOEXEC);
    }
    char *path[2] = {out_name(id, 1), out_name(id, 2)};
    off_t off[2] = {0, 0};
    int status = 0;
    for (;;) {
        ctk_job j;
        if (x->store->ops->get(x->store, id, &j) < 0) {
            status = store_fail(x);
            break;
        }
        int live = j.state == CTK_JOB_QUEUED || j.state == CTK_JOB_RUNNING;
        ctk_job_clear(&j);
        /* Read after the state: what a finished job wrote is all there. */
        if (copy_new(x->side.out_fd, path[0], &off[0], STDOUT_FILENO) != 0) {
            status = 1;
            break;
        }
        copy_new(x->side.out_fd, path[1], &off[1], STDERR_FILENO);
        if (!x->o->follow || !live)
            break;
        int signo = wait_a_while(sfd);
        if (signo != 0) {
            status = ctk_signal_exit_status(signo);
            break;
        }
    }
    if (x->o->follow) {
        if (sfd >= 0)
            close(sfd);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    g_free(path[0]);
    g_free(path[1]);
    return status;
}

/* ---- wait ----------------------------------------------------------------------- */

/* The exit status a shell would give for the job. */
static int job_status(const ctk_job *j)
{
    if (j->state == CTK_JOB_DONE)
        return 0;
    if (j->state == CTK_JOB_CANCELLED || j->started_at <= 0)
        return 1;
    if (j->signal > 0)
        return 128 + j->signal;
    return j->exit_code != 0 ? j->exit_code : 1;
}

/* What a wait has seen: the records it printed and how they ended. */
typedef struct wait_tally {
    records out;
    GArray *pending; /* ids not finished yet */
    unsigned n, failures;
    int last;
} wait_tally;

static void tally_job(wait_tally *t, const ctk_job *j)
{
    job_row(&t->out, j);
    t->last = job_status(j);
    t->failures += t->last != 0;
    t->n++;
}

/* --all: a finished job counts now, an unfinished one is waited for. */
static int tally_or_pend(void *arg, const ctk_job *j)
{
    wait_tally *t = arg;
    if (j->state >= CTK_JOB_DONE)
        tally_job(t, j);
    else
        g_array_append_val(t->pending, j->id);
    return 0;
}

static int wait_pending(ctk_cqcmd *x, wait_tally *t, int sfd)
{
    for (guint i = 0; i < t->pending->len; i++) {
        int64_t id = g_array_index(t->pending, int64_t, i);
        for (;;) {
            ctk_job j;
            if (x->store->ops->get(x->store, id, &j) < 0)
                return store_fail(x);
            int finished = j.state >= CTK_JOB_DONE;
            if (finished)
                tally_job(t, &j);
            ctk_job_clear(&j);
            if (finished)
                break;
            int signo = wait_for_change(x, sfd);
            if (signo != 0)
                return ctk_signal_exit_status(signo);
        }
    }
    return 0;
}

/* Ids given: each must exist (1 otherwise), and is waited for in order. */
static int pend_ids(ctk_cqcmd *x, wait_tally *t)
{
    for (int i = 0; i < x->n_args; i++) {
        int64_t id = 0;
        ctk_job j;
        if (parse_id(x->args[i], &id) != 0)
            return 1;
        if (x->store->ops->get(x->store, id, &j) < 0)
            return store_fail(x);
        ctk_job_clear(&j);
        g_array_append_val(t->pending, id);
    }
    return 0;
}

int ctk_cqcmd_wait(ctk_cqcmd *x)
{
    if (x->o->all && x->n_args > 0)
        return ctk_cqcmd_usage_error("wait", "give job ids or --all (not both)");
    wait_tally t = {.pending = g_array_new(FALSE, FALSE, sizeof(int64_t))};
    if (records_new(&t.out, x->o, job_fields, G_N_ELEMENTS(job_fields)) != 0) {
        g_array_free(t.pending, TRUE);
        return 1;
    }
    int status;
    if (x->o->all) {
        /* Every job of the queue counts, also one that failed before the
         * wait began: `work --drain; wait --all || mail` must see it. */
        ctk_store_filter f = {x->o->queue, -1, 0, 0};
        status = x->store->ops->list(x->store, &f, tally_or_pend, &t) < 0 ? store_fail(x) : 0;
    } else if (x->n_args == 0) {
        int64_t id;
        status = last_job(x, &id);
        if (status == 0)
            g_array_append_val(t.pending, id);
    } else {
        status = pend_ids(x, &t);
    }
    /* Ctrl-C ends the wait, not the jobs: take it as a pending signal. */
    sigset_t set, old;
    stop_signals(&set);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (status == 0)
        status = wait_pending(x, &t, sfd);
    if (sfd >= 0)
        close(sfd);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    records_end(&t.out);
    g_array_free(t.pending, TRUE);
    if (status != 0)
        return status;
    if (!x->o->all && t.n == 1)
        return t.last;
    return t.failures > 101 ? 101 : (int)t.failures;
}

/* ---- rm, retry, kill ------------------------------------------------------------ */

static void remove_output(const cq_side *side, int64_t id)
{
    for (int s = 1; s <= 2; s++) {
        char *name = out_name(id, s);
        unlinkat(side->out_fd, name, 0);
        g_free(name);
    }
}

int ctk_cqcmd_rm(ctk_cqcmd *x)
{
    int status = 0;
    for (int i = 0; i < x->n_args; i++) {
        int64_t id = 0;
        if (parse_id(x->args[i], &id) != 0)
            status = 1;
        else if (x->store->ops->remove(x->store, id) < 0)
            status = store_fail(x);
        else
            remove_output(&x->side, id);
    }
    return status;
}

static int collect_id(void *arg, const ctk_job *j)
{
    g_array_append_val((GArray *)arg, j->id);
    return 0;
}

/* Each failed job on its own: one that cannot go back (a live job holds
 * its key) is named and skipped, and the rest are retried. Prints how
 * many went back. */
static int retry_failed(ctk_cqcmd *x)
{
    GArray *ids = g_array_new(FALSE, FALSE, sizeof(int64_t));
    ctk_store_filter f = {x->o->queue, CTK_JOB_FAILED, 0, 0};
    int status = 0;
    unsigned n = 0, skipped = 0;
    if (x->store->ops->list(x->store, &f, collect_id, ids) < 0)
        status = store_fail(x);
    for (guint i = 0; status == 0 && i < ids->len; i++) {
        int64_t id = g_array_index(ids, int64_t, i);
        int rc = x->store->ops->retry(x->store, id);
        if (rc == 0)
            n++;
        else if (rc == CTK_EEXIST)
            skipped++, fail("%s; not retried", x->store->ops->last_error(x->store));
        else if (rc != CTK_EINVAL) /* EINVAL: not failed any more */
            status = store_fail(x);
    }
    g_array_free(ids, TRUE);
    printf("%u\n", n);
    if (status == 0 && skipped > 0)
        status = fail("%u failed job(s) not retried", skipped);
    return status;
}

int ctk_cqcmd_retry(ctk_cqcmd *x)
{
    if (x->o->failed == (x->n_args > 0))
        return ctk_cqcmd_usage_error("retry", "give job ids or --failed (not both)");
    if (x->o->failed)
        return retry_failed(x);
    int status = 0;
    for (int i = 0; i < x->n_args; i++) {
        int64_t id = 0;
        if (parse_id(x->args[i], &id) != 0)
            status = 1;
        else if (x->store->ops->retry(x->store, id) < 0)
            status = store_fail(x);
    }
    return status;
}

int ctk_cqcmd_kill(ctk_cqcmd *x)
{
    int status = 0;
    int signo = x->o->signo ? x->o->signo : SIGTERM;
    for (int i = 0; i < x->n_args; i++) {
        int64_t id = 0;
        ctk_job j;
        if (parse_id(x->args[i], &id) != 0) {
            status = 1;
            continue;
        }
        if (x->store->ops->request_kill(x->store, id, &j) < 0) {
            status = store_fail(x);
            continue;
        }
        /* A job that has not reported its pid yet gets it from its worker,
         * which sees the request when it records the pid. */
        if (j.state == CTK_JOB_RUNNING && j.pid > 0 && ctk_jobq_signal_job(&j, signo) < 0)
            status = fail("job %lld: runs on %s, not here; it will not be retried", (long long)id,
                          j.worker ? j.worker : "another machine");
        ctk_job_clear(&j);
    }
    return status;
}

/* ---- queue control -------------------------------------------------------------- */

int ctk_cqcmd_pause(ctk_cqcmd *x)
{
    return x->store->ops->set_paused(x->store, x->o->queue, 1) < 0 ? store_fail(x) : 0;
}

int ctk_cqcmd_resume(ctk_cqcmd *x)
{
    return x->store->ops->set_paused(x->store, x->o->queue, 0) < 0 ? store_fail(x) : 0;
}

int ctk_cqcmd_stop(ctk_cqcmd *x)
{
    return x->store->ops->stop(x->store, x->o->queue) < 0 ? store_fail(x) : 0;
}

static const ctk_field stats_fields[] = {
    {"queue", CTK_FIELD_STRING},     {"paused", CTK_FIELD_NUMBER},
    {"queued", CTK_FIELD_NUMBER},    {"running", CTK_FIELD_NUMBER},
    {"done", CTK_FIELD_NUMBER},      {"failed", CTK_FIELD_NUMBER},
    {"cancelled", CTK_FIELD_NUMBER}, {"throughput", CTK_FIELD_NUMBER},
    {"mean_wait", CTK_FIELD_NUMBER}, {"mean_run", CTK_FIELD_NUMBER},
};

int ctk_cqcmd_stats(ctk_cqcmd *x)
{
    ctk_store_stats s;
    if (x->store->ops->stats(x->store, x->o->queue, &s) < 0)
        return store_fail(x);
    char n[CTK_JOB_NSTATES][24], paused[8], tp[32], mw[32], mr[32];
    for (int i = 0; i < CTK_JOB_NSTATES; i++)
        snprintf(n[i], sizeof n[i], "%llu", (unsigned long long)s.count[i]);
    snprintf(paused, sizeof paused, "%d", s.paused);
    snprintf(tp, sizeof tp, "%.3f", (double)s.finished_last_minute / 60.0);
    snprintf(mw, sizeof mw, "%.3f", s.mean_wait);
    snprintf(mr, sizeof mr, "%.3f", s.mean_run);
    const char *v[] = {x->o->queue, paused, n[0], n[1], n[2], n[3], n[4], tp, mw, mr};
    records out;
    if (records_new(&out, x->o, stats_fields, G_N_ELEMENTS(stats_fields)) != 0)
        return 1;
    int rc = records_row(&out, v);
    records_end(&out);
    return rc < 0 ? 1 : 0;
}

static int forget_output(void *arg, const ctk_job *j)
{
    remove_output(arg, j->id);
    return 0;
}

int ctk_cqcmd_clear(ctk_cqcmd *x)
{
    if (x->o->clear_mask == 0)
        return ctk_cqcmd_usage_error("clear",
                                     "say what to clear: --done, --failed, --cancelled or --all");
    unsigned n;
    if (x->store->ops->clear(x->store, x->o->queue, x->o->clear_mask, forget_output, &x->side, &n) <
        0)
        return store_fail(x);
    printf("%u\n", n);
    return 0;
}

/* ---- work ----------------------------------------------------------------------- */

/* The built-in store's database is a file of ours. */
static int is_file_store(const ctk_cqcmd *x)
{
    return strcmp(x->db.location, x->db.side_base) == 0;
}

/* Whoever can write the database decides what a worker runs: a file of
 * another user, or one others may write, is refused (missing is fine: it
 * is about to be created, ours). */
static int check_db_file(ctk_cqcmd *x, int must_exist)
{
    struct stat st;
    char err[600];
    if (!is_file_store(x))
        return 0;
    if (stat(x->db.location, &st) < 0)
        return errno == ENOENT && !must_exist
                   ? 0
                   : fail("cannot open %s: %s", x->db.location, g_strerror(errno));
    if (cq_check_trusted(&st, x->o->shared_group, x->db.location, err, sizeof err) < 0)
        return fail("%s", err);
    return 0;
}

static int open_store(ctk_cqcmd *x)
{
    char err[1024];
    ctk_store_opts so = {.location = x->db.location};
    if (check_db_file(x, 0) != 0)
        return 1;
    if (ctk_store_open(&x->store, x->db.store->ops, &so, err, sizeof err) < 0)
        return fail("%s", err);
    /* Again once open: a file planted between the look and the open. */
    if (check_db_file(x, 1) != 0) {
        ctk_store_close(x->store);
        x->store = NULL;
        return 1;
    }
    return 0;
}

/* Takes the queue's daemon lock, then detaches: the parent prints the
 * daemon's pid and exits; the child returns 0 with the lock held. */
static int daemonize(ctk_cqcmd *x, FILE **log)
{
    char *pid_name = g_strdup_printf("work-%s.pid", x->o->queue);
    char *log_name = g_strdup_printf("work-%s.log", x->o->queue);
    char *pid_path = g_build_filename(x->side.dir, pid_name, NULL);
    char *log_path = g_build_filename(x->side.dir, log_name, NULL);
    int status = 0, log_fd = -1;
    /* Inside the folder held open, and never through a planted link. */
    int fd = openat(x->side.dir_fd, pid_name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        status = fail("cannot open %s: %s", pid_path, g_strerror(errno));
    } else if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        char buf[32] = "";
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
        g_strchomp(buf);
        status = fail("a daemon already works on queue '%s' (pid %s; see %s)", x->o->queue,
                      buf[0] ? buf : "?", pid_path);
    } else if ((log_fd = openat(x->side.dir_fd, log_name,
                                O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) <
                   0 ||
               (*log = fdopen(log_fd, "a")) == NULL) {
        status = fail("cannot open %s: %s", log_path, g_strerror(errno));
        if (log_fd >= 0)
            close(log_fd);
    }
    if (status == 0) {
        ctk_closeout_flush(stdout);
        pid_t pid = fork();
        if (pid < 0) {
            status = fail("cannot fork: %s", g_strerror(errno));
        } else if (pid > 0) {
            printf("%ld\n", (long)pid);
            status = -1; /* the parent is done */
        } else {
            setsid();
            char buf[32];
            int len = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
            if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)len, 0) != len)
                fprintf(*log, "cqueue: cannot write %s\n", pid_path);
            int null = open("/dev/null", O_RDWR);
            dup2(null, 0);
            dup2(fileno(*log), 1);
            dup2(fileno(*log), 2);
            if (null > 2)
                close(null);
            /* fd stays open: the lock lives as long as the daemon. */
        }
    }
    if (status != 0 && fd >= 0)
        close(fd);
    if (status != 0 && *log != NULL) {
        fclose(*log);
        *log = NULL;
    }
    g_free(pid_path);
    g_free(log_path);
    g_free(pid_name);
    g_free(log_name);
    return status;
}

static void on_work_signal(void *arg, int signo)
{
    ctk_jobq_cancel_signal(arg, signo);
}

/* A job is a process to wait for: a thread per running job is the
 * cheapest way to do that, whatever the machine. */
#define DEFAULT_STRATEGY "thread"

static int work_loop(ctk_cqcmd *x, const char *name, const ctk_strategy *strategy, FILE *log);

int ctk_cqcmd_work(ctk_cqcmd *x)
{
    ctk_cqcmd_opts *o = x->o;
    const char *name = o->c.strategy != NULL ? o->c.strategy : DEFAULT_STRATEGY;
    char why[512];
    const ctk_strategy *strategy = ctk_cli_strategy(x->reg, name, why, sizeof why);
    if (strategy == NULL)
        return ctk_cqcmd_usage_error("work", why);
    if (o->once + o->drain > 1)
        return ctk_cqcmd_usage_error("work", "--once and --drain do not go together");
    FILE *log = NULL;
    if (o->daemon) {
        int rc = daemonize(x, &log);
        if (rc != 0)
            return rc < 0 ? 0 : rc;
    }
    if (open_store(x) != 0) {
        if (log)
            fclose(log);
        return 1;
    }
    /* Held as long as this worker runs: add then starts no daemon. */
    int serve_fd = serve_lock_open(x);
    if (serve_fd >= 0 && flock(serve_fd, LOCK_SH) < 0) {
        close(serve_fd);
        serve_fd = -1;
    }
    int status = work_loop(x, name, strategy, log);
    if (serve_fd >= 0)
        close(serve_fd);
    return status;
}

static int work_loop(ctk_cqcmd *x, const char *name, const ctk_strategy *strategy, FILE *log)
{
    ctk_cqcmd_opts *o = x->o;
    ctk_jobq_opts jo = {
        .store = x->store,
        .queue = o->queue,
        .out_dir = x->side.out_dir,
        .out_dir_fd = x->side.out_fd,
        .slots = ctk_cli_strategy_jobs(x->reg, name, o->c.jobs ? o->c.jobs : ctk_cpu_count()),
        .mode = o->once    ? CTK_JOBQ_ONCE
                : o->drain ? CTK_JOBQ_DRAIN
                           : CTK_JOBQ_FOREVER,
        .idle_exit = o->idle_exit,
        .lease = o->lease,
        .log = log,
        .strategy = strategy,
    };
    ctk_jobq *q;
    int rc = ctk_jobq_new(&q, &jo);
    if (rc < 0) {
        if (log)
            fclose(log);
        return fail("cannot start the worker: %s", ctk_strerror(rc));
    }
    ctk_sigwatch *sw = NULL;
    if ((rc = ctk_sigwatch_start(&sw, on_work_signal, q)) < 0) {
        ctk_jobq_free(q);
        if (log)
            fclose(log);
        return fail("cannot watch signals: %s", ctk_strerror(rc));
    }
    rc = ctk_jobq_run(q);
    int signo = ctk_sigwatch_stop(sw);
    int status = 0;
    if (rc < 0)
        status = fail("%s", ctk_jobq_error(q));
    else if (signo != 0)
        status = ctk_signal_exit_status(signo);
    else if ((o->drain || o->once) && ctk_jobq_failed(q) > 0)
        /* A script's `work --drain && deploy` must not deploy a failed build. */
        status = fail("%llu job(s) failed (cqueue -q %s ls --state failed)",
                      (unsigned long long)ctk_jobq_failed(q), o->queue);
    ctk_jobq_free(q);
    if (log)
        fclose(log);
    return status;
}

/* ---- setup ---------------------------------------------------------------------- */

/* A daemon changes directory: a relative file name must not. */
static void make_absolute(char **path)
{
    if (!g_path_is_absolute(*path)) {
        char *abs = g_canonicalize_filename(*path, NULL);
        g_free(*path);
        *path = abs;
    }
}

int ctk_cqcmd_prepare(ctk_cqcmd *x, int with_store)
{
    char err[1024];
    int rc = cq_db_pick(x->reg, x->o->db, &x->db, err, sizeof err);
    if (rc == CTK_EINVAL) {
        fprintf(stderr, PROG ": %s\n", err);
        return 2;
    }
    if (rc < 0)
        return fail("%s", err);
    if (x->o->daemon) {
        if (is_file_store(x))
            make_absolute(&x->db.location);
        make_absolute(&x->db.side_base);
    }
    if (is_file_store(x)) {
        /* Its folder, as `--db new/q.db` always made it; an error here is
         * the open's to report. */
        char *dir = g_path_get_dirname(x->db.location);
        g_mkdir_with_parents(dir, 0700);
        g_free(dir);
    }
    /* The store first: a file that is not a cqueue database, or that is
     * not to be trusted, is refused before anything is made beside it.
     * `work` opens it again itself (after detaching, with --daemon). */
    if (open_store(x) != 0)
        return 1;
    if (!with_store) {
        ctk_store_close(x->store);
        x->store = NULL;
    }
    if (cq_side_open(&x->side, x->db.side_base, x->o->shared_group, err, sizeof err) < 0)
        return fail("%s", err);
    return 0;
}

void ctk_cqcmd_close(ctk_cqcmd *x)
{
    ctk_store_close(x->store);
    x->store = NULL;
    cq_db_clear(&x->db);
    cq_side_close(&x->side);
}
