/*
 * test-fetch.c: the retry policy (what is retried, how long to wait,
 * Retry-After in both forms), units and results round-trip through the
 * wire fields and every truncation of them is refused, both engines turn
 * a refused connection into an error result with the right number of
 * attempts (the async one leaving no handle on its loop), and both end a
 * transfer that waits on a silent server as soon as the cancel fd turns
 * readable, with no cancel flag to poll.
 */
#include <curl/curl.h>
#include <glib.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
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

/* Every strict prefix of buf is refused by decode, as malformed. */
static void assert_prefixes_refused(const ctk_buf *buf, int (*decode)(const ctk_buf *, void *),
                                    void *into)
{
    for (size_t len = 0; len < buf->len; len++) {
        ctk_buf cut = {buf->data, len, len};
        g_assert_cmpint(decode(&cut, into), ==, CTK_EIO);
    }
}

static int decode_unit(const ctk_buf *in, void *u)
{
    int rc = ctk_fetch_unit_decode(in, u);
    if (rc == 0)
        ctk_fetch_unit_clear(u);
    return rc;
}

static int decode_result(const ctk_buf *out, void *r)
{
    int rc = ctk_fetch_result_decode(out, r);
    if (rc == 0)
        ctk_fetch_result_clear(r);
    return rc;
}

static void test_unit_round_trip(void)
{
    ctk_buf in = {0};
    ctk_fetch_unit u;
    g_assert_cmpint(ctk_fetch_encode(&in, "http://h/x", "d/x"), ==, 0);
    g_assert_cmpint(ctk_fetch_unit_decode(&in, &u), ==, 0);
    g_assert_cmpint(u.kind, ==, CTK_FETCH_UNIT_FETCH);
    g_assert_cmpstr(u.url, ==, "http://h/x");
    g_assert_cmpstr(u.path, ==, "d/x");
    g_assert_null(u.answer);
    ctk_fetch_unit_clear(&u);
    assert_prefixes_refused(&in, decode_unit, &u);
    /* No path is "", and bytes after the unit make it malformed. */
    g_assert_cmpint(ctk_fetch_encode(&in, "http://h/", NULL), ==, 0);
    g_assert_cmpint(ctk_fetch_unit_decode(&in, &u), ==, 0);
    g_assert_cmpstr(u.path, ==, "");
    ctk_fetch_unit_clear(&u);
    g_assert_cmpint(ctk_buf_append(&in, "", 1), ==, 0);
    g_assert_cmpint(ctk_fetch_unit_decode(&in, &u), ==, CTK_EIO);
    /* A kind that is neither. */
    in.len = 0;
    g_assert_cmpint(ctk_wire_put_u64(&in, 7), ==, 0);
    g_assert_cmpint(ctk_wire_put_str(&in, "http://h/"), ==, 0);
    g_assert_cmpint(ctk_wire_put_str(&in, ""), ==, 0);
    g_assert_cmpint(ctk_fetch_unit_decode(&in, &u), ==, CTK_EIO);
    /* A URL that is NULL on the wire. */
    in.len = 0;
    g_assert_cmpint(ctk_wire_put_u64(&in, CTK_FETCH_UNIT_FETCH), ==, 0);
    g_assert_cmpint(ctk_wire_put_str(&in, NULL), ==, 0);
    g_assert_cmpint(ctk_wire_put_str(&in, ""), ==, 0);
    g_assert_cmpint(ctk_fetch_unit_decode(&in, &u), ==, CTK_EIO);
    ctk_buf_free(&in);
}

