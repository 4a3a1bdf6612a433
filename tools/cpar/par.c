/*
 * par.c: cpar's jobs (see ctk/par.h). A unit's input is the job's columns;
 * its output is what came of it: exit, signal, times, the command line,
 * and the captured output (in memory, or in a named temporary file once it
 * outgrew the spawn module's memory bound).
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "par.h"
#include "ctkx/rate.h"

enum { JOB_RUN = 0, JOB_SKIP = 1 };

struct ctk_par {
    ctk_par_opts opts;
    const int *cancel;
    GHashTable *skip; /* seq -> 1: already done (--resume) */
    int nul_replaced;
    ctk_item item;        /* the producer's scratch */
    pthread_mutex_t lock; /* slots, running jobs, counts */
    unsigned char *slot_used;
    GPtrArray *running;    /* ctk_spawn_child * */
    GPtrArray *uv_running; /* pids of the async strategy's children */
    int cancels;
    int halted; /* --halt decided: 1 soon, 2 now */
    int halt_status;
    uint64_t ran, failed;
    uint64_t h_done, h_failed, h_succeeded; /* --halt's counts, at job end */
    ctk_rate *rate;                         /* --delay / --rate; NULL: none */
    GQueue *pending;                        /* -X/-m: items read but not yet in a job (GBytes) */
    size_t spread_max;                      /* -X/-m: items per job once spread over the slots */
    int spread_done;
    ctk_buf scratch;
    int rate_in_produce;       /* the pipeline runs: the reader thread waits */
    ctk_spawn_program program; /* argv[0] searched in $PATH once */
};

/* ---- byte encoding ------------------------------------------------------------ */

static void put_u64(ctk_buf *b, uint64_t v)
{
    ctk_buf_append(b, &v, sizeof v);
}

static void put_str(ctk_buf *b, const void *data, size_t len)
{
    put_u64(b, len);
    ctk_buf_append(b, data, len);
}

typedef struct cursor {
    const unsigned char *p;
    size_t left;
} cursor;

static int get_u64(cursor *c, uint64_t *v)
{
    if (c->left < sizeof *v)
        return CTK_EIO;
    memcpy(v, c->p, sizeof *v);
    c->p += sizeof *v;
    c->left -= sizeof *v;
    return 0;
}

static int get_str(cursor *c, const char **data, size_t *len)
{
    uint64_t n;
    if (get_u64(c, &n) < 0 || n > c->left)
        return CTK_EIO;
    *data = (const char *)c->p;
    *len = (size_t)n;
    c->p += n;
    c->left -= n;
    return 0;
}

/* ---- life cycle --------------------------------------------------------------- */

/* Reads Seq and Exitval/Signal from a joblog in GNU parallel's format. */
static int read_joblog(ctk_par *p, char *err, size_t err_len)
{
    FILE *f = fopen(p->opts.joblog_path, "r");
    if (f == NULL)
        return errno == ENOENT ? 0 : -errno; /* nothing done yet */
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    for (unsigned n = 1; getline(&line, &cap, f) > 0; n++) {
        if (n == 1 && strncmp(line, "Seq\t", 4) == 0)
            continue;
        char **f9 = g_strsplit(line, "\t", 9);
        guint fields = g_strv_length(f9);
        char *end = NULL;
        unsigned long long seq = fields == 9 ? strtoull(f9[0], &end, 10) : 0;
        if (fields != 9 || end == f9[0] || *end != '\0') {
            snprintf(err, err_len, "%s:%u: not a joblog line", p->opts.joblog_path, n);
            rc = CTK_EINVAL;
        } else if (p->opts.resume == 1 || (strcmp(f9[6], "0") == 0 && strcmp(f9[7], "0") == 0)) {
            g_hash_table_add(p->skip, GUINT_TO_POINTER((guint)seq));
        }
        g_strfreev(f9);
        if (rc < 0)
            break;
    }
    free(line);
    fclose(f);
    return rc;
}

