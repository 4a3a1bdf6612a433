#ifndef CTKX_HALT_H
#define CTKX_HALT_H
/*
 * --halt WHEN,WHY=N or N%, as GNU parallel spells it: when a run of many
 * jobs (cpar) or blocks (cpipe) stops early. Shared so both tools accept
 * exactly the same values.
 */
#include <stddef.h>
#include <stdint.h>

enum { CTK_HALT_NEVER = 0, CTK_HALT_SOON, CTK_HALT_NOW };
enum { CTK_HALT_FAIL = 0, CTK_HALT_SUCCESS, CTK_HALT_DONE };

typedef struct ctk_halt {
    int when, why;
    uint64_t count; /* N jobs */
    double percent; /* N% of the jobs (then count is 0) */
} ctk_halt;

/* Parses GNU parallel's --halt values (also 0, 1, 2, -1, -2 and N%).
 * CTK_EINVAL with a reason in why. */
int ctk_halt_parse(const char *text, ctk_halt *h, char *why, size_t why_len);

#endif
