/*
 * transfer.c: one URL's transfer, step by step, for both engines: set-up
 * (the unit decoded, the body's file opened beside its final name), each
 * attempt's options and verdict (retry or not, and after how long, by the
 * retry policy below), and the end (the file renamed into place or
 * removed, the result encoded).
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "transfer.h"

double ctk__fetch_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void share_lock(CURL *e, curl_lock_data data, curl_lock_access access, void *arg)
{
    (void)e, (void)data, (void)access;
    g_mutex_lock(&((ctk__xfer_conf *)arg)->share_lock);
}

static void share_unlock(CURL *e, curl_lock_data data, void *arg)
{
    (void)e, (void)data;
    g_mutex_unlock(&((ctk__xfer_conf *)arg)->share_lock);
}

int ctk__xfer_conf_init(ctk__xfer_conf *c, const ctk_fetch_opts *o)
{
    *c = (ctk__xfer_conf){.o = *o};
    c->o.headers = NULL;
    for (const char *const *h = o->headers; h != NULL && *h != NULL; h++) {
        struct curl_slist *more = curl_slist_append(c->headers, *h);
        if (more == NULL) {
            curl_slist_free_all(c->headers);
            c->headers = NULL;
            return CTK_ENOMEM;
        }
        c->headers = more;
    }
    c->user_agent = g_strdup(o->user_agent != NULL ? o->user_agent : "cfetch/" CTK_VERSION);
    if (o->cookie_jar != NULL || (o->cookie != NULL && strchr(o->cookie, '=') == NULL)) {
        /* One cookie store for the run, as curl has for its transfers:
         * a cookie one response sets goes with the next request. */
        g_mutex_init(&c->share_lock);
        c->share = curl_share_init();
        if (c->share == NULL) {
            ctk__xfer_conf_clear(c);
            return CTK_ENOMEM;
        }
        curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
        curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
        curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE);
    }
    return 0;
}

void ctk__xfer_conf_clear(ctk__xfer_conf *c)
{
    curl_slist_free_all(c->headers);
    g_free(c->user_agent);
    if (c->share != NULL) {
        curl_share_cleanup(c->share);
        g_mutex_clear(&c->share_lock);
    }
    *c = (ctk__xfer_conf){0};
}

/* ---- the retry policy ---------------------------------------------------------- */

