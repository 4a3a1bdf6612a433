/* joblog.c: GNU parallel's joblog (joblog.h). */
#include <errno.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "ctkx/joblog.h"

#define HEADER "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n"

/* A joblog whose last line was torn (a crash, a full disk) ends without
 * a newline: --resume reruns that job, and the line it appends must not
 * be glued to the torn one, so the log is cut back to its last newline. */
static void cut_torn_line(FILE *f)
{
    int fd = fileno(f);
    off_t end = lseek(fd, 0, SEEK_END);
    char buf[4096];
    while (end > 0) {
        off_t from = end > (off_t)sizeof buf ? end - (off_t)sizeof buf : 0;
        ssize_t n = pread(fd, buf, (size_t)(end - from), from);
        if (n != end - from)
            return;
        char *nl = memrchr(buf, '\n', (size_t)n);
        if (nl != NULL || from == 0) {
            off_t keep = nl != NULL ? from + (nl - buf) + 1 : 0;
            /* On failure a reader of the log still ignores the torn line. */
            if (keep != lseek(fd, 0, SEEK_END) && ftruncate(fd, keep) < 0)
                return;
            return;
        }
        end = from;
    }
}

FILE *ctk_joblog_open(const char *path, int append)
{
    FILE *f = fopen(path, append ? "a+" : "w");
    if (f != NULL && append)
        cut_torn_line(f);
    if (f != NULL && ftell(f) == 0)
        fputs(HEADER, f);
    if (f != NULL)
        fflush(f);
    return f;
}

FILE *ctk_joblog_open_stdout(void)
{
    int fd = dup(STDOUT_FILENO);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL && fd >= 0)
        close(fd);
    if (f != NULL) {
        fputs(HEADER, f);
        fflush(f);
    }
    return f;
}

int ctk_joblog_write(FILE *f, const ctk_joblog_entry *e)
{
    /* parallel's exact layout: %.3f start, %10.3f runtime. */
    off_t before = lseek(fileno(f), 0, SEEK_END);
    errno = 0;
    int n = fprintf(f, "%llu\t:\t%.3f\t%10.3f\t%llu\t%llu\t%lld\t%lld\t",
                    (unsigned long long)e->seq, e->start, e->runtime, (unsigned long long)e->send,
                    (unsigned long long)e->receive, e->exit, e->signal);
    /* A newline in the command is a NUL byte there, as GNU parallel
     * writes it: one job, one line (--retry-failed reads it back). */
    for (size_t i = 0; n >= 0 && i < e->cmd_len; i++)
        if (fputc(e->cmd[i] == '\n' ? '\0' : e->cmd[i], f) == EOF)
            n = -1;
    if (n >= 0 && fputc('\n', f) == EOF)
        n = -1;
    if (n >= 0 && fflush(f) == 0)
        return 0;
    int err = errno != 0 ? errno : EIO;
    if (before >= 0 && ftruncate(fileno(f), before) < 0) {
        /* a reader of the log ignores a torn last line too */
    }
    return -err;
}
