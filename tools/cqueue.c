/*
 * cqueue: a durable producer/consumer job queue for the shell. Parses the
 * global options and one command from a table; the queue itself (store,
 * leases, workers) is libctk's store and jobq modules.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctk/cli.h"
#include "ctk/cmdline.h"
#include "ctk/jobadd.h"
#include "ctk/jobq.h"
#include "ctk/output.h"
#include "ctk/parse.h"
#include "ctk/sigwatch.h"
#include "ctk/store.h"

#define PROG         "cqueue"
#define WAIT_POLL_US 100000

/* ---- options -------------------------------------------------------------------- */

enum {
    OPT_QUEUE = 256,
    OPT_DB,
    OPT_NAME,
    OPT_PRIORITY,
    OPT_RETRIES,
    OPT_TIMEOUT,
    OPT_AFTER,
    OPT_ENV,
    OPT_KEY,
    OPT_WEIGHT,
    OPT_CMD,
    OPT_ONCE,
    OPT_DRAIN,
    OPT_IDLE_EXIT,
    OPT_DAEMON,
    OPT_LEASE,
    OPT_STATE,
    OPT_FOLLOW,
    OPT_ALL,
    OPT_FAILED,
    OPT_DONE,
    OPT_CANCELLED,
    OPT_SIGNAL,
};

typedef struct cq_opts {
    const char *queue, *db;
    /* add */
    const char *name, *key, *cmd;
    int64_t priority;
    uint64_t retries, weight;
    double timeout;
    GArray *after;
    int env;
    /* work */
    int once, drain, daemon;
    double idle_exit, lease;
    /* ls, cat, wait, retry, clear, kill */
    int state, follow, all, failed;
    unsigned clear_mask;
    int signo;
    ctk_common c;
} cq_opts;

static const ctk_cli_option global_options[] = {
    {"queue", 'q', CTK_ARG_REQUIRED, "NAME", "the queue (default: default)", OPT_QUEUE},
    {"db", 0, CTK_ARG_REQUIRED, "PATH",
     "the database (after $CQUEUE_DB; default $XDG_STATE_HOME/ctk/queue.db)", OPT_DB},
    {NULL, 0, 0, NULL, NULL, 0},
};

static const ctk_cli_option add_options[] = {
    {"name", 0, CTK_ARG_REQUIRED, "NAME", "a name shown by ls and show", OPT_NAME},
    {"priority", 0, CTK_ARG_REQUIRED, "P", "higher runs first (default 0; may be negative)",
     OPT_PRIORITY},
    {"retries", 0, CTK_ARG_REQUIRED, "N", "run a failing job up to N more times", OPT_RETRIES},
    {"timeout", 0, CTK_ARG_REQUIRED, "SECS", "end an attempt (its process group) after SECS",
     OPT_TIMEOUT},
    {"after", 0, CTK_ARG_REQUIRED, "ID[,ID...]", "start only when these jobs are done (repeatable)",
     OPT_AFTER},
    {"env", 0, CTK_ARG_NONE, NULL, "record the environment and run the job with it", OPT_ENV},
    {"key", 0, CTK_ARG_REQUIRED, "KEY", "not added while a queued or running job has KEY", OPT_KEY},
    {"weight", 0, CTK_ARG_REQUIRED, "W", "the job takes W of a worker's -j slots (default 1)",
     OPT_WEIGHT},
    {"cmd", 0, CTK_ARG_REQUIRED, "TEMPLATE", "with '-': each line fills TEMPLATE ({} {.} {/} ...)",
     OPT_CMD},
    {NULL, 0, 0, NULL, NULL, 0},
};

static const ctk_cli_option work_options[] = {
    {"once", 0, CTK_ARG_NONE, NULL, "run one ready job, if any, then exit", OPT_ONCE},
    {"drain", 0, CTK_ARG_NONE, NULL, "exit once no job of the queue is queued or running",
     OPT_DRAIN},
    {"idle-exit", 0, CTK_ARG_REQUIRED, "SECS", "exit after SECS with nothing to run",
     OPT_IDLE_EXIT},
    {"daemon", 0, CTK_ARG_NONE, NULL, "detach, with a pid file and a log next to the database",
     OPT_DAEMON},
    {"lease", 0, CTK_ARG_REQUIRED, "SECS", "how long a claim holds unrenewed (default 30)",
     OPT_LEASE},
    {NULL, 0, 0, NULL, NULL, 0},
};

