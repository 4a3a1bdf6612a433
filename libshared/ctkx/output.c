/*
 * output.c: records on a stream as TSV, JSON lines or an aligned table, so
 * every command prints the same field names the same three ways. TSV and
 * JSON are written as rows arrive; a table is buffered until
 * ctk_output_finish() because column widths depend on every row.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctkx/closeout.h"
#include "ctkx/output.h"

struct ctk_output {
    FILE *stream;
    ctk_format format;
    char **names; /* copies, so callers may pass a temporary array */
    ctk_field_kind *kinds;
    size_t n;
    int header;       /* TSV: header line still owed */
    int finished;     /* tables print once */
    char **cells;     /* table: rows * n cells, row-major; NULL = missing */
    size_t rows, cap; /* in rows */
};

int ctk_format_parse(const char *text, ctk_format *out)
{
    if (text == NULL || out == NULL)
        return CTK_EINVAL;
    if (strcmp(text, "tsv") == 0)
        *out = CTK_FORMAT_TSV;
    else if (strcmp(text, "json") == 0)
        *out = CTK_FORMAT_JSON;
    else if (strcmp(text, "table") == 0)
        *out = CTK_FORMAT_TABLE;
    else
        return CTK_EINVAL;
    return 0;
}

static int copy_fields(ctk_output *o, const ctk_field *fields, size_t n)
{
    o->names = calloc(n, sizeof *o->names);
    o->kinds = calloc(n, sizeof *o->kinds);
    if (o->names == NULL || o->kinds == NULL)
        return CTK_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (fields[i].name == NULL)
            return CTK_EINVAL;
        o->names[i] = strdup(fields[i].name);
        if (o->names[i] == NULL)
            return CTK_ENOMEM;
        o->kinds[i] = fields[i].kind;
    }
    return 0;
}

int ctk_output_new(ctk_output **out, FILE *stream, ctk_format format, const ctk_field *fields,
                   size_t n, int header)
{
    if (out == NULL)
        return CTK_EINVAL;
    *out = NULL;
    if (stream == NULL || fields == NULL || n == 0 || (unsigned)format > CTK_FORMAT_TABLE)
        return CTK_EINVAL;
    ctk_output *o = calloc(1, sizeof *o);
    if (o == NULL)
        return CTK_ENOMEM;
    o->stream = stream;
    o->format = format;
    o->n = n;
    o->header = format == CTK_FORMAT_TSV && header;
    int rc = copy_fields(o, fields, n);
    if (rc < 0) {
        ctk_output_free(o);
        return rc;
    }
    *out = o;
    return 0;
}

/* ---- TSV ------------------------------------------------------------------ */

