/*
 * test-fetch.c: the retry policy (what is retried, how long to wait,
 * Retry-After in both forms), units and results round-trip, and both
 * engines turn a refused connection into an error result with the right
 * number of attempts, the async one leaving no handle on its loop.
 */
#include <curl/curl.h>
#include <glib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "fetch.h"

static void test_retryable(void)
{
    g_assert_true(ctk_fetch_retryable(CURLE_OK, 503));
    g_assert_true(ctk_fetch_retryable(CURLE_OK, 500));
    g_assert_true(ctk_fetch_retryable(CURLE_OK, 429));
    g_assert_true(ctk_fetch_retryable(CURLE_OK, 408));
    g_assert_false(ctk_fetch_retryable(CURLE_OK, 200));
    g_assert_false(ctk_fetch_retryable(CURLE_OK, 404));
    g_assert_false(ctk_fetch_retryable(CURLE_OK, 302));
    g_assert_true(ctk_fetch_retryable(CURLE_COULDNT_CONNECT, 0));
    g_assert_true(ctk_fetch_retryable(CURLE_OPERATION_TIMEDOUT, 0));
    g_assert_true(ctk_fetch_retryable(CURLE_PARTIAL_FILE, 200));
    g_assert_true(ctk_fetch_retryable(CURLE_GOT_NOTHING, 0));
    g_assert_true(ctk_fetch_retryable(CURLE_RECV_ERROR, 0));
    g_assert_false(ctk_fetch_retryable(CURLE_COULDNT_RESOLVE_HOST, 0));
    g_assert_false(ctk_fetch_retryable(CURLE_TOO_MANY_REDIRECTS, 302));
    g_assert_false(ctk_fetch_retryable(CURLE_WRITE_ERROR, 200));
    g_assert_false(ctk_fetch_retryable(CURLE_UNSUPPORTED_PROTOCOL, 0));
}

static void test_backoff(void)
{
    /* Doubling from the base, jitter between half and all of it. */
    for (unsigned a = 1; a <= 5; a++) {
        double full = 0.5 * (1 << (a - 1));
        g_assert_cmpfloat_with_epsilon(ctk_fetch_backoff(a, 0.5, 100, 0.0), full / 2, 1e-9);
        g_assert_cmpfloat(ctk_fetch_backoff(a, 0.5, 100, 0.999999), <, full);
        g_assert_cmpfloat(ctk_fetch_backoff(a, 0.5, 100, 0.999999), >, full * 0.99);
    }
    /* The cap holds however many attempts. */
    g_assert_cmpfloat(ctk_fetch_backoff(40, 0.5, 10, 0.999), <=, 10);
    g_assert_cmpfloat(ctk_fetch_backoff(1000, 0.5, 10, 0.999), <=, 10);
    g_assert_cmpfloat(ctk_fetch_backoff(1000, 0.5, 10, 0), >=, 5);
    g_assert_cmpfloat(ctk_fetch_backoff(1, 0, 10, 0.5), ==, 0);
}

static void test_retry_after(void)
{
    double now = 1700000000; /* Tue, 14 Nov 2023 22:13:20 GMT */
    g_assert_cmpfloat(ctk_fetch_retry_after("120", now), ==, 120);
    g_assert_cmpfloat(ctk_fetch_retry_after(" 7\r\n", now), ==, 7);
    g_assert_cmpfloat(ctk_fetch_retry_after("0", now), ==, 0);
    g_assert_cmpfloat(ctk_fetch_retry_after("Tue, 14 Nov 2023 22:14:20 GMT", now), ==, 60);
    g_assert_cmpfloat(ctk_fetch_retry_after("Tue, 14 Nov 2023 22:00:00 GMT\r\n", now), ==, 0);
    g_assert_cmpfloat(ctk_fetch_retry_after("soon", now), ==, -1);
    g_assert_cmpfloat(ctk_fetch_retry_after("", now), ==, -1);
    g_assert_cmpfloat(ctk_fetch_retry_after("-5", now), ==, -1);
    g_assert_cmpfloat(ctk_fetch_retry_after("1.5", now), ==, -1);
    g_assert_cmpfloat(ctk_fetch_retry_after("99999999999999999999", now), >, 1e6);
}

