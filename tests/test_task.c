/* Tests of the task layer: coroutine objects, tasks, futures, await, sleep, cancellation, scopes. */
#include "test_util.h"
#include "internal.h"

#include <math.h>


/* ---- coroutine objects ---- */

static int body_mark(void *arg, void **result)
{
    mark((int)(intptr_t)arg);
    if (result) *result = arg;
    return 0;
}

static void coro_does_not_run(void **state)
{
    (void)state;
    ntrace = 0;
    aw_coro *c = aw_coro(body_mark, (void *)7);
    assert_non_null(c);
    assert_int_equal(ntrace, 0);
    char buf[128];
    aw_describe(c, buf, sizeof buf);
    assert_contains(buf, "<coroutine body_mark at ");
    assert_contains(buf, "test_task.c:");
    void *r = NULL;
    assert_int_equal(test_run(c, &r, NULL), 0);
    assert_int_equal(ntrace, 1);
    assert_ptr_equal(r, (void *)7);
}

static void coro_null_fn(void **state)
{
    (void)state;
    errno = 0;
    assert_null(aw__coro_new(NULL, NULL, "x", __FILE__, __LINE__));
    assert_int_equal(errno, EINVAL);
}

static int await_twice_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_coro *c = aw_coro(body_mark, (void *)1);
    void *r;
    assert_int_equal(aw_await(c, &r), 0);
    assert_int_equal(aw_await(c, &r), AW_EREUSED);
    assert_int_equal(aw_await_any(c, &r), AW_EREUSED);
    return 0;
}

static void coro_reuse(void **state)
{
    (void)state;
    ntrace = 0;
    assert_int_equal(test_run(aw_coro(await_twice_main, NULL), NULL, NULL), 0);
    assert_int_equal(ntrace, 1);
    assert_string_equal(aw_strerror(AW_EREUSED), "cannot reuse already awaited coroutine");
}

static void await_outside_task(void **state)
{
    (void)state;
    void *r;
    assert_int_equal(aw_await(aw_coro(body_mark, NULL), &r), AW_ENOTASK);
    assert_int_equal(aw_sleep(0), AW_ENOTASK);
    assert_int_equal(aw_sleep(1), AW_ENOTASK);
    assert_null(aw_current_task());
}

static int never_awaited_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_coro *c = aw_coro(body_mark, NULL);   /* dropped on purpose */
    (void)c;
    aw_coro *d = aw_coro(body_mark, NULL);
    assert_int_equal(aw_coro_close(d), 0);
    assert_int_equal(aw_coro_close(d), AW_EREUSED);
    return 0;
}

static void coro_never_awaited(void **state)
{
    (void)state;
    test_reports r = {0};
    assert_int_equal(test_run(aw_coro(never_awaited_main, NULL), NULL, &r), 0);
    assert_int_equal(r.count, 2);
    assert_contains(r.text, "coroutine 'body_mark' was never awaited");
}

/* ---- inline awaits do not switch ---- */

static int nested(void *arg, void **result)
{
    int depth = (int)(intptr_t)arg;
    if (depth == 0) { *result = (void *)42; return 0; }
    return aw_await(aw_coro(nested, (void *)(intptr_t)(depth - 1)), result);
}

static int inline_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_loop_stats before, after;
    aw_loop *loop = aw_running_loop();
    aw_loop_stats_get(loop, &before);
    void *r = NULL;
    assert_int_equal(aw_await(aw_coro(nested, (void *)100), &r), 0);
    assert_ptr_equal(r, (void *)42);
    assert_int_equal(aw_call(nested, (void *)3, &r), 0);
    aw_loop_stats_get(loop, &after);
    assert_int_equal(after.switches, before.switches);
    assert_int_equal(aw_sleep(0), 0);
    aw_loop_stats_get(loop, &after);
    assert_int_equal(after.switches, before.switches + 1);
    return 0;
}

