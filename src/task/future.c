/* Futures: a result slot with waiters and done-callbacks; tasks are futures too. */
#include "internal.h"

void aw__future_init(aw_future *f, bool is_task)
{
    f->magic = is_task ? AW__MAGIC_TASK : AW__MAGIC_FUTURE;
    f->state = AW__PENDING;
    f->retrieved = false;
    f->is_task = is_task;
    f->err = 0;
    f->result = NULL;
    f->loop = NULL;
    f->refs = 1;
    aw__list_init(&f->waiters);
    aw__list_init(&f->callbacks);
    f->cancel_msg = NULL;
}

aw_future *aw_future_new(void)
{
    aw_future *f = aw__malloc(sizeof *f);
    if (!f) { errno = ENOMEM; return NULL; }
    aw__future_init(f, false);
    return f;
}

static void future_free(aw_future *f)
{
    if (f->is_task) {
        aw__task_free((aw_task *)f);
        return;
    }
    /* Registered callbacks that never ran go with the future. */
    aw__node *n;
    while ((n = aw__list_pop(&f->callbacks))) aw__free(AW__CONTAINER(n, aw__done_cb, node));
    aw__free(f->cancel_msg);
    f->magic = AW__MAGIC_DEAD;
    aw_loop *loop = f->loop;
    aw__free(f);
    if (loop) aw__loop_unref(loop);
}

void aw__future_unref(aw_future *f)
{
    if (--f->refs == 0) future_free(f);
}

void aw_future_release(aw_future *f)
{
    if (f && f->magic == AW__MAGIC_FUTURE) aw__future_unref(f);
}

/* Bind f to the running loop, or refuse one bound elsewhere. A bound future
 * keeps the loop structure alive (not the loop running), so the pointer stays
 * unique: a later loop can never be allocated at the same address. */
static int future_bind(aw_future *f, aw_loop *loop)
{
    if (!f->loop) {
        f->loop = loop;
        loop->live_objs++;
    } else if (f->loop != loop) {
        return AW_EWRONGLOOP;
    }
    return 0;
}

/* Schedule the done-callbacks and wake the waiters, in registration order. */
void aw__future_complete(aw_future *f, int state, int err, void *result)
{
    f->state = (uint8_t)state;
    f->err = err;
    f->result = result;
    aw__node *n;
    while ((n = aw__list_pop(&f->waiters))) {
        aw__waiter *w = AW__CONTAINER(n, aw__waiter, node);
        if (w->wake) w->wake(w);
        else aw__task_wake(w->task, 0);
    }
    aw_loop *loop = f->loop ? f->loop : aw__loop();
    if (loop && !f->loop && !loop->closed) future_bind(f, loop);
    while ((n = aw__list_pop(&f->callbacks))) {
        aw__done_cb *d = AW__CONTAINER(n, aw__done_cb, node);
        if (loop && !loop->closed) {
            f->refs++;
            aw__loop_enqueue(loop, &d->run);
        } else {
            d->cb(f, d->arg);   /* no loop to schedule on: run now */
            aw__free(d);
        }
    }
}

void aw__done_cb_run(aw__done_cb *d)
{
    aw_future *f = d->fut;
    d->cb(f, d->arg);
    aw__free(d);
    aw__future_unref(f);
}

int aw_future_set_result(aw_future *f, void *result)
{
    if (!f || f->magic != AW__MAGIC_FUTURE) return -EINVAL;
    if (f->loop && aw__check_thread(f->loop, "aw_future_set_result") < 0) return AW_EWRONGTHREAD;
    if (f->state != AW__PENDING) return AW_EINVALSTATE;
    aw__future_complete(f, AW__DONE, 0, result);
    return 0;
}

int aw_future_set_error(aw_future *f, int err)
{
    if (!f || f->magic != AW__MAGIC_FUTURE || err >= 0) return -EINVAL;
    if (f->loop && aw__check_thread(f->loop, "aw_future_set_error") < 0) return AW_EWRONGTHREAD;
    if (f->state != AW__PENDING) return AW_EINVALSTATE;
    aw__future_complete(f, err == AW_ECANCELLED ? AW__CANCELLED : AW__FAILED, err, NULL);
    return 0;
}

