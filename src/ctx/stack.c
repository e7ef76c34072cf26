/* Task stacks: a pool carved from mmap'ed slabs, guard pages, and the overflow report. */
#include "ctx.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_GUARD_INSTALL
#  define MADV_GUARD_INSTALL 102
#endif

#if defined(__has_include) && !defined(AW_NO_VALGRIND)
#  if __has_include(<valgrind/valgrind.h>)
#    include <valgrind/valgrind.h>
#    define AW_VALGRIND 1
#  endif
#endif

#if AW_ASAN
#  include <sanitizer/asan_interface.h>
#  define STACK_SCALE 4         /* ASan's red zones make every frame larger */
#  define NO_ASAN __attribute__((no_sanitize("address")))
#else
#  define STACK_SCALE 1
#  define NO_ASAN
#endif

/*
 * A slab is one mapping: a header with the descriptors of its stacks, then
 * cap stacks, each with its guard page below it:
 *
 *     | header + aw__stack[cap] | guard | stack 0 | guard | stack 1 | ... |
 *
 * Nothing is touched until used: the kernel commits a stack's pages as the
 * task writes them, and MAP_NORESERVE keeps untouched stacks out of the
 * overcommit accounting. Slabs grow geometrically (16, 16, 32, 64 ... stacks,
 * capped at SLAB_MAX_STACKS and SLAB_MAX_BYTES), so a million 256 KiB stacks
 * take about twenty mmap calls. Slabs are unmapped only by
 * aw__stack_pool_destroy, except the single-stack slabs of odd-sized stacks
 * (larger than the pool's default), which are unmapped when put back.
 */
struct aw__slab {
    struct aw__slab *next, *prev;
    char *map;
    size_t map_len;
    char *first;                /* the guard page of stacks[0] */
    size_t stride;              /* guard page + stack */
    size_t stack_size;
    size_t cap, used;
    size_t n_mprotect;          /* mprotect guards made here, returned to the budget on unmap */
    aw__stack stacks[];
};

#define SLAB_MIN_STACKS 16u
#define SLAB_MAX_STACKS ((size_t)1 << 18)
#define SLAB_MAX_BYTES ((size_t)64 << 30)
#define WARM_BYTES ((size_t)256 << 20)  /* default warm_max, in bytes of default stacks */
#define WARM_MIN 64u
#define FILL_WORD ((uint64_t)0xa5a5a5a5a5a5a5a5u)
#define CANARY_BASE ((uint64_t)0x6177537461636b21u)   /* "awStack!" */
#define ALTSTACK_SIZE ((size_t)64 << 10)
#define FAULT_WINDOW ((uintptr_t)64 << 10)  /* a fault this far below lo is an overflow too */

/*
 * Process-wide facts, found once: the page size, which guard works, and the
 * budget of mprotect guards. The budget is shared by all pools (all loops, all
 * threads) because vm.max_map_count limits the whole process: each mprotect
 * guard costs two mappings (the guard, and the split-off stack after it), and
 * guards may use at most 2/5 of the limit, leaving the rest to the program.
 */
static struct {
    pthread_once_t once;
    size_t page;
    int mode;                   /* best enum aw__guard available */
    size_t mprotect_max;
    atomic_size_t mprotect_used;
    bool valgrind;              /* running under Valgrind: register stacks in use */
} g = { .once = PTHREAD_ONCE_INIT };

static size_t read_max_map_count(void)
{
    char buf[32];
    size_t n = 0;
    ssize_t r;
    int fd = open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return 65530;           /* the kernel's default */
    r = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (r <= 0)
        return 65530;
    for (ssize_t i = 0; i < r && buf[i] >= '0' && buf[i] <= '9'; i++)
        n = n * 10 + (size_t)(buf[i] - '0');
    return n;
}

/* MADV_GUARD_INSTALL (Linux 6.13) must not only succeed but fault: qemu-user
 * returns 0 for advice it does not know and installs nothing. A write() from
 * the guard page into a pipe makes the kernel read it, which fails with EFAULT
 * when the guard is real, without a signal. */
static bool probe_madv_guard(void)
{
    size_t pg = g.page;
    bool ok = false;
    int fds[2];
    char *m = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    if (m == MAP_FAILED)
        return false;
    if (madvise(m, pg, MADV_GUARD_INSTALL) != 0)
        goto out_unmap;
    if (pipe2(fds, O_CLOEXEC) != 0)
        goto out_unmap;
    ok = write(fds[1], m, 1) < 0 && errno == EFAULT;
    close(fds[0]);
    close(fds[1]);
out_unmap:
    munmap(m, 2 * pg);
    return ok;
}

