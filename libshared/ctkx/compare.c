/* compare.c: rows of a --compare table and their derived columns. */
#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctkx/compare.h"

struct ctk_compare {
    GArray *rows; /* ctk_row */
    char *unit_name, *work_name;
    ctk_field extra[CTK_COMPARE_MAX_EXTRA];
    size_t n_extra;
};

int ctk_compare_new(ctk_compare **out, const char *unit_name, const char *work_name,
                    const ctk_field *extra, size_t n_extra)
{
    if (n_extra > CTK_COMPARE_MAX_EXTRA)
        return CTK_EINVAL;
    ctk_compare *c = g_new0(ctk_compare, 1);
    c->rows = g_array_new(FALSE, TRUE, sizeof(ctk_row));
    c->unit_name = g_strdup_printf("%s_per_s", unit_name);
    c->work_name = work_name != NULL ? g_strdup_printf("%s_per_s", work_name) : NULL;
    if (n_extra > 0)
        memcpy(c->extra, extra, n_extra * sizeof *extra);
    c->n_extra = n_extra;
    *out = c;
    return 0;
}

ctk_row *ctk_compare_add(ctk_compare *c, const char *strategy, const char *variant, unsigned jobs)
{
    ctk_row row = {.jobs = jobs};
    g_strlcpy(row.strategy, strategy, sizeof row.strategy);
    g_strlcpy(row.variant, variant != NULL ? variant : "", sizeof row.variant);
    g_array_append_val(c->rows, row);
    return &g_array_index(c->rows, ctk_row, c->rows->len - 1);
}

size_t ctk_compare_count(const ctk_compare *c)
{
    return c->rows->len;
}

const ctk_row *ctk_compare_row(const ctk_compare *c, size_t i)
{
    return &g_array_index(c->rows, ctk_row, i);
}

/* Work done per second against the base's. For a fixed amount of work it
 * is the ratio of wall times; for a timed run (the same wall time) it is
 * the only ratio that means anything. */
static double throughput_ratio(const ctk_row *base, const ctk_row *row)
{
    double b = base->work > 0 ? base->work : (double)base->units;
    double r = row->work > 0 ? row->work : (double)row->units;
    double base_rate = ctk_per_second(b, base->usage.wall),
           row_rate = ctk_per_second(r, row->usage.wall);
    if (b <= 0 || r <= 0)
        return ctk_speedup(&base->usage, &row->usage);
    return base_rate > 0 ? row_rate / base_rate : 0;
}

double ctk_compare_speedup(const ctk_compare *c, size_t i)
{
    const ctk_row *row = ctk_compare_row(c, i);
    for (size_t k = 0; k < c->rows->len; k++) {
        const ctk_row *base = ctk_compare_row(c, k);
        if (base->baseline && strcmp(base->variant, row->variant) == 0)
            return throughput_ratio(base, row);
    }
    return 0;
}

/* A table leaves out a tool column that no row has a value for. */
static int extra_used(const ctk_compare *c, size_t k)
{
    for (size_t i = 0; i < c->rows->len; i++)
        if (ctk_compare_row(c, i)->extra[k] != NULL)
            return 1;
    return 0;
}

static int any_variant(const ctk_compare *c)
{
    for (size_t i = 0; i < c->rows->len; i++)
        if (ctk_compare_row(c, i)->variant[0] != '\0')
            return 1;
    return 0;
}

enum { COL_MAX = 12 + CTK_COMPARE_MAX_EXTRA, COL_WIDTH = 72 };

typedef struct cols {
    size_t n;
    ctk_field fields[COL_MAX];
    const char *values[COL_MAX]; /* into text, or NULL for "unknown" */
    char text[COL_MAX][COL_WIDTH];
} cols;

static void col(cols *cs, const char *name, ctk_field_kind kind, int known, const char *fmt, ...)
    G_GNUC_PRINTF(5, 6);

static void col(cols *cs, const char *name, ctk_field_kind kind, int known, const char *fmt, ...)
{
    va_list ap;
    cs->fields[cs->n] = (ctk_field){name, kind};
    va_start(ap, fmt);
    vsnprintf(cs->text[cs->n], COL_WIDTH, fmt, ap);
    va_end(ap);
    cs->values[cs->n] = known ? cs->text[cs->n] : NULL;
    cs->n++;
}

/* The columns of row i. A table (for people) drops the variant column
 * when no row has a variant, and tool columns no row fills; TSV and JSON
 * keep one schema. Unknown values (no sync row to compare with) are NULL. */
static void columns(const ctk_compare *c, size_t i, int table, unsigned cores, cols *cs)
{
    const ctk_row *r = ctk_compare_row(c, i);
    double speedup = ctk_compare_speedup(c, i);
    cs->n = 0;
    col(cs, "strategy", CTK_FIELD_STRING, 1, "%s", r->strategy);
    if (!table || any_variant(c))
        col(cs, "variant", CTK_FIELD_STRING, 1, "%s", r->variant);
    col(cs, "jobs", CTK_FIELD_NUMBER, 1, "%u", r->jobs);
    col(cs, "wall_s", CTK_FIELD_NUMBER, 1, "%.3f", r->usage.wall);
    col(cs, "cpu_s", CTK_FIELD_NUMBER, 1, "%.3f", ctk_usage_cpu(&r->usage));
    col(cs, "speedup", CTK_FIELD_NUMBER, speedup > 0, "%.2f", speedup);
    col(cs, "efficiency", CTK_FIELD_NUMBER, speedup > 0, "%.2f",
        ctk_efficiency(speedup, r->jobs, cores));
    col(cs, "max_rss_kb", CTK_FIELD_NUMBER, 1, "%ld", r->usage.max_rss_kb);
    col(cs, c->unit_name, CTK_FIELD_NUMBER, 1, "%.1f",
        ctk_per_second((double)r->units, r->usage.wall));
    if (c->work_name != NULL)
        col(cs, c->work_name, CTK_FIELD_NUMBER, 1, "%.0f", ctk_per_second(r->work, r->usage.wall));
    col(cs, "failed", CTK_FIELD_NUMBER, 1, "%llu", (unsigned long long)r->failed);
    for (size_t k = 0; k < c->n_extra; k++)
        if (!table || extra_used(c, k))
            col(cs, c->extra[k].name, c->extra[k].kind, r->extra[k] != NULL, "%s",
                r->extra[k] ? r->extra[k] : "");
}

int ctk_compare_print(const ctk_compare *c, FILE *out, ctk_format format, int header,
                      unsigned cores)
{
    if (c->rows->len == 0)
        return 0;
    int table = format == CTK_FORMAT_TABLE;
    cols *cs = g_new0(cols, 1);
    columns(c, 0, table, cores, cs);
    ctk_output *o = NULL;
    int rc = ctk_output_new(&o, out, format, cs->fields, cs->n, header);
    for (size_t i = 0; i < c->rows->len && rc == 0; i++) {
        columns(c, i, table, cores, cs);
        rc = ctk_output_row(o, cs->values);
    }
    if (o != NULL) {
        int frc = ctk_output_finish(o);
        ctk_output_free(o);
        rc = rc < 0 ? rc : frc;
    }
    g_free(cs);
    return rc;
}

void ctk_compare_free(ctk_compare *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->rows->len; i++)
        for (size_t k = 0; k < CTK_COMPARE_MAX_EXTRA; k++)
            free(g_array_index(c->rows, ctk_row, i).extra[k]);
    g_array_free(c->rows, TRUE);
    g_free(c->unit_name);
    g_free(c->work_name);
    g_free(c);
}
