/* The article, scene by scene: each asyncio behaviour, its aw line, and what happened. */
#include "aw.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int scene_no;

static void scene(const char *title, const char *python, const char *c)
{
    printf("\n\033[1m%2d. %s\033[0m\n", ++scene_no, title);
    printf("    python:  %s\n", python);
    printf("    aw:      %s\n", c);
}

#define SAW(...) (printf("    → "), printf(__VA_ARGS__), printf("\n"))

/* Reports from the loop's exception handler, shown indented. */
static void show_report(aw_loop *loop, const aw_exception_context *c, void *arg)
{
    (void)loop; (void)arg;
    printf("    ⚑ report: %s", c->message);
    if (c->task_name) printf(" (task '%s')", c->task_name);
    if (c->error) printf(": %s: %s", aw_errname(c->error), c->detail ? c->detail : aw_strerror(c->error));
    if (c->file) printf(" at %s:%d", c->file, c->line);
    printf("\n");
}

static int run(aw_coro *c, void **r, int debug)
{
    aw_run_opts o = { .debug = debug, .exception_handler = show_report };
    return aw_run_ex(c, r, &o);
}

/* ---- the coroutines of the article ---- */

static int fetch_data(void *arg, void **result)
{
    (void)arg;
    printf("    (fetch_data's body runs)\n");
    int rc = aw_sleep(0.01);
    if (rc < 0) return rc;
    *result = "{\"data\": 1}";
    return 0;
}

static int main_awaits_fetch(void *arg, void **result)
{
    (void)arg;
    return aw_await(aw_coro(fetch_data, NULL), result);
}

static int quick(void *arg, void **result)
{
    (void)arg; (void)result;
    return 0;
}

static int count_switches(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_loop_stats a, b;
    aw_loop_stats_get(aw_running_loop(), &a);
    for (int i = 0; i < 1000; i++) aw_await(aw_coro(quick, NULL), NULL);
    aw_loop_stats_get(aw_running_loop(), &b);
    SAW("1000 inline awaits: %llu switches", (unsigned long long)(b.switches - a.switches));
    aw_sleep(0);
    aw_loop_stats_get(aw_running_loop(), &b);
    SAW("then aw_sleep(0):   %llu switch", (unsigned long long)(b.switches - a.switches));
    return 0;
}

static int ticks;
static int ticker(void *arg, void **result)
{
    (void)arg; (void)result;
    for (int i = 0; i < 5; i++) {
        if (aw_sleep(0.05) < 0) return AW_ECANCELLED;
        ticks++;
    }
    return 0;
}

static int cruncher(void *arg, void **result)
{
    (void)arg; (void)result;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do clock_gettime(CLOCK_MONOTONIC, &t);   /* pure computation: 0.3 s without a suspension point */
    while ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) * 1e-9 < 0.3);
    return 0;
}

static int blocking_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task *tick = aw_create_task(aw_coro(ticker, NULL), "ticker");
    aw_loop_set_watchdog(aw_running_loop(), 0.2);   /* report the blocked loop while it is blocked */
    aw_task *crunch = aw_create_task(aw_coro(cruncher, NULL), "cruncher");
    aw_join(crunch, NULL);
    SAW("after 0.3 s of computation the ticker has ticked %d times", ticks);
    return aw_join(tick, NULL);
}

static int await_anything(void *arg, void **result)
{
    (void)arg;
    int x = 42;
    int rc = aw_await_any(&x, result);
    SAW("aw_await_any(&42) = %s: %s", aw_errname(rc), aw_strerror(rc));
    return 0;
}

static int await_twice(void *arg, void **result)
{
    (void)arg;
    aw_coro *c = aw_coro(quick, NULL);
    int a = aw_await(c, result);
    int b = aw_await(c, result);
    SAW("first await = %d, second await = %s: %s", a, aw_errname(b), aw_strerror(b));
    return 0;
}

static int cleanup_ran;
static int background(void *arg, void **result)
{
    (void)arg; (void)result;
    int rc = aw_sleep(3600);
    if (rc == AW_ECANCELLED) {
        cleanup_ran = 1;
        printf("    (background task sees %s and cleans up)\n", aw_errname(rc));
    }
    return rc;
}

