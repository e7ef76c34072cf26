/* Portable context switch on makecontext/swapcontext, for targets without an assembly backend. */
#include "ctx.h"

#if !AW_CTX_ASM

#include <stdint.h>
#include <stdlib.h>

/* makecontext passes only int arguments, so the context pointer travels as two
 * 32-bit halves. swapcontext also saves the signal mask with a system call on
 * every switch: this backend is correct everywhere but slower than the assembly ones. */
static void uc_boot(unsigned hi, unsigned lo)
{
    uintptr_t p = ((uintptr_t)hi << 16 << 16) | (uintptr_t)lo;
    aw__ctx_start((void *)p);
}

void aw__ctx_make_uc(aw__ctx *c)
{
    uintptr_t p = (uintptr_t)c;

    if (getcontext(&c->uc) != 0)
        abort();
    c->uc.uc_stack.ss_sp = c->stack_lo;
    c->uc.uc_stack.ss_size = c->stack_size;
    c->uc.uc_link = NULL;
    makecontext(&c->uc, (void (*)(void))uc_boot, 2, (unsigned)(p >> 16 >> 16), (unsigned)(p & 0xffffffffu));
}

#else

typedef int aw__ctx_ucontext_unused;    /* ISO C wants a non-empty translation unit */

#endif