static const ctk_cli_option ls_options[] = {
    {"state", 0, CTK_ARG_REQUIRED, "STATE", "only jobs in STATE (queued, running, done, ...)",
     OPT_STATE},
    {NULL, 0, 0, NULL, NULL, 0},
};

static const ctk_cli_option cat_options[] = {
    {"follow", 'f', CTK_ARG_NONE, NULL, "keep printing while the job runs", OPT_FOLLOW},
    {NULL, 0, 0, NULL, NULL, 0},
};

static const ctk_cli_option wait_options[] = {
    {"all", 0, CTK_ARG_NONE, NULL, "every job of the queue not finished yet", OPT_ALL},
    {NULL, 0, 0, NULL, NULL, 0},
};

static const ctk_cli_option retry_options[] = {
    {"failed", 0, CTK_ARG_NONE, NULL, "every failed job of the queue", OPT_FAILED},
    {NULL, 0, 0, NULL, NULL, 0},
};

static const ctk_cli_option kill_options[] = {
    {"signal", 0, CTK_ARG_REQUIRED, "SIG", "the signal (default TERM)", OPT_SIGNAL},
    {NULL, 0, 0, NULL, NULL, 0},
};

static const ctk_cli_option clear_options[] = {
    {"done", 0, CTK_ARG_NONE, NULL, "remove the done jobs", OPT_DONE},
    {"failed", 0, CTK_ARG_NONE, NULL, "remove the failed jobs", OPT_FAILED},
    {"cancelled", 0, CTK_ARG_NONE, NULL, "remove the cancelled jobs", OPT_CANCELLED},
    {"all", 0, CTK_ARG_NONE, NULL, "remove every finished job", OPT_ALL},
    {NULL, 0, 0, NULL, NULL, 0},
};

static const ctk_cli_option no_options[] = {{NULL, 0, 0, NULL, NULL, 0}};

static int parse_i64(const char *v, int64_t *out, char *why, size_t why_len)
{
    uint64_t u;
    int neg = v[0] == '-';
    int rc = ctk_parse_u64(v + neg, 0, INT32_MAX, &u, why, why_len);
    *out = neg ? -(int64_t)u : (int64_t)u;
    return rc;
}

static int parse_after(cq_opts *o, const char *v, char *why, size_t why_len)
{
    char **ids = g_strsplit(v, ",", -1);
    int rc = 0;
    for (char **p = ids; rc == 0 && *p != NULL; p++) {
        uint64_t id;
        if ((rc = ctk_parse_u64(*p, 1, INT64_MAX, &id, why, why_len)) == 0) {
            int64_t i = (int64_t)id;
            g_array_append_val(o->after, i);
        }
    }
    g_strfreev(ids);
    return rc;
}

