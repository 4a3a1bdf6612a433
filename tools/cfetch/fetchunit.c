/*
 * fetchunit.c: cfetch's unit and result as wire fields. A unit is
 * (kind, url, path) and, for a unit the journal answered, the encoded
 * result to hand back as it is; a result is (status, attempts, bytes,
 * elapsed, ttfb, path, error, body, effective URL, content type). Decoding is strict: a field cut
 * short, a string missing or bytes left over make the buffer malformed.
 */
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "fetchunit.h"

static int put_head(ctk_buf *in, int kind, const char *url, const char *path)
{
    in->len = 0;
    int rc = ctk_wire_put_u64(in, (uint64_t)kind);
    if (rc == 0)
        rc = ctk_wire_put_str(in, url);
    if (rc == 0)
        rc = ctk_wire_put_str(in, path != NULL ? path : "");
    return rc;
}

int ctk_fetch_encode(ctk_buf *in, const char *url, const char *path)
{
    return put_head(in, CTK_FETCH_UNIT_FETCH, url, path);
}

int ctk_fetch_encode_skip(ctk_buf *in, const char *url, const ctk_fetch_result *r)
{
    ctk_buf answer = {0};
    int rc = put_head(in, CTK_FETCH_UNIT_SKIP, url, r->path);
    if (rc == 0)
        rc = ctk_fetch_result_encode(&answer, r);
    if (rc == 0)
        rc = ctk_wire_put_bytes(in, answer.data, answer.len);
    ctk_buf_free(&answer);
    return rc;
}

/* A string that must be there: NULL on the wire is malformed. */
static int get_str(ctk_wire_reader *r, char **s)
{
    int rc = ctk_wire_get_str(r, s);
    if (rc == 0 && *s == NULL)
        rc = CTK_EIO;
    return rc;
}

int ctk_fetch_unit_decode(const ctk_buf *in, ctk_fetch_unit *u)
{
    ctk_wire_reader r;
    uint64_t kind;
    *u = (ctk_fetch_unit){0};
    ctk_wire_reader_init(&r, in->data, in->len);
    int rc = ctk_wire_get_u64(&r, &kind);
    if (rc == 0 && kind != CTK_FETCH_UNIT_FETCH && kind != CTK_FETCH_UNIT_SKIP)
        rc = CTK_EIO;
    if (rc == 0)
        rc = get_str(&r, &u->url);
    if (rc == 0)
        rc = get_str(&r, &u->path);
    if (rc == 0 && kind == CTK_FETCH_UNIT_SKIP)
        rc = ctk_wire_get_bytes(&r, &u->answer, &u->answer_len);
    if (rc == 0 && r.left != 0)
        rc = CTK_EIO;
    if (rc < 0) {
        ctk_fetch_unit_clear(u);
        return rc;
    }
    u->kind = (int)kind;
    return 0;
}

void ctk_fetch_unit_clear(ctk_fetch_unit *u)
{
    free(u->url);
    free(u->path);
    *u = (ctk_fetch_unit){0};
}

int ctk_fetch_result_encode(ctk_buf *out, const ctk_fetch_result *r)
{
    out->len = 0;
    int rc = ctk_wire_put_i64(out, r->status);
    if (rc == 0)
        rc = ctk_wire_put_u64(out, r->attempts);
    if (rc == 0)
        rc = ctk_wire_put_u64(out, r->bytes);
    if (rc == 0)
        rc = ctk_wire_put_f64(out, r->elapsed);
    if (rc == 0)
        rc = ctk_wire_put_f64(out, r->ttfb);
    if (rc == 0)
        rc = ctk_wire_put_str(out, r->path != NULL ? r->path : "");
    if (rc == 0)
        rc = ctk_wire_put_str(out, r->error != NULL ? r->error : "");
    if (rc == 0)
        rc = ctk_wire_put_bytes(out, r->body, r->body_len);
    if (rc == 0)
        rc = ctk_wire_put_str(out, r->effective_url != NULL ? r->effective_url : "");
    if (rc == 0)
        rc = ctk_wire_put_str(out, r->content_type != NULL ? r->content_type : "");
    return rc;
}

int ctk_fetch_result_decode(const ctk_buf *out, ctk_fetch_result *res)
{
    ctk_wire_reader r;
    int64_t status;
    uint64_t attempts, bytes;
    char *path = NULL, *error = NULL, *eurl = NULL, *ctype = NULL;
    *res = (ctk_fetch_result){0};
    ctk_wire_reader_init(&r, out->data, out->len);
    int rc = ctk_wire_get_i64(&r, &status);
    if (rc == 0)
        rc = ctk_wire_get_u64(&r, &attempts);
    if (rc == 0 && attempts > UINT32_MAX)
        rc = CTK_EIO;
    if (rc == 0)
        rc = ctk_wire_get_u64(&r, &bytes);
    if (rc == 0)
        rc = ctk_wire_get_f64(&r, &res->elapsed);
    if (rc == 0)
        rc = ctk_wire_get_f64(&r, &res->ttfb);
    if (rc == 0)
        rc = get_str(&r, &path);
    if (rc == 0)
        rc = get_str(&r, &error);
    if (rc == 0)
        rc = ctk_wire_get_bytes(&r, &res->body, &res->body_len);
    if (rc == 0)
        rc = get_str(&r, &eurl);
    if (rc == 0)
        rc = get_str(&r, &ctype);
    if (rc == 0 && r.left != 0)
        rc = CTK_EIO;
    if (rc < 0) {
        free(path);
        free(error);
        free(eurl);
        free(ctype);
        *res = (ctk_fetch_result){0};
        return rc;
    }
    res->status = (long)status;
    res->attempts = (unsigned)attempts;
    res->bytes = bytes;
    res->path = path;
    res->error = error;
    res->effective_url = eurl;
    res->content_type = ctype;
    return 0;
}

void ctk_fetch_result_clear(ctk_fetch_result *r)
{
    /* Decoded strings are the decoder's copies, const only to readers. */
    free((void *)r->path);
    free((void *)r->error);
    free((void *)r->effective_url);
    free((void *)r->content_type);
    *r = (ctk_fetch_result){0};
}

char *ctk_fetch_partial_path(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash != NULL ? (size_t)(slash - path + 1) : 0;
    return g_strdup_printf("%.*s.%s.cfetch-part", (int)dir_len, path,
                           slash != NULL ? slash + 1 : path);
}
