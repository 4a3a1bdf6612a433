/* queue.c: bounded blocking FIFO (a ring of pointers, one mutex, two
 * condition variables). */
#include <glib.h>
#include <pthread.h>
#include <stdlib.h>

#include "ctk/common.h"
#include "queue.h"

struct ctk__queue {
    pthread_mutex_t lock;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    void **ring;
    size_t capacity, head, length;
    int closed;
};

ctk__queue *ctk__queue_new(size_t capacity)
{
    if (capacity == 0)
        return NULL;
    ctk__queue *q = g_new0(ctk__queue, 1);
    q->ring = g_new0(void *, capacity);
    if (pthread_mutex_init(&q->lock, NULL) != 0)
        goto fail_lock;
    if (pthread_cond_init(&q->not_empty, NULL) != 0)
        goto fail_not_empty;
    if (pthread_cond_init(&q->not_full, NULL) != 0)
        goto fail_not_full;
    q->capacity = capacity;
    return q;

fail_not_full:
    pthread_cond_destroy(&q->not_empty);
fail_not_empty:
    pthread_mutex_destroy(&q->lock);
fail_lock:
    g_free(q->ring);
    g_free(q);
    return NULL;
}

void ctk__queue_free(ctk__queue *q)
{
    if (q == NULL)
        return;
    pthread_cond_destroy(&q->not_full);
    pthread_cond_destroy(&q->not_empty);
    pthread_mutex_destroy(&q->lock);
    g_free(q->ring);
    g_free(q);
}

int ctk__queue_push(ctk__queue *q, void *item)
{
    pthread_mutex_lock(&q->lock);
    while (q->length == q->capacity && !q->closed)
        pthread_cond_wait(&q->not_full, &q->lock);
    if (q->closed) {
        pthread_mutex_unlock(&q->lock);
        return CTK_ECANCELED;
    }
    q->ring[(q->head + q->length) % q->capacity] = item;
    q->length++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

int ctk__queue_pop(ctk__queue *q, void **item, int wait)
{
    pthread_mutex_lock(&q->lock);
    while (q->length == 0 && !q->closed && wait)
        pthread_cond_wait(&q->not_empty, &q->lock);
    if (q->length == 0) {
        int rc = q->closed ? CTK_EOF : CTK_EAGAIN;
        pthread_mutex_unlock(&q->lock);
        return rc;
    }
    *item = q->ring[q->head];
    q->head = (q->head + 1) % q->capacity;
    q->length--;
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

void ctk__queue_close(ctk__queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->closed = 1;
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->lock);
}

size_t ctk__queue_length(ctk__queue *q)
{
    pthread_mutex_lock(&q->lock);
    size_t n = q->length;
    pthread_mutex_unlock(&q->lock);
    return n;
}