int ctk_par_new(ctk_par **out, const ctk_par_opts *opts, char *err, size_t err_len)
{
    ctk_par *p = g_new0(ctk_par, 1);
    p->opts = *opts;
    p->skip = g_hash_table_new(g_direct_hash, g_direct_equal);
    p->slot_used = g_new0(unsigned char, opts->jobs + 1);
    p->running = g_ptr_array_new();
    p->uv_running = g_ptr_array_new();
    p->pending = g_queue_new();
    p->halt_status = -1;
    if (opts->start_rate > 0)
        p->rate = ctk_rate_new(opts->start_rate);
    pthread_mutex_init(&p->lock, NULL);
    ctk_spawn_program_init(&p->program);
    int rc = opts->resume && opts->joblog_path ? read_joblog(p, err, err_len) : 0;
    if (rc < 0) {
        ctk_par_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void ctk_par_free(ctk_par *p)
{
    if (p == NULL)
        return;
    ctk_item_clear(&p->item);
    g_hash_table_destroy(p->skip);
    g_ptr_array_free(p->running, TRUE);
    g_ptr_array_free(p->uv_running, TRUE);
    g_queue_free_full(p->pending, (GDestroyNotify)g_bytes_unref);
    ctk_buf_free(&p->scratch);
    ctk_rate_free(p->rate);
    ctk_spawn_program_free(&p->program);
    pthread_mutex_destroy(&p->lock);
    g_free(p->slot_used);
    g_free(p);
}

void ctk_par_use_pipeline(ctk_par *p, const int *cancel)
{
    p->cancel = cancel;
    p->rate_in_produce = 1;
}

int ctk_par_nul_replaced(ctk_par *p)
{
    return p->nul_replaced;
}

void ctk_par_counts(ctk_par *p, uint64_t *ran, uint64_t *failed)
{
    pthread_mutex_lock(&p->lock);
    *ran = p->ran;
    *failed = p->failed;
    pthread_mutex_unlock(&p->lock);
}

/* ---- producing ---------------------------------------------------------------- */

/* One item's share of a -X/-m line, as GNU parallel counts it. */
static size_t arg_cost(ctk_par *p, GBytes *v, uint64_t seq)
{
    gsize size;
    ctk_cmdline_item arg = {g_bytes_get_data(v, &size), 0};
    arg.len = size;
    return ctk_cmdline_arg_cost(p->opts.cmd, &arg, seq, 1);
}

/* -X and -m: as many items as fit in a command line of max_chars, as GNU
 * parallel's CommandLine::populate fills it; at the end of input the last
 * items are spread evenly over the job slots (once). */
static int produce_fill(ctk_par *p, ctk_unit *unit)
{
    GPtrArray *args = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    size_t len, per_arg;
    ctk_cmdline_fill_cost(p->opts.cmd, &len, &per_arg);
    int eof = 0, rc = 0;
    while (p->spread_max == 0 || args->len < p->spread_max) {
        GBytes *v = g_queue_pop_head(p->pending);
        if (v == NULL) {
            rc = ctk_sources_next(p->opts.sources, &p->item, &p->nul_replaced, p->cancel);
            if (rc == CTK_EOF || rc == CTK_ECANCELED) {
                eof = 1;
                rc = 0;
                break;
            }
            if (rc < 0)
                break;
            v = g_bytes_new(p->item.cols[0], p->item.lens[0]);
        }
        g_ptr_array_add(args, v);
        len += (args->len > 1 ? per_arg : 0) + arg_cost(p, v, unit->seq);
        if (len >= p->opts.max_chars) {
            if (args->len > 1) {
                g_queue_push_head(p->pending, g_bytes_ref(v));
                g_ptr_array_remove_index(args, args->len - 1);
                break;
            }
            /* GNU parallel gives up on the whole run here (exit 255); one
             * job fails instead and the others go on. */
            g_ptr_array_free(args, TRUE);
            return ctk_unit_fail(unit, CTK_ERANGE, "command line too long (%zu >= %zu)", len,
                                 p->opts.max_chars);
        }
    }
    if (eof && !p->spread_done && args->len > 1 && g_queue_is_empty(p->pending)) {
        p->spread_done = 1;
        p->spread_max = (args->len + p->opts.jobs - 1) / p->opts.jobs;
        while (args->len > p->spread_max) {
            g_queue_push_head(p->pending, g_bytes_ref(g_ptr_array_index(args, args->len - 1)));
            g_ptr_array_remove_index(args, args->len - 1);
        }
    }
    if (rc == 0 && args->len == 0)
        rc = CTK_EOF;
    if (rc == 0) {
        int skip = g_hash_table_contains(p->skip, GUINT_TO_POINTER((guint)unit->seq));
        unsigned char flag = skip ? JOB_SKIP : JOB_RUN;
        ctk_buf_append(&unit->in, &flag, 1);
        put_u64(&unit->in, args->len);
        for (guint i = 0; i < args->len; i++) {
            gsize size;
            const void *data = g_bytes_get_data(g_ptr_array_index(args, i), &size);
            put_str(&unit->in, data, size);
        }
    }
    g_ptr_array_free(args, TRUE);
    return rc;
}

int ctk_par_produce(void *arg, ctk_unit *unit)
{
    ctk_par *p = arg;
    if (__atomic_load_n(&p->halted, __ATOMIC_SEQ_CST))
        return CTK_EOF;
    /* The pipeline's strategies take units as they come: spacing them
     * here spaces the starts. */
    if (p->rate != NULL && p->rate_in_produce && ctk_rate_wait(p->rate, p->cancel) < 0)
        return CTK_EOF;
    if (p->opts.max_chars > 0)
        return produce_fill(p, unit);
    int rc = ctk_sources_next(p->opts.sources, &p->item, &p->nul_replaced, p->cancel);
    if (rc == CTK_ECANCELED)
        return CTK_EOF;
    if (rc < 0)
        return rc;
    int skip = g_hash_table_contains(p->skip, GUINT_TO_POINTER((guint)unit->seq));
    unsigned char flag = skip ? JOB_SKIP : JOB_RUN;
    ctk_buf_append(&unit->in, &flag, 1);
    put_u64(&unit->in, p->item.n);
    for (size_t i = 0; i < p->item.n; i++)
        put_str(&unit->in, p->item.cols[i], p->item.lens[i]);
    return 0;
}

/* ---- running ------------------------------------------------------------------ */

static int cancelled(ctk_par *p)
{
    return __atomic_load_n(&p->cancels, __ATOMIC_SEQ_CST) > 0 || ctk_is_cancelled(p->cancel);
}

/* No new job starts: cancelled, or --halt decided so. */
static int stopping(ctk_par *p)
{
    return cancelled(p) || __atomic_load_n(&p->halted, __ATOMIC_SEQ_CST) != 0;
}

static unsigned take_slot(ctk_par *p)
{
    pthread_mutex_lock(&p->lock);
    unsigned slot = 1;
    while (slot < p->opts.jobs && p->slot_used[slot])
        slot++;
    p->slot_used[slot] = 1;
    pthread_mutex_unlock(&p->lock);
    return slot;
}

static void give_slot(ctk_par *p, unsigned slot)
{
    pthread_mutex_lock(&p->lock);
    p->slot_used[slot] = 0;
    pthread_mutex_unlock(&p->lock);
}

/* Registers a started child so a signal or --halt now can reach it; a
 * cancel that came first reaches it at once. */
static void track(ctk_par *p, ctk_spawn_child *child, int on)
{
    pthread_mutex_lock(&p->lock);
    if (on) {
        g_ptr_array_add(p->running, child);
        if (child->pid > 0 && (__atomic_load_n(&p->cancels, __ATOMIC_SEQ_CST) > 0 ||
                               __atomic_load_n(&p->halted, __ATOMIC_SEQ_CST) == 2))
            ctk_spawn_terminate(child);
    } else {
        g_ptr_array_remove_fast(p->running, child);
    }
    pthread_mutex_unlock(&p->lock);
}

/* Runs the termination sequence on every running job (--halt now). */
static void terminate_all(ctk_par *p)
{
    pthread_mutex_lock(&p->lock);
    for (guint i = 0; i < p->running->len; i++)
        ctk_spawn_terminate(g_ptr_array_index(p->running, i));
    for (guint i = 0; i < p->uv_running->len; i++)
        kill(-(pid_t)GPOINTER_TO_INT(g_ptr_array_index(p->uv_running, i)), SIGTERM);
    pthread_mutex_unlock(&p->lock);
}

void ctk_par_cancel(ctk_par *p, int signo)
{
    pthread_mutex_lock(&p->lock);
    __atomic_add_fetch(&p->cancels, 1, __ATOMIC_SEQ_CST);
    for (guint i = 0; i < p->running->len; i++) {
        ctk_spawn_child *child = g_ptr_array_index(p->running, i);
        if (p->cancels == 1 && signo > 0)
            ctk_spawn_signal(child, signo);
        else
            ctk_spawn_terminate(child);
    }
    /* Children of the async strategy: their pids stay ours until libuv
     * has reaped them, which happens on the loop thread after the exit
     * callback has taken them off this list. */
    for (guint i = 0; i < p->uv_running->len; i++) {
        pid_t pid = (pid_t)GPOINTER_TO_INT(g_ptr_array_index(p->uv_running, i));
        kill(-pid, p->cancels == 1 && signo > 0 ? signo : SIGKILL);
    }
    pthread_mutex_unlock(&p->lock);
}

/* Captured output goes back as bytes, or as the name of a file holding
 * them when it was too big for memory. */
static int put_stream(ctk_buf *b, const ctk_spawn_stream *s)
{
    if (s->spill_fd < 0) {
        put_str(b, s->mem.data, s->mem.len);
        put_str(b, "", 0);
        return 0;
    }
    const char *dir = g_getenv("TMPDIR") ? g_getenv("TMPDIR") : "/tmp";
    char *path = g_build_filename(dir, "cpar-out-XXXXXX", NULL);
    int fd = g_mkstemp_full(path, O_RDWR | O_CLOEXEC, 0600);
    int rc = fd < 0 ? -errno : ctk_spawn_stream_copy(s, fd);
    if (fd >= 0)
        close(fd);
    put_str(b, "", 0);
    put_str(b, rc == 0 ? path : "", rc == 0 ? strlen(path) : 0);
    if (rc < 0 && fd >= 0)
        unlink(path);
    g_free(path);
    return rc;
}

static double wall_clock(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static int decode_columns(const ctk_unit *unit, int *flag, ctk_cmdline_item **cols, size_t *n)
{
    cursor c = {unit->in.data, unit->in.len};
    uint64_t count;
    if (c.left < 1)
        return CTK_EIO;
    *flag = c.p[0];
    c.p++;
    c.left--;
    if (get_u64(&c, &count) < 0 || count > c.left)
        return CTK_EIO;
    *cols = g_new0(ctk_cmdline_item, count ? count : 1);
    for (uint64_t i = 0; i < count; i++)
        if (get_str(&c, &(*cols)[i].data, &(*cols)[i].len) < 0)
            return CTK_EIO;
    *n = (size_t)count;
    return 0;
}

/* One job on its way, whatever runs it: rendered once, then attempted
 * (--retries) until it succeeds, gives up or is stopped. */
typedef struct job {
    ctk_unit *unit;
    unsigned slot;
    ctk_buf line;
    char **argv;
    ctk_spawn_opts so;
    ctk_spawn_result res;
    unsigned attempts;
    double start;
} job;

enum { JOB_READY = 0, JOB_SKIPPED = 1 };

/* Decodes and renders a unit. Returns JOB_READY; JOB_SKIPPED when there
 * is nothing to run (done before, or --halt stopped new jobs); or a
 * negative code with the unit failed. */
static int job_begin(ctk_par *p, ctk_unit *unit, job *j)
{
    memset(j, 0, sizeof *j);
    j->unit = unit;
    ctk_cmdline_item *cols = NULL;
    size_t n = 0;
    int flag;
    int rc = decode_columns(unit, &flag, &cols, &n);
    if (rc < 0 || flag == JOB_SKIP || stopping(p)) {
        g_free(cols);
        if (rc == 0 && flag != JOB_SKIP)
            unit->in.data[0] = JOB_SKIP; /* never ran: not reported */
        return rc < 0 ? ctk_unit_fail(unit, rc, "malformed job") : JOB_SKIPPED;
    }
    j->slot = take_slot(p);
    ctk_cmdline_args args = {cols, n, unit->seq, j->slot};
    rc = ctk_cmdline_render(p->opts.cmd, &args, &j->line, p->opts.dry_run ? NULL : &j->argv);
    g_free(cols);
    if (rc < 0) {
        give_slot(p, j->slot);
        ctk_buf_free(&j->line);
        return ctk_unit_fail(unit, rc, "an argument contains a NUL byte (use -0)");
    }
    ctk_spawn_stream_init(&j->res.out, 0, NULL);
    ctk_spawn_stream_init(&j->res.err, 0, NULL);
    j->start = wall_clock();
    j->so = (ctk_spawn_opts){
        .argv = (const char *const *)j->argv,
        .path = j->argv != NULL ? ctk_spawn_program_path(&p->program, j->argv[0]) : NULL,
        .shell = j->argv == NULL ? (const char *)j->line.data : NULL,
        .shell_path = p->opts.shell,
        .out = p->opts.ungroup ? CTK_SPAWN_INHERIT : CTK_SPAWN_CAPTURE,
        .err = p->opts.ungroup ? CTK_SPAWN_INHERIT : CTK_SPAWN_CAPTURE,
        .termseq = p->opts.termseq,
        .termseq_len = p->opts.termseq_len,
    };
    return JOB_READY;
}

/* Before each attempt: a fresh result and deadline. */
static void job_attempt(ctk_par *p, job *j)
{
    ctk_spawn_result_free(&j->res);
    ctk_spawn_stream_init(&j->res.out, 0, NULL);
    ctk_spawn_stream_init(&j->res.err, 0, NULL);
    j->attempts++;
    j->so.deadline = p->opts.timeout > 0 ? ctk_spawn_clock() + p->opts.timeout : 0;
}

/* After an attempt that returned rc: whether to make another. */
static int job_again(ctk_par *p, const job *j, int rc)
{
    return rc == 0 && (j->res.exit != 0 || j->res.signal != 0) && !j->res.terminated &&
           (p->opts.retries == 0 || j->attempts < p->opts.retries) && !stopping(p);
}

/* Applies --halt as GNU parallel's should_we_halt does, as soon as a job
 * has ended (not when it is printed, so no further job starts meanwhile):
 * its message, its exit status, its when. */
static void halt_check(ctk_par *p, int failed, int64_t exit, int64_t signo, const char *line,
                       size_t line_len)
{
    const ctk_par_halt *h = &p->opts.halt;
    if (h->when == CTK_HALT_NEVER)
        return;
    pthread_mutex_lock(&p->lock);
    p->h_done++;
    p->h_failed += failed != 0;
    p->h_succeeded += failed == 0;
    uint64_t limit = 0;
    const char *why = NULL;
    if (p->halted == 0) {
        if (failed && h->why == CTK_HALT_FAIL)
            why = "failed", limit = p->h_failed;
        else if (!failed && h->why == CTK_HALT_SUCCESS)
            why = "succeeded", limit = p->h_succeeded;
        if (h->why == CTK_HALT_DONE)
            why = "finished", limit = p->h_done;
    }
    if (why != NULL) {
        fprintf(stderr, "cpar: This job %s:\n%.*s\n", why, (int)line_len, line);
        uint64_t total = p->opts.total_jobs ? p->opts.total_jobs : 1;
        double need = h->percent > 0 ? h->percent / 100.0 * (double)total : (double)h->count;
        if ((double)limit >= need) {
            if (h->why == CTK_HALT_SUCCESS)
                p->halt_status = 0;
            else if (h->percent > 0)
                p->halt_status = (int)ceil((double)p->h_failed * 100.0 / (double)total);
            else if (h->count == 1)
                p->halt_status = exit != 0 ? (int)exit : signo != 0 ? (int)signo + 128 : 0;
            else
                p->halt_status = p->h_failed > 101 ? 101 : (int)p->h_failed;
            __atomic_store_n(&p->halted, h->when == CTK_HALT_NOW ? 2 : 1, __ATOMIC_SEQ_CST);
            if (h->when == CTK_HALT_SOON && p->running->len + p->uv_running->len > 0)
                fprintf(stderr, "cpar: Starting no more jobs. Waiting for %u jobs to finish.\n",
                        p->running->len + p->uv_running->len);
        }
    }
    int now = p->halted == 2;
    pthread_mutex_unlock(&p->lock);
    if (now)
        terminate_all(p);
}

/* Encodes what came of the job into unit->out (or fails the unit), and
 * releases the job. */
static void job_end(ctk_par *p, job *j, int rc)
{
    ctk_unit *unit = j->unit;
    int interrupted = (__atomic_load_n(&p->cancels, __ATOMIC_SEQ_CST) > 0 ||
                       __atomic_load_n(&p->halted, __ATOMIC_SEQ_CST) == 2) &&
                      (j->res.terminated || j->res.signal != 0);
    if (!p->opts.dry_run && !interrupted)
        halt_check(p, rc < 0 || j->res.exit != 0 || j->res.signal != 0 || j->res.timed_out,
                   j->res.timed_out ? -1 : j->res.exit, j->res.signal, (const char *)j->line.data,
                   j->line.len);
    if (rc < 0) {
        ctk_unit_fail(unit, rc, "cannot run: %s", ctk_strerror(rc));
    } else {
        ctk_spawn_result *res = &j->res;
        put_u64(&unit->out, (uint64_t)(int64_t)res->exit);
        put_u64(&unit->out, (uint64_t)(int64_t)res->signal);
        put_u64(&unit->out, j->attempts);
        put_u64(&unit->out, (uint64_t)res->terminated | (uint64_t)res->timed_out << 1);
        put_u64(&unit->out, res->out.bytes);
        ctk_buf_append(&unit->out, &j->start, sizeof j->start);
        ctk_buf_append(&unit->out, &res->elapsed, sizeof res->elapsed);
        put_str(&unit->out, j->line.data, j->line.len);
        rc = put_stream(&unit->out, &res->out);
        if (rc == 0)
            rc = put_stream(&unit->out, &res->err);
        if (rc < 0)
            ctk_unit_fail(unit, rc, "cannot keep the job's output: %s", ctk_strerror(rc));
    }
    ctk_spawn_result_free(&j->res);
    give_slot(p, j->slot);
    ctk_cmdline_argv_free(j->argv);
    ctk_buf_free(&j->line);
}

static int run_once(ctk_par *p, job *j)
{
    job_attempt(p, j);
    ctk_spawn_child child;
    int rc = ctk_spawn_start(&child, &j->so);
    if (rc == 0) {
        track(p, &child, 1);
        rc = ctk_spawn_finish(&child, &j->res);
        track(p, &child, 0);
    }
    ctk_spawn_dispose(&child);
    return rc;
}

/* The blocking form, for the thread and sync strategies and plugins. */
static int par_run(void *ctx, ctk_unit *unit, const int *cancel)
{
    (void)cancel;
    ctk_par *p = ctx;
    job j;
    int rc = job_begin(p, unit, &j);
    if (rc != JOB_READY)
        return rc < 0 ? rc : 0;
    if (!p->opts.dry_run)
        do
            rc = run_once(p, &j);
        while (job_again(p, &j, rc));
    job_end(p, &j, rc);
    return unit->status;
}

/* ---- the async strategy's form: libuv's uv_spawn and pipes --------------------- */

typedef struct uv_job {
    job j;
    ctk_par *p;
    uv_loop_t *loop;
    uv_process_t proc;
    uv_pipe_t pipes[2];
    uv_timer_t timer; /* the deadline, then the termination sequence's steps */
    uv_process_options_t po;
    uv_stdio_container_t stdio[3];
    char *sh_argv[4];
    int open_handles;
    int exited;
    size_t step; /* next step of the termination sequence */
    ctk_done_fn done;
    void *done_arg;
} uv_job;

static int ujob_attempt(uv_job *u);

static void ujob_closed(uv_handle_t *h)
{
    uv_job *u = h->data;
    if (--u->open_handles > 0)
        return;
    ctk_par *p = u->p;
    if (job_again(p, &u->j, 0)) {
        if (ujob_attempt(u) == 0)
            return;
    }
    job_end(p, &u->j, 0);
    ctk_done_fn done = u->done;
    void *arg = u->done_arg;
    ctk_unit *unit = u->j.unit;
    g_free(u);
    done(unit, arg);
}

static void ujob_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = g_malloc(suggested);
    buf->len = suggested;
}

static void ujob_close(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, ujob_closed);
}

static void ujob_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    uv_job *u = s->data;
    ctk_spawn_stream *out = (uv_pipe_t *)s == &u->pipes[0] ? &u->j.res.out : &u->j.res.err;
    if (n > 0)
        ctk_spawn_stream_append(out, buf->base, (size_t)n);
    g_free(buf->base);
    if (n < 0)
        ujob_close((uv_handle_t *)s);
}

