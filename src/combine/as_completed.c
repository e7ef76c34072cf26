/* asyncio.as_completed as an iterator on the caller's stack: awaitables in completion order, with an overall timeout. */
#include "internal.h"

enum { AC_TIMED_OUT = 1 };

struct aw__ac_node {
    aw__waiter w;               /* on the awaitable's waiters until it completes */
    aw_future *f;
    aw_as_completed *it;
    struct aw__ac_node *next;   /* in the finished list */
    bool created;               /* a task made for a coroutine: the iterator owns it */
};

static void ac_push_done(aw_as_completed *it, struct aw__ac_node *x)
{
    x->next = NULL;
    if (it->_tail) it->_tail->next = x; else it->_head = x;
    it->_tail = x;
}

static void ac_done(aw__waiter *w)
{
    struct aw__ac_node *x = AW__CONTAINER(w, struct aw__ac_node, w);
    aw_as_completed *it = x->it;
    ac_push_done(it, x);
    if (it->_waiter) aw__task_wake(it->_waiter, 0);
}

/* The deadline passed: what finished before it is still yielded; nothing after. */
static void ac_time_out(aw_as_completed *it)
{
    it->_flags |= AC_TIMED_OUT;
    for (size_t i = 0; i < it->_n; i++)
        if (aw__node_linked(&it->_nodes[i].w.node)) aw__list_remove(&it->_nodes[i].w.node);
}

static void ac_timer_fired(void *owner)
{
    aw_as_completed *it = owner;
    ac_time_out(it);
    if (it->_waiter) aw__task_wake(it->_waiter, 0);
}

static bool ac_unpark(aw_task *t, void *ctx)
{
    (void)t; (void)ctx;
    return true;
}

int aw__as_completed_begin(aw_as_completed *it, size_t n, void *const *aws, double timeout,
                           const char *file, int line)
{
    (void)file; (void)line;
    int rc = 0;
    if (it) memset(it, 0, sizeof *it);
    aw_loop *loop = aw__loop();
    if (!it || (n > 0 && !aws) || isnan(timeout)) rc = -EINVAL;
    else if (!loop || !loop->current) rc = AW_ENOTASK;
    for (size_t i = 0; i < n && rc == 0; i++) {
        int k = aw__aw_classify(aws[i], loop);
        if (k < 0) rc = k;
    }
    struct aw__ac_node *nodes = NULL;
    if (rc == 0 && n > 0 && !(nodes = aw__calloc(n, sizeof *nodes))) rc = -ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct aw__ac_node *x = &nodes[i];
        aw__list_init(&x->w.node);
        x->it = it;
        if (!aw__is_coro_handle(aws[i])) {
            x->f = aws[i];
        } else {
            aw_task *task = aw_create_task((aw_coro *)aws[i], NULL);
            if (!task) {
                rc = errno == EALREADY ? AW_EREUSED : -errno;
                for (size_t j = 0; j < i; j++) {
                    if (!nodes[j].created) continue;
                    aw_task_cancel((aw_task *)nodes[j].f, NULL);
                    aw_task_release((aw_task *)nodes[j].f);
                }
                for (size_t j = i + 1; j < n; j++)
                    if (aw__is_coro_handle(aws[j])) aw__coro_discard(aws[j]);
                aw__free(nodes);
                return rc;
            }
            x->f = &task->fut;
            x->created = true;
        }
    }
    if (rc < 0) {
        for (size_t i = 0; aws && i < n; i++)
            if (aws[i] && aw__is_coro_handle(aws[i])) aw__coro_discard(aws[i]);
        return rc;
    }
    it->_nodes = nodes;
    it->_n = it->_left = n;
    for (size_t i = 0; i < n; i++) {
        struct aw__ac_node *x = &nodes[i];
        if (x->f->state != AW__PENDING) {
            x->f->refs++;
            ac_push_done(it, x);
        } else {
            aw__watch_add(&x->w, x->f, ac_done);
        }
    }
    it->_deadline = isinf(timeout) ? INFINITY : aw__now(loop) + timeout;
    return 0;
}

int aw__as_completed_next(aw_as_completed *it, void **out, const char *file, int line)
{
    if (out) *out = NULL;
    if (!it || !out) return -EINVAL;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (it->_left == 0) return 0;
    for (;;) {
        struct aw__ac_node *x = it->_head;
        if (x) {
            it->_head = x->next;
            if (!it->_head) it->_tail = NULL;
            it->_left--;
            *out = x->f;
            return 1;
        }
        if (!(it->_flags & AC_TIMED_OUT) && aw__now(t->loop) >= it->_deadline) ac_time_out(it);
        if (it->_flags & AC_TIMED_OUT) {
            it->_left--;
            return AW_ETIMEDOUT;
        }
        aw__timer tm;
        aw__timer_init(&tm, it, ac_timer_fired);
        if (!isinf(it->_deadline) && (rc = aw__timer_start(t->loop, &tm, it->_deadline)) < 0) return rc;
        it->_waiter = t;
        rc = aw__park(t, ac_unpark, it, "as_completed", it, file, line);
        it->_waiter = NULL;
        aw__timer_stop(t->loop, &tm);
        if (rc == 0) rc = aw__check_cancel(t);
        if (rc < 0) return rc;  /* what finished stays for the next call */
    }
}

void aw_as_completed_end(aw_as_completed *it)
{
    if (!it || !it->_nodes) return;
    for (size_t i = 0; i < it->_n; i++) {
        struct aw__ac_node *x = &it->_nodes[i];
        aw__watch_drop(&x->w, x->f);
        if (x->created) aw_task_release((aw_task *)x->f);
    }
    aw__free(it->_nodes);
    memset(it, 0, sizeof *it);
}
