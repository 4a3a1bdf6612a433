/* test-forkserver.c: workers forked by the server talk over their socket
 * and are reaped with their real exit status. */
#include <glib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "forkserver.h"

/* Echoes one byte back, then exits with the value of that byte. */
static void echo_worker(void *arg, int fd)
{
    (void)arg;
    unsigned char b;
    if (read(fd, &b, 1) == 1 && write(fd, &b, 1) == 1)
        _exit(b);
    _exit(99);
}

static void test_spawn_talk_reap(void)
{
    ctk__forkserver *fs;
    g_assert_cmpint(ctk__forkserver_start(&fs, echo_worker, NULL), ==, 0);
    pid_t pids[3];
    int fds[3];
    for (int i = 0; i < 3; i++)
        g_assert_cmpint(ctk__forkserver_spawn(fs, &pids[i], &fds[i]), ==, 0);
    for (int i = 0; i < 3; i++) {
        unsigned char b = (unsigned char)(10 + i), back = 0;
        g_assert_cmpint(write(fds[i], &b, 1), ==, 1);
        g_assert_cmpint(read(fds[i], &back, 1), ==, 1);
        g_assert_cmpint(back, ==, b);
        int status;
        g_assert_cmpint(ctk__forkserver_reap(fs, pids[i], &status), ==, 0);
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), ==, 10 + i);
        close(fds[i]);
    }
    ctk__forkserver_stop(fs);
}

static void test_killed_worker_status(void)
{
    ctk__forkserver *fs;
    ctk__forkserver_start(&fs, echo_worker, NULL);
    pid_t pid;
    int fd;
    g_assert_cmpint(ctk__forkserver_spawn(fs, &pid, &fd), ==, 0);
    kill(pid, SIGKILL);
    int status;
    g_assert_cmpint(ctk__forkserver_reap(fs, pid, &status), ==, 0);
    g_assert_true(WIFSIGNALED(status));
    g_assert_cmpint(WTERMSIG(status), ==, SIGKILL);
    /* Reaping twice is an error from waitpid, not a hang. */
    g_assert_cmpint(ctk__forkserver_reap(fs, pid, &status), <, 0);
    close(fd);
    ctk__forkserver_stop(fs);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/forkserver/spawn-talk-reap", test_spawn_talk_reap);
    g_test_add_func("/forkserver/killed", test_killed_worker_status);
    return g_test_run();
}
