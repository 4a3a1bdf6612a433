/*
 * unit.h: cpipe's unit (one block) and result (how its filter ended, and
 * its output) as the bytes of ctk_unit.in and .out, in libctk's wire
 * fields (ctk/plugin.h): fixed-width little-endian, length-prefixed, no
 * pointers, so a block can be run in another process (and later on
 * another machine) and its result read back here.
 *
 * A unit is either a window of the seekable input (which file, where,
 * how long: the bytes stay in the file and reach the filter by splice,
 * never passing through the unit) or, for piped input, the header and
 * the block's bytes themselves. A BYTES unit's fields all come before
 * its data and have a fixed size (CTK_PIPE_UNIT_HEAD), so the reader can
 * read a block into a buffer after that room and fill the room in at the
 * cut: the buffer is then the unit, with no copy.
 *
 * A result's output is either its bytes (or, when they did not fit in
 * memory, a range of the run's spool, ctkx/spool.h: never a named file,
 * which a kill -9 would leave behind), or, when the filter ran in the
 * very process that consumes the result, a ticket for the output kept
 * there, so a big output is not copied into the unit only to be copied
 * out again. A ticket names its run, so a result from elsewhere cannot
 * redeem one.
 */
#ifndef CTK_PIPE_UNIT_H
#define CTK_PIPE_UNIT_H

#include <stddef.h>
#include <stdint.h>

#include "ctk/plugin.h"

enum ctk_pipe_unit_kind {
    CTK_PIPE_UNIT_BYTES = 1,  /* data: the header, then the block */
    CTK_PIPE_UNIT_WINDOW = 2, /* data: the header; the block is in the file */
    CTK_PIPE_UNIT_LANE = 3,   /* --round-robin: no data; a filter fed many
                                 blocks by the run's feeder (pipe.c) */
};

typedef struct ctk_pipe_unit {
    uint64_t kind;
    uint64_t offset; /* of the block's first byte, counted after the header */
    uint64_t len;    /* the block's bytes, header not counted */
    /* WINDOW: the file (device and inode) and where the block starts in it. */
    uint64_t dev, ino, at;
    /* Decoded: points into the encoded bytes, valid while they are. */
    const unsigned char *data;
    size_t data_len;
} ctk_pipe_unit;

/* The size of a BYTES unit's fields before its data. */
#define CTK_PIPE_UNIT_HEAD 32

/* Appends the unit to `in` (data copied). CTK_ENOMEM, or CTK_EINVAL for a
 * BYTES unit whose data is shorter than its block. */
int ctk_pipe_unit_encode(ctk_buf *in, const ctk_pipe_unit *u);
/* Appends a BYTES unit's CTK_PIPE_UNIT_HEAD bytes of fields; its data_len
 * bytes of data must follow them. */
int ctk_pipe_unit_encode_head(ctk_buf *in, uint64_t offset, uint64_t len, size_t data_len);
/* CTK_EIO for bytes that are not exactly one unit (truncated, unknown kind,
 * a block longer than its data, bytes left over). */
int ctk_pipe_unit_decode(ctk_pipe_unit *u, const void *in, size_t len);

enum ctk_pipe_out_kind {
    CTK_PIPE_OUT_HERE = 1,  /* run, ticket: kept by the consuming process */
    CTK_PIPE_OUT_BYTES = 2, /* spool range (or none), then mem */
};

typedef struct ctk_pipe_result {
    int64_t exit;        /* 0-255 */
    int64_t signal;      /* that ended the filter, or 0 */
    int64_t exec_errno;  /* it could not start (exit 126/127) */
    int64_t input_errno; /* the block could not be fed whole (the file shrank) */
    uint64_t offset;     /* the block's, for messages */
    uint64_t len;
    uint64_t out_bytes; /* everything the filter wrote */
    uint64_t kind;
    uint64_t slot;             /* the job slot ({%}) the filter ran in */
    int64_t start_us;          /* when the filter started, microseconds since the epoch */
    int64_t runtime_us;        /* how long it ran (--joblog) */
    const unsigned char *line; /* -v: the command line as run (decoded: points
                                * into the encoded bytes); else empty */
    size_t line_len;
    uint64_t run, ticket;     /* HERE */
    uint64_t spool_id;        /* BYTES: the spool holding the output (ctk_spool_id) */
    uint64_t spool_off;       /* where the output is in it */
    uint64_t spool_len;       /* 0: none, the output is mem; else out_bytes,
                               * and mem is empty */
    const unsigned char *mem; /* BYTES: the output, unless spooled; decoded:
                               * points into the encoded bytes */
    size_t mem_len;
} ctk_pipe_result;

/* Appends the result to `out` (mem copied). */
int ctk_pipe_result_encode(ctk_buf *out, const ctk_pipe_result *r);
/* Appends everything but a BYTES result's mem, ending with its length:
 * the caller appends exactly mem_len bytes (from wherever they are). */
int ctk_pipe_result_encode_head(ctk_buf *out, const ctk_pipe_result *r, uint64_t mem_len);
/* CTK_EIO for bytes that are not exactly one result (truncated, out of
 * range, bytes left over). */
int ctk_pipe_result_decode(ctk_pipe_result *r, const void *out, size_t len);
/* Frees what decode allocated (nothing now; kept for its callers). */
void ctk_pipe_result_clear(ctk_pipe_result *r);

#endif
