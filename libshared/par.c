/*
 * par.c: cpar's jobs (see ctk/par.h). A unit's input is the job's columns;
 * its output is what came of it: exit, signal, times, the command line,
 * and the captured output (in memory, or in a named temporary file once it
 * outgrew the spawn module's memory bound).
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "ctk/par.h"

enum { JOB_RUN = 0, JOB_SKIP = 1 };

struct ctk_par {
    ctk_par_opts opts;
    const int *cancel;
    GHashTable *skip; /* seq -> 1: already done (--resume) */
    int nul_replaced;
    ctk_item item;        /* the producer's scratch */
    pthread_mutex_t lock; /* slots, running jobs, counts */
    unsigned char *slot_used;
    GPtrArray *running; /* ctk_spawn_child * */
    int cancels;
    uint64_t ran, failed;
    /* The program of a direct command, searched in $PATH once: the same
     * search per job cost as much as the rest of a short job's start. */
    char *program_name, *program_path;
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
    pthread_mutex_init(&p->lock, NULL);
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
    g_free(p->program_name);
    g_free(p->program_path);
    pthread_mutex_destroy(&p->lock);
    g_free(p->slot_used);
    g_free(p);
}

void ctk_par_set_cancel_flag(ctk_par *p, const int *cancel)
{
    p->cancel = cancel;
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

int ctk_par_produce(void *arg, ctk_unit *unit)
{
    ctk_par *p = arg;
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

/* Registers a started child so a signal can reach it; a cancel that came
 * first reaches it at once. */
static void track(ctk_par *p, ctk_spawn_child *child, int on)
{
    pthread_mutex_lock(&p->lock);
    if (on) {
        g_ptr_array_add(p->running, child);
        if (__atomic_load_n(&p->cancels, __ATOMIC_SEQ_CST) > 0 && child->pid > 0)
            ctk_spawn_terminate(child);
    } else {
        g_ptr_array_remove_fast(p->running, child);
    }
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

/* The executable for argv[0], searched once; NULL lets the spawner
 * search (and report "command not found" itself). */
static const char *program_for(ctk_par *p, const char *name)
{
    if (strchr(name, '/') != NULL)
        return NULL;
    pthread_mutex_lock(&p->lock);
    if (p->program_name == NULL) {
        p->program_name = g_strdup(name);
        p->program_path = g_find_program_in_path(name);
    }
    /* One template has one program; another name is searched by spawn. */
    const char *path = strcmp(p->program_name, name) == 0 ? p->program_path : NULL;
    pthread_mutex_unlock(&p->lock);
    return path;
}

static int run_once(ctk_par *p, char **argv, const ctk_buf *line, ctk_spawn_result *res)
{
    ctk_spawn_opts so = {
        .argv = (const char *const *)argv,
        .path = argv != NULL ? program_for(p, argv[0]) : NULL,
        .shell = argv == NULL ? (const char *)line->data : NULL,
        .shell_path = p->opts.shell,
        .out = p->opts.ungroup ? CTK_SPAWN_INHERIT : CTK_SPAWN_CAPTURE,
        .err = p->opts.ungroup ? CTK_SPAWN_INHERIT : CTK_SPAWN_CAPTURE,
        .termseq = p->opts.termseq,
        .termseq_len = p->opts.termseq_len,
    };
    if (p->opts.timeout > 0)
        so.deadline = ctk_spawn_clock() + p->opts.timeout;
    ctk_spawn_child child;
    int rc = ctk_spawn_start(&child, &so);
    if (rc == 0) {
        track(p, &child, 1);
        rc = ctk_spawn_finish(&child, res);
        track(p, &child, 0);
    }
    ctk_spawn_dispose(&child);
    return rc;
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

static int par_run(void *ctx, ctk_unit *unit, const int *cancel)
{
    (void)cancel;
    ctk_par *p = ctx;
    ctk_cmdline_item *cols = NULL;
    size_t n = 0;
    int flag;
    int rc = decode_columns(unit, &flag, &cols, &n);
    if (rc < 0 || flag == JOB_SKIP) {
        g_free(cols);
        return rc < 0 ? ctk_unit_fail(unit, rc, "malformed job") : 0;
    }
    unsigned slot = take_slot(p);
    ctk_cmdline_args args = {cols, n, unit->seq, slot};
    ctk_buf line = {0};
    char **argv = NULL;
    rc = ctk_cmdline_render(p->opts.cmd, &args, &line, p->opts.dry_run ? NULL : &argv);
    if (rc < 0) {
        rc = ctk_unit_fail(unit, rc, "an argument contains a NUL byte (use -0)");
        goto out;
    }
    /* Zeroed streams would name fd 0 as their spill file: init them. */
    ctk_spawn_result res = {0};
    ctk_spawn_stream_init(&res.out, 0, NULL);
    ctk_spawn_stream_init(&res.err, 0, NULL);
    unsigned attempts = 0;
    double start = wall_clock();
    if (!p->opts.dry_run) {
        do {
            ctk_spawn_result_free(&res);
            ctk_spawn_stream_init(&res.out, 0, NULL);
            ctk_spawn_stream_init(&res.err, 0, NULL);
            attempts++;
            rc = run_once(p, argv, &line, &res);
        } while (rc == 0 && (res.exit != 0 || res.signal != 0) && !res.terminated &&
                 (p->opts.retries == 0 || attempts < p->opts.retries) &&
                 !ctk_is_cancelled(p->cancel));
    }
    if (rc < 0) {
        rc = ctk_unit_fail(unit, rc, "cannot run: %s", ctk_strerror(rc));
    } else {
        put_u64(&unit->out, (uint64_t)(int64_t)res.exit);
        put_u64(&unit->out, (uint64_t)(int64_t)res.signal);
        put_u64(&unit->out, attempts);
        put_u64(&unit->out, (uint64_t)res.terminated | (uint64_t)res.timed_out << 1);
        put_u64(&unit->out, res.out.bytes);
        ctk_buf_append(&unit->out, &start, sizeof start);
        ctk_buf_append(&unit->out, &res.elapsed, sizeof res.elapsed);
        put_str(&unit->out, line.data, line.len);
        rc = put_stream(&unit->out, &res.out);
        if (rc == 0)
            rc = put_stream(&unit->out, &res.err);
        if (rc < 0)
            rc = ctk_unit_fail(unit, rc, "cannot keep the job's output: %s", ctk_strerror(rc));
    }
    ctk_spawn_result_free(&res);
out:
    give_slot(p, slot);
    ctk_cmdline_argv_free(argv);
    ctk_buf_free(&line);
    g_free(cols);
    return rc;
}

ctk_work ctk_par_work(ctk_par *p)
{
    return (ctk_work){.run = par_run, .ctx = p};
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

static void count(ctk_par *p, int failed)
{
    pthread_mutex_lock(&p->lock);
    p->ran++;
    p->failed += failed != 0;
    pthread_mutex_unlock(&p->lock);
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
    } else if (!p->opts.quiet_output) {
        const char *tag = p->opts.tag ? input : NULL;
        print_stream(stdout, tag, r.mem[0], r.mem_len[0], r.spill[0]);
        print_stream(stderr, tag, r.mem[1], r.mem_len[1], r.spill[1]);
    }
    for (int k = 0; k < 2; k++) {
        if (r.spill[k] != NULL && p->opts.quiet_output)
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
    int interrupted =
        __atomic_load_n(&p->cancels, __ATOMIC_SEQ_CST) > 0 && (r.terminated || r.signal != 0);
    if (!p->opts.dry_run && !interrupted) {
        write_joblog(p, unit, &r);
        write_record(p, unit, &r, input);
        count(p, r.exit != 0 || r.signal != 0);
    }
    g_free(input);
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

char *ctk_par_find_shell(void)
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
