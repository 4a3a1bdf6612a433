/*
 * par.c: cpar's jobs (see par.h). A unit's input is the job's columns;
 * its output is what came of it: exit, signal, times, the command line,
 * and the captured output (in memory, or in the run's spool once it
 * outgrew the spawn module's memory bound). Both are encoded with libctk's
 * wire fields, so a job runs under any strategy, in this process or not.
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
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>

#include "ctkx/closeout.h"
#include "ctkx/guard.h"
#include "ctkx/joblog.h"
#include "ctkx/rate.h"
#include "ctkx/spool.h"
#include "ctkx/parse.h"
#include "par.h"

/* What every process running jobs must agree on, in memory shared with
 * the workers a forking strategy makes (they are forked from this
 * process, so they inherit the mapping): the job slots ({%}) and --halt's
 * decision, so that no worker starts a job once it is made. */
typedef struct shared {
    pthread_mutex_t lock; /* process-shared */
    int halted;           /* --halt decided: 1 soon, 2 now */
    int halt_status;
    int input_failed; /* the sources failed (a read error, a CSV record refused): exit 255 */
    uint64_t h_done, h_failed, h_succeeded; /* --halt's counts, at job end */
    unsigned running;                       /* jobs started and not yet ended */
    /* -t's turnstile: parallel prints each command as it starts, one
     * process starting jobs in order; here several workers start them at
     * once, so each waits for the job before it to have printed. */
    pthread_cond_t traced;     /* process-shared, with lock */
    uint64_t trace_next;       /* the seq whose line goes out next */
    int trace_unordered;       /* a wait timed out: print at once from then on */
    unsigned char slot_used[]; /* [jobs + 1] */
} shared;

struct ctk_par {
    ctk_par_opts opts;
    pid_t owner;       /* the process that made the par (and consumes) */
    const int *cancel; /* the pipeline's flag */
    int cancel_fd;     /* the pipeline's cancel fd (readable once cancelled), or -1 */
    /* An eventfd that turns readable when every running job must end (a
     * cancel, --halt now). Every job's spawn watches it: forked workers
     * share it (one counter across fork), so it reaches every process. */
    int stop_fd;
    shared *sh;
    size_t sh_size;
    GHashTable *skip; /* seq -> 1: already done (--resume) */
    int nul_replaced;
    ctk_item item;        /* the producer's scratch */
    pthread_mutex_t lock; /* running jobs, counts */
    GPtrArray *running;   /* ctk_spawn_child * of this process */
    int cancels;
    uint64_t ran, failed;
    int joblog_errno;           /* writing the joblog failed: it is no longer written */
    pthread_mutex_t print_lock; /* --line-buffer: lines of running jobs vs consume */
    uint64_t next_out;          /* -k: the seq consume takes next */
    ctk_rate *rate;             /* --delay / --rate; NULL: none */
    GQueue *pending;            /* -X/-m: items read but not yet in a job (GPtrArray
                                   of GBytes: one per column of the item) */
    size_t spread_max;          /* -X/-m: items per job once spread over the slots */
    int spread_done;
    int fill_ended;            /* -X/-m: a too long item was queued; nothing comes after it */
    int table_header_done;     /* --results FILE.csv/.tsv: the header line is written */
    int table_error;           /* --results FILE.*: a write failed (said once) */
    ctk_spawn_program program; /* argv[0] searched in $PATH once */
    ctk_spool *spool;          /* big outputs on their way to consume */
};

/* ---- the wire: a job and its result ---------------------------------------- */

int ctk_par_encode_job(ctk_buf *in, int skip, const ctk_cmdline_item *cols, size_t n)
{
    int rc = ctk_wire_put_u64(in, (uint64_t)skip);
    if (rc == 0)
        rc = ctk_wire_put_u64(in, n);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = ctk_wire_put_bytes(in, cols[i].data, cols[i].len);
    return rc;
}

int ctk_par_decode_job(const ctk_buf *in, int *skip, ctk_cmdline_item **cols, size_t *n)
{
    ctk_wire_reader r;
    uint64_t flag, count;
    *cols = NULL;
    *n = 0;
    ctk_wire_reader_init(&r, in->data, in->len);
    int rc = ctk_wire_get_u64(&r, &flag);
    if (rc == 0)
        rc = ctk_wire_get_u64(&r, &count);
    /* Each column takes at least its 8-byte length: a count beyond that
     * is a malformed unit, not an allocation to attempt. */
    if (rc == 0 && (flag > CTK_PAR_TOO_LONG || count > r.left / 8))
        rc = CTK_EIO;
    if (rc < 0)
        return rc;
    ctk_cmdline_item *c = g_try_new0(ctk_cmdline_item, count ? count : 1);
    if (c == NULL)
        return CTK_ENOMEM;
    for (uint64_t i = 0; i < count && rc == 0; i++) {
        const unsigned char *data;
        rc = ctk_wire_get_bytes(&r, &data, &c[i].len);
        c[i].data = (const char *)data;
    }
    if (rc == 0 && r.left != 0)
        rc = CTK_EIO;
    if (rc < 0) {
        g_free(c);
        return rc;
    }
    *skip = (int)flag;
    *cols = c;
    *n = (size_t)count;
    return 0;
}

int ctk_par_encode_result(ctk_buf *out, const ctk_par_result *r)
{
    uint64_t flags = (uint64_t)(r->terminated != 0) | (uint64_t)(r->timed_out != 0) << 1;
    int rc = 0;
    if (rc == 0)
        rc = ctk_wire_put_i64(out, r->exit);
    if (rc == 0)
        rc = ctk_wire_put_i64(out, r->signal);
    if (rc == 0)
        rc = ctk_wire_put_u64(out, r->attempts);
    if (rc == 0)
        rc = ctk_wire_put_u64(out, flags);
    if (rc == 0)
        rc = ctk_wire_put_u64(out, r->out_bytes);
    if (rc == 0)
        rc = ctk_wire_put_f64(out, r->start);
    if (rc == 0)
        rc = ctk_wire_put_f64(out, r->elapsed);
    if (rc == 0)
        rc = ctk_wire_put_bytes(out, r->line, r->line_len);
    if (rc == 0)
        rc = ctk_wire_put_u64(out, r->spool_id);
    for (int k = 0; k < 2 && rc == 0; k++) {
        rc = ctk_wire_put_bytes(out, r->mem[k], r->mem_len[k]);
        if (rc == 0)
            rc = ctk_wire_put_u64(out, r->spool_off[k]);
        if (rc == 0)
            rc = ctk_wire_put_u64(out, r->spool_len[k]);
    }
    return rc;
}

int ctk_par_decode_result(const ctk_buf *out, ctk_par_result *r)
{
    ctk_wire_reader rd;
    uint64_t flags = 0;
    const unsigned char *data;
    memset(r, 0, sizeof *r);
    ctk_wire_reader_init(&rd, out->data, out->len);
    int rc = ctk_wire_get_i64(&rd, &r->exit);
    if (rc == 0)
        rc = ctk_wire_get_i64(&rd, &r->signal);
    if (rc == 0)
        rc = ctk_wire_get_u64(&rd, &r->attempts);
    if (rc == 0)
        rc = ctk_wire_get_u64(&rd, &flags);
    if (rc == 0)
        rc = ctk_wire_get_u64(&rd, &r->out_bytes);
    if (rc == 0)
        rc = ctk_wire_get_f64(&rd, &r->start);
    if (rc == 0)
        rc = ctk_wire_get_f64(&rd, &r->elapsed);
    if (rc == 0 && (rc = ctk_wire_get_bytes(&rd, &data, &r->line_len)) == 0)
        r->line = (const char *)data;
    if (rc == 0)
        rc = ctk_wire_get_u64(&rd, &r->spool_id);
    for (int k = 0; k < 2 && rc == 0; k++) {
        if ((rc = ctk_wire_get_bytes(&rd, &data, &r->mem_len[k])) == 0)
            r->mem[k] = (const char *)data;
        if (rc == 0)
            rc = ctk_wire_get_u64(&rd, &r->spool_off[k]);
        if (rc == 0)
            rc = ctk_wire_get_u64(&rd, &r->spool_len[k]);
        /* A spooled output has no bytes in memory: both is malformed. */
        if (rc == 0 && r->spool_len[k] > 0 && r->mem_len[k] > 0)
            rc = CTK_EIO;
    }
    if (rc == 0 && rd.left != 0)
        rc = CTK_EIO;
    if (rc < 0) {
        ctk_par_result_clear(r);
        return rc;
    }
    r->terminated = flags & 1;
    r->timed_out = flags >> 1 & 1;
    return 0;
}

