/*
 * sources.c: input sources and their combination (see ctk/sources.h).
 * A group is one source or several linked ones; the job list is the cross
 * product of the groups, the first group in the outer loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctkx/lines.h"
#include "ctkx/sources.h"

/* Items bigger than this are still read (the command line limit decides
 * later); the bound only stops a runaway record from eating all memory. */
#define SOURCE_MAX_RECORD ((size_t)1 << 30)

typedef struct source {
    GPtrArray *values; /* GBytes; NULL while streamed */
    int ended;         /* streamed: -E's string was read */
    int fd;            /* streamed: the fd, owned unless stdin */
    ctk_lines *lines;
} source;

typedef struct group {
    GPtrArray *sources; /* source * */
    size_t length;      /* the shortest member (the longest recycling), once loaded */
} group;

struct ctk_sources {
    char *sep; /* the record separator, sep_len bytes (NULs allowed) */
    size_t sep_len;
    int paragraphs;    /* -d '': records end at blank lines, as Perl's $/ = "" */
    GPtrArray *groups; /* group * */
    size_t per_job;
    int started, streaming, done;
    /* Several sources: an empty one stands as one empty value, as in GNU
     * parallel (`::: a :::: /dev/null` runs "a "), unless all are empty.
     * Streaming, that is decided at the first read (see next_combination). */
    int stand_in, others_empty, stream_read;
    size_t *pos;        /* odometer over the groups */
    GPtrArray *current; /* GBytes of the job being built */
    GBytes *streamed;   /* the first group's current value when streaming */
    GRegex *colsep;     /* --colsep: values split into columns; or NULL */
    char *csv_sep;      /* --csv: values parsed as CSV records with this field separator */
    size_t csv_sep_len;
    int failed;     /* an error ended the input: every later call returns it */
    GString *error; /* what the failure was (see ctk_sources_error), or NULL */
    int cancel_fd;  /* the run's cancel fd for the readers, or -1 */
    int trim_left, trim_right;
    char *eof;           /* -E: ends a source; or NULL */
    int skip_blank;      /* -r */
    int line_continue;   /* -L: a trailing blank joins the next line */
    int shuffle;         /* --shuf */
    int recycle;         /* --link: linked groups run to their longest member */
    GPtrArray *shuffled; /* --shuf: every job's values (GPtrArray of GBytes), read first */
    guint shuffled_next;
};

static void source_free(gpointer p)
{
    source *src = p;
    if (src->values != NULL)
        g_ptr_array_free(src->values, TRUE);
    ctk_lines_close(src->lines);
    if (src->fd > 0)
        close(src->fd);
    g_free(src);
}

static void group_free(gpointer p)
{
    group *g = p;
    g_ptr_array_free(g->sources, TRUE);
    g_free(g);
}

int ctk_sources_new(ctk_sources **out, char delim)
{
    return ctk_sources_new_sep(out, &delim, 1);
}

int ctk_sources_new_sep(ctk_sources **out, const char *sep, size_t sep_len)
{
    ctk_sources *s = g_new0(ctk_sources, 1);
    /* Paragraphs: "\n\n" ends a record; the newlines beyond two, before
     * and after, are trimmed from it (see paragraph). */
    s->paragraphs = sep_len == 0;
    if (s->paragraphs)
        sep = "\n\n", sep_len = 2;
    s->sep = g_memdup2(sep, sep_len);
    s->sep_len = sep_len;
    s->cancel_fd = -1;
    s->groups = g_ptr_array_new_with_free_func(group_free);
    s->per_job = 1;
    s->current = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    *out = s;
    return 0;
}

void ctk_sources_set_cancel_fd(ctk_sources *s, int cancel_fd)
{
    s->cancel_fd = cancel_fd;
    for (guint g = 0; g < s->groups->len; g++) {
        const group *gr = g_ptr_array_index(s->groups, g);
        for (guint k = 0; k < gr->sources->len; k++) {
            source *src = g_ptr_array_index(gr->sources, k);
            if (src->lines != NULL)
                ctk_lines_set_cancel_fd(src->lines, cancel_fd);
        }
    }
}

int ctk_sources_may_wait(const ctk_sources *s)
{
    for (guint g = 0; g < s->groups->len; g++) {
        group *grp = g_ptr_array_index(s->groups, g);
        for (guint i = 0; i < grp->sources->len; i++) {
            source *src = g_ptr_array_index(grp->sources, i);
            struct stat st;
            /* Words have no lines reader (their fd is 0 but unused). */
            if (src->lines != NULL && (fstat(src->fd, &st) < 0 || !S_ISREG(st.st_mode)))
                return 1;
        }
    }
    return 0;
}

