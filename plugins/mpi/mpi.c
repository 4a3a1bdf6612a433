/*
 * mpi: a ctk strategy plugin that spreads units over the ranks of an Open
 * MPI job, so one command runs on many hosts:
 *
 *   mpirun -np 4 --hostfile hosts cpar -s mpi gzip -9 ::: *.log
 *
 * mpirun starts the same command on every rank. Rank 0 runs the tool as
 * usual (input, order, records, exit status); on every other rank the
 * tool's run reaches this strategy's execute, which becomes a worker: it
 * asks rank 0 for units (pull, so a fast host takes more), runs up to -j
 * of them at a time with the tool's own run, sends the results back and
 * ends its process without returning to the tool. Units and results
 * travel as libctk's wire frames, one MPI message each; control messages
 * (ask, dry, stop, cancel, halt, heartbeat) carry no unit data.
 *
 * The tool's early stop (--halt) is decided on rank 0, from the results
 * as they come back (libctk's stop hooks), and carried to every worker
 * rank ahead of any later unit, where the tool applies it: the units it
 * still gets are skipped or run as they would be on one host, and on
 * "now" the running ones end.
 *
 * All MPI calls are made by the thread that calls execute (MPI_THREAD_
 * FUNNELED): on a worker, runner threads run units and hand them back
 * through a locked list. Nothing blocks in MPI: sends are MPI_Isend and
 * both sides poll with a short sleep, so an idle rank costs no core and a
 * dead peer cannot hang us; a peer silent for --mpi-timeout seconds is
 * declared dead (rank 0 turns its units into error records and goes on
 * with the others, as far as mpirun lets the job live: see
 * --enable-recovery in ctk(7)).
 *
 * Built as an outside author builds a plugin, with one line:
 *   mpicc -shared -fPIC -o mpi.so mpi.c $(pkg-config --cflags --libs ctk)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dladdr, RTLD_NODELETE */
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mpi.h>

#include <ctk/plugin.h>

enum {
    TAG_ASK = 1,
    TAG_UNIT,
    TAG_RESULT,
    TAG_DRY,
    TAG_STOP,
    TAG_CANCEL,
    TAG_BEAT,
    TAG_HALT,
    TAG_ACK
};

#define DEFAULT_TIMEOUT 30.0
#define SLEEP_MIN_NS    20000L  /* first idle sleep */
#define SLEEP_MAX_NS    250000L /* longest idle sleep: bounds the latency of a pull */

typedef struct mpi_conf {
    double timeout; /* seconds a peer may stay silent */
    pid_t launched; /* the process mpirun started (plugin init ran there) */
    int ended;      /* this process's mpi run is over: the workers are gone */
} mpi_conf;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleeps a little longer each idle round, and not at all after work. */
static void idle(long *ns)
{
    struct timespec ts = {0, *ns};
    nanosleep(&ts, NULL);
    *ns = *ns * 2 > SLEEP_MAX_NS ? SLEEP_MAX_NS : *ns * 2;
}

/* ---- sends that never block ------------------------------------------------ */

/* A send in progress owns its bytes until MPI is done with them. */
typedef struct outbox {
    MPI_Request *reqs;
    unsigned char **bufs;
    size_t n, cap;
} outbox;

static int post(outbox *o, int to, int tag, const void *data, size_t len)
{
    if (len > INT32_MAX)
        return CTK_ERANGE;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        MPI_Request *reqs = realloc(o->reqs, cap * sizeof *reqs);
        if (reqs != NULL)
            o->reqs = reqs;
        unsigned char **bufs = realloc(o->bufs, cap * sizeof *bufs);
        if (reqs == NULL || bufs == NULL)
            return CTK_ENOMEM;
        o->bufs = bufs;
        o->cap = cap;
    }
    unsigned char *copy = malloc(len ? len : 1);
    if (copy == NULL)
        return CTK_ENOMEM;
    if (len > 0)
        memcpy(copy, data, len);
    if (MPI_Isend(copy, (int)len, MPI_BYTE, to, tag, MPI_COMM_WORLD, &o->reqs[o->n]) !=
        MPI_SUCCESS) {
        free(copy);
        return CTK_EIO;
    }
    o->bufs[o->n++] = copy;
    return 0;
}