static int on_option(void *arg, int id, const char *v, char *why, size_t why_len)
{
    cq_opts *o = arg;
    ctk_job_state st;
    ctk_spawn_termstep step;
    size_t n;
    switch (id) {
    case OPT_QUEUE:
        o->queue = v;
        return *v ? 0 : (snprintf(why, why_len, "must not be empty"), CTK_EINVAL);
    case OPT_DB:
        o->db = v;
        return 0;
    case OPT_NAME:
        o->name = v;
        return 0;
    case OPT_PRIORITY:
        return parse_i64(v, &o->priority, why, why_len);
    case OPT_RETRIES:
        return ctk_parse_u64(v, 0, 1000000, &o->retries, why, why_len);
    case OPT_TIMEOUT:
        return ctk_parse_seconds(v, 1e9, &o->timeout, why, why_len);
    case OPT_AFTER:
        return parse_after(o, v, why, why_len);
    case OPT_ENV:
        o->env = 1;
        return 0;
    case OPT_KEY:
        o->key = v;
        return 0;
    case OPT_WEIGHT:
        return ctk_parse_u64(v, 1, 1024, &o->weight, why, why_len);
    case OPT_CMD:
        o->cmd = v;
        return 0;
    case OPT_ONCE:
        o->once = 1;
        return 0;
    case OPT_DRAIN:
        o->drain = 1;
        return 0;
    case OPT_IDLE_EXIT:
        return ctk_parse_seconds(v, 1e9, &o->idle_exit, why, why_len);
    case OPT_DAEMON:
        o->daemon = 1;
        return 0;
    case OPT_LEASE:
        if (ctk_parse_seconds(v, 1e6, &o->lease, why, why_len) < 0)
            return CTK_EINVAL;
        return o->lease >= 0.3 ? 0 : (snprintf(why, why_len, "must be at least 0.3"), CTK_EINVAL);
    case OPT_STATE:
        if (ctk_job_state_parse(v, &st) == 0) {
            o->state = (int)st;
            return 0;
        }
        snprintf(why, why_len, "one of queued, running, done, failed, cancelled");
        return CTK_EINVAL;
    case OPT_FOLLOW:
        o->follow = 1;
        return 0;
    case OPT_ALL:
        o->all = 1;
        o->clear_mask |= 1u << CTK_JOB_DONE | 1u << CTK_JOB_FAILED | 1u << CTK_JOB_CANCELLED;
        return 0;
    case OPT_FAILED:
        o->failed = 1;
        o->clear_mask |= 1u << CTK_JOB_FAILED;
        return 0;
    case OPT_DONE:
        o->clear_mask |= 1u << CTK_JOB_DONE;
        return 0;
    case OPT_CANCELLED:
        o->clear_mask |= 1u << CTK_JOB_CANCELLED;
        return 0;
    case OPT_SIGNAL:
        /* One termination step is one signal name or number. */
        if (ctk_spawn_termseq_parse(v, &step, 1, &n) == 0 && n == 1) {
            o->signo = step.signo;
            return 0;
        }
        snprintf(why, why_len, "a signal name (TERM, KILL, INT...) or number");
        return CTK_EINVAL;
    }
    return CTK_EINVAL;
}

/* ---- the command table ---------------------------------------------------------- */

typedef struct cq_ctx {
    cq_opts *o;
    char *db_path, *side_dir, *out_dir;
    ctk_store *store;
    char **args; /* the command's operands */
    int n_args;
} cq_ctx;

typedef int (*cq_fn)(cq_ctx *x);

typedef struct cq_command {
    const char *name;
    cq_fn run;
    const ctk_cli_option *options;
    const char *synopsis;
    const char *summary;
    int operands_min, operands_max; /* -1: any number */
    int no_store;                   /* opens the store itself (work --daemon) */
} cq_command;

static int usage_error(const char *cmd, const char *message)
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

static int store_fail(cq_ctx *x)
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

