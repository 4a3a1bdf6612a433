/*
 * fuzz-decode.c: each tool's unit and result decoders, which read bytes that
 * crossed a process (or a machine): cpar's job and result, cpipe's unit
 * and result, cfetch's unit and result, cqueue's job unit and outcome,
 * cburn's task and result.
 *
 * Input: a byte choosing the decoder, then the bytes.
 */
#include <assert.h>
#include <glib.h>
#include <stdlib.h>

#include "burn.h"
#include "fetchunit.h"
#include "fuzz.h"
#include "jobunit.h"
#include "par.h"
#include "unit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz f = {data, size};
    unsigned what = fz_byte(&f);
    /* The bytes in a buffer of their exact size: a read past it is caught. */
    ctk_buf in = {0};
    if (ctk_buf_set(&in, f.p, f.left) != 0)
        return 0;
    const void *bytes = in.data != NULL ? (const void *)in.data : "";
    switch (what % 10) {
    case 0: {
        int skip;
        ctk_cmdline_item *cols = NULL;
        size_t n = 0;
        if (ctk_par_decode_job(&in, &skip, &cols, &n) == 0)
            for (size_t i = 0; i < n; i++)
                assert(cols[i].len <= in.len);
        g_free(cols);
        break;
    }
    case 1: {
        ctk_par_result r = {0};
        if (ctk_par_decode_result(&in, &r) == 0)
            ctk_par_result_clear(&r);
        break;
    }
    case 2: {
        ctk_pipe_unit u = {0};
        if (ctk_pipe_unit_decode(&u, bytes, in.len) == 0)
            assert(u.data_len <= in.len);
        break;
    }
    case 3: {
        ctk_pipe_result r = {0};
        if (ctk_pipe_result_decode(&r, bytes, in.len) == 0) {
            assert(r.mem_len <= in.len);
            ctk_pipe_result_clear(&r);
        }
        break;
    }
    case 4: {
        ctk_fetch_unit u = {0};
        if (ctk_fetch_unit_decode(&in, &u) == 0) {
            assert(u.url != NULL && u.path != NULL);
            ctk_fetch_unit_clear(&u);
        }
        break;
    }
    case 5: {
        ctk_fetch_result r = {0};
        if (ctk_fetch_result_decode(&in, &r) == 0)
            ctk_fetch_result_clear(&r);
        break;
    }
    case 6: {
        cq_jobunit u = {0};
        if (cq_jobunit_decode(bytes, in.len, &u) == 0)
            cq_jobunit_clear(&u);
        break;
    }
    case 7: {
        cq_outcome o = {0};
        if (cq_outcome_decode(bytes, in.len, &o) == 0)
            cq_outcome_clear(&o);
        break;
    }
    case 8: {
        uint64_t task, n;
        ctk_burn_decode_task(&in, &task, &n);
        break;
    }
    default: {
        ctk_unit u = {.seq = 1};
        u.out = in;
        uint64_t value, iterations;
        ctk_burn_decode_result(&u, &value, &iterations);
        break;
    }
    }
    ctk_buf_free(&in);
    return 0;
}