/* Frees what MPI has finished sending; keeps the rest. */
static void flush(outbox *o)
{
    size_t k = 0;
    for (size_t i = 0; i < o->n; i++) {
        int done = 0;
        if (MPI_Test(&o->reqs[i], &done, MPI_STATUS_IGNORE) != MPI_SUCCESS)
            done = 1; /* an error: the peer is gone, the bytes are ours again */
        if (done) {
            free(o->bufs[i]);
        } else {
            o->reqs[k] = o->reqs[i];
            o->bufs[k++] = o->bufs[i];
        }
    }
    o->n = k;
}

/* Waits (bounded) for the sends to leave before the process ends. */
static void drain(outbox *o, double timeout)
{
    double until = now() + timeout;
    long ns = SLEEP_MIN_NS;
    for (flush(o); o->n > 0 && now() < until; flush(o))
        idle(&ns);
    /* What is left went to a dead peer: MPI may still hold the bytes. */
    free(o->reqs);
    free(o->bufs);
    *o = (outbox){0};
}

/* Receives the message Iprobe found into frame. */
static int receive(const MPI_Status *st, ctk_buf *frame)
{
    int count = 0;
    MPI_Get_count(st, MPI_BYTE, &count);
    frame->len = 0;
    int rc = 0;
    if (frame->cap < (size_t)count) {
        unsigned char *data = realloc(frame->data, (size_t)count);
        if (data == NULL) {
            rc = CTK_ENOMEM;
        } else {
            frame->data = data;
            frame->cap = (size_t)count;
        }
    }
    void *into = rc == 0 ? frame->data : NULL;
    if (MPI_Recv(into, rc == 0 ? count : 0, MPI_BYTE, st->MPI_SOURCE, st->MPI_TAG, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE) != MPI_SUCCESS)
        return CTK_EIO;
    if (rc == 0)
        frame->len = (size_t)count;
    return rc;
}

/* ---- MPI's life in this process ---------------------------------------------- */

/* Set once a rank has died: MPI_Finalize would wait for it forever (it
 * synchronises every rank), so the survivors end without it. The one
 * piece of process-wide state here, as MPI itself is process-wide. */
static int world_broken;

static void finalize(void)
{
    if (__atomic_load_n(&world_broken, __ATOMIC_RELAXED))
        return;
    int inited = 0, done = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&done);
    if (inited && !done)
        MPI_Finalize();
}

/* MPI is started by the first execute in the process (the one thread that
 * will make every MPI call) and ended at exit: a tool may run several
 * strategies, and MPI can start only once. The plugin stays loaded so
 * the exit handler outlives the registry; libmpi goes global because
 * Open MPI's own components look its symbols up. */
static int mpi_start(void)
{
    int inited = 0;
    MPI_Initialized(&inited);
    if (inited)
        return 0;
    if (getenv("OMPI_COMM_WORLD_SIZE") == NULL && getenv("PMIX_RANK") == NULL)
        return CTK_ENOENT;
    Dl_info info;
    if (dladdr((void *)mpi_start, &info) != 0 && info.dli_fname != NULL)
        dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    if (dladdr((void *)MPI_Init_thread, &info) != 0 && info.dli_fname != NULL)
        dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL);
    int provided;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return CTK_EIO;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    atexit(finalize);
    return 0;
}

static const char *world_rank_env(void)
{
    const char *r = getenv("OMPI_COMM_WORLD_RANK");
    return r != NULL ? r : getenv("PMIX_RANK");
}

/* ---- a worker rank ------------------------------------------------------------ */

typedef struct item {
    ctk_unit *unit;
    double arrived; /* on this rank's clock: start goes back relative to it */
    struct item *next;
} item;

