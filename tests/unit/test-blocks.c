/* test-blocks.c: record boundaries for every record mode, a record bigger
 * than the block, and (against a brute-force reference) the cut for every
 * block size on random data, literal and regexp alike. */
#include <glib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "blocks.h"

static ctk_blocks *make(const char *end, size_t end_len, const char *start, int regexp,
                        uint64_t fixed)
{
    ctk_blocks_opts o = {.recend = end,
                         .recend_len = end_len,
                         .recstart = start,
                         .recstart_len = start ? strlen(start) : 0,
                         .regexp = regexp,
                         .fixed = fixed,
                         .strip = 1};
    ctk_blocks *b = NULL;
    char err[256];
    g_assert_cmpint(ctk_blocks_new(&b, &o, err, sizeof err), ==, 0);
    return b;
}

static size_t cut(const ctk_blocks *b, const char *s, size_t want)
{
    return ctk_blocks_cut(b, s, strlen(s), want);
}

static void test_newline(void)
{
    ctk_blocks *b = make(NULL, 0, NULL, 0, 0);
    const char *s = "aa\nbbbb\ncc\n";
    g_assert_cmpuint(cut(b, s, 3), ==, 3);
    g_assert_cmpuint(cut(b, s, 7), ==, 3);
    g_assert_cmpuint(cut(b, s, 8), ==, 8);
    g_assert_cmpuint(cut(b, s, 100), ==, 11);
    /* A record bigger than the block: no cut (parallel grows the block),
     * and --pipepart's cut is the first boundary after the size. */
    size_t c = 0;
    g_assert_cmpuint(cut(b, s, 1), ==, 0);
    g_assert_cmpuint(cut(b, "xxxxxxxx\ny", 2), ==, 0);
    g_assert_true(ctk_blocks_next(b, s, strlen(s), 1, &c));
    g_assert_cmpuint(c, ==, 3);
    g_assert_true(ctk_blocks_next(b, s, strlen(s), 3, &c));
    g_assert_cmpuint(c, ==, 8);
    g_assert_false(ctk_blocks_next(b, "xxxxxxxx", 8, 2, &c));
    /* No boundary yet: read more. */
    g_assert_cmpuint(cut(b, "no newline", 4), ==, 0);
    g_assert_cmpuint(cut(b, "", 4), ==, 0);
    ctk_blocks_free(b);
}

static void test_nul_records(void)
{
    ctk_blocks *b = make("", 1, NULL, 0, 0); /* -0: recend is one NUL byte */
    const char s[] = "a\0bb\0ccc\0";
    g_assert_cmpuint(ctk_blocks_cut(b, s, 9, 4), ==, 2);
    g_assert_cmpuint(ctk_blocks_cut(b, s, 9, 5), ==, 5);
    g_assert_cmpuint(ctk_blocks_cut(b, s, 9, 1), ==, 0);
    g_assert_cmpuint(ctk_blocks_cut(b, s, 9, 9), ==, 9);
    ctk_blocks_free(b);
}

/* --recend '\n\n', '\t', '\x1e' mean the bytes, as in GNU parallel; an
 * unknown escape and a regexp keep the backslash. */
static void test_escapes(void)
{
    ctk_blocks *b = make("\\n\\n", 4, NULL, 0, 0);
    g_assert_cmpuint(cut(b, "a\nb\n\nc\n\n", 6), ==, 5);
    ctk_blocks_free(b);
    b = make("\\x1e", 4, "\\t", 0, 0);
    g_assert_cmpuint(cut(b, "a\x1e\tb\x1e\tc", 3), ==, 2);
    ctk_blocks_free(b);
    b = make("\\q", 2, NULL, 0, 0);
    g_assert_cmpuint(cut(b, "a\\qb", 3), ==, 3);
    ctk_blocks_free(b);
    b = make("\\n", 2, NULL, 1, 0);
    g_assert_cmpuint(cut(b, "a\nb\n", 2), ==, 2);
    ctk_blocks_free(b);
}

