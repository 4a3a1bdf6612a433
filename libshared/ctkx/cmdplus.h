/*
 * cmdplus.h (private to cmdline.c): GNU parallel's --plus replacement
 * strings that are not Perl of the user's: {+/} {+.} {+..} {+...} {..}
 * {...} {/..} {/...}, and the bash-like {:-str} {:n} {:n:m} {#re} {##re}
 * {%re} {%%re} {/re/str} {/#re/str} {/%re/str} {//re/str} {^re} {^^re}
 * {,re} {,,re}, each also positional ({2+/}). The keys are parallel's
 * own (their lengths order the search, as in parallel); each is applied
 * as the Perl substitutions parallel runs, with PCRE on bytes.
 * {##} {0#} {0%} (job values) are cmdline.c's.
 */
#ifndef CTK_CMDPLUS_H
#define CTK_CMDPLUS_H

#include <stddef.h>

#include "ctk/common.h"
#include "ctk/plugin.h"
#include "ctkx/cmdline.h"

typedef struct ctk_plus ctk_plus; /* one occurrence in a template */

/* parallel's key text of --plus string k (k < ctk_plus_n_keys()). */
size_t ctk_plus_n_keys(void);
const char *ctk_plus_key(size_t k);

/* Finds the leftmost match of key k (its positional form "{N...}" when
 * positional) in s[0, len). Returns 1 with *at and *mlen set, *digits and
 * *n_digits the position's number (positional only) and *out the
 * compiled occurrence; 0 when there is none; CTK_EINVAL with err set for
 * a regex that does not compile, or for a --plus string cpar does not
 * have ({slot}, {choose_k}, ...). */
int ctk_plus_find(size_t k, int positional, const char *s, size_t len, size_t *at, size_t *mlen,
                  size_t *digits, size_t *n_digits, ctk_plus **out, char *err, size_t err_len);
/* Appends the value of p for the column s[0, len) to out. */
int ctk_plus_apply(const ctk_plus *p, const char *s, size_t len, ctk_buf *out);
void ctk_plus_free(ctk_plus *p);
/* 1 when p is {uniq} and two of a job's arguments are the same, or
 * {choose_k} and they do not increase (byte order): GNU parallel skips
 * that job. */
int ctk_plus_skips(const ctk_plus *p, const ctk_cmdline_item *cols, size_t n);

#endif