/* A runner's slot: under ctk_exec_stop_each it waits, after each unit,
 * for rank 0 to have counted the result (TAG_ACK). */
typedef struct slot {
    struct worker *w;
    uint64_t seq; /* the unit whose ack it waits for */
    int waiting;
} slot;

typedef struct worker {
    ctk_exec *exec;
    pthread_mutex_t lock;
    pthread_cond_t ready;
    pthread_cond_t acked;
    item *todo, *todo_tail; /* units to run, in arrival order */
    item *done;             /* results to send */
    slot *slots;            /* [jobs] */
    unsigned nslots;
    int each; /* ctk_exec_stop_each */
    int closing;
} worker;

static void push(item **head, item **tail, item *it)
{
    it->next = NULL;
    if (tail == NULL) {
        it->next = *head;
        *head = it;
    } else if (*tail == NULL) {
        *head = *tail = it;
    } else {
        (*tail)->next = it;
        *tail = it;
    }
}

static void *runner_main(void *arg)
{
    slot *me = arg;
    worker *w = me->w;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        while (w->todo == NULL && !w->closing)
            pthread_cond_wait(&w->ready, &w->lock);
        item *it = w->todo;
        if (it != NULL) {
            w->todo = it->next;
            if (w->todo == NULL)
                w->todo_tail = NULL;
        }
        pthread_mutex_unlock(&w->lock);
        if (it == NULL)
            return NULL;
        ctk_exec_run_unit(w->exec, it->unit);
        it->unit->start -= it->arrived;
        pthread_mutex_lock(&w->lock);
        me->seq = it->unit->seq;
        me->waiting = w->each;
        push(&w->done, NULL, it);
        /* As a local job slot waits for its job to be counted: rank 0 may
         * decide to stop on this result, and the next unit must know. */
        while (me->waiting && !w->closing)
            pthread_cond_wait(&w->acked, &w->lock);
        pthread_mutex_unlock(&w->lock);
    }
}

/* Rank 0 counted these results (and sent any stop they caused first). */
static void take_acks(worker *w, const ctk_buf *frame)
{
    pthread_mutex_lock(&w->lock);
    for (size_t k = 0; k + sizeof(uint64_t) <= frame->len; k += sizeof(uint64_t)) {
        uint64_t seq;
        memcpy(&seq, frame->data + k, sizeof seq);
        for (unsigned i = 0; i < w->nslots; i++)
            if (w->slots[i].waiting && w->slots[i].seq == seq)
                w->slots[i].waiting = 0;
    }
    pthread_cond_broadcast(&w->acked);
    pthread_mutex_unlock(&w->lock);
}

static void unit_free(ctk_unit *unit)
{
    ctk_buf_free(&unit->in);
    ctk_buf_free(&unit->out);
    free(unit->error);
    free(unit);
}

/* Sends every finished unit's result; returns how many. */
static unsigned send_results(worker *w, outbox *o, ctk_buf *frame)
{
    pthread_mutex_lock(&w->lock);
    item *done = w->done;
    w->done = NULL;
    pthread_mutex_unlock(&w->lock);
    unsigned n = 0;
    while (done != NULL) {
        item *it = done;
        done = it->next;
        if (ctk_wire_encode_result(frame, it->unit) < 0 ||
            post(o, 0, TAG_RESULT, frame->data, frame->len) < 0) {
            /* Rank 0 learns of the loss through the unit's absence: it
             * cannot be encoded, so send what can be. */
            ctk_unit_fail(it->unit, CTK_ENOMEM, "mpi: cannot send the result");
            it->unit->out.len = 0;
            if (ctk_wire_encode_result(frame, it->unit) == 0)
                post(o, 0, TAG_RESULT, frame->data, frame->len);
        }
        unit_free(it->unit);
        free(it);
        n++;
    }
    return n;
}