void ctk_sources_free(ctk_sources *s)
{
    if (s != NULL && s->colsep != NULL)
        g_regex_unref(s->colsep);
    if (s == NULL)
        return;
    g_free(s->csv_sep);
    if (s->error != NULL)
        g_string_free(s->error, TRUE);
    g_ptr_array_free(s->groups, TRUE);
    g_ptr_array_free(s->current, TRUE);
    if (s->streamed != NULL)
        g_bytes_unref(s->streamed);
    g_free(s->pos);
    g_free(s->sep);
    g_free(s->eof);
    if (s->shuffled != NULL)
        g_ptr_array_free(s->shuffled, TRUE);
    g_free(s);
}

void ctk_sources_set_recycle(ctk_sources *s, int on)
{
    s->recycle = on;
}

/* A loaded group's length: its shortest member, or recycling its longest
 * (0 still when a member is empty: there is nothing to pair with). */
static size_t group_length(const ctk_sources *s, const group *grp)
{
    size_t shortest = SIZE_MAX, longest = 0;
    for (guint k = 0; k < grp->sources->len; k++) {
        const source *src = g_ptr_array_index(grp->sources, k);
        shortest = MIN(shortest, (size_t)src->values->len);
        longest = MAX(longest, (size_t)src->values->len);
    }
    return s->recycle && shortest > 0 ? longest : shortest;
}

void ctk_sources_set_shuffle(ctk_sources *s, int on)
{
    s->shuffle = on;
}

void ctk_sources_set_trim(ctk_sources *s, int left, int right)
{
    s->trim_left = left;
    s->trim_right = right;
}

void ctk_sources_set_eof(ctk_sources *s, const char *eof)
{
    g_free(s->eof);
    s->eof = g_strdup(eof);
}

void ctk_sources_set_skip_blank(ctk_sources *s, int on)
{
    s->skip_blank = on;
}

void ctk_sources_set_line_continue(ctk_sources *s, int on)
{
    s->line_continue = on;
}

static int ends_in_blank(GBytes *v)
{
    gsize len;
    const char *d = g_bytes_get_data(v, &len);
    len--; /* value_new's NUL */
    return len > 0 && (d[len - 1] == ' ' || d[len - 1] == '\t');
}

static int is_blank_value(GBytes *v)
{
    gsize size;
    const char *d = g_bytes_get_data(v, &size);
    for (gsize i = 0; i + 1 < size; i++)
        if (!g_ascii_isspace(d[i]))
            return 0;
    return 1;
}

static int is_eof_value(const ctk_sources *s, GBytes *v)
{
    gsize size;
    const char *d = g_bytes_get_data(v, &size);
    return s->eof != NULL && size - 1 == strlen(s->eof) && memcmp(d, s->eof, size - 1) == 0;
}

/* Two values as one: a's bytes, then b's. */
static GBytes *value_join(GBytes *a, GBytes *b)
{
    gsize la, lb;
    const char *da = g_bytes_get_data(a, &la);
    const char *db = g_bytes_get_data(b, &lb);
    char *joined = g_malloc(la - 1 + lb);
    memcpy(joined, da, la - 1);
    memcpy(joined + la - 1, db, lb); /* b's NUL too */
    return g_bytes_new_take(joined, la - 1 + lb);
}

/* --csv: the number of '"' in v is odd. */
static int csv_odd(GBytes *v)
{
    gsize size;
    const char *d = g_bytes_get_data(v, &size);
    int odd = 0;
    for (gsize i = 0; i + 1 < size; i++)
        odd ^= d[i] == '"';
    return odd;
}

/* a, the record separator, then b, as one value (a quoted field went on
 * past the separator). */
static GBytes *csv_join(const ctk_sources *s, GBytes *a, GBytes *b)
{
    gsize la, lb;
    const char *da = g_bytes_get_data(a, &la);
    const char *db = g_bytes_get_data(b, &lb);
    char *joined = g_malloc(la - 1 + s->sep_len + lb);
    memcpy(joined, da, la - 1);
    memcpy(joined + la - 1, s->sep, s->sep_len);
    memcpy(joined + la - 1 + s->sep_len, db, lb); /* b's NUL too */
    return g_bytes_new_take(joined, la - 1 + s->sep_len + lb);
}

/* --csv on a list of values (::: words): as GNU parallel reads a CSV
 * record, a value with an odd number of '"' opens a quoted field, and
 * the values up to the one that closes it (an odd number again) are one
 * record, joined by the record separator. */
