/* cmdline.c: GNU parallel's command templates (see ctk/cmdline.h). The
 * matching rules, the path operations and the quoting copy GNU parallel
 * 20221122 byte for byte, including its corner cases; the comments name the
 * Perl each function reproduces. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctkx/cmdline.h"
#include "ctkx/cmdplus.h"

/* What a replacement string computes from one column. OP_PLUS and the
 * ones after it are --plus's: a string of cmdplus.c, {##}, {0#}, {0%}. */
enum op {
    OP_ALL,
    OP_NOEXT,
    OP_BASE,
    OP_DIR,
    OP_BASENOEXT,
    OP_SEQ,
    OP_SLOT,
    OP_PLUS,
    OP_TOTAL,
    OP_SEQ0,
    OP_SLOT0
};

/* A piece of the joined template: literal text or a replacement string. */
typedef struct seg {
    int is_rpl;
    int searchable;  /* text from a word (not a separator): may hold rpls */
    enum op op;      /* rpl only */
    int positional;  /* rpl only: pos picks one column */
    long long pos;   /* GNU parallel's position number */
    size_t off, len; /* text only: bytes in t->text */
    size_t plus;     /* OP_PLUS: its occurrence in t->plus */
} seg;

struct ctk_cmdline {
    char *text; /* the command words joined by spaces */
    seg *segs;
    size_t n_segs, cap;
    int unquoted;    /* items go in raw: rpl inside the command name */
    int context;     /* -X: a word with a replacement string repeats per column */
    int needs_shell; /* see ctk_cmdline_needs_shell */
    ctk_plus **plus; /* --plus strings found, by seg.plus */
    size_t n_plus;
    uint64_t total;    /* {##} {0#}: the number of jobs */
    unsigned max_jobs; /* {0%}: the job slots */
    int no_args;       /* see ctk_cmdline_set_no_args */
};

typedef struct rpl {
    const char *str; /* the string; for a --plus key, parallel's key text */
    enum op op;
    int plus_key; /* OP_PLUS: cmdplus.c's key number */
} rpl;

/* The values of the job, not of a column: parallel's "1 $_=..." strings. */
static int job_value(enum op op)
{
    return op == OP_SEQ || op == OP_SLOT || op == OP_TOTAL || op == OP_SEQ0 || op == OP_SLOT0;
}

#define N_RPL   7
#define G_N_JOB 4               /* --plus's {##} {0#} {0%} {slot} */
#define POS_MAX 1000000000000LL /* beyond any column count */

static void set_err(char *err, size_t err_len, const char *msg)
{
    if (err != NULL && err_len > 0)
        snprintf(err, err_len, "%s", msg);
}

/* ---- quoting ------------------------------------------------------------- */

/* GNU parallel's shell_quote_scalar_default: /[^-_.+a-z0-9\/]/i needs
 * quotes. Bytes, not characters: every byte >= 0x80 needs them too. */
static int is_safe_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("-_.+/", c) != NULL);
}

static int needs_quotes(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!is_safe_byte((unsigned char)s[i]))
            return 1;
    return 0;
}

/* 'all'"'"'of it', then parallel drops a '' at either end. */
static int quote_hard(ctk_buf *out, const char *s, size_t len)
{
    size_t start = out->len;
    int rc = ctk_buf_append(out, "'", 1);
    for (size_t i = 0; i < len && rc == 0; i++)
        rc = s[i] == '\'' ? ctk_buf_append(out, "'\"'\"'", 5) : ctk_buf_append(out, s + i, 1);
    if (rc == 0)
        rc = ctk_buf_append(out, "'", 1);
    if (rc < 0)
        return rc;
    unsigned char *q = out->data + start;
    if (q[0] == '\'' && q[1] == '\'') {
        memmove(q, q + 2, out->len - start - 2);
        out->len -= 2;
    }
    if (out->len - start >= 2 && out->data[out->len - 1] == '\'' && out->data[out->len - 2] == '\'')
        out->len -= 2;
    return 0;
}

int ctk_cmdline_quote(ctk_buf *out, const char *s, size_t len)
{
    if (len == 0)
        return ctk_buf_append(out, "''", 2);
    if (!needs_quotes(s, len))
        return ctk_buf_append(out, s, len);
    return quote_hard(out, s, len);
}

/* ---- path operations on bytes -------------------------------------------- */

/* {.}: s:\.[^/.]*$:: removes the last '.' and what follows, unless a '/'
 * follows it. Returns the new length. */
static size_t op_noext(const char *s, size_t len)
{
    for (size_t i = len; i > 0; i--) {
        if (s[i - 1] == '/')
            return len;
        if (s[i - 1] == '.')
            return i - 1;
    }
    return len;
}

/* {/}: Perl's s:.*[/]:: where '.' does not match a newline: the match
 * starts at the line holding the first '/' and ends at that line's last
 * '/'. Sets *cut to the start and *cut_len to the bytes to remove. */
