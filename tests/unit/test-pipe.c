/* test-pipe.c: cpipe's engine under each strategy (output in order, the
 * digest, counts, a failing block stopping the run, a cancel reaching a
 * reader that waits on a silent pipe), its unit and result on the wire
 * (round trips, a fixed byte order, truncated and malformed bytes
 * refused), and the pieces of spawn it added: a file range spliced into
 * a child's stdin after a header. */
#include <fcntl.h>
#include <glib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctk/registry.h"
#include "pipe.h"
#include "unit.h"

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

static char *run_engine_halt(const char *strategy, int in_fd, const char *filter, unsigned jobs,
                             const ctk_halt *halt, ctk_pipe_stats *st)
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
    if (halt != NULL)
        po.halt = *halt;
    ctk_pipe *p;
    g_assert_cmpint(ctk_pipe_new(&p, &po, err, sizeof err), ==, 0);
    ctk_registry *reg;
    g_assert_cmpint(ctk_registry_new(&reg), ==, 0);
    ctk_pipeline *pl;
    ctk_pipeline_opts plo = {ctk_pipe_work(p), jobs, 1, jobs + 2, ctk_pipe_produce, p,
                             ctk_pipe_consume, p};
    g_assert_cmpint(ctk_pipeline_new(&pl, &plo), ==, 0);
    ctk_pipe_set_cancel(p, ctk_pipeline_cancel_flag(pl), ctk_pipeline_cancel_fd(pl));
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

