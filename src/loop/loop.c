/* The event loop: ready queue, cached clock, one iteration as a list of phases, callbacks, reports. */
#include "internal.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

AW__TLS aw_loop *aw__loop_tls;



#define HAS_POSTS(loop) atomic_load_explicit(&(loop)->nposts, memory_order_relaxed)

double aw__clock_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double (*aw__step_clock)(void) = aw__clock_real;

static inline double clock_now(aw_loop *loop)
{
    if (loop->clock == AW_CLOCK_VIRTUAL) return loop->vnow_offset;
    return aw__clock_real();
}

double aw__loop_clock_read(aw_loop *loop)
{
    loop->now_stale = false;
    return loop->now = clock_now(loop);
}

int aw__loop_init_internal(aw_loop *loop)
{
    memset(loop, 0, sizeof *loop);
    aw__list_init(&loop->ready);
    aw__list_init(&loop->tasks);
    aw__list_init(&loop->coros);
    loop->epfd = loop->wakefd = -1;
    loop->posts_tail = &loop->posts;
    loop->next_task_id = 1;
    loop->slow_step = 0.1;
    static atomic_uint_fast64_t serials;
    loop->serial = atomic_fetch_add(&serials, 1) + 1;
    loop->default_stack = 256 * 1024;
    const char *dbg = getenv("AW_DEBUG");
    loop->debug = dbg && *dbg && strcmp(dbg, "0") != 0;
    int rc = pthread_mutex_init(&loop->post_mu, NULL);
    if (rc) return -rc;
    rc = aw__stack_pool_init(&loop->stacks, loop->default_stack);
    if (rc < 0) goto out_mutex;
    aw__poll_init_fd(loop);
    if (loop->epfd < 0) { rc = -errno; goto out_stacks; }
    loop->now = clock_now(loop);
    return 0;
out_stacks:
    aw__stack_pool_destroy(&loop->stacks);
out_mutex:
    pthread_mutex_destroy(&loop->post_mu);
    return rc;
}

aw_loop *aw_loop_new(void)
{
    aw_loop *loop = aw__malloc(sizeof *loop);
    if (!loop) { errno = ENOMEM; return NULL; }
    int rc = aw__loop_init_internal(loop);
    if (rc < 0) { aw__free(loop); errno = -rc; return NULL; }
    /* The caller holds the pointer and may give it to another thread. */
    loop->shared = true;
    return loop;
}

void aw__loop_enqueue(aw_loop *loop, aw__runnable *r)
{
    aw__list_push(&loop->ready, &r->node);
    loop->nready++;
}

/* ---- reports ---- */

void aw_loop_default_exception_handler(aw_loop *loop, const aw_exception_context *c, void *arg)
{
    (void)loop; (void)arg;
    char buf[1024];
    size_t n = 0;
#define ADD(...) do { int k_ = snprintf(buf + n, sizeof buf - n, __VA_ARGS__); \
                      if (k_ > 0) n = (size_t)k_ < sizeof buf - n ? n + (size_t)k_ : sizeof buf - 1; } while (0)
    ADD("aw: %s\n", c->message ? c->message : "error");
    if (c->task_name) ADD("  task: '%s'\n", c->task_name);
    if (c->error) ADD("  error: %s: %s\n", aw_errname(c->error), c->detail ? c->detail : aw_strerror(c->error));
    else if (c->detail) ADD("  %s\n", c->detail);
    if (c->file) {
        if (c->func) ADD("  at %s:%d in %s()\n", c->file, c->line, c->func);
        else ADD("  at %s:%d\n", c->file, c->line);
    }
#undef ADD
    fwrite(buf, 1, n, stderr);
    fflush(stderr);
}

void aw_loop_call_exception_handler(aw_loop *loop, const aw_exception_context *c)
{
    if (loop && loop->exc_handler) loop->exc_handler(loop, c, loop->exc_arg);
    else aw_loop_default_exception_handler(loop, c, NULL);
}

void aw__loop_report(aw_loop *loop, const char *message, int err, aw_task *t,
                     const char *detail, const char *file, int line, const char *func)
{
    aw_exception_context c = {
        .message = message, .error = err, .detail = detail, .task = t,
        .task_name = t ? aw__task_name(t) : NULL, .file = file, .line = line, .func = func,
    };
    aw_loop_call_exception_handler(loop, &c);
}

void aw_loop_set_exception_handler(aw_loop *loop, aw_exception_handler h, void *arg)
{
    if (!loop) return;
    loop->exc_handler = h;
    loop->exc_arg = arg;
}