static void op_base(const char *s, size_t len, size_t *cut, size_t *cut_len)
{
    const char *slash = memchr(s, '/', len);
    *cut = *cut_len = 0;
    if (slash == NULL)
        return;
    size_t first = (size_t)(slash - s), start = first, last = first;
    while (start > 0 && s[start - 1] != '\n')
        start--;
    for (size_t i = first; i < len && s[i] != '\n'; i++)
        if (s[i] == '/')
            last = i;
    *cut = start;
    *cut_len = last + 1 - start;
}

/* File::Basename's _strip_trailing_sep: drops trailing slashes, but
 * keeps the first byte (s{(.)[/]*\z}{$1}s). */
static size_t strip_slashes(const char *s, size_t len)
{
    while (len > 1 && s[len - 1] == '/')
        len--;
    return len;
}

/* File::Basename's fileparse dirpath: up to the last '/', or "./". */
static const char *dirpath(const char *s, size_t len, size_t *dlen)
{
    for (size_t i = len; i > 0; i--)
        if (s[i - 1] == '/') {
            *dlen = i;
            return s;
        }
    *dlen = 2;
    return "./";
}

/* {//}: File::Basename's dirname on Unix: the dirpath without trailing
 * slashes; when the basename is empty (s ends in '/', or s is ""), the
 * dirpath of that again. Sets *out and *out_len to a part of s or
 * to a constant. */
static void op_dir(const char *s, size_t len, const char **out, size_t *out_len)
{
    size_t dlen;
    const char *d = dirpath(s, len, &dlen);
    int base_empty = d == s ? dlen == len : len == 0;
    dlen = strip_slashes(d, dlen);
    if (base_empty) {
        d = dirpath(d, dlen, &dlen);
        dlen = strip_slashes(d, dlen);
    }
    *out = d;
    *out_len = dlen;
}

/* {/} and {/.}: the bytes around the cut, then {.} on them for {/.}. */
static int append_base(ctk_buf *out, const char *s, size_t len, int noext)
{
    size_t cut, cut_len, start = out->len;
    op_base(s, len, &cut, &cut_len);
    int rc = ctk_buf_append(out, s, cut);
    if (rc == 0)
        rc = ctk_buf_append(out, s + cut + cut_len, len - cut - cut_len);
    /* An empty base has no extension; out->data may still be NULL then. */
    if (rc == 0 && noext && out->len > start)
        out->len = start + op_noext((char *)out->data + start, out->len - start);
    return rc;
}

/* Appends what op computes from column c. */
static int apply_op(ctk_buf *out, enum op op, const ctk_cmdline_item *c)
{
    const char *s = c->data;
    size_t len = c->len;
    switch (op) {
    case OP_NOEXT:
        return ctk_buf_append(out, s, op_noext(s, len));
    case OP_DIR:
        op_dir(s, len, &s, &len);
        return ctk_buf_append(out, s, len);
    case OP_BASE:
    case OP_BASENOEXT:
        return append_base(out, s, len, op == OP_BASENOEXT);
    default:
        return ctk_buf_append(out, s, len);
    }
}

/* ---- parsing -------------------------------------------------------------- */

static int seg_insert(ctk_cmdline *t, size_t at, seg s)
{
    if (t->n_segs == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        seg *segs = realloc(t->segs, cap * sizeof *segs);
        if (segs == NULL)
            return CTK_ENOMEM;
        t->segs = segs;
        t->cap = cap;
    }
    memmove(t->segs + at + 1, t->segs + at, (t->n_segs - at) * sizeof *t->segs);
    t->segs[at] = s;
    t->n_segs++;
    return 0;
}

/* Splits text segment k at [from, from+len) into text, r, text. */
static int split_text(ctk_cmdline *t, size_t k, size_t from, size_t len, seg r)
{
    seg head = t->segs[k], tail = head;
    head.len = from - head.off;
    tail.off = from + len;
    tail.len = t->segs[k].off + t->segs[k].len - tail.off;
    t->segs[k] = head;
    int rc = seg_insert(t, k + 1, r);
    if (rc == 0)
        rc = seg_insert(t, k + 2, tail);
    return rc;
}

/* Parses GNU parallel's positional number ("-?\d+", plus the "1" that the
 * {#} and {%} expressions begin with). "0" alone means not positional. */
static void set_position(seg *r, const char *digits, size_t n, int append_one)
{
    long long v = 0;
    int neg = digits[0] == '-';
    for (size_t i = neg; i < n; i++)
        v = v < POS_MAX ? v * 10 + (digits[i] - '0') : POS_MAX;
    if (append_one)
        v = v < POS_MAX ? v * 10 + 1 : POS_MAX;
    r->positional = !(n == 1 && digits[0] == '0' && !append_one);
    r->pos = neg ? -v : v;
}

/* Length of "{" "-"? digits \s* name at s (name is the rpl without its
 * leading '{'), or 0. *ndig gets the length of the number. */