int ctk_fetch_retryable(int curl_code, long status)
{
    switch ((CURLcode)curl_code) {
    case CURLE_OK:
        return status == 408 || status == 429 || (status >= 500 && status <= 599);
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

double ctk_fetch_backoff(unsigned attempt, double base, double cap, double u)
{
    double wait = base * ldexp(1.0, attempt > 0 ? (int)(attempt < 60 ? attempt - 1 : 59) : 0);
    if (wait > cap)
        wait = cap;
    return wait * (0.5 + 0.5 * u);
}

double ctk_fetch_retry_after(const char *value, double now)
{
    while (*value == ' ' || *value == '\t')
        value++;
    size_t len = strlen(value);
    while (len > 0 && strchr(" \t\r\n", value[len - 1]) != NULL)
        len--;
    if (len == 0 || len > 64)
        return -1;
    char text[65];
    memcpy(text, value, len);
    text[len] = '\0';
    if (strspn(text, "0123456789") == len)
        return len > 9 ? 1e9 : (double)strtol(text, NULL, 10);
    time_t when = curl_getdate(text, NULL);
    if (when == (time_t)-1)
        return -1;
    return (double)when > now ? (double)when - now : 0;
}

static double next_random(xfer *x)
{
    x->rng ^= x->rng << 13;
    x->rng ^= x->rng >> 7;
    x->rng ^= x->rng << 17;
    return (double)(x->rng >> 11) / 9007199254740992.0;
}

/* mkdir -p of dir, following links: the user named it. */
static int make_dirs(const char *dir)
{
    char *copy = g_strconcat(dir, "/", NULL);
    for (char *p = strchr(copy + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (mkdir(copy, 0777) < 0 && errno != EEXIST) {
            int e = errno;
            g_free(copy);
            errno = e;
            return -1;
        }
        *p = '/';
    }
    g_free(copy);
    return 0;
}

/* The length of trusted as a folder that path is inside, or 0. */
static size_t trusted_len(const char *path, const char *trusted)
{
    size_t n = trusted != NULL ? strlen(trusted) : 0;
    while (n > 1 && trusted[n - 1] == '/')
        n--;
    if (n == 0 || strncmp(path, trusted, n) != 0 || (path[n] != '/' && trusted[n - 1] != '/'))
        return 0;
    return n;
}

/* Opens the folder path's last component goes in, creating what is
 * missing. Below the folder the user named, each component is opened
 * with O_NOFOLLOW relative to the one before: a link planted where a
 * template puts a host or a name is refused, never followed. On failure
 * -1, errno set and *where the folder that failed (g_free). */
static int open_parent(const char *path, const char *trusted, char **where)
{
    size_t head = trusted_len(path, trusted);
    const char *last = strrchr(path, '/');
    size_t dir_len = last != NULL ? (size_t)(last - path) : 0;
    char *dir = head > 0 ? g_strndup(path, head) : g_strdup(path[0] == '/' ? "/" : ".");
    int fd = -1;
    if (head > 0 && make_dirs(dir) < 0)
        goto fail;
    if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        goto fail;
    for (size_t i = head; i < dir_len;) {
        size_t n = strcspn(path + i, "/");
        if (n == 0 || i + n > dir_len) {
            i += n + 1;
            continue;
        }
        char *comp = g_strndup(path + i, n);
        g_free(dir);
        dir = g_strndup(path, i + n);
        int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0 && errno == ENOENT && (mkdirat(fd, comp, 0777) == 0 || errno == EEXIST))
            next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        g_free(comp);
        close(fd);
        fd = next;
        errno = e;
        if (fd < 0)
            goto fail;
        i += n + 1;
    }
    g_free(dir);
    return fd;
fail:;
    int e = errno;
    if (fd >= 0)
        close(fd);
    *where = dir;
    errno = e;
    return -1;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

/* The body is written to a file beside its final name and renamed over it
 * only when complete: a file at the final name is never partial, whatever
 * interrupts the run. Its name follows from the final one, so whoever
 * sees a unit fail (a forked worker may have been killed) can remove it. */
static int open_output(xfer *x)
{
    if (x->u.path[0] == '\0' || x->conf->o.head)
        return 0;
    char *where = NULL;
    x->dir_fd = open_parent(x->u.path, x->conf->o.trusted_dir, &where);
    if (x->dir_fd < 0) {
        int e = errno;
        int rc = ctk_unit_fail(
            x->unit, CTK_EIO, "cannot create the directory of %s: %s: %s", x->u.path, where,
            e == ELOOP || e == ENOTDIR ? "a link or not a directory (links are not followed there)"
                                       : strerror(e));
        g_free(where);
        return rc;
    }
    if (x->conf->o.resume) {
        /* -c/-C -: what an earlier run left at the final name is the
         * start of the body; the rest is appended there (curl, wget). */
        x->in_place = 1;
        x->fd = openat(x->dir_fd, base_name(x->u.path), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
                       0666);
        if (x->fd >= 0)
            return 0;
        int e = errno;
        close(x->dir_fd);
        x->dir_fd = -1;
        return ctk_unit_fail(x->unit, CTK_EIO, "cannot open %s: %s", x->u.path, strerror(e));
    }
    x->tmp = ctk_fetch_partial_path(x->u.path);
    x->fd = openat(x->dir_fd, base_name(x->tmp),
                   O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (x->fd < 0) {
        int e = errno;
        g_free(x->tmp);
        x->tmp = NULL;
        close(x->dir_fd);
        x->dir_fd = -1;
        return ctk_unit_fail(x->unit, CTK_EIO, "cannot create %s: %s", x->u.path, strerror(e));
    }
    return 0;
}

/* A unit that ends before any transfer: x gives back what it took. */
static int answered(xfer *x)
{
    ctk_fetch_unit_clear(&x->u);
    return 1;
}

int ctk__xfer_begin(xfer *x, const ctk__xfer_conf *c, ctk_unit *unit)
{
    x->conf = c;
    x->unit = unit;
    x->fd = -1;
    x->dir_fd = -1;
    x->retry_after = -1;
    x->t0 = ctk__fetch_now();
    x->rng = (unit->seq * 0x9E3779B97F4A7C15ULL) ^ (uint64_t)(x->t0 * 1e9) ^ 1;
    unit->out.len = 0;
    int rc = ctk_fetch_unit_decode(&unit->in, &x->u);
    if (rc < 0) {
        ctk_unit_fail(unit, rc == CTK_ENOMEM ? rc : CTK_EINVAL, "%s",
                      rc == CTK_ENOMEM ? "out of memory" : "malformed unit");
        return 1;
    }
    if (x->u.kind == CTK_FETCH_UNIT_SKIP) {
        if (ctk_buf_set(&unit->out, x->u.answer, x->u.answer_len) < 0)
            ctk_unit_fail(unit, CTK_ENOMEM, "out of memory");
        return answered(x);
    }
    if (open_output(x) < 0) {
        ctk_fetch_result r = {
            .path = "", .error = unit->error, .elapsed = ctk__fetch_now() - x->t0};
        if (ctk_fetch_result_encode(&unit->out, &r) < 0)
            unit->out.len = 0; /* no result: the record shows the error alone */
        return answered(x);
    }
    return 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    xfer *x = arg;
    size_t len = size * n;
    uint64_t max = x->conf->o.max_filesize;
    if (!x->body_started) {
        x->body_started = 1;
        if (x->in_place && x->resume_from > 0 && x->head_status == 416) {
            x->discard = 1; /* the file is whole already: curl -C -, wget -c */
        } else if (x->in_place && x->resume_from > 0 && x->head_status != 206) {
            /* The server sent the whole body: start the file over. */
            if (ftruncate(x->fd, 0) < 0 || lseek(x->fd, 0, SEEK_SET) < 0) {
                x->write_errno = errno;
                return 0;
            }
        }
    }
    if (x->discard)
        return len;
    if (max > 0 && x->bytes + len > max) {
        x->too_big = 1;
        return 0;
    }
    if (x->fd >= 0) {
        for (size_t done = 0; done < len;) {
            ssize_t w = write(x->fd, data + done, len - done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                x->write_errno = w < 0 ? errno : EIO;
                return 0;
            }
            done += (size_t)w;
        }
    } else if (x->conf->o.keep_body && ctk_buf_append(&x->body, data, len) < 0) {
        x->write_errno = ENOMEM;
        return 0;
    }
    x->bytes += len;
    return len;
}

static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
    xfer *x = arg;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        x->retry_after = -1; /* a new response (after a redirect) */
        const char *sp = memchr(line, ' ', len);
        x->head_status = sp != NULL ? strtol(sp + 1, NULL, 10) : 0;
    } else if (len > sizeof name - 1 && strncasecmp(line, name, sizeof name - 1) == 0 &&
               len < 128) {
        char value[128];
        memcpy(value, line + sizeof name - 1, len - (sizeof name - 1));
        value[len - (sizeof name - 1)] = '\0';
        x->retry_after = ctk_fetch_retry_after(value, (double)time(NULL));
    }
    return len;
}

CURL *ctk__xfer_easy_new(const ctk__xfer_conf *c)
{
    const ctk_fetch_opts *o = &c->o;
    CURL *e = curl_easy_init();
    if (e == NULL)
        return NULL;
    /* What is the same for every transfer is set once per handle: a
     * handle lives for many transfers (a thread's, or the async spares). */
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(e, CURLOPT_NOBODY, o->head ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, o->follow ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, o->max_redirs);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(o->timeout * 1000));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(o->connect_timeout * 1000));
    if (o->max_filesize > 0)
        curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_filesize);
    if (o->stall_timeout > 0) {
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, (long)(o->stall_speed ? o->stall_speed : 1));
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)ceil(o->stall_timeout));
    }
    if (o->method != NULL)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, o->method);
    if (o->data != NULL) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->data_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, o->data);
    }
    if (o->userpwd != NULL)
        curl_easy_setopt(e, CURLOPT_USERPWD, o->userpwd);
    if (o->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (o->compressed)
        curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    if (o->limit_rate > 0)
        curl_easy_setopt(e, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)o->limit_rate);
    if (o->proxy != NULL)
        curl_easy_setopt(e, CURLOPT_PROXY, o->proxy);
    if (o->noproxy != NULL)
        curl_easy_setopt(e, CURLOPT_NOPROXY, o->noproxy);
    if (c->share != NULL)
        curl_easy_setopt(e, CURLOPT_SHARE, c->share);
    if (o->cookie != NULL && strchr(o->cookie, '=') != NULL)
        curl_easy_setopt(e, CURLOPT_COOKIE, o->cookie); /* curl -b 'n=v' */
    else if (o->cookie != NULL || o->cookie_jar != NULL)
        curl_easy_setopt(e, CURLOPT_COOKIEFILE, o->cookie != NULL ? o->cookie : "");
    if (o->cookie_jar != NULL)
        curl_easy_setopt(e, CURLOPT_COOKIEJAR, o->cookie_jar);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                     o->http2 ? (long)CURL_HTTP_VERSION_2_0 : (long)CURL_HTTP_VERSION_1_1);
    /* Cancellation reaches a transfer through the engine's wait on the
     * run's cancel fd, never through a progress callback on a timer. */
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 1L);
    return e;
}

