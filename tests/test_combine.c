/* Tests of the combinators: gather, wait, wait_for, as_completed, shield and the timeout scopes. */
#include "test_util.h"
#include "internal.h"

#include <errno.h>
#include <math.h>

/* Elapsed virtual time within [lo, hi), with room for the rounding of a large clock base. */
/* assert_elapsed, I, V, mark, trace_reset and assert_trace: tests/test_util.h */

/* A child: sleeps arg/10 seconds, then returns arg; arg % 10 == 9 fails with
 * -EIO. Records v on success, -v when it ends with an error. */
static int child(void *arg, void **result)
{
    int v = V(arg);
    int rc = aw_sleep(v / 10.0);
    if (rc == 0 && v % 10 == 9) rc = aw_raise(-EIO, "child %d failed", v);
    mark(rc == 0 ? v : -v);
    if (rc < 0) return rc;
    *result = arg;
    return 0;
}


/* ---- gather ---- */

static int gather_order_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    aw_task *t = aw_create_task(aw_coro(child, I(10)), "t");
    aw_future *f = aw_future_new();
    aw_future_set_result(f, I(77));
    void *aws[] = { aw_coro(child, I(30)), t, f, aw_coro(child, I(20)) };
    void *res[4];
    int errs[4];
    double t0 = aw_now();
    assert_int_equal(aw_gather(4, aws, res, errs, 0), 0);
    assert_elapsed(t0, 3, 3.1);
    assert_int_equal(V(res[0]), 30);
    assert_int_equal(V(res[1]), 10);
    assert_int_equal(V(res[2]), 77);
    assert_int_equal(V(res[3]), 20);
    for (int i = 0; i < 4; i++) assert_int_equal(errs[i], 0);
    assert_trace(10, 20, 30);
    aw_task_release(t);
    aw_future_release(f);
    /* results and errors may be NULL */
    void *more[] = { aw_coro(child, I(1)) };
    assert_int_equal(aw_gather(1, more, NULL, NULL, 0), 0);
    return 0;
}

static void gather_order(void **state)
{
    (void)state;
    test_reports r = {0};
    assert_int_equal(test_run(aw_coro(gather_order_main, NULL), NULL, &r), 0);
}

static int gather_empty_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_loop_stats a, b;
    aw_loop_stats_get(aw_running_loop(), &a);
    assert_int_equal(aw_gather(0, NULL, NULL, NULL, 0), 0);
    assert_int_equal(aw_gather(0, NULL, NULL, NULL, AW_RETURN_EXCEPTIONS), 0);
    aw_loop_stats_get(aw_running_loop(), &b);
    assert_int_equal(a.switches, b.switches);   /* returned at once */
    return 0;
}

static void gather_empty(void **state)
{
    (void)state;
    assert_int_equal(aw_gather(0, NULL, NULL, NULL, 0), AW_ENOTASK);
    assert_int_equal(test_run(aw_coro(gather_empty_main, NULL), NULL, NULL), 0);
}

/* The first error returns at once; the others keep running and their late
 * results never reach the caller's arrays. */
static void *res_late[3];
static int errs_late[3];

static int gather_first_error_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    void *aws[] = { aw_coro(child, I(10)), aw_coro(child, I(29)), aw_coro(child, I(50)) };
    double t0 = aw_now();
    assert_int_equal(aw_gather(3, aws, res_late, errs_late, 0), -EIO);
    assert_elapsed(t0, 2.9, 3);
    assert_int_equal(V(res_late[0]), 10);
    assert_int_equal(errs_late[0], 0);
    assert_int_equal(errs_late[1], -EIO);
    assert_null(res_late[2]);
    assert_int_equal(errs_late[2], AW_EINVALSTATE);   /* still running */
    assert_trace(10, -29);
    aw_sleep(10);                                    /* the third finishes meanwhile */
    assert_trace(10, -29, 50);
    assert_null(res_late[2]);
    assert_int_equal(errs_late[2], AW_EINVALSTATE);
    return 0;
}

