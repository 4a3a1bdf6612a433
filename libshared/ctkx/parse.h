/*
 * ctk/parse.h: the one checked parser for every number a user types.
 * Each returns 0 or a negative code and, on error, writes a reason that
 * the tool prints after the option's name ("-j 0: must be at least 1").
 */
#ifndef CTK_PARSE_H
#define CTK_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "ctk/common.h"

/* Decimal digits only (no sign, no spaces, no suffix), min <= v <= max. */
int ctk_parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out, char *why,
                  size_t why_len);
/* Which suffixes a size takes. */
typedef enum ctk_size_rules {
    /* An optional binary suffix k, M, G, T (x1024 each), e.g. "100M";
     * no fraction, no decimal exponent. */
    CTK_SIZE_BINARY,
    /* GNU parallel's, as it reads --block and -N: digits with an optional
     * fraction and suffix, lowercase k m g t p decimal (x1000), uppercase
     * K M G T P and Ki Mi Gi Ti Pi (either case) binary (x1024); the
     * product's whole part ("1.5k" is 1500). */
    CTK_SIZE_PARALLEL,
} ctk_size_rules;

/* A count with a suffix under the rules, min <= v <= max after the suffix. */
int ctk_parse_size(const char *text, ctk_size_rules rules, uint64_t min, uint64_t max,
                   uint64_t *out, char *why, size_t why_len);
/* Non-negative decimal seconds ("0.5", "30"), at most max. */
int ctk_parse_seconds(const char *text, double max, double *out, char *why, size_t why_len);
/* GNU parallel's durations (--delay, --timeout): seconds, or numbers with
 * s, m, h, d postfixes, added up ("1h30m", "2.5s"). */
int ctk_parse_duration(const char *text, double *out, char *why, size_t why_len);
/* -j: "N" (1..max) or "N%" of `cores`, at least 1. */
int ctk_parse_jobs(const char *text, unsigned cores, unsigned max, unsigned *out, char *why,
                   size_t why_len);
/* Online CPUs, at least 1. */
unsigned ctk_cpu_count(void);

#endif
