/* Coroutine objects: generation-checked handles to a function and its argument, not yet run. */
#include "internal.h"

/*
 * An aw_coro * is not a pointer: it encodes a slot index and the slot's
 * generation, with the low bit set (real objects are aligned, so aw_await_any
 * can tell a handle from a task or future pointer). Using a coroutine frees its
 * slot and bumps the generation, so a second await of the same handle finds a
 * different generation and fails with AW_EREUSED: reliably, without touching
 * freed memory. Slots live in chunks that are never freed (type-stable), so any
 * handle value can be checked safely.
 */

#if UINTPTR_MAX > 0xffffffffu
#  define IDX_BITS 31
#  define GEN_SHIFT 32
#  define GEN_MASK 0xffffffffu
#else
#  define IDX_BITS 19
#  define GEN_SHIFT 20
#  define GEN_MASK 0xfffu
#endif
#define CHUNK_BITS 14
#define CHUNK_SLOTS (1u << CHUNK_BITS)
#define MAX_CHUNKS (1u << (IDX_BITS - CHUNK_BITS))
#define CACHE_MAX 128
#define CACHE_BATCH 64

typedef struct slot {
    aw_fn fn;
    void *arg;
    const char *name, *file;
    int line;
    uint32_t gen;
    aw_loop *loop;
    aw__node node;              /* in loop->coros while fresh; free-list link (next) when free */
} slot;

static slot *_Atomic chunks[MAX_CHUNKS];
static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static uint32_t nchunks;                /* under table_mu */
static uint32_t *gfree;                 /* global free stack of indexes, under table_mu */
static size_t ngfree, capgfree;

static AW__TLS uint32_t cache[CACHE_MAX];
static AW__TLS unsigned ncache;

static inline slot *slot_at(uint32_t idx)
{
    slot *c = atomic_load_explicit(&chunks[idx >> CHUNK_BITS], memory_order_acquire);
    return c ? &c[idx & (CHUNK_SLOTS - 1)] : NULL;
}

/* Move up to CACHE_BATCH free indexes from the global stack into this thread's
 * cache, carving a new chunk when the stack is empty. */
static int refill(void)
{
    int rc = 0;
    pthread_mutex_lock(&table_mu);
    if (ngfree == 0) {
        if (nchunks >= MAX_CHUNKS) { rc = -ENOMEM; goto out_unlock; }
        slot *c = aw__calloc(CHUNK_SLOTS, sizeof(slot));
        if (!c) { rc = -ENOMEM; goto out_unlock; }
        if (capgfree < CHUNK_SLOTS + ngfree) {
            uint32_t *v = aw__realloc(gfree, (capgfree + CHUNK_SLOTS) * sizeof(*v));
            if (!v) { aw__free(c); rc = -ENOMEM; goto out_unlock; }
            gfree = v;
            capgfree += CHUNK_SLOTS;
        }
        for (uint32_t i = 0; i < CHUNK_SLOTS; i++) c[i].gen = 1;
        uint32_t base = nchunks << CHUNK_BITS;
        atomic_store_explicit(&chunks[nchunks], c, memory_order_release);
        nchunks++;
        /* index 0 is never used, so no handle is ever 1 */
        for (uint32_t i = CHUNK_SLOTS; i-- > 0;)
            if (base + i != 0) gfree[ngfree++] = base + i;
    }
    while (ngfree > 0 && ncache < CACHE_BATCH) cache[ncache++] = gfree[--ngfree];
out_unlock:
    pthread_mutex_unlock(&table_mu);
    return rc;
}

static void release_slot(uint32_t idx, slot *s)
{
    s->gen = (s->gen + 1) & GEN_MASK;
    if (s->gen == 0) s->gen = 1;
    s->fn = NULL;
    if (ncache == CACHE_MAX) {
        pthread_mutex_lock(&table_mu);
        while (ncache > CACHE_MAX - CACHE_BATCH && ngfree < capgfree)
            gfree[ngfree++] = cache[--ncache];
        pthread_mutex_unlock(&table_mu);
        if (ncache == CACHE_MAX) return;   /* cannot happen: capgfree covers every slot */
    }
    cache[ncache++] = idx;
}

