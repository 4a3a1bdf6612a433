/* shard.c: --shard and --bin's choice of a lane, and the lanes' queues
 * (shard.h). */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "groupby.h"
#include "shard.h"

/* perl's SBOX32_MAX_LEN: longer values take its seeded SipHash. */
#define SBOX_LEN 24
/* A queue's bytes kept in memory; beyond, a lane that cannot take them
 * spills to its file (and the feeder reads no more for a lane behind). */
#define LANEQ_MEM ((size_t)256 << 10)

struct cpipe_shard {
    int bin;
    char *spec;
    int named;
    size_t col; /* 0 up */
    GRegex *sep;
    uint32_t sbox[1 + SBOX_LEN * 256]; /* perl's state: sbox[0], then a row per byte position */
};

const char *cpipe_shard_check(const char *spec)
{
    static char why[200];
    size_t n = strspn(spec, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
    /* parallel's form: a column, then (after white space) perl code. */
    if (n > 0 && spec[n] != '\0' && g_ascii_isspace(spec[n])) {
        const char *code = spec + n;
        while (g_ascii_isspace(*code))
            code++;
        snprintf(why, sizeof why, "perl expressions after the column are not supported: %.120s",
                 code);
        return why;
    }
    if (n == 0 || spec[n] != '\0')
        return "a column number or name (cpipe runs no perl expression)";
    if (strspn(spec, "0123456789") == n && strtoull(spec, NULL, 10) == 0)
        return "columns are numbered from 1";
    return NULL;
}

/* perl 5.36's sbox32_seed_state128 for the seed parallel leaves it:
 * parallel sets PERL_HASH_SEED to its process id, whose few hex digits
 * fill only the first of the seed's 32 bytes, so the sbox's 16 (the last)
 * are zero whatever the id. */
#define ROTL32(x, r) (((x) << (r)) | ((x) >> (32 - (r))))
static void sbox_seed(uint32_t *state)
{
    uint32_t s[4] = {0x786f6273, 0x68736168, 0x646f6f67, 0x74736166}, t;
    for (int round = 0; round < 2; round++) {
        /* Between the two churns the complemented seed words (all ones)
         * are mixed in; a zero word becomes non-zero. */
        for (int i = 0; round == 1 && i < 4; i++) {
            s[i] ^= 0xffffffffu;
            if (s[i] == 0)
                s[i] = 8u >> i;
        }
        for (int i = 0; i < 128; i++) {
            s[0] = ROTL32(s[0], 13) - s[3];
            s[1] ^= s[2];
            s[3] = ROTL32(s[3], 9) + s[1];
            s[2] ^= s[0];
            s[0] = ROTL32(s[0], 14) ^ s[3];
            s[1] = ROTL32(s[1], 25) - s[2];
            s[3] ^= s[1];
            s[2] = ROTL32(s[2], 4) - s[0];
        }
    }
    /* xorshift128: the rows first, the initial word last. */
    for (size_t i = 1; i <= (size_t)SBOX_LEN * 256 + 1; i++) {
        t = s[0] ^ (s[0] << 5);
        s[0] = s[1];
        s[1] = s[2];
        s[2] = s[3];
        s[3] = (s[3] ^ (s[3] >> 29)) ^ (t ^ (t >> 12));
        state[i <= (size_t)SBOX_LEN * 256 ? i : 0] = s[3];
    }
}

static uint32_t value_hash(const cpipe_shard *s, const unsigned char *v, size_t len)
{
    if (len <= SBOX_LEN) {
        uint32_t h = s->sbox[0];
        for (size_t i = 0; i < len; i++)
            h ^= s->sbox[1 + 256 * i + v[i]];
        return h;
    }
    /* parallel's choice here changes with its process id: any fixed
     * spread will do (FNV-1a, then murmur3's finaliser). */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ v[i]) * 16777619u;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    return h ^ (h >> 16);
}

