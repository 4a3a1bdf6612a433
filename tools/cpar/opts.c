/*
 * opts.c: cpar's options (see opts.h). The table takes over the shared
 * -j, -s and --header with GNU parallel's meanings; words that GNU
 * parallel reads differently from getopt (--replace without a value, -i
 * WORD, --compare LIST) are rewritten before the shared parser runs.
 */
#include <errno.h>
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctkx/cli.h"
#include "ctkx/parse.h"
#include "ctkx/rate.h"
#include "opts.h"
#include "parrun.h"

enum {
    OPT_ARG_FILE = 256,
    OPT_NULL,
    OPT_DELIM,
    OPT_REPLACE,
    OPT_MAX_ARGS,
    OPT_MAX_REPLACE,
    OPT_SHELL,
    OPT_UNGROUP,
    OPT_GROUP,
    OPT_TAG,
    OPT_JOBLOG,
    OPT_RESUME,
    OPT_RESUME_FAILED,
    OPT_RETRIES,
    OPT_TIMEOUT,
    OPT_TERMSEQ,
    OPT_DRY_RUN,
    OPT_RECORDS,
    OPT_HALT,
    OPT_DELAY,
    OPT_RATE,
    OPT_TAGSTRING,
    OPT_BAR,
    OPT_ETA,
    OPT_COLSEP,
    OPT_CSV,
    OPT_LINE_BUFFER,
    OPT_RESULTS,
    OPT_CONTEXT,
    OPT_MULTI,
    OPT_MAX_CHARS,
    OPT_JOBS,
    OPT_STRATEGY,
    OPT_HEADER,
    OPT_RECORDS_HEADER,
    OPT_ACCEPTED,       /* parallel's options with no effect here: a flag */
    OPT_ACCEPTED_VALUE, /* the same, taking a value */
    OPT_PIPE,
    OPT_LINK,
    OPT_VERBOSE,
    OPT_TRACE,
    OPT_QUOTE,
    OPT_EOF_STR,
    OPT_EOF_OPT,
    OPT_NO_EMPTY,
    OPT_REPLACE_I,
    OPT_MAX_LINES,
    OPT_MAX_LINES_OPT,
    OPT_FILES,
    OPT_ARG_SEP,
    OPT_ARG_FILE_SEP,
    OPT_TRIM,
    OPT_NICE,
    OPT_TMPDIR,
    OPT_PROCESS_SLOT_VAR,
    OPT_SHUF,
    OPT_RENAME_NOEXT,
    OPT_RENAME_BASE,
    OPT_RENAME_DIR,
    OPT_RENAME_BASENOEXT,
    OPT_RENAME_SEQ,
    OPT_RENAME_SLOT,
    OPT_PERL, /* options whose values are Perl: refused, naming that */
    OPT_PLUS,
    OPT_SHELLQUOTE,
    OPT_EXIT,
    OPT_RETRY_FAILED,
    OPT_PROFILE,
    OPT_TOLLEF,
    OPT_GNU,
};