static void inline_await_no_switch(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(inline_main, NULL), NULL, NULL), 0);
}

/* ---- tasks ---- */

static int child_mark(void *arg, void **result)
{
    int v = (int)(intptr_t)arg;
    mark(v);
    int rc = aw_sleep(0);
    if (rc < 0) return rc;
    mark(v + 100);
    *result = arg;
    return 0;
}

static int create_task_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task *a = aw_create_task(aw_coro(child_mark, (void *)1), "a");
    aw_task *b = aw_create_task(aw_coro(child_mark, (void *)2), NULL);
    assert_non_null(a);
    assert_non_null(b);
    mark(0);        /* the creator keeps running: children have not started */
    assert_string_equal(aw_task_name(a), "a");
    assert_true(strncmp(aw_task_name(b), "Task-", 5) == 0);
    assert_false(aw_task_done(a));
    void *r;
    assert_int_equal(aw_task_result(a, &r), AW_EINVALSTATE);
    assert_int_equal(aw_await(a, &r), 0);
    assert_ptr_equal(r, (void *)1);
    assert_int_equal(aw_await(a, &r), 0);       /* tasks can be awaited again */
    assert_int_equal(aw_join(b, &r), 0);
    assert_ptr_equal(r, (void *)2);
    assert_true(aw_task_done(a));
    assert_int_equal(aw_task_set_name(a, "a-renamed-with-a-rather-long-name"), 0);
    assert_string_equal(aw_task_name(a), "a-renamed-with-a-rather-long-name");
    aw_task_release(a);
    return 0;
}

static void tasks_schedule_fifo(void **state)
{
    (void)state;
    ntrace = 0;
    assert_int_equal(test_run(aw_coro(create_task_main, NULL), NULL, NULL), 0);
    int want[] = {0, 1, 2, 101, 102};
    assert_int_equal(ntrace, 5);
    for (int i = 0; i < 5; i++) assert_int_equal(trace[i], want[i]);
}

static void create_task_outside_loop(void **state)
{
    (void)state;
    errno = 0;
    assert_null(aw_create_task(aw_coro(body_mark, NULL), "x"));
    assert_int_equal(errno, ESRCH);
}

static int failing(void *arg, void **result)
{
    (void)arg; (void)result;
    return aw_raise(-EINVAL, "bad value %d", 17);
}

static int unretrieved_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task *t = aw_create_task(aw_coro(failing, NULL), "worker");
    assert_int_equal(aw_sleep(0), 0);
    assert_int_equal(aw_sleep(0), 0);
    assert_true(aw_task_done(t));
    assert_string_equal(aw_task_error_message(t), "bad value 17");
    aw_task_release(t);                         /* never retrieved: reported */
    aw_task *u = aw_create_task(aw_coro(failing, NULL), "retrieved");
    assert_int_equal(aw_sleep(0), 0);
    assert_int_equal(aw_task_exception(u), -EINVAL);
    aw_task_release(u);                         /* retrieved: silent */
    return 0;
}

static void task_exception_never_retrieved(void **state)
{
    (void)state;
    test_reports r = {0};
    assert_int_equal(test_run(aw_coro(unretrieved_main, NULL), NULL, &r), 0);
    assert_int_equal(r.count, 1);
    assert_contains(r.text, "Task exception was never retrieved|worker|ValueError|bad value 17|");
    assert_contains(r.text, "test_task.c:");
}

static int all_tasks_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task *a = aw_spawn(child_mark, (void *)1);
    aw_task *list[8];
    assert_int_equal(aw_all_tasks(list, 8), 2);
    assert_ptr_equal(aw_current_task(), list[0]);
    assert_string_equal(aw_task_name(aw_current_task()), "main");
    assert_ptr_equal(list[1], a);
    assert_int_equal(aw_join(a, NULL), 0);
    assert_int_equal(aw_all_tasks(NULL, 0), 1);
    return 0;
}