static void ujob_kill_step(uv_timer_t *t)
{
    uv_job *u = t->data;
    if (u->exited)
        return;
    size_t n = u->j.so.termseq_len;
    const ctk_spawn_termstep *seq =
        u->j.so.termseq != NULL ? u->j.so.termseq : ctk_spawn_default_termseq(&n);
    if (u->step == 0)
        u->j.res.timed_out = 1;
    int signo = u->step < n ? seq[u->step].signo : SIGKILL;
    kill(-u->proc.pid, signo);
    if (u->step < n)
        uv_timer_start(t, ujob_kill_step, seq[u->step].ms, 0);
    u->step++;
}

static void ujob_exit(uv_process_t *proc, int64_t status, int signo)
{
    uv_job *u = proc->data;
    u->exited = 1;
    u->j.res.exit = (int)status;
    u->j.res.signal = signo;
    u->j.res.elapsed = ctk_spawn_clock() - u->j.res.started;
    pthread_mutex_lock(&u->p->lock);
    g_ptr_array_remove_fast(u->p->uv_running, GINT_TO_POINTER(proc->pid));
    pthread_mutex_unlock(&u->p->lock);
    if (u->j.res.timed_out)
        kill(-proc->pid, SIGKILL); /* what the sequence left of the group */
    ujob_close((uv_handle_t *)&u->timer);
    ujob_close((uv_handle_t *)proc);
}

