/* test-cmdline.c: command templates against GNU parallel. The expected
 * lines in the tables were printed by GNU parallel 20221122 itself
 * (parallel -0 --dry-run ... :::: FILE, one NUL-terminated item per file);
 * the argv tests check that direct execution gives a program the same
 * arguments that /bin/sh -c LINE gives it. */
#include <glib.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctkx/cmdline.h"

struct quote_case {
    const char *in, *want;
};

struct render_case {
    const char *replace;
    const char *words[12]; /* NULL-terminated */
    const char *cols[5];   /* NULL-terminated */
    const char *want;
};

/* From: parallel -0 --dry-run echo {} :::: ITEM (GNU parallel 20221122) */
static const struct quote_case quote_cases[] = {
    {"a", "a"},
    {"a b", "'a b'"},
    {"a'b", "'a'\"'\"'b'"},
    {"a\"b", "'a\"b'"},
    {"$x", "'$x'"},
    {"`x`", "'`x`'"},
    {"a\\b", "'a\\b'"},
    {"*", "'*'"},
    {"\077", "'\077'"},
    {"[", "'['"},
    {"]", "']'"},
    {"~", "'~'"},
    {"#", "'#'"},
    {"!", "'!'"},
    {"&", "'&'"},
    {";", "';'"},
    {"|", "'|'"},
    {"<", "'<'"},
    {">", "'>'"},
    {"(", "'('"},
    {")", "')'"},
    {"{", "'{'"},
    {"}", "'}'"},
    {"", "''"},
    {"-x", "-x"},
    {"a\011b", "'a\011b'"},
    {"a\012b", "'a\012b'"},
    {"a=b", "'a=b'"},
    {"%", "'%'"},
    {",", "','"},
    {":", "':'"},
    {"@", "'@'"},
    {"^", "'^'"},
    {"A_Z.0+9/-", "A_Z.0+9/-"},
    {"'", "\"'\""},
    {"''", "\"'\"''\"'\""},
    {"'a", "\"'\"'a'"},
    {"a'", "'a'\"'\""},
    {"it's $HOME", "'it'\"'\"'s $HOME'"},
    {"\001", "'\001'"},
    {"\303\251", "'\303\251'"},
    {"\377\376", "'\377\376'"},
    {"-", "-"},
    {" ", "' '"},
};
/* From: parallel -0 --dry-run [-I R] WORDS... :::: COL1 [:::: COL2]... */
static const struct render_case render_cases[] = {
    {NULL,
     {"echo", "{.}", "{/}", "{//}", "{/.}", "{1.}", "{1/}", "{1//}", "{1/.}", NULL},
     {"", NULL},
     "echo '' '' . '' '' '' . ''"},
    {NULL,
     {"echo", "{.}", "{/}", "{//}", "{/.}", "{1.}", "{1/}", "{1//}", "{1/.}", NULL},
     {"/", NULL},
     "echo / '' / '' / '' / ''"},
    {NULL,
     {"echo", "{.}", "{/}", "{//}", "{/.}", "{1.}", "{1/}", "{1//}", "{1/.}", NULL},
     {"a/", NULL},
     "echo a/ '' . '' a/ '' . ''"},
    {NULL,
     {"echo", "{.}", "{/}", "{//}", "{/.}", "{1.}", "{1/}", "{1//}", "{1/.}", NULL},
     {".hidden", NULL},
     "echo '' .hidden . '' '' .hidden . ''"},
    {NULL,
     {"echo", "{.}", "{/}", "{//}", "{/.}", "{1.}", "{1/}", "{1//}", "{1/.}", NULL},
     {"a.b.c", NULL},
     "echo a.b a.b.c . a.b a.b a.b.c . a.b"},
    {NULL,
     {"echo", "{.}", "{/}", "{//}", "{/.}", "{1.}", "{1/}", "{1//}", "{1/.}", NULL},
     {"dir.d/file", NULL},
     "echo dir.d/file file dir.d file dir.d/file file dir.d file"},
    {NULL,
     {"echo", "{.}", "{/}", "{//}", "{/.}", "{1.}", "{1/}", "{1//}", "{1/.}", NULL},
     {"/x", NULL},
     "echo /x x / x /x x / x"},
    {NULL,
     {"echo", "{.}", "{/}", "{//}", "{/.}", "{1.}", "{1/}", "{1//}", "{1/.}", NULL},
     {"x/", NULL},
     "echo x/ '' . '' x/ '' . ''"},
    {NULL,
     {"echo", "{.}", "{/}", "{//}", "{/.}", "{1.}", "{1/}", "{1//}", "{1/.}", NULL},
     {"a//b", NULL},
     "echo a//b b a b a//b b a b"},
    {NULL,
     {"echo", "{.}", "{/}", "{//}", "{/.}", "{1.}", "{1/}", "{1//}", "{1/.}", NULL},
     {"//x", NULL},
     "echo //x x / x //x x / x"},
    {NULL,
     {"echo", "{.}", "{/}", "{//}", "{/.}", "{1.}", "{1/}", "{1//}", "{1/.}", NULL},
     {"a//", NULL},
     "echo a// '' . '' a// '' . ''"},
    {NULL,
     {"echo", "{.}", "{/}", "{//}", "{/.}", "{1.}", "{1/}", "{1//}", "{1/.}", NULL},
     {"//", NULL},
     "echo // '' / '' // '' / ''"},
    {NULL,
     {"echo", "{.}", "{/}", "{//}", "{/.}", "{1.}", "{1/}", "{1//}", "{1/.}", NULL},
     {"a/b//", NULL},
     "echo a/b// '' a '' a/b// '' a ''"},
    {NULL,
     {"echo", "{.}", "{/}", "{//}", "{/.}", "{1.}", "{1/}", "{1//}", "{1/.}", NULL},
     {"a.", NULL},
     "echo a a. . a a a. . a"},
    {NULL,
     {"echo", "{.}", "{/}", "{//}", "{/.}", "{1.}", "{1/}", "{1//}", "{1/.}", NULL},
     {".a.b", NULL},
     "echo .a .a.b . .a .a .a.b . .a"},
    {NULL,
     {"echo", "{.}", "{/}", "{//}", "{/.}", "{1.}", "{1/}", "{1//}", "{1/.}", NULL},
     {"a/.b", NULL},
     "echo a/ .b a '' a/ .b a ''"},
    {NULL,
     {"echo", "{.}", "{/}", "{//}", "{/.}", "{1.}", "{1/}", "{1//}", "{1/.}", NULL},
     {"x/y\012z/w", NULL},
     "echo 'x/y\012z/w' 'y\012z/w' 'x/y\012z' 'y\012z/w' 'x/y\012z/w' 'y\012z/w' 'x/y\012z' "
     "'y\012z/w'"},
    {NULL,
     {"echo", "{.}", "{/}", "{//}", "{/.}", "{1.}", "{1/}", "{1//}", "{1/.}", NULL},
     {"a.b\012c", NULL},
     "echo a 'a.b\012c' . a a 'a.b\012c' . a"},
    {NULL,
     {"echo", "{.}", "{/}", "{//}", "{/.}", "{1.}", "{1/}", "{1//}", "{1/.}", NULL},
     {"a\012/b", NULL},
     "echo 'a\012/b' 'a\012b' 'a\012' 'a\012b' 'a\012/b' 'a\012b' 'a\012' 'a\012b'"},
    {NULL,
     {"echo", "{.}", "{/}", "{//}", "{/.}", "{1.}", "{1/}", "{1//}", "{1/.}", NULL},
     {"/\012", NULL},
     "echo '/\012' '\012' / '\012' '/\012' '\012' / '\012'"},
    {NULL,
     {"echo", "{.}", "{/}", "{//}", "{/.}", "{1.}", "{1/}", "{1//}", "{1/.}", NULL},
     {".", NULL},
     "echo '' . . '' '' . . ''"},
    {NULL,
     {"echo", "{.}", "{/}", "{//}", "{/.}", "{1.}", "{1/}", "{1//}", "{1/.}", NULL},
     {"..", NULL},
     "echo . .. . . . .. . ."},
    {NULL,
     {"echo", "{.}", "{/}", "{//}", "{/.}", "{1.}", "{1/}", "{1//}", "{1/.}", NULL},
     {"../x.y", NULL},
     "echo ../x x.y .. x ../x x.y .. x"},
    {NULL,
     {"echo", "{.}", "{/}", "{//}", "{/.}", "{1.}", "{1/}", "{1//}", "{1/.}", NULL},
     {"/a/b/c.tar.gz", NULL},
     "echo /a/b/c.tar c.tar.gz /a/b c.tar /a/b/c.tar c.tar.gz /a/b c.tar"},
    {NULL,
     {"echo", "{.}", "{/}", "{//}", "{/.}", "{1.}", "{1/}", "{1//}", "{1/.}", NULL},
     {"a b/c d.e f", NULL},
     "echo 'a b/c d' 'c d.e f' 'a b' 'c d' 'a b/c d' 'c d.e f' 'a b' 'c d'"},
    {NULL,
     {"echo", "{.}", "{/}", "{//}", "{/.}", "{1.}", "{1/}", "{1//}", "{1/.}", NULL},
     {"d\377.\376/f\375.x", NULL},
     "echo 'd\377.\376/f\375' 'f\375.x' 'd\377.\376' 'f\375' 'd\377.\376/f\375' 'f\375.x' "
     "'d\377.\376' 'f\375'"},
    {NULL, {"echo", "{#}", "{%}", NULL}, {"a", "b", NULL}, "echo 1 1"},
    {NULL, {"echo", "x{}y", NULL}, {"a", "b c", NULL}, "echo xa 'b c'y"},
    {NULL, {"echo", "{1}", "{2}", "{3}", "{-1}", "{0}", NULL}, {"a", "b", NULL}, "echo a b  b a b"},
    {NULL,
     {"echo", "{-1}", "{-2}", "{-3}", "{-4}", "{-5}", "{00}", "{-0}", NULL},
     {"a", "b", NULL},
     "echo b a b a   "},
    {NULL,
     {"echo", "{1#}", "{0#}", "{0%}", "{#}", "{%}", "{2%}", NULL},
     {"a", "b", NULL},
     "echo  1 1 1 1 "},
    {NULL, {"echo", NULL}, {"a", "b", NULL}, "echo a b"},
    {NULL, {"echo", NULL}, {"a b", "c'd", NULL}, "echo 'a b' 'c'\"'\"'d'"},
    {NULL, {"echo", NULL}, {"", NULL}, "echo ''"},
    {NULL, {NULL}, {"echo a b", NULL}, "echo a b"},
    {NULL, {"", NULL}, {"a", NULL}, " a"},
    {",,",
     {"echo", ",,", ",,.", "{}", "{.}", "{1}", "{1.}", NULL},
     {"a.b", NULL},
     "echo a.b a.b. {} a {1} a"},
    {"{x}", {"echo", "{x}", "{1x}", "{}", "{1}", NULL}, {"a", "b", NULL}, "echo a b a {} {1}"},
    {"{.}", {"echo", "{}", "{.}", "{1.}", "{1}", NULL}, {"a.b", NULL}, "echo {} a.b a.b {1}"},
    {"{#}", {"echo", "{#}", "{1#}", "{%}", NULL}, {"a", "b", NULL}, "echo a b a 1"},
    {"{", {"echo", "{", "{}", "{.}", NULL}, {"a.b", NULL}, "echo a.b a.b} a"},
    {"a b", {"echo", "a b", "a", "b", NULL}, {"x", NULL}, "echo x a b"},
    {"X", {"echo", "X{}X", NULL}, {"a", NULL}, "echo a{}a"},
    {NULL,
     {"echo", "{}{}", "{{}}", "{}}", "{.}.", "{{1}}", "{1}{2}", NULL},
     {"a", "b", NULL},
     "echo a ba b {a b} a b} a b. {a} ab"},
    {NULL, {"echo", "{//}{/}", "{{/}}", "{/.}{.}", NULL}, {"d/f.e", NULL}, "echo df.e {f.e} fd/f"},
    {NULL, {"echo", "a{}", NULL}, {"", NULL}, "echo a''"},
    {NULL, {"echo", "{3}", NULL}, {"a", NULL}, "echo "},
    {NULL, {"{}", "x", NULL}, {"a b", "c", NULL}, "a b c x"},
    {NULL, {"{1}", "{2}", NULL}, {"echo", "it's", NULL}, "echo it's"},
    {NULL, {"ec{}", NULL}, {"ho", NULL}, "echo"},
    {NULL, {"x={}", "echo", NULL}, {"a b", NULL}, "x='a b' echo"},
    {NULL, {"a{}=b", NULL}, {"x y", NULL}, "ax y=b"},
    {NULL, {"a={}", NULL}, {"x y", NULL}, "a='x y'"},
    {NULL, {"a\012{}", NULL}, {"x y", NULL}, "a\012'x y'"},
    {NULL, {"a\011{}", NULL}, {"x y", NULL}, "a\011'x y'"},
    {NULL, {"echo {}", NULL}, {"a b", NULL}, "echo 'a b'"},
    {NULL, {"echo", "--opt={}", NULL}, {"$x", NULL}, "echo --opt='$x'"},
    {NULL, {"echo", "{=}", NULL}, {"a", NULL}, "echo {=} a"},
    {NULL,
     {"echo {1 .}", "{1  /}", "{ 1}", "{01}", "{+1}", "{1x}", NULL},
     {"a.b", NULL},
     "echo a a.b { 1} a.b {+1} {1x}"},
    {NULL, {"echo", "{1\011.}", "{1\012/}", NULL}, {"a.b/c.d", NULL}, "echo a.b/c c.d"},
    {NULL, {"echo", "{}", "{1}", "{3}x", NULL}, {"a", "b", "c d", NULL}, "echo a b 'c d' a 'c d'x"},
    {NULL, {"echo", "a  b", "{}", NULL}, {"x", NULL}, "echo a  b x"},
    {NULL, {"sh", "-c", "echo $0", "{}", NULL}, {"x y", NULL}, "sh -c echo $0 'x y'"},
    {NULL, {"printf", "%s\\n", NULL}, {"x y", "z", NULL}, "printf %s\\n 'x y' z"},
    {NULL,
     {"./run.sh", "--in={}", "--out={.}.o", NULL},
     {"a b", "", "x.y", NULL},
     "./run.sh --in='a b' '' x.y --out='a b' '' x.o"},
};

