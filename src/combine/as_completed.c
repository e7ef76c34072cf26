/* asyncio.as_completed as an iterator on the caller's stack: awaitables in completion order, with an overall timeout. */
#include "internal.h"

/*
 * Everything a completion touches is on the heap (struct aw__ac_state and its
 * nodes), not in the caller's aw_as_completed: an iterator abandoned without
 * aw_as_completed_end leaks, but never has a child write into a dead stack.
 */

typedef struct ac_node {
    aw__waiter w;               /* on the awaitable's waiters until it completes */
    aw_future *f;
    struct aw__ac_state *st;
    struct ac_node *next;       /* in the finished list */
    bool created;               /* a task made for a coroutine: the iterator owns it */
} ac_node;

struct aw__ac_state {
    ac_node *head, *tail;       /* finished, not yet yielded */
    aw_task *waiter;            /* the task parked in next() */
    bool timed_out;
    size_t n;
    ac_node nodes[];
};

static void ac_push_done(struct aw__ac_state *st, ac_node *x)
{
    x->next = NULL;
    if (st->tail) st->tail->next = x; else st->head = x;
    st->tail = x;
}

static void ac_done(aw__waiter *w)
{
    ac_node *x = AW__CONTAINER(w, ac_node, w);
    ac_push_done(x->st, x);
    if (x->st->waiter) aw__task_wake(x->st->waiter, 0);
}

/* The deadline passed: what finished before it is still yielded; nothing after. */
static void ac_time_out(struct aw__ac_state *st)
{
    st->timed_out = true;
    for (size_t i = 0; i < st->n; i++)
        if (aw__node_linked(&st->nodes[i].w.node)) aw__list_remove(&st->nodes[i].w.node);
}

static void ac_timer_fired(void *owner)
{
    struct aw__ac_state *st = owner;
    ac_time_out(st);
    if (st->waiter) aw__task_wake(st->waiter, 0);
}

static bool ac_unpark(aw_task *t, void *ctx)
{
    (void)t; (void)ctx;
    return true;
}

static void discard_coros(size_t from, size_t n, void *const *aws)
{
    for (size_t i = from; aws && i < n; i++)
        if (aws[i] && aw__is_coro_handle(aws[i])) aw__coro_discard(aws[i]);
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
    struct aw__ac_state *st = NULL;
    if (rc == 0 && n > 0 && !(st = aw__calloc(1, sizeof *st + n * sizeof(ac_node)))) rc = -ENOMEM;
    if (rc < 0) {
        discard_coros(0, n, aws);
        return rc;
    }
    if (n == 0) return 0;
    st->n = n;
    for (size_t i = 0; i < n; i++) {
        ac_node *x = &st->nodes[i];
        aw__list_init(&x->w.node);
        x->st = st;
        if (!aw__is_coro_handle(aws[i])) {
            x->f = aws[i];
            continue;
        }
        aw_task *task = aw_create_task((aw_coro *)aws[i], NULL);
        if (!task) {
            rc = errno == EALREADY ? AW_EREUSED : -errno;
            for (size_t j = 0; j < i; j++) {
                if (!st->nodes[j].created) continue;
                aw_task_cancel((aw_task *)st->nodes[j].f, NULL);   /* its body never runs */
                aw_task_release((aw_task *)st->nodes[j].f);
            }
            discard_coros(i + 1, n, aws);
            aw__free(st);
            return rc;
        }
        x->f = &task->fut;
        x->created = true;
    }
    for (size_t i = 0; i < n; i++) {
        ac_node *x = &st->nodes[i];
        if (x->f->state != AW__PENDING) {
            x->f->refs++;
            ac_push_done(st, x);
        } else {
            aw__watch_add(&x->w, x->f, ac_done);
        }
    }
    it->_st = st;
    it->_n = it->_left = n;
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
    struct aw__ac_state *st = it->_st;
    for (;;) {
        ac_node *x = st->head;
        if (x) {
            st->head = x->next;
            if (!st->head) st->tail = NULL;
            it->_left--;
            *out = x->f;
            return 1;
        }
        if (!st->timed_out && aw__now(t->loop) >= it->_deadline) ac_time_out(st);
        if (st->timed_out) {
            it->_left--;
            return AW_ETIMEDOUT;
        }
        aw__timer tm;
        aw__timer_init(&tm, st, ac_timer_fired);
        if (!isinf(it->_deadline) && (rc = aw__timer_start(t->loop, &tm, it->_deadline)) < 0) return rc;
        st->waiter = t;
        rc = aw__park(t, ac_unpark, st, "as_completed", st, file, line);
        st->waiter = NULL;
        aw__timer_stop(t->loop, &tm);
        if (rc == 0) rc = aw__check_cancel(t);
        if (rc < 0) return rc;  /* what finished stays for the next call */
    }
}

void aw_as_completed_end(aw_as_completed *it)
{
    if (!it || !it->_st) return;
    struct aw__ac_state *st = it->_st;
    for (size_t i = 0; i < st->n; i++) {
        ac_node *x = &st->nodes[i];
        aw__watch_drop(&x->w, x->f);
        if (x->created) aw_task_release((aw_task *)x->f);
    }
    aw__free(st);
    memset(it, 0, sizeof *it);
}
