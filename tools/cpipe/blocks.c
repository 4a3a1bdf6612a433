/* blocks.c: record boundaries for cpipe, literal (memrchr/memmem: the
 * common newline case costs one backward scan of a few bytes) or by
 * regular expression (GRegex on raw bytes). */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blocks.h"

struct ctk_blocks {
    char *sep; /* literal: recend followed by recstart */
    size_t sep_len;
    size_t end_len; /* the boundary lies this far into sep */
    GRegex *re;     /* regexp: a match's start is the boundary */
    /* --rrs with --regexp: recend+recstart anywhere, recstart leading,
     * recend trailing. */
    GRegex *strip_re[3];
    GRegex *start_re; /* regexp: recstart, anchored (-N's garbage record) */
    uint64_t fixed;
    int csv; /* --csv: newlines outside quotes */
};

static char *regex_pattern(const ctk_blocks_opts *o, const char *end, size_t end_len)
{
    GString *p = g_string_new(NULL);
    if (end_len > 0)
        g_string_append_printf(p, "(?:%.*s)\\K", (int)end_len, end);
    if (o->recstart_len > 0)
        g_string_append_printf(p, "(?=(?:%.*s))", (int)o->recstart_len, o->recstart);
    return g_string_free(p, FALSE);
}

static int compile_regex(ctk_blocks *b, const ctk_blocks_opts *o, const char *end, size_t end_len,
                         char *err, size_t err_len)
{
    if (memchr(end, '\0', end_len) != NULL ||
        (o->recstart_len > 0 && memchr(o->recstart, '\0', o->recstart_len) != NULL)) {
        snprintf(err, err_len, "a regular expression cannot hold a NUL byte (use \\x00)");
        return CTK_EINVAL;
    }
    char *pattern = regex_pattern(o, end, end_len);
    GError *gerr = NULL;
    /* Perl's /m, as GNU parallel's: ^ and $ at \n only (GLib 2.74 also
     * takes \r, \v, \f and 0x85 for line ends unless told). */
    b->re = g_regex_new(
        pattern, G_REGEX_RAW | G_REGEX_MULTILINE | G_REGEX_NEWLINE_LF | G_REGEX_OPTIMIZE, 0, &gerr);
    g_free(pattern);
    if (b->re == NULL) {
        snprintf(err, err_len, "bad regular expression: %s", gerr->message);
        g_error_free(gerr);
        return CTK_EINVAL;
    }
    if (o->recstart_len > 0) {
        /* It compiled inside the whole pattern, so it compiles alone. */
        char *start = g_strdup_printf("(?:%.*s)", (int)o->recstart_len, o->recstart);
        b->start_re = g_regex_new(
            start, G_REGEX_RAW | G_REGEX_MULTILINE | G_REGEX_NEWLINE_LF | G_REGEX_ANCHORED, 0,
            NULL);
        g_free(start);
    }
    if (!o->strip)
        return 0;
    /* parallel's remove_rec_sep: s/$recend$recstart//gom, s/^$recstart//os,
     * s/$recend$//os. Without /m, $ is also before a final newline. */
    const char *start = o->recstart_len > 0 ? o->recstart : "";
    int start_len = (int)o->recstart_len;
    char *strip[3] = {
        g_strdup_printf("(?:%.*s)(?:%.*s)", (int)end_len, end, start_len, start),
        g_strdup_printf("^(?:%.*s)", start_len, start),
        g_strdup_printf("(?:%.*s)$", (int)end_len, end),
    };
    for (int i = 0; i < 3; i++) {
        /* /m for the first, /s for the others, as parallel writes them. */
        GRegexCompileFlags mode = i == 0 ? G_REGEX_MULTILINE : G_REGEX_DOTALL;
        b->strip_re[i] = g_regex_new(strip[i], G_REGEX_RAW | G_REGEX_NEWLINE_LF | mode, 0, NULL);
        g_free(strip[i]);
    }
    return 0;
}

/* GNU parallel reads --recend '\n\n' or '\t' as the bytes, not as
 * backslashes: \n \t \r \0 \\ and \xHH are decoded (a regexp keeps
 * them for PCRE). out holds at least len bytes; returns its length. */
static size_t unescape(const char *in, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] != '\\' || i + 1 == len) {
            out[n++] = in[i];
            continue;
        }
        char c = in[++i];
        if (c == 'x' && i + 2 < len && g_ascii_isxdigit(in[i + 1]) && g_ascii_isxdigit(in[i + 2])) {
            out[n++] =
                (char)(g_ascii_xdigit_value(in[i + 1]) * 16 + g_ascii_xdigit_value(in[i + 2]));
            i += 2;
            continue;
        }
        const char *from = "nt0r\\", *to = "\n\t\0\r\\";
        const char *at = c != '\0' ? strchr(from, c) : NULL;
        if (at != NULL) {
            out[n++] = to[at - from];
        } else { /* not an escape we know: kept as typed */
            out[n++] = '\\';
            out[n++] = c;
        }
    }
    return n;
}