int aw_future_cancel(aw_future *f, const char *msg)
{
    if (!f) return -EINVAL;
    if (f->is_task) return aw_task_cancel((aw_task *)f, msg);
    if (f->magic != AW__MAGIC_FUTURE) return -EINVAL;
    if (f->loop && aw__check_thread(f->loop, "aw_future_cancel") < 0) return AW_EWRONGTHREAD;
    if (f->state != AW__PENDING) return 0;
    if (msg) f->cancel_msg = aw__strdup(msg);
    aw__future_complete(f, AW__CANCELLED, AW_ECANCELLED, NULL);
    return 1;
}

bool aw_future_done(const aw_future *f) { return f && f->state != AW__PENDING; }
bool aw_future_cancelled(const aw_future *f) { return f && f->state == AW__CANCELLED; }

int aw_future_result(aw_future *f, void **result)
{
    if (result) *result = NULL;
    if (!f) return -EINVAL;
    if (f->state == AW__PENDING) return AW_EINVALSTATE;
    f->retrieved = true;
    if (result) *result = f->result;
    return f->err;
}

int aw_future_add_done_callback(aw_future *f, aw_done_fn cb, void *arg)
{
    if (!f || !cb) return -EINVAL;
    aw__done_cb *d = aw__malloc(sizeof *d);
    if (!d) return -ENOMEM;
    d->run.kind = AW__RUN_DONE_CB;
    aw__list_init(&d->run.node);
    d->cb = cb;
    d->arg = arg;
    d->fut = f;
    if (f->state == AW__PENDING) {
        aw__list_push(&f->callbacks, &d->node);
        return 0;
    }
    aw_loop *loop = f->loop ? f->loop : aw__loop();
    if (!loop || loop->closed) { aw__free(d); return AW_ENOLOOP; }
    if (!f->loop) future_bind(f, loop);
    f->refs++;
    aw__loop_enqueue(loop, &d->run);
    return 0;
}

int aw_future_remove_done_callback(aw_future *f, aw_done_fn cb, void *arg)
{
    if (!f) return -EINVAL;
    int removed = 0;
    for (aw__node *n = f->callbacks.next; n != &f->callbacks;) {
        aw__node *next = n->next;
        aw__done_cb *d = AW__CONTAINER(n, aw__done_cb, node);
        if (d->cb == cb && d->arg == arg) {
            aw__list_remove(n);
            aw__free(d);
            removed++;
        }
        n = next;
    }
    return removed;
}

static bool future_unpark(aw_task *t, void *ctx)
{
    aw__waiter *w = ctx;
    (void)t;
    aw__list_remove(&w->node);
    return true;
}

int aw__await_future(aw_future *f, void **result, const char *file, int line)
{
    if (result) *result = NULL;
    if (!f) return -EINVAL;
    if (f->is_task) return aw__await_task((aw_task *)f, result, file, line);
    if (f->magic != AW__MAGIC_FUTURE) return AW_ENOTAWAITABLE;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) {
        /* asyncio: a cancelled awaiter cancels the future it awaits */
        if (rc == AW_ECANCELLED && f->state == AW__PENDING) aw_future_cancel(f, NULL);
        return rc;
    }
    if ((rc = future_bind(f, t->loop)) < 0) return rc;
    if (f->state == AW__PENDING) {
        aw__waiter w = { .task = t };
        aw__list_push(&f->waiters, &w.node);
        f->refs++;          /* the program may release f while we wait */
        rc = aw__park(t, future_unpark, &w, "future", f, file, line);
        if (rc == AW_ECANCELLED && f->state == AW__PENDING) aw_future_cancel(f, NULL);
        int state = f->state, err = f->err;
        void *res = f->result;
        if (state != AW__PENDING) f->retrieved = true;
        aw__future_unref(f);
        if (rc < 0) return rc;
        if (state == AW__PENDING) return AW_ECANCELLED;
        if (result) *result = res;
        return err;
    }
    f->retrieved = true;
    if (result) *result = f->result;
    return f->err;
}
