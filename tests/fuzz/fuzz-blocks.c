/*
 * fuzz-blocks.c: cpipe's record boundaries (tools/cpipe/blocks.c) under every
 * mode: --recend, --recstart, both, -0, --regexp, --fixed, --header N,
 * and what --rrs leaves of the data.
 *
 * Input: a mode byte, a block-size byte, a header-lines byte, then the
 * fields recend NUL recstart NUL, then the data to cut.
 */
#include <assert.h>
#include <glib.h>
#include <stdlib.h>

#include "blocks.h"
#include "fuzz.h"

enum { M_RECEND = 1, M_RECSTART = 2, M_REGEXP = 4, M_NULL = 8, M_FIXED = 16 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz f = {data, size};
    unsigned mode = fz_byte(&f);
    size_t want = fz_byte(&f) + 1;
    uint64_t header = fz_byte(&f) % 8;
    char *recend = fz_str(&f);
    char *recstart = fz_str(&f);
    /* The data in a buffer of its exact size: a read past it is caught. */
    char *text = malloc(f.left > 0 ? f.left : 1);
    size_t len = f.left;
    memcpy(text, f.p, len);

    ctk_blocks_opts o = {0};
    if (mode & M_RECEND) {
        o.recend = recend;
        o.recend_len = strlen(recend);
    }
    if (mode & M_NULL) { /* -0, as cpipe's main sets it */
        o.recend = "";
        o.recend_len = 1;
    }
    if (mode & M_RECSTART) {
        o.recstart = recstart;
        o.recstart_len = strlen(recstart);
    }
    o.regexp = (mode & M_REGEXP) != 0;
    o.strip = 1;
    if (mode & M_FIXED) {
        o.fixed = want;
        o.recend = o.recstart = NULL;
        o.recend_len = o.recstart_len = 0;
        o.regexp = 0;
    }

    size_t hdr = ctk_blocks_header_end(text, len, header);
    assert(hdr <= len);
    assert(hdr == 0 || text[hdr - 1] == '\n');

    ctk_blocks *b = NULL;
    char err[256];
    if (ctk_blocks_new(&b, &o, err, sizeof err) == 0) {
        size_t reach = ctk_blocks_reach(b);
        /* Cut the data into blocks as cpipe does: every cut is inside the
         * bytes left and moves on. */
        for (size_t pos = hdr; pos < len;) {
            size_t cut = ctk_blocks_cut(b, text + pos, len - pos, want);
            assert(cut <= len - pos);
            if (cut == 0)
                break;
            /* A literal cut found in a window that reaches far enough
             * past it is the cut of the whole. */
            if (reach != SIZE_MAX && o.fixed == 0 && cut + reach < len - pos && cut <= want) {
                size_t window = cut + reach;
                assert(ctk_blocks_cut(b, text + pos, window, want) == cut);
            }
            pos += cut;
        }
        /* -N: the leading record and every n-th cut lie inside the data
         * and move on (cpipe's -N loop relies on both). */
        size_t garbage = ctk_blocks_garbage(b, text + hdr, len - hdr);
        assert(garbage <= len - hdr);
        for (size_t pos = hdr + garbage, c = 0;
             pos < len && ctk_blocks_nth(b, text + pos, len - pos, want % 8 + 1, &c);) {
            assert(c > 0 && c <= len - pos);
            pos += c;
        }
        /* --rrs only ever removes bytes. */
        ctk_buf stripped = {0};
        int stripped_rc = ctk_blocks_strip(b, text + hdr, len - hdr, &stripped);
        assert(stripped_rc == 0);
        assert(stripped.len <= len - hdr);
        ctk_buf_free(&stripped);
        ctk_blocks_free(b);
    }
    free(text);
    g_free(recend);
    g_free(recstart);
    return 0;
}
