/*
 * spool.c: the run's spool of big outputs (see spool.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctkx/spool.h"

/* Ranges start on a page: punching a range out then frees whole blocks,
 * never zeroes a neighbour's bytes. */
#define ALIGN ((uint64_t)4096)
#define CHUNK ((size_t)1 << 16)

/* Shared with every forked process. Once no range is in use the spool
 * starts again from offset 0, so its size stays near the outputs waiting
 * at once, not the run's total (ext4 ends a file at 16 TiB). Robust: a
 * worker killed holding the lock must not stop the others. */
typedef struct shared {
    pthread_mutex_t lock;
    uint64_t end;  /* bytes reserved */
    uint64_t live; /* ranges in use */
} shared;

struct ctk_spool {
    int fd;        /* the anonymous file, or -1 */
    int open_rc;   /* why it could not be made */
    pid_t creator; /* the process that made it (and consumes) */
    uint64_t id;   /* its inode: unique among live files */
    shared *sh;
};

static void lock(shared *sh)
{
    if (pthread_mutex_lock(&sh->lock) == EOWNERDEAD)
        pthread_mutex_consistent(&sh->lock);
}

ctk_spool *ctk_spool_new(const char *tmpdir)
{
    ctk_spool *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->creator = getpid();
    s->sh = mmap(NULL, sizeof *s->sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pthread_mutexattr_t attr;
    int rc = s->sh == MAP_FAILED ? -1 : pthread_mutexattr_init(&attr);
    if (rc == 0) {
        rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
        if (rc == 0)
            rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
        if (rc == 0)
            rc = pthread_mutex_init(&s->sh->lock, &attr);
        pthread_mutexattr_destroy(&attr);
    }
    if (rc != 0) {
        if (s->sh != MAP_FAILED)
            munmap(s->sh, sizeof *s->sh);
        free(s);
        return NULL;
    }
    s->fd = ctk_spawn_tmpfile(tmpdir);
    struct stat st;
    if (s->fd < 0) {
        s->open_rc = s->fd;
        s->fd = -1;
    } else if (fstat(s->fd, &st) == 0) {
        s->id = (uint64_t)st.st_ino;
    }
    return s;
}

void ctk_spool_free(ctk_spool *s)
{
    if (s == NULL)
        return;
    if (s->fd >= 0)
        close(s->fd);
    if (getpid() == s->creator)
        pthread_mutex_destroy(&s->sh->lock);
    munmap(s->sh, sizeof *s->sh);
    free(s);
}

int ctk_spool_reaches(const ctk_spool *s, int elsewhere)
{
    return s != NULL && (getpid() != s->creator || !elsewhere);
}

int ctk_spool_fd(const ctk_spool *s)
{
    return s->fd;
}

uint64_t ctk_spool_id(const ctk_spool *s)
{
    return s->id;
}

static int pwrite_all(int fd, const char *p, size_t len, uint64_t off)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : CTK_EIO;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* The spilled part, in the kernel where it can (copy_file_range), else
 * through a buffer. */
static int put_spilled(ctk_spool *s, int from, uint64_t len, uint64_t off)
{
    loff_t in = 0, out = (loff_t)off;
    while ((uint64_t)in < len) {
        size_t want = len - (uint64_t)in < (1u << 30) ? (size_t)(len - (uint64_t)in) : (1u << 30);
        ssize_t n = copy_file_range(from, &in, s->fd, &out, want, 0);
        if (n > 0 || (n < 0 && errno == EINTR))
            continue;
        if (n == 0)
            return CTK_EIO;
        if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
            return -errno;
        break;
    }
    char *buf = (uint64_t)in < len ? malloc(CHUNK) : NULL;
    if ((uint64_t)in < len && buf == NULL)
        return CTK_ENOMEM;
    int rc = 0;
    while ((uint64_t)in < len && rc == 0) {
        size_t want = len - (uint64_t)in < CHUNK ? (size_t)(len - (uint64_t)in) : CHUNK;
        ssize_t n = pread(from, buf, want, in);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : CTK_EIO;
            break;
        }
        rc = pwrite_all(s->fd, buf, (size_t)n, (uint64_t)out);
        in += n;
        out += n;
    }
    free(buf);
    return rc;
}