static int ujob_attempt(uv_job *u)
{
    job *j = &u->j;
    job_attempt(u->p, j);
    j->res.started = ctk_spawn_clock();
    u->exited = 0;
    u->step = 0;
    u->po = (uv_process_options_t){0};
    u->po.exit_cb = ujob_exit;
    if (j->argv != NULL) {
        u->po.file = j->so.path != NULL ? j->so.path : j->argv[0];
        u->po.args = j->argv;
    } else {
        u->sh_argv[0] = "sh";
        u->sh_argv[1] = "-c";
        u->sh_argv[2] = (char *)j->line.data;
        u->po.file = j->so.shell_path != NULL ? j->so.shell_path : "/bin/sh";
        u->po.args = u->sh_argv;
    }
    /* Detached: a session and process group of its own, as with spawn. */
    u->po.flags = UV_PROCESS_DETACHED;
    u->stdio[0].flags = UV_IGNORE;
    int capture = !u->p->opts.ungroup;
    for (int k = 0; k < 2; k++) {
        if (capture) {
            uv_pipe_init(u->loop, &u->pipes[k], 0);
            u->pipes[k].data = u;
            u->stdio[k + 1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
            u->stdio[k + 1].data.stream = (uv_stream_t *)&u->pipes[k];
        } else {
            u->stdio[k + 1].flags = UV_INHERIT_FD;
            u->stdio[k + 1].data.fd = k + 1;
        }
    }
    u->po.stdio = u->stdio;
    u->po.stdio_count = 3;
    u->proc.data = u;
    uv_timer_init(u->loop, &u->timer);
    u->timer.data = u;
    u->open_handles = 2 + (capture ? 2 : 0);
    int rc = uv_spawn(u->loop, &u->proc, &u->po);
    if (rc < 0) {
        /* As a shell reports it: 127 not found, 126 not executable. */
        const char *name = j->argv != NULL ? j->argv[0] : u->po.file;
        int nf = rc == UV_ENOENT || rc == UV_ENOTDIR;
        char text[512];
        snprintf(text, sizeof text, "%s: %s\n", name,
                 nf ? (strchr(name, '/') ? "No such file or directory" : "command not found")
                    : "Permission denied");
        j->res.exit = nf ? 127 : 126;
        if (capture)
            ctk_spawn_stream_append(&j->res.err, text, strlen(text));
        else
            ctk_spawn_stream_copy(
                &(ctk_spawn_stream){.mem = {(unsigned char *)text, strlen(text), strlen(text)},
                                    .spill_fd = -1},
                2);
        u->exited = 1;
        ujob_close((uv_handle_t *)&u->proc);
        ujob_close((uv_handle_t *)&u->timer);
        for (int k = 0; k < 2 && capture; k++)
            ujob_close((uv_handle_t *)&u->pipes[k]);
        return 0;
    }
    pthread_mutex_lock(&u->p->lock);
    g_ptr_array_add(u->p->uv_running, GINT_TO_POINTER(u->proc.pid));
    int stop = __atomic_load_n(&u->p->cancels, __ATOMIC_SEQ_CST) > 0;
    pthread_mutex_unlock(&u->p->lock);
    if (stop)
        kill(-u->proc.pid, SIGTERM);
    for (int k = 0; k < 2 && capture; k++)
        uv_read_start((uv_stream_t *)&u->pipes[k], ujob_alloc, ujob_read);
    if (u->p->opts.timeout > 0)
        uv_timer_start(&u->timer, ujob_kill_step, (uint64_t)(u->p->opts.timeout * 1000), 0);
    return 0;
}

static int par_start(void *ctx, uv_loop_t *loop, ctk_unit *unit, ctk_done_fn done, void *done_arg)
{
    ctk_par *p = ctx;
    uv_job *u = g_new0(uv_job, 1);
    u->p = p;
    u->loop = loop;
    u->done = done;
    u->done_arg = done_arg;
    int rc = job_begin(p, unit, &u->j);
    if (rc != JOB_READY || p->opts.dry_run) {
        if (rc == JOB_READY)
            job_end(p, &u->j, 0);
        g_free(u);
        done(unit, done_arg);
        return 0;
    }
    return ujob_attempt(u);
}

ctk_work ctk_par_work(ctk_par *p)
{
    return (ctk_work){.run = par_run, .start = par_start, .ctx = p};
}

/* ---- reporting ---------------------------------------------------------------- */

typedef struct job_result {
    int64_t exit, signal;
    uint64_t attempts, terminated, timed_out, out_bytes;
    double start, elapsed;
    const char *line;
    size_t line_len;
    const char *mem[2];
    size_t mem_len[2];
    char *spill[2];
} job_result;

static int decode_result(const ctk_unit *unit, job_result *r)
{
    cursor c = {unit->out.data, unit->out.len};
    uint64_t v[5];
    for (int i = 0; i < 5; i++)
        if (get_u64(&c, &v[i]) < 0)
            return CTK_EIO;
    r->exit = (int64_t)v[0];
    r->signal = (int64_t)v[1];
    r->attempts = v[2];
    r->terminated = v[3] & 1;
    r->timed_out = v[3] >> 1 & 1;
    r->out_bytes = v[4];
    if (c.left < 2 * sizeof(double))
        return CTK_EIO;
    memcpy(&r->start, c.p, sizeof(double));
    memcpy(&r->elapsed, c.p + sizeof(double), sizeof(double));
    c.p += 2 * sizeof(double);
    c.left -= 2 * sizeof(double);
    if (get_str(&c, &r->line, &r->line_len) < 0)
        return CTK_EIO;
    for (int k = 0; k < 2; k++) {
        const char *path;
        size_t len;
        if (get_str(&c, &r->mem[k], &r->mem_len[k]) < 0 || get_str(&c, &path, &len) < 0)
            return CTK_EIO;
        r->spill[k] = len > 0 ? g_strndup(path, len) : NULL;
    }
    return 0;
}

/* The arguments as --tag shows them: columns joined by spaces. */
static char *tag_of(const ctk_unit *unit)
{
    ctk_cmdline_item *cols = NULL;
    size_t n = 0;
    int flag;
    GString *tag = g_string_new(NULL);
    if (decode_columns(unit, &flag, &cols, &n) == 0)
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                g_string_append_c(tag, ' ');
            g_string_append_len(tag, cols[i].data, (gssize)cols[i].len);
        }
    g_free(cols);
    return g_string_free(tag, FALSE);
}

