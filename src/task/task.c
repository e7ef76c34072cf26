/* Tasks: a coroutine on its own stack, scheduled by the loop; await, park and wake, sleep. */
#include "internal.h"

enum { SC_SHIELD = AW_SCOPE_SHIELD, SC_CANCELLED = 2, SC_EXPIRED = 4, SC_DELIVERED = 8, SC_OPEN = 16 };

#define FREE_TASKS_MAX 4096

/* ---- creation and destruction ---- */

aw_task *aw__task_new(aw_loop *loop, aw_fn fn, void *arg, const char *fn_name,
                      const char *file, int line, const char *name)
{
    aw_task *t = loop->free_tasks;
    if (t) {
        loop->free_tasks = (aw_task *)t->arg;
        loop->nfree_tasks--;
    } else {
        t = aw__malloc(sizeof *t);
        if (!t) return NULL;
    }
    char *copy = NULL;
    if (name) {
        size_t n = strlen(name);
        if (n >= sizeof t->name_buf) {
            copy = aw__strdup(name);
            if (!copy) {
                t->arg = loop->free_tasks;
                loop->free_tasks = t;
                loop->nfree_tasks++;
                return NULL;
            }
        }
    }
    aw__future_init(&t->fut, true);
    t->fut.loop = loop;
    t->fut.refs = 2;                    /* the caller's and the loop's */
    t->run.kind = AW__RUN_TASK;
    aw__list_init(&t->run.node);
    t->tstate = AW__T_NEW;
    t->released = false;
    t->dbg_flags = 0;
    t->delivering = 0;
    t->never_ran = NULL;
    t->loop = loop;
    t->stack = NULL;
    t->stack_size = 0;
    t->fn = fn;
    t->arg = arg;
    t->fn_name = fn_name;
    t->file = file;
    t->line = line;
    t->id = loop->next_task_id++;
    t->name = copy;
    if (name && !copy) memcpy(t->name_buf, name, strlen(name) + 1);
    else t->name_buf[0] = 0;
    memset(&t->root, 0, sizeof t->root);
    t->root._task = t;
    t->root._deadline = INFINITY;
    t->root._timer.idx = SIZE_MAX;
    t->root._flags = SC_OPEN;
    t->scope = &t->root;
    t->cancel_requests = 0;
    t->any_cancelled = false;
    t->wake_err = 0;
    t->unpark = NULL;
    t->unpark_ctx = NULL;
    t->wait_file = NULL;
    t->wait_line = 0;
    t->wait_what = NULL;
    t->wait_obj = NULL;
    t->frames = NULL;
    t->err_msg = NULL;
    t->err_file = t->err_func = NULL;
    t->err_line = 0;
    t->err_code = 0;
    t->since = 0;                       /* debug mode sets it at the end of each step */
    aw__list_push(&loop->tasks, &t->all);
    loop->ntasks++;
    loop->live_objs++;
    loop->stats.tasks_created++;
    aw__loop_enqueue(loop, &t->run);
    t->tstate = AW__T_READY;
    return t;
}

const char *aw__task_name(aw_task *t)
{
    if (t->name) return t->name;
    if (!t->name_buf[0]) snprintf(t->name_buf, sizeof t->name_buf, "Task-%llu", (unsigned long long)t->id);
    return t->name_buf;
}

void aw__task_free(aw_task *t)
{
    aw_loop *loop = t->loop;
    if (t->fut.state == AW__FAILED && !t->fut.retrieved)
        aw__loop_report(loop, "Task exception was never retrieved", t->fut.err, t, t->err_msg,
                        t->err_msg ? t->err_file : t->file, t->err_msg ? t->err_line : t->line,
                        t->err_msg ? t->err_func : NULL);
    aw__node *n;
    while ((n = aw__list_pop(&t->fut.callbacks))) aw__free(AW__CONTAINER(n, aw__done_cb, node));
    aw__free(t->fut.cancel_msg);
    aw__free(t->err_msg);
    aw__free(t->name);
    t->fut.magic = AW__MAGIC_DEAD;
    if (!loop->closed && loop->nfree_tasks < FREE_TASKS_MAX) {
        t->arg = loop->free_tasks;
        loop->free_tasks = t;
        loop->nfree_tasks++;
    } else {
        aw__free(t);
    }
    aw__loop_unref(loop);
}