static void all_and_current_tasks(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(all_tasks_main, NULL), NULL, NULL), 0);
}

/* ---- the run stops after the iteration in which main completes ---- */

static int spins;
static int spinner(void *arg, void **result)
{
    (void)arg; (void)result;
    for (;;) {
        int rc = aw_sleep(0);
        if (rc < 0) return rc;
        spins++;
    }
}

static int spin_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task_release(aw_create_task(aw_coro(spinner, NULL), "spinner"));
    int rc = aw_sleep(0);
    return rc < 0 ? rc : aw_sleep(0);
}

static void run_stops_when_main_completes(void **state)
{
    (void)state;
    spins = 0;
    assert_int_equal(test_run(aw_coro(spin_main, NULL), NULL, NULL), 0);
    /* The run ends with the iteration in which main returns: the spinner
     * counts once, then shutdown cancels it — whatever tasks hand the CPU to
     * each other directly. (asyncio stops one iteration later, through a done
     * callback, and counts 2.) */
    assert_int_equal(spins, 1);
}

/* ---- sleep and the virtual clock ---- */

static int sleeper(void *arg, void **result)
{
    double d = *(double *)arg;
    int rc = aw_sleep(d);
    if (rc < 0) return rc;
    mark((int)(d * 10));
    *result = NULL;
    return 0;
}

static int sleep_main(void *arg, void **result)
{
    (void)arg; (void)result;
    static double d[] = {3.0, 1.0, 2.0, 1.0};
    aw_task *t[4];
    double start = aw_now();
    for (int i = 0; i < 4; i++) t[i] = aw_spawn(sleeper, &d[i]);
    for (int i = 0; i < 4; i++) assert_int_equal(aw_join(t[i], NULL), 0);
    double took = aw_now() - start;
    assert_true(took >= 3.0 && took < 3.001);
    assert_int_equal(aw_sleep(NAN), -EINVAL);
    assert_int_equal(aw_sleep(-1), -EINVAL);
    assert_int_equal(aw_sleep(3600 * 24), 0);   /* a day, in microseconds of real time */
    return 0;
}

static void sleep_order_virtual_clock(void **state)
{
    (void)state;
    ntrace = 0;
    assert_int_equal(test_run(aw_coro(sleep_main, NULL), NULL, NULL), 0);
    int want[] = {10, 10, 20, 30};
    assert_int_equal(ntrace, 4);
    for (int i = 0; i < 4; i++) assert_int_equal(trace[i], want[i]);
}

/* ---- futures ---- */

static int future_waiter(void *arg, void **result)
{
    return aw_await((aw_future *)arg, result);
}

static void on_done(aw_future *f, void *arg)
{
    (void)f;
    mark((int)(intptr_t)arg);
}

static int future_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_future *f = aw_future_new();
    assert_non_null(f);
    assert_int_equal(aw_future_add_done_callback(f, on_done, (void *)5), 0);
    aw_task *w = aw_spawn(future_waiter, f);
    assert_int_equal(aw_sleep(0), 0);
    assert_false(aw_future_done(f));
    void *r;
    assert_int_equal(aw_future_result(f, &r), AW_EINVALSTATE);
    assert_int_equal(aw_future_set_result(f, (void *)9), 0);
    assert_int_equal(aw_future_set_result(f, (void *)9), AW_EINVALSTATE);
    assert_int_equal(aw_join(w, &r), 0);
    assert_ptr_equal(r, (void *)9);
    assert_int_equal(ntrace, 1);
    assert_int_equal(trace[0], 5);
    aw_future_release(f);

    aw_future *g = aw_future_new();
    assert_int_equal(aw_future_set_error(g, 5), -EINVAL);
    assert_int_equal(aw_future_set_error(g, -EPIPE), 0);
    assert_int_equal(aw_await(g, &r), -EPIPE);
    aw_future_release(g);

    aw_future *h = aw_future_new();
    w = aw_spawn(future_waiter, h);
    assert_int_equal(aw_sleep(0), 0);
    assert_int_equal(aw_task_cancel(w, "stop"), 1);
    assert_int_equal(aw_join(w, NULL), AW_ECANCELLED);
    assert_true(aw_future_cancelled(h));        /* the cancelled awaiter cancelled the future */
    aw_future_release(h);

    int x = 42;
    assert_int_equal(aw_await_any(&x, &r), AW_ENOTAWAITABLE);
    return 0;
}