/* ---- callbacks ---- */

static void handle_unref(aw_handle *h)
{
    if (--h->refs == 0) aw__free(h);
}

static void handle_timer_fired(void *owner)
{
    aw_handle *h = owner;
    aw__loop_enqueue(h->loop, &h->run);
}

void aw__handle_run(aw_handle *h)
{
    h->scheduled = false;
    if (!h->cancelled) h->cb(h->arg);
    handle_unref(h);
}

static int schedule(aw_loop *loop, double when, bool timed, aw_callback cb, void *arg, aw_handle **out)
{
    if (out) *out = NULL;
    if (!loop || !cb) return -EINVAL;
    if (loop->closed) return AW_ECLOSED;
    if (isnan(when)) return -EINVAL;
    aw_handle *h = aw__malloc(sizeof *h);
    if (!h) return -ENOMEM;
    h->run.kind = AW__RUN_HANDLE;
    aw__list_init(&h->run.node);
    h->loop = loop;
    h->cb = cb;
    h->arg = arg;
    h->refs = out ? 2 : 1;
    h->cancelled = false;
    h->scheduled = true;
    aw__timer_init(&h->timer, h, handle_timer_fired);
    if (timed) {
        int rc = aw__timer_start(loop, &h->timer, when);
        if (rc < 0) { aw__free(h); return rc; }
    } else {
        aw__loop_enqueue(loop, &h->run);
    }
    if (out) *out = h;
    return 0;
}

int aw_call_soon(aw_loop *loop, aw_callback cb, void *arg, aw_handle **out)
{
    if (loop && aw__check_thread(loop, "aw_call_soon") < 0) return AW_EWRONGTHREAD;
    return schedule(loop, 0, false, cb, arg, out);
}

int aw_call_later(aw_loop *loop, double delay, aw_callback cb, void *arg, aw_handle **out)
{
    if (!loop) return -EINVAL;
    if (isnan(delay)) return -EINVAL;
    if (aw__check_thread(loop, "aw_call_later") < 0) return AW_EWRONGTHREAD;
    return schedule(loop, aw__now(loop) + (delay > 0 ? delay : 0), true, cb, arg, out);
}

int aw_call_at(aw_loop *loop, double when, aw_callback cb, void *arg, aw_handle **out)
{
    if (loop && aw__check_thread(loop, "aw_call_at") < 0) return AW_EWRONGTHREAD;
    return schedule(loop, when, true, cb, arg, out);
}

void aw_handle_cancel(aw_handle *h)
{
    if (!h) return;
    if (!h->cancelled && h->scheduled) {
        h->cancelled = true;
        if (aw__timer_armed(&h->timer)) {
            /* still in the heap: take it out now rather than when it is due */
            aw__timer_stop(h->loop, &h->timer);
            h->scheduled = false;
            h->refs--;          /* the loop's reference */
        }
    }
    h->cancelled = true;
    handle_unref(h);
}

void aw_handle_release(aw_handle *h)
{
    if (h) handle_unref(h);
}

bool aw_handle_cancelled(const aw_handle *h) { return h && h->cancelled; }

/* ---- one iteration ---- */

static void run_ready(aw_loop *loop, aw__runnable *r)
{
    switch (r->kind) {
    case AW__RUN_TASK:
        aw__task_step(loop, AW__CONTAINER(r, aw_task, run));
        break;
    case AW__RUN_HANDLE:
        loop->stats.callbacks++;
        if (AW__UNLIKELY(loop->debug)) aw__debug_run_callback(loop, r);
        else aw__handle_run(AW__CONTAINER(r, aw_handle, run));
        break;
    case AW__RUN_DONE_CB:
        loop->stats.callbacks++;
        if (AW__UNLIKELY(loop->debug)) aw__debug_run_callback(loop, r);
        else aw__done_cb_run(AW__CONTAINER(r, aw__done_cb, run));
        break;
    default:
        abort();
    }
}

static void drain_posts(aw_loop *loop)
{
    pthread_mutex_lock(&loop->post_mu);
    aw__post *p = loop->posts;
    loop->posts = NULL;
    loop->posts_tail = &loop->posts;
    atomic_store_explicit(&loop->nposts, 0, memory_order_relaxed);
    pthread_mutex_unlock(&loop->post_mu);
    while (p) {
        aw__post *next = p->next;
        bool heap = p->heap;    /* an embedded node may be gone once cb has run */
        p->cb(p->arg);
        if (heap) aw__free(p);
        p = next;
    }
}

