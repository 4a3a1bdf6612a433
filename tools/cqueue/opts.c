/*
 * opts.c: cqueue's option tables and their handler, which only fills a
 * ctk_cqcmd_opts (every number through ctkx/parse), and the command
 * table: which options, operands and shared options each command takes.
 */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "ctkx/parse.h"
#include "ctkx/spawn.h"
#include "opts.h"

#define PROG CQUEUE_PROG

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
    OPT_SHARED_GROUP,
    OPT_NO_START,
};

static const ctk_cli_option global_options[] = {
    {"queue", 'q', CTK_ARG_REQUIRED, "NAME", "the queue (default: default)", OPT_QUEUE},
    {"db", 0, CTK_ARG_REQUIRED, "PATH|STORE:LOCATION",
     "the database (before $CQUEUE_DB; default $XDG_STATE_HOME/ctk/queue.db)", OPT_DB},
    {"shared-group", 0, CTK_ARG_NONE, NULL,
     "trust a database and side folder a group of yours may write", OPT_SHARED_GROUP},
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
    {"no-start", 0, CTK_ARG_NONE, NULL,
     "start no daemon worker when none serves the queue (also CQUEUE_NO_AUTOSTART=1)",
     OPT_NO_START},
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

static int parse_after(ctk_cqcmd_opts *o, const char *v, char *why, size_t why_len)
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

/* A queue name becomes part of file names in the side folder
 * (work-QUEUE.pid, work-QUEUE.log): it must stay one name in it. */
static int check_queue_name(const char *v, char *why, size_t why_len)
{
    const char *bad = NULL;
    if (*v == '\0')
        bad = "must not be empty";
    else if (strchr(v, '/') != NULL)
        bad = "must not contain '/'";
    else if (strcmp(v, ".") == 0 || strcmp(v, "..") == 0)
        bad = "must not be '.' or '..'";
    if (bad == NULL)
        return 0;
    snprintf(why, why_len, "%s", bad);
    return CTK_EINVAL;
}

static int on_option(void *arg, int id, const char *v, char *why, size_t why_len)
{
    ctk_cqcmd_opts *o = arg;
    ctk_job_state st;
    ctk_spawn_termstep step;
    size_t n;
    switch (id) {
    case OPT_QUEUE:
        o->queue = v;
        return check_queue_name(v, why, why_len);
    case OPT_DB:
        o->db = v;
        return 0;
    case OPT_SHARED_GROUP:
        o->shared_group = 1;
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
    case OPT_NO_START:
        o->no_start = 1;
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

/* The shared options a command has no use for: --help lists only what
 * works, and the parser refuses the rest as unknown. No command
 * compares strategies, keeps an order or draws a bar. */
static const char *const without_run[] = {"compare",    "format",   "header",
                                          "keep-order", "progress", NULL};
static const char *const without_records[] = {
    "jobs", "strategy", "list-strategies", "compare", "keep-order", "progress", NULL};
static const char *const without_all[] = {"jobs",       "strategy", "list-strategies",
                                          "compare",    "format",   "header",
                                          "keep-order", "progress", NULL};

typedef int (*cq_fn)(ctk_cqcmd *x);

typedef struct cq_command {
    const char *name;
    cq_fn run;
    const ctk_cli_option *options;
    const char *synopsis;
    const char *summary;
    int operands_min, operands_max; /* -1: any number */
    int no_store;                   /* opens the store itself (work --daemon) */
    const char *const *without;     /* shared options it does not take */
} cq_command;

static const cq_command commands[] = {
    {"add", ctk_cqcmd_add, add_options, "[OPTION]... [--] COMMAND [ARG]...\n[OPTION]... -",
     "Add a job and print its id. One word is a shell command line; several are a program\n"
     "and its arguments. 'add -' adds one job per line of standard input, in batched\n"
     "transactions, and prints each batch's id range as it commits. When no worker\n"
     "serves the queue on this machine, add starts its daemon (work --daemon), as tsp\n"
     "runs a job at once; --no-start or CQUEUE_NO_AUTOSTART=1 leave it queued.",
     1, -1, 0, without_all},
    {"work", ctk_cqcmd_work, work_options, "[-j N] [-s STRATEGY] [--once|--drain] [OPTION]...",
     "Claim jobs and run them, N at a time, until stopped.", 0, 0, 1, without_run},
    {"ls", ctk_cqcmd_ls, ls_options, "[--state STATE] [--format FMT]", "List the jobs.", 0, 0, 0,
     without_records},
    {"show", ctk_cqcmd_show, no_options, "[ID]",
     "Show everything about a job (default: the last one added, as tsp -i).", 0, 1, 0,
     without_records},
    {"cat", ctk_cqcmd_cat, cat_options, "[--follow] [ID]",
     "Print a job's output (its stdout on stdout, its stderr on stderr); default: the\n"
     "last job added, as tsp -c.",
     0, 1, 0, without_all},
    {"wait", ctk_cqcmd_wait, wait_options, "[ID...]\n--all",
     "Wait until the jobs (default: the last one added, as tsp -w) have finished; exit\n"
     "with the job's status, or the number of failures for several.",
     0, -1, 0, without_records},
    {"rm", ctk_cqcmd_rm, no_options, "ID...", "Remove jobs that are not running.", 1, -1, 0,
     without_all},
    {"retry", ctk_cqcmd_retry, retry_options, "ID...\n--failed",
     "Queue failed or cancelled jobs again.", 0, -1, 0, without_all},
    {"kill", ctk_cqcmd_kill, kill_options, "[--signal SIG] ID...",
     "Signal a running job's process group (a queued one is cancelled).", 1, -1, 0, without_all},
    {"pause", ctk_cqcmd_pause, no_options, "", "Stop workers from claiming jobs of the queue.", 0,
     0, 0, without_all},
    {"resume", ctk_cqcmd_resume, no_options, "", "Let workers claim jobs again.", 0, 0, 0,
     without_all},
    {"stats", ctk_cqcmd_stats, no_options, "",
     "Counts per state, throughput (jobs/s over the last minute), mean wait and run time.", 0, 0, 0,
     without_records},
    {"clear", ctk_cqcmd_clear, clear_options, "--done|--failed|--cancelled|--all",
     "Remove finished jobs and their output.", 0, 0, 0, without_all},
    {"stop", ctk_cqcmd_stop, no_options, "",
     "Make every worker of the queue stop claiming, finish its jobs and exit.", 0, 0, 0,
     without_all},
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
    .synopsis = "[-q QUEUE] [--db PATH|STORE:LOCATION] COMMAND [ARG]...",
    .summary = "A durable job queue. Commands: add work ls show cat wait rm retry kill pause\n"
               "resume stats clear stop ('cqueue COMMAND --help' for each).",
    .options = global_options,
    .handler = on_option,
    .stop_at_operand = 1,
};

/* The shared --compare changes nothing in cqueue: there is no table for
 * --plot to draw, and a picture silently not drawn would be a lie. */
#define CQ_NO_PLOT "--plot: cqueue has no --compare table to draw"

/* The command's options, its shared options and its operands; -1 when it
 * is to run, else the exit status. */
static int parse_command(ctk_cqcmd_opts *o, ctk_registry *reg, int argc, char **argv,
                         cqueue_call *call)
{
    const cq_command *cmd = find_command(argv[0]);
    if (cmd == NULL) {
        char msg[128];
        snprintf(msg, sizeof msg, "unknown command '%.60s'", argv[0]);
        return ctk_cqcmd_usage_error(NULL, msg);
    }
    char prog[32], err[1600];
    snprintf(prog, sizeof prog, PROG " %s", cmd->name);
    ctk_cli cli = {.prog = prog,
                   .synopsis = cmd->synopsis,
                   .summary = cmd->summary,
                   .options = cmd->options,
                   .handler = on_option,
                   .handler_arg = o,
                   .stop_at_operand = 1,
                   .without = cmd->without};
    ctk_common c = {0};
    int first;
    if (ctk_cli_parse(&cli, reg, argc, argv, &c, &first, err, sizeof err) < 0) {
        ctk_common_free(&c);
        return ctk_cqcmd_usage_error(cmd->name, err);
    }
    /* `add - --cmd 'gzip {}'`: options may follow the '-' operand. */
    if (first < argc && strcmp(argv[first], "-") == 0 && first + 1 < argc) {
        int more;
        ctk_common c2 = {0};
        int rc = ctk_cli_parse(&cli, reg, argc - first, argv + first, &c2, &more, err, sizeof err);
        ctk_common_free(&c2);
        if (rc < 0) {
            ctk_common_free(&c);
            return ctk_cqcmd_usage_error(cmd->name, err);
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
    if (c.plot != NULL) {
        ctk_common_free(&c);
        return ctk_cqcmd_usage_error(cmd->name, CQ_NO_PLOT);
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
        return ctk_cqcmd_usage_error(cmd->name, n < cmd->operands_min ? "missing operand"
                                                                      : "too many operands");
    *call = (cqueue_call){
        .run = cmd->run, .with_store = !cmd->no_store, .args = argv + first, .n_args = n};
    return -1;
}

/* The hidden --dump-options: the global table, then each command's, each
 * after a "command\tNAME\tSYNOPSIS" line (the completions read which
 * commands take job ids from the synopsis). */
static int dump_options(ctk_registry *reg)
{
    ctk_cli_dump_options(&main_cli, reg, stdout);
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
        char *synopsis = g_strdelimit(g_strdup(commands[i].synopsis), "\n", '|');
        printf("command\t%s\t%s\n", commands[i].name, *synopsis != '\0' ? synopsis : "-");
        g_free(synopsis);
        ctk_cli cli = {.prog = commands[i].name,
                       .synopsis = commands[i].synopsis,
                       .summary = commands[i].summary,
                       .options = commands[i].options,
                       .stop_at_operand = 1};
        ctk_cli_dump_options(&cli, reg, stdout);
    }
    return 0;
}

void cqueue_opts_init(ctk_cqcmd_opts *o)
{
    *o = (ctk_cqcmd_opts){.queue = "default", .state = -1, .weight = 1};
    o->after = g_array_new(FALSE, FALSE, sizeof(int64_t));
}

void cqueue_opts_free(ctk_cqcmd_opts *o)
{
    g_array_free(o->after, TRUE);
    ctk_common_free(&o->c);
}

int cqueue_opts_parse(ctk_cqcmd_opts *o, ctk_registry *reg, int argc, char **argv,
                      cqueue_call *call)
{
    char err[1600];
    int first;
    ctk_cli cli = main_cli;
    cli.handler_arg = o;
    if (ctk_cli_parse(&cli, reg, argc, argv, &o->c, &first, err, sizeof err) < 0)
        return ctk_cqcmd_usage_error(NULL, err);
    if (o->c.dump_options)
        return dump_options(reg);
    if (ctk_cli_inform(&main_cli, reg, &o->c, stdout, NULL, NULL))
        return 0;
    if (o->c.plot != NULL)
        return ctk_cqcmd_usage_error(NULL, CQ_NO_PLOT);
    if (first == argc)
        return ctk_cqcmd_usage_error(NULL, "no command given");
    return parse_command(o, reg, argc - first, argv + first, call);
}