static void global_init(void)
{
    long pg = sysconf(_SC_PAGESIZE);

    g.page = pg > 0 ? (size_t)pg : 4096;
#if AW_VALGRIND
    g.valgrind = RUNNING_ON_VALGRIND;
#endif
    g.mprotect_max = read_max_map_count() / 5;
    if (probe_madv_guard())
        g.mode = AW__GUARD_MADV;
    else if (g.mprotect_max > 0)
        g.mode = AW__GUARD_MPROTECT;
    else
        g.mode = AW__GUARD_CANARY;
}

int aw__stack_guard_mode(void)
{
    pthread_once(&g.once, global_init);
    return g.mode;
}

/* Usable bytes for a request: whole pages, at least AW__STACK_MIN, scaled
 * under ASan. 0 when the request cannot be represented. */
static size_t stack_bytes(size_t size)
{
    size_t pg = g.page;

    if (size < AW__STACK_MIN)
        size = AW__STACK_MIN;
    if (size > (SIZE_MAX >> 4))
        return 0;
    size = (size + pg - 1) & ~(pg - 1);
    return size * STACK_SCALE;
}

static uint64_t canary_value(const aw__stack *s)
{
    return CANARY_BASE ^ (uint64_t)(uintptr_t)s->lo;
}

static bool mprotect_budget_take(void)
{
    size_t used = atomic_fetch_add(&g.mprotect_used, 1);

    if (used < g.mprotect_max)
        return true;
    atomic_fetch_sub(&g.mprotect_used, 1);
    return false;
}

/* Protect the page below a new stack; returns the enum aw__guard it got, or 0
 * when only a canary is possible and the pool refuses that. */
static uint32_t guard_install(aw__stack_pool *p, struct aw__slab *sl, char *guard)
{
    int want = p->force_guard ? (int)p->force_guard : g.mode;

    if (want == AW__GUARD_MADV && g.mode != AW__GUARD_MADV)
        want = AW__GUARD_MPROTECT;
    if (want == AW__GUARD_MADV) {
        if (madvise(guard, g.page, MADV_GUARD_INSTALL) == 0)
            return AW__GUARD_MADV;
        want = AW__GUARD_MPROTECT;
    }
    if (want == AW__GUARD_MPROTECT && mprotect_budget_take()) {
        if (mprotect(guard, g.page, PROT_NONE) == 0) {
            sl->n_mprotect++;
            return AW__GUARD_MPROTECT;
        }
        atomic_fetch_sub(&g.mprotect_used, 1);
    }
    /* The page below stays mapped and untouched: a red zone that catches
     * nothing, but keeps a shallow overflow off the neighbouring stack. */
    return p->canary_refuse ? 0 : AW__GUARD_CANARY;
}

static struct aw__slab *slab_map(size_t stack_size, size_t cap)
{
    size_t pg = g.page;
    size_t stride = stack_size + pg;
    size_t head;
    char *m;
    struct aw__slab *sl;

