/*
 * ctk: one front door to the five commands, as git is to its own: `ctk
 * TOOL ARGS` runs the tool, `ctk list` and `ctk doctor` say what is there
 * and what works. It implements no tool's work itself.
 */
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "front.h"
#include "ctkx/cli.h"

#define PROG "ctk"

static void help(FILE *out)
{
    fputs("Usage: ctk TOOL [ARG]...\n"
          "   or: ctk list\n"
          "   or: ctk doctor\n"
          "One front door to the ctk commands: run a tool, list what is installed, check\n"
          "what works.\n"
          "\n"
          "Tools (run as 'ctk TOOL ARG...', found next to ctk first, then on PATH):\n"
          "  cburn     CPU-bound work under each strategy, measured\n"
          "  cpar      run a command per input item, N at a time\n"
          "  cfetch    fetch many URLs concurrently\n"
          "  cpipe     split a stream into blocks, filter them in parallel, in order\n"
          "  cqueue    a durable job queue for the shell\n"
          "\n"
          "Commands:\n"
          "  list      the tools, and the strategies, workloads and stores found, with\n"
          "            the plugin file each came from\n"
          "  doctor    what is installed, which plugins load (and why not), which optional\n"
          "            engines are usable, and the limits that bound -j\n"
          "\n"
          "Options:\n"
          "  -h, --help                  show this help and exit\n"
          "  -V, --version               show the version and exit\n"
          "\n"
          "See ctk(1), and ctk(7) for the concepts.\n",
          out);
}

static int usage_error(const char *fmt, const char *arg)
{
    fputs(PROG ": ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nTry 'ctk --help' for more information.\n", stderr);
    return 2;
}

/* Replaces ctk with the tool, so that signals, exit status and the
 * terminal are the tool's own. Statuses as a shell's: 127 when it is not
 * found, 126 when it would not run. */
static int run_tool(int argc, char **argv)
{
    char *path = ctk_front_find_tool(argv[0]);
    if (path == NULL) {
        fprintf(stderr, PROG ": %s: not found next to ctk nor on PATH ('ctk doctor')\n", argv[0]);
        return 127;
    }
    char **args = g_new0(char *, (size_t)argc + 1);
    args[0] = path;
    for (int i = 1; i < argc; i++)
        args[i] = argv[i];
    execv(path, args);
    int err = errno;
    fprintf(stderr, PROG ": cannot run %s: %s\n", path, g_strerror(err));
    g_free(args);
    g_free(path);
    return err == ENOENT ? 127 : 126;
}

int main(int argc, char **argv)
{
    ctk_cli_guard_stdio();
    if (argc < 2)
        return usage_error("%s", "no command given");
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
        help(stdout);
        return 0;
    }
    if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
        ctk_cli version = {.prog = PROG};
        ctk_cli_version(&version, stdout);
        return 0;
    }
    if (ctk_front_is_tool(cmd))
        return run_tool(argc - 1, argv + 1);
    int is_list = strcmp(cmd, "list") == 0, is_doctor = strcmp(cmd, "doctor") == 0;
    if (!is_list && !is_doctor) {
        if (cmd[0] == '-')
            return usage_error("unknown option '%s'", cmd);
        return usage_error("'%s' is not a ctk command or tool", cmd);
    }
    if (argc > 2)
        return usage_error("unexpected argument '%s'", argv[2]);
    int status = is_list ? ctk_front_list(stdout) : ctk_front_doctor(stdout);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, PROG ": write error: %s\n", g_strerror(errno));
        return 1;
    }
    return status;
}
