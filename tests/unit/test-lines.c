/* test-lines.c: records, the last one without a delimiter, over-long
 * records skipped with their length, and cancel while waiting. */
#include <glib.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <pthread.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctkx/lines.h"
#include "testutil.h"

static void test_records(void)
{
    int fd = pipe_with("a\nbb\n\nlast", 10);
    ctk_lines *r;
    ctk_lines_open(&r, fd, '\n', 100);
    const char *line;
    size_t len;
    const char *want[] = {"a", "bb", "", "last"};
    for (int i = 0; i < 4; i++) {
        g_assert_cmpint(ctk_lines_next(r, &line, &len, NULL), ==, 0);
        g_assert_cmpstr(line, ==, want[i]);
        g_assert_cmpuint(len, ==, strlen(want[i]));
    }
    g_assert_cmpint(ctk_lines_next(r, &line, &len, NULL), ==, CTK_EOF);
    ctk_lines_close(r);
    close(fd);
}

static void test_long_record_skipped(void)
{
    GString *s = g_string_new("ok\n");
    for (int i = 0; i < 200000; i++)
        g_string_append_c(s, 'x');
    g_string_append(s, "\nafter\n");
    int fds[2];
    g_assert_cmpint(pipe(fds), ==, 0);
    /* Bigger than a pipe buffer: write from a child. */
    if (fork() == 0) {
        close(fds[0]);
        g_assert_cmpint(write(fds[1], s->str, s->len), ==, (ssize_t)s->len);
        _exit(0);
    }
    close(fds[1]);
    ctk_lines *r;
    ctk_lines_open(&r, fds[0], '\n', 1000);
    const char *line;
    size_t len;
    g_assert_cmpint(ctk_lines_next(r, &line, &len, NULL), ==, 0);
    g_assert_cmpstr(line, ==, "ok");
    g_assert_cmpint(ctk_lines_next(r, &line, &len, NULL), ==, CTK_ERANGE);
    g_assert_cmpuint(len, ==, 200000);
    g_assert_null(line);
    g_assert_cmpint(ctk_lines_next(r, &line, &len, NULL), ==, 0);
    g_assert_cmpstr(line, ==, "after");
    g_assert_cmpint(ctk_lines_next(r, &line, &len, NULL), ==, CTK_EOF);
    ctk_lines_close(r);
    close(fds[0]);
    g_string_free(s, TRUE);
    wait(NULL);
}

static int cancel_flag;

static void *raise_flag(void *arg)
{
    (void)arg;
    g_usleep(100000);
    __atomic_store_n(&cancel_flag, 1, __ATOMIC_RELAXED);
    return NULL;
}

static void test_cancel_while_waiting(void)
{
    int fds[2];
    g_assert_cmpint(pipe(fds), ==, 0); /* nobody ever writes */
    ctk_lines *r;
    ctk_lines_open(&r, fds[0], '\n', 100);
    pthread_t t;
    pthread_create(&t, NULL, raise_flag, NULL);
    const char *line;
    size_t len;
    g_assert_cmpint(ctk_lines_next(r, &line, &len, &cancel_flag), ==, CTK_ECANCELED);
    pthread_join(t, NULL);
    ctk_lines_close(r);
    close(fds[0]);
    close(fds[1]);
}

static void *write_fd_later(void *arg)
{
    g_usleep(100000);
    uint64_t one = 1;
    g_assert_cmpint(write(*(int *)arg, &one, sizeof one), ==, sizeof one);
    return NULL;
}

/* Only the run's cancel fd turns readable, no flag: the reader, waiting on
 * a pipe nobody writes, wakes at once. */
static void test_cancel_fd_while_waiting(void)
{
    int fds[2];
    g_assert_cmpint(pipe(fds), ==, 0);
    int cancel_fd = eventfd(0, EFD_CLOEXEC);
    g_assert_cmpint(cancel_fd, >=, 0);
    ctk_lines *r;
    ctk_lines_open(&r, fds[0], '\n', 100);
    ctk_lines_set_cancel_fd(r, cancel_fd);
    pthread_t t;
    pthread_create(&t, NULL, write_fd_later, &cancel_fd);
    const char *line;
    size_t len;
    gint64 t0 = g_get_monotonic_time();
    g_assert_cmpint(ctk_lines_next(r, &line, &len, NULL), ==, CTK_ECANCELED);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 5 * G_USEC_PER_SEC);
    pthread_join(t, NULL);
    ctk_lines_close(r);
    close(cancel_fd);
    close(fds[0]);
    close(fds[1]);
}

/* Writes s from a child (it may be bigger than a pipe buffer); returns the
 * read end. */
static int pipe_from_child(const GString *s)
{
    int fds[2];
    g_assert_cmpint(pipe(fds), ==, 0);
    if (fork() == 0) {
        close(fds[0]);
        g_assert_cmpint(write(fds[1], s->str, s->len), ==, (ssize_t)s->len);
        _exit(0);
    }
    close(fds[1]);
    return fds[0];
}

/* A separator of several bytes, one of them split by the first read (64
 * KiB less the spare byte) and one inside a record skipped as too long. */
static void test_multibyte_separator(void)
{
    GString *s = g_string_new(NULL);
    for (int i = 0; i < 65534; i++)
        g_string_append_c(s, 'x');
    g_string_append(s, "<>y<");
    for (int i = 0; i < 200000; i++)
        g_string_append_c(s, 'z');
    g_string_append(s, "<>after<>last<");
    int fd = pipe_from_child(s);
    ctk_lines *r;
    g_assert_cmpint(ctk_lines_open_sep(&r, fd, "<>", 2, 100000), ==, 0);
    const char *line;
    size_t len;
    g_assert_cmpint(ctk_lines_next(r, &line, &len, NULL), ==, 0);
    g_assert_cmpuint(len, ==, 65534);
    g_assert_cmpint(ctk_lines_next(r, &line, &len, NULL), ==, CTK_ERANGE);
    g_assert_cmpuint(len, ==, 200002);
    g_assert_cmpint(ctk_lines_next(r, &line, &len, NULL), ==, 0);
    g_assert_cmpstr(line, ==, "after");
    g_assert_cmpint(ctk_lines_next(r, &line, &len, NULL), ==, 0);
    g_assert_cmpstr(line, ==, "last<");
    g_assert_cmpint(ctk_lines_next(r, &line, &len, NULL), ==, CTK_EOF);
    ctk_lines_close(r);
    close(fd);
    g_string_free(s, TRUE);
    g_assert_cmpint(ctk_lines_open_sep(&r, 0, "", 0, 10), ==, CTK_EINVAL);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/lines/records", test_records);
    g_test_add_func("/lines/too-long", test_long_record_skipped);
    g_test_add_func("/lines/cancel", test_cancel_while_waiting);
    g_test_add_func("/lines/multibyte-separator", test_multibyte_separator);
    g_test_add_func("/lines/cancel-fd", test_cancel_fd_while_waiting);
    return g_test_run();
}