static void gather_first_error(void **state)
{
    (void)state;
    test_reports r = {0};
    assert_int_equal(test_run(aw_coro(gather_first_error_main, NULL), NULL, &r), 0);
    assert_int_equal(r.count, 0);        /* errors seen by gather are not "never retrieved" */
}

/* A late failure after the early return is marked retrieved, as asyncio does. */
static int gather_two_errors_main(void *arg, void **result)
{
    (void)arg; (void)result;
    void *aws[] = { aw_coro(child, I(19)), aw_coro(child, I(39)) };
    assert_int_equal(aw_gather(2, aws, NULL, NULL, 0), -EIO);
    return aw_sleep(5);
}

static void gather_late_error_retrieved(void **state)
{
    (void)state;
    test_reports r = {0};
    assert_int_equal(test_run(aw_coro(gather_two_errors_main, NULL), NULL, &r), 0);
    assert_int_equal(r.count, 0);
}

static int gather_return_exc_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    aw_task *c = aw_create_task(aw_coro(child, I(40)), NULL);
    aw_task_cancel(c, NULL);
    void *aws[] = { aw_coro(child, I(39)), aw_coro(child, I(10)), c, aw_coro(child, I(19)) };
    void *res[4];
    int errs[4];
    assert_int_equal(aw_gather(4, aws, res, errs, AW_RETURN_EXCEPTIONS), 0);
    assert_int_equal(errs[0], -EIO);
    assert_int_equal(errs[1], 0);
    assert_int_equal(V(res[1]), 10);
    assert_int_equal(errs[2], AW_ECANCELLED);
    assert_int_equal(errs[3], -EIO);
    assert_trace(10, -19, -39);
    aw_task_release(c);
    /* without errors[] it cannot report them */
    void *bad[] = { aw_coro(child, I(1)) };
    assert_int_equal(aw_gather(1, bad, NULL, NULL, AW_RETURN_EXCEPTIONS), -EINVAL);
    return 0;
}

static void gather_return_exceptions(void **state)
{
    (void)state;
    test_reports r = {0};
    assert_int_equal(test_run(aw_coro(gather_return_exc_main, NULL), NULL, &r), 0);
    assert_int_equal(r.count, 0);
}

/* Cancelling the task in gather cancels the children; gather waits for the
 * cancelled children only as long as asyncio does (the first one ends it). */
static int gathering(void *arg, void **result)
{
    (void)result;
    aw_future *f = arg;
    void *aws[] = { aw_coro(child, I(100)), aw_coro(child, I(200)), f };
    int errs[3];
    int rc = aw_gather(3, aws, NULL, errs, AW_RETURN_EXCEPTIONS);
    mark(rc == AW_ECANCELLED ? 1000 : rc);
    assert_int_equal(errs[0], AW_ECANCELLED);
    assert_int_equal(errs[1], AW_ECANCELLED);
    assert_int_equal(errs[2], AW_ECANCELLED);
    return rc;
}

static int gather_cancel_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    aw_future *f = aw_future_new();
    aw_task *g = aw_create_task(aw_coro(gathering, f), "gathering");
    aw_sleep(1);
    aw_task_cancel(g, NULL);
    assert_int_equal(aw_join(g, NULL), AW_ECANCELLED);
    assert_trace(-100, -200, 1000);             /* children saw the cancel before gather returned */
    assert_true(aw_future_cancelled(f));
    aw_future_release(f);
    /* already cancelled when it starts: the children never run */
    trace_reset();
    aw_task_cancel(aw_current_task(), NULL);
    void *aws[] = { aw_coro(child, I(1)), aw_coro(child, I(2)) };
    assert_int_equal(aw_gather(2, aws, NULL, NULL, 0), AW_ECANCELLED);
    aw_task_uncancel(aw_current_task());
    aw_sleep(1);
    assert_int_equal(ntrace, 0);
    return 0;
}

static void gather_cancel(void **state)
{
    (void)state;
    test_reports r = {0};
    assert_int_equal(test_run(aw_coro(gather_cancel_main, NULL), NULL, &r), 0);
    assert_int_equal(r.count, 0);
}