static const ctk_cli_option cpar_options[] = {
    {"arg-file", 'a', CTK_ARG_REQUIRED, "FILE", "read items from FILE (repeatable)", OPT_ARG_FILE},
    {"null", '0', CTK_ARG_NONE, NULL, "items end with a NUL byte, not a newline", OPT_NULL},
    {"delimiter", 'd', CTK_ARG_REQUIRED, "DELIM",
     "items end with the string DELIM (\\n \\t \\r \\0 \\NNN; '': blank lines)", OPT_DELIM},
    {"replace", 'I', CTK_ARG_REQUIRED, "STR", "use STR instead of {} in the command", OPT_REPLACE},
    {"max-args", 'n', CTK_ARG_REQUIRED, "N", "N items per job (1k: 1000, 1K: 1024)", OPT_MAX_ARGS},
    {"max-replace-args", 'N', CTK_ARG_REQUIRED, "N", "N items per job, as {1} .. {N}",
     OPT_MAX_REPLACE},
    {"shell", 0, CTK_ARG_NONE, NULL, "run every command under /bin/sh -c", OPT_SHELL},
    {"ungroup", 'u', CTK_ARG_NONE, NULL, "jobs write straight to the output, interleaved",
     OPT_UNGROUP},
    {"group", 0, CTK_ARG_NONE, NULL, "print each job's output together when it ends (default)",
     OPT_GROUP},
    {"tag", 0, CTK_ARG_NONE, NULL, "prefix each output line with the job's arguments", OPT_TAG},
    {"joblog", 0, CTK_ARG_REQUIRED, "FILE", "log each finished job to FILE (GNU parallel's format)",
     OPT_JOBLOG},
    {"jl", 0, CTK_ARG_REQUIRED, "FILE", "the same as --joblog", OPT_JOBLOG},
    {"resume", 0, CTK_ARG_NONE, NULL, "skip the jobs FILE of --joblog already has", OPT_RESUME},
    {"resume-failed", 0, CTK_ARG_NONE, NULL, "skip the jobs --joblog has as succeeded",
     OPT_RESUME_FAILED},
    {"retries", 0, CTK_ARG_REQUIRED, "N",
     "run a failing job up to N times in all (0: until it succeeds; {2}: per job)", OPT_RETRIES},
    {"timeout", 0, CTK_ARG_REQUIRED, "SECS", "end a job (its process group) after SECS",
     OPT_TIMEOUT},
    {"termseq", 0, CTK_ARG_REQUIRED, "SEQ",
     "how to end a job: SIG,MS,... (default TERM,200,TERM,100,TERM,50,KILL,25)", OPT_TERMSEQ},
    {"dry-run", 0, CTK_ARG_NONE, NULL, "print the commands instead of running them", OPT_DRY_RUN},
    {"records", 0, CTK_ARG_REQUIRED, "FILE",
     "write one record per job to FILE ('-': stdout, instead of the jobs' output)", OPT_RECORDS},
    {"halt", 0, CTK_ARG_REQUIRED, "WHEN,WHY=N",
     "stop when N jobs (or N%) failed, succeeded or are done: soon (let running jobs end) "
     "or now (end them)",
     OPT_HALT},
    {"delay", 0, CTK_ARG_REQUIRED, "SECS", "start jobs at least SECS apart", OPT_DELAY},
    {"rate", 0, CTK_ARG_REQUIRED, "N[/s|/m|/h]", "start at most N jobs per second, evenly spaced",
     OPT_RATE},
    {"tagstring", 0, CTK_ARG_REQUIRED, "STR",
     "prefix each output line with STR (replacement strings allowed) and a tab", OPT_TAGSTRING},
    {"colsep", 'C', CTK_ARG_REQUIRED, "REGEX", "split each item into columns {1} {2} ... at REGEX",
     OPT_COLSEP},
    {"csv", 0, CTK_ARG_NONE, NULL,
     "read each item as a CSV record (quoted fields may hold the separator and line ends): "
     "its fields are {1} {2} ...; --colsep STR is the field separator (default ,)",
     OPT_CSV},
    {"line-buffer", 0, CTK_ARG_NONE, NULL,
     "print whole lines as jobs write them (lines of jobs mix; not with forking strategies)",
     OPT_LINE_BUFFER},
    {"lb", 0, CTK_ARG_NONE, NULL, "the same as --line-buffer", OPT_LINE_BUFFER},
    {"context-replace", 'X', CTK_ARG_NONE, NULL,
     "fill each command line with items, repeating the words that hold {}", OPT_CONTEXT},
    {"multi-args", 'm', CTK_ARG_NONE, NULL,
     "fill each command line with items, {} standing for them all", OPT_MULTI},
    {"max-chars", 0, CTK_ARG_REQUIRED, "N", "with -X or -m: command lines shorter than N bytes",
     OPT_MAX_CHARS},
    {"results", 0, CTK_ARG_REQUIRED, "DIR",
     "keep each job's stdout, stderr and seq in DIR/1/ITEM/... instead of printing them "
     "(DIR.csv, .tsv, .json: one table)",
     OPT_RESULTS},
    {"bar", 0, CTK_ARG_NONE, NULL, "show a progress bar on stderr", OPT_BAR},
    {"eta", 0, CTK_ARG_NONE, NULL, "show progress and the estimated time left on stderr", OPT_ETA},
    /* GNU parallel's spellings and options; cpar(1), GNU PARALLEL. These
     * take over the shared -j, -s and --header: cpar's -j knows +N and -N,
     * a numeric -s is --max-chars, and --header names columns. */
    {"jobs", 'j', CTK_ARG_REQUIRED, "N",
     "run N at a time; N% of the cores; +N, -N: the cores plus or minus N; 0: many; "
     "FILE: the value in FILE",
     OPT_JOBS},
    {"max-procs", 'P', CTK_ARG_REQUIRED, "N", "the same as -j", OPT_JOBS},
    {"strategy", 's', CTK_ARG_REQUIRED, "NAME|N",
     "sync, thread, process, async or a plugin's; a number N is --max-chars N", OPT_STRATEGY},
    {"header", 0, CTK_ARG_REQUIRED, "REGEX",
     "the first input line (first value of each :::) names the columns: {name}", OPT_HEADER},
    {"records-header", 0, CTK_ARG_NONE, NULL, "print a header line before TSV records",
     OPT_RECORDS_HEADER},
    {"xapply", 0, CTK_ARG_NONE, NULL, "pair the sources element-wise, the shorter ones recycled",
     OPT_LINK},
    {"link", 0, CTK_ARG_NONE, NULL, "the same as --xapply", OPT_LINK},
    {"show-command", 'v', CTK_ARG_NONE, NULL, "print each command line before its output",
     OPT_VERBOSE},
    {"trace", 't', CTK_ARG_NONE, NULL, "print each command line on stderr as it starts", OPT_TRACE},
    /* --verbose is -t in parallel and xargs alike, never -v. */
    {"verbose", 0, CTK_ARG_NONE, NULL, "the same as -t", OPT_TRACE},
    {"quote", 'q', CTK_ARG_NONE, NULL, "quote the command: no shell syntax, words as they are",
     OPT_QUOTE},
    {"eof-string", 'E', CTK_ARG_REQUIRED, "STR", "stop reading input at an item equal to STR",
     OPT_EOF_STR},
    {"eof", 'e', CTK_ARG_OPTIONAL, "STR", "the same as -E STR (-e alone: none)", OPT_EOF_OPT},
    {"no-run-if-empty", 'r', CTK_ARG_NONE, NULL, "skip empty and blank input lines", OPT_NO_EMPTY},
    {"replace-braces", 'i', CTK_ARG_OPTIONAL, "STR", "the same as -I STR (-i alone: -I {})",
     OPT_REPLACE_I},
    {"max-lines", 'L', CTK_ARG_REQUIRED, "N",
     "N input lines (or ::: words) per job; one ending in a blank goes on", OPT_MAX_LINES},
    {"lines", 'l', CTK_ARG_OPTIONAL, "N", "the same as -L N (-l alone: 1)", OPT_MAX_LINES_OPT},
    {"files", 0, CTK_ARG_NONE, NULL,
     "keep each job's output in a file under $TMPDIR and print the file's name", OPT_FILES},
    {"arg-sep", 0, CTK_ARG_REQUIRED, "SEP", "use SEP instead of :::", OPT_ARG_SEP},
    {"arg-file-sep", 0, CTK_ARG_REQUIRED, "SEP", "use SEP instead of ::::", OPT_ARG_FILE_SEP},
    {"trim", 0, CTK_ARG_REQUIRED, "n|l|r|lr|rl",
     "remove white space (Perl's \\s) around each column: none, left, right, both (--colsep: both)",
     OPT_TRIM},
    {"shuf", 0, CTK_ARG_NONE, NULL, "run the jobs in a random order (reads all input first)",
     OPT_SHUF},
    {"nice", 0, CTK_ARG_REQUIRED, "N", "run the jobs at niceness N", OPT_NICE},
    {"tmpdir", 0, CTK_ARG_REQUIRED, "DIR", "keep temporary files in DIR (sets $TMPDIR)",
     OPT_TMPDIR},
    {"process-slot-var", 0, CTK_ARG_REQUIRED, "NAME",
     "set $NAME to the job's slot number - 1 (0 .. -j minus 1)", OPT_PROCESS_SLOT_VAR},
    {"linebuffer", 0, CTK_ARG_NONE, NULL, "the same as --line-buffer", OPT_LINE_BUFFER},
    {"halt-on-error", 0, CTK_ARG_REQUIRED, "WHEN,WHY=N", "the same as --halt", OPT_HALT},
    {"argsep", 0, CTK_ARG_REQUIRED, "SEP", "the same as --arg-sep", OPT_ARG_SEP},
    {"dryrun", 0, CTK_ARG_NONE, NULL, "the same as --dry-run", OPT_DRY_RUN},
    {"extensionreplace", 0, CTK_ARG_REQUIRED, "STR", "use STR instead of {.}", OPT_RENAME_NOEXT},
    {"er", 0, CTK_ARG_REQUIRED, "STR", "the same as --extensionreplace", OPT_RENAME_NOEXT},
    {"basenamereplace", 0, CTK_ARG_REQUIRED, "STR", "use STR instead of {/}", OPT_RENAME_BASE},
    {"bnr", 0, CTK_ARG_REQUIRED, "STR", "the same as --basenamereplace", OPT_RENAME_BASE},
    {"dirnamereplace", 0, CTK_ARG_REQUIRED, "STR", "use STR instead of {//}", OPT_RENAME_DIR},
    {"dnr", 0, CTK_ARG_REQUIRED, "STR", "the same as --dirnamereplace", OPT_RENAME_DIR},
    {"basenameextensionreplace", 0, CTK_ARG_REQUIRED, "STR", "use STR instead of {/.}",
     OPT_RENAME_BASENOEXT},
    {"bner", 0, CTK_ARG_REQUIRED, "STR", "the same as --basenameextensionreplace",
     OPT_RENAME_BASENOEXT},
    {"seqreplace", 0, CTK_ARG_REQUIRED, "STR", "use STR instead of {#}", OPT_RENAME_SEQ},
    {"slotreplace", 0, CTK_ARG_REQUIRED, "STR", "use STR instead of {%}", OPT_RENAME_SLOT},
    {"gnu", 0, CTK_ARG_NONE, NULL, "accepted; no effect (but it overrides --tollef)", OPT_GNU},
    {"tollef", 0, CTK_ARG_NONE, NULL, "retired in GNU parallel: an error, unless with --gnu",
     OPT_TOLLEF},
    {"plus", 0, CTK_ARG_NONE, NULL,
     "GNU parallel's --plus strings: {+/} {+.} {..} {/..} {##} {0#} {0%} {:-STR} {:N:M} {#RE} "
     "{%RE} {/RE/STR} {^RE} {,RE} ...",
     OPT_PLUS},
    {"rpl", 0, CTK_ARG_REQUIRED, "PERL", "not supported (Perl): a usage error", OPT_PERL},
    {"match", 0, CTK_ARG_REQUIRED, "REGEX", "not supported (Perl): a usage error", OPT_PERL},
    {"filter", 0, CTK_ARG_REQUIRED, "PERL", "not supported (Perl): a usage error", OPT_PERL},
    {"pipe", 0, CTK_ARG_NONE, NULL, "not here: cpipe(1) splits standard input into blocks",
     OPT_PIPE},
    {"pipepart", 0, CTK_ARG_NONE, NULL, "not here: see cpipe(1)", OPT_PIPE},
    CTK_CLI_PARALLEL_NOTICE_OPTIONS(OPT_ACCEPTED),
    {"compress", 0, CTK_ARG_NONE, NULL,
     "accepted; no effect (output beyond memory goes to temporary files as it is)", OPT_ACCEPTED},
    {"plain", 0, CTK_ARG_NONE, NULL, "read no -J profile", OPT_ACCEPTED},
    {"env", 0, CTK_ARG_REQUIRED, "VAR",
     "accepted; no effect: jobs run here and inherit the whole environment", OPT_ACCEPTED_VALUE},
    {"compress-program", 0, CTK_ARG_REQUIRED, "PRG", "accepted; no effect", OPT_ACCEPTED_VALUE},
    {"decompress-program", 0, CTK_ARG_REQUIRED, "PRG", "accepted; no effect", OPT_ACCEPTED_VALUE},
    CTK_CLI_PARALLEL_LOAD_OPTIONS(OPT_ACCEPTED_VALUE),
    /* cparout: GNU parallel's --shellquote, -x */
    {"shellquote", 0, CTK_ARG_NONE, NULL,
     "each job prints its command line quoted for the shell (twice: quoted twice), runs nothing "
     "else",
     OPT_SHELLQUOTE},
    {"shell-quote", 0, CTK_ARG_NONE, NULL, "the same as --shellquote", OPT_SHELLQUOTE},
    {"retry-failed", 0, CTK_ARG_NONE, NULL,
     "run the failed jobs of --joblog FILE again, as its commands (no command or input needed)",
     OPT_RETRY_FAILED},
    {"profile", 'J', CTK_ARG_REQUIRED, "NAME",
     "read options from the profile NAME (~/.parallel/NAME, or the file ./NAME or /NAME)",
     OPT_PROFILE},
    {"exit", 'x', CTK_ARG_NONE, NULL,
     "accepted (always so): a command line longer than -s ends the run, exit 255", OPT_EXIT},
    {NULL, 0, 0, NULL, NULL, 0},
};

