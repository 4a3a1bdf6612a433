/*
 * fuzz-joblog.c: cpar's joblog reader (--resume, --resume-failed in
 * tools/cpar/par.c), which reads a file that a killed run, a full disk or
 * a person may have left in any state.
 *
 * Input: a mode byte (--resume or --resume-failed), then the joblog.
 */
#include <assert.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "par.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz f = {data, size};
    int resume = fz_byte(&f) % 2 + 1;
    int fd = memfd_create("fuzz-joblog", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t put = f.left > 0 ? write(fd, f.p, f.left) : 0;
    assert(put == (ssize_t)f.left);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ctk_par_opts o = {.jobs = 1, .resume = resume, .joblog_path = path};
    ctk_par *p = NULL;
    char err[512] = "";
    int rc = ctk_par_new(&p, &o, err, sizeof err);
    if (rc == 0)
        ctk_par_free(p);
    else
        assert(rc != CTK_EINVAL || err[0] != '\0');
    close(fd);
    return 0;
}