static size_t count(const char *const *v)
{
    size_t n = 0;
    while (v[n] != NULL)
        n++;
    return n;
}

static ctk_cmdline *parse_ok(const char *replace, const char *const *words, unsigned flags)
{
    ctk_cmdline *t = NULL;
    char err[128] = "";
    int rc =
        ctk_cmdline_parse(&t, (char *const *)words, count(words), replace, flags, err, sizeof err);
    g_assert_cmpstr(err, ==, "");
    g_assert_cmpint(rc, ==, 0);
    g_assert_nonnull(t);
    return t;
}

/* Renders with columns given as C strings; returns the line (g_free it)
 * and, when argv is not NULL, the argv vector. */
static char *render_cols(const ctk_cmdline *t, const char *const *cols, uint64_t seq, uint64_t slot,
                         char ***argv)
{
    ctk_cmdline_item items[8];
    size_t n = count(cols);
    g_assert_cmpuint(n, <=, 8);
    for (size_t i = 0; i < n; i++)
        items[i] = (ctk_cmdline_item){cols[i], strlen(cols[i])};
    ctk_cmdline_args a = {items, n, seq, slot};
    ctk_buf line = {0};
    g_assert_cmpint(ctk_cmdline_render(t, &a, &line, argv), ==, 0);
    g_assert_nonnull(line.data);
    g_assert_cmpint(line.data[line.len], ==, '\0'); /* ready for sh -c */
    char *s = g_strndup((char *)line.data, line.len);
    ctk_buf_free(&line);
    return s;
}

