/*
 * cli.c: shared option parsing. One table of the shared options, merged at
 * run time with the tool's table and the loaded strategies' options into
 * one getopt_long table.
 */
#include <fcntl.h>
#include <getopt.h>
#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctkx/cli.h"
#include "ctkx/parse.h"
#include "ctkx/plot.h"

enum {
    OPT_JOBS = -100,
    OPT_STRATEGY,
    OPT_LIST,
    OPT_COMPARE,
    OPT_FORMAT,
    OPT_HEADER,
    OPT_KEEP_ORDER,
    OPT_PROGRESS,
    OPT_PLUGIN,
    OPT_PLOT,
    OPT_HELP,
    OPT_VERSION,
};

/* Strategy options get ids from here up: OPT_STRATEGY_BASE + k. */
#define OPT_STRATEGY_BASE 100000
#define JOBS_MAX          4096

static const ctk_cli_option common_options[] = {
    {"jobs", 'j', CTK_ARG_REQUIRED, "N", "run N at a time, or N% of the cores", OPT_JOBS},
    {"strategy", 's', CTK_ARG_REQUIRED, "NAME", "sync, thread, process, async or a plugin's",
     OPT_STRATEGY},
    {"list-strategies", 0, CTK_ARG_NONE, NULL, "list the strategies and exit", OPT_LIST},
    {"compare", 0, CTK_ARG_OPTIONAL, "LIST",
     "run under each strategy in LIST (default " CTK_COMPARE_DEFAULT ") and print a table",
     OPT_COMPARE},
    {"plot", 0, CTK_ARG_REQUIRED, "FILE",
     "with --compare: chart wall, CPU time, speedup in FILE (.svg/.png, gnuplot)", OPT_PLOT},
    {"format", 0, CTK_ARG_REQUIRED, "FMT", "records as tsv, json or table", OPT_FORMAT},
    {"header", 0, CTK_ARG_NONE, NULL, "print a header line before TSV records", OPT_HEADER},
    {"keep-order", 'k', CTK_ARG_NONE, NULL, "records in input order", OPT_KEEP_ORDER},
    {"progress", 0, CTK_ARG_NONE, NULL, "a progress bar on stderr (none unless asked)",
     OPT_PROGRESS},
    {"plugin", 0, CTK_ARG_REQUIRED, "FILE", "load the plugin FILE (repeatable)", OPT_PLUGIN},
    {"help", 'h', CTK_ARG_NONE, NULL, "show this help and exit", OPT_HELP},
    {"version", 'V', CTK_ARG_NONE, NULL, "show the version and exit", OPT_VERSION},
    {NULL, 0, 0, NULL, NULL, 0},
};

/* A strategy option as getopt sees it. */
typedef struct strategy_option {
    const ctk_strategy *strategy;
    const ctk_option *option;
} strategy_option;

typedef struct parse_state {
    const ctk_cli *cli;
    ctk_registry *reg;
    ctk_common *common;
    GArray *strategy_options;     /* strategy_option */
    const strategy_option *given; /* the last strategy option used, or NULL */
    char *err;
    size_t err_len;
} parse_state;

static int usage_error(parse_state *ps, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static int usage_error(parse_state *ps, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err, ps->err_len, fmt, ap);
    va_end(ap);
    return CTK_EINVAL;
}

static unsigned strategy_flags(ctk_registry *reg, const char *name)
{
    const ctk_strategy *s = ctk_registry_strategy(reg, name);
    return s != NULL ? s->ops->flags : 0;
}

unsigned ctk_cli_strategy_jobs(ctk_registry *reg, const char *name, unsigned jobs)
{
    return strategy_flags(reg, name) & CTK_STRATEGY_SERIAL ? 1 : jobs;
}

int ctk_cli_strategy_forks(ctk_registry *reg, const char *name)
{
    return (strategy_flags(reg, name) & CTK_STRATEGY_PROCESSES) != 0;
}