static void csv_join_values(const ctk_sources *s, GPtrArray *values)
{
    for (guint i = 0; i < values->len; i++) {
        GBytes *v = g_ptr_array_index(values, i);
        int odd = csv_odd(v);
        while (odd && i + 1 < values->len) {
            GBytes *next = g_ptr_array_index(values, i + 1);
            odd ^= csv_odd(next);
            GBytes *joined = csv_join(s, v, next);
            g_ptr_array_remove_index(values, i + 1);
            values->pdata[i] = joined;
            g_bytes_unref(v);
            v = joined;
        }
    }
}

/* -L, -E and -r on a source read whole (words, or a file loaded), as
 * read_record applies them to a streamed one: GNU parallel reads :::
 * words as it reads lines. */
static void filter_values(const ctk_sources *s, GPtrArray *values)
{
    if (s->csv_sep != NULL)
        csv_join_values(s, values);
    for (guint i = 0; i < values->len;) {
        GBytes *v = g_ptr_array_index(values, i);
        if (is_eof_value(s, v)) {
            g_ptr_array_set_size(values, i);
            break;
        }
        while (s->line_continue && ends_in_blank(v) && i + 1 < values->len) {
            GBytes *next = g_ptr_array_index(values, i + 1);
            if (is_eof_value(s, next)) {
                g_ptr_array_set_size(values, i + 1);
                break;
            }
            GBytes *joined = value_join(v, next);
            g_ptr_array_remove_index(values, i + 1);
            values->pdata[i] = joined;
            g_bytes_unref(v);
            v = joined;
        }
        if (s->skip_blank && is_blank_value(v))
            g_ptr_array_remove_index(values, i);
        else
            i++;
    }
}

static int add_source(ctk_sources *s, source *src, int linked)
{
    if (s->started) {
        source_free(src);
        return CTK_EINVAL;
    }
    group *g;
    if (linked && s->groups->len > 0) {
        g = g_ptr_array_index(s->groups, s->groups->len - 1);
    } else {
        g = g_new0(group, 1);
        g->sources = g_ptr_array_new_with_free_func(source_free);
        g_ptr_array_add(s->groups, g);
    }
    g_ptr_array_add(g->sources, src);
    return 0;
}

/* A value with a NUL after its bytes, so columns can be used as C strings;
 * g_bytes_get_size() counts that NUL too. */
static GBytes *value_new(const char *data, size_t len)
{
    char *copy = g_malloc(len + 1);
    memcpy(copy, data, len);
    copy[len] = '\0';
    return g_bytes_new_take(copy, len + 1);
}

/* A paragraph's bytes without the newlines around them (Perl drops the
 * extra ones between paragraphs, and chomp the ones at the end);
 * 0 when nothing is left, which Perl never returns as a record. */
static int paragraph(const char **d, size_t *len)
{
    while (*len > 0 && (*d)[0] == '\n')
        (*d)++, (*len)--;
    while (*len > 0 && (*d)[*len - 1] == '\n')
        (*len)--;
    return *len > 0;
}

static void add_word(const ctk_sources *s, GPtrArray *values, const char *w, size_t len)
{
    if (!s->paragraphs || paragraph(&w, &len))
        g_ptr_array_add(values, value_new(w, len));
}

int ctk_sources_add_words(ctk_sources *s, char *const *words, size_t n, int linked)
{
    source *src = g_new0(source, 1);
    src->values = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    /* As GNU parallel does, a word holding the record delimiter is several
     * records ("a\nb" is a and b; "a\n" is a and an empty one). */
    int splits = memchr(s->sep, '\0', s->sep_len) == NULL; /* a word holds no NUL */
    for (size_t i = 0; i < n; i++) {
        const char *w = words[i], *end;
        while (splits && (end = memmem(w, strlen(w), s->sep, s->sep_len)) != NULL) {
            add_word(s, src->values, w, (size_t)(end - w));
            w = end + s->sep_len;
        }
        add_word(s, src->values, w, strlen(w));
    }
    return add_source(s, src, linked);
}

int ctk_sources_add_file(ctk_sources *s, const char *path, int linked, char *err, size_t err_len)
{
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int rc = -errno;
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        return rc;
    }
    source *src = g_new0(source, 1);
    src->fd = fd;
    int rc = ctk_lines_open_sep(&src->lines, fd, s->sep, s->sep_len, SOURCE_MAX_RECORD);
    if (rc < 0) {
        source_free(src);
        return rc;
    }
    ctk_lines_set_cancel_fd(src->lines, s->cancel_fd);
    return add_source(s, src, linked);
}

int ctk_sources_set_per_job(ctk_sources *s, size_t per_job)
{
    if (per_job == 0)
        return CTK_EINVAL;
    s->per_job = per_job;
    return 0;
}

/* The next record of a streamed source, NULs replaced by "\\0". */
static int read_record_raw(ctk_sources *s, source *src, GBytes **value, int *nul_replaced,
                           const int *cancel);

