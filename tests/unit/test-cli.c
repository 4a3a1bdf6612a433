/* test-cli.c: shared options, the tool's own, and usage errors with the
 * option named. */
#include <glib.h>
#include <string.h>

#include "ctkx/cli.h"

enum { OPT_COLOUR = 256, OPT_LOUD };

static const ctk_cli_option tool_options[] = {
    {"colour", 'c', CTK_ARG_REQUIRED, "NAME", "a colour", OPT_COLOUR},
    {"loud", 0, CTK_ARG_NONE, NULL, "be loud", OPT_LOUD},
    {NULL, 0, 0, NULL, NULL, 0},
};

typedef struct tool {
    const char *colour;
    int loud;
} tool;

static int on_option(void *arg, int id, const char *value, char *why, size_t why_len)
{
    tool *t = arg;
    if (id == OPT_COLOUR && strcmp(value, "plaid") == 0) {
        snprintf(why, why_len, "not a colour");
        return CTK_EINVAL;
    }
    if (id == OPT_COLOUR)
        t->colour = value;
    else
        t->loud = 1;
    return 0;
}

typedef struct parsed {
    int rc, operands;
    tool tool;
    ctk_common common;
    char err[512];
} parsed;

static void parse(parsed *p, const char *line)
{
    char **argv = g_strsplit(line, " ", -1);
    int argc = (int)g_strv_length(argv);
    ctk_cli cli = {"tool", "[OPTION]...", "A tool.", tool_options, on_option, &p->tool, 0,
                   0,      NULL,          0};
    ctk_registry *reg;
    ctk_registry_new(&reg);
    memset(p, 0, sizeof *p);
    p->rc = ctk_cli_parse(&cli, reg, argc, argv, &p->common, &p->operands, p->err, sizeof p->err);
    ctk_registry_free(reg);
    /* Values point into argv; the tests only read strategy and colour
     * before the next parse, so keep argv alive by leaking it on purpose
     * into a list freed at exit. */
    static GPtrArray *keep;
    if (keep == NULL)
        keep = g_ptr_array_new();
    g_ptr_array_add(keep, argv);
}

static void test_shared_options(void)
{
    parsed p;
    parse(&p, "tool -j 3 -s process -k --header --format json --progress x y");
    g_assert_cmpint(p.rc, ==, 0);
    g_assert_cmpuint(p.common.jobs, ==, 3);
    g_assert_cmpstr(p.common.strategy, ==, "process");
    g_assert_true(p.common.keep_order && p.common.header && p.common.progress);
    g_assert_cmpint(p.common.format, ==, CTK_FORMAT_JSON);
    g_assert_cmpint(p.operands, ==, 10);
    ctk_common_free(&p.common);
}

static void test_compare_lists(void)
{
    parsed p;
    parse(&p, "tool --compare");
    g_assert_cmpint(p.rc, ==, 0);
    char *joined = g_strjoinv(",", p.common.compare);
    g_assert_cmpstr(joined, ==, CTK_COMPARE_DEFAULT);
    g_free(joined);
    ctk_common_free(&p.common);
    parse(&p, "tool --compare=thread,sync");
    g_assert_cmpuint(g_strv_length(p.common.compare), ==, 2);
    g_assert_cmpstr(p.common.compare[0], ==, "thread");
    ctk_common_free(&p.common);
    parse(&p, "tool --compare=thread,bogus");
    g_assert_cmpint(p.rc, ==, CTK_EINVAL);
    g_assert_true(g_str_has_prefix(p.err, "unknown strategy 'bogus' (known: async, process"));
    ctk_common_free(&p.common);
}

/* --plot is checked at parse time, before any work: it needs --compare
 * and a picture's name; --help answers without either. */
static void test_plot_needs_compare(void)
{
    parsed p;
    parse(&p, "tool --plot x.svg");
    g_assert_cmpint(p.rc, ==, CTK_EINVAL);
    g_assert_cmpstr(p.err, ==, "--plot draws the --compare table: add --compare");
    ctk_common_free(&p.common);
    parse(&p, "tool --compare=sync --plot x.pdf");
    g_assert_cmpint(p.rc, ==, CTK_EINVAL);
    g_assert_cmpstr(p.err, ==, "--plot x.pdf: name a .svg or .png file");
    ctk_common_free(&p.common);
    parse(&p, "tool --plot x.pdf --help");
    g_assert_cmpint(p.rc, ==, 0);
    g_assert_cmpstr(p.common.plot, ==, "x.pdf");
    ctk_common_free(&p.common);
    /* The rest depends on gnuplot being on PATH, which tests/plots.bats
     * covers both ways. */
}

