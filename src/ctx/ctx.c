/* Context switching: first entry into a context, the final switch, and the sanitizer annotations. */
#include "ctx.h"

#include <stdlib.h>
#include <unistd.h>

#if AW_ASAN
#  include <sanitizer/asan_interface.h>
#  include <sanitizer/common_interface_defs.h>
#endif
#if AW_TSAN
#  include <sanitizer/tsan_interface.h>
#endif

/*
 * ASan must be told which stack it is on: before each switch the leaving
 * context calls __sanitizer_start_switch_fiber with the target's bounds (and a
 * place to park its fake stack, or NULL when it will never come back), and the
 * arriving context calls __sanitizer_finish_switch_fiber, which also reports
 * the bounds of the stack just left. The thread's own stack has no known
 * bounds until then, so they are learned there, on its first switch away.
 *
 * TSan keeps one fiber per context; switching to it also orders everything the
 * leaving context did before everything the arriving one does next.
 *
 * Valgrind needs no work per switch: stack.c registers each stack while in use.
 */

#if AW_ASAN
/* The context that switched last on this thread: the arriving side reads it. */
static _Thread_local aw__ctx *asan_leaving;

static void asan_leave(aw__ctx *from, aw__ctx *to, bool final)
{
    const void *bottom = to->stack_lo ? to->stack_lo : to->asan_bottom;
    size_t size = to->stack_lo ? to->stack_size : to->asan_size;

    asan_leaving = from;
    __sanitizer_start_switch_fiber(final ? NULL : &from->asan_fake, bottom, size);
}

static void asan_arrive(aw__ctx *self)
{
    aw__ctx *prev = asan_leaving;
    const void *bottom = NULL;
    size_t size = 0;

    __sanitizer_finish_switch_fiber(self->asan_fake, &bottom, &size);
    self->asan_fake = NULL;
    if (prev && !prev->stack_lo) {
        prev->asan_bottom = bottom;
        prev->asan_size = size;
    }
}
#endif

/* Inlined, as is raw_switch: under TSan no instrumented function may be entered
 * between __tsan_switch_to_fiber and the switch itself, or its entry lands on
 * the new fiber's shadow stack (and crashes a fresh one). */
static inline __attribute__((always_inline)) void leave(aw__ctx *from, aw__ctx *to, bool final)
{
#if AW_ASAN
    asan_leave(from, to, final);
#endif
#if AW_TSAN
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
    (void)from, (void)to, (void)final;
}

static void arrive(aw__ctx *self)
{
#if AW_ASAN
    asan_arrive(self);
#endif
    (void)self;
}

static inline __attribute__((always_inline)) void raw_switch(aw__ctx *from, aw__ctx *to)
{
#if AW_CTX_ASM
    aw__ctx_switch_asm(&from->sp, to->sp);
#else
    swapcontext(&from->uc, &to->uc);
#endif
}

__attribute__((noreturn)) static void die(const char *msg, size_t len)
{
    ssize_t r = write(2, msg, len);
    (void)r;
    abort();
}

void aw__ctx_init_thread(aw__ctx *c)
{
    c->stack_lo = NULL;
    c->stack_size = 0;
    c->entry = NULL;
    c->entry_arg = NULL;
#if AW_ASAN
    c->asan_fake = NULL;
    c->asan_bottom = NULL;
    c->asan_size = 0;
#endif
#if AW_TSAN
    c->tsan_fiber = __tsan_get_current_fiber();
    c->tsan_owned = false;
#endif
}

void aw__ctx_init(aw__ctx *c, void *lo, size_t size, void (*entry)(void *), void *arg)
{
    c->stack_lo = lo;
    c->stack_size = size;
    c->entry = entry;
    c->entry_arg = arg;
#if AW_ASAN
    /* A reused stack still carries the poisoned red zones of the frames its
     * last context never returned from. */
    ASAN_UNPOISON_MEMORY_REGION(lo, size);
    c->asan_fake = NULL;
    c->asan_bottom = lo;
    c->asan_size = size;
#endif
#if AW_TSAN
    c->tsan_fiber = __tsan_create_fiber(0);
    c->tsan_owned = true;
#endif
#if AW_CTX_ASM
    c->sp = aw__ctx_make_asm((char *)lo + size, aw__ctx_start, c);
#else
    aw__ctx_make_uc(c);
#endif
}

void aw__ctx_start(void *p)
{
    static const char msg[] = "aw: a context's entry function returned\n";
    aw__ctx *c = p;

    arrive(c);
    c->entry(c->entry_arg);
    die(msg, sizeof msg - 1);
}

#if AW_ASAN || AW_TSAN
void aw__ctx_switch(aw__ctx *from, aw__ctx *to)
{
    leave(from, to, false);
    raw_switch(from, to);
    arrive(from);
}
#endif

void aw__ctx_switch_final(aw__ctx *from, aw__ctx *to)
{
    static const char msg[] = "aw: a finished context was resumed\n";

    leave(from, to, true);
    raw_switch(from, to);
    die(msg, sizeof msg - 1);
}

void aw__ctx_destroy(aw__ctx *c)
{
#if AW_TSAN
    if (c->tsan_owned && c->tsan_fiber)
        __tsan_destroy_fiber(c->tsan_fiber);
    c->tsan_fiber = NULL;
    c->tsan_owned = false;
#endif
    (void)c;
}
