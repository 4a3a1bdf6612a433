/*
 * ctk/registry.h: what a tool sees of strategies, workloads and plugins.
 * A registry starts with the built-in strategies (sync, thread, process,
 * async); tools and plugins add strategies, workloads and stores. Plugins are found by name in
 * $CTK_PLUGIN_PATH (colon-separated) and then in the installed plugin
 * folder, or loaded by path.
 */
#ifndef CTK_REGISTRY_H
#define CTK_REGISTRY_H

#include "ctk/plugin.h"

typedef enum ctk_kind {
    CTK_KIND_STRATEGY,
    CTK_KIND_WORKLOAD,
    CTK_KIND_STORE,
    CTK_KIND_COUNT
} ctk_kind;

typedef struct ctk_strategy {
    const ctk_strategy_ops *ops;
    void *data;
} ctk_strategy;

typedef struct ctk_workload {
    const ctk_workload_ops *ops;
    void *data;
} ctk_workload;

typedef struct ctk_store_entry {
    const ctk_store_ops *ops;
    void *data;
} ctk_store_entry;

/* Why a plugin did not load: the file tried and the reason, for the one
 * line "cmd: plugin FILE: reason". */
typedef struct ctk_plugin_error {
    char file[1024];
    char reason[512];
} ctk_plugin_error;

CTK_EXTERN int ctk_registry_new(ctk_registry **out);
CTK_EXTERN void ctk_registry_free(ctk_registry *reg);
/* Loads the plugin at path (a file name with a slash or ending in .so). */
CTK_EXTERN int ctk_registry_load_file(ctk_registry *reg, const char *path, ctk_plugin_error *err);
/* Loads NAME.so from the search path; CTK_ENOENT when no folder has it. */
CTK_EXTERN int ctk_registry_load_name(ctk_registry *reg, const char *name, ctk_plugin_error *err);
/* Loads every plugin in the search path; calls warn for each that fails. */
CTK_EXTERN void ctk_registry_load_all(ctk_registry *reg,
                                      void (*warn)(void *arg, const ctk_plugin_error *err),
                                      void *arg);
/* The search path as used: $CTK_PLUGIN_PATH then the installed folder. */
CTK_EXTERN char **ctk_registry_search_path(void);
/* NULL when unknown (no plugin is loaded by these). */
CTK_EXTERN const ctk_strategy *ctk_registry_strategy(ctk_registry *reg, const char *name);
CTK_EXTERN const ctk_workload *ctk_registry_workload(ctk_registry *reg, const char *name);
/* A store by its name, which is also the scheme of a --db value
 * ("sqlite", "postgresql"). */
CTK_EXTERN const ctk_store_entry *ctk_registry_store(ctk_registry *reg, const char *name);
/* The plugin file (canonical path) whose initialisation registered NAME,
 * or NULL for one built into libctk or registered by the program itself;
 * valid while reg lives. */
CTK_EXTERN const char *ctk_registry_source(ctk_registry *reg, ctk_kind kind, const char *name);
/* Sorted, NULL-terminated names of one kind; free with g_strfreev. */
CTK_EXTERN char **ctk_registry_names(ctk_registry *reg, ctk_kind kind);
/* "sync, thread, ..." for error messages; free with g_free() or free(). */
CTK_EXTERN char *ctk_registry_names_joined(ctk_registry *reg, ctk_kind kind);

#endif
