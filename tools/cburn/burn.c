/*
 * burn.c: runs one cburn task. Work goes in slices so that a long task
 * notices cancellation, hands the GIL over on time, and (with --share)
 * adds each iteration's value into the shared total as it goes, which is
 * what makes the cost of a lock, an atomic or a lost update visible.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "burn.h"
#include "gil.h"

/* Slices aim at this length: long enough that the clock read is noise,
 * short enough for a 5 ms GIL interval and a prompt cancel. */
#define SLICE_TARGET 0.0002
#define SLICE_MAX    ((uint64_t)1 << 24)

typedef struct shared_total {
    pthread_mutex_t lock; /* PTHREAD_PROCESS_SHARED; lock A of a pair */
    pthread_mutex_t lock_b;
    /* waits[i]: whoever took lock i as its first lock is now waiting for
     * the other one. Set after taking lock i and cleared before giving it
     * back, so a set flag always means "held, and its holder is stuck". */
    int waits[2];
    uint64_t total; /* sum of the values added */
    uint64_t count; /* additions that took effect */
} shared_total;

struct ctk_burn {
    ctk_burn_opts opts;
    shared_total *shared; /* MAP_SHARED: seen by threads and forked workers */
    ctk__gil gil;         /* private: each process has its own, as in CPython */
    double deadline;      /* monotonic seconds; 0: none. Tasks stop there. */
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const share_names[CTK_SHARE_COUNT] = {"none", "lock",    "atomic",
                                                         "shm",  "ordered", "crossed"};

int ctk_share_parse(const char *text, ctk_share *out)
{
    for (int i = 0; i < CTK_SHARE_COUNT; i++)
        if (strcmp(text, share_names[i]) == 0) {
            *out = (ctk_share)i;
            return 0;
        }
    return CTK_EINVAL;
}

const char *ctk_share_name(ctk_share share)
{
    return share < CTK_SHARE_COUNT ? share_names[share] : "?";
}

int ctk_burn_new(ctk_burn **out, const ctk_burn_opts *opts)
{
    if (opts->workload == NULL || opts->share >= CTK_SHARE_COUNT)
        return CTK_EINVAL;
    ctk_burn *b = calloc(1, sizeof *b);
    if (b == NULL)
        return CTK_ENOMEM;
    b->opts = *opts;
    b->shared =
        mmap(NULL, sizeof *b->shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (b->shared == MAP_FAILED)
        goto fail_map;
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    /* Robust: a worker killed while holding it must not freeze the rest. */
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    int rc = pthread_mutex_init(&b->shared->lock, &attr);
    if (rc == 0 && (rc = pthread_mutex_init(&b->shared->lock_b, &attr)) != 0)
        pthread_mutex_destroy(&b->shared->lock);
    pthread_mutexattr_destroy(&attr);
    if (rc != 0)
        goto fail_mutex;
    double interval = opts->switch_interval > 0 ? opts->switch_interval : 0.005;
    if (ctk__gil_init(&b->gil, interval) < 0)
        goto fail_gil;
    *out = b;
    return 0;

fail_gil:
    pthread_mutex_destroy(&b->shared->lock);
    pthread_mutex_destroy(&b->shared->lock_b);
fail_mutex:
    munmap(b->shared, sizeof *b->shared);
fail_map:
    free(b);
    return CTK_ESYS;
}

void ctk_burn_free(ctk_burn *b)
{
    if (b == NULL)
        return;
    ctk__gil_destroy(&b->gil);
    pthread_mutex_destroy(&b->shared->lock);
    pthread_mutex_destroy(&b->shared->lock_b);
    munmap(b->shared, sizeof *b->shared);
    free(b);
}

void ctk_burn_reset(ctk_burn *b)
{
    __atomic_store_n(&b->shared->total, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&b->shared->count, 0, __ATOMIC_SEQ_CST);
}

uint64_t ctk_burn_shared_count(ctk_burn *b)
{
    return __atomic_load_n(&b->shared->count, __ATOMIC_SEQ_CST);
}

uint64_t ctk_burn_shared_total(ctk_burn *b)
{
    return __atomic_load_n(&b->shared->total, __ATOMIC_SEQ_CST);
}

void ctk_burn_set_deadline(ctk_burn *b, double seconds_from_now)
{
    b->deadline = seconds_from_now > 0 ? now() + seconds_from_now : 0;
}

uint64_t ctk_burn_gil_switches(ctk_burn *b)
{
    return ctk__gil_switches(&b->gil);
}

static void lock_robust(pthread_mutex_t *m)
{
    if (pthread_mutex_lock(m) == EOWNERDEAD)
        pthread_mutex_consistent(m); /* its addition is lost with it */
}

/* One addition under both locks of the pair, the first one first. A wait
 * for the second lock is a deadlock exactly when the second lock's holder
 * took it first and now waits for ours: then neither can ever move, and
 * this task backs out (CTK_EDEADLOCK) where a real program would hang. */
static int add_under_pair(shared_total *s, int first, uint64_t v)
{
    pthread_mutex_t *locks[2] = {&s->lock, &s->lock_b};
    int second = 1 - first;
    lock_robust(locks[first]);
    __atomic_store_n(&s->waits[first], 1, __ATOMIC_SEQ_CST);
    for (;;) {
        int rc = pthread_mutex_trylock(locks[second]);
        if (rc == EOWNERDEAD)
            pthread_mutex_consistent(locks[second]);
        if (rc == 0 || rc == EOWNERDEAD)
            break;
        if (__atomic_load_n(&s->waits[second], __ATOMIC_SEQ_CST)) {
            __atomic_store_n(&s->waits[first], 0, __ATOMIC_SEQ_CST);
            pthread_mutex_unlock(locks[first]);
            return CTK_EDEADLOCK;
        }
        sched_yield();
    }
    __atomic_store_n(&s->waits[first], 0, __ATOMIC_SEQ_CST);
    s->total += v;
    s->count++;
    pthread_mutex_unlock(locks[second]);
    pthread_mutex_unlock(locks[first]);
    return 0;
}

static int share_add(ctk_burn *b, uint64_t task, uint64_t v)
{
    shared_total *s = b->shared;
    switch (b->opts.share) {
    case CTK_SHARE_LOCK:
        lock_robust(&s->lock);
        s->total += v;
        s->count++;
        pthread_mutex_unlock(&s->lock);
        break;
    case CTK_SHARE_ORDERED:
        return add_under_pair(s, 0, v);
    case CTK_SHARE_CROSSED:
        return add_under_pair(s, (int)(task & 1), v);
    case CTK_SHARE_ATOMIC:
        __atomic_fetch_add(&s->total, v, __ATOMIC_RELAXED);
        __atomic_fetch_add(&s->count, 1, __ATOMIC_RELAXED);
        break;
    case CTK_SHARE_SHM: {
        /* A read, then a write: another worker's addition in between is
         * overwritten. Separate atomic accesses keep it defined behaviour
         * while losing updates exactly as a plain `total += v` does. */
        uint64_t seen = __atomic_load_n(&s->total, __ATOMIC_RELAXED);
        __atomic_store_n(&s->total, seen + v, __ATOMIC_RELAXED);
        uint64_t counted = __atomic_load_n(&s->count, __ATOMIC_RELAXED);
        __atomic_store_n(&s->count, counted + 1, __ATOMIC_RELAXED);
        break;
    }
    case CTK_SHARE_NONE:
        break;
    }
    return 0;
}

/* Grows or shrinks the slice so that one takes about SLICE_TARGET. */
static uint64_t next_batch(uint64_t batch, double took)
{
    if (took < SLICE_TARGET / 2 && batch < SLICE_MAX)
        return batch * 2;
    if (took > SLICE_TARGET * 2 && batch > 1)
        return batch / 2;
    return batch;
}

/* The task's loop; the GIL, if any, is held by the caller. */
static int run_slices(ctk_burn *b, void *state, uint64_t task, uint64_t size, uint64_t *value,
                      uint64_t *done, const int *cancel)
{
    const ctk_workload_ops *w = b->opts.workload->ops;
    /* With sharing, every iteration is its own addition to the total. */
    int per_item = b->opts.share != CTK_SHARE_NONE;
    uint64_t batch = per_item ? 1 : 16, pos = 0, sum = 0;
    unsigned since_check = 0;
    while (pos < size) {
        /* Per-item slices are tiny: look at the clock every 4096 of them. */
        if (!per_item || since_check++ % 4096 == 0) {
            if (ctk_is_cancelled(cancel))
                return CTK_ECANCELED;
            /* --duration: time is up, so this task ends with what it did. */
            if (b->deadline > 0 && now() >= b->deadline)
                break;
        }
        uint64_t n = size - pos < batch ? size - pos : batch;
        double t0 = per_item ? 0 : now();
        uint64_t v = w->slice(state, task, pos, pos + n);
        sum += v;
        pos += n;
        if (per_item) {
            int rc = share_add(b, task, v);
            if (rc < 0) {
                *done = pos - n;
                return rc;
            }
        } else
            batch = next_batch(batch, now() - t0);
        if (b->opts.gil)
            ctk__gil_yield(&b->gil);
    }
    *value = sum;
    *done = pos;
    return 0;
}

static int burn_run(void *ctx, ctk_unit *unit, const int *cancel)
{
    ctk_burn *b = ctx;
    const ctk_workload_ops *w = b->opts.workload->ops;
    uint64_t task, size, value = 0, done = 0;
    if (ctk_burn_decode_task(&unit->in, &task, &size) < 0)
        return ctk_unit_fail(unit, CTK_EINVAL, "malformed task (%zu bytes)", unit->in.len);
    void *state = calloc(1, w->state_size > 0 ? w->state_size : 1);
    if (state == NULL)
        return ctk_unit_fail(unit, CTK_ENOMEM, "out of memory");
    int rc = w->init != NULL ? w->init(state, task, size) : 0;
    if (rc == 0) {
        if (b->opts.gil)
            ctk__gil_acquire(&b->gil);
        rc = run_slices(b, state, task, size, &value, &done, cancel);
        if (b->opts.gil)
            ctk__gil_release(&b->gil);
    }
    if (w->fini != NULL)
        w->fini(state);
    free(state);
    if (rc == CTK_EDEADLOCK)
        return ctk_unit_fail(unit, rc,
                             "deadlock after %llu additions: this task held lock %c and waited "
                             "for lock %c, whose holder waited for lock %c",
                             (unsigned long long)done, (task & 1) ? 'B' : 'A',
                             (task & 1) ? 'A' : 'B', (task & 1) ? 'B' : 'A');
    if (rc < 0)
        return ctk_unit_fail(unit, rc, "%s: %s", w->name, ctk_strerror(rc));
    unit->out.len = 0;
    rc = ctk_wire_put_u64(&unit->out, value);
    if (rc == 0)
        rc = ctk_wire_put_u64(&unit->out, done);
    return rc < 0 ? ctk_unit_fail(unit, rc, "%s", ctk_strerror(rc)) : 0;
}

ctk_work ctk_burn_work(ctk_burn *b)
{
    return (ctk_work){.run = burn_run, .start = NULL, .ctx = b};
}

int ctk_burn_encode_task(ctk_buf *in, uint64_t task, uint64_t size)
{
    in->len = 0;
    int rc = ctk_wire_put_u64(in, task);
    return rc < 0 ? rc : ctk_wire_put_u64(in, size);
}

int ctk_burn_decode_task(const ctk_buf *in, uint64_t *task, uint64_t *size)
{
    ctk_wire_reader r;
    ctk_wire_reader_init(&r, in->data, in->len);
    if (ctk_wire_get_u64(&r, task) < 0 || ctk_wire_get_u64(&r, size) < 0 || r.left != 0)
        return CTK_EINVAL;
    return 0;
}

int ctk_burn_decode_result(const ctk_unit *unit, uint64_t *value, uint64_t *iterations)
{
    ctk_wire_reader r;
    ctk_wire_reader_init(&r, unit->out.data, unit->out.len);
    if (unit->status < 0 || ctk_wire_get_u64(&r, value) < 0 ||
        ctk_wire_get_u64(&r, iterations) < 0 || r.left != 0)
        return CTK_EINVAL;
    return 0;
}
