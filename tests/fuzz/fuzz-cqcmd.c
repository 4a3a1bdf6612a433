/*
 * fuzz-cqcmd.c: cqueue's `add - --cmd TEMPLATE`: the template parsed as one
 * word (tools/cqueue/cqcmd.c) and filled with each input line as
 * tools/cqueue/jobadd.c fills it: one column, {#} the line number.
 *
 * Input: the template, NUL, then the lines (newline-separated).
 */
#include <assert.h>
#include <glib.h>
#include <stdlib.h>

#include "ctkx/cmdline.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz f = {data, size};
    char *tpl_text = fz_str(&f);
    char *words[] = {tpl_text};
    ctk_cmdline *tpl = NULL;
    char err[1024];
    if (ctk_cmdline_parse(&tpl, words, 1, NULL, 0, err, sizeof err) == 0) {
        uint64_t seq = 0;
        for (const uint8_t *p = f.p, *end = f.p + f.left; p < end;) {
            const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
            size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
            seq++;
            /* jobadd skips a line with a NUL byte before the template. */
            if (memchr(p, '\0', len) == NULL) {
                char *item = malloc(len > 0 ? len : 1);
                memcpy(item, p, len);
                ctk_cmdline_item col = {item, len};
                ctk_cmdline_args a = {&col, 1, seq, 1};
                ctk_buf line = {0};
                char **argv = NULL;
                assert(ctk_cmdline_render(tpl, &a, &line, &argv) == 0);
                ctk_cmdline_argv_free(argv);
                ctk_buf_free(&line);
                free(item);
            }
            p += len + (nl != NULL);
        }
        ctk_cmdline_free(tpl);
    }
    g_free(tpl_text);
    return 0;
}