/* A unit from rank 0: to the runners, with its arrival time. */
static int take_unit(worker *w, const ctk_buf *frame)
{
    item *it = calloc(1, sizeof *it);
    ctk_unit *unit = calloc(1, sizeof *unit);
    if (it == NULL || unit == NULL || ctk_wire_decode_unit(frame, unit) < 0) {
        free(it);
        if (unit != NULL)
            unit_free(unit);
        return CTK_EIO;
    }
    it->unit = unit;
    it->arrived = ctk_exec_clock(w->exec);
    pthread_mutex_lock(&w->lock);
    push(&w->todo, &w->todo_tail, it);
    pthread_cond_signal(&w->ready);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

/* The worker's loop: ask, take, run, answer, until rank 0 says stop or
 * goes silent. Returns the process's exit status. */
static int serve(worker *w, unsigned jobs, double timeout)
{
    outbox o = {0};
    ctk_buf frame = {0};
    unsigned asked = 0, held = 0;
    int dry = 0, status = 0;
    double heard = now(), beat = 0;
    long ns = SLEEP_MIN_NS;
    for (;;) {
        int busy = 0;
        unsigned sent = send_results(w, &o, &frame);
        held -= sent;
        busy |= sent > 0;
        /* -j units run here; as many again wait queued, so a runner that
         * finishes finds its next unit without a round trip to rank 0.
         * Not when the tool may stop on any result: a slot waits for rank
         * 0 anyway, and the units running are then the first ones in
         * input order, as under a local -j. */
        unsigned depth = w->each ? jobs : 2 * jobs;
        if (!dry && held + asked < depth) {
            int32_t want = (int32_t)(depth - held - asked);
            if (post(&o, 0, TAG_ASK, &want, sizeof want) == 0)
                asked += (unsigned)want;
        }
        int flag = 0;
        MPI_Status st;
        if (MPI_Iprobe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st) == MPI_SUCCESS && flag) {
            busy = 1;
            heard = now();
            if (receive(&st, &frame) < 0)
                continue;
            if (st.MPI_TAG == TAG_UNIT) {
                asked -= asked > 0;
                held += take_unit(w, &frame) == 0;
            } else if (st.MPI_TAG == TAG_DRY) {
                dry = 1;
                asked = 0;
            } else if (st.MPI_TAG == TAG_HALT) {
                int32_t how = 0;
                if (frame.len == sizeof how)
                    memcpy(&how, frame.data, sizeof how);
                ctk_exec_apply_stop(w->exec, (int)how);
            } else if (st.MPI_TAG == TAG_ACK) {
                take_acks(w, &frame);
            } else if (st.MPI_TAG == TAG_CANCEL) {
                /* Cancel reaches the units as a Ctrl-C would here: through
                 * the tool's own signal handling, which ends its jobs. */
                int32_t signo = SIGTERM;
                if (frame.len == sizeof signo)
                    memcpy(&signo, frame.data, sizeof signo);
                kill(getpid(), signo > 0 ? (int)signo : SIGTERM);
            } else if (st.MPI_TAG == TAG_STOP) {
                if (frame.len > 0)
                    __atomic_store_n(&world_broken, 1, __ATOMIC_RELAXED);
                break;
            }
        }
        if (now() - beat >= (timeout < 4 ? timeout / 4 : 1.0)) {
            post(&o, 0, TAG_BEAT, NULL, 0);
            beat = now();
        }
        if (now() - heard > timeout) {
            status = 1; /* rank 0 is gone: end what runs here too */
            __atomic_store_n(&world_broken, 1, __ATOMIC_RELAXED);
            kill(getpid(), SIGTERM);
            break;
        }
        flush(&o);
        if (busy)
            ns = SLEEP_MIN_NS;
        else
            idle(&ns);
    }
    pthread_mutex_lock(&w->lock);
    w->closing = 1;
    pthread_cond_broadcast(&w->ready);
    pthread_cond_broadcast(&w->acked);
    pthread_mutex_unlock(&w->lock);
    drain(&o, status == 0 ? timeout : 1.0);
    ctk_buf_free(&frame);
    return status;
}

