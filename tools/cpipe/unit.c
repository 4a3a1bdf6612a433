/* unit.c: cpipe's unit and result in wire fields (see unit.h). */
#include <stdlib.h>
#include <string.h>

#include "unit.h"

/* An errno, signal or exit status read from the wire is one of ours only
 * within these bounds; anything else is a malformed result. */
#define MAX_ERRNO  4095
#define MAX_SIGNAL 127
#define MAX_EXIT   255

int ctk_pipe_unit_encode_head(ctk_buf *in, uint64_t offset, uint64_t len, size_t data_len)
{
    int rc = ctk_wire_put_u64(in, CTK_PIPE_UNIT_BYTES);
    if (rc == 0)
        rc = ctk_wire_put_u64(in, offset);
    if (rc == 0)
        rc = ctk_wire_put_u64(in, len);
    if (rc == 0) /* as ctk_wire_put_bytes puts it, minus the bytes */
        rc = ctk_wire_put_u64(in, data_len);
    return rc;
}

int ctk_pipe_unit_encode(ctk_buf *in, const ctk_pipe_unit *u)
{
    if (u->kind == CTK_PIPE_UNIT_LANE) {
        if (u->len != 0 || u->data_len != 0)
            return CTK_EINVAL;
        int rc = ctk_wire_put_u64(in, u->kind);
        if (rc == 0)
            rc = ctk_wire_put_u64(in, u->offset);
        if (rc == 0)
            rc = ctk_wire_put_u64(in, 0);
        return rc == 0 ? ctk_wire_put_bytes(in, NULL, 0) : rc;
    }
    if (u->kind == CTK_PIPE_UNIT_BYTES) {
        if (u->data_len < u->len)
            return CTK_EINVAL;
        int rc = ctk_pipe_unit_encode_head(in, u->offset, u->len, u->data_len);
        return rc == 0 && u->data_len > 0 ? ctk_buf_append(in, u->data, u->data_len) : rc;
    }
    if (u->kind != CTK_PIPE_UNIT_WINDOW)
        return CTK_EINVAL;
    const uint64_t fields[] = {u->kind, u->offset, u->len, u->dev, u->ino, u->at};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof fields / sizeof fields[0]; i++)
        rc = ctk_wire_put_u64(in, fields[i]);
    return rc == 0 ? ctk_wire_put_bytes(in, u->data, u->data_len) : rc;
}

int ctk_pipe_unit_decode(ctk_pipe_unit *u, const void *in, size_t len)
{
    ctk_wire_reader r;
    ctk_wire_reader_init(&r, in, len);
    memset(u, 0, sizeof *u);
    int rc = ctk_wire_get_u64(&r, &u->kind);
    if (rc == 0)
        rc = ctk_wire_get_u64(&r, &u->offset);
    if (rc == 0)
        rc = ctk_wire_get_u64(&r, &u->len);
    if (rc == 0 && u->kind == CTK_PIPE_UNIT_WINDOW) {
        if ((rc = ctk_wire_get_u64(&r, &u->dev)) == 0 && (rc = ctk_wire_get_u64(&r, &u->ino)) == 0)
            rc = ctk_wire_get_u64(&r, &u->at);
    } else if (rc == 0 && u->kind != CTK_PIPE_UNIT_BYTES && u->kind != CTK_PIPE_UNIT_LANE) {
        rc = CTK_EIO;
    }
    if (rc == 0)
        rc = ctk_wire_get_bytes(&r, &u->data, &u->data_len);
    if (rc == 0 && (r.left != 0 || (u->kind == CTK_PIPE_UNIT_BYTES && u->data_len < u->len) ||
                    (u->kind == CTK_PIPE_UNIT_LANE && (u->len != 0 || u->data_len != 0))))
        rc = CTK_EIO;
    /* A window that wraps around the file's offsets names no bytes. */
    if (rc == 0 && u->kind == CTK_PIPE_UNIT_WINDOW && u->at > UINT64_MAX - u->len)
        rc = CTK_EIO;
    return rc;
}

