/*
 * test-progress.c: the rendered line for known and unknown totals, the
 * terminal check, NULL-safety, the ten-per-second redraw limit under
 * concurrent updates, and what finish and free leave on the stream.
 */
#include <fcntl.h>
#include <glib.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctkx/progress.h"

/* A forced progress writing into memory. */
typedef struct capture {
    char *buf;
    size_t len;
    FILE *f;
    ctk_progress *p;
} capture;

static void capture_open(capture *c, uint64_t total, const char *unit)
{
    c->buf = NULL;
    c->len = 0;
    c->f = open_memstream(&c->buf, &c->len);
    g_assert_nonnull(c->f);
    c->p = NULL;
    g_assert_cmpint(ctk_progress_new(&c->p, c->f, 1, total, unit), ==, 0);
    g_assert_nonnull(c->p);
}

/* What has been written so far (valid until the next write). */
static const char *capture_text(capture *c)
{
    fflush(c->f);
    return c->buf;
}

static void capture_close(capture *c)
{
    ctk_progress_free(c->p);
    fclose(c->f);
    free(c->buf);
}

static size_t count_char(const char *s, char ch)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += *s == ch;
    return n;
}

static void assert_render(ctk_progress *p, uint64_t done, double elapsed, const char *want)
{
    char line[256];
    memset(line, 'z', sizeof line);
    ctk_progress_render(p, done, elapsed, line, sizeof line);
    g_assert_cmpstr(line, ==, want);
}

static void test_render_known(void)
{
    capture c;
    capture_open(&c, 1000, "tasks");
    assert_render(c.p, 450, 450 / 123.4, "[#####-----]  45%  450/1000 tasks  123.4/s  ETA 0:04");
    assert_render(c.p, 0, 0, "[----------]   0%  0/1000 tasks  0.0/s  ETA -:--");
    assert_render(c.p, 0, 5, "[----------]   0%  0/1000 tasks  0.0/s  ETA -:--");
    assert_render(c.p, 100, 1, "[#---------]  10%  100/1000 tasks  100.0/s  ETA 0:09");
    assert_render(c.p, 1000, 8, "[##########] 100%  1000/1000 tasks  125.0/s  ETA 0:00");
    /* Nearly done is not done: the bar and percentage stop short. */
    assert_render(c.p, 999, 9.99, "[#########-]  99%  999/1000 tasks  100.0/s  ETA 0:00");
    /* Past the total (a total that was an estimate): full, never beyond. */
    assert_render(c.p, 1200, 12, "[##########] 100%  1200/1000 tasks  100.0/s  ETA 0:00");
    /* Nothing written: rendering is pure. */
    g_assert_cmpstr(capture_text(&c), ==, "");
    capture_close(&c);
}

static void test_render_long_eta(void)
{
    capture c;
    capture_open(&c, 1000000, "tasks");
    /* 999999 s left at 1/s. */
    assert_render(c.p, 1, 1, "[----------]   0%  1/1000000 tasks  1.0/s  ETA 277:46:39");
    capture_close(&c);
}

static void test_render_unknown(void)
{
    capture c;
    capture_open(&c, 0, "lines");
    assert_render(c.p, 450, 450 / 123.4, "450 lines  123.4/s  0:03 elapsed");
    assert_render(c.p, 0, 0, "0 lines  0.0/s  0:00 elapsed");
    assert_render(c.p, 7450, 3725, "7450 lines  2.0/s  1:02:05 elapsed");
    capture_close(&c);
}

static void test_render_no_unit(void)
{
    capture c;
    capture_open(&c, 10, NULL);
    assert_render(c.p, 5, 2, "[#####-----]  50%  5/10  2.5/s  ETA 0:02");
    capture_close(&c);
    capture_open(&c, 0, "");
    assert_render(c.p, 5, 2, "5  2.5/s  0:02 elapsed");
    capture_close(&c);
}