static int worker_main(ctk_exec *exec, const mpi_conf *conf)
{
    unsigned jobs = ctk_exec_jobs(exec);
    worker w = {.exec = exec, .each = ctk_exec_stop_each(exec)};
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.ready, NULL);
    pthread_cond_init(&w.acked, NULL);
    pthread_t *threads = calloc(jobs, sizeof *threads);
    w.slots = calloc(jobs, sizeof *w.slots);
    unsigned started = 0;
    while (threads != NULL && w.slots != NULL && started < jobs) {
        w.slots[started].w = &w;
        if (pthread_create(&threads[started], NULL, runner_main, &w.slots[started]) != 0)
            break;
        w.nslots = ++started;
    }
    int status = started > 0 ? serve(&w, started, conf->timeout) : 1;
    for (unsigned i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    free(threads);
    free(w.slots);
    if (status == 0)
        finalize();
    /* A worker rank writes nothing and runs no more of the tool: its
     * records are rank 0's. _exit: the tool's stdio and atexit state are
     * not this loop's to flush. Only a child the tool forked for one row
     * of --compare goes back, to end as the tool's child does (its
     * parent's output goes nowhere on a worker rank). */
    if (getpid() == conf->launched)
        _exit(status);
    return 0;
}

/* ---- rank 0 ------------------------------------------------------------------- */

typedef struct sent {
    ctk_unit *unit;
    double at; /* rank 0's clock when it left */
} sent;

typedef struct peer {
    int rank;
    int alive;
    unsigned asked; /* units it asked for and has not got */
    sent *inflight; /* [cap] */
    unsigned n, cap;
    ctk_buf acks; /* seqs of results counted this round (ctk_exec_stop_each) */
    double heard; /* last message, any kind */
    char host[MPI_MAX_PROCESSOR_NAME];
} peer;

typedef struct master {
    ctk_exec *exec;
    const mpi_conf *conf;
    peer *peers; /* index rank - 1 */
    int npeers;
    outbox o;
    ctk_buf frame;
    int eof;
    int cancel_sent;
    int32_t halt_sent; /* the tool's CTK_STOP_* the workers know of */
    unsigned inflight;
} master;

static int track(peer *p, ctk_unit *unit, double at)
{
    if (p->n == p->cap) {
        unsigned cap = p->cap ? p->cap * 2 : 8;
        sent *s = realloc(p->inflight, cap * sizeof *s);
        if (s == NULL)
            return CTK_ENOMEM;
        p->inflight = s;
        p->cap = cap;
    }
    p->inflight[p->n++] = (sent){unit, at};
    return 0;
}

static void untrack(master *m, peer *p, unsigned i)
{
    p->inflight[i] = p->inflight[--p->n];
    m->inflight--;
}

/* Gives peer p the units it asked for, as far as the input has them. */
static int hand_out(master *m, peer *p)
{
    while (p->alive && p->asked > 0 && !m->eof) {
        ctk_unit *unit;
        int rc = ctk_exec_next(m->exec, &unit, CTK_NOWAIT);
        if (rc == CTK_EAGAIN)
            return 0;
        if (rc < 0) {
            m->eof = 1;
            break;
        }
        rc = ctk_wire_encode_unit(&m->frame, unit);
        if (rc == 0)
            rc = post(&m->o, p->rank, TAG_UNIT, m->frame.data, m->frame.len);
        if (rc == 0)
            rc = track(p, unit, ctk_exec_clock(m->exec));
        if (rc < 0) {
            ctk_unit_fail(unit, rc, "mpi: cannot send the unit: %s", ctk_strerror(rc));
            ctk_exec_done(m->exec, unit);
            continue;
        }
        m->inflight++;
        p->asked--;
    }
    return 1;
}