static void test_quote_like_parallel(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(quote_cases); i++) {
        ctk_buf out = {0};
        const char *in = quote_cases[i].in;
        g_assert_cmpint(ctk_cmdline_quote(&out, in, strlen(in)), ==, 0);
        char *got = g_strndup((char *)out.data, out.len);
        g_assert_cmpstr(got, ==, quote_cases[i].want);
        g_free(got);
        ctk_buf_free(&out);
    }
}

/* Quoting appends: what is already in the buffer is never touched, not
 * even a '' that looks like one parallel strips. */
static void test_quote_appends(void)
{
    ctk_buf out = {0};
    g_assert_cmpint(ctk_buf_append(&out, "''", 2), ==, 0);
    g_assert_cmpint(ctk_cmdline_quote(&out, "'x'", 3), ==, 0);
    g_assert_cmpint(ctk_cmdline_quote(&out, "", 0), ==, 0);
    g_assert_cmpuint(out.len, ==, 2 + 9 + 2);
    g_assert_cmpint(memcmp(out.data, "''\"'\"'x'\"'\"''", out.len), ==, 0);
    ctk_buf_free(&out);
    /* Length, not NUL, ends the input. */
    g_assert_cmpint(ctk_cmdline_quote(&out, "a bc", 1), ==, 0);
    g_assert_cmpuint(out.len, ==, 1);
    g_assert_cmpint(out.data[0], ==, 'a');
    ctk_buf_free(&out);
}

