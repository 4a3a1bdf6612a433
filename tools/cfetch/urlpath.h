/*
 * ctk/urlpath.h: where a fetched body is stored. A name comes from the
 * URL's last path segment, percent-decoded and then made safe: one path
 * component of plain bytes, never "." or "..", never hidden, never empty,
 * so that DIR/NAME stays inside DIR whatever the URL says. Names taken
 * twice in one run get a suffix (NAME.1, NAME.2, ...).
 */
#ifndef CTK_URLPATH_H
#define CTK_URLPATH_H

#include <stddef.h>
#include <stdint.h>

#include "ctk/common.h"

/* The longest name made (bytes, without the NUL). */
#define CTK_URLPATH_NAME_MAX 200

/* Makes `text` (len bytes, any bytes) a safe single path component in out
 * (at least CTK_URLPATH_NAME_MAX + 1 bytes): bytes other than letters,
 * digits and "-_.+,=@~" become '_', leading dots become '_', an empty
 * result becomes `fallback`. */
void ctk_urlpath_sanitize(const char *text, size_t len, const char *fallback, char *out);

/* The safe name for a URL's body ("index.html" for a URL ending in '/').
 * CTK_EINVAL when url does not parse. */
int ctk_urlpath_name(const char *url, char *out, size_t out_len);
/* The URL's host, sanitised the same way. */
int ctk_urlpath_host(const char *url, char *out, size_t out_len);

/* Expands {seq}, {host}, {name} and {{ / }} in template. Returns a
 * path (g_free), or NULL for an unknown placeholder (*bad points at it). */
char *ctk_urlpath_expand(const char *template_, uint64_t seq, const char *url, const char **bad);

/* text (a URL, or what was given as one) with its credentials masked,
 * for records, messages and the journal: "user:password@" becomes
 * "user:***@", a user alone "***@", and a text that is an Authorization,
 * Proxy-Authorization or Cookie header line keeps only its name. g_free. */
char *ctk_urlpath_redact(const char *text);

/* The names handed out in one run, so that two URLs never share a file. */
typedef struct ctk_urlpath_names ctk_urlpath_names;
ctk_urlpath_names *ctk_urlpath_names_new(void);
void ctk_urlpath_names_free(ctk_urlpath_names *n);
/* Returns path itself the first time, then path.1, path.2, ... (g_free). */
char *ctk_urlpath_claim(ctk_urlpath_names *n, const char *path);

#endif
