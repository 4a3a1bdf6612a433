/* cmdplus.c: GNU parallel's --plus replacement strings (see cmdplus.h).
 * Each is parallel 20221122's Perl (its %Global::plus), run as the same
 * substitutions with PCRE on bytes: '.' stops at a newline and '$'
 * matches before a final one in both. */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctkx/cmdplus.h"

enum kind {
    K_PROGRAM, /* fixed key: one or two substitutions */
    K_DEFAULT, /* {:-str}: $_ ||= str */
    K_CUT,     /* {:n}: substr($_,0,n) = "" */
    K_SUBSTR,  /* {:p:l}: $_ = substr($_,p,l) */
    K_REGEX,   /* the others: one substitution built from the user's regex */
    K_REFUSED, /* a --plus string cpar does not have */
    K_UNIQ,    /* {uniq}: the value as it is; the job is skipped when two of
                  its arguments are the same (ctk_plus_skips) */
    K_CHOOSE,  /* {choose_k}: the value as it is; the job is skipped unless
                  its arguments increase */
};

/* What a match is replaced with. */
enum repl { R_EMPTY, R_LIT, R_G1, R_UC1, R_LC1 };

typedef struct step {
    const char *re; /* Perl regex; for K_REGEX "%s" stands for the user's */
    enum repl how;
    int global;
} step;

typedef struct key {
    const char *key; /* parallel's, byte for byte */
    enum kind kind;
    step a, b;
    int or_else;     /* b only when a did not match (Perl's ||) */
    int ungreedy;    /* K_REGEX: the user's regex made ungreedy first */
    const char *why; /* K_REFUSED: what to use instead */
} key;

#define EXT2 "\\.[^/.]*\\.[^/.]*"
#define EXT3 "\\.[^/.]*\\.[^/.]*\\.[^/.]*"

static const key keys[] = {
    {"{+/}", K_PROGRAM, {"/[^/]*$", R_EMPTY, 0}, {".*$", R_EMPTY, 0}, 1, 0, NULL},
    {"{+.}", K_PROGRAM, {".*\\.", R_EMPTY, 0}, {".*$", R_EMPTY, 0}, 1, 0, NULL},
    {"{+..}", K_PROGRAM, {".*\\.([^/.]*\\.[^/.]*)$", R_G1, 0}, {".*$", R_EMPTY, 0}, 1, 0, NULL},
    {"{+...}",
     K_PROGRAM,
     {".*\\.([^/.]*\\.[^/.]*\\.[^/.]*)$", R_G1, 0},
     {".*$", R_EMPTY, 0},
     1,
     0,
     NULL},
    {"{..}", K_PROGRAM, {EXT2 "$", R_EMPTY, 0}, {NULL, R_EMPTY, 0}, 0, 0, NULL},
    {"{...}", K_PROGRAM, {EXT3 "$", R_EMPTY, 0}, {NULL, R_EMPTY, 0}, 0, 0, NULL},
    {"{/..}", K_PROGRAM, {".*/", R_EMPTY, 0}, {EXT2 "$", R_EMPTY, 0}, 0, 0, NULL},
    {"{/...}", K_PROGRAM, {".*/", R_EMPTY, 0}, {EXT3 "$", R_EMPTY, 0}, 0, 0, NULL},
    {"{:-([^}]+?)}", K_DEFAULT, {NULL, R_EMPTY, 0}, {NULL, R_EMPTY, 0}, 0, 0, NULL},
    {"{:(\\d+?)}", K_CUT, {NULL, R_EMPTY, 0}, {NULL, R_EMPTY, 0}, 0, 0, NULL},
    {"{:(\\d+?):(\\d+?)}", K_SUBSTR, {NULL, R_EMPTY, 0}, {NULL, R_EMPTY, 0}, 0, 0, NULL},
    {"{#([^#}][^}]*?)}", K_REGEX, {"^%s(.*)", R_G1, 0}, {NULL, R_EMPTY, 0}, 0, 1, NULL},
    {"{##([^#}][^}]*?)}", K_REGEX, {"^%s", R_EMPTY, 0}, {NULL, R_EMPTY, 0}, 0, 0, NULL},
    {"{%([^}]+?)}", K_REGEX, {"(.*)%s$", R_G1, 0}, {NULL, R_EMPTY, 0}, 0, 1, NULL},
    {"{%%([^}]+?)}", K_REGEX, {"%s$", R_EMPTY, 0}, {NULL, R_EMPTY, 0}, 0, 0, NULL},
    {"{/([^#%}/]+?)/([^}]*?)}", K_REGEX, {"%s", R_LIT, 0}, {NULL, R_EMPTY, 0}, 0, 0, NULL},
    {"{/#([^}]+?)/([^}]*?)}", K_REGEX, {"^%s", R_LIT, 1}, {NULL, R_EMPTY, 0}, 0, 0, NULL},
    {"{/%([^}]+?)/([^}]*?)}", K_REGEX, {"%s$", R_LIT, 1}, {NULL, R_EMPTY, 0}, 0, 0, NULL},
    {"{//([^}]+?)/([^}]*?)}", K_REGEX, {"%s", R_LIT, 1}, {NULL, R_EMPTY, 0}, 0, 0, NULL},
    {"{^([^}]+?)}", K_REGEX, {"^(%s)", R_UC1, 0}, {NULL, R_EMPTY, 0}, 0, 0, NULL},
    {"{^^([^}]+?)}", K_REGEX, {"(%s)", R_UC1, 1}, {NULL, R_EMPTY, 0}, 0, 0, NULL},
    {"{,([^}]+?)}", K_REGEX, {"^(%s)", R_LC1, 0}, {NULL, R_EMPTY, 0}, 0, 0, NULL},
    {"{,,([^}]+?)}", K_REGEX, {"(%s)", R_LC1, 1}, {NULL, R_EMPTY, 0}, 0, 0, NULL},
    {"{choose_k}", K_CHOOSE, {NULL, R_EMPTY, 0}, {NULL, R_EMPTY, 0}, 0, 0, NULL},
    {"{uniq}", K_UNIQ, {NULL, R_EMPTY, 0}, {NULL, R_EMPTY, 0}, 0, 0, NULL},
    /* {slot} is cmdline.c's ({%}). Not here: they name remote hosts. */
    {"{host}", K_REFUSED, {NULL, R_EMPTY, 0}, {NULL, R_EMPTY, 0}, 0, 0, "cpar runs jobs here"},
    {"{sshlogin}", K_REFUSED, {NULL, R_EMPTY, 0}, {NULL, R_EMPTY, 0}, 0, 0, "cpar runs jobs here"},
    {"{hgrp}", K_REFUSED, {NULL, R_EMPTY, 0}, {NULL, R_EMPTY, 0}, 0, 0, "cpar runs jobs here"},
    {"{agrp}", K_REFUSED, {NULL, R_EMPTY, 0}, {NULL, R_EMPTY, 0}, 0, 0, "cpar runs jobs here"},
};