/* A --tagstring for this job: the text with its replacement strings
 * filled in, unquoted. */
static char *render_text(const ctk_cmdline *text, const ctk_unit *unit)
{
    ctk_cmdline_item *cols = NULL;
    size_t n = 0;
    int flag;
    ctk_buf line = {0};
    char *out = NULL;
    if (decode_columns(unit, &flag, &cols, &n) == 0) {
        ctk_cmdline_args args = {cols, n, unit->seq, 1};
        if (ctk_cmdline_render(text, &args, &line, NULL) == 0)
            out = g_strndup((const char *)line.data, line.len);
    }
    ctk_buf_free(&line);
    g_free(cols);
    return out;
}

typedef struct tagger {
    FILE *to;
    const char *tag;
    int at_line_start;
} tagger;

static void write_tagged(tagger *t, const char *data, size_t len)
{
    while (len > 0) {
        if (t->at_line_start && t->tag != NULL)
            fprintf(t->to, "%s\t", t->tag);
        const char *nl = memchr(data, '\n', len);
        size_t n = nl != NULL ? (size_t)(nl - data) + 1 : len;
        fwrite(data, 1, n, t->to);
        t->at_line_start = nl != NULL;
        data += n;
        len -= n;
    }
}

/* One stream of a job: the memory part, then the file part. */
static void print_stream(FILE *to, const char *tag, const char *mem, size_t mem_len,
                         const char *spill)
{
    tagger t = {to, tag, 1};
    write_tagged(&t, mem, mem_len);
    if (spill != NULL) {
        FILE *f = fopen(spill, "r");
        char buf[65536];
        size_t n;
        while (f != NULL && (n = fread(buf, 1, sizeof buf, f)) > 0)
            write_tagged(&t, buf, n);
        if (f != NULL)
            fclose(f);
        unlink(spill);
    }
    fflush(to);
}

/* A value as a --results folder name, as GNU parallel writes it: '\' as
 * '\\' and '/' as '\_'. */
static void append_path_value(GString *path, const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\\')
            g_string_append(path, "\\\\");
        else if (data[i] == '/')
            g_string_append(path, "\\_");
        else
            g_string_append_c(path, data[i]);
    }
}

static int write_result_file(const char *dir, const char *name, const char *mem, size_t len,
                             const char *spill)
{
    char *path = g_build_filename(dir, name, NULL);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    g_free(path);
    if (fd < 0)
        return -errno;
    int rc = 0;
    ctk_spawn_stream s;
    ctk_spawn_stream_init(&s, len + 1, NULL);
    if (ctk_spawn_stream_append(&s, mem, len) < 0 || ctk_spawn_stream_copy(&s, fd) < 0)
        rc = CTK_EIO;
    ctk_spawn_stream_free(&s);
    int in = spill != NULL ? open(spill, O_RDONLY | O_CLOEXEC) : -1;
    char buf[65536];
    ssize_t n;
    while (in >= 0 && (n = read(in, buf, sizeof buf)) > 0)
        if (write(fd, buf, (size_t)n) != n)
            rc = CTK_EIO;
    if (in >= 0)
        close(in);
    if (close(fd) < 0)
        rc = -errno;
    return rc;
}

