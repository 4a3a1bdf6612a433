/*
 * cfetch: fetch many URLs concurrently, one record per URL. Parses options
 * (opts.c) into the fetch engine's and the run's settings, then hands them
 * to fetchcmd (one run, or --compare: the same list under each strategy,
 * each row in its own process).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctkx/closeout.h"
#include "ctkx/cli.h"
#include "ctkx/lines.h"
#include "fetchcmd.h"
#include "opts.h"

#define PROG CFETCH_PROG

static int usage_error(const char *message)
{
    fprintf(stderr, PROG ": %s\nTry '" PROG " --help' for more information.\n", message);
    return 2;
}

static void warn_plugin(void *arg, const ctk_plugin_error *err)
{
    (void)arg;
    fprintf(stderr, PROG ": plugin %s: %s\n", err->file, err->reason);
}

static int open_input(const cfetch_opts *o)
{
    if (o->input == NULL || strcmp(o->input, "-") == 0)
        return STDIN_FILENO;
    return open(o->input, O_RDONLY | O_CLOEXEC);
}

int main(int argc, char **argv)
{
    cfetch_opts o;
    ctk_common c = {0};
    ctk_registry *reg;
    char err[1600];
    int first, status = 0, in_fd = -1;
    ctk_cli_guard_stdio();
    ctk_closeout_init(PROG, 1);
    cfetch_opts_init(&o);
    ctk_registry_new(&reg);
    int rc = cfetch_opts_parse(&o, reg, argc, argv, &c, &first, err, sizeof err);
    if (rc < 0) {
        status = rc == CTK_EINVAL ? usage_error(err) : (fprintf(stderr, PROG ": %s\n", err), 2);
        goto out;
    }
    if (ctk_cli_inform(&cfetch_cli, reg, &c, stdout, warn_plugin, NULL))
        goto out;
    const char *problem = cfetch_opts_check(&o, &c, (size_t)(argc - first));
    if (problem != NULL) {
        status = usage_error(problem);
        goto out;
    }
    cfetch_opts_finish(&o, &c, (size_t)(argc - first));
    if (first == argc && (in_fd = open_input(&o)) < 0) {
        fprintf(stderr, PROG ": cannot open %s: %s\n", o.input, strerror(errno));
        status = CTK_EXIT_NO_INPUT;
        goto out;
    }
    if (first == argc)
        ctk_lines_warn_tty(PROG, in_fd);
    const char *name = c.strategy ? c.strategy : "async";
    ctk_fetchcmd *s = &o.run;
    s->c = &c;
    s->strategy = ctk_registry_strategy(reg, name);
    s->jobs = ctk_cli_strategy_jobs(reg, name,
                                    c.jobs ? c.jobs : ctk_fetchcmd_default_jobs(&c, reg, name));
    s->forks = ctk_cli_strategy_forks(reg, name);
    s->urls = first < argc ? (const char *const *)argv + first : NULL;
    s->n_urls = (size_t)(argc - first);
    s->in_fd = in_fd;
    status = c.compare != NULL ? ctk_fetchcmd_compare(s, reg) : ctk_fetchcmd_run(s);
out:
    if (in_fd > STDIN_FILENO)
        close(in_fd);
    cfetch_opts_free(&o);
    ctk_common_free(&c);
    ctk_registry_free(reg);
    return status;
}
