/*
 * fetch.c: the fetch engine's life cycle and its work table: the shared
 * transfer options, the blocking engine (made at once, its handles per
 * thread) and the async one (made on the first `start`, when the loop is
 * known).
 */
#include <curl/curl.h>
#include <glib.h>

#include "fetch-async.h"
#include "fetch-block.h"
#include "fetch.h"

struct ctk_fetch {
    ctk__xfer_conf conf;
    ctk__block *block;
    ctk__multi *multi; /* NULL until the first start */
    const int *cancel;
    int cancel_fd;
};

static int fetch_run(void *ctx, ctk_unit *unit, const int *cancel)
{
    ctk_fetch *f = ctx;
    return ctk__block_run(f->block, unit, cancel, f->cancel_fd);
}

static int fetch_start(void *ctx, uv_loop_t *loop, ctk_unit *unit, ctk_done_fn done, void *done_arg)
{
    ctk_fetch *f = ctx;
    if (f->multi == NULL) {
        int rc = ctk__multi_new(&f->multi, &f->conf, f->cancel, f->cancel_fd);
        if (rc < 0)
            return rc;
    }
    return ctk__multi_start(f->multi, loop, unit, done, done_arg);
}

int ctk_fetch_new(ctk_fetch **out, const ctk_fetch_opts *opts)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return CTK_ESYS;
    ctk_fetch *f = g_new0(ctk_fetch, 1);
    f->cancel_fd = -1;
    int rc = ctk__xfer_conf_init(&f->conf, opts);
    if (rc < 0)
        goto fail_conf;
    if ((rc = ctk__block_new(&f->block, &f->conf)) < 0)
        goto fail_block;
    *out = f;
    return 0;

fail_block:
    ctk__xfer_conf_clear(&f->conf);
fail_conf:
    g_free(f);
    curl_global_cleanup();
    return rc;
}

void ctk_fetch_free(ctk_fetch *f)
{
    if (f == NULL)
        return;
    ctk__multi_free(f->multi);
    ctk__block_free(f->block);
    ctk__xfer_conf_clear(&f->conf);
    g_free(f);
    curl_global_cleanup();
}

ctk_work ctk_fetch_work(ctk_fetch *f)
{
    return (ctk_work){.run = fetch_run, .start = fetch_start, .ctx = f};
}

void ctk_fetch_set_cancel(ctk_fetch *f, const int *cancel, int cancel_fd)
{
    f->cancel = cancel;
    f->cancel_fd = cancel_fd;
}
