/*
 * front.c: ctk's own work. It runs nothing of the tools: it finds them,
 * asks the registry what it finds (with the tools' built-ins registered
 * as the tools register them), and checks what an installation needs.
 */
#include <dlfcn.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "front.h"
#include "store-sqlite.h"
#include "workloads.h"
#include "ctk/registry.h"
#include "ctkx/parse.h"

const char *const ctk_front_tools[] = {"cburn", "cpar", "cfetch", "cpipe", "cqueue", NULL};

int ctk_front_is_tool(const char *name)
{
    for (const char *const *t = ctk_front_tools; *t != NULL; t++)
        if (strcmp(*t, name) == 0)
            return 1;
    return 0;
}

static int executable_file(const char *path)
{
    return g_file_test(path, G_FILE_TEST_IS_REGULAR) &&
           g_file_test(path, G_FILE_TEST_IS_EXECUTABLE);
}

/* Next to ctk first, so that a build tree or a prefix runs its own tools
 * and not whichever are on PATH: installed, they share ctk's folder; in
 * the build tree ctk is tools/ctk/ctk (or, behind libtool's wrapper,
 * tools/ctk/.libs/ctk) and a tool is tools/NAME/NAME. */
char *ctk_front_find_tool(const char *name)
{
    char *exe = g_file_read_link("/proc/self/exe", NULL);
    char *found = NULL;
    if (exe != NULL) {
        char *dir = g_path_get_dirname(exe);
        char *base = g_path_get_basename(dir);
        char *candidates[] = {
            g_build_filename(dir, name, NULL),
            g_build_filename(dir, "..", name, name, NULL),
            strcmp(base, ".libs") == 0 ? g_build_filename(dir, "..", "..", name, name, NULL) : NULL,
        };
        for (size_t i = 0; i < G_N_ELEMENTS(candidates); i++) {
            if (found == NULL && candidates[i] != NULL && executable_file(candidates[i]))
                found = g_canonicalize_filename(candidates[i], NULL);
            g_free(candidates[i]);
        }
        g_free(base);
        g_free(dir);
        g_free(exe);
    }
    return found != NULL ? found : g_find_program_in_path(name);
}

/* ---- list ------------------------------------------------------------------- */

typedef struct failure {
    char *file, *reason;
} failure;

static void collect_failure(void *arg, const ctk_plugin_error *err)
{
    failure f = {g_strdup(err->file), g_strdup(err->reason)};
    g_array_append_val((GArray *)arg, f);
}

/* A registry as the tools see theirs: cburn's workloads and cqueue's
 * store first (a plugin may not take their names), then every plugin in
 * the path. */
static ctk_registry *full_registry(GArray *failures)
{
    ctk_registry *reg;
    if (ctk_registry_new(&reg) < 0)
        return NULL;
    cburn_register_workloads(reg);
    ctk_register_store(reg, ctk_store_sqlite_ops(), NULL, NULL);
    ctk_registry_load_all(reg, collect_failure, failures);
    return reg;
}

static const char *summary_of(ctk_registry *reg, ctk_kind kind, const char *name)
{
    const char *s = NULL;
    if (kind == CTK_KIND_STRATEGY)
        s = ctk_registry_strategy(reg, name)->ops->summary;
    else if (kind == CTK_KIND_WORKLOAD)
        s = ctk_registry_workload(reg, name)->ops->summary;
    return s != NULL ? s : "";
}

/* The widest source column of every kind, so that summaries line up. */
static int source_width(ctk_registry *reg)
{
    int width = (int)strlen("built in (libctk)");
    for (int k = 0; k < CTK_KIND_COUNT; k++) {
        char **names = ctk_registry_names(reg, (ctk_kind)k);
        for (char **n = names; *n != NULL; n++) {
            const char *src = ctk_registry_source(reg, (ctk_kind)k, *n);
            if (src != NULL && (int)strlen(src) > width)
                width = (int)strlen(src);
        }
        g_strfreev(names);
    }
    return width;
}