static int gather_bad_main(void *arg, void **result)
{
    (void)arg; (void)result;
    int not_awaitable = 0;
    assert_int_equal(aw_gather(2, NULL, NULL, NULL, 0), -EINVAL);
    void *a1[] = { aw_coro(child, I(1)), NULL };
    assert_int_equal(aw_gather(2, a1, NULL, NULL, 0), -EINVAL);
    void *a2[] = { aw_coro(child, I(1)), &not_awaitable };
    assert_int_equal(aw_gather(2, a2, NULL, NULL, 0), AW_ENOTAWAITABLE);
    aw_coro *c = aw_coro(child, I(1));
    void *a3[] = { c, c };
    assert_int_equal(aw_gather(2, a3, NULL, NULL, 0), AW_EREUSED);
    void *a4[] = { aw_current_task() };
    assert_int_equal(aw_gather(1, a4, NULL, NULL, 0), AW_EINVALSTATE);
    /* the coroutines were consumed (their bodies never ran) */
    aw_sleep(1);
    assert_int_equal(ntrace, 0);
    /* out of memory for the state */
    void *a5[] = { aw_coro(child, I(1)) };
    aw__test_fail_alloc(1, false);
    assert_int_equal(aw_gather(1, a5, NULL, NULL, 0), -ENOMEM);
    /* a setup that fails half-way cancels only the tasks gather made, not yours */
    aw_task *mine = aw_create_task(aw_coro(child, I(5)), NULL);
    aw_coro *twice = aw_coro(child, I(2));
    void *a6[] = { mine, twice, twice };
    assert_int_equal(aw_gather(3, a6, NULL, NULL, 0), AW_EREUSED);
    assert_int_equal(aw_join(mine, NULL), 0);
    aw_sleep(1);
    assert_trace(5);
    return 0;
}

static void gather_bad_input(void **state)
{
    (void)state;
    trace_reset();
    test_reports r = {0};
    assert_int_equal(test_run(aw_coro(gather_bad_main, NULL), NULL, &r), 0);
    assert_int_equal(r.count, 0);
}

/* ---- wait ---- */

static int wait_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task *t[3] = {
        aw_create_task(aw_coro(child, I(30)), NULL),
        aw_create_task(aw_coro(child, I(10)), NULL),
        aw_create_task(aw_coro(child, I(29)), NULL),
    };
    void *done[3], *pending[3];
    double t0 = aw_now();
    assert_int_equal(aw_wait(3, (void **)t, AW_FOREVER, AW_FIRST_COMPLETED, done, pending), 1);
    assert_ptr_equal(done[0], t[1]);
    assert_ptr_equal(pending[0], t[0]);
    assert_ptr_equal(pending[1], t[2]);
    assert_elapsed(t0, 1, 1.1);
    assert_int_equal(aw_wait(3, (void **)t, AW_FOREVER, AW_FIRST_EXCEPTION, done, pending), 2);
    assert_elapsed(t0, 2.9, 3);
    assert_ptr_equal(pending[0], t[0]);
    /* a timeout is not an error: what is done and what is not */
    assert_int_equal(aw_wait(3, (void **)t, 0.05, AW_ALL_COMPLETED, done, pending), 2);
    assert_elapsed(t0, 2.95, 3);
    assert_int_equal(aw_wait(3, (void **)t, AW_FOREVER, AW_ALL_COMPLETED, NULL, NULL), 3);
    assert_elapsed(t0, 3, 1e9);
    /* already satisfied: at once */
    assert_int_equal(aw_wait(3, (void **)t, 0, AW_FIRST_COMPLETED, done, NULL), 3);
    /* errors were not retrieved by wait */
    assert_int_equal(aw_task_exception(t[2]), -EIO);
    for (int i = 0; i < 3; i++) aw_task_release(t[i]);
    return 0;
}

static void wait_modes(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(wait_main, NULL), NULL, NULL), 0);
}