/* A result from peer p: into its unit, back to the run. */
static void take_result(master *m, peer *p)
{
    ctk_wire_reader r;
    uint64_t magic, seq;
    ctk_wire_reader_init(&r, m->frame.data, m->frame.len);
    if (ctk_wire_get_u64(&r, &magic) < 0 || ctk_wire_get_u64(&r, &seq) < 0)
        return;
    for (unsigned i = 0; i < p->n; i++) {
        ctk_unit *unit = p->inflight[i].unit;
        if (unit->seq != seq)
            continue;
        double at = p->inflight[i].at;
        unit->out.len = 0;
        int rc = ctk_wire_decode_result(&m->frame, unit);
        if (rc < 0)
            ctk_unit_fail(unit, rc, "mpi: malformed result from rank %d on %s", p->rank, p->host);
        else
            unit->start += at; /* it came as the time since it arrived */
        untrack(m, p, i);
        ctk_exec_done(m->exec, unit);
        if (ctk_exec_stop_each(m->exec))
            ctk_buf_append(&p->acks, &seq, sizeof seq);
        return;
    }
}

static void declare_dead(master *m, peer *p, const char *why)
{
    p->alive = 0;
    __atomic_store_n(&world_broken, 1, __ATOMIC_RELAXED);
    while (p->n > 0) {
        ctk_unit *unit = p->inflight[p->n - 1].unit;
        ctk_unit_fail(unit, m->cancel_sent ? CTK_ECANCELED : CTK_ECHILD,
                      "worker rank %d on %s died (%s)", p->rank, p->host, why);
        untrack(m, p, p->n - 1);
        ctk_exec_done(m->exec, unit);
    }
}

static void handle(master *m, const MPI_Status *st)
{
    int src = st->MPI_SOURCE;
    if (src < 1 || src > m->npeers) {
        receive(st, &m->frame);
        return;
    }
    peer *p = &m->peers[src - 1];
    int rc = receive(st, &m->frame);
    p->heard = now();
    if (rc < 0 || !p->alive)
        return;
    if (st->MPI_TAG == TAG_ASK && m->frame.len == sizeof(int32_t)) {
        int32_t want;
        memcpy(&want, m->frame.data, sizeof want);
        if (m->eof)
            post(&m->o, src, TAG_DRY, NULL, 0);
        else if (want > 0)
            p->asked += (unsigned)want;
    } else if (st->MPI_TAG == TAG_RESULT) {
        take_result(m, p);
    }
}

static void cancel_all(master *m)
{
    int32_t signo = SIGTERM;
    for (int i = 0; i < m->npeers; i++)
        if (m->peers[i].alive)
            post(&m->o, m->peers[i].rank, TAG_CANCEL, &signo, sizeof signo);
    m->cancel_sent = 1;
}

/* One round of rank 0's loop; returns whether anything happened. */
static int master_round(master *m, double *beat)
{
    int busy = 0, flag = 0;
    MPI_Status st;
    while (MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st) == MPI_SUCCESS &&
           flag) {
        handle(m, &st);
        busy = 1;
    }
    /* A result just taken may have made the tool stop: the workers learn
     * of it before any unit handed out after it. */
    int32_t how = (int32_t)ctk_exec_stop(m->exec);
    if (how > m->halt_sent) {
        for (int i = 0; i < m->npeers; i++)
            if (m->peers[i].alive)
                post(&m->o, m->peers[i].rank, TAG_HALT, &how, sizeof how);
        m->halt_sent = how;
        busy = 1;
    }
    /* After the stop, so a worker's slot that goes on knows of it. */
    for (int i = 0; i < m->npeers; i++) {
        peer *p = &m->peers[i];
        if (p->acks.len > 0 && p->alive)
            post(&m->o, p->rank, TAG_ACK, p->acks.data, p->acks.len);
        p->acks.len = 0;
    }
    unsigned before = m->inflight;
    for (int i = 0; i < m->npeers; i++)
        hand_out(m, &m->peers[i]);
    busy |= m->inflight != before;
    int alive = 0;
    for (int i = 0; i < m->npeers; i++) {
        peer *p = &m->peers[i];
        if (p->alive && now() - p->heard > m->conf->timeout)
            declare_dead(m, p, "silent for longer than --mpi-timeout");
        if (!p->alive)
            continue;
        alive++;
        if (m->eof && p->asked > 0) {
            post(&m->o, p->rank, TAG_DRY, NULL, 0);
            p->asked = 0;
        }
    }
    if (ctk_is_cancelled(ctk_exec_cancel_flag(m->exec)) && !m->cancel_sent) {
        m->eof = 1;
        cancel_all(m);
    }
    /* With no worker left the units that come fail here, so the run still
     * accounts for every one of them. */
    if (alive == 0 && !m->eof) {
        ctk_unit *unit;
        while (ctk_exec_next(m->exec, &unit, CTK_NOWAIT) == 0) {
            ctk_unit_fail(unit, CTK_ECHILD, "mpi: no worker rank left");
            ctk_exec_done(m->exec, unit);
            busy = 1;
        }
    }
    if (now() - *beat >= (m->conf->timeout < 4 ? m->conf->timeout / 4 : 1.0)) {
        for (int i = 0; i < m->npeers; i++)
            if (m->peers[i].alive)
                post(&m->o, m->peers[i].rank, TAG_BEAT, NULL, 0);
        *beat = now();
    }
    flush(&m->o);
    return busy;
}

