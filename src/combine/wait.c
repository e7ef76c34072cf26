/* asyncio.wait: wait until the first completes, the first fails or all complete, or a timeout passes. */
#include "internal.h"

typedef struct wnode {
    aw__waiter w;
    aw_future *f;
    struct wstate *s;
} wnode;

typedef struct wstate {
    aw_task *task;
    size_t n, ndone;
    int return_when;
    bool ready;                 /* return_when holds */
    wnode *nodes;
} wstate;

#define STACK_NODES 8

static bool satisfied(const wstate *s, const aw_future *f)
{
    switch (s->return_when) {
    case AW_FIRST_COMPLETED: return s->ndone > 0;
    case AW_FIRST_EXCEPTION: return s->ndone == s->n || (f && f->state == AW__FAILED);
    default: return s->ndone == s->n;
    }
}

static void node_done(aw__waiter *w)
{
    wnode *x = AW__CONTAINER(w, wnode, w);
    wstate *s = x->s;
    s->ndone++;
    if (!s->ready && satisfied(s, x->f)) {
        s->ready = true;
        aw__task_wake(s->task, 0);
    }
}

static void timer_fired(void *owner)
{
    wstate *s = owner;
    aw__task_wake(s->task, 0);
}

static bool wait_unpark(aw_task *t, void *ctx)
{
    (void)t; (void)ctx;
    return true;                /* the caller unregisters everything after the park */
}

int aw__wait(size_t n, void *const *aws, double timeout, int return_when,
             void **done_out, void **pending_out, const char *file, int line)
{
    int rc = 0;
    if (!aws || n == 0 || isnan(timeout) ||
        (return_when != AW_FIRST_COMPLETED && return_when != AW_FIRST_EXCEPTION && return_when != AW_ALL_COMPLETED))
        rc = -EINVAL;
    aw_task *t = NULL;
    if (rc == 0) rc = aw__suspend_check(&t);
    for (size_t i = 0; i < n && aws && rc == 0; i++) {
        int k = aw__aw_classify(aws[i], t->loop);
        if (k == AW__AW_CORO) rc = aw_raise(AW_ENOTAWAITABLE, "Passing coroutines is forbidden, use tasks explicitly.");
        else if (k < 0) rc = k;
        else if (aws[i] == (void *)t) rc = aw_raise(AW_EINVALSTATE, "a task cannot await itself");
    }
    if (rc < 0) {
        for (size_t i = 0; aws && i < n; i++)
            if (aws[i] && aw__is_coro_handle(aws[i])) aw_coro_close(aws[i]);
        return rc;
    }

    wnode stack_nodes[STACK_NODES];
    wstate s = { .task = t, .n = n, .return_when = return_when };
    s.nodes = n <= STACK_NODES ? stack_nodes : aw__calloc(n, sizeof(wnode));
    if (!s.nodes) return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        aw_future *f = aws[i];
        s.nodes[i].s = &s;
        s.nodes[i].f = f;
        if (f->state != AW__PENDING) {
            s.ndone++;
            if (f->state == AW__FAILED && return_when == AW_FIRST_EXCEPTION) s.ready = true;
            aw__list_init(&s.nodes[i].w.node);
            f->refs++;
        } else {
            aw__watch_add(&s.nodes[i].w, f, node_done);
            aw__await_link(&s.nodes[i].w, f, t, "wait");
        }
    }
    if (satisfied(&s, NULL)) s.ready = true;

    if (!s.ready && timeout > 0) {
        aw__timer tm;
        aw__timer_init(&tm, &s, timer_fired);
        if (!isinf(timeout)) rc = aw__timer_start(t->loop, &tm, aw__now(t->loop) + timeout);
        if (rc == 0) rc = aw__park(t, wait_unpark, &s, "wait", &s, file, line);
        aw__timer_stop(t->loop, &tm);
    }
    for (size_t i = 0; i < n; i++) aw__watch_drop(&s.nodes[i].w, aws[i]);
    if (s.nodes != stack_nodes) aw__free(s.nodes);
    if (rc == 0) rc = aw__check_cancel(t);   /* woken, but cancelled before it ran */
    if (rc < 0) return rc;

    size_t ndone = 0, npending = 0;
    for (size_t i = 0; i < n; i++) {
        if (((aw_future *)aws[i])->state != AW__PENDING) {
            if (done_out) done_out[ndone] = aws[i];
            ndone++;
        } else {
            if (pending_out) pending_out[npending] = aws[i];
            npending++;
        }
    }
    return (int)ndone;
}