static void futures(void **state)
{
    (void)state;
    ntrace = 0;
    assert_int_equal(test_run(aw_coro(future_main, NULL), NULL, NULL), 0);
}

/* ---- cancellation ---- */

static int cleanup_seen;

static int cancellable(void *arg, void **result)
{
    (void)arg; (void)result;
    int rc = aw_sleep(100);
    assert_int_equal(rc, AW_ECANCELLED);
    /* level-triggered: every later suspension point fails at once too */
    assert_int_equal(aw_sleep(0), AW_ECANCELLED);
    assert_int_equal(aw_sleep(1), AW_ECANCELLED);
    /* a shielded scope lets cleanup await */
    aw_scope s;
    aw_scope_begin_flags(&s, AW_SCOPE_SHIELD);
    assert_int_equal(aw_sleep(1), 0);
    assert_int_equal(aw_scope_end(&s), 0);
    cleanup_seen++;
    return rc;
}

static int never_runs(void *arg, void **result)
{
    (void)arg; (void)result;
    mark(666);
    return 0;
}

static int cancel_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task *t = aw_create_task(aw_coro(cancellable, NULL), "c");
    assert_int_equal(aw_sleep(1), 0);
    assert_int_equal(aw_task_cancel(t, "enough"), 1);
    assert_int_equal(aw_task_cancelling(t), 1);
    assert_string_equal(aw_task_cancel_message(t), "enough");
    assert_int_equal(aw_await(t, NULL), AW_ECANCELLED);
    assert_true(aw_task_cancelled(t));
    assert_int_equal(aw_task_cancel(t, NULL), 0);   /* already done */
    aw_task_release(t);

    aw_task *n = aw_spawn(never_runs, NULL);
    aw_task_cancel(n, NULL);
    assert_int_equal(aw_join(n, NULL), AW_ECANCELLED);

    /* uncancel */
    aw_task *me = aw_current_task();
    aw_task_cancel(me, NULL);
    assert_int_equal(aw_sleep(0), AW_ECANCELLED);
    assert_int_equal(aw_task_uncancel(me), 0);
    assert_int_equal(aw_sleep(0), 0);
    return 0;
}

static void cancellation_level_triggered(void **state)
{
    (void)state;
    ntrace = 0;
    cleanup_seen = 0;
    assert_int_equal(test_run(aw_coro(cancel_main, NULL), NULL, NULL), 0);
    assert_int_equal(cleanup_seen, 1);
    assert_int_equal(ntrace, 0);
}