/* Which host each rank runs on, for the error of a rank that dies. */
static void learn_hosts(master *m)
{
    char name[MPI_MAX_PROCESSOR_NAME] = "";
    int len = 0;
    MPI_Get_processor_name(name, &len);
    int size = m->npeers + 1;
    char *all = calloc((size_t)size, MPI_MAX_PROCESSOR_NAME);
    if (all != NULL && MPI_Gather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all,
                                  MPI_MAX_PROCESSOR_NAME, MPI_CHAR, 0, MPI_COMM_WORLD) == 0)
        for (int i = 0; i < m->npeers; i++)
            memcpy(m->peers[i].host, all + (size_t)(i + 1) * MPI_MAX_PROCESSOR_NAME,
                   MPI_MAX_PROCESSOR_NAME);
    free(all);
}

static int master_main(ctk_exec *exec, const mpi_conf *conf, int size)
{
    master m = {.exec = exec, .conf = conf, .npeers = size - 1};
    m.peers = calloc((size_t)m.npeers, sizeof *m.peers);
    if (m.peers == NULL)
        return CTK_ENOMEM;
    double t = now();
    for (int i = 0; i < m.npeers; i++) {
        m.peers[i] = (peer){.rank = i + 1, .alive = 1, .heard = t};
        snprintf(m.peers[i].host, sizeof m.peers[i].host, "?");
    }
    learn_hosts(&m);
    double beat = 0;
    long ns = SLEEP_MIN_NS;
    while (!m.eof || m.inflight > 0) {
        if (master_round(&m, &beat))
            ns = SLEEP_MIN_NS;
        else
            idle(&ns);
    }
    /* STOP carries a byte when a rank died: end without MPI_Finalize. */
    unsigned char broken = 1;
    int no_finalize = __atomic_load_n(&world_broken, __ATOMIC_RELAXED);
    for (int i = 0; i < m.npeers; i++)
        if (m.peers[i].alive)
            post(&m.o, m.peers[i].rank, TAG_STOP, &broken, no_finalize ? 1 : 0);
    drain(&m.o, conf->timeout);
    for (int i = 0; i < m.npeers; i++) {
        free(m.peers[i].inflight);
        ctk_buf_free(&m.peers[i].acks);
    }
    free(m.peers);
    ctk_buf_free(&m.frame);
    return 0;
}

/* ---- the strategy ---------------------------------------------------------------- */

/* Without a world to run in, every unit says why, so the run still
 * accounts for each. */
static int fail_all(ctk_exec *exec, const char *why)
{
    ctk_unit *unit;
    while (ctk_exec_next(exec, &unit, CTK_WAIT) == 0) {
        ctk_unit_fail(unit, CTK_EINVAL, "mpi: %s", why);
        ctk_exec_done(exec, unit);
    }
    return 0;
}