void ctk_par_result_clear(ctk_par_result *r)
{
    /* Nothing decoded is allocated now; kept for callers that pair it
     * with decode. */
    (void)r;
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
    ssize_t len;
    for (unsigned n = 1; (len = getline(&line, &cap, f)) > 0; n++) {
        if (n == 1 && strncmp(line, "Seq\t", 4) == 0)
            continue;
        /* A last line without its newline was torn by a crash or a full
         * disk while being written: that job is run again. */
        if (line[len - 1] != '\n')
            break;
        line[len - 1] = '\0';
        char **f9 = g_strsplit(line, "\t", 9);
        guint fields = g_strv_length(f9);
        char *end = NULL;
        unsigned long long seq = fields == 9 ? strtoull(f9[0], &end, 10) : 0;
        if (fields != 9 || end == f9[0] || *end != '\0') {
            snprintf(err, err_len, "%s:%u: not a joblog line", p->opts.joblog_path, n);
            rc = CTK_EINVAL;
        } else if (p->opts.resume == 1 || (strcmp(f9[6], "0") == 0 && strcmp(f9[7], "0") == 0)) {
            g_hash_table_add(p->skip, GSIZE_TO_POINTER((gsize)seq));
        }
        g_strfreev(f9);
        if (rc < 0)
            break;
    }
    free(line);
    fclose(f);
    return rc;
}

static int shared_new(ctk_par *p)
{
    p->sh_size = sizeof(shared) + p->opts.jobs + 1;
    void *m = mmap(NULL, p->sh_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return -errno;
    p->sh = m;
    p->sh->halt_status = -1;
    pthread_mutexattr_t attr;
    int rc = pthread_mutexattr_init(&attr);
    if (rc == 0)
        rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    if (rc == 0)
        rc = pthread_mutex_init(&p->sh->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    pthread_condattr_t cattr;
    if (rc == 0 && (rc = pthread_condattr_init(&cattr)) == 0) {
        rc = pthread_condattr_setpshared(&cattr, PTHREAD_PROCESS_SHARED);
        if (rc == 0)
            rc = pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
        if (rc == 0)
            rc = pthread_cond_init(&p->sh->traced, &cattr);
        pthread_condattr_destroy(&cattr);
    }
    p->sh->trace_next = 1;
    if (rc != 0) {
        munmap(m, p->sh_size);
        p->sh = NULL;
        return -rc;
    }
    return 0;
}

int ctk_par_new(ctk_par **out, const ctk_par_opts *opts, char *err, size_t err_len)
{
    ctk_par *p = g_new0(ctk_par, 1);
    p->opts = *opts;
    p->owner = getpid();
    p->cancel_fd = -1;
    p->next_out = 1;
    p->skip = g_hash_table_new(g_direct_hash, g_direct_equal);
    p->running = g_ptr_array_new();
    p->pending = g_queue_new();
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->print_lock, NULL);
    ctk_spawn_program_init(&p->program);
    p->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int rc = p->stop_fd < 0 ? -errno : shared_new(p);
    if (rc == 0 && opts->start_rate > 0 && (p->rate = ctk_rate_new(opts->start_rate)) == NULL)
        rc = CTK_ENOMEM;
    /* Before any strategy forks: its workers share the spool. */
    if (rc == 0 && (p->spool = ctk_spool_new(NULL)) == NULL)
        rc = CTK_ENOMEM;
    /* Without a guard (no fork left) the jobs' leaders still die with us. */
    if (rc == 0 && !opts->dry_run)
        (void)ctk_guard_start();
    if (rc == 0 && opts->resume && opts->joblog_path)
        rc = read_joblog(p, err, err_len);
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
    g_queue_free_full(p->pending, (GDestroyNotify)g_ptr_array_unref);
    ctk_rate_free(p->rate);
    ctk_spawn_program_free(&p->program);
    ctk_spool_free(p->spool);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->print_lock);
    if (p->sh != NULL) {
        pthread_cond_destroy(&p->sh->traced);
        pthread_mutex_destroy(&p->sh->lock);
        munmap(p->sh, p->sh_size);
    }
    if (p->stop_fd >= 0)
        close(p->stop_fd);
    g_free(p);
}