static void test_tool_options(void)
{
    parsed p;
    parse(&p, "tool -c red --loud");
    g_assert_cmpint(p.rc, ==, 0);
    g_assert_cmpstr(p.tool.colour, ==, "red");
    g_assert_cmpint(p.tool.loud, ==, 1);
    ctk_common_free(&p.common);
    parse(&p, "tool --colour plaid");
    g_assert_cmpint(p.rc, ==, CTK_EINVAL);
    g_assert_cmpstr(p.err, ==, "-c plaid: not a colour");
    ctk_common_free(&p.common);
}

static void test_usage_errors(void)
{
    const char *cases[][2] = {
        {"tool -j 0", "-j 0: "},
        {"tool -j abc", "-j abc: "},
        {"tool -j -1", "-j -1: "},
        {"tool -s nope", "unknown strategy 'nope'"},
        {"tool --format xml", "--format xml: use tsv, json or table"},
        {"tool --bogus", "unknown option '--bogus'"},
        {"tool -Z", "unknown option '-Z'"},
        {"tool -j", "option '-j' needs a value"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        parsed p;
        parse(&p, cases[i][0]);
        g_assert_cmpint(p.rc, ==, CTK_EINVAL);
        if (!g_str_has_prefix(p.err, cases[i][1]))
            g_error("%s: got '%s', want prefix '%s'", cases[i][0], p.err, cases[i][1]);
        ctk_common_free(&p.common);
    }
}

static void test_missing_plugin_is_reported(void)
{
    parsed p;
    parse(&p, "tool --plugin /nonexistent/plug.so");
    g_assert_cmpint(p.rc, ==, CTK_ENOENT);
    g_assert_cmpstr(p.err, ==, "plugin /nonexistent/plug.so: no such file");
    ctk_common_free(&p.common);
}

static void test_help_lists_everything(void)
{
    ctk_cli cli = {"tool", "[OPTION]...\n-", "A tool.", tool_options, on_option, NULL, 0, 0, NULL,
                   0};
    ctk_registry *reg;
    ctk_registry_new(&reg);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ctk_cli_help(&cli, reg, f);
    fclose(f);
    g_assert_true(g_str_has_prefix(text, "Usage: tool [OPTION]...\n   or: tool -\n"));
    const char *must[] = {
        "--colour NAME",     "--loud",       "--jobs N", "--strategy NAME", "--compare[=LIST]",
        "--list-strategies", "--format FMT", "--header", "--keep-order",    "--progress",
        "--plugin FILE",     "--help",       "--version"};
    for (size_t i = 0; i < G_N_ELEMENTS(must); i++)
        if (strstr(text, must[i]) == NULL)
            g_error("help lacks %s", must[i]);
    free(text);
    ctk_registry_free(reg);
}

/* The hidden --dump-options: parsed, answered by ctk_cli_inform with the
 * table as TSV (the completions are generated from it), never in --help. */
static void test_dump_options(void)
{
    parsed p;
    parse(&p, "tool --dump-options");
    g_assert_cmpint(p.rc, ==, 0);
    g_assert_true(p.common.dump_options);
    /* alone and spelt out only: it takes no abbreviation from --loud */
    parse(&p, "tool --dump-options x");
    g_assert_cmpint(p.rc, ==, CTK_EINVAL);
    parse(&p, "tool --dump");
    g_assert_cmpint(p.rc, ==, CTK_EINVAL);
    parse(&p, "tool --lo");
    g_assert_cmpint(p.rc, ==, 0);
    g_assert_true(p.tool.loud);
    parse(&p, "tool --dump-options");
    ctk_cli cli = {"tool", "[OPTION]...", "A tool.", tool_options, on_option, NULL, 1, 0, NULL, 0};
    ctk_registry *reg;
    ctk_registry_new(&reg);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    g_assert_cmpint(ctk_cli_inform(&cli, reg, &p.common, f, NULL, NULL), ==, 1);
    fclose(f);
    char **lines = g_strsplit(text, "\n", -1);
    g_assert_cmpstr(lines[0], ==, "tool\ttool\tstop-at-operand");
    g_assert_cmpstr(lines[1], ==, "option\tc\tcolour\trequired\tNAME\ta colour\ttool");
    g_assert_cmpstr(lines[2], ==, "option\t-\tloud\tnone\t-\tbe loud\ttool");
    g_assert_cmpstr(lines[3], ==,
                    "option\tj\tjobs\trequired\tN\trun N at a time, or N% of the cores\tshared");
    g_assert_nonnull(strstr(text, "option\t-\tcompare\toptional\tLIST\t"));
    g_assert_null(strstr(text, "dump-options"));
    /* one line per option of the table, 7 fields each */
    for (char **l = lines + 1; *l != NULL && **l != '\0'; l++) {
        char **fields = g_strsplit(*l, "\t", -1);
        g_assert_cmpuint(g_strv_length(fields), ==, 7);
        g_strfreev(fields);
    }
    g_strfreev(lines);
    free(text);
    text = NULL;
    f = open_memstream(&text, &len);
    ctk_cli_help(&cli, reg, f);
    fclose(f);
    g_assert_null(strstr(text, "dump-options"));
    free(text);
    ctk_registry_free(reg);
    ctk_common_free(&p.common);
}

/* A tool option that takes -s over and still names the shared strategy
 * when its handler says so (cpar's -s NAME|N: a number is its own). */
enum { OPT_S = 300 };

static const ctk_cli_option s_options[] = {
    {"strategy", 's', CTK_ARG_REQUIRED, "NAME|N", "a strategy, or a size", OPT_S},
    {NULL, 0, 0, NULL, NULL, 0},
};

static int on_s(void *arg, int id, const char *value, char *why, size_t why_len)
{
    (void)why, (void)why_len;
    if (id != OPT_S)
        return CTK_EINVAL;
    if (g_ascii_isdigit(value[0])) {
        *(const char **)arg = value;
        return 0;
    }
    return CTK_CLI_STRATEGY;
}

static void test_tool_option_sets_strategy(void)
{
    const char *lines[][3] = {
        /* argv, the strategy set, the size kept by the tool */
        {"tool -s process x", "process", NULL},
        {"tool --strategy=sync x", "sync", NULL},
        {"tool -s 100 x", NULL, "100"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(lines); i++) {
        const char *size = NULL;
        char **argv = g_strsplit(lines[i][0], " ", -1);
        ctk_cli cli = {.prog = "tool",
                       .synopsis = "",
                       .summary = "",
                       .options = s_options,
                       .handler = on_s,
                       .handler_arg = &size,
                       .strategy_option = OPT_S};
        ctk_registry *reg;
        ctk_registry_new(&reg);
        ctk_common c;
        int operands;
        char err[256] = "";
        g_assert_cmpint(ctk_cli_parse(&cli, reg, (int)g_strv_length(argv), argv, &c, &operands, err,
                                      sizeof err),
                        ==, 0);
        g_assert_cmpstr(c.strategy, ==, lines[i][1]);
        g_assert_cmpstr(size, ==, lines[i][2]);
        ctk_common_free(&c);
        /* an unknown name is refused as -s refuses it */
        char *bad[] = {"tool", "-s", "nope", "x", NULL};
        g_assert_cmpint(ctk_cli_parse(&cli, reg, 4, bad, &c, &operands, err, sizeof err), ==,
                        CTK_EINVAL);
        g_assert_true(g_str_has_prefix(err, "unknown strategy 'nope'"));
        ctk_common_free(&c);
        ctk_registry_free(reg);
        g_strfreev(argv);
    }
    /* without strategy_option, the same answer is no strategy */
    const char *size = NULL;
    char *argv[] = {"tool", "-s", "process", "x", NULL};
    ctk_cli cli = {.prog = "tool",
                   .synopsis = "",
                   .summary = "",
                   .options = s_options,
                   .handler = on_s,
                   .handler_arg = &size};
    ctk_registry *reg;
    ctk_registry_new(&reg);
    ctk_common c;
    int operands;
    char err[256];
    g_assert_cmpint(ctk_cli_parse(&cli, reg, 4, argv, &c, &operands, err, sizeof err), ==, 0);
    g_assert_null(c.strategy);
    ctk_common_free(&c);
    ctk_registry_free(reg);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cli/shared", test_shared_options);
    g_test_add_func("/cli/compare", test_compare_lists);
    g_test_add_func("/cli/plot", test_plot_needs_compare);
    g_test_add_func("/cli/tool-options", test_tool_options);
    g_test_add_func("/cli/usage-errors", test_usage_errors);
    g_test_add_func("/cli/missing-plugin", test_missing_plugin_is_reported);
    g_test_add_func("/cli/help", test_help_lists_everything);
    g_test_add_func("/cli/dump-options", test_dump_options);
    g_test_add_func("/cli/tool-option-sets-strategy", test_tool_option_sets_strategy);
    return g_test_run();
}