static int perl_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* perl's `$value % n` (n > 0), in 0..n-1: the number a string starts
 * with (leading white space, a sign, digits, a fraction, an exponent;
 * anything else is 0). An integer that perl holds exactly (a clean one
 * that fits 64 bits) is taken exactly; any other number is a double,
 * truncated below 2^64, else rounded and taken by fmod, as pp_modulo. */
static unsigned perl_mod(const char *s, size_t len, unsigned n)
{
    size_t i = 0, digits = 0;
    while (i < len && perl_space(s[i]))
        i++;
    int neg = i < len && s[i] == '-';
    if (i < len && (s[i] == '-' || s[i] == '+'))
        i++;
    size_t from = i;
    uint64_t u = 0;
    int over = 0, fraction = 0;
    for (; i < len && g_ascii_isdigit(s[i]); i++, digits++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (u > (UINT64_MAX - d) / 10)
            over = 1;
        else
            u = u * 10 + d;
    }
    if (i < len && s[i] == '.') {
        fraction = 1;
        for (i++; i < len && g_ascii_isdigit(s[i]); i++)
            digits++;
    }
    if (digits == 0)
        return 0;
    if (i + 1 < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1 + (s[i + 1] == '+' || s[i + 1] == '-');
        if (j < len && g_ascii_isdigit(s[j])) {
            while (j < len && g_ascii_isdigit(s[j]))
                j++;
            i = j;
            fraction = 1;
        }
    }
    size_t end = i;
    while (i < len && perl_space(s[i]))
        i++;
    if (i == len && !fraction && !over && (!neg || u <= (uint64_t)1 << 63)) {
        uint64_t r = u % n;
        return (unsigned)(neg && r != 0 ? n - r : r);
    }
    char *text = g_strndup(s + from, end - from);
    double d = g_ascii_strtod(text, NULL), r;
    g_free(text);
    if (d < 18446744073709551616.0)
        r = (double)((uint64_t)d % n);
    else
        r = fmod(floor(d + 0.5), (double)n);
    return (unsigned)(neg && r != 0 ? n - r : r);
}

int cpipe_shard_new(cpipe_shard **out, const char *spec, int bin, const char *colsep, char *err,
                    size_t err_len)
{
    GError *gerr = NULL;
    GRegex *sep = g_regex_new(colsep, G_REGEX_RAW, 0, &gerr);
    if (sep == NULL) {
        snprintf(err, err_len, "--colsep %s: %s", colsep, gerr->message);
        g_error_free(gerr);
        return CTK_EINVAL;
    }
    cpipe_shard *s = g_new0(cpipe_shard, 1);
    s->bin = bin;
    s->sep = sep;
    s->spec = g_strdup(spec);
    s->named = strspn(spec, "0123456789") != strlen(spec);
    if (!s->named)
        s->col = (size_t)strtoull(spec, NULL, 10) - 1;
    if (!bin)
        sbox_seed(s->sbox);
    *out = s;
    return 0;
}

void cpipe_shard_free(cpipe_shard *s)
{
    if (s == NULL)
        return;
    g_regex_unref(s->sep);
    g_free(s->spec);
    g_free(s);
}

const char *cpipe_shard_option(const cpipe_shard *s)
{
    return s->bin ? "--bin" : "--shard";
}

int cpipe_shard_named(const cpipe_shard *s)
{
    return s->named;
}

int cpipe_shard_header(cpipe_shard *s, const void *header, size_t len, char *err, size_t err_len)
{
    if (!s->named)
        return 0;
    const char *nl = memchr(header, '\n', len);
    char *line = g_strndup(header, nl != NULL ? (size_t)(nl - (const char *)header) : len);
    int found = cpipe_column_named(s->sep, line, strlen(line), s->spec, &s->col);
    g_free(line);
    if (!found) {
        snprintf(err, err_len, "%s %s: no such column in the header", cpipe_shard_option(s),
                 s->spec);
        return CTK_EINVAL;
    }
    return 0;
}

