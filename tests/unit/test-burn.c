/* test-burn.c: workloads give known answers, every strategy and share
 * mode agrees, and shm is the only mode that may lose additions. */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "burn.h"
#include "workloads.h"

static ctk_registry *reg;

static ctk_burn_tally run(const char *workload, const char *strategy, ctk_share share, int gil,
                          uint64_t tasks, uint64_t size)
{
    ctk_burn_opts o = {ctk_registry_workload(reg, workload), share, gil, 0.001};
    ctk_burn *b;
    g_assert_cmpint(ctk_burn_new(&b, &o), ==, 0);
    ctk_burn_plan plan = {.tasks = tasks, .size = size, .jobs = 2};
    ctk_burn_tally t;
    g_assert_cmpint(ctk_burn_run(b, ctk_registry_strategy(reg, strategy), &plan, &t), ==, 0);
    ctk_burn_free(b);
    return t;
}

static void test_known_answers(void)
{
    /* sum of i*i for i < 20, split over 2 tasks of 10. */
    g_assert_cmpuint(run("sumsq", "sync", CTK_SHARE_NONE, 0, 2, 10).checksum, ==, 2470);
    /* 25 primes below 100; 168 below 1000 (one task of 1000). */
    g_assert_cmpuint(run("primes", "sync", CTK_SHARE_NONE, 0, 1, 100).checksum, ==, 25);
    g_assert_cmpuint(run("primes", "thread", CTK_SHARE_NONE, 0, 1, 1000).checksum, ==, 168);
    /* 2x2 matrices: a = [(i+task)%7], b = [(3i+task)%5]; task 0:
     * a = [0 1; 2 3], b = [0 3; 1 4] -> c = [1 4; 3 18], sum 26. */
    g_assert_cmpuint(run("matmul", "sync", CTK_SHARE_NONE, 0, 1, 2).checksum, ==, 26);
}

static void test_strategies_agree(void)
{
    const char *workloads[] = {"sumsq", "primes", "sha256", "matmul"};
    const char *strategies[] = {"thread", "process", "async"};
    for (size_t w = 0; w < G_N_ELEMENTS(workloads); w++) {
        uint64_t size = strcmp(workloads[w], "matmul") == 0 ? 24 : 5000;
        ctk_burn_tally base = run(workloads[w], "sync", CTK_SHARE_NONE, 0, 6, size);
        g_assert_cmpuint(base.done, ==, 6);
        g_assert_cmpuint(base.iterations, ==, 6 * size);
        for (size_t s = 0; s < G_N_ELEMENTS(strategies); s++) {
            ctk_burn_tally t = run(workloads[w], strategies[s], CTK_SHARE_NONE, 1, 6, size);
            g_assert_cmpuint(t.checksum, ==, base.checksum);
            g_assert_cmpuint(t.failed, ==, 0);
        }
    }
}

static void test_share_modes(void)
{
    const char *strategies[] = {"sync", "thread", "process"};
    for (size_t s = 0; s < G_N_ELEMENTS(strategies); s++) {
        for (int m = CTK_SHARE_LOCK; m <= CTK_SHARE_ATOMIC; m++) {
            ctk_burn_tally t = run("sumsq", strategies[s], (ctk_share)m, 0, 4, 20000);
            /* Locked and atomic additions are all there. */
            g_assert_cmpuint(t.shared, ==, t.checksum);
            g_assert_cmpuint(t.shared_count, ==, 80000);
        }
        ctk_burn_tally shm = run("sumsq", strategies[s], CTK_SHARE_SHM, 0, 4, 20000);
        g_assert_cmpuint(shm.shared_count, <=, 80000);
        if (strcmp(strategies[s], "sync") == 0)
            g_assert_cmpuint(shm.shared_count, ==, 80000);
    }
    ctk_burn_tally none = run("sumsq", "thread", CTK_SHARE_NONE, 0, 4, 1000);
    g_assert_cmpuint(none.shared_count, ==, 0);
}

/* Two locks in one order never deadlock; crossed orders do once two tasks
 * run at once, and the task that finds the deadlock fails instead of
 * hanging. Run alone (sync), crossed orders are harmless. */