static void fill_spec(cq_ctx *x, ctk_job_spec *s, const char *cwd, char **env)
{
    cq_opts *o = x->o;
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

static int add_one(cq_ctx *x, const char *cwd, char **env)
{
    ctk_job_spec s;
    fill_spec(x, &s, cwd, env);
    ctk_buf line = {0};
    /* One word is a shell command line ('make && make test'); several are
     * a program and its arguments, run without a shell. */
    if (x->n_args == 1) {
        s.cmd = x->args[0];
    } else {
        for (int i = 0; i < x->n_args; i++) {
            if (i > 0)
                ctk_buf_append(&line, " ", 1);
            ctk_cmdline_quote(&line, x->args[i], strlen(x->args[i]));
        }
        ctk_buf_append(&line, "", 1);
        s.cmd = (const char *)line.data;
        s.argv = (const char *const *)x->args;
    }
    int64_t id = 0;
    char err[600];
    int rc = x->store->ops->add(x->store, &s, 1, &id, NULL, err, sizeof err);
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
    fflush(stdout);
}

static void warn_skip(void *arg, uint64_t line, const char *why)
{
    (void)arg;
    fprintf(stderr, PROG ": line %llu: %s; not added\n", (unsigned long long)line, why);
}

static int add_stream(cq_ctx *x, const char *cwd, char **env)
{
    ctk_cmdline *tpl = NULL;
    char err[1024];
    if (x->o->cmd != NULL) {
        char *words[] = {(char *)x->o->cmd};
        if (ctk_cmdline_parse(&tpl, words, 1, NULL, 0, err, sizeof err) < 0)
            return usage_error("add", err);
    }
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

static int cmd_add(cq_ctx *x)
{
    char *cwd = g_get_current_dir();
    char **env = x->o->env ? g_get_environ() : NULL;
    int status;
    int from_stdin = x->n_args == 1 && strcmp(x->args[0], "-") == 0;
    if (!from_stdin && strcmp(x->args[0], "-") == 0)
        status = usage_error("add", "'add -' takes no other operand");
    else if (!from_stdin && x->o->cmd != NULL)
        status = usage_error("add", "--cmd goes with 'add -' (items on standard input)");
    else if (from_stdin && x->o->key != NULL)
        status = usage_error("add", "--key names one job; it does not go with 'add -'");
    else
        status = from_stdin ? add_stream(x, cwd, env) : add_one(x, cwd, env);
    g_strfreev(env);
    g_free(cwd);
    return status;
}

/* ---- records -------------------------------------------------------------------- */

static const ctk_field job_fields[] = {
    {"id", CTK_FIELD_NUMBER},     {"state", CTK_FIELD_STRING},    {"exit", CTK_FIELD_NUMBER},
    {"signal", CTK_FIELD_NUMBER}, {"attempts", CTK_FIELD_NUMBER}, {"queued_at", CTK_FIELD_NUMBER},
    {"start", CTK_FIELD_NUMBER},  {"elapsed", CTK_FIELD_NUMBER},  {"name", CTK_FIELD_STRING},
    {"cmd", CTK_FIELD_STRING},    {"reason", CTK_FIELD_STRING},
};

/* People get a table; pipes get TSV unless --format says otherwise. */
static ctk_format format_of(const cq_opts *o)
{
    if (o->c.format_given)
        return o->c.format;
    return isatty(1) ? CTK_FORMAT_TABLE : CTK_FORMAT_TSV;
}

static ctk_output *records_new(const cq_opts *o, const ctk_field *fields, size_t n)
{
    ctk_output *out = NULL;
    ctk_output_new(&out, stdout, format_of(o), fields, n, o->c.header);
    return out;
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
    snprintf(qa, sizeof qa, "%.3f", j->queued_at);
    snprintf(st, sizeof st, "%.3f", j->started_at);
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
    return ctk_output_row(arg, v) < 0;
}

static int cmd_ls(cq_ctx *x)
{
    ctk_output *out = records_new(x->o, job_fields, G_N_ELEMENTS(job_fields));
    ctk_store_filter f = {x->o->queue, x->o->state, 0, 0};
    int rc = x->store->ops->list(x->store, &f, job_row, out);
    ctk_output_finish(out);
    ctk_output_free(out);
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

static void show_job(cq_ctx *x, const ctk_job *j)
{
    show_line("id:", "%lld", (long long)j->id);
    show_line("queue:", "%s", j->queue);
    if (j->name)
        show_line("name:", "%s", j->name);
    show_line("state:", "%s", ctk_job_state_name(j->state));
    if (j->reason)
        show_line("reason:", "%s", j->reason);
    show_line("cmd:", "%s", j->cmd);
    show_line("cwd:", "%s", j->cwd ? j->cwd : "");
    if (j->key)
        show_line("key:", "%s", j->key);
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
    show_line("queued_at:", "%.3f", j->queued_at);
    if (j->started_at > 0)
        show_line("start:", "%.3f", j->started_at);
    if (job_elapsed(j) >= 0)
        show_line("elapsed:", "%.3f", job_elapsed(j));
    if (j->worker)
        show_line("worker:", "%s", j->worker);
    if (j->state == CTK_JOB_RUNNING && j->pid > 0)
        show_line("pid:", "%lld", (long long)j->pid);
    char *out = ctk_jobq_out_path(x->out_dir, j->id, 1),
         *err = ctk_jobq_out_path(x->out_dir, j->id, 2);
    show_line("stdout:", "%s", out);
    show_line("stderr:", "%s", err);
    g_free(out);
    g_free(err);
}

static int cmd_show(cq_ctx *x)
{
    int64_t id = 0;
    if (parse_id(x->args[0], &id))
        return 1;
    ctk_job j;
    if (x->store->ops->get(x->store, id, &j) < 0)
        return store_fail(x);
    if (x->o->c.format_given) {
        ctk_output *out = records_new(x->o, job_fields, G_N_ELEMENTS(job_fields));
        job_row(out, &j);
        ctk_output_finish(out);
        ctk_output_free(out);
    } else {
        show_job(x, &j);
    }
    ctk_job_clear(&j);
    return 0;
}

/* Copies what was added to path since *off to fd. */
static void copy_new(const char *path, off_t *off, int to)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[65536];
    ssize_t n;
    while ((n = pread(fd, buf, sizeof buf, *off)) > 0) {
        ssize_t w = 0;
        while (w < n) {
            ssize_t k = write(to, buf + w, (size_t)(n - w));
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0)
                break;
            w += k;
        }
        *off += n;
    }
    close(fd);
}

static int cmd_cat(cq_ctx *x)
{
    int64_t id = 0;
    if (parse_id(x->args[0], &id))
        return 1;
    char *path[2] = {ctk_jobq_out_path(x->out_dir, id, 1), ctk_jobq_out_path(x->out_dir, id, 2)};
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
        copy_new(path[0], &off[0], 1);
        copy_new(path[1], &off[1], 2);
        if (!x->o->follow || !live || ctk_signal_pending())
            break;
        g_usleep(WAIT_POLL_US);
    }
    g_free(path[0]);
    g_free(path[1]);
    return status;
}

