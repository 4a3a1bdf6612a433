/*
 * plot.c: --plot. The picture is gnuplot's, fed a script with the table's
 * TSV inline as a datablock: the numbers drawn are the ones the table
 * prints, and gnuplot never reads a file of ours.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctkx/parse.h"
#include "ctkx/plot.h"
#include "ctkx/spawn.h"

typedef enum picture { PICTURE_NONE, PICTURE_SVG, PICTURE_PNG } picture;

static picture picture_of(const char *file)
{
    const char *dot = strrchr(file, '.');
    if (dot == NULL || strchr(dot, '/') != NULL)
        return PICTURE_NONE;
    if (g_ascii_strcasecmp(dot, ".svg") == 0)
        return PICTURE_SVG;
    if (g_ascii_strcasecmp(dot, ".png") == 0)
        return PICTURE_PNG;
    return PICTURE_NONE;
}

int ctk_plot_check(const char *file, char *why, size_t why_len)
{
    if (picture_of(file) == PICTURE_NONE) {
        snprintf(why, why_len, "--plot %s: name a .svg or .png file", file);
        return CTK_EINVAL;
    }
    char *gnuplot = g_find_program_in_path("gnuplot");
    if (gnuplot == NULL) {
        snprintf(why, why_len, "%s", CTK_PLOT_NO_GNUPLOT);
        return CTK_ENOENT;
    }
    g_free(gnuplot);
    return 0;
}

/* A gnuplot single-quoted string: only a quote needs escaping, doubled. */
static void quoted(GString *s, const char *text)
{
    g_string_append_c(s, '\'');
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '\'')
            g_string_append_c(s, '\'');
        g_string_append_c(s, *p == '\n' ? ' ' : *p);
    }
    g_string_append_c(s, '\'');
}

/* One panel: a bar per row at x = row index, its value above it as the
 * table prints it. A row
 * with no value (a speedup with no sync row to compare with) gets none. */
static void panel(GString *s, const char *title, const char *column, const char *colour,
                  const char *extra)
{
    g_string_append_printf(s, "set title '%s'\n", title);
    g_string_append_printf(s,
                           "plot $data using 0:\"%s\":xticlabels(lab(0)) with boxes lc rgb '%s', "
                           "'' using 0:\"%s\":(strcol(\"%s\")) with labels "
                           "offset 0,0.7 font ',9'%s\n",
                           column, colour, column, column, extra);
}

static char *script(const ctk_compare *c, picture pic, const char *title, const char *tsv)
{
    size_t rows = ctk_compare_count(c);
    /* A few rows fit three panels side by side; more (cburn --share=all
     * has a row per strategy and mode) get the panels one above the
     * other, each wide enough for its bars and their labels. */
    int stacked = rows > 6;
    unsigned width = stacked ? (unsigned)MAX(900, 150 + 75 * (int)MIN(rows, 64)) : 1200;
    unsigned height = stacked ? 3 * 360 : 440;
    GString *s = g_string_new(NULL);
    /* noenhanced: '_' and '^' in names are text, not sub- and superscripts. */
    if (pic == PICTURE_SVG)
        g_string_append_printf(s,
                               "set terminal svg size %u,%u dynamic noenhanced font 'sans,11' "
                               "background '#ffffff'\n",
                               width, height);
    else
        g_string_append_printf(s,
                               "set terminal pngcairo size %u,%u noenhanced font 'sans,10' "
                               "background '#ffffff'\n",
                               width, height);
    g_string_append(s, "set datafile separator '\\t'\n$data << EOD\n");
    g_string_append(s, tsv);
    g_string_append(s, "EOD\n");
    g_string_append(s, "set style fill solid 0.8 border -1\n"
                       "set boxwidth 0.7\n"
                       "set xtics rotate by -30 nomirror\n"
                       "set ytics nomirror\n"
                       "set yrange [0:*]\n"
                       "set offsets 0, 0, graph 0.12, 0\n"
                       "set grid ytics\n"
                       "set key off\n"
                       "lab(x) = strcol('strategy') . (strcol('variant') eq '' ? '' : "
                       "\"\\n\" . strcol('variant'))\n");
    g_string_append_printf(s, "set xrange [-0.6:%zu.6]\n", rows > 0 ? rows - 1 : 0);
    if (stacked)
        g_string_append(s, "set bmargin 6\n"); /* room for two-line labels */
    g_string_append_printf(s, "set multiplot layout %s title ", stacked ? "3,1" : "1,3");
    quoted(s, title);
    g_string_append(s, "\n");
    panel(s, "wall time (s)", "wall_s", "#4878a8", "");
    panel(s, "CPU time (s)", "cpu_s", "#d08040", "");
    panel(s, "speedup against the serial row", "speedup", "#50a060",
          ", 1 with lines dt 2 lc rgb '#808080'");
    g_string_append(s, "unset multiplot\n");
    return g_string_free(s, FALSE);
}

