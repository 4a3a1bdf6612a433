/*
 * front.h: what `ctk` does besides running a tool: find the tools, list
 * what the registry finds, and check the installation.
 */
#ifndef CTK_FRONT_H
#define CTK_FRONT_H

#include <stdio.h>

/* The five commands ctk fronts, NULL-terminated. */
extern const char *const ctk_front_tools[];

/* Whether name is one of ctk_front_tools. */
int ctk_front_is_tool(const char *name);
/* The path of tool next to this ctk (the same folder when installed, or
 * tools/NAME/NAME in the build tree), else on $PATH; NULL when none is
 * found. Free with g_free. */
char *ctk_front_find_tool(const char *name);
/* `ctk list`: tools, then strategies, workloads and stores with where each
 * came from. Returns an exit status. */
int ctk_front_list(FILE *out);
/* `ctk doctor`: tools, plugins, optional engines, the machine's limits.
 * Returns 0 when everything that is installed works, 1 otherwise. */
int ctk_front_doctor(FILE *out);

#endif