/* --results DIR: DIR/1/VALUE1/2/VALUE2/{seq,stdout,stderr}, as GNU
 * parallel lays it out; nothing goes to our stdout then. */
static void write_results(ctk_par *p, const ctk_unit *unit, const job_result *r)
{
    ctk_cmdline_item *cols = NULL;
    size_t n = 0;
    int flag;
    GString *dir = g_string_new(p->opts.results_dir);
    if (decode_columns(unit, &flag, &cols, &n) == 0)
        for (size_t i = 0; i < n; i++) {
            g_string_append_printf(dir, "/%zu/", i + 1);
            append_path_value(dir, cols[i].data, cols[i].len);
        }
    g_free(cols);
    char seq[24];
    int len = snprintf(seq, sizeof seq, "%llu", (unsigned long long)unit->seq);
    int rc = g_mkdir_with_parents(dir->str, 0777) < 0 ? -errno : 0;
    if (rc == 0)
        rc = write_result_file(dir->str, "seq", seq, (size_t)len, NULL);
    if (rc == 0)
        rc = write_result_file(dir->str, "stdout", r->mem[0], r->mem_len[0], r->spill[0]);
    if (rc == 0)
        rc = write_result_file(dir->str, "stderr", r->mem[1], r->mem_len[1], r->spill[1]);
    if (rc < 0)
        fprintf(stderr, "cpar: --results: cannot write in %s: %s\n", dir->str, ctk_strerror(rc));
    g_string_free(dir, TRUE);
}

static void write_joblog(ctk_par *p, const ctk_unit *unit, const job_result *r)
{
    if (p->opts.joblog == NULL)
        return;
    /* parallel's exact layout: %.3f start, %10.3f runtime; Send is 0 (no
     * --pipe), Receive the bytes of output. The line is flushed before the
     * next job is reported, so a crash never loses a logged success. */
    fprintf(p->opts.joblog, "%llu\t:\t%.3f\t%10.3f\t0\t%llu\t%lld\t%lld\t%.*s\n",
            (unsigned long long)unit->seq, r->start, r->elapsed, (unsigned long long)r->out_bytes,
            (long long)r->exit, (long long)r->signal, (int)r->line_len, r->line);
    fflush(p->opts.joblog);
}

static const ctk_field record_fields[] = {
    {"seq", CTK_FIELD_NUMBER},    {"input", CTK_FIELD_STRING},    {"exit", CTK_FIELD_NUMBER},
    {"signal", CTK_FIELD_NUMBER}, {"start", CTK_FIELD_NUMBER},    {"elapsed", CTK_FIELD_NUMBER},
    {"bytes", CTK_FIELD_NUMBER},  {"attempts", CTK_FIELD_NUMBER}, {"error", CTK_FIELD_STRING},
};

const ctk_field *ctk_par_record_fields(size_t *n)
{
    *n = G_N_ELEMENTS(record_fields);
    return record_fields;
}

static void write_record(ctk_par *p, const ctk_unit *unit, const job_result *r, const char *input)
{
    if (p->opts.records == NULL)
        return;
    char seq[24], ex[24], sig[24], start[32], elapsed[32], bytes[24], attempts[24];
    snprintf(seq, sizeof seq, "%llu", (unsigned long long)unit->seq);
    const char *values[9] = {seq, input};
    if (r != NULL) {
        snprintf(ex, sizeof ex, "%lld", (long long)r->exit);
        snprintf(sig, sizeof sig, "%lld", (long long)r->signal);
        snprintf(start, sizeof start, "%.3f", r->start);
        snprintf(elapsed, sizeof elapsed, "%.3f", r->elapsed);
        snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)r->out_bytes);
        snprintf(attempts, sizeof attempts, "%llu", (unsigned long long)r->attempts);
        values[2] = ex;
        values[3] = sig;
        values[4] = start;
        values[5] = elapsed;
        values[6] = bytes;
        values[7] = attempts;
    } else {
        values[8] = unit->error != NULL ? unit->error : ctk_strerror(unit->status);
    }
    ctk_output_row(p->opts.records, values);
}

/* Counts a finished job and applies --halt as GNU parallel's
 * should_we_halt does: its message, its exit status, its when. */
static void count(ctk_par *p, int failed)
{
    pthread_mutex_lock(&p->lock);
    p->ran++;
    p->failed += failed != 0;
    uint64_t ran = p->ran;
    pthread_mutex_unlock(&p->lock);
    if (p->opts.progress != NULL)
        ctk_progress_update(p->opts.progress, ran);
}

int ctk_par_status(ctk_par *p)
{
    pthread_mutex_lock(&p->lock);
    int status = p->failed > 101 ? 101 : (int)p->failed;
    if (p->halt_status >= 0)
        status = p->halt_status;
    else if (p->opts.halt.when != CTK_HALT_NEVER && p->opts.halt.percent > 0)
        status = (int)ceil((double)p->failed * 100.0 / (double)(p->ran ? p->ran : 1));
    pthread_mutex_unlock(&p->lock);
    return status;
}

void ctk_par_consume(void *arg, const ctk_unit *unit)
{
    ctk_par *p = arg;
    if (unit->status == 0 && unit->in.len > 0 && unit->in.data[0] == JOB_SKIP)
        return;
    char *input = tag_of(unit);
    job_result r = {0};
    if (unit->status < 0 || decode_result(unit, &r) < 0) {
        /* A job stopped by our own signal is not reported: --resume runs
         * it again, which is what a user who pressed Ctrl-C wants. */
        if (unit->status != CTK_ECANCELED) {
            fprintf(stderr, "cpar: job %llu: %s\n", (unsigned long long)unit->seq,
                    unit->error ? unit->error : ctk_strerror(unit->status));
            write_record(p, unit, NULL, input);
            count(p, 1);
        }
        g_free(input);
        return;
    }
    if (p->opts.dry_run) {
        fwrite(r.line, 1, r.line_len, stdout);
        fputc('\n', stdout);
    } else if (p->opts.results_dir != NULL) {
        write_results(p, unit, &r);
    } else if (!p->opts.quiet_output) {
        char *tagstring = p->opts.tagstring != NULL ? render_text(p->opts.tagstring, unit) : NULL;
        const char *tag = tagstring != NULL ? tagstring : p->opts.tag ? input : NULL;
        print_stream(stdout, tag, r.mem[0], r.mem_len[0], r.spill[0]);
        print_stream(stderr, tag, r.mem[1], r.mem_len[1], r.spill[1]);
        g_free(tagstring);
    }
    for (int k = 0; k < 2; k++) {
        if (r.spill[k] != NULL && (p->opts.quiet_output || p->opts.results_dir != NULL))
            unlink(r.spill[k]);
        g_free(r.spill[k]);
    }
    if (r.timed_out) {
        /* GNU parallel's words, and its Exitval for a job it ended. */
        fprintf(stderr,
                "cpar: Warning: This job was killed because it timed out:\n"
                "cpar: Warning: %.*s\n",
                (int)r.line_len, r.line);
        r.exit = -1;
    }
    /* A job our cancel stopped never finished: not logged, so --resume
     * runs it again. */
    int interrupted = (__atomic_load_n(&p->cancels, __ATOMIC_SEQ_CST) > 0 ||
                       __atomic_load_n(&p->halted, __ATOMIC_SEQ_CST) == 2) &&
                      (r.terminated || r.signal != 0);
    if (!p->opts.dry_run && !interrupted) {
        write_joblog(p, unit, &r);
        write_record(p, unit, &r, input);
        count(p, r.exit != 0 || r.signal != 0);
    }
    g_free(input);
}

