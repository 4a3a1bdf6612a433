/*
 * urlpath.c: safe file names for fetched bodies. The URL is parsed with
 * libcurl's own parser (the one that fetches it), the last segment of its
 * path is percent-decoded and then every byte that could change where the
 * file lands ('/', '\\', NUL, control bytes, a leading dot) is replaced.
 */
#include <curl/curl.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "urlpath.h"

static int safe_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("-_.+,=@~", c) != NULL;
}

void ctk_urlpath_sanitize(const char *text, size_t len, const char *fallback, char *out)
{
    size_t n = len < CTK_URLPATH_NAME_MAX ? len : CTK_URLPATH_NAME_MAX;
    int leading = 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        /* No leading dot: that rules out ".", ".." and hidden files. */
        leading = leading && c == '.';
        out[i] = (char)(safe_byte(c) && !leading && c != '\0' ? c : '_');
    }
    out[n] = '\0';
    if (n == 0)
        g_strlcpy(out, fallback, CTK_URLPATH_NAME_MAX + 1);
}

static CURLU *parse(const char *url)
{
    CURLU *u = curl_url();
    if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        curl_url_cleanup(u);
        u = NULL;
    }
    return u;
}

int ctk_urlpath_name(const char *url, char *out, size_t out_len)
{
    CURLU *u = parse(url);
    char *path = NULL;
    if (u == NULL || curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
        curl_url_cleanup(u);
        return CTK_EINVAL;
    }
    const char *slash = strrchr(path, '/');
    const char *seg = slash != NULL ? slash + 1 : path;
    /* Decoded first, so %2F and %2E%2E are judged as the bytes they are. */
    char *decoded = g_uri_unescape_segment(seg, NULL, NULL);
    const char *name = decoded != NULL ? decoded : seg;
    /* A NUL byte (%00) ends the decoded string early: treated as cut. */
    char safe[CTK_URLPATH_NAME_MAX + 1];
    ctk_urlpath_sanitize(name, strlen(name), "index.html", safe);
    g_strlcpy(out, safe, out_len);
    g_free(decoded);
    curl_free(path);
    curl_url_cleanup(u);
    return 0;
}

int ctk_urlpath_host(const char *url, char *out, size_t out_len)
{
    CURLU *u = parse(url);
    char *host = NULL;
    if (u == NULL || curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        curl_url_cleanup(u);
        return CTK_EINVAL;
    }
    char safe[CTK_URLPATH_NAME_MAX + 1];
    /* Host names are case-insensitive: one spelling, one directory. */
    char *lower = g_ascii_strdown(host, -1);
    ctk_urlpath_sanitize(lower, strlen(lower), "host", safe);
    g_free(lower);
    g_strlcpy(out, safe, out_len);
    curl_free(host);
    curl_url_cleanup(u);
    return 0;
}

char *ctk_urlpath_expand(const char *template_, uint64_t seq, const char *url, const char **bad)
{
    GString *s = g_string_new(NULL);
    char part[CTK_URLPATH_NAME_MAX + 1];
    for (const char *p = template_; *p != '\0'; p++) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            g_string_append_c(s, *p++);
        } else if (strncmp(p, "{seq}", 5) == 0) {
            g_string_append_printf(s, "%llu", (unsigned long long)seq);
            p += 4;
        } else if (strncmp(p, "{host}", 6) == 0) {
            if (ctk_urlpath_host(url, part, sizeof part) < 0)
                g_strlcpy(part, "host", sizeof part);
            g_string_append(s, part);
            p += 5;
        } else if (strncmp(p, "{name}", 6) == 0) {
            if (ctk_urlpath_name(url, part, sizeof part) < 0)
                g_strlcpy(part, "index.html", sizeof part);
            g_string_append(s, part);
            p += 5;
        } else if (*p == '{') {
            if (bad != NULL)
                *bad = p;
            g_string_free(s, TRUE);
            return NULL;
        } else {
            g_string_append_c(s, *p);
        }
    }
    return g_string_free(s, FALSE);
}

struct ctk_urlpath_names {
    GHashTable *taken; /* path -> GUINT_TO_POINTER(next suffix) */
};

ctk_urlpath_names *ctk_urlpath_names_new(void)
{
    ctk_urlpath_names *n = g_new0(ctk_urlpath_names, 1);
    n->taken = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    return n;
}

void ctk_urlpath_names_free(ctk_urlpath_names *n)
{
    if (n == NULL)
        return;
    g_hash_table_destroy(n->taken);
    g_free(n);
}

char *ctk_urlpath_claim(ctk_urlpath_names *n, const char *path)
{
    if (!g_hash_table_contains(n->taken, path)) {
        g_hash_table_insert(n->taken, g_strdup(path), GUINT_TO_POINTER(1));
        return g_strdup(path);
    }
    /* The counter lives on the base path, so claims stay O(1); a suffixed
     * name that some URL took literally is skipped. */
    for (;;) {
        guint k = GPOINTER_TO_UINT(g_hash_table_lookup(n->taken, path));
        g_hash_table_insert(n->taken, g_strdup(path), GUINT_TO_POINTER(k + 1));
        char *candidate = g_strdup_printf("%s.%u", path, k);
        if (!g_hash_table_contains(n->taken, candidate)) {
            g_hash_table_insert(n->taken, candidate, GUINT_TO_POINTER(1));
            return g_strdup(candidate);
        }
        g_free(candidate);
    }
}

/* A header line whose value is a credential, judged by its name. */
static int credential_header(const char *text)
{
    static const char *const names[] = {"authorization", "proxy-authorization", "cookie"};
    while (*text == ' ' || *text == '\t')
        text++;
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        size_t n = strlen(names[i]);
        if (g_ascii_strncasecmp(text, names[i], n) == 0 && (text[n] == ':' || text[n] == ' '))
            return (int)n;
    }
    return 0;
}

char *ctk_urlpath_redact(const char *text)
{
    int name = credential_header(text);
    if (name > 0) {
        const char *start = text + strspn(text, " \t");
        return g_strdup_printf("%.*s: ***", name, start);
    }
    /* The authority is after "://", or the start of a text that has no
     * scheme (curl would read "user:pw@host/" as one); it ends at the
     * path, query or fragment. Its last '@' ends the user info. */
    const char *scheme_end = strstr(text, "://");
    const char *auth = scheme_end != NULL ? scheme_end + 3 : text;
    size_t auth_len = strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < auth + auth_len; p++)
        if (*p == '@')
            at = p;
    if (at == NULL)
        return g_strdup(text);
    /* user:password keeps the user; a user alone may be a token
     * (https://TOKEN@host/), so it goes whole. */
    const char *colon = memchr(auth, ':', (size_t)(at - auth));
    size_t keep = colon != NULL ? (size_t)(colon - text) + 1 : (size_t)(auth - text);
    return g_strdup_printf("%.*s***%s", (int)keep, text, at);
}