/* What a windowed cut (cpipe's file path) may rely on. */
static void test_reach(void)
{
    ctk_blocks *b = make(NULL, 0, NULL, 0, 0);
    g_assert_cmpuint(ctk_blocks_reach(b), ==, 1);
    ctk_blocks_free(b);
    b = make("\\r\\n", 4, ">", 0, 0);
    g_assert_cmpuint(ctk_blocks_reach(b), ==, 3);
    ctk_blocks_free(b);
    b = make("\n", 1, NULL, 1, 0);
    g_assert_cmpuint(ctk_blocks_reach(b), ==, SIZE_MAX);
    ctk_blocks_free(b);
    b = make(NULL, 0, NULL, 0, 8);
    g_assert_cmpuint(ctk_blocks_reach(b), ==, 0);
    /* --fixed reads no data. */
    g_assert_cmpuint(ctk_blocks_cut(b, NULL, 100, 30), ==, 24);
    ctk_blocks_free(b);
}

static void test_recstart(void)
{
    ctk_blocks *b = make(NULL, 0, ">", 0, 0);
    const char *s = ">a\nb\n>c\n>d\n";
    /* The recstart must lie inside the block, as in parallel's buffer. */
    g_assert_cmpuint(cut(b, s, 9), ==, 8);
    g_assert_cmpuint(cut(b, s, 8), ==, 5);
    g_assert_cmpuint(cut(b, s, 7), ==, 5);
    /* A recstart at 0 is no boundary. */
    g_assert_cmpuint(cut(b, s, 2), ==, 0);
    size_t c = 0;
    g_assert_true(ctk_blocks_next(b, s, strlen(s), 1, &c));
    g_assert_cmpuint(c, ==, 5);
    /* -N counts from 1, as parallel's nindex. */
    g_assert_true(ctk_blocks_nth(b, s, strlen(s), 2, &c));
    g_assert_cmpuint(c, ==, 8);
    g_assert_false(ctk_blocks_nth(b, s, strlen(s), 3, &c));
    g_assert_cmpuint(cut(b, ">only\n", 2), ==, 0);
    ctk_blocks_free(b);
}

static void test_recend_and_recstart(void)
{
    ctk_blocks *b = make("}", 1, "{", 0, 0);
    const char *s = "{a}{b}x{c}{d}";
    /* "}x{" is no boundary: recstart must follow recend at once. */
    g_assert_cmpuint(cut(b, s, 9), ==, 3);
    g_assert_cmpuint(cut(b, s, 10), ==, 3);
    g_assert_cmpuint(cut(b, s, 11), ==, 10);
    /* The recstart must be visible: "{a}" alone may not be cut after. */
    g_assert_cmpuint(cut(b, "{a}", 3), ==, 0);
    ctk_blocks_free(b);
}

static void test_regexp(void)
{
    ctk_blocks *b = make("[0-9]+\n", 7, NULL, 1, 0);
    const char *s = "a1\nb\nc22\nd";
    g_assert_cmpuint(cut(b, s, 6), ==, 3);
    g_assert_cmpuint(cut(b, s, 9), ==, 9);
    g_assert_cmpuint(cut(b, s, 2), ==, 0);
    ctk_blocks_free(b);
    b = make(NULL, 0, "^>", 1, 0);
    g_assert_cmpuint(cut(b, ">a\n>b\n", 4), ==, 3);
    ctk_blocks_free(b);
}

/* Perl's /m: a regexp's ^ and $ are at \n only, not at \r, \v or \f. */
static void test_regexp_line_ends(void)
{
    ctk_blocks *b = make(NULL, 0, "^", 1, 0);
    g_assert_cmpuint(cut(b, "a\rb\vc\fd\ne", 9), ==, 8);
    g_assert_cmpuint(cut(b, "a\rb\vc\fd", 7), ==, 0);
    ctk_blocks_free(b);
}

/* An empty match at the very end of the data (here at a page GLib must
 * not touch: the end of a mapped --pipepart file) is found without a read
 * past it. The fuzzer found GLib stepping over such a match by reading
 * the next byte. */