/* The record that continues *value (a quoted CSV field, a line ending in
 * a blank): on an error *value goes too, so the caller returns at once. */
static int read_continuation(ctk_sources *s, source *src, GBytes **value, GBytes **next,
                             int *nul_replaced, const int *cancel)
{
    int rc = read_record_raw(s, src, next, nul_replaced, cancel);
    if (rc < 0 && rc != CTK_EOF) {
        g_bytes_unref(*value);
        *value = NULL;
    }
    return rc;
}

static int read_record(ctk_sources *s, source *src, GBytes **value, int *nul_replaced,
                       const int *cancel)
{
    for (;;) {
        if (src->ended)
            return CTK_EOF;
        int rc = read_record_raw(s, src, value, nul_replaced, cancel);
        if (rc < 0)
            return rc;
        /* --csv: a quoted field goes on over the record separator. At the
         * end of input the open quote stays, for the parse to refuse. */
        for (int odd = s->csv_sep != NULL && csv_odd(*value); odd;) {
            GBytes *next;
            rc = read_continuation(s, src, value, &next, nul_replaced, cancel);
            if (rc == CTK_EOF)
                break;
            if (rc < 0)
                return rc;
            odd ^= csv_odd(next);
            GBytes *joined = csv_join(s, *value, next);
            g_bytes_unref(*value);
            g_bytes_unref(next);
            *value = joined;
        }
        /* The joined line keeps its blank: "a \nb" is the one item "a b". */
        while (s->line_continue && ends_in_blank(*value)) {
            GBytes *next;
            rc = read_continuation(s, src, value, &next, nul_replaced, cancel);
            if (rc == CTK_EOF)
                break;
            if (rc < 0)
                return rc;
            /* -E's string ends the input even as a continuation line; the
             * line before it stays as it is. */
            if (is_eof_value(s, next)) {
                g_bytes_unref(next);
                src->ended = 1;
                break;
            }
            gsize a, b;
            const char *da = g_bytes_get_data(*value, &a);
            const char *db = g_bytes_get_data(next, &b);
            GString *joined = g_string_sized_new(a + b);
            g_string_append_len(joined, da, a - 1);
            g_string_append_len(joined, db, b - 1);
            g_bytes_unref(*value);
            g_bytes_unref(next);
            *value = value_new(joined->str, joined->len);
            g_string_free(joined, TRUE);
        }
        if (is_eof_value(s, *value)) {
            /* *value may be s->streamed, unreffed again when set */
            g_bytes_unref(*value);
            *value = NULL;
            src->ended = 1;
            return CTK_EOF;
        }
        if (!s->skip_blank || !is_blank_value(*value))
            return 0;
        g_bytes_unref(*value);
        *value = NULL;
    }
}

static int read_record_raw(ctk_sources *s, source *src, GBytes **value, int *nul_replaced,
                           const int *cancel)
{
    const char *line;
    size_t len;
    int rc;
    do
        rc = ctk_lines_next(src->lines, &line, &len, cancel);
    while (rc == 0 && s->paragraphs && !paragraph(&line, &len));
    if (rc < 0)
        return rc;
    if (memchr(s->sep, '\0', s->sep_len) != NULL || memchr(line, '\0', len) == NULL) {
        *value = value_new(line, len);
        return 0;
    }
    GString *fixed = g_string_sized_new(len + 8);
    for (size_t i = 0; i < len; i++) {
        if (line[i] == '\0')
            g_string_append(fixed, "\\0");
        else
            g_string_append_c(fixed, line[i]);
    }
    *nul_replaced = 1;
    *value = value_new(fixed->str, fixed->len);
    g_string_free(fixed, TRUE);
    return 0;
}

static int load_source(ctk_sources *s, source *src, int *nul_replaced, const int *cancel)
{
    if (src->values != NULL)
        return 0;
    src->values = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    for (;;) {
        GBytes *v;
        int rc = read_record(s, src, &v, nul_replaced, cancel);
        if (rc == CTK_EOF)
            return 0;
        if (rc < 0)
            return rc;
        g_ptr_array_add(src->values, v);
    }
}