struct ctk_plus {
    const key *k;
    GRegex *a, *b;
    char *str;      /* K_DEFAULT's value, R_LIT's text */
    guint64 n1, n2; /* K_CUT, K_SUBSTR */
};

size_t ctk_plus_n_keys(void)
{
    return G_N_ELEMENTS(keys);
}

const char *ctk_plus_key(size_t k)
{
    return keys[k].key;
}

void ctk_plus_free(ctk_plus *p)
{
    if (p == NULL)
        return;
    if (p->a != NULL)
        g_regex_unref(p->a);
    if (p->b != NULL)
        g_regex_unref(p->b);
    g_free(p->str);
    g_free(p);
}

/* parallel's make_regexp_ungreedy: a '?' after every quantifier (* + and
 * a closing }) outside [] that has none. */
static char *make_ungreedy(const char *re)
{
    GString *out = g_string_new(NULL);
    int in_class = 0, escaped = 0, found = 0;
    for (const char *c = re; *c != '\0'; c++) {
        if (found && *c != '?')
            g_string_append_c(out, '?');
        found = 0;
        g_string_append_c(out, *c);
        if (escaped) {
            escaped = 0;
            continue;
        }
        if (*c == '\\') {
            escaped = 1;
            continue;
        }
        if (*c == '[') {
            in_class = 1;
            continue;
        }
        if (in_class) {
            if (*c == ']')
                in_class = 0;
            continue;
        }
        if (strchr("*}+", *c) != NULL)
            found = 1;
    }
    if (found)
        g_string_append_c(out, '?');
    return g_string_free(out, FALSE);
}

/* what: the string as the user wrote it, for the message. */
static GRegex *compile(const char *re, const char *what, char *err, size_t err_len)
{
    GError *e = NULL;
    GRegex *r = g_regex_new(re, G_REGEX_RAW, 0, &e);
    if (r == NULL) {
        snprintf(err, err_len, "--plus: %s: bad regular expression '%s': %s", what, re, e->message);
        g_error_free(e);
    }
    return r;
}