aw_task *aw_loop_create_task(aw_loop *loop, aw_coro *c, const char *name)
{
    aw_fn fn; void *arg; const char *fn_name, *file; int line;
    int rc = aw__coro_take(c, &fn, &arg, &fn_name, &file, &line);
    if (rc < 0) { errno = rc == -EINVAL ? EINVAL : EALREADY; return NULL; }
    if (!loop || loop->closed) { errno = loop ? EPIPE : EINVAL; return NULL; }
    if (aw__check_thread(loop, "aw_loop_create_task") < 0) { errno = EPERM; return NULL; }
    aw_task *t = aw__task_new(loop, fn, arg, fn_name, file, line, name);
    if (!t) { errno = ENOMEM; return NULL; }
    t->dbg_flags = AW__TD_USER;
    return t;
}

aw_task *aw_create_task(aw_coro *c, const char *name)
{
    aw_loop *loop = aw__loop();
    if (!loop) {
        aw_fn fn; void *arg; const char *n, *f; int l;
        aw__coro_take(c, &fn, &arg, &n, &f, &l);
        errno = ESRCH;
        return NULL;
    }
    return aw_loop_create_task(loop, c, name);
}

/* ---- running a step ---- */

static void task_main(void *p) __attribute__((noreturn));
static void task_finished(aw_loop *loop, aw_task *t);
static inline aw_task *next_direct(aw_loop *loop, bool new_iteration);
static inline void reap_zombie(aw_loop *loop);

/* The task's body: runs on its own stack. */
static void task_main(void *p)
{
    aw_task *t = p;
    aw_loop *loop = t->loop;
    void *result = NULL;
    int err;
    reap_zombie(loop);
    if (t->root._flags & SC_CANCELLED) {
        err = AW_ECANCELLED;            /* cancelled before its first step: the body never runs */
    } else {
        err = t->fn(t->arg, &result);
    }
    if (t->scope != &t->root) {
        /* A scope or group left by an early return. Its frame is dead: unwind the
         * chain before calling anything that could reuse that stack, then report
         * the innermost. */
        const char *sfile = t->scope->_file;
        int sline = t->scope->_line;
        while (t->scope != &t->root) {
            aw_scope *x = t->scope;
            aw__timer_stop(loop, (aw__timer *)(void *)&x->_timer);
            x->_flags &= ~(unsigned)SC_OPEN;
            t->scope = x->_parent;
        }
        char msg[160];
        snprintf(msg, sizeof msg, "cancel scope opened at %s:%d was not ended before the task returned",
                 sfile ? sfile : "?", sline);
        aw__loop_report(loop, msg, 0, t, NULL, sfile, sline, NULL);
    }
    int state = err == 0 ? AW__DONE : err == AW_ECANCELLED ? AW__CANCELLED : AW__FAILED;
    if (err != t->err_code && t->err_msg) {
        aw__free(t->err_msg);           /* the raise was for another error, since handled */
        t->err_msg = NULL;
    }
    t->tstate = AW__T_DONE;
    /* asyncio stops run_until_complete after the iteration in which its task
     * completes: no task may begin another iteration on its own stack now. */
    if (t == loop->until) loop->stopping = true;
    aw__future_complete(&t->fut, state, err, result);
    if (AW__UNLIKELY(t->stack->guard == AW__GUARD_CANARY && !aw__stack_canary_ok(t->stack)))
        aw__stack_overflowed(t->stack);
    /* Hand over to the next task of this iteration, if any (never start a new
     * iteration from here: the loop checks after each one whether its main
     * task is done). The next task frees this one's stack. */
    aw_task *next = loop->debug ? NULL : next_direct(loop, false);
    if (next) {
        loop->zombie = t;
        next->tstate = AW__T_RUNNING;
        loop->current = next;
        loop->stats.switches++;
        aw__stack_set_running(next->stack);
        aw__ctx_switch_final(&t->ctx, &next->ctx);
    }
    aw__ctx_switch_final(&t->ctx, &loop->sched);
    __builtin_unreachable();
}

static void task_finished(aw_loop *loop, aw_task *t)
{
    if (t->stack) {
        if (AW__UNLIKELY(loop->debug)) aw__debug_task_end(loop, t);
        aw__stack_put(&loop->stacks, t->stack);
        t->stack = NULL;
    }
    aw__ctx_destroy(&t->ctx);
    aw__list_remove(&t->all);
    loop->ntasks--;
    loop->stats.tasks_finished++;
    aw__future_unref(&t->fut);          /* the loop's reference */
}

