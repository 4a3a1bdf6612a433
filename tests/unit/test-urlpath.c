/*
 * test-urlpath.c: names made from URLs never leave their directory
 * (traversal, encoded dots and slashes, NUL bytes, absolute paths, odd
 * bytes), templates expand and reject unknown placeholders, and a name
 * claimed twice gets a suffix.
 */
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "urlpath.h"

static void assert_safe(const char *name)
{
    g_assert_cmpuint(strlen(name), >, 0);
    g_assert_cmpuint(strlen(name), <=, CTK_URLPATH_NAME_MAX);
    g_assert_null(strchr(name, '/'));
    g_assert_null(strchr(name, '\\'));
    g_assert_cmpint(name[0], !=, '.');
    for (const char *p = name; *p != '\0'; p++)
        g_assert_true(g_ascii_isgraph(*p));
}

static void test_names(void)
{
    static const struct {
        const char *url, *name;
    } cases[] = {
        {"http://h/a/b/page.html", "page.html"},
        {"http://h/a/b/page.html?x=1#frag", "page.html"},
        {"http://h/", "index.html"},
        {"http://h", "index.html"},
        {"http://h/dir/", "index.html"},
        {"http://h/../../etc/passwd", "passwd"},
        {"http://h/%2e%2e/%2e%2e/etc/passwd", "passwd"},
        {"http://h/x/%2E%2E", "__"},
        {"http://h/x/..%2F..%2Fetc%2Fpasswd", "___.._etc_passwd"},
        {"http://h/a%2Fb", "a_b"},
        {"http://h/.bashrc", "_bashrc"},
        {"http://h/sp%20ace", "sp_ace"},
        {"http://h/caf%C3%A9", "caf__"},
        {"http://h/a%5Cb", "a_b"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        char name[CTK_URLPATH_NAME_MAX + 1];
        g_assert_cmpint(ctk_urlpath_name(cases[i].url, name, sizeof name), ==, 0);
        g_assert_cmpstr(name, ==, cases[i].name);
        assert_safe(name);
    }
    char name[CTK_URLPATH_NAME_MAX + 1];
    g_assert_cmpint(ctk_urlpath_name("not a url", name, sizeof name), ==, CTK_EINVAL);
    /* NUL bytes, control bytes: still one safe component. */
    g_assert_cmpint(ctk_urlpath_name("http://h/a%00b%0a%01", name, sizeof name), ==, 0);
    assert_safe(name);
    /* Very long: cut to the limit. */
    GString *u = g_string_new("http://h/");
    for (int i = 0; i < 1000; i++)
        g_string_append(u, "x");
    g_assert_cmpint(ctk_urlpath_name(u->str, name, sizeof name), ==, 0);
    g_assert_cmpuint(strlen(name), ==, CTK_URLPATH_NAME_MAX);
    g_string_free(u, TRUE);
}

static void test_sanitize(void)
{
    char out[CTK_URLPATH_NAME_MAX + 1];
    ctk_urlpath_sanitize("..", 2, "fb", out);
    g_assert_cmpstr(out, ==, "__");
    ctk_urlpath_sanitize(".", 1, "fb", out);
    g_assert_cmpstr(out, ==, "_");
    ctk_urlpath_sanitize("", 0, "fb", out);
    g_assert_cmpstr(out, ==, "fb");
    ctk_urlpath_sanitize("/etc/passwd", 11, "fb", out);
    g_assert_cmpstr(out, ==, "_etc_passwd");
    ctk_urlpath_sanitize("a\0b", 3, "fb", out);
    g_assert_cmpstr(out, ==, "a_b");
    ctk_urlpath_sanitize("v1.2-x_y+z,=@~", 14, "fb", out);
    g_assert_cmpstr(out, ==, "v1.2-x_y+z,=@~");
}

static void test_expand(void)
{
    const char *bad = NULL;
    char *p =
        ctk_urlpath_expand("out/{host}/{seq}-{name}", 7, "http://Example.com:8080/a/b.txt", &bad);
    g_assert_cmpstr(p, ==, "out/example.com/7-b.txt");
    g_free(p);
    p = ctk_urlpath_expand("{{seq}}-{name}", 1, "http://h/../../x", &bad);
    g_assert_cmpstr(p, ==, "{seq}-x");
    g_free(p);
    p = ctk_urlpath_expand("d/{host}", 1, "http://h/", &bad);
    g_assert_cmpstr(p, ==, "d/h");
    g_free(p);
    g_assert_null(ctk_urlpath_expand("d/{nope}", 1, "http://h/", &bad));
    g_assert_cmpstr(bad, ==, "{nope}");
}

static void test_redact(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"http://h/a", "http://h/a"},
        {"http://user:secret@h/a", "http://user:***@h/a"},
        {"https://TOKEN@h:8080/x?y=1", "https://***@h:8080/x?y=1"},
        {"http://u:p@ss@h/", "http://u:***@h/"},
        {"http://h/path@not-userinfo", "http://h/path@not-userinfo"},
        {"http://h/?q=a:b@c", "http://h/?q=a:b@c"},
        {"user:pw@h/x", "user:***@h/x"},
        {"Authorization: Bearer TOKEN", "Authorization: ***"},
        {"  cookie: a=b", "cookie: ***"},
        {"Proxy-Authorization: Basic xx", "Proxy-Authorization: ***"},
        {"not a url", "not a url"},
        {"", ""},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        char *got = ctk_urlpath_redact(cases[i].in);
        g_assert_cmpstr(got, ==, cases[i].out);
        g_free(got);
    }
}

static void test_claim(void)
{
    ctk_urlpath_names *n = ctk_urlpath_names_new();
    const char *want[] = {"d/a", "d/a", "d/a.1", "d/a", "d/b"};
    const char *got[] = {"d/a", "d/a.1", "d/a.1.1", "d/a.2", "d/b"};
    for (size_t i = 0; i < G_N_ELEMENTS(want); i++) {
        char *p = ctk_urlpath_claim(n, want[i]);
        g_assert_cmpstr(p, ==, got[i]);
        g_free(p);
    }
    ctk_urlpath_names_free(n);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/urlpath/names", test_names);
    g_test_add_func("/urlpath/sanitize", test_sanitize);
    g_test_add_func("/urlpath/expand", test_expand);
    g_test_add_func("/urlpath/claim", test_claim);
    g_test_add_func("/urlpath/redact", test_redact);
    return g_test_run();
}