static int start(ctk_sources *s, int *nul_replaced, const int *cancel)
{
    s->started = 1;
    s->pos = g_new0(size_t, s->groups->len ? s->groups->len : 1);
    if (s->groups->len == 0) {
        s->done = 1;
        return 0;
    }
    if (s->per_job > 1 && s->groups->len > 1)
        return CTK_EINVAL;
    group *first = g_ptr_array_index(s->groups, 0);
    source *head = g_ptr_array_index(first->sources, 0);
    s->streaming = first->sources->len == 1 && head->values == NULL;
    size_t n_sources = 0, n_empty = 0;
    for (guint g = 0; g < s->groups->len; g++) {
        group *grp = g_ptr_array_index(s->groups, g);
        n_sources += grp->sources->len;
        for (guint k = 0; k < grp->sources->len && !(g == 0 && s->streaming); k++) {
            source *src = g_ptr_array_index(grp->sources, k);
            int was_loaded = src->values != NULL;
            int rc = load_source(s, src, nul_replaced, cancel);
            if (rc < 0)
                return rc;
            if (was_loaded)
                filter_values(s, src->values); /* words; files were read filtered */
            n_empty += src->values->len == 0;
        }
    }
    s->stand_in = n_sources > 1;
    s->others_empty = n_empty == n_sources - (s->streaming ? 1 : 0);
    for (guint g = s->streaming ? 1 : 0; g < s->groups->len; g++) {
        group *grp = g_ptr_array_index(s->groups, g);
        for (guint k = 0; k < grp->sources->len; k++) {
            source *src = g_ptr_array_index(grp->sources, k);
            if (s->stand_in && !(s->others_empty && !s->streaming) && src->values->len == 0)
                g_ptr_array_add(src->values, value_new("", 0));
        }
        grp->length = group_length(s, grp);
        if (grp->length == 0)
            s->done = 1; /* a product with an empty factor is empty */
    }
    return 0;
}

int ctk_sources_wait_fd(ctk_sources *s)
{
    if (!s->started || !s->streaming || s->done || s->per_job > 1 || s->streamed != NULL)
        return -1;
    group *first = g_ptr_array_index(s->groups, 0);
    source *head = g_ptr_array_index(first->sources, 0);
    return ctk_lines_ready(head->lines) ? -1 : ctk_lines_fd(head->lines);
}

/* GNU parallel trims Perl's \s: a CRLF file's \r goes with --colsep. */
static int is_trim_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* One column, trimmed as --trim says. */
static void push_column(ctk_sources *s, const char *d, size_t len)
{
    while (s->trim_left && len > 0 && is_trim_space(d[0]))
        d++, len--;
    while (s->trim_right && len > 0 && is_trim_space(d[len - 1]))
        len--;
    g_ptr_array_add(s->current, value_new(d, len));
}

/* The next match of re in data[0, len) at or after *pos, as
 * g_match_info_next steps: past an empty match by one byte, and never
 * the same match twice. 0 when there is none (a match error included:
 * the rest is then one column, nothing is dropped). */
static int next_sep(const GRegex *re, const char *data, size_t len, size_t *pos, int *s, int *e,
                    GMatchInfo **mi)
{
    for (;;) {
        int prev_s = *s, prev_e = *e;
        if (*pos > len)
            return 0;
        g_match_info_free(*mi);
        *mi = NULL;
        if (!g_regex_match_full(re, data, (gssize)len, (gint)*pos, 0, mi, NULL))
            return 0;
        g_match_info_fetch_pos(*mi, 0, s, e);
        *pos = *pos == (size_t)*e ? *pos + 1 : (size_t)*e;
        if (*s != prev_s || *e != prev_e)
            return 1;
    }
}

/* Splits a value at --colsep as g_regex_split_full does (the text
 * between separators, then each group the separator captured; an empty
 * separator splits between bytes), but by bytes: GLib 2.74 steps back
 * over an empty separator as UTF-8 even for a G_REGEX_RAW regex, and
 * reads before the value when it starts with a continuation byte. */
static void push_split(ctk_sources *s, const char *data, size_t len)
{
    size_t last_end = 0, pos = 0;
    int last_empty = 0, ms = -1, me = -1;
    GMatchInfo *mi = NULL;
    while (next_sep(s->colsep, data, len, &pos, &ms, &me, &mi)) {
        last_empty = ms == me;
        /* An empty separator just where another one ended is none. */
        if (last_end != (size_t)me) {
            push_column(s, data + last_end, (size_t)ms - last_end);
            for (int i = 1; i < g_match_info_get_match_count(mi); i++) {
                int cs = -1, ce = -1;
                g_match_info_fetch_pos(mi, i, &cs, &ce);
                push_column(s, cs < 0 ? "" : data + cs, cs < 0 ? 0 : (size_t)(ce - cs));
            }
        }
        last_end = (size_t)me;
    }
    g_match_info_free(mi);
    if (!last_empty || last_end < len)
        push_column(s, data + last_end, len - last_end);
}

/* --csv: the field separator at d[i]. */
static int csv_sep_at(const ctk_sources *s, const char *d, size_t len, size_t i)
{
    return len - i >= s->csv_sep_len && memcmp(d + i, s->csv_sep, s->csv_sep_len) == 0;
}

