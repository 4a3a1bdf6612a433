/*
 * wire.c: the one encoding for units and results that cross a process
 * boundary. Little-endian fixed-width fields, then the variable parts.
 * A frame on a stream is a u64 length followed by that many bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctk/plugin.h"

#define WIRE_UNIT_MAGIC   0x554b5443u /* "CTKU" */
#define WIRE_RESULT_MAGIC 0x524b5443u /* "CTKR" */
/* A bound on one frame so a corrupt length cannot make us allocate 2^64. */
#define WIRE_MAX_FRAME ((uint64_t)1 << 34)

int ctk_wire_put_u64(ctk_buf *b, uint64_t v)
{
    unsigned char bytes[8];
    for (int i = 0; i < 8; i++)
        bytes[i] = (unsigned char)(v >> (8 * i));
    return ctk_buf_append(b, bytes, 8);
}

int ctk_wire_put_i64(ctk_buf *b, int64_t v)
{
    return ctk_wire_put_u64(b, (uint64_t)v);
}

int ctk_wire_put_f64(ctk_buf *b, double d)
{
    uint64_t v;
    memcpy(&v, &d, sizeof v);
    return ctk_wire_put_u64(b, v);
}

int ctk_wire_put_bytes(ctk_buf *b, const void *data, size_t len)
{
    int rc = ctk_wire_put_u64(b, len);
    return rc < 0 || len == 0 ? rc : ctk_buf_append(b, data, len);
}

/* A string is its length plus one (0 for NULL), then its bytes: NULL and
 * "" stay apart. */
int ctk_wire_put_str(ctk_buf *b, const char *s)
{
    if (s == NULL)
        return ctk_wire_put_u64(b, 0);
    size_t len = strlen(s);
    int rc = ctk_wire_put_u64(b, (uint64_t)len + 1);
    return rc < 0 || len == 0 ? rc : ctk_buf_append(b, s, len);
}

void ctk_wire_reader_init(ctk_wire_reader *r, const void *data, size_t len)
{
    r->p = data;
    r->left = data != NULL ? len : 0;
}

int ctk_wire_get_u64(ctk_wire_reader *r, uint64_t *v)
{
    if (r->left < 8)
        return CTK_EIO;
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x |= (uint64_t)r->p[i] << (8 * i);
    r->p += 8;
    r->left -= 8;
    *v = x;
    return 0;
}

int ctk_wire_get_i64(ctk_wire_reader *r, int64_t *v)
{
    uint64_t u;
    int rc = ctk_wire_get_u64(r, &u);
    if (rc == 0)
        *v = (int64_t)u;
    return rc;
}

int ctk_wire_get_f64(ctk_wire_reader *r, double *d)
{
    uint64_t v;
    int rc = ctk_wire_get_u64(r, &v);
    if (rc == 0)
        memcpy(d, &v, sizeof v);
    return rc;
}

int ctk_wire_get_bytes(ctk_wire_reader *r, const unsigned char **data, size_t *len)
{
    uint64_t n;
    int rc = ctk_wire_get_u64(r, &n);
    if (rc < 0)
        return rc;
    if (n > r->left)
        return CTK_EIO;
    *data = r->p;
    *len = (size_t)n;
    r->p += n;
    r->left -= n;
    return 0;
}

int ctk_wire_get_str(ctk_wire_reader *r, char **out)
{
    uint64_t n;
    int rc = ctk_wire_get_u64(r, &n);
    if (rc < 0)
        return rc;
    if (n == 0) {
        *out = NULL;
        return 0;
    }
    if (n - 1 > r->left)
        return CTK_EIO;
    char *s = malloc((size_t)n);
    if (s == NULL)
        return CTK_ENOMEM;
    memcpy(s, r->p, (size_t)(n - 1));
    s[n - 1] = '\0';
    r->p += n - 1;
    r->left -= (size_t)(n - 1);
    *out = s;
    return 0;
}

static int get_buf(ctk_wire_reader *r, ctk_buf *out)
{
    const unsigned char *data;
    size_t len;
    int rc = ctk_wire_get_bytes(r, &data, &len);
    return rc < 0 ? rc : ctk_buf_set(out, data, len);
}

int ctk_wire_encode_unit(ctk_buf *frame, const ctk_unit *unit)
{
    frame->len = 0;
    int rc = ctk_wire_put_u64(frame, WIRE_UNIT_MAGIC);
    if (rc == 0)
        rc = ctk_wire_put_u64(frame, unit->seq);
    if (rc == 0)
        rc = ctk_wire_put_bytes(frame, unit->in.data, unit->in.len);
    return rc;
}