static inline aw_coro *encode(uint32_t idx, uint32_t gen)
{
    return (aw_coro *)(((uintptr_t)gen << GEN_SHIFT) | ((uintptr_t)idx << 1) | 1u);
}

static slot *decode(const aw_coro *c, uint32_t *idx_out)
{
    uintptr_t v = (uintptr_t)c;
    if (!(v & 1u)) return NULL;
    uint32_t idx = (uint32_t)((v >> 1) & ((1u << IDX_BITS) - 1));
    uint32_t gen = (uint32_t)((v >> GEN_SHIFT) & GEN_MASK);
    if (idx == 0 || (idx >> CHUNK_BITS) >= MAX_CHUNKS) return NULL;
    slot *s = slot_at(idx);
    if (!s || s->gen != gen || !s->fn) return NULL;
    *idx_out = idx;
    return s;
}

bool aw__is_coro_handle(const void *x) { return ((uintptr_t)x & 1u) != 0; }

aw_coro *aw__coro_new(aw_fn fn, void *arg, const char *name, const char *file, int line)
{
    if (!fn) { errno = EINVAL; return NULL; }
    if (ncache == 0) {
        int rc = refill();
        if (rc < 0) { errno = -rc; return NULL; }
    }
    uint32_t idx = cache[--ncache];
    slot *s = slot_at(idx);
    s->fn = fn;
    s->arg = arg;
    s->name = name;
    s->file = file;
    s->line = line;
    s->loop = aw__loop();
    if (s->loop) aw__list_push(&s->loop->coros, &s->node);
    else aw__list_init(&s->node);
    return encode(idx, s->gen);
}

int aw__coro_take(aw_coro *c, aw_fn *fn, void **arg, const char **name, const char **file, int *line)
{
    if (!c) return -EINVAL;
    uint32_t idx;
    slot *s = decode(c, &idx);
    if (!s) return AW_EREUSED;
    *fn = s->fn;
    *arg = s->arg;
    *name = s->name;
    *file = s->file;
    *line = s->line;
    if (aw__node_linked(&s->node)) aw__list_remove(&s->node);
    release_slot(idx, s);
    return 0;
}

static void report_unawaited(aw_loop *loop, const char *name, const char *file, int line)
{
    char msg[256];
    snprintf(msg, sizeof msg, "coroutine '%s' was never awaited", name);
    if (loop) aw__loop_report(loop, msg, 0, NULL, NULL, file, line, NULL);
    else fprintf(stderr, "aw: %s (created at %s:%d)\n", msg, file, line);
}

int aw_coro_close(aw_coro *c)
{
    aw_fn fn; void *arg; const char *name, *file; int line;
    uint32_t idx;
    slot *s = c ? decode(c, &idx) : NULL;
    aw_loop *loop = s ? s->loop : NULL;
    int rc = aw__coro_take(c, &fn, &arg, &name, &file, &line);
    if (rc < 0) return rc;
    report_unawaited(loop ? loop : aw__loop(), name, file, line);
    return 0;
}

void aw__coros_report_unawaited(aw_loop *loop)
{
    aw__node *n;
    while ((n = aw__list_pop(&loop->coros))) {
        slot *s = AW__CONTAINER(n, slot, node);
        report_unawaited(loop, s->name, s->file, s->line);
        uintptr_t base = (uintptr_t)s;
        /* find the index of s: its chunk is the one containing it */
        for (uint32_t ci = 0; ci < MAX_CHUNKS; ci++) {
            slot *ch = atomic_load_explicit(&chunks[ci], memory_order_acquire);
            if (!ch) break;
            if (base >= (uintptr_t)ch && base < (uintptr_t)(ch + CHUNK_SLOTS)) {
                release_slot((ci << CHUNK_BITS) | (uint32_t)(s - ch), s);
                break;
            }
        }
    }
}

const char *aw_describe(aw_coro *c, char *buf, size_t size)
{
    uint32_t idx;
    slot *s = c ? decode(c, &idx) : NULL;
    if (!buf || size == 0) return buf;
    if (!s) snprintf(buf, size, "<coroutine (used or invalid)>");
    else snprintf(buf, size, "<coroutine %s at %s:%d>", s->name, s->file, s->line);
    return buf;
}
