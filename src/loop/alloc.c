/* Allocation: one place for malloc, with a failure injector so tests reach every -ENOMEM path. */
#include "internal.h"

/* The injector counts allocations down from nth; when it reaches zero the
 * allocation fails (and every later one too when sticky). It is process-wide and
 * meant for single-threaded tests. */
static _Atomic long fail_countdown;
static _Atomic bool fail_sticky;

void aw__test_fail_alloc(long nth, bool sticky)
{
    atomic_store(&fail_sticky, sticky);
    atomic_store(&fail_countdown, nth);
}

static inline bool should_fail(void)
{
    long c = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    if (AW__LIKELY(c == 0)) return false;
    if (c == 1) {
        if (!atomic_load(&fail_sticky)) atomic_store(&fail_countdown, 0);
        return true;
    }
    atomic_fetch_sub(&fail_countdown, 1);
    return false;
}

void *aw__malloc(size_t n)
{
    if (should_fail()) return NULL;
    return malloc(n);
}

void *aw__calloc(size_t n, size_t m)
{
    if (should_fail()) return NULL;
    return calloc(n, m);
}

void *aw__realloc(void *p, size_t n)
{
    if (should_fail()) return NULL;
    return realloc(p, n);
}

char *aw__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = aw__malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

void aw__free(void *p) { free(p); }