/* Give a task that has never run its stack and first frame: 0 or -ENOMEM. */
static int task_prepare(aw_loop *loop, aw_task *t)
{
    int rc = aw__stack_get(&loop->stacks, t->stack_size ? t->stack_size : loop->default_stack, &t->stack);
    if (rc < 0) {
        t->stack = NULL;
        return rc;
    }
    /* The overflow report reads the name from here; an unnamed task's
     * "Task-N" is built only when someone asks for it. */
    t->stack->owner = t->name ? t->name : t->name_buf;
    aw__ctx_init(&t->ctx, t->stack->lo, t->stack->size, task_main, t);
    return 0;
}

/* A task that finished by switching straight to another one cannot free its
 * own stack: whoever runs next finishes it. */
static inline void reap_zombie(aw_loop *loop)
{
    aw_task *z = loop->zombie;
    if (AW__UNLIKELY(z != NULL)) {
        loop->zombie = NULL;
        task_finished(loop, z);
    }
}

void aw__task_step(aw_loop *loop, aw_task *t)
{
    if (AW__UNLIKELY(!t->stack)) {
        if (t->root._flags & SC_CANCELLED) {
            /* Cancelled before its first step: the body never runs, no stack is needed. */
            t->tstate = AW__T_DONE;
            aw__future_complete(&t->fut, AW__CANCELLED, AW_ECANCELLED, NULL);
            if (t->never_ran) t->never_ran(t->arg);
            task_finished(loop, t);
            return;
        }
        int rc = task_prepare(loop, t);
        if (rc < 0) {
            /* No memory for a stack: the task fails without running. */
            t->tstate = AW__T_DONE;
            aw__future_complete(&t->fut, AW__FAILED, rc, NULL);
            if (t->never_ran) t->never_ran(t->arg);
            task_finished(loop, t);
            return;
        }
    }
    if (AW__UNLIKELY(loop->debug)) aw__debug_step_begin(loop, t);
    t->tstate = AW__T_RUNNING;
    loop->current = t;
    loop->stats.switches++;
    aw__stack_set_running(t->stack);
    aw__ctx_switch(&loop->sched, &t->ctx);
    /* Back on the loop's stack. The task that switched here is loop->current: not
     * necessarily t, since tasks hand over to each other directly. */
    aw_task *cur = loop->current;
    aw__stack_set_running(NULL);
    loop->current = NULL;
    reap_zombie(loop);
    if (AW__UNLIKELY(cur->stack && cur->stack->guard == AW__GUARD_CANARY && !aw__stack_canary_ok(cur->stack)))
        aw__stack_overflowed(cur->stack);
    if (AW__UNLIKELY(loop->debug)) aw__debug_step_end(loop, cur);
    if (cur->tstate == AW__T_DONE) task_finished(loop, cur);
}

/* The next task to switch to directly from a suspending task, or NULL to go
 * through the loop. Within an iteration that is the next ready item if it is a
 * task that has already started. At the end of an iteration the next one may
 * begin here too, when the loop has nothing else to do first: no timers to
 * check, no cross-thread posts or caught signals, no poll due, no stop requested. */
static inline aw_task *next_direct(aw_loop *loop, bool new_iteration)
{
    if (loop->ntodo == 0) {
        if (!new_iteration || loop->nready == 0 || aw__timers_live(&loop->timers) || loop->debug || loop->stopping ||
            atomic_load_explicit(&loop->nposts, memory_order_relaxed) ||
            atomic_load_explicit(&loop->sig_pending, memory_order_relaxed) ||
            loop->polls_skipped + 1 >= AW__POLL_EVERY)
            return NULL;
        loop->stats.iterations++;
        loop->polls_skipped++;
        loop->now_stale = true;
        loop->ntodo = loop->nready;
    }
    aw__node *n = loop->ready.next;
    aw__runnable *r = AW__CONTAINER(n, aw__runnable, node);
    if (r->kind != AW__RUN_TASK) return NULL;
    aw_task *next = AW__CONTAINER(r, aw_task, run);
    if (!next->stack) {
        /* its first step: a cancelled or stackless start is the loop's business */
        if ((next->root._flags & SC_CANCELLED) || task_prepare(loop, next) < 0) return NULL;
    }
    aw__list_remove(n);
    loop->nready--;
    loop->ntodo--;
    return next;
}