static void set_options(xfer *x, CURL *e)
{
    curl_easy_setopt(e, CURLOPT_URL, x->u.url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
}

/* Starts an attempt afresh: a retry overwrites what the last one wrote. */
void ctk__xfer_attempt_setup(xfer *x, CURL *e)
{
    x->body_started = 0;
    x->discard = 0;
    x->head_status = 0;
    if (x->in_place) {
        /* Each attempt continues from what the file holds by now. */
        struct stat st;
        off_t end = fstat(x->fd, &st) == 0 ? st.st_size : 0;
        if (lseek(x->fd, end, SEEK_SET) < 0)
            x->write_errno = errno;
        x->resume_from = (uint64_t)end;
        char range[32];
        snprintf(range, sizeof range, "%llu-", (unsigned long long)end);
        curl_easy_setopt(e, CURLOPT_RANGE, end > 0 ? range : NULL);
    } else if (x->fd >= 0 && x->bytes > 0) {
        if (ftruncate(x->fd, 0) < 0 || lseek(x->fd, 0, SEEK_SET) < 0)
            x->write_errno = errno;
    }
    x->body.len = 0;
    x->bytes = 0;
    x->status = 0;
    x->too_big = 0;
    x->retry_after = -1;
    x->errbuf[0] = '\0';
    if (!x->redial)
        x->attempts++;
    set_options(x, e);
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, x->redial ? 1L : 0L);
    x->redial = 0;
}

