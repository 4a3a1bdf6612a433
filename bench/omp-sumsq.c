/*
 * omp-sumsq.c: the reference for cburn's sumsq workload, as an OpenMP loop.
 *
 * Computes sum of i*i mod 2^64 over i in [0, tasks*size) -- the same total
 * cburn's "sumsq" workload reports as its checksum for --tasks TASKS
 * --size SIZE -- with one statically scheduled parallel loop, and prints
 *
 *     checksum <16 hex digits>
 *     wall_s   <seconds>
 *     threads  <threads used>
 *
 * Usage: omp-sumsq TASKS SIZE THREADS   (k, M, G, T suffixes: powers of 2)
 *
 * Built by bench/cburn.sh with the same compiler and CFLAGS as libctk, plus
 * -fopenmp, so the kernel gets the same code generation on both sides.
 */
#include <errno.h>
#include <inttypes.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* A count as cburn's --size takes it: digits and an optional binary
 * suffix, k/K = 2^10, M = 2^20, G = 2^30, T = 2^40 (so "200M" is
 * 209715200, as in cburn). */
static int parse_count(const char *text, uint64_t *out)
{
    char *end;
    if (*text < '0' || *text > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0)
        return -1;
    int shift = 0;
    if (*end != '\0') {
        switch (*end) {
        case 'k':
        case 'K':
            shift = 10;
            break;
        case 'M':
            shift = 20;
            break;
        case 'G':
            shift = 30;
            break;
        case 'T':
            shift = 40;
            break;
        default:
            return -1;
        }
        if (end[1] != '\0')
            return -1;
    }
    if (v == 0 || v > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t tasks, size, threads;
    if (argc != 4 || parse_count(argv[1], &tasks) < 0 || parse_count(argv[2], &size) < 0 ||
        parse_count(argv[3], &threads) < 0 || threads > 4096 || size > UINT64_MAX / tasks) {
        fprintf(stderr, "usage: omp-sumsq TASKS SIZE THREADS (positive integers; "
                        "k, M, G, T mean 2^10, 2^20, 2^30, 2^40)\n");
        return 2;
    }
    const uint64_t total = tasks * size;
    int used = 0;
    uint64_t sum = 0;
    omp_set_dynamic(0);
    omp_set_num_threads((int)threads);
    double t0 = omp_get_wtime();
#pragma omp parallel for reduction(+ : sum) schedule(static)
    for (uint64_t i = 0; i < total; i++)
        sum += i * i;
    double wall = omp_get_wtime() - t0;
#pragma omp parallel
#pragma omp single
    used = omp_get_num_threads();
    printf("checksum %016" PRIx64 "\nwall_s   %.6f\nthreads  %d\n", sum, wall, used);
    return 0;
}
