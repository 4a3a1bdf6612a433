/*
 * workloads.c: the built-in kernels. Each is a pure function of (task,
 * iteration), so every strategy must produce the same checksum; a
 * difference means a strategy lost or duplicated work.
 */
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "workloads.h"

/* Tasks of the range kernels cover consecutive ranges, so the total is a
 * function of [0, tasks*size) alone. */
typedef struct range_state {
    uint64_t base;
} range_state;

static int range_init(void *state, uint64_t task, uint64_t size)
{
    ((range_state *)state)->base = task * size;
    return 0;
}

/* sumsq: sum of i*i mod 2^64. */
static uint64_t sumsq_slice(void *state, uint64_t task, uint64_t begin, uint64_t end)
{
    (void)task;
    uint64_t base = ((range_state *)state)->base, sum = 0;
    for (uint64_t i = base + begin; i < base + end; i++)
        sum += i * i;
    return sum;
}

static const ctk_workload_ops sumsq_ops = {
    .name = "sumsq",
    .summary = "sum of i*i mod 2^64 over a range (the default; pure arithmetic)",
    .default_size = 200000000,
    .state_size = sizeof(range_state),
    .init = range_init,
    .slice = sumsq_slice,
};

/* primes: counts primes by trial division; later tasks are slower (uneven
 * work on purpose: that is what pools balance). */

static int is_prime(uint64_t n)
{
    if (n < 2)
        return 0;
    if (n % 2 == 0)
        return n == 2;
    for (uint64_t d = 3; d <= n / d; d += 2)
        if (n % d == 0)
            return 0;
    return 1;
}

static uint64_t primes_slice(void *state, uint64_t task, uint64_t begin, uint64_t end)
{
    (void)task;
    uint64_t base = ((range_state *)state)->base, count = 0;
    for (uint64_t i = begin; i < end; i++)
        count += (uint64_t)is_prime(base + i);
    return count;
}

static const ctk_workload_ops primes_ops = {
    .name = "primes",
    .summary = "count primes in a range by trial division",
    .default_size = 2000000,
    .state_size = sizeof(range_state),
    .init = range_init,
    .slice = primes_slice,
};

/* sha256: a hash chain seeded by the task number; each link's first eight
 * bytes are its value. Chains are sequential, so slices run in order. */
typedef struct sha_state {
    GChecksum *checksum;
    guint8 digest[32];
} sha_state;

static int sha_init(void *state, uint64_t task, uint64_t size)
{
    (void)size;
    sha_state *s = state;
    s->checksum = g_checksum_new(G_CHECKSUM_SHA256);
    if (s->checksum == NULL)
        return CTK_ENOMEM;
    memset(s->digest, 0, sizeof s->digest);
    memcpy(s->digest, &task, sizeof task);
    return 0;
}

static uint64_t sha_slice(void *state, uint64_t task, uint64_t begin, uint64_t end)
{
    (void)task;
    sha_state *s = state;
    uint64_t sum = 0;
    for (uint64_t i = begin; i < end; i++) {
        gsize len = sizeof s->digest;
        g_checksum_reset(s->checksum);
        g_checksum_update(s->checksum, s->digest, sizeof s->digest);
        g_checksum_get_digest(s->checksum, s->digest, &len);
        uint64_t head;
        memcpy(&head, s->digest, sizeof head);
        sum += head;
    }
    return sum;
}

static void sha_fini(void *state)
{
    sha_state *s = state;
    if (s->checksum != NULL)
        g_checksum_free(s->checksum);
    s->checksum = NULL;
}

static const ctk_workload_ops sha_ops = {
    .name = "sha256",
    .summary = "SHA-256 hash chains (GLib GChecksum)",
    .default_size = 1000000,
    .state_size = sizeof(sha_state),
    .init = sha_init,
    .slice = sha_slice,
    .fini = sha_fini,
};

/* matmul: C = A x B for n x n doubles, n = size. Iterations are rows of
 * C; a row's value is the sum of its cells truncated to integers. Inputs
 * are small integers so the products are exact in any order. */
typedef struct matmul_state {
    uint64_t n;
    double *a, *b;
    double *row;
} matmul_state;

static int matmul_init(void *state, uint64_t task, uint64_t size)
{
    matmul_state *m = state;
    /* 2048: two 32 MB matrices per task; a hostile size stays bounded. */
    if (size == 0 || size > 2048)
        return CTK_ERANGE;
    m->n = size;
    m->a = malloc(size * size * sizeof(double));
    m->b = malloc(size * size * sizeof(double));
    m->row = malloc(size * sizeof(double));
    if (m->a == NULL || m->b == NULL || m->row == NULL)
        return CTK_ENOMEM;
    for (uint64_t i = 0; i < size * size; i++) {
        m->a[i] = (double)((i + task) % 7);
        m->b[i] = (double)((i * 3 + task) % 5);
    }
    return 0;
}

static uint64_t matmul_slice(void *state, uint64_t task, uint64_t begin, uint64_t end)
{
    (void)task;
    matmul_state *m = state;
    uint64_t n = m->n, sum = 0;
    for (uint64_t r = begin; r < end && r < n; r++) {
        for (uint64_t j = 0; j < n; j++)
            m->row[j] = 0;
        /* i-k-j order: the inner loop walks rows of B contiguously. */
        for (uint64_t k = 0; k < n; k++) {
            double aik = m->a[r * n + k];
            const double *brow = m->b + k * n;
            for (uint64_t j = 0; j < n; j++)
                m->row[j] += aik * brow[j];
        }
        for (uint64_t j = 0; j < n; j++)
            sum += (uint64_t)m->row[j];
    }
    return sum;
}

static void matmul_fini(void *state)
{
    matmul_state *m = state;
    free(m->a);
    free(m->b);
    free(m->row);
    m->a = m->b = m->row = NULL;
}

static const ctk_workload_ops matmul_ops = {
    .name = "matmul",
    .summary = "naive n x n double matrix product, n = size (iterations are rows)",
    .default_size = 320,
    .state_size = sizeof(matmul_state),
    .init = matmul_init,
    .slice = matmul_slice,
    .fini = matmul_fini,
};

int cburn_register_workloads(ctk_registry *reg)
{
    static const ctk_workload_ops *const builtins[] = {&sumsq_ops, &primes_ops, &sha_ops,
                                                       &matmul_ops};
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
        int rc = ctk_register_workload(reg, builtins[i], NULL, NULL);
        if (rc < 0)
            return rc;
    }
    return 0;
}
