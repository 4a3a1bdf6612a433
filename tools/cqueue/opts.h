/*
 * opts.h: cqueue's command line: the global options, the command table
 * (each command's options, synopsis and operand count) and the parsing
 * that fills one ctk_cqcmd_opts and picks the command to run.
 */
#ifndef CQUEUE_OPTS_H
#define CQUEUE_OPTS_H

#include "cqcmd.h"

#define CQUEUE_PROG "cqueue"

/* The command the line asks for, with its operands. */
typedef struct cqueue_call {
    int (*run)(ctk_cqcmd *x);
    int with_store; /* 0: it opens the store itself (work --daemon) */
    char **args;
    int n_args;
} cqueue_call;

/* The defaults: the queue "default", every state, weight 1. */
void cqueue_opts_init(ctk_cqcmd_opts *o);
void cqueue_opts_free(ctk_cqcmd_opts *o);
/* Parses the global options, then the command and its options, into o
 * and call. Returns -1 when call is to run, else cqueue's exit status
 * (after --help, --version, --dump-options, or a usage error printed). */
int cqueue_opts_parse(ctk_cqcmd_opts *o, ctk_registry *reg, int argc, char **argv,
                      cqueue_call *call);

#endif