static bool nothing_can_wake(aw_loop *loop)
{
    return loop->nready == 0 && aw__timers_live(&loop->timers) == 0 && loop->fd_waiters == 0 &&
           atomic_load(&loop->pending_work) == 0 && loop->signal_handlers == 0 &&
           !loop->shared && HAS_POSTS(loop) == 0;
}

/*
 * One iteration, in phases (docs/design.md has the picture):
 *   1. decide how long the poller may block: not at all when tasks are ready,
 *      until the first deadline otherwise;
 *   2. poll for I/O, but with a busy ready queue only every AW__POLL_EVERY iterations;
 *   3. run cross-thread posts (call_soon_threadsafe, thread-pool completions)
 *      and signals caught since the last iteration;
 *   4. refresh the cached clock and fire due timers (they append to the ready queue);
 *   5. run exactly the items that are ready now: whatever they make ready runs
 *      in the next iteration (asyncio's rule).
 */
int aw__loop_run_once(aw_loop *loop, bool detect_deadlock)
{
    loop->stats.iterations++;

    /* 1-2: poll */
    if (loop->nready > 0) {
        if (++loop->polls_skipped >= AW__POLL_EVERY) {
            loop->polls_skipped = 0;
            aw__poll(loop, 0);
        }
    } else {
        loop->polls_skipped = 0;
        aw__loop_clock_read(loop);
        double timeout = aw__timers_next(loop);
        if (HAS_POSTS(loop)) timeout = 0;
        if (loop->clock == AW_CLOCK_VIRTUAL && timeout > 0) {
            int n = aw__poll(loop, 0);
            if (n == 0 && loop->nready == 0 && !HAS_POSTS(loop) && atomic_load(&loop->pending_work) == 0) {
                if (isinf(timeout)) {
                    if (detect_deadlock && nothing_can_wake(loop)) return AW_EDEADLOCK;
                    aw__poll(loop, -1);
                } else {
                    loop->vnow_offset += timeout;   /* jump to the first deadline */
                }
            } else if (n == 0 && loop->nready == 0 && !HAS_POSTS(loop)) {
                /* thread-pool work pending: wait for it, but never past a deadline */
                aw__poll(loop, isinf(timeout) ? -1 : 0.001);
            }
        } else {
            if (isinf(timeout) && detect_deadlock && nothing_can_wake(loop)) return AW_EDEADLOCK;
            if (AW__UNLIKELY(aw__stack_pool_needs_trim(&loop->stacks)) && timeout > 0) {
                /* About to sleep: a good time to give idle stacks back, a batch at a time. */
                aw__stack_pool_trim(&loop->stacks, 256);
                if (aw__stack_pool_needs_trim(&loop->stacks)) timeout = 0;
                else { aw__loop_clock_read(loop); timeout = aw__timers_next(loop); }
            }
            aw__poll(loop, timeout);
        }
    }

    /* 3: cross-thread posts */
    if (HAS_POSTS(loop)) drain_posts(loop);
    if (AW__UNLIKELY(atomic_load_explicit(&loop->sig_pending, memory_order_relaxed)))
        aw__signal_dispatch(loop);

    /* 4: timers */
    loop->now_stale = true;
    if (aw__timers_live(&loop->timers)) {
        aw__loop_clock_read(loop);
        aw__timers_run(loop);
    }

    /* 5: run what is ready now. A task that suspends may switch straight to the
     * next ready task (aw__task_switch_out), consuming ntodo itself. */
    loop->ntodo = loop->nready;
    while (loop->ntodo > 0) {
        aw__node *n = aw__list_pop(&loop->ready);
        if (!n) break;
        loop->nready--;
        loop->ntodo--;
        if (AW__UNLIKELY(loop->debug)) {
            /* Debug mode times and publishes every step: with ntodo at 0 no task
             * hands over directly to the next, each comes back here. */
            size_t left = loop->ntodo;
            loop->ntodo = 0;
            run_ready(loop, AW__CONTAINER(n, aw__runnable, node));
            loop->ntodo = left;
            continue;
        }
        run_ready(loop, AW__CONTAINER(n, aw__runnable, node));
    }
    loop->ntodo = 0;
    return 0;
}

/* ---- running ---- */

static int loop_enter(aw_loop *loop)
{
    if (!loop) return -EINVAL;
    if (loop->closed) return AW_ECLOSED;
    if (aw__loop_tls) return AW_ELOOPRUNNING;
    if (loop->running) return AW_ELOOPRUNNING;
    aw__loop_tls = loop;
    loop->running = true;
    loop->thread = pthread_self();
    aw__ctx_init_thread(&loop->sched);
    aw__stack_install_overflow_handler();
    loop->now = clock_now(loop);
    aw__debug_enter(loop);
    return 0;
}

