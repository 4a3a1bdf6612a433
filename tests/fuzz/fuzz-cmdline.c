/*
 * fuzz-cmdline.c: cpar's command templates (libshared/ctkx/cmdline.c): the
 * replacement strings {} {.} {/} {//} {/.} {#} {%} {n...}, -I, -X, -m,
 * --shell, --tagstring, --plus's strings, and the quoting of the items
 * put in.
 *
 * Input: a flags byte, a word-count byte, a column-count byte, a seq
 * byte, then NUL-separated fields: the -I string (empty: none), the
 * words, the columns.
 */
#include <assert.h>
#include <glib.h>
#include <stdlib.h>

#include "ctkx/cmdline.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz f = {data, size};
    unsigned flags = fz_byte(&f) & 31; /* CTK_CMDLINE_PLUS is 16 */
    size_t n_words = fz_byte(&f) % 6;
    size_t n_cols = fz_byte(&f) % 5;
    uint64_t seq = fz_byte(&f) + 1;
    char *replace = fz_str(&f);
    char **words = g_new0(char *, n_words + 1);
    for (size_t i = 0; i < n_words; i++)
        words[i] = fz_str(&f);
    ctk_cmdline_item *cols = g_new0(ctk_cmdline_item, n_cols + 1);
    for (size_t i = 0; i < n_cols; i++) {
        size_t len;
        const char *s = fz_field(&f, &len);
        /* Each column in a buffer of its exact size. */
        char *copy = malloc(len > 0 ? len : 1);
        memcpy(copy, s, len);
        cols[i] = (ctk_cmdline_item){copy, len};
    }

    ctk_cmdline *t = NULL;
    char err[256];
    if (ctk_cmdline_parse(&t, words, n_words, replace[0] != '\0' ? replace : NULL, flags, err,
                          sizeof err) == 0) {
        int shell = ctk_cmdline_needs_shell(t);
        ctk_cmdline_set_totals(t, seq, (unsigned)(seq % 3 + 1));
        ctk_cmdline_args a = {cols, n_cols, seq, seq % 3 + 1};
        ctk_buf line = {0};
        char **argv = NULL;
        int rc = ctk_cmdline_render(t, &a, &line, &argv);
        if (rc == 0) {
            assert(line.data == NULL || line.data[line.len] == '\0');
            assert(!shell || argv == NULL);
        }
        ctk_cmdline_argv_free(argv);
        ctk_buf_free(&line);
        size_t base, per_arg;
        ctk_cmdline_fill_cost(t, &base, &per_arg);
        for (size_t i = 0; i < n_cols; i++)
            ctk_cmdline_arg_cost(t, &cols[i], seq, 1);
        ctk_cmdline_free(t);
    }
    for (size_t i = 0; i < n_cols; i++) {
        ctk_buf q = {0};
        ctk_cmdline_quote(&q, cols[i].data, cols[i].len);
        ctk_buf_free(&q);
        free((void *)cols[i].data);
    }
    g_free(cols);
    g_strfreev(words);
    g_free(replace);
    return 0;
}
