/*
 * test-output.c: the three record formats byte for byte: TSV escaping and
 * headers, JSON escaping with U+FFFD for bad UTF-8, bare numbers and null,
 * table alignment without trailing spaces, and write errors reported.
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctkx/output.h"

static const ctk_field two[] = {{"name", CTK_FIELD_STRING}, {"count", CTK_FIELD_NUMBER}};

/* Runs one output over nrows rows of n values and returns what it wrote. */
static char *render(ctk_format format, const ctk_field *fields, size_t n, int header,
                    const char *const *values, size_t nrows)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    g_assert_nonnull(f);
    ctk_output *o = NULL;
    g_assert_cmpint(ctk_output_new(&o, f, format, fields, n, header), ==, 0);
    g_assert_nonnull(o);
    for (size_t r = 0; r < nrows; r++)
        g_assert_cmpint(ctk_output_row(o, values + r * n), ==, 0);
    g_assert_cmpint(ctk_output_finish(o), ==, 0);
    ctk_output_free(o);
    fclose(f);
    char *out = g_strndup(buf, len);
    free(buf);
    return out;
}

/* One string field in JSON, as the whole line it produces. */
static char *json_one(const char *value)
{
    static const ctk_field f[] = {{"s", CTK_FIELD_STRING}};
    const char *values[] = {value};
    return render(CTK_FORMAT_JSON, f, 1, 0, values, 1);
}

static void test_format_parse(void)
{
    ctk_format f = CTK_FORMAT_TABLE;
    g_assert_cmpint(ctk_format_parse("tsv", &f), ==, 0);
    g_assert_cmpint(f, ==, CTK_FORMAT_TSV);
    g_assert_cmpint(ctk_format_parse("json", &f), ==, 0);
    g_assert_cmpint(f, ==, CTK_FORMAT_JSON);
    g_assert_cmpint(ctk_format_parse("table", &f), ==, 0);
    g_assert_cmpint(f, ==, CTK_FORMAT_TABLE);
    static const char *const bad[] = {"", "TSV", "csv", "tsv ", "jso", "tables"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        f = CTK_FORMAT_JSON;
        g_assert_cmpint(ctk_format_parse(bad[i], &f), ==, CTK_EINVAL);
        g_assert_cmpint(f, ==, CTK_FORMAT_JSON);
    }
    g_assert_cmpint(ctk_format_parse(NULL, &f), ==, CTK_EINVAL);
    g_assert_cmpint(ctk_format_parse("tsv", NULL), ==, CTK_EINVAL);
}

static void test_new_invalid(void)
{
    static const ctk_field unnamed[] = {{NULL, CTK_FIELD_STRING}};
    ctk_output *o = (ctk_output *)&o; /* must be reset to NULL */
    g_assert_cmpint(ctk_output_new(NULL, stdout, CTK_FORMAT_TSV, two, 2, 0), ==, CTK_EINVAL);
    g_assert_cmpint(ctk_output_new(&o, NULL, CTK_FORMAT_TSV, two, 2, 0), ==, CTK_EINVAL);
    g_assert_null(o);
    g_assert_cmpint(ctk_output_new(&o, stdout, CTK_FORMAT_TSV, NULL, 2, 0), ==, CTK_EINVAL);
    g_assert_cmpint(ctk_output_new(&o, stdout, CTK_FORMAT_TSV, two, 0, 0), ==, CTK_EINVAL);
    g_assert_cmpint(ctk_output_new(&o, stdout, (ctk_format)7, two, 2, 0), ==, CTK_EINVAL);
    g_assert_cmpint(ctk_output_new(&o, stdout, CTK_FORMAT_TSV, unnamed, 1, 0), ==, CTK_EINVAL);
    g_assert_null(o);
    /* NULL-safe clean-up and calls. */
    ctk_output_free(NULL);
    g_assert_cmpint(ctk_output_row(NULL, NULL), ==, CTK_EINVAL);
    g_assert_cmpint(ctk_output_finish(NULL), ==, CTK_EINVAL);
}

static void test_tsv_header(void)
{
    const char *values[] = {"a", "1", "b", "22"};
    char *s = render(CTK_FORMAT_TSV, two, 2, 1, values, 2);
    g_assert_cmpstr(s, ==, "name\tcount\na\t1\nb\t22\n");
    g_free(s);
    s = render(CTK_FORMAT_TSV, two, 2, 0, values, 2);
    g_assert_cmpstr(s, ==, "a\t1\nb\t22\n");
    g_free(s);
}

