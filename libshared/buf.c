/* buf.c: byte buffers and unit helpers shared by every strategy. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctk/plugin.h"

static int buf_reserve(ctk_buf *buf, size_t need)
{
    if (need <= buf->cap)
        return 0;
    size_t cap = buf->cap ? buf->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2)
            return CTK_ENOMEM;
        cap *= 2;
    }
    unsigned char *data = realloc(buf->data, cap);
    if (data == NULL)
        return CTK_ENOMEM;
    buf->data = data;
    buf->cap = cap;
    return 0;
}

int ctk_buf_append(ctk_buf *buf, const void *data, size_t len)
{
    if (len > SIZE_MAX - buf->len)
        return CTK_ENOMEM;
    int rc = buf_reserve(buf, buf->len + len);
    if (rc < 0)
        return rc;
    if (len > 0)
        memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    return 0;
}

int ctk_buf_set(ctk_buf *buf, const void *data, size_t len)
{
    buf->len = 0;
    return ctk_buf_append(buf, data, len);
}

void ctk_buf_free(ctk_buf *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

int ctk_unit_fail(ctk_unit *unit, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    free(unit->error);
    unit->error = strdup(msg);
    unit->status = status < 0 ? status : CTK_EWORK;
    return unit->status;
}
