/*
 * ctk/pipe.h: cpipe's engine. The input is cut into record-aligned blocks
 * (blocks.h); each block becomes a unit of the pipeline (pipeline.h) whose
 * work runs FILTER once with the block on its stdin (spawn.h) and keeps its
 * output; the writer thread writes the outputs in input order. A unit's
 * block and its result are wire fields (unit.h), so a strategy may run
 * the block in another process.
 *
 * A seekable input is never read by cpipe: its cuts are found in a
 * read-only mapping (touching only the pages around each cut) and each
 * filter's stdin is filled by splice from the page cache. Piped input is
 * read once into the block's buffer, which goes to the filter as it is.
 * At most jobs + 2 blocks are between reader and writer, and a block's
 * output beyond a bound waits in an unlinked temporary file, so memory is
 * bounded whatever the input size and whatever the filters write.
 */
#ifndef CTK_PIPE_H
#define CTK_PIPE_H

#include "blocks.h"
#include "ctkx/cmdline.h"
#include "ctkx/halt.h"
#include "ctk/pipeline.h"
#include "ctkx/progress.h"
#include "ctkx/spawn.h"
#include "shard.h"
#include <stdio.h>

typedef struct ctk_pipe_opts {
    const ctk_cmdline *cmd;    /* the filter */
    const char *shell;         /* runs filters that need a shell; NULL: /bin/sh */
    const ctk_blocks *rules;   /* where records end */
    int in_fd;                 /* the input (a regular file takes the fast path) */
    int no_seek;               /* treat in_fd as a pipe even when it is a file */
    uint64_t block;            /* about this many bytes per block; 0: CTK_PIPE_BLOCK,
                                  or for a seekable input up to 4M (16 blocks
                                  per job), as fewer filter starts cost less */
    uint64_t header_lines;     /* --header N: repeated at the top of every block */
    const char *header_regexp; /* --header REGEXP (PCRE): what it matches at the
                                  input's start is the header; NULL: header_lines */
    int part; /* -1: 1 for a seekable input, else 0; 1: cut as --pipepart: at the first boundary
                 after each block's size (else as --pipe: at the last boundary within it, the block
                 growing by parallel's rule when there is none) */
    uint64_t records;                 /* -N: exactly this many records per block; 0: by size */
    uint64_t lines;                   /* -L: records of this many lines; 0: by recend */
    unsigned jobs;                    /* filters at once (the window is jobs + 2) */
    ctk_halt halt;                    /* when failed (or done) blocks stop the run;
                                         default never: every block runs */
    const ctk_cmdline *tagstring;     /* --tag, --tagstring: a text ({#}, {%}) and a tab
                                         before every output line; NULL: none */
    int verbose;                      /* -v: each command line before its output */
    int dry_run;                      /* --dry-run: each command line instead of running it */
    int unordered;                    /* outputs are consumed as blocks finish (-u) */
    int line_buffer;                  /* --line-buffer: a filter's whole lines as it writes them
                                         (in order: while its block is the next to write) */
    FILE *joblog;                     /* --joblog: a line per finished block (writer thread);
                                         NULL: none */
    double delay;                     /* --delay: seconds between filter starts; 0: none */
    int files;                        /* --files: outputs in files of tmpdir, their names printed */
    double block_timeout;             /* --blocktimeout: piped input idle this long ends a
                                         block early; 0: never */
    int empty_block;                  /* empty input still runs one filter */
    int cat;                          /* --cat: the block in a temporary file named by {} */
    int fifo;                         /* --fifo: the block through a named pipe named by {} */
    int round_robin;                  /* --round-robin: `jobs` filters, each fed many
                                         whole blocks as it can take them */
    unsigned tee;                     /* --tee: this many filters (jobs), each fed all of the
                                         input; 0: none */
    const ctk_cmdline_args *tee_args; /* --tee: filter k's arguments ({}, {1}, --tag) in
                                         [k - 1] (cols and n_cols only) */
    cpipe_shard *shard;               /* --shard, --bin (with round_robin): each line to
                                         the filter its column picks; every filter runs,
                                         slot {%} = its number {#}; NULL: none */
    int rrs;                          /* --rrs: the block without its record separators
                                         (rules made with strip) */
    int skip_empty;                   /* -r: piped input loses its blank (whitespace-only)
                                         lines, as parallel --pipe -r; --pipepart ignores it */
    unsigned block_slots;             /* --block -N: blocks of 1 + size / jobs / N bytes
                                         (parallel --pipepart's N blocks per job slot;
                                         needs a seekable input); 0: opts.block */
    int out_fd;                       /* where outputs go; -1: nowhere (--compare) */
    int checksum;                     /* digest the output (for --compare rows) */
    const char *tmpdir;               /* spill directory; NULL: $TMPDIR, else /tmp */
    int elsewhere;                    /* units run in other processes, maybe on other
                                         hosts (CTK_STRATEGY_PROCESSES): every result
                                         travels as bytes, never as a ticket */
    /* Told about a failed block (number, offset, how), from the writer
     * thread, in order; NULL: nobody. */
    void (*report)(void *arg, const char *message);
    void *report_arg;
} ctk_pipe_opts;

