/*
 * test-spawn-sink.c: the spawn options cqueue added: a sink that receives
 * the output as it arrives (and the "command not found" text), a working
 * directory, and an exact environment.
 */
#include <glib.h>
#include <string.h>

#include "ctkx/spawn.h"

typedef struct collected {
    GString *s[2];
} collected;

static int collect(void *arg, int stream, const void *data, size_t len)
{
    collected *c = arg;
    g_string_append_len(c->s[stream == 2], data, (gssize)len);
    return 0;
}

static void run_sh(const char *cmd, const char *cwd, const char *const *env, int exact,
                   collected *c, ctk_spawn_result *r)
{
    c->s[0] = g_string_new(NULL);
    c->s[1] = g_string_new(NULL);
    ctk_spawn_opts o = {
        .shell = cmd, .cwd = cwd, .env = env, .env_exact = exact, .sink = collect, .sink_arg = c};
    g_assert_cmpint(ctk_spawn_run(&o, r), ==, 0);
}

static void done(collected *c, ctk_spawn_result *r)
{
    g_string_free(c->s[0], TRUE);
    g_string_free(c->s[1], TRUE);
    ctk_spawn_result_free(r);
}

static void test_sink_gets_both_streams(void)
{
    collected c;
    ctk_spawn_result r;
    run_sh("printf out; printf err >&2; exit 5", NULL, NULL, 0, &c, &r);
    g_assert_cmpstr(c.s[0]->str, ==, "out");
    g_assert_cmpstr(c.s[1]->str, ==, "err");
    g_assert_cmpint(r.exit, ==, 5);
    g_assert_cmpuint(r.out.bytes, ==, 3);
    g_assert_cmpuint(r.out.mem.len, ==, 0); /* nothing kept in memory */
    done(&c, &r);
}

static void test_sink_gets_not_found(void)
{
    collected c = {{g_string_new(NULL), g_string_new(NULL)}};
    const char *argv[] = {"no-such-program-xyz", NULL};
    ctk_spawn_opts o = {.argv = argv, .sink = collect, .sink_arg = &c};
    ctk_spawn_result r;
    g_assert_cmpint(ctk_spawn_run(&o, &r), ==, 0);
    g_assert_cmpint(r.exit, ==, 127);
    g_assert_nonnull(strstr(c.s[1]->str, "command not found"));
    done(&c, &r);
}

static void test_cwd_and_exact_env(void)
{
    collected c;
    ctk_spawn_result r;
    g_setenv("CTK_TEST_INHERITED", "yes", TRUE);
    const char *env[] = {"ONLY=this", "PATH=/usr/bin:/bin", NULL};
    run_sh("pwd; echo \"$ONLY ${CTK_TEST_INHERITED:-none}\"", "/", env, 1, &c, &r);
    g_assert_cmpstr(c.s[0]->str, ==, "/\nthis none\n");
    done(&c, &r);
    run_sh("echo \"$ONLY ${CTK_TEST_INHERITED:-none}\"", NULL, env, 0, &c, &r);
    g_assert_cmpstr(c.s[0]->str, ==, "this yes\n");
    done(&c, &r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/spawn-sink/both-streams", test_sink_gets_both_streams);
    g_test_add_func("/spawn-sink/not-found", test_sink_gets_not_found);
    g_test_add_func("/spawn-sink/cwd-and-exact-env", test_cwd_and_exact_env);
    return g_test_run();
}
