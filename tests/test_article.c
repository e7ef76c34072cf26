/* The seed article as a specification: one test per row of DESIGN.md section 2. */
#include "test_util.h"
#include "internal.h"

static int body_ran;

static int fetch_data(void *arg, void **result)
{
    (void)arg;
    body_ran++;
    *result = "data";
    return 0;
}

/* Row: calling an async def returns a coroutine object; the body does not run. */
static void row_coroutine_object(void **state)
{
    (void)state;
    body_ran = 0;
    aw_coro *c = aw_coro(fetch_data, NULL);
    assert_non_null(c);
    assert_int_equal(body_ran, 0);
    char buf[128];
    aw_describe(c, buf, sizeof buf);
    assert_contains(buf, "<coroutine fetch_data at ");
    assert_int_equal(aw_coro_close(c), 0);      /* reported as never awaited on stderr */
    assert_int_equal(body_ran, 0);
}

/* Row: it runs only when awaited or passed to asyncio.run(). */
static int await_fetch(void *arg, void **result)
{
    (void)arg;
    return aw_await(aw_coro(fetch_data, NULL), result);
}

static void row_runs_when_awaited(void **state)
{
    (void)state;
    body_ran = 0;
    void *r = NULL;
    assert_int_equal(test_run(aw_coro(fetch_data, NULL), &r, NULL), 0);
    assert_string_equal(r, "data");
    assert_int_equal(test_run(aw_coro(await_fetch, NULL), &r, NULL), 0);
    assert_string_equal(r, "data");
    assert_int_equal(body_ran, 2);
}

/* Row: await is only legal inside async def. */
static void row_await_outside_task(void **state)
{
    (void)state;
    void *r;
    assert_int_equal(aw_await(aw_coro(fetch_data, NULL), &r), AW_ENOTASK);
    assert_int_equal(aw_sleep(0.1), AW_ENOTASK);
    assert_string_equal(aw_strerror(AW_ENOTASK), "await outside of a task");
}

/* Row: await suspends only at a real suspension point. */
static int inner(void *arg, void **result)
{
    (void)arg; (void)result;
    return 0;
}

static int no_switch_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_loop_stats a, b;
    aw_loop_stats_get(aw_running_loop(), &a);
    for (int i = 0; i < 1000; i++) assert_int_equal(aw_await(aw_coro(inner, NULL), NULL), 0);
    aw_loop_stats_get(aw_running_loop(), &b);
    assert_int_equal(b.switches, a.switches);
    assert_int_equal(aw_sleep(0), 0);           /* a real suspension point: one switch */
    aw_loop_stats_get(aw_running_loop(), &b);
    assert_int_equal(b.switches, a.switches + 1);
    return 0;
}

static void row_inline_await_does_not_switch(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(no_switch_main, NULL), NULL, NULL), 0);
}

/* Row: pure computation blocks the whole loop; debug mode names the slow step. */
static double fake_now;
static double fake_clock(void) { return fake_now += 0.256; }   /* each reading: +0.256 s */

static int ticks;
static int ticker(void *arg, void **result)
{
    (void)arg; (void)result;
    for (int i = 0; i < 3; i++) {
        int rc = aw_sleep(0.01);
        if (rc < 0) return rc;
        ticks++;
    }
    return 0;
}

static int blocker(void *arg, void **result)
{
    (void)arg; (void)result;
    unsigned long x = 0;
    for (unsigned long i = 0; i < 1000; i++) x += i * i;   /* "computation": the fake clock makes it slow */
    return x == 42 ? 1 : 0;
}

static int slow_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task *tick = aw_create_task(aw_coro(ticker, NULL), "ticker");
    aw_task *b = aw_create_task(aw_coro(blocker, NULL), "cruncher");
    assert_int_equal(aw_join(b, NULL), 0);
    assert_int_equal(ticks, 0);                 /* the ticker could not run while cruncher ran */
    return aw_join(tick, NULL);
}

