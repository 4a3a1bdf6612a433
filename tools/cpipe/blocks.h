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
#include "ctk/plugin.h" /* ctk_buf */

typedef struct ctk_blocks_opts {
    const char *recend; /* NULL: "\n", or "" when recstart is given */
    size_t recend_len;  /* with recend: its length (it may hold NUL) */
    const char *recstart;
    size_t recstart_len;
    int regexp;     /* recend and recstart are regular expressions */
    uint64_t fixed; /* records of exactly this many bytes; 0: none */
    int strip;      /* ctk_blocks_strip will be called (--rrs) */
    /* --csv: records are CSV records, as parallel --pipe --csv cuts
     * them: a boundary is after a newline with an even number of '"'
     * before it, counted from the data's start (a block's start, so a
     * boundary). The other rules are then unused. */
    int csv;
} ctk_blocks_opts;

typedef struct ctk_blocks ctk_blocks;

/* Compiles the rules. CTK_EINVAL with a message in err for a regular
 * expression that does not compile or a separator that is empty on both
 * sides. */
int ctk_blocks_new(ctk_blocks **out, const ctk_blocks_opts *o, char *err, size_t err_len);
void ctk_blocks_free(ctk_blocks *b);

/* GNU parallel's --pipe cut: the last boundary p > 0 whose separator
 * (recend and recstart) lies wholly in data[0, min(len, want)), or 0 when
 * there is none there (the caller grows the block, as parallel does).
 * With --fixed the last multiple of the record size in it. */
size_t ctk_blocks_cut(const ctk_blocks *b, const char *data, size_t len, size_t want);

/* The first boundary whose separator starts at or after `from` and lies
 * wholly in data[0, len) (--pipepart's cut after a block's size): 1 with
 * it in *cut, or 0 when data holds none yet. */
int ctk_blocks_next(const ctk_blocks *b, const char *data, size_t len, size_t from, size_t *cut);

/* -N: the boundary after the n-th separator, searched as GNU parallel
 * does (a separator at 0 does not count): 1 with it in *cut, or 0. */
int ctk_blocks_nth(const ctk_blocks *b, const char *data, size_t len, uint64_t n, size_t *cut);

/* -N with --regexp and --recstart, at the start of the input: when data
 * does not begin with recstart, GNU parallel's "garbage" record, passed as
 * a block of its own: the first boundary in data, or 0 when there is none
 * (or the rules are not such). */
size_t ctk_blocks_garbage(const ctk_blocks *b, const char *data, size_t len);

/* -L: the end of the last whole group of `lines` newline-ended lines in
 * data[0, len), or 0 when it holds fewer. */
size_t ctk_blocks_lines_cut(const char *data, size_t len, uint64_t lines);

/* How far past a boundary the rules look: 0 for --fixed (ctk_blocks_cut
 * then reads no data; it may be NULL), the separator's length for literal
 * rules, SIZE_MAX for regexps (a cut needs the data from the block's
 * start). A literal cut found in a window of the data is a cut of the
 * whole when the window reaches this far past it. */
size_t ctk_blocks_reach(const ctk_blocks *b);

/* The end of the first n lines of data (newline-terminated, for
 * --header N), or 0 when data holds fewer than n whole lines. */
size_t ctk_blocks_header_end(const char *data, size_t len, uint64_t n);

/* --rrs, as parallel's remove_rec_sep: appends data[0, len) to out
 * without every recend+recstart, then without a leading recstart and a
 * trailing recend (Perl's $: also just before a final newline). The rules
 * must have been made with opts.strip. CTK_ENOMEM. */
int ctk_blocks_strip(const ctk_blocks *b, const char *data, size_t len, ctk_buf *out);

#endif
