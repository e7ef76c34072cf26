/* The ctx layer's interface: context switch and task stacks. Included by src/internal.h. */
#ifndef AW_CTX_H
#define AW_CTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define AW_ASAN 1
#  endif
#  if __has_feature(thread_sanitizer)
#    define AW_TSAN 1
#  endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(AW_ASAN)
#  define AW_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__) && !defined(AW_TSAN)
#  define AW_TSAN 1
#endif

#if !defined(AW_CTX_ASM) && (defined(__x86_64__) || defined(__aarch64__)) && !defined(AW_FORCE_UCONTEXT)
#  define AW_CTX_ASM 1
#endif
#if !AW_CTX_ASM
#  include <ucontext.h>
#endif

/* A saved execution context. The scheduler's context is the thread's own stack
 * (stack_lo == NULL); every task's lives on an aw__stack. */
typedef struct aw__ctx {
#if AW_CTX_ASM
    void *sp;                   /* saved stack pointer; the callee-saved registers are below it */
#else
    ucontext_t uc;
#endif
    void *stack_lo;             /* lowest usable byte of the stack, NULL for a thread's own stack */
    size_t stack_size;
    void (*entry)(void *);      /* first function run on this context */
    void *entry_arg;
#if AW_ASAN
    void *asan_fake;            /* ASan fake-stack handle saved while switched out */
    const void *asan_bottom;    /* this thread's stack, learned on the first switch */
    size_t asan_size;
#endif
#if AW_TSAN
    void *tsan_fiber;
    bool tsan_owned;
#endif
} aw__ctx;

/* Describe the calling thread's own stack (the scheduler's context). */
void aw__ctx_init_thread(aw__ctx *c);

/* Prepare c so that the first switch to it runs entry(arg) on [lo, lo+size).
 * entry must never return: it ends with aw__ctx_switch_final. The new context
 * starts with the calling thread's floating-point control state (rounding mode,
 * exception masks), as a new thread would; from then on each context keeps its own. */
void aw__ctx_init(aw__ctx *c, void *lo, size_t size, void (*entry)(void *), void *arg);

/* The backend, one per target, chosen by AW_CTX_ASM: switch_x86_64.S,
 * switch_aarch64.S or switch_ucontext.c. Each makes the first switch to a new
 * context run aw__ctx_start(c), which never returns. */
#if AW_CTX_ASM
/* Save the callee-saved registers and FP control state on the current stack,
 * store the stack pointer in *from_sp, and resume the context saved at to_sp. */
void aw__ctx_switch_asm(void **from_sp, void *to_sp);
/* Build a first frame below top (aligned down to 16) that calls fn(arg); returns its sp. */
void *aw__ctx_make_asm(void *top, void (*fn)(void *), void *arg);
#else
void aw__ctx_make_uc(aw__ctx *c);
#endif
void aw__ctx_start(void *c) __attribute__((noreturn));

/* Save the running context in from and resume to. Annotated for ASan and TSan
 * (Valgrind needs nothing per switch: the pool registers stacks in use).
 * Without sanitizers it is the bare backend switch, inlined. */
#if AW_ASAN || AW_TSAN
void aw__ctx_switch(aw__ctx *from, aw__ctx *to);
#elif AW_CTX_ASM
static inline void aw__ctx_switch(aw__ctx *from, aw__ctx *to)
{
    aw__ctx_switch_asm(&from->sp, to->sp);
}
#else
static inline void aw__ctx_switch(aw__ctx *from, aw__ctx *to)
{
    swapcontext(&from->uc, &to->uc);
}
#endif

/* Like aw__ctx_switch, for a context that will never be resumed (a finished task). */
void aw__ctx_switch_final(aw__ctx *from, aw__ctx *to) __attribute__((noreturn));

/* Release what the sanitizers keep for c (TSan fiber). */
void aw__ctx_destroy(aw__ctx *c);

/* Guard kinds, chosen per stack. */
enum aw__guard {
    AW__GUARD_MADV = 1,         /* MADV_GUARD_INSTALL: faults, costs no mapping */
    AW__GUARD_MPROTECT = 2,     /* PROT_NONE page: splits the mapping */
    AW__GUARD_CANARY = 3,       /* no guard page: a canary checked at each switch */
};