static int waiting(void *arg, void **result)
{
    (void)result;
    void *aws[] = { arg };
    return aw_wait(1, aws, 100, AW_ALL_COMPLETED, NULL, NULL);
}

static int wait_bad_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task *t = aw_create_task(aw_coro(child, I(50)), NULL);
    void *aws[] = { t };
    assert_int_equal(aw_wait(0, aws, 1, AW_ALL_COMPLETED, NULL, NULL), -EINVAL);
    assert_int_equal(aw_wait(1, NULL, 1, AW_ALL_COMPLETED, NULL, NULL), -EINVAL);
    assert_int_equal(aw_wait(1, aws, 1, 42, NULL, NULL), -EINVAL);
    assert_int_equal(aw_wait(1, aws, NAN, AW_ALL_COMPLETED, NULL, NULL), -EINVAL);
    void *co[] = { aw_coro(child, I(1)) };      /* coroutines are refused (and closed) */
    assert_int_equal(aw_wait(1, co, 1, AW_ALL_COMPLETED, NULL, NULL), AW_ENOTAWAITABLE);
    /* cancelling wait leaves what it waits on alone */
    aw_task *w = aw_create_task(aw_coro(waiting, t), NULL);
    aw_sleep(1);
    aw_task_cancel(w, NULL);
    assert_int_equal(aw_join(w, NULL), AW_ECANCELLED);
    assert_false(aw_task_done(t));
    assert_int_equal(aw_join(t, NULL), 0);
    return 0;
}

static void wait_bad_input(void **state)
{
    (void)state;
    test_reports r = {0};
    assert_int_equal(test_run(aw_coro(wait_bad_main, NULL), NULL, &r), 0);
    assert_int_equal(r.count, 1);
    assert_contains(r.text, "coroutine 'child' was never awaited");
}

/* ---- wait_for ---- */

static int wait_for_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    aw_loop_stats a, b;
    aw_loop_stats_get(aw_running_loop(), &a);
    void *r = NULL;
    assert_int_equal(aw_wait_for(aw_coro(child, I(10)), 2, &r), 0);
    assert_int_equal(V(r), 10);
    double t0 = aw_now();
    assert_int_equal(aw_wait_for(aw_coro(child, I(50)), 2, &r), AW_ETIMEDOUT);
    assert_elapsed(t0, 2, 2.1);
    assert_null(r);
    assert_trace(10, -50);                      /* the inner coroutine saw the cancel */
    aw_loop_stats_get(aw_running_loop(), &b);
    assert_int_equal(a.tasks_created, b.tasks_created);   /* inline: no task */
    /* seconds <= 0: a coroutine is not even started */
    assert_int_equal(aw_wait_for(aw_coro(child, I(1)), 0, &r), AW_ETIMEDOUT);
    assert_int_equal(aw_wait_for(aw_coro(child, I(1)), -1, &r), AW_ETIMEDOUT);
    assert_trace(10, -50);
    /* a task: cancelled and waited for on timeout */
    aw_task *t = aw_create_task(aw_coro(child, I(50)), NULL);
    t0 = aw_now();
    assert_int_equal(aw_wait_for(t, 1, &r), AW_ETIMEDOUT);
    assert_true(aw_task_done(t));
    assert_true(aw_task_cancelled(t));
    assert_elapsed(t0, 1, 1.1);
    aw_task_release(t);
    /* a task done in time */
    t = aw_create_task(aw_coro(child, I(5)), NULL);
    assert_int_equal(aw_wait_for(t, 1, &r), 0);
    assert_int_equal(V(r), 5);
    assert_int_equal(aw_wait_for(t, 0, &r), 0);   /* done: its result even with 0 */
    aw_task_release(t);
    /* a future, cancelled on timeout */
    aw_future *f = aw_future_new();
    assert_int_equal(aw_wait_for(f, 1, &r), AW_ETIMEDOUT);
    assert_true(aw_future_cancelled(f));
    aw_future_release(f);
    /* errors of the inner work come through */
    assert_int_equal(aw_wait_for(aw_coro(child, I(9)), AW_FOREVER, &r), -EIO);
    assert_int_equal(aw_wait_for(aw_coro(child, I(9)), NAN, &r), -EINVAL);
    return 0;
}