static char *run_engine(const char *strategy, int in_fd, const char *filter, unsigned jobs,
                        ctk_pipe_stats *st)
{
    return run_engine_halt(strategy, in_fd, filter, jobs, NULL, st);
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

/* By default every block runs, as parallel --pipe: the failure is
 * counted, the other blocks are written. */
static void test_engine_failure_goes_on(void)
{
    GString *in = g_string_new(NULL);
    for (int i = 0; i < 3000; i++)
        g_string_append_printf(in, "line %d\n", i);
    int fd = input_fd(in->str, 1);
    ctk_pipe_stats st;
    char *out = run_engine("sync", fd, "if [ $CPIPE_BLOCK = 2 ]; then exit 5; fi; cat", 1, &st);
    g_assert_cmpint(st.status, ==, 5);
    g_assert_cmpint(st.halted, ==, 0);
    g_assert_cmpuint(st.failed, ==, 1);
    g_assert_cmpuint(st.blocks, >, 3);
    /* Everything but block 2's thousand-odd bytes, up to the last line. */
    g_assert_true(g_str_has_suffix(out, "line 2999\n"));
    g_assert_cmpuint(strlen(out), <, in->len);
    g_assert_cmpuint(strlen(out), >, in->len - 1100);
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
    ctk_halt halt = {.when = CTK_HALT_NOW, .why = CTK_HALT_FAIL, .count = 1};
    char *out =
        run_engine_halt("sync", fd, "if [ $CPIPE_BLOCK = 2 ]; then exit 5; fi; cat", 1, &halt, &st);
    g_assert_cmpint(st.status, ==, 5);
    g_assert_cmpint(st.halted, ==, 1);
    g_assert_cmpuint(st.failed, ==, 1);
    g_assert_cmpuint(st.blocks, ==, 2); /* block 3 never started under sync */
    g_assert_true(g_str_has_prefix(in->str, out));
    g_assert_cmpuint(strlen(out), >, 900);
    g_assert_cmpuint(strlen(out), <=, 1000);
    g_free(out);
    close(fd);
    g_string_free(in, TRUE);
}

/* ---- cancelling a run that waits for input ------------------------------------ */

typedef struct canceller {
    ctk_pipeline *pipeline;
    gint64 at; /* when it cancelled */
} canceller;

static gpointer cancel_later(gpointer arg)
{
    canceller *c = arg;
    g_usleep(200000);
    c->at = g_get_monotonic_time();
    ctk_pipeline_cancel(c->pipeline, SIGTERM);
    return NULL;
}

/* A writer that never writes and never closes: only the cancel fd can
 * wake the reader, as no timer does. */
static void test_cancel_wakes_reader(gconstpointer data)
{
    const char *strategy = data;
    int fds[2];
    g_assert_cmpint(pipe(fds), ==, 0);
    char *words[] = {"cat"};
    ctk_cmdline *cmd;
    char err[256];
    g_assert_cmpint(ctk_cmdline_parse(&cmd, words, 1, NULL, CTK_CMDLINE_NO_APPEND, err, sizeof err),
                    ==, 0);
    ctk_blocks *rules;
    ctk_blocks_opts bo = {0};
    g_assert_cmpint(ctk_blocks_new(&rules, &bo, err, sizeof err), ==, 0);
    ctk_pipe_opts po = {
        .cmd = cmd, .rules = rules, .in_fd = fds[0], .block = 1000, .jobs = 2, .out_fd = -1};
    ctk_pipe *p;
    g_assert_cmpint(ctk_pipe_new(&p, &po, err, sizeof err), ==, 0);
    ctk_registry *reg;
    g_assert_cmpint(ctk_registry_new(&reg), ==, 0);
    ctk_pipeline *pl;
    ctk_pipeline_opts plo = {ctk_pipe_work(p), 2, 1, 4, ctk_pipe_produce, p, ctk_pipe_consume, p};
    g_assert_cmpint(ctk_pipeline_new(&pl, &plo), ==, 0);
    ctk_pipe_set_cancel(p, ctk_pipeline_cancel_flag(pl), ctk_pipeline_cancel_fd(pl));
    canceller c = {pl, 0};
    GThread *t = g_thread_new("cancel", cancel_later, &c);
    int rc = ctk_pipeline_run(pl, ctk_registry_strategy(reg, strategy));
    gint64 now = g_get_monotonic_time();
    g_thread_join(t);
    g_assert_true(rc == 0 || rc == CTK_ECANCELED);
    g_assert_cmpint(c.at, >, 0);
    g_assert_cmpint(now - c.at, <, G_USEC_PER_SEC); /* at once, not on a timeout */
    ctk_pipeline_free(pl);
    ctk_pipe_free(p);
    ctk_registry_free(reg);
    ctk_blocks_free(rules);
    ctk_cmdline_free(cmd);
    close(fds[0]);
    close(fds[1]);
}

/* ---- the unit and result on the wire ------------------------------------------------ */

/* Every proper prefix of an encoding is refused as malformed, and so is
 * the encoding with a byte too many. */
static void assert_refuses_damage(const ctk_buf *b, int (*decode)(const ctk_buf *b, size_t len))
{
    for (size_t len = 0; len < b->len; len++)
        g_assert_cmpint(decode(b, len), ==, CTK_EIO);
    ctk_buf longer = {0};
    g_assert_cmpint(ctk_buf_set(&longer, b->data, b->len), ==, 0);
    g_assert_cmpint(ctk_buf_append(&longer, "", 1), ==, 0);
    g_assert_cmpint(decode(&longer, longer.len), ==, CTK_EIO);
    ctk_buf_free(&longer);
}

static int decode_unit(const ctk_buf *b, size_t len)
{
    ctk_pipe_unit u;
    return ctk_pipe_unit_decode(&u, b->data, len);
}

static int decode_result(const ctk_buf *b, size_t len)
{
    ctk_pipe_result r;
    int rc = ctk_pipe_result_decode(&r, b->data, len);
    ctk_pipe_result_clear(&r);
    return rc;
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* --round-robin's lane: no block of its own, and nothing else is one. */
static void test_wire_unit_lane(void)
{
    ctk_pipe_unit u = {.kind = CTK_PIPE_UNIT_LANE};
    ctk_buf b = {0};
    g_assert_cmpint(ctk_pipe_unit_encode(&b, &u), ==, 0);
    ctk_pipe_unit back;
    g_assert_cmpint(ctk_pipe_unit_decode(&back, b.data, b.len), ==, 0);
    g_assert_cmpuint(back.kind, ==, CTK_PIPE_UNIT_LANE);
    g_assert_cmpuint(back.len, ==, 0);
    g_assert_cmpuint(back.data_len, ==, 0);
    assert_refuses_damage(&b, decode_unit);
    /* A lane that carries bytes or a length is refused both ways. */
    ctk_pipe_unit with_len = {.kind = CTK_PIPE_UNIT_LANE, .len = 1};
    ctk_buf c = {0};
    g_assert_cmpint(ctk_pipe_unit_encode(&c, &with_len), ==, CTK_EINVAL);
    ctk_pipe_unit bytes = {
        .kind = CTK_PIPE_UNIT_BYTES, .len = 1, .data = (const unsigned char *)"x", .data_len = 1};
    g_assert_cmpint(ctk_pipe_unit_encode(&c, &bytes), ==, 0);
    c.data[0] = CTK_PIPE_UNIT_LANE; /* the kind, little-endian */
    g_assert_cmpint(ctk_pipe_unit_decode(&back, c.data, c.len), ==, CTK_EIO);
    ctk_buf_free(&c);
    ctk_buf_free(&b);
}

static void test_wire_unit_bytes(void)
{
    static const char data[] = "id,name\n1,a\n2,b\n";
    ctk_pipe_unit u = {.kind = CTK_PIPE_UNIT_BYTES,
                       .offset = 123456789012ULL,
                       .len = sizeof data - 1 - 8, /* the header is "id,name\n" */
                       .data = (const unsigned char *)data,
                       .data_len = sizeof data - 1};
    ctk_buf b = {0};
    g_assert_cmpint(ctk_pipe_unit_encode(&b, &u), ==, 0);
    /* Little-endian whatever the host: kind, offset, len, data length. */
    g_assert_cmpuint(b.len, ==, CTK_PIPE_UNIT_HEAD + u.data_len);
    g_assert_cmpuint(le64(b.data), ==, CTK_PIPE_UNIT_BYTES);
    g_assert_cmpuint(le64(b.data + 8), ==, u.offset);
    g_assert_cmpuint(le64(b.data + 16), ==, u.len);
    g_assert_cmpuint(le64(b.data + 24), ==, u.data_len);
    ctk_pipe_unit back;
    g_assert_cmpint(ctk_pipe_unit_decode(&back, b.data, b.len), ==, 0);
    g_assert_cmpuint(back.kind, ==, u.kind);
    g_assert_cmpuint(back.offset, ==, u.offset);
    g_assert_cmpuint(back.len, ==, u.len);
    g_assert_cmpmem(back.data, back.data_len, data, sizeof data - 1);
    g_assert_true(back.data == b.data + CTK_PIPE_UNIT_HEAD); /* no copy */
    /* The reader's form (head first, the bytes after it) is the same unit. */
    ctk_buf head = {0};
    g_assert_cmpint(ctk_pipe_unit_encode_head(&head, u.offset, u.len, u.data_len), ==, 0);
    g_assert_cmpuint(head.len, ==, CTK_PIPE_UNIT_HEAD);
    g_assert_cmpint(ctk_buf_append(&head, data, sizeof data - 1), ==, 0);
    g_assert_cmpmem(head.data, head.len, b.data, b.len);
    assert_refuses_damage(&b, decode_unit);
    /* A block longer than the bytes it says it has is refused both ways. */
    ctk_pipe_unit bad = u;
    bad.len = u.data_len + 1;
    ctk_buf c = {0};
    g_assert_cmpint(ctk_pipe_unit_encode(&c, &bad), ==, CTK_EINVAL);
    head.len = 0;
    g_assert_cmpint(ctk_pipe_unit_encode_head(&head, 0, 5, 4), ==, 0);
    g_assert_cmpint(ctk_buf_append(&head, "abcd", 4), ==, 0);
    g_assert_cmpint(decode_unit(&head, head.len), ==, CTK_EIO);
    /* An unknown kind. */
    head.data[0] = 9;
    g_assert_cmpint(decode_unit(&head, head.len), ==, CTK_EIO);
    ctk_buf_free(&c);
    ctk_buf_free(&head);
    ctk_buf_free(&b);
}

static void test_wire_unit_window(void)
{
    ctk_pipe_unit u = {.kind = CTK_PIPE_UNIT_WINDOW,
                       .offset = 4194304,
                       .len = 1048576,
                       .dev = 0x10302,
                       .ino = 0xfedcba9876543210ULL,
                       .at = 4194304 + 12,
                       .data = (const unsigned char *)"a header\n\0x",
                       .data_len = 12};
    ctk_buf b = {0};
    g_assert_cmpint(ctk_pipe_unit_encode(&b, &u), ==, 0);
    ctk_pipe_unit back;
    g_assert_cmpint(ctk_pipe_unit_decode(&back, b.data, b.len), ==, 0);
    g_assert_cmpuint(back.kind, ==, u.kind);
    g_assert_cmpuint(back.offset, ==, u.offset);
    g_assert_cmpuint(back.len, ==, u.len);
    g_assert_cmpuint(back.dev, ==, u.dev);
    g_assert_cmpuint(back.ino, ==, u.ino);
    g_assert_cmpuint(back.at, ==, u.at);
    g_assert_cmpmem(back.data, back.data_len, u.data, u.data_len);
    assert_refuses_damage(&b, decode_unit);
    /* No header at all is a header of no bytes. */
    u.data = NULL;
    u.data_len = 0;
    b.len = 0;
    g_assert_cmpint(ctk_pipe_unit_encode(&b, &u), ==, 0);
    g_assert_cmpint(ctk_pipe_unit_decode(&back, b.data, b.len), ==, 0);
    g_assert_cmpuint(back.data_len, ==, 0);
    assert_refuses_damage(&b, decode_unit);
    ctk_buf_free(&b);
}

static void assert_same_result(const ctk_pipe_result *a, const ctk_pipe_result *b)
{
    g_assert_cmpint(a->exit, ==, b->exit);
    g_assert_cmpint(a->signal, ==, b->signal);
    g_assert_cmpint(a->exec_errno, ==, b->exec_errno);
    g_assert_cmpint(a->input_errno, ==, b->input_errno);
    g_assert_cmpuint(a->offset, ==, b->offset);
    g_assert_cmpuint(a->len, ==, b->len);
    g_assert_cmpuint(a->out_bytes, ==, b->out_bytes);
    g_assert_cmpuint(a->kind, ==, b->kind);
    g_assert_cmpuint(a->run, ==, b->run);
    g_assert_cmpuint(a->ticket, ==, b->ticket);
    g_assert_cmpuint(a->spool_id, ==, b->spool_id);
    g_assert_cmpuint(a->spool_off, ==, b->spool_off);
    g_assert_cmpuint(a->spool_len, ==, b->spool_len);
    g_assert_cmpmem(a->mem, a->mem_len, b->mem, b->mem_len);
}

static void test_wire_result(void)
{
    static const char out[] = "3\n";
    ctk_pipe_result cases[] = {
        /* Kept in the consuming process: a ticket. */
        {.exit = 0,
         .offset = 77,
         .len = 1000,
         .out_bytes = 1 << 30,
         .kind = CTK_PIPE_OUT_HERE,
         .run = 0x0123456789abcdefULL,
         .ticket = 42},
        /* From a worker: the bytes. */
        {.exit = 3,
         .offset = 1,
         .len = 2,
         .out_bytes = 2,
         .kind = CTK_PIPE_OUT_BYTES,
         .mem = (const unsigned char *)out,
         .mem_len = 2},
        /* Killed, with the output past memory in the run's spool. */
        {.signal = 9,
         .input_errno = 5,
         .out_bytes = 10 << 20,
         .kind = CTK_PIPE_OUT_BYTES,
         .spool_id = 1234,
         .spool_off = (uint64_t)5 << 32,
         .spool_len = 10 << 20},
        /* Never started; no output at all. */
        {.exit = 127, .exec_errno = 2, .kind = CTK_PIPE_OUT_BYTES},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        ctk_buf b = {0};
        g_assert_cmpint(ctk_pipe_result_encode(&b, &cases[i]), ==, 0);
        ctk_pipe_result back;
        g_assert_cmpint(ctk_pipe_result_decode(&back, b.data, b.len), ==, 0);
        assert_same_result(&cases[i], &back);
        ctk_pipe_result_clear(&back);
        /* The worker's form (head, then the bytes from wherever) is the same. */
        ctk_buf head = {0};
        g_assert_cmpint(ctk_pipe_result_encode_head(&head, &cases[i], cases[i].mem_len), ==, 0);
        if (cases[i].kind == CTK_PIPE_OUT_BYTES)
            g_assert_cmpint(ctk_buf_append(&head, cases[i].mem, cases[i].mem_len), ==, 0);
        g_assert_cmpmem(head.data, head.len, b.data, b.len);
        assert_refuses_damage(&b, decode_result);
        ctk_buf_free(&head);
        ctk_buf_free(&b);
    }
}

static void test_wire_result_malformed(void)
{
    const ctk_pipe_result good = {.exit = 1,
                                  .out_bytes = 2,
                                  .kind = CTK_PIPE_OUT_BYTES,
                                  .mem = (const unsigned char *)"ab",
                                  .mem_len = 2};
    ctk_pipe_result bad[] = {good, good, good, good, good, good, good};
    bad[0].exit = 256;
    bad[1].exit = -1;
    bad[2].signal = 1000;
    bad[3].exec_errno = -5;
    bad[4].out_bytes = 3; /* not spooled, yet fewer bytes than the output */
    bad[5].spool_len = 2; /* spooled, and bytes in memory too */
    bad[6].mem_len = 0;
    bad[6].spool_len = 1; /* spooled, yet fewer bytes than the output */
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        ctk_buf b = {0};
        g_assert_cmpint(ctk_pipe_result_encode(&b, &bad[i]), ==, 0);
        g_assert_cmpint(decode_result(&b, b.len), ==, CTK_EIO);
        ctk_buf_free(&b);
    }
    ctk_pipe_result unknown = good;
    unknown.kind = 7;
    ctk_buf b = {0};
    g_assert_cmpint(ctk_pipe_result_encode(&b, &unknown), ==, CTK_EINVAL);
    ctk_buf_free(&b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pipe/wire/unit-bytes", test_wire_unit_bytes);
    g_test_add_func("/pipe/wire/unit-window", test_wire_unit_window);
    g_test_add_func("/pipe/wire/unit-lane", test_wire_unit_lane);
    g_test_add_func("/pipe/wire/result", test_wire_result);
    g_test_add_func("/pipe/wire/result-malformed", test_wire_result_malformed);
    static const char *const cancel_strategies[] = {"sync", "thread", "process", "async"};
    for (size_t i = 0; i < G_N_ELEMENTS(cancel_strategies); i++) {
        char *name = g_strdup_printf("/pipe/cancel-wakes-reader/%s", cancel_strategies[i]);
        g_test_add_data_func(name, cancel_strategies[i], test_cancel_wakes_reader);
        g_free(name);
    }
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
    g_test_add_func("/pipe/engine/failure-goes-on", test_engine_failure_goes_on);
    g_test_add_func("/pipe/engine/failure-stops", test_engine_failure_stops);
    return g_test_run();
}
