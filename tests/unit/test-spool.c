/*
 * test-spool.c: the run's spool of big outputs (ctkx/spool.h): what a
 * forked process puts is read back whole by its maker, the file has no
 * name in its folder, released ranges free their space, and offsets
 * start again from 0 once nothing is in use.
 */
#include <dirent.h>
#include <errno.h>
#include <glib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctkx/spool.h"

/* A stream of n bytes (pattern seeded by seed), most of it spilled. */
static void fill(ctk_spawn_stream *st, const char *dir, size_t n, unsigned seed)
{
    ctk_spawn_stream_init(st, 1000, dir);
    char buf[4096];
    for (size_t done = 0; done < n;) {
        size_t k = n - done < sizeof buf ? n - done : sizeof buf;
        for (size_t i = 0; i < k; i++)
            buf[i] = (char)((done + i) * 31 + seed);
        g_assert_cmpint(ctk_spawn_stream_append(st, buf, k), ==, 0);
        done += k;
    }
    g_assert_cmpint(st->spill_fd, >=, 0);
}

static int collect(void *arg, const void *data, size_t len)
{
    g_byte_array_append(arg, data, (guint)len);
    return 0;
}

static void assert_range(ctk_spool *s, uint64_t off, size_t n, unsigned seed)
{
    GByteArray *got = g_byte_array_new();
    g_assert_cmpint(ctk_spool_foreach(s, off, n, collect, got), ==, 0);
    g_assert_cmpuint(got->len, ==, n);
    for (size_t i = 0; i < n; i++)
        if (got->data[i] != (guint8)((i * 31 + seed) & 0xff))
            g_error("byte %zu differs", i);
    g_byte_array_unref(got);
}

static int entries(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    g_assert_nonnull(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void test_put_in_child(void)
{
    char *dir = g_dir_make_tmp("spool-XXXXXX", NULL);
    ctk_spool *s = ctk_spool_new(dir);
    g_assert_nonnull(s);
    g_assert_cmpint(entries(dir), ==, 0);
    /* The maker of the spool reaches itself unless units run elsewhere. */
    g_assert_true(ctk_spool_reaches(s, 0));
    g_assert_false(ctk_spool_reaches(s, 1));
    int p[2];
    g_assert_cmpint(pipe(p), ==, 0);
    pid_t pid = fork();
    if (pid == 0) {
        /* A forked worker reaches it even when units run elsewhere. */
        ctk_spawn_stream st;
        fill(&st, dir, 300000, 7);
        uint64_t off[2] = {0, 0};
        int ok = ctk_spool_reaches(s, 1) && ctk_spool_put(s, &st, &off[0]) == 0;
        ctk_spawn_stream_free(&st);
        fill(&st, dir, 5000, 9);
        ok = ok && ctk_spool_put(s, &st, &off[1]) == 0;
        ctk_spawn_stream_free(&st);
        _exit(ok && write(p[1], off, sizeof off) == sizeof off ? 0 : 1);
    }
    close(p[1]);
    uint64_t off[2];
    g_assert_cmpint(read(p[0], off, sizeof off), ==, sizeof off);
    close(p[0]);
    int status;
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    g_assert_cmpuint(off[0], ==, 0);
    g_assert_cmpuint(off[1] % 4096, ==, 0); /* ranges start on a page */
    g_assert_cmpuint(off[1], >=, 300000);
    assert_range(s, off[0], 300000, 7);
    assert_range(s, off[1], 5000, 9);
    g_assert_cmpint(entries(dir), ==, 0);
    struct stat before, after;
    g_assert_cmpint(fstat(ctk_spool_fd(s), &before), ==, 0);
    ctk_spool_release(s, off[0], 300000);
    g_assert_cmpint(fstat(ctk_spool_fd(s), &after), ==, 0);
    g_assert_cmpint(after.st_blocks, <, before.st_blocks);
    /* One range still in use: the next goes after the others. */
    ctk_spawn_stream st;
    fill(&st, dir, 2000, 3);
    uint64_t next;
    g_assert_cmpint(ctk_spool_put(s, &st, &next), ==, 0);
    g_assert_cmpuint(next, >, off[1]);
    ctk_spool_release(s, off[1], 5000);
    ctk_spool_release(s, next, 2000);
    /* None in use: from 0 again. */
    g_assert_cmpint(ctk_spool_put(s, &st, &next), ==, 0);
    g_assert_cmpuint(next, ==, 0);
    assert_range(s, next, 2000, 3);
    ctk_spawn_stream_free(&st);
    ctk_spool_free(s);
    g_assert_cmpint(entries(dir), ==, 0);
    rmdir(dir);
    g_free(dir);
}

static void test_no_folder(void)
{
    /* A spool that cannot be made fails the put, not the run. */
    ctk_spool *s = ctk_spool_new("/nonexistent-spool-folder");
    g_assert_nonnull(s);
    ctk_spawn_stream st;
    char *dir = g_dir_make_tmp("spool-XXXXXX", NULL);
    fill(&st, dir, 3000, 1);
    uint64_t off;
    g_assert_cmpint(ctk_spool_put(s, &st, &off), ==, -ENOENT);
    ctk_spawn_stream_free(&st);
    ctk_spool_free(s);
    rmdir(dir);
    g_free(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/spool/put-in-child", test_put_in_child);
    g_test_add_func("/spool/no-folder", test_no_folder);
    return g_test_run();
}
