/*
 * burnrun.c: cburn's two kinds of run wired onto the pipeline: a fixed or
 * timed set of tasks (summed into a tally), and map mode (one record per
 * input line).
 */
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "burn.h"
#include "ctkx/lines.h"
#include "ctkx/parse.h"
#include "ctk/pipeline.h"

/* Lines longer than this cannot be a task size: an error record each. */
#define MAP_MAX_LINE 4096

typedef struct run_ctx {
    ctk_burn *burn;
    const ctk_burn_plan *plan;
    ctk_burn_tally *tally;
    struct timespec deadline;
    ctk_pipeline *pipeline;
    /* map mode */
    ctk_lines *lines;
    ctk_output *out;
    int input_failed; /* a read error ends the input after its record */
} run_ctx;

static int past(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > deadline->tv_sec ||
           (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

static int produce_task(void *arg, ctk_unit *unit)
{
    run_ctx *rc = arg;
    if (rc->plan->duration > 0 ? past(&rc->deadline) : unit->seq > rc->plan->tasks)
        return CTK_EOF;
    return ctk_burn_encode_task(&unit->in, unit->seq - 1, rc->plan->size);
}

static void tally_unit(run_ctx *rc, const ctk_unit *unit, uint64_t *value)
{
    uint64_t iterations;
    if (ctk_burn_decode_result(unit, value, &iterations) == 0) {
        /* A timed run's tasks that began after time was up did nothing. */
        if (rc->plan->duration > 0 && iterations == 0)
            return;
        rc->tally->checksum += *value;
        rc->tally->iterations += iterations;
        rc->tally->done++;
        return;
    }
    rc->tally->failed++;
    /* A unit stopped by a signal is no news: the signal is. */
    if (rc->plan->on_error != NULL && unit->status != CTK_ECANCELED &&
        !ctk_is_cancelled(ctk_pipeline_cancel_flag(rc->pipeline)))
        rc->plan->on_error(rc->plan->on_error_arg, unit->seq,
                           unit->error ? unit->error : ctk_strerror(unit->status));
}

static void consume_task(void *arg, const ctk_unit *unit)
{
    run_ctx *rc = arg;
    uint64_t value;
    tally_unit(rc, unit, &value);
    ctk_progress_update(rc->plan->progress, rc->tally->done + rc->tally->failed);
}

static void cancel_on_signal(void *arg, int signo)
{
    ctk_pipeline_cancel(arg, signo);
}

static int run_pipeline(run_ctx *rc, const ctk_strategy *s, ctk_work work, ctk_produce_fn produce,
                        ctk_consume_fn consume)
{
    ctk_pipeline_opts po = {
        .work = work,
        .jobs = rc->plan->jobs,
        .keep_order = rc->plan->keep_order,
        .produce = produce,
        .produce_arg = rc,
        .consume = consume,
        .consume_arg = rc,
    };
    int err = ctk_pipeline_new(&rc->pipeline, &po);
    if (err < 0)
        return err;
    if (rc->lines != NULL)
        ctk_lines_set_cancel_fd(rc->lines, ctk_pipeline_cancel_fd(rc->pipeline));
    if (rc->plan->signals != NULL) {
        ctk_sigwatch_retarget(rc->plan->signals, cancel_on_signal, rc->pipeline);
        /* A signal that came before the pipeline existed still counts. */
        int early = ctk_sigwatch_received(rc->plan->signals);
        if (early != 0)
            ctk_pipeline_cancel(rc->pipeline, early);
    }
    err = ctk_pipeline_run(rc->pipeline, s);
    if (rc->plan->signals != NULL)
        ctk_sigwatch_retarget(rc->plan->signals, NULL, NULL);
    ctk_pipeline_free(rc->pipeline);
    rc->pipeline = NULL;
    return err;
}

int ctk_burn_run(ctk_burn *b, const ctk_strategy *s, const ctk_burn_plan *plan,
                 ctk_burn_tally *tally)
{
    run_ctx rc = {.burn = b, .plan = plan, .tally = tally};
    *tally = (ctk_burn_tally){0};
    ctk_burn_reset(b);
    ctk_burn_set_deadline(b, plan->duration);
    clock_gettime(CLOCK_MONOTONIC, &rc.deadline);
    double whole = (double)(time_t)plan->duration;
    rc.deadline.tv_sec += (time_t)whole;
    rc.deadline.tv_nsec += (long)((plan->duration - whole) * 1e9);
    if (rc.deadline.tv_nsec >= 1000000000L) {
        rc.deadline.tv_sec++;
        rc.deadline.tv_nsec -= 1000000000L;
    }
    int err = run_pipeline(&rc, s, ctk_burn_work(b), produce_task, consume_task);
    tally->shared = ctk_burn_shared_total(b);
    tally->shared_count = ctk_burn_shared_count(b);
    tally->gil_switches = ctk_burn_gil_switches(b);
    return err;
}

/* ---- map mode -------------------------------------------------------------- */

static const ctk_field map_fields[] = {
    {"seq", CTK_FIELD_NUMBER},        {"input", CTK_FIELD_STRING},   {"result", CTK_FIELD_NUMBER},
    {"iterations", CTK_FIELD_NUMBER}, {"elapsed", CTK_FIELD_NUMBER}, {"error", CTK_FIELD_STRING},
};

const ctk_field *ctk_burn_map_fields(size_t *n)
{
    *n = sizeof map_fields / sizeof map_fields[0];
    return map_fields;
}

/* A map unit carries the task after a copy of the input line, so the
 * record can show what was asked: in = task(16 bytes) + line. */
static int produce_line(void *arg, ctk_unit *unit)
{
    run_ctx *rc = arg;
    const char *line;
    size_t len;
    if (rc->input_failed)
        return CTK_EOF;
    int err = ctk_lines_next(rc->lines, &line, &len, ctk_pipeline_cancel_flag(rc->pipeline));
    if (err == CTK_EOF || err == CTK_ECANCELED)
        return CTK_EOF;
    if (err == CTK_ERANGE)
        return ctk_unit_fail(unit, CTK_ERANGE, "line of %zu bytes is not a task size", len);
    if (err < 0) {
        rc->input_failed = 1;
        return ctk_unit_fail(unit, err, "cannot read input: %s", ctk_strerror(err));
    }
    uint64_t size = 0;
    char why[128];
    int bad = strlen(line) != len ||
              ctk_parse_size(line, CTK_SIZE_BINARY, 0, UINT64_MAX, &size, why, sizeof why) < 0;
    /* The task, then the line riding along for the record. */
    err = ctk_burn_encode_task(&unit->in, 0, bad ? 0 : size);
    if (err == 0)
        err = ctk_buf_append(&unit->in, line, len);
    if (err < 0)
        return err;
    if (bad)
        return ctk_unit_fail(unit, CTK_EINVAL, "not a task size: %s",
                             strlen(line) != len ? "contains a NUL byte" : why);
    return 0;
}

/* The worker sees only the 16-byte task; the line rides along. */
static int map_run(void *ctx, ctk_unit *unit, const int *cancel)
{
    ctk_burn *b = ctx;
    ctk_work inner = ctk_burn_work(b);
    ctk_buf whole = unit->in;
    unit->in.len = 16;
    int err = inner.run(inner.ctx, unit, cancel);
    unit->in = whole;
    return err;
}

static void consume_line(void *arg, const ctk_unit *unit)
{
    run_ctx *rc = arg;
    char seq[24], result[24] = "", iterations[24] = "", elapsed[24] = "";
    uint64_t value = 0, its = 0;
    tally_unit(rc, unit, &value);
    snprintf(seq, sizeof seq, "%llu", (unsigned long long)unit->seq);
    int ok = ctk_burn_decode_result(unit, &value, &its) == 0;
    if (ok) {
        snprintf(result, sizeof result, "%llu", (unsigned long long)value);
        snprintf(iterations, sizeof iterations, "%llu", (unsigned long long)its);
        snprintf(elapsed, sizeof elapsed, "%.6f", unit->elapsed);
    }
    char *input =
        unit->in.len > 16 ? g_strndup((const char *)unit->in.data + 16, unit->in.len - 16) : NULL;
    const char *values[] = {seq,
                            input ? input : "",
                            ok ? result : NULL,
                            ok ? iterations : NULL,
                            ok ? elapsed : NULL,
                            ok ? NULL : (unit->error ? unit->error : "failed")};
    ctk_output_row(rc->out, values);
    g_free(input);
    ctk_progress_update(rc->plan->progress, rc->tally->done + rc->tally->failed);
}

int ctk_burn_map(ctk_burn *b, const ctk_strategy *s, const ctk_burn_plan *plan, int fd,
                 ctk_output *out, ctk_burn_tally *tally)
{
    run_ctx rc = {.burn = b, .plan = plan, .tally = tally, .out = out};
    *tally = (ctk_burn_tally){0};
    int err = ctk_lines_open(&rc.lines, fd, '\n', MAP_MAX_LINE);
    if (err < 0)
        return err;
    ctk_work work = {.run = map_run, .ctx = b};
    err = run_pipeline(&rc, s, work, produce_line, consume_line);
    ctk_lines_close(rc.lines);
    return err;
}