static int mpi_execute(ctk_exec *exec, void *data)
{
    mpi_conf *conf = data;
    if (conf->ended)
        return fail_all(exec, "one mpi run per mpirun: the worker ranks have ended");
    int rc = mpi_start();
    if (rc == CTK_ENOENT)
        return fail_all(exec, "not started by mpirun (run: mpirun -np N CMD -s mpi ...)");
    if (rc < 0)
        return fail_all(exec, "MPI_Init failed");
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (rank > 0) {
        /* learn_hosts' other half. */
        char name[MPI_MAX_PROCESSOR_NAME] = "";
        int len = 0;
        MPI_Get_processor_name(name, &len);
        MPI_Gather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, NULL, 0, MPI_CHAR, 0, MPI_COMM_WORLD);
        conf->ended = 1;
        return worker_main(exec, conf);
    }
    if (size < 2)
        return fail_all(exec, "no worker rank (run: mpirun -np N with N >= 2)");
    rc = master_main(exec, conf, size);
    conf->ended = 1;
    /* A child the tool forked for one row of --compare ends with _exit,
     * which runs no exit handler: MPI ends here then. */
    if (getpid() != conf->launched)
        finalize();
    return rc;
}

static int mpi_set_option(void *data, const char *name, const char *value)
{
    mpi_conf *conf = data;
    if (strcmp(name, "mpi-timeout") != 0 || value == NULL)
        return CTK_EINVAL;
    char *end;
    errno = 0;
    double t = strtod(value, &end);
    if (end == value || *end != '\0' || errno != 0 || !isfinite(t) || t <= 0 || t > 86400)
        return CTK_ERANGE;
    conf->timeout = t;
    return 0;
}

static const ctk_option mpi_options[] = {
    {"mpi-timeout", "SECONDS", "mpi: declare a silent rank dead after SECONDS (default 30)"},
    {NULL, NULL, NULL},
};

#define MPI_SUMMARY "units spread over the ranks of mpirun (rank 0 reads and writes, the rest run)"

static const ctk_strategy_ops mpi_ops = {
    .name = "mpi",
    .summary = MPI_SUMMARY,
    .flags = CTK_STRATEGY_PROCESSES | CTK_STRATEGY_REMOTE,
    .execute = mpi_execute,
    .options = mpi_options,
    .set_option = mpi_set_option,
};

/* The same on a worker rank, which tells the tool so: it opens no output
 * there (its joblog, its records are rank 0's). */
static const ctk_strategy_ops mpi_worker_ops = {
    .name = "mpi",
    .summary = MPI_SUMMARY,
    .flags = CTK_STRATEGY_PROCESSES | CTK_STRATEGY_REMOTE | CTK_STRATEGY_WORKER,
    .execute = mpi_execute,
    .options = mpi_options,
    .set_option = mpi_set_option,
};

/* A worker rank's exit status is not the run's (rank 0's is), and a
 * non-zero one would make mpirun abort the job under rank 0's feet: the
 * tool around a worker rank may well see a run with no records. Runs
 * last of the exit handlers, as it is the first registered. */
static void worker_exit(void)
{
    finalize();
    _exit(0);
}

static int mpi_init(ctk_registry *reg)
{
    mpi_conf *conf = calloc(1, sizeof *conf);
    if (conf == NULL)
        return CTK_ENOMEM;
    conf->timeout = DEFAULT_TIMEOUT;
    conf->launched = getpid();
    /* A worker rank writes nothing: what the tool would print there (its
     * records, its table, its messages) is rank 0's to print. */
    const char *rank = world_rank_env();
    int on_worker = rank != NULL && strcmp(rank, "0") != 0;
    if (on_worker) {
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
            close(null);
        }
        atexit(worker_exit);
    }
    int rc = ctk_register_strategy(reg, on_worker ? &mpi_worker_ops : &mpi_ops, conf, free);
    if (rc < 0)
        free(conf);
    return rc;
}

CTK_PLUGIN_DEFINE("mpi", mpi_init);