static void test_lock_order(void)
{
    const char *strategies[] = {"sync", "thread", "process"};
    for (size_t s = 0; s < G_N_ELEMENTS(strategies); s++) {
        ctk_burn_tally t = run("sumsq", strategies[s], CTK_SHARE_ORDERED, 0, 4, 50000);
        g_assert_cmpuint(t.failed, ==, 0);
        g_assert_cmpuint(t.shared, ==, t.checksum);
        g_assert_cmpuint(t.shared_count, ==, 200000);
    }
    ctk_burn_tally alone = run("sumsq", "sync", CTK_SHARE_CROSSED, 0, 4, 50000);
    g_assert_cmpuint(alone.failed, ==, 0);
    g_assert_cmpuint(alone.shared_count, ==, 200000);
    /* Whether two tasks collide depends on the scheduler, so allow a few
     * tries; on two cores the first one deadlocks within microseconds. */
    uint64_t deadlocked = 0;
    for (int attempt = 0; attempt < 5 && deadlocked == 0; attempt++) {
        ctk_burn_tally t = run("sumsq", "thread", CTK_SHARE_CROSSED, 0, 4, 1000000);
        g_assert_cmpuint(t.done + t.failed, ==, 4);
        deadlocked = t.failed;
    }
    g_assert_cmpuint(deadlocked, >, 0);
}

/* The checks between rows catch what a strategy could get wrong: a
 * checksum that differs, an addition lost under a lock. */
/* A serial strategy's row: the one speedup is measured against. */
static ctk_row *sync_row(ctk_compare *table, const char *variant)
{
    ctk_row *row = ctk_compare_add(table, "sync", variant, 1);
    row->baseline = 1;
    return row;
}

static void test_table_checks(void)
{
    size_t n_extra;
    const ctk_field *extra = ctk_burn_table_fields(&n_extra);
    ctk_compare *table;
    g_assert_cmpint(ctk_compare_new(&table, "tasks", "ops", extra, n_extra), ==, 0);
    ctk_share shares[3] = {CTK_SHARE_LOCK, CTK_SHARE_LOCK, CTK_SHARE_LOCK};
    ctk_burn_tally good = {
        .checksum = 42, .shared = 42, .shared_count = 10, .done = 2, .iterations = 10};
    ctk_burn_fill_row(sync_row(table, "share=lock"), &good, CTK_SHARE_LOCK);
    ctk_burn_fill_row(ctk_compare_add(table, "thread", "share=lock", 2), &good, CTK_SHARE_LOCK);
    char *buf = NULL;
    size_t len = 0;
    FILE *err = open_memstream(&buf, &len);
    g_assert_cmpint(ctk_burn_check_rows(table, shares, 0, "cburn", err), ==, 0);
    ctk_burn_tally lost = good;
    lost.shared_count = 9;
    lost.shared = 40;
    ctk_burn_fill_row(ctk_compare_add(table, "process", "share=lock", 2), &lost, CTK_SHARE_LOCK);
    g_assert_cmpint(ctk_burn_check_rows(table, shares, 0, "cburn", err), ==, 1);
    fclose(err);
    g_assert_cmpstr(buf, ==, "cburn: process lost 1 additions under --share=lock\n");
    free(buf);
    ctk_compare_free(table);

    g_assert_cmpint(ctk_compare_new(&table, "tasks", "ops", extra, n_extra), ==, 0);
    ctk_burn_tally other = good;
    other.checksum = 43;
    ctk_share none[2] = {CTK_SHARE_NONE, CTK_SHARE_NONE};
    ctk_burn_fill_row(sync_row(table, ""), &good, CTK_SHARE_NONE);
    ctk_burn_fill_row(ctk_compare_add(table, "async", "", 2), &other, CTK_SHARE_NONE);
    err = open_memstream(&buf, &len);
    g_assert_cmpint(ctk_burn_check_rows(table, none, 1, "cburn", err), ==, 0); /* timed */
    g_assert_cmpint(ctk_burn_check_rows(table, none, 0, "cburn", err), ==, 1);
    fclose(err);
    g_assert_nonnull(strstr(buf, "checksums differ between strategies (000000000000002b on async"));
    free(buf);
    ctk_compare_free(table);
    char *v = ctk_burn_variant(1, CTK_SHARE_CROSSED);
    g_assert_cmpstr(v, ==, "gil,share=crossed");
    g_free(v);
}

static void test_share_names(void)
{
    ctk_share m;
    g_assert_cmpint(ctk_share_parse("atomic", &m), ==, 0);
    g_assert_cmpint(m, ==, CTK_SHARE_ATOMIC);
    g_assert_cmpint(ctk_share_parse("Atomic", &m), ==, CTK_EINVAL);
    g_assert_cmpstr(ctk_share_name(CTK_SHARE_SHM), ==, "shm");
    g_assert_cmpint(ctk_share_parse("crossed", &m), ==, 0);
    g_assert_cmpint(m, ==, CTK_SHARE_CROSSED);
    g_assert_cmpstr(ctk_share_name(CTK_SHARE_ORDERED), ==, "ordered");
}

