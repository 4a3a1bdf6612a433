/*
 * fuzz-sources.c: cpar's input sources (libshared/ctkx/sources.c): ::: words,
 * :::+ linked lists, a :::: file streamed first, -0, -n/-N, and --colsep,
 * combined as GNU parallel combines them.
 *
 * Input: a mode byte, a source-count byte, one byte per source (its word
 * count and whether it is linked), then NUL-separated fields: the
 * --colsep regex, the words; with a file source, the rest is the file.
 */
#include <assert.h>
#include <glib.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "ctkx/sources.h"

enum { M_NULL = 1, M_COLSEP = 8, M_FILE = 16 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz f = {data, size};
    unsigned mode = fz_byte(&f);
    size_t n_sources = fz_byte(&f) % 3 + 1;
    unsigned shape[3];
    for (size_t i = 0; i < n_sources; i++)
        shape[i] = fz_byte(&f);
    char *colsep = fz_str(&f);
    char delim = (mode & M_NULL) ? '\0' : '\n';

    ctk_sources *s = NULL;
    char err[256];
    if (ctk_sources_new(&s, delim) != 0) {
        g_free(colsep);
        return 0;
    }
    int fd = -1;
    if (mode & M_FILE) {
        /* Words come first in the input, the file's bytes last. */
        fd = memfd_create("fuzz-source", MFD_CLOEXEC);
    }
    for (size_t i = 0; i < n_sources; i++) {
        size_t n = shape[i] % 8;
        char **words = g_new0(char *, n + 1);
        for (size_t k = 0; k < n; k++)
            words[k] = fz_str(&f);
        ctk_sources_add_words(s, words, n, i > 0 && (shape[i] & 8));
        g_strfreev(words);
    }
    if (fd >= 0) {
        ssize_t put = f.left > 0 ? write(fd, f.p, f.left) : 0;
        assert(put == (ssize_t)f.left);
        lseek(fd, 0, SEEK_SET);
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ctk_sources_add_file(s, path, (mode & 32) != 0, err, sizeof err);
    }
    ctk_sources_set_per_job(s, (mode >> 1 & 3) + 1);
    if (mode & M_COLSEP)
        ctk_sources_set_colsep(s, colsep, err, sizeof err);

    ctk_item item = {0};
    int nul = 0;
    /* A cross product can be large: a few thousand jobs show the shape. */
    for (int jobs = 0; jobs < 4096 && ctk_sources_next(s, &item, &nul, NULL) == 0; jobs++)
        for (size_t i = 0; i < item.n; i++)
            assert(item.cols[i][item.lens[i]] == '\0');
    ctk_item_clear(&item);
    ctk_sources_free(s);
    if (fd >= 0)
        close(fd);
    g_free(colsep);
    return 0;
}