void ctk_par_use_pipeline(ctk_par *p, const int *cancel, int cancel_fd)
{
    p->cancel = cancel;
    p->cancel_fd = cancel_fd;
    if (p->opts.sources != NULL)
        ctk_sources_set_cancel_fd(p->opts.sources, cancel_fd);
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

static int halted(const ctk_par *p)
{
    return __atomic_load_n(&p->sh->halted, __ATOMIC_SEQ_CST);
}

static void too_long(ctk_par *p, size_t len, const ctk_cmdline_item *cols, size_t n);

/* ---- producing ---------------------------------------------------------------- */

/* One item's share of a -X/-m line, as GNU parallel counts it: each of
 * its columns (several with several sources). */
static size_t arg_cost(ctk_par *p, GPtrArray *v, uint64_t seq)
{
    size_t cost = 0;
    for (guint i = 0; i < v->len; i++) {
        gsize size;
        ctk_cmdline_item arg = {g_bytes_get_data(g_ptr_array_index(v, i), &size), 0};
        arg.len = size;
        cost += ctk_cmdline_arg_cost(p->opts.cmd, &arg, seq, 1);
    }
    return cost;
}

/* The items' columns, one after the other: with several sources {1} {2}
 * are then the first item's, as in GNU parallel. */
static int encode_items(ctk_par *p, ctk_unit *unit, GPtrArray *args, int too_long)
{
    int skip = too_long ? CTK_PAR_TOO_LONG
               : g_hash_table_contains(p->skip, GSIZE_TO_POINTER((gsize)unit->seq)) ? CTK_PAR_SKIP
                                                                                    : CTK_PAR_RUN;
    size_t n = 0;
    for (guint i = 0; i < args->len; i++)
        n += ((GPtrArray *)g_ptr_array_index(args, i))->len;
    ctk_cmdline_item *cols = g_new(ctk_cmdline_item, n ? n : 1);
    n = 0;
    for (guint i = 0; i < args->len; i++) {
        GPtrArray *item = g_ptr_array_index(args, i);
        for (guint k = 0; k < item->len; k++, n++) {
            gsize size;
            cols[n].data = g_bytes_get_data(g_ptr_array_index(item, k), &size);
            cols[n].len = size;
        }
    }
    int rc = ctk_par_encode_job(&unit->in, skip, cols, n);
    g_free(cols);
    return rc < 0 ? ctk_unit_fail(unit, rc, "cannot queue the job: %s", ctk_strerror(rc)) : 0;
}

static GPtrArray *item_copy(const ctk_item *item)
{
    GPtrArray *v = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    for (size_t i = 0; i < item->n; i++)
        g_ptr_array_add(v, g_bytes_new(item->cols[i], item->lens[i]));
    return v;
}

/* The sources failed: a read error, or a --csv record refused. GNU
 * parallel dies there (exit 255); here the jobs before it run to their
 * end, none after it starts, and the run exits 255. */
static int input_failed(ctk_par *p, int rc)
{
    if (!__atomic_exchange_n(&p->sh->input_failed, 1, __ATOMIC_SEQ_CST)) {
        const char *why = ctk_sources_error(p->opts.sources);
        fprintf(stderr, "cpar: %s%s\n",
                why != NULL ? "" : "cannot read the input: ", why != NULL ? why : ctk_strerror(rc));
    }
    return CTK_EOF;
}

/* -X and -m: as many items as fit in a command line of max_chars, as GNU
 * parallel's CommandLine::populate fills it; at the end of input the last
 * items are spread evenly over the job slots (once). */
static int produce_fill(ctk_par *p, ctk_unit *unit)
{
    GPtrArray *args = g_ptr_array_new_with_free_func((GDestroyNotify)g_ptr_array_unref);
    size_t len, per_arg;
    ctk_cmdline_fill_cost(p->opts.cmd, &len, &per_arg);
    int eof = 0, rc = 0;
    while ((p->spread_max == 0 || args->len < p->spread_max) &&
           (p->opts.fill_max == 0 || args->len < p->opts.fill_max)) {
        GPtrArray *v = g_queue_pop_head(p->pending);
        if (v == NULL) {
            rc = ctk_sources_next(p->opts.sources, &p->item, &p->nul_replaced, p->cancel);
            if (rc == CTK_EOF || rc == CTK_ECANCELED) {
                eof = 1;
                rc = 0;
                break;
            }
            if (rc < 0) {
                /* The items read before it still make their job. */
                input_failed(p, rc);
                eof = 1;
                rc = 0;
                break;
            }
            v = item_copy(&p->item);
        }
        g_ptr_array_add(args, v);
        len += (args->len > 1 ? per_arg : 0) + arg_cost(p, v, unit->seq);
        if (len >= p->opts.max_chars) {
            if (args->len > 1) {
                g_queue_push_head(p->pending, g_ptr_array_ref(v));
                g_ptr_array_remove_index(args, args->len - 1);
                break;
            }
            /* GNU parallel gives up on the whole run here (exit 255),
             * after the jobs before this one started. */
            p->fill_ended = 1;
            rc = encode_items(p, unit, args, 1);
            g_ptr_array_free(args, TRUE);
            return rc;
        }
    }
    /* Full at -n/-L: parallel looks one item ahead, so that a last full
     * line is spread too ("a b c d" with -n2 -j2: "a b", "c", "d"). */
    if (!eof && rc == 0 && !p->spread_done && p->opts.fill_max > 0 &&
        args->len >= p->opts.fill_max && args->len > 1 && g_queue_is_empty(p->pending)) {
        rc = ctk_sources_next(p->opts.sources, &p->item, &p->nul_replaced, p->cancel);
        if (rc < 0 && rc != CTK_EOF && rc != CTK_ECANCELED)
            input_failed(p, rc);
        if (rc < 0)
            eof = 1, rc = 0;
        else
            g_queue_push_tail(p->pending, item_copy(&p->item));
    }
    if (eof && !p->spread_done && args->len > 1 && g_queue_is_empty(p->pending)) {
        p->spread_done = 1;
        p->spread_max = (args->len + p->opts.jobs - 1) / p->opts.jobs;
        while (args->len > p->spread_max) {
            g_queue_push_head(p->pending, g_ptr_array_ref(g_ptr_array_index(args, args->len - 1)));
            g_ptr_array_remove_index(args, args->len - 1);
        }
    }
    if (rc == 0 && args->len == 0)
        rc = CTK_EOF;
    if (rc == 0)
        rc = encode_items(p, unit, args, 0);
    g_ptr_array_free(args, TRUE);
    return rc;
}

/* --delay, --rate: the pipeline's strategies take units as they come, so
 * spacing them here spaces the starts. The wait sleeps on the run's
 * cancel fd, so a signal ends it at once. */
static int wait_rate(ctk_par *p)
{
    double now = ctk_rate_clock();
    double due = now + ctk_rate_reserve(p->rate, now);
    while (!ctk_is_cancelled(p->cancel)) {
        double left = due - ctk_rate_clock();
        if (left <= 0)
            return 0;
        struct pollfd w = {.fd = p->cancel_fd, .events = POLLIN};
        int ms = (int)ceil(left * 1000.0);
        if (poll(&w, 1, ms) < 0 && errno != EINTR)
            return -errno;
    }
    return CTK_ECANCELED;
}

int ctk_par_produce(void *arg, ctk_unit *unit)
{
    ctk_par *p = arg;
    if (halted(p) || p->fill_ended || p->sh->input_failed)
        return CTK_EOF;
    if (p->rate != NULL && wait_rate(p) < 0)
        return CTK_EOF;
    if (p->opts.max_chars > 0)
        return produce_fill(p, unit);
    int rc = ctk_sources_next(p->opts.sources, &p->item, &p->nul_replaced, p->cancel);
    if (rc == CTK_ECANCELED)
        return CTK_EOF;
    if (rc < 0 && rc != CTK_EOF)
        return input_failed(p, rc);
    if (rc < 0)
        return rc;
    int skip = g_hash_table_contains(p->skip, GSIZE_TO_POINTER((gsize)unit->seq));
    ctk_cmdline_item *cols = g_new(ctk_cmdline_item, p->item.n ? p->item.n : 1);
    for (size_t i = 0; i < p->item.n; i++)
        cols[i] = (ctk_cmdline_item){p->item.cols[i], p->item.lens[i]};
    rc = ctk_par_encode_job(&unit->in, skip, cols, p->opts.no_args ? 0 : p->item.n);
    g_free(cols);
    return rc < 0 ? ctk_unit_fail(unit, rc, "cannot queue the job: %s", ctk_strerror(rc)) : 0;
}

/* ---- running ------------------------------------------------------------------ */

static int cancelled(ctk_par *p)
{
    return __atomic_load_n(&p->cancels, __ATOMIC_SEQ_CST) > 0 || ctk_is_cancelled(p->cancel);
}

/* No new job starts: cancelled, or --halt decided so. */
static int stopping(ctk_par *p)
{
    return cancelled(p) || halted(p) != 0;
}

static unsigned take_slot(ctk_par *p)
{
    pthread_mutex_lock(&p->sh->lock);
    unsigned slot = 1;
    while (slot < p->opts.jobs && p->sh->slot_used[slot])
        slot++;
    p->sh->slot_used[slot] = 1;
    p->sh->running++;
    pthread_mutex_unlock(&p->sh->lock);
    return slot;
}

static void give_slot(ctk_par *p, unsigned slot)
{
    pthread_mutex_lock(&p->sh->lock);
    p->sh->slot_used[slot] = 0;
    p->sh->running--;
    pthread_mutex_unlock(&p->sh->lock);
}

/* Registers a started child so that a signal can reach it; a cancel that
 * came first reaches it at once. */
static void track(ctk_par *p, ctk_spawn_child *child, int on)
{
    pthread_mutex_lock(&p->lock);
    if (on) {
        g_ptr_array_add(p->running, child);
        if (child->pid > 0 && __atomic_load_n(&p->cancels, __ATOMIC_SEQ_CST) > 0)
            ctk_spawn_terminate(child);
    } else {
        g_ptr_array_remove_fast(p->running, child);
    }
    pthread_mutex_unlock(&p->lock);
}

static void stop_all(ctk_par *p)
{
    uint64_t one = 1;
    if (write(p->stop_fd, &one, sizeof one) < 0) {
        /* EAGAIN only: the counter is set, the fd readable already. */
    }
}

/* A command line over the limit: GNU parallel refuses the whole run
 * there (exit 255), its words; the jobs running end, none starts. */
static void too_long(ctk_par *p, size_t len, const ctk_cmdline_item *cols, size_t n)
{
    /* GNU parallel's words: the job's items, cut at 50 bytes; its input
     * number is always 0 there. */
    GString *args = g_string_new(NULL);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            g_string_append_c(args, ' ');
        g_string_append_len(args, cols[i].data, (gssize)cols[i].len);
    }
    if (args->len > 50)
        g_string_truncate(args, 50), g_string_append(args, "...");
    pthread_mutex_lock(&p->sh->lock);
    int first = p->sh->halt_status != 255;
    p->sh->halt_status = 255;
    __atomic_store_n(&p->sh->halted, 2, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&p->sh->lock);
    if (first)
        fprintf(stderr, "cpar: Error: Command line too long (%zu >= %zu) at input 0: %s\n", len,
                p->opts.line_max, args->str);
    g_string_free(args, TRUE);
    stop_all(p);
}

void ctk_par_cancel(ctk_par *p, int signo)
{
    pthread_mutex_lock(&p->lock);
    __atomic_add_fetch(&p->cancels, 1, __ATOMIC_SEQ_CST);
    /* A first signal goes to the jobs as it came, and they may end as they
     * like; a second, or jobs running in processes this one cannot signal
     * (a forking strategy's workers), get the termination sequence. */
    pthread_mutex_lock(&p->sh->lock);
    unsigned everywhere = p->sh->running;
    pthread_mutex_unlock(&p->sh->lock);
    if (p->cancels > 1 || signo <= 0 || everywhere > p->running->len)
        stop_all(p);
    for (guint i = 0; i < p->running->len; i++) {
        ctk_spawn_child *child = g_ptr_array_index(p->running, i);
        if (p->cancels == 1 && signo > 0)
            ctk_spawn_signal(child, signo);
        else
            ctk_spawn_terminate(child);
    }
    pthread_mutex_unlock(&p->lock);
}

static int append_chunk(void *arg, const void *data, size_t len)
{
    return ctk_buf_append(arg, data, len);
}

/* Captured output goes back as bytes, or, when it was too big for
 * memory, as a range of the run's spool: never as a named file, which a
 * kill -9 would leave behind. A process whose spool the consumer cannot
 * read (a rank running the tool itself) sends the bytes whatever their
 * size. */
static int keep_stream(ctk_par *p, const ctk_spawn_stream *s, ctk_buf *copy, const char **mem,
                       size_t *len, uint64_t *off, uint64_t *spooled)
{
    *mem = (const char *)s->mem.data;
    *len = s->mem.len;
    *off = *spooled = 0;
    if (s->spill_fd < 0)
        return 0;
    if (!ctk_spool_reaches(p->spool, p->opts.elsewhere)) {
        copy->len = 0;
        int rc = ctk_spawn_stream_foreach(s, append_chunk, copy);
        *mem = (const char *)copy->data;
        *len = copy->len;
        return rc;
    }
    *mem = "";
    *len = 0;
    int rc = ctk_spool_put(p->spool, s, off);
    if (rc == 0)
        *spooled = s->bytes;
    return rc;
}

