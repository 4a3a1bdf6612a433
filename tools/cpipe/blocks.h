/*
 * ctk/blocks.h: where a stream may be cut into blocks without splitting a
 * record, by GNU parallel's --pipe rules. A boundary is a position between
 * two records: just after --recend, just before --recstart, or (with both)
 * between a recend and a recstart that follows it at once; or every
 * --fixed bytes. Literal separators decode \n \t \r \0 \\ and \xHH
 * (GNU parallel reads --recend '\n\n' so). With --regexp recend and
 * recstart are regular expressions (PCRE, matched on raw bytes: NUL and
 * invalid UTF-8 are ordinary bytes).
 *
 * The functions are pure: they look at bytes the caller holds and return
 * positions, so the same scanner serves a buffer read from a pipe and a
 * window mapped from a seekable file.
 */
#ifndef CTK_BLOCKS_H
#define CTK_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

#include "ctk/common.h"

typedef struct ctk_blocks_opts {
    const char *recend; /* NULL: "\n", or "" when recstart is given */
    size_t recend_len;  /* with recend: its length (it may hold NUL) */
    const char *recstart;
    size_t recstart_len;
    int regexp;     /* recend and recstart are regular expressions */
    uint64_t fixed; /* records of exactly this many bytes; 0: none */
} ctk_blocks_opts;

typedef struct ctk_blocks ctk_blocks;

/* Compiles the rules. CTK_EINVAL with a message in err for a regular
 * expression that does not compile or a separator that is empty on both
 * sides. */
int ctk_blocks_new(ctk_blocks **out, const ctk_blocks_opts *o, char *err, size_t err_len);
void ctk_blocks_free(ctk_blocks *b);

/* Where to cut data[0, len) for a block of about `want` bytes: the last
 * boundary p with 0 < p <= want; when there is none, the first boundary
 * after want (a record bigger than the block is never split). Returns 0
 * when data holds no boundary yet: read more, or at end of input the
 * whole rest is the last block. A boundary needs its recstart wholly
 * inside data; a recend at the very end of data is one. */
size_t ctk_blocks_cut(const ctk_blocks *b, const char *data, size_t len, size_t want);

/* How far past a boundary the rules look: 0 for --fixed (ctk_blocks_cut
 * then reads no data; it may be NULL), the separator's length for literal
 * rules, SIZE_MAX for regexps (a cut needs the data from the block's
 * start). A literal cut found in a window of the data is a cut of the
 * whole when the window reaches this far past it. */
size_t ctk_blocks_reach(const ctk_blocks *b);

/* The end of the first n lines of data (newline-terminated, for
 * --header N), or 0 when data holds fewer than n whole lines. */
size_t ctk_blocks_header_end(const char *data, size_t len, uint64_t n);

#endif