/* -d as GNU parallel's unquote_printf reads it: the whole string is the
 * separator, with \t \n \r and octal \N or \NNN (\0 is NUL) for bytes;
 * any other backslash is itself. '' is Perl's paragraph mode. */
static void parse_delim(cpar_opts *o, const char *v)
{
    static const char escapes[][2] = {{'t', '\t'}, {'n', '\n'}, {'r', '\r'}};
    GString *sep = g_string_sized_new(strlen(v));
    while (*v != '\0') {
        const char *e = NULL;
        for (size_t i = 0; v[0] == '\\' && i < G_N_ELEMENTS(escapes); i++)
            if (v[1] == escapes[i][0])
                e = escapes[i];
        if (e != NULL) {
            g_string_append_c(sep, e[1]);
            v += 2;
        } else if (v[0] == '\\' && v[1] >= '0' && v[1] <= '7') {
            /* \NNN when three octal digits follow, else \N */
            int n = v[2] >= '0' && v[2] <= '7' && v[3] >= '0' && v[3] <= '7' ? 3 : 1;
            unsigned byte = 0;
            for (int i = 1; i <= n; i++)
                byte = byte * 8 + (unsigned)(v[i] - '0');
            g_string_append_c(sep, (char)(byte & 0xff));
            v += 1 + n;
        } else {
            g_string_append_c(sep, *v++);
        }
    }
    o->delim_len = sep->len;
    o->delim = g_string_free(sep, FALSE);
    g_ptr_array_add(o->owned, (gpointer)o->delim);
}