static double wall_clock(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* One job on its way, whatever runs it: rendered once, then attempted
 * (--retries) until it succeeds, gives up or is stopped. */
typedef struct job {
    ctk_par *p;
    ctk_unit *unit;
    unsigned slot;
    ctk_buf line;
    ctk_buf quoted; /* --shellquote: the shell line that prints it */
    char **argv;
    ctk_spawn_opts so;
    ctk_spawn_result res;
    unsigned attempts;
    unsigned retries; /* --retries for this job */
    double start;
    char env_seq[40], env_slot[40], env_pid[40], env_slot_var[CTK_SLOT_VAR_MAX + 24];
    const char *env[5];
    int ran;  /* the last attempt's child started: a failure now loses its output */
    int skip; /* --plus {uniq}/{choose_k}: not run, failed with exit -2 as in parallel */
} job;

enum { JOB_READY = 0, JOB_SKIPPED = 1 };

static int line_sink(void *arg, int stream, const void *data, size_t len);

/* The shell line a job runs when it is not its command line itself, as
 * GNU parallel wraps it: --shellquote prints the line quoted once per
 * --shellquote, and $PARALLEL_ENV's text goes before the command on a
 * line of its own (zsh: before an eval of it, so aliases work). The
 * joblog, -v and --dry-run still show the command line. */
static int wrap_line(const ctk_par *p, job *j)
{
    ctk_buf a = {0}, b = {0};
    int rc = ctk_buf_append(&a, j->line.data, j->line.len);
    for (int k = 0; k < p->opts.shellquote + (p->opts.shellquote > 0) && rc == 0; k++) {
        b.len = 0;
        rc = ctk_cmdline_quote(&b, (const char *)a.data, a.len);
        ctk_buf t = a;
        a = b;
        b = t;
    }
    /* b: the command; with $PARALLEL_ENV it comes after that text */
    static const char print[] = "printf '%s\\n' ";
    b.len = 0;
    if (rc == 0 && p->opts.shellquote > 0)
        rc = ctk_buf_append(&b, print, sizeof print - 1);
    if (rc == 0)
        rc = ctk_buf_append(&b, a.data, a.len);
    const char *env = p->opts.parallel_env;
    int zsh = env != NULL && p->opts.shell != NULL && strstr(p->opts.shell, "zsh") != NULL;
    if (rc == 0 && env != NULL) {
        rc = ctk_buf_append(&j->quoted, env, strlen(env));
        if (rc == 0)
            rc = ctk_buf_append(&j->quoted, zsh ? "\neval " : "\n", zsh ? 6 : 1);
    }
    if (rc == 0)
        rc = zsh ? ctk_cmdline_quote(&j->quoted, (const char *)b.data, b.len)
                 : ctk_buf_append(&j->quoted, b.data, b.len);
    if (rc == 0)
        rc = ctk_buf_append(&j->quoted, "", 1);
    ctk_buf_free(&a);
    ctk_buf_free(&b);
    if (rc < 0) {
        ctk_buf_free(&j->quoted);
        return rc;
    }
    j->quoted.len--; /* the NUL stays after it */
    ctk_cmdline_argv_free(j->argv);
    j->argv = NULL;
    return 0;
}

/* --retries N, or its replacement strings filled with the job's
 * values; a value that is no number counts as 1 (no retry), said once
 * per job. */
static unsigned job_retries(const ctk_par *p, const ctk_unit *unit, const ctk_cmdline_args *args)
{
    if (p->opts.retries_text == NULL)
        return p->opts.retries;
    ctk_buf v = {0};
    uint64_t n = 1;
    char why[160];
    if (ctk_cmdline_render(p->opts.retries_text, args, &v, NULL) == 0 &&
        ctk_parse_u64((const char *)v.data, 0, 1000000, &n, why, sizeof why) < 0) {
        fprintf(stderr, "cpar: job %llu: --retries %s: %s\n", (unsigned long long)unit->seq,
                (const char *)v.data, why);
        n = 1;
    }
    ctk_buf_free(&v);
    return (unsigned)n;
}

/* Decodes and renders a unit. Returns JOB_READY; JOB_SKIPPED when there
 * is nothing to run (done before, or --halt stopped new jobs: the unit's
 * out stays empty, which consume reads as "never ran"); or a negative
 * code with the unit failed. */
static int job_render(ctk_par *p, ctk_unit *unit, job *j)
{
    memset(j, 0, sizeof *j);
    j->p = p;
    j->unit = unit;
    ctk_cmdline_item *cols = NULL;
    size_t n = 0;
    int skip = 0;
    int rc = ctk_par_decode_job(&unit->in, &skip, &cols, &n);
    if (rc < 0)
        return ctk_unit_fail(unit, rc, rc == CTK_ENOMEM ? "out of memory" : "malformed job");
    if (skip == CTK_PAR_SKIP || stopping(p)) {
        g_free(cols);
        return JOB_SKIPPED;
    }
    j->slot = take_slot(p);
    ctk_cmdline_args args = {cols, n, unit->seq, j->slot};
    j->skip = ctk_cmdline_skip(p->opts.cmd, &args);
    rc = ctk_cmdline_render(p->opts.cmd, &args, &j->line, p->opts.dry_run ? NULL : &j->argv);
    if (rc == 0 &&
        (skip == CTK_PAR_TOO_LONG || (p->opts.line_max > 0 && j->line.len >= p->opts.line_max))) {
        give_slot(p, j->slot);
        too_long(p, j->line.len, cols, n);
        g_free(cols);
        ctk_cmdline_argv_free(j->argv);
        ctk_buf_free(&j->line);
        return ctk_unit_fail(unit, CTK_ERANGE, "command line too long");
    }
    j->retries = job_retries(p, unit, &args);
    g_free(cols);
    if (rc < 0) {
        give_slot(p, j->slot);
        ctk_buf_free(&j->line);
        return ctk_unit_fail(unit, rc, "%s",
                             rc == CTK_ENOMEM ? "out of memory"
                                              : "an argument contains a NUL byte (use -0)");
    }
    if ((p->opts.shellquote > 0 || p->opts.parallel_env != NULL) && (rc = wrap_line(p, j)) < 0) {
        give_slot(p, j->slot);
        ctk_cmdline_argv_free(j->argv);
        ctk_buf_free(&j->line);
        return ctk_unit_fail(unit, rc, "out of memory");
    }
    ctk_spawn_stream_init(&j->res.out, 0, NULL);
    ctk_spawn_stream_init(&j->res.err, 0, NULL);
    j->start = wall_clock();
    j->so = (ctk_spawn_opts){
        .argv = (const char *const *)j->argv,
        .path = j->argv != NULL ? ctk_spawn_program_path(&p->program, j->argv[0]) : NULL,
        .shell = j->quoted.len > 0 ? (const char *)j->quoted.data
                 : j->argv == NULL ? (const char *)j->line.data
                                   : NULL,
        .shell_path = p->opts.shell,
        .out = p->opts.ungroup ? CTK_SPAWN_INHERIT : CTK_SPAWN_CAPTURE,
        .err = p->opts.ungroup ? CTK_SPAWN_INHERIT : CTK_SPAWN_CAPTURE,
        .termseq = p->opts.termseq,
        .termseq_len = p->opts.termseq_len,
        .stop_fd = &p->stop_fd, /* a cancel or --halt now ends it, from any process */
    };
    /* As GNU parallel sets them for every job. */
    snprintf(j->env_seq, sizeof j->env_seq, "PARALLEL_SEQ=%llu", (unsigned long long)unit->seq);
    snprintf(j->env_slot, sizeof j->env_slot, "PARALLEL_JOBSLOT=%u", j->slot);
    snprintf(j->env_pid, sizeof j->env_pid, "PARALLEL_PID=%ld", (long)p->owner);
    j->env[0] = j->env_seq;
    j->env[1] = j->env_slot;
    j->env[2] = j->env_pid;
    j->env[3] = NULL;
    if (p->opts.slot_var != NULL) {
        snprintf(j->env_slot_var, sizeof j->env_slot_var, "%s=%u", p->opts.slot_var, j->slot - 1);
        j->env[3] = j->env_slot_var;
        j->env[4] = NULL;
    }
    j->so.env = j->env;
    if (p->opts.line_buffer && !p->opts.quiet_output) {
        j->so.sink = line_sink;
        j->so.sink_arg = j;
    }
    return JOB_READY;
}

/* -t: prints the job's line once every job before it has printed (or
 * been skipped), so stderr lists the commands in start order as
 * parallel's does. The wait is bounded: a worker that died holding an
 * earlier job must not stall the run, only its order. */
static void trace_turn(ctk_par *p, uint64_t seq, const ctk_buf *line)
{
    shared *sh = p->sh;
    pthread_mutex_lock(&sh->lock);
    /* 100 ms slices: a cancel sets its flag without waking anyone. A
     * turn that never comes (the job before ran in another process that
     * does not share this memory, as an MPI rank) costs one second once. */
    int slice = 0;
    for (; slice < 10 && !sh->trace_unordered && sh->trace_next < seq && !stopping(p); slice++) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += 100000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (sh->trace_next < seq &&
               pthread_cond_timedwait(&sh->traced, &sh->lock, &until) != ETIMEDOUT)
            ;
    }
    if (slice == 10 && sh->trace_next < seq)
        sh->trace_unordered = 1;
    if (line != NULL) {
        fprintf(stderr, "%.*s\n", (int)line->len, (const char *)line->data);
        fflush(stderr);
    }
    if (sh->trace_next <= seq)
        sh->trace_next = seq + 1;
    pthread_cond_broadcast(&sh->traced);
    pthread_mutex_unlock(&sh->lock);
}

/* Renders a unit (job_render), then takes -t's turn. */
static int job_begin(ctk_par *p, ctk_unit *unit, job *j)
{
    int rc = job_render(p, unit, j);
    if (p->opts.trace && !p->opts.dry_run)
        trace_turn(p, unit->seq, rc == JOB_READY ? &j->line : NULL);
    return rc;
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
           (j->retries == 0 || j->attempts < j->retries) && !stopping(p);
}