static void test_render_huge(void)
{
    capture c;
    capture_open(&c, UINT64_MAX, "B");
    char line[256];
    ctk_progress_render(c.p, UINT64_MAX / 2, 1, line, sizeof line);
    g_assert_true(g_str_has_prefix(line, "[#####-----]  "));
    g_assert_nonnull(strstr(line, "9223372036854775807/18446744073709551615 B  "));
    ctk_progress_render(c.p, UINT64_MAX - 1, 1, line, sizeof line);
    g_assert_true(g_str_has_prefix(line, "[#########-]  99%  "));
    capture_close(&c);
    /* A total where (total - 1) * 100 / total rounds up to 100 in long
     * double: one short of the total must still not read 100%. */
    capture_open(&c, UINT64_C(18446744073709519939), "B");
    ctk_progress_render(c.p, UINT64_C(18446744073709519938), 1, line, sizeof line);
    g_assert_true(g_str_has_prefix(line, "[#########-]  99%  "));
    capture_close(&c);
}

static void test_render_truncated(void)
{
    capture c;
    capture_open(&c, 1000, "tasks");
    char line[8];
    ctk_progress_render(c.p, 450, 1, line, sizeof line);
    g_assert_cmpstr(line, ==, "[#####-");
    capture_close(&c);
}

static void test_null_safe(void)
{
    ctk_progress_update(NULL, 5);
    ctk_progress_finish(NULL);
    ctk_progress_free(NULL);
    char line[16] = "junk";
    ctk_progress_render(NULL, 1, 1, line, sizeof line);
    g_assert_cmpstr(line, ==, "");
    ctk_progress_render(NULL, 1, 1, NULL, 0);
    g_assert_cmpint(ctk_progress_new(NULL, stderr, 1, 0, "x"), ==, CTK_EINVAL);
    ctk_progress *p = (ctk_progress *)&p; /* must be reset to NULL */
    g_assert_cmpint(ctk_progress_new(&p, NULL, 1, 0, "x"), ==, CTK_EINVAL);
    g_assert_null(p);
}

static void test_not_a_terminal(void)
{
    FILE *f = tmpfile();
    g_assert_nonnull(f);
    ctk_progress *p = (ctk_progress *)&p;
    g_assert_cmpint(ctk_progress_new(&p, f, 0, 100, "tasks"), ==, 0);
    g_assert_null(p);
    /* The disabled (NULL) progress is safe to drive as usual. */
    ctk_progress_update(p, 1);
    ctk_progress_finish(p);
    ctk_progress_free(p);
    g_assert_cmpint(ftell(f), ==, 0);
    fclose(f);

    /* A memory stream has no descriptor at all. */
    char *buf = NULL;
    size_t len = 0;
    f = open_memstream(&buf, &len);
    p = (ctk_progress *)&p;
    g_assert_cmpint(ctk_progress_new(&p, f, 0, 100, "tasks"), ==, 0);
    g_assert_null(p);
    fclose(f);
    free(buf);
}

static void test_terminal(void)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
        if (master >= 0)
            close(master);
        g_test_skip("no pseudo-terminals");
        return;
    }
    FILE *f = fopen(ptsname(master), "w");
    g_assert_nonnull(f);
    /* A terminal alone is no request for a bar (none unless asked, in
     * every tool, as parallel and xargs); asked for, it shows there. */
    ctk_progress *p = (ctk_progress *)&p;
    g_assert_cmpint(ctk_progress_new(&p, f, 0, 100, "tasks"), ==, 0);
    g_assert_null(p);
    g_assert_cmpint(ctk_progress_new(&p, f, 1, 100, "tasks"), ==, 0);
    g_assert_nonnull(p);
    ctk_progress_free(p);
    fclose(f);
    close(master);
}

/* A bar on a stream that is not standard output's terminal: a record
 * cannot land on it, so clear draws nothing. */
static void test_clear_other_stream(void)
{
    capture c;
    capture_open(&c, 100, "tasks");
    ctk_progress_update(c.p, 10);
    size_t before = strlen(capture_text(&c));
    ctk_progress_clear(c.p);
    g_assert_cmpuint(strlen(capture_text(&c)), ==, before);
    ctk_progress_clear(NULL);
    capture_close(&c);
}

static void test_update_rate_limited(void)
{
    capture c;
    capture_open(&c, 100, "tasks");
    ctk_progress_update(c.p, 10);
    /* The first update draws at once: \r, the line, clear to end. */
    const char *out = capture_text(&c);
    g_assert_true(g_str_has_prefix(out, "\r[#---------]  10%  10/100 tasks  "));
    g_assert_true(g_str_has_suffix(out, "\033[K"));
    g_assert_cmpuint(count_char(out, '\r'), ==, 1);
    /* Within 100 ms: no redraw, but the count is kept. */
    ctk_progress_update(c.p, 20);
    g_assert_cmpuint(count_char(capture_text(&c), '\r'), ==, 1);
    g_usleep(120000);
    ctk_progress_update(c.p, 30);
    out = capture_text(&c);
    g_assert_cmpuint(count_char(out, '\r'), ==, 2);
    g_assert_true(g_str_has_prefix(strrchr(out, '\r'), "\r[###-------]  30%  30/100 tasks  "));
    capture_close(&c);
}