#define MAX_REDIALS 5

/* The server closed a kept-alive connection as we sent on it (it need not
 * say Connection: close): nothing of a response came, so the request
 * never reached an answer and is sent again on a new connection. libcurl
 * does this itself for some of these races, not for a reset seen on the
 * first read or a send that fails. Not an attempt: the URL was never
 * tried. */
static int died_reused(const xfer *x, CURL *e, int code)
{
    long connects = -1, header = -1;
    if (code != CURLE_RECV_ERROR && code != CURLE_SEND_ERROR && code != CURLE_GOT_NOTHING)
        return 0;
    curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);
    curl_easy_getinfo(e, CURLINFO_HEADER_SIZE, &header);
    return connects == 0 && header == 0 && x->bytes == 0;
}

/* curl says no more than "Couldn't connect" when it could not even make
 * a socket: whether this process is out of descriptors is the reason to
 * report then (EMFILE or ENFILE), else 0. */
static long fd_shortage(void)
{
    int fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    return errno == EMFILE || errno == ENFILE ? errno : 0;
}

/* curl puts -u's user into the effective URL: a record shows none. */
static char *without_userinfo(const char *url)
{
    CURLU *u = url != NULL ? curl_url() : NULL;
    char *out = NULL, *plain = NULL;
    if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_USER, NULL, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &plain, 0) == CURLUE_OK)
        out = g_strdup(plain);
    else if (url != NULL)
        out = g_strdup(url);
    curl_free(plain);
    curl_url_cleanup(u);
    return out;
}