static int csv_refuse(ctk_sources *s, const char *d, size_t len)
{
    if (s->error == NULL)
        s->error = g_string_new(NULL);
    g_string_assign(s->error, "CSV has unexpected format: ^");
    g_string_append_len(s->error, d, (gssize)len);
    g_string_append_c(s->error, '^');
    return CTK_EINVAL;
}

/* --csv: one record parsed as GNU parallel's Text::CSV parses it
 * (binary => 1, Text::CSV_PP's parse): fields end at the separator; a
 * field that starts with '"' is quoted, and holds the separator, line
 * ends and "" for '"' (and "0 for a NUL, which becomes the two
 * characters \0 as any NUL in an argument); after its closing quote
 * comes the separator or the end. A '"' inside an unquoted field, a
 * quote left open, or a CR not before LF outside quotes is refused.
 * An LF outside quotes ends the record (the rest is ignored, as in
 * Text::CSV); an empty value is one empty field. */
static int push_csv(ctk_sources *s, const char *d, size_t len, int *nul_replaced)
{
    enum { WAITING, UNQUOTED, QUOTED } st = WAITING;
    GString *f = g_string_new(NULL);
    size_t i = 0;
    int rc = 0, end = 0;
    while (!end && rc == 0) {
        if (i >= len) {
            if (st == QUOTED)
                rc = csv_refuse(s, d, len);
            end = 1;
        } else if (csv_sep_at(s, d, len, i)) {
            i += s->csv_sep_len;
            if (st == QUOTED) {
                g_string_append_len(f, s->csv_sep, (gssize)s->csv_sep_len);
                continue;
            }
            push_column(s, f->str, f->len);
            g_string_truncate(f, 0);
            st = WAITING;
        } else if (d[i] == '"') {
            i++;
            if (st == WAITING) {
                st = QUOTED;
            } else if (st == UNQUOTED) {
                rc = csv_refuse(s, d, len);
            } else if (i >= len || d[i] == '\n') {
                end = 1; /* the closing quote at the end */
            } else if (csv_sep_at(s, d, len, i)) {
                i += s->csv_sep_len;
                push_column(s, f->str, f->len);
                g_string_truncate(f, 0);
                st = WAITING;
            } else if (d[i] == '"' || d[i] == '0') {
                if (d[i] == '0')
                    *nul_replaced = 1;
                g_string_append(f, d[i] == '"' ? "\"" : "\\0");
                i++;
            } else if (d[i] == '\r' && i + 1 < len && d[i + 1] == '\n') {
                end = 1;
            } else {
                rc = csv_refuse(s, d, len);
            }
        } else if ((d[i] == '\n' || d[i] == '\r') && st == QUOTED) {
            g_string_append_c(f, d[i++]);
        } else if (d[i] == '\n') {
            end = 1;
        } else if (d[i] == '\r') {
            /* A lone CR before the end is an empty last field. */
            if ((i + 1 < len && d[i + 1] == '\n') || (st == WAITING && i + 1 == len))
                end = 1;
            else
                rc = csv_refuse(s, d, len);
        } else {
            g_string_append_c(f, d[i++]);
            if (st == WAITING)
                st = UNQUOTED;
        }
    }
    if (rc == 0)
        push_column(s, f->str, f->len);
    g_string_free(f, TRUE);
    return rc;
}

/* The columns of v appended to s->current: v itself, its --colsep
 * split, or its --csv fields. CTK_EINVAL for a CSV record refused. */
static int push(ctk_sources *s, GBytes *v, int *nul_replaced)
{
    gsize size;
    const char *data = g_bytes_get_data(v, &size);
    if (s->csv_sep != NULL)
        return push_csv(s, data, size - 1, nul_replaced);
    if (s->colsep == NULL) {
        if (s->trim_left || s->trim_right)
            push_column(s, data, size - 1);
        else
            g_ptr_array_add(s->current, g_bytes_ref(v));
        return 0;
    }
    if (size <= 1) /* an empty value is one empty column */
        g_ptr_array_add(s->current, value_new("", 0));
    else
        push_split(s, data, size - 1);
    return 0;
}

int ctk_sources_set_csv(ctk_sources *s, const char *sep, size_t sep_len)
{
    if (sep_len == 0 || sep_len > CTK_SOURCES_CSV_SEP_MAX || memchr(sep, '"', sep_len) != NULL)
        return CTK_EINVAL;
    g_free(s->csv_sep);
    s->csv_sep = g_memdup2(sep, sep_len);
    s->csv_sep_len = sep_len;
    return 0;
}

const char *ctk_sources_error(const ctk_sources *s)
{
    return s->error != NULL ? s->error->str : NULL;
}