static void wait_for_basic(void **state)
{
    (void)state;
    void *r;
    assert_int_equal(aw_wait_for(aw_coro(child, I(1)), 1, &r), AW_ENOTASK);
    assert_int_equal(test_run(aw_coro(wait_for_main, NULL), NULL, NULL), 0);
}

/* A cancel of the caller reaches the inner task, and wait_for waits for it. */
static int waiting_for(void *arg, void **result)
{
    (void)result;
    int rc = aw_wait_for((aw_task *)arg, 100, NULL);
    mark(rc == AW_ECANCELLED ? 1000 : rc);
    return rc;
}

static int wait_for_cancel_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    aw_task *inner = aw_create_task(aw_coro(child, I(50)), "inner");
    aw_task *w = aw_create_task(aw_coro(waiting_for, inner), NULL);
    aw_sleep(1);
    aw_task_cancel(w, NULL);
    assert_int_equal(aw_join(w, NULL), AW_ECANCELLED);
    assert_trace(-50, 1000);                    /* inner ended first */
    assert_true(aw_task_cancelled(inner));
    aw_task_release(inner);
    /* nested in a timeout scope that expires first: that scope reports */
    aw_scope s;
    aw_timeout(&s, 1);
    assert_int_equal(aw_wait_for(aw_coro(child, I(50)), 10, NULL), AW_ECANCELLED);
    assert_int_equal(aw_timeout_end(&s), AW_ETIMEDOUT);
    return 0;
}

static void wait_for_cancel(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(wait_for_cancel_main, NULL), NULL, NULL), 0);
}

/* ---- shield ---- */

static int shielding(void *arg, void **result)
{
    (void)result;
    void *r;
    int rc = aw_shield((aw_task *)arg, &r);
    mark(rc == AW_ECANCELLED ? 1000 : rc);
    return rc;
}

static int shielding_coro(void *arg, void **result)
{
    (void)arg; (void)result;
    int rc = aw_shield(aw_coro(child, I(39)), NULL);    /* will fail after we are gone */
    mark(rc == AW_ECANCELLED ? 2000 : rc);
    return rc;
}

static int shield_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    aw_task *inner = aw_create_task(aw_coro(child, I(30)), "inner");
    aw_task *s = aw_create_task(aw_coro(shielding, inner), NULL);
    aw_sleep(1);
    aw_task_cancel(s, NULL);
    assert_int_equal(aw_join(s, NULL), AW_ECANCELLED);
    assert_trace(1000);                         /* at once */
    assert_false(aw_task_done(inner));
    void *r;
    assert_int_equal(aw_join(inner, &r), 0);    /* the inner work went on */
    assert_int_equal(V(r), 30);
    assert_trace(1000, 30);
    /* a coroutine: wrapped in a task the loop keeps */
    trace_reset();
    aw_task *sc = aw_create_task(aw_coro(shielding_coro, NULL), NULL);
    aw_sleep(1);
    aw_task_cancel(sc, NULL);
    assert_int_equal(aw_join(sc, NULL), AW_ECANCELLED);
    aw_sleep(5);
    assert_trace(2000, -39);
    /* not cancelled: the result */
    assert_int_equal(aw_shield(aw_coro(child, I(10)), &r), 0);
    assert_int_equal(V(r), 10);
    assert_int_equal(aw_shield(aw_coro(child, I(9)), &r), -EIO);
    return 0;
}

static void shield_basic(void **state)
{
    (void)state;
    test_reports r = {0};
    assert_int_equal(test_run(aw_coro(shield_main, NULL), NULL, &r), 0);
    assert_int_equal(r.count, 0);               /* the shielded failure counts as retrieved */
}

/* ---- as_completed ---- */