static void test_regexp_at_mapping_end(void)
{
    long page = sysconf(_SC_PAGESIZE);
    char *map =
        mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    g_assert_true(map != MAP_FAILED);
    g_assert_cmpint(mprotect(map + page, (size_t)page, PROT_NONE), ==, 0);
    const char *text = "ab\ncd\n";
    size_t len = strlen(text);
    char *data = map + page - len;
    memcpy(data, text, len);
    const char *rules[][2] = {{NULL, "$"}, {"\n", NULL}, {"", "$"}, {"d*", NULL}};
    size_t want[] = {6, 6, 6, 6};
    for (size_t i = 0; i < G_N_ELEMENTS(rules); i++) {
        const char *end = rules[i][0];
        ctk_blocks *b = make(end, end ? strlen(end) : 0, rules[i][1], 1, 0);
        g_assert_cmpuint(ctk_blocks_cut(b, data, len, len), ==, want[i]);
        for (size_t from = 0; from < len; from++)
            g_assert_cmpuint(ctk_blocks_cut(b, data + from, len - from, len), <=, len - from);
        ctk_blocks_free(b);
    }
    munmap(map, (size_t)page * 2);
}

static char *strip(const ctk_blocks *b, const char *s)
{
    ctk_buf out = {0};
    g_assert_cmpint(ctk_blocks_strip(b, s, strlen(s), &out), ==, 0);
    char *text = g_strndup(out.data != NULL ? (const char *)out.data : "", out.len);
    ctk_buf_free(&out);
    return text;
}

#define assert_strip(b, in, want)                                                                  \
    do {                                                                                           \
        char *got_ = strip(b, in);                                                                 \
        g_assert_cmpstr(got_, ==, want);                                                           \
        g_free(got_);                                                                              \
    } while (0)

/* --rrs, literal and regexp alike: every recend+recstart, then a leading
 * recstart, then a trailing recend (also just before a final newline, as
 * Perl's $). The expected strings are what parallel 20221122 feeds. */
static void test_strip(void)
{
    ctk_blocks *b = make(NULL, 0, NULL, 0, 0);
    assert_strip(b, "1\n2\n3\n", "123");
    ctk_blocks_free(b);
    b = make("\\n", 2, ">", 0, 0);
    assert_strip(b, ">a\n>b\n>c\n", "abc");
    assert_strip(b, "x>a\n>b", "x>ab");
    ctk_blocks_free(b);
    b = make("x", 1, ">", 0, 0);
    assert_strip(b, ">ax>bx\n", "ab\n");
    ctk_blocks_free(b);
    b = make("[0-9]+\n", 7, NULL, 1, 0);
    assert_strip(b, "a1\nb22\nc\n", "abc\n");
    ctk_blocks_free(b);
    b = make("\n", 1, "^>", 1, 0);
    assert_strip(b, ">a\n>b\n", "ab");
    ctk_blocks_free(b);
    b = make(NULL, 0, NULL, 0, 4);
    assert_strip(b, "abcd\n", "abcd\n");
    ctk_blocks_free(b);
}

static void test_fixed(void)
{
    ctk_blocks *b = make(NULL, 0, NULL, 0, 4);
    g_assert_cmpuint(cut(b, "0123456789", 9), ==, 8);
    g_assert_cmpuint(cut(b, "0123456789", 3), ==, 0);
    size_t c = 0;
    g_assert_true(ctk_blocks_next(b, NULL, 10, 5, &c));
    g_assert_cmpuint(c, ==, 8);
    g_assert_false(ctk_blocks_next(b, NULL, 10, 9, &c));
    g_assert_cmpuint(ctk_blocks_lines_cut("a\nb\nc\nd", 7, 2), ==, 4);
    g_assert_cmpuint(ctk_blocks_lines_cut("a\nb", 3, 2), ==, 0);
    g_assert_cmpuint(cut(b, "012", 3), ==, 0);
    ctk_blocks_free(b);
}

static void test_bad_rules(void)
{
    ctk_blocks *b = NULL;
    char err[256];
    ctk_blocks_opts empty = {.recend = "", .recend_len = 0};
    g_assert_cmpint(ctk_blocks_new(&b, &empty, err, sizeof err), ==, CTK_EINVAL);
    ctk_blocks_opts bad = {.recend = "(", .recend_len = 1, .regexp = 1};
    g_assert_cmpint(ctk_blocks_new(&b, &bad, err, sizeof err), ==, CTK_EINVAL);
    g_assert_nonnull(strstr(err, "regular expression"));
}

