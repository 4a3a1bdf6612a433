/* pipe.c: cpipe's engine: cutting the input into blocks (reader thread),
 * running a filter per block (the strategy's workers, or one libuv loop),
 * and writing the outputs in order (writer thread). */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipe.h"
#include "ctkx/guard.h"
#include "ctkx/joblog.h"
#include "ctkx/rate.h"
#include "ctkx/spool.h"
#include "unit.h"

/* A pipe's capacity we ask for: a 1M block then moves in one write. */
#define PIPE_SIZE ((size_t)1 << 20)
/* A block's output kept in memory; beyond it waits in a temporary file. */
#define OUT_MEM_LIMIT ((size_t)4 << 20)

struct ctk_pipe {
    ctk_pipe_opts opts;
    const int *cancel;
    int cancel_fd; /* readable once cancelled; -1: none */
    ctk_progress *progress;
    uint64_t progress_divisor;
    pid_t owner;      /* results made in another process travel as bytes */
    ctk_spool *spool; /* elsewhere: big outputs on their way to the writer */
    uint64_t run;     /* names this run's tickets (results kept in this process) */

    /* The input: a file cut by offsets, or a pipe with the bytes read
     * ahead. */
    int seekable;
    uint64_t size;     /* of the file, when we started */
    uint64_t dev, ino; /* which file a window unit must name */
    ctk_buf window;    /* the file's bytes around a cut */
    uint64_t start;    /* where blocks begin: after the header */
    uint64_t pos;      /* the next block's offset */
    uint64_t grown;    /* --pipe: the block size, grown past records longer than it */
    uint64_t carry;    /* --pipe: bytes parallel would hold read past pos */
    ctk_buf header;
    GRegex *header_re; /* --header REGEXP; NULL: header_lines */
    ctk_buf next;      /* piped: room for a unit's head, the header, bytes read ahead */
    ctk_buf head;      /* piped: the next unit's head, encoded */
    int eof;
    uint64_t produced;
    ctk_buf raw;      /* -r: bytes as read, before the blank lines go */
    ctk_buf blank;    /* -r: the whitespace that starts a line not yet known
                         to hold anything else */
    int in_text;      /* -r: the current line has shown a non-space */
    int garbage_done; /* -N --regexp: the leading record was looked for */

    ctk_spawn_program program;

    /* --round-robin: one lane unit per filter; a lane's job hands the
     * feeder thread the write end of its filter's stdin through
     * lane_sock (a socket made before any strategy forks, so a worker
     * process can too), and the feeder writes each block whole into a
     * lane that has taken its last one. */
    int lane_sock[2];
    unsigned lanes_made;
    pthread_t feeder;
    int feeder_started;

    /* Filters' pids, in memory shared with the process strategy's
     * workers, so a signal reaches filters this process did not start. */
    pid_t *shared_pids;
    size_t n_shared;
    /* The job slots ({%}), [1..jobs] in use or not, shared the same way. */
    unsigned char *slots;
    ctk_rate *rate;    /* --delay; NULL: none */
    int stall_armed;   /* --blocktimeout: a read may give up (ETIMEDOUT)... */
    size_t stall_from; /* ...once p->next holds bytes past this */

    pthread_mutex_t lock; /* everything below */
    GPtrArray *running;   /* ctk_spawn_child * of this process */
    GHashTable *pending;  /* ticket -> ctk_spawn_result * made, not yet consumed */
    uint64_t tickets;     /* the last ticket given */
    int stop;             /* --halt reached: feed no more */
    int discard;          /* --halt now: running blocks' outputs are not written */
    ctk_pipe_stats stats;
    GChecksum *digest;
    int joblog_errno; /* writing --joblog failed: no more lines (writer thread) */

    /* --line-buffer: whole lines of a running filter go out early, by
     * its job, under print_lock, which the writer holds for each
     * block's output; in order, only the block the writer takes next. */
    pthread_mutex_t print_lock;
    uint64_t next_out; /* that block's number (under print_lock) */
};

static int stopped(ctk_pipe *p)
{
    return __atomic_load_n(&p->stop, __ATOMIC_RELAXED) || ctk_is_cancelled(p->cancel);
}

/* ---- the input ----------------------------------------------------------- */

/* Waits for input, giving up when the run is cancelled (a reader blocked
 * on a silent pipe must not keep cpipe from exiting): the cancel fd wakes
 * the wait at once, so there is no timeout to wake on. */