static int as_completed_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task *t = aw_create_task(aw_coro(child, I(20)), NULL);
    aw_future *f = aw_future_new();
    aw_future_set_result(f, I(5));
    void *aws[] = { aw_coro(child, I(30)), t, aw_coro(child, I(10)), f };
    aw_as_completed it;
    assert_int_equal(aw_as_completed_begin(&it, 4, aws, AW_FOREVER), 0);
    void *x, *r;
    int order[4], k = 0;
    while (aw_as_completed_next(&it, &x) > 0) {
        assert_int_equal(aw_await_any(x, &r), 0);
        order[k++] = V(r);
    }
    assert_int_equal(k, 4);
    assert_int_equal(order[0], 5);
    assert_int_equal(order[1], 10);
    assert_int_equal(order[2], 20);
    assert_int_equal(order[3], 30);
    assert_int_equal(aw_as_completed_next(&it, &x), 0);
    aw_as_completed_end(&it);
    aw_task_release(t);
    aw_future_release(f);

    /* the overall timeout: what finished first, then AW_ETIMEDOUT for each left */
    void *aws2[] = { aw_coro(child, I(10)), aw_coro(child, I(50)), aw_coro(child, I(60)) };
    double t0 = aw_now();
    assert_int_equal(aw_as_completed_begin(&it, 3, aws2, 2), 0);
    assert_int_equal(aw_as_completed_next(&it, &x), 1);
    assert_int_equal(aw_as_completed_next(&it, &x), AW_ETIMEDOUT);
    assert_elapsed(t0, 2, 2.1);
    assert_int_equal(aw_as_completed_next(&it, &x), AW_ETIMEDOUT);
    assert_int_equal(aw_as_completed_next(&it, &x), 0);
    aw_as_completed_end(&it);      /* the two still running go on */
    aw_sleep(10);
    /* bad input */
    assert_int_equal(aw_as_completed_begin(&it, 1, NULL, 1), -EINVAL);
    void *aws3[] = { aw_coro(child, I(1)), NULL };
    assert_int_equal(aw_as_completed_begin(&it, 2, aws3, 1), -EINVAL);
    assert_int_equal(aw_as_completed_begin(&it, 0, NULL, 1), 0);
    assert_int_equal(aw_as_completed_next(&it, &x), 0);
    aw_as_completed_end(&it);
    return 0;
}

static void as_completed_basic(void **state)
{
    (void)state;
    trace_reset();
    test_reports r = {0};
    assert_int_equal(test_run(aw_coro(as_completed_main, NULL), NULL, &r), 0);
    assert_int_equal(r.count, 0);
}

/* A cancel while next() waits: AW_ECANCELLED, and the iterator still works after. */
static int ac_cancel_main(void *arg, void **result)
{
    (void)arg; (void)result;
    void *aws[] = { aw_coro(child, I(20)) };
    aw_as_completed it;
    void *x;
    assert_int_equal(aw_as_completed_begin(&it, 1, aws, AW_FOREVER), 0);
    aw_scope s;
    aw_timeout(&s, 1);
    assert_int_equal(aw_as_completed_next(&it, &x), AW_ECANCELLED);
    assert_int_equal(aw_timeout_end(&s), AW_ETIMEDOUT);
    assert_int_equal(aw_as_completed_next(&it, &x), 1);
    assert_int_equal(aw_await_any(x, NULL), 0);
    aw_as_completed_end(&it);
    return 0;
}

static void as_completed_cancel(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(ac_cancel_main, NULL), NULL, NULL), 0);
}

/* ---- timeout scopes ---- */

