/* Tests of aw_group (TaskGroup): waiting for children, failure propagation, cancellation, misuse. */
#include "test_util.h"

#include <errno.h>

/* Elapsed virtual time within [lo, hi), with room for the rounding of a large clock base. */
/* assert_elapsed, I, V, mark, trace_reset and assert_trace: tests/test_util.h */

/* Sleeps arg/10 s; arg % 10 == 9 then fails with -EIO, == 8 with -EPIPE.
 * Records v on success, -v on an error (a cancel included). */
static int child(void *arg, void **result)
{
    int v = V(arg);
    int rc = aw_sleep(v / 10.0);
    if (rc == 0 && v % 10 == 9) rc = aw_raise(-EIO, "child %d failed", v);
    if (rc == 0 && v % 10 == 8) rc = -EPIPE;
    mark(rc == 0 ? v : -v);
    if (rc < 0) return rc;
    *result = arg;
    return 0;
}


static int all_ok_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    aw_group g;
    double t0 = aw_now();
    assert_int_equal(aw_group_begin(&g), 0);
    aw_task *a = aw_group_spawn(&g, aw_coro(child, I(30)), "a");
    aw_task *b = aw_group_spawn(&g, aw_coro(child, I(10)), "b");
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(aw_task_name(a), "a");
    assert_int_equal(aw_sleep(2), 0);           /* the body runs alongside */
    mark(1000);
    assert_int_equal(aw_group_end(&g), 0);
    assert_elapsed(t0, 3, 3.1);
    assert_trace(10, 1000, 30);
    size_t n = 99;
    assert_null(aw_group_errors(&g, &n));
    assert_int_equal(n, 0);
    aw_group_clear(&g);
    /* an empty group */
    assert_int_equal(aw_group_begin(&g), 0);
    assert_int_equal(aw_group_end(&g), 0);
    return 0;
}

static void group_all_ok(void **state)
{
    (void)state;
    aw_group g;
    assert_int_equal(aw_group_begin(&g), AW_ENOTASK);
    assert_int_equal(test_run(aw_coro(all_ok_main, NULL), NULL, NULL), 0);
}

/* The first failure cancels the siblings and the body; end returns the error,
 * the list has it with the task's name; the parent goes on uncancelled. */
static int failure_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    aw_group g;
    double t0 = aw_now();
    aw_group_begin(&g);
    aw_group_spawn(&g, aw_coro(child, I(50)), "slow");
    aw_group_spawn(&g, aw_coro(child, I(19)), "bad");
    aw_group_spawn(&g, aw_coro(child, I(60)), "slower");
    assert_int_equal(aw_sleep(100), AW_ECANCELLED);   /* the body is cancelled ... */
    assert_int_equal(aw_sleep(1), AW_ECANCELLED);     /* ... until the group ends */
    assert_elapsed(t0, 1.9, 2);
    errno = 0;
    assert_null(aw_group_spawn(&g, aw_coro(child, I(1)), "late"));   /* shutting down */
    assert_int_equal(errno, ECANCELED);
    assert_int_equal(aw_group_end(&g), -EIO);
    assert_trace(-19, -50, -60);
    size_t n;
    const aw_group_error *e = aw_group_errors(&g, &n);
    assert_int_equal(n, 1);
    assert_string_equal(e[0].task_name, "bad");
    assert_int_equal(e[0].error, -EIO);
    assert_string_equal(e[0].message, "child 19 failed");
    aw_group_clear(&g);
    assert_int_equal(aw_task_cancelling(aw_current_task()), 0);
    assert_int_equal(aw_sleep(1), 0);           /* not cancelled any more */
    return 0;
}

static void group_failure_cancels_rest(void **state)
{
    (void)state;
    test_reports r = {0};
    assert_int_equal(test_run(aw_coro(failure_main, NULL), NULL, &r), 0);
    assert_int_equal(r.count, 0);               /* the group retrieved the error */
}

/* Failures in the same iteration (or during the siblings' cleanup) are all kept. */
static int cleanup_fails(void *arg, void **result)
{
    (void)arg; (void)result;
    int rc = aw_sleep(100);
    (void)rc;
    return -EPIPE;              /* fails while being cancelled */
}

