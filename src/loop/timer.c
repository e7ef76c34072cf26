/* Timers: a binary min-heap of deadlines on the loop clock; O(log n) start and fire, O(1) stop. */
#include "internal.h"

/* Timers are ordered by (when, seq): equal deadlines fire in the order they
 * were started, as asyncio's heap of TimerHandles does. The heap array holds
 * the keys and a slot number; the slot table maps slots to timers. A sift
 * touches only the array, and a timer is touched once when started and once
 * when it fires: with a million sleeping tasks, each timer is on its own page.
 * Stopping a timer empties its slot (t->idx is its slot while armed); the
 * entry leaves the heap when it reaches the top, or when stopped entries
 * outnumber live ones and the heap is rebuilt. */

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
        i = p;
    }
    h->v[i] = e;
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
        i = c;
    }
    h->v[i] = e;
}

/* Remove the top entry and give its slot back; returns its timer (NULL if stopped). */
static aw__timer *pop_top(aw__heap *h)
{
    size_t slot = h->v[0].slot;
    aw__timer *t = h->slots[slot];
    h->slots[slot] = NULL;
    h->free_slots[h->nfree++] = slot;
    if (!t) h->nstopped--;
    h->n--;
    if (h->n > 0) {
        h->v[0] = h->v[h->n];
        sift_down(h, 0);
    }
    return t;
}

/* Drop every stopped entry and heapify what is left: O(n). */
static void rebuild(aw__heap *h)
{
    size_t k = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (h->slots[h->v[i].slot]) h->v[k++] = h->v[i];
        else h->free_slots[h->nfree++] = h->v[i].slot;
    }
    h->n = k;
    h->nstopped = 0;
    for (size_t i = k / 2; i-- > 0;) sift_down(h, i);
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
        size_t *fs = aw__realloc(h->free_slots, cap * sizeof(*fs));
        if (!fs) return -ENOMEM;
        h->free_slots = fs;
        aw__timer **sl = aw__realloc(h->slots, cap * sizeof(*sl));
        if (!sl) return -ENOMEM;
        h->slots = sl;
        h->cap = cap;
    }
    /* Every entry owns a slot, so a slot is free or there is room for a new one. */
    size_t slot = h->nfree > 0 ? h->free_slots[--h->nfree] : h->nslots++;
    h->slots[slot] = t;
    t->when = when;
    t->seq = h->seq++;
    t->idx = slot;
    h->v[h->n] = (aw__heap_entry){ when, t->seq, slot };
    sift_up(h, h->n++);
    return 0;
}

void aw__timer_stop(aw_loop *loop, aw__timer *t)
{
    aw__heap *h = &loop->timers;
    size_t slot = t->idx;
    if (slot == SIZE_MAX || slot >= h->nslots || h->slots[slot] != t) return;
    h->slots[slot] = NULL;
    t->idx = SIZE_MAX;
    h->nstopped++;
    if (h->nstopped > 64 && h->nstopped > h->n / 2) rebuild(h);
}

size_t aw__timers_run(aw_loop *loop)
{
    aw__heap *h = &loop->timers;
    size_t fired = 0;
    double now = aw__now(loop);
    while (h->n > 0 && h->v[0].when <= now) {
        aw__timer *t = pop_top(h);
        if (!t) continue;
        t->idx = SIZE_MAX;
        fired++;
        t->fire(t->owner);
    }
    loop->stats.timers_fired += fired;
    return fired;
}

double aw__timers_next(aw_loop *loop)
{
    aw__heap *h = &loop->timers;
    while (h->n > 0 && !h->slots[h->v[0].slot]) pop_top(h);
    if (h->n == 0) return INFINITY;
    double d = h->v[0].when - aw__now(loop);
    return d > 0 ? d : 0;
}

aw__timer *aw__timers_pop_any(aw_loop *loop)
{
    aw__heap *h = &loop->timers;
    while (h->n > 0) {
        aw__timer *t = pop_top(h);
        if (t) {
            t->idx = SIZE_MAX;
            return t;
        }
    }
    return NULL;
}

void aw__heap_free(aw__heap *h)
{
    aw__free(h->v);
    aw__free(h->slots);
    aw__free(h->free_slots);
    memset(h, 0, sizeof *h);
}