static size_t match_positional(const char *s, size_t len, const char *name, size_t *ndig)
{
    size_t i = 1, nl = strlen(name);
    if (len < 2 || s[0] != '{')
        return 0;
    if (s[i] == '-')
        i++;
    size_t d = i;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == d)
        return 0;
    *ndig = i - 1;
    while (i < len && strchr(" \t\n\r\f\v", s[i]) != NULL && s[i] != 0)
        i++;
    if (len - i < nl || memcmp(s + i, name, nl) != 0)
        return 0;
    return i + nl;
}

/* Finds the leftmost match of r (plain, or positional when pos) in text
 * segment k; returns its length and sets *at, or 0. */
static size_t find_in_seg(const ctk_cmdline *t, size_t k, const rpl *r, int pos, size_t *at,
                          seg *out)
{
    const char *s = t->text + t->segs[k].off;
    size_t len = t->segs[k].len, rl = strlen(r->str), ndig;
    for (size_t i = 0; i < len; i++) {
        size_t m = 0;
        if (!pos && len - i >= rl && memcmp(s + i, r->str, rl) == 0)
            m = rl;
        else if (pos && (m = match_positional(s + i, len - i, r->str + 1, &ndig)) > 0)
            set_position(out, s + i + 1, ndig, job_value(r->op));
        if (m > 0) {
            *at = t->segs[k].off + i;
            return m;
        }
    }
    return 0;
}

/* A --plus string of cmdplus.c in text segment k: its length (0 when
 * none) with *at and x set, its occurrence kept in t->plus; CTK_EINVAL
 * with err set for a bad regex or a string cpar does not have. */
static long find_plus_in_seg(ctk_cmdline *t, size_t k, const rpl *r, int pos, size_t *at, seg *x,
                             char *err, size_t err_len)
{
    const char *s = t->text + t->segs[k].off;
    size_t m, dig, ndig;
    ctk_plus *p = NULL;
    char why[512];
    int rc = ctk_plus_find((size_t)r->plus_key, pos, s, t->segs[k].len, at, &m, &dig, &ndig, &p,
                           why, sizeof why);
    if (rc <= 0) {
        if (rc < 0)
            set_err(err, err_len, why);
        return rc;
    }
    ctk_plus **grown = realloc(t->plus, (t->n_plus + 1) * sizeof *grown);
    if (grown == NULL) {
        ctk_plus_free(p);
        return CTK_ENOMEM;
    }
    t->plus = grown;
    t->plus[t->n_plus] = p;
    x->plus = t->n_plus++;
    if (pos)
        set_position(x, s + dig, ndig, 0);
    *at += t->segs[k].off;
    return (long)m;
}

/* Replaces every occurrence of r (or its positional form) in searchable
 * text, leftmost first, as parallel's s{...}{...} loop does. */
static int replace_all(ctk_cmdline *t, const rpl *r, int pos, char *err, size_t err_len)
{
    for (size_t k = 0; k < t->n_segs; k++) {
        seg x = {.is_rpl = 1, .op = r->op};
        size_t at, m;
        if (t->segs[k].is_rpl || !t->segs[k].searchable)
            continue;
        if (r->op == OP_PLUS) {
            long found = find_plus_in_seg(t, k, r, pos, &at, &x, err, err_len);
            if (found < 0)
                return (int)found;
            m = (size_t)found;
        } else {
            m = find_in_seg(t, k, r, pos, &at, &x);
        }
        if (m == 0)
            continue;
        /* {#} and {%} are "1 $_=..." in parallel: position 1. */
        if (!pos && job_value(r->op)) {
            x.positional = 1;
            x.pos = 1;
        }
        int rc = split_text(t, k, at, m, x);
        if (rc < 0)
            return rc;
        k++; /* continue in the tail */
    }
    return 0;
}

/* The name given for op, or NULL for its default. */
static const char *renamed(const ctk_cmdline_names *names, enum op op)
{
    switch (op) {
    case OP_ALL:
        return names->all;
    case OP_NOEXT:
        return names->noext;
    case OP_BASE:
        return names->base;
    case OP_DIR:
        return names->dir;
    case OP_BASENOEXT:
        return names->basenoext;
    case OP_SEQ:
        return names->seq;
    default:
        return names->slot;
    }
}

/* A stable insertion sort, longest string first (a removed string, NULL,
 * counts as empty): strings of one length keep their order. */
static void sort_longest_first(rpl *tab, size_t n)
{
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0; j--) {
            size_t a = tab[j - 1].str ? strlen(tab[j - 1].str) : 0;
            size_t b = tab[j].str ? strlen(tab[j].str) : 0;
            if (a >= b)
                break;
            rpl tmp = tab[j - 1];
            tab[j - 1] = tab[j];
            tab[j] = tmp;
        }
}

/* The table after -I and the other renames, longest first (parallel
 * sorts by length so that a short string inside a long one is not
 * replaced first). */
