/*
 * GNU parallel's --halt values, parsed once for cpar and cpipe.
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctk/common.h"
#include "ctkx/halt.h"

int ctk_halt_parse(const char *text, ctk_halt *h, char *why, size_t why_len)
{
    static const struct {
        const char *legacy, *full;
    } legacy[] = {{"0", "never"},
                  {"1", "soon,fail=1"},
                  {"2", "now,fail=1"},
                  {"-1", "soon,success=1"},
                  {"-2", "now,success=1"}};
    memset(h, 0, sizeof *h);
    char *spec = NULL;
    for (size_t i = 0; i < G_N_ELEMENTS(legacy); i++)
        if (strcmp(text, legacy[i].legacy) == 0)
            spec = g_strdup(legacy[i].full);
    size_t len = strlen(text);
    if (spec == NULL && len > 1 && text[len - 1] == '%' && strspn(text, "0123456789") == len - 1)
        spec = g_strdup_printf("soon,fail=%s", text);
    if (spec == NULL)
        spec = g_strdup(text);
    int rc = 0;
    char **parts = g_strsplit_set(spec, ",=", 3);
    guint n = g_strv_length(parts);
    if (n >= 1 && strcmp(parts[0], "never") == 0 && n == 1) {
        h->when = CTK_HALT_NEVER;
    } else if (n != 3 || (strcmp(parts[0], "soon") != 0 && strcmp(parts[0], "now") != 0)) {
        snprintf(why, why_len, "use never, or soon|now,fail|success|done=N or N%%");
        rc = CTK_EINVAL;
    } else {
        h->when = strcmp(parts[0], "now") == 0 ? CTK_HALT_NOW : CTK_HALT_SOON;
        if (strcmp(parts[1], "fail") == 0)
            h->why = CTK_HALT_FAIL;
        else if (strcmp(parts[1], "success") == 0)
            h->why = CTK_HALT_SUCCESS;
        else if (strcmp(parts[1], "done") == 0)
            h->why = CTK_HALT_DONE;
        else
            rc = CTK_EINVAL;
        const char *num = parts[2];
        size_t digits = strspn(num, "0123456789");
        if (digits == 0 || digits > 9 || (num[digits] != '\0' && strcmp(num + digits, "%") != 0))
            rc = CTK_EINVAL;
        else if (num[digits] == '%')
            h->percent = (double)strtoul(num, NULL, 10);
        else
            h->count = strtoull(num, NULL, 10);
        if (rc < 0)
            snprintf(why, why_len, "use soon|now,fail|success|done=N or N%%");
    }
    g_strfreev(parts);
    g_free(spec);
    return rc;
}