/* ---- the process engine: one thread keeps N children running ---------------- */

/* A job slot of the engine: the job, its child and the watch on it. Slots
 * never move (a child holds a mutex). */
typedef struct engine_slot {
    job j;
    ctk_spawn_child child;
    ctk_spawn_watch *watch;
    int busy;
} engine_slot;

typedef struct engine {
    ctk_par *p;
    unsigned jobs;
    engine_slot *slots;
    struct pollfd *fds;
    unsigned busy;
    uint64_t next_seq, consume_seq;
    GHashTable *finished; /* -k: seq -> unit waiting for its turn */
    double start_at;      /* --delay/--rate: the next start's time */
    int input_fd;         /* input to wait for along with the jobs, or -1 */
    int start_reserved;
} engine;

static ctk_unit *unit_new(uint64_t seq)
{
    ctk_unit *u = g_new0(ctk_unit, 1);
    u->seq = seq;
    return u;
}

static void unit_free(ctk_unit *u)
{
    ctk_buf_free(&u->in);
    ctk_buf_free(&u->out);
    free(u->error);
    g_free(u);
}

/* Hands a finished unit to consume, in input order with -k. */
static void engine_finish(engine *e, ctk_unit *u)
{
    if (e->finished == NULL) {
        ctk_par_consume(e->p, u);
        unit_free(u);
        return;
    }
    g_hash_table_insert(e->finished, &u->seq, u);
    while ((u = g_hash_table_lookup(e->finished, &e->consume_seq)) != NULL) {
        g_hash_table_remove(e->finished, &e->consume_seq);
        ctk_par_consume(e->p, u);
        unit_free(u);
        e->consume_seq++;
    }
}

/* Starts an attempt of slot s's job. Returns 0 while it runs, 1 when it
 * ended at once (not found), or a negative code. */
static int engine_attempt(engine *e, engine_slot *s)
{
    job_attempt(e->p, &s->j);
    int rc = ctk_spawn_start(&s->child, &s->j.so);
    if (rc == 0) {
        track(e->p, &s->child, 1);
        rc = ctk_spawn_watch_begin(&s->watch, &s->child, &s->j.res);
    }
    if (rc != 0) {
        track(e->p, &s->child, 0);
        ctk_spawn_dispose(&s->child);
    }
    return rc;
}

/* An attempt ended with rc: another one, or the job's end. */
static void engine_ended(engine *e, engine_slot *s, int rc)
{
    for (;;) {
        if (!job_again(e->p, &s->j, rc))
            break;
        rc = engine_attempt(e, s);
        if (rc == 0)
            return;
        if (rc == 1)
            rc = 0;
    }
    ctk_unit *u = s->j.unit;
    job_end(e->p, &s->j, rc);
    s->busy = 0;
    e->busy--;
    engine_finish(e, u);
}

/* --line-buffer: prints the complete lines a running job has written so
 * far and keeps only the unfinished last line; consume prints the rest. */
static void flush_lines(ctk_par *p, job *j)
{
    ctk_spawn_stream *streams[2] = {&j->res.out, &j->res.err};
    char *tag = NULL;
    int tagged = 0;
    for (int k = 0; k < 2; k++) {
        ctk_buf *mem = &streams[k]->mem;
        const unsigned char *nl = mem->len > 0 ? memrchr(mem->data, '\n', mem->len) : NULL;
        if (nl == NULL || streams[k]->spill_fd >= 0)
            continue;
        if (!tagged) {
            tag = p->opts.tagstring != NULL ? render_text(p->opts.tagstring, j->unit)
                  : p->opts.tag             ? tag_of(j->unit)
                                            : NULL;
            tagged = 1;
        }
        size_t n = (size_t)(nl - mem->data) + 1;
        print_stream(k == 0 ? stdout : stderr, tag, (const char *)mem->data, n, NULL);
        memmove(mem->data, mem->data + n, mem->len - n);
        mem->len -= n;
    }
    g_free(tag);
}

static void engine_step(engine *e, engine_slot *s, const struct pollfd *p)
{
    int rc = ctk_spawn_watch_step(s->watch, p);
    if (e->p->opts.line_buffer && !e->p->opts.quiet_output &&
        (e->finished == NULL || s->j.unit->seq == e->consume_seq))
        flush_lines(e->p, &s->j);
    if (rc == 0)
        return;
    ctk_spawn_watch_free(s->watch);
    s->watch = NULL;
    track(e->p, &s->child, 0);
    ctk_spawn_dispose(&s->child);
    engine_ended(e, s, rc == 1 ? 0 : rc);
}

/* Takes the next unit and starts it. Returns 0, CTK_EAGAIN when the
 * start must wait (--delay, --rate), CTK_EOF at the end of input, or a
 * read error. */
static int engine_start_next(engine *e)
{
    ctk_par *p = e->p;
    if (p->rate != NULL) {
        double now = ctk_rate_clock();
        if (!e->start_reserved) {
            e->start_at = now + ctk_rate_reserve(p->rate, now);
            e->start_reserved = 1;
        }
        if (now < e->start_at)
            return CTK_EAGAIN;
    }
    /* Reading must not keep finished jobs waiting (their output, their
     * reaping): with jobs running, read only what is there. */
    int fd = e->busy > 0 ? ctk_sources_wait_fd(p->opts.sources) : -1;
    if (fd >= 0) {
        struct pollfd in = {.fd = fd, .events = POLLIN};
        if (poll(&in, 1, 0) == 0) {
            e->input_fd = fd;
            return CTK_EAGAIN;
        }
    }
    ctk_unit *u = unit_new(e->next_seq);
    int rc = ctk_par_produce(p, u);
    if (rc == CTK_EOF || (rc < 0 && u->status == 0)) {
        unit_free(u);
        return rc;
    }
    e->next_seq++;
    if (rc < 0) {
        engine_finish(e, u);
        return 0;
    }
    engine_slot *s = e->slots;
    while (s->busy)
        s++;
    rc = job_begin(p, u, &s->j);
    if (rc != JOB_READY) {
        engine_finish(e, u);
        return 0;
    }
    e->start_reserved = 0;
    s->busy = 1;
    e->busy++;
    if (p->opts.dry_run) {
        engine_ended(e, s, 0);
        return 0;
    }
    rc = engine_attempt(e, s);
    if (rc != 0)
        engine_ended(e, s, rc == 1 ? 0 : rc);
    return 0;
}

