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

typedef struct reader {
    const unsigned char *p;
    size_t left;
} reader;

static int put_u64(ctk_buf *b, uint64_t v)
{
    unsigned char bytes[8];
    for (int i = 0; i < 8; i++)
        bytes[i] = (unsigned char)(v >> (8 * i));
    return ctk_buf_append(b, bytes, 8);
}

static int get_u64(reader *r, uint64_t *v)
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

static int put_double(ctk_buf *b, double d)
{
    uint64_t v;
    memcpy(&v, &d, sizeof v);
    return put_u64(b, v);
}

static int get_double(reader *r, double *d)
{
    uint64_t v;
    int rc = get_u64(r, &v);
    if (rc == 0)
        memcpy(d, &v, sizeof v);
    return rc;
}

static int put_bytes(ctk_buf *b, const void *data, size_t len)
{
    int rc = put_u64(b, len);
    return rc < 0 ? rc : ctk_buf_append(b, data, len);
}

static int get_bytes(reader *r, ctk_buf *out)
{
    uint64_t len;
    int rc = get_u64(r, &len);
    if (rc < 0)
        return rc;
    if (len > r->left)
        return CTK_EIO;
    rc = ctk_buf_set(out, r->p, (size_t)len);
    r->p += len;
    r->left -= len;
    return rc;
}

int ctk_wire_encode_unit(ctk_buf *frame, const ctk_unit *unit)
{
    frame->len = 0;
    int rc = put_u64(frame, WIRE_UNIT_MAGIC);
    if (rc == 0)
        rc = put_u64(frame, unit->seq);
    if (rc == 0)
        rc = put_bytes(frame, unit->in.data, unit->in.len);
    return rc;
}

int ctk_wire_decode_unit(const ctk_buf *frame, ctk_unit *unit)
{
    reader r = {frame->data, frame->len};
    uint64_t magic;
    if (get_u64(&r, &magic) < 0 || magic != WIRE_UNIT_MAGIC)
        return CTK_EIO;
    if (get_u64(&r, &unit->seq) < 0)
        return CTK_EIO;
    return get_bytes(&r, &unit->in);
}

int ctk_wire_encode_result(ctk_buf *frame, const ctk_unit *unit)
{
    const char *error = unit->error ? unit->error : "";
    frame->len = 0;
    int rc = put_u64(frame, WIRE_RESULT_MAGIC);
    if (rc == 0)
        rc = put_u64(frame, unit->seq);
    if (rc == 0)
        rc = put_u64(frame, (uint64_t)(int64_t)unit->status);
    if (rc == 0)
        rc = put_double(frame, unit->start);
    if (rc == 0)
        rc = put_double(frame, unit->elapsed);
    if (rc == 0)
        rc = put_bytes(frame, unit->out.data, unit->out.len);
    if (rc == 0)
        rc = put_bytes(frame, error, strlen(error));
    return rc;
}

int ctk_wire_decode_result(const ctk_buf *frame, ctk_unit *unit)
{
    reader r = {frame->data, frame->len};
    uint64_t magic, seq, status;
    ctk_buf error = {0};
    if (get_u64(&r, &magic) < 0 || magic != WIRE_RESULT_MAGIC)
        return CTK_EIO;
    if (get_u64(&r, &seq) < 0 || seq != unit->seq)
        return CTK_EIO;
    if (get_u64(&r, &status) < 0 || get_double(&r, &unit->start) < 0 ||
        get_double(&r, &unit->elapsed) < 0 || get_bytes(&r, &unit->out) < 0)
        return CTK_EIO;
    if (get_bytes(&r, &error) < 0) {
        ctk_buf_free(&error);
        return CTK_EIO;
    }
    unit->status = (int)(int64_t)status;
    free(unit->error);
    unit->error = NULL;
    if (error.len > 0) {
        unit->error = strndup((const char *)error.data, error.len);
        if (unit->error == NULL) {
            ctk_buf_free(&error);
            return CTK_ENOMEM;
        }
    }
    ctk_buf_free(&error);
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