static int many_failures_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_group g;
    aw_group_begin(&g);
    aw_group_spawn(&g, aw_coro(child, I(19)), "a");
    aw_group_spawn(&g, aw_coro(child, I(18)), "b");
    aw_group_spawn(&g, aw_coro(cleanup_fails, NULL), "c");
    assert_int_equal(aw_group_end(&g), -EPIPE);     /* 1.8 s: b failed first */
    size_t n;
    const aw_group_error *e = aw_group_errors(&g, &n);
    assert_int_equal(n, 2);
    assert_string_equal(e[0].task_name, "b");
    assert_int_equal(e[0].error, -EPIPE);
    assert_null(e[0].message);
    assert_string_equal(e[1].task_name, "c");       /* a was cancelled before it failed */
    aw_group_clear(&g);
    aw_group_clear(&g);
    return 0;
}

static void group_all_errors_kept(void **state)
{
    (void)state;
    trace_reset();
    assert_int_equal(test_run(aw_coro(many_failures_main, NULL), NULL, NULL), 0);
}

/* A cancel from outside: the body sees it, aw_group_end cancels every child and
 * returns AW_ECANCELLED. */
static int grouping(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_group g;
    aw_group_begin(&g);
    aw_group_spawn(&g, aw_coro(child, I(50)), "a");
    aw_group_spawn(&g, aw_coro(child, I(60)), "b");
    int rc = aw_sleep(100);
    mark(rc == AW_ECANCELLED ? 1000 : rc);
    rc = aw_group_end(&g);
    mark(rc == AW_ECANCELLED ? 2000 : rc);
    return rc;
}

static int grouping_in_end(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_group g;
    aw_group_begin(&g);
    aw_group_spawn(&g, aw_coro(child, I(50)), "a");
    aw_group_spawn(&g, aw_coro(child, I(60)), "b");
    int rc = aw_group_end(&g);
    mark(rc == AW_ECANCELLED ? 2000 : rc);
    return rc;
}

static int outer_cancel_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    aw_task *t = aw_create_task(aw_coro(grouping, NULL), NULL);
    aw_sleep(1);
    aw_task_cancel(t, NULL);
    assert_int_equal(aw_join(t, NULL), AW_ECANCELLED);
    assert_trace(1000, -50, -60, 2000);
    trace_reset();
    t = aw_create_task(aw_coro(grouping_in_end, NULL), NULL);
    aw_sleep(1);
    aw_task_cancel(t, NULL);
    assert_int_equal(aw_join(t, NULL), AW_ECANCELLED);
    assert_trace(-50, -60, 2000);
    return 0;
}

static void group_outer_cancel(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(outer_cancel_main, NULL), NULL, NULL), 0);
}

/* A group inside a timeout scope: the timeout cancels everything and reports. */
static int timeout_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    aw_scope s;
    double t0 = aw_now();
    aw_timeout(&s, 2);
    aw_group g;
    aw_group_begin(&g);
    aw_group_spawn(&g, aw_coro(child, I(10)), "quick");
    aw_group_spawn(&g, aw_coro(child, I(50)), "slow");
    assert_int_equal(aw_group_end(&g), AW_ECANCELLED);
    assert_int_equal(aw_timeout_end(&s), AW_ETIMEDOUT);
    assert_elapsed(t0, 2, 2.1);
    assert_trace(10, -50);
    return 0;
}

static void group_in_timeout(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(timeout_main, NULL), NULL, NULL), 0);
}

/* aw_group_cancel: the group's own cancel is not an error. */
static int cancel_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    aw_group g;
    aw_group_begin(&g);
    aw_group_spawn(&g, aw_coro(child, I(50)), "a");
    aw_group_spawn(&g, aw_coro(child, I(5)), "b");
    aw_sleep(1);
    aw_group_cancel(&g);
    assert_int_equal(aw_sleep(1), AW_ECANCELLED);
    assert_int_equal(aw_group_end(&g), 0);
    assert_trace(5, -50);
    assert_int_equal(aw_sleep(1), 0);
    /* cancel before any spawn */
    aw_group_begin(&g);
    aw_group_cancel(&g);
    assert_int_equal(aw_sleep(1), AW_ECANCELLED);
    assert_int_equal(aw_group_end(&g), 0);
    return 0;
}

static void group_cancel(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(cancel_main, NULL), NULL, NULL), 0);
}

/* Children may spawn more children into the group while it waits in end. */
typedef struct { aw_group *g; int depth; } spawner_arg;