static void test_tsv_header_no_rows(void)
{
    char *s = render(CTK_FORMAT_TSV, two, 2, 1, NULL, 0);
    g_assert_cmpstr(s, ==, "name\tcount\n");
    g_free(s);
    s = render(CTK_FORMAT_TSV, two, 2, 0, NULL, 0);
    g_assert_cmpstr(s, ==, "");
    g_free(s);
}

static void test_tsv_escape(void)
{
    const char *values[] = {"a\tb\nc\rd\\e", NULL, "", "\\t", "plain \"q\" \xff"};
    static const ctk_field five[] = {{"a", CTK_FIELD_STRING},
                                     {"b", CTK_FIELD_STRING},
                                     {"c", CTK_FIELD_NUMBER},
                                     {"d", CTK_FIELD_STRING},
                                     {"e", CTK_FIELD_STRING}};
    char *s = render(CTK_FORMAT_TSV, five, 5, 0, values, 1);
    /* Bytes other than the four escapes pass through untouched. */
    g_assert_cmpstr(s, ==, "a\\tb\\nc\\rd\\\\e\t\t\t\\\\t\tplain \"q\" \xff\n");
    g_free(s);
}

static void test_tsv_header_escaped(void)
{
    static const ctk_field odd[] = {{"a\tb", CTK_FIELD_STRING}};
    const char *values[] = {"x"};
    char *s = render(CTK_FORMAT_TSV, odd, 1, 1, values, 1);
    g_assert_cmpstr(s, ==, "a\\tb\nx\n");
    g_free(s);
}

static void test_json_basic(void)
{
    const char *values[] = {"a", "1", NULL, "-2.5e3", "b", NULL};
    char *s = render(CTK_FORMAT_JSON, two, 2, 1, values, 3);
    /* header is ignored: JSON lines never have one. */
    g_assert_cmpstr(s, ==,
                    "{\"name\":\"a\",\"count\":1}\n"
                    "{\"name\":null,\"count\":-2.5e3}\n"
                    "{\"name\":\"b\",\"count\":null}\n");
    g_free(s);
}

static void test_json_empty_number(void)
{
    const char *values[] = {"", ""};
    char *s = render(CTK_FORMAT_JSON, two, 2, 0, values, 1);
    /* An empty string stays a string; an empty number would be bad JSON. */
    g_assert_cmpstr(s, ==, "{\"name\":\"\",\"count\":null}\n");
    g_free(s);
}

static void test_json_escape(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"say \"hi\"", "say \\\"hi\\\""},
        {"back\\slash", "back\\\\slash"},
        {"\n\r\t\b\f", "\\n\\r\\t\\b\\f"},
        {"\x01\x1f", "\\u0001\\u001f"},
        {"\x7f/", "\x7f/"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        char *s = json_one(cases[i].in);
        char *want = g_strdup_printf("{\"s\":\"%s\"}\n", cases[i].out);
        g_assert_cmpstr(s, ==, want);
        g_free(want);
        g_free(s);
    }
}

#define FFFD "\xEF\xBF\xBD"