/* ---- wait ----------------------------------------------------------------------- */

static int collect_unfinished(void *arg, const ctk_job *j)
{
    g_array_append_val((GArray *)arg, j->id);
    return 0;
}

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

static int wait_ids(cq_ctx *x, GArray *ids)
{
    ctk_output *out = records_new(x->o, job_fields, G_N_ELEMENTS(job_fields));
    int failures = 0, last = 0, status = 0;
    for (guint i = 0; i < ids->len && status == 0; i++) {
        int64_t id = g_array_index(ids, int64_t, i);
        for (;;) {
            ctk_job j;
            if (x->store->ops->get(x->store, id, &j) < 0) {
                status = store_fail(x);
                break;
            }
            if (j.state >= CTK_JOB_DONE) {
                job_row(out, &j);
                last = job_status(&j);
                failures += last != 0;
                ctk_job_clear(&j);
                break;
            }
            ctk_job_clear(&j);
            int signo = ctk_signal_pending();
            if (signo != 0) {
                status = ctk_signal_exit_status(signo);
                break;
            }
            g_usleep(WAIT_POLL_US);
        }
    }
    ctk_output_finish(out);
    ctk_output_free(out);
    if (status != 0)
        return status;
    if (ids->len == 1)
        return last;
    return failures > 101 ? 101 : failures;
}