/* The key's regex, as parallel splits it: the text before the first '('
 * and after the last ')' literal, the groups between as they are; the
 * positional form is "{" -?\d+ \s* and the rest without its '{'. */
static char *key_regex(const char *k, int positional)
{
    const char *open = strchr(k, '('), *close = strrchr(k, ')');
    size_t pre = open != NULL ? (size_t)(open - k) : strlen(k);
    const char *grp = open != NULL && close != NULL ? open : "";
    size_t grp_len = open != NULL && close != NULL ? (size_t)(close + 1 - open) : 0;
    const char *post = grp_len > 0 ? close + 1 : k + pre;
    char *p = g_strndup(k + (positional ? 1 : 0), pre - (positional ? 1 : 0));
    char *re = g_strdup_printf("%s\\Q%s\\E%.*s\\Q%s\\E", positional ? "\\{(-?\\d+)\\s*" : "", p,
                               (int)grp_len, grp, post);
    g_free(p);
    return re;
}

static char *group(GMatchInfo *mi, int n)
{
    char *g = g_match_info_fetch(mi, n);
    return g != NULL ? g : g_strdup("");
}

static int build(ctk_plus *p, GMatchInfo *mi, int first_group, char *err, size_t err_len)
{
    const key *k = p->k;
    char *g1 = group(mi, first_group), *g2 = group(mi, first_group + 1);
    int rc = 0;
    switch (k->kind) {
    case K_PROGRAM:
        p->a = compile(k->a.re, k->key, err, err_len);
        p->b = k->b.re != NULL ? compile(k->b.re, k->key, err, err_len) : NULL;
        break;
    case K_DEFAULT:
        p->str = g_strdup(g1);
        break;
    case K_CUT:
    case K_SUBSTR:
        p->n1 = g_ascii_strtoull(g1, NULL, 10);
        p->n2 = g_ascii_strtoull(g2, NULL, 10);
        break;
    case K_REGEX: {
        char *user = k->ungreedy ? make_ungreedy(g1) : g_strdup(g1);
        char *re = g_strdup_printf(k->a.re, user);
        char *what = g_match_info_fetch(mi, 0);
        p->a = compile(re, what, err, err_len);
        g_free(what);
        p->str = g_strdup(g2);
        g_free(re);
        g_free(user);
        break;
    }
    case K_UNIQ:
    case K_CHOOSE:
        break;
    default:
        snprintf(err, err_len, "--plus: %s is not supported (%s)", k->key, k->why);
        rc = CTK_EINVAL;
    }
    if (rc == 0 && (k->kind == K_PROGRAM || k->kind == K_REGEX) &&
        (p->a == NULL || (k->b.re != NULL && p->b == NULL)))
        rc = CTK_EINVAL;
    g_free(g1);
    g_free(g2);
    return rc;
}

int ctk_plus_find(size_t k, int positional, const char *s, size_t len, size_t *at, size_t *mlen,
                  size_t *digits, size_t *n_digits, ctk_plus **out, char *err, size_t err_len)
{
    char *pattern = key_regex(keys[k].key, positional);
    GRegex *re = g_regex_new(pattern, G_REGEX_RAW, 0, NULL);
    g_free(pattern);
    if (re == NULL) {
        snprintf(err, err_len, "--plus: internal: bad key %s", keys[k].key);
        return CTK_EINVAL;
    }
    GMatchInfo *mi = NULL;
    int found = g_regex_match_full(re, s, (gssize)len, 0, 0, &mi, NULL);
    int rc = 0;
    if (found) {
        int ms, me, ds = 0, de = 0;
        g_match_info_fetch_pos(mi, 0, &ms, &me);
        if (positional)
            g_match_info_fetch_pos(mi, 1, &ds, &de);
        *at = (size_t)ms;
        *mlen = (size_t)(me - ms);
        *digits = (size_t)ds;
        *n_digits = (size_t)(de - ds);
        ctk_plus *p = g_new0(ctk_plus, 1);
        p->k = &keys[k];
        rc = build(p, mi, positional ? 2 : 1, err, err_len);
        if (rc < 0)
            ctk_plus_free(p);
        else
            *out = p;
    }
    g_match_info_free(mi);
    g_regex_unref(re);
    return rc < 0 ? rc : found;
}

static int append_case(ctk_buf *out, const char *s, size_t len, int upper)
{
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0; i++) {
        char c = upper ? g_ascii_toupper(s[i]) : g_ascii_tolower(s[i]);
        rc = ctk_buf_append(out, &c, 1);
    }
    return rc;
}