static void test_render_like_parallel(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(render_cases); i++) {
        const struct render_case *c = &render_cases[i];
        ctk_cmdline *t = parse_ok(c->replace, c->words, 0);
        char *got = render_cols(t, c->cols, 1, 1, NULL);
        if (g_strcmp0(got, c->want) != 0)
            g_test_message("render case %zu", i);
        g_assert_cmpstr(got, ==, c->want);
        g_free(got);
        ctk_cmdline_free(t);
    }
}

/* echo, printf, test... are shell builtins with different behaviour from
 * their programs (--version, backslashes): like GNU parallel, run them in
 * the shell. */
static void test_builtins_use_the_shell(void)
{
    const char *names[] = {"echo", "printf", "test", "[", "kill", "pwd"};
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        const char *words[] = {names[i], "{}", NULL};
        ctk_cmdline *t = parse_ok(NULL, words, 0);
        g_assert_cmpint(ctk_cmdline_needs_shell(t), ==, 1);
        ctk_cmdline_free(t);
    }
}

static void test_seq_and_slot(void)
{
    const char *words[] = {"cat", "{#}", "{%}", "{}", "{1#}", NULL};
    const char *cols[] = {"a b", NULL};
    ctk_cmdline *t = parse_ok(NULL, words, 0);
    char **argv;
    char *line = render_cols(t, cols, 42, 3, &argv);
    g_assert_cmpstr(line, ==, "cat 42 3 'a b' ");
    g_assert_nonnull(argv);
    const char *want[] = {"cat", "42", "3", "a b", NULL};
    g_assert_cmpstrv((const char *const *)argv, want);
    ctk_cmdline_argv_free(argv);
    g_free(line);
    ctk_cmdline_free(t);
}

/* No columns at all: parallel's single empty argument. */
static void test_no_columns(void)
{
    const char *words[] = {"cat", "x{}y", "{2}", NULL};
    ctk_cmdline *t = parse_ok(NULL, words, 0);
    ctk_cmdline_args a = {NULL, 0, 1, 1};
    ctk_buf line = {0};
    char **argv;
    g_assert_cmpint(ctk_cmdline_render(t, &a, &line, &argv), ==, 0);
    g_assert_cmpuint(line.len, ==, strlen("cat x''y "));
    g_assert_cmpint(memcmp(line.data, "cat x''y ", line.len), ==, 0);
    const char *want[] = {"cat", "xy", NULL};
    g_assert_cmpstrv((const char *const *)argv, want);
    ctk_cmdline_argv_free(argv);
    ctk_buf_free(&line);
    ctk_cmdline_free(t);
}

