/*
 * test-parse.c: the checked number parsers accept exactly what a user
 * means and reject everything else with the right code and a reason a
 * tool can print.
 */
#include <glib.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "ctkx/parse.h"

/* A rejected input: the code, the reason, and *out left alone. */
typedef struct bad_case {
    const char *text;
    int code;
    const char *why;
} bad_case;

static void test_u64_good(void)
{
    uint64_t v = 0;
    char why[128];
    g_assert_cmpint(ctk_parse_u64("42", 0, 100, &v, why, sizeof why), ==, 0);
    g_assert_cmpuint(v, ==, 42);
    g_assert_cmpint(ctk_parse_u64("0", 0, 100, &v, why, sizeof why), ==, 0);
    g_assert_cmpuint(v, ==, 0);
    g_assert_cmpint(ctk_parse_u64("007", 0, 100, &v, why, sizeof why), ==, 0);
    g_assert_cmpuint(v, ==, 7);
    g_assert_cmpint(ctk_parse_u64("18446744073709551615", 0, UINT64_MAX, &v, why, sizeof why), ==,
                    0);
    g_assert_cmpuint(v, ==, UINT64_MAX);
}

static void test_u64_bad(void)
{
    static const bad_case cases[] = {
        {"", CTK_EINVAL, "not a number"},
        {"-1", CTK_EINVAL, "not a number"},
        {"+1", CTK_EINVAL, "not a number"},
        {" 1", CTK_EINVAL, "not a number"},
        {"1 ", CTK_EINVAL, "not a number"},
        {"1x", CTK_EINVAL, "not a number"},
        {"0x10", CTK_EINVAL, "not a number"},
        {"1.5", CTK_EINVAL, "not a number"},
        {"abc", CTK_EINVAL, "not a number"},
        {"18446744073709551616", CTK_ERANGE, "too large (at most 18446744073709551615)"},
        {"99999999999999999999999", CTK_ERANGE, "too large (at most 18446744073709551615)"},
        {"0", CTK_ERANGE, "must be at least 1"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        uint64_t v = 12345;
        char why[128] = "";
        g_test_message("input '%s'", cases[i].text);
        g_assert_cmpint(ctk_parse_u64(cases[i].text, 1, UINT64_MAX, &v, why, sizeof why), ==,
                        cases[i].code);
        g_assert_cmpstr(why, ==, cases[i].why);
        g_assert_cmpuint(v, ==, 12345);
    }
}

static void test_u64_range(void)
{
    uint64_t v = 0;
    char why[128];
    g_assert_cmpint(ctk_parse_u64("101", 0, 100, &v, why, sizeof why), ==, CTK_ERANGE);
    g_assert_cmpstr(why, ==, "too large (at most 100)");
    g_assert_cmpint(ctk_parse_u64("4", 5, 100, &v, why, sizeof why), ==, CTK_ERANGE);
    g_assert_cmpstr(why, ==, "must be at least 5");
    /* NULL text is a syntax error, and a NULL reason buffer is allowed. */
    g_assert_cmpint(ctk_parse_u64(NULL, 0, 100, &v, why, sizeof why), ==, CTK_EINVAL);
    g_assert_cmpint(ctk_parse_u64("x", 0, 100, &v, NULL, 0), ==, CTK_EINVAL);
}

static void test_u64_why_truncated(void)
{
    uint64_t v;
    char why[8];
    memset(why, 'z', sizeof why);
    g_assert_cmpint(ctk_parse_u64("", 0, 1, &v, why, sizeof why), ==, CTK_EINVAL);
    g_assert_cmpstr(why, ==, "not a n");
}

static void test_size_good(void)
{
    static const struct {
        const char *text;
        uint64_t value;
    } cases[] = {
        {"0", 0},
        {"512", 512},
        {"1k", 1024},
        {"1K", 1024},
        {"1M", 1048576},
        {"3G", UINT64_C(3) << 30},
        {"2T", UINT64_C(2) << 40},
        {"16777215T", UINT64_C(16777215) << 40},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        uint64_t v = 1;
        char why[128];
        g_test_message("input '%s'", cases[i].text);
        g_assert_cmpint(
            ctk_parse_size(cases[i].text, CTK_SIZE_BINARY, 0, UINT64_MAX, &v, why, sizeof why), ==,
            0);
        g_assert_cmpuint(v, ==, cases[i].value);
    }
}

static void test_size_bad(void)
{
    static const bad_case cases[] = {
        {"", CTK_EINVAL, "not a number"},
        {"k", CTK_EINVAL, "not a number"},
        {"-1k", CTK_EINVAL, "not a number"},
        {" 1k", CTK_EINVAL, "not a number"},
        {"16E", CTK_EINVAL, "unknown suffix 'E' (use k, M, G or T)"},
        {"1m", CTK_EINVAL, "unknown suffix 'm' (use k, M, G or T)"},
        {"1kb", CTK_EINVAL, "unknown suffix 'kb' (use k, M, G or T)"},
        /* GNU parallel's fractions and P are CTK_SIZE_PARALLEL's only. */
        {"1.5k", CTK_EINVAL, "unknown suffix '.5k' (use k, M, G or T)"},
        {"1P", CTK_EINVAL, "unknown suffix 'P' (use k, M, G or T)"},
        {"1 k", CTK_EINVAL, "unknown suffix ' k' (use k, M, G or T)"},
        {"20000000T", CTK_ERANGE, "too large (at most 18446744073709551615)"},
        {"16777216T", CTK_ERANGE, "too large (at most 18446744073709551615)"},
        {"18446744073709551616", CTK_ERANGE, "too large (at most 18446744073709551615)"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        uint64_t v = 12345;
        char why[128] = "";
        g_test_message("input '%s'", cases[i].text);
        g_assert_cmpint(
            ctk_parse_size(cases[i].text, CTK_SIZE_BINARY, 0, UINT64_MAX, &v, why, sizeof why), ==,
            cases[i].code);
        g_assert_cmpstr(why, ==, cases[i].why);
        g_assert_cmpuint(v, ==, 12345);
    }
}

static void test_size_range(void)
{
    uint64_t v = 0;
    char why[128];
    /* The range applies after the suffix. */
    g_assert_cmpint(ctk_parse_size("1k", CTK_SIZE_BINARY, 0, 1000, &v, why, sizeof why), ==,
                    CTK_ERANGE);
    g_assert_cmpstr(why, ==, "too large (at most 1000)");
    g_assert_cmpint(ctk_parse_size("1023", CTK_SIZE_BINARY, 1024, UINT64_MAX, &v, why, sizeof why),
                    ==, CTK_ERANGE);
    g_assert_cmpstr(why, ==, "must be at least 1024");
    g_assert_cmpint(ctk_parse_size("1k", CTK_SIZE_BINARY, 1024, 1024, &v, why, sizeof why), ==, 0);
    g_assert_cmpuint(v, ==, 1024);
}

/* GNU parallel's multiply_binary_prefix: lowercase decimal, uppercase
 * and "i" binary, fractions truncated. */
static void test_size_parallel(void)
{
    static const struct {
        const char *text;
        uint64_t value;
    } cases[] = {
        {"5", 5},        {"10k", 10000},   {"10K", 10240},     {"2ki", 2048},  {"200m", 200000000},
        {"1M", 1048576}, {"1Mi", 1048576}, {"1g", 1000000000}, {"1.5k", 1500}, {"0.1M", 104857}};
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        uint64_t v = 0;
        char why[128];
        g_test_message("input '%s'", cases[i].text);
        g_assert_cmpint(
            ctk_parse_size(cases[i].text, CTK_SIZE_PARALLEL, 0, UINT64_MAX, &v, why, sizeof why),
            ==, 0);
        g_assert_cmpuint(v, ==, cases[i].value);
    }
    uint64_t v = 7;
    char why[128];
    g_assert_cmpint(ctk_parse_size("1x", CTK_SIZE_PARALLEL, 0, UINT64_MAX, &v, why, sizeof why), ==,
                    CTK_EINVAL);
    g_assert_cmpint(ctk_parse_size("1k", CTK_SIZE_PARALLEL, 1, 999, &v, why, sizeof why), ==,
                    CTK_ERANGE);
    g_assert_cmpuint(v, ==, 7);
}

static void test_seconds_good(void)
{
    static const struct {
        const char *text;
        double value;
    } cases[] = {
        {"0", 0}, {"30", 30}, {"0.5", 0.5}, {"1.25", 1.25}, {".5", 0.5}, {"2.", 2}, {"3600", 3600},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        double v = -1;
        char why[128];
        g_test_message("input '%s'", cases[i].text);
        g_assert_cmpint(ctk_parse_seconds(cases[i].text, 86400, &v, why, sizeof why), ==, 0);
        g_assert_cmpfloat(v, ==, cases[i].value);
    }
}

static void test_seconds_bad(void)
{
    static const bad_case cases[] = {
        {"", CTK_EINVAL, "not a number of seconds"},
        {".", CTK_EINVAL, "not a number of seconds"},
        {"-1", CTK_EINVAL, "not a number of seconds"},
        {"-0.5", CTK_EINVAL, "not a number of seconds"},
        {"+1", CTK_EINVAL, "not a number of seconds"},
        {" 1", CTK_EINVAL, "not a number of seconds"},
        {"1s", CTK_EINVAL, "not a number of seconds"},
        {"nan", CTK_EINVAL, "not a number of seconds"},
        {"inf", CTK_EINVAL, "not a number of seconds"},
        {"infinity", CTK_EINVAL, "not a number of seconds"},
        {"0x10", CTK_EINVAL, "not a number of seconds"},
        {"1e3", CTK_EINVAL, "not a number of seconds"},
        {"1.2.3", CTK_EINVAL, "not a number of seconds"},
        {"1,5", CTK_EINVAL, "not a number of seconds"},
        {"86401", CTK_ERANGE, "too large (at most 86400)"},
        {"86400.5", CTK_ERANGE, "too large (at most 86400)"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        double v = 7;
        char why[128] = "";
        g_test_message("input '%s'", cases[i].text);
        g_assert_cmpint(ctk_parse_seconds(cases[i].text, 86400, &v, why, sizeof why), ==,
                        cases[i].code);
        g_assert_cmpstr(why, ==, cases[i].why);
        g_assert_cmpfloat(v, ==, 7);
    }
}

static void test_seconds_huge(void)
{
    /* 400 digits overflow a double to infinity: a range error, not a value. */
    char text[401];
    memset(text, '9', 400);
    text[400] = '\0';
    double v = 7;
    char why[128];
    g_assert_cmpint(ctk_parse_seconds(text, INFINITY, &v, why, sizeof why), ==, CTK_ERANGE);
    g_assert_cmpfloat(v, ==, 7);
}

static void test_seconds_locale(void)
{
    /* A comma-decimal locale must not break "0.5"; skip when none exists. */
    static const char *const comma[] = {"de_DE.UTF-8", "de_DE.utf8",  "fr_FR.UTF-8",
                                        "fr_FR.utf8",  "ru_RU.UTF-8", "ru_RU.utf8"};
    char *saved = g_strdup(setlocale(LC_NUMERIC, NULL));
    size_t i = 0;
    while (i < G_N_ELEMENTS(comma) && setlocale(LC_NUMERIC, comma[i]) == NULL)
        i++;
    if (i == G_N_ELEMENTS(comma)) {
        g_free(saved);
        g_test_skip("no locale with a decimal comma installed");
        return;
    }
    double v = 0;
    char why[128];
    int rc = ctk_parse_seconds("0.5", 10, &v, why, sizeof why);
    setlocale(LC_NUMERIC, saved);
    g_free(saved);
    g_assert_cmpint(rc, ==, 0);
    g_assert_cmpfloat(v, ==, 0.5);
}

static void test_jobs_good(void)
{
    static const struct {
        const char *text;
        unsigned cores, value;
    } cases[] = {
        {"1", 2, 1},      {"8", 2, 8},    {"50%", 2, 1}, {"100%", 2, 2},
        {"1%", 2, 1},     {"200%", 2, 4}, {"50%", 7, 3}, {"99%", 4, 3},
        {"100%", 64, 64}, {"007", 2, 7},  {"50%", 0, 1},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        unsigned v = 0;
        char why[128];
        g_test_message("input '%s' with %u cores", cases[i].text, cases[i].cores);
        g_assert_cmpint(ctk_parse_jobs(cases[i].text, cases[i].cores, 1000, &v, why, sizeof why),
                        ==, 0);
        g_assert_cmpuint(v, ==, cases[i].value);
    }
}

static void test_jobs_bad(void)
{
    static const bad_case cases[] = {
        {"", CTK_EINVAL, "not a number"},
        {"%", CTK_EINVAL, "not a number"},
        {"-1", CTK_EINVAL, "not a number"},
        {"+1", CTK_EINVAL, "not a number"},
        {" 1", CTK_EINVAL, "not a number"},
        {"1x", CTK_EINVAL, "not a number (use N or N%)"},
        {"50%%", CTK_EINVAL, "not a number (use N or N%)"},
        {"50 %", CTK_EINVAL, "not a number (use N or N%)"},
        {"0", CTK_ERANGE, "must be at least 1"},
        {"0%", CTK_ERANGE, "must be at least 1%"},
        {"1001", CTK_ERANGE, "too large (at most 1000)"},
        {"100000%", CTK_ERANGE, "too large (at most 1000)"},
        {"18446744073709551615%", CTK_ERANGE, "too large (at most 1000)"},
        /* 2 * this wraps to 100 in 64 bits: must not come out as one job. */
        {"9223372036854775858%", CTK_ERANGE, "too large (at most 1000)"},
        {"18446744073709551616", CTK_ERANGE, "too large (at most 1000)"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        unsigned v = 12345;
        char why[128] = "";
        g_test_message("input '%s'", cases[i].text);
        g_assert_cmpint(ctk_parse_jobs(cases[i].text, 2, 1000, &v, why, sizeof why), ==,
                        cases[i].code);
        g_assert_cmpstr(why, ==, cases[i].why);
        g_assert_cmpuint(v, ==, 12345);
    }
}

static void test_cpu_count(void)
{
    unsigned n = ctk_cpu_count();
    g_assert_cmpuint(n, >=, 1);
    g_assert_cmpint(n, <=, sysconf(_SC_NPROCESSORS_CONF));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/parse/u64/good", test_u64_good);
    g_test_add_func("/parse/u64/bad", test_u64_bad);
    g_test_add_func("/parse/u64/range", test_u64_range);
    g_test_add_func("/parse/u64/why-truncated", test_u64_why_truncated);
    g_test_add_func("/parse/size/good", test_size_good);
    g_test_add_func("/parse/size/bad", test_size_bad);
    g_test_add_func("/parse/size/range", test_size_range);
    g_test_add_func("/parse/size-parallel", test_size_parallel);
    g_test_add_func("/parse/seconds/good", test_seconds_good);
    g_test_add_func("/parse/seconds/bad", test_seconds_bad);
    g_test_add_func("/parse/seconds/huge", test_seconds_huge);
    g_test_add_func("/parse/seconds/locale", test_seconds_locale);
    g_test_add_func("/parse/jobs/good", test_jobs_good);
    g_test_add_func("/parse/jobs/bad", test_jobs_bad);
    g_test_add_func("/parse/cpu-count", test_cpu_count);
    return g_test_run();
}