static void rpl_table(rpl *tab, const ctk_cmdline_names *names)
{
    static const rpl defaults[N_RPL] = {
        {"{//}", OP_DIR, -1}, {"{/.}", OP_BASENOEXT, -1}, {"{#}", OP_SEQ, -1}, {"{%}", OP_SLOT, -1},
        {"{/}", OP_BASE, -1}, {"{.}", OP_NOEXT, -1},      {"{}", OP_ALL, -1},
    };
    memcpy(tab, defaults, sizeof defaults);
    for (int i = 0; i < N_RPL; i++)
        if (renamed(names, tab[i].op) != NULL)
            tab[i].str = renamed(names, tab[i].op);
    for (int i = 0; i < N_RPL; i++)
        for (int j = 0; j < N_RPL && tab[i].str != NULL; j++)
            if (j != i && tab[j].str != NULL && renamed(names, tab[j].op) != NULL &&
                renamed(names, tab[i].op) == NULL && strcmp(tab[i].str, tab[j].str) == 0)
                tab[i].str = NULL; /* a rename took over this default name */
    sort_longest_first(tab, N_RPL);
}

/* --plus: parallel's %Global::plus joins the table, every string sorted
 * by the length of its key as parallel sorts them (a stable sort: keys
 * of one length come in the order given). */
static rpl *plus_table(const rpl *tab, size_t *n)
{
    static const rpl job[] = {{"{##}", OP_TOTAL, -1},
                              {"{0#}", OP_SEQ0, -1},
                              {"{0%}", OP_SLOT0, -1},
                              /* parallel's {slot} is "${PARALLEL_JOBSLOT}" left to the shell:
                               * the job slot, as {%}. */
                              {"{slot}", OP_SLOT, -1}};
    size_t n_keys = ctk_plus_n_keys(), total = N_RPL + G_N_JOB + n_keys;
    rpl *all = calloc(total, sizeof *all);
    if (all == NULL)
        return NULL;
    memcpy(all, tab, N_RPL * sizeof *tab);
    memcpy(all + N_RPL, job, sizeof job);
    for (size_t k = 0; k < n_keys; k++)
        all[N_RPL + G_N_JOB + k] = (rpl){ctk_plus_key(k), OP_PLUS, (int)k};
    sort_longest_first(all, total);
    *n = total;
    return all;
}

static int find_rpls(ctk_cmdline *t, const ctk_cmdline_names *names, unsigned flags, char *err,
                     size_t err_len)
{
    rpl base[N_RPL], *tab = base;
    size_t n = N_RPL;
    rpl_table(base, names);
    if ((flags & CTK_CMDLINE_PLUS) && (tab = plus_table(base, &n)) == NULL)
        return CTK_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (tab[i].str == NULL)
            continue;
        rc = replace_all(t, &tab[i], 0, err, err_len);
        if (rc == 0 && tab[i].str[0] == '{')
            rc = replace_all(t, &tab[i], 1, err, err_len);
    }
    if (tab != base)
        free(tab);
    return rc;
}

/* Joins the words with spaces into t->text, one text segment per word and
 * one unsearchable segment per separating space. */
static int join_words(ctk_cmdline *t, char *const *words, size_t n_words)
{
    size_t total = 1;
    for (size_t i = 0; i < n_words; i++)
        total += strlen(words[i]) + 1;
    if ((t->text = malloc(total)) == NULL)
        return CTK_ENOMEM;
    size_t off = 0;
    for (size_t i = 0; i < n_words; i++) {
        size_t wl = strlen(words[i]);
        seg w = {.searchable = 1, .off = off, .len = wl};
        seg sp = {.off = off + wl, .len = 1};
        memcpy(t->text + off, words[i], wl);
        t->text[off + wl] = ' ';
        off += wl + 1;
        int rc = seg_insert(t, t->n_segs, w);
        if (rc == 0 && i + 1 < n_words)
            rc = seg_insert(t, t->n_segs, sp);
        if (rc < 0)
            return rc;
    }
    t->text[off] = '\0';
    return 0;
}

/* Drops empty text and merges neighbouring text (the text is contiguous). */
static void merge_text(ctk_cmdline *t)
{
    size_t n = 0;
    for (size_t k = 0; k < t->n_segs; k++) {
        seg s = t->segs[k];
        if (!s.is_rpl && s.len == 0)
            continue;
        if (!s.is_rpl && n > 0 && !t->segs[n - 1].is_rpl)
            t->segs[n - 1].len += s.len;
        else
            t->segs[n++] = s;
    }
    t->n_segs = n;
}

static int has_rpl(const ctk_cmdline *t)
{
    for (size_t k = 0; k < t->n_segs; k++)
        if (t->segs[k].is_rpl)
            return 1;
    return 0;
}

/* No replacement string: parallel appends {} as one more word. */
static int append_default(ctk_cmdline *t, size_t n_words)
{
    seg all = {.is_rpl = 1, .op = OP_ALL};
    int rc = 0;
    if (n_words > 0) {
        seg sp = {.off = strlen(t->text) - 1, .len = 1}; /* the spare ' ' */
        rc = seg_insert(t, t->n_segs, sp);
    }
    return rc == 0 ? seg_insert(t, t->n_segs, all) : rc;
}