static int timeouts_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_scope s, inner;
    double t0 = aw_now();
    /* not expired */
    assert_int_equal(aw_timeout(&s, 5), 0);
    assert_true(fabs(aw_timeout_when(&s) - (t0 + 5)) < 1e-9);
    assert_int_equal(aw_sleep(1), 0);
    assert_false(aw_timeout_expired(&s));
    assert_int_equal(aw_timeout_end(&s), 0);
    /* expired */
    assert_int_equal(aw_timeout(&s, 1), 0);
    assert_int_equal(aw_sleep(10), AW_ECANCELLED);
    assert_int_equal(aw_sleep(10), AW_ECANCELLED);      /* level-triggered */
    assert_true(aw_timeout_expired(&s));
    assert_int_equal(aw_timeout_reschedule(&s, aw_now() + 10), AW_EINVALSTATE);
    assert_int_equal(aw_timeout_end(&s), AW_ETIMEDOUT);
    assert_elapsed(t0, 2, 2.1);
    /* expired but nothing suspended inside afterwards: no timeout reported */
    assert_int_equal(aw_timeout(&s, 0.5), 0);
    assert_int_equal(aw_sleep(0.25), 0);
    aw_sleep(0);
    assert_int_equal(aw_timeout_end(&s), 0);
    /* nested: the inner expires first and reports; the outer does not */
    t0 = aw_now();
    aw_timeout(&s, 10);
    aw_timeout(&inner, 1);
    assert_int_equal(aw_sleep(5), AW_ECANCELLED);
    assert_int_equal(aw_timeout_end(&inner), AW_ETIMEDOUT);
    assert_int_equal(aw_sleep(1), 0);
    assert_int_equal(aw_timeout_end(&s), 0);
    assert_elapsed(t0, 2, 2.1);
    /* nested: the outer expires first; the inner leaves with 0, the outer reports */
    aw_timeout(&s, 1);
    aw_timeout(&inner, 10);
    assert_int_equal(aw_sleep(5), AW_ECANCELLED);
    assert_int_equal(aw_timeout_end(&inner), 0);
    assert_int_equal(aw_timeout_end(&s), AW_ETIMEDOUT);
    /* reschedule: later, then none */
    t0 = aw_now();
    aw_timeout(&s, 1);
    assert_int_equal(aw_timeout_reschedule(&s, aw_now() + 3), 0);
    assert_int_equal(aw_sleep(2), 0);
    assert_int_equal(aw_timeout_reschedule(&s, AW_FOREVER), 0);
    assert_true(isinf(aw_timeout_when(&s)));
    assert_int_equal(aw_sleep(5), 0);
    assert_int_equal(aw_timeout_end(&s), 0);
    /* timeout_at, already past; FOREVER; zero */
    aw_timeout_at(&s, aw_now() - 1);
    assert_true(aw_timeout_expired(&s));
    assert_int_equal(aw_sleep(0), AW_ECANCELLED);
    assert_int_equal(aw_timeout_end(&s), AW_ETIMEDOUT);
    aw_timeout(&s, AW_FOREVER);
    assert_int_equal(aw_sleep(100), 0);
    assert_int_equal(aw_timeout_end(&s), 0);
    aw_timeout(&s, 0);
    assert_int_equal(aw_sleep(1), AW_ECANCELLED);
    assert_int_equal(aw_timeout_end(&s), AW_ETIMEDOUT);
    /* bad input */
    assert_int_equal(aw_timeout(&s, NAN), -EINVAL);
    assert_int_equal(aw_timeout(NULL, 1), -EINVAL);
    aw_scope never;
    memset(&never, 0, sizeof never);
    assert_int_equal(aw_timeout_reschedule(&never, 1), AW_EINVALSTATE);
    return 0;
}

static void timeout_scopes(void **state)
{
    (void)state;
    aw_scope s;
    assert_int_equal(aw_timeout(&s, 1), AW_ENOTASK);
    assert_int_equal(test_run(aw_coro(timeouts_main, NULL), NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gather_order),
        cmocka_unit_test(gather_empty),
        cmocka_unit_test(gather_first_error),
        cmocka_unit_test(gather_late_error_retrieved),
        cmocka_unit_test(gather_return_exceptions),
        cmocka_unit_test(gather_cancel),
        cmocka_unit_test(gather_bad_input),
        cmocka_unit_test(wait_modes),
        cmocka_unit_test(wait_bad_input),
        cmocka_unit_test(wait_for_basic),
        cmocka_unit_test(wait_for_cancel),
        cmocka_unit_test(shield_basic),
        cmocka_unit_test(as_completed_basic),
        cmocka_unit_test(as_completed_cancel),
        cmocka_unit_test(timeout_scopes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