unsigned cpipe_shard_lane(const cpipe_shard *s, const void *line, size_t len, unsigned lanes)
{
    const char *v;
    size_t vlen;
    (void)cpipe_column(s->sep, s->col, line, len, &v, &vlen);
    if (!s->bin)
        return value_hash(s, (const unsigned char *)v, vlen) % lanes;
    /* parallel's binner keeps its last filter as the 0th. */
    unsigned r = perl_mod(v, vlen, lanes);
    return r == 0 ? lanes - 1 : r - 1;
}

/* ---- a lane's queue ---------------------------------------------------------- */

void cpipe_laneq_init(cpipe_laneq *q, const char *tmpdir)
{
    *q = (cpipe_laneq){.spill_fd = -1, .tmpdir = tmpdir};
}

static int spill_open(cpipe_laneq *q)
{
    const char *dir = q->tmpdir != NULL ? q->tmpdir : getenv("TMPDIR");
    if (dir == NULL || *dir == '\0')
        dir = "/tmp";
    q->spill_fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (q->spill_fd >= 0)
        return 0;
    /* A file system without O_TMPFILE: a name, removed at once. */
    char *path = g_strdup_printf("%s/cpipeXXXXXX", dir);
    q->spill_fd = g_mkstemp_full(path, O_RDWR | O_CLOEXEC, 0600);
    int rc = q->spill_fd < 0 ? -errno : 0;
    if (rc == 0)
        unlink(path);
    g_free(path);
    return rc;
}

static int spill(cpipe_laneq *q)
{
    if (q->spill_fd < 0) {
        int rc = spill_open(q);
        if (rc < 0)
            return rc;
    }
    size_t done = 0;
    while (done < q->tail.len) {
        ssize_t n = pwrite(q->spill_fd, q->tail.data + done, q->tail.len - done,
                           (off_t)(q->spill_w + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : CTK_EIO;
        done += (size_t)n;
    }
    q->spill_w += done;
    q->tail.len = 0;
    return 0;
}

int cpipe_laneq_push(cpipe_laneq *q, const void *data, size_t len, int hold)
{
    int rc = ctk_buf_append(&q->tail, data, len);
    /* Behind a spilled part, the tail must follow it into the file. */
    if (rc == 0 && (hold || q->spill_r < q->spill_w) && q->tail.len >= LANEQ_MEM)
        rc = spill(q);
    return rc;
}

uint64_t cpipe_laneq_pending(const cpipe_laneq *q)
{
    return (q->head.len - q->taken) + (q->spill_w - q->spill_r) + q->tail.len;
}

int cpipe_laneq_write(cpipe_laneq *q, int fd)
{
    for (;;) {
        ssize_t n;
        if (q->taken < q->head.len) {
            n = write(fd, q->head.data + q->taken, q->head.len - q->taken);
            if (n > 0)
                q->taken += (size_t)n;
        } else if (q->spill_r < q->spill_w) {
            /* A chunk of the file; what the pipe does not take is read
             * again next time. */
            char chunk[65536];
            uint64_t left = q->spill_w - q->spill_r;
            n = pread(q->spill_fd, chunk, left < sizeof chunk ? (size_t)left : sizeof chunk,
                      (off_t)q->spill_r);
            if (n == 0)
                return CTK_EIO; /* the file is shorter than written */
            if (n > 0)
                n = write(fd, chunk, (size_t)n);
            if (n > 0)
                q->spill_r += (uint64_t)n;
            if (q->spill_r == q->spill_w) { /* all read back: start the file anew */
                q->spill_r = q->spill_w = 0;
                (void)!ftruncate(q->spill_fd, 0);
            }
        } else if (q->tail.len > 0) {
            ctk_buf was = q->head;
            q->head = q->tail;
            q->tail = was;
            q->tail.len = 0;
            q->taken = 0;
            continue;
        } else {
            return 0;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN ? 0 : -errno;
    }
}

void cpipe_laneq_free(cpipe_laneq *q)
{
    ctk_buf_free(&q->head);
    ctk_buf_free(&q->tail);
    if (q->spill_fd >= 0)
        close(q->spill_fd);
    cpipe_laneq_init(q, q->tmpdir);
}