static void test_bad_task_is_an_error(void)
{
    ctk_burn_opts o = {ctk_registry_workload(reg, "matmul"), CTK_SHARE_NONE, 0, 0};
    ctk_burn *b;
    ctk_burn_new(&b, &o);
    ctk_work w = ctk_burn_work(b);
    ctk_unit u = {0};
    /* A matrix of 100000 x 100000 is refused, not attempted. */
    ctk_burn_encode_task(&u.in, 0, 100000);
    g_assert_cmpint(w.run(w.ctx, &u, NULL), ==, CTK_ERANGE);
    g_assert_nonnull(u.error);
    free(u.error);
    u.error = NULL;
    u.status = 0;
    ctk_buf_set(&u.in, "short", 5);
    g_assert_cmpint(w.run(w.ctx, &u, NULL), ==, CTK_EINVAL);
    free(u.error);
    ctk_buf_free(&u.in);
    ctk_buf_free(&u.out);
    ctk_burn_free(b);
}

/* A task and a result cross the wire as fixed little-endian fields: the
 * same bytes on every host, every truncation refused. */
static void test_wire_round_trip(void)
{
    ctk_buf in = {0};
    g_assert_cmpint(ctk_burn_encode_task(&in, 0x0102030405060708ull, 42), ==, 0);
    g_assert_cmpuint(in.len, ==, 16);
    g_assert_cmpuint(in.data[0], ==, 0x08); /* little-endian whatever the host */
    uint64_t task, size;
    g_assert_cmpint(ctk_burn_decode_task(&in, &task, &size), ==, 0);
    g_assert_cmpuint(task, ==, 0x0102030405060708ull);
    g_assert_cmpuint(size, ==, 42);
    for (size_t cut = 0; cut < 16; cut++) {
        ctk_buf part = {in.data, cut, cut};
        g_assert_cmpint(ctk_burn_decode_task(&part, &task, &size), ==, CTK_EINVAL);
    }

    ctk_burn_opts o = {ctk_registry_workload(reg, "sumsq"), CTK_SHARE_NONE, 0, 0};
    ctk_burn *b;
    g_assert_cmpint(ctk_burn_new(&b, &o), ==, 0);
    ctk_work w = ctk_burn_work(b);
    ctk_unit u = {.seq = 1};
    ctk_burn_encode_task(&u.in, 0, 10);
    g_assert_cmpint(w.run(w.ctx, &u, NULL), ==, 0);
    uint64_t value, its;
    g_assert_cmpint(ctk_burn_decode_result(&u, &value, &its), ==, 0);
    g_assert_cmpuint(value, ==, 285); /* 0^2 + 1^2 + ... + 9^2 */
    g_assert_cmpuint(its, ==, 10);
    ctk_buf frame = {0};
    g_assert_cmpint(ctk_wire_encode_result(&frame, &u), ==, 0);
    ctk_unit back = {.seq = 1};
    g_assert_cmpint(ctk_wire_decode_result(&frame, &back), ==, 0);
    g_assert_cmpint(ctk_burn_decode_result(&back, &value, &its), ==, 0);
    g_assert_cmpuint(value, ==, 285);
    for (size_t cut = 0; cut < u.out.len; cut++) {
        ctk_unit part = {.seq = 1, .out = {u.out.data, cut, cut}};
        g_assert_cmpint(ctk_burn_decode_result(&part, &value, &its), ==, CTK_EINVAL);
    }
    ctk_buf_free(&frame);
    ctk_buf_free(&back.out);
    ctk_buf_free(&u.in);
    ctk_buf_free(&u.out);
    ctk_buf_free(&in);
    ctk_burn_free(b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    ctk_registry_new(&reg);
    g_assert_cmpint(cburn_register_workloads(reg), ==, 0);
    g_test_add_func("/burn/known-answers", test_known_answers);
    g_test_add_func("/burn/strategies-agree", test_strategies_agree);
    g_test_add_func("/burn/share-modes", test_share_modes);
    g_test_add_func("/burn/lock-order", test_lock_order);
    g_test_add_func("/burn/table-checks", test_table_checks);
    g_test_add_func("/burn/share-names", test_share_names);
    g_test_add_func("/burn/bad-task", test_bad_task_is_an_error);
    g_test_add_func("/burn/wire-round-trip", test_wire_round_trip);
    int rc = g_test_run();
    ctk_registry_free(reg);
    return rc;
}
