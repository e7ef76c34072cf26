/* asyncio.shield: the caller can be cancelled while the inner work goes on. */
#include "internal.h"

static bool shield_unpark(aw_task *t, void *ctx)
{
    (void)t;
    aw__waiter *w = ctx;
    aw__list_remove(&w->node);
    return true;
}

/* After the caller gave up: the inner work's error counts as seen (asyncio). */
static void mark_retrieved(aw_future *f, void *arg)
{
    (void)arg;
    if (f->state != AW__CANCELLED) f->retrieved = true;
}

int aw__shield(void *x, void **result, const char *file, int line)
{
    if (result) *result = NULL;
    aw_loop *loop = aw__loop();
    aw_task *t = loop ? loop->current : NULL;
    int k = !x ? -EINVAL : !t ? AW_ENOTASK : aw__aw_classify(x, loop);
    if (k < 0) {
        if (x && aw__is_coro_handle(x)) aw__coro_discard(x);
        return k;
    }
    int rc;
    aw_future *f;
    if (k == AW__AW_CORO) {
        /* The task runs on even if we are cancelled: the loop keeps it until it ends. */
        aw_task *inner = aw_create_task(x, NULL);
        if (!inner) return errno == EALREADY ? AW_EREUSED : -errno;
        f = &inner->fut;
        f->refs++;
        aw_task_release(inner);
    } else {
        if (x == (void *)t) return aw_raise(AW_EINVALSTATE, "a task cannot await itself");
        f = x;
        f->refs++;
    }
    rc = aw__check_cancel(t);
    if (rc == 0 && f->state == AW__PENDING) {
        aw__waiter w = { .task = t };
        aw__list_push(&f->waiters, &w.node);
        rc = aw__park(t, shield_unpark, &w, "shield", f, file, line);
        if (aw__node_linked(&w.node)) aw__list_remove(&w.node);
        if (rc == 0) rc = aw__check_cancel(t);
    }
    if (rc < 0) {
        if (f->state == AW__PENDING) aw_future_add_done_callback(f, mark_retrieved, NULL);
        else mark_retrieved(f, NULL);
        aw__future_unref(f);
        return rc;
    }
    f->retrieved = true;
    if (result) *result = f->result;
    rc = f->err;
    aw__future_unref(f);
    return rc;
}