/* Applies --halt as GNU parallel's should_we_halt does, as soon as a job
 * has ended (not when it is printed, so no further job starts meanwhile):
 * its message, its exit status, its when. The counts and the decision are
 * shared by every process running jobs. */
static void halt_check(ctk_par *p, int failed, int64_t exit, int64_t signo, const char *line,
                       size_t line_len)
{
    const ctk_halt *h = &p->opts.halt;
    if (h->when == CTK_HALT_NEVER)
        return;
    shared *sh = p->sh;
    pthread_mutex_lock(&sh->lock);
    sh->h_done++;
    sh->h_failed += failed != 0;
    sh->h_succeeded += failed == 0;
    uint64_t limit = 0;
    const char *why = NULL;
    if (sh->halted == 0) {
        if (failed && h->why == CTK_HALT_FAIL)
            why = "failed", limit = sh->h_failed;
        else if (!failed && h->why == CTK_HALT_SUCCESS)
            why = "succeeded", limit = sh->h_succeeded;
        if (h->why == CTK_HALT_DONE)
            why = "finished", limit = sh->h_done;
    }
    int now = 0;
    if (why != NULL) {
        fprintf(stderr, "cpar: This job %s:\n%.*s\n", why, (int)line_len, line);
        uint64_t total = p->opts.total_jobs ? p->opts.total_jobs : 1;
        double need = h->percent > 0 ? h->percent / 100.0 * (double)total : (double)h->count;
        if ((double)limit >= need) {
            if (h->why == CTK_HALT_SUCCESS)
                sh->halt_status = 0;
            else if (h->percent > 0)
                sh->halt_status = (int)ceil((double)sh->h_failed * 100.0 / (double)total);
            else if (h->count == 1)
                /* parallel exits with the job's status as a byte: a
                 * timeout's -1 gives 255, a skipped job's -2 254. */
                sh->halt_status = exit != 0 ? (int)(exit & 255) : signo != 0 ? (int)signo + 128 : 0;
            else
                sh->halt_status = sh->h_failed > 101 ? 101 : (int)sh->h_failed;
            now = h->when == CTK_HALT_NOW;
            __atomic_store_n(&sh->halted, now ? 2 : 1, __ATOMIC_SEQ_CST);
            /* The job that decided is still counted as running. */
            if (!now && sh->running > 1)
                fprintf(stderr, "cpar: Starting no more jobs. Waiting for %u jobs to finish.\n",
                        sh->running - 1);
        }
    }
    pthread_mutex_unlock(&sh->lock);
    if (now)
        stop_all(p); /* every job of every process begins its sequence */
}

/* Encodes what came of the job into unit->out (or fails the unit), and
 * releases the job. */
static void job_end(ctk_par *p, job *j, int rc)
{
    ctk_unit *unit = j->unit;
    if (j->skip)
        j->res.exit = -2;
    int interrupted = (__atomic_load_n(&p->cancels, __ATOMIC_SEQ_CST) > 0 ||
                       ctk_is_cancelled(p->cancel) || halted(p) == 2) &&
                      (j->res.terminated || j->res.signal != 0);
    /* Under a remote strategy the consumer decides, from the results. */
    if (!p->opts.dry_run && !interrupted && !p->opts.remote)
        halt_check(p, rc < 0 || j->res.exit != 0 || j->res.signal != 0 || j->res.timed_out,
                   j->res.timed_out ? -1 : j->res.exit, j->res.signal, (const char *)j->line.data,
                   j->line.len);
    if (rc < 0) {
        /* A job that started and then failed on our side (a spill file on
         * a full disk) ran, but its output is lost: it has failed. */
        ctk_unit_fail(unit, rc, "%s: %s",
                      j->ran ? "cannot keep the job's output" : "cannot run the job",
                      ctk_strerror(rc));
    } else {
        ctk_spawn_result *res = &j->res;
        ctk_par_result r = {
            .exit = res->exit,
            .signal = res->signal,
            .attempts = j->attempts,
            .terminated = res->terminated,
            .timed_out = res->timed_out,
            .out_bytes = res->out.bytes,
            .start = j->start,
            .elapsed = res->elapsed,
            .line = (const char *)j->line.data,
            .line_len = j->line.len,
        };
        ctk_buf copy[2] = {{0}, {0}};
        r.spool_id = ctk_spool_id(p->spool);
        rc = keep_stream(p, &res->out, &copy[0], &r.mem[0], &r.mem_len[0], &r.spool_off[0],
                         &r.spool_len[0]);
        if (rc == 0)
            rc = keep_stream(p, &res->err, &copy[1], &r.mem[1], &r.mem_len[1], &r.spool_off[1],
                             &r.spool_len[1]);
        if (rc == 0)
            rc = ctk_par_encode_result(&unit->out, &r);
        if (rc < 0) {
            for (int k = 0; k < 2; k++)
                ctk_spool_release(p->spool, r.spool_off[k], r.spool_len[k]);
            ctk_unit_fail(unit, rc, "cannot keep the job's output: %s", ctk_strerror(rc));
        }
        ctk_buf_free(&copy[0]);
        ctk_buf_free(&copy[1]);
    }
    ctk_spawn_result_free(&j->res);
    give_slot(p, j->slot);
    ctk_cmdline_argv_free(j->argv);
    ctk_buf_free(&j->line);
    ctk_buf_free(&j->quoted);
}

/* ---- --halt across hosts ------------------------------------------------------ */

static char *tag_of(const ctk_unit *unit);

/* A result back from a process that shares no memory with this one: it
 * counts for --halt here, as halt_check counts a job where it ended under
 * a local strategy. A job that never ran (skipped, or cancelled before it
 * started) and one our own stop ended do not count, as there. */
static void stop_ended(void *arg, const ctk_unit *unit)
{
    ctk_par *p = arg;
    if (p->opts.dry_run || p->opts.halt.when == CTK_HALT_NEVER || unit->status == CTK_ECANCELED ||
        (unit->status == 0 && unit->out.len == 0))
        return;
    ctk_par_result r = {0};
    if (unit->status < 0 || ctk_par_decode_result(&unit->out, &r) < 0) {
        /* It failed on its way (a rank that died): a job that failed. */
        char *input = tag_of(unit);
        halt_check(p, 1, 0, 0, input, strlen(input));
        g_free(input);
        return;
    }
    int interrupted = (cancelled(p) || halted(p) == 2) && (r.terminated || r.signal != 0);
    if (!interrupted)
        halt_check(p, r.exit != 0 || r.signal != 0 || r.timed_out, r.timed_out ? -1 : r.exit,
                   r.signal, r.line, r.line_len);
    ctk_par_result_clear(&r);
}

static int stop_decided(void *arg)
{
    int h = halted(arg);
    return h == 2 ? CTK_STOP_NOW : h == 1 ? CTK_STOP_SOON : CTK_STOP_NONE;
}

/* Where jobs run: the consumer's decision becomes this process's, so the
 * jobs it still gets are skipped (job_begin) and, on now, the running
 * ones end. */
static void stop_apply(void *arg, int how)
{
    ctk_par *p = arg;
    int want = how == CTK_STOP_NOW ? 2 : 1;
    pthread_mutex_lock(&p->sh->lock);
    if (p->sh->halted < want)
        __atomic_store_n(&p->sh->halted, want, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&p->sh->lock);
    if (want == 2)
        stop_all(p);
}

ctk_stop_hooks ctk_par_stop_hooks(ctk_par *p)
{
    int each = p->opts.halt.when != CTK_HALT_NEVER && !p->opts.dry_run;
    return (ctk_stop_hooks){stop_ended, stop_decided, stop_apply, p, each};
}

/* ---- --line-buffer: whole lines as the jobs write them --------------------- */

static char *tag_of(const ctk_unit *unit);
static char *render_text(const ctk_cmdline *text, const ctk_unit *unit);
static void print_stream(FILE *to, const char *tag, const char *mem, size_t mem_len,
                         ctk_spool *spool, uint64_t off, uint64_t spooled);

/* Prints the complete lines a running job has written so far and keeps
 * only the unfinished last line; consume prints the rest. With -k only
 * the job consume takes next prints early, so the order holds. */
static void flush_lines(ctk_par *p, job *j)
{
    pthread_mutex_lock(&p->print_lock);
    if (p->opts.keep_order && j->unit->seq != p->next_out) {
        pthread_mutex_unlock(&p->print_lock);
        return;
    }
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
        print_stream(k == 0 ? stdout : stderr, tag, (const char *)mem->data, n, NULL, 0, 0);
        memmove(mem->data, mem->data + n, mem->len - n);
        mem->len -= n;
    }
    pthread_mutex_unlock(&p->print_lock);
    g_free(tag);
    /* A reader that went away (| head) ends the run as it would a grouped
     * one: the SIGPIPE a job's thread blocks while it feeds the job goes
     * to the process, and the guard ends every job (GNU parallel's bug
     * #51337: a --lb job that writes forever must not outlive the pipe). */
    if (ctk_closeout_error() == EPIPE)
        kill(getpid(), SIGPIPE);
}

/* The spawn's sink under --line-buffer (blocking runs): the chunk joins
 * the captured stream, then whole lines go out. spawn has counted the
 * bytes already, which the append counts again. */