/* --tagstring: a text, items unquoted, nothing appended. */
static void test_text(void)
{
    const char *words[] = {"[{}] {1.} {#}", NULL};
    ctk_cmdline *t;
    g_assert_cmpint(ctk_cmdline_parse(&t, (char **)words, 1, NULL, CTK_CMDLINE_TEXT, NULL, 0), ==,
                    0);
    ctk_cmdline_item col = {"a b'c.txt", 9};
    ctk_cmdline_args a = {&col, 1, 7, 1};
    ctk_buf line = {0};
    g_assert_cmpint(ctk_cmdline_render(t, &a, &line, NULL), ==, 0);
    g_assert_cmpuint(line.len, ==, strlen("[a b'c.txt] a b'c 7"));
    g_assert_cmpint(memcmp(line.data, "[a b'c.txt] a b'c 7", line.len), ==, 0);
    ctk_cmdline_free(t);
    const char *plain[] = {"T", NULL};
    g_assert_cmpint(ctk_cmdline_parse(&t, (char **)plain, 1, NULL, CTK_CMDLINE_TEXT, NULL, 0), ==,
                    0);
    g_assert_cmpint(ctk_cmdline_render(t, &a, &line, NULL), ==, 0);
    g_assert_cmpuint(line.len, ==, 1);
    ctk_buf_free(&line);
    ctk_cmdline_free(t);
}

/* -X repeats the words holding {} per column; the fill cost is GNU
 * parallel's CommandLine::len. */
static void test_context(void)
{
    const char *words[] = {"cat", "pre{}post", "{#}", NULL};
    ctk_cmdline *t;
    g_assert_cmpint(ctk_cmdline_parse(&t, (char **)words, 3, NULL, CTK_CMDLINE_CONTEXT, NULL, 0),
                    ==, 0);
    ctk_cmdline_item cols[] = {{"a", 1}, {"b c", 3}};
    ctk_cmdline_args a = {cols, 2, 5, 1};
    ctk_buf line = {0};
    char **argv = NULL;
    g_assert_cmpint(ctk_cmdline_render(t, &a, &line, &argv), ==, 0);
    g_assert_cmpuint(line.len, ==, strlen("cat preapost pre'b c'post 5"));
    g_assert_cmpint(memcmp(line.data, "cat preapost pre'b c'post 5", line.len), ==, 0);
    const char *want[] = {"cat", "preapost", "preb cpost", "5", NULL};
    g_assert_cmpstrv((const char *const *)argv, want);
    size_t base, per_arg;
    ctk_cmdline_fill_cost(t, &base, &per_arg);
    g_assert_cmpuint(base, ==, strlen("cat prepost "));
    g_assert_cmpuint(per_arg, ==, strlen("prepost") + 2); /* two context groups */
    g_assert_cmpuint(ctk_cmdline_arg_cost(t, &cols[1], 5, 1), ==, strlen("'b c'") + 1);
    ctk_cmdline_argv_free(argv);
    ctk_buf_free(&line);
    ctk_cmdline_free(t);
}

static void check_argv(const char *const *words, const char *const *cols, const char *want_line,
                       const char *const *want_argv)
{
    ctk_cmdline *t = parse_ok(NULL, words, 0);
    char **argv = (char **)"not set";
    char *line = render_cols(t, cols, 1, 1, &argv);
    g_assert_cmpstr(line, ==, want_line);
    g_assert_cmpint(ctk_cmdline_needs_shell(t), ==, want_argv == NULL);
    if (want_argv == NULL)
        g_assert_null(argv);
    else
        g_assert_cmpstrv((const char *const *)argv, want_argv);
    ctk_cmdline_argv_free(argv == (char **)"not set" ? NULL : argv);
    g_free(line);
    ctk_cmdline_free(t);
}

/* Each item is exactly one argument, its bytes unchanged; a replacement
 * string inside a word stays inside it; several columns split it as the
 * shell splits parallel's line; a missing column adds nothing. */
