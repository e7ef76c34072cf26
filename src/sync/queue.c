/* asyncio.Queue, LifoQueue and PriorityQueue of void * items, with join/task_done and shutdown (3.13). */
#include "internal.h"

/*
 * As in asyncio, items always go through the buffer and a wake-up means "try
 * again": put wakes the first waiting getter, get wakes the first waiting
 * putter. A woken task that finds its item or slot taken by a task that came in
 * between waits again at the front of the queue, so it keeps its turn. A woken
 * task that was cancelled before it ran passes the wake-up on to the next
 * waiter: the item (or slot) stays in the queue for someone else, so a cancelled
 * get never loses an item.
 *
 * FIFO and LIFO queues keep a ring buffer (power-of-two capacity, grown by
 * doubling); a priority queue keeps a binary heap ordered by the caller's
 * compare function, ties broken by arrival so equal items come out FIFO.
 * put and get are O(1) (O(log n) for a priority queue), amortised over growth.
 */

enum { Q_FIFO = 0, Q_LIFO = 1, Q_PRIORITY = 2 };

typedef struct qent { void *item; uint64_t seq; } qent;

struct aw_queue {
    size_t count;
    size_t maxsize;             /* 0: unbounded */
    void **ring;                /* FIFO, LIFO: [head, head + count) modulo cap */
    size_t head, cap;
    qent *heap;                 /* priority */
    uint64_t seq;
    aw_compare_fn cmp;
    int kind;
    bool shutdown;
    uint64_t loop;
    aw__waitq getters, putters, joiners;
    size_t unfinished;          /* items put and not yet marked done */
    void (*item_free)(void *item);
};

static size_t pow2_at_least(size_t n)
{
    size_t c = 1;
    while (c < n) c <<= 1;
    return c;
}

static aw_queue *queue_new(long maxsize, int kind, aw_compare_fn cmp)
{
    if (maxsize < 0 || (kind == Q_PRIORITY && !cmp)) { errno = EINVAL; return NULL; }
    aw_queue *q = aw__calloc(1, sizeof *q);
    if (!q) { errno = ENOMEM; return NULL; }
    q->maxsize = (size_t)maxsize;
    q->kind = kind;
    q->cmp = cmp;
    size_t cap = maxsize > 0 && maxsize < 16 ? pow2_at_least((size_t)maxsize) : 16;
    if (kind == Q_PRIORITY) q->heap = aw__malloc(cap * sizeof *q->heap);
    else q->ring = aw__malloc(cap * sizeof *q->ring);
    if (!q->heap && !q->ring) { aw__free(q); errno = ENOMEM; return NULL; }
    q->cap = cap;
    return q;
}

aw_queue *aw_queue_new(long maxsize) { return queue_new(maxsize, Q_FIFO, NULL); }
aw_queue *aw_queue_new_lifo(long maxsize) { return queue_new(maxsize, Q_LIFO, NULL); }
aw_queue *aw_queue_new_priority(long maxsize, aw_compare_fn cmp) { return queue_new(maxsize, Q_PRIORITY, cmp); }

void aw_queue_set_item_free(aw_queue *q, void (*item_free)(void *item))
{
    if (q) q->item_free = item_free;
}

/* ---- storage ---- */

static inline bool q_full(const aw_queue *q) { return q->maxsize && q->count >= q->maxsize; }

static bool heap_before(const aw_queue *q, const qent *a, const qent *b)
{
    int c = q->cmp(a->item, b->item);
    return c < 0 || (c == 0 && a->seq < b->seq);
}

static int q_grow(aw_queue *q)
{
    size_t cap = q->cap * 2;
    if (q->kind == Q_PRIORITY) {
        qent *h = aw__realloc(q->heap, cap * sizeof *h);
        if (!h) return -ENOMEM;
        q->heap = h;
    } else {
        void **r = aw__malloc(cap * sizeof *r);
        if (!r) return -ENOMEM;
        for (size_t i = 0; i < q->count; i++) r[i] = q->ring[(q->head + i) & (q->cap - 1)];
        aw__free(q->ring);
        q->ring = r;
        q->head = 0;
    }
    q->cap = cap;
    return 0;
}

