/*
 * workloads.h: cburn's built-in CPU-bound kernels (sumsq, primes, sha256,
 * matmul), registered like a plugin's workloads.
 */
#ifndef CTK_WORKLOADS_H
#define CTK_WORKLOADS_H

#include "ctk/plugin.h"

void ctk__register_builtin_workloads(ctk_registry *reg);

#endif