static void test_argv_exact(void)
{
    const char *w1[] = {"cat", "{}", NULL}, *c1[] = {"it's $HOME\n*", NULL};
    const char *a1[] = {"cat", "it's $HOME\n*", NULL};
    check_argv(w1, c1, "cat 'it'\"'\"'s $HOME\n*'", a1);
    const char *w2[] = {"cat", "x{}y", NULL}, *c2[] = {"a", "b c", NULL};
    const char *a2[] = {"cat", "xa", "b cy", NULL};
    check_argv(w2, c2, "cat xa 'b c'y", a2);
    const char *w3[] = {"cmd", "--in={}", "--out={.}.o", "{3}", NULL};
    const char *c3[] = {"d/a b.c", NULL};
    const char *a3[] = {"cmd", "--in=d/a b.c", "--out=d/a b.o", NULL};
    check_argv(w3, c3, "cmd --in='d/a b.c' --out='d/a b'.o ", a3);
    const char *w4[] = {"cat", NULL}, *c4[] = {"", "-n", "\xff", NULL};
    const char *a4[] = {"cat", "", "-n", "\xff", NULL};
    check_argv(w4, c4, "cat '' -n '\xff'", a4);
    /* Blanks inside one word split it, as sh does; '' words vanish. */
    const char *w5[] = {"grep  -e\tx", "", "{/}", NULL}, *c5[] = {"/a/b", NULL};
    const char *a5[] = {"grep", "-e", "x", "b", NULL};
    check_argv(w5, c5, "grep  -e\tx  b", a5);
    const char *w6[] = {"date", "+%s", "a=b,c:d@e", "{#}", NULL}, *c6[] = {"x", NULL};
    const char *a6[] = {"date", "+%s", "a=b,c:d@e", "1", NULL};
    check_argv(w6, c6, "date +%s a=b,c:d@e 1", a6);
}

static void test_argv_refused(void)
{
    const char *c[] = {"a b", NULL};
    const char *w1[] = {"cat", "{}", ">", "out", NULL};
    check_argv(w1, c, "cat 'a b' > out", NULL);
    const char *w2[] = {"{}", NULL};
    check_argv(w2, c, "a b", NULL);
    const char *w3[] = {"cat", "$HOME", NULL};
    check_argv(w3, c, "cat $HOME 'a b'", NULL);
    const char *w4[] = {"cd", "{}", NULL};
    check_argv(w4, c, "cd 'a b'", NULL);
}

/* Which templates may run without a shell. */
static void test_needs_shell(void)
{
    static const struct {
        const char *words[4];
        int shell;
    } cases[] = {
        {{"cat", "{}", NULL}, 0},
        {{"./run.sh", "--x={}", "-", NULL}, 0},
        {{"gzip -9", "{}", NULL}, 0},
        {{"tr", "a-z", "A-Z", NULL}, 0},
        {{"cat", "caf\xc3\xa9", NULL}, 0},
        {{"cat", "a|b", NULL}, 1},
        {{"cat", "a;b", NULL}, 1},
        {{"cat", "a&", NULL}, 1},
        {{"cat", "<x", NULL}, 1},
        {{"cat", "(x)", NULL}, 1},
        {{"cat", "`x`", NULL}, 1},
        {{"cat", "'x'", NULL}, 1},
        {{"cat", "\"x\"", NULL}, 1},
        {{"cat", "a\\b", NULL}, 1},
        {{"ls", "*.c", NULL}, 1},
        {{"ls", "?", NULL}, 1},
        {{"ls", "[ab]", NULL}, 1},
        {{"ls", "~", NULL}, 1},
        {{"cat", "#x", NULL}, 1},
        {{"cat", "!x", NULL}, 1},
        {{"cat", "a{b,c}", NULL}, 1},
        {{"cat", "a\nb", NULL}, 1},
        {{"cat", "a^b", NULL}, 1},
        {{"A=1", "env", NULL}, 1},
        {{"while", "true", NULL}, 1},
        {{"exit", "{}", NULL}, 1},
        {{"export", NULL}, 1},
        {{".", "{}", NULL}, 1},
        {{"x{}", NULL}, 1},
        {{" {}", NULL}, 1},
        {{"", NULL}, 1},
        {{NULL}, 1},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        ctk_cmdline *t = parse_ok(NULL, cases[i].words, 0);
        if (ctk_cmdline_needs_shell(t) != cases[i].shell)
            g_test_message("needs_shell case %zu", i);
        g_assert_cmpint(ctk_cmdline_needs_shell(t), ==, cases[i].shell);
        ctk_cmdline_free(t);
    }
}

static void test_force_shell(void)
{
    const char *words[] = {"echo", "{}", NULL}, *cols[] = {"a b", NULL};
    ctk_cmdline *t = parse_ok(NULL, words, CTK_CMDLINE_FORCE_SHELL);
    g_assert_cmpint(ctk_cmdline_needs_shell(t), ==, 1);
    char **argv = (char **)"not set";
    char *line = render_cols(t, cols, 1, 1, &argv);
    g_assert_null(argv);
    g_assert_cmpstr(line, ==, "echo 'a b'");
    g_free(line);
    ctk_cmdline_free(t);
}

/* Each argument in hex, one a line, so that any byte survives the pipe. */
static void append_hex(GString *out, const char *arg)
{
    for (const char *p = arg; *p != '\0'; p++)
        g_string_append_printf(out, "%02x", (unsigned char)*p);
    g_string_append_c(out, '\n');
}

/* The test binary run as a program: prints its arguments (after the
 * --print-args marker) in hex. */
