/* test-wire.c: units and results survive the trip through a socket, and
 * truncated or corrupt frames are errors, not crashes. */
#include <glib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctk/plugin.h"

static void test_unit_round_trip(void)
{
    ctk_unit u = {.seq = 42};
    ctk_buf_set(&u.in, "hello\0world", 11);
    ctk_buf frame = {0};
    g_assert_cmpint(ctk_wire_encode_unit(&frame, &u), ==, 0);
    ctk_unit back = {0};
    g_assert_cmpint(ctk_wire_decode_unit(&frame, &back), ==, 0);
    g_assert_cmpuint(back.seq, ==, 42);
    g_assert_cmpuint(back.in.len, ==, 11);
    g_assert_cmpmem(back.in.data, 11, "hello\0world", 11);
    ctk_buf_free(&u.in);
    ctk_buf_free(&back.in);
    ctk_buf_free(&frame);
}

static void test_result_round_trip(void)
{
    ctk_unit u = {.seq = 7, .status = CTK_EWORK, .start = 1.5, .elapsed = 0.25};
    u.error = g_strdup("it broke");
    ctk_buf_set(&u.out, "xyz", 3);
    ctk_buf frame = {0};
    g_assert_cmpint(ctk_wire_encode_result(&frame, &u), ==, 0);
    ctk_unit back = {.seq = 7};
    g_assert_cmpint(ctk_wire_decode_result(&frame, &back), ==, 0);
    g_assert_cmpint(back.status, ==, CTK_EWORK);
    g_assert_cmpfloat(back.start, ==, 1.5);
    g_assert_cmpfloat(back.elapsed, ==, 0.25);
    g_assert_cmpstr(back.error, ==, "it broke");
    g_assert_cmpmem(back.out.data, back.out.len, "xyz", 3);
    /* A result for another unit is refused. */
    ctk_unit other = {.seq = 8};
    g_assert_cmpint(ctk_wire_decode_result(&frame, &other), ==, CTK_EIO);
    g_free(u.error);
    free(back.error);
    ctk_buf_free(&u.out);
    ctk_buf_free(&back.out);
    ctk_buf_free(&other.out);
    ctk_buf_free(&frame);
}

static void test_truncated_frames(void)
{
    ctk_unit u = {.seq = 1};
    ctk_buf_set(&u.in, "abcdef", 6);
    ctk_buf frame = {0};
    ctk_wire_encode_unit(&frame, &u);
    for (size_t cut = 0; cut < frame.len; cut++) {
        ctk_buf part = {0};
        ctk_buf_set(&part, frame.data, cut);
        ctk_unit back = {0};
        g_assert_cmpint(ctk_wire_decode_unit(&part, &back), ==, CTK_EIO);
        ctk_buf_free(&back.in);
        ctk_buf_free(&part);
    }
    /* The magic number guards against a result decoded as a unit. */
    ctk_wire_encode_result(&frame, &u);
    ctk_unit back = {0};
    g_assert_cmpint(ctk_wire_decode_unit(&frame, &back), ==, CTK_EIO);
    ctk_buf_free(&u.in);
    ctk_buf_free(&frame);
}

static void test_socket_send_recv(void)
{
    int sv[2];
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    ctk_buf big = {0};
    for (int i = 0; i < 100000; i++)
        ctk_buf_append(&big, &i, sizeof i);
    /* Bigger than the socket buffer: the writer must run concurrently. */
    if (fork() == 0) {
        close(sv[0]);
        ctk_wire_send(sv[1], &big);
        _exit(0);
    }
    close(sv[1]);
    ctk_buf got = {0};
    g_assert_cmpint(ctk_wire_recv(sv[0], &got), ==, 0);
    g_assert_cmpmem(got.data, got.len, big.data, big.len);
    g_assert_cmpint(ctk_wire_recv(sv[0], &got), ==, CTK_EOF);
    close(sv[0]);
    wait(NULL);
    ctk_buf_free(&big);
    ctk_buf_free(&got);
}

static void test_truncated_stream(void)
{
    int sv[2];
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    unsigned char prefix[8] = {100, 0, 0, 0, 0, 0, 0, 0};
    g_assert_cmpint(write(sv[1], prefix, 8), ==, 8);
    g_assert_cmpint(write(sv[1], "abc", 3), ==, 3);
    close(sv[1]);
    ctk_buf got = {0};
    g_assert_cmpint(ctk_wire_recv(sv[0], &got), ==, CTK_EIO);
    close(sv[0]);
    ctk_buf_free(&got);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/wire/unit", test_unit_round_trip);
    g_test_add_func("/wire/result", test_result_round_trip);
    g_test_add_func("/wire/truncated", test_truncated_frames);
    g_test_add_func("/wire/socket", test_socket_send_recv);
    g_test_add_func("/wire/truncated-stream", test_truncated_stream);
    return g_test_run();
}
