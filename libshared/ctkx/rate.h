/*
 * ctk/rate.h: the one start-rate limiter (cpar --rate, cfetch --rate).
 * Starts are spaced evenly, 1/rate seconds apart, with no burst: a limiter
 * that let a burst through would hit a rate-limited server with all of it
 * at once, which is what --rate exists to prevent. Thread-safe; an event
 * loop uses ctk_rate_reserve and a timer, a thread ctk_rate_wait.
 */
#ifndef CTK_RATE_H
#define CTK_RATE_H

#include <stddef.h>

#include "ctk/common.h"

typedef struct ctk_rate ctk_rate;

/* "N", "N/s", "N/m" ("N/min") or "N/h", N a positive decimal; per second. */
int ctk_rate_parse(const char *text, double *per_sec, char *why, size_t why_len);

/* per_sec > 0. Returns NULL on allocation failure. */
ctk_rate *ctk_rate_new(double per_sec);
void ctk_rate_free(ctk_rate *rate);

/* Takes the next start slot and returns how many seconds from `now` (any
 * monotonic clock in seconds, the same on every call) the caller must wait
 * before starting; 0 when it may start at once. Each call takes one slot. */
double ctk_rate_reserve(ctk_rate *rate, double now);

/* Takes a slot and sleeps until it comes (CLOCK_MONOTONIC). Returns 0, or
 * CTK_ECANCELED as soon as the run is cancelled: at once when cancel_fd
 * (the pipeline's cancel fd) turns readable; without one (-1), *cancel is
 * looked at every 50 ms. */
int ctk_rate_wait(ctk_rate *rate, const int *cancel, int cancel_fd);

/* CLOCK_MONOTONIC in seconds, the clock ctk_rate_wait uses. */
double ctk_rate_clock(void);

#endif
