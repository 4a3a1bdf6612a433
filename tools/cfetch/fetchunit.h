/*
 * fetchunit.h: what travels for one URL: the unit (what to fetch, and
 * where its body goes) and its result. The process strategy carries both
 * to other processes, so they are bytes in libctk's one wire encoding
 * (ctk_wire_put_* / ctk_wire_get_*: fixed little-endian, length-prefixed,
 * no pointers), never structs. The bottom of cfetch: it depends on
 * nothing else of it.
 */
#ifndef CTK_FETCHUNIT_H
#define CTK_FETCHUNIT_H

#include <stddef.h>
#include <stdint.h>

#include "ctk/plugin.h"

/* What a unit asks for: a transfer, or the journal's answer passed on. */
enum { CTK_FETCH_UNIT_FETCH = 0, CTK_FETCH_UNIT_SKIP = 1 };

typedef struct ctk_fetch_result {
    long status;               /* HTTP status of the last response; 0: none */
    unsigned attempts;         /* 0: skipped (already done, per the journal) */
    uint64_t bytes;            /* body bytes of the last response */
    double elapsed;            /* seconds, first attempt to the end, waits included */
    double ttfb;               /* seconds to the first byte of the last attempt */
    const char *path;          /* where the body went, or "" */
    const char *error;         /* "" when it succeeded */
    const unsigned char *body; /* keep_body only */
    size_t body_len;
    const char *effective_url; /* the URL the last response came from (redirects followed) */
    const char *content_type;  /* its Content-Type, or "" */
} ctk_fetch_result;

/* A decoded unit. url and path are malloc'd (ctk_fetch_unit_clear);
 * answer points into the bytes decoded. */
typedef struct ctk_fetch_unit {
    int kind;                    /* CTK_FETCH_UNIT_* */
    char *url;                   /* never NULL */
    char *path;                  /* "" when the body goes to no file */
    const unsigned char *answer; /* SKIP: the encoded result to hand back */
    size_t answer_len;
} ctk_fetch_unit;

/* Encodes "fetch url into path" (path "" or NULL: no file) into in.
 * 0 or CTK_ENOMEM. */
int ctk_fetch_encode(ctk_buf *in, const char *url, const char *path);
/* A unit answered from the journal: it skips the network but goes
 * through the strategy like any other, so it still gets its record. */
int ctk_fetch_encode_skip(ctk_buf *in, const char *url, const ctk_fetch_result *r);
/* 0; CTK_EIO when in is truncated or malformed (bytes left over
 * included); CTK_ENOMEM. On failure u holds nothing to clear. */
int ctk_fetch_unit_decode(const ctk_buf *in, ctk_fetch_unit *u);
void ctk_fetch_unit_clear(ctk_fetch_unit *u);

/* Encodes r into out (replacing what out held). 0 or CTK_ENOMEM. */
int ctk_fetch_result_encode(ctk_buf *out, const ctk_fetch_result *r);
/* Decodes a result: path and error are malloc'd copies
 * (ctk_fetch_result_clear), body points into out. 0, CTK_EIO (out holds
 * no whole result, or more), CTK_ENOMEM; on failure r holds nothing. */
int ctk_fetch_result_decode(const ctk_buf *out, ctk_fetch_result *r);
void ctk_fetch_result_clear(ctk_fetch_result *r);

/* Where the body of path is written until it is complete (g_free):
 * ".NAME.cfetch-part" beside it. Whoever sees a unit fail can remove it. */
char *ctk_fetch_partial_path(const char *path);

#endif
