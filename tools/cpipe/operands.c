/*
 * cpipe's operands after FILTER, read as GNU parallel reads them: `::::
 * FILE` as the input, `::: ARG...` as --tee's filters' arguments (combined
 * by ctkx/sources, as cpar combines them).
 */
#include <string.h>

#include "ctkx/sources.h"
#include "operands.h"

/* parallel's input sources after FILTER: `:::: FILE` is the input (as
 * -a FILE); `::: ARG...` gives --pipepart nothing (parallel runs its
 * parts with an empty argument), --tee one filter per argument.
 * Returns the words of FILTER left. */
int cpipe_cut_sources(cpipe_opts *o, int first, int argc, char **argv)
{
    int end = first + (int)ctk_sources_command_words(argc, argv, first);
    if (end == argc)
        return argc;
    /* --tee: the operands are its filters' arguments (main.c reads them). */
    if (o->part != 1 && !o->tee)
        return argc;
    for (int i = end; o->part == 1 && i < argc; i++) {
        if (strcmp(argv[i], "::::") == 0 && i + 1 < argc && o->input == NULL)
            o->input = argv[i + 1];
    }
    return end;
}

void cpipe_tee_jobs_free(tee_jobs *t)
{
    if (t->words != NULL)
        g_ptr_array_free(t->words, TRUE);
    if (t->items != NULL)
        g_array_free(t->items, TRUE);
    if (t->args != NULL)
        g_array_free(t->args, TRUE);
}

int cpipe_tee_jobs_read(tee_jobs *t, const cpipe_opts *o, int end, int argc, char **argv, char *err,
                        size_t err_len)
{
    /* The operands less the one file that is --pipepart's input. */
    GPtrArray *ops = g_ptr_array_new();
    int file_list = 0, dropped = 0;
    for (int i = end; i < argc; i++) {
        if (strncmp(argv[i], ":::", 3) == 0 && ctk_sources_command_words(argc, argv, i) == 0) {
            file_list = strncmp(argv[i], "::::", 4) == 0;
            g_ptr_array_add(ops, argv[i]);
            continue;
        }
        if (file_list && !dropped && o->part == 1 && o->input == argv[i]) {
            dropped = 1;
            continue;
        }
        g_ptr_array_add(ops, argv[i]);
    }
    g_ptr_array_add(ops, NULL);
    ctk_sources *src = NULL;
    size_t n_cmd = 0;
    int rc = ctk_sources_new(&src, '\n');
    if (rc == 0)
        rc = ctk_sources_add_operands(src, (int)ops->len - 1, (char **)ops->pdata, 0, 0, &n_cmd,
                                      err, err_len);
    else
        snprintf(err, err_len, "%s", ctk_strerror(rc));
    t->words = g_ptr_array_new_with_free_func(g_free);
    t->items = g_array_new(FALSE, FALSE, sizeof(ctk_cmdline_item));
    t->args = g_array_new(FALSE, TRUE, sizeof(ctk_cmdline_args));
    ctk_item item = {0};
    int nul;
    while (rc == 0 && (rc = ctk_sources_next(src, &item, &nul, NULL)) == 0) {
        ctk_cmdline_args a = {NULL, item.n, 0, 0};
        for (size_t c = 0; c < item.n; c++) {
            char *w = g_strndup(item.cols[c], item.lens[c]);
            g_ptr_array_add(t->words, w);
            ctk_cmdline_item it = {w, item.lens[c]};
            g_array_append_val(t->items, it);
        }
        g_array_append_val(t->args, a);
    }
    if (rc == CTK_EOF)
        rc = 0;
    else if (rc < 0 && err[0] == '\0')
        snprintf(err, err_len, "cannot read --tee's arguments: %s", ctk_strerror(rc));
    ctk_item_clear(&item);
    ctk_sources_free(src);
    g_ptr_array_free(ops, TRUE);
    /* The columns are in place now: each job points at its own. */
    size_t at = 0;
    for (guint k = 0; rc == 0 && k < t->args->len; k++) {
        ctk_cmdline_args *a = &g_array_index(t->args, ctk_cmdline_args, k);
        a->cols = a->n_cols > 0 ? &g_array_index(t->items, ctk_cmdline_item, at) : NULL;
        at += a->n_cols;
    }
    return rc;
}

/* Whether FILTER's words hold an input source (`:::` or `::::`). */
int cpipe_has_sources(int first, int argc, char **argv)
{
    for (int i = first; i < argc; i++)
        if (strcmp(argv[i], ":::") == 0 || strcmp(argv[i], "::::") == 0)
            return 1;
    return 0;
}