static void test_result_round_trip(void)
{
    static const unsigned char body[] = {'a', 0, 'b', 0xff, '\n'};
    ctk_fetch_result r = {.status = 503,
                          .attempts = 4,
                          .bytes = (uint64_t)1 << 40,
                          .elapsed = 1.25,
                          .ttfb = 0.003,
                          .path = "out/x.html",
                          .error = "HTTP 503",
                          .body = body,
                          .body_len = sizeof body};
    ctk_buf out = {0};
    ctk_fetch_result back;
    g_assert_cmpint(ctk_fetch_result_encode(&out, &r), ==, 0);
    g_assert_cmpint(ctk_fetch_result_decode(&out, &back), ==, 0);
    g_assert_cmpint(back.status, ==, 503);
    g_assert_cmpuint(back.attempts, ==, 4);
    g_assert_cmpuint(back.bytes, ==, (uint64_t)1 << 40);
    g_assert_cmpfloat(back.elapsed, ==, 1.25);
    g_assert_cmpfloat(back.ttfb, ==, 0.003);
    g_assert_cmpstr(back.path, ==, "out/x.html");
    g_assert_cmpstr(back.error, ==, "HTTP 503");
    g_assert_cmpmem(back.body, back.body_len, body, sizeof body);
    ctk_fetch_result_clear(&back);
    assert_prefixes_refused(&out, decode_result, &back);
    g_assert_cmpint(ctk_buf_append(&out, "x", 1), ==, 0);
    g_assert_cmpint(ctk_fetch_result_decode(&out, &back), ==, CTK_EIO);
    /* The fixed width is little-endian whatever the host: status first. */
    g_assert_cmpint(ctk_fetch_result_encode(&out, &r), ==, 0);
    g_assert_cmpuint(out.data[0], ==, 503 & 0xff);
    g_assert_cmpuint(out.data[1], ==, 503 >> 8);
    ctk_buf empty = {0};
    g_assert_cmpint(ctk_fetch_result_decode(&empty, &back), ==, CTK_EIO);
    ctk_buf_free(&out);
}

/* A journal's answer travels inside the unit and comes back as it was. */
static void test_skip_round_trip(void)
{
    ctk_fetch_result prior = {.status = 200, .bytes = 42, .path = "d/x"};
    ctk_buf in = {0};
    ctk_fetch_unit u;
    g_assert_cmpint(ctk_fetch_encode_skip(&in, "http://h/x", &prior), ==, 0);
    g_assert_cmpint(ctk_fetch_unit_decode(&in, &u), ==, 0);
    g_assert_cmpint(u.kind, ==, CTK_FETCH_UNIT_SKIP);
    g_assert_cmpstr(u.url, ==, "http://h/x");
    g_assert_cmpstr(u.path, ==, "d/x");
    ctk_buf answer = {(unsigned char *)u.answer, u.answer_len, u.answer_len};
    ctk_fetch_result back;
    g_assert_cmpint(ctk_fetch_result_decode(&answer, &back), ==, 0);
    g_assert_cmpint(back.status, ==, 200);
    g_assert_cmpuint(back.attempts, ==, 0);
    g_assert_cmpuint(back.bytes, ==, 42);
    g_assert_cmpstr(back.path, ==, "d/x");
    g_assert_cmpstr(back.error, ==, "");
    ctk_fetch_result_clear(&back);
    ctk_fetch_unit_clear(&u);
    assert_prefixes_refused(&in, decode_unit, &u);

    /* Through the engine: no network, the answer is the result. */
    ctk_fetch_opts o = {.max_redirs = -1};
    ctk_fetch *f;
    g_assert_cmpint(ctk_fetch_new(&f, &o), ==, 0);
    ctk_unit unit = {.seq = 1};
    g_assert_cmpint(ctk_buf_set(&unit.in, in.data, in.len), ==, 0);
    ctk_work w = ctk_fetch_work(f);
    g_assert_cmpint(w.run(w.ctx, &unit, NULL), ==, 0);
    g_assert_cmpint(ctk_fetch_result_decode(&unit.out, &back), ==, 0);
    g_assert_cmpint(back.status, ==, 200);
    g_assert_cmpuint(back.attempts, ==, 0);
    ctk_fetch_result_clear(&back);
    /* A malformed unit is the unit's error, not a crash. */
    unit.in.len = 3;
    g_assert_cmpint(w.run(w.ctx, &unit, NULL), ==, CTK_EINVAL);
    g_assert_cmpstr(unit.error, ==, "malformed unit");
    ctk_buf_free(&unit.in);
    ctk_buf_free(&unit.out);
    g_free(unit.error);
    ctk_fetch_free(f);
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
    ctk_fetch_result_clear(&r);
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
    ctk_fetch_set_cancel(f, &cancel, -1);
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

/* A server that takes connections and never answers: a transfer to it
 * waits until something ends it. */
static int silent_server(int *fd)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    g_assert_cmpint(bind(*fd, (struct sockaddr *)&a, sizeof a), ==, 0);
    g_assert_cmpint(listen(*fd, 16), ==, 0);
    g_assert_cmpint(getsockname(*fd, (struct sockaddr *)&a, &len), ==, 0);
    return ntohs(a.sin_port);
}