static int on_option(void *arg, int id, const char *v, char *why, size_t why_len)
{
    cpar_opts *o = arg;
    switch (id) {
    case OPT_ARG_FILE:
        g_ptr_array_add(o->arg_files, (gpointer)v);
        return 0;
    case OPT_NULL:
        /* GNU parallel sets -d's separator after -0's, in either order. */
        if (!o->delim_given) {
            o->delim = "";
            o->delim_len = 1;
        }
        return 0;
    case OPT_DELIM:
        o->delim_given = 1;
        parse_delim(o, v);
        return 0;
    case OPT_REPLACE:
        o->replace = v;
        return 0;
    case OPT_CONTEXT:
        o->fill = 'X';
        return 0;
    case OPT_MULTI:
        o->fill = 'm';
        return 0;
    case OPT_MAX_CHARS:
        return ctk_parse_size(v, CTK_SIZE_PARALLEL, 1, UINT32_MAX, &o->max_chars, why, why_len);
    case OPT_MAX_ARGS:
    case OPT_MAX_REPLACE:
    case OPT_MAX_LINES:
    case OPT_MAX_LINES_OPT:
        o->per_job_given = 1;
        /* -N and -L repeat a word holding {} per item, as -X does; -n
         * puts the items in {}'s place. */
        o->max_replace = id != OPT_MAX_ARGS;
        o->max_lines = id == OPT_MAX_LINES || id == OPT_MAX_LINES_OPT;
        if (id == OPT_MAX_LINES_OPT && (v == NULL || strcmp(v, "0") == 0)) {
            o->per_job = 1;
            return 0;
        }
        if (strcmp(v, "0") == 0) {
            /* -N0, -n0, -L0: one item per job, given to the command
             * nowhere. */
            o->per_job = 1;
            o->max_replace = -1;
            return 0;
        }
        /* GNU parallel's multiply_binary_prefix: -N 1k is 1000, 1K 1024. */
        return ctk_parse_size(v, CTK_SIZE_PARALLEL, 1, 100000, &o->per_job, why, why_len);
    case OPT_JOBS:
        o->jobs = v;
        return 0;
    case OPT_STRATEGY:
        if (v[0] >= '0' && v[0] <= '9')
            return ctk_parse_size(v, CTK_SIZE_PARALLEL, 1, UINT32_MAX, &o->max_chars, why, why_len);
        return CTK_CLI_STRATEGY; /* the parser sets and checks it */
    case OPT_HEADER:
        o->header = v;
        return 0;
    case OPT_RECORDS_HEADER:
        o->records_header = 1;
        return 0;
    case OPT_ACCEPTED:
    case OPT_ACCEPTED_VALUE:
        return 0;
    case OPT_PLUS:
        o->plus = 1;
        return 0;
    case OPT_TOLLEF:
        o->tollef = 1;
        return 0;
    case OPT_GNU:
        o->gnu = 1;
        return 0;
    case OPT_PERL:
        snprintf(why, why_len, "Perl expressions are not supported (cpar runs no Perl)");
        return CTK_EINVAL;
    case OPT_PIPE:
        o->pipe = 1;
        return 0;
    case OPT_LINK:
        o->link = 1;
        return 0;
    case OPT_VERBOSE:
        o->verbose = 1;
        return 0;
    case OPT_TRACE:
        o->trace = 1;
        return 0;
    case OPT_QUOTE:
        o->quote = 1;
        return 0;
    case OPT_EOF_STR:
    case OPT_EOF_OPT:
        o->eof_str = v;
        return 0;
    case OPT_NO_EMPTY:
        o->no_empty = 1;
        return 0;
    case OPT_REPLACE_I:
        o->replace = v != NULL && v[0] != '\0' ? v : "{}";
        return 0;
    case OPT_FILES:
        o->files = 1;
        return 0;
    case OPT_ARG_SEP:
    case OPT_ARG_FILE_SEP:
        if (v[0] == '\0') {
            snprintf(why, why_len, "must not be empty");
            return CTK_EINVAL;
        }
        *(id == OPT_ARG_SEP ? &o->arg_sep : &o->arg_file_sep) = v;
        return 0;
    case OPT_TRIM:
        if (strcmp(v, "n") != 0 && strcmp(v, "l") != 0 && strcmp(v, "r") != 0 &&
            strcmp(v, "lr") != 0 && strcmp(v, "rl") != 0) {
            snprintf(why, why_len, "use n, l, r, lr or rl");
            return CTK_EINVAL;
        }
        o->trim = v;
        return 0;
    case OPT_SHUF:
        o->shuf = 1;
        return 0;
    case OPT_RENAME_NOEXT:
        o->names.noext = v;
        return 0;
    case OPT_RENAME_BASE:
        o->names.base = v;
        return 0;
    case OPT_RENAME_DIR:
        o->names.dir = v;
        return 0;
    case OPT_RENAME_BASENOEXT:
        o->names.basenoext = v;
        return 0;
    case OPT_RENAME_SEQ:
        o->names.seq = v;
        return 0;
    case OPT_RENAME_SLOT:
        o->names.slot = v;
        return 0;
    case OPT_NICE: {
        char *end;
        errno = 0;
        long n = strtol(v, &end, 10);
        if (end == v || *end != '\0' || errno != 0 || n < -20 || n > 19) {
            snprintf(why, why_len, "a niceness from -20 to 19");
            return CTK_EINVAL;
        }
        errno = 0;
        /* The jobs inherit it; cpar itself only waits. */
        if (nice((int)n) == -1 && errno != 0) {
            snprintf(why, why_len, "%s", strerror(errno));
            return CTK_EINVAL;
        }
        return 0;
    }
    case OPT_TMPDIR:
        g_setenv("TMPDIR", v, TRUE);
        return 0;
    case OPT_PROCESS_SLOT_VAR: {
        /* A name the shell can read back, short enough for the job's
         * fixed "NAME=N" slot. */
        size_t len = strlen(v);
        int ok = len > 0 && len <= CTK_SLOT_VAR_MAX && !g_ascii_isdigit(v[0]);
        for (size_t i = 0; ok && i < len; i++)
            ok = g_ascii_isalnum(v[i]) || v[i] == '_';
        if (!ok) {
            snprintf(why, why_len, "not a variable name");
            return CTK_EINVAL;
        }
        o->slot_var = v;
        return 0;
    }
    case OPT_SHELL:
        o->shell = 1;
        return 0;
    case OPT_UNGROUP:
        o->ungroup = 1;
        return 0;
    case OPT_GROUP:
        o->ungroup = 0;
        return 0;
    case OPT_TAG:
        o->tag = 1;
        return 0;
    case OPT_JOBLOG:
        o->joblog = v;
        return 0;
    case OPT_RESUME:
        o->resume = 1;
        return 0;
    case OPT_RESUME_FAILED:
        o->resume = 2;
        return 0;
    case OPT_RETRIES:
        /* GNU parallel fills replacement strings in: --retries {2} */
        if (strchr(v, '{') != NULL) {
            o->retries_text = v;
            return 0;
        }
        o->retries_text = NULL;
        return ctk_parse_u64(v, 0, 1000000, &o->retries, why, why_len);
    case OPT_TIMEOUT:
        return ctk_parse_duration(v, &o->timeout, why, why_len);
    case OPT_TERMSEQ: {
        int rc = ctk_spawn_termseq_parse(v, o->termseq, CTK_SPAWN_TERMSEQ_MAX, &o->termseq_len);
        if (rc < 0)
            snprintf(why, why_len, "use SIGNAL,MS,SIGNAL,MS,... (e.g. TERM,200,KILL,25)");
        return rc;
    }
    case OPT_DRY_RUN:
        o->dry_run = 1;
        return 0;
    case OPT_RECORDS:
        o->records = v;
        return 0;
    case OPT_HALT:
        return ctk_halt_parse(v, &o->halt, why, why_len);
    case OPT_DELAY:
        return ctk_parse_duration(v, &o->delay, why, why_len);
    case OPT_RATE:
        return ctk_rate_parse(v, &o->rate, why, why_len);
    case OPT_TAGSTRING:
        o->tagstring = v;
        return 0;
    case OPT_COLSEP:
        o->colsep = v;
        return 0;
    case OPT_CSV:
        o->csv = 1;
        return 0;
    case OPT_LINE_BUFFER:
        o->line_buffer = 1;
        return 0;
    case OPT_RESULTS:
        o->results = v;
        return 0;
    case OPT_SHELLQUOTE:
        o->shellquote++;
        return 0;
    case OPT_EXIT:
        return 0;
    case OPT_PROFILE: /* read before parsing: see with_env_options */
        return 0;
    case OPT_RETRY_FAILED:
        o->retry_failed = 1;
        return 0;
    case OPT_BAR:
    case OPT_ETA:
        o->bar = 1;
        return 0;
    }
    return CTK_EINVAL;
}