static int scope_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_scope s;
    double start = aw_now();
    aw_scope_begin(&s);
    aw_scope_set_deadline(&s, aw_now() + 5);
    assert_int_equal(aw_sleep(10), AW_ECANCELLED);
    assert_true(aw_scope_expired(&s));
    assert_int_equal(aw_scope_end(&s), AW_ETIMEDOUT);
    assert_true(aw_now() - start >= 5 && aw_now() - start < 5.001);
    assert_int_equal(aw_sleep(0), 0);       /* outside the scope: not cancelled */

    /* a deadline that is not reached */
    aw_scope_begin(&s);
    aw_scope_set_deadline(&s, aw_now() + 5);
    assert_int_equal(aw_sleep(1), 0);
    assert_int_equal(aw_scope_end(&s), 0);

    /* nested: the inner, earlier deadline is the one that reports */
    aw_scope outer, inner;
    aw_scope_begin(&outer);
    aw_scope_set_deadline(&outer, aw_now() + 10);
    aw_scope_begin(&inner);
    aw_scope_set_deadline(&inner, aw_now() + 2);
    assert_int_equal(aw_sleep(100), AW_ECANCELLED);
    assert_int_equal(aw_scope_end(&inner), AW_ETIMEDOUT);
    assert_int_equal(aw_sleep(100), AW_ECANCELLED);
    assert_int_equal(aw_scope_end(&outer), AW_ETIMEDOUT);

    /* explicit cancel */
    aw_scope_begin(&s);
    aw_scope_cancel(&s);
    assert_int_equal(aw_sleep(1), AW_ECANCELLED);
    assert_int_equal(aw_scope_end(&s), 0);

    /* ending a scope that is not the innermost */
    aw_scope_begin(&outer);
    aw_scope_begin(&inner);
    assert_int_equal(aw_scope_end(&outer), AW_EINVALSTATE);
    assert_int_equal(aw_scope_end(&inner), 0);
    assert_int_equal(aw_scope_end(&outer), 0);
    return 0;
}

static void scopes(void **state)
{
    (void)state;
    test_reports r = {0};
    assert_int_equal(test_run(aw_coro(scope_main, NULL), NULL, &r), 0);
    assert_int_equal(r.count, 1);
    assert_contains(r.text, "is not the innermost");
}

static int leaky_scope(void *arg, void **result)
{
    (void)arg; (void)result;
    static aw_scope s;
    aw_scope_begin(&s);
    aw_scope_set_deadline(&s, aw_now() + 1000);
    return 0;       /* returns without aw_scope_end */
}

static void unbalanced_scope_reported(void **state)
{
    (void)state;
    test_reports r = {0};
    assert_int_equal(test_run(aw_coro(leaky_scope, NULL), NULL, &r), 0);
    assert_int_equal(r.count, 1);
    assert_contains(r.text, "was not ended before the task returned");
}

/* ---- aw_run ---- */

static int nested_run_main(void *arg, void **result)
{
    (void)arg; (void)result;
    return aw_run(aw_coro(body_mark, NULL), NULL);
}

static void run_nested(void **state)
{
    (void)state;
    test_reports r = {0};
    assert_int_equal(test_run(aw_coro(nested_run_main, NULL), NULL, &r), AW_ELOOPRUNNING);
    assert_string_equal(aw_strerror(AW_ELOOPRUNNING), "aw_run() cannot be called from a running event loop");
}

static int leftover_cleanup;
static int leftover(void *arg, void **result)
{
    (void)arg; (void)result;
    int rc = aw_sleep(1000);
    if (rc == AW_ECANCELLED) leftover_cleanup++;
    return rc;
}

static int leftover_failing(void *arg, void **result)
{
    (void)arg; (void)result;
    int rc = aw_sleep(1000);
    (void)rc;
    return aw_raise(-EIO, "cleanup failed");
}

static int leftover_main(void *arg, void **result)
{
    (void)arg;
    aw_task_release(aw_create_task(aw_coro(leftover, NULL), "fire-and-forget"));
    aw_task_release(aw_create_task(aw_coro(leftover, NULL), NULL));
    aw_task_release(aw_create_task(aw_coro(leftover_failing, NULL), "bad-cleanup"));
    assert_int_equal(aw_sleep(0), 0);
    *result = (void *)3;
    return 0;
}

static void run_cancels_leftovers(void **state)
{
    (void)state;
    test_reports r = {0};
    leftover_cleanup = 0;
    void *res = NULL;
    assert_int_equal(test_run(aw_coro(leftover_main, NULL), &res, &r), 0);
    assert_ptr_equal(res, (void *)3);
    assert_int_equal(leftover_cleanup, 2);
    assert_int_equal(r.count, 1);
    assert_contains(r.text, "unhandled exception during aw_run() shutdown|bad-cleanup|OSError|cleanup failed");
}