const ctk_strategy *ctk_cli_strategy(ctk_registry *reg, const char *name, char *err, size_t err_len)
{
    const ctk_strategy *s = ctk_registry_strategy(reg, name);
    if (s == NULL) {
        char *known = ctk_registry_names_joined(reg, CTK_KIND_STRATEGY);
        snprintf(err, err_len, "unknown strategy '%s' (known: %s)", name, known);
        free(known);
    }
    return s;
}

/* ---- plugin pre-scan ------------------------------------------------------ */

static int load_strategy_names(parse_state *ps, const char *list)
{
    char **names = g_strsplit(list, ",", -1);
    int rc = 0;
    for (char **n = names; *n != NULL && rc == 0; n++) {
        if (**n == '\0' || strcmp(*n, "all") == 0 || ctk_registry_strategy(ps->reg, *n) != NULL)
            continue;
        ctk_plugin_error perr;
        rc = ctk_registry_load_name(ps->reg, *n, &perr);
        if (rc == CTK_ENOENT)
            rc = 0; /* reported later as an unknown strategy */
        else if (rc < 0)
            snprintf(ps->err, ps->err_len, "plugin %s: %s", perr.file, perr.reason);
    }
    g_strfreev(names);
    return rc;
}

/* The option of table whose long name is arg up to any '=', or NULL. */
static const ctk_cli_option *find_long(const ctk_cli_option *table, const char *arg)
{
    size_t len = strcspn(arg, "=");
    for (const ctk_cli_option *o = table; o != NULL && o->name != NULL; o++)
        if (strlen(o->name) == len && strncmp(o->name, arg, len) == 0)
            return o;
    return NULL;
}

static const ctk_cli_option *find_short(const ctk_cli_option *table, char c)
{
    for (const ctk_cli_option *o = table; o != NULL && o->name != NULL; o++)
        if (o->short_name == c)
            return o;
    return NULL;
}

/* A tool may take a shared option's long or short name for an option of
 * its own (cfetch's -H/--header is curl's): the shared option then has
 * neither in that tool, and --help does not list it. */
static int shadowed(const ctk_cli_option *tool, const ctk_cli_option *shared)
{
    for (const ctk_cli_option *o = tool; o != NULL && o->name != NULL; o++)
        if (strcmp(o->name, shared->name) == 0 ||
            (shared->short_name != 0 && o->short_name == shared->short_name))
            return 1;
    return 0;
}

/* Whether the command leaves the shared option out: shadowed by its own,
 * or named in cli->without. */
static int left_out(const ctk_cli *cli, const ctk_cli_option *shared)
{
    if (shadowed(cli->options, shared))
        return 1;
    for (const char *const *w = cli->without; w != NULL && *w != NULL; w++)
        if (strcmp(*w, shared->name) == 0)
            return 1;
    return 0;
}

/* Whether a plugin strategy's option --NAME (arg up to '=') takes a value. */
static int plugin_option_takes_value(ctk_registry *reg, const char *arg)
{
    size_t len = strcspn(arg, "=");
    char **names = ctk_registry_names(reg, CTK_KIND_STRATEGY);
    int takes = 0;
    for (char **n = names; *n != NULL && !takes; n++) {
        const ctk_strategy *st = ctk_registry_strategy(reg, *n);
        for (const ctk_option *o = st->ops->options; o != NULL && o->name != NULL; o++)
            if (strlen(o->name) == len && strncmp(o->name, arg, len) == 0 && o->arg != NULL)
                takes = 1;
    }
    g_strfreev(names);
    return takes;
}

/* Acts on one option the pre-scan found: --plugin loads its file, and a
 * strategy named by -s or --compare that nobody registered may be a
 * plugin's, found by name in the search path. */
static int prescan_option(parse_state *ps, const ctk_cli_option *o, const char *value)
{
    if (o->id == OPT_PLUGIN && value != NULL) {
        ctk_plugin_error perr;
        int rc = ctk_registry_load_file(ps->reg, value, &perr);
        if (rc < 0)
            snprintf(ps->err, ps->err_len, "plugin %s: %s", perr.file, perr.reason);
        return rc;
    }
    int names_strategy = o->id == OPT_STRATEGY || o->id == OPT_COMPARE ||
                         (ps->cli->strategy_option != 0 && o->id == ps->cli->strategy_option);
    if (names_strategy && value != NULL)
        return load_strategy_names(ps, value);
    return 0;
}