void aw__task_switch_out(aw_loop *loop, aw_task *t)
{
    if (AW__UNLIKELY(t->stack->guard == AW__GUARD_CANARY && !aw__stack_canary_ok(t->stack)))
        aw__stack_overflowed(t->stack);
    aw_task *next = next_direct(loop, true);
    if (next == t) {
        /* the only ready task is this one (a lone yield): keep running */
        t->tstate = AW__T_RUNNING;
        loop->stats.switches++;
    } else if (next) {
        next->tstate = AW__T_RUNNING;
        loop->current = next;
        loop->stats.switches++;
        aw__stack_set_running(next->stack);
        aw__ctx_switch(&t->ctx, &next->ctx);
        reap_zombie(loop);
    } else {
        aw__ctx_switch(&t->ctx, &loop->sched);
        reap_zombie(loop);
    }
}

/* ---- suspension ---- */

aw_scope *aw__scope_cancelling(aw_task *t)
{
    for (aw_scope *s = t->scope; s; s = s->_parent) {
        if (s->_flags & SC_CANCELLED) return s;
        if (s->_flags & SC_SHIELD) return NULL;
    }
    return NULL;
}

void aw__task_recheck_cancelled(aw_task *t)
{
    bool any = false;
    for (aw_scope *s = t->scope; s; s = s->_parent)
        if (s->_flags & SC_CANCELLED) { any = true; break; }
    t->any_cancelled = any;
}

int aw__check_cancel(aw_task *t)
{
    if (AW__LIKELY(!t->any_cancelled)) return 0;
    aw_scope *s = aw__scope_cancelling(t);
    if (AW__LIKELY(!s)) return 0;
    s->_flags |= SC_DELIVERED;
    return AW_ECANCELLED;
}

int aw__cancel_slow(aw_task *t)
{
    return aw__check_cancel(t);
}

int aw__park(aw_task *t, aw__unpark_fn unpark, void *ctx, const char *what, void *obj,
             const char *file, int line)
{
    aw_loop *loop = t->loop;
    t->unpark = unpark;
    t->unpark_ctx = ctx;
    t->wait_what = what;
    t->wait_obj = obj;
    t->wait_file = file;
    t->wait_line = line;
    t->tstate = AW__T_PARKED;
    aw__task_switch_out(loop, t);
    t->wait_what = NULL;
    t->wait_obj = NULL;
    return t->wake_err;
}

void aw__task_wake(aw_task *t, int err)
{
    if (t->tstate != AW__T_PARKED) return;
    t->unpark = NULL;
    t->unpark_ctx = NULL;
    t->wake_err = err;
    t->tstate = AW__T_READY;
    aw__loop_enqueue(t->loop, &t->run);
}

void aw__task_deliver_cancel(aw_task *t)
{
    if (t->tstate != AW__T_PARKED || !t->unpark) return;
    aw_scope *s = aw__scope_cancelling(t);
    if (!s) return;
    if (t->delivering) {
        /* A forwarded cancel came back round a cycle of awaits: tell the outer
         * delivery (task_unpark) instead of recursing for ever. */
        t->delivering = 2;
        return;
    }
    t->delivering = 1;
    bool taken = t->unpark(t, t->unpark_ctx);
    t->delivering = 0;
    if (!taken) return;                         /* forwarded: it keeps waiting */
    s->_flags |= SC_DELIVERED;
    aw__task_wake(t, AW_ECANCELLED);
}

/* ---- cancellation ---- */

int aw_task_cancel(aw_task *t, const char *msg)
{
    if (!t || t->fut.magic != AW__MAGIC_TASK) return -EINVAL;
    if (t->tstate == AW__T_DONE) return 0;
    t->cancel_requests++;
    if (msg && !t->fut.cancel_msg) t->fut.cancel_msg = aw__strdup(msg);
    t->root._flags |= SC_CANCELLED;
    t->any_cancelled = true;
    aw__task_deliver_cancel(t);
    return 1;
}

int aw_task_uncancel(aw_task *t)
{
    if (!t || t->fut.magic != AW__MAGIC_TASK) return -EINVAL;
    if (t->cancel_requests > 0 && --t->cancel_requests == 0) {
        t->root._flags &= ~(unsigned)(SC_CANCELLED | SC_DELIVERED);
        aw__task_recheck_cancelled(t);
        aw__free(t->fut.cancel_msg);
        t->fut.cancel_msg = NULL;
    }
    return t->cancel_requests;
}

int aw_task_cancelling(const aw_task *t) { return t ? t->cancel_requests : 0; }
const char *aw_task_cancel_message(const aw_task *t) { return t ? t->fut.cancel_msg : NULL; }

/* ---- awaiting ---- */