static int deadlock_waiter(void *arg, void **result)
{
    return aw_await((aw_future *)arg, result);
}

static int deadlock_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_future *f = aw_future_new();
    aw_task *t = aw_create_task(aw_coro(deadlock_waiter, f), "stuck");
    int rc = aw_await(t, NULL);
    aw_task_release(t);
    aw_future_release(f);
    return rc;
}

static void run_detects_deadlock(void **state)
{
    (void)state;
    test_reports r = {0};
    assert_int_equal(test_run(aw_coro(deadlock_main, NULL), NULL, &r), AW_EDEADLOCK);
    assert_contains(r.text, "all tasks are asleep - deadlock!");
    assert_contains(r.text, "task 'main' waits on task");
    assert_contains(r.text, "task 'stuck' waits on future");
}

/* ---- the loop by hand ---- */

static void cb_mark(void *arg) { mark((int)(intptr_t)arg); }

static void stop_cb(void *arg) { aw_loop_stop(arg); }

static void loop_callbacks(void **state)
{
    (void)state;
    ntrace = 0;
    aw_loop *loop = aw_loop_new();
    assert_non_null(loop);
    assert_int_equal(aw_loop_set_clock(loop, AW_CLOCK_VIRTUAL), 0);
    aw_handle *h = NULL;
    assert_int_equal(aw_call_later(loop, 2, cb_mark, (void *)2, NULL), 0);
    assert_int_equal(aw_call_later(loop, 1, cb_mark, (void *)11, NULL), 0);
    assert_int_equal(aw_call_later(loop, 1, cb_mark, (void *)12, NULL), 0);   /* equal deadlines: start order */
    assert_int_equal(aw_call_later(loop, 1.5, cb_mark, (void *)99, &h), 0);
    assert_int_equal(aw_call_soon(loop, cb_mark, (void *)0, NULL), 0);
    assert_int_equal(aw_call_later(loop, 3, stop_cb, loop, NULL), 0);
    assert_int_equal(aw_call_later(loop, NAN, cb_mark, NULL, NULL), -EINVAL);
    assert_int_equal(aw_call_soon(loop, NULL, NULL, NULL), -EINVAL);
    aw_handle_cancel(h);
    assert_int_equal(aw_loop_run_forever(loop), 0);
    int want[] = {0, 11, 12, 2};
    assert_int_equal(ntrace, 4);
    for (int i = 0; i < 4; i++) assert_int_equal(trace[i], want[i]);
    assert_int_equal(aw_loop_close(loop), 0);
}

static void loop_close_reports_pending(void **state)
{
    (void)state;
    leftover_cleanup = 0;
    test_reports r = {0};
    aw_loop *loop = aw_loop_new();
    aw_loop_set_exception_handler(loop, test_report_handler, &r);
    aw_loop_set_clock(loop, AW_CLOCK_VIRTUAL);
    aw_task *t = aw_loop_create_task(loop, aw_coro(leftover, NULL), "pending");
    assert_non_null(t);
    aw_call_later(loop, 1, stop_cb, loop, NULL);
    aw_loop_run_forever(loop);
    assert_int_equal(aw_loop_close(loop), 0);
    assert_int_equal(leftover_cleanup, 1);
    assert_contains(r.text, "Task was destroyed but it is pending!|pending|");
    assert_true(aw_task_done(t));
    assert_true(aw_task_cancelled(t));
    aw_task_release(t);     /* the last reference frees the closed loop's remains */
}

static void run_until_complete(void **state)
{
    (void)state;
    aw_loop *loop = aw_loop_new();
    void *r = NULL;
    assert_int_equal(aw_loop_run_until_complete(loop, aw_coro(body_mark, (void *)5), &r), 0);
    assert_ptr_equal(r, (void *)5);
    assert_int_equal(aw_loop_run_until_complete(loop, aw_coro(failing, NULL), &r), -EINVAL);
    assert_int_equal(aw_loop_close(loop), 0);
}

