/*
 * driver.c: what runs a fuzz target. Built with --enable-fuzzing, main()
 * is libFuzzer's, and LLVMFuzzerInitialize (which it calls first) takes
 * over only for `--tap`; otherwise main() is ours. `--tap` (how
 * `make check` runs the unit tests, tests/run-unit) replays the
 * seeds in $CTK_SRCDIR/tests/fuzz/NAME/, NAME being the program's name
 * without "fuzz-", one TAP line per seed. Without libFuzzer, file
 * arguments are replayed too, so a crash found elsewhere reproduces in
 * any build: `tests/fuzz/fuzz-blocks crash-1234`.
 */
#include <dirent.h>
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

char *fz_str(fz *f)
{
    size_t len;
    const char *s = fz_field(f, &len);
    return g_strndup(s, len);
}

static int replay(const char *path, unsigned n, int tap)
{
    gchar *data = NULL;
    gsize len = 0;
    GError *error = NULL;
    if (!g_file_get_contents(path, &data, &len, &error)) {
        printf("not ok %u - %s: %s\n", n, path, error->message);
        g_error_free(error);
        return 1;
    }
    /* A copy of exactly len bytes, so ASan sees a read past the end. */
    uint8_t *copy = malloc(len > 0 ? len : 1);
    memcpy(copy, data, len);
    g_free(data);
    LLVMFuzzerTestOneInput(copy, len);
    free(copy);
    if (tap)
        printf("ok %u - %s\n", n, path);
    fflush(stdout);
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_corpus(const char *argv0)
{
    const char *srcdir = getenv("CTK_SRCDIR");
    const char *base = strrchr(argv0, '/');
    base = base != NULL ? base + 1 : argv0;
    if (strncmp(base, "fuzz-", 5) == 0)
        base += 5;
    /* libtool may run us as lt-fuzz-NAME. */
    if (strncmp(base, "lt-fuzz-", 8) == 0)
        base += 8;
    char *dir = g_strdup_printf("%s/tests/fuzz/%s", srcdir != NULL ? srcdir : ".", base);
    DIR *d = opendir(dir);
    if (d == NULL) {
        printf("1..0 # SKIP no corpus %s: %s\n", dir, strerror(errno));
        g_free(dir);
        return 0;
    }
    GPtrArray *paths = g_ptr_array_new_with_free_func(g_free);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.')
            g_ptr_array_add(paths, g_strdup_printf("%s/%s", dir, e->d_name));
    closedir(d);
    g_free(dir);
    /* The same order every run, so a TAP line numbers the same seed. */
    qsort(paths->pdata, paths->len, sizeof(char *), compare_names);
    printf("1..%u\n", paths->len);
    int failed = 0;
    for (unsigned i = 0; i < paths->len; i++)
        failed |= replay(paths->pdata[i], i + 1, 1);
    g_ptr_array_free(paths, TRUE);
    return failed;
}

#ifdef CTK_FUZZING
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    if (*argc == 2 && strcmp((*argv)[1], "--tap") == 0)
        exit(replay_corpus((*argv)[0]));
    return 0;
}
#else
int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--tap") == 0)
        return replay_corpus(argv[0]);
    int failed = 0;
    for (int i = 1; i < argc; i++)
        failed |= replay(argv[i], (unsigned)i, 0);
    return failed;
}
#endif
