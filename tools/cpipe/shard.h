/*
 * shard.h: cpipe --shard COL and --bin COL, done as GNU parallel does
 * them: -j filters start once (the --round-robin lanes of pipe.c) and
 * each line goes to the filter its column's value picks, so the lines of
 * one value always reach the same filter. --shard hashes the value with
 * perl's own hash, as parallel's sharder does (hex(B::hash($value)) % N:
 * a value of up to 24 bytes goes where parallel sends it; a longer one
 * is hashed by parallel with a seed made of its process id, so there the
 * choice is cpipe's). --bin reads the value as perl reads a number and
 * takes it modulo N: 1 goes to the first filter, N and 0 to the last.
 *
 * A filter's lines wait in its lane's queue while the filter has not
 * started (-s sync runs the filters one after another) or is behind; a
 * queue beyond a bound waits in an unlinked temporary file.
 */
#ifndef CPIPE_SHARD_H
#define CPIPE_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "ctk/plugin.h"

typedef struct cpipe_shard cpipe_shard;

/* Whether spec (--shard's or --bin's value) is one cpipe takes: a column
 * number (1 up) or a column name. NULL when it is; else why not (a perl
 * expression after the column is named as not supported). */
const char *cpipe_shard_check(const char *spec);
/* A router for spec (checked), by hash (bin 0) or by number (bin 1);
 * colsep: the regexp between columns. CTK_EINVAL with err filled. */
int cpipe_shard_new(cpipe_shard **out, const char *spec, int bin, const char *colsep, char *err,
                    size_t err_len);
void cpipe_shard_free(cpipe_shard *s);
/* "--shard" or "--bin", for messages. */
const char *cpipe_shard_option(const cpipe_shard *s);
/* Whether the column is named: its number is read from the header's
 * first line (the caller makes that line a header). */
int cpipe_shard_named(const cpipe_shard *s);
/* The input's header, once it is read: a named column is looked up in
 * its first line. CTK_EINVAL with err filled when it is not there. */
int cpipe_shard_header(cpipe_shard *s, const void *header, size_t len, char *err, size_t err_len);
/* The lane (0 up, of lanes) a line goes to; line[len] is readable. */
unsigned cpipe_shard_lane(const cpipe_shard *s, const void *line, size_t len, unsigned lanes);

/* The bytes waiting for one lane's filter, in order: head (being
 * written), then the spill file's unread part, then tail. */
typedef struct cpipe_laneq {
    ctk_buf head;
    size_t taken; /* of head, written */
    ctk_buf tail;
    int spill_fd; /* -1: none made yet */
    uint64_t spill_w, spill_r;
    const char *tmpdir; /* where the spill file goes; NULL: $TMPDIR, else /tmp */
} cpipe_laneq;

void cpipe_laneq_init(cpipe_laneq *q, const char *tmpdir);
/* Queues len bytes. hold: the lane cannot take them yet, so a big queue
 * goes to the spill file. 0, or a negative code (memory, disk). */
int cpipe_laneq_push(cpipe_laneq *q, const void *data, size_t len, int hold);
/* Bytes queued, not yet written. */
uint64_t cpipe_laneq_pending(const cpipe_laneq *q);
/* Writes what fd (non-blocking) takes now: 0, or -errno (EPIPE: the
 * filter quit). */
int cpipe_laneq_write(cpipe_laneq *q, int fd);
void cpipe_laneq_free(cpipe_laneq *q);

#endif