int ctk_sources_set_colsep(ctk_sources *s, const char *regex, char *err, size_t err_len)
{
    GError *e = NULL;
    GRegex *re = g_regex_new(regex, G_REGEX_RAW | G_REGEX_OPTIMIZE, 0, &e);
    if (re == NULL) {
        snprintf(err, err_len, "%s", e->message);
        g_error_free(e);
        return CTK_EINVAL;
    }
    if (s->colsep != NULL)
        g_regex_unref(s->colsep);
    s->colsep = re;
    return 0;
}

/* Appends the current combination's values; advances the odometer.
 * Returns CTK_EOF when there is no combination left. */
static int next_combination(ctk_sources *s, int *nul_replaced, const int *cancel)
{
    if (s->done)
        return CTK_EOF;
    if (s->streaming && s->streamed == NULL) {
        group *first = g_ptr_array_index(s->groups, 0);
        source *head = g_ptr_array_index(first->sources, 0);
        int rc = read_record(s, head, &s->streamed, nul_replaced, cancel);
        if (rc == CTK_EOF && !s->stream_read && s->stand_in && !s->others_empty) {
            s->streamed = value_new("", 0);
            head->ended = 1;
            rc = 0;
        }
        s->stream_read = 1;
        if (rc < 0) {
            if (rc == CTK_EOF)
                s->done = 1;
            return rc;
        }
    }
    for (guint g = 0; g < s->groups->len; g++) {
        group *grp = g_ptr_array_index(s->groups, g);
        if (g == 0 && s->streaming) {
            int rc = push(s, s->streamed, nul_replaced);
            if (rc < 0)
                return rc;
            continue;
        }
        for (guint k = 0; k < grp->sources->len; k++) {
            source *src = g_ptr_array_index(grp->sources, k);
            int rc =
                push(s, g_ptr_array_index(src->values, s->pos[g] % src->values->len), nul_replaced);
            if (rc < 0)
                return rc;
        }
    }
    /* The last group varies fastest. */
    for (guint g = s->groups->len; g-- > 0;) {
        group *grp = g_ptr_array_index(s->groups, g);
        if (g == 0 && s->streaming) {
            g_bytes_unref(s->streamed);
            s->streamed = NULL;
            break;
        }
        if (++s->pos[g] < grp->length)
            break;
        s->pos[g] = 0;
        if (g == 0)
            s->done = 1;
    }
    return 0;
}

/* The next job's values into s->current. */
static int next_values(ctk_sources *s, int *nul_replaced, const int *cancel)
{
    int rc = 0;
    g_ptr_array_set_size(s->current, 0);
    for (size_t k = 0; k < s->per_job; k++) {
        rc = next_combination(s, nul_replaced, cancel);
        if (rc < 0)
            break;
    }
    if (s->current->len == 0)
        return rc < 0 ? rc : CTK_EOF;
    if (rc < 0 && rc != CTK_EOF)
        return rc;
    return 0;
}

/* --shuf: every job is read first, then served in a random order. */
static int next_shuffled(ctk_sources *s, int *nul_replaced, const int *cancel)
{
    if (s->shuffled == NULL) {
        s->shuffled = g_ptr_array_new_with_free_func((GDestroyNotify)g_ptr_array_unref);
        int rc;
        while ((rc = next_values(s, nul_replaced, cancel)) == 0) {
            GPtrArray *job = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
            for (guint i = 0; i < s->current->len; i++)
                g_ptr_array_add(job, g_bytes_ref(g_ptr_array_index(s->current, i)));
            g_ptr_array_add(s->shuffled, job);
        }
        if (rc != CTK_EOF)
            return rc;
        for (guint i = s->shuffled->len; i > 1; i--) {
            guint j = (guint)g_random_int_range(0, (gint32)i);
            gpointer t = s->shuffled->pdata[i - 1];
            s->shuffled->pdata[i - 1] = s->shuffled->pdata[j];
            s->shuffled->pdata[j] = t;
        }
    }
    g_ptr_array_set_size(s->current, 0);
    if (s->shuffled_next >= s->shuffled->len)
        return CTK_EOF;
    GPtrArray *job = g_ptr_array_index(s->shuffled, s->shuffled_next++);
    for (guint i = 0; i < job->len; i++)
        g_ptr_array_add(s->current, g_bytes_ref(g_ptr_array_index(job, i)));
    return 0;
}