static void errors_named(void **state)
{
    (void)state;
    assert_string_equal(aw_errname(AW_ECANCELLED), "CancelledError");
    assert_string_equal(aw_errname(AW_ETIMEDOUT), "TimeoutError");
    assert_string_equal(aw_errname(-ECONNRESET), "ConnectionResetError");
    assert_string_equal(aw_strerror(AW_ENOTASK), "await outside of a task");
    assert_string_equal(aw_strerror(-ENOENT), "No such file or directory");
}

static int stack_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task *t = aw_spawn(body_mark, NULL);
    assert_int_equal(aw_task_set_stack_size(t, 1024), -EINVAL);
    assert_int_equal(aw_task_set_stack_size(t, 64 * 1024), 0);
    assert_int_equal(aw_join(t, NULL), 0);
    return 0;
}

static void stack_size_checked(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(stack_main, NULL), NULL, NULL), 0);
    aw_run_opts o = { .stack_size = 100, .no_sigint = true };
    assert_int_equal(aw_run_ex(aw_coro(body_mark, NULL), NULL, &o), -EINVAL);
}

/* ---- many tasks ---- */

static int spawn_many_main(void *arg, void **result)
{
    (void)arg; (void)result;
    enum { N = 20000 };
    static aw_task *t[N];
    static double d[N];
    for (int i = 0; i < N; i++) {
        d[i] = (i % 100) * 0.001;
        t[i] = aw_spawn(sleeper, &d[i]);
        assert_non_null(t[i]);
    }
    for (int i = 0; i < N; i++) assert_int_equal(aw_join(t[i], NULL), 0);
    return 0;
}

static void many_tasks(void **state)
{
    (void)state;
    ntrace = 0;
    assert_int_equal(test_run(aw_coro(spawn_many_main, NULL), NULL, NULL), 0);
}

/* ---- out of memory ---- */

static int oom_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw__test_fail_alloc(1, false);
    aw_future *f = aw_future_new();
    assert_null(f);
    assert_int_equal(errno, ENOMEM);
    aw_task *t = aw_spawn(body_mark, NULL);
    assert_non_null(t);
    aw__test_fail_alloc(1, false);
    int rc = aw_future_add_done_callback(aw_task_future(t), on_done, NULL);
    assert_int_equal(rc, -ENOMEM);
    assert_int_equal(aw_join(t, NULL), 0);
    return 0;
}

static void out_of_memory(void **state)
{
    (void)state;
    ntrace = 0;
    assert_int_equal(test_run(aw_coro(oom_main, NULL), NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(coro_does_not_run),
        cmocka_unit_test(coro_null_fn),
        cmocka_unit_test(coro_reuse),
        cmocka_unit_test(await_outside_task),
        cmocka_unit_test(coro_never_awaited),
        cmocka_unit_test(inline_await_no_switch),
        cmocka_unit_test(tasks_schedule_fifo),
        cmocka_unit_test(create_task_outside_loop),
        cmocka_unit_test(task_exception_never_retrieved),
        cmocka_unit_test(all_and_current_tasks),
        cmocka_unit_test(run_stops_when_main_completes),
        cmocka_unit_test(sleep_order_virtual_clock),
        cmocka_unit_test(futures),
        cmocka_unit_test(cancellation_level_triggered),
        cmocka_unit_test(scopes),
        cmocka_unit_test(unbalanced_scope_reported),
        cmocka_unit_test(run_nested),
        cmocka_unit_test(run_cancels_leftovers),
        cmocka_unit_test(run_detects_deadlock),
        cmocka_unit_test(loop_callbacks),
        cmocka_unit_test(loop_close_reports_pending),
        cmocka_unit_test(run_until_complete),
        cmocka_unit_test(errors_named),
        cmocka_unit_test(stack_size_checked),
        cmocka_unit_test(many_tasks),
        cmocka_unit_test(out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