static int print_args(int argc, char **argv)
{
    GString *out = g_string_new(NULL);
    for (int i = 2; i < argc; i++)
        append_hex(out, argv[i]);
    fwrite(out->str, 1, out->len, stdout);
    g_string_free(out, TRUE);
    return 0;
}

/* Runs the line under /bin/sh -c and checks that the program received
 * exactly the argv elements that direct execution would give it. */
static void check_same_as_shell(const char *self, const char *const *tail, const char *const *cols)
{
    const char *words[16] = {self, "--print-args"};
    memcpy(words + 2, tail, (count(tail) + 1) * sizeof *tail);
    ctk_cmdline *t = parse_ok(NULL, words, 0);
    char **argv;
    char *line = render_cols(t, cols, 7, 2, &argv);
    g_assert_nonnull(argv);
    const char *sh[] = {"/bin/sh", "-c", line, NULL};
    char *out = NULL;
    GError *error = NULL;
    gint status;
    g_assert_true(g_spawn_sync(NULL, (char **)sh, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, NULL,
                               &status, &error));
    g_assert_no_error(error);
    g_assert_cmpint(status, ==, 0);
    GString *want = g_string_new(NULL);
    for (char **p = argv + 2; *p != NULL; p++)
        append_hex(want, *p);
    g_assert_cmpstr(out, ==, want->str);
    g_string_free(want, TRUE);
    g_free(out);
    g_free(line);
    ctk_cmdline_argv_free(argv);
    ctk_cmdline_free(t);
}

static void test_argv_same_as_shell(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        g_test_skip("no /proc/self/exe");
        return;
    }
    self[n] = '\0';
    if (strspn(self, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./") !=
        (size_t)n) {
        g_test_skip("test binary path needs quoting");
        return;
    }
    const char *nasty[] = {"a b",  "it's", "\"q\"", "$HOME",    "`id`",        "a\\b",    "*",
                           "?",    "[a]",  "~",     "#c",       "!",           "&;|<>()", "{}",
                           "\t\n", "",     "-n",    "\xff\xfe", "caf\xc3\xa9", "x=y",     NULL};
    const char *t1[] = {"{}", "{1}", "{#}", "{%}", NULL};
    for (size_t i = 0; nasty[i] != NULL; i++) {
        const char *cols[] = {nasty[i], NULL};
        check_same_as_shell(self, t1, cols);
    }
    const char *t2[] = {"x{}y", "--f={/}", "{//}", "{/.}", "{.}", "{2}", "{9}", NULL};
    const char *cols2[] = {"d ir/f'i.l e", "$x y", "", NULL};
    check_same_as_shell(self, t2, cols2);
    const char *t3[] = {"a  b\tc", "", "+%s", NULL};
    check_same_as_shell(self, t3, cols2);
}

static void test_perl_refused(void)
{
    static const char *const cases[][5] = {
        {"echo", "{= s/a/b/ =}", NULL},       {"echo", "x{==}y", NULL},
        {"echo", "{=", "s/a/b/", "=}", NULL}, {"echo", "{= $_ .= 1", "=}", NULL},
        {"echo", "{=}", "=}", NULL}, /* parallel merges them: Perl "} " */
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        ctk_cmdline *t = (ctk_cmdline *)"not set";
        char err[128] = "";
        int rc = ctk_cmdline_parse(&t, (char *const *)cases[i], count(cases[i]), NULL, 0, err,
                                   sizeof err);
        g_assert_cmpint(rc, ==, CTK_EINVAL);
        g_assert_null(t);
        g_assert_cmpstr(err, ==, "perl expressions {= =} are not supported");
    }
    /* No message buffer: still refused. */
    ctk_cmdline *t;
    g_assert_cmpint(ctk_cmdline_parse(&t, (char *const *)cases[0], 2, NULL, 0, NULL, 0), ==,
                    CTK_EINVAL);
    /* {=} alone and "=} ... {=" are not Perl for parallel either. */
    const char *literal[] = {"echo", "=}", "{=}", "{=", NULL};
    t = parse_ok(NULL, literal, 0);
    const char *cols[] = {"a", NULL};
    char *line = render_cols(t, cols, 1, 1, NULL);
    g_assert_cmpstr(line, ==, "echo =} {=} {= a");
    g_free(line);
    ctk_cmdline_free(t);
}