int ctk_blocks_new(ctk_blocks **out, const ctk_blocks_opts *o, char *err, size_t err_len)
{
    ctk_blocks *b = calloc(1, sizeof *b);
    if (b == NULL)
        return CTK_ENOMEM;
    const char *end = o->recend;
    size_t end_len = o->recend_len;
    if (end == NULL) {
        end = o->recstart_len > 0 ? "" : "\n";
        end_len = o->recstart_len > 0 ? 0 : 1;
    }
    b->fixed = o->fixed;
    b->csv = o->csv;
    if (b->csv) { /* the newline, as a literal rule for ctk_blocks_strip and -N */
        end = "\n";
        end_len = 1;
        b->fixed = 0;
    }
    int rc = 0;
    if (b->fixed == 0 && end_len == 0 && o->recstart_len == 0) {
        snprintf(err, err_len, "the record separator is empty (give --recend or --recstart)");
        rc = CTK_EINVAL;
    } else if (b->fixed == 0 && o->regexp) {
        rc = compile_regex(b, o, end, end_len, err, err_len);
    } else if (b->fixed == 0) {
        b->sep = malloc(end_len + o->recstart_len + 1);
        if (b->sep == NULL) {
            rc = CTK_ENOMEM;
        } else {
            b->end_len = unescape(end, end_len, b->sep);
            b->sep_len = b->end_len;
            if (o->recstart_len > 0) /* recstart may be NULL */
                b->sep_len += unescape(o->recstart, o->recstart_len, b->sep + b->end_len);
        }
    }
    if (rc < 0) {
        ctk_blocks_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

void ctk_blocks_free(ctk_blocks *b)
{
    if (b == NULL)
        return;
    if (b->re != NULL)
        g_regex_unref(b->re);
    if (b->start_re != NULL)
        g_regex_unref(b->start_re);
    for (int i = 0; i < 3; i++)
        if (b->strip_re[i] != NULL)
            g_regex_unref(b->strip_re[i]);
    free(b->sep);
    free(b);
}

/* The start of the last occurrence of sep that starts in [0, limit) and
 * fits in data[0, len), or -1. */
static ptrdiff_t last_sep(const ctk_blocks *b, const char *data, size_t len, size_t limit)
{
    if (len < b->sep_len)
        return -1;
    if (limit > len - b->sep_len + 1)
        limit = len - b->sep_len + 1;
    const char *p = data + limit;
    while (p > data) {
        p = memrchr(data, b->sep[0], (size_t)(p - data));
        if (p == NULL)
            return -1;
        if (memcmp(p, b->sep, b->sep_len) == 0)
            return p - data;
    }
    return -1;
}

/* GNU parallel's pass(): the last separator wholly inside data[0, len). */
static size_t cut_literal(const ctk_blocks *b, const char *data, size_t len)
{
    ptrdiff_t i = last_sep(b, data, len, len);
    return i >= 0 ? (size_t)i + b->end_len : 0;
}

/* GNU parallel's pass_csv_record: the last newline in data[0, len)
 * with an even number of '"' before it (so outside a quoted field,
 * counting from a boundary), or 0. Outside quotes the last newline
 * before the next '"' is a boundary; inside, the next '"' closes. */
static size_t cut_csv(const char *data, size_t len)
{
    size_t last = 0;
    const char *p = data, *end = data + len;
    for (;;) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        const char *nl = memrchr(p, '\n', (size_t)((q != NULL ? q : end) - p));
        if (nl != NULL)
            last = (size_t)(nl - data) + 1;
        if (q == NULL)
            return last;
        const char *close = memchr(q + 1, '"', (size_t)(end - q - 1));
        if (close == NULL)
            return last;
        p = close + 1;
    }
}

/* The boundary of the last match in data[0, len) (a lookahead for
 * recstart sees no further than len), or 0.
 *
 * Every match of the pattern is empty (\K, a lookahead), and GLib 2.74
 * steps past an empty match at the search's start by reading the byte
 * there, data[len] when the match is at the end: one byte past a
 * mapped --pipepart file. Each search starts at the last match instead,
 * with NOTEMPTY_ATSTART, so GLib never takes that step. */
static size_t cut_regex(const ctk_blocks *b, const char *data, size_t len)
{
    size_t best = 0;
    for (;;) {
        GMatchInfo *m = NULL;
        gint start = -1, end = -1;
        if (g_regex_match_full(b->re, data, (gssize)len, (gint)best, G_REGEX_MATCH_NOTEMPTY_ATSTART,
                               &m, NULL))
            g_match_info_fetch_pos(m, 0, &start, &end);
        g_match_info_free(m);
        if (start <= (gint)best)
            return best;
        best = (size_t)start;
    }
}

size_t ctk_blocks_cut(const ctk_blocks *b, const char *data, size_t len, size_t want)
{
    if (want > len)
        want = len;
    if (b->fixed > 0)
        return (size_t)(want / b->fixed * b->fixed);
    if (b->csv)
        return cut_csv(data, want);
    return b->re != NULL ? cut_regex(b, data, want) : cut_literal(b, data, want);
}

int ctk_blocks_next(const ctk_blocks *b, const char *data, size_t len, size_t from, size_t *cut)
{
    if (b->fixed > 0) {
        uint64_t c = from <= b->fixed ? b->fixed : (from + b->fixed - 1) / b->fixed * b->fixed;
        *cut = (size_t)c;
        return c <= len;
    }
    if (b->re != NULL) {
        GMatchInfo *m = NULL;
        int found = 0;
        if (from < len && g_regex_match_full(b->re, data, (gssize)len, (gint)from, 0, &m, NULL)) {
            gint start, end;
            g_match_info_fetch_pos(m, 0, &start, &end);
            *cut = (size_t)start;
            found = 1;
        }
        g_match_info_free(m);
        return found;
    }
    if (from >= len || len - from < b->sep_len)
        return 0;
    const char *p = memmem(data + from, len - from, b->sep, b->sep_len);
    if (p == NULL)
        return 0;
    *cut = (size_t)(p - data) + b->end_len;
    return 1;
}

/* The length of the recstart that begins at `at`, or 0. */
static size_t start_len(const ctk_blocks *b, const char *data, size_t len, size_t at)
{
    GMatchInfo *m = NULL;
    gint start = 0, end = 0;
    if (b->start_re != NULL && at < len &&
        g_regex_match_full(b->start_re, data, (gssize)len, (gint)at, 0, &m, NULL))
        g_match_info_fetch_pos(m, 0, &start, &end);
    g_match_info_free(m);
    return end > start ? (size_t)(end - start) : 0;
}

/* GNU's pass_n_regexps: a record is recstart, then anything up to the
 * first recend followed by recstart, so a record's recend is looked for
 * only past its own recstart. */
static int nth_regex(const ctk_blocks *b, const char *data, size_t len, uint64_t n, size_t *cut)
{
    size_t at = 0, c = 0;
    for (uint64_t i = 0; i < n; i++) {
        size_t from = at + start_len(b, data, len, at);
        if (!ctk_blocks_next(b, data, len, from, &c))
            return 0;
        /* A recend that matches nothing must not find the same cut. */
        if (c <= at && !ctk_blocks_next(b, data, len, at + 1, &c))
            return 0;
        at = c;
    }
    *cut = c;
    return 1;
}

int ctk_blocks_nth(const ctk_blocks *b, const char *data, size_t len, uint64_t n, size_t *cut)
{
    if (b->fixed > 0) {
        if (n > len / b->fixed)
            return 0;
        *cut = (size_t)(n * b->fixed);
        return 1;
    }
    if (b->re != NULL)
        return nth_regex(b, data, len, n, cut);
    /* GNU's nindex: each search starts one past the previous
     * separator's start, the first at 1. */
    size_t from = 1, c = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (!ctk_blocks_next(b, data, len, from, &c))
            return 0;
        from = c - b->end_len + 1;
    }
    *cut = c;
    return 1;
}

