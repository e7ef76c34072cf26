/* asyncio.wait_for: await with a deadline; on expiry the inner work is cancelled, waited for, and AW_ETIMEDOUT returned. */
#include "internal.h"

/* Cancel what wait_for awaits (a cancel of the caller, or the deadline). */
static void cancel_inner(aw_future *f)
{
    if (f->is_task) aw_task_cancel((aw_task *)f, NULL);
    else aw_future_cancel(f, NULL);
}

static bool wf_unpark(aw_task *t, void *ctx)
{
    (void)ctx;
    cancel_inner(t->wait_obj);
    return false;               /* wait for it to finish */
}

static int wait_for_coro(aw_task *t, aw_coro *c, double seconds, void **result,
                         const char *file, int line)
{
    if (aw__check_cancel(t) < 0) {
        aw__coro_discard(c);
        return AW_ECANCELLED;
    }
    if (seconds <= 0) {
        /* asyncio does not even start the coroutine */
        aw__coro_discard(c);
        return AW_ETIMEDOUT;
    }
    aw_scope s;
    aw__scope_begin(&s, 0, file, line);
    if (!isinf(seconds)) aw_scope_set_deadline(&s, aw__now(t->loop) + seconds);
    void *r = NULL;
    int rc = aw__await_coro(c, &r, file, line);
    int se = aw_scope_end(&s);
    if (se < 0) return se;      /* AW_ETIMEDOUT, or a scope the coroutine left open */
    if (result) *result = r;
    return rc;
}

int aw__wait_for(void *x, double seconds, void **result, const char *file, int line)
{
    if (result) *result = NULL;
    aw_loop *loop = aw__loop();
    aw_task *t = loop ? loop->current : NULL;
    int k = !x ? -EINVAL : !t ? AW_ENOTASK : aw__aw_classify(x, loop);
    int rc = k < 0 ? k : isnan(seconds) ? -EINVAL : 0;
    if (rc < 0) {
        if (x && aw__is_coro_handle(x)) aw__coro_discard(x);
        return rc;
    }
    if (k == AW__AW_CORO) return wait_for_coro(t, x, seconds, result, file, line);
    if (x == (void *)t) return aw_raise(AW_EINVALSTATE, "a task cannot await itself");

    aw_future *f = x;
    f->refs++;
    if (f->state == AW__PENDING) {
        aw_scope s;
        aw__scope_begin(&s, 0, file, line);
        if (!isinf(seconds)) aw_scope_set_deadline(&s, aw__now(loop) + seconds);
        /* Already cancelled (or seconds <= 0): cancel the inner work now. Either
         * way wait until it is done. */
        if (aw__scope_cancelling(t)) cancel_inner(f);
        while (f->state == AW__PENDING) {
            aw__waiter w = { .task = t };
            aw__list_push(&f->waiters, &w.node);
            aw__park(t, wf_unpark, &w, "wait_for", f, file, line);
            if (aw__node_linked(&w.node)) aw__list_remove(&w.node);
        }
        rc = aw__check_cancel(t);       /* marks our scope if its deadline did it */
        int se = aw_scope_end(&s);
        if (se < 0) rc = se;
    } else {
        rc = aw__check_cancel(t);
    }
    if (rc == 0) {
        f->retrieved = true;
        if (result) *result = f->result;
        rc = f->err;
    }
    aw__future_unref(f);
    return rc;
}