static ssize_t read_some(ctk_pipe *p, void *buf, size_t len)
{
    for (;;) {
        struct pollfd pf[2] = {{.fd = p->opts.in_fd, .events = POLLIN},
                               {.fd = p->cancel_fd, .events = POLLIN}};
        /* --blocktimeout: input that stalls with a block begun ends it. */
        int ms = p->stall_armed && p->next.len > p->stall_from
                     ? (int)(p->opts.block_timeout * 1000.0)
                     : -1;
        int n = poll(pf, p->cancel_fd >= 0 ? 2 : 1, ms);
        if (ctk_is_cancelled(p->cancel) || (n > 0 && pf[1].revents != 0)) {
            errno = ECANCELED;
            return -1;
        }
        if (n == 0 && ms >= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (n < 0 && errno != EINTR)
            return -1;
        if (n <= 0)
            continue;
        ssize_t got = read(p->opts.in_fd, buf, len);
        if (got >= 0 || (errno != EINTR && errno != EAGAIN))
            return got;
    }
}

/* Perl's \s without \n: what parallel's -r (s/^\s*\n//gm) takes for
 * the blank of a blank line. */
static int perl_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* -r: one read, appended to p->next without its whitespace-only lines
 * (parallel --pipe -r's s/^\s*\n//gm on what it read). A line's leading
 * whitespace waits in p->blank until the line shows whether it is blank;
 * at the end of input it is kept (it has no newline to make it a line). */
static int read_nonblank(ctk_pipe *p)
{
    if (p->raw.cap == 0) {
        if ((p->raw.data = malloc(65536)) == NULL)
            return CTK_ENOMEM;
        p->raw.cap = 65536;
    }
    ssize_t n = read_some(p, p->raw.data, p->raw.cap);
    if (n < 0)
        return errno == ECANCELED ? CTK_ECANCELED : -errno;
    if (n == 0) {
        p->eof = 1;
        int rc = ctk_buf_append(&p->next, p->blank.data, p->blank.len);
        p->blank.len = 0;
        return rc;
    }
    size_t need = p->next.len + p->blank.len + (size_t)n;
    if (p->next.cap < need) {
        unsigned char *d = realloc(p->next.data, need);
        if (d == NULL)
            return CTK_ENOMEM;
        p->next.data = d;
        p->next.cap = need;
    }
    for (ssize_t i = 0; i < n; i++) {
        unsigned char c = p->raw.data[i];
        if (p->in_text) {
            p->next.data[p->next.len++] = c;
            p->in_text = c != '\n';
        } else if (c == '\n') {
            p->blank.len = 0; /* a blank line: gone with its newline */
        } else if (perl_space(c)) {
            int rc = ctk_buf_append(&p->blank, &c, 1);
            if (rc < 0)
                return rc;
        } else {
            if (p->blank.len > 0) /* blank.data is NULL until a blank came */
                memcpy(p->next.data + p->next.len, p->blank.data, p->blank.len);
            p->next.len += p->blank.len;
            p->blank.len = 0;
            p->next.data[p->next.len++] = c;
            p->in_text = 1;
        }
    }
    return 0;
}

/* Reads until p->next holds `want` bytes after `from`, or end of input. */
static int fill(ctk_pipe *p, size_t from, size_t want)
{
    while (!p->eof && p->next.len - from < want) {
        size_t need = from + want + 65536;
        if (p->next.cap < need) {
            unsigned char *d = realloc(p->next.data, need);
            if (d == NULL)
                return CTK_ENOMEM;
            p->next.data = d;
            p->next.cap = need;
        }
        if (p->opts.skip_empty) {
            int rc = read_nonblank(p);
            if (rc < 0)
                return rc;
            continue;
        }
        ssize_t n = read_some(p, p->next.data + p->next.len, p->next.cap - p->next.len);
        if (n < 0)
            return errno == ECANCELED ? CTK_ECANCELED : -errno;
        if (n == 0)
            p->eof = 1;
        p->next.len += (size_t)n;
    }
    return 0;
}

/* Whether the header is whole in data[0, len): its end in *end. A
 * --header REGEXP is matched at the input's start, as parallel matches
 * it on what it has read so far. */
static int header_found(ctk_pipe *p, const char *data, size_t len, size_t *end)
{
    *end = 0;
    if (p->header_re == NULL) {
        *end = ctk_blocks_header_end(data, len, p->opts.header_lines);
        return *end > 0;
    }
    GMatchInfo *mi = NULL;
    int start = 0, stop = 0;
    int found = len <= G_MAXSSIZE &&
                g_regex_match_full(p->header_re, len > 0 ? data : "", (gssize)len, 0,
                                   G_REGEX_MATCH_ANCHORED, &mi, NULL) &&
                g_match_info_fetch_pos(mi, 0, &start, &stop);
    g_match_info_free(mi);
    *end = found ? (size_t)stop : 0;
    return found;
}

/* The header once found; at the input's end without one there is none,
 * and every byte is a block's (as in parallel, whose --header N is a
 * regexp of N lines too). */
static int read_header(ctk_pipe *p, const char *data, size_t end)
{
    return ctk_buf_set(&p->header, data, end);
}

static int want_header(const ctk_pipe *p)
{
    return p->opts.header_lines > 0 || p->header_re != NULL;
}

static int open_pipe_input(ctk_pipe *p)
{
    /* A larger pipe from our writer means fewer, larger reads. */
    (void)fcntl(p->opts.in_fd, F_SETPIPE_SZ, (int)PIPE_SIZE);
    /* Room for each unit's head before its bytes, filled in at the cut. */
    static const unsigned char room[CTK_PIPE_UNIT_HEAD];
    int rc = ctk_buf_set(&p->next, room, sizeof room);
    size_t end = 0;
    /* The header: read until it is whole (its lines may be long). */
    for (size_t want = 65536; rc == 0 && want_header(p); want *= 2) {
        rc = fill(p, sizeof room, want);
        const char *data = (const char *)p->next.data + sizeof room;
        size_t len = p->next.len - sizeof room;
        if (rc == 0 && (header_found(p, data, len, &end) || p->eof)) {
            rc = read_header(p, data, end);
            break;
        }
    }
    if (rc == 0 && end > 0) {
        /* The header stays where it is: every block's buffer starts so. */
        p->start = end;
        p->pos = end;
    }
    return rc;
}

/* Cuts are looked for in a window of the file read around them, never in
 * a mapping of it: the blocks go from the file to the filters by splice,
 * so memory stays bounded by the window, and a file that shrinks under us
 * (a log truncated by its rotation) is an error, not a SIGBUS. */
#define CUT_WINDOW ((size_t)64 << 10)

/* Reads len bytes of the file at off into p->window. CTK_EIO: the file
 * ends before them (it shrank since we started). */
static int read_at(ctk_pipe *p, uint64_t off, size_t len)
{
    if (p->window.cap < len) {
        unsigned char *d = realloc(p->window.data, len);
        if (d == NULL)
            return CTK_ENOMEM;
        p->window.data = d;
        p->window.cap = len;
    }
    p->window.len = 0;
    while (p->window.len < len) {
        ssize_t n = pread(p->opts.in_fd, p->window.data + p->window.len, len - p->window.len,
                          (off_t)(off + p->window.len));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : CTK_EIO;
        p->window.len += (size_t)n;
    }
    return 0;
}

static int open_file_input(ctk_pipe *p, const struct stat *st)
{
    off_t at = lseek(p->opts.in_fd, 0, SEEK_CUR);
    if (at < 0 || (uint64_t)st->st_size < (uint64_t)at)
        return CTK_EINVAL;
    p->size = (uint64_t)st->st_size;
    p->seekable = 1;
    uint64_t rest = p->size - (uint64_t)at;
    size_t end = 0;
    int rc = 0;
    /* The header: read until it is whole (its lines may be long). */
    for (uint64_t want = CUT_WINDOW; want_header(p); want *= 2) {
        size_t span = (size_t)(want < rest ? want : rest);
        rc = read_at(p, (uint64_t)at, span);
        if (rc < 0)
            break;
        const char *data = (const char *)p->window.data;
        if (header_found(p, data, span, &end) || span == rest) {
            rc = read_header(p, data, end);
            break;
        }
    }
    p->start = p->pos = (uint64_t)at + end;
    return rc;
}

uint64_t ctk_pipe_input_size(const ctk_pipe *p)
{
    return p->seekable ? p->size - p->start : 0;
}

/* ---- producing blocks ------------------------------------------------------ */

/* GNU parallel reads a pipe a block at a time and, finding no record end
 * in what it holds, grows the block by 30% (up to 2G) for the rest of the
 * run. */
static void grow(ctk_pipe *p)
{
    uint64_t two_gb = ((uint64_t)1 << 31) - 1, b = p->grown;
    b = b + (b * 3 + 9) / 10 + 1; /* ceil(b * 1.3 + 1) */
    p->grown = b < two_gb ? b : two_gb;
}

/* How much parallel's buffer holds after its next read: carry topped up
 * to the next multiple of the block size. */
static uint64_t pipe_target(const ctk_pipe *p)
{
    return p->carry + p->grown - p->carry % p->grown;
}

/* The last cut in the file's [pos, pos + t) with its separator wholly
 * inside, read backwards a window at a time; 0 when there is none. */
static int last_cut_seekable(ctk_pipe *p, uint64_t t, uint64_t *cut)
{
    const ctk_blocks *b = p->opts.rules;
    size_t reach = ctk_blocks_reach(b);
    int rc;
    *cut = 0;
    if (reach == 0) {
        *cut = ctk_blocks_cut(b, NULL, (size_t)t, (size_t)t);
        return 0;
    }
    if (reach == SIZE_MAX || t <= 2 * CUT_WINDOW) { /* a regexp needs the whole */
        if ((rc = read_at(p, p->pos, (size_t)t)) < 0)
            return rc;
        *cut = ctk_blocks_cut(b, (const char *)p->window.data, (size_t)t, (size_t)t);
        return 0;
    }
    /* Windows overlap by a separator less a byte, so each separator is
     * wholly inside one of them. */
    for (uint64_t end = t;;) {
        uint64_t from = end > CUT_WINDOW ? end - CUT_WINDOW : 0;
        if ((rc = read_at(p, p->pos + from, (size_t)(end - from))) < 0)
            return rc;
        size_t c = ctk_blocks_cut(b, (const char *)p->window.data, (size_t)(end - from),
                                  (size_t)(end - from));
        if (c > 0 || from == 0) {
            *cut = c > 0 ? from + c : 0;
            return 0;
        }
        end = from + reach - 1;
    }
}

/* The first cut in the file at or after pos + from (parallel --pipepart
 * seeks there and reads on to a record's end); with a regexp, the last
 * one in the first 128K read from there (parallel's greedy match). 0 when
 * the file has none: the rest is the block. */
static int next_cut_seekable(ctk_pipe *p, uint64_t rest, uint64_t from, uint64_t *cut)
{
    const ctk_blocks *b = p->opts.rules;
    size_t reach = ctk_blocks_reach(b), c = 0;
    int rc;
    *cut = 0;
    if (reach == 0) {
        if (ctk_blocks_next(b, NULL, (size_t)rest, (size_t)from, &c))
            *cut = c;
        return 0;
    }
    for (uint64_t at = from; at < rest;) {
        uint64_t span = reach == SIZE_MAX ? (at - from) + 131072 : CUT_WINDOW + reach - 1;
        uint64_t start = reach == SIZE_MAX ? from : at;
        if (start + span > rest)
            span = rest - start;
        if ((rc = read_at(p, p->pos + start, (size_t)span)) < 0)
            return rc;
        const char *w = (const char *)p->window.data;
        if (reach == SIZE_MAX) {
            c = ctk_blocks_cut(b, w, (size_t)span, (size_t)span);
            if (c > 0) {
                *cut = start + c;
                return 0;
            }
        } else if (ctk_blocks_next(b, w, (size_t)span, 0, &c)) {
            *cut = start + c;
            return 0;
        }
        at = start + span;
        if (reach != SIZE_MAX && at < rest)
            at -= reach - 1;
        if (start + span >= rest)
            break;
    }
    return 0;
}

/* The length of the block at p->pos, of `rest` bytes left. */
static int cut_seekable(ctk_pipe *p, uint64_t rest, uint64_t *len)
{
    uint64_t block = p->opts.block, c;
    int rc;
    *len = rest;
    if (p->opts.part) {
        if (rest <= block)
            return 0;
        if ((rc = next_cut_seekable(p, rest, block, &c)) < 0)
            return rc;
        *len = c > 0 ? c : rest;
        return 0;
    }
    for (;;) {
        uint64_t t = pipe_target(p);
        if (rest < t) { /* parallel's read meets the end: all of it */
            p->carry = 0;
            return 0;
        }
        if ((rc = last_cut_seekable(p, t, &c)) < 0)
            return rc;
        if (c > 0) {
            *len = c;
            p->carry = t - c;
            return 0;
        }
        p->carry = t;
        grow(p);
    }
}

static int produce_seekable(ctk_pipe *p, ctk_unit *unit)
{
    if (p->pos >= p->size) {
        /* Consumed, as a pipe would be: `(cpipe ...; cat) < FILE` must
         * not see the file again. */
        (void)lseek(p->opts.in_fd, (off_t)p->size, SEEK_SET);
        if (p->produced > 0 || !p->opts.empty_block)
            return CTK_EOF;
    }
    uint64_t len;
    int rc = cut_seekable(p, p->size - p->pos, &len);
    if (rc < 0)
        return rc;
    /* The block stays in the file: the unit names it, with the header. */
    ctk_pipe_unit u = {.kind = CTK_PIPE_UNIT_WINDOW,
                       .offset = p->pos - p->start,
                       .len = len,
                       .dev = p->dev,
                       .ino = p->ino,
                       .at = p->pos,
                       .data = p->header.data,
                       .data_len = p->header.len};
    unit->in.len = 0;
    if ((rc = ctk_pipe_unit_encode(&unit->in, &u)) < 0)
        return rc;
    p->pos += len;
    /* A window grown for a huge record is not kept. */
    if (p->window.cap > 2 * (size_t)p->opts.block + 2 * CUT_WINDOW)
        ctk_buf_free(&p->window);
    return 0;
}

/* Where the block in data[0, len) ends by -N, -L or the --pipepart rule,
 * whatever the block size: 1 with *cut, 0 when more data is needed. */
static int cut_counted(ctk_pipe *p, const char *data, size_t len, size_t *cut)
{
    const ctk_blocks *b = p->opts.rules;
    uint64_t n = p->opts.records;
    if (n > 0)
        return ctk_blocks_nth(b, data, len, p->opts.lines > 0 ? n * p->opts.lines : n, cut);
    size_t block = (size_t)p->opts.block;
    if (ctk_blocks_reach(b) != SIZE_MAX)
        return ctk_blocks_next(b, data, len, block, cut);
    /* A regexp: the last match in the first 128K past the block's size. */
    for (size_t span = 131072; len > block; span += 131072) {
        size_t have = len - block < span ? len - block : span;
        size_t c = ctk_blocks_cut(b, data + block, have, have);
        if (c > 0) {
            *cut = block + c;
            return 1;
        }
        if (have < span)
            break;
    }
    return 0;
}

/* -N and --pipepart on a pipe: read until the rule finds the cut. */
static int cut_piped_counted(ctk_pipe *p, size_t skip, size_t *cut)
{
    size_t want = p->opts.records > 0 ? 65536 : (size_t)p->opts.block + 65536;
    if (p->opts.records > 0 && !p->garbage_done) {
        /* parallel looks for a leading record without recstart once, in
         * its first read of a block's size. */
        p->garbage_done = 1;
        int rc = fill(p, skip, (size_t)p->opts.block);
        if (rc < 0)
            return rc;
        size_t have = p->next.len - skip;
        *cut = ctk_blocks_garbage(p->opts.rules, (const char *)p->next.data + skip,
                                  have < p->opts.block ? have : (size_t)p->opts.block);
        if (*cut > 0)
            return 0;
    }
    for (;;) {
        int rc = fill(p, skip, want);
        if (rc < 0)
            return rc;
        const char *data = (const char *)p->next.data + skip;
        size_t len = p->next.len - skip;
        if (p->opts.records == 0 && len <= p->opts.block && p->eof) {
            *cut = len;
            return 0;
        }
        if (cut_counted(p, data, len, cut))
            return 0;
        if (p->eof) {
            *cut = len;
            return 0;
        }
        want = len * 2;
    }
}

/* --pipe on a pipe, as parallel reads it: top the buffer up to the next
 * multiple of the block size, cut at the last boundary in it (with -L, a
 * whole number of -L lines, also at the end of input), else grow. */
static int cut_piped_sized(ctk_pipe *p, size_t skip, size_t *cut)
{
    for (;;) {
        uint64_t t = pipe_target(p);
        p->stall_armed = p->opts.block_timeout > 0;
        p->stall_from = skip;
        int rc = fill(p, skip, (size_t)t);
        p->stall_armed = 0;
        const char *data = (const char *)p->next.data + skip;
        size_t len = p->next.len - skip, c;
        if (rc == -ETIMEDOUT) {
            /* GNU parallel's --blocktimeout: the whole records read so far
             * are a block; a partial one waits for its end. */
            c = ctk_blocks_cut(p->opts.rules, data, len, len);
            if (c > 0) {
                *cut = c;
                p->carry = 0;
                return 0;
            }
            rc = fill(p, skip, len + 1);
            if (rc < 0)
                return rc;
            continue; /* look again with what came */
        }
        if (rc < 0)
            return rc;
        if (len < t) { /* the end of input */
            c = p->opts.lines > 0 ? ctk_blocks_lines_cut(data, len, p->opts.lines) : 0;
            *cut = c > 0 ? c : len;
            p->carry = len - *cut;
            return 0;
        }
        c = p->opts.lines > 0 ? ctk_blocks_lines_cut(data, (size_t)t, p->opts.lines)
                              : ctk_blocks_cut(p->opts.rules, data, len, (size_t)t);
        if (c > 0) {
            *cut = c;
            p->carry = t - c;
            return 0;
        }
        p->carry = t;
        grow(p);
    }
}

static int produce_piped(ctk_pipe *p, ctk_unit *unit)
{
    size_t skip = CTK_PIPE_UNIT_HEAD + p->header.len; /* where data starts */
    size_t cut = 0;
    int rc = p->opts.records > 0 || (p->opts.part && p->opts.lines == 0)
                 ? cut_piped_counted(p, skip, &cut)
                 : cut_piped_sized(p, skip, &cut);
    if (rc < 0)
        return rc;
    if (cut == 0 && (p->produced > 0 || !p->opts.empty_block))
        return CTK_EOF;
    /* The block keeps the buffer; what follows the cut starts the next. */
    p->head.len = 0;
    rc = ctk_pipe_unit_encode_head(&p->head, p->pos - p->start, cut, p->header.len + cut);
    if (rc < 0)
        return rc;
    ctk_buf rest = {0};
    size_t tail = p->next.len - skip - cut;
    size_t cap = skip + (size_t)p->opts.block + 65536;
    rest.data = malloc(cap > skip + tail ? cap : skip + tail);
    if (rest.data == NULL)
        return CTK_ENOMEM;
    rest.cap = cap > skip + tail ? cap : skip + tail;
    memcpy(rest.data, p->next.data, skip);
    memcpy(rest.data + skip, p->next.data + skip + cut, tail);
    rest.len = skip + tail;
    memcpy(p->next.data, p->head.data, CTK_PIPE_UNIT_HEAD);
    p->next.len = skip + cut;
    ctk_buf_free(&unit->in);
    unit->in = p->next;
    p->next = rest;
    p->pos += cut;
    return 0;
}

/* A window's bytes, read from the input file into out (its whole
 * contents). CTK_EIO when the file has shrunk below it. */
static int read_window(const ctk_pipe *p, const ctk_pipe_unit *u, ctk_buf *out)
{
    out->len = 0;
    if (out->cap < u->len) { /* ctk_buf is realloc'd memory (buf.c) */
        unsigned char *room = realloc(out->data, (size_t)u->len);
        if (room == NULL)
            return CTK_ENOMEM;
        out->data = room;
        out->cap = (size_t)u->len;
    }
    for (size_t got = 0; got < u->len;) {
        ssize_t n =
            pread(p->opts.in_fd, out->data + got, (size_t)u->len - got, (off_t)(u->at + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : CTK_EIO;
        got += (size_t)n;
    }
    out->len = (size_t)u->len;
    return 0;
}

/* --rrs: the unit becomes the header and the block (a window read from
 * the file) without its record separators, as bytes. Stripping here, in
 * input order, lets a block left empty run no filter, as in parallel;
 * 1 when that is so. */
static int strip_unit(ctk_pipe *p, ctk_unit *unit)
{
    ctk_pipe_unit u;
    int rc = ctk_pipe_unit_decode(&u, unit->in.data, unit->in.len);
    if (rc < 0)
        return rc;
    size_t header_len = u.kind == CTK_PIPE_UNIT_BYTES ? u.data_len - (size_t)u.len : u.data_len;
    const char *block = (const char *)u.data + header_len;
    ctk_buf read_in = {0};
    if (u.kind == CTK_PIPE_UNIT_WINDOW) {
        if ((rc = read_window(p, &u, &read_in)) < 0) {
            ctk_buf_free(&read_in);
            return rc;
        }
        block = (const char *)read_in.data;
    }
    ctk_buf data = {0}, in = {0};
    rc = ctk_buf_append(&data, u.data, header_len);
    if (rc == 0)
        rc = ctk_blocks_strip(p->opts.rules, block, (size_t)u.len, &data);
    ctk_buf_free(&read_in);
    int empty = data.len == 0;
    ctk_pipe_unit stripped = {.kind = CTK_PIPE_UNIT_BYTES,
                              .offset = u.offset,
                              .len = data.len - header_len,
                              .data = data.data,
                              .data_len = data.len};
    if (rc == 0 && !empty)
        rc = ctk_pipe_unit_encode(&in, &stripped);
    ctk_buf_free(&data);
    if (rc < 0) {
        ctk_buf_free(&in);
        return rc;
    }
    ctk_buf_free(&unit->in);
    unit->in = in;
    return empty;
}

/* The next block as a unit: 0, CTK_EOF, or a failure whose message is
 * in the unit. */
static int next_block(ctk_pipe *p, ctk_unit *unit)
{
    if (stopped(p))
        return CTK_EOF;
    int rc;
    do
        rc = p->seekable ? produce_seekable(p, unit) : produce_piped(p, unit);
    while (rc == 0 && p->opts.rrs && (rc = strip_unit(p, unit)) == 1);
    if (rc == 0)
        p->produced++;
    if (rc == CTK_ECANCELED)
        return CTK_EOF;
    if (rc < 0 && rc != CTK_EOF) {
        p->eof = 1;
        p->size = p->pos; /* and no more blocks */
        if (rc == CTK_EIO && p->seekable)
            return ctk_unit_fail(unit, rc, "the input file shrank while being read (truncated?)");
        return ctk_unit_fail(unit, rc, "cannot read the input: %s", ctk_strerror(rc));
    }
    return rc;
}

static void *feeder_main(void *arg);
static void *tee_main(void *arg);
static void *shard_main(void *arg);

/* --round-robin, --tee: the lanes, then the end; the feeder reads the
 * input. */
static int produce_lane(ctk_pipe *p, ctk_unit *unit)
{
    if (stopped(p) || p->lanes_made == (p->opts.tee > 0 ? p->opts.tee : p->opts.jobs))
        return CTK_EOF;
    if (!p->feeder_started) {
        int rc = -pthread_create(&p->feeder, NULL,
                                 p->opts.tee > 0 ? tee_main
                                 : p->opts.shard ? shard_main
                                                 : feeder_main,
                                 p);
        if (rc < 0)
            return ctk_unit_fail(unit, rc, "cannot start feeding the filters: %s",
                                 ctk_strerror(rc));
        p->feeder_started = 1;
    }
    ctk_pipe_unit lane = {.kind = CTK_PIPE_UNIT_LANE};
    unit->in.len = 0;
    int rc = ctk_pipe_unit_encode(&unit->in, &lane);
    if (rc < 0)
        return rc;
    p->lanes_made++;
    return 0;
}

int ctk_pipe_produce(void *arg, ctk_unit *unit)
{
    ctk_pipe *p = arg;
    /* --delay: the strategies start units as they come, so spacing them
     * here spaces the starts. */
    if (p->rate != NULL && ctk_rate_wait(p->rate, p->cancel, p->cancel_fd) < 0)
        return CTK_EOF;
    return p->opts.round_robin || p->opts.tee > 0 ? produce_lane(p, unit) : next_block(p, unit);
}

/* ---- --round-robin: the feeder ------------------------------------------------ */

static void report(const ctk_pipe *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

enum { LANE_UNSEEN, LANE_OPEN, LANE_CLOSED };

typedef struct lane {
    int state;
    int fd;       /* LANE_OPEN: the write end of the filter's stdin */
    ctk_buf data; /* what it has still to take: the header, or a block */
    size_t taken;
    uint64_t at; /* --tee: input bytes (after the header) put in data so far */
} lane;

/* A lane's job hands over its pipe's write end: one u64 (the lane's
 * unit number) and the descriptor. */
static int lane_receive(int sock, uint64_t *id, int *fd)
{
    char ctl[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {id, sizeof *id};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
    ssize_t n;
    while ((n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    if (n <= 0)
        return n < 0 ? -errno : CTK_EOF;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    if (n != sizeof *id || c == NULL || c->cmsg_type != SCM_RIGHTS)
        return CTK_EIO;
    memcpy(fd, CMSG_DATA(c), sizeof *fd);
    return 0;
}

static int lane_send(int sock, uint64_t id, int fd)
{
    char ctl[CMSG_SPACE(sizeof(int))] = {0};
    struct iovec iov = {&id, sizeof id};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    ssize_t n;
    while ((n = sendmsg(sock, &m, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    return n < 0 ? -errno : 0;
}

static void lane_close(lane *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
    l->state = LANE_CLOSED;
    ctk_buf_free(&l->data);
    l->taken = 0;
}

/* A block's bytes, without the header (each lane had it once): a
 * window is read from the file. */
static int block_bytes(ctk_pipe *p, const ctk_unit *unit, ctk_buf *out)
{
    ctk_pipe_unit u;
    int rc = ctk_pipe_unit_decode(&u, unit->in.data, unit->in.len);
    if (rc < 0)
        return rc;
    out->len = 0;
    if (u.kind == CTK_PIPE_UNIT_BYTES)
        return ctk_buf_append(out, u.data + u.data_len - u.len, (size_t)u.len);
    return read_window(p, &u, out);
}

static void feed_failed(ctk_pipe *p, const char *what, int rc)
{
    report(p, "%s: %s", what, ctk_strerror(rc));
    pthread_mutex_lock(&p->lock);
    p->stats.failed++;
    if (p->stats.status == 0)
        p->stats.status = 255;
    pthread_mutex_unlock(&p->lock);
}

/* Until every lane has been seen and closed: take lanes as their jobs
 * start, give a lane that has taken its last block the next one, and
 * close every lane at the end of the input (a lane seen after that gets
 * none: its job runs no filter). A lane whose filter quit is dropped
 * with what it had not taken, as parallel drops it. */
static void *feeder_main(void *arg)
{
    ctk_pipe *p = arg;
    sigset_t pipe_sig;
    sigemptyset(&pipe_sig);
    sigaddset(&pipe_sig, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_sig, NULL);
    unsigned n = p->opts.jobs, seen = 0, closed = 0, next = 0;
    lane *lanes = g_new0(lane, n);
    struct pollfd *fds = g_new0(struct pollfd, n + 2);
    int ended = 0;
    ctk_unit unit = {0};
    while (closed < n) {
        if (stopped(p))
            ended = 1;
        unsigned open = 0, idle = n;
        for (unsigned i = 0; i < n; i++) {
            lane *l = &lanes[(next + i) % n];
            if (l->state != LANE_OPEN)
                continue;
            if (ended && (l->taken == l->data.len || stopped(p))) {
                lane_close(l);
                closed++;
                continue;
            }
            open++;
            if (idle == n && l->taken == l->data.len)
                idle = (next + i) % n;
        }
        if (!ended && idle < n) {
            unit.in.len = 0;
            int rc = next_block(p, &unit);
            if (rc == 0)
                rc = block_bytes(p, &unit, &lanes[idle].data);
            if (rc == 0) {
                lanes[idle].taken = 0;
                next = idle + 1;
                pthread_mutex_lock(&p->lock);
                p->stats.in_bytes += lanes[idle].data.len;
                pthread_mutex_unlock(&p->lock);
            } else {
                if (rc != CTK_EOF)
                    feed_failed(p, "cannot read the input", rc);
                ended = 1;
            }
            continue;
        }
        if (seen == n && open == 0) /* every filter quit: nobody to feed */
            ended = 1;
        if (seen == n && closed == n)
            break;
        nfds_t k = 0;
        fds[k++] = (struct pollfd){.fd = seen < n ? p->lane_sock[0] : -1, .events = POLLIN};
        fds[k++] = (struct pollfd){.fd = p->cancel_fd, .events = POLLIN};
        for (unsigned i = 0; i < n; i++) {
            lane *l = &lanes[i];
            int busy = l->state == LANE_OPEN && l->taken < l->data.len;
            fds[k++] = (struct pollfd){.fd = busy ? l->fd : -1, .events = POLLOUT};
        }
        if (poll(fds, k, -1) < 0 && errno != EINTR)
            break;
        if (fds[1].revents != 0)
            ended = 1;
        if (fds[0].revents != 0) {
            uint64_t id;
            int fd = -1;
            int rc = lane_receive(p->lane_sock[0], &id, &fd);
            if (rc == CTK_EOF) /* the run is over: nobody is coming */
                break;
            if (rc == 0 && id >= 1 && id <= n && lanes[id - 1].state == LANE_UNSEEN) {
                lane *l = &lanes[id - 1];
                seen++;
                l->fd = fd;
                l->state = LANE_OPEN;
                (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
                /* Each filter gets the header once, as in parallel. */
                if (ctk_buf_append(&l->data, p->header.data, p->header.len) < 0 || ended) {
                    lane_close(l);
                    closed++;
                }
            } else if (rc == 0) {
                close(fd);
            }
        }
        for (unsigned i = 0; i < n; i++) {
            lane *l = &lanes[i];
            if (fds[2 + i].revents == 0 || l->state != LANE_OPEN)
                continue;
            ssize_t w = write(l->fd, l->data.data + l->taken, l->data.len - l->taken);
            if (w > 0) {
                l->taken += (size_t)w;
            } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                lane_close(l); /* EPIPE: the filter quit */
                closed++;
            }
        }
    }
    for (unsigned i = 0; i < n; i++)
        if (lanes[i].state == LANE_OPEN)
            lane_close(&lanes[i]);
    ctk_buf_free(&unit.in);
    g_free(unit.error);
    g_free(fds);
    g_free(lanes);
    return NULL;
}

/* ---- --tee: the feeder ---------------------------------------------------------- */

/* How much of the spool a lane catching up takes at a time. */
#define TEE_CHUNK ((size_t)1 << 20)

/* A lane behind the input (it came after blocks were read) takes the
 * next part of what it missed from the spool. */
static int tee_catch_up(ctk_pipe *p, lane *l, int spool, uint64_t fed)
{
    (void)p;
    size_t want = fed - l->at < TEE_CHUNK ? (size_t)(fed - l->at) : TEE_CHUNK;
    l->data.len = 0;
    l->taken = 0;
    if (l->data.cap < want) {
        unsigned char *grown = g_try_realloc(l->data.data, want);
        if (grown == NULL)
            return CTK_ENOMEM;
        l->data.data = grown;
        l->data.cap = want;
    }
    ssize_t got;
    while ((got = pread(spool, l->data.data, want, (off_t)l->at)) < 0 && errno == EINTR)
        ;
    if (got <= 0)
        return got < 0 ? -errno : CTK_EIO;
    l->data.len = (size_t)got;
    l->at += (uint64_t)got;
    return 0;
}

/* --tee: every block goes to every lane, the next block read once every
 * open lane has taken this one (so memory holds a block per lane,
 * whatever the input's size). Lanes come as their jobs start: while some
 * have not come, the blocks are also kept in an unlinked temporary file,
 * from which a late lane takes what it missed before it joins the
 * others (under a strategy that runs one filter at a time, that is the
 * whole input). A lane whose filter quit is dropped; the others go on. */
static void *tee_main(void *arg)
{
    ctk_pipe *p = arg;
    sigset_t pipe_sig;
    sigemptyset(&pipe_sig);
    sigaddset(&pipe_sig, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_sig, NULL);
    unsigned n = p->opts.tee, seen = 0, closed = 0;
    lane *lanes = g_new0(lane, n);
    struct pollfd *fds = g_new0(struct pollfd, n + 2);
    int ended = 0, spool = -1;
    uint64_t fed = 0; /* input bytes read (after the header) */
    ctk_unit unit = {0};
    ctk_buf block = {0};
    while (closed < n) {
        int stop = stopped(p);
        if (stop)
            ended = 1;
        unsigned open = 0, waiting = 0;
        for (unsigned i = 0; i < n; i++) {
            lane *l = &lanes[i];
            if (l->state != LANE_OPEN)
                continue;
            int drained = l->taken == l->data.len;
            if (drained && !stop && l->at < fed) {
                int rc = tee_catch_up(p, l, spool, fed);
                if (rc < 0)
                    feed_failed(p, "cannot read the input kept for a filter", rc);
                drained = rc < 0;
            }
            if (stop || (ended && drained && l->at == fed) || (drained && l->at < fed)) {
                lane_close(l);
                closed++;
                continue;
            }
            open++;
            waiting += drained;
        }
        if (!ended && open > 0 && waiting == open) {
            unit.in.len = 0;
            int rc = next_block(p, &unit);
            if (rc == 0)
                rc = block_bytes(p, &unit, &block);
            /* Kept for the lanes still to come. */
            if (rc == 0 && seen < n && spool < 0 && (spool = ctk_spawn_tmpfile(p->opts.tmpdir)) < 0)
                rc = spool;
            if (rc == 0 && seen < n) {
                errno = EIO;
                if (pwrite(spool, block.data, block.len, (off_t)fed) != (ssize_t)block.len)
                    rc = -errno;
            }
            for (unsigned i = 0; rc == 0 && i < n; i++) {
                lane *l = &lanes[i];
                if (l->state != LANE_OPEN)
                    continue;
                l->taken = 0;
                l->at += block.len;
                rc = ctk_buf_set(&l->data, block.data, block.len);
            }
            if (rc == 0) {
                fed += block.len;
                pthread_mutex_lock(&p->lock);
                p->stats.in_bytes += block.len;
                pthread_mutex_unlock(&p->lock);
            } else {
                if (rc != CTK_EOF)
                    feed_failed(p, "cannot read the input", rc);
                ended = 1;
            }
            continue;
        }
        if (seen == n && open == 0) /* every filter quit: nobody to feed */
            ended = 1;
        if (seen == n && closed == n)
            break;
        nfds_t k = 0;
        fds[k++] = (struct pollfd){.fd = seen < n ? p->lane_sock[0] : -1, .events = POLLIN};
        fds[k++] = (struct pollfd){.fd = p->cancel_fd, .events = POLLIN};
        for (unsigned i = 0; i < n; i++) {
            lane *l = &lanes[i];
            int busy = l->state == LANE_OPEN && l->taken < l->data.len;
            fds[k++] = (struct pollfd){.fd = busy ? l->fd : -1, .events = POLLOUT};
        }
        if (poll(fds, k, -1) < 0 && errno != EINTR)
            break;
        if (fds[1].revents != 0)
            ended = 1;
        if (fds[0].revents != 0) {
            uint64_t id;
            int fd = -1;
            int rc = lane_receive(p->lane_sock[0], &id, &fd);
            if (rc == CTK_EOF) /* the run is over: nobody is coming */
                break;
            if (rc == 0 && id >= 1 && id <= n && lanes[id - 1].state == LANE_UNSEEN) {
                lane *l = &lanes[id - 1];
                seen++;
                l->fd = fd;
                l->state = LANE_OPEN;
                l->at = 0;
                (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
                /* The header once, then all of the input from its start. */
                if (ctk_buf_set(&l->data, p->header.data, p->header.len) < 0) {
                    lane_close(l);
                    closed++;
                }
            } else if (rc == 0) {
                close(fd);
            }
        }
        for (unsigned i = 0; i < n; i++) {
            lane *l = &lanes[i];
            if (fds[2 + i].revents == 0 || l->state != LANE_OPEN)
                continue;
            ssize_t w = write(l->fd, l->data.data + l->taken, l->data.len - l->taken);
            if (w > 0) {
                l->taken += (size_t)w;
            } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                lane_close(l); /* EPIPE: the filter quit; the others go on */
                closed++;
            }
        }
    }
    for (unsigned i = 0; i < n; i++)
        if (lanes[i].state == LANE_OPEN)
            lane_close(&lanes[i]);
    if (spool >= 0)
        close(spool);
    ctk_buf_free(&block);
    ctk_buf_free(&unit.in);
    g_free(unit.error);
    g_free(fds);
    g_free(lanes);
    return NULL;
}

/* ---- --shard, --bin: the router ---------------------------------------------- */

typedef struct shard_lane {
    int state;
    int fd; /* LANE_OPEN: the write end of the filter's stdin */
    cpipe_laneq q;
} shard_lane;

static void shard_close(shard_lane *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
    l->state = LANE_CLOSED;
    cpipe_laneq_free(&l->q);
}

/* Each line of the block to its lane's queue (a lane whose filter quit
 * loses it, as parallel's does). */
static int shard_route(ctk_pipe *p, shard_lane *lanes, ctk_buf *block)
{
    unsigned n = p->opts.jobs;
    /* The last line may end the buffer: the regexp may look one past. */
    int rc = ctk_buf_append(block, "", 1);
    if (rc < 0)
        return rc;
    block->len--;
    const char *at = (const char *)block->data, *end = at + block->len;
    while (rc == 0 && at < end) {
        const char *nl = memchr(at, '\n', (size_t)(end - at));
        size_t len = nl != NULL ? (size_t)(nl - at) + 1 : (size_t)(end - at);
        shard_lane *l = &lanes[cpipe_shard_lane(p->opts.shard, at, len, n)];
        if (l->state != LANE_CLOSED)
            rc = cpipe_laneq_push(&l->q, at, len, l->state != LANE_OPEN);
        at += len;
    }
    return rc;
}

/* Writes what each open lane takes now; a lane whose filter quit
 * (EPIPE) closes. Returns the lanes closed. */
static unsigned shard_write(ctk_pipe *p, shard_lane *lanes, const struct pollfd *ready)
{
    unsigned closed = 0;
    for (unsigned i = 0; i < p->opts.jobs; i++) {
        shard_lane *l = &lanes[i];
        if (l->state != LANE_OPEN || (ready != NULL && ready[i].revents == 0))
            continue;
        int rc = cpipe_laneq_write(&l->q, l->fd);
        if (rc < 0) {
            if (rc != -EPIPE)
                feed_failed(p, "cannot feed a filter", rc);
            shard_close(l);
            closed++;
        }
    }
    return closed;
}

/* Until every lane has been seen and closed: route the input's lines to
 * the lanes' queues while no open lane is behind, write the queues as
 * the filters take them (a lane not yet seen keeps its queue, spilled
 * to a file), and close each lane once the input has ended and its
 * queue is written. Every filter has the header first. */
static void *shard_main(void *arg)
{
    ctk_pipe *p = arg;
    sigset_t pipe_sig;
    sigemptyset(&pipe_sig);
    sigaddset(&pipe_sig, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_sig, NULL);
    unsigned n = p->opts.jobs, seen = 0, closed = 0;
    shard_lane *lanes = g_new0(shard_lane, n);
    struct pollfd *fds = g_new0(struct pollfd, n + 2);
    ctk_unit unit = {0};
    ctk_buf block = {0};
    int ended = 0, rc;
    for (unsigned i = 0; i < n; i++) {
        lanes[i].fd = -1;
        cpipe_laneq_init(&lanes[i].q, p->opts.tmpdir);
        (void)cpipe_laneq_push(&lanes[i].q, p->header.data, p->header.len, 1);
    }
    while (closed < n) {
        int room = !ended && !stopped(p);
        for (unsigned i = 0; i < n; i++) {
            shard_lane *l = &lanes[i];
            uint64_t pending = cpipe_laneq_pending(&l->q);
            if (l->state == LANE_OPEN && ((ended && pending == 0) || stopped(p))) {
                shard_close(l);
                closed++;
            }
            if (l->state == LANE_OPEN && pending > PIPE_SIZE / 4)
                room = 0; /* a filter behind: wait for it */
        }
        if (stopped(p))
            ended = 1;
        if (closed == n)
            break;
        /* Lanes arriving and filters taking lines, without waiting while
         * there is room for more input. */
        nfds_t k = 0;
        fds[k++] = (struct pollfd){.fd = seen < n ? p->lane_sock[0] : -1, .events = POLLIN};
        fds[k++] = (struct pollfd){.fd = p->cancel_fd, .events = POLLIN};
        for (unsigned i = 0; i < n; i++) {
            shard_lane *l = &lanes[i];
            int busy = l->state == LANE_OPEN && cpipe_laneq_pending(&l->q) > 0;
            fds[k++] = (struct pollfd){.fd = busy ? l->fd : -1, .events = POLLOUT};
        }
        if (poll(fds, k, room ? 0 : -1) < 0 && errno != EINTR)
            break;
        if (fds[1].revents != 0)
            ended = 1;
        if (fds[0].revents != 0) {
            uint64_t id;
            int fd = -1;
            rc = lane_receive(p->lane_sock[0], &id, &fd);
            if (rc == CTK_EOF) /* the run is over: nobody is coming */
                break;
            if (rc == 0 && id >= 1 && id <= n && lanes[id - 1].state == LANE_UNSEEN) {
                seen++;
                lanes[id - 1].fd = fd;
                lanes[id - 1].state = LANE_OPEN;
                (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
            } else if (rc == 0) {
                close(fd);
            }
        }
        closed += shard_write(p, lanes, fds + 2);
        if (!room || ended)
            continue;
        unit.in.len = 0;
        rc = next_block(p, &unit);
        if (rc == 0)
            rc = block_bytes(p, &unit, &block);
        if (rc == 0) {
            pthread_mutex_lock(&p->lock);
            p->stats.in_bytes += block.len;
            pthread_mutex_unlock(&p->lock);
            if ((rc = shard_route(p, lanes, &block)) < 0)
                feed_failed(p, "cannot queue the lines", rc);
        } else if (rc != CTK_EOF) {
            feed_failed(p, "cannot read the input", rc);
        }
        ended = rc < 0;
        closed += shard_write(p, lanes, NULL);
    }
    for (unsigned i = 0; i < n; i++)
        shard_close(&lanes[i]);
    ctk_buf_free(&block);
    ctk_buf_free(&unit.in);
    g_free(unit.error);
    g_free(fds);
    g_free(lanes);
    return NULL;
}

/* ---- running a filter ------------------------------------------------------ */

/* Everything one filter run needs, kept together so the async form can
 * hold it across callbacks. */
typedef struct job {
    ctk_pipe *p;
    ctk_unit *unit;
    ctk_pipe_unit block; /* unit->in decoded; points into it */
    char **argv;
    ctk_buf line;
    char env_block[48], env_offset[48], env_seq[48], env_slot[48], env_pid[48];
    char *env_tmp;      /* PARALLEL_TMP=path (--cat, --fifo) */
    char *tmp_path;     /* the block's file or fifo, removed by job_release */
    ctk_buf wrap;       /* --fifo: the command under its feeding wrapper */
    const char *env[7]; /* NULL-terminated */
    ctk_spawn_opts so;
    ctk_spawn_child child;
    ctk_spawn_result *res;
    int lane_fd;      /* a lane's stdin: the feeder writes the other end */
    int skip;         /* a lane the input ended before: no filter runs */
    unsigned slot;    /* {%}; 0: none taken */
    uint64_t printed; /* --line-buffer: output bytes written early, no longer in res */
} job;

/* The lowest free job slot, as GNU parallel gives {%}. More filters than
 * slots (never expected) share the last. */
static unsigned take_slot(ctk_pipe *p)
{
    unsigned jobs = p->opts.jobs ? p->opts.jobs : 1;
    if (p->slots == NULL)
        return 1;
    for (unsigned i = 1; i <= jobs; i++) {
        unsigned char free_ = 0;
        if (__atomic_compare_exchange_n(&p->slots[i], &free_, 1, 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST))
            return i;
    }
    return jobs;
}

/* --shard, --bin: lane N has slot N, as parallel's job N (all start at
 * once), so {%} tells which lines a filter was given. */
static unsigned lane_slot(ctk_pipe *p, uint64_t seq)
{
    unsigned slot = seq >= 1 && seq <= p->opts.jobs ? (unsigned)seq : p->opts.jobs;
    if (p->slots != NULL)
        __atomic_store_n(&p->slots[slot], 1, __ATOMIC_SEQ_CST);
    return slot;
}

static void give_slot(ctk_pipe *p, unsigned slot)
{
    if (p->slots != NULL && slot > 0)
        __atomic_store_n(&p->slots[slot], 0, __ATOMIC_SEQ_CST);
}

static void track(ctk_pipe *p, ctk_spawn_child *child, int add)
{
    pthread_mutex_lock(&p->lock);
    if (add)
        g_ptr_array_add(p->running, child);
    else
        g_ptr_array_remove_fast(p->running, child);
    pthread_mutex_unlock(&p->lock);
}

/* In a worker process: claims a slot of the shared table for pid, or
 * frees it (pid 0 with the slot returned before). */
static size_t share_pid(ctk_pipe *p, pid_t pid, size_t slot)
{
    if (p->shared_pids == NULL || getpid() == p->owner)
        return SIZE_MAX;
    if (pid == 0) {
        if (slot != SIZE_MAX)
            __atomic_store_n(&p->shared_pids[slot], 0, __ATOMIC_SEQ_CST);
        return SIZE_MAX;
    }
    for (size_t i = 0; i < p->n_shared; i++) {
        pid_t none = 0;
        if (__atomic_compare_exchange_n(&p->shared_pids[i], &none, pid, 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST))
            return i;
    }
    return SIZE_MAX;
}

/* --cat and --fifo: a name of our own in --tmpdir (else $TMPDIR, else
 * /tmp), as parallel's $PARALLEL_TMP. */
static char *tmp_template(const ctk_pipe *p)
{
    const char *dir = p->opts.tmpdir != NULL ? p->opts.tmpdir : getenv("TMPDIR");
    if (dir == NULL || *dir == '\0')
        dir = "/tmp";
    return g_strdup_printf("%s/cpipeXXXXXX", dir);
}

/* A process strategy's worker dies of the SIGTERM or SIGINT that cancels
 * the run, before the job that made a name can remove it: in a worker, the
 * names alive are noted here, where a handler can unlink them (unlink is
 * async-signal-safe) before dying of the signal as it would have. */
#define TMP_SLOTS 8
static char *volatile tmp_slot[TMP_SLOTS];

static void unlink_tmp_and_die(int signo)
{
    for (int i = 0; i < TMP_SLOTS; i++) {
        char *path = __atomic_load_n(&tmp_slot[i], __ATOMIC_SEQ_CST);
        if (path != NULL)
            unlink(path);
    }
    signal(signo, SIG_DFL);
    raise(signo);
}

static void note_tmp(const ctk_pipe *p, char *path, int add)
{
    static const int signals[] = {SIGTERM, SIGINT, SIGHUP};
    if (getpid() == p->owner)
        return; /* the owner's sigwatch cancels the run: the job removes it */
    for (int i = 0; i < TMP_SLOTS; i++) {
        char *expect = add ? NULL : path;
        if (__atomic_compare_exchange_n(&tmp_slot[i], &expect, add ? path : NULL, 0,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            break;
    }
    struct sigaction sa = {.sa_handler = unlink_tmp_and_die};
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; add && i < sizeof signals / sizeof signals[0]; i++) {
        struct sigaction old;
        if (sigaction(signals[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL)
            sigaction(signals[i], &sa, NULL);
    }
}

static int set_tmp_path(job *j, char *path)
{
    note_tmp(j->p, path, 1);
    j->tmp_path = path;
    j->env_tmp = g_strdup_printf("PARALLEL_TMP=%s", path);
    return 0;
}

static int write_all_fd(int fd, const unsigned char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : CTK_EIO;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* A window's bytes move file to file in the kernel; where it refuses
 * (another file system on an old kernel), through a buffer. */
static int copy_range(int to, int from, uint64_t at, uint64_t len)
{
    loff_t off = (loff_t)at;
    while (len > 0) {
        size_t want = len > (uint64_t)1 << 30 ? (size_t)1 << 30 : (size_t)len;
        ssize_t n = copy_file_range(from, &off, to, NULL, want, 0);
        if (n < 0 &&
            (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
            unsigned char buf[65536];
            n = pread(from, buf, want < sizeof buf ? want : sizeof buf, (off_t)off);
            if (n > 0) {
                int rc = write_all_fd(to, buf, (size_t)n);
                if (rc < 0)
                    return rc;
                off += n;
            }
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : CTK_EIO; /* the file shrank */
        len -= (uint64_t)n;
    }
    return 0;
}

/* A fresh file of our own (O_EXCL, 0600) in the temporary folder: its
 * descriptor, or a negative errno with no name left behind. */
static int reserve_name(const ctk_pipe *p, char **path)
{
    *path = tmp_template(p);
    int fd = mkostemp(*path, O_CLOEXEC);
    if (fd < 0) {
        fd = -errno;
        g_free(*path);
        *path = NULL;
    }
    return fd;
}

/* --cat: the block (header first) in a file made O_EXCL and 0600, whose
 * name replaces {}. */
static int block_file(job *j)
{
    char *path;
    int fd = reserve_name(j->p, &path);
    if (fd < 0)
        return fd;
    set_tmp_path(j, path);
    const ctk_pipe_unit *b = &j->block;
    int rc = write_all_fd(fd, b->data, b->data_len);
    if (rc == 0 && b->kind == CTK_PIPE_UNIT_WINDOW)
        rc = copy_range(fd, j->p->opts.in_fd, b->at, b->len);
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    return rc;
}

/* --fifo: a named pipe, 0600, at a fresh name (mkfifo refuses one that
 * exists, so a name taken meanwhile means another try). */
static int block_fifo(job *j)
{
    for (int tries = 0; tries < 100; tries++) {
        char *path;
        int fd = reserve_name(j->p, &path);
        if (fd < 0)
            return fd;
        close(fd);
        unlink(path);
        if (mkfifo(path, 0600) == 0)
            return set_tmp_path(j, path);
        int err = errno;
        g_free(path);
        if (err != EEXIST)
            return -err;
    }
    return CTK_EIO;
}

/* --fifo: parallel's wrapper, turned round. cat moves the block (our
 * stdin, kept on fd 3 since a background command's stdin is /dev/null)
 * into the fifo in the background while the filter runs; once the filter
 * ends, cat is killed, so a filter that never opened the fifo, or left
 * it unread, ends the block instead of leaving cat waiting forever. The
 * filter runs under the user's shell; the wrapper is POSIX sh. */
static int fifo_wrap(job *j)
{
    const char *shell = j->p->opts.shell != NULL ? j->p->opts.shell : "/bin/sh";
    ctk_buf *w = &j->wrap;
    static const char head[] =
        "exec 3<&0 </dev/null; cat >\"$PARALLEL_TMP\" <&3 3<&- 2>/dev/null & "
        "exec 3<&-; ";
    static const char tail[] = "; s=$?; kill $! 2>/dev/null; wait $! 2>/dev/null; exit $s";
    int rc = ctk_buf_append(w, head, sizeof head - 1);
    if (rc == 0)
        rc = ctk_cmdline_quote(w, shell, strlen(shell));
    if (rc == 0)
        rc = ctk_buf_append(w, " -c ", 4);
    if (rc == 0)
        rc = ctk_cmdline_quote(w, (const char *)j->line.data, j->line.len);
    if (rc == 0)
        rc = ctk_buf_append(w, tail, sizeof tail); /* with its NUL */
    if (rc < 0)
        return rc;
    ctk_cmdline_argv_free(j->argv);
    j->argv = NULL;
    return 0;
}

/* A lane hands its stdin's write end to the feeder and starts its filter
 * once the first bytes are there: a lane the input ended before gets
 * none and runs no filter, as parallel starts no job without a block. */
static int lane_join(job *j)
{
    ctk_pipe *p = j->p;
    int ends[2];
    if (pipe2(ends, O_CLOEXEC) < 0)
        return -errno;
    (void)fcntl(ends[1], F_SETPIPE_SZ, (int)PIPE_SIZE);
    int rc = lane_send(p->lane_sock[1], j->unit->seq, ends[1]);
    close(ends[1]);
    j->lane_fd = ends[0];
    /* --tee: every filter runs, on all of the input, even empty; --shard,
     * --bin: every filter runs, with or without lines, as parallel starts
     * every job at once. */
    while (rc == 0 && p->opts.tee == 0 && p->opts.shard == NULL) {
        struct pollfd w = {.fd = ends[0], .events = POLLIN};
        int n = poll(&w, 1, 200);
        if (n < 0 && errno != EINTR)
            rc = -errno;
        if (n > 0 || ctk_is_cancelled(p->cancel)) {
            j->skip = n <= 0 || !(w.revents & POLLIN);
            break;
        }
    }
    return rc;
}

static int line_sink(void *arg, int stream, const void *data, size_t len);

/* --line-buffer prints early only where the writer is (this process;
 * results made elsewhere travel whole) and only plain output: -v's line
 * and --files need the output whole, and --compare digests it. */
static int line_buffered(const ctk_pipe *p)
{
    return p->opts.line_buffer && getpid() == p->owner && !p->opts.elsewhere &&
           p->opts.out_fd >= 0 && p->digest == NULL && !p->opts.verbose && !p->opts.dry_run &&
           !p->opts.files;
}

static int job_prepare(job *j, ctk_pipe *p, ctk_unit *unit)
{
    memset(j, 0, sizeof *j);
    j->p = p;
    j->unit = unit;
    j->lane_fd = -1;
    const ctk_pipe_unit *b = &j->block;
    int rc = ctk_pipe_unit_decode(&j->block, unit->in.data, unit->in.len);
    if (rc < 0)
        return rc;
    /* A window is a window of our input, which this process holds open as
     * opts.in_fd; a unit naming another file cannot be served here. */
    if (b->kind == CTK_PIPE_UNIT_WINDOW && (!p->seekable || b->dev != p->dev || b->ino != p->ino))
        return CTK_EIO;
    if (b->kind == CTK_PIPE_UNIT_LANE && (rc = lane_join(j)) < 0)
        return rc;
    if (p->opts.cat || p->opts.fifo) {
        rc = p->opts.cat ? block_file(j) : block_fifo(j);
        if (rc < 0)
            return rc;
    }
    ctk_cmdline_item tmp = {j->tmp_path, j->tmp_path ? strlen(j->tmp_path) : 0};
    /* --tee's filters all run at once, as in parallel: filter k in slot k
     * (even under a strategy that runs them one after another). */
    j->slot = p->opts.tee > 0                                  ? (unsigned)unit->seq
              : b->kind == CTK_PIPE_UNIT_LANE && p->opts.shard ? lane_slot(p, unit->seq)
                                                               : take_slot(p);
    ctk_cmdline_args args = {j->tmp_path ? &tmp : NULL, j->tmp_path ? 1 : 0, unit->seq, j->slot};
    if (p->opts.tee > 0 && unit->seq >= 1 && unit->seq <= p->opts.tee) {
        args.cols = p->opts.tee_args[unit->seq - 1].cols;
        args.n_cols = p->opts.tee_args[unit->seq - 1].n_cols;
    }
    rc = ctk_cmdline_render(p->opts.cmd, &args, &j->line, &j->argv);
    if (rc == 0 && p->opts.fifo)
        rc = fifo_wrap(j);
    if (rc < 0)
        return rc;
    snprintf(j->env_block, sizeof j->env_block, "CPIPE_BLOCK=%llu", (unsigned long long)unit->seq);
    snprintf(j->env_offset, sizeof j->env_offset, "CPIPE_OFFSET=%llu",
             (unsigned long long)b->offset);
    /* parallel's names for {#} and {%} and its own pid, which scripts
     * written for parallel --pipe read. */
    snprintf(j->env_seq, sizeof j->env_seq, "PARALLEL_SEQ=%llu", (unsigned long long)unit->seq);
    snprintf(j->env_slot, sizeof j->env_slot, "PARALLEL_JOBSLOT=%u", j->slot);
    snprintf(j->env_pid, sizeof j->env_pid, "PARALLEL_PID=%ld", (long)p->owner);
    j->env[0] = j->env_block;
    j->env[1] = j->env_offset;
    j->env[2] = j->env_seq;
    j->env[3] = j->env_slot;
    j->env[4] = j->env_pid;
    j->env[5] = j->env_tmp;
    ctk_spawn_opts *so = &j->so;
    so->argv = (const char *const *)j->argv;
    so->path = j->argv != NULL ? ctk_spawn_program_path(&p->program, j->argv[0]) : NULL;
    so->shell = j->argv == NULL ? (const char *)j->line.data : NULL;
    so->shell_path = p->opts.shell;
    if (p->opts.fifo) { /* the wrapper is POSIX sh, whatever the user's shell */
        so->shell = (const char *)j->wrap.data;
        so->shell_path = NULL;
    }
    so->env = j->env;
    so->out = CTK_SPAWN_CAPTURE;
    so->err = CTK_SPAWN_INHERIT;
    so->mem_limit = OUT_MEM_LIMIT;
    so->tmpdir = p->opts.tmpdir;
    so->pipe_size = PIPE_SIZE;
    /* The unit's buffer outlives the filter: its pages can go to the pipe. */
    so->input_vmsplice = 1;
    so->input = b->data; /* the header, and for BYTES the block after it */
    so->input_len = b->data_len;
    if (p->opts.cat) {
        so->in = CTK_SPAWN_IN_NULL; /* the block is in the file */
    } else if (b->kind == CTK_PIPE_UNIT_LANE) {
        so->in = CTK_SPAWN_IN_FD;
        so->in_fd = j->lane_fd;
    } else if (b->kind == CTK_PIPE_UNIT_BYTES) {
        so->in = CTK_SPAWN_IN_PIPE;
    } else {
        so->in = CTK_SPAWN_IN_RANGE;
        so->range_fd = p->opts.in_fd;
        so->range_offset = b->at;
        so->range_len = b->len;
    }
    j->res = g_new0(ctk_spawn_result, 1);
    ctk_spawn_result_init(j->res, so);
    /* --dry-run: the writer prints the line; no filter runs. */
    if (p->opts.dry_run)
        j->skip = 1;
    if (line_buffered(p)) {
        so->sink = line_sink;
        so->sink_arg = j;
    }
    return 0;
}

static void job_release(job *j)
{
    give_slot(j->p, j->slot);
    j->slot = 0;
    if (j->lane_fd >= 0)
        close(j->lane_fd);
    j->lane_fd = -1;
    if (j->tmp_path != NULL) {
        unlink(j->tmp_path);
        note_tmp(j->p, j->tmp_path, 0);
    }
    g_free(j->tmp_path);
    j->tmp_path = NULL;
    g_free(j->env_tmp);
    j->env_tmp = NULL;
    ctk_buf_free(&j->wrap);
    ctk_cmdline_argv_free(j->argv);
    j->argv = NULL;
    ctk_buf_free(&j->line);
    if (j->res != NULL) {
        ctk_spawn_result_free(j->res);
        g_free(j->res);
        j->res = NULL;
    }
}

/* A result crossing from a worker process travels as bytes. */
static int append_chunk(void *arg, const void *data, size_t len)
{
    return ctk_buf_append(arg, data, len);
}

/* The output goes as a range of the run's spool when it spilled to a
 * file (so a big output does not pass through memory, and nothing named
 * is left behind by a kill -9), else as bytes; r says how the filter
 * ended. A process whose spool the consumer cannot read (a rank running
 * cpipe itself) sends the bytes whatever their size. */
static int put_result_bytes(ctk_pipe *p, ctk_buf *out, ctk_pipe_result *r,
                            const ctk_spawn_stream *s)
{
    r->kind = CTK_PIPE_OUT_BYTES;
    out->len = 0;
    if (s->spill_fd < 0 || !ctk_spool_reaches(p->spool, p->opts.elsewhere)) {
        int rc = ctk_pipe_result_encode_head(out, r, s->bytes);
        size_t before = out->len;
        if (rc == 0)
            rc = ctk_spawn_stream_foreach(s, append_chunk, out);
        return rc == 0 && out->len - before != s->bytes ? CTK_EIO : rc;
    }
    int rc = ctk_spool_put(p->spool, s, &r->spool_off);
    if (rc < 0)
        return rc;
    r->spool_id = ctk_spool_id(p->spool);
    r->spool_len = s->bytes;
    r->mem = NULL;
    r->mem_len = 0;
    rc = ctk_pipe_result_encode(out, r);
    if (rc < 0)
        ctk_spool_release(p->spool, r->spool_off, r->spool_len);
    return rc;
}

/* Fills the unit's out from a finished job. In this process the output
 * stays where it is and the result carries a ticket for it. */
static int job_report(job *j)
{
    ctk_pipe *p = j->p;
    ctk_spawn_result *res = j->res;
    ctk_pipe_result r = {.exit = res->exit,
                         .signal = res->signal,
                         .exec_errno = res->exec_errno,
                         .input_errno = res->input_errno,
                         .offset = j->block.offset,
                         .len = j->block.len,
                         .out_bytes = res->out.bytes + j->printed,
                         .slot = j->slot};
    /* When it started on the wall clock (the result's clock is monotonic). */
    if (res->started > 0) {
        double ago = ctk_spawn_clock() - res->started;
        r.start_us = g_get_real_time() - (int64_t)(ago * 1e6);
        r.runtime_us = (int64_t)(res->elapsed * 1e6);
    }
    /* -v, --dry-run: the line as it ran, printed by the writer before the
     * output; --joblog logs it. */
    if (p->opts.verbose || p->opts.dry_run || p->opts.joblog != NULL) {
        r.line = j->line.data;
        r.line_len = j->line.len;
    }
    /* A worker rank of a strategy that crosses hosts is the owner of its
     * own pipe, yet never consumes: the strategy's flag says so. */
    int here = getpid() == p->owner && !p->opts.elsewhere, rc;
    if (here) {
        r.kind = CTK_PIPE_OUT_HERE;
        r.run = p->run;
        pthread_mutex_lock(&p->lock);
        r.ticket = ++p->tickets;
        pthread_mutex_unlock(&p->lock);
        j->unit->out.len = 0;
        rc = ctk_pipe_result_encode(&j->unit->out, &r);
    } else {
        rc = put_result_bytes(p, &j->unit->out, &r, &res->out);
    }
    if (rc < 0)
        return ctk_unit_fail(j->unit, rc, "cannot keep the filter's output: %s", ctk_strerror(rc));
    if (here) {
        pthread_mutex_lock(&p->lock);
        g_hash_table_insert(p->pending, GSIZE_TO_POINTER((gsize)r.ticket), res);
        pthread_mutex_unlock(&p->lock);
        j->res = NULL; /* the writer frees it */
    }
    return 0;
}

static int pipe_run(void *ctx, ctk_unit *unit, const int *cancel)
{
    (void)cancel;
    ctk_pipe *p = ctx;
    /* After --halt now no output of a later block is written: a block
     * that has not started does not (consume skips it unreported). */
    pthread_mutex_lock(&p->lock);
    int discard = p->discard;
    pthread_mutex_unlock(&p->lock);
    if (discard)
        return ctk_unit_fail(unit, CTK_ECANCELED, "not started: --halt now");
    job j;
    int rc = job_prepare(&j, p, unit);
    if (rc < 0) {
        job_release(&j);
        return ctk_unit_fail(unit, rc, "cannot prepare the filter: %s", ctk_strerror(rc));
    }
    if (j.skip) {
        rc = job_report(&j);
        job_release(&j);
        return rc;
    }
    rc = ctk_spawn_start(&j.child, &j.so);
    int ran = rc == 0 && j.child.pid > 0;
    if (rc == 0) {
        track(p, &j.child, 1);
        size_t slot = share_pid(p, j.child.pid, 0);
        ctk_spawn_result_free(j.res);
        rc = ctk_spawn_finish(&j.child, j.res);
        share_pid(p, 0, slot);
        track(p, &j.child, 0);
    }
    ctk_spawn_dispose(&j.child);
    if (rc < 0)
        rc = ctk_unit_fail(unit, rc, "%s: %s",
                           ran ? "cannot keep the filter's output" : "cannot run the filter",
                           ctk_strerror(rc));
    else
        rc = job_report(&j);
    job_release(&j);
    return rc;
}

/* ---- the same on an event loop (the async strategy) ------------------------- */

/* One filter watched by a loop: its stdin (writable), stdout and its exit
 * (pidfd readable), served by spawn's watch steps. Each uv_poll watches a
 * dup of the fd, so spawn may close the original whenever it is done. */
typedef struct async_job {
    job j;
    uv_loop_t *loop;
    ctk_done_fn done;
    void *done_arg;
    ctk_spawn_watch *watch;
    uv_poll_t poll[3]; /* stdin, stdout, exit */
    int fds[3];
    int open; /* handles not yet closed */
    uv_timer_t later;
    int started; /* ctk_spawn_start was called: child is to be disposed */
} async_job;

/* Which of spawn's pollfds each of our polls stands for. */
static const int watch_index[3] = {2, 3, 1};

static void async_free(async_job *a)
{
    ctk_unit *unit = a->j.unit;
    ctk_done_fn done = a->done;
    void *done_arg = a->done_arg;
    ctk_spawn_watch_free(a->watch);
    if (a->started)
        ctk_spawn_dispose(&a->j.child);
    job_release(&a->j);
    g_free(a);
    done(unit, done_arg);
}

static void on_closed(uv_handle_t *h)
{
    async_job *a = h->data;
    for (int i = 0; i < 3; i++)
        if ((uv_handle_t *)&a->poll[i] == h) {
            close(a->fds[i]);
            a->fds[i] = -1;
        }
    if (--a->open == 0)
        async_free(a);
}

static void unwatch(async_job *a, int i)
{
    if (a->fds[i] >= 0 && !uv_is_closing((uv_handle_t *)&a->poll[i]))
        uv_close((uv_handle_t *)&a->poll[i], on_closed);
}

/* The filter is reaped (rc 1) or failed (rc < 0): report, close the
 * polls; the last close hands the unit back. */
static void async_finish(async_job *a, int rc, const char *failed)
{
    job *j = &a->j;
    track(j->p, &j->child, 0);
    if (rc < 0)
        ctk_unit_fail(j->unit, rc, "%s: %s", failed, ctk_strerror(rc));
    else
        job_report(j);
    a->open++; /* keep async_free away until every close is issued */
    for (int i = 0; i < 3; i++)
        unwatch(a, i);
    if (--a->open == 0)
        async_free(a);
}

/* A write to a filter that stopped reading raises SIGPIPE on this thread:
 * hold it off and take it back, so the process does not die of it. */
static int step_guarded(async_job *a, const struct pollfd *p)
{
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    int rc = ctk_spawn_watch_step(a->watch, p);
    struct timespec zero = {0, 0};
    while (sigtimedwait(&set, NULL, &zero) > 0)
        ;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

static void on_ready(uv_poll_t *w, int status, int events)
{
    /* An error on a pipe (the filter closed it) is seen by the read or
     * write, as an end of file or EPIPE. */
    (void)status;
    (void)events;
    async_job *a = w->data;
    struct pollfd p[CTK_SPAWN_WATCH_FDS];
    double due;
    ctk_spawn_watch_fds(a->watch, p, &due);
    for (int i = 0; i < 3; i++)
        if (w == &a->poll[i] && p[watch_index[i]].fd >= 0)
            p[watch_index[i]].revents = (short)p[watch_index[i]].events;
    int rc = step_guarded(a, p);
    if (rc != 0) {
        /* The filter ran: what fails now is keeping its output (a full
         * spill folder), and the block counts as failed. */
        async_finish(a, rc, "cannot keep the filter's output");
        return;
    }
    /* Stop polling what spawn no longer watches (a closed pipe, an exit
     * seen): level-triggered polls would fire forever. */
    ctk_spawn_watch_fds(a->watch, p, &due);
    for (int i = 0; i < 3; i++)
        if (p[watch_index[i]].fd < 0)
            unwatch(a, i);
}

static int poll_fd(async_job *a, int i, int fd, int events)
{
    a->fds[i] = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : -1;
    if (a->fds[i] < 0)
        return fd >= 0 ? -errno : 0;
    int rc = uv_poll_init(a->loop, &a->poll[i], a->fds[i]);
    if (rc < 0) {
        close(a->fds[i]);
        a->fds[i] = -1;
        return rc;
    }
    a->poll[i].data = a;
    a->open++;
    return uv_poll_start(&a->poll[i], events, on_ready);
}

/* A filter that never started finishes on the next loop turn, since done
 * must not be called from within start. */
static void on_later(uv_timer_t *t)
{
    async_job *a = t->data;
    job_report(&a->j);
    uv_close((uv_handle_t *)t, on_closed);
}

static int report_later(async_job *a)
{
    int rc = uv_timer_init(a->loop, &a->later);
    if (rc < 0) {
        ctk_spawn_watch_free(a->watch);
        if (a->started)
            ctk_spawn_dispose(&a->j.child);
        job_release(&a->j);
        g_free(a);
        return rc;
    }
    a->later.data = a;
    a->open = 1;
    rc = uv_timer_start(&a->later, on_later, 0, 0);
    if (rc < 0) { /* the close, too, hands the unit back on a later turn */
        ctk_unit_fail(a->j.unit, rc, "cannot run the filter: %s", uv_strerror(rc));
        uv_close((uv_handle_t *)&a->later, on_closed);
    }
    return 0;
}

static int pipe_start(void *ctx, uv_loop_t *loop, ctk_unit *unit, ctk_done_fn done, void *done_arg)
{
    ctk_pipe *p = ctx;
    async_job *a = g_new0(async_job, 1);
    a->loop = loop;
    a->done = done;
    a->done_arg = done_arg;
    a->fds[0] = a->fds[1] = a->fds[2] = -1;
    int rc = job_prepare(&a->j, p, unit);
    if (rc == 0 && a->j.skip)
        return report_later(a); /* a lane the input ended before */
    if (rc == 0) {
        rc = ctk_spawn_start(&a->j.child, &a->j.so);
        a->started = 1;
    }
    if (rc == 0 && a->j.child.pid > 0 && a->j.child.pidfd < 0)
        rc = -ENOSYS; /* no pidfd (Linux < 5.3): nothing to watch the exit with */
    if (rc == 0) {
        ctk_spawn_result_free(a->j.res);
        rc = ctk_spawn_watch_begin(&a->watch, &a->j.child, a->j.res);
    }
    if (rc < 0) {
        ctk_spawn_watch_free(a->watch);
        if (a->started)
            ctk_spawn_dispose(&a->j.child);
        job_release(&a->j);
        g_free(a);
        return rc;
    }
    if (rc == 1) /* never started: the result says why */
        return report_later(a);
    track(p, &a->j.child, 1);
    a->open++; /* hold async_free off while the polls are set up */
    if ((rc = poll_fd(a, 0, a->j.child.in_fd, UV_WRITABLE)) < 0 ||
        (rc = poll_fd(a, 1, a->j.child.out_fd, UV_READABLE | UV_DISCONNECT)) < 0 ||
        (rc = poll_fd(a, 2, a->j.child.pidfd, UV_READABLE)) < 0) {
        ctk_spawn_signal(&a->j.child, SIGKILL);
        a->open--;
        async_finish(a, rc, "cannot run the filter");
        return 0;
    }
    a->open--;
    return 0;
}

/* ---- writing outputs in order ------------------------------------------------ */

typedef struct writer {
    ctk_pipe *p;
    const char *tag; /* with its tab */
    size_t tag_len;
    int at_line_start;
    ctk_buf scratch;
} writer;

static int write_all(int fd, const void *data, size_t len)
{
    const char *s = data;
    while (len > 0) {
        ssize_t n = write(fd, s, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        s += n;
        len -= (size_t)n;
    }
    return 0;
}

/* --tag, --tagstring: the tag and a tab before every line, one write per
 * chunk. */
static int write_tagged(void *arg, const void *data, size_t len)
{
    writer *w = arg;
    const char *s = data, *end = s + len;
    w->scratch.len = 0;
    int rc = 0;
    while (rc == 0 && s < end) {
        if (w->at_line_start)
            rc = ctk_buf_append(&w->scratch, w->tag, w->tag_len);
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *stop = nl != NULL ? nl + 1 : end;
        if (rc == 0)
            rc = ctk_buf_append(&w->scratch, s, (size_t)(stop - s));
        w->at_line_start = nl != NULL;
        s = stop;
    }
    return rc < 0 ? rc : write_all(w->p->opts.out_fd, w->scratch.data, w->scratch.len);
}

/* A write of early lines failed (EPIPE: the reader has gone): as the
 * writer's own failure, and the running filters end. */
static int write_output_error(ctk_pipe *p, int rc)
{
    pthread_mutex_lock(&p->lock);
    if (p->stats.write_error == 0)
        p->stats.write_error = -rc;
    __atomic_store_n(&p->stop, 1, __ATOMIC_RELAXED);
    p->discard = 1;
    pthread_mutex_unlock(&p->lock);
    ctk_pipe_cancel(p, SIGTERM);
    return rc;
}

/* --line-buffer: writes the whole lines the job's filter has written so
 * far and keeps only its unfinished last line, which the writer writes
 * with the rest. A reader that has gone (| head) stops the run at once,
 * filters included, as parallel does (its bug #51337: a --lb filter
 * writing forever must not outlive the pipe). */
static void flush_lines(ctk_pipe *p, job *j)
{
    ctk_spawn_stream *out = &j->res->out;
    ctk_buf *mem = &out->mem;
    const unsigned char *nl = mem->len > 0 ? memrchr(mem->data, '\n', mem->len) : NULL;
    if (nl == NULL || out->spill_fd >= 0)
        return;
    pthread_mutex_lock(&p->print_lock);
    if ((!p->opts.unordered && j->unit->seq != p->next_out) || stopped(p)) {
        pthread_mutex_unlock(&p->print_lock);
        return;
    }
    size_t n = (size_t)(nl - mem->data) + 1;
    ctk_buf tag = {0};
    int rc = 0;
    if (p->opts.tagstring != NULL) {
        ctk_cmdline_args args = {NULL, 0, j->unit->seq, j->slot ? j->slot : 1};
        rc = ctk_cmdline_render(p->opts.tagstring, &args, &tag, NULL);
        if (rc == 0)
            rc = ctk_buf_append(&tag, "\t", 1);
    }
    writer w = {p, (const char *)tag.data, tag.len, 1, {0}};
    if (rc == 0)
        rc = p->opts.tagstring != NULL ? write_tagged(&w, mem->data, n)
                                       : write_all(p->opts.out_fd, mem->data, n);
    ctk_buf_free(&w.scratch);
    ctk_buf_free(&tag);
    /* The stream keeps only what is still to write: its count too. */
    memmove(mem->data, mem->data + n, mem->len - n);
    mem->len -= n;
    out->bytes -= n;
    j->printed += n;
    pthread_mutex_unlock(&p->print_lock);
    if (rc < 0)
        (void)write_output_error(p, rc);
}

/* The spawn's sink under --line-buffer: the chunk joins the captured
 * stream (spawn has counted its bytes, which the append counts again),
 * then whole lines go out. */
static int line_sink(void *arg, int stream, const void *data, size_t len)
{
    job *j = arg;
    ctk_spawn_stream *s = stream == 1 ? &j->res->out : &j->res->err;
    int rc = ctk_spawn_stream_append(s, data, len);
    s->bytes -= len;
    if (rc == 0 && stream == 1)
        flush_lines(j->p, j);
    return rc;
}

static int digest_chunk(void *arg, const void *data, size_t len)
{
    g_checksum_update(arg, data, len);
    return 0;
}

/* -v and --dry-run print the line (it travels for --joblog too). */
static int shows_line(const ctk_pipe *p, const ctk_pipe_result *r)
{
    return (p->opts.verbose || p->opts.dry_run) && r->line_len > 0;
}

/* --joblog: parallel's line for the block, after its output. A log that
 * cannot be written is reported once and written no more. */
static void write_joblog(ctk_pipe *p, uint64_t seq, const ctk_pipe_result *r)
{
    if (p->opts.joblog == NULL || p->opts.dry_run || p->joblog_errno != 0)
        return;
    ctk_joblog_entry e = {seq,
                          (double)r->start_us / 1e6,
                          (double)r->runtime_us / 1e6,
                          r->len,
                          r->out_bytes,
                          r->exit,
                          r->signal,
                          (const char *)r->line,
                          r->line_len};
    int rc = ctk_joblog_write(p->opts.joblog, &e);
    if (rc < 0) {
        p->joblog_errno = -rc;
        report(p, "--joblog: cannot write: %s; no more blocks are logged", g_strerror(-rc));
    }
}

/* --files: the block's output (after -v's line) in a file of --tmpdir, and
 * the file's name, tagged, where the output would have gone. */
static int write_file(ctk_pipe *p, const ctk_pipe_result *r, const ctk_spawn_stream *s, writer *w,
                      ctk_buf *tag)
{
    char *path;
    int fd = ctk_spool_par_file(p->opts.tmpdir, &path), rc = fd < 0 ? fd : 0;
    if (rc == 0 && shows_line(p, r))
        rc = write_all(fd, r->line, r->line_len);
    if (rc == 0 && shows_line(p, r))
        rc = write_all(fd, "\n", 1);
    if (rc == 0)
        rc = ctk_spawn_stream_copy(s, fd);
    if (fd >= 0 && close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc < 0) {
        report(p, "--files: cannot write %s: %s", path, ctk_strerror(rc));
        unlink(path);
    } else {
        w->at_line_start = 1;
        rc = p->opts.tagstring != NULL ? write_tagged(w, path, strlen(path))
                                       : write_all(p->opts.out_fd, path, strlen(path));
        if (rc == 0)
            rc = write_all(p->opts.out_fd, "\n", 1);
    }
    g_free(path);
    ctk_buf_free(&w->scratch);
    ctk_buf_free(tag);
    return rc;
}

/* A block's output: -v's command line first, each line tagged as GNU
 * parallel tags them ({#} and {%} of the block's filter). */
static int write_output(ctk_pipe *p, uint64_t seq, const ctk_pipe_result *r,
                        const ctk_spawn_stream *s)
{
    if (p->digest != NULL)
        ctk_spawn_stream_foreach(s, digest_chunk, p->digest);
    if (p->opts.out_fd < 0)
        return 0;
    ctk_buf tag = {0};
    int rc = 0;
    if (p->opts.tagstring != NULL) {
        ctk_cmdline_args args = {NULL, 0, seq, r->slot ? r->slot : 1};
        if (p->opts.tee > 0 && seq >= 1 && seq <= p->opts.tee) {
            args.cols = p->opts.tee_args[seq - 1].cols;
            args.n_cols = p->opts.tee_args[seq - 1].n_cols;
        }
        rc = ctk_cmdline_render(p->opts.tagstring, &args, &tag, NULL);
        if (rc == 0)
            rc = ctk_buf_append(&tag, "\t", 1);
    }
    writer w = {p, (const char *)tag.data, tag.len, 1, {0}};
    if (rc == 0 && p->opts.files)
        return write_file(p, r, s, &w, &tag);
    if (rc == 0 && shows_line(p, r)) {
        rc = p->opts.tagstring != NULL ? write_tagged(&w, r->line, r->line_len)
                                       : write_all(p->opts.out_fd, r->line, r->line_len);
        if (rc == 0)
            rc = p->opts.tagstring != NULL ? write_tagged(&w, "\n", 1)
                                           : write_all(p->opts.out_fd, "\n", 1);
    }
    if (rc == 0 && p->opts.tagstring == NULL)
        rc = ctk_spawn_stream_copy(s, p->opts.out_fd);
    else if (rc == 0)
        rc = ctk_spawn_stream_foreach(s, write_tagged, &w);
    ctk_buf_free(&w.scratch);
    ctk_buf_free(&tag);
    return rc;
}

static int failed_status(const ctk_pipe_result *r)
{
    if (r->signal != 0)
        return 128 + (int)r->signal;
    return (int)r->exit;
}

static void report(const ctk_pipe *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report(const ctk_pipe *p, const char *fmt, ...)
{
    if (p->opts.report == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *message = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    p->opts.report(p->opts.report_arg, message);
    g_free(message);
}

static void report_failure(const ctk_pipe *p, uint64_t seq, const ctk_pipe_result *r)
{
    char how[128];
    if (r->signal != 0)
        snprintf(how, sizeof how, "was killed by signal %d (%s)", (int)r->signal,
                 strsignal((int)r->signal));
    else
        snprintf(how, sizeof how, "exited with status %d", (int)r->exit);
    if (p->opts.round_robin) /* a filter fed many blocks */
        report(p, "filter %llu of %s %s", (unsigned long long)seq,
               p->opts.shard ? cpipe_shard_option(p->opts.shard) : "--round-robin", how);
    else if (p->opts.tee > 0) /* a filter fed all of the input */
        report(p, "filter %llu of --tee %s", (unsigned long long)seq, how);
    else
        report(p, "block %llu (offset %llu, %llu bytes): the filter %s", (unsigned long long)seq,
               (unsigned long long)r->offset, (unsigned long long)r->len, how);
}

/* The output of a result as a stream in *s: kept in this process (the
 * ticket redeemed; *res, the whole result, is then ours to free), the
 * bytes in the unit, or a range of the spool (view->spill_fd is the
 * spool's, never to be closed; the range is released once written). */
static int result_stream(ctk_pipe *p, const ctk_pipe_result *r, ctk_spawn_stream *view,
                         const ctk_spawn_stream **s, ctk_spawn_result **res)
{
    ctk_spawn_stream_init(view, 0, NULL);
    *s = view;
    *res = NULL;
    if (r->kind == CTK_PIPE_OUT_HERE) {
        /* A ticket of another run, or one already redeemed, is no output. */
        if (r->run != p->run || r->ticket > G_MAXSIZE)
            return CTK_EIO;
        gpointer key = GSIZE_TO_POINTER((gsize)r->ticket);
        pthread_mutex_lock(&p->lock);
        *res = g_hash_table_lookup(p->pending, key);
        g_hash_table_remove(p->pending, key);
        pthread_mutex_unlock(&p->lock);
        if (*res == NULL)
            return CTK_EIO;
        *s = &(*res)->out;
        return 0;
    }
    /* Only read from, never grown or freed: it is the unit's. */
    view->mem.data = (unsigned char *)r->mem;
    view->mem.len = view->mem.cap = r->mem_len;
    view->bytes = r->mem_len;
    if (r->spool_len > 0) {
        /* A range of another spool (a process that did not share ours). */
        if (p->spool == NULL || r->spool_id != ctk_spool_id(p->spool))
            return CTK_EIO;
        view->spill_fd = ctk_spool_fd(p->spool);
        view->spill_at = r->spool_off;
        view->bytes = r->spool_len;
    }
    return 0;
}

/* GNU parallel's --halt over blocks, with the lock held after a block is
 * counted: soon stops feeding blocks, now also writes none of the running
 * filters' outputs (the caller ends them). Returns the count that reached
 * the threshold, or 0. */
static uint64_t halt_reached(ctk_pipe *p)
{
    const ctk_halt *h = &p->opts.halt;
    if (h->when == CTK_HALT_NEVER || p->stop)
        return 0;
    uint64_t failed = p->stats.failed, blocks = p->stats.blocks;
    uint64_t count = h->why == CTK_HALT_FAIL      ? failed
                     : h->why == CTK_HALT_SUCCESS ? blocks - failed
                                                  : blocks;
    if (count == 0 || count < h->count)
        return 0;
    if (h->why == CTK_HALT_SUCCESS)
        p->stats.status = 0; /* halting on success is a success */
    p->stats.halted = 1;
    __atomic_store_n(&p->stop, 1, __ATOMIC_RELAXED);
    if (h->when == CTK_HALT_NOW)
        p->discard = 1;
    return count;
}

static void halt_announce(ctk_pipe *p, uint64_t count)
{
    const ctk_halt *h = &p->opts.halt;
    report(p, "--halt: %llu block%s %s; %s", (unsigned long long)count, count == 1 ? "" : "s",
           h->why == CTK_HALT_FAIL      ? "failed"
           : h->why == CTK_HALT_SUCCESS ? "succeeded"
                                        : "done",
           h->when == CTK_HALT_NOW ? "ending the running filters" : "starting no more blocks");
    if (h->when == CTK_HALT_NOW)
        ctk_pipe_cancel(p, SIGTERM);
}

void ctk_pipe_consume(void *arg, const ctk_unit *unit)
{
    ctk_pipe *p = arg;
    ctk_pipe_result r = {0};
    int why = unit->status;
    if (why == 0)
        why = ctk_pipe_result_decode(&r, unit->out.data, unit->out.len);
    int have = why == 0;
    ctk_spawn_stream view;
    const ctk_spawn_stream *out = NULL;
    ctk_spawn_result *res = NULL;
    /* Redeemed even when skipped, so the output kept for it is freed. */
    int lost = have ? result_stream(p, &r, &view, &out, &res) : 0;
    pthread_mutex_lock(&p->lock);
    /* After --halt now, later blocks that were already running are not
     * written: the output is an exact prefix. */
    int skip = p->discard || p->stats.write_error != 0 || ctk_is_cancelled(p->cancel);
    pthread_mutex_unlock(&p->lock);
    int failed = !have || r.exit != 0 || r.signal != 0;
    if (!have && !skip) {
        if (unit->status != 0)
            report(p, "block %llu: %s", (unsigned long long)unit->seq,
                   unit->error != NULL ? unit->error : ctk_strerror(unit->status));
        else
            report(p, "block %llu: a malformed result: %s", (unsigned long long)unit->seq,
                   ctk_strerror(why));
        r.exit = 255;
    } else if (failed && !skip && !r.exec_errno) {
        report_failure(p, unit->seq, &r);
    } else if (have && r.input_errno != 0 && !skip) {
        /* The filter saw a short block and may well have liked it. */
        report(p, "block %llu (offset %llu, %llu bytes): cannot feed the filter: %s",
               (unsigned long long)unit->seq, (unsigned long long)r.offset,
               (unsigned long long)r.len,
               r.input_errno == EIO ? "the input file ended before the block (truncated?)"
                                    : strerror((int)r.input_errno));
        r.exit = 255;
        failed = 1;
    }
    if (lost < 0 && !skip) {
        report(p, "block %llu: its output is lost: %s", (unsigned long long)unit->seq,
               ctk_strerror(lost));
        r.exit = r.exit != 0 ? r.exit : 255;
        failed = 1;
    }
    int wrc = 0;
    uint64_t halted = 0;
    pthread_mutex_lock(&p->print_lock);
    if (!skip && have)
        wrc = write_output(p, unit->seq, &r, out);
    p->next_out = unit->seq + 1;
    pthread_mutex_unlock(&p->print_lock);
    if (!skip && wrc == 0)
        write_joblog(p, unit->seq, &r);
    if (have && r.kind == CTK_PIPE_OUT_BYTES && r.spool_len > 0 && p->spool != NULL)
        ctk_spool_release(p->spool, r.spool_off, r.spool_len);
    pthread_mutex_lock(&p->lock);
    if (!skip) {
        p->stats.blocks++;
        p->stats.in_bytes += r.len;
        p->stats.out_bytes += wrc == 0 ? r.out_bytes : 0;
        if (failed) {
            p->stats.failed++;
            if (p->stats.status == 0)
                p->stats.status = failed_status(&r);
        }
        /* cpipe's own trouble (the input, a lost output, a filter that
         * cannot start) would hit every later block alike: stop now with
         * its status, whatever --halt says. */
        int own = failed && (!have || r.input_errno != 0 || lost < 0 || r.exec_errno != 0);
        if (own && !p->stop) {
            p->stats.status = failed_status(&r);
            p->stats.halted = 1;
            p->discard = 1;
            __atomic_store_n(&p->stop, 1, __ATOMIC_RELAXED);
        } else {
            halted = halt_reached(p);
        }
        if (wrc < 0) {
            p->stats.write_error = -wrc;
            __atomic_store_n(&p->stop, 1, __ATOMIC_RELAXED);
            /* --line-buffer's filters may never end (a round-robin lane on
             * endless input): with nobody to read them they end now. */
            if (p->opts.line_buffer)
                p->discard = 1;
        }
    }
    uint64_t done = p->stats.in_bytes;
    pthread_mutex_unlock(&p->lock);
    if (halted != 0)
        halt_announce(p, halted);
    else if (p->discard && !skip)
        ctk_pipe_cancel(p, SIGTERM);
    if (res != NULL) {
        ctk_spawn_result_free(res);
        g_free(res);
    }
    ctk_pipe_result_clear(&r);
    if (p->progress != NULL)
        ctk_progress_update(p->progress, done / p->progress_divisor);
}

/* ---- --halt across hosts --------------------------------------------------------- */

/* consume decides --halt, in the consuming process, whatever the
 * strategy: a remote one only needs the decision carried to where the
 * filters run. */
static int stop_decided(void *arg)
{
    ctk_pipe *p = arg;
    pthread_mutex_lock(&p->lock);
    int how = p->discard ? CTK_STOP_NOW : p->stop ? CTK_STOP_SOON : CTK_STOP_NONE;
    pthread_mutex_unlock(&p->lock);
    return how;
}

/* Where filters run: now ends the running ones, as halt_announce does
 * to the filters of this host; their outputs are not written anyway. */
static void stop_apply(void *arg, int how)
{
    ctk_pipe *p = arg;
    pthread_mutex_lock(&p->lock);
    __atomic_store_n(&p->stop, 1, __ATOMIC_RELAXED);
    if (how == CTK_STOP_NOW)
        p->discard = 1;
    pthread_mutex_unlock(&p->lock);
    if (how == CTK_STOP_NOW)
        ctk_pipe_cancel(p, SIGTERM);
}

ctk_stop_hooks ctk_pipe_stop_hooks(ctk_pipe *p)
{
    /* consume decides in input order, after the window: a filter never
     * waits for its block to be counted, here as on one host. */
    return (ctk_stop_hooks){NULL, stop_decided, stop_apply, p, 0};
}

/* ---- life cycle ------------------------------------------------------------------ */

int ctk_pipe_new(ctk_pipe **out, const ctk_pipe_opts *opts, char *err, size_t err_len)
{
    ctk_pipe *p = g_new0(ctk_pipe, 1);
    int rc = -pthread_mutex_init(&p->lock, NULL);
    if (rc == 0 && (rc = -pthread_mutex_init(&p->print_lock, NULL)) < 0)
        pthread_mutex_destroy(&p->lock);
    if (rc < 0) {
        g_free(p);
        return rc;
    }
    p->opts = *opts;
    p->owner = getpid();
    p->next_out = 1;
    p->cancel_fd = -1;
    p->lane_sock[0] = p->lane_sock[1] = -1;
    /* Two runs' tickets must not be mistaken for each other. */
    p->run = (uint64_t)g_random_int() << 32 | g_random_int();
    ctk_spawn_program_init(&p->program);
    /* Before any strategy forks: its workers share the spool. */
    if (opts->elsewhere && (p->spool = ctk_spool_new(opts->tmpdir)) == NULL) {
        pthread_mutex_destroy(&p->lock);
        pthread_mutex_destroy(&p->print_lock);
        g_free(p);
        return CTK_ENOMEM;
    }
    /* Without a guard (no fork left) the filters' leaders still die with us. */
    (void)ctk_guard_start();
    p->running = g_ptr_array_new();
    p->pending = g_hash_table_new(NULL, NULL);
    if ((opts->round_robin || opts->tee > 0) &&
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p->lane_sock) < 0) {
        snprintf(err, err_len, "cannot set up --%s: %s", opts->tee > 0 ? "tee" : "round-robin",
                 strerror(errno));
        ctk_pipe_free(p);
        return CTK_EINVAL;
    }
    if (opts->checksum)
        p->digest = g_checksum_new(G_CHECKSUM_MD5);
    p->n_shared = 2 * (size_t)opts->jobs + 8;
    void *shared = mmap(NULL, p->n_shared * sizeof(pid_t), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    p->shared_pids = shared == MAP_FAILED ? NULL : shared;
    shared = mmap(NULL, (size_t)opts->jobs + 1, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                  -1, 0);
    p->slots = shared == MAP_FAILED ? NULL : shared;
    if (opts->delay > 0)
        p->rate = ctk_rate_new(1.0 / opts->delay);
    if (opts->header_regexp != NULL) {
        GError *gerr = NULL;
        p->header_re = g_regex_new(opts->header_regexp, G_REGEX_RAW, 0, &gerr);
        if (p->header_re == NULL) {
            snprintf(err, err_len, "--header %s: %s", opts->header_regexp, gerr->message);
            g_error_free(gerr);
            ctk_pipe_free(p);
            return CTK_EINVAL;
        }
    }
    struct stat st = {0};
    rc = fstat(opts->in_fd, &st) < 0 ? -errno : 0;
    p->dev = (uint64_t)st.st_dev;
    p->ino = (uint64_t)st.st_ino;
    /* A regular file of size 0 may still have contents (/proc, /sys): it
     * is read like a pipe, not mapped as empty. */
    /* -N and -L count records as they stream by (parallel refuses them
     * with --pipepart). */
    if (opts->records > 0 || opts->lines > 0)
        p->opts.no_seek = 1;
    /* -r edits the stream as --pipe reads it; --pipepart passes the file's
     * bytes as they are (parallel ignores -r there). */
    if (opts->skip_empty && opts->part != 1)
        p->opts.no_seek = 1;
    else
        p->opts.skip_empty = 0;
    if (rc == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && !p->opts.no_seek)
        rc = open_file_input(p, &st);
    else if (rc == 0)
        rc = open_pipe_input(p);
    if (rc == 0 && opts->block_slots > 0) {
        if (!p->seekable && !S_ISREG(st.st_mode)) {
            snprintf(err, err_len, "--block -%u needs a seekable input (a file, --pipepart)",
                     opts->block_slots);
            ctk_pipe_free(p);
            return CTK_EINVAL;
        }
        /* parallel counts the whole file, header and all. */
        if (p->seekable)
            p->opts.block = 1 + p->size / (opts->jobs ? opts->jobs : 1) / opts->block_slots;
    }
    if (rc == 0 && p->opts.block == 0) {
        uint64_t per_job = ctk_pipe_input_size(p) / (16 * (uint64_t)(opts->jobs ? opts->jobs : 1));
        p->opts.block = CTK_PIPE_BLOCK;
        if (per_job > p->opts.block)
            p->opts.block = per_job < 4 * CTK_PIPE_BLOCK ? per_job : 4 * CTK_PIPE_BLOCK;
    }
    /* Unless told, a file is cut as --pipepart cuts it, a pipe as --pipe. */
    if (p->opts.part < 0)
        p->opts.part = p->seekable;
    p->grown = p->opts.block;
    /* parallel reads the header a block at a time: what it read past the
     * header is in its buffer when the first block is cut. */
    if (p->header.len > 0 && p->grown > 0)
        p->carry = (p->header.len + p->grown - 1) / p->grown * p->grown - p->header.len;
    if (rc < 0) {
        snprintf(err, err_len, "cannot read the input: %s", ctk_strerror(rc));
        ctk_pipe_free(p);
        return CTK_EINVAL;
    }
    /* A column --shard or --bin names is in the header. */
    if (opts->shard != NULL &&
        cpipe_shard_header(opts->shard, p->header.data, p->header.len, err, err_len) < 0) {
        ctk_pipe_free(p);
        return CTK_EINVAL;
    }
    *out = p;
    return 0;
}

static void free_result(gpointer key, gpointer value, gpointer data)
{
    (void)key;
    (void)data;
    ctk_spawn_result_free(value);
    g_free(value);
}

void ctk_pipe_end(ctk_pipe *p)
{
    if (!p->feeder_started)
        return;
    /* No lane comes any more: the feeder sees the end and closes. */
    shutdown(p->lane_sock[1], SHUT_WR);
    pthread_join(p->feeder, NULL);
    p->feeder_started = 0;
}

void ctk_pipe_free(ctk_pipe *p)
{
    if (p == NULL)
        return;
    ctk_pipe_end(p);
    for (int i = 0; i < 2; i++)
        if (p->lane_sock[i] >= 0)
            close(p->lane_sock[i]);
    /* Results of blocks that were never consumed (a cancelled run). */
    g_hash_table_foreach(p->pending, free_result, NULL);
    g_hash_table_destroy(p->pending);
    g_ptr_array_free(p->running, TRUE);
    ctk_buf_free(&p->window);
    if (p->digest != NULL)
        g_checksum_free(p->digest);
    if (p->shared_pids != NULL)
        munmap(p->shared_pids, p->n_shared * sizeof(pid_t));
    if (p->slots != NULL)
        munmap(p->slots, (size_t)p->opts.jobs + 1);
    ctk_rate_free(p->rate);
    ctk_buf_free(&p->header);
    if (p->header_re != NULL)
        g_regex_unref(p->header_re);
    ctk_buf_free(&p->next);
    ctk_buf_free(&p->raw);
    ctk_buf_free(&p->blank);
    ctk_buf_free(&p->head);
    ctk_spawn_program_free(&p->program);
    ctk_spool_free(p->spool);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->print_lock);
    g_free(p);
}

ctk_work ctk_pipe_work(ctk_pipe *p)
{
    ctk_work w = {pipe_run, pipe_start, p};
    return w;
}

void ctk_pipe_set_cancel(ctk_pipe *p, const int *flag, int fd)
{
    p->cancel = flag;
    p->cancel_fd = fd;
}

void ctk_pipe_set_progress(ctk_pipe *p, ctk_progress *progress, uint64_t divisor)
{
    p->progress = progress;
    p->progress_divisor = divisor > 0 ? divisor : 1;
}

void ctk_pipe_cancel(ctk_pipe *p, int signo)
{
    pthread_mutex_lock(&p->lock);
    for (guint i = 0; i < p->running->len; i++)
        ctk_spawn_signal(g_ptr_array_index(p->running, i), signo);
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; p->shared_pids != NULL && i < p->n_shared; i++) {
        pid_t pid = __atomic_load_n(&p->shared_pids[i], __ATOMIC_SEQ_CST);
        if (pid > 0)
            kill(-pid, signo);
    }
}

void ctk_pipe_stats_get(ctk_pipe *p, ctk_pipe_stats *st)
{
    pthread_mutex_lock(&p->lock);
    *st = p->stats;
    if (p->digest != NULL)
        g_strlcpy(st->digest, g_checksum_get_string(p->digest), sizeof st->digest);
    pthread_mutex_unlock(&p->lock);
}

/* ---- --reduce ----------------------------------------------------------------------- */

int ctk_pipe_reduce_begin(ctk_spawn_child *child, ctk_spawn_opts *so, const char *cmd,
                          const char *shell, int *fd)
{
    int ends[2];
    if (pipe2(ends, O_CLOEXEC) < 0)
        return -errno;
    memset(so, 0, sizeof *so);
    so->shell = cmd;
    so->shell_path = shell;
    so->in = CTK_SPAWN_IN_FD;
    so->in_fd = ends[0];
    so->out = CTK_SPAWN_INHERIT;
    so->err = CTK_SPAWN_INHERIT;
    int rc = ctk_spawn_start(child, so);
    close(ends[0]);
    if (rc < 0) {
        close(ends[1]);
        ctk_spawn_dispose(child);
        return rc;
    }
    *fd = ends[1];
    return 0;
}

int ctk_pipe_reduce_end(ctk_spawn_child *child, int fd)
{
    close(fd);
    ctk_spawn_result r;
    int rc = ctk_spawn_finish(child, &r);
    ctk_spawn_dispose(child);
    if (rc == 0)
        rc = r.signal != 0 ? 128 + r.signal : r.exit;
    ctk_spawn_result_free(&r);
    return rc;
}