static void test_header(void)
{
    g_assert_cmpuint(ctk_blocks_header_end("h\nr1\nr2\n", 8, 1), ==, 2);
    g_assert_cmpuint(ctk_blocks_header_end("h\nr1\nr2\n", 8, 2), ==, 5);
    g_assert_cmpuint(ctk_blocks_header_end("h", 1, 1), ==, 0);
    g_assert_cmpuint(ctk_blocks_header_end("", 0, 0), ==, 0);
}

/* ---- against a brute-force reference at every block size ---------------- */

static int is_boundary(const char *d, size_t len, size_t p, const char *end, const char *start)
{
    size_t e = strlen(end), s = strlen(start);
    return p > 0 && p >= e && p + s <= len && memcmp(d + p - e, end, e) == 0 &&
           memcmp(d + p, start, s) == 0;
}

static size_t reference(const char *d, size_t len, size_t want, const char *end, const char *start)
{
    if (want > len)
        want = len;
    for (size_t p = want; p > 0; p--)
        if (is_boundary(d, want, p, end, start))
            return p;
    return 0;
}

/* The first boundary whose separator starts at or after from, or 0. */
static size_t reference_next(const char *d, size_t len, size_t from, const char *end,
                             const char *start)
{
    for (size_t p = from + strlen(end); p <= len; p++)
        if ((p > 0 || strlen(end) > 0) && is_boundary(d, len, p, end, start))
            return p;
    return 0;
}

static void check_every_offset(const char *end, const char *start, const char *alphabet)
{
    GRand *rng = g_rand_new_with_seed(42);
    ctk_blocks *lit = make(end, strlen(end), start[0] ? start : NULL, 0, 0);
    /* The same rules as a regexp must cut at the same places. */
    char *qe = g_regex_escape_string(end, -1), *qs = g_regex_escape_string(start, -1);
    ctk_blocks *re = make(qe, strlen(qe), start[0] ? qs : NULL, 1, 0);
    for (int round = 0; round < 40; round++) {
        size_t len = (size_t)g_rand_int_range(rng, 0, 120);
        char d[128];
        for (size_t i = 0; i < len; i++)
            d[i] = alphabet[g_rand_int_range(rng, 0, (gint32)strlen(alphabet))];
        for (size_t want = 1; want <= len + 2; want++) {
            size_t expect = reference(d, len, want, end, start);
            g_assert_cmpuint(ctk_blocks_cut(lit, d, len, want), ==, expect);
            g_assert_cmpuint(ctk_blocks_cut(re, d, len, want), ==, expect);
            size_t next = reference_next(d, len, want, end, start), c = 0;
            g_assert_cmpint(ctk_blocks_next(lit, d, len, want, &c), ==, next > 0);
            if (next > 0)
                g_assert_cmpuint(c, ==, next);
            c = 0;
            g_assert_cmpint(ctk_blocks_next(re, d, len, want, &c), ==, next > 0);
            if (next > 0)
                g_assert_cmpuint(c, ==, next);
        }
    }
    g_free(qe);
    g_free(qs);
    ctk_blocks_free(lit);
    ctk_blocks_free(re);
    g_rand_free(rng);
}

static void test_every_offset_newline(void)
{
    check_every_offset("\n", "", "ab\n");
}

static void test_every_offset_multibyte(void)
{
    check_every_offset("ab", "", "abc");
}

static void test_every_offset_recstart(void)
{
    check_every_offset("", ">", "x>\n");
}

static void test_every_offset_both(void)
{
    check_every_offset("\n", "ab", "ab\n");
}

/* --csv, as parallel's pass_csv_record: the last newline with an even
 * number of '"' before it, against that rule written out, for every
 * prefix of random data over a, '"' and newline. */