/* parallel: "@command" =~ /^[^ \t\n=]*\257</ turns quoting of items off. */
static int is_unquoted(const ctk_cmdline *t)
{
    if (t->n_segs == 0)
        return 0;
    if (t->segs[0].is_rpl)
        return 1;
    const seg *s = &t->segs[0];
    for (size_t i = 0; i < s->len; i++)
        if (strchr(" \t\n=", t->text[s->off + i]) != NULL)
            return 0;
    return t->n_segs > 1;
}

/* {= ... =} in parallel is Perl, possibly spread over several words. */
static int has_perl(char *const *words, size_t n_words)
{
    int open = 0;
    for (size_t i = 0; i < n_words; i++) {
        const char *w = words[i];
        if (!open && (w = strstr(w, "{=")) != NULL) {
            open = 1;
            w += 2;
        }
        if (open && w != NULL && strstr(w, "=}") != NULL)
            return 1;
    }
    return 0;
}

/* ---- when a shell is needed ---------------------------------------------- */

/* Bytes /bin/sh gives no meaning to inside a word. Anything else (quotes,
 * $ ` \ | & ; < > ( ) { } [ ] * ? ~ # ! ^ newline, controls) needs sh. */
static int is_plain_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c >= 0x80 || (c != 0 && strchr("-_.+/,:@%= \t", c) != NULL);
}

/* Words the shell would not look up in PATH: keywords and builtins that
 * have no program of the same meaning. */
static int is_shell_word(const char *w, size_t len)
{
    static const char *const words[] = {
        "case",
        "do",
        "done",
        "elif",
        "else",
        "esac",
        "fi",
        "for",
        "function",
        "if",
        "in",
        "select",
        "then",
        "time",
        "until",
        "while",
        "coproc",
        ".",
        ":",
        "alias",
        "bg",
        "bind",
        "break",
        "builtin",
        "cd",
        "command",
        "continue",
        "declare",
        "dirs",
        "disown",
        "enable",
        "eval",
        "exec",
        "exit",
        "export",
        "fc",
        "fg",
        "getopts",
        "hash",
        "history",
        "jobs",
        "let",
        "local",
        "logout",
        "mapfile",
        "popd",
        "pushd",
        "read",
        "readarray",
        "readonly",
        "return",
        "set",
        "shift",
        "shopt",
        "source",
        "suspend",
        "times",
        "trap",
        "type",
        "typeset",
        "ulimit",
        "umask",
        "unalias",
        "unset",
        "wait",
        /* Builtins that also exist as programs behave differently from
         * them (--help, --version, backslashes): as in GNU parallel, the
         * shell's own runs. */
        "echo",
        "printf",
        "test",
        "[",
        "kill",
        "pwd",
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strlen(words[i]) == len && memcmp(words[i], w, len) == 0)
            return 1;
    return 0;
}

/* The first shell word must be literal text naming a program. */
static int command_word_ok(const ctk_cmdline *t)
{
    if (t->n_segs == 0 || t->segs[0].is_rpl)
        return 0;
    const char *s = t->text + t->segs[0].off;
    size_t len = t->segs[0].len, i = 0;
    while (i < len && (s[i] == ' ' || s[i] == '\t'))
        i++;
    size_t start = i;
    while (i < len && s[i] != ' ' && s[i] != '\t' && s[i] != '=')
        i++;
    if (i == start || (i < len && s[i] == '='))
        return 0;
    if (i == len && t->n_segs > 1) /* a replacement string joins the word */
        return 0;
    return !is_shell_word(s + start, i - start);
}

static int compute_needs_shell(const ctk_cmdline *t, unsigned flags)
{
    if ((flags & CTK_CMDLINE_FORCE_SHELL) || t->unquoted || !command_word_ok(t))
        return 1;
    for (size_t k = 0; k < t->n_segs; k++)
        for (size_t i = 0; !t->segs[k].is_rpl && i < t->segs[k].len; i++)
            if (!is_plain_byte((unsigned char)t->text[t->segs[k].off + i]))
                return 1;
    return 0;
}

static int parse_checked(ctk_cmdline *t, char *const *words, size_t n_words,
                         const ctk_cmdline_names *names, unsigned flags, char *err, size_t err_len)
{
    int rc = join_words(t, words, n_words);
    if (rc == 0)
        rc = find_rpls(t, names, flags, err, err_len);
    if (rc == 0 && !has_rpl(t) && !(flags & (CTK_CMDLINE_TEXT | CTK_CMDLINE_NO_APPEND)))
        rc = append_default(t, n_words);
    if (rc < 0)
        return rc;
    merge_text(t);
    t->unquoted = (flags & CTK_CMDLINE_TEXT) || is_unquoted(t);
    t->context = (flags & CTK_CMDLINE_CONTEXT) != 0;
    t->needs_shell = compute_needs_shell(t, flags);
    return 0;
}

int ctk_cmdline_parse(ctk_cmdline **out, char *const *words, size_t n_words, const char *replace,
                      unsigned flags, char *err, size_t err_len)
{
    ctk_cmdline_names names = {.all = replace};
    return ctk_cmdline_parse_names(out, words, n_words, &names, flags, err, err_len);
}

