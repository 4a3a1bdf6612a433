/*
 * cpar: run a command for every input item, N at a time, with GNU
 * parallel's interface. opts.c parses the options and the ::: / ::::
 * sources; cparrun.c wires libctk's sources, command template, spawner
 * and pipeline, runs them and gives GNU parallel's exit status.
 */
#include <stdio.h>

#include "cparrun.h"
#include "ctkx/closeout.h"
#include "ctkx/cli.h"
#include "opts.h"

int main(int argc, char **argv)
{
    cpar_opts o;
    ctk_common c = {0};
    ctk_registry *reg;
    int first;
    ctk_cli_guard_stdio();
    ctk_closeout_init(PROG, 255);
    int rc = ctk_registry_new(&reg);
    if (rc < 0) {
        fprintf(stderr, PROG ": %s\n", ctk_strerror(rc));
        return 255;
    }
    cpar_opts_init(&o, argc, argv);
    int status = cpar_opts_parse(&o, &c, reg, &first);
    if (status < 0)
        status = cpar_run(&o, &c, reg, first);
    cpar_opts_free(&o);
    ctk_common_free(&c);
    ctk_registry_free(reg);
    return status;
}