/* The cold halves of q_push and q_pop: growth and the heap, kept out of line so
 * the FIFO and LIFO paths stay small. */
static __attribute__((noinline)) int q_push_slow(aw_queue *q, void *item)
{
    if (q->count == q->cap) {
        int rc = q_grow(q);
        if (rc < 0) return rc;
    }
    if (q->kind != Q_PRIORITY) {
        q->ring[(q->head + q->count++) & (q->cap - 1)] = item;
        return 0;
    }
    qent e = { item, q->seq++ };
    size_t i = q->count++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_before(q, &e, &q->heap[p])) break;
        q->heap[i] = q->heap[p];
        i = p;
    }
    q->heap[i] = e;
    return 0;
}

static __attribute__((noinline)) void *q_pop_heap(aw_queue *q)
{
    void *item = q->heap[0].item;
    qent last = q->heap[--q->count];
    size_t i = 0, n = q->count;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_before(q, &q->heap[c + 1], &q->heap[c])) c++;
        if (!heap_before(q, &q->heap[c], &last)) break;
        q->heap[i] = q->heap[c];
        i = c;
    }
    if (n) q->heap[i] = last;
    return item;
}

static inline int q_push(aw_queue *q, void *item)
{
    if (AW__LIKELY(q->kind != Q_PRIORITY && q->count < q->cap)) {
        q->ring[(q->head + q->count++) & (q->cap - 1)] = item;
        return 0;
    }
    return q_push_slow(q, item);
}

/* q->count > 0 */
static inline void *q_pop(aw_queue *q)
{
    void *item;
    if (AW__LIKELY(q->kind == Q_FIFO)) {
        item = q->ring[q->head];
        q->head = (q->head + 1) & (q->cap - 1);
        q->count--;
        return item;
    }
    if (q->kind == Q_LIFO) return q->ring[(q->head + --q->count) & (q->cap - 1)];
    return q_pop_heap(q);
}

/* ---- operations ---- */

static void mark_done(aw_queue *q)
{
    if (--q->unfinished == 0) aw__wq_wake_all(&q->joiners);
}

/* put_nowait without the argument checks; the caller knows there is room. */
static inline int q_put(aw_queue *q, void *item)
{
    int rc = q_push(q, item);
    if (AW__UNLIKELY(rc < 0)) return rc;
    q->unfinished++;
    if (q->getters._head) aw__wq_wake_one(&q->getters);
    return 0;
}

static inline void *q_get(aw_queue *q)
{
    void *item = q_pop(q);
    if (q->putters._head) aw__wq_wake_one(&q->putters);
    return item;
}

int aw_queue_put_nowait(aw_queue *q, void *item)
{
    if (!q) return -EINVAL;
    int rc = aw__sync_check(q->loop);
    if (rc < 0) return rc;
    if (q->shutdown) return AW_ESHUTDOWN;
    if (q_full(q)) return AW_EQUEUEFULL;
    return q_put(q, item);
}

int aw_queue_get_nowait(aw_queue *q, void **item)
{
    if (item) *item = NULL;
    if (!q || !item) return -EINVAL;
    int rc = aw__sync_check(q->loop);
    if (rc < 0) return rc;
    if (q->count == 0) return q->shutdown ? AW_ESHUTDOWN : AW_EQUEUEEMPTY;
    *item = q_get(q);
    return 0;
}

/* The waiting half of put: until there is room, or an error. */
static __attribute__((noinline)) int put_wait(aw_queue *q, aw_task *t, const char *file, int line)
{
    bool front = false;
    do {
        if (q->shutdown) return AW_ESHUTDOWN;
        int rc = aw__wq_wait(&q->putters, &q->loop, t, front, "queue put", q, file, line);
        if (rc < 0) return rc;
        if (aw__check_cancel(t) < 0) {
            if (!q_full(q)) aw__wq_wake_one(&q->putters);   /* the free slot goes to the next */
            return AW_ECANCELLED;
        }
        front = true;
    } while (q_full(q));
    return 0;
}