static void test_csv(void)
{
    ctk_blocks_opts o = {.csv = 1};
    ctk_blocks *b = NULL;
    char err[256];
    g_assert_cmpint(ctk_blocks_new(&b, &o, err, sizeof err), ==, 0);
    g_assert_cmpuint(ctk_blocks_reach(b), ==, SIZE_MAX);
    const char *s = "a,\"b\nc\"\n\"x\"\"\n\"\"y\",z\nd\n\"open\n";
    g_assert_cmpuint(cut(b, s, 7), ==, 0);   /* the newline in "b\nc" is no cut */
    g_assert_cmpuint(cut(b, s, 8), ==, 8);   /* after c" */
    g_assert_cmpuint(cut(b, s, 19), ==, 8);  /* "" then a newline still inside */
    g_assert_cmpuint(cut(b, s, 20), ==, 20); /* after "y",z */
    g_assert_cmpuint(cut(b, s, 22), ==, 22);
    g_assert_cmpuint(cut(b, s, 100), ==, 22); /* not inside the open quote */
    GRand *r = g_rand_new_with_seed(7);
    char data[200];
    for (int round = 0; round < 500; round++) {
        size_t len = (size_t)g_rand_int_range(r, 0, (gint32)sizeof data);
        for (size_t i = 0; i < len; i++)
            data[i] = "a\"\n"[g_rand_int_range(r, 0, 3)];
        for (size_t want = 0; want <= len; want++) {
            size_t expect = 0;
            int odd = 0;
            for (size_t i = 0; i < want; i++) {
                if (data[i] == '\n' && !odd)
                    expect = i + 1;
                odd ^= data[i] == '"';
            }
            g_assert_cmpuint(ctk_blocks_cut(b, data, len, want), ==, expect);
        }
    }
    g_rand_free(r);
    ctk_blocks_free(b);
}

/* cpipecut: -N --regexp as parallel's pass_n_regexps: a record's recend
 * is looked for past its own recstart, and a leading record without
 * recstart ("garbage") is a block of its own. */
static void test_nth_regexp(void)
{
    size_t c = 0;
    ctk_blocks *b = make(NULL, 0, "a", 1, 0);
    /* "ab" then "a": two records, no recstart after the second. */
    g_assert_false(ctk_blocks_nth(b, "aba", 3, 2, &c));
    g_assert_true(ctk_blocks_nth(b, "aba", 3, 1, &c));
    g_assert_cmpuint(c, ==, 2);
    g_assert_true(ctk_blocks_nth(b, "abaab", 5, 2, &c));
    g_assert_cmpuint(c, ==, 3);
    g_assert_cmpuint(ctk_blocks_garbage(b, "aba", 3), ==, 0);
    g_assert_cmpuint(ctk_blocks_garbage(b, "xxaba", 5), ==, 2);
    g_assert_cmpuint(ctk_blocks_garbage(b, "xxx", 3), ==, 0);
    ctk_blocks_free(b);
    b = make("5", 1, "4", 1, 0);
    /* GNU's bug #53718 case: seq 54000 starts "54000": "5" is garbage. */
    g_assert_cmpuint(ctk_blocks_garbage(b, "54000\n54001\n", 12), ==, 1);
    ctk_blocks_free(b);
    /* Literal rules have no garbage record. */
    b = make("5", 1, "4", 0, 0);
    g_assert_cmpuint(ctk_blocks_garbage(b, "54000\n", 6), ==, 0);
    ctk_blocks_free(b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/blocks/newline", test_newline);
    g_test_add_func("/blocks/nul", test_nul_records);
    g_test_add_func("/blocks/escapes", test_escapes);
    g_test_add_func("/blocks/reach", test_reach);
    g_test_add_func("/blocks/recstart", test_recstart);
    g_test_add_func("/blocks/recend-recstart", test_recend_and_recstart);
    g_test_add_func("/blocks/regexp", test_regexp);
    g_test_add_func("/blocks/regexp-line-ends", test_regexp_line_ends);
    g_test_add_func("/blocks/regexp-at-mapping-end", test_regexp_at_mapping_end);
    g_test_add_func("/blocks/strip", test_strip);
    g_test_add_func("/blocks/fixed", test_fixed);
    g_test_add_func("/blocks/bad-rules", test_bad_rules);
    g_test_add_func("/blocks/header", test_header);
    g_test_add_func("/blocks/every-offset/newline", test_every_offset_newline);
    g_test_add_func("/blocks/every-offset/multibyte", test_every_offset_multibyte);
    g_test_add_func("/blocks/every-offset/recstart", test_every_offset_recstart);
    g_test_add_func("/blocks/every-offset/both", test_every_offset_both);
    g_test_add_func("/blocks/nth-regexp", test_nth_regexp);
    g_test_add_func("/blocks/csv", test_csv);
    return g_test_run();
}
