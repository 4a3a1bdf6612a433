/* test-pipe.c: cpipe's engine under each strategy (output in order, the
 * digest, counts, a failing block stopping the run) and the pieces of
 * spawn it added: a file range spliced into a child's stdin after a
 * header. */
#include <fcntl.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipe.h"
#include "ctk/registry.h"

static const char *const cat_argv[] = {"cat", NULL};

static int temp_file_with(const char *text, size_t len)
{
    char path[] = "/tmp/ctk-test-pipe.XXXXXX";
    int fd = mkstemp(path);
    g_assert_cmpint(fd, >=, 0);
    unlink(path);
    g_assert_cmpint(write(fd, text, len), ==, (ssize_t)len);
    lseek(fd, 0, SEEK_SET);
    return fd;
}

static void test_spawn_range(void)
{
    int fd = temp_file_with("0123456789", 10);
    ctk_spawn_opts so = {.argv = cat_argv,
                         .in = CTK_SPAWN_IN_RANGE,
                         .input = "hdr:",
                         .input_len = 4,
                         .range_fd = fd,
                         .range_offset = 3,
                         .range_len = 4,
                         .pipe_size = 1 << 20};
    ctk_spawn_result r;
    g_assert_cmpint(ctk_spawn_run(&so, &r), ==, 0);
    g_assert_cmpint(r.exit, ==, 0);
    g_assert_cmpuint(r.out.bytes, ==, 8);
    g_assert_cmpmem(r.out.mem.data, r.out.mem.len, "hdr:3456", 8);
    g_assert_cmpuint(r.in_bytes, ==, 8);
    ctk_spawn_result_free(&r);
    /* A range past the end of the file: the child gets what there is. */
    so.range_offset = 8;
    so.range_len = 100;
    g_assert_cmpint(ctk_spawn_run(&so, &r), ==, 0);
    g_assert_cmpmem(r.out.mem.data, r.out.mem.len, "hdr:89", 6);
    ctk_spawn_result_free(&r);
    close(fd);
}

/* ---- the engine ------------------------------------------------------------ */

typedef struct engine_case {
    const char *strategy;
    int seekable;
} engine_case;

static char *run_engine(const char *strategy, int in_fd, const char *filter, unsigned jobs,
                        ctk_pipe_stats *st)
{
    char *words[] = {(char *)filter};
    ctk_cmdline *cmd;
    char err[256];
    g_assert_cmpint(ctk_cmdline_parse(&cmd, words, 1, NULL, CTK_CMDLINE_NO_APPEND, err, sizeof err),
                    ==, 0);
    ctk_blocks *rules;
    ctk_blocks_opts bo = {0};
    g_assert_cmpint(ctk_blocks_new(&rules, &bo, err, sizeof err), ==, 0);
    int out = temp_file_with("", 0);
    ctk_pipe_opts po = {.cmd = cmd,
                        .rules = rules,
                        .in_fd = in_fd,
                        .block = 1000,
                        .jobs = jobs,
                        .out_fd = out,
                        .checksum = 1};
    ctk_pipe *p;
    g_assert_cmpint(ctk_pipe_new(&p, &po, err, sizeof err), ==, 0);
    ctk_registry *reg;
    ctk_registry_new(&reg);
    ctk_pipeline *pl;
    ctk_pipeline_opts plo = {ctk_pipe_work(p), jobs, 1, jobs + 2, ctk_pipe_produce, p,
                             ctk_pipe_consume, p};
    g_assert_cmpint(ctk_pipeline_new(&pl, &plo), ==, 0);
    ctk_pipe_set_cancel_flag(p, ctk_pipeline_cancel_flag(pl));
    g_assert_cmpint(ctk_pipeline_run(pl, ctk_registry_strategy(reg, strategy)), ==, 0);
    ctk_pipe_stats_get(p, st);
    ctk_pipeline_free(pl);
    ctk_pipe_free(p);
    ctk_registry_free(reg);
    ctk_blocks_free(rules);
    ctk_cmdline_free(cmd);
    struct stat sb;
    fstat(out, &sb);
    char *text = g_malloc0((size_t)sb.st_size + 1);
    g_assert_cmpint(pread(out, text, (size_t)sb.st_size, 0), ==, sb.st_size);
    close(out);
    return text;
}

static int input_fd(const char *text, int seekable)
{
    if (seekable)
        return temp_file_with(text, strlen(text));
    int fds[2];
    g_assert_cmpint(pipe(fds), ==, 0);
    if (fork() == 0) {
        close(fds[0]);
        ssize_t n = write(fds[1], text, strlen(text));
        _exit(n == (ssize_t)strlen(text) ? 0 : 1);
    }
    close(fds[1]);
    return fds[0];
}

static void test_engine(gconstpointer data)
{
    const engine_case *ec = data;
    GString *in = g_string_new(NULL);
    for (int i = 0; i < 3000; i++)
        g_string_append_printf(in, "line %d\n", i);
    int fd = input_fd(in->str, ec->seekable);
    ctk_pipe_stats st;
    char *out = run_engine(ec->strategy, fd, "cat", 3, &st);
    g_assert_cmpstr(out, ==, in->str);
    g_assert_cmpuint(st.in_bytes, ==, in->len);
    g_assert_cmpuint(st.out_bytes, ==, in->len);
    g_assert_cmpuint(st.failed, ==, 0);
    g_assert_cmpint(st.status, ==, 0);
    g_assert_cmpuint(st.blocks, >=, in->len / 1000);
    g_assert_cmpuint(st.blocks, <=, in->len / 1000 + 2);
    char *md5 = g_compute_checksum_for_string(G_CHECKSUM_MD5, in->str, -1);
    g_assert_cmpstr(st.digest, ==, md5);
    g_free(md5);
    g_free(out);
    close(fd);
    g_string_free(in, TRUE);
}

static void test_engine_failure_stops(void)
{
    GString *in = g_string_new(NULL);
    for (int i = 0; i < 3000; i++)
        g_string_append_printf(in, "line %d\n", i);
    int fd = input_fd(in->str, 1);
    ctk_pipe_stats st;
    char *out = run_engine("sync", fd, "if [ $CPIPE_BLOCK = 2 ]; then exit 5; fi; cat", 1, &st);
    g_assert_cmpint(st.status, ==, 5);
    g_assert_cmpuint(st.failed, ==, 1);
    g_assert_cmpuint(st.blocks, ==, 2); /* block 3 never started under sync */
    g_assert_true(g_str_has_prefix(in->str, out));
    g_assert_cmpuint(strlen(out), >, 900);
    g_assert_cmpuint(strlen(out), <=, 1000);
    g_free(out);
    close(fd);
    g_string_free(in, TRUE);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pipe/spawn-range", test_spawn_range);
    static const engine_case cases[] = {
        {"sync", 0}, {"thread", 0}, {"process", 0}, {"async", 0},
        {"sync", 1}, {"thread", 1}, {"process", 1}, {"async", 1},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        char *name = g_strdup_printf("/pipe/engine/%s/%s", cases[i].strategy,
                                     cases[i].seekable ? "file" : "pipe");
        g_test_add_data_func(name, &cases[i], test_engine);
        g_free(name);
    }
    g_test_add_func("/pipe/engine/failure-stops", test_engine_failure_stops);
    return g_test_run();
}