int ctk_cmdline_parse_names(ctk_cmdline **out, char *const *words, size_t n_words,
                            const ctk_cmdline_names *given, unsigned flags, char *err,
                            size_t err_len)
{
    *out = NULL;
    ctk_cmdline_names names = *given;
    const char *each[] = {names.all,       names.noext, names.base, names.dir,
                          names.basenoext, names.seq,   names.slot};
    for (size_t i = 0; i < sizeof each / sizeof *each; i++)
        if (each[i] != NULL && each[i][0] == '\0') {
            set_err(err, err_len, "the replacement string must not be empty");
            return CTK_EINVAL;
        }
    if (has_perl(words, n_words)) {
        set_err(err, err_len, "perl expressions {= =} are not supported");
        return CTK_EINVAL;
    }
    ctk_cmdline *t = calloc(1, sizeof *t);
    if (t == NULL)
        return CTK_ENOMEM;
    int rc = parse_checked(t, words, n_words, &names, flags, err, err_len);
    if (rc < 0) {
        ctk_cmdline_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int ctk_cmdline_needs_shell(const ctk_cmdline *t)
{
    return t->needs_shell;
}

void ctk_cmdline_free(ctk_cmdline *t)
{
    if (t == NULL)
        return;
    free(t->text);
    free(t->segs);
    for (size_t i = 0; i < t->n_plus; i++)
        ctk_plus_free(t->plus[i]);
    free(t->plus);
    free(t);
}

int ctk_cmdline_wants_total(const ctk_cmdline *t)
{
    for (size_t k = 0; k < t->n_segs; k++)
        if (t->segs[k].is_rpl && (t->segs[k].op == OP_TOTAL || t->segs[k].op == OP_SEQ0))
            return 1;
    return 0;
}

void ctk_cmdline_set_totals(ctk_cmdline *t, uint64_t total_jobs, unsigned max_jobs)
{
    t->total = total_jobs;
    t->max_jobs = max_jobs;
}

int ctk_cmdline_skip(const ctk_cmdline *t, const ctk_cmdline_args *a)
{
    for (size_t k = 0; k < t->n_segs; k++)
        if (t->segs[k].is_rpl && t->segs[k].op == OP_PLUS &&
            ctk_plus_skips(t->plus[t->segs[k].plus], a->cols, a->n_cols))
            return 1;
    return 0;
}

void ctk_cmdline_set_no_args(ctk_cmdline *t, int on)
{
    t->no_args = on;
}

/* ---- rendering ------------------------------------------------------------ */

typedef struct render {
    const ctk_cmdline *t;
    const ctk_cmdline_args *a;
    ctk_buf *line; /* NULL: not wanted */
    int want_argv;
    ctk_buf words; /* argv strings, each NUL-terminated */
    size_t n_words;
    int in_word;   /* words has an unfinished string */
    ctk_buf value; /* scratch: one computed value */
} render;

static int end_word(render *r)
{
    if (!r->in_word)
        return 0;
    r->in_word = 0;
    r->n_words++;
    return ctk_buf_append(&r->words, "", 1);
}

/* Literal text: sh splits it into words at blanks. */
static int emit_text(render *r, const char *s, size_t len)
{
    int rc = r->line ? ctk_buf_append(r->line, s, len) : 0;
    for (size_t i = 0; i < len && r->want_argv && rc == 0; i++) {
        if (s[i] == ' ' || s[i] == '\t') {
            rc = end_word(r);
        } else {
            rc = ctk_buf_append(&r->words, s + i, 1);
            r->in_word = 1;
        }
    }
    return rc;
}

/* The k-th value of one replacement string, now in r->value. In the line
 * values are separated by a space; in argv each starts a new word. */
static int emit_value(render *r, size_t k)
{
    int rc = 0;
    if (r->line != NULL) {
        if (k > 0)
            rc = ctk_buf_append(r->line, " ", 1);
        if (rc == 0)
            rc = r->t->unquoted ? ctk_buf_append(r->line, r->value.data, r->value.len)
                                : ctk_cmdline_quote(r->line, (char *)r->value.data, r->value.len);
    }
    if (rc == 0 && r->want_argv) {
        if (k > 0)
            rc = end_word(r);
        if (rc == 0)
            rc = ctk_buf_append(&r->words, r->value.data, r->value.len);
        r->in_word = 1;
    }
    return rc;
}

/* Column idx as parallel indexes $argref: from 1, or from the end when
 * not positive, with Perl's negative indexing applied once more. */
static const ctk_cmdline_item *column(const ctk_cmdline_args *a, const ctk_cmdline_item *empty,
                                      long long pos)
{
    long long n = a->n_cols > 0 ? (long long)a->n_cols : 1;
    long long idx = pos > 0 ? pos - 1 : n + pos;
    if (idx < 0)
        idx += n;
    if (idx < 0 || idx >= n)
        return NULL;
    return a->n_cols > 0 ? &a->cols[idx] : empty;
}

/* parallel's width of {0#} and {0%}: 1+int(log(n)/log(10)), in doubles
 * as Perl computes it (log(1000)/log(10) is just below 3). */
static int pad_width(uint64_t n)
{
    return n < 1 ? 1 : 1 + (int)(log((double)n) / log(10.0));
}

/* Computes the value of s for column c into r->value. */
static int compute(render *r, const seg *s, const ctk_cmdline_item *c)
{
    char num[48];
    int n;
    r->value.len = 0;
    switch (s->op) {
    case OP_SEQ:
    case OP_SLOT:
    case OP_TOTAL:
        n = snprintf(num, sizeof num, "%llu",
                     (unsigned long long)(s->op == OP_SEQ    ? r->a->seq
                                          : s->op == OP_SLOT ? r->a->slot
                                                             : r->t->total));
        return ctk_buf_append(&r->value, num, (size_t)n);
    case OP_SEQ0:
    case OP_SLOT0:
        n = snprintf(num, sizeof num, "%0*llu",
                     pad_width(s->op == OP_SEQ0 ? r->t->total : r->t->max_jobs),
                     (unsigned long long)(s->op == OP_SEQ0 ? r->a->seq : r->a->slot));
        return ctk_buf_append(&r->value, num, (size_t)n);
    case OP_PLUS:
        return ctk_plus_apply(r->t->plus[s->plus], c->data, c->len, &r->value);
    default:
        return apply_op(&r->value, s->op, c);
    }
}

static int emit_rpl(render *r, const seg *s)
{
    static const ctk_cmdline_item empty = {"", 0};
    int rc = 0;
    if (r->t->no_args && r->a->n_cols == 0 && !job_value(s->op))
        return 0;
    if (s->positional) {
        const ctk_cmdline_item *c = column(r->a, &empty, s->pos);
        if (c != NULL && (rc = compute(r, s, c)) == 0)
            rc = emit_value(r, 0);
        return rc;
    }
    size_t n = r->a->n_cols > 0 ? r->a->n_cols : 1;
    for (size_t k = 0; k < n && rc == 0; k++) {
        rc = compute(r, s, r->a->n_cols > 0 ? &r->a->cols[k] : &empty);
        if (rc == 0)
            rc = emit_value(r, k);
    }
    return rc;
}

/* One allocation: the pointers, then the strings they point into. */
static int build_argv(render *r, char ***argv)
{
    size_t ptrs = (r->n_words + 1) * sizeof(char *);
    char **v = malloc(ptrs + r->words.len);
    if (v == NULL)
        return CTK_ENOMEM;
    char *p = (char *)v + ptrs;
    if (r->words.len > 0)
        memcpy(p, r->words.data, r->words.len);
    for (size_t i = 0; i < r->n_words; i++) {
        v[i] = p;
        p += strlen(p) + 1;
    }
    v[r->n_words] = NULL;
    *argv = v;
    return 0;
}

static int check_columns(const ctk_cmdline_args *a)
{
    for (size_t i = 0; i < a->n_cols; i++)
        if (a->cols[i].len > 0 && memchr(a->cols[i].data, '\0', a->cols[i].len) != NULL)
            return CTK_EINVAL;
    return 0;
}

/* A piece of the template for -X: a rpl, a run of text without blanks,
 * or one blank. */
typedef struct piece {
    const seg *rpl; /* NULL for text */
    size_t off, len;
} piece;

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* A replacement string that -X repeats: one computed from a column. */
static int per_column(const seg *s)
{
    return s != NULL && !s->positional && !job_value(s->op);
}

static int emit_word(render *r, const piece *w, size_t n, const ctk_cmdline_item *col)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (w[i].rpl == NULL)
            rc = emit_text(r, r->t->text + w[i].off, w[i].len);
        else if (col != NULL && per_column(w[i].rpl) && (rc = compute(r, w[i].rpl, col)) == 0)
            rc = emit_value(r, 0);
        else if (col == NULL || !per_column(w[i].rpl))
            rc = emit_rpl(r, w[i].rpl);
    }
    return rc;
}

