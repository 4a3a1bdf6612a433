/*
 * ctkx/joblog.h: GNU parallel's --joblog, shared by cpar and cpipe: its
 * header line, one line per finished job in parallel's exact layout, and
 * a log that --resume can trust (a torn last line is cut back).
 */
#ifndef CTKX_JOBLOG_H
#define CTKX_JOBLOG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct ctk_joblog_entry {
    uint64_t seq;
    double start;     /* seconds since the epoch */
    double runtime;   /* seconds */
    uint64_t send;    /* bytes given to the job's stdin (--pipe); else 0 */
    uint64_t receive; /* bytes of output */
    long long exit;   /* exit status */
    long long signal; /* the signal that ended it, or 0 */
    const char *cmd;  /* the command line as run */
    size_t cmd_len;
} ctk_joblog_entry;

/* Opens FILE, appending (--resume, +FILE) or truncating; an appended log
 * whose last line was torn is cut back to its last newline. The header
 * is written when the log is empty. NULL with errno set. */
FILE *ctk_joblog_open(const char *path, int append);
/* --joblog -: the log on stdout (a dup of fd 1), header first, each line
 * flushed after the job's output. NULL with errno set. */
FILE *ctk_joblog_open_stdout(void);
/* Writes and flushes one line. On failure (a full disk) the log is cut
 * back to its last whole line and -errno returned: the caller logs no
 * more, so --resume reruns this job and every later one. */
int ctk_joblog_write(FILE *f, const ctk_joblog_entry *e);

#endif