/* Polls every running child's fds until one has something to serve or
 * the next thing falls due. */
static int engine_wait(engine *e, double start_at)
{
    double due = start_at;
    nfds_t n = 0;
    for (unsigned i = 0; i < e->jobs; i++) {
        engine_slot *s = &e->slots[i];
        struct pollfd *p = &e->fds[i * CTK_SPAWN_WATCH_FDS];
        for (int k = 0; k < CTK_SPAWN_WATCH_FDS; k++)
            p[k] = (struct pollfd){.fd = -1};
        if (!s->busy)
            continue;
        double d;
        if (ctk_spawn_watch_fds(s->watch, p, &d))
            d = 0;
        if (d >= 0 && (due < 0 || d < due))
            due = d;
        n = (nfds_t)(i + 1) * CTK_SPAWN_WATCH_FDS;
    }
    int timeout = -1;
    if (due >= 0) {
        double ms = (due - ctk_spawn_clock()) * 1000.0 + 1;
        timeout = ms < 0 ? 0 : ms > 3600e3 ? 3600000 : (int)ms;
    }
    if (e->input_fd >= 0) {
        e->fds[n] = (struct pollfd){.fd = e->input_fd, .events = POLLIN};
        n++;
    }
    if (n == 0 && timeout < 0)
        return 0;
    int rc = poll(e->fds, n, timeout);
    if (rc < 0 && errno != EINTR)
        return -errno;
    if (rc < 0)
        for (nfds_t i = 0; i < n; i++)
            e->fds[i].revents = 0;
    for (unsigned i = 0; i < e->jobs; i++)
        if (e->slots[i].busy)
            engine_step(e, &e->slots[i], &e->fds[i * CTK_SPAWN_WATCH_FDS]);
    return 0;
}

static gint seq_cmp(gconstpointer a, gconstpointer b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void flush_finished(engine *e)
{
    if (e->finished == NULL || g_hash_table_size(e->finished) == 0)
        return;
    /* Only after an error: print what is left in order, gaps skipped. */
    GList *keys = g_list_sort(g_hash_table_get_keys(e->finished), seq_cmp);
    for (GList *k = keys; k != NULL; k = k->next) {
        ctk_unit *u = g_hash_table_lookup(e->finished, k->data);
        g_hash_table_steal(e->finished, k->data);
        ctk_par_consume(e->p, u);
        unit_free(u);
    }
    g_list_free(keys);
}

int ctk_par_run_processes(ctk_par *p, unsigned jobs, int keep_order)
{
    engine e = {.p = p, .jobs = jobs ? jobs : 1, .next_seq = 1, .consume_seq = 1};
    if (p->cancel == NULL)
        p->cancel = &p->cancels; /* the reader polls it while it waits */
    e.slots = g_new0(engine_slot, e.jobs);
    e.fds = g_new(struct pollfd, (size_t)e.jobs * CTK_SPAWN_WATCH_FDS + 1);
    e.input_fd = -1;
    if (keep_order)
        e.finished = g_hash_table_new(g_int64_hash, g_int64_equal);
    /* With -k, a slow first job holds the others' results: bounded, so
     * memory stays flat however long it runs. */
    size_t window = (size_t)e.jobs * 64 + 256;
    int input_done = 0, rc = 0;
    for (;;) {
        double start_at = -1;
        while (!input_done && e.busy < e.jobs && !stopping(p) &&
               (e.finished == NULL || g_hash_table_size(e.finished) < window)) {
            e.input_fd = -1;
            int src = engine_start_next(&e);
            if (src == CTK_EAGAIN) {
                if (e.input_fd < 0)
                    start_at = e.start_at;
                break;
            }
            if (src < 0) {
                input_done = 1;
                if (src != CTK_EOF && src != CTK_ECANCELED)
                    rc = src;
            }
        }
        if (e.busy == 0 && (input_done || stopping(p)))
            break;
        int wrc = engine_wait(&e, start_at);
        if (wrc < 0) {
            rc = wrc;
            break;
        }
    }
    for (unsigned i = 0; i < e.jobs; i++)
        if (e.slots[i].busy) { /* after a poll error only */
            ctk_spawn_watch_free(e.slots[i].watch);
            track(p, &e.slots[i].child, 0);
            ctk_spawn_dispose(&e.slots[i].child);
            ctk_unit *u = e.slots[i].j.unit;
            job_end(p, &e.slots[i].j, CTK_ECANCELED);
            unit_free(u);
        }
    flush_finished(&e);
    if (e.finished != NULL)
        g_hash_table_destroy(e.finished);
    g_free(e.fds);
    g_free(e.slots);
    if (rc == 0 && cancelled(p))
        rc = CTK_ECANCELED;
    return rc;
}

int ctk_par_halt_parse(const char *text, ctk_par_halt *h, char *why, size_t why_len)
{
    static const struct {
        const char *legacy, *full;
    } legacy[] = {{"0", "never"},
                  {"1", "soon,fail=1"},
                  {"2", "now,fail=1"},
                  {"-1", "soon,success=1"},
                  {"-2", "now,success=1"}};
    memset(h, 0, sizeof *h);
    char *spec = NULL;
    for (size_t i = 0; i < G_N_ELEMENTS(legacy); i++)
        if (strcmp(text, legacy[i].legacy) == 0)
            spec = g_strdup(legacy[i].full);
    size_t len = strlen(text);
    if (spec == NULL && len > 1 && text[len - 1] == '%' && strspn(text, "0123456789") == len - 1)
        spec = g_strdup_printf("soon,fail=%s", text);
    if (spec == NULL)
        spec = g_strdup(text);
    int rc = 0;
    char **parts = g_strsplit_set(spec, ",=", 3);
    guint n = g_strv_length(parts);
    if (n >= 1 && strcmp(parts[0], "never") == 0 && n == 1) {
        h->when = CTK_HALT_NEVER;
    } else if (n != 3 || (strcmp(parts[0], "soon") != 0 && strcmp(parts[0], "now") != 0)) {
        snprintf(why, why_len, "use never, or soon|now,fail|success|done=N or N%%");
        rc = CTK_EINVAL;
    } else {
        h->when = strcmp(parts[0], "now") == 0 ? CTK_HALT_NOW : CTK_HALT_SOON;
        if (strcmp(parts[1], "fail") == 0)
            h->why = CTK_HALT_FAIL;
        else if (strcmp(parts[1], "success") == 0)
            h->why = CTK_HALT_SUCCESS;
        else if (strcmp(parts[1], "done") == 0)
            h->why = CTK_HALT_DONE;
        else
            rc = CTK_EINVAL;
        const char *num = parts[2];
        size_t digits = strspn(num, "0123456789");
        if (digits == 0 || digits > 9 || (num[digits] != '\0' && strcmp(num + digits, "%") != 0))
            rc = CTK_EINVAL;
        else if (num[digits] == '%')
            h->percent = (double)strtoul(num, NULL, 10);
        else
            h->count = strtoull(num, NULL, 10);
        if (rc < 0)
            snprintf(why, why_len, "use soon|now,fail|success|done=N or N%%");
    }
    g_strfreev(parts);
    g_free(spec);
    return rc;
}
