/*
 * workloads.h: cburn's built-in CPU-bound kernels (sumsq, primes, sha256,
 * matmul), registered through the same public call a plugin's workloads
 * use, so the registry knows nothing of cburn.
 */
#ifndef CBURN_WORKLOADS_H
#define CBURN_WORKLOADS_H

#include "ctk/plugin.h"

/* Registers the built-in kernels; a negative code when one is taken. */
int cburn_register_workloads(ctk_registry *reg);

#endif