static void list_kind(FILE *out, ctk_registry *reg, ctk_kind kind, const char *title,
                      const char *builtin)
{
    char **names = ctk_registry_names(reg, kind);
    int width = source_width(reg);
    fprintf(out, "%s:\n", title);
    for (char **n = names; *n != NULL; n++) {
        const char *src = ctk_registry_source(reg, kind, *n);
        const char *summary = summary_of(reg, kind, *n);
        if (*summary == '\0')
            fprintf(out, "  %-10s %s\n", *n, src != NULL ? src : builtin);
        else
            fprintf(out, "  %-10s %-*s  %s\n", *n, width, src != NULL ? src : builtin, summary);
    }
    g_strfreev(names);
}

int ctk_front_list(FILE *out)
{
    GArray *failures = g_array_new(FALSE, FALSE, sizeof(failure));
    ctk_registry *reg = full_registry(failures);
    if (reg == NULL) {
        g_array_free(failures, TRUE);
        fputs("ctk: cannot set up the registry\n", stderr);
        return 1;
    }
    fputs("tools:\n", out);
    for (const char *const *t = ctk_front_tools; *t != NULL; t++) {
        char *path = ctk_front_find_tool(*t);
        fprintf(out, "  %-10s %s\n", *t, path != NULL ? path : "not found ('ctk doctor')");
        g_free(path);
    }
    list_kind(out, reg, CTK_KIND_STRATEGY, "strategies", "built in (libctk)");
    list_kind(out, reg, CTK_KIND_WORKLOAD, "workloads", "built in (cburn)");
    list_kind(out, reg, CTK_KIND_STORE, "stores", "built in (cqueue)");
    for (guint i = 0; i < failures->len; i++) {
        failure *f = &g_array_index(failures, failure, i);
        fprintf(stderr, "ctk: plugin %s: %s\n", f->file, f->reason);
        g_free(f->file);
        g_free(f->reason);
    }
    int status = failures->len > 0 ? 1 : 0;
    g_array_free(failures, TRUE);
    ctk_registry_free(reg);
    return status;
}

/* ---- doctor ----------------------------------------------------------------- */

/* What a user does about a plugin that would not load, by why. */
static const char *plugin_advice(int rc)
{
    switch (rc) {
    case CTK_ENOTPLUGIN:
        return "install what it links ('ldd FILE' shows what is missing) or remove it from the "
               "plugin path";
    case CTK_ENOENTRY:
        return "rebuild it with CTK_PLUGIN_DEFINE (ctk-plugin(7)) or remove it from the plugin "
               "path";
    case CTK_EABI:
        return "rebuild it with 'pkg-config --cflags --libs ctk' of this ctk, or remove it";
    case CTK_EPLUGININIT:
        return "a name it registers may be taken ('ctk list'); see the plugin's documentation";
    default:
        return "remove it from the plugin path";
    }
}

/* What each loaded plugin registered: "strategy pinned, store x". */
static char *registered_by(ctk_registry *reg, const char *canonical)
{
    static const char *const kinds[] = {"strategy", "workload", "store"};
    GString *s = g_string_new(NULL);
    for (int k = 0; k < CTK_KIND_COUNT; k++) {
        char **names = ctk_registry_names(reg, (ctk_kind)k);
        for (char **n = names; *n != NULL; n++) {
            const char *src = ctk_registry_source(reg, (ctk_kind)k, *n);
            if (src != NULL && strcmp(src, canonical) == 0)
                g_string_append_printf(s, "%s%s %s", s->len ? ", " : "", kinds[k], *n);
        }
        g_strfreev(names);
    }
    if (s->len == 0)
        g_string_append(s, "registers nothing");
    return g_string_free(s, FALSE);
}