/* -X (GNU parallel's context replace): each blank-separated word that
 * holds a replacement string is written once per column, the copies
 * separated by spaces: "pre{}post" with a, b gives "preapost prebpost". */
static int render_context(render *r)
{
    const ctk_cmdline *t = r->t;
    piece *ps = calloc(t->n_segs * 2 + strlen(t->text) + 1, sizeof *ps);
    if (ps == NULL)
        return CTK_ENOMEM;
    size_t n = 0;
    for (size_t k = 0; k < t->n_segs; k++) {
        const seg *s = &t->segs[k];
        if (s->is_rpl) {
            ps[n++] = (piece){s, 0, 0};
            continue;
        }
        for (size_t i = 0; i < s->len;) {
            size_t j = i + 1;
            if (!is_blank(t->text[s->off + i]))
                while (j < s->len && !is_blank(t->text[s->off + j]))
                    j++;
            ps[n++] = (piece){NULL, s->off + i, j - i};
            i = j;
        }
    }
    int rc = 0;
    for (size_t a = 0; a < n && rc == 0;) {
        size_t b = a;
        int repeat = 0;
        while (b < n && !(ps[b].rpl == NULL && is_blank(t->text[ps[b].off]))) {
            repeat |= per_column(ps[b].rpl);
            b++;
        }
        if (b == a) { /* a blank */
            rc = emit_text(r, t->text + ps[a].off, ps[a].len);
            a++;
            continue;
        }
        size_t cols = r->a->n_cols;
        if (!repeat || cols == 0) {
            rc = emit_word(r, ps + a, b - a, NULL);
        } else {
            for (size_t c = 0; c < cols && rc == 0; c++) {
                if (c > 0)
                    rc = emit_text(r, " ", 1);
                if (rc == 0)
                    rc = emit_word(r, ps + a, b - a, &r->a->cols[c]);
            }
        }
        a = b;
    }
    free(ps);
    return rc;
}

