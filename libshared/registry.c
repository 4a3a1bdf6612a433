/*
 * registry.c: strategies, workloads and stores by name, and the plugin
 * loader. The registry knows no tool: the built-in strategies are the
 * only things it registers itself; a tool adds its own (cburn its
 * workloads, cqueue its SQLite store) through the public calls a plugin
 * uses.
 * Plugins are loaded with GModule, checked for the one entry point and
 * its ABI version, and kept open for the registry's lifetime because the
 * ops they register live in them.
 */
#include <glib.h>
#include <gmodule.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctk/registry.h"
#include "strategies.h"

typedef struct entry {
    const void *ops; /* ctk_strategy_ops, ctk_workload_ops or ctk_store_ops */
    void *data;
    void (*free_data)(void *);
    ctk_strategy strategy; /* filled for strategies */
    ctk_workload workload; /* filled for workloads */
    ctk_store_entry store; /* filled for stores */
    char *source;          /* the plugin file that registered it, or NULL */
} entry;

struct ctk_registry {
    GHashTable *by_kind[CTK_KIND_COUNT]; /* name -> entry */
    GPtrArray *modules;                  /* GModule *, closed last */
    GHashTable *loaded;                  /* canonical path -> 1 */
    const char *loading;                 /* the plugin whose init runs, or NULL */
};

static void entry_free(gpointer p)
{
    entry *e = p;
    if (e->free_data != NULL)
        e->free_data(e->data);
    g_free(e->source);
    g_free(e);
}

static int add(ctk_registry *reg, ctk_kind kind, const char *name, const void *ops, void *data,
               void (*free_data)(void *))
{
    if (reg == NULL || ops == NULL || name == NULL || name[0] == '\0')
        return CTK_EINVAL;
    if (g_hash_table_contains(reg->by_kind[kind], name))
        return CTK_EEXIST;
    entry *e = g_new0(entry, 1);
    e->ops = ops;
    e->data = data;
    e->free_data = free_data;
    e->strategy = (ctk_strategy){ops, data};
    e->workload = (ctk_workload){ops, data};
    e->store = (ctk_store_entry){ops, data};
    e->source = g_strdup(reg->loading);
    g_hash_table_insert(reg->by_kind[kind], (gpointer)name, e);
    return 0;
}

int ctk_register_strategy(ctk_registry *reg, const ctk_strategy_ops *ops, void *data,
                          void (*free_data)(void *))
{
    if (ops == NULL || ops->execute == NULL)
        return CTK_EINVAL;
    return add(reg, CTK_KIND_STRATEGY, ops->name, ops, data, free_data);
}

int ctk_register_workload(ctk_registry *reg, const ctk_workload_ops *ops, void *data,
                          void (*free_data)(void *))
{
    if (ops == NULL || ops->slice == NULL)
        return CTK_EINVAL;
    return add(reg, CTK_KIND_WORKLOAD, ops->name, ops, data, free_data);
}

int ctk_register_store(ctk_registry *reg, const ctk_store_ops *ops, void *data,
                       void (*free_data)(void *))
{
    if (ops == NULL || ops->open == NULL)
        return CTK_EINVAL;
    return add(reg, CTK_KIND_STORE, ops->name, ops, data, free_data);
}

int ctk_registry_new(ctk_registry **out)
{
    ctk_registry *reg = g_new0(ctk_registry, 1);
    for (int k = 0; k < CTK_KIND_COUNT; k++)
        reg->by_kind[k] = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, entry_free);
    reg->modules = g_ptr_array_new();
    reg->loaded = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    static const ctk_strategy_ops *const builtins[] = {
        &ctk__strategy_sync, &ctk__strategy_thread, &ctk__strategy_process, &ctk__strategy_async};
    for (size_t i = 0; i < G_N_ELEMENTS(builtins); i++) {
        int rc = ctk_register_strategy(reg, builtins[i], NULL, NULL);
        if (rc < 0) {
            ctk_registry_free(reg);
            return rc;
        }
    }
    *out = reg;
    return 0;
}

void ctk_registry_free(ctk_registry *reg)
{
    if (reg == NULL)
        return;
    /* Entries first: their free functions live in the modules. */
    for (int k = 0; k < CTK_KIND_COUNT; k++)
        g_hash_table_destroy(reg->by_kind[k]);
    for (guint i = 0; i < reg->modules->len; i++)
        g_module_close(g_ptr_array_index(reg->modules, i));
    g_ptr_array_free(reg->modules, TRUE);
    g_hash_table_destroy(reg->loaded);
    g_free(reg);
}

static int fail(ctk_plugin_error *err, const char *file, int code, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

static int fail(ctk_plugin_error *err, const char *file, int code, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        g_strlcpy(err->file, file, sizeof err->file);
        va_start(ap, fmt);
        vsnprintf(err->reason, sizeof err->reason, fmt, ap);
        va_end(ap);
    }
    return code;
}