typedef struct doctor {
    FILE *out;
    ctk_registry *reg;
    int problems;
    char *mpi_plugin, *pg_plugin; /* loaded from, or NULL */
} doctor;

static void doctor_tools(doctor *d)
{
    fputs("tools:\n", d->out);
    for (const char *const *t = ctk_front_tools; *t != NULL; t++) {
        char *path = ctk_front_find_tool(*t);
        if (path != NULL)
            fprintf(d->out, "  ok       %-8s %s\n", *t, path);
        else
            fprintf(d->out,
                    "  missing  %-8s not next to ctk nor on PATH: install ctk ('make "
                    "install') or add its folder to PATH\n",
                    *t);
        d->problems += path == NULL;
        g_free(path);
    }
    Dl_info info;
    if (dladdr((void *)ctk_strerror, &info) != 0 && info.dli_fname != NULL)
        fprintf(d->out, "  ok       %-8s %s\n", "libctk", info.dli_fname);
}

static void doctor_plugin(doctor *d, const char *path)
{
    ctk_plugin_error err;
    int rc = ctk_registry_load_file(d->reg, path, &err);
    char *canonical = g_canonicalize_filename(path, NULL);
    char *base = g_path_get_basename(path);
    if (rc < 0) {
        fprintf(d->out, "  failed   %s: %s; to fix: %s\n", path, err.reason, plugin_advice(rc));
        d->problems++;
    } else {
        char *what = registered_by(d->reg, canonical);
        fprintf(d->out, "  ok       %s: %s\n", path, what);
        g_free(what);
        /* The optional engines come as plugins of these file names
         * (plugins/mpi, plugins/store-postgres). */
        if (strcmp(base, "mpi.so") == 0 && d->mpi_plugin == NULL)
            d->mpi_plugin = g_strdup(path);
        if (strcmp(base, "store-postgres.so") == 0 && d->pg_plugin == NULL)
            d->pg_plugin = g_strdup(path);
    }
    g_free(base);
    g_free(canonical);
}

static void doctor_plugins(doctor *d)
{
    char **dirs = ctk_registry_search_path();
    fputs("plugin path ($CTK_PLUGIN_PATH, then the installed folder):\n", d->out);
    for (char **p = dirs; *p != NULL; p++)
        fprintf(d->out, "  %-8s %s\n", g_file_test(*p, G_FILE_TEST_IS_DIR) ? "folder" : "absent",
                *p);
    fputs("plugins:\n", d->out);
    int any = 0;
    for (char **p = dirs; *p != NULL; p++) {
        GDir *dir = g_dir_open(*p, 0, NULL);
        if (dir == NULL)
            continue;
        GPtrArray *files = g_ptr_array_new_with_free_func(g_free);
        const char *name;
        while ((name = g_dir_read_name(dir)) != NULL)
            if (g_str_has_suffix(name, ".so"))
                g_ptr_array_add(files, g_build_filename(*p, name, NULL));
        g_dir_close(dir);
        g_ptr_array_sort(files, (GCompareFunc)g_strcmp0);
        for (guint i = 0; i < files->len; i++, any++)
            doctor_plugin(d, g_ptr_array_index(files, i));
        g_ptr_array_free(files, TRUE);
    }
    if (!any)
        fputs("  none     (only the built-in strategies)\n", d->out);
    g_strfreev(dirs);
}

/* pg_ctl and initdb are not on PATH on Debian: they live in
 * /usr/lib/postgresql/VERSION/bin. */
static char *find_pg_program(const char *name)
{
    char *p = g_find_program_in_path(name);
    if (p != NULL)
        return p;
    GDir *dir = g_dir_open("/usr/lib/postgresql", 0, NULL);
    const char *v;
    while (p == NULL && dir != NULL && (v = g_dir_read_name(dir)) != NULL) {
        char *cand = g_build_filename("/usr/lib/postgresql", v, "bin", name, NULL);
        if (executable_file(cand))
            p = cand;
        else
            g_free(cand);
    }
    if (dir != NULL)
        g_dir_close(dir);
    return p;
}