    if (cap > SLAB_MAX_BYTES / stride)
        cap = SLAB_MAX_BYTES / stride;
    if (cap == 0)
        cap = 1;
    for (;;) {
        head = (offsetof(struct aw__slab, stacks) + cap * sizeof(aw__stack) + pg - 1) & ~(pg - 1);
        if (cap <= (SIZE_MAX - head) / stride) {
            m = mmap(NULL, head + cap * stride, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            if (m != MAP_FAILED)
                break;
        }
        /* Address space or overcommit limits: try a smaller slab. */
        if (cap == 1)
            return NULL;
        cap /= 2;
    }
    /* A transparent huge page would commit 2 MiB at the first touch: 8 stacks'
     * worth of memory for one task. */
    madvise(m, head + cap * stride, MADV_NOHUGEPAGE);
    sl = (struct aw__slab *)(void *)m;
    sl->next = sl->prev = NULL;
    sl->map = m;
    sl->map_len = head + cap * stride;
    sl->first = m + head;
    sl->stride = stride;
    sl->stack_size = stack_size;
    sl->cap = cap;
    sl->used = 0;
    sl->n_mprotect = 0;
    return sl;
}

static void slab_unmap(struct aw__slab *sl)
{
    if (sl->n_mprotect)
        atomic_fetch_sub(&g.mprotect_used, sl->n_mprotect);
    munmap(sl->map, sl->map_len);
}

/* Take the next stack of the slab: its descriptor and its guard. */
static int slab_carve(aw__stack_pool *p, struct aw__slab *sl, aw__stack **out)
{
    aw__stack *s = &sl->stacks[sl->used];
    char *guard = sl->first + sl->used * sl->stride;
    uint32_t kind = guard_install(p, sl, guard);

    if (!kind)
        return -ENOMEM;
    sl->used++;
    s->lo = guard + g.page;
    s->size = sl->stack_size;
    s->next = NULL;
    s->owner = NULL;
    s->guard = kind;
    s->warm = 0;
    s->valgrind_id = 0;
    s->flags = 0;
    *out = s;
    return 0;
}

static int carve_default(aw__stack_pool *p, aw__stack **out)
{
    struct aw__slab *sl = p->slabs;
    int rc;

    if (!sl || sl->used == sl->cap) {
        size_t cap = p->n_slabs_stacks;

        if (cap < SLAB_MIN_STACKS)
            cap = SLAB_MIN_STACKS;
        if (cap > SLAB_MAX_STACKS)
            cap = SLAB_MAX_STACKS;
        sl = slab_map(p->default_size, cap);
        if (!sl)
            return -ENOMEM;
        sl->next = p->slabs;
        p->slabs = sl;
    }
    rc = slab_carve(p, sl, out);
    if (rc == 0)
        p->n_slabs_stacks++;
    return rc;
}

static int carve_odd(aw__stack_pool *p, size_t size, aw__stack **out)
{
    struct aw__slab *sl = slab_map(size, 1);
    int rc;

    if (!sl)
        return -ENOMEM;
    rc = slab_carve(p, sl, out);
    if (rc < 0) {
        slab_unmap(sl);
        return rc;
    }
    (*out)->flags = AW__STACK_ODD;
    sl->next = p->odd;
    if (p->odd)
        p->odd->prev = sl;
    p->odd = sl;
    return 0;
}

int aw__stack_pool_init(aw__stack_pool *p, size_t default_size)
{
    pthread_once(&g.once, global_init);
    memset(p, 0, sizeof *p);
    p->default_size = stack_bytes(default_size ? default_size : 256u << 10);
    if (!p->default_size)
        return -EINVAL;
    /* A stack is committed lazily: an idle pooled stack usually holds the one
     * or two pages its task touched, not its whole size. Budget the warm pool
     * by that (two pages a stack), so a burst of short tasks does not pay an
     * madvise and a fresh fault per task. */
    p->warm_max = WARM_BYTES / (2 * (size_t)sysconf(_SC_PAGESIZE));
    if (p->warm_max < WARM_MIN)
        p->warm_max = WARM_MIN;
    return 0;
}

void aw__stack_pool_destroy(aw__stack_pool *p)
{
    struct aw__slab *sl, *next;

    for (sl = p->slabs; sl; sl = next) {
        next = sl->next;
        slab_unmap(sl);
    }
    for (sl = p->odd; sl; sl = next) {
        next = sl->next;
        slab_unmap(sl);
    }
    p->slabs = p->odd = NULL;
    p->free_warm = p->free_cold = p->trimming = NULL;
    p->n_trimming = 0;
    p->n_warm = p->n_cold = p->n_used = p->n_slabs_stacks = 0;
}

int aw__stack_get(aw__stack_pool *p, size_t size, aw__stack **out)
{
    size_t want = size ? stack_bytes(size) : p->default_size;
    aw__stack *s;
    int rc;

    if (!want)
        return -ENOMEM;
    if (want > p->default_size) {
        rc = carve_odd(p, want, &s);
        if (rc < 0)
            return rc;
    } else if ((s = p->free_warm)) {
        p->free_warm = s->next;
        p->n_warm--;
    } else if ((s = p->trimming)) {
        p->trimming = s->next;      /* set aside for trimming, still resident */
        p->n_trimming--;
    } else if ((s = p->free_cold)) {
        p->free_cold = s->next;
        p->n_cold--;
    } else {
        rc = carve_default(p, &s);
        if (rc < 0)
            return rc;
    }
    s->next = NULL;
    s->warm = 1;
    if (s->guard == AW__GUARD_CANARY)
        *(volatile uint64_t *)s->lo = canary_value(s);
    if (p->debug_fill)
        aw__stack_fill(s);
#if AW_VALGRIND
    if (g.valgrind)
        s->valgrind_id = VALGRIND_STACK_REGISTER(s->lo, (char *)s->lo + s->size - 1);
#endif
    p->n_used++;
    *out = s;
    return 0;
}

void aw__stack_put(aw__stack_pool *p, aw__stack *s)
{
#if AW_VALGRIND
    if (g.valgrind)
        VALGRIND_STACK_DEREGISTER(s->valgrind_id);
    s->valgrind_id = 0;
#endif
#if AW_ASAN
    /* Frames that never returned (the task ended with a switch) left poison behind. */
    ASAN_UNPOISON_MEMORY_REGION(s->lo, s->size);
#endif
    p->n_used--;
    s->owner = NULL;
    if (s->flags & AW__STACK_ODD) {
        struct aw__slab *sl = (struct aw__slab *)(void *)((char *)s - offsetof(struct aw__slab, stacks));

        if (sl->prev)
            sl->prev->next = sl->next;
        else
            p->odd = sl->next;
        if (sl->next)
            sl->next->prev = sl->prev;
        slab_unmap(sl);
        return;
    }
    /* Always warm here: giving pages back costs a syscall now and a fresh fault
     * (about 12 us on these VMs) at the next use, so it is left to
     * aw__stack_pool_trim, which the loop calls when it is about to sleep. */
    s->next = p->free_warm;
    p->free_warm = s;
    p->n_warm++;
}

size_t aw__stack_pool_trim(aw__stack_pool *p, size_t max)
{
    size_t done = 0;

    if (p->n_warm > p->warm_max) {
        /* Keep the warm_max most recently used stacks; set the rest aside. */
        aw__stack **link = &p->free_warm;
        for (size_t i = 0; i < p->warm_max && *link; i++)
            link = &(*link)->next;
        aw__stack *tail = *link;
        *link = NULL;
        size_t moved = p->n_warm - p->warm_max;
        p->n_warm = p->warm_max;
        if (tail) {
            aw__stack *last = tail;
            while (last->next)
                last = last->next;
            last->next = p->trimming;
            p->trimming = tail;
            p->n_trimming += moved;
        }
    }
    while (done < max && p->trimming) {
        aw__stack *s = p->trimming;
        p->trimming = s->next;
        p->n_trimming--;
        /* If madvise fails the stack simply stays resident. */
        madvise(s->lo, s->size, MADV_DONTNEED);
        s->warm = 0;
        s->flags &= ~AW__STACK_FILLED;
        s->next = p->free_cold;
        p->free_cold = s;
        p->n_cold++;
        done++;
    }
    return done;
}

NO_ASAN bool aw__stack_canary_intact(const aw__stack *s)
{
    if (s->guard != AW__GUARD_CANARY)
        return true;
    return *(const volatile uint64_t *)s->lo == canary_value(s);
}

/* The lowest word the fill pattern covers: a canary stack keeps its canary. */
static volatile uint64_t *fill_start(const aw__stack *s)
{
    uint64_t *w = s->lo;

    return s->guard == AW__GUARD_CANARY ? w + 1 : w;
}

/* Reads and writes below a suspended context's stack pointer are invalid to
 * ASan (red zones) and to Memcheck (dead frames): the pattern is ours. */
NO_ASAN void aw__stack_fill(aw__stack *s)
{
    volatile uint64_t *w = fill_start(s);
    volatile uint64_t *end = (uint64_t *)(void *)((char *)s->lo + s->size);

#if AW_VALGRIND
    VALGRIND_DISABLE_ERROR_REPORTING;
#endif
    while (w < end)
        *w++ = FILL_WORD;
#if AW_VALGRIND
    VALGRIND_ENABLE_ERROR_REPORTING;
#endif
    s->flags |= AW__STACK_FILLED;
}

NO_ASAN size_t aw__stack_high_water(const aw__stack *s)
{
    const volatile uint64_t *w = fill_start(s);
    const volatile uint64_t *end = (const uint64_t *)(const void *)((const char *)s->lo + s->size);

    if (!(s->flags & AW__STACK_FILLED))
        return 0;
#if AW_VALGRIND
    VALGRIND_DISABLE_ERROR_REPORTING;
#endif
    while (w < end && *w == FILL_WORD)
        w++;
#if AW_VALGRIND
    VALGRIND_ENABLE_ERROR_REPORTING;
#endif
    return (size_t)((const char *)end - (const char *)w);
}

/* ---- the overflow report ---- */

static __thread __attribute__((tls_model("initial-exec"))) const aw__stack *running;
static __thread __attribute__((tls_model("initial-exec"))) bool altstack_set;

static struct {
    pthread_once_t once;
    int err;
    struct sigaction old_segv, old_bus;
    pthread_key_t key;          /* this thread's sigaltstack mapping, unmapped at thread exit */
    atomic_bool reported;
} h = { .once = PTHREAD_ONCE_INIT };

void aw__stack_set_running(const aw__stack *s)
{
    running = s;
}

static size_t put_str(char *buf, size_t n, size_t cap, const char *str)
{
    while (*str && n < cap)
        buf[n++] = *str++;
    return n;
}

/* Async-signal-safe: no stdio, no allocation. */
static void report(const aw__stack *s)
{
    char buf[320], num[24];
    size_t n = 0, k = 0, kib = s->size / 1024;
    const char *name = s->owner ? s->owner : "?";
    ssize_t r;

    do {
        num[k++] = (char)('0' + kib % 10);
        kib /= 10;
    } while (kib);
    n = put_str(buf, n, sizeof buf, "task '");
    n = put_str(buf, n, 200, name);
    n = put_str(buf, n, sizeof buf, "' overflowed its ");
    while (k > 0 && n < sizeof buf)
        buf[n++] = num[--k];
    n = put_str(buf, n, sizeof buf, " KiB stack\n");
    r = write(2, buf, n);
    (void)r;
}

void aw__stack_overflowed(const aw__stack *s)
{
    report(s);
    abort();
}

static bool is_overflow(const aw__stack *s, const void *addr)
{
    uintptr_t a = (uintptr_t)addr, lo = (uintptr_t)s->lo;

    return a < lo + g.page && a + FAULT_WINDOW >= lo;
}

/* Runs on the sigaltstack, since the faulting stack is exhausted. After the
 * report, the fault goes to whoever handled it before aw; with no one, the
 * default action is restored and the faulting instruction runs again, so the
 * process dies of the original signal (and dumps core) as it would have. */
static void on_fault(int sig, siginfo_t *si, void *uc)
{
    const struct sigaction *old = sig == SIGBUS ? &h.old_bus : &h.old_segv;
    const aw__stack *s = running;
    int saved = errno;

    if (s && is_overflow(s, si->si_addr) && !atomic_exchange(&h.reported, true))
        report(s);
    errno = saved;
    if (old->sa_flags & SA_SIGINFO) {
        old->sa_sigaction(sig, si, uc);
    } else if (old->sa_handler == SIG_DFL || old->sa_handler == SIG_IGN) {
        struct sigaction dfl;

        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        sigaction(sig, &dfl, NULL);
    } else {
        old->sa_handler(sig);
    }
}

static void altstack_free(void *m)
{
    stack_t cur, off;

    memset(&off, 0, sizeof off);
    off.ss_flags = SS_DISABLE;
    if (sigaltstack(NULL, &cur) == 0 && cur.ss_sp == m)
        sigaltstack(&off, NULL);
    munmap(m, ALTSTACK_SIZE);
}

static void handler_init(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (pthread_key_create(&h.key, altstack_free) != 0) {
        h.err = -EAGAIN;
        return;
    }
    if (sigaction(SIGSEGV, &sa, &h.old_segv) != 0 || sigaction(SIGBUS, &sa, &h.old_bus) != 0)
        h.err = -errno;
}

int aw__stack_install_overflow_handler(void)
{
    stack_t cur, ss;
    void *m;
    int rc;

    pthread_once(&g.once, global_init);
    pthread_once(&h.once, handler_init);
    if (h.err)
        return h.err;
    if (altstack_set)
        return 0;
    /* Keep a sigaltstack someone else set up, if it is large enough. */
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE) && cur.ss_size >= ALTSTACK_SIZE / 2) {
        altstack_set = true;
        return 0;
    }
    m = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return -errno;
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = m;
    ss.ss_size = ALTSTACK_SIZE;
    if (sigaltstack(&ss, NULL) != 0) {
        rc = -errno;
        munmap(m, ALTSTACK_SIZE);
        return rc;
    }
    pthread_setspecific(h.key, m);
    altstack_set = true;
    return 0;
}