int aw__await_coro(aw_coro *c, void **result, const char *file, int line)
{
    aw_fn fn; void *arg; const char *name, *cfile; int cline;
    if (result) *result = NULL;
    int rc = aw__coro_take(c, &fn, &arg, &name, &cfile, &cline);
    if (rc < 0) return rc;
    aw_loop *loop = aw__loop();
    aw_task *t = loop ? loop->current : NULL;
    if (!t) return AW_ENOTASK;
    /* Inline: the body runs on this task's stack, no switch. The frame makes the
     * chain visible to aw_dump_tasks. */
    aw__frame fr = { t->frames, name, cfile, cline, file, line };
    t->frames = &fr;
    void *r = NULL;
    rc = fn(arg, &r);
    t->frames = fr.up;
    if (result) *result = r;
    return rc;
}

int aw__call(aw_fn fn, void *arg, void **result, const char *name, const char *file, int line)
{
    if (result) *result = NULL;
    if (!fn) return -EINVAL;
    aw_loop *loop = aw__loop();
    aw_task *t = loop ? loop->current : NULL;
    if (!t) return AW_ENOTASK;
    aw__frame fr = { t->frames, name, file, line, file, line };
    t->frames = &fr;
    void *r = NULL;
    int rc = fn(arg, &r);
    t->frames = fr.up;
    if (result) *result = r;
    return rc;
}

static bool task_unpark(aw_task *waiter, void *ctx)
{
    aw__waiter *w = ctx;
    aw_task *target = (aw_task *)waiter->wait_obj;
    (void)w;
    /* asyncio: cancelling a task that awaits another task cancels that task, and
     * the awaiter waits for it to finish. In a cycle of awaits nobody would
     * finish: the cancel comes back round to the waiter, which then stops
     * waiting (aw__await_task takes w off the list), and the others follow. */
    aw_task_cancel(target, NULL);
    return waiter->delivering == 2;
}

int aw__await_task(aw_task *x, void **result, const char *file, int line)
{
    if (result) *result = NULL;
    if (!x) return -EINVAL;
    if (x->fut.magic != AW__MAGIC_TASK) return AW_ENOTAWAITABLE;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc == AW_ENOTASK) return rc;
    if (x == t) return aw_raise(AW_EINVALSTATE, "a task cannot await itself");
    if (x->loop != t->loop) return AW_EWRONGLOOP;
    if (x->tstate != AW__T_DONE) {
        if (rc == AW_ECANCELLED) {
            aw_task_cancel(x, NULL);
            return rc;
        }
        aw__waiter w = { .task = t };  /* also the await graph's edge t -> x */
        aw__list_push(&x->fut.waiters, &w.node);
        x->fut.refs++;
        x->dbg_flags |= AW__TD_AWAITED;
        rc = aw__park(t, task_unpark, &w, "task", x, file, line);
        if (aw__node_linked(&w.node)) aw__list_remove(&w.node);
        int err = x->fut.err;
        void *res = x->fut.result;
        bool done = x->tstate == AW__T_DONE;
        if (done) x->fut.retrieved = true;
        aw__future_unref(&x->fut);
        if (!done) return rc < 0 ? rc : AW_ECANCELLED;
        if (aw__check_cancel(t) < 0) return AW_ECANCELLED;
        if (result) *result = res;
        return err;
    }
    if (rc < 0) return rc;
    x->fut.retrieved = true;
    if (result) *result = x->fut.result;
    return x->fut.err;
}

int aw__await_any(void *x, void **result, const char *file, int line)
{
    if (result) *result = NULL;
    if (!x) return -EINVAL;
    if (aw__is_coro_handle(x)) return aw__await_coro((aw_coro *)x, result, file, line);
    uint32_t magic;
    memcpy(&magic, x, sizeof magic);
    if (magic == AW__MAGIC_TASK) return aw__await_task((aw_task *)x, result, file, line);
    if (magic == AW__MAGIC_FUTURE) return aw__await_future((aw_future *)x, result, file, line);
    return AW_ENOTAWAITABLE;
}

int aw__join(aw_task *x, void **result, const char *file, int line)
{
    int rc = aw__await_task(x, result, file, line);
    if (x && x->fut.magic == AW__MAGIC_TASK) aw_task_release(x);
    return rc;
}

/* ---- sleeping ---- */

static void sleep_fired(void *owner)
{
    aw__task_wake(owner, 0);
}

static bool sleep_unpark(aw_task *t, void *ctx)
{
    aw__timer_stop(t->loop, ctx);
    return true;
}

