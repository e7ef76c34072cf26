/* What the combinators accept: coroutine handles, tasks and futures, told apart at run time. */
#include "internal.h"

int aw__aw_classify(void *x, aw_loop *loop)
{
    if (!x) return -EINVAL;
    if (aw__is_coro_handle(x)) return AW__AW_CORO;
    uint32_t magic;
    memcpy(&magic, x, sizeof magic);
    if (magic == AW__MAGIC_TASK) {
        if (((aw_task *)x)->loop != loop) return AW_EWRONGLOOP;
        return AW__AW_TASK;
    }
    if (magic == AW__MAGIC_FUTURE) {
        aw_future *f = x;
        if (f->loop && f->loop != loop) return AW_EWRONGLOOP;
        return AW__AW_FUTURE;
    }
    return AW_ENOTAWAITABLE;
}

void aw__coro_discard(aw_coro *c)
{
    aw_fn fn;
    void *arg;
    const char *name, *file;
    int line;
    aw__coro_take(c, &fn, &arg, &name, &file, &line);
}