#define CTK_PIPE_BLOCK ((uint64_t)1 << 20)

typedef struct ctk_pipe ctk_pipe;

/* Looks at the input (seekable or not) and reads the header. CTK_EINVAL
 * with err filled when the input cannot be used. */
int ctk_pipe_new(ctk_pipe **out, const ctk_pipe_opts *opts, char *err, size_t err_len);
/* Once the pipeline has run, before it is freed: stops the --round-robin
 * feeder, which reads the pipeline's cancel flag. ctk_pipe_free calls it
 * too. */
void ctk_pipe_end(ctk_pipe *p);
void ctk_pipe_free(ctk_pipe *p);
/* The input's size in bytes when it is seekable (for --progress), else 0. */
uint64_t ctk_pipe_input_size(const ctk_pipe *p);
/* run for every strategy; start (a libuv loop over every filter's pipes)
 * for async. */
ctk_work ctk_pipe_work(ctk_pipe *p);
/* For ctk_pipeline_opts.produce / .consume (arg: the ctk_pipe). */
int ctk_pipe_produce(void *arg, ctk_unit *unit);
void ctk_pipe_consume(void *arg, const ctk_unit *unit);
/* The pipeline's cancel flag and fd (ctk_pipeline_cancel_flag, _fd): the
 * flag is looked at between blocks, the fd (readable once cancelled; -1:
 * none) wakes the reader waiting on piped input. */
void ctk_pipe_set_cancel(ctk_pipe *p, const int *flag, int fd);
/* The bar to tell the input done, in units of `divisor` bytes (set
 * before the run; NULL: none). */
void ctk_pipe_set_progress(ctk_pipe *p, ctk_progress *progress, uint64_t divisor);
/* Sends signo to every running filter's process group (any thread). */
void ctk_pipe_cancel(ctk_pipe *p, int signo);
/* --halt under a CTK_STRATEGY_REMOTE strategy (ctk_pipeline_set_stop):
 * consume's decision, carried to the processes running filters. */
ctk_stop_hooks ctk_pipe_stop_hooks(ctk_pipe *p);

typedef struct ctk_pipe_stats {
    uint64_t blocks;    /* blocks whose filter ran */
    uint64_t failed;    /* of them, failed (exit status, signal, not started) */
    uint64_t in_bytes;  /* input bytes in those blocks (headers not counted) */
    uint64_t out_bytes; /* output bytes written */
    int status;         /* the first failed filter's status (128+N for a signal), or 0 */
    int write_error;    /* errno of a failed write to out_fd (EPIPE: reader gone), or 0 */
    int halted;         /* --halt stopped the run */
    char digest[33];    /* with opts.checksum: MD5 of the output in order */
} ctk_pipe_stats;

void ctk_pipe_stats_get(ctk_pipe *p, ctk_pipe_stats *st);

/* --reduce: starts CMD under the shell with its stdin a pipe whose write
 * end is returned in *fd (the engine's out_fd); ctk_pipe_reduce_end
 * closes it, waits and returns the reducer's status (128+N for a signal)
 * or a negative code. */
int ctk_pipe_reduce_begin(ctk_spawn_child *child, ctk_spawn_opts *so, const char *cmd,
                          const char *shell, int *fd);
int ctk_pipe_reduce_end(ctk_spawn_child *child, int fd);

#endif