static void row_blocking_step_reported(void **state)
{
    (void)state;
    test_reports r = {0};
    ticks = 0;
    fake_now = 0;
    aw__step_clock = fake_clock;
    aw_run_opts o = { .debug = 1, .clock = AW_CLOCK_VIRTUAL, .no_sigint = true,
                      .exception_handler = test_report_handler, .exception_arg = &r };
    assert_int_equal(aw_run_ex(aw_coro(slow_main, NULL), NULL, &o), 0);
    aw__step_clock = aw__clock_real;
    assert_int_equal(ticks, 3);
    assert_contains(r.text, "Executing <Task 'cruncher' at ");
    assert_contains(r.text, "test_article.c:");
    assert_contains(r.text, "> took 0.256 seconds");
}

/* Row: await 42 is a TypeError (compile-time: see compile_await_int_fails in CTest). */
static int any_main(void *arg, void **result)
{
    (void)arg;
    int x = 42;
    assert_int_equal(aw_await_any(&x, result), AW_ENOTAWAITABLE);
    assert_string_equal(aw_errname(AW_ENOTAWAITABLE), "TypeError");
    aw_future *f = aw_future_new();
    aw_future_set_result(f, (void *)1);
    assert_int_equal(aw_await_any(f, result), 0);
    aw_future_release(f);
    return aw_await_any(aw_coro(fetch_data, NULL), result);
}

static void row_await_non_awaitable(void **state)
{
    (void)state;
    void *r = NULL;
    assert_int_equal(test_run(aw_coro(any_main, NULL), &r, NULL), 0);
    assert_string_equal(r, "data");
}

/* Row: awaiting a coroutine twice is a RuntimeError. */
static int twice_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_coro *c = aw_coro(fetch_data, NULL);
    assert_int_equal(aw_await(c, NULL), 0);
    assert_int_equal(aw_await(c, NULL), AW_EREUSED);
    aw_task *t = aw_create_task(aw_coro(fetch_data, NULL), NULL);
    assert_int_equal(aw_await(t, NULL), 0);
    assert_int_equal(aw_await(t, NULL), 0);     /* tasks may be awaited again */
    aw_task_release(t);
    return 0;
}

static void row_await_twice(void **state)
{
    (void)state;
    body_ran = 0;
    assert_int_equal(test_run(aw_coro(twice_main, NULL), NULL, NULL), 0);
    assert_int_equal(body_ran, 2);
    assert_string_equal(aw_strerror(AW_EREUSED), "cannot reuse already awaited coroutine");
}

/* Row: asyncio.run() — new loop, main as a task, leftovers cancelled and awaited, loop closed. */
static int cleanups;
static aw_loop *seen_loop;

static int background(void *arg, void **result)
{
    (void)arg; (void)result;
    int rc = aw_sleep(3600);
    if (rc == AW_ECANCELLED) cleanups++;        /* cleanup runs before the loop closes */
    return rc;
}

static int run_main(void *arg, void **result)
{
    (void)arg;
    assert_non_null(aw_current_task());
    assert_string_equal(aw_task_name(aw_current_task()), "main");
    seen_loop = aw_running_loop();
    aw_task_release(aw_create_task(aw_coro(background, NULL), "bg"));
    assert_int_equal(aw_sleep(0), 0);
    *result = (void *)1;
    return 0;
}

static void row_run(void **state)
{
    (void)state;
    cleanups = 0;
    void *r = NULL;
    assert_null(aw_running_loop());
    assert_int_equal(test_run(aw_coro(run_main, NULL), &r, NULL), 0);
    assert_ptr_equal(r, (void *)1);
    assert_int_equal(cleanups, 1);
    assert_null(aw_running_loop());
    assert_non_null(seen_loop);
}

/* Row: asyncio.run() inside a running loop is a RuntimeError. */
static int nested_main(void *arg, void **result)
{
    (void)arg; (void)result;
    return aw_run(aw_coro(fetch_data, NULL), NULL);
}

static void row_run_nested(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(nested_main, NULL), NULL, NULL), AW_ELOOPRUNNING);
}

