/*
 * pinned: a ctk strategy plugin. A pool of threads like the built-in
 * `thread` strategy, but worker i is pinned to the i-th CPU of its list
 * (pthread_setaffinity_np), so the scheduler cannot move work between
 * cores and caches stay warm. --cpu-list picks the CPUs (default: all
 * online ones).
 *
 * Built the way any outside plugin is built, from the public header only:
 *   cc -shared -fPIC -o pinned.so pinned.c $(pkg-config --cflags --libs ctk)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pthread_setaffinity_np, CPU_SET */
#endif
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ctk/plugin.h>

#define MAX_CPUS 1024

typedef struct pinned {
    int cpus[MAX_CPUS];
    size_t n_cpus; /* 0: every online CPU */
} pinned;

typedef struct worker {
    ctk_exec *exec;
    int cpu;
    int pin_error; /* 0 or an errno from pthread_setaffinity_np */
} worker;

/* Parses "0,2,4-7" into cpus; rejects anything else. */
static int parse_cpu_list(pinned *p, const char *text)
{
    size_t n = 0;
    const char *s = text;
    while (*s != '\0') {
        char *end;
        errno = 0;
        long lo = strtol(s, &end, 10), hi = lo;
        if (end == s || errno != 0 || lo < 0 || lo >= CPU_SETSIZE)
            return CTK_EINVAL;
        if (*end == '-') {
            s = end + 1;
            hi = strtol(s, &end, 10);
            if (end == s || hi < lo || hi >= CPU_SETSIZE)
                return CTK_EINVAL;
        }
        for (long c = lo; c <= hi; c++) {
            if (n == MAX_CPUS)
                return CTK_ERANGE;
            p->cpus[n++] = (int)c;
        }
        if (*end == ',' && end[1] != '\0')
            end++;
        else if (*end != '\0')
            return CTK_EINVAL;
        s = end;
    }
    if (n == 0)
        return CTK_EINVAL;
    /* A CPU this process may not run on is a usage error now, not a
     * failed run later. */
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
        for (size_t i = 0; i < n; i++)
            if (!CPU_ISSET(p->cpus[i], &allowed))
                return CTK_ERANGE;
    p->n_cpus = n;
    return 0;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(w->cpu, &set);
    w->pin_error = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    ctk_unit *unit;
    while (ctk_exec_next(w->exec, &unit, CTK_WAIT) == 0) {
        ctk_exec_run_unit(w->exec, unit);
        ctk_exec_done(w->exec, unit);
    }
    return NULL;
}

static int pinned_execute(ctk_exec *exec, void *data)
{
    pinned *p = data;
    unsigned jobs = ctk_exec_jobs(exec);
    /* Without --cpu-list: the CPUs this process may use (taskset, cgroups),
     * not simply 0..N-1. */
    pinned allowed = {.n_cpus = 0};
    cpu_set_t set;
    if (p->n_cpus == 0 && sched_getaffinity(0, sizeof set, &set) == 0)
        for (int c = 0; c < CPU_SETSIZE && allowed.n_cpus < MAX_CPUS; c++)
            if (CPU_ISSET(c, &set))
                allowed.cpus[allowed.n_cpus++] = c;
    if (p->n_cpus == 0)
        p = &allowed;
    worker *workers = calloc(jobs, sizeof *workers);
    pthread_t *threads = calloc(jobs, sizeof *threads);
    int rc = 0;
    if (workers == NULL || threads == NULL) {
        rc = CTK_ENOMEM;
        goto out;
    }
    unsigned started = 0;
    for (; started < jobs; started++) {
        size_t slot = started % (p->n_cpus ? p->n_cpus : 1);
        workers[started] = (worker){exec, p->n_cpus ? p->cpus[slot] : 0, 0};
        if (pthread_create(&threads[started], NULL, worker_main, &workers[started]) != 0)
            break;
    }
    if (started == 0)
        rc = CTK_ESYS;
    for (unsigned i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    /* A CPU outside the allowed set is a user error worth reporting. */
    for (unsigned i = 0; i < started && rc == 0; i++)
        if (workers[i].pin_error != 0)
            rc = -workers[i].pin_error;
out:
    free(threads);
    free(workers);
    return rc;
}

static int pinned_set_option(void *data, const char *name, const char *value)
{
    if (strcmp(name, "cpu-list") == 0)
        return parse_cpu_list(data, value);
    return CTK_EINVAL;
}

static const ctk_option pinned_options[] = {
    {"cpu-list", "LIST", "pin workers to these CPUs, e.g. 0,1 or 0-3 (pinned strategy)"},
    {NULL, NULL, NULL},
};

static const ctk_strategy_ops pinned_ops = {
    .name = "pinned",
    .summary = "a thread pool with worker i pinned to CPU i of --cpu-list (plugin)",
    .execute = pinned_execute,
    .options = pinned_options,
    .set_option = pinned_set_option,
};

static int pinned_init(ctk_registry *reg)
{
    pinned *p = calloc(1, sizeof *p);
    if (p == NULL)
        return CTK_ENOMEM;
    return ctk_register_strategy(reg, &pinned_ops, p, free);
}

CTK_PLUGIN_DEFINE("pinned", pinned_init);