static int run_main(void *arg, void **result)
{
    (void)arg;
    aw_task_release(aw_create_task(aw_coro(background, NULL), "background"));
    aw_sleep(0);
    *result = "main's result";
    return 0;
}

static int nested_run(void *arg, void **result)
{
    (void)arg; (void)result;
    int rc = aw_run(aw_coro(quick, NULL), NULL);
    SAW("aw_run inside a task = %s: %s", aw_errname(rc), aw_strerror(rc));
    return 0;
}

static int waits_on(void *arg, void **result)
{
    return aw_await((aw_future *)arg, result);
}

static int set_it(void *arg, void **result)
{
    (void)result;
    return aw_future_set_result(arg, "value");
}

static int first_loop(void *arg, void **result)
{
    aw_task_release(aw_create_task(aw_coro(set_it, arg), NULL));
    return waits_on(arg, result);
}

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
    aw_task *a = aw_create_task(aw_coro(say, "A"), "A");
    aw_task *b = aw_create_task(aw_coro(say, "B"), "B");
    order[norder++] = 'm';
    aw_sleep(0);
    order[norder++] = 'M';
    SAW("order of events: %s (m = main before its first suspension, M = after)", order);
    aw_task_release(a);
    aw_task_release(b);
    return 0;
}

static int said_done;
static int job(void *arg, void **result)
{
    (void)arg; (void)result;
    if (aw_sleep(1) < 0) return AW_ECANCELLED;
    said_done = 1;
    printf("    done\n");
    return 0;
}

static int forget_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task_release(aw_create_task(aw_coro(job, NULL), "forgotten-job"));
    return 0;
}

static int keep_main(void *arg, void **result)
{
    (void)arg;
    aw_task *t = aw_create_task(aw_coro(job, NULL), "kept-job");
    return aw_join(t, result);
}

static int saving;
static int save_to_disk(void *arg, void **result)
{
    (void)arg;
    printf("    (save_to_disk starts: 0.2 s of work)\n");
    int rc = aw_sleep(0.2);
    if (rc < 0) return rc;
    saving = 1;
    printf("    (save_to_disk finished)\n");
    *result = "saved";
    return 0;
}

static int request(void *arg, void **result)
{
    return aw_shield((aw_task *)arg, result);
}

static int shield_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task *work = aw_create_task(aw_coro(save_to_disk, NULL), "save");
    aw_task *req = aw_create_task(aw_coro(request, work), "request");
    aw_sleep(0.05);
    aw_task_cancel(req, "client went away");
    int rc = aw_join(req, NULL);
    SAW("the request sees %s at once; the save is %s", aw_errname(rc), aw_task_done(work) ? "done" : "still running");
    void *r = NULL;
    rc = aw_join(work, &r);
    SAW("the shielded save completes anyway: %s", (char *)r);
    return 0;
}

static int child_ok(void *arg, void **result)
{
    (void)result;
    int rc = aw_sleep(0.1);
    if (rc < 0) {
        printf("    (child %s cancelled)\n", (char *)arg);
        return rc;
    }
    printf("    (child %s finished)\n", (char *)arg);
    return 0;
}

static int child_fails(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_sleep(0.01);
    return aw_raise(-ECONNRESET, "upstream reset the connection");
}

static int gather_vs_group(void *arg, void **result)
{
    (void)arg; (void)result;
    void *aws[3] = { aw_coro(child_ok, "g1"), aw_coro(child_fails, NULL), aw_coro(child_ok, "g2") };
    int rc = aw_gather(3, aws, NULL, NULL, 0);
    SAW("aw_gather returned %s at once; its other children keep running", aw_errname(rc));
    aw_sleep(0.2);

    aw_group g;
    aw_group_begin(&g);
    aw_group_spawn(&g, aw_coro(child_ok, "t1"), "t1");
    aw_group_spawn(&g, aw_coro(child_fails, NULL), "failing");
    aw_group_spawn(&g, aw_coro(child_ok, "t2"), "t2");
    rc = aw_group_end(&g);
    size_t n = 0;
    const aw_group_error *e = aw_group_errors(&g, &n);
    SAW("aw_group_end returned %s; errors: %zu (task '%s': %s); siblings were cancelled",
        aw_errname(rc), n, n ? e[0].task_name : "", n && e[0].message ? e[0].message : "");
    aw_group_clear(&g);
    return 0;
}