/* Row: each run makes a new loop; a primitive cannot be shared across runs. */
static int bind_main(void *arg, void **result)
{
    (void)result;
    aw_future *f = arg;
    aw_task *t = aw_create_task(aw_coro(await_fetch, NULL), NULL);
    int rc = aw_await(f, NULL);
    aw_join(t, NULL);
    return rc;
}

static int setter(void *arg, void **result)
{
    (void)result;
    return aw_future_set_result(arg, NULL);
}

static int bind_first(void *arg, void **result)
{
    aw_task_release(aw_create_task(aw_coro(setter, arg), NULL));
    return bind_main(arg, result);
}

static void row_wrong_loop(void **state)
{
    (void)state;
    aw_future *f = aw_future_new();
    assert_int_equal(test_run(aw_coro(bind_first, f), NULL, NULL), 0);   /* binds to the first loop */
    aw_future *g = f;
    assert_int_equal(test_run(aw_coro(bind_main, g), NULL, NULL), AW_EWRONGLOOP);
    aw_future_release(f);
}

/* Row: create_task schedules at once; the creator keeps running until it suspends. */
static char order[16];
static int norder;

static int say(void *arg, void **result)
{
    (void)result;
    order[norder++] = *(const char *)arg;
    return 0;
}

static int schedule_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task *a = aw_create_task(aw_coro(say, "a"), "a");
    aw_task *b = aw_create_task(aw_coro(say, "b"), "b");
    order[norder++] = 'm';
    assert_int_equal(aw_sleep(0), 0);
    order[norder++] = 'M';
    aw_task_release(a);
    aw_task_release(b);
    return 0;
}

static void row_create_task_schedules(void **state)
{
    (void)state;
    norder = 0;
    assert_int_equal(test_run(aw_coro(schedule_main, NULL), NULL, NULL), 0);
    order[norder] = 0;
    assert_string_equal(order, "mabM");
}

/* Row: fire-and-forget tasks die when main returns; "done" is never printed. */
static int printed_done;
static int fire_and_forget(void *arg, void **result)
{
    (void)arg; (void)result;
    int rc = aw_sleep(1);
    if (rc < 0) return rc;
    printed_done = 1;
    return 0;
}

static int ff_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task_release(aw_create_task(aw_coro(fire_and_forget, NULL), "forgotten"));
    return 0;
}

static void row_fire_and_forget(void **state)
{
    (void)state;
    printed_done = 0;
    test_reports r = {0};
    aw_run_opts o = { .debug = 1, .clock = AW_CLOCK_VIRTUAL, .no_sigint = true,
                      .exception_handler = test_report_handler, .exception_arg = &r };
    assert_int_equal(aw_run_ex(aw_coro(ff_main, NULL), NULL, &o), 0);
    assert_int_equal(printed_done, 0);
    assert_contains(r.text, "task still pending when main returned: cancelled by aw_run()|forgotten|");
}

/* Row: keep a reference; await the task. */
static int keep_main(void *arg, void **result)
{
    (void)arg;
    aw_task *t = aw_create_task(aw_coro(fire_and_forget, NULL), "kept");
    return aw_join(t, result);
}

static void row_keep_reference(void **state)
{
    (void)state;
    printed_done = 0;
    assert_int_equal(test_run(aw_coro(keep_main, NULL), NULL, NULL), 0);
    assert_int_equal(printed_done, 1);
}

/* Row: shield() protects an inner task from cancellation. */
static int saved;
static int save_work(void *arg, void **result)
{
    (void)arg;
    int rc = aw_sleep(2);
    if (rc < 0) return rc;
    saved = 1;
    *result = "saved";
    return 0;
}

static int shielded_caller(void *arg, void **result)
{
    return aw_shield((aw_task *)arg, result);
}

static int shield_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task *work = aw_create_task(aw_coro(save_work, NULL), "save");
    aw_task *caller = aw_create_task(aw_coro(shielded_caller, work), "caller");
    assert_int_equal(aw_sleep(1), 0);
    aw_task_cancel(caller, NULL);
    assert_int_equal(aw_join(caller, NULL), AW_ECANCELLED);   /* the caller sees the cancel at once */
    assert_false(aw_task_done(work));                          /* the inner work goes on */
    assert_int_equal(saved, 0);
    void *r = NULL;
    assert_int_equal(aw_join(work, &r), 0);
    assert_string_equal(r, "saved");
    assert_int_equal(saved, 1);
    return 0;
}