/* Perl's s/re/.../ (s///g when global) on s[0, len), appended to out.
 * *matched says whether it matched. */
static int subst(GRegex *re, enum repl how, const char *lit, int global, const char *s, size_t len,
                 ctk_buf *out, int *matched)
{
    GMatchInfo *mi = NULL;
    size_t last = 0;
    int rc = 0, ok = g_regex_match_full(re, s, (gssize)len, 0, 0, &mi, NULL);
    *matched = ok;
    while (ok && rc == 0) {
        int ms, me, gs = -1, ge = -1;
        g_match_info_fetch_pos(mi, 0, &ms, &me);
        g_match_info_fetch_pos(mi, 1, &gs, &ge);
        rc = ctk_buf_append(out, s + last, (size_t)ms - last);
        size_t glen = gs >= 0 ? (size_t)(ge - gs) : 0;
        const char *g = gs >= 0 ? s + gs : "";
        if (rc == 0 && how == R_LIT)
            rc = ctk_buf_append(out, lit, strlen(lit));
        else if (rc == 0 && how == R_G1)
            rc = ctk_buf_append(out, g, glen);
        else if (rc == 0 && (how == R_UC1 || how == R_LC1))
            rc = append_case(out, g, glen, how == R_UC1);
        last = (size_t)me;
        if (!global)
            break;
        ok = g_match_info_next(mi, NULL);
    }
    g_match_info_free(mi);
    return rc == 0 ? ctk_buf_append(out, s + last, len - last) : rc;
}

/* Both steps of a program: b on a's result (or on s when a did not match
 * and the program says a || b). */
static int run_program(const ctk_plus *p, const char *s, size_t len, ctk_buf *out)
{
    ctk_buf tmp = {0};
    int matched, rc;
    const key *k = p->k;
    if (p->b == NULL)
        return subst(p->a, k->a.how, p->str, k->a.global, s, len, out, &matched);
    rc = subst(p->a, k->a.how, p->str, k->a.global, s, len, &tmp, &matched);
    if (rc == 0 && k->or_else && matched)
        rc = ctk_buf_append(out, tmp.data != NULL ? (const char *)tmp.data : "", tmp.len);
    else if (rc == 0 && k->or_else)
        rc = subst(p->b, k->b.how, NULL, k->b.global, s, len, out, &matched);
    else if (rc == 0)
        rc = subst(p->b, k->b.how, NULL, k->b.global,
                   tmp.data != NULL ? (const char *)tmp.data : "", tmp.len, out, &matched);
    ctk_buf_free(&tmp);
    return rc;
}

int ctk_plus_apply(const ctk_plus *p, const char *s, size_t len, ctk_buf *out)
{
    switch (p->k->kind) {
    case K_DEFAULT:
        /* Perl's ||=: "" and "0" are false. */
        if (len == 0 || (len == 1 && s[0] == '0'))
            return ctk_buf_append(out, p->str, strlen(p->str));
        return ctk_buf_append(out, s, len);
    case K_CUT:
        return p->n1 >= len ? 0 : ctk_buf_append(out, s + p->n1, len - (size_t)p->n1);
    case K_SUBSTR:
        if (p->n1 >= len)
            return 0;
        return ctk_buf_append(out, s + p->n1, MIN((guint64)len - p->n1, p->n2));
    case K_UNIQ:
    case K_CHOOSE:
        return ctk_buf_append(out, s, len);
    default:
        return run_program(p, s, len, out);
    }
}

/* parallel's @arg starts with an undefined element, which Perl's uniq
 * counts as "": an empty argument is a repeat, and choose_k compares the
 * real arguments only (for $t (2..$#arg): $arg[$t-1] ge $arg[$t] skips). */
int ctk_plus_skips(const ctk_plus *p, const ctk_cmdline_item *cols, size_t n)
{
    if (p->k->kind == K_UNIQ) {
        for (size_t i = 0; i < n; i++) {
            if (cols[i].len == 0)
                return 1;
            for (size_t j = i + 1; j < n; j++)
                if (cols[i].len == cols[j].len &&
                    memcmp(cols[i].data, cols[j].data, cols[i].len) == 0)
                    return 1;
        }
    }
    if (p->k->kind == K_CHOOSE) {
        for (size_t i = 1; i < n; i++) {
            size_t m = MIN(cols[i - 1].len, cols[i].len);
            int c = m > 0 ? memcmp(cols[i - 1].data, cols[i].data, m) : 0;
            if (c > 0 || (c == 0 && cols[i - 1].len >= cols[i].len))
                return 1;
        }
    }
    return 0;
}
