/*
 * spawn-loop.c: the floor for cpar's speed: a raw posix_spawn + waitpid
 * loop keeping J children of one command running until N have run.
 * Usage: spawn-loop N J COMMAND [ARG]...
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: spawn-loop N J COMMAND [ARG]...\n");
        return 2;
    }
    long total = strtol(argv[1], NULL, 10), jobs = strtol(argv[2], NULL, 10);
    long started = 0, running = 0, failed = 0;
    while (started < total || running > 0) {
        while (running < jobs && started < total) {
            pid_t pid;
            if (posix_spawnp(&pid, argv[3], NULL, NULL, argv + 3, environ) != 0)
                return 1;
            started++;
            running++;
        }
        int status;
        if (wait(&status) > 0) {
            running--;
            failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
        }
    }
    return failed > 0;
}