/* A short-option cluster ("-kj4", "-j", "-s" "thread"): acts on each and
 * says how many following words were option values (0 or 1). */
static int prescan_shorts(parse_state *ps, int argc, char **argv, int i, int *consumed)
{
    *consumed = 0;
    for (const char *c = argv[i] + 1; *c != '\0'; c++) {
        const ctk_cli_option *o = find_short(ps->cli->options, *c);
        if (o == NULL)
            o = find_short(common_options, *c);
        if (o == NULL || o->has_arg == CTK_ARG_NONE)
            continue;
        const char *value = c[1] != '\0' ? c + 1 : NULL;
        if (value == NULL && o->has_arg == CTK_ARG_REQUIRED && i + 1 < argc) {
            value = argv[i + 1];
            *consumed = 1;
        }
        return prescan_option(ps, o, value);
    }
    return 0;
}

/* Plugins must be loaded before parsing: they add strategies whose
 * options are part of the command line. The scan reads argv as getopt
 * will, and stops where it stops: at "--", and for a tool whose options
 * end at the first operand (cpar's command, cqueue's subcommand), there,
 * so a job's own "--plugin FILE" is never loaded. Option values are
 * skipped, not read as options. A long option nobody built in knows may be
 * a plugin's: then every plugin in the path is loaded, as --help lists
 * their options too. */