static int line_sink(void *arg, int stream, const void *data, size_t len)
{
    job *j = arg;
    ctk_spawn_stream *s = stream == 1 ? &j->res.out : &j->res.err;
    int rc = ctk_spawn_stream_append(s, data, len);
    s->bytes -= len;
    if (rc == 0)
        flush_lines(j->p, j);
    return rc;
}

/* ---- the blocking form: sync, thread, and forking strategies ---------------- */

/* In a worker another process forked for a forking strategy, a cancel
 * arrives as a signal to the worker: it must not end the worker before
 * the job it runs has seen the run's cancel fd and ended its own
 * process group. */
static void shield_worker(ctk_par *p)
{
    if (getpid() == p->owner)
        return;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static int run_once(ctk_par *p, job *j)
{
    job_attempt(p, j);
    ctk_spawn_child child;
    int rc = ctk_spawn_start(&child, &j->so);
    j->ran = rc == 0 && child.pid > 0;
    if (rc == 0) {
        track(p, &child, 1);
        rc = ctk_spawn_finish(&child, &j->res);
        track(p, &child, 0);
    }
    ctk_spawn_dispose(&child);
    return rc;
}

static int par_run(void *ctx, ctk_unit *unit, const int *cancel)
{
    (void)cancel;
    ctk_par *p = ctx;
    shield_worker(p);
    job j;
    int rc = job_begin(p, unit, &j);
    if (rc != JOB_READY)
        return rc < 0 ? rc : 0;
    if (!p->opts.dry_run && !j.skip)
        do
            rc = run_once(p, &j);
        while (job_again(p, &j, rc));
    job_end(p, &j, rc);
    return unit->status;
}

/* ---- the event-loop form: spawn's watch served by uv_poll ------------------- */

/* One job on a loop: the same spawn as the blocking form (so a failed
 * exec reads the same), its fds watched by one uv_poll each, on a dup so
 * that spawn may close the original whenever it is done with it, and one
 * timer for what falls due (a deadline, a termination step). */
typedef struct ajob {
    job j;
    uv_loop_t *loop;
    ctk_spawn_child child;
    ctk_spawn_watch *watch;
    uv_poll_t poll[CTK_SPAWN_WATCH_FDS];
    int fds[CTK_SPAWN_WATCH_FDS]; /* the dup poll[i] watches, or -1 */
    uv_timer_t timer;
    int open_polls;
    int ended; /* the attempt is over; rc says how */
    int rc;
    ctk_done_fn done;
    void *done_arg;
} ajob;

static void ajob_attempt(ajob *a);

static void ajob_free(uv_handle_t *h)
{
    ajob *a = h->data;
    ctk_unit *unit = a->j.unit;
    ctk_done_fn done = a->done;
    void *done_arg = a->done_arg;
    g_free(a);
    done(unit, done_arg);
}

/* Every poll of the attempt is closed: another attempt, or the end. */
static void ajob_attempt_over(ajob *a)
{
    ctk_par *p = a->j.p;
    if (job_again(p, &a->j, a->rc)) {
        ajob_attempt(a);
        return;
    }
    job_end(p, &a->j, a->rc);
    uv_close((uv_handle_t *)&a->timer, ajob_free);
}

static void ajob_poll_closed(uv_handle_t *h)
{
    ajob *a = h->data;
    int i = (int)((uv_poll_t *)h - a->poll);
    close(a->fds[i]);
    a->fds[i] = -1;
    if (--a->open_polls == 0 && a->ended)
        ajob_attempt_over(a);
}

static void ajob_unpoll(ajob *a, int i)
{
    if (a->fds[i] >= 0 && !uv_is_closing((uv_handle_t *)&a->poll[i]))
        uv_close((uv_handle_t *)&a->poll[i], ajob_poll_closed);
}

static void ajob_end_attempt(ajob *a, int rc)
{
    if (a->watch != NULL) {
        ctk_spawn_watch_free(a->watch);
        a->watch = NULL;
    }
    track(a->j.p, &a->child, 0);
    ctk_spawn_dispose(&a->child);
    uv_timer_stop(&a->timer);
    a->ended = 1;
    a->rc = rc;
    for (int i = 0; i < CTK_SPAWN_WATCH_FDS; i++)
        ajob_unpoll(a, i);
    if (a->open_polls == 0)
        ajob_attempt_over(a);
}

static void ajob_ready(uv_poll_t *w, int status, int events);
static void ajob_due(uv_timer_t *t);

static int uv_events(short events)
{
    return (events & POLLIN ? UV_READABLE : 0) | (events & POLLOUT ? UV_WRITABLE : 0);
}

/* Makes the polls and the timer match what the watch waits for now: a
 * new fd is polled, one spawn is done with is no longer (a level-
 * triggered poll on a closed pipe or a seen exit would fire forever). */
static int ajob_sync(ajob *a)
{
    struct pollfd p[CTK_SPAWN_WATCH_FDS];
    double due;
    if (ctk_spawn_watch_fds(a->watch, p, &due))
        due = 0;
    for (int i = 0; i < CTK_SPAWN_WATCH_FDS; i++) {
        if (p[i].fd < 0) {
            ajob_unpoll(a, i);
            continue;
        }
        if (a->fds[i] >= 0)
            continue;
        int fd = fcntl(p[i].fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
            return -errno;
        int rc = uv_poll_init(a->loop, &a->poll[i], fd);
        if (rc < 0) {
            close(fd);
            return rc;
        }
        a->fds[i] = fd;
        a->poll[i].data = a;
        a->open_polls++;
        if ((rc = uv_poll_start(&a->poll[i], uv_events(p[i].events), ajob_ready)) < 0)
            return rc;
    }
    if (due < 0) {
        uv_timer_stop(&a->timer);
        return 0;
    }
    double ms = (due - ctk_spawn_clock()) * 1000.0;
    return uv_timer_start(&a->timer, ajob_due, ms <= 0 ? 0 : (uint64_t)ceil(ms), 0);
}

/* Serves p; ends the attempt once the child is reaped. */
static void ajob_step(ajob *a, const struct pollfd *p)
{
    int rc = ctk_spawn_watch_step(a->watch, p);
    if (a->j.p->opts.line_buffer && !a->j.p->opts.quiet_output)
        flush_lines(a->j.p, &a->j);
    if (rc == 0 && (rc = ajob_sync(a)) == 0)
        return;
    if (rc < 0)
        ctk_spawn_signal(&a->child, SIGKILL); /* dispose reaps it */
    ajob_end_attempt(a, rc == 1 ? 0 : rc);
}

static void ajob_ready(uv_poll_t *w, int status, int events)
{
    /* An error on a pipe (the child closed it) is seen by the read, as an
     * end of file. */
    (void)status;
    (void)events;
    ajob *a = w->data;
    if (a->ended)
        return;
    struct pollfd p[CTK_SPAWN_WATCH_FDS];
    double due;
    ctk_spawn_watch_fds(a->watch, p, &due);
    int i = (int)(w - a->poll);
    if (p[i].fd >= 0)
        p[i].revents = p[i].events;
    ajob_step(a, p);
}

static void ajob_due(uv_timer_t *t)
{
    ajob *a = t->data;
    if (a->ended)
        return;
    struct pollfd p[CTK_SPAWN_WATCH_FDS];
    double due;
    ctk_spawn_watch_fds(a->watch, p, &due);
    ajob_step(a, p);
}

static void ajob_attempt(ajob *a)
{
    job *j = &a->j;
    job_attempt(j->p, j);
    a->ended = 0;
    int rc = ctk_spawn_start(&a->child, &j->so);
    j->ran = rc == 0 && a->child.pid > 0;
    if (rc == 0) {
        track(j->p, &a->child, 1);
        ctk_spawn_result_free(&j->res);
        rc = ctk_spawn_watch_begin(&a->watch, &a->child, &j->res);
    }
    if (rc == 0)
        rc = ajob_sync(a);
    if (rc != 0) { /* 1: never started, and the result says why */
        if (rc < 0)
            ctk_spawn_signal(&a->child, SIGKILL);
        ajob_end_attempt(a, rc == 1 ? 0 : rc);
    }
}

static int par_start(void *ctx, uv_loop_t *loop, ctk_unit *unit, ctk_done_fn done, void *done_arg)
{
    ctk_par *p = ctx;
    ajob *a = g_new0(ajob, 1);
    a->loop = loop;
    a->done = done;
    a->done_arg = done_arg;
    for (int i = 0; i < CTK_SPAWN_WATCH_FDS; i++)
        a->fds[i] = -1;
    int rc = job_begin(p, unit, &a->j);
    if (rc != JOB_READY || p->opts.dry_run || a->j.skip) {
        if (rc == JOB_READY)
            job_end(p, &a->j, 0);
        g_free(a);
        done(unit, done_arg);
        return 0;
    }
    uv_timer_init(loop, &a->timer);
    a->timer.data = a;
    ajob_attempt(a);
    return 0;
}

ctk_work ctk_par_work(ctk_par *p)
{
    return (ctk_work){.run = par_run, .start = par_start, .ctx = p};
}

/* ---- reporting ---------------------------------------------------------------- */

/* The arguments as --tag shows them: columns joined by spaces. */
static char *tag_of(const ctk_unit *unit)
{
    ctk_cmdline_item *cols = NULL;
    size_t n = 0;
    int skip;
    GString *tag = g_string_new(NULL);
    if (ctk_par_decode_job(&unit->in, &skip, &cols, &n) == 0)
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
    int skip;
    ctk_buf line = {0};
    char *out = NULL;
    if (ctk_par_decode_job(&unit->in, &skip, &cols, &n) == 0) {
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

static int tagged_chunk(void *arg, const void *data, size_t len)
{
    write_tagged(arg, data, len);
    return 0;
}

/* One stream of a job: the memory part, then the spooled part. */
static void print_stream(FILE *to, const char *tag, const char *mem, size_t mem_len,
                         ctk_spool *spool, uint64_t off, uint64_t spooled)
{
    tagger t = {to, tag, 1};
    write_tagged(&t, mem, mem_len);
    if (spooled > 0)
        ctk_spool_foreach(spool, off, spooled, tagged_chunk, &t);
    ctk_closeout_flush(to);
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

/* One result file in the folder dfd, never through a link planted in
 * its place (another user's link to a file of ours would be truncated). */
static int write_result_file(int dfd, const char *name, const char *mem, size_t len,
                             ctk_spool *spool, uint64_t off, uint64_t spooled)
{
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0)
        return -errno;
    int rc = 0;
    ctk_spawn_stream s;
    ctk_spawn_stream_init(&s, len + 1, NULL);
    if ((rc = ctk_spawn_stream_append(&s, mem, len)) == 0)
        rc = ctk_spawn_stream_copy(&s, fd);
    ctk_spawn_stream_free(&s);
    if (rc == 0 && spooled > 0)
        rc = ctk_spool_copy(spool, off, spooled, fd);
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    return rc;
}

/* Steps from folder dfd into its child `name`, made if missing, without
 * following a link: the folder fd replaces dfd. */
static int enter_folder(int *dfd, const char *name)
{
    if (*name == '\0')
        return 0; /* an empty value: the path's "//" stays where it is */
    if (mkdirat(*dfd, name, 0777) < 0 && errno != EEXIST)
        return -errno;
    int fd = openat(*dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    close(*dfd);
    *dfd = fd;
    return 0;
}

/* --results DIR: DIR/1/VALUE1/2/VALUE2/{seq,stdout,stderr}, as GNU
 * parallel lays it out; nothing goes to our stdout then. DIR is the
 * user's to name (a link there is theirs); below it every folder and
 * file is reached through folder fds without following links. */
static int write_results(ctk_par *p, const ctk_unit *unit, const ctk_par_result *r)
{
    ctk_cmdline_item *cols = NULL;
    size_t n = 0;
    int skip;
    GString *dir = g_string_new(p->opts.results_dir);
    int rc = g_mkdir_with_parents(dir->str, 0777) < 0 ? -errno : 0;
    int dfd = rc == 0 ? open(dir->str, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (rc == 0 && dfd < 0)
        rc = -errno;
    if (rc == 0 && (rc = ctk_par_decode_job(&unit->in, &skip, &cols, &n)) < 0)
        n = 0;
    GString *value = g_string_new(NULL);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char index[24];
        snprintf(index, sizeof index, "%zu", i + 1);
        g_string_truncate(value, 0);
        append_path_value(value, cols[i].data, cols[i].len);
        g_string_append_printf(dir, "/%s/%s", index, value->str);
        if ((rc = enter_folder(&dfd, index)) == 0)
            rc = enter_folder(&dfd, value->str);
        if (rc == -ENAMETOOLONG) {
            /* GNU parallel cuts a value to the longest name a folder may
             * have (bug #42089). */
            long max = fpathconf(dfd, _PC_NAME_MAX);
            if (max > 0 && value->len > (size_t)max) {
                g_string_truncate(value, (gsize)max);
                rc = enter_folder(&dfd, value->str);
            }
        }
    }
    g_string_free(value, TRUE);
    g_free(cols);
    char seq[24];
    int len = snprintf(seq, sizeof seq, "%llu", (unsigned long long)unit->seq);
    if (rc == 0)
        rc = write_result_file(dfd, "seq", seq, (size_t)len, NULL, 0, 0);
    if (rc == 0)
        rc = write_result_file(dfd, "stdout", r->mem[0], r->mem_len[0], p->spool, r->spool_off[0],
                               r->spool_len[0]);
    if (rc == 0)
        rc = write_result_file(dfd, "stderr", r->mem[1], r->mem_len[1], p->spool, r->spool_off[1],
                               r->spool_len[1]);
    if (dfd >= 0)
        close(dfd);
    if (rc < 0)
        fprintf(stderr, "cpar: cannot keep output of job %llu: --results %s: %s\n",
                (unsigned long long)unit->seq, dir->str, ctk_strerror(rc));
    g_string_free(dir, TRUE);
    return rc;
}

/* ---- --results FILE.csv, FILE.tsv, FILE.json ------------------------------------ */

/* One field of a table row, GNU parallel's quoting (combine_ref and
 * jsonquote): CSV/TSV put a field holding a quote, the separator, white
 * space or a NUL in quotes and double its quotes; JSON escapes \ " and
 * control bytes. A field is bytes in memory and maybe a spooled range. */
typedef struct table_field {
    FILE *f;
    int format; /* 'c', 't', 'j' */
    int quote;  /* CSV/TSV: this field needs quotes */
} table_field;

static int field_scan(void *arg, const void *data, size_t len)
{
    table_field *t = arg;
    const char *d = data;
    char sep = t->format == 'c' ? ',' : '\t';
    for (size_t i = 0; i < len && !t->quote; i++)
        t->quote = d[i] == '"' || d[i] == sep || d[i] == '\0' || d[i] == ' ' ||
                   (d[i] >= '\t' && d[i] <= '\r');
    return 0;
}

static int field_put(void *arg, const void *data, size_t len)
{
    table_field *t = arg;
    const unsigned char *d = data;
    for (size_t i = 0; i < len; i++) {
        if (t->format != 'j' && d[i] == '"')
            fputs("\"\"", t->f);
        else if (t->format != 'j' || (d[i] >= 32 && d[i] != '\\' && d[i] != '"'))
            fputc(d[i], t->f);
        else if (d[i] >= 32)
            fprintf(t->f, "\\%c", d[i]);
        else
            fprintf(t->f, "\\u%04x", d[i]);
    }
    return 0;
}

static int table_put(ctk_par *p, int sep, const char *mem, size_t len, uint64_t off,
                     uint64_t spooled)
{
    table_field t = {p->opts.results_table, p->opts.results_format, 0};
    int rc = 0;
    if (sep)
        fputc(t.format == 't' ? '\t' : ',', t.f);
    if (t.format != 'j') {
        field_scan(&t, mem, len);
        if (!t.quote && spooled > 0)
            rc = ctk_spool_foreach(p->spool, off, spooled, field_scan, &t);
    }
    if (t.quote)
        fputc('"', t.f);
    field_put(&t, mem, len);
    if (rc == 0 && spooled > 0)
        rc = ctk_spool_foreach(p->spool, off, spooled, field_put, &t);
    if (t.quote)
        fputc('"', t.f);
    return rc;
}

static void table_text(ctk_par *p, int sep, const char *s)
{
    table_put(p, sep, s, strlen(s), 0, 0);
}

/* One job as GNU parallel's print_csv and print_json write it: Seq, Host,
 * Starttime, JobRuntime, Send, Receive, Exitval, Signal, Command, the
 * job's values, Stdout, Stderr. */
static void write_table(ctk_par *p, const ctk_unit *unit, const ctk_par_result *r)
{
    ctk_cmdline_item *cols = NULL;
    size_t n = 0;
    int skip;
    if (ctk_par_decode_job(&unit->in, &skip, &cols, &n) < 0)
        n = 0;
    FILE *f = p->opts.results_table;
    char num[6][48];
    snprintf(num[0], sizeof num[0], "%llu", (unsigned long long)unit->seq);
    snprintf(num[1], sizeof num[1], "%.3f", r->start);
    snprintf(num[2], sizeof num[2], "%.3f", r->elapsed);
    snprintf(num[3], sizeof num[3], "%llu", (unsigned long long)r->out_bytes);
    snprintf(num[4], sizeof num[4], "%lld", (long long)r->exit);
    snprintf(num[5], sizeof num[5], "%lld", (long long)r->signal);
    int rc = 0;
    if (p->opts.results_format == 'j') {
        fprintf(f,
                "{ \"Seq\": %s, \"Host\": \":\", \"Starttime\": %s, \"JobRuntime\": %s, "
                "\"Send\": 0, \"Receive\": %s, \"Exitval\": %s, \"Signal\": %s, \"Command\": \"",
                num[0], num[1], num[2], num[3], num[4], num[5]);
        table_put(p, 0, r->line, r->line_len, 0, 0);
        fputs("\", \"V\": [ ", f);
        for (size_t i = 0; i < n; i++) {
            fputs(i > 0 ? ",\"" : "\"", f);
            table_put(p, 0, cols[i].data, cols[i].len, 0, 0);
            fputc('"', f);
        }
        fputs(" ], \"Stdout\": \"", f);
        rc = table_put(p, 0, r->mem[0], r->mem_len[0], r->spool_off[0], r->spool_len[0]);
        fputs("\", \"Stderr\": \"", f);
        if (rc == 0)
            rc = table_put(p, 0, r->mem[1], r->mem_len[1], r->spool_off[1], r->spool_len[1]);
        fputs("\" }\n", f);
    } else {
        if (!p->table_header_done) {
            static const char *const head[] = {"Seq",        "Host",   "Starttime",
                                               "JobRuntime", "Send",   "Receive",
                                               "Exitval",    "Signal", "Command"};
            for (size_t i = 0; i < G_N_ELEMENTS(head); i++)
                table_text(p, i > 0, head[i]);
            for (size_t i = 0; i < n; i++) {
                char v[32];
                snprintf(v, sizeof v, "V%zu", i + 1);
                table_text(p, 1,
                           p->opts.results_names == NULL ? v
                           : i < p->opts.n_results_names ? p->opts.results_names[i]
                                                         : "");
            }
            table_text(p, 1, "Stdout");
            table_text(p, 1, "Stderr");
            fputc('\n', f);
            p->table_header_done = 1;
        }
        const char *row[] = {num[0], ":", num[1], num[2], "0", num[3], num[4], num[5]};
        for (size_t i = 0; i < G_N_ELEMENTS(row); i++)
            table_text(p, i > 0, row[i]);
        table_put(p, 1, r->line, r->line_len, 0, 0);
        for (size_t i = 0; i < n; i++)
            table_put(p, 1, cols[i].data, cols[i].len, 0, 0);
        rc = table_put(p, 1, r->mem[0], r->mem_len[0], r->spool_off[0], r->spool_len[0]);
        if (rc == 0)
            rc = table_put(p, 1, r->mem[1], r->mem_len[1], r->spool_off[1], r->spool_len[1]);
        fputc('\n', f);
    }
    g_free(cols);
    if ((fflush(f) != 0 || ferror(f) || rc < 0) && !p->table_error) {
        p->table_error = 1;
        fprintf(stderr, "cpar: --results: cannot write job %llu: %s\n",
                (unsigned long long)unit->seq, rc < 0 ? ctk_strerror(rc) : g_strerror(errno));
    }
}

/* --files: the job's stdout in a file of its own, as GNU parallel names
 * them ($TMPDIR/parXXXXX.par), and that file's name on stdout. */
static void write_files(ctk_par *p, const ctk_par_result *r)
{
    char *path;
    int fd = ctk_spool_par_file(NULL, &path);
    int rc = fd < 0 ? fd : 0;
    if (fd >= 0) {
        close(fd);
        char *d = g_path_get_dirname(path), *b = g_path_get_basename(path);
        int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        rc = dfd < 0 ? -errno
                     : write_result_file(dfd, b, r->mem[0], r->mem_len[0], p->spool,
                                         r->spool_off[0], r->spool_len[0]);
        if (dfd >= 0)
            close(dfd);
        g_free(d);
        g_free(b);
    }
    if (rc < 0)
        fprintf(stderr, "cpar: --files: cannot write %s: %s\n", path, ctk_strerror(rc));
    else
        printf("%s\n", path);
    fflush(stdout);
    g_free(path);
}

static void write_joblog(ctk_par *p, const ctk_unit *unit, const ctk_par_result *r)
{
    FILE *f = p->opts.joblog;
    if (f == NULL || p->joblog_errno != 0)
        return;
    /* Send is 0 (no --pipe), Receive the bytes of output. The line is
     * flushed before the next job is reported, so a crash never loses a
     * logged success. */
    ctk_joblog_entry e = {unit->seq, r->start,  r->elapsed, 0,          r->out_bytes,
                          r->exit,   r->signal, r->line,    r->line_len};
    int rc = ctk_joblog_write(f, &e);
    if (rc == 0)
        return;
    p->joblog_errno = -rc;
    fprintf(stderr, "cpar: --joblog %s: cannot write: %s; no more jobs are logged\n",
            p->opts.joblog_path ? p->opts.joblog_path : "", g_strerror(p->joblog_errno));
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

static void write_record(ctk_par *p, const ctk_unit *unit, const ctk_par_result *r,
                         const char *input)
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
    if (p->joblog_errno != 0)
        status = 255; /* the record of what ran is incomplete */
    int halt_status = __atomic_load_n(&p->sh->halt_status, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&p->sh->input_failed, __ATOMIC_SEQ_CST))
        status = 255;
    else if (halt_status >= 0)
        status = halt_status;
    else if (p->opts.halt.when != CTK_HALT_NEVER && p->opts.halt.percent > 0)
        status = (int)ceil((double)p->failed * 100.0 / (double)(p->ran ? p->ran : 1));
    pthread_mutex_unlock(&p->lock);
    return status;
}

/* Reports one finished job (the pipeline's consume): its output, its
 * joblog line and record, its count. */
static void report(ctk_par *p, const ctk_unit *unit)
{
    if (unit->status == 0 && unit->out.len == 0)
        return; /* never ran: done before (--resume), or stopped */
    char *input = tag_of(unit);
    ctk_par_result r = {0};
    int rc = unit->status < 0 ? unit->status : ctk_par_decode_result(&unit->out, &r);
    /* A range of some other spool (a process that did not share ours)
     * cannot be read here. */
    if (rc == 0 && (r.spool_len[0] > 0 || r.spool_len[1] > 0) &&
        r.spool_id != ctk_spool_id(p->spool))
        rc = CTK_EIO;
    if (rc < 0) {
        /* A job stopped by our own signal is not reported: --resume runs
         * it again, which is what a user who pressed Ctrl-C wants. */
        if (unit->status != CTK_ECANCELED) {
            const char *why = unit->status < 0 ? unit->error : "malformed result";
            /* A line too long was reported in GNU parallel's words. */
            if (unit->status != CTK_ERANGE)
                fprintf(stderr, "cpar: job %llu: %s\n", (unsigned long long)unit->seq,
                        why ? why : ctk_strerror(rc));
            write_record(p, unit, NULL, input);
            count(p, 1);
        }
        g_free(input);
        return;
    }
    if (p->opts.dry_run) {
        /* --tag and --tagstring tag the printed lines as parallel does. */
        char *tagstring = p->opts.tagstring != NULL ? render_text(p->opts.tagstring, unit) : NULL;
        const char *tag = tagstring != NULL ? tagstring : p->opts.tag ? input : NULL;
        char *shown = g_strdup_printf("%.*s\n", (int)r.line_len, r.line);
        print_stream(stdout, tag, shown, strlen(shown), NULL, 0, 0);
        g_free(shown);
        g_free(tagstring);
    } else if (p->opts.results_dir != NULL) {
        /* A job whose output is lost has failed, and the joblog says so
         * (--resume-failed runs it again). */
        if (write_results(p, unit, &r) < 0 && r.exit == 0 && r.signal == 0)
            r.exit = 255;
    } else if (!p->opts.quiet_output) {
        char *tagstring = p->opts.tagstring != NULL ? render_text(p->opts.tagstring, unit) : NULL;
        const char *tag = tagstring != NULL ? tagstring : p->opts.tag ? input : NULL;
        if (p->opts.verbose) {
            char *shown = g_strdup_printf("%.*s\n", (int)r.line_len, r.line);
            print_stream(stdout, tag, shown, strlen(shown), NULL, 0, 0);
            g_free(shown);
        }
        if (p->opts.files)
            write_files(p, &r);
        else
            print_stream(stdout, tag, r.mem[0], r.mem_len[0], p->spool, r.spool_off[0],
                         r.spool_len[0]);
        print_stream(stderr, tag, r.mem[1], r.mem_len[1], p->spool, r.spool_off[1], r.spool_len[1]);
        g_free(tagstring);
    }
    for (int k = 0; k < 2; k++)
        ctk_spool_release(p->spool, r.spool_off[k], r.spool_len[k]);
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
                       ctk_is_cancelled(p->cancel) || halted(p) == 2) &&
                      (r.terminated || r.signal != 0);
    if (!p->opts.dry_run && !interrupted) {
        write_joblog(p, unit, &r);
        if (p->opts.results_table != NULL)
            write_table(p, unit, &r);
        write_record(p, unit, &r, input);
        count(p, r.exit != 0 || r.signal != 0);
    } else if (p->opts.dry_run && r.exit == -2) {
        count(p, 1); /* parallel counts a skipped job as failed, dry or not */
    }
    ctk_par_result_clear(&r);
    g_free(input);
}

void ctk_par_consume(void *arg, const ctk_unit *unit)
{
    ctk_par *p = arg;
    /* Under --line-buffer the jobs print from other threads too. */
    pthread_mutex_lock(&p->print_lock);
    report(p, unit);
    p->next_out = unit->seq + 1;
    pthread_mutex_unlock(&p->print_lock);
}
