/*
 * closeout.c: the one place every tool's stdout is checked, at exit, the
 * way GNU tools do with close_stdout. Checking at exit covers every path
 * that wrote, --help and --version included, without each writer having
 * to know; tools that can stop early ask ctk_closeout_error() as they go.
 * on_exit (not atexit) so the handler sees main's status and only turns a
 * success into a failure.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctkx/closeout.h"

static const char *closeout_prog = "ctk";
static int closeout_failure = 1;
static int closeout_errno; /* first failed write, atomic */
static int closeout_told;  /* the tool printed the message itself */

void ctk_closeout_note(int err)
{
    int none = 0;
    if (err != 0)
        __atomic_compare_exchange_n(&closeout_errno, &none, err, 0, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST);
}

void ctk_closeout_reported(void)
{
    __atomic_store_n(&closeout_told, 1, __ATOMIC_SEQ_CST);
}

int ctk_closeout_flush(FILE *f)
{
    errno = 0;
    int rc = fflush(f);
    /* glibc retries a buffer whose write failed on the next flush, so a
     * failing flush names the cause; once the buffer is gone it cannot,
     * and EIO stands in. */
    if (rc != 0 || ferror(f)) {
        if (f == stdout)
            ctk_closeout_note(errno != 0 ? errno : EIO);
        return -1;
    }
    return 0;
}

int ctk_closeout_error(void)
{
    ctk_closeout_flush(stdout);
    return __atomic_load_n(&closeout_errno, __ATOMIC_SEQ_CST);
}

static void closeout(int status, void *arg)
{
    (void)arg;
    int err = ctk_closeout_error();
    /* Closing reports what a deferred write (NFS, a full quota) lost. */
    errno = 0;
    if (fclose(stdout) != 0 && err == 0 && errno != EBADF)
        err = errno != 0 ? errno : EIO;
    if (err == 0)
        return;
    if (err != EPIPE && !__atomic_load_n(&closeout_told, __ATOMIC_SEQ_CST))
        fprintf(stderr, "%s: write error: %s\n", closeout_prog, strerror(err));
    if (status == 0)
        _exit(err == EPIPE ? 128 + SIGPIPE : closeout_failure);
}

void ctk_closeout_init(const char *prog, int failure)
{
    closeout_prog = prog;
    closeout_failure = failure;
    on_exit(closeout, NULL);
}