static int cmd_wait(cq_ctx *x)
{
    GArray *ids = g_array_new(FALSE, FALSE, sizeof(int64_t));
    int status = 0;
    if (x->o->all == (x->n_args > 0)) {
        status = usage_error("wait", "give job ids or --all (not both)");
    } else if (x->o->all) {
        for (int s = CTK_JOB_QUEUED; s <= CTK_JOB_RUNNING && status == 0; s++) {
            ctk_store_filter f = {x->o->queue, s, 0, 0};
            if (x->store->ops->list(x->store, &f, collect_unfinished, ids) < 0)
                status = store_fail(x);
        }
    } else {
        for (int i = 0; i < x->n_args && status == 0; i++) {
            int64_t id = 0;
            ctk_job j;
            if (parse_id(x->args[i], &id) != 0)
                status = 1;
            else if (x->store->ops->get(x->store, id, &j) < 0)
                status = store_fail(x);
            else {
                ctk_job_clear(&j);
                g_array_append_val(ids, id);
            }
        }
    }
    /* Ctrl-C ends the wait, not the jobs: take it as a pending signal. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    if (status == 0)
        status = wait_ids(x, ids);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    g_array_free(ids, TRUE);
    return status;
}

/* ---- rm, retry, kill ------------------------------------------------------------ */

static void remove_output(const char *out_dir, int64_t id)
{
    for (int s = 1; s <= 2; s++) {
        char *p = ctk_jobq_out_path(out_dir, id, s);
        unlink(p);
        g_free(p);
    }
}

static int cmd_rm(cq_ctx *x)
{
    int status = 0;
    for (int i = 0; i < x->n_args; i++) {
        int64_t id = 0;
        if (parse_id(x->args[i], &id) != 0)
            status = 1;
        else if (x->store->ops->remove(x->store, id) < 0)
            status = store_fail(x);
        else
            remove_output(x->out_dir, id);
    }
    return status;
}

static int cmd_retry(cq_ctx *x)
{
    if (x->o->failed == (x->n_args > 0))
        return usage_error("retry", "give job ids or --failed (not both)");
    if (x->o->failed) {
        unsigned n;
        if (x->store->ops->retry_failed(x->store, x->o->queue, &n) < 0)
            return store_fail(x);
        printf("%u\n", n);
        return 0;
    }
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

static int cmd_kill(cq_ctx *x)
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

static int cmd_pause(cq_ctx *x)
{
    return x->store->ops->set_paused(x->store, x->o->queue, 1) < 0 ? store_fail(x) : 0;
}

static int cmd_resume(cq_ctx *x)
{
    return x->store->ops->set_paused(x->store, x->o->queue, 0) < 0 ? store_fail(x) : 0;
}

static int cmd_stop(cq_ctx *x)
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

static int cmd_stats(cq_ctx *x)
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
    ctk_output *out = records_new(x->o, stats_fields, G_N_ELEMENTS(stats_fields));
    ctk_output_row(out, v);
    ctk_output_finish(out);
    ctk_output_free(out);
    return 0;
}

static int forget_output(void *arg, const ctk_job *j)
{
    remove_output(arg, j->id);
    return 0;
}

static int cmd_clear(cq_ctx *x)
{
    if (x->o->clear_mask == 0)
        return usage_error("clear", "say what to clear: --done, --failed, --cancelled or --all");
    unsigned n;
    if (x->store->ops->clear(x->store, x->o->queue, x->o->clear_mask, forget_output, x->out_dir,
                             &n) < 0)
        return store_fail(x);
    printf("%u\n", n);
    return 0;
}

/* ---- work ----------------------------------------------------------------------- */

static int open_store(cq_ctx *x)
{
    char err[1024];
    ctk_store_opts so = {.location = x->db_path};
    if (ctk_store_open(&x->store, ctk_store_sqlite_ops(), &so, err, sizeof err) < 0)
        return fail("%s", err);
    return 0;
}

/* Takes the queue's daemon lock, then detaches: the parent prints the
 * daemon's pid and exits; the child returns 0 with the lock held. */
static int daemonize(cq_ctx *x, FILE **log)
{
    char *pid_path = g_strdup_printf("%s/work-%s.pid", x->side_dir, x->o->queue);
    char *log_path = g_strdup_printf("%s/work-%s.log", x->side_dir, x->o->queue);
    int status = 0;
    int fd = open(pid_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        status = fail("cannot open %s: %s", pid_path, g_strerror(errno));
    } else if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        char buf[32] = "";
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
        g_strchomp(buf);
        status = fail("a daemon already works on queue '%s' (pid %s; see %s)", x->o->queue,
                      buf[0] ? buf : "?", pid_path);
    } else if ((*log = fopen(log_path, "a")) == NULL) {
        status = fail("cannot open %s: %s", log_path, g_strerror(errno));
    }
    if (status == 0) {
        fflush(stdout);
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
    return status;
}

static void on_work_signal(void *arg, int signo)
{
    (void)signo;
    ctk_jobq_cancel(arg);
}

static int cmd_work(cq_ctx *x)
{
    cq_opts *o = x->o;
    const char *s = o->c.strategy;
    if (s != NULL && strcmp(s, "thread") != 0 && strcmp(s, "sync") != 0)
        return usage_error("work", "cqueue runs jobs with the thread or sync strategy");
    if (o->once + o->drain > 1)
        return usage_error("work", "--once and --drain do not go together");
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
    ctk_jobq_opts jo = {
        .store = x->store,
        .queue = o->queue,
        .out_dir = x->out_dir,
        .slots = s != NULL && strcmp(s, "sync") == 0 ? 1
                 : o->c.jobs                         ? o->c.jobs
                                                     : ctk_cpu_count(),
        .mode = o->once    ? CTK_JOBQ_ONCE
                : o->drain ? CTK_JOBQ_DRAIN
                           : CTK_JOBQ_FOREVER,
        .idle_exit = o->idle_exit,
        .lease = o->lease,
        .log = log,
    };
    ctk_jobq *q;
    ctk_jobq_new(&q, &jo);
    ctk_sigwatch *sw = NULL;
    ctk_sigwatch_start(&sw, on_work_signal, q);
    int rc = ctk_jobq_run(q);
    int signo = ctk_sigwatch_stop(sw);
    int status = 0;
    if (rc < 0)
        status = fail("%s", ctk_jobq_error(q));
    else if (signo != 0)
        status = ctk_signal_exit_status(signo);
    ctk_jobq_free(q);
    if (log)
        fclose(log);
    return status;
}

/* ---- main ----------------------------------------------------------------------- */

static const cq_command commands[] = {
    {"add", cmd_add, add_options, "[OPTION]... [--] COMMAND [ARG]...\n[OPTION]... -",
     "Add a job and print its id. One word is a shell command line; several are a program\n"
     "and its arguments. 'add -' adds one job per line of standard input, in batched\n"
     "transactions, and prints the id range.",
     1, -1, 0},
    {"work", cmd_work, work_options, "[-j N] [-s STRATEGY] [--once|--drain] [OPTION]...",
     "Claim jobs and run them, N at a time, until stopped.", 0, 0, 1},
    {"ls", cmd_ls, ls_options, "[--state STATE] [--format FMT]", "List the jobs.", 0, 0, 0},
    {"show", cmd_show, no_options, "ID", "Show everything about a job.", 1, 1, 0},
    {"cat", cmd_cat, cat_options, "[--follow] ID",
     "Print a job's output (its stdout on stdout, its stderr on stderr).", 1, 1, 0},
    {"wait", cmd_wait, wait_options, "ID...\n--all",
     "Wait until the jobs have finished; exit with the job's status, or the number of\n"
     "failures for several.",
     0, -1, 0},
    {"rm", cmd_rm, no_options, "ID...", "Remove jobs that are not running.", 1, -1, 0},
    {"retry", cmd_retry, retry_options, "ID...\n--failed", "Queue failed or cancelled jobs again.",
     0, -1, 0},
    {"kill", cmd_kill, kill_options, "[--signal SIG] ID...",
     "Signal a running job's process group (a queued one is cancelled).", 1, -1, 0},
    {"pause", cmd_pause, no_options, "", "Stop workers from claiming jobs of the queue.", 0, 0, 0},
    {"resume", cmd_resume, no_options, "", "Let workers claim jobs again.", 0, 0, 0},
    {"stats", cmd_stats, no_options, "",
     "Counts per state, throughput (jobs/s over the last minute), mean wait and run time.", 0, 0,
     0},
    {"clear", cmd_clear, clear_options, "--done|--failed|--cancelled|--all",
     "Remove finished jobs and their output.", 0, 0, 0},
    {"stop", cmd_stop, no_options, "",
     "Make every worker of the queue stop claiming, finish its jobs and exit.", 0, 0, 0},
};

static const cq_command *find_command(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static const ctk_cli main_cli = {
    .prog = PROG,
    .synopsis = "[-q QUEUE] [--db PATH] COMMAND [ARG]...",
    .summary = "A durable job queue. Commands: add work ls show cat wait rm retry kill pause\n"
               "resume stats clear stop ('cqueue COMMAND --help' for each).",
    .options = global_options,
    .handler = on_option,
    .stop_at_operand = 1,
};

static int prepare(cq_ctx *x, const cq_command *cmd)
{
    char err[1024];
    if (ctk_store_default_path(x->o->db, &x->db_path, err, sizeof err) < 0)
        return fail("%s", err);
    if (x->o->daemon && !g_path_is_absolute(x->db_path)) {
        char *abs = g_canonicalize_filename(x->db_path, NULL);
        g_free(x->db_path);
        x->db_path = abs;
    }
    if (ctk_store_side_dir(x->db_path, &x->side_dir, err, sizeof err) < 0)
        return fail("%s", err);
    x->out_dir = g_build_filename(x->side_dir, "out", NULL);
    return cmd->no_store ? 0 : open_store(x);
}

static int run_command(cq_opts *o, ctk_registry *reg, int argc, char **argv)
{
    const cq_command *cmd = find_command(argv[0]);
    if (cmd == NULL) {
        char msg[128];
        snprintf(msg, sizeof msg, "unknown command '%.60s'", argv[0]);
        return usage_error(NULL, msg);
    }
    char prog[32], err[1600];
    snprintf(prog, sizeof prog, PROG " %s", cmd->name);
    ctk_cli cli = {.prog = prog,
                   .synopsis = cmd->synopsis,
                   .summary = cmd->summary,
                   .options = cmd->options,
                   .handler = on_option,
                   .handler_arg = o,
                   .stop_at_operand = 1};
    ctk_common c = {0};
    int first, status;
    if (ctk_cli_parse(&cli, reg, argc, argv, &c, &first, err, sizeof err) < 0) {
        ctk_common_free(&c);
        return usage_error(cmd->name, err);
    }
    /* `add - --cmd 'gzip {}'`: options may follow the '-' operand. */
    if (first < argc && strcmp(argv[first], "-") == 0 && first + 1 < argc) {
        int more;
        ctk_common c2 = {0};
        int rc = ctk_cli_parse(&cli, reg, argc - first, argv + first, &c2, &more, err, sizeof err);
        ctk_common_free(&c2);
        if (rc < 0) {
            ctk_common_free(&c);
            return usage_error(cmd->name, err);
        }
        if (more > 1) {
            argv[first + more - 1] = argv[first];
            first += more - 1;
        }
    }
    if (ctk_cli_inform(&cli, reg, &c, stdout, NULL, NULL)) {
        ctk_common_free(&c);
        return 0;
    }
    if (c.format_given || c.header || c.jobs || c.strategy) {
        /* Shared options given after the command count as given before it. */
        ctk_common_free(&o->c);
        o->c = c;
    } else {
        ctk_common_free(&c);
    }
    int n = argc - first;
    if (n < cmd->operands_min || (cmd->operands_max >= 0 && n > cmd->operands_max))
        return usage_error(cmd->name,
                           n < cmd->operands_min ? "missing operand" : "too many operands");
    cq_ctx x = {.o = o, .args = argv + first, .n_args = n};
    status = prepare(&x, cmd);
    if (status == 0)
        status = cmd->run(&x);
    ctk_store_close(x.store);
    g_free(x.db_path);
    g_free(x.side_dir);
    g_free(x.out_dir);
    return status;
}

int main(int argc, char **argv)
{
    cq_opts o = {.queue = "default", .state = -1, .weight = 1};
    o.after = g_array_new(FALSE, FALSE, sizeof(int64_t));
    ctk_registry *reg;
    char err[1600];
    int first, status = 0;
    ctk_cli_guard_stdio();
    ctk_cli cli = main_cli;
    cli.handler_arg = &o;
    ctk_registry_new(&reg);
    if (ctk_cli_parse(&cli, reg, argc, argv, &o.c, &first, err, sizeof err) < 0)
        status = usage_error(NULL, err);
    else if (ctk_cli_inform(&main_cli, reg, &o.c, stdout, NULL, NULL))
        status = 0;
    else if (first == argc)
        status = usage_error(NULL, "no command given");
    else
        status = run_command(&o, reg, argc - first, argv + first);
    g_array_free(o.after, TRUE);
    ctk_common_free(&o.c);
    ctk_registry_free(reg);
    return status;
}
