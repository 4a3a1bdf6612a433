/*
 * cqcmd.h: the commands of cqueue, one function each. The tool parses
 * the options into a ctk_cqcmd_opts and the operands into a ctk_cqcmd;
 * each function prints what the command prints (records as tsv/json/table,
 * messages as "cqueue: ...") and returns the command's exit status.
 */
#ifndef CTK_CQCMD_H
#define CTK_CQCMD_H

#include <glib.h>
#include <stdint.h>

#include "ctk/store.h"
#include "ctkx/cli.h"
#include "storepath.h"

/* The options of every command; a command reads those it has. */
typedef struct ctk_cqcmd_opts {
    const char *queue, *db;
    /* add */
    const char *name, *key, *cmd;
    int64_t priority;
    uint64_t retries, weight;
    double timeout;
    GArray *after;
    int env;
    int no_start; /* --no-start or CQUEUE_NO_AUTOSTART=1: no daemon started */
    /* work */
    int once, drain, daemon;
    double idle_exit, lease;
    /* ls, cat, wait, retry, clear, kill */
    int state; /* a ctk_job_state; -1: every state */
    int follow, all, failed;
    unsigned clear_mask;
    int signo;
    int shared_group; /* a group's queue: group-writable files are trusted */
    ctk_common c;
} ctk_cqcmd_opts;

typedef struct ctk_cqcmd {
    ctk_cqcmd_opts *o;
    ctk_registry *reg; /* strategies and stores, plugins' too */
    cq_db db;
    cq_side side; /* the side folder, held open */
    ctk_store *store;
    char **args; /* the command's operands */
    int n_args;
} ctk_cqcmd;

/* Prints "cqueue: MESSAGE" and the --help hint for cmd (NULL: none);
 * returns 2. */
int ctk_cqcmd_usage_error(const char *cmd, const char *message);

/* Finds the database and its side directory (the pid file, the log and
 * the jobs' output live there) and, with with_store, opens the store;
 * `work --daemon` opens it itself after detaching. Returns 0 or 1 (a
 * message printed). ctk_cqcmd_close undoes it. */
int ctk_cqcmd_prepare(ctk_cqcmd *x, int with_store);
void ctk_cqcmd_close(ctk_cqcmd *x);

/* The commands, by name; each returns cqueue's exit status for it. */
int ctk_cqcmd_add(ctk_cqcmd *x);
int ctk_cqcmd_ls(ctk_cqcmd *x);
int ctk_cqcmd_show(ctk_cqcmd *x);
int ctk_cqcmd_cat(ctk_cqcmd *x);
int ctk_cqcmd_wait(ctk_cqcmd *x);
int ctk_cqcmd_rm(ctk_cqcmd *x);
int ctk_cqcmd_retry(ctk_cqcmd *x);
int ctk_cqcmd_kill(ctk_cqcmd *x);
int ctk_cqcmd_pause(ctk_cqcmd *x);
int ctk_cqcmd_resume(ctk_cqcmd *x);
int ctk_cqcmd_stop(ctk_cqcmd *x);
int ctk_cqcmd_stats(ctk_cqcmd *x);
int ctk_cqcmd_clear(ctk_cqcmd *x);
int ctk_cqcmd_work(ctk_cqcmd *x);

#endif