int ctk_wire_decode_unit(const ctk_buf *frame, ctk_unit *unit)
{
    ctk_wire_reader r;
    ctk_wire_reader_init(&r, frame->data, frame->len);
    uint64_t magic;
    if (ctk_wire_get_u64(&r, &magic) < 0 || magic != WIRE_UNIT_MAGIC)
        return CTK_EIO;
    if (ctk_wire_get_u64(&r, &unit->seq) < 0)
        return CTK_EIO;
    return get_buf(&r, &unit->in);
}

int ctk_wire_encode_result(ctk_buf *frame, const ctk_unit *unit)
{
    const char *error = unit->error ? unit->error : "";
    frame->len = 0;
    int rc = ctk_wire_put_u64(frame, WIRE_RESULT_MAGIC);
    if (rc == 0)
        rc = ctk_wire_put_u64(frame, unit->seq);
    if (rc == 0)
        rc = ctk_wire_put_u64(frame, (uint64_t)(int64_t)unit->status);
    if (rc == 0)
        rc = ctk_wire_put_f64(frame, unit->start);
    if (rc == 0)
        rc = ctk_wire_put_f64(frame, unit->elapsed);
    if (rc == 0)
        rc = ctk_wire_put_bytes(frame, unit->out.data, unit->out.len);
    if (rc == 0)
        rc = ctk_wire_put_bytes(frame, error, strlen(error));
    return rc;
}

int ctk_wire_decode_result(const ctk_buf *frame, ctk_unit *unit)
{
    ctk_wire_reader r;
    ctk_wire_reader_init(&r, frame->data, frame->len);
    uint64_t magic, seq;
    int64_t status;
    if (ctk_wire_get_u64(&r, &magic) < 0 || magic != WIRE_RESULT_MAGIC)
        return CTK_EIO;
    if (ctk_wire_get_u64(&r, &seq) < 0 || seq != unit->seq)
        return CTK_EIO;
    if (ctk_wire_get_i64(&r, &status) < 0 || ctk_wire_get_f64(&r, &unit->start) < 0 ||
        ctk_wire_get_f64(&r, &unit->elapsed) < 0)
        return CTK_EIO;
    /* Out of memory stays CTK_ENOMEM: it is not a malformed frame. */
    int rc = get_buf(&r, &unit->out);
    const unsigned char *error;
    size_t error_len;
    if (rc == 0)
        rc = ctk_wire_get_bytes(&r, &error, &error_len);
    if (rc < 0)
        return rc;
    unit->status = (int)status;
    free(unit->error);
    unit->error = NULL;
    if (error_len > 0) {
        unit->error = strndup((const char *)error, error_len);
        if (unit->error == NULL)
            return CTK_ENOMEM;
    }
    return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len > 0) {
        /* MSG_NOSIGNAL: a dead peer is an error result, never a SIGPIPE. */
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK)
            n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads exactly len bytes: 0, CTK_EOF if the stream ended before the first
 * byte, CTK_EIO if it ended in the middle. */
static int read_all(int fd, void *data, size_t len)
{
    unsigned char *p = data;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return got == 0 ? CTK_EOF : CTK_EIO;
        got += (size_t)n;
    }
    return 0;
}

int ctk_wire_send(int fd, const ctk_buf *frame)
{
    unsigned char prefix[8];
    for (int i = 0; i < 8; i++)
        prefix[i] = (unsigned char)((uint64_t)frame->len >> (8 * i));
    int rc = write_all(fd, prefix, sizeof prefix);
    return rc < 0 ? rc : write_all(fd, frame->data, frame->len);
}

int ctk_wire_recv(int fd, ctk_buf *frame)
{
    unsigned char prefix[8];
    int rc = read_all(fd, prefix, sizeof prefix);
    if (rc < 0)
        return rc;
    uint64_t len = 0;
    for (int i = 0; i < 8; i++)
        len |= (uint64_t)prefix[i] << (8 * i);
    if (len > WIRE_MAX_FRAME)
        return CTK_EIO;
    frame->len = 0;
    if (len == 0)
        return 0;
    rc = ctk_buf_append(frame, NULL, 0);
    if (rc == 0 && frame->cap < len) {
        unsigned char *data = realloc(frame->data, (size_t)len);
        if (data == NULL)
            return CTK_ENOMEM;
        frame->data = data;
        frame->cap = (size_t)len;
    }
    rc = read_all(fd, frame->data, (size_t)len);
    if (rc == CTK_EOF)
        rc = CTK_EIO;
    if (rc == 0)
        frame->len = (size_t)len;
    return rc;
}