static int named_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task *t = aw_create_task(aw_coro(quick, NULL), "db-writer");
    SAW("aw_task_name(t) = \"%s\", id %llu", aw_task_name(t), (unsigned long long)aw_task_id(t));
    return aw_join(t, NULL);
}

static int parse(void *arg, void **result)
{
    (void)arg; (void)result;
    return aw_raise(-EINVAL, "unexpected token at offset %d", 17);
}

static int unretrieved_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task *t = aw_create_task(aw_coro(parse, NULL), "parser");
    aw_sleep(0);
    printf("    (main drops its reference to the failed task without looking)\n");
    aw_task_release(t);
    return 0;
}

static int never_awaited_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_coro *c = aw_coro(fetch_data, NULL);   /* created, never awaited */
    (void)c;
    return 0;
}

static int sleeper(void *arg, void **result)
{
    (void)arg; (void)result;
    return aw_sleep(60);
}

static int child_of(void *arg, void **result)
{
    (void)result;
    return aw_await((aw_task *)arg, NULL);
}

static int dump_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task *a = aw_create_task(aw_coro(sleeper, NULL), "cache-refresh");
    aw_task *b = aw_create_task(aw_coro(child_of, a), "request-handler");
    aw_sleep(0);
    aw_task *all[8];
    size_t n = aw_all_tasks(all, 8);
    SAW("aw_all_tasks: %zu tasks; aw_current_task: '%s'", n, aw_task_name(aw_current_task()));
    printf("    aw_dump_tasks(stdout, 0):\n");
    aw_dump_tasks(stdout, 0);
    aw_task_cancel(b, NULL);
    aw_join(b, NULL);
    aw_join(a, NULL);
    return 0;
}