static void loop_leave(aw_loop *loop)
{
    loop->until = NULL;
    loop->running = false;
    loop->stopping = false;
    aw__loop_tls = NULL;
}

int aw_loop_run_forever(aw_loop *loop)
{
    int rc = loop_enter(loop);
    if (rc < 0) return rc;
    while (!loop->stopping) {
        rc = aw__loop_run_once(loop, false);
        if (rc < 0) break;
    }
    loop_leave(loop);
    return rc;
}

void aw_loop_stop(aw_loop *loop)
{
    if (loop && aw__check_thread(loop, "aw_loop_stop") == 0) loop->stopping = true;
}

int aw__loop_run_main(aw_loop *loop, aw_task *t)
{
    int rc = loop_enter(loop);
    if (rc < 0) return rc;
    loop->until = t;
    bool sigint_seen = false;
    while (t->tstate != AW__T_DONE) {
        if (AW__UNLIKELY(!sigint_seen && atomic_load_explicit(&loop->sigint, memory_order_relaxed))) {
            sigint_seen = true;
            aw_task_cancel(t, "KeyboardInterrupt");
        }
        rc = aw__loop_run_once(loop, true);
        if (rc < 0) break;
    }
    loop_leave(loop);
    return rc;
}

void aw__loop_wait_work(aw_loop *loop)
{
    if (atomic_load(&loop->pending_work) == 0 && !HAS_POSTS(loop)) return;
    if (loop_enter(loop) < 0) return;
    while (atomic_load(&loop->pending_work) > 0 || HAS_POSTS(loop)) aw__loop_run_once(loop, false);
    loop_leave(loop);
}

static void loop_free(aw_loop *loop)
{
    aw__debug_free(loop);
    while (loop->free_tasks) {
        aw_task *t = loop->free_tasks;
        loop->free_tasks = (aw_task *)t->arg;
        aw__free(t);
    }
    aw__free(loop);
}

void aw__loop_unref(aw_loop *loop)
{
    if (--loop->live_objs == 0 && loop->closed) loop_free(loop);
}

/* Run until t is done (used by run_until_complete, aw_run and close). */
int aw__loop_run_task(aw_loop *loop, aw_task *t, bool detect_deadlock)
{
    int rc = loop_enter(loop);
    if (rc < 0) return rc;
    loop->until = t;
    while (t->tstate != AW__T_DONE) {
        rc = aw__loop_run_once(loop, detect_deadlock);
        if (rc < 0) break;
    }
    loop_leave(loop);
    return rc;
}

int aw_loop_run_until_complete(aw_loop *loop, aw_coro *c, void **result)
{
    if (result) *result = NULL;
    if (!loop) { aw_coro_close(c); return -EINVAL; }
    aw_task *t = aw_loop_create_task(loop, c, NULL);
    if (!t) return -errno;
    int rc = aw__loop_run_task(loop, t, false);
    if (rc == 0) rc = aw_task_result(t, result);
    aw_task_release(t);
    return rc;
}

double aw_now(void)
{
    aw_loop *loop = aw__loop_tls;
    return loop ? aw__now(loop) : 0.0;
}

double aw_loop_time(const aw_loop *loop) { return loop ? aw__now((aw_loop *)loop) : 0.0; }

aw_loop *aw_running_loop(void)
{
    aw_loop *loop = aw__loop_tls;
    if (loop) loop->shared = true;
    return loop;
}

int aw_loop_set_clock(aw_loop *loop, int clock)
{
    if (!loop || (clock != AW_CLOCK_MONOTONIC && clock != AW_CLOCK_VIRTUAL)) return -EINVAL;
    if (clock == loop->clock) return 0;
    if (aw__timers_live(&loop->timers)) return AW_EINVALSTATE;
    if (clock == AW_CLOCK_VIRTUAL) loop->vnow_offset = aw__clock_real();
    loop->clock = clock;
    loop->now = clock_now(loop);
    return 0;
}

int aw_loop_set_debug(aw_loop *loop, bool on)
{
    if (!loop) return -EINVAL;
    if (!on && loop->debug) aw__debug_off(loop);
    loop->debug = on;
    return 0;
}

bool aw_loop_get_debug(const aw_loop *loop) { return loop && loop->debug; }