int ctk_sources_next(ctk_sources *s, ctk_item *item, int *nul_replaced, const int *cancel)
{
    int rc = 0;
    if (s->failed < 0)
        return s->failed;
    if (!s->started)
        rc = start(s, nul_replaced, cancel);
    if (rc == 0)
        rc = s->shuffle ? next_shuffled(s, nul_replaced, cancel)
                        : next_values(s, nul_replaced, cancel);
    if (rc < 0 && rc != CTK_EOF && rc != CTK_ECANCELED)
        s->failed = rc; /* nothing after a read error or a refused record */
    if (rc < 0)
        return rc;
    item->n = s->current->len;
    item->cols = g_renew(char *, item->cols, item->n);
    item->lens = g_renew(size_t, item->lens, item->n);
    for (size_t i = 0; i < item->n; i++) {
        gsize size;
        item->cols[i] = (char *)g_bytes_get_data(g_ptr_array_index(s->current, i), &size);
        item->lens[i] = size - 1;
    }
    return 0;
}

int ctk_sources_take_header(ctk_sources *s, char ***names, size_t *n_names, int *nul_replaced,
                            const int *cancel)
{
    int rc = 0;
    if (!s->started && (rc = start(s, nul_replaced, cancel)) < 0)
        return rc;
    GPtrArray *out = g_ptr_array_new();
    for (guint g = 0; g < s->groups->len && rc == 0; g++) {
        group *grp = g_ptr_array_index(s->groups, g);
        grp->length = SIZE_MAX;
        for (guint k = 0; k < grp->sources->len; k++) {
            source *src = g_ptr_array_index(grp->sources, k);
            GBytes *v = NULL;
            if (g == 0 && s->streaming) {
                rc = read_record(s, src, &v, nul_replaced, cancel);
                if (rc == CTK_EOF)
                    s->done = 1;
                else if (rc < 0)
                    break;
                rc = 0;
            } else if (src->values->len > 0) {
                v = g_bytes_ref(g_ptr_array_index(src->values, 0));
                g_ptr_array_remove_index(src->values, 0);
            }
            if (v == NULL)
                continue;
            /* parallel reads the header line without a CR before its end. */
            gsize vsize;
            const char *vd = g_bytes_get_data(v, &vsize);
            if (vsize >= 2 && vd[vsize - 2] == '\r') {
                GBytes *cut = value_new(vd, vsize - 2);
                g_bytes_unref(v);
                v = cut;
            }
            g_ptr_array_set_size(s->current, 0);
            rc = push(s, v, nul_replaced);
            g_bytes_unref(v);
            if (rc < 0)
                break;
            for (guint i = 0; i < s->current->len; i++) {
                gsize size;
                const char *d = g_bytes_get_data(g_ptr_array_index(s->current, i), &size);
                g_ptr_array_add(out, g_strndup(d, size - 1));
            }
        }
        if (!(g == 0 && s->streaming))
            grp->length = group_length(s, grp);
        if (!(g == 0 && s->streaming) && grp->length == 0)
            s->done = 1;
    }
    g_ptr_array_set_size(s->current, 0);
    *n_names = out->len;
    g_ptr_array_add(out, NULL);
    *names = (char **)g_ptr_array_free(out, FALSE);
    return rc;
}

void ctk_item_clear(ctk_item *item)
{
    g_free(item->cols);
    g_free(item->lens);
    item->cols = NULL;
    item->lens = NULL;
    item->n = 0;
}

/* ---- sources from the operands ---------------------------------------------- */

static int separator(const char *w, int *file, int *linked)
{
    *file = strncmp(w, "::::", 4) == 0;
    const char *rest = w + (*file ? 4 : 3);
    if (strncmp(w, ":::", 3) != 0 || (rest[0] != '\0' && strcmp(rest, "+") != 0))
        return 0;
    *linked = rest[0] == '+';
    return 1;
}

size_t ctk_sources_command_words(int argc, char **argv, int first)
{
    int i = first, f, l;
    while (i < argc && !separator(argv[i], &f, &l))
        i++;
    return (size_t)(i - first);
}

int ctk_sources_add_operands(ctk_sources *src, int argc, char **argv, int first, int link,
                             size_t *n_cmd, char *err, size_t err_len)
{
    int file = 0, linked = 0;
    *n_cmd = ctk_sources_command_words(argc, argv, first);
    int i = first + (int)*n_cmd;
    while (i < argc) {
        separator(argv[i], &file, &linked);
        int j = ++i;
        int f2, l2;
        while (j < argc && !separator(argv[j], &f2, &l2))
            j++;
        if (!file) {
            int rc = ctk_sources_add_words(src, argv + i, (size_t)(j - i), linked);
            if (rc < 0) {
                snprintf(err, err_len, "%s", ctk_strerror(rc));
                return rc;
            }
        } else {
            for (int k = i; k < j; k++) {
                /* ::::+ and --link link every file of the list, as
                 * GNU parallel does (::::+ a b pairs a and b). */
                int rc = ctk_sources_add_file(src, argv[k], linked || link, err, err_len);
                if (rc < 0)
                    return rc;
            }
        }
        i = j;
    }
    return 0;
}
