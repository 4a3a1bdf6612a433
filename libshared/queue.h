/*
 * queue.h: a bounded, blocking, multi-producer multi-consumer FIFO of
 * pointers. Every hand-off between pipeline stages goes through one, so
 * memory stays flat however long the input is (a full queue blocks its
 * producer). Closing wakes everyone: pushes fail, pops drain then see EOF.
 */
#ifndef CTK_QUEUE_H
#define CTK_QUEUE_H

#include <stddef.h>

typedef struct ctk__queue ctk__queue;

ctk__queue *ctk__queue_new(size_t capacity);
void ctk__queue_free(ctk__queue *q);
/* 0, or CTK_ECANCELED when the queue was closed. Blocks while full. */
int ctk__queue_push(ctk__queue *q, void *item);
/* 0; CTK_EOF when closed and empty; CTK_EAGAIN when !wait and empty. */
int ctk__queue_pop(ctk__queue *q, void **item, int wait);
void ctk__queue_close(ctk__queue *q);
size_t ctk__queue_length(ctk__queue *q);

#endif