int ctk_pipe_result_encode_head(ctk_buf *out, const ctk_pipe_result *r, uint64_t mem_len)
{
    int rc = 0;
    const int64_t ends[] = {r->exit, r->signal, r->exec_errno, r->input_errno};
    for (size_t i = 0; rc == 0 && i < sizeof ends / sizeof ends[0]; i++)
        rc = ctk_wire_put_i64(out, ends[i]);
    const uint64_t counts[] = {r->offset, r->len, r->out_bytes, r->kind};
    for (size_t i = 0; rc == 0 && i < sizeof counts / sizeof counts[0]; i++)
        rc = ctk_wire_put_u64(out, counts[i]);
    if (rc == 0)
        rc = ctk_wire_put_u64(out, r->slot);
    if (rc == 0)
        rc = ctk_wire_put_i64(out, r->start_us);
    if (rc == 0)
        rc = ctk_wire_put_i64(out, r->runtime_us);
    if (rc == 0)
        rc = ctk_wire_put_bytes(out, r->line, r->line_len);
    if (rc < 0)
        return rc;
    if (r->kind == CTK_PIPE_OUT_HERE) {
        rc = ctk_wire_put_u64(out, r->run);
        return rc == 0 ? ctk_wire_put_u64(out, r->ticket) : rc;
    }
    if (r->kind != CTK_PIPE_OUT_BYTES)
        return CTK_EINVAL;
    const uint64_t spool[] = {r->spool_id, r->spool_off, r->spool_len};
    for (size_t i = 0; rc == 0 && i < sizeof spool / sizeof spool[0]; i++)
        rc = ctk_wire_put_u64(out, spool[i]);
    return rc == 0 ? ctk_wire_put_u64(out, mem_len) : rc;
}

int ctk_pipe_result_encode(ctk_buf *out, const ctk_pipe_result *r)
{
    int rc = ctk_pipe_result_encode_head(out, r, r->mem_len);
    if (rc == 0 && r->kind == CTK_PIPE_OUT_BYTES && r->mem_len > 0)
        rc = ctk_buf_append(out, r->mem, r->mem_len);
    return rc;
}

static int in_range(int64_t v, int64_t max)
{
    return v >= 0 && v <= max;
}

int ctk_pipe_result_decode(ctk_pipe_result *r, const void *out, size_t len)
{
    ctk_wire_reader rd;
    ctk_wire_reader_init(&rd, out, len);
    memset(r, 0, sizeof *r);
    int64_t *ends[] = {&r->exit, &r->signal, &r->exec_errno, &r->input_errno};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof ends / sizeof ends[0]; i++)
        rc = ctk_wire_get_i64(&rd, ends[i]);
    uint64_t *counts[] = {&r->offset, &r->len, &r->out_bytes, &r->kind};
    for (size_t i = 0; rc == 0 && i < sizeof counts / sizeof counts[0]; i++)
        rc = ctk_wire_get_u64(&rd, counts[i]);
    if (rc == 0)
        rc = ctk_wire_get_u64(&rd, &r->slot);
    if (rc == 0)
        rc = ctk_wire_get_i64(&rd, &r->start_us);
    if (rc == 0)
        rc = ctk_wire_get_i64(&rd, &r->runtime_us);
    if (rc == 0)
        rc = ctk_wire_get_bytes(&rd, &r->line, &r->line_len);
    if (rc == 0 && !(in_range(r->exit, MAX_EXIT) && in_range(r->signal, MAX_SIGNAL) &&
                     in_range(r->exec_errno, MAX_ERRNO) && in_range(r->input_errno, MAX_ERRNO)))
        rc = CTK_EIO;
    if (rc == 0 && r->kind == CTK_PIPE_OUT_HERE) {
        if ((rc = ctk_wire_get_u64(&rd, &r->run)) == 0)
            rc = ctk_wire_get_u64(&rd, &r->ticket);
    } else if (rc == 0 && r->kind == CTK_PIPE_OUT_BYTES) {
        uint64_t *spool[] = {&r->spool_id, &r->spool_off, &r->spool_len};
        for (size_t i = 0; rc == 0 && i < sizeof spool / sizeof spool[0]; i++)
            rc = ctk_wire_get_u64(&rd, spool[i]);
        if (rc == 0)
            rc = ctk_wire_get_bytes(&rd, &r->mem, &r->mem_len);
        /* The output is all here, or all in the spool. */
        if (rc == 0 && (r->spool_len == 0 ? r->mem_len != r->out_bytes
                                          : r->mem_len != 0 || r->spool_len != r->out_bytes))
            rc = CTK_EIO;
    } else if (rc == 0) {
        rc = CTK_EIO;
    }
    if (rc == 0 && rd.left != 0)
        rc = CTK_EIO;
    if (rc < 0)
        ctk_pipe_result_clear(r);
    return rc;
}

void ctk_pipe_result_clear(ctk_pipe_result *r)
{
    (void)r;
}