static void test_bad_input(void)
{
    const char *words[] = {"echo", "{}", NULL};
    ctk_cmdline *t;
    char err[128] = "";
    g_assert_cmpint(ctk_cmdline_parse(&t, (char *const *)words, 2, "", 0, err, sizeof err), ==,
                    CTK_EINVAL);
    g_assert_cmpstr(err, ==, "the replacement string must not be empty");
    t = parse_ok(NULL, words, 0);
    ctk_cmdline_item items[] = {{"ok", 2}, {"a\0b", 3}};
    ctk_cmdline_args a = {items, 2, 1, 1};
    ctk_buf line = {0};
    char **argv = (char **)"not set";
    g_assert_cmpint(ctk_cmdline_render(t, &a, &line, &argv), ==, CTK_EINVAL);
    g_assert_null(argv);
    /* Only the length counts: a NUL just past it is fine. */
    a.cols = &items[1];
    items[1].len = 1;
    a.n_cols = 1;
    g_assert_cmpint(ctk_cmdline_render(t, &a, &line, &argv), ==, 0);
    g_assert_cmpuint(line.len, ==, 6);
    g_assert_cmpint(memcmp(line.data, "echo a", 6), ==, 0);
    ctk_cmdline_argv_free(argv);
    ctk_buf_free(&line);
    ctk_cmdline_free(t);
    ctk_cmdline_free(NULL);
}

/* A buffer reused across jobs holds only the latest line. */
static void test_line_reused(void)
{
    const char *words[] = {"echo", NULL};
    ctk_cmdline *t = parse_ok(NULL, words, 0);
    ctk_cmdline_item long_item = {"a much longer item", 18}, short_item = {"x", 1};
    ctk_cmdline_args a = {&long_item, 1, 1, 1};
    ctk_buf line = {0};
    g_assert_cmpint(ctk_cmdline_render(t, &a, &line, NULL), ==, 0);
    a.cols = &short_item;
    g_assert_cmpint(ctk_cmdline_render(t, &a, &line, NULL), ==, 0);
    g_assert_cmpstr((char *)line.data, ==, "echo x");
    ctk_buf_free(&line);
    ctk_cmdline_free(t);
}

/* --plus's strings exist only with CTK_CMDLINE_PLUS (without it {+.} is
 * text and the item is appended); {##} and {0#} ask for the number of
 * jobs, the others do not. The values themselves are compared with GNU
 * parallel in tests/habits.bats. */
static void test_plus_flag(void)
{
    char *words[] = {"echo", "{+.}", NULL};
    ctk_cmdline *t = NULL;
    const char *cols[] = {"a.b", NULL};
    g_assert_cmpint(ctk_cmdline_parse(&t, words, 2, NULL, 0, NULL, 0), ==, 0);
    char *plain = render_cols(t, cols, 1, 1, NULL);
    ctk_cmdline_free(t);
    g_assert_cmpint(ctk_cmdline_parse(&t, words, 2, NULL, CTK_CMDLINE_PLUS, NULL, 0), ==, 0);
    char *plus = render_cols(t, cols, 1, 1, NULL);
    g_assert_false(ctk_cmdline_wants_total(t));
    ctk_cmdline_free(t);
    g_assert_cmpstr(plain, !=, plus);
    g_assert_nonnull(strstr(plain, "{+.}"));
    g_assert_null(strstr(plus, "{+.}"));
    g_free(plain);
    g_free(plus);
    const char *totals[] = {"{##}", "{0#}", "{2##}"};
    for (size_t i = 0; i < G_N_ELEMENTS(totals); i++) {
        char *w[] = {"echo", (char *)totals[i], NULL};
        g_assert_cmpint(ctk_cmdline_parse(&t, w, 2, NULL, CTK_CMDLINE_PLUS, NULL, 0), ==, 0);
        g_assert_true(ctk_cmdline_wants_total(t));
        ctk_cmdline_free(t);
    }
    /* a regex that does not compile is an error with a message */
    char err[256] = "";
    char *bad[] = {"echo", "{%(}", NULL};
    g_assert_cmpint(ctk_cmdline_parse(&t, bad, 2, NULL, CTK_CMDLINE_PLUS, err, sizeof err), ==,
                    CTK_EINVAL);
    g_assert_null(t);
    g_assert_nonnull(strstr(err, "bad regular expression"));
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--print-args") == 0)
        return print_args(argc, argv);
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cmdline/quote", test_quote_like_parallel);
    g_test_add_func("/cmdline/quote-appends", test_quote_appends);
    g_test_add_func("/cmdline/render", test_render_like_parallel);
    g_test_add_func("/cmdline/seq-slot", test_seq_and_slot);
    g_test_add_func("/cmdline/no-columns", test_no_columns);
    g_test_add_func("/cmdline/argv", test_argv_exact);
    g_test_add_func("/cmdline/argv-refused", test_argv_refused);
    g_test_add_func("/cmdline/needs-shell", test_needs_shell);
    g_test_add_func("/cmdline/builtins", test_builtins_use_the_shell);
    g_test_add_func("/cmdline/force-shell", test_force_shell);
    g_test_add_func("/cmdline/argv-same-as-shell", test_argv_same_as_shell);
    g_test_add_func("/cmdline/perl-refused", test_perl_refused);
    g_test_add_func("/cmdline/bad-input", test_bad_input);
    g_test_add_func("/cmdline/line-reused", test_line_reused);
    g_test_add_func("/cmdline/text", test_text);
    g_test_add_func("/cmdline/context", test_context);
    g_test_add_func("/cmdline/plus", test_plus_flag);
    return g_test_run();
}