static void tsv_escape(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '\\':
            fputs("\\\\", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static void tsv_line(ctk_output *o, const char *const *values)
{
    for (size_t i = 0; i < o->n; i++) {
        if (i > 0)
            fputc('\t', o->stream);
        if (values[i] != NULL)
            tsv_escape(o->stream, values[i]);
    }
    fputc('\n', o->stream);
}

/* Printed before the first row, or at finish when there was none, so an
 * empty result still names its columns. */
static void tsv_header(ctk_output *o)
{
    if (!o->header)
        return;
    o->header = 0;
    tsv_line(o, (const char *const *)o->names);
}

/* ---- JSON ----------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at s, or 0 when it is not one:
 * rejects overlongs (C0, C1, E0 80..9F, F0 80..8F), surrogates (ED A0..BF)
 * and code points past U+10FFFF (F4 90.., F5..FF). s is NUL-terminated, and
 * the NUL fails every continuation test, so we never read past it. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char lo = 0x80, hi = 0xBF;
    size_t len;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        lo = s[0] == 0xE0 ? 0xA0 : lo;
        hi = s[0] == 0xED ? 0x9F : hi;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        lo = s[0] == 0xF0 ? 0x90 : lo;
        hi = s[0] == 0xF4 ? 0x8F : hi;
    } else {
        return 0;
    }
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

static void json_byte(FILE *f, unsigned char c)
{
    switch (c) {
    case '"':
        fputs("\\\"", f);
        break;
    case '\\':
        fputs("\\\\", f);
        break;
    case '\b':
        fputs("\\b", f);
        break;
    case '\f':
        fputs("\\f", f);
        break;
    case '\n':
        fputs("\\n", f);
        break;
    case '\r':
        fputs("\\r", f);
        break;
    case '\t':
        fputs("\\t", f);
        break;
    default:
        if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
}

/* A JSON string. Each byte that is not part of well-formed UTF-8 becomes
 * U+FFFD written as raw UTF-8 (EF BF BD): JSON text must be Unicode, and
 * one bad byte should not cost the rest of the record. */
static void json_string(FILE *f, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    fputc('"', f);
    while (*s != '\0') {
        size_t len = utf8_len(s);
        if (len == 0) {
            fputs("\xEF\xBF\xBD", f);
            s++;
        } else if (len == 1) {
            json_byte(f, *s++);
        } else {
            fwrite(s, 1, len, f);
            s += len;
        }
    }
    fputc('"', f);
}

static void json_line(ctk_output *o, const char *const *values)
{
    fputc('{', o->stream);
    for (size_t i = 0; i < o->n; i++) {
        if (i > 0)
            fputc(',', o->stream);
        json_string(o->stream, o->names[i]);
        fputc(':', o->stream);
        /* An empty number would make the line invalid JSON: call it null. */
        if (values[i] == NULL || (o->kinds[i] == CTK_FIELD_NUMBER && values[i][0] == '\0'))
            fputs("null", o->stream);
        else if (o->kinds[i] == CTK_FIELD_NUMBER)
            fputs(values[i], o->stream);
        else
            json_string(o->stream, values[i]);
    }
    fputs("}\n", o->stream);
}

/* ---- table ---------------------------------------------------------------- */

/* A cell as shown: tabs and line breaks would break the alignment, so they
 * are spelled out as in TSV. */
static char *table_cell(const char *s)
{
    size_t len = strlen(s), extra = 0;
    for (size_t i = 0; i < len; i++)
        extra += s[i] == '\t' || s[i] == '\n' || s[i] == '\r';
    char *cell = malloc(len + extra + 1), *p = cell;
    if (cell == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '\t' || c == '\n' || c == '\r') {
            *p++ = '\\';
            c = c == '\t' ? 't' : c == '\n' ? 'n' : 'r';
        }
        *p++ = c;
    }
    *p = '\0';
    return cell;
}

static int table_grow(ctk_output *o)
{
    if (o->rows < o->cap)
        return 0;
    size_t cap = o->cap ? o->cap * 2 : 16;
    if (cap > SIZE_MAX / o->n / sizeof *o->cells)
        return CTK_ENOMEM;
    char **cells = realloc(o->cells, cap * o->n * sizeof *cells);
    if (cells == NULL)
        return CTK_ENOMEM;
    o->cells = cells;
    o->cap = cap;
    return 0;
}

static int table_add(ctk_output *o, const char *const *values)
{
    int rc = table_grow(o);
    if (rc < 0)
        return rc;
    char **row = o->cells + o->rows * o->n;
    for (size_t i = 0; i < o->n; i++) {
        row[i] = values[i] != NULL ? table_cell(values[i]) : NULL;
        if (values[i] != NULL && row[i] == NULL) {
            while (i-- > 0)
                free(row[i]);
            return CTK_ENOMEM;
        }
    }
    o->rows++;
    return 0;
}

/* Display width, counted in code points: continuation bytes take no
 * column. Wide (CJK) and combining characters are off by design. */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; s != NULL && *s != '\0'; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

static void pad(FILE *f, size_t n)
{
    while (n-- > 0)
        fputc(' ', f);
}

/* One line. Cells after the last non-empty one are left out and the last
 * printed one is not padded on the right, so no line ends in spaces. */
static void table_line(ctk_output *o, char *const *cells, const size_t *width)
{
    size_t end = 0; /* one past the last non-empty cell */
    for (size_t i = 0; i < o->n; i++)
        if (text_width(cells[i]) > 0)
            end = i + 1;
    for (size_t i = 0; i < end; i++) {
        const char *text = cells[i] != NULL ? cells[i] : "";
        size_t gap = width[i] - text_width(text);
        if (i > 0)
            fputs("  ", o->stream);
        if (o->kinds[i] == CTK_FIELD_NUMBER)
            pad(o->stream, gap);
        fputs(text, o->stream);
        if (o->kinds[i] != CTK_FIELD_NUMBER && i + 1 < end)
            pad(o->stream, gap);
    }
    fputc('\n', o->stream);
}

static int table_print(ctk_output *o)
{
    size_t *width = calloc(o->n, sizeof *width);
    if (width == NULL)
        return CTK_ENOMEM;
    for (size_t i = 0; i < o->n; i++)
        width[i] = text_width(o->names[i]);
    for (size_t r = 0; r < o->rows; r++) {
        for (size_t i = 0; i < o->n; i++) {
            size_t w = text_width(o->cells[r * o->n + i]);
            width[i] = w > width[i] ? w : width[i];
        }
    }
    table_line(o, o->names, width);
    for (size_t r = 0; r < o->rows; r++)
        table_line(o, o->cells + r * o->n, width);
    free(width);
    return 0;
}

/* ---- the interface -------------------------------------------------------- */

int ctk_output_row(ctk_output *o, const char *const *values)
{
    if (o == NULL || values == NULL || o->finished)
        return CTK_EINVAL;
    switch (o->format) {
    case CTK_FORMAT_TSV:
        tsv_header(o);
        tsv_line(o, values);
        break;
    case CTK_FORMAT_JSON:
        json_line(o, values);
        break;
    case CTK_FORMAT_TABLE:
        return table_add(o, values);
    }
    /* Report a failed write now, so a producer can stop early (EPIPE). */
    return ferror(o->stream) ? CTK_EIO : 0;
}

int ctk_output_finish(ctk_output *o)
{
    if (o == NULL)
        return CTK_EINVAL;
    if (!o->finished) {
        o->finished = 1;
        if (o->format == CTK_FORMAT_TSV)
            tsv_header(o);
        if (o->format == CTK_FORMAT_TABLE) {
            int rc = table_print(o);
            if (rc < 0)
                return rc;
        }
    }
    if (ctk_closeout_flush(o->stream) != 0)
        return CTK_EIO;
    return 0;
}

void ctk_output_free(ctk_output *o)
{
    if (o == NULL)
        return;
    for (size_t i = 0; i < o->rows * o->n; i++)
        free(o->cells[i]);
    free(o->cells);
    for (size_t i = 0; o->names != NULL && i < o->n; i++)
        free(o->names[i]);
    free(o->names);
    free(o->kinds);
    free(o);
}