size_t ctk_blocks_garbage(const ctk_blocks *b, const char *data, size_t len)
{
    size_t c = 0;
    if (b->start_re == NULL)
        return 0;
    /* Anchored at 0; a lookahead sees no further than len. */
    if (g_regex_match_full(b->start_re, data, (gssize)len, 0, 0, NULL, NULL))
        return 0;
    return ctk_blocks_next(b, data, len, 0, &c) ? c : 0;
}

size_t ctk_blocks_lines_cut(const char *data, size_t len, uint64_t lines)
{
    uint64_t n = 0;
    for (const char *p = data, *end = data + len; (p = memchr(p, '\n', (size_t)(end - p))); p++)
        n++;
    n -= n % lines;
    if (n == 0)
        return 0;
    size_t off = 0;
    for (uint64_t i = 0; i < n; i++)
        off = (size_t)((const char *)memchr(data + off, '\n', len - off) - data) + 1;
    return off;
}

size_t ctk_blocks_reach(const ctk_blocks *b)
{
    if (b->fixed > 0)
        return 0;
    return b->re != NULL || b->csv ? SIZE_MAX : b->sep_len;
}

size_t ctk_blocks_header_end(const char *data, size_t len, uint64_t n)
{
    size_t off = 0;
    for (uint64_t i = 0; i < n; i++) {
        const char *nl = memchr(data + off, '\n', len - off);
        if (nl == NULL)
            return 0;
        off = (size_t)(nl - data) + 1;
    }
    return off;
}