int aw_loop_set_stack_size(aw_loop *loop, size_t size)
{
    if (!loop || size < AW__STACK_MIN) return -EINVAL;
    /* While the pool has carved no stack, rebuild it for the new size, so the
     * loop's tasks keep sharing slabs; later, only new tasks get the size. */
    if (loop->stacks.n_slabs_stacks == 0) {
        aw__stack_pool old = loop->stacks;
        int rc = aw__stack_pool_init(&loop->stacks, size);
        if (rc < 0) { loop->stacks = old; return rc; }
        aw__stack_pool_destroy(&old);
    }
    loop->default_stack = size;
    return 0;
}

int aw_loop_stats_get(aw_loop *loop, aw_loop_stats *out)
{
    if (!loop || !out) return -EINVAL;
    *out = loop->stats;
    out->ready = loop->nready;
    out->timers = aw__timers_live(&loop->timers);
    out->tasks_live = loop->ntasks;
    out->fd_waiters = loop->fd_waiters;
    out->pending_work = atomic_load(&loop->pending_work);
    return 0;
}

/* ---- closing ---- */

static int drain_task(void *arg, void **result)
{
    (void)arg; (void)result;
    /* Let every cancelled task run to its end. */
    while (aw__loop()->ntasks > 1) {
        int rc = aw_sleep(0);
        if (rc < 0) return rc;
    }
    return 0;
}

int aw__loop_cancel_all(aw_loop *loop, bool report_pending)
{
    int nfailed = 0;
    if (loop->ntasks == 0) return 0;
    for (aw__node *n = loop->tasks.next; n != &loop->tasks; n = n->next) {
        aw_task *t = AW__CONTAINER(n, aw_task, all);
        if (report_pending)
            aw__loop_report(loop, "Task was destroyed but it is pending!", 0, t, NULL,
                            t->wait_file ? t->wait_file : t->file,
                            t->wait_file ? t->wait_line : t->line, NULL);
        aw_task_cancel(t, NULL);
    }
    /* A drainer task keeps the loop turning until every other task has ended. */
    aw_task *d = aw_loop_create_task(loop, aw_coro(drain_task, NULL), "aw-drain");
    if (!d) {
        /* Without memory for a drainer, step the loop by hand. */
        if (loop_enter(loop) == 0) {
            while (loop->ntasks > 0 && loop->nready > 0) aw__loop_run_once(loop, false);
            loop_leave(loop);
        }
        return -ENOMEM;
    }
    aw__loop_run_task(loop, d, false);
    aw_task_release(d);
    return nfailed;
}

int aw_loop_close(aw_loop *loop)
{
    if (!loop) return -EINVAL;
    if (loop->running) return AW_ELOOPRUNNING;
    if (loop->closed) return 0;
    aw__loop_cancel_all(loop, true);
    aw__loop_wait_work(loop);   /* pool jobs of this loop post their completions to it */
    aw__sys_loop_close(loop);
    /* Callbacks still scheduled are dropped, as asyncio's close() drops its ready queue. */
    aw__node *n;
    while ((n = aw__list_pop(&loop->ready))) {
        aw__runnable *r = AW__CONTAINER(n, aw__runnable, node);
        loop->nready--;
        if (r->kind == AW__RUN_HANDLE) {
            aw_handle *h = AW__CONTAINER(r, aw_handle, run);
            h->scheduled = false;
            handle_unref(h);
        } else if (r->kind == AW__RUN_DONE_CB) {
            aw__done_cb *d = AW__CONTAINER(r, aw__done_cb, run);
            aw__future_unref(d->fut);
            aw__free(d);
        }
    }
    aw__timer *t;
    while ((t = aw__timers_pop_any(loop))) {
        if (t->fire == handle_timer_fired) {
            aw_handle *h = t->owner;
            h->scheduled = false;
            handle_unref(h);
        }
    }
    aw__coros_report_unawaited(loop);
    aw__debug_loop_close(loop);     /* stops the debug thread: no post comes after */
    if (HAS_POSTS(loop)) drain_posts(loop);
    pthread_mutex_lock(&loop->post_mu);
    loop->closed = true;
    pthread_mutex_unlock(&loop->post_mu);
    aw__heap_free(&loop->timers);
    aw__poll_close(loop);
    aw__stack_pool_destroy(&loop->stacks);
    pthread_mutex_destroy(&loop->post_mu);
    /* Task handles the program still holds keep the structure alive. */
    if (loop->live_objs == 0) loop_free(loop);
    return 0;
}