const ctk_cli cpar_cli = {
    .prog = PROG,
    .synopsis = "[OPTION]... [COMMAND [ARG]...] [::: ITEM...]... [:::: FILE...]...",
    .summary = "Run COMMAND once per input item, N at a time, as GNU parallel does. Items\n"
               "are the lines of standard input, or the ::: lists and :::: files (several\n"
               "sources make a cross product; :::+ and ::::+ link a source to the one before;\n"
               "every file after ::::+ is linked). Without COMMAND every item is a command\n"
               "line. Options in $PARALLEL come first.",
    .options = cpar_options,
    .handler = on_option,
    .stop_at_operand = 1,
    /* -j 0: as many as possible, as in GNU parallel, within a bound. */
    .jobs_unbounded = 256,
    .strategy_option = OPT_STRATEGY,
};

static void warn_plugin(void *arg, const ctk_plugin_error *err)
{
    (void)arg;
    fprintf(stderr, PROG ": plugin %s: %s\n", err->file, err->reason);
}

int cpar_usage_error(const char *message)
{
    fprintf(stderr, PROG ": %s\nTry '" PROG " --help' for more information.\n", message);
    return 2;
}

/* Checks what the parser cannot; returns a message or NULL. */
static const char *check_opts(const cpar_opts *o, const ctk_common *c, ctk_registry *reg)
{
    if (o->resume && o->joblog == NULL)
        return "--resume and --resume-failed need --joblog FILE";
    if (o->retry_failed && o->joblog == NULL)
        return "--retry-failed needs --joblog FILE";
    if (o->tollef && !o->gnu)
        return "--tollef has been retired (as in GNU parallel): remove it, or add --gnu to "
               "override it";
    if (o->pipe)
        return "--pipe and --pipepart are cpipe's: cpipe [OPTION]... COMMAND splits standard "
               "input into blocks (see cpipe(1))";
    if (c->compare != NULL && (o->joblog != NULL || o->records != NULL))
        return "--compare runs every job several times: it takes no --joblog or --records";
    /* Lines are printed as a job writes them by the thread that waits for
     * it: a strategy running jobs in other processes has no such thread
     * here, nor the -k order to print them in. */
    if (o->line_buffer && c->compare == NULL &&
        ctk_cli_strategy_forks(reg, c->strategy ? c->strategy : CTK_PARRUN_DEFAULT_STRATEGY))
        return "--line-buffer needs a strategy that runs jobs in cpar's own process "
               "(this one runs them in worker processes)";
    if (o->fill && o->colsep != NULL)
        return o->csv ? "-X and -m take no --csv" : "-X and -m take no --colsep";
    if (o->csv && (o->colsep[0] == '\0' || strlen(o->colsep) > CTK_SOURCES_CSV_SEP_MAX ||
                   strchr(o->colsep, '"') != NULL))
        return "--csv: --colsep is the field separator: 1 to 16 bytes, without '\"'";
    if (c->compare != NULL && o->dry_run)
        return "--compare runs the jobs: it takes no --dry-run";
    return NULL;
}