/* A task stack. [lo, lo+size) is usable, the guard page (if any) lies just below lo. */
typedef struct aw__stack {
    void *lo;
    size_t size;
    struct aw__stack *next;     /* pool free list */
    const char *owner;          /* name shown in the overflow report, set by the task layer */
    uint32_t guard;             /* enum aw__guard */
    uint32_t warm;              /* pages may be resident (not returned with madvise) */
    unsigned valgrind_id;
    uint32_t flags;             /* AW__STACK_FILLED, AW__STACK_ODD (private to stack.c) */
} aw__stack;

#define AW__STACK_FILLED 1u     /* holds the debug fill pattern below its high-water mark */
#define AW__STACK_ODD 2u        /* larger than the pool's default: its own mapping, unmapped on put */

/* A per-loop pool of stacks. Stacks are carved from mmap'ed slabs and never
 * unmapped before the pool is destroyed; freed stacks are kept warm (resident)
 * up to a high-water mark and returned to the kernel with madvise beyond it.
 * Not thread-safe: one pool per loop. */
typedef struct aw__stack_pool {
    size_t default_size;        /* usable bytes, page multiple */
    aw__stack *free_warm;       /* LIFO: the most recently used stack is reused first */
    aw__stack *free_cold;
    aw__stack *trimming;        /* beyond the high-water mark, resident, to be madvised */
    size_t n_trimming;
    size_t n_warm, n_cold, n_used;
    size_t warm_max;            /* high-water mark of warm free stacks */
    struct aw__slab *slabs;
    size_t n_slabs_stacks;      /* stacks carved so far */
    bool canary_refuse;         /* refuse with -ENOMEM instead of a canary-only stack */
    bool debug_fill;            /* fill each stack handed out with a pattern (aw__stack_high_water) */
    uint32_t force_guard;       /* 0: best available; else an enum aw__guard to use (tests) */
    struct aw__slab *odd;       /* mappings of stacks larger than default_size, in use */
} aw__stack_pool;

#define AW__STACK_MIN (16u * 1024u)

/* Sizes are rounded up to whole pages and to at least AW__STACK_MIN, and
 * multiplied by 4 under ASan (its frames are larger). default_size must not
 * change while the pool holds stacks. warm_max starts at 256 MiB worth of
 * default stacks (at least 64); the owner may change it at any time. Maps
 * nothing until the first aw__stack_get. */
int  aw__stack_pool_init(aw__stack_pool *p, size_t default_size);
void aw__stack_pool_destroy(aw__stack_pool *p);
/* Get a stack of at least size usable bytes (0 = the pool's default): 0 or -ENOMEM.
 * A request up to the default gets a pooled default-size stack; a larger one
 * gets its own mapping, unmapped again by aw__stack_put. */
int  aw__stack_get(aw__stack_pool *p, size_t size, aw__stack **out);
void aw__stack_put(aw__stack_pool *p, aw__stack *s);
/* Return the memory of up to max idle stacks beyond the pool's high-water mark
 * to the kernel (madvise). The loop calls it before it sleeps. Returns how many. */
size_t aw__stack_pool_trim(aw__stack_pool *p, size_t max);
/* True when trimming has work left. */
static inline bool aw__stack_pool_needs_trim(const aw__stack_pool *p)
{
    return p->n_warm > p->warm_max || p->trimming != NULL;
}
/* False when a guardless stack's canary was overwritten. Always true for guarded
 * stacks. Cheap enough to call at every switch: guarded stacks never read memory. */
bool aw__stack_canary_intact(const aw__stack *s);
static inline bool aw__stack_canary_ok(const aw__stack *s)
{
    return s->guard != AW__GUARD_CANARY || aw__stack_canary_intact(s);
}
/* Report "task 'NAME' overflowed its N KiB stack" on stderr and abort. */
void aw__stack_overflowed(const aw__stack *s) __attribute__((noreturn));
/* Bytes of the stack ever written, from the fill pattern (debug mode fills stacks);
 * 0 for a stack that was not filled. */
size_t aw__stack_high_water(const aw__stack *s);
/* Write the fill pattern over the whole usable stack (touches every page: debug only). */
void aw__stack_fill(aw__stack *s);
/* The stack the calling thread now runs on, for the SIGSEGV overflow report. */
void aw__stack_set_running(const aw__stack *s);
/* Install the SIGSEGV/SIGBUS overflow reporter and this thread's sigaltstack (idempotent). */
int  aw__stack_install_overflow_handler(void);
/* Which guard this process can use; probed once. */
int  aw__stack_guard_mode(void);

#endif