static void *cancel_later(void *arg)
{
    g_usleep(200 * 1000);
    uint64_t one = 1;
    g_assert_cmpint(write(*(int *)arg, &one, sizeof one), ==, sizeof one);
    return NULL;
}

static void assert_cancelled(const ctk_unit *unit, double since)
{
    g_assert_cmpint(unit->status, ==, CTK_ECANCELED);
    g_assert_cmpstr(unit->error, ==, "cancelled");
    /* At once: the transfer alone would wait for the 30 s timeout. */
    g_assert_cmpfloat(g_get_monotonic_time() / 1e6 - since, <, 5);
}

static void test_blocking_cancel_fd(void)
{
    int sfd, port = silent_server(&sfd);
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    ctk_fetch_opts o = {.timeout = 30, .max_redirs = -1};
    ctk_fetch *f;
    g_assert_cmpint(ctk_fetch_new(&f, &o), ==, 0);
    ctk_fetch_set_cancel(f, NULL, efd);
    char *url = g_strdup_printf("http://127.0.0.1:%d/x", port);
    ctk_unit unit = {.seq = 1};
    g_assert_cmpint(ctk_fetch_encode(&unit.in, url, NULL), ==, 0);
    ctk_work w = ctk_fetch_work(f);
    pthread_t t;
    double t0 = g_get_monotonic_time() / 1e6;
    g_assert_cmpint(pthread_create(&t, NULL, cancel_later, &efd), ==, 0);
    w.run(w.ctx, &unit, NULL);
    pthread_join(t, NULL);
    assert_cancelled(&unit, t0);
    ctk_buf_free(&unit.in);
    ctk_buf_free(&unit.out);
    g_free(unit.error);
    g_free(url);
    ctk_fetch_free(f);
    close(efd);
    close(sfd);
}

static void test_async_cancel_fd(void)
{
    int sfd, port = silent_server(&sfd);
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    ctk_fetch_opts o = {.timeout = 30, .max_redirs = -1};
    ctk_fetch *f;
    g_assert_cmpint(ctk_fetch_new(&f, &o), ==, 0);
    ctk_fetch_set_cancel(f, NULL, efd);
    char *url = g_strdup_printf("http://127.0.0.1:%d/x", port);
    ctk_unit units[2] = {{.seq = 1}, {.seq = 2}};
    ctk_work w = ctk_fetch_work(f);
    uv_loop_t loop;
    uv_loop_init(&loop);
    int done = 0;
    for (int i = 0; i < 2; i++) {
        g_assert_cmpint(ctk_fetch_encode(&units[i].in, url, NULL), ==, 0);
        g_assert_cmpint(w.start(w.ctx, &loop, &units[i], on_done, &done), ==, 0);
    }
    pthread_t t;
    double t0 = g_get_monotonic_time() / 1e6;
    g_assert_cmpint(pthread_create(&t, NULL, cancel_later, &efd), ==, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    pthread_join(t, NULL);
    g_assert_cmpint(done, ==, 2);
    for (int i = 0; i < 2; i++) {
        assert_cancelled(&units[i], t0);
        ctk_buf_free(&units[i].in);
        ctk_buf_free(&units[i].out);
        g_free(units[i].error);
    }
    g_assert_cmpint(uv_loop_close(&loop), ==, 0);
    g_free(url);
    ctk_fetch_free(f);
    close(efd);
    close(sfd);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/fetch/retryable", test_retryable);
    g_test_add_func("/fetch/backoff", test_backoff);
    g_test_add_func("/fetch/retry-after", test_retry_after);
    g_test_add_func("/fetch/unit-round-trip", test_unit_round_trip);
    g_test_add_func("/fetch/result-round-trip", test_result_round_trip);
    g_test_add_func("/fetch/skip-round-trip", test_skip_round_trip);
    g_test_add_func("/fetch/blocking-refused", test_blocking_refused);
    g_test_add_func("/fetch/async-refused-leaves-loop-clean", test_async_refused_leaves_loop_clean);
    g_test_add_func("/fetch/blocking-cancel-fd", test_blocking_cancel_fd);
    g_test_add_func("/fetch/async-cancel-fd", test_async_cancel_fd);
    return g_test_run();
}
