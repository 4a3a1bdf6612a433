/*
 * ctk/output.h: records on stdout in one of three forms, with the same
 * field names across commands: TSV (one line per record, escaped, header
 * with --header), JSON lines, or an aligned table for people (buffered
 * until the end so columns line up).
 */
#ifndef CTK_OUTPUT_H
#define CTK_OUTPUT_H

#include <stdio.h>

#include "ctk/common.h"

typedef enum ctk_format { CTK_FORMAT_TSV, CTK_FORMAT_JSON, CTK_FORMAT_TABLE } ctk_format;

typedef enum ctk_field_kind {
    CTK_FIELD_STRING, /* quoted in JSON, left-aligned in tables */
    CTK_FIELD_NUMBER  /* bare in JSON (must be a JSON number), right-aligned */
} ctk_field_kind;

typedef struct ctk_field {
    const char *name;
    ctk_field_kind kind;
} ctk_field;

typedef struct ctk_output ctk_output;

/* Parses "tsv", "json" or "table". */
int ctk_format_parse(const char *text, ctk_format *out);
/* fields: n of them. header: print a header line (TSV); tables always
 * have one, JSON never. */
int ctk_output_new(ctk_output **out, FILE *stream, ctk_format format, const ctk_field *fields,
                   size_t n, int header);
/* values[i] is the text of field i, NULL for a missing value (empty in
 * TSV and tables, null in JSON). Bytes that are not valid UTF-8 become
 * U+FFFD in JSON; TSV escapes \t, \n, \r and \\ as backslash sequences.
 * An empty NUMBER value is null in JSON; table cells spell out \t, \n and
 * \r the same way so a record stays on one line. Returns CTK_EIO as soon
 * as a write fails (TSV, JSON), CTK_EINVAL after finish. */
int ctk_output_row(ctk_output *o, const char *const *values);
/* Prints a buffered table and flushes the stream. Returns the stream's
 * error state (CTK_EIO when a write failed). */
int ctk_output_finish(ctk_output *o);
void ctk_output_free(ctk_output *o);

#endif