static int render_all(render *r)
{
    int rc = 0;
    if (r->t->context)
        rc = render_context(r);
    for (size_t k = 0; !r->t->context && k < r->t->n_segs && rc == 0; k++) {
        const seg *s = &r->t->segs[k];
        rc = s->is_rpl ? emit_rpl(r, s) : emit_text(r, r->t->text + s->off, s->len);
    }
    if (rc == 0 && r->want_argv)
        rc = end_word(r);
    /* NUL after the line so that it can go to sh -c as it is. */
    if (rc == 0 && r->line != NULL && (rc = ctk_buf_append(r->line, "", 1)) == 0)
        r->line->len--;
    return rc;
}

int ctk_cmdline_render(const ctk_cmdline *t, const ctk_cmdline_args *a, ctk_buf *line, char ***argv)
{
    render r = {.t = t, .a = a, .line = line};
    if (argv != NULL)
        *argv = NULL;
    r.want_argv = argv != NULL && !t->needs_shell;
    int rc = check_columns(a);
    if (rc < 0)
        return rc;
    if (line != NULL)
        line->len = 0;
    rc = render_all(&r);
    if (rc == 0 && r.want_argv)
        rc = build_argv(&r, argv);
    ctk_buf_free(&r.words);
    ctk_buf_free(&r.value);
    return rc;
}

void ctk_cmdline_argv_free(char **argv)
{
    free(argv);
}

/* ---- GNU parallel's command line length for -X and -m ------------------ */

void ctk_cmdline_fill_cost(const ctk_cmdline *t, size_t *base, size_t *per_arg)
{
    size_t text = 0, rpls = 0, context = 0, groups = 0;
    /* A run of non-blank bytes is a context group when it holds a rpl
     * (parallel: s/(\S*\000\S*)//); its text is context. */
    size_t run_text = 0;
    int run_rpl = 0;
    for (size_t k = 0; k <= t->n_segs; k++) {
        const seg *s = k < t->n_segs ? &t->segs[k] : NULL;
        if (s != NULL && s->is_rpl) {
            rpls++;
            run_rpl = 1;
            continue;
        }
        size_t len = s != NULL ? s->len : 0;
        for (size_t i = 0; i <= len; i++) {
            int end = i == len;
            if (!end)
                text++;
            if (!end && !is_blank(t->text[s->off + i])) {
                run_text++;
                continue;
            }
            if (end && s != NULL)
                break; /* the run may go on in the next seg */
            if (run_rpl) {
                context += run_text;
                groups++;
            }
            run_text = 0;
            run_rpl = 0;
        }
    }
    *base = text;
    *per_arg = t->context ? context + groups : rpls;
}

size_t ctk_cmdline_arg_cost(const ctk_cmdline *t, const ctk_cmdline_item *arg, uint64_t seq,
                            uint64_t slot)
{
    ctk_cmdline_args a = {arg, 1, seq, slot};
    render r = {.t = t, .a = &a};
    ctk_buf quoted = {0};
    size_t cost = 0;
    for (size_t k = 0; k < t->n_segs; k++) {
        const seg *s = &t->segs[k];
        if (!s->is_rpl || (s->positional && s->pos != 1 && s->pos != -1))
            continue;
        if (compute(&r, s, arg) < 0)
            continue;
        quoted.len = 0;
        if (t->unquoted)
            cost += r.value.len;
        else if (ctk_cmdline_quote(&quoted, (char *)r.value.data, r.value.len) == 0)
            cost += quoted.len;
    }
    ctk_buf_free(&quoted);
    ctk_buf_free(&r.value);
    return cost;
}

/* --tagstring's escapes, as GNU parallel reads them: \t is a tab. */
char *ctk_cmdline_text_escapes(const char *v)
{
    size_t n = strlen(v), k = 0;
    char *out = malloc(n + 1);
    if (out == NULL)
        abort(); /* a small allocation, as GLib's policy */
    for (const char *p = v; *p != '\0'; p++) {
        if (p[0] == '\\' && p[1] == 't') {
            out[k++] = '\t';
            p++;
        } else {
            out[k++] = *p;
        }
    }
    out[k] = '\0';
    return out;
}