int ctk_spool_put(ctk_spool *s, const ctk_spawn_stream *st, uint64_t *off)
{
    if (s->fd < 0)
        return s->open_rc;
    *off = 0;
    if (st->bytes == 0)
        return 0;
    uint64_t room = (st->bytes + ALIGN - 1) / ALIGN * ALIGN;
    lock(s->sh);
    *off = s->sh->end;
    s->sh->end += room;
    s->sh->live++;
    pthread_mutex_unlock(&s->sh->lock);
    int rc = pwrite_all(s->fd, (const char *)st->mem.data, st->mem.len, *off);
    uint64_t spilled = st->bytes - st->mem.len;
    if (rc == 0 && spilled > 0)
        rc = put_spilled(s, st->spill_fd, spilled, *off + st->mem.len);
    if (rc < 0)
        ctk_spool_release(s, *off, st->bytes);
    return rc;
}

int ctk_spool_foreach(ctk_spool *s, uint64_t off, uint64_t len, ctk_spawn_chunk_fn fn, void *arg)
{
    if (len == 0)
        return 0;
    if (s->fd < 0)
        return CTK_EIO;
    char *buf = malloc(CHUNK);
    if (buf == NULL)
        return CTK_ENOMEM;
    int rc = 0;
    while (len > 0 && rc == 0) {
        ssize_t n = pread(s->fd, buf, len < CHUNK ? (size_t)len : CHUNK, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : CTK_EIO;
            break;
        }
        off += (uint64_t)n;
        len -= (uint64_t)n;
        rc = fn(arg, buf, (size_t)n);
    }
    free(buf);
    return rc;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EAGAIN) {
            struct pollfd w = {.fd = fd, .events = POLLOUT};
            if (poll(&w, 1, -1) < 0 && errno != EINTR)
                return -errno;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : CTK_EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int write_chunk(void *arg, const void *data, size_t len)
{
    return write_all(*(const int *)arg, data, len);
}

int ctk_spool_copy(ctk_spool *s, uint64_t off, uint64_t len, int fd)
{
    if (len > 0 && s->fd < 0)
        return CTK_EIO;
    off_t at = (off_t)off;
    uint64_t end = off + len;
    while ((uint64_t)at < end) {
        uint64_t left = end - (uint64_t)at;
        ssize_t n = sendfile(fd, s->fd, &at, left < (1u << 30) ? left : (1u << 30));
        if (n > 0 || (n < 0 && errno == EINTR))
            continue;
        if (n == 0)
            return CTK_EIO;
        if (errno == EAGAIN) {
            struct pollfd w = {.fd = fd, .events = POLLOUT};
            if (poll(&w, 1, -1) < 0 && errno != EINTR)
                return -errno;
            continue;
        }
        if (errno != EINVAL && errno != ENOSYS)
            return -errno;
        /* A target sendfile refuses (an O_APPEND file, for one). */
        return ctk_spool_foreach(s, (uint64_t)at, end - (uint64_t)at, write_chunk, &fd);
    }
    return 0;
}

void ctk_spool_release(ctk_spool *s, uint64_t off, uint64_t len)
{
    if (s->fd < 0 || len == 0)
        return;
    /* Without hole punching (an old file system) the space comes back
     * only when the run ends: still nothing is left behind. */
    (void)fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                    (off_t)((len + ALIGN - 1) / ALIGN * ALIGN));
    lock(s->sh);
    if (s->sh->live > 0 && --s->sh->live == 0)
        s->sh->end = 0;
    pthread_mutex_unlock(&s->sh->lock);
}

int ctk_spool_par_file(const char *dir, char **path)
{
    if (dir == NULL || *dir == '\0')
        dir = g_getenv("TMPDIR");
    if (dir == NULL || *dir == '\0')
        dir = "/tmp";
    *path = g_build_filename(dir, "parXXXXXX.par", NULL);
    int fd = g_mkstemp_full(*path, O_WRONLY | O_CLOEXEC, 0600);
    return fd < 0 ? -errno : fd;
}
