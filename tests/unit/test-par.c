/* test-par.c: cpar's unit (a job's columns) and result (what came of it)
 * through libctk's wire encoding and back, and truncated bytes refused. */
#include <glib.h>
#include <string.h>

#include "par.h"
#include "testutil.h"

static void test_job_round_trip(void)
{
    ctk_cmdline_item cols[] = {{"a b", 3}, {"", 0}, {"x\0y", 3}};
    ctk_buf in = {0};
    g_assert_cmpint(ctk_par_encode_job(&in, 1, cols, 3), ==, 0);
    int skip = 0;
    ctk_cmdline_item *got = NULL;
    size_t n = 0;
    g_assert_cmpint(ctk_par_decode_job(&in, &skip, &got, &n), ==, 0);
    g_assert_cmpint(skip, ==, 1);
    g_assert_cmpuint(n, ==, 3);
    for (size_t i = 0; i < n; i++) {
        g_assert_cmpuint(got[i].len, ==, cols[i].len);
        g_assert_true(memcmp(got[i].data, cols[i].data, cols[i].len) == 0);
    }
    g_free(got);
    /* Every shorter prefix is refused, never read past. */
    for (size_t len = 0; len < in.len; len++) {
        ctk_buf cut = {in.data, len, len};
        g_assert_cmpint(ctk_par_decode_job(&cut, &skip, &got, &n), ==, CTK_EIO);
        g_assert_null(got);
    }
    ctk_buf_free(&in);
    /* No columns at all is a job too (a replacement string sees ""). */
    g_assert_cmpint(ctk_par_encode_job(&in, 0, NULL, 0), ==, 0);
    g_assert_cmpint(ctk_par_decode_job(&in, &skip, &got, &n), ==, 0);
    g_assert_cmpint(skip, ==, 0);
    g_assert_cmpuint(n, ==, 0);
    g_free(got);
    ctk_buf_free(&in);
}

static void test_job_bad_count(void)
{
    /* A column count the bytes cannot hold is malformed, not allocated. */
    ctk_buf in = {0};
    g_assert_cmpint(ctk_wire_put_u64(&in, 0), ==, 0);
    g_assert_cmpint(ctk_wire_put_u64(&in, UINT64_MAX), ==, 0);
    int skip;
    ctk_cmdline_item *got = NULL;
    size_t n;
    g_assert_cmpint(ctk_par_decode_job(&in, &skip, &got, &n), ==, CTK_EIO);
    ctk_buf_free(&in);
}

static void test_result_round_trip(void)
{
    ctk_par_result r = {
        .exit = -1,
        .signal = 15,
        .attempts = 3,
        .terminated = 1,
        .timed_out = 1,
        .out_bytes = (uint64_t)1 << 40,
        .start = 1700000000.125,
        .elapsed = 0.5,
        .line = "echo 'a b'",
        .line_len = 10,
        .mem = {"out\n", ""},
        .mem_len = {4, 0},
        .spool_id = 77,
        .spool_off = {0, (uint64_t)1 << 33},
        .spool_len = {0, 12345},
    };
    ctk_buf out = {0};
    g_assert_cmpint(ctk_par_encode_result(&out, &r), ==, 0);
    ctk_par_result got;
    g_assert_cmpint(ctk_par_decode_result(&out, &got), ==, 0);
    g_assert_cmpint(got.exit, ==, -1);
    g_assert_cmpint(got.signal, ==, 15);
    g_assert_cmpuint(got.attempts, ==, 3);
    g_assert_cmpint(got.terminated, ==, 1);
    g_assert_cmpint(got.timed_out, ==, 1);
    g_assert_cmpuint(got.out_bytes, ==, (uint64_t)1 << 40);
    g_assert_cmpfloat(got.start, ==, 1700000000.125);
    g_assert_cmpfloat(got.elapsed, ==, 0.5);
    g_assert_cmpuint(got.line_len, ==, 10);
    g_assert_true(memcmp(got.line, "echo 'a b'", 10) == 0);
    g_assert_cmpuint(got.mem_len[0], ==, 4);
    g_assert_true(memcmp(got.mem[0], "out\n", 4) == 0);
    g_assert_cmpuint(got.mem_len[1], ==, 0);
    g_assert_cmpuint(got.spool_id, ==, 77);
    g_assert_cmpuint(got.spool_len[0], ==, 0);
    g_assert_cmpuint(got.spool_off[1], ==, (uint64_t)1 << 33);
    g_assert_cmpuint(got.spool_len[1], ==, 12345);
    ctk_par_result_clear(&got);
    for (size_t len = 0; len < out.len; len++) {
        ctk_buf cut = {out.data, len, len};
        g_assert_cmpint(ctk_par_decode_result(&cut, &got), ==, CTK_EIO);
    }
    /* An output both spooled and in memory is malformed. */
    ctk_buf both = {0};
    r.spool_len[0] = 1;
    g_assert_cmpint(ctk_par_encode_result(&both, &r), ==, 0);
    g_assert_cmpint(ctk_par_decode_result(&both, &got), ==, CTK_EIO);
    ctk_buf_free(&both);
    /* Trailing bytes are as wrong as missing ones. */
    g_assert_cmpint(ctk_buf_append(&out, "", 1), ==, 0);
    g_assert_cmpint(ctk_par_decode_result(&out, &got), ==, CTK_EIO);
    ctk_buf_free(&out);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/par/job-round-trip", test_job_round_trip);
    g_test_add_func("/par/job-bad-count", test_job_bad_count);
    g_test_add_func("/par/result-round-trip", test_result_round_trip);
    return g_test_run();
}
