/*
 * fuzz.h: what every fuzz target shares. A target defines
 * LLVMFuzzerTestOneInput; driver.c runs it under libFuzzer (configure
 * --enable-fuzzing) or, in every other build, replays the seed corpus so
 * that `make check` keeps the corpus (crashes found once included)
 * passing.
 *
 * Targets carve their input with the fz_* helpers: option bytes first,
 * then NUL-separated fields, so one input exercises a whole option set
 * and its seeds stay readable.
 */
#ifndef CTK_FUZZ_H
#define CTK_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fz {
    const uint8_t *p;
    size_t left;
} fz;

/* The next byte, 0 once the input is used up. */
static inline unsigned fz_byte(fz *f)
{
    if (f->left == 0)
        return 0;
    f->left--;
    return *f->p++;
}

/* The next field: the bytes up to a NUL (or the end), the NUL skipped.
 * Points into the input: not NUL-terminated. */
static inline const char *fz_field(fz *f, size_t *len)
{
    const char *s = (const char *)f->p;
    const uint8_t *nul = f->left > 0 ? memchr(f->p, '\0', f->left) : NULL;
    *len = nul != NULL ? (size_t)(nul - f->p) : f->left;
    size_t used = nul != NULL ? *len + 1 : *len;
    f->p += used;
    f->left -= used;
    return s;
}

/* The next field as a malloc'd string (NUL-terminated; g_free). */
char *fz_str(fz *f);

#endif