/* The verdict on an attempt: seconds to wait before the next, or -1 when
 * this was the last. */
double ctk__xfer_attempt_end(xfer *x, CURL *e, int code)
{
    double ttfb = 0;
    x->code = code;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &x->status);
    curl_easy_getinfo(e, CURLINFO_STARTTRANSFER_TIME, &ttfb);
    /* The system's reason behind a failed connect ("Too many open files"
     * reads better than curl's "Couldn't connect to server"). */
    x->os_errno = 0;
    if (code != CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &x->os_errno);
    if (code == CURLE_COULDNT_CONNECT && x->os_errno == 0)
        x->os_errno = fd_shortage();
    x->ttfb = ttfb;
    char *eurl = NULL, *ctype = NULL;
    curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &eurl);
    curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ctype);
    g_free(x->effective_url);
    g_free(x->content_type);
    x->effective_url = without_userinfo(eurl);
    x->content_type = g_strdup(ctype);
    if (!x->cancelled && x->write_errno == 0 && x->redials < MAX_REDIALS &&
        died_reused(x, e, code)) {
        x->redials++;
        x->redial = 1;
        return 0;
    }
    if (x->cancelled || x->write_errno != 0 || x->too_big || x->attempts > x->conf->o.retries ||
        !ctk_fetch_retryable(code, x->status))
        return -1;
    double wait = ctk_fetch_backoff(x->attempts, x->conf->o.retry_delay, x->conf->o.retry_max,
                                    next_random(x));
    if (x->retry_after > wait)
        wait = x->retry_after < x->conf->o.retry_max ? x->retry_after : x->conf->o.retry_max;
    return wait;
}

static char *failure(const xfer *x)
{
    const ctk_fetch_opts *o = &x->conf->o;
    if (x->cancelled)
        return g_strdup("cancelled");
    if (x->write_errno != 0)
        return g_strdup_printf("cannot write the body: %s", strerror(x->write_errno));
    if (x->too_big || x->code == CURLE_FILESIZE_EXCEEDED)
        return g_strdup_printf("body larger than --max-filesize (%llu bytes)",
                               (unsigned long long)o->max_filesize);
    if (x->code == CURLE_OPERATION_TIMEDOUT && strstr(x->errbuf, "too slow") != NULL)
        return g_strdup_printf("stalled: under %llu bytes/s for %gs",
                               (unsigned long long)(o->stall_speed ? o->stall_speed : 1),
                               ceil(o->stall_timeout));
    if (x->code == CURLE_PEER_FAILED_VERIFICATION && o->k_hint)
        return g_strdup_printf("%s (cfetch's -k is --keep-order; curl's -k is --insecure here)",
                               x->errbuf[0] != '\0' ? x->errbuf : curl_easy_strerror(x->code));
    if (x->code != CURLE_OK && x->os_errno != 0 && strstr(x->errbuf, strerror(x->os_errno)) == NULL)
        return g_strdup_printf("%s (%s)",
                               x->errbuf[0] != '\0' ? x->errbuf : curl_easy_strerror(x->code),
                               strerror(x->os_errno));
    if (x->code != CURLE_OK)
        return g_strdup(x->errbuf[0] != '\0' ? x->errbuf : curl_easy_strerror(x->code));
    if (x->status == 416 && x->in_place && x->resume_from > 0)
        return NULL; /* nothing left to fetch: complete */
    if (o->fail && x->status >= 400)
        return g_strdup_printf("HTTP %ld", x->status);
    return NULL;
}