/* ---- --rrs ------------------------------------------------------------------ */

/* Appends s[0, len) without its non-empty matches of re (all of them, or
 * the first only; an empty one removes nothing). s[len] must be
 * readable: GLib may look at it. */
static int strip_matches(const GRegex *re, int global, const char *s, size_t len, ctk_buf *out)
{
    size_t from = 0;
    int rc = 0;
    while (rc == 0 && from < len) {
        GMatchInfo *m = NULL;
        gint start = -1, end = -1;
        if (g_regex_match_full(re, s, (gssize)len, (gint)from, G_REGEX_MATCH_NOTEMPTY, &m, NULL))
            g_match_info_fetch_pos(m, 0, &start, &end);
        g_match_info_free(m);
        if (start < 0 || end <= start)
            break;
        rc = ctk_buf_append(out, s + from, (size_t)start - from);
        from = (size_t)end;
        if (!global)
            break;
    }
    return rc == 0 ? ctk_buf_append(out, s + from, len - from) : rc;
}

static int strip_regex(const ctk_blocks *b, const char *data, size_t len, ctk_buf *out)
{
    /* Each pass reads the last one's result, NUL-ended for GLib. */
    ctk_buf pass[2] = {{0}, {0}};
    const char *in = data;
    size_t in_len = len;
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        ctk_buf *to = i == 2 ? out : &pass[i];
        size_t before = to->len;
        if (b->strip_re[i] == NULL) /* did not compile: nothing to remove */
            rc = ctk_buf_append(to, in, in_len);
        else
            rc = strip_matches(b->strip_re[i], i == 0, in, in_len, to);
        if (i == 2 || rc < 0)
            break;
        rc = ctk_buf_append(to, "", 1);
        in = (const char *)to->data + before;
        in_len = to->len - before - 1;
    }
    ctk_buf_free(&pass[0]);
    ctk_buf_free(&pass[1]);
    return rc;
}

int ctk_blocks_strip(const ctk_blocks *b, const char *data, size_t len, ctk_buf *out)
{
    if (len == 0) /* nothing to strip (and data may be NULL) */
        return 0;
    if (b->re != NULL) {
        /* The regexps may look one byte past their subject. */
        ctk_buf copy = {0};
        int rc = ctk_buf_append(&copy, data, len);
        if (rc == 0)
            rc = ctk_buf_append(&copy, "", 1);
        if (rc == 0)
            rc = strip_regex(b, (const char *)copy.data, len, out);
        ctk_buf_free(&copy);
        return rc;
    }
    if (b->sep_len == 0) /* --fixed: records have no separator */
        return ctk_buf_append(out, data, len);
    size_t base = out->len;
    int rc = 0;
    /* Every recend+recstart, left to right. */
    for (size_t pos = 0; rc == 0;) {
        const char *hit = memmem(data + pos, len - pos, b->sep, b->sep_len);
        size_t stop = hit != NULL ? (size_t)(hit - data) : len;
        rc = ctk_buf_append(out, data + pos, stop - pos);
        if (hit == NULL)
            break;
        pos = stop + b->sep_len;
    }
    if (rc < 0 || out->len == base) /* an error, or nothing left (data may be NULL) */
        return rc;
    /* A leading recstart. */
    char *text = (char *)out->data + base;
    size_t text_len = out->len - base;
    const char *start = b->sep + b->end_len;
    size_t start_len = b->sep_len - b->end_len;
    if (start_len > 0 && text_len >= start_len && memcmp(text, start, start_len) == 0) {
        memmove(text, text + start_len, text_len - start_len);
        text_len -= start_len;
    }
    /* A trailing recend, Perl's $: the leftmost of just before a final
     * newline and at the very end. */
    size_t end_len = b->end_len;
    if (end_len > 0 && text_len >= end_len + 1 && text[text_len - 1] == '\n' &&
        memcmp(text + text_len - 1 - end_len, b->sep, end_len) == 0) {
        text[text_len - 1 - end_len] = '\n';
        text_len -= end_len;
    } else if (end_len > 0 && text_len >= end_len &&
               memcmp(text + text_len - end_len, b->sep, end_len) == 0) {
        text_len -= end_len;
    }
    out->len = base + text_len;
    return 0;
}