static int prescan(parse_state *ps, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0)
            break;
        if (a[0] != '-' || a[1] == '\0') {
            if (ps->cli->stop_at_operand)
                break;
            continue;
        }
        int rc = 0;
        if (a[1] != '-') {
            int consumed;
            rc = prescan_shorts(ps, argc, argv, i, &consumed);
            i += consumed;
        } else {
            const ctk_cli_option *o = find_long(ps->cli->options, a + 2);
            if (o == NULL)
                o = find_long(common_options, a + 2);
            const char *eq = strchr(a, '=');
            if (o == NULL) {
                ctk_registry_load_all(ps->reg, NULL, NULL);
                if (eq == NULL && plugin_option_takes_value(ps->reg, a + 2))
                    i++;
                continue;
            }
            const char *value = eq != NULL ? eq + 1 : NULL;
            if (value == NULL && o->has_arg == CTK_ARG_REQUIRED && i + 1 < argc)
                value = argv[++i];
            rc = prescan_option(ps, o, value);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- the getopt table ----------------------------------------------------- */

static void add_long(GArray *longs, GString *shorts, const ctk_cli_option *o)
{
    static const int has[] = {no_argument, required_argument, optional_argument};
    struct option lo = {o->name, has[o->has_arg], NULL, o->id};
    g_array_append_val(longs, lo);
    if (o->short_name != 0) {
        g_string_append_c(shorts, (char)o->short_name);
        if (o->has_arg == CTK_ARG_REQUIRED)
            g_string_append_c(shorts, ':');
        else if (o->has_arg == CTK_ARG_OPTIONAL)
            g_string_append(shorts, "::");
    }
}

static void collect_strategy_options(parse_state *ps)
{
    char **names = ctk_registry_names(ps->reg, CTK_KIND_STRATEGY);
    for (char **n = names; *n != NULL; n++) {
        const ctk_strategy *s = ctk_registry_strategy(ps->reg, *n);
        for (const ctk_option *o = s->ops->options; o != NULL && o->name != NULL; o++) {
            strategy_option so = {s, o};
            g_array_append_val(ps->strategy_options, so);
        }
    }
    g_strfreev(names);
}

static struct option *build_table(parse_state *ps, GString *shorts)
{
    GArray *longs = g_array_new(TRUE, TRUE, sizeof(struct option));
    for (const ctk_cli_option *o = ps->cli->options; o != NULL && o->name != NULL; o++)
        add_long(longs, shorts, o);
    for (const ctk_cli_option *o = common_options; o->name != NULL; o++)
        if (!left_out(ps->cli, o))
            add_long(longs, shorts, o);
    for (guint k = 0; k < ps->strategy_options->len; k++) {
        const strategy_option *so = &g_array_index(ps->strategy_options, strategy_option, k);
        ctk_cli_option o = {so->option->name,
                            0,
                            so->option->arg ? CTK_ARG_REQUIRED : CTK_ARG_NONE,
                            NULL,
                            NULL,
                            OPT_STRATEGY_BASE + (int)k};
        add_long(longs, shorts, &o);
    }
    return (struct option *)g_array_free(longs, FALSE);
}

/* ---- handling one option -------------------------------------------------- */

static const char *option_label(parse_state *ps, int id, char *buf, size_t len)
{
    const ctk_cli_option *tables[] = {ps->cli->options, common_options};
    for (size_t t = 0; t < 2; t++)
        for (const ctk_cli_option *o = tables[t]; o != NULL && o->name != NULL; o++)
            if (o->id == id) {
                if (o->short_name != 0)
                    snprintf(buf, len, "-%c", o->short_name);
                else
                    snprintf(buf, len, "--%s", o->name);
                return buf;
            }
    snprintf(buf, len, "option");
    return buf;
}

static int handle_compare(parse_state *ps, const char *value)
{
    const char *list = value != NULL ? value : CTK_COMPARE_DEFAULT;
    g_strfreev(ps->common->compare);
    ps->common->compare = NULL;
    if (*list == '\0')
        return usage_error(ps, "--compare=: empty list (leave out '=' for the default)");
    if (strcmp(list, "all") == 0) {
        /* "all" means every strategy there is, plugins in the path too. */
        ctk_registry_load_all(ps->reg, NULL, NULL);
        ps->common->compare = ctk_registry_names(ps->reg, CTK_KIND_STRATEGY);
        return 0;
    }
    ps->common->compare = g_strsplit(list, ",", -1);
    for (char **n = ps->common->compare; *n != NULL; n++) {
        if (**n == '\0')
            return usage_error(ps, "--compare %s: empty strategy name", list);
        if (ctk_cli_strategy(ps->reg, *n, ps->err, ps->err_len) == NULL)
            return CTK_EINVAL;
    }
    return 0;
}

static int handle_common(parse_state *ps, int id, const char *value)
{
    ctk_common *c = ps->common;
    char why[160];
    switch (id) {
    case OPT_JOBS:
        c->jobs_arg = value;
        if (ps->cli->jobs_unbounded > 0 && strcmp(value, "0") == 0) {
            c->jobs = ps->cli->jobs_unbounded;
            return 0;
        }
        if (ctk_parse_jobs(value, ctk_cpu_count(), JOBS_MAX, &c->jobs, why, sizeof why) < 0)
            return usage_error(ps, "-j %s: %s", value, why);
        return 0;
    case OPT_STRATEGY:
        c->strategy = value;
        return ctk_cli_strategy(ps->reg, value, ps->err, ps->err_len) ? 0 : CTK_EINVAL;
    case OPT_LIST:
        c->list_strategies = 1;
        return 0;
    case OPT_COMPARE:
        return handle_compare(ps, value);
    case OPT_FORMAT:
        c->format_given = 1;
        if (ctk_format_parse(value, &c->format) < 0)
            return usage_error(ps, "--format %s: use tsv, json or table", value);
        return 0;
    case OPT_HEADER:
        c->header = 1;
        return 0;
    case OPT_KEEP_ORDER:
        c->keep_order = 1;
        return 0;
    case OPT_PROGRESS:
        c->progress = 1;
        return 0;
    case OPT_PLUGIN: {
        guint n = c->plugins ? g_strv_length(c->plugins) : 0;
        c->plugins = g_renew(char *, c->plugins, n + 2);
        c->plugins[n] = g_strdup(value);
        c->plugins[n + 1] = NULL;
        return 0; /* loaded by the pre-scan */
    }
    case OPT_PLOT:
        c->plot = value;
        return 0;
    case OPT_HELP:
        c->help = 1;
        return 0;
    case OPT_VERSION:
        c->version = 1;
        return 0;
    default:
        return usage_error(ps, "internal: unhandled option %d", id);
    }
}

static int handle_strategy_option(parse_state *ps, int k, const char *value)
{
    const strategy_option *so = &g_array_index(ps->strategy_options, strategy_option, k);
    int rc = so->strategy->ops->set_option != NULL
                 ? so->strategy->ops->set_option(so->strategy->data, so->option->name, value)
                 : CTK_EINVAL;
    if (rc < 0)
        return usage_error(ps, "--%s %s: %s", so->option->name, value ? value : "",
                           ctk_strerror(rc));
    ps->given = so;
    return 0;
}

/* A strategy's option without that strategy would be silently ignored. */
static int check_strategy_option_used(parse_state *ps)
{
    if (ps->given == NULL)
        return 0;
    const char *owner = ps->given->strategy->ops->name;
    const ctk_common *c = ps->common;
    if (c->strategy != NULL && strcmp(c->strategy, owner) == 0)
        return 0;
    for (char **n = c->compare; n != NULL && *n != NULL; n++)
        if (strcmp(*n, owner) == 0)
            return 0;
    return usage_error(ps, "--%s belongs to strategy '%s': add -s %s", ps->given->option->name,
                       owner, owner);
}

/* --plot draws the --compare table, and must fail before the work is done,
 * not after: a missing gnuplot is found now. An answer to --help,
 * --version or --list-strategies needs neither. */
static int check_plot(parse_state *ps)
{
    const ctk_common *c = ps->common;
    if (c->plot == NULL || c->help || c->version || c->list_strategies)
        return 0;
    if (c->compare == NULL)
        return usage_error(ps, "--plot draws the --compare table: add --compare");
    return ctk_plot_check(c->plot, ps->err, ps->err_len);
}

static int handle(parse_state *ps, int id, const char *value)
{
    if (id >= OPT_STRATEGY_BASE)
        return handle_strategy_option(ps, id - OPT_STRATEGY_BASE, value);
    if (id >= OPT_JOBS && id <= OPT_VERSION)
        return handle_common(ps, id, value);
    char why[256] = "invalid value";
    int rc = ps->cli->handler(ps->cli->handler_arg, id, value, why, sizeof why);
    if (rc == CTK_CLI_STRATEGY && ps->cli->strategy_option != 0 && id == ps->cli->strategy_option)
        return handle_common(ps, OPT_STRATEGY, value);
    if (rc < 0) {
        char label[64];
        option_label(ps, id, label, sizeof label);
        if (value != NULL)
            return usage_error(ps, "%s %s: %s", label, value, why);
        return usage_error(ps, "%s: %s", label, why);
    }
    return 0;
}

/* Maps a short option character back to its id. */
static int short_id(parse_state *ps, int ch)
{
    const ctk_cli_option *tables[] = {ps->cli->options, common_options};
    for (size_t t = 0; t < 2; t++)
        for (const ctk_cli_option *o = tables[t]; o != NULL && o->name != NULL; o++)
            if (o->short_name == ch)
                return o->id;
    return 0;
}

/* getopt's '?' covers an unknown option and a flag given a value. */
static int unknown_option(parse_state *ps, const char *arg)
{
    if (optopt > 0 && optopt < 256)
        return usage_error(ps, "unknown option '-%c'", optopt);
    if (optopt != 0 && strchr(arg, '=') != NULL)
        return usage_error(ps, "option '%.*s' takes no value", (int)(strchr(arg, '=') - arg), arg);
    return usage_error(ps, "unknown option '%s'", arg);
}

int ctk_cli_parse(const ctk_cli *cli, ctk_registry *reg, int argc, char **argv, ctk_common *common,
                  int *operands, char *err, size_t err_len)
{
    parse_state ps = {.cli = cli,
                      .reg = reg,
                      .common = common,
                      .strategy_options = g_array_new(FALSE, FALSE, sizeof(strategy_option)),
                      .err = err,
                      .err_len = err_len};
    *common = (ctk_common){.format = CTK_FORMAT_TSV};
    /* The hidden --dump-options, for the completion generator
     * (completions/gen-completions.sh): alone and spelt out, and kept out
     * of getopt's table, where it would make a real option's abbreviation
     * ambiguous (cburn --du for --duration). */
    if (argc == 2 && strcmp(argv[1], "--dump-options") == 0) {
        common->dump_options = 1;
        *operands = argc;
        g_array_free(ps.strategy_options, TRUE);
        return 0;
    }
    int rc = prescan(&ps, argc, argv);
    if (rc < 0)
        goto out;
    collect_strategy_options(&ps);
    GString *shorts = g_string_new(cli->stop_at_operand ? "+:" : ":");
    struct option *table = build_table(&ps, shorts);
    int index = 0, ch;
    optind = 0; /* full reinitialisation: tests parse several times */
    opterr = 0;
    while (rc == 0 && (ch = getopt_long(argc, argv, shorts->str, table, &index)) != -1) {
        if (ch == '?')
            rc = unknown_option(&ps, argv[optind - 1]);
        else if (ch == ':')
            rc = usage_error(&ps, "option '%s' needs a value", argv[optind - 1]);
        else
            rc = handle(&ps, ch > 0 && ch < 256 ? short_id(&ps, ch) : ch, optarg);
    }
    if (rc == 0)
        rc = check_strategy_option_used(&ps);
    if (rc == 0)
        rc = check_plot(&ps);
    *operands = optind;
    g_free(table);
    g_string_free(shorts, TRUE);
out:
    g_array_free(ps.strategy_options, TRUE);
    return rc;
}

void ctk_common_free(ctk_common *common)
{
    g_strfreev(common->compare);
    g_strfreev(common->plugins);
    common->compare = common->plugins = NULL;
}

/* ---- help ----------------------------------------------------------------- */

static void help_line(FILE *out, int shrt, const char *lng, const char *arg, ctk_arg has,
                      const char *help)
{
    char left[64];
    int n = shrt != 0 ? snprintf(left, sizeof left, "  -%c, --%s", shrt, lng)
                      : snprintf(left, sizeof left, "      --%s", lng);
    if (arg != NULL && (size_t)n < sizeof left)
        snprintf(left + n, sizeof left - (size_t)n, has == CTK_ARG_OPTIONAL ? "[=%s]" : " %s", arg);
    /* A long option and argument get the help on a line of its own, as
     * GNU tools print them, rather than running into it. */
    if (strlen(left) >= 30)
        fprintf(out, "%s\n%-30s%s\n", left, "", help);
    else
        fprintf(out, "%-30s%s\n", left, help);
}

/* The options of table the command offers (cli NULL: all of them). */
static void help_table(FILE *out, const ctk_cli_option *options, const ctk_cli *cli)
{
    for (const ctk_cli_option *o = options; o != NULL && o->name != NULL; o++)
        if (cli == NULL || !left_out(cli, o))
            help_line(out, o->short_name, o->name, o->arg, o->has_arg, o->help);
}

void ctk_cli_help(const ctk_cli *cli, ctk_registry *reg, FILE *out)
{
    char **lines = g_strsplit(cli->synopsis, "\n", -1);
    for (char **l = lines; *l != NULL; l++)
        if (**l != '\0')
            fprintf(out, "%s %s %s\n", l == lines ? "Usage:" : "   or:", cli->prog, *l);
    g_strfreev(lines);
    fprintf(out, "%s\n\nOptions:\n", cli->summary);
    help_table(out, cli->options, NULL);
    fprintf(out, "\nShared by every ctk command:\n");
    help_table(out, common_options, cli);
    char **names = ctk_registry_names(reg, CTK_KIND_STRATEGY);
    for (char **n = names; *n != NULL; n++) {
        const ctk_strategy *s = ctk_registry_strategy(reg, *n);
        if (s->ops->options == NULL || s->ops->options[0].name == NULL)
            continue;
        fprintf(out, "\nStrategy %s:\n", *n);
        for (const ctk_option *o = s->ops->options; o->name != NULL; o++)
            help_line(out, 0, o->name, o->arg, CTK_ARG_REQUIRED, o->help);
    }
    g_strfreev(names);
    fprintf(out, "\nSee %s(1) and ctk(7) for details and examples.\n", cli->prog);
}

void ctk_cli_list_strategies(ctk_registry *reg, FILE *out)
{
    char **names = ctk_registry_names(reg, CTK_KIND_STRATEGY);
    for (char **n = names; *n != NULL; n++) {
        const ctk_strategy *s = ctk_registry_strategy(reg, *n);
        fprintf(out, "%-10s %s\n", *n, s->ops->summary ? s->ops->summary : "");
    }
    g_strfreev(names);
}

void ctk_cli_version(const ctk_cli *cli, FILE *out)
{
    fprintf(out, "%s (ctk) %s\n", cli->prog, CTK_VERSION);
    /* The libctk.so.1 the dynamic linker found, which a package upgrade
     * can make newer than the one this tool was built with. */
    if (strcmp(ctk_version(), CTK_VERSION) == 0)
        fprintf(out, "libctk %s, plugin ABI %u\n", ctk_version(), ctk_plugin_abi());
    else
        fprintf(out, "libctk %s (built with %s), plugin ABI %u\n", ctk_version(), CTK_VERSION,
                ctk_plugin_abi());
    fputs("Copyright (C) 2026 the ctk authors.\n"
          "License " CTK_LICENSE "\n"
          "This is free software: you are free to change and redistribute it.\n"
          "There is NO WARRANTY, to the extent permitted by law.\n"
          "\n"
          "Report bugs to <" CTK_BUGREPORT ">.\n",
          out);
}

/* One option as a TSV line: short name, long name, argument kind, the
 * argument's name, help. Fields are never empty ("-" stands for none) so
 * that `read` and awk split them alike. */
static void dump_line(FILE *out, int shrt, const char *lng, ctk_arg has, const char *arg,
                      const char *help, const char *origin)
{
    static const char *const kinds[] = {"none", "required", "optional"};
    char s[2] = {(char)shrt, '\0'};
    fprintf(out, "option\t%s\t%s\t%s\t%s\t%s\t%s\n", shrt != 0 ? s : "-", lng, kinds[has],
            arg != NULL ? arg : "-", help != NULL && *help != '\0' ? help : "-", origin);
}

void ctk_cli_dump_options(const ctk_cli *cli, ctk_registry *reg, FILE *out)
{
    fprintf(out, "tool\t%s\t%s\n", cli->prog, cli->stop_at_operand ? "stop-at-operand" : "-");
    const ctk_cli_option *tables[] = {cli->options, common_options};
    for (size_t t = 0; t < 2; t++)
        for (const ctk_cli_option *o = tables[t]; o != NULL && o->name != NULL; o++)
            if (t == 0 || !shadowed(cli->options, o))
                dump_line(out, o->short_name, o->name, o->has_arg, o->arg, o->help,
                          t == 0 ? "tool" : "shared");
    char **names = ctk_registry_names(reg, CTK_KIND_STRATEGY);
    for (char **n = names; *n != NULL; n++) {
        const ctk_strategy *s = ctk_registry_strategy(reg, *n);
        for (const ctk_option *o = s->ops->options; o != NULL && o->name != NULL; o++)
            dump_line(out, 0, o->name, o->arg != NULL ? CTK_ARG_REQUIRED : CTK_ARG_NONE, o->arg,
                      o->help, "strategy");
    }
    g_strfreev(names);
}

int ctk_cli_inform(const ctk_cli *cli, ctk_registry *reg, const ctk_common *common, FILE *out,
                   void (*warn)(void *arg, const ctk_plugin_error *err), void *warn_arg)
{
    /* The table as built, without the plugins of the path: generated
     * completions must not depend on what the build machine has. */
    if (common->dump_options) {
        ctk_cli_dump_options(cli, reg, out);
        return 1;
    }
    if (common->version) {
        ctk_cli_version(cli, out);
        return 1;
    }
    if (!common->help && !common->list_strategies)
        return 0;
    ctk_registry_load_all(reg, warn, warn_arg);
    if (common->help)
        ctk_cli_help(cli, reg, out);
    else
        ctk_cli_list_strategies(reg, out);
    return 1;
}

void ctk_cli_guard_stdio(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) >= 0)
            continue;
        int null = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
        if (null >= 0 && null != fd) {
            dup2(null, fd);
            close(null);
        }
    }
}