static void doctor_engines(doctor *d)
{
    fputs("optional engines:\n", d->out);
    char *mpirun = g_find_program_in_path("mpirun");
    int mpi_ok = mpirun != NULL && d->mpi_plugin != NULL;
    fprintf(d->out, "  %-8s Open MPI (-s mpi across machines): mpirun %s; plugin %s\n",
            mpi_ok ? "usable" : "unusable",
            mpirun != NULL ? mpirun : "not on PATH (apt-get install openmpi-bin)",
            d->mpi_plugin != NULL ? d->mpi_plugin
                                  : "mpi.so not in the plugin path (install ctk-plugin-mpi, or "
                                    "build ctk with libopenmpi-dev installed)");
    char *pg_ctl = find_pg_program("pg_ctl"), *initdb = find_pg_program("initdb");
    fprintf(d->out,
            "  %-8s PostgreSQL (cqueue --db postgresql://...): plugin %s; local server tools %s\n",
            d->pg_plugin != NULL ? "usable" : "unusable",
            d->pg_plugin != NULL ? d->pg_plugin
                                 : "store-postgres.so not in the plugin path (install "
                                   "ctk-store-postgres, or build ctk with libpq-dev installed)",
            pg_ctl != NULL && initdb != NULL
                ? pg_ctl
                : "pg_ctl/initdb not found (only for a server on this machine: apt-get install "
                  "postgresql)");
    g_free(mpirun);
    g_free(pg_ctl);
    g_free(initdb);
}

static void limit_text(rlim_t v, char *buf, size_t len)
{
    if (v == RLIM_INFINITY)
        snprintf(buf, len, "unlimited");
    else
        snprintf(buf, len, "%llu", (unsigned long long)v);
}

static void doctor_machine(doctor *d)
{
    fputs("machine (what bounds -j):\n", d->out);
    fprintf(d->out, "  cores    %u online: -j's default, and what N%% of -j counts from\n",
            ctk_cpu_count());
    static const struct {
        int resource;
        const char *label, *ulimit, *why;
    } limits[] = {
        {RLIMIT_NOFILE, "files", "ulimit -n",
         "open descriptors per process: each running job holds a few (its output pipes)"},
        {RLIMIT_NPROC, "procs", "ulimit -u",
         "processes of this user: every job's command and every -s process worker counts"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(limits); i++) {
        struct rlimit rl;
        char soft[32] = "?", hard[32] = "?";
        if (getrlimit(limits[i].resource, &rl) == 0) {
            limit_text(rl.rlim_cur, soft, sizeof soft);
            limit_text(rl.rlim_max, hard, sizeof hard);
        }
        fprintf(d->out, "  %-8s %s %s (hard %s): %s\n", limits[i].label, limits[i].ulimit, soft,
                hard, limits[i].why);
    }
}

int ctk_front_doctor(FILE *out)
{
    doctor d = {.out = out};
    if (ctk_registry_new(&d.reg) < 0) {
        fputs("ctk: cannot set up the registry\n", stderr);
        return 1;
    }
    cburn_register_workloads(d.reg);
    ctk_register_store(d.reg, ctk_store_sqlite_ops(), NULL, NULL);
    fprintf(out, "ctk %s, plugin ABI %u\n", CTK_VERSION, (unsigned)CTK_PLUGIN_ABI);
    doctor_tools(&d);
    doctor_plugins(&d);
    doctor_engines(&d);
    doctor_machine(&d);
    fprintf(out, "%s\n",
            d.problems == 0   ? "no problems found"
            : d.problems == 1 ? "1 problem found (see above)"
                              : "problems found (see above)");
    g_free(d.mpi_plugin);
    g_free(d.pg_plugin);
    ctk_registry_free(d.reg);
    return d.problems == 0 ? 0 : 1;
}
