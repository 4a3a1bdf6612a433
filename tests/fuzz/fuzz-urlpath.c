/*
 * fuzz-urlpath.c: cfetch's URL -> file name and -O templates
 * (tools/cfetch/urlpath.c): the name and host taken from a URL, the
 * {seq} {host} {name} {{ }} template, the redaction of credentials and
 * the .N suffixes of names taken twice.
 *
 * Input: a seq byte, then the URL, NUL, the template.
 */
#include <assert.h>
#include <glib.h>
#include <stdlib.h>

#include "fuzz.h"
#include "urlpath.h"

/* A name is one safe path component: never empty, ".", ".." or hidden,
 * no '/'. */
static void check_name(const char *name)
{
    assert(name[0] != '\0');
    assert(name[0] != '.');
    assert(strchr(name, '/') == NULL);
    assert(strlen(name) <= CTK_URLPATH_NAME_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz f = {data, size};
    uint64_t seq = fz_byte(&f);
    char *url = fz_str(&f);
    char *tpl = fz_str(&f);

    char name[CTK_URLPATH_NAME_MAX + 1];
    if (ctk_urlpath_name(url, name, sizeof name) == 0)
        check_name(name);
    char host[CTK_URLPATH_NAME_MAX + 1];
    if (ctk_urlpath_host(url, host, sizeof host) == 0)
        check_name(host);
    char safe[CTK_URLPATH_NAME_MAX + 1];
    size_t len = strlen(tpl);
    char *copy = malloc(len > 0 ? len : 1);
    memcpy(copy, tpl, len);
    ctk_urlpath_sanitize(copy, len, "index", safe);
    free(copy);
    check_name(safe);

    const char *bad = NULL;
    char *path = ctk_urlpath_expand(tpl, seq, url, &bad);
    if (path == NULL) {
        assert(bad != NULL && bad >= tpl && bad < tpl + strlen(tpl));
    } else {
        ctk_urlpath_names *names = ctk_urlpath_names_new();
        char *first = ctk_urlpath_claim(names, path);
        char *second = ctk_urlpath_claim(names, path);
        assert(strcmp(first, path) == 0);
        assert(strcmp(second, first) != 0);
        g_free(first);
        g_free(second);
        ctk_urlpath_names_free(names);
        g_free(path);
    }
    char *shown = ctk_urlpath_redact(url);
    assert(shown != NULL);
    g_free(shown);
    g_free(url);
    g_free(tpl);
    return 0;
}
