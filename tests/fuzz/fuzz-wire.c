/*
 * fuzz-wire.c: libctk's wire decoder (libshared/wire.c): the ctk_wire_get_*
 * fields every tool reads its units and results with, and the unit and
 * result frames the process strategies exchange.
 *
 * Input: a byte choosing what to decode, then the bytes. For the fields,
 * each further byte of a prefix picks the next field's type.
 */
#include <assert.h>
#include <stdlib.h>

#include "ctk/plugin.h"
#include "fuzz.h"

static void fields(const uint8_t *types, size_t n_types, const uint8_t *data, size_t len)
{
    ctk_wire_reader r;
    ctk_wire_reader_init(&r, data, len);
    for (size_t i = 0; i < n_types; i++) {
        size_t before = r.left;
        int rc;
        switch (types[i] % 5) {
        case 0: {
            uint64_t v;
            rc = ctk_wire_get_u64(&r, &v);
            break;
        }
        case 1: {
            int64_t v;
            rc = ctk_wire_get_i64(&r, &v);
            break;
        }
        case 2: {
            double v;
            rc = ctk_wire_get_f64(&r, &v);
            break;
        }
        case 3: {
            const unsigned char *p;
            size_t n;
            rc = ctk_wire_get_bytes(&r, &p, &n);
            if (rc == 0)
                assert(p >= data && n <= len && p + n <= data + len);
            break;
        }
        default: {
            char *s = NULL;
            rc = ctk_wire_get_str(&r, &s);
            free(s);
            break;
        }
        }
        assert(r.left <= before);
        if (rc != 0) {
            assert(rc == CTK_EIO || rc == CTK_ENOMEM);
            break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz f = {data, size};
    unsigned what = fz_byte(&f);
    size_t n_types = fz_byte(&f) % 16;
    uint8_t types[16];
    for (size_t i = 0; i < n_types; i++)
        types[i] = (uint8_t)fz_byte(&f);
    /* The bytes in a buffer of their exact size. */
    ctk_buf frame = {0};
    if (ctk_buf_set(&frame, f.p, f.left) != 0)
        return 0;
    const uint8_t *bytes = frame.data != NULL ? frame.data : (const uint8_t *)"";
    switch (what % 3) {
    case 0:
        fields(types, n_types, bytes, frame.len);
        break;
    case 1: {
        ctk_unit u = {0};
        if (ctk_wire_decode_unit(&frame, &u) == 0)
            ctk_buf_free(&u.in);
        break;
    }
    default: {
        ctk_unit u = {.seq = what / 3};
        ctk_wire_decode_result(&frame, &u);
        free(u.error);
        ctk_buf_free(&u.out);
        break;
    }
    }
    ctk_buf_free(&frame);
    return 0;
}