static int takes_value(const char *a);

/* The files -J NAME reads, as GNU parallel looks for them: ./NAME and
 * /NAME as they are, else NAME in $PARALLEL_HOME, $XDG_CONFIG_HOME/parallel,
 * each of $XDG_CONFIG_DIRS/parallel and ~/.parallel. */
static void profile_files(const char *name, GPtrArray *files)
{
    if (g_str_has_prefix(name, "./") || name[0] == '/') {
        if (access(name, R_OK) == 0)
            g_ptr_array_add(files, g_strdup(name));
        return;
    }
    GPtrArray *dirs = g_ptr_array_new_with_free_func(g_free);
    const char *home = g_getenv("PARALLEL_HOME"), *xdg = g_getenv("XDG_CONFIG_HOME");
    const char *xdg_dirs = g_getenv("XDG_CONFIG_DIRS");
    if (home != NULL)
        g_ptr_array_add(dirs, g_strdup(home));
    if (xdg != NULL)
        g_ptr_array_add(dirs, g_build_filename(xdg, "parallel", NULL));
    char **split = g_strsplit(xdg_dirs != NULL ? xdg_dirs : "", ":", -1);
    for (char **d = split; *d != NULL; d++)
        if (**d != '\0')
            g_ptr_array_add(dirs, g_build_filename(*d, "parallel", NULL));
    g_strfreev(split);
    g_ptr_array_add(dirs, g_build_filename(g_get_home_dir(), ".parallel", NULL));
    for (guint i = 0; i < dirs->len; i++) {
        char *path = g_build_filename(dirs->pdata[i], name, NULL);
        if (g_file_test(dirs->pdata[i], G_FILE_TEST_IS_DIR) && access(path, R_OK) == 0)
            g_ptr_array_add(files, path);
        else
            g_free(path);
    }
    g_ptr_array_free(dirs, TRUE);
}

/* -J/--profile NAME among the options before the command (not after it,
 * GNU parallel's bug #37042), unless --plain: each profile's lines, but
 * for # comments, split as the shell splits words. */
static void profile_words(int argc, char **argv, GPtrArray *words)
{
    GPtrArray *names = g_ptr_array_new();
    int plain = 0;
    for (int i = 1; i < argc && argv[i][0] == '-' && strcmp(argv[i], "--") != 0; i++) {
        const char *a = argv[i], *name = NULL;
        if (strcmp(a, "-J") == 0 || strcmp(a, "--profile") == 0)
            name = i + 1 < argc ? argv[i + 1] : NULL;
        else if (g_str_has_prefix(a, "--profile="))
            name = a + 10;
        else if (a[1] == 'J')
            name = a + 2;
        plain |= strcmp(a, "--plain") == 0;
        if (name != NULL)
            g_ptr_array_add(names, (gpointer)name);
        if (takes_value(a))
            i++;
    }
    GPtrArray *files = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; !plain && i < names->len; i++) {
        guint before = files->len;
        profile_files(names->pdata[i], files);
        if (files->len == before)
            fprintf(stderr, PROG ": Warning: no profile %s (looked in ~/.parallel)\n",
                    (const char *)names->pdata[i]);
    }
    for (guint i = 0; i < files->len; i++) {
        char *text = NULL;
        if (!g_file_get_contents(files->pdata[i], &text, NULL, NULL))
            continue;
        char **lines = g_strsplit(text, "\n", -1);
        for (char **l = lines; *l != NULL; l++) {
            char **w = NULL;
            int n = 0;
            if (*g_strchug(*l) == '#' || !g_shell_parse_argv(*l, &n, &w, NULL))
                continue;
            for (int k = 0; k < n; k++)
                g_ptr_array_add(words, w[k]);
            g_free(w);
        }
        g_strfreev(lines);
        g_free(text);
    }
    g_ptr_array_free(files, TRUE);
    g_ptr_array_free(names, TRUE);
}