static int spawner(void *arg, void **result)
{
    (void)result;
    spawner_arg *a = arg;
    aw_sleep(1);
    mark(a->depth);
    if (a->depth < 3) {
        static spawner_arg next[4];
        next[a->depth] = (spawner_arg){ a->g, a->depth + 1 };
        if (!aw_group_spawn(a->g, aw_coro(spawner, &next[a->depth]), NULL)) return -errno;
    }
    return 0;
}

static int nested_spawn_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    aw_group g;
    aw_group_begin(&g);
    spawner_arg a = { &g, 0 };
    aw_group_spawn(&g, aw_coro(spawner, &a), NULL);
    double t0 = aw_now();
    assert_int_equal(aw_group_end(&g), 0);
    assert_elapsed(t0, 4, 4.1);
    assert_trace(0, 1, 2, 3);
    /* after the end, spawning is refused */
    errno = 0;
    assert_null(aw_group_spawn(&g, aw_coro(child, I(1)), NULL));
    assert_int_equal(errno, EINVAL);
    assert_null(aw_group_spawn(NULL, aw_coro(child, I(1)), NULL));
    assert_int_equal(aw_group_end(&g), -EINVAL);
    assert_int_equal(aw_group_end(NULL), -EINVAL);
    return 0;
}

static void group_spawn_from_children(void **state)
{
    (void)state;
    test_reports r = {0};
    assert_int_equal(test_run(aw_coro(nested_spawn_main, NULL), NULL, &r), 0);
    assert_int_equal(r.count, 0);       /* the refused coroutines were consumed silently */
}

/* A group left open by an early return is reported; its children are cancelled
 * and never touch the dead stack. */
static int leaky(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_group g;
    aw_group_begin(&g);
    aw_group_spawn(&g, aw_coro(child, I(50)), "orphan");
    aw_group_spawn(&g, aw_coro(child, I(39)), "orphan2");
    aw_sleep(1);
    return 0;                   /* forgot aw_group_end */
}

static int leak_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    aw_task *t = aw_create_task(aw_coro(leaky, NULL), "leaky");
    assert_int_equal(aw_join(t, NULL), 0);
    /* clobber the stack the group lived on */
    char junk[4096];
    memset(junk, 0x5a, sizeof junk);
    aw_task *u = aw_create_task(aw_coro(child, I(1)), NULL);
    aw_join(u, NULL);
    aw_sleep(10);
    assert_trace(-50, -39, 1);
    return junk[100] == 0x5a ? 0 : -1;
}

static void group_left_open(void **state)
{
    (void)state;
    test_reports r = {0};
    assert_int_equal(test_run(aw_coro(leak_main, NULL), NULL, &r), 0);
    assert_int_equal(r.count, 1);
    assert_contains(r.text, "was not ended before the task returned");
    assert_contains(r.text, "test_group.c:");
}

/* aw_group_end from another task than the one that began the group is refused. */
static aw_group shared;

static int foreign_end(void *arg, void **result)
{
    (void)arg; (void)result;
    return aw_group_end(&shared);
}

static int foreign_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_group_begin(&shared);
    aw_task *t = aw_create_task(aw_coro(foreign_end, NULL), NULL);
    assert_int_equal(aw_join(t, NULL), AW_EINVALSTATE);
    return aw_group_end(&shared);
}

static void group_end_in_other_task(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(foreign_main, NULL), NULL, NULL), 0);
}

/* Children's results stay readable until aw_group_end returns (and after, with a ref). */
static int results_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_group g;
    aw_group_begin(&g);
    aw_task *t = aw_task_ref(aw_group_spawn(&g, aw_coro(child, I(7)), NULL));
    assert_int_equal(aw_group_end(&g), 0);
    void *r;
    assert_int_equal(aw_task_result(t, &r), 0);
    assert_int_equal(V(r), 7);
    aw_task_release(t);
    return 0;
}

static void group_child_results(void **state)
{
    (void)state;
    trace_reset();
    assert_int_equal(test_run(aw_coro(results_main, NULL), NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(group_all_ok),
        cmocka_unit_test(group_failure_cancels_rest),
        cmocka_unit_test(group_all_errors_kept),
        cmocka_unit_test(group_outer_cancel),
        cmocka_unit_test(group_in_timeout),
        cmocka_unit_test(group_cancel),
        cmocka_unit_test(group_spawn_from_children),
        cmocka_unit_test(group_left_open),
        cmocka_unit_test(group_end_in_other_task),
        cmocka_unit_test(group_child_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