/* Whether the body is kept: a success's, or with --content-on-error the
 * body of a whole response that failed only by its status. */
static int keep_body(const xfer *x, const char *error)
{
    if (error == NULL)
        return 1;
    return x->conf->o.content_on_error && !x->cancelled && x->write_errno == 0 && !x->too_big &&
           x->code == CURLE_OK && x->status >= 400;
}

/* The body's file, complete, takes its final name. With durable, the
 * data and then the rename reach the disk before the unit counts: the
 * journal commits only what a power cut cannot take back. NULL or why
 * not (g_free). */
static char *settle_file(xfer *x)
{
    int durable = x->conf->o.durable;
    if (durable && fsync(x->fd) < 0)
        return g_strdup_printf("cannot sync %s: %s", x->u.path, strerror(errno));
    if (renameat(x->dir_fd, base_name(x->tmp), x->dir_fd, base_name(x->u.path)) < 0)
        return g_strdup_printf("cannot rename into %s: %s", x->u.path, strerror(errno));
    if (durable && fsync(x->dir_fd) < 0)
        return g_strdup_printf("cannot sync the folder of %s: %s", x->u.path, strerror(errno));
    return NULL;
}

/* Settles the unit: the body's file moves into place or goes away, and
 * the result is packed. */
void ctk__xfer_finish(xfer *x)
{
    char *error = failure(x);
    const char *path = "";
    int keep = keep_body(x, error);
    if (x->fd >= 0 && x->in_place) {
        /* What came is kept for the next -c, a failure or not; only an
         * empty file this run created goes. */
        struct stat st;
        if (error == NULL && x->conf->o.durable && fsync(x->fd) < 0) {
            g_free(error);
            error = g_strdup_printf("cannot sync %s: %s", x->u.path, strerror(errno));
        }
        if (error != NULL && fstat(x->fd, &st) == 0 && st.st_size == 0)
            unlinkat(x->dir_fd, base_name(x->u.path), 0);
        else if (error == NULL)
            path = x->u.path;
        close(x->fd);
        x->fd = -1;
        close(x->dir_fd);
        x->dir_fd = -1;
    } else if (x->fd >= 0) {
        char *why = keep ? settle_file(x) : NULL;
        close(x->fd);
        x->fd = -1;
        if (why != NULL) {
            g_free(error);
            error = why;
            keep = 0;
        }
        if (!keep)
            unlinkat(x->dir_fd, base_name(x->tmp), 0);
        else
            path = x->u.path;
        close(x->dir_fd);
        x->dir_fd = -1;
    }
    /* A failed response's body is not the document asked for (curl -f),
     * unless --content-on-error asks for it. */
    ctk_fetch_result r = {x->status,
                          x->attempts,
                          x->bytes,
                          ctk__fetch_now() - x->t0,
                          x->ttfb,
                          path,
                          error != NULL ? error : "",
                          x->body.data,
                          keep ? x->body.len : 0,
                          x->effective_url,
                          x->content_type};
    if (ctk_fetch_result_encode(&x->unit->out, &r) < 0) {
        x->unit->out.len = 0;
        if (error == NULL)
            error = g_strdup("out of memory");
    }
    if (error != NULL)
        ctk_unit_fail(x->unit, x->cancelled ? CTK_ECANCELED : CTK_EWORK, "%s", error);
    g_free(error);
    g_free(x->tmp);
    x->tmp = NULL;
    ctk_buf_free(&x->body);
    g_free(x->effective_url);
    g_free(x->content_type);
    x->effective_url = x->content_type = NULL;
    ctk_fetch_unit_clear(&x->u);
}

void ctk__xfer_detach(CURL *e)
{
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(e, CURLOPT_PRIVATE, NULL);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, NULL);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, NULL);
}
