/*
 * fuzz-colsep.c: cpar --colsep REGEX (libshared/ctkx/sources.c): every ::: value
 * split into columns where the regex matches.
 *
 * Input: the regex, NUL, then the values (NUL-separated).
 */
#include <assert.h>
#include <glib.h>

#include "fuzz.h"
#include "ctkx/sources.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz f = {data, size};
    char *regex = fz_str(&f);
    GPtrArray *words = g_ptr_array_new_with_free_func(g_free);
    while (f.left > 0 && words->len < 16)
        g_ptr_array_add(words, fz_str(&f));
    ctk_sources *s = NULL;
    char err[256];
    if (ctk_sources_new(&s, '\n') == 0) {
        ctk_sources_add_words(s, (char *const *)words->pdata, words->len, 0);
        if (ctk_sources_set_colsep(s, regex, err, sizeof err) == 0) {
            ctk_item item = {0};
            int nul = 0;
            while (ctk_sources_next(s, &item, &nul, NULL) == 0)
                for (size_t i = 0; i < item.n; i++)
                    assert(item.cols[i][item.lens[i]] == '\0');
            ctk_item_clear(&item);
        } else {
            assert(err[0] != '\0');
        }
        ctk_sources_free(s);
    }
    g_ptr_array_free(words, TRUE);
    g_free(regex);
    return 0;
}
