/* asyncio.gather: run awaitables concurrently, results in input order, first error or all errors. */
#include "internal.h"

/*
 * Each child gets a waiter whose wake callback runs inside the child's
 * completion, so the gather learns which child finished without scanning. The
 * state lives on the heap: after an early return (the first error) the
 * children that are tasks keep their registration, and their late completions
 * only mark the error as seen (as asyncio does) and free the state after the
 * last. They never touch the caller's arrays. Plain futures are unregistered at
 * return (they never report an unretrieved error).
 */

typedef struct gchild {
    aw__waiter w;
    aw_future *f;
    struct gstate *g;
    bool done;
    bool created;               /* a task gather made for a coroutine */
} gchild;

typedef struct gstate {
    aw_task *waiter;            /* the gather's task while it is parked */
    size_t pending;             /* children not done */
    size_t lingering;           /* after an early return: registrations still alive */
    size_t first_failed;        /* index of the first child that failed (without AW_RETURN_EXCEPTIONS) */
    bool failed, cancelling, returned;
    int flags;
    size_t n;
    gchild c[];
} gstate;

static void child_failed(gstate *g, gchild *c)
{
    if (g->failed || (g->flags & AW_RETURN_EXCEPTIONS) || c->f->err == 0) return;
    g->failed = true;
    g->first_failed = (size_t)(c - g->c);
}

static void child_done(aw__waiter *w)
{
    gchild *c = AW__CONTAINER(w, gchild, w);
    gstate *g = c->g;
    c->done = true;
    g->pending--;
    if (g->returned) {
        /* Outlived an early return: asyncio marks the exception retrieved. */
        if (c->f->state != AW__CANCELLED) c->f->retrieved = true;
        aw__future_unref(c->f);
        if (--g->lingering == 0) aw__free(g);
        return;
    }
    child_failed(g, c);
    if ((g->failed || g->pending == 0) && g->waiter) aw__task_wake(g->waiter, 0);
}

/* Cancel every child still running (a cancel of the gather). */
static void cancel_children(gstate *g)
{
    if (g->cancelling) return;
    g->cancelling = true;
    for (size_t i = 0; i < g->n; i++) {
        aw_future *f = g->c[i].f;
        if (g->c[i].done || f->state != AW__PENDING) continue;
        if (f->is_task) aw_task_cancel((aw_task *)f, NULL);
        else aw_future_cancel(f, NULL);
    }
}

static bool gather_unpark(aw_task *t, void *ctx)
{
    (void)t;
    cancel_children(ctx);
    return false;               /* keep waiting: the children end, then gather returns */
}

static void discard_coros(size_t from, size_t n, void *const *aws)
{
    for (size_t i = from; i < n; i++)
        if (aws[i] && aw__is_coro_handle(aws[i])) aw__coro_discard(aws[i]);
}

int aw__gather(size_t n, void *const *aws, void **results, int *errors, int flags,
               const char *file, int line)
{
    if (n > 0 && !aws) return -EINVAL;
    int rc = 0;
    aw_loop *loop = aw__loop();
    aw_task *t = loop ? loop->current : NULL;
    if (!t) rc = AW_ENOTASK;
    else if ((flags & AW_RETURN_EXCEPTIONS) && n > 0 && !errors) rc = -EINVAL;
    for (size_t i = 0; i < n && rc == 0; i++) {
        int k = aw__aw_classify(aws[i], loop);
        if (k < 0) rc = k;
        else if (aws[i] == (void *)t) rc = aw_raise(AW_EINVALSTATE, "a task cannot await itself");
    }
    if (rc == 0 && n == 0) return aw__check_cancel(t);
    gstate *g = rc == 0 ? aw__calloc(1, sizeof *g + n * sizeof(gchild)) : NULL;
    if (rc == 0 && !g) rc = -ENOMEM;
    if (rc < 0) {
        discard_coros(0, n, aws);
        return rc;
    }
    g->n = n;
    g->flags = flags;

    /* Wrap the coroutines in tasks; on failure cancel the ones made so far (their
     * bodies never run) and consume the rest. */
    for (size_t i = 0; i < n; i++) {
        gchild *c = &g->c[i];
        c->g = g;
        if (!aw__is_coro_handle(aws[i])) {
            c->f = aws[i];
            c->f->refs++;
            continue;
        }
        aw_task *x = aw_create_task((aw_coro *)aws[i], NULL);
        if (!x) {
            rc = errno == EALREADY ? AW_EREUSED : -errno;
            for (size_t j = 0; j < i; j++) {
                if (g->c[j].created) aw_task_cancel((aw_task *)g->c[j].f, NULL);   /* never runs */
                aw__future_unref(g->c[j].f);
            }
            discard_coros(i + 1, n, aws);
            aw__free(g);
            return rc;
        }
        c->f = &x->fut;
        c->created = true;
        c->f->refs++;
        aw_task_release(x);     /* the gather keeps the reference it just took */
    }

    for (size_t i = 0; i < n; i++) {
        gchild *c = &g->c[i];
        if (c->f->state != AW__PENDING) {
            c->done = true;
            child_failed(g, c);
        } else {
            aw__list_push(&c->f->waiters, &c->w.node);
            c->w.wake = child_done;
            aw__await_link(&c->w, c->f, t, "gather");
            g->pending++;
        }
    }

    /* A gather entered in a cancelled task cancels its children, as one
     * cancelled while it waits. */
    if (g->pending > 0 && aw__scope_cancelling(t)) cancel_children(g);
    while (g->pending > 0 && !g->failed) {
        g->waiter = t;
        aw__park(t, gather_unpark, g, "gather", g, file, line);
        g->waiter = NULL;
    }

    for (size_t i = 0; i < n; i++) {
        gchild *c = &g->c[i];
        if (c->done) {
            c->f->retrieved = true;
            if (results) results[i] = c->f->result;
            if (errors) errors[i] = c->f->err;
        } else {
            if (results) results[i] = NULL;
            if (errors) errors[i] = AW_EINVALSTATE;
        }
    }
    rc = g->failed ? g->c[g->first_failed].f->err : 0;
    if (aw__check_cancel(t) < 0) rc = AW_ECANCELLED;

    for (size_t i = 0; i < n; i++) {
        gchild *c = &g->c[i];
        if (c->done) aw__future_unref(c->f);
        else if (c->f->is_task) { aw__await_unlink(&c->w); g->lingering++; }
        else aw__watch_drop(&c->w, c->f);
    }
    g->returned = true;
    if (g->lingering == 0) aw__free(g);
    return rc;
}