/* The options of -J profiles and of $PARALLEL come before the command
 * line's, as GNU parallel reads them (split as the shell splits words). */
static char **with_env_options(int *argc, char **argv, char ***owned)
{
    const char *env = g_getenv("PARALLEL");
    GPtrArray *all = g_ptr_array_new();
    profile_words(*argc, argv, all);
    char **words = NULL;
    int n = 0;
    if (env != NULL && *env != '\0' && g_shell_parse_argv(env, &n, &words, NULL)) {
        for (int i = 0; i < n; i++)
            g_ptr_array_add(all, words[i]);
        g_free(words);
    }
    g_ptr_array_add(all, NULL);
    n = (int)all->len - 1;
    words = (char **)g_ptr_array_free(all, FALSE);
    *owned = words;
    if (n == 0)
        return argv;
    char **out = g_new0(char *, (size_t)(*argc + n + 1));
    out[0] = argv[0];
    for (int i = 0; i < n; i++)
        out[1 + i] = words[i];
    for (int i = 1; i < *argc; i++)
        out[n + i] = argv[i];
    *argc += n;
    *owned = words;
    return out;
}

/* Whether the option word a (before any '=') takes the next word as its
 * value: cpar's table, and the shared options that take one. */
static int takes_value(const char *a)
{
    if (a[1] == '-') {
        size_t len = strcspn(a + 2, "=");
        if (a[2 + len] == '=')
            return 0;
        if ((len == 6 && strncmp(a + 2, "format", 6) == 0) ||
            (len == 6 && strncmp(a + 2, "plugin", 6) == 0))
            return 1;
        for (const ctk_cli_option *o = cpar_options; o->name != NULL; o++)
            if (strlen(o->name) == len && strncmp(o->name, a + 2, len) == 0)
                return o->has_arg == CTK_ARG_REQUIRED;
        return 0;
    }
    for (const char *c = a + 1; *c != '\0'; c++)
        for (const ctk_cli_option *o = cpar_options; o->name != NULL; o++)
            if (o->short_name == *c && o->has_arg != CTK_ARG_NONE)
                return o->has_arg == CTK_ARG_REQUIRED && c[1] == '\0';
    return 0;
}

/* "sync,thread", "all", "process": names of strategies, a comma list. */
static int is_strategy_list(ctk_registry *reg, const char *w)
{
    if (strcmp(w, "all") == 0 || (strchr(w, ',') != NULL && strchr(w, ' ') == NULL))
        return 1;
    return ctk_registry_strategy(reg, w) != NULL;
}

/* GNU parallel's --replace takes a value only when one follows (its
 * optional string): "--replace -k" is -I {} and -k. */
static void fix_optional_values(int argc, char **argv, ctk_registry *reg, GPtrArray *owned)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0' || strcmp(a, "--") == 0)
            return;
        /* "--compare sync,thread": a list of strategies is its value, not
         * the command. */
        if (strcmp(a, "--compare") == 0 && i + 1 < argc && is_strategy_list(reg, argv[i + 1])) {
            char *joined = g_strconcat("--compare=", argv[i + 1], NULL);
            g_ptr_array_add(owned, joined);
            argv[i] = joined;
            memmove(argv + i + 1, argv + i + 2, (size_t)(argc - i - 2) * sizeof *argv);
            argv[--argc] = NULL;
            continue;
        }
        /* --max-lines alone is 1, as GNU parallel's optional value (-L
         * needs its number). */
        if (strcmp(a, "--max-lines") == 0 &&
            (i + 1 == argc || argv[i + 1][0] == '\0' ||
             strspn(argv[i + 1], "0123456789") != strlen(argv[i + 1]))) {
            argv[i] = (char *)"--max-lines=1";
            continue;
        }
        if (strcmp(a, "--replace") == 0 && (i + 1 == argc || argv[i + 1][0] == '-')) {
            argv[i] = (char *)"--replace={}";
            continue;
        }
        /* -i WORD, -e WORD, --eof WORD: parallel's optional strings take
         * the next word unless it is an option; -l N takes a number. */
        const char *glue = strcmp(a, "-i") == 0 || strcmp(a, "-e") == 0 ? ""
                           : strcmp(a, "--eof") == 0                    ? "="
                                                                        : NULL;
        if (strcmp(a, "-l") == 0 && i + 1 < argc && argv[i + 1][0] != '\0' &&
            strspn(argv[i + 1], "0123456789") == strlen(argv[i + 1]))
            glue = "";
        if (glue != NULL && i + 1 < argc && argv[i + 1][0] != '-') {
            char *joined = g_strconcat(a, glue, argv[i + 1], NULL);
            g_ptr_array_add(owned, joined);
            argv[i] = joined;
            memmove(argv + i + 1, argv + i + 2, (size_t)(argc - i - 2) * sizeof *argv);
            argv[--argc] = NULL;
            continue;
        }
        if (takes_value(a))
            i++;
    }
}

/* --arg-sep, --arg-file-sep: the user's separators become ::: and ::::;
 * --link: every source after the first is linked (:::+, ::::+). */
