/*
 * ctkx/spool.h: one anonymous file per run where captured outputs too big
 * for memory wait for the process that prints them, shared by every
 * process that runs jobs (this one and the workers a strategy forks).
 *
 * Why a spool, not a named file per output nor fd passing: a forking
 * strategy's worker must hand a big output to the consuming process. A
 * named temporary file does that, but outlives a kill -9 of either side
 * (issue 13, #14: 171 MB left after three). Passing the spill fd itself
 * (SCM_RIGHTS on a side channel, pidfd_getfd) needs a channel drained
 * while the consumer waits in input order, or a worker that lives until
 * its fd was taken, and holds one open fd per waiting output (-k behind
 * one slow job: thousands, past ulimit -n). The spool is opened
 * (O_TMPFILE, never named) before the strategy forks, so every worker
 * inherits the same file and a shared record of its end: a worker
 * reserves a range under a process-shared lock, writes the output there and
 * sends (spool id, offset, length) as wire bytes; the consumer reads the
 * range and punches it out, so the disk holds only outputs not yet
 * printed. Having no name, it is freed by the kernel with the last
 * process of the run, however that ends.
 *
 * A process that did not inherit the spool (an MPI rank started by
 * mpirun runs the tool itself) has a spool of its own that the consumer
 * cannot read: ctk_spool_reaches says whether a put here can be redeemed,
 * and the consumer checks the id.
 */
#ifndef CTK_SPOOL_H
#define CTK_SPOOL_H

#include <stdint.h>

#include "ctkx/spawn.h"

typedef struct ctk_spool ctk_spool;

/* Made by the consuming process before anything forks. The file is made
 * at once in tmpdir (NULL: $TMPDIR, else /tmp); when that fails the run
 * still goes on, and only a put reports the error. */
ctk_spool *ctk_spool_new(const char *tmpdir);
void ctk_spool_free(ctk_spool *s);
/* Whether a put from this process reaches the consumer: in the process
 * that made the spool unless units run elsewhere (elsewhere: the
 * strategy's CTK_STRATEGY_PROCESSES, which a rank running the tool itself
 * also has), or in any process forked from it. */
int ctk_spool_reaches(const ctk_spool *s, int elsewhere);
/* Names the spool in results, so a range from another spool is refused. */
uint64_t ctk_spool_id(const ctk_spool *s);
/* Copies every byte the stream captured into a fresh range at *off
 * (st->bytes long). A negative code (the spool could not be made, a full
 * disk) leaves nothing reserved in use. Any thread, any forked process. */
int ctk_spool_put(ctk_spool *s, const ctk_spawn_stream *st, uint64_t *off);
/* The consumer's side: the range's bytes in order, in chunks; stops at
 * fn's first non-zero return. CTK_EIO for a range past the spool's end. */
int ctk_spool_foreach(ctk_spool *s, uint64_t off, uint64_t len, ctk_spawn_chunk_fn fn, void *arg);
/* The range written to fd (sendfile where it can), retrying short
 * writes and EAGAIN. */
int ctk_spool_copy(ctk_spool *s, uint64_t off, uint64_t len, int fd);
/* The spool's descriptor (-1 when it could not be made), for a
 * ctk_spawn_stream view of a range (spill_at): read it, never close it. */
int ctk_spool_fd(const ctk_spool *s);
/* Frees the range's disk space (a hole): done with it. Each range put
 * is released once (by the consumer, or by whoever gives up on it). */
void ctk_spool_release(ctk_spool *s, uint64_t off, uint64_t len);

/* --files (cpar, cpipe): a new file for one job's output, named as GNU
 * parallel names them (DIR/parXXXXXX.par; dir NULL: $TMPDIR, else /tmp),
 * opened for writing. Returns the fd and the name in *path (g_free), or
 * -errno with *path still set for the message. */
int ctk_spool_par_file(const char *dir, char **path);

#endif