static void test_finish(void)
{
    capture c;
    capture_open(&c, 100, "tasks");
    ctk_progress_update(c.p, 50);
    ctk_progress_update(c.p, 40); /* late report from a slower worker */
    ctk_progress_finish(c.p);
    const char *out = capture_text(&c);
    /* Finish draws even inside the rate limit, and ends the line. */
    g_assert_cmpuint(count_char(out, '\r'), >=, 2);
    g_assert_true(g_str_has_prefix(strrchr(out, '\r'), "\r[#####-----]  50%  50/100 tasks  "));
    g_assert_true(g_str_has_suffix(out, "\033[K\n"));
    size_t len = strlen(out);
    /* After finish, updates and a second finish write nothing. */
    g_usleep(120000);
    ctk_progress_update(c.p, 100);
    ctk_progress_finish(c.p);
    g_assert_cmpuint(strlen(capture_text(&c)), ==, len);
    capture_close(&c);
}

static void test_free_unfinished(void)
{
    capture c;
    capture_open(&c, 100, "tasks");
    ctk_progress_update(c.p, 1);
    size_t len = strlen(capture_text(&c));
    ctk_progress_free(c.p);
    c.p = NULL;
    /* An abandoned bar is wiped so the next message starts clean. */
    g_assert_cmpstr(capture_text(&c) + len, ==, "\r\033[K");
    capture_close(&c);

    /* Never drawn: nothing to wipe. */
    capture_open(&c, 100, "tasks");
    ctk_progress_free(c.p);
    c.p = NULL;
    g_assert_cmpstr(capture_text(&c), ==, "");
    capture_close(&c);
}

#define THREADS    4
#define PER_THREAD 20000
typedef struct shared {
    ctk_progress *p;
    atomic_uint_fast64_t done;
} shared;

static void *worker(void *arg)
{
    shared *s = arg;
    for (int i = 0; i < PER_THREAD; i++)
        ctk_progress_update(s->p, atomic_fetch_add(&s->done, 1) + 1);
    return NULL;
}

static void test_threads(void)
{
    capture c;
    capture_open(&c, THREADS * PER_THREAD, "tasks");
    shared s = {.p = c.p};
    atomic_init(&s.done, 0);
    pthread_t t[THREADS];
    gint64 start = g_get_monotonic_time();
    for (int i = 0; i < THREADS; i++)
        g_assert_cmpint(pthread_create(&t[i], NULL, worker, &s), ==, 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    double secs = (double)(g_get_monotonic_time() - start) / 1e6;
    ctk_progress_finish(c.p);
    const char *out = capture_text(&c);
    /* At most one draw per 100 ms, plus the first and the final one. */
    g_assert_cmpuint(count_char(out, '\r'), <=, (size_t)(secs / 0.1) + 2);
    g_assert_true(g_str_has_prefix(strrchr(out, '\r'), "\r[##########] 100%  80000/80000 tasks  "));
    g_assert_true(g_str_has_suffix(out, "\n"));
    capture_close(&c);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/progress/render/known", test_render_known);
    g_test_add_func("/progress/render/long-eta", test_render_long_eta);
    g_test_add_func("/progress/render/unknown", test_render_unknown);
    g_test_add_func("/progress/render/no-unit", test_render_no_unit);
    g_test_add_func("/progress/clear/other-stream", test_clear_other_stream);
    g_test_add_func("/progress/render/huge", test_render_huge);
    g_test_add_func("/progress/render/truncated", test_render_truncated);
    g_test_add_func("/progress/null-safe", test_null_safe);
    g_test_add_func("/progress/not-a-terminal", test_not_a_terminal);
    g_test_add_func("/progress/terminal", test_terminal);
    g_test_add_func("/progress/update-rate-limited", test_update_rate_limited);
    g_test_add_func("/progress/finish", test_finish);
    g_test_add_func("/progress/free-unfinished", test_free_unfinished);
    g_test_add_func("/progress/threads", test_threads);
    return g_test_run();
}