int aw__sleep(double seconds, const char *file, int line)
{
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (isnan(seconds) || seconds < 0) return -EINVAL;
    aw_loop *loop = t->loop;
    if (seconds == 0) {
        /* A yield: to the back of the ready queue. */
        t->wait_file = file;
        t->wait_line = line;
        t->wait_what = "yield";
        t->tstate = AW__T_READY;
        aw__loop_enqueue(loop, &t->run);
        aw__task_switch_out(loop, t);
        t->wait_what = NULL;
        return aw__check_cancel(t);
    }
    aw__timer tm;
    aw__timer_init(&tm, t, sleep_fired);
    rc = aw__timer_start(loop, &tm, aw__now(loop) + seconds);
    if (rc < 0) return rc;
    return aw__park(t, sleep_unpark, &tm, "sleep", NULL, file, line);
}

/* ---- accessors ---- */

bool aw_task_done(const aw_task *t) { return t && t->tstate == AW__T_DONE; }
bool aw_task_cancelled(const aw_task *t) { return t && t->fut.state == AW__CANCELLED; }

int aw_task_result(aw_task *t, void **result)
{
    if (result) *result = NULL;
    if (!t || t->fut.magic != AW__MAGIC_TASK) return -EINVAL;
    if (t->tstate != AW__T_DONE) return AW_EINVALSTATE;
    t->fut.retrieved = true;
    if (result) *result = t->fut.result;
    return t->fut.err;
}

int aw_task_exception(aw_task *t)
{
    if (!t || t->fut.magic != AW__MAGIC_TASK) return -EINVAL;
    if (t->tstate != AW__T_DONE) return AW_EINVALSTATE;
    t->fut.retrieved = true;
    return t->fut.err;
}

const char *aw_task_error_message(const aw_task *t) { return t ? t->err_msg : NULL; }

void aw_task_release(aw_task *t)
{
    if (!t) return;
    if (t->fut.magic != AW__MAGIC_TASK) {
        if (t->fut.magic == AW__MAGIC_DEAD)
            fprintf(stderr, "aw: aw_task_release of a task already freed (released twice?)\n");
        return;
    }
    if (t->released && t->loop->debug && t->fut.refs <= 1 && t->tstate != AW__T_DONE) {
        aw__loop_report(t->loop, "aw_task_release called twice on a task", -EINVAL, t, NULL, NULL, 0, NULL);
        return;
    }
    t->released = true;
    if (AW__UNLIKELY(t->fut.refs == 2) && t->loop->debug && t->tstate != AW__T_DONE)
        aw__debug_task_released(t);     /* the loop's reference will be the last */
    aw__future_unref(&t->fut);
}

aw_task *aw_task_ref(aw_task *t)
{
    if (t && t->fut.magic == AW__MAGIC_TASK) t->fut.refs++;
    return t;
}

const char *aw_task_name(const aw_task *t) { return t ? aw__task_name((aw_task *)t) : NULL; }

int aw_task_set_name(aw_task *t, const char *name)
{
    if (!t || !name) return -EINVAL;
    size_t n = strlen(name);
    if (n < sizeof t->name_buf) {
        aw__free(t->name);
        t->name = NULL;
        memcpy(t->name_buf, name, n + 1);
    } else {
        char *c = aw__strdup(name);
        if (!c) return -ENOMEM;
        aw__free(t->name);
        t->name = c;
    }
    if (t->stack) t->stack->owner = t->name ? t->name : t->name_buf;
    return 0;
}

uint64_t aw_task_id(const aw_task *t) { return t ? t->id : 0; }
aw_future *aw_task_future(aw_task *t) { return t ? &t->fut : NULL; }

int aw_task_set_stack_size(aw_task *t, size_t size)
{
    if (!t) return -EINVAL;
    if (size < AW__STACK_MIN) return -EINVAL;
    if (t->stack || t->tstate == AW__T_DONE) return AW_EINVALSTATE;
    t->stack_size = size;
    return 0;
}

aw_task *aw_current_task(void)
{
    aw_loop *loop = aw__loop();
    return loop ? loop->current : NULL;
}

size_t aw_all_tasks(aw_task **out, size_t cap)
{
    aw_loop *loop = aw__loop();
    if (!loop) return 0;
    size_t i = 0;
    for (aw__node *n = loop->tasks.next; n != &loop->tasks; n = n->next, i++)
        if (out && i < cap) out[i] = AW__CONTAINER(n, aw_task, all);
    return i;
}