int aw__queue_put(aw_queue *q, void *item, const char *file, int line)
{
    if (!q) return -EINVAL;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (AW__UNLIKELY(q->loop != t->loop->serial) && q->loop) return AW_EWRONGLOOP;
    if (AW__UNLIKELY(q_full(q)) && (rc = put_wait(q, t, file, line)) < 0) return rc;
    if (q->shutdown) return AW_ESHUTDOWN;
    return q_put(q, item);
}

/* The waiting half of get: until there is an item, or an error. */
static __attribute__((noinline)) int get_wait(aw_queue *q, aw_task *t, const char *file, int line)
{
    bool front = false;
    do {
        if (q->shutdown) return AW_ESHUTDOWN;
        int rc = aw__wq_wait(&q->getters, &q->loop, t, front, "queue get", q, file, line);
        if (rc < 0) return rc;
        if (aw__check_cancel(t) < 0) {
            if (q->count > 0) aw__wq_wake_one(&q->getters);  /* the item goes to the next */
            return AW_ECANCELLED;
        }
        front = true;
    } while (q->count == 0);
    return 0;
}

int aw__queue_get(aw_queue *q, void **item, const char *file, int line)
{
    if (!q || !item) {
        if (item) *item = NULL;
        return -EINVAL;
    }
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (AW__LIKELY(rc == 0)) {
        if (AW__UNLIKELY(q->loop != t->loop->serial) && q->loop) rc = AW_EWRONGLOOP;
        else if (q->count == 0) rc = get_wait(q, t, file, line);
    }
    if (rc < 0) {
        *item = NULL;
        return rc;
    }
    *item = q_get(q);
    return 0;
}

int aw_queue_task_done(aw_queue *q)
{
    if (!q) return -EINVAL;
    int rc = aw__sync_check(q->loop);
    if (rc < 0) return rc;
    if (q->unfinished == 0) return aw_raise(AW_EOVERFLOW, "task_done() called too many times");
    mark_done(q);
    return 0;
}

int aw__queue_join(aw_queue *q, const char *file, int line)
{
    if (!q) return -EINVAL;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (q->loop && q->loop != t->loop->serial) return AW_EWRONGLOOP;
    if (q->unfinished == 0) return 0;
    rc = aw__wq_wait(&q->joiners, &q->loop, t, false, "queue join", q, file, line);
    if (rc < 0) return rc;
    return aw__check_cancel(t);
}

void aw_queue_shutdown(aw_queue *q, bool immediate)
{
    if (!q || aw__sync_check(q->loop) < 0) return;
    q->shutdown = true;
    if (immediate) {
        while (q->count > 0) {
            void *item = q_pop(q);
            if (q->item_free) q->item_free(item);
            if (q->unfinished > 0) mark_done(q);
        }
    }
    /* Every waiting get and put re-checks, and fails with AW_ESHUTDOWN. */
    aw__wq_wake_all(&q->getters);
    aw__wq_wake_all(&q->putters);
}

bool aw_queue_is_shutdown(const aw_queue *q) { return q && q->shutdown; }
size_t aw_queue_qsize(const aw_queue *q) { return q ? q->count : 0; }
bool aw_queue_empty(const aw_queue *q) { return !q || q->count == 0; }
bool aw_queue_full(const aw_queue *q) { return q && q_full(q); }
size_t aw_queue_maxsize(const aw_queue *q) { return q ? q->maxsize : 0; }

void aw_queue_free(aw_queue *q)
{
    if (!q) return;
    if (!aw__wq_empty(&q->getters) || !aw__wq_empty(&q->putters) || !aw__wq_empty(&q->joiners)) {
        aw__sync_report("aw_queue_free: tasks are still waiting on the queue (not freed)", NULL, 0);
        return;
    }
    while (q->item_free && q->count > 0) q->item_free(q_pop(q));
    aw__free(q->ring);
    aw__free(q->heap);
    aw__free(q);
}