int ctk_registry_load_file(ctk_registry *reg, const char *path, ctk_plugin_error *err)
{
    if (!g_file_test(path, G_FILE_TEST_EXISTS))
        return fail(err, path, CTK_ENOENT, "no such file");
    char *canonical = g_canonicalize_filename(path, NULL);
    if (g_hash_table_contains(reg->loaded, canonical)) {
        g_free(canonical);
        return 0;
    }
    /* LOCAL: two plugins may both define static-looking helpers. */
    GModule *module = g_module_open(canonical, G_MODULE_BIND_LOCAL);
    if (module == NULL) {
        int rc = fail(err, path, CTK_ENOTPLUGIN, "not a loadable object: %s", g_module_error());
        g_free(canonical);
        return rc;
    }
    gpointer symbol = NULL;
    if (!g_module_symbol(module, "ctk_plugin", &symbol) || symbol == NULL) {
        g_module_close(module);
        g_free(canonical);
        return fail(err, path, CTK_ENOENTRY,
                    "no ctk_plugin entry point (was it built with CTK_PLUGIN_DEFINE?)");
    }
    const ctk_plugin_desc *desc = symbol;
    if (desc->abi != CTK_PLUGIN_ABI) {
        unsigned abi = desc->abi; /* desc is gone once the module is closed */
        g_module_close(module);
        g_free(canonical);
        return fail(err, path, CTK_EABI,
                    "built for plugin ABI %u, this ctk has ABI %u: rebuild it against this ctk",
                    abi, (unsigned)CTK_PLUGIN_ABI);
    }
    /* A plugin that ran stays mapped to the end of the process: the
     * libraries it pulled in (libpq, Open MPI) keep thread-local storage,
     * exit handlers and threads that outlive any close (unmapping them
     * crashed LeakSanitizer's exit scan under store-postgres). */
    g_module_make_resident(module);
    reg->loading = canonical;
    int rc = desc->init != NULL ? desc->init(reg) : CTK_EINVAL;
    reg->loading = NULL;
    /* Keep the module even when init failed half-way: it may have
     * registered ops that point into it. */
    g_ptr_array_add(reg->modules, module);
    g_hash_table_add(reg->loaded, canonical);
    if (rc < 0)
        return fail(err, path, CTK_EPLUGININIT, "initialisation failed: %s", ctk_strerror(rc));
    return 0;
}

char **ctk_registry_search_path(void)
{
    GPtrArray *dirs = g_ptr_array_new();
    const char *env = g_getenv("CTK_PLUGIN_PATH");
    if (env != NULL) {
        char **parts = g_strsplit(env, ":", -1);
        for (char **p = parts; *p != NULL; p++)
            if (**p != '\0')
                g_ptr_array_add(dirs, g_strdup(*p));
        g_strfreev(parts);
    }
    g_ptr_array_add(dirs, g_strdup(CTK_PLUGIN_DIR));
    g_ptr_array_add(dirs, NULL);
    return (char **)g_ptr_array_free(dirs, FALSE);
}

int ctk_registry_load_name(ctk_registry *reg, const char *name, ctk_plugin_error *err)
{
    if (strchr(name, '/') != NULL || g_str_has_suffix(name, ".so"))
        return ctk_registry_load_file(reg, name, err);
    char **dirs = ctk_registry_search_path();
    char *file = g_strconcat(name, ".so", NULL);
    int rc = CTK_ENOENT;
    for (char **d = dirs; *d != NULL && rc == CTK_ENOENT; d++) {
        char *path = g_build_filename(*d, file, NULL);
        if (g_file_test(path, G_FILE_TEST_EXISTS))
            rc = ctk_registry_load_file(reg, path, err);
        g_free(path);
    }
    if (rc == CTK_ENOENT)
        fail(err, file, rc, "not found in $CTK_PLUGIN_PATH or %s", CTK_PLUGIN_DIR);
    g_free(file);
    g_strfreev(dirs);
    return rc;
}

void ctk_registry_load_all(ctk_registry *reg, void (*warn)(void *, const ctk_plugin_error *),
                           void *arg)
{
    char **dirs = ctk_registry_search_path();
    for (char **d = dirs; *d != NULL; d++) {
        GDir *dir = g_dir_open(*d, 0, NULL);
        if (dir == NULL)
            continue;
        const char *name;
        while ((name = g_dir_read_name(dir)) != NULL) {
            if (!g_str_has_suffix(name, ".so"))
                continue;
            char *path = g_build_filename(*d, name, NULL);
            ctk_plugin_error err;
            if (ctk_registry_load_file(reg, path, &err) < 0 && warn != NULL)
                warn(arg, &err);
            g_free(path);
        }
        g_dir_close(dir);
    }
    g_strfreev(dirs);
}

const ctk_strategy *ctk_registry_strategy(ctk_registry *reg, const char *name)
{
    entry *e = g_hash_table_lookup(reg->by_kind[CTK_KIND_STRATEGY], name);
    return e != NULL ? &e->strategy : NULL;
}

const ctk_workload *ctk_registry_workload(ctk_registry *reg, const char *name)
{
    entry *e = g_hash_table_lookup(reg->by_kind[CTK_KIND_WORKLOAD], name);
    return e != NULL ? &e->workload : NULL;
}

const ctk_store_entry *ctk_registry_store(ctk_registry *reg, const char *name)
{
    entry *e = g_hash_table_lookup(reg->by_kind[CTK_KIND_STORE], name);
    return e != NULL ? &e->store : NULL;
}

const char *ctk_registry_source(ctk_registry *reg, ctk_kind kind, const char *name)
{
    if (reg == NULL || kind < 0 || kind >= CTK_KIND_COUNT || name == NULL)
        return NULL;
    entry *e = g_hash_table_lookup(reg->by_kind[kind], name);
    return e != NULL ? e->source : NULL;
}

static gint compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **ctk_registry_names(ctk_registry *reg, ctk_kind kind)
{
    GPtrArray *names = g_ptr_array_new();
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, reg->by_kind[kind]);
    while (g_hash_table_iter_next(&it, &key, NULL))
        g_ptr_array_add(names, g_strdup(key));
    g_ptr_array_sort(names, compare_names);
    g_ptr_array_add(names, NULL);
    return (char **)g_ptr_array_free(names, FALSE);
}

char *ctk_registry_names_joined(ctk_registry *reg, ctk_kind kind)
{
    char **names = ctk_registry_names(reg, kind);
    char *joined = g_strjoinv(", ", names);
    g_strfreev(names);
    return joined;
}
