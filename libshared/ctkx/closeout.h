/*
 * ctkx/closeout.h: no write to stdout goes unchecked. A tool calls
 * ctk_closeout_init() first thing in main; at exit the handler flushes and
 * closes stdout (as GNU's close_stdout does), and a write that failed
 * anywhere in the run, through stdio or on fd 1 directly, becomes
 * "cmd: write error: REASON" on stderr and a failure status, even when
 * main returned 0. EPIPE stays quiet: a reader that went away is no error
 * to report, only a status (128 + SIGPIPE, as a writer SIGPIPE killed).
 */
#ifndef CTK_CLOSEOUT_H
#define CTK_CLOSEOUT_H

#include <stdio.h>

/* prog: the message prefix. failure: the exit status for a write error
 * when main returned 0 (the tool's status for "another error"). */
void ctk_closeout_init(const char *prog, int failure);
/* A write to stdout that did not go through the stdio stream failed with
 * err (an errno; 0 is ignored). The first one is the one reported. */
void ctk_closeout_note(int err);
/* fflush(f) for a stream that may be stdout: a failure there is noted
 * with its errno while glibc still knows it. -1 when f failed. */
int ctk_closeout_flush(FILE *f);
/* Flushes stdout and returns the errno of the first failed write to it
 * (EIO when stdio lost it), or 0: lets a tool stop early. */
int ctk_closeout_error(void);
/* The tool printed its own message for the failed write: the handler
 * only sets the status. */
void ctk_closeout_reported(void);

#endif