/* The table's TSV with its header: the names the script uses. */
static char *table_tsv(const ctk_compare *c, unsigned cores)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        return NULL;
    int rc = ctk_compare_print(c, f, CTK_FORMAT_TSV, 1, cores);
    if (fclose(f) != 0 || rc < 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* gnuplot's stdout goes into the picture as it comes; its stderr is kept
 * for the message should it fail. */
typedef struct drawing {
    int fd;
    GString *err;
    size_t bytes;
} drawing;

static int sink(void *arg, int stream, const void *data, size_t len)
{
    drawing *d = arg;
    if (stream != 1) {
        if (d->err->len < 4096)
            g_string_append_len(d->err, data, (gssize)len);
        return 0;
    }
    const char *p = data;
    d->bytes += len;
    while (len > 0) {
        ssize_t n = write(d->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* How gnuplot ended, with its last line of complaint: it echoes the
 * script line and a caret first, then says what is wrong. */
static void gnuplot_failure(const ctk_spawn_result *r, const GString *said_all, char *why,
                            size_t why_len)
{
    char *err = g_strndup(said_all->str, said_all->len);
    char **lines = g_strsplit(err, "\n", -1);
    const char *said = NULL;
    for (char **l = lines; *l != NULL; l++)
        if (g_strstrip(*l)[0] != '\0')
            said = *l;
    if (r->signal != 0)
        snprintf(why, why_len, "gnuplot was killed by signal %d", r->signal);
    else
        snprintf(why, why_len, "gnuplot exited %d%s%s", r->exit, said ? ": " : "",
                 said ? said : "");
    g_strfreev(lines);
    g_free(err);
}

int ctk_plot_write(const ctk_compare *c, const char *file, const char *title, unsigned cores,
                   char *why, size_t why_len)
{
    picture pic = picture_of(file);
    char *gnuplot = g_find_program_in_path("gnuplot");
    if (pic == PICTURE_NONE || gnuplot == NULL) {
        g_free(gnuplot);
        return ctk_plot_check(file, why, why_len);
    }
    char *tsv = table_tsv(c, cores);
    if (tsv == NULL) {
        g_free(gnuplot);
        snprintf(why, why_len, "out of memory");
        return CTK_ENOMEM;
    }
    char *text = script(c, pic, title, tsv);
    free(tsv);
    /* Drawn beside the file and renamed over it: a reader never sees half
     * a picture, and a failure leaves the old one. */
    char *tmp = g_strdup_printf("%s.%ld.tmp", file, (long)getpid());
    drawing d = {.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666),
                 .err = g_string_new(NULL)};
    int rc = 0;
    if (d.fd < 0) {
        rc = -errno;
        snprintf(why, why_len, "%s", strerror(errno));
    } else {
        const char *argv[] = {"gnuplot", NULL};
        ctk_spawn_opts opts = {.argv = argv,
                               .path = gnuplot,
                               .in = CTK_SPAWN_IN_PIPE,
                               .input = text,
                               .input_len = strlen(text),
                               .sink = sink,
                               .sink_arg = &d};
        ctk_spawn_result r;
        rc = ctk_spawn_run(&opts, &r);
        if (rc < 0)
            snprintf(why, why_len, "gnuplot: %s", ctk_strerror(rc));
        else if (r.exit != 0 || r.signal != 0) {
            gnuplot_failure(&r, d.err, why, why_len);
            rc = CTK_EIO;
        } else if (d.bytes == 0) {
            snprintf(why, why_len, "gnuplot drew nothing");
            rc = CTK_EIO;
        }
        ctk_spawn_result_free(&r);
        if (close(d.fd) < 0 && rc == 0) {
            rc = -errno;
            snprintf(why, why_len, "%s", strerror(errno));
        }
        if (rc == 0 && rename(tmp, file) < 0) {
            rc = -errno;
            snprintf(why, why_len, "%s", strerror(errno));
        }
        if (rc < 0)
            unlink(tmp);
    }
    g_string_free(d.err, TRUE);
    g_free(tmp);
    g_free(text);
    g_free(gnuplot);
    return rc;
}

int ctk_plot_compare(const ctk_compare *c, const char *file, const char *prog)
{
    if (file == NULL || ctk_compare_count(c) == 0)
        return 0;
    unsigned cores = ctk_cpu_count();
    char title[160], why[1024];
    snprintf(title, sizeof title, "%s --compare on %u core%s", prog, cores, cores == 1 ? "" : "s");
    int rc = ctk_plot_write(c, file, title, cores, why, sizeof why);
    if (rc < 0)
        fprintf(stderr, "%s: --plot %s: %s\n", prog, file, why);
    return rc;
}