static void row_shield(void **state)
{
    (void)state;
    saved = 0;
    assert_int_equal(test_run(aw_coro(shield_main, NULL), NULL, NULL), 0);
}

/* Row: create_task(..., name="x"). */
static int name_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task *t = aw_create_task(aw_coro(fetch_data, NULL), "x");
    assert_string_equal(aw_task_name(t), "x");
    assert_int_equal(aw_task_set_name(t, "y"), 0);
    assert_string_equal(aw_task_name(t), "y");
    return aw_join(t, NULL);
}

static void row_task_names(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(name_main, NULL), NULL, NULL), 0);
}

/* Row: a failed task nobody awaits is reported when its last reference goes. */
static int parse(void *arg, void **result)
{
    (void)arg; (void)result;
    return aw_raise(-EINVAL, "bad input");
}

static int unretrieved_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task *t = aw_create_task(aw_coro(parse, NULL), "parser");
    assert_int_equal(aw_sleep(0), 0);
    aw_task_release(t);
    return 0;
}

static void row_exception_never_retrieved(void **state)
{
    (void)state;
    test_reports r = {0};
    assert_int_equal(test_run(aw_coro(unretrieved_main, NULL), NULL, &r), 0);
    assert_int_equal(r.count, 1);
    assert_contains(r.text, "Task exception was never retrieved|parser|ValueError|bad input|");
    assert_contains(r.text, "test_article.c:");
}

/* Row: a coroutine that is never awaited is reported with its creation site. */
static int forget_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_coro *c = aw_coro(fetch_data, NULL);
    (void)c;
    return 0;
}

static void row_never_awaited(void **state)
{
    (void)state;
    test_reports r = {0};
    assert_int_equal(test_run(aw_coro(forget_main, NULL), NULL, &r), 0);
    assert_int_equal(r.count, 1);
    assert_contains(r.text, "coroutine 'fetch_data' was never awaited");
    assert_contains(r.text, "test_article.c:");
}

/* Row: all_tasks(), current_task() and a dump of what each task waits on. */
static int waiter(void *arg, void **result)
{
    (void)arg; (void)result;
    return aw_sleep(10);
}

static int dump_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task *w = aw_create_task(aw_coro(waiter, NULL), "sleeper");
    assert_int_equal(aw_sleep(0), 0);
    aw_task *all[4];
    assert_int_equal(aw_all_tasks(all, 4), 2);
    assert_string_equal(aw_task_name(aw_current_task()), "main");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(aw_dump_tasks(f, 0), 0);
    fclose(f);
    assert_contains(buf, "(T) main");
    assert_contains(buf, "(T) sleeper");
    assert_contains(buf, "(T) sleeper #2 [waiting on sleep");
    free(buf);
    aw_task_cancel(w, NULL);
    return aw_join(w, NULL) == AW_ECANCELLED ? 0 : -1;
}

static void row_introspection(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(dump_main, NULL), NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(row_coroutine_object),
        cmocka_unit_test(row_runs_when_awaited),
        cmocka_unit_test(row_await_outside_task),
        cmocka_unit_test(row_inline_await_does_not_switch),
        cmocka_unit_test(row_blocking_step_reported),
        cmocka_unit_test(row_await_non_awaitable),
        cmocka_unit_test(row_await_twice),
        cmocka_unit_test(row_run),
        cmocka_unit_test(row_run_nested),
        cmocka_unit_test(row_wrong_loop),
        cmocka_unit_test(row_create_task_schedules),
        cmocka_unit_test(row_fire_and_forget),
        cmocka_unit_test(row_keep_reference),
        cmocka_unit_test(row_shield),
        cmocka_unit_test(row_task_names),
        cmocka_unit_test(row_exception_never_retrieved),
        cmocka_unit_test(row_never_awaited),
        cmocka_unit_test(row_introspection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
