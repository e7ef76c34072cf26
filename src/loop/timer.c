/* Timers: a binary min-heap of deadlines on the loop clock; O(log n) start, stop and fire. */
#include "internal.h"

/* Timers are ordered by (when, seq): equal deadlines fire in the order they
 * were started, as asyncio's heap of TimerHandles does. Each timer remembers
 * its heap index so stopping one is O(log n), not a search. Keys are copied
 * into the heap array: a sift reads one contiguous array and writes only the
 * index of each timer it moves. */

static inline bool before(const aw__heap_entry *a, const aw__heap_entry *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void sift_up(aw__heap *h, size_t i)
{
    aw__heap_entry e = h->v[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(&e, &h->v[p])) break;
        h->v[i] = h->v[p];
        h->v[i].t->idx = i;
        i = p;
    }
    h->v[i] = e;
    e.t->idx = i;
}

static void sift_down(aw__heap *h, size_t i)
{
    aw__heap_entry e = h->v[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && before(&h->v[c + 1], &h->v[c])) c++;
        if (!before(&h->v[c], &e)) break;
        h->v[i] = h->v[c];
        h->v[i].t->idx = i;
        i = c;
    }
    h->v[i] = e;
    e.t->idx = i;
}

int aw__timer_start(aw_loop *loop, aw__timer *t, double when)
{
    aw__heap *h = &loop->timers;
    if (aw__timer_armed(t)) aw__timer_stop(loop, t);
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        aw__heap_entry *v = aw__realloc(h->v, cap * sizeof(*v));
        if (!v) return -ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    t->when = when;
    t->seq = h->seq++;
    h->v[h->n] = (aw__heap_entry){ when, t->seq, t };
    t->idx = h->n++;
    sift_up(h, t->idx);
    return 0;
}

void aw__timer_stop(aw_loop *loop, aw__timer *t)
{
    aw__heap *h = &loop->timers;
    size_t i = t->idx;
    if (i == SIZE_MAX || i >= h->n || h->v[i].t != t) return;
    t->idx = SIZE_MAX;
    h->n--;
    if (i == h->n) return;
    h->v[i] = h->v[h->n];
    h->v[i].t->idx = i;
    if (i > 0 && before(&h->v[i], &h->v[(i - 1) / 2])) sift_up(h, i);
    else sift_down(h, i);
}

size_t aw__timers_run(aw_loop *loop)
{
    aw__heap *h = &loop->timers;
    size_t fired = 0;
    double now = aw__now(loop);
    while (h->n > 0 && h->v[0].when <= now) {
        aw__timer *t = h->v[0].t;
        aw__timer_stop(loop, t);
        fired++;
        t->fire(t->owner);
    }
    loop->stats.timers_fired += fired;
    return fired;
}

double aw__timers_next(aw_loop *loop)
{
    aw__heap *h = &loop->timers;
    if (h->n == 0) return INFINITY;
    double d = h->v[0].when - aw__now(loop);
    return d > 0 ? d : 0;
}

void aw__heap_free(aw__heap *h)
{
    aw__free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}