int main(void)
{
    void *r = NULL;
    int rc;
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("aw %d.%d.%d — the asyncio article, in C\n", AW_VERSION_MAJOR, AW_VERSION_MINOR, AW_VERSION_PATCH);

    scene("Calling an async function gives a coroutine object; the body does not run",
          "coro = fetch_data()", "aw_coro *coro = aw_coro(fetch_data, NULL);");
    aw_coro *c = aw_coro(fetch_data, NULL);
    char buf[128];
    SAW("%s — and fetch_data has not run", aw_describe(c, buf, sizeof buf));

    scene("It runs only when awaited, or passed to asyncio.run()",
          "result = asyncio.run(coro)", "aw_run(coro, &result);");
    rc = run(c, &r, 0);
    SAW("aw_run returned %d, result %s", rc, (char *)r);
    rc = run(aw_coro(main_awaits_fetch, NULL), &r, 0);
    SAW("awaited from main with aw_await: %s", (char *)r);

    scene("await is only legal inside async def",
          "await fetch_data()  # at module level: SyntaxError", "aw_await(aw_coro(fetch_data, NULL), &r);  // outside a task");
    rc = aw_await(aw_coro(fetch_data, NULL), &r);
    SAW("%s: %s", aw_errname(rc), aw_strerror(rc));

    scene("await of a coroutine does not switch; only real suspension points do",
          "await helper()  # runs inline, in the same task", "aw_await(aw_coro(helper, NULL), &r);");
    run(aw_coro(count_switches, NULL), NULL, 0);

    scene("Pure computation blocks the whole loop (debug mode names the culprit)",
          "asyncio.run(main(), debug=True)", "aw_run_ex(main, &r, &(aw_run_opts){ .debug = 1 });");
    run(aw_coro(blocking_main, NULL), NULL, 1);

    scene("await 42 is a TypeError",
          "await 42", "aw_await(42, &r);  // does not compile: _Generic has no int case");
    run(aw_coro(await_anything, NULL), NULL, 0);

    scene("Awaiting a coroutine twice is an error",
          "await coro; await coro", "aw_await(c, &r); aw_await(c, &r);");
    run(aw_coro(await_twice, NULL), NULL, 0);

    scene("asyncio.run(): new loop, main as a task, leftovers cancelled and awaited, loop closed",
          "asyncio.run(main())", "aw_run(aw_coro(main, NULL), &r);");
    rc = run(aw_coro(run_main, NULL), &r, 0);
    SAW("aw_run returned %d with \"%s\"; background cleanup ran: %s", rc, (char *)r, cleanup_ran ? "yes" : "no");

    scene("asyncio.run() inside a running loop is an error",
          "asyncio.run(other())  # inside a coroutine", "aw_run(aw_coro(other, NULL), &r);  // inside a task");
    run(aw_coro(nested_run, NULL), NULL, 0);

    scene("Each run has its own loop: a primitive cannot move between runs",
          "fut awaited in one asyncio.run(), then in another", "aw_await(f, &r);  // f bound to an earlier loop");
    aw_future *f = aw_future_new();
    run(aw_coro(first_loop, f), NULL, 0);
    rc = run(aw_coro(waits_on, f), NULL, 0);
    SAW("second loop: %s: %s", aw_errname(rc), aw_strerror(rc));
    aw_future_release(f);

    scene("create_task schedules at once; the creator keeps running until it suspends",
          "asyncio.create_task(a()); asyncio.create_task(b())", "aw_create_task(aw_coro(a, NULL), \"A\");");
    run(aw_coro(schedule_main, NULL), NULL, 0);

    scene("Fire-and-forget tasks are cancelled when main returns; \"done\" never prints",
          "asyncio.create_task(job())  # and main returns", "aw_task_release(aw_create_task(aw_coro(job, NULL), \"forgotten-job\"));");
    run(aw_coro(forget_main, NULL), NULL, 1);
    SAW("\"done\" printed: %s", said_done ? "yes" : "no");

    scene("Keep a reference and await the task",
          "t = asyncio.create_task(job()); await t", "aw_join(aw_create_task(aw_coro(job, NULL), \"kept-job\"), &r);");
    run(aw_coro(keep_main, NULL), NULL, 0);
    SAW("\"done\" printed: %s", said_done ? "yes" : "no");

    scene("shield() protects inner work from cancellation",
          "await asyncio.shield(save_task)", "aw_shield(save_task, &r);");
    run(aw_coro(shield_main, NULL), NULL, 0);

    scene("When a child fails: gather returns at once, a TaskGroup cancels the siblings",
          "await asyncio.gather(a(), b(), c())  vs  async with asyncio.TaskGroup() as tg: ...",
          "aw_gather(3, aws, r, NULL, 0);  vs  aw_group_begin(&g); aw_group_spawn(&g, ...); aw_group_end(&g);");
    run(aw_coro(gather_vs_group, NULL), NULL, 0);

    scene("Name tasks for debugging",
          "asyncio.create_task(write(), name=\"db-writer\")", "aw_create_task(aw_coro(write, NULL), \"db-writer\");");
    run(aw_coro(named_main, NULL), NULL, 0);

    scene("A failed task nobody awaits is reported when its last reference goes",
          "Task exception was never retrieved", "return aw_raise(-EINVAL, \"unexpected token at offset %d\", 17);");
    run(aw_coro(unretrieved_main, NULL), NULL, 0);

    scene("A coroutine that is never awaited is reported with its creation site",
          "RuntimeWarning: coroutine 'fetch_data' was never awaited", "aw_coro(fetch_data, NULL);  // and dropped");
    run(aw_coro(never_awaited_main, NULL), NULL, 0);

    scene("See what runs: all_tasks(), current_task() and the task tree",
          "asyncio.all_tasks(); python -m asyncio pstree PID", "aw_all_tasks(v, n); aw_dump_tasks(stdout, 0);");
    run(aw_coro(dump_main, NULL), NULL, 0);

    printf("\nEvery scene is a test in tests/test_article.c. Next: README.md and docs/guide.md.\n");
    return 0;
}