static void test_json_utf8(void)
{
    static const struct {
        const char *name, *in, *out;
    } cases[] = {
        {"two-byte", "caf\xc3\xa9", "caf\xc3\xa9"},
        {"three-byte", "\xe2\x82\xac", "\xe2\x82\xac"},
        {"four-byte", "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},
        {"U+FFFF", "\xef\xbf\xbf", "\xef\xbf\xbf"},
        {"U+10FFFF", "\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"},
        {"lone ff", "\xff", FFFD},
        {"ff in text", "a\377b", "a" FFFD "b"},
        {"lone continuation", "\x80x", FFFD "x"},
        {"overlong C0", "\xc0\xaf", FFFD FFFD},
        {"overlong C1", "\xc1\xbf", FFFD FFFD},
        {"overlong E0", "\xe0\x9f\xbf", FFFD FFFD FFFD},
        {"overlong F0", "\xf0\x8f\xbf\xbf", FFFD FFFD FFFD FFFD},
        {"surrogate", "\xed\xa0\x80", FFFD FFFD FFFD},
        {"past U+10FFFF", "\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD},
        {"F5 lead", "\xf5\x80\x80\x80", FFFD FFFD FFFD FFFD},
        {"truncated at end", "\xe2\x82", FFFD FFFD},
        {"truncated before ascii", "\xf0\x9f\x98z", FFFD FFFD FFFD "z"},
        {"bad byte then quote", "\xfe\"", FFFD "\\\""},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_test_message("case %s", cases[i].name);
        char *s = json_one(cases[i].in);
        char *want = g_strdup_printf("{\"s\":\"%s\"}\n", cases[i].out);
        g_assert_cmpstr(s, ==, want);
        /* Whatever went in, what comes out is valid UTF-8. */
        g_assert_true(g_utf8_validate(s, -1, NULL));
        g_free(want);
        g_free(s);
    }
}

static void test_json_names_escaped(void)
{
    static const ctk_field odd[] = {{"a\"b", CTK_FIELD_NUMBER}};
    const char *values[] = {"3"};
    char *s = render(CTK_FORMAT_JSON, odd, 1, 0, values, 1);
    g_assert_cmpstr(s, ==, "{\"a\\\"b\":3}\n");
    g_free(s);
}

static void test_table_align(void)
{
    static const ctk_field f[] = {{"name", CTK_FIELD_STRING},
                                  {"jobs", CTK_FIELD_NUMBER},
                                  {"wall", CTK_FIELD_NUMBER},
                                  {"note", CTK_FIELD_STRING}};
    const char *values[] = {
        "sync",    "1",  "2.50", "baseline", /* the widest note */
        "thread",  "16", "0.31", NULL,       /* missing at the end */
        "process", "4",  "0.70", "\xc3\xa9", /* one column wide */
    };
    char *s = render(CTK_FORMAT_TABLE, f, 4, 0, values, 3);
    g_assert_cmpstr(s, ==,
                    "name     jobs  wall  note\n"
                    "sync        1  2.50  baseline\n"
                    "thread     16  0.31\n"
                    "process     4  0.70  \xc3\xa9\n");
    g_free(s);
}

static void test_table_wide_header(void)
{
    /* A header wider than its values sets the width; numbers still align
     * right under it. */
    const char *values[] = {"a", "7", "bb", "123"};
    char *s = render(CTK_FORMAT_TABLE, two, 2, 0, values, 2);
    g_assert_cmpstr(s, ==,
                    "name  count\n"
                    "a         7\n"
                    "bb      123\n");
    g_free(s);
}

static void test_table_utf8_width(void)
{
    static const ctk_field f[] = {{"city", CTK_FIELD_STRING}, {"n", CTK_FIELD_NUMBER}};
    /* "Zürich" is 7 bytes but 6 columns; padding follows the columns. */
    const char *values[] = {"Z\xc3\xbcrich", "1", "K\xc3\xb6ln", "22", "Bern", "3"};
    char *s = render(CTK_FORMAT_TABLE, f, 2, 0, values, 3);
    g_assert_cmpstr(s, ==,
                    "city     n\n"
                    "Z\xc3\xbcrich   1\n"
                    "K\xc3\xb6ln    22\n"
                    "Bern     3\n");
    g_free(s);
}

static void test_table_no_trailing_spaces(void)
{
    static const ctk_field f[] = {
        {"n", CTK_FIELD_NUMBER}, {"s", CTK_FIELD_STRING}, {"t", CTK_FIELD_STRING}};
    const char *values[] = {
        "1",  "",    "",    /* only the first cell */
        NULL, "mid", NULL,  /* an empty number still pads */
        NULL, NULL,  NULL,  /* nothing at all */
        "22", "x",   "end", /* every cell */
    };
    char *s = render(CTK_FORMAT_TABLE, f, 3, 0, values, 4);
    g_assert_cmpstr(s, ==,
                    " n  s    t\n"
                    " 1\n"
                    "    mid\n"
                    "\n"
                    "22  x    end\n");
    g_free(s);
}

static void test_table_escape(void)
{
    static const ctk_field f[] = {{"a", CTK_FIELD_STRING}, {"b", CTK_FIELD_STRING}};
    const char *values[] = {"x\ty\nz", "w"};
    char *s = render(CTK_FORMAT_TABLE, f, 2, 0, values, 1);
    /* Spelled out, so one record stays one line and columns line up. */
    g_assert_cmpstr(s, ==,
                    "a        b\n"
                    "x\\ty\\nz  w\n");
    g_free(s);
}

static void test_table_header_only(void)
{
    char *s = render(CTK_FORMAT_TABLE, two, 2, 0, NULL, 0);
    g_assert_cmpstr(s, ==, "name  count\n");
    g_free(s);
}

static void test_table_many_rows(void)
{
    /* Enough rows to grow the buffer several times. */
    enum { ROWS = 1000 };
    const char **values = g_new(const char *, ROWS * 2);
    char **owned = g_new(char *, ROWS);
    for (size_t r = 0; r < ROWS; r++) {
        owned[r] = g_strdup_printf("%zu", r);
        values[2 * r] = "r";
        values[2 * r + 1] = owned[r];
    }
    char *s = render(CTK_FORMAT_TABLE, two, 2, 0, values, ROWS);
    g_assert_true(g_str_has_prefix(s, "name  count\nr         0\nr         1\n"));
    g_assert_true(g_str_has_suffix(s, "r       999\n"));
    g_assert_cmpuint(strlen(s), ==, (size_t)(ROWS + 1) * 12);
    g_free(s);
    for (size_t r = 0; r < ROWS; r++)
        g_free(owned[r]);
    g_free(owned);
    g_free(values);
}

static void test_table_finish_once(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ctk_output *o;
    const char *values[] = {"a", "1"};
    g_assert_cmpint(ctk_output_new(&o, f, CTK_FORMAT_TABLE, two, 2, 0), ==, 0);
    g_assert_cmpint(ctk_output_row(o, values), ==, 0);
    /* Buffered: nothing is written before finish. */
    fflush(f);
    g_assert_cmpuint(len, ==, 0);
    g_assert_cmpint(ctk_output_finish(o), ==, 0);
    g_assert_cmpint(ctk_output_finish(o), ==, 0);
    g_assert_cmpint(ctk_output_row(o, values), ==, CTK_EINVAL);
    ctk_output_free(o);
    fclose(f);
    g_assert_cmpstr(buf, ==, "name  count\na         1\n");
    free(buf);
}

static void test_fields_copied(void)
{
    char name[] = "first";
    ctk_field f[] = {{name, CTK_FIELD_STRING}};
    char *buf = NULL;
    size_t len = 0;
    FILE *s = open_memstream(&buf, &len);
    ctk_output *o;
    g_assert_cmpint(ctk_output_new(&o, s, CTK_FORMAT_JSON, f, 1, 0), ==, 0);
    memcpy(name, "XXXXX", sizeof name);
    f[0].kind = CTK_FIELD_NUMBER;
    const char *values[] = {"v"};
    g_assert_cmpint(ctk_output_row(o, values), ==, 0);
    g_assert_cmpint(ctk_output_finish(o), ==, 0);
    ctk_output_free(o);
    fclose(s);
    g_assert_cmpstr(buf, ==, "{\"first\":\"v\"}\n");
    free(buf);
}

static void test_write_error_full(void)
{
    FILE *f = fopen("/dev/full", "w");
    if (f == NULL) {
        g_test_skip("no /dev/full");
        return;
    }
    ctk_output *o;
    const char *values[] = {"a", "1"};
    g_assert_cmpint(ctk_output_new(&o, f, CTK_FORMAT_TABLE, two, 2, 0), ==, 0);
    g_assert_cmpint(ctk_output_row(o, values), ==, 0);
    /* The write only fails on flush: finish must notice. */
    g_assert_cmpint(ctk_output_finish(o), ==, CTK_EIO);
    ctk_output_free(o);
    fclose(f);
}

static void test_write_error_unwritable(void)
{
    /* A read-only stream fails every write at once. */
    FILE *f = fopen("/dev/null", "r");
    g_assert_nonnull(f);
    ctk_output *o;
    const char *values[] = {"a", "1"};
    g_assert_cmpint(ctk_output_new(&o, f, CTK_FORMAT_TSV, two, 2, 1), ==, 0);
    g_assert_cmpint(ctk_output_row(o, values), ==, CTK_EIO);
    g_assert_cmpint(ctk_output_finish(o), ==, CTK_EIO);
    ctk_output_free(o);
    fclose(f);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/output/format-parse", test_format_parse);
    g_test_add_func("/output/new-invalid", test_new_invalid);
    g_test_add_func("/output/fields-copied", test_fields_copied);
    g_test_add_func("/output/tsv/header", test_tsv_header);
    g_test_add_func("/output/tsv/header-no-rows", test_tsv_header_no_rows);
    g_test_add_func("/output/tsv/escape", test_tsv_escape);
    g_test_add_func("/output/tsv/header-escaped", test_tsv_header_escaped);
    g_test_add_func("/output/json/basic", test_json_basic);
    g_test_add_func("/output/json/empty-number", test_json_empty_number);
    g_test_add_func("/output/json/escape", test_json_escape);
    g_test_add_func("/output/json/utf8", test_json_utf8);
    g_test_add_func("/output/json/names-escaped", test_json_names_escaped);
    g_test_add_func("/output/table/align", test_table_align);
    g_test_add_func("/output/table/wide-header", test_table_wide_header);
    g_test_add_func("/output/table/utf8-width", test_table_utf8_width);
    g_test_add_func("/output/table/no-trailing-spaces", test_table_no_trailing_spaces);
    g_test_add_func("/output/table/escape", test_table_escape);
    g_test_add_func("/output/table/header-only", test_table_header_only);
    g_test_add_func("/output/table/many-rows", test_table_many_rows);
    g_test_add_func("/output/table/finish-once", test_table_finish_once);
    g_test_add_func("/output/error/full", test_write_error_full);
    g_test_add_func("/output/error/unwritable", test_write_error_unwritable);
    return g_test_run();
}