static void rewrite_separators(const cpar_opts *o, int argc, char **argv, int first)
{
    int sources = 0;
    for (int i = first; i < argc; i++) {
        int file;
        if (o->arg_sep != NULL && strcmp(argv[i], o->arg_sep) == 0)
            argv[i] = (char *)":::";
        else if (o->arg_file_sep != NULL && strcmp(argv[i], o->arg_file_sep) == 0)
            argv[i] = (char *)"::::";
        if (strcmp(argv[i], ":::") == 0)
            file = 0;
        else if (strcmp(argv[i], "::::") == 0)
            file = 1;
        else
            continue;
        if (o->link && (sources++ > 0 || o->arg_files->len > 0))
            argv[i] = (char *)(file ? "::::+" : ":::+");
    }
}

/* -j FILE (GNU parallel's procfile): the number is the file's text, one
 * trailing newline dropped, parsed as -j's value. GNU parallel re-reads a
 * changed file as jobs end; cpar's job slots are fixed at start, so cpar
 * reads it once. Returns 1 when v is a file and *text its contents. */
static int jobs_file(const char *v, char **text, char *err, size_t err_len)
{
    struct stat st;
    if (stat(v, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    gsize len = 0;
    GError *e = NULL;
    if (!g_file_get_contents(v, text, &len, &e)) {
        snprintf(err, err_len, "-j %s: %s", v, e->message);
        g_error_free(e);
        return CTK_EINVAL;
    }
    if (len > 0 && (*text)[len - 1] == '\n')
        (*text)[len - 1] = '\0';
    return 1;
}

/* -j: N, N%, 0 (as many as may be), and GNU parallel's +N and -N (the
 * cores plus or minus N, at least 1). */
static int parse_jobs_value(const char *v, unsigned *jobs, char *err, size_t err_len)
{
    char why[160];
    unsigned cores = ctk_cpu_count();
    if (strcmp(v, "0") == 0) {
        *jobs = cpar_cli.jobs_unbounded;
        return 0;
    }
    if (v[0] == '+' || v[0] == '-') {
        uint64_t n;
        if (ctk_parse_u64(v + 1, 0, 4096, &n, why, sizeof why) < 0) {
            snprintf(err, err_len, "-j %s: %s", v, why);
            return CTK_EINVAL;
        }
        long j = v[0] == '+' ? (long)cores + (long)n : (long)cores - (long)n;
        *jobs = j < 1 ? 1 : j > 4096 ? 4096 : (unsigned)j;
        return 0;
    }
    if (ctk_parse_jobs(v, cores, 4096, jobs, why, sizeof why) < 0) {
        snprintf(err, err_len, "-j %s: %s", v, why);
        return CTK_EINVAL;
    }
    return 0;
}

/* -j's value, or else a file holding it (GNU parallel's order: a file
 * named 3 does not hide -j 3). */
static int parse_jobs(const char *v, unsigned *jobs, char *err, size_t err_len)
{
    int rc = parse_jobs_value(v, jobs, err, err_len);
    char *text = NULL;
    if (rc == 0 || jobs_file(v, &text, err, err_len) <= 0)
        return rc;
    rc = parse_jobs_value(text, jobs, err, err_len);
    if (rc < 0)
        snprintf(err, err_len, "-j %s: the file holds '%.40s', not a number of jobs", v, text);
    g_free(text);
    return rc;
}

void cpar_opts_init(cpar_opts *o, int argc, char **argv)
{
    *o = (cpar_opts){.arg_files = g_ptr_array_new(),
                     .delim = "\n",
                     .delim_len = 1,
                     .per_job = 1,
                     .retries = 1,
                     .argc = argc,
                     .argv = argv,
                     .orig_argv = argv,
                     .owned = g_ptr_array_new_with_free_func(g_free)};
}

void cpar_opts_free(cpar_opts *o)
{
    g_ptr_array_free(o->arg_files, TRUE);
    g_ptr_array_free(o->owned, TRUE);
    if (o->argv != o->orig_argv)
        g_free(o->argv);
    g_strfreev(o->env_words);
}

int cpar_opts_parse(cpar_opts *o, ctk_common *c, ctk_registry *reg, int *first)
{
    char err[1600];
    ctk_cli cli = cpar_cli;
    cli.handler_arg = o;
    o->argv = with_env_options(&o->argc, o->argv, &o->env_words);
    fix_optional_values(o->argc, o->argv, reg, o->owned);
    while (o->argc > 0 && o->argv[o->argc - 1] == NULL)
        o->argc--; /* --compare LIST became one word */
    int rc = ctk_cli_parse(&cli, reg, o->argc, o->argv, c, first, err, sizeof err);
    if (rc == 0 && o->jobs != NULL)
        rc = parse_jobs(o->jobs, &c->jobs, err, sizeof err);
    if (rc < 0)
        return rc == CTK_EINVAL ? cpar_usage_error(err) : (fprintf(stderr, PROG ": %s\n", err), 2);
    if (ctk_cli_inform(&cpar_cli, reg, c, stdout, warn_plugin, NULL))
        return 0;
    c->header = o->records_header;
    rewrite_separators(o, o->argc, o->argv, *first);
    /* As GNU parallel: a --colsep given trims the columns (unless --trim
     * says otherwise); --csv's field separator is ',' unless --colsep
     * says otherwise, and --header without either splits the header and
     * the values at tabs (neither of these two defaults trims). */
    if (o->trim == NULL && o->colsep != NULL)
        o->trim = "rl";
    if (o->csv && o->colsep == NULL)
        o->colsep = ",";
    if (o->header != NULL && o->colsep == NULL)
        o->colsep = "\t";
    /* A dry run prints its lines in input order, as parallel's does (it
     * starts its jobs in order and a dry job ends at once): with nothing
     * run, printing in the order jobs finish only shuffles them. */
    if (o->dry_run)
        c->keep_order = 1;
    const char *problem = check_opts(o, c, reg);
    return problem != NULL ? cpar_usage_error(problem) : -1;
}