static void test_encoding(void)
{
    ctk_buf in = {0};
    const char *url, *path;
    g_assert_cmpint(ctk_fetch_encode(&in, "http://h/x", "d/x"), ==, 0);
    g_assert_cmpint(ctk_fetch_decode(&in, &url, &path), ==, 0);
    g_assert_cmpstr(url, ==, "http://h/x");
    g_assert_cmpstr(path, ==, "d/x");
    ctk_buf bad = {(unsigned char *)"\0abc", 4, 4};
    g_assert_cmpint(ctk_fetch_decode(&bad, &url, &path), ==, CTK_EINVAL);
    ctk_fetch_result r;
    ctk_buf empty = {0};
    g_assert_cmpint(ctk_fetch_result_decode(&empty, &r), ==, CTK_EINVAL);
    ctk_buf_free(&in);
}

/* A port nothing listens on: bound, never listened to. */
static int closed_port(int *fd)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    g_assert_cmpint(bind(*fd, (struct sockaddr *)&a, sizeof a), ==, 0);
    g_assert_cmpint(getsockname(*fd, (struct sockaddr *)&a, &len), ==, 0);
    return ntohs(a.sin_port);
}

static void assert_refused(const ctk_unit *unit, unsigned attempts)
{
    ctk_fetch_result r;
    g_assert_cmpint(unit->status, ==, CTK_EWORK);
    g_assert_nonnull(unit->error);
    g_assert_cmpint(ctk_fetch_result_decode(&unit->out, &r), ==, 0);
    g_assert_cmpuint(r.attempts, ==, attempts);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_cmpstr(r.error, ==, unit->error);
}

static void test_blocking_refused(void)
{
    int fd, port = closed_port(&fd);
    ctk_fetch_opts o = {.retries = 2, .retry_delay = 0.01, .retry_max = 1, .max_redirs = -1};
    ctk_fetch *f;
    g_assert_cmpint(ctk_fetch_new(&f, &o), ==, 0);
    char *url = g_strdup_printf("http://127.0.0.1:%d/x", port);
    ctk_unit unit = {.seq = 1};
    ctk_fetch_encode(&unit.in, url, NULL);
    ctk_work w = ctk_fetch_work(f);
    w.run(w.ctx, &unit, NULL);
    assert_refused(&unit, 3);
    ctk_buf_free(&unit.in);
    ctk_buf_free(&unit.out);
    g_free(unit.error);
    g_free(url);
    ctk_fetch_free(f);
    close(fd);
}

static void on_done(ctk_unit *unit, void *arg)
{
    (*(int *)arg)++;
    (void)unit;
}

static void test_async_refused_leaves_loop_clean(void)
{
    int fd, port = closed_port(&fd);
    ctk_fetch_opts o = {.retries = 1, .retry_delay = 0.01, .retry_max = 1, .max_redirs = -1};
    ctk_fetch *f;
    g_assert_cmpint(ctk_fetch_new(&f, &o), ==, 0);
    int cancel = 0;
    ctk_fetch_set_cancel_flag(f, &cancel);
    char *url = g_strdup_printf("http://127.0.0.1:%d/x", port);
    ctk_unit units[3] = {{.seq = 1}, {.seq = 2}, {.seq = 3}};
    ctk_work w = ctk_fetch_work(f);
    uv_loop_t loop;
    uv_loop_init(&loop);
    int done = 0;
    /* Two rounds on one loop: the multi handle survives going idle. */
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 3; i++) {
            ctk_fetch_encode(&units[i].in, url, NULL);
            g_assert_cmpint(w.start(w.ctx, &loop, &units[i], on_done, &done), ==, 0);
        }
        uv_run(&loop, UV_RUN_DEFAULT);
        g_assert_cmpint(done, ==, 3 * (round + 1));
        for (int i = 0; i < 3; i++) {
            assert_refused(&units[i], 2);
            g_free(units[i].error);
            units[i].error = NULL;
            units[i].status = 0;
        }
    }
    /* Every handle the engine opened is closed: the loop closes. */
    g_assert_cmpint(uv_loop_close(&loop), ==, 0);
    for (int i = 0; i < 3; i++) {
        ctk_buf_free(&units[i].in);
        ctk_buf_free(&units[i].out);
    }
    g_free(url);
    ctk_fetch_free(f);
    close(fd);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/fetch/retryable", test_retryable);
    g_test_add_func("/fetch/backoff", test_backoff);
    g_test_add_func("/fetch/retry-after", test_retry_after);
    g_test_add_func("/fetch/encoding", test_encoding);
    g_test_add_func("/fetch/blocking-refused", test_blocking_refused);
    g_test_add_func("/fetch/async-refused-leaves-loop-clean", test_async_refused_leaves_loop_clean);
    return g_test_run();
}
