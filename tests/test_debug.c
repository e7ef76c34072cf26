/* Debugging: the task tree and table, slow and stuck steps, stack use, debug mode's checks, the live `aw ps`. */
#include "test_util.h"
#include "internal.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---- helpers ---- */

/* A dump into a string the caller frees. */
static char *dump_str(int flags)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(aw_dump_tasks(f, flags), 0);
    fclose(f);
    return buf;
}

/* Ids, line numbers, times and stack figures vary; the shape must not. */
static char *normalise(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if ((s[i] == '#' || s[i] == ':') && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9') {
            out[o++] = s[i++];
            while (i < n && s[i] >= '0' && s[i] <= '9') i++;
            out[o++] = 'N';
        } else if (strncmp(s + i, "since ", 6) == 0 || strncmp(s + i, "stack ", 6) == 0) {
            memcpy(out + o, s + i, 6);
            o += 6;
            i += 6;
            while (i < n && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '/')) i++;
            out[o++] = 'X';
        } else {
            out[o++] = s[i++];
        }
    }
    out[o] = 0;
    return out;
}

/* The ps table has a row naming the task with this state. */
static void assert_row(const char *table, const char *name, const char *state)
{
    char want[96];
    snprintf(want, sizeof want, "  %-20s %s", name, state);
    assert_contains(table, want);
}

static void assert_same_text(const char *got, const char *want)
{
    if (strcmp(got, want) != 0) fail_msg("text differs; got:\n%s\nwanted:\n%s", got, want);
}

/* A thread-safe report collector (the watchdog reports from its own thread). */
typedef struct mt_reports {
    pthread_mutex_t mu;
    test_reports r;
    atomic_int watchdog_seen;
} mt_reports;

static void mt_handler(aw_loop *loop, const aw_exception_context *c, void *arg)
{
    mt_reports *m = arg;
    pthread_mutex_lock(&m->mu);
    test_report_handler(loop, c, &m->r);
    if (c->message && strstr(c->message, "the loop is stuck in it")) atomic_store(&m->watchdog_seen, 1);
    pthread_mutex_unlock(&m->mu);
}

static int run_debug(aw_coro *c, test_reports *r, int clock)
{
    aw_run_opts o;
    memset(&o, 0, sizeof o);
    o.debug = 1;
    o.clock = clock;
    o.no_sigint = true;
    if (r) {
        o.exception_handler = test_report_handler;
        o.exception_arg = r;
    }
    return aw_run_ex(c, NULL, &o);
}

/* ---- the tree ---- */

static aw_future *gate;

static int nap(void *arg, void **result)
{
    (void)arg; (void)result;
    return aw_sleep(100);
}

static int leaf_body(void *arg, void **result)
{
    (void)arg;
    return aw_await(aw_coro(nap, NULL), result);
}

static int fetch(void *arg, void **result)
{
    aw_task *leaf = aw_create_task(aw_coro(leaf_body, NULL), "leaf");
    int rc = aw_join(leaf, result);
    (void)arg;
    return rc;
}

static int parent_body(void *arg, void **result)
{
    (void)arg;
    return aw_call(fetch, NULL, result);
}

static int wait_gate(void *arg, void **result)
{
    (void)arg;
    return aw_await(gate, result);
}

static int inner_work(void *arg, void **result)
{
    (void)arg; (void)result;
    return aw_sleep(100);
}

static int guard_body(void *arg, void **result)
{
    aw_task *inner = aw_create_task(aw_coro(inner_work, NULL), "inner");
    int rc = aw_shield(inner, result);
    (void)arg;
    aw_task_cancel(inner, NULL);
    aw_join(inner, NULL);
    return rc;
}

static char *golden_dump;

static int dumper(void *arg, void **result)
{
    (void)arg; (void)result;
    assert_int_equal(aw_sleep(2.5), 0);
    golden_dump = dump_str(0);
    aw_task *all[16];
    size_t n = aw_all_tasks(all, 16);
    for (size_t i = 0; i < n; i++)
        if (all[i] != aw_current_task() && strcmp(aw_task_name(all[i]), "main") != 0) aw_task_cancel(all[i], NULL);
    aw_future_set_result(gate, NULL);
    return 0;
}

static int tree_main(void *arg, void **result)
{
    (void)arg;
    gate = aw_future_new();
    aw_task *sleeper = aw_create_task(aw_coro(inner_work, NULL), "sleeper");
    aw_task *fw = aw_create_task(aw_coro(wait_gate, NULL), "fut-waiter");
    aw_task *guard = aw_create_task(aw_coro(guard_body, NULL), "guard");
    aw_task *d = aw_create_task(aw_coro(dumper, NULL), "dumper");
    aw_task *parent = aw_create_task(aw_coro(parent_body, NULL), "parent");
    int rc = aw_join(parent, result);
    assert_int_equal(rc, AW_ECANCELLED);
    aw_join(sleeper, NULL);
    aw_join(fw, NULL);
    aw_join(guard, NULL);
    aw_join(d, NULL);
    aw_future_release(gate);
    return 0;
}

static const char golden_tree[] =
    "(T) main #N [waiting on task, since X s, stack X KiB]\n"
    "│   tree_main tests/test_debug.c:N\n"
    "└── (T) parent #N [waiting on task, since X s, stack X KiB] ← await\n"
    "    │   parent_body tests/test_debug.c:N\n"
    "    │   fetch tests/test_debug.c:N\n"
    "    └── (T) leaf #N [waiting on sleep, since X s, stack X KiB] ← await\n"
    "            leaf_body tests/test_debug.c:N\n"
    "            nap tests/test_debug.c:N\n"
    "(T) sleeper #N [waiting on sleep, since X s, stack X KiB]\n"
    "    inner_work tests/test_debug.c:N\n"
    "(T) fut-waiter #N [waiting on future, since X s, stack X KiB]\n"
    "    wait_gate tests/test_debug.c:N\n"
    "(T) guard #N [waiting on shield, since X s, stack X KiB]\n"
    "│   guard_body tests/test_debug.c:N\n"
    "└── (T) inner #N [waiting on sleep, since X s, stack X KiB] ← shield\n"
    "        inner_work tests/test_debug.c:N\n"
    "(T) dumper #N [running, stack X KiB]\n"
    "    dumper (running)\n";

static void dump_tree_matches_golden(void **state)
{
    (void)state;
    test_reports r = {0};
    assert_int_equal(run_debug(aw_coro(tree_main, NULL), &r, AW_CLOCK_VIRTUAL), 0);
    assert_non_null(golden_dump);
    char *norm = normalise(golden_dump);
    assert_same_text(norm, golden_tree);
    /* The times are the virtual clock's: everything has waited since 0. */
    assert_contains(golden_dump, "(T) leaf #");
    assert_contains(golden_dump, "since 2.5 s");
    free(norm);
    free(golden_dump);
    golden_dump = NULL;
}

/* Without debug mode: no times, no stack figures, the same tree. */
static int plain_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task *parent = aw_create_task(aw_coro(parent_body, NULL), "parent");
    assert_int_equal(aw_sleep(1), 0);
    char *s = dump_str(0);
    char *norm = normalise(s);
    assert_same_text(norm,
        "(T) main #N [running]\n"
        "    plain_main (running)\n"
        "(T) parent #N [waiting on task]\n"
        "│   parent_body tests/test_debug.c:N\n"
        "│   fetch tests/test_debug.c:N\n"
        "└── (T) leaf #N [waiting on sleep] ← await\n"
        "        leaf_body tests/test_debug.c:N\n"
        "        nap tests/test_debug.c:N\n");
    free(norm);
    free(s);
    /* The ps table: one row per task, the parent's id for the awaited one. */
    s = dump_str(AW_DUMP_FLAT);
    assert_contains(s, "    ID PARENT  NAME");
    assert_contains(s, "WHERE");
    assert_row(s, "parent", "waiting on task");
    assert_contains(s, "nap tests/test_debug.c:");
    char row[64];
    snprintf(row, sizeof row, "%6llu %6llu  leaf", (unsigned long long)aw_task_id(parent) + 1,
             (unsigned long long)aw_task_id(parent));
    assert_contains(s, row);
    free(s);
    /* One task's stack. */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(aw_task_print_stack(parent, f), 0);
    fclose(f);
    norm = normalise(buf);
    assert_same_text(norm, "Stack for <Task 'parent' #N> (waiting on task, most recent call last):\n"
                           "  parent_body tests/test_debug.c:N\n"
                           "  fetch tests/test_debug.c:N\n");
    free(norm);
    free(buf);
    assert_int_equal(aw_task_print_stack(NULL, stderr), -EINVAL);
    aw_task_cancel(parent, NULL);
    return aw_join(parent, NULL) == AW_ECANCELLED ? 0 : -1;
}

static void dump_without_debug_mode(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(plain_main, NULL), NULL, NULL), 0);
    assert_int_equal(aw_dump_tasks(stdout, 0), AW_ENOLOOP);
}

/* ---- a cycle ---- */

static aw_task *cyc[3];

static int await_next(void *arg, void **result)
{
    aw_task **next = arg;
    return aw_await(*next, result);
}

static int cycle_main(void *arg, void **result)
{
    (void)arg; (void)result;
    cyc[0] = aw_create_task(aw_coro(await_next, &cyc[1]), "a");
    cyc[1] = aw_create_task(aw_coro(await_next, &cyc[2]), "b");
    cyc[2] = aw_create_task(aw_coro(await_next, &cyc[0]), "c");
    aw_task *hanger = aw_create_task(aw_coro(await_next, &cyc[1]), "hanger");
    assert_int_equal(aw_sleep(1), 0);
    char *s = dump_str(0);
    char *norm = normalise(s);
    assert_same_text(norm,
        "(T) main #N [running]\n"
        "    cycle_main (running)\n"
        "(T) hanger #N [waiting on task]\n"
        "    await_next tests/test_debug.c:N\n"
        "cycle: a #N → b #N → c #N → a #N\n"
        "(T) a #N [waiting on task]\n"
        "│   await_next tests/test_debug.c:N\n"
        "└── (T) b #N [waiting on task] ← await (and 1 more awaiting it)\n"
        "    │   await_next tests/test_debug.c:N\n"
        "    └── (T) c #N [waiting on task] ← await\n"
        "        │   await_next tests/test_debug.c:N\n"
        "        └── (T) a #N ↺ back to the start of the cycle\n");
    free(norm);
    free(s);
    /* Cancelling one cancels round the circle, once. */
    aw_task_cancel(cyc[0], NULL);
    for (int i = 0; i < 3; i++) assert_int_equal(aw_join(cyc[i], NULL), AW_ECANCELLED);
    return aw_join(hanger, NULL) == AW_ECANCELLED ? 0 : -1;
}

static void dump_reports_cycle(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(cycle_main, NULL), NULL, NULL), 0);
}

/* ---- a combinator's link ---- */

static int child_done_calls;
static void child_done(aw__waiter *w) { (void)w; child_done_calls++; }

static int combiner(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task *child = aw_create_task(aw_coro(inner_work, NULL), "child");
    aw__waiter w;
    aw__watch_add(&w, &child->fut, child_done);
    aw__await_link(&w, &child->fut, aw_current_task(), "gather");
    aw_await(gate, NULL);
    aw__await_unlink(&w);
    aw__watch_drop(&w, &child->fut);
    aw_task_cancel(child, NULL);
    aw_join(child, NULL);
    return 0;
}

static int link_main(void *arg, void **result)
{
    (void)arg; (void)result;
    gate = aw_future_new();
    aw_task *c = aw_create_task(aw_coro(combiner, NULL), "combiner");
    assert_int_equal(aw_sleep(1), 0);
    char *s = dump_str(0);
    char *norm = normalise(s);
    assert_same_text(norm,
        "(T) main #N [running]\n"
        "    link_main (running)\n"
        "(T) combiner #N [waiting on future]\n"
        "│   combiner tests/test_debug.c:N\n"
        "└── (T) child #N [waiting on sleep] ← gather\n"
        "        inner_work tests/test_debug.c:N\n");
    free(norm);
    free(s);
    aw_future_set_result(gate, NULL);
    assert_int_equal(aw_join(c, NULL), 0);
    aw_future_release(gate);
    return 0;
}

static void combinator_link_nests_child(void **state)
{
    (void)state;
    child_done_calls = 0;
    assert_int_equal(test_run(aw_coro(link_main, NULL), NULL, NULL), 0);
    assert_int_equal(child_done_calls, 0);
}

/* ---- slow steps ---- */

static double fake_now;
static double fake_clock(void) { return fake_now; }

static int cruncher_line;

static int cruncher(void *arg, void **result)
{
    (void)arg; (void)result;
    cruncher_line = __LINE__ + 1;
    if (aw_sleep(1) < 0) return -1;
    fake_now += 0.5;                    /* "computes" for half a second */
    return aw_sleep(1);
}

static void slow_cb(void *arg)
{
    (void)arg;
    fake_now += 0.3;
}

static int early(void *arg, void **result)
{
    (void)arg; (void)result;
    if (aw_sleep(1) < 0) return -1;     /* ready in the same iteration as cruncher, just before it */
    return aw_sleep(1);
}

static int slow_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task *e = aw_create_task(aw_coro(early, NULL), "early");
    aw_task *c = aw_create_task(aw_coro(cruncher, NULL), "cruncher");
    assert_int_equal(aw_call_soon(aw_running_loop(), slow_cb, NULL, NULL), 0);
    assert_int_equal(aw_join(c, NULL), 0);
    assert_int_equal(aw_join(e, NULL), 0);
    aw_loop_stats st;
    assert_int_equal(aw_loop_stats_get(aw_running_loop(), &st), 0);
    assert_true(st.longest_step == 0.5);
    assert_string_equal(st.longest_step_task, "cruncher");
    assert_int_equal(st.slow_steps, 2);
    assert_true(st.callbacks >= 1);
    /* Above the threshold only. */
    assert_int_equal(aw_loop_set_slow_callback_duration(aw_running_loop(), 1.0), 0);
    assert_true(aw_loop_get_slow_callback_duration(aw_running_loop()) == 1.0);
    assert_int_equal(aw_loop_set_slow_callback_duration(aw_running_loop(), -1), -EINVAL);
    c = aw_create_task(aw_coro(cruncher, NULL), "quiet");
    return aw_join(c, NULL);
}

static void slow_step_reported(void **state)
{
    (void)state;
    test_reports r = {0};
    fake_now = 0;
    aw__step_clock = fake_clock;
    int rc = run_debug(aw_coro(slow_main, NULL), &r, AW_CLOCK_VIRTUAL);
    aw__step_clock = aw__clock_real;
    assert_int_equal(rc, 0);
    /* A static callback has no name the dynamic linker knows: its address stands in. */
    assert_contains(r.text, "Executing <Handle 0x");
    const char *task_line = strstr(r.text, "> took 0.300 seconds||||:0\n");
    assert_non_null(task_line);
    /* Named after the task that ran, and where its own step began (not the
     * task before it in the same iteration). */
    char want[128];
    snprintf(want, sizeof want, "Executing <Task 'cruncher' at tests/test_debug.c:%d> took 0.500 seconds",
             cruncher_line);
    assert_contains(r.text, want);
    char *norm = normalise(task_line + strlen("> took 0.300 seconds||||:0\n"));
    assert_same_text(norm,
        "Executing <Task 'cruncher' at tests/test_debug.c:N> took 0.500 seconds|cruncher||"
        "the step began at tests/test_debug.c:N (resumed from sleep); "
        "it suspended at tests/test_debug.c:N (sleep)|tests/test_debug.c:N\n");
    free(norm);
}

/* ---- the watchdog ---- */

static mt_reports wd;

static int spinner(void *arg, void **result)
{
    (void)arg; (void)result;
    if (aw_sleep(0.01) < 0) return -1;
    double limit = aw__clock_real() + 20;
    while (!atomic_load(&wd.watchdog_seen) && aw__clock_real() < limit) {
        /* pure computation: the loop is stuck here */
    }
    return 0;
}

static int watchdog_main(void *arg, void **result)
{
    (void)arg; (void)result;
    assert_int_equal(aw_loop_set_watchdog(aw_running_loop(), 0.2), 0);
    assert_int_equal(aw_loop_set_watchdog(aw_running_loop(), -1), -EINVAL);
    return aw_join(aw_create_task(aw_coro(spinner, NULL), "spinner"), NULL);
}

static void watchdog_reports_stuck_step(void **state)
{
    (void)state;
    memset(&wd, 0, sizeof wd);
    pthread_mutex_init(&wd.mu, NULL);
    aw_run_opts o = { .debug = 1, .no_sigint = true, .exception_handler = mt_handler, .exception_arg = &wd };
    assert_int_equal(aw_run_ex(aw_coro(watchdog_main, NULL), NULL, &o), 0);
    /* Reported while it was stuck: the spinner only stops once it has been. */
    assert_int_equal(atomic_load(&wd.watchdog_seen), 1);
    assert_contains(wd.r.text, "Executing <Task 'spinner' at tests/test_debug.c:");
    assert_contains(wd.r.text, "> has been running for ");
    assert_contains(wd.r.text, " seconds: the loop is stuck in it|spinner||watchdog: the step began at "
                               "tests/test_debug.c:");
    assert_contains(wd.r.text, "(resumed from sleep) and has not suspended since|tests/test_debug.c:");
    /* ...and the slow-step report once it ended. */
    assert_contains(wd.r.text, "Executing <Task 'spinner' at tests/test_debug.c:");
    assert_contains(wd.r.text, "then the task finished");
    pthread_mutex_destroy(&wd.mu);
}

/* ---- stack use ---- */

static int deep(void *arg, void **result)
{
    (void)arg; (void)result;
    size_t size = aw_current_task()->stack->size;
    size_t n = size * 8 / 10;
    volatile char *p = __builtin_alloca(n);
    for (size_t i = 0; i < n; i += 512) p[i] = 1;
    return aw_sleep(0);
}

static int shallow(void *arg, void **result)
{
    (void)arg; (void)result;
    return aw_sleep(0);
}

static int stack_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task *a = aw_create_task(aw_coro(deep, NULL), "deep");
    aw_task *b = aw_create_task(aw_coro(shallow, NULL), "shallow");
    assert_int_equal(aw_task_set_stack_size(a, 64 * 1024), 0);
    assert_int_equal(aw_sleep(0), 0);
    /* The dump shows the high-water mark of a live task. */
    char *s = dump_str(0);
    assert_contains(s, "(T) deep #2 [ready, stack ");
    free(s);
    assert_int_equal(aw_join(a, NULL), 0);
    return aw_join(b, NULL);
}

static void stack_use_reported(void **state)
{
    (void)state;
    test_reports r = {0};
    assert_int_equal(run_debug(aw_coro(stack_main, NULL), &r, AW_CLOCK_VIRTUAL), 0);
    assert_int_equal(r.count, 1);
    assert_contains(r.text, "Task used 8");
    assert_contains(r.text, " % of its stack|deep||");
    assert_contains(r.text, "KiB at its deepest: give it more with aw_task_set_stack_size|tests/test_debug.c:");
}

/* ---- released while pending ---- */

static int released_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task_release(aw_create_task(aw_coro(inner_work, NULL), "orphan"));
    /* Awaited once, then released while still running: not reported. */
    aw_task *t = aw_create_task(aw_coro(inner_work, NULL), "watched");
    aw_scope s;
    aw_scope_begin(&s);
    aw_scope_set_deadline(&s, aw_now() + 1);
    assert_int_equal(aw_await(t, NULL), AW_ECANCELLED);
    aw_scope_end(&s);
    aw_task_release(t);
    /* Referenced twice: the first release leaves a handle. */
    t = aw_create_task(aw_coro(inner_work, NULL), "kept");
    aw_task_ref(t);
    aw_task_release(t);
    aw_task_cancel(t, NULL);
    aw_join(t, NULL);
    return 0;
}

static void released_pending_reported(void **state)
{
    (void)state;
    test_reports r = {0};
    assert_int_equal(run_debug(aw_coro(released_main, NULL), &r, AW_CLOCK_VIRTUAL), 0);
    assert_contains(r.text, "Task was released while pending and is never awaited|orphan||");
    assert_null(strstr(r.text, "awaited|watched"));
    assert_null(strstr(r.text, "awaited|kept"));
    /* Without debug mode, nothing. */
    memset(&r, 0, sizeof r);
    assert_int_equal(test_run(aw_coro(released_main, NULL), NULL, &r), 0);
    assert_null(strstr(r.text, "released while pending"));
}

/* ---- loop APIs from another thread ---- */

static aw_loop *foreign_loop;
static aw_future *foreign_fut;
static int foreign_rc[5];

static void never(void *arg) { (void)arg; fail_msg("a callback scheduled from a foreign thread ran"); }
static void posted(void *arg) { (void)arg; aw_future_set_result(foreign_fut, "posted"); }

static void *foreign_thread(void *arg)
{
    (void)arg;
    foreign_rc[0] = aw_call_soon(foreign_loop, never, NULL, NULL);
    foreign_rc[1] = aw_call_later(foreign_loop, 1, never, NULL, NULL);
    foreign_rc[2] = aw_future_set_result(foreign_fut, "wrong");
    aw_task *t = aw_loop_create_task(foreign_loop, aw_coro(inner_work, NULL), "foreign");
    foreign_rc[3] = t ? 0 : -errno;
    aw_loop_stop(foreign_loop);
    foreign_rc[4] = aw_loop_call_soon_threadsafe(foreign_loop, posted, NULL);
    return NULL;
}

static int await_foreign(void *arg, void **result)
{
    (void)arg;
    return aw_await(foreign_fut, result);
}

static int foreign_main(void *arg, void **result)
{
    (void)arg;
    foreign_loop = aw_running_loop();
    foreign_fut = aw_future_new();
    /* Awaiting binds the future to this loop before the thread starts. */
    aw_task *a = aw_create_task(aw_coro(await_foreign, NULL), "awaiter");
    assert_int_equal(aw_sleep(0), 0);
    void *r = NULL;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, foreign_thread, NULL), 0);
    int rc = aw_join(a, &r);
    pthread_join(th, NULL);
    assert_int_equal(rc, 0);
    assert_string_equal(r, "posted");
    aw_future_release(foreign_fut);
    *result = NULL;
    return 0;
}

static void foreign_thread_refused(void **state)
{
    (void)state;
    mt_reports m;
    memset(&m, 0, sizeof m);
    pthread_mutex_init(&m.mu, NULL);
    aw_run_opts o = { .debug = 1, .no_sigint = true, .exception_handler = mt_handler, .exception_arg = &m };
    assert_int_equal(aw_run_ex(aw_coro(foreign_main, NULL), NULL, &o), 0);
    assert_int_equal(foreign_rc[0], AW_EWRONGTHREAD);
    assert_int_equal(foreign_rc[1], AW_EWRONGTHREAD);
    assert_int_equal(foreign_rc[2], AW_EWRONGTHREAD);
    assert_int_equal(foreign_rc[3], -EPERM);
    assert_int_equal(foreign_rc[4], 0);
    const char *msg = "Non-thread-safe operation invoked on an event loop other than the current one||RuntimeError|";
    assert_contains(m.r.text, msg);
    assert_contains(m.r.text, "aw_call_soon was called from another thread than the loop's");
    assert_contains(m.r.text, "aw_future_set_result was called");
    assert_contains(m.r.text, "aw_loop_create_task was called");
    assert_contains(m.r.text, "aw_loop_stop was called");
    assert_int_equal(m.r.count, 5);
    pthread_mutex_destroy(&m.mu);
}

/* ---- resources left open ---- */

static int res_a, res_b;

static int resources_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw__resource_track(NULL, "stream", "tcp 127.0.0.1:5000", &res_a);
    aw__resource_track(NULL, "server", "unix /tmp/x.sock", &res_b);
    for (int i = 0; i < 200; i++) aw__resource_track(NULL, "socket", "many", (char *)&res_a + 1 + i);
    for (int i = 0; i < 200; i++) aw__resource_untrack(NULL, (char *)&res_a + 1 + i);
    aw__resource_untrack(NULL, &res_b);
    aw__resource_untrack(NULL, &res_b);         /* twice: harmless */
    return 0;
}

static void unclosed_resources_reported(void **state)
{
    (void)state;
    test_reports r = {0};
    assert_int_equal(run_debug(aw_coro(resources_main, NULL), &r, AW_CLOCK_VIRTUAL), 0);
    assert_int_equal(r.count, 1);
    assert_contains(r.text, "Unclosed resource when the loop closed|||stream tcp 127.0.0.1:5000 (0x");
    memset(&r, 0, sizeof r);
    assert_int_equal(test_run(aw_coro(resources_main, NULL), NULL, &r), 0);
    assert_int_equal(r.count, 0);
}

/* ---- the dump signal ---- */

static int signal_main(void *arg, void **result)
{
    (void)arg; (void)result;
    struct aw__debug *d = aw__debug_get(aw_running_loop());
    assert_non_null(d);
    assert_int_equal(aw__service_signal_install(d, SIGUSR2), 0);
    aw_task *t = aw_create_task(aw_coro(inner_work, NULL), "signalled");
    raise(SIGUSR2);
    /* The loop dumps between steps, once the debug thread has asked it to. */
    FILE *err = stderr;
    char buf[4096];
    double limit = aw__clock_real() + 20;
    bool seen = false;
    while (!seen && aw__clock_real() < limit) {
        assert_int_equal(aw_sleep(0.01), 0);
        fflush(err);
        FILE *f = fopen("test_debug_signal.txt", "r");
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f) fclose(f);
        buf[n] = 0;
        seen = strstr(buf, "(T) signalled #") != NULL;
    }
    aw__service_signal_remove(d);
    assert_true(seen);
    assert_contains(buf, "aw: tasks of the loop (pid ");
    assert_contains(buf, "(T) main #1 [waiting on sleep]");
    aw_task_cancel(t, NULL);
    aw_join(t, NULL);
    return 0;
}

static void dump_signal_prints_tree(void **state)
{
    (void)state;
    fflush(stderr);
    int saved = dup(2);
    int fd = open("test_debug_signal.txt", O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    dup2(fd, 2);
    close(fd);
    aw_run_opts o = { .no_sigint = true };
    int rc = aw_run_ex(aw_coro(signal_main, NULL), NULL, &o);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    unlink("test_debug_signal.txt");
    assert_int_equal(rc, 0);
}

/* ---- the live `aw ps` ---- */

#ifndef AW_CLI_PATH
#  define AW_CLI_PATH "tools/aw"
#endif

typedef struct cli_run {
    const char *cmd;
    char out[32768];
    size_t len;
    int status;
    aw_loop *loop;
    aw_future *done;
    atomic_int finished;
} cli_run;

static char sock_path[108];

static void cli_finished(void *arg)
{
    cli_run *c = arg;
    aw_future_set_result(c->done, NULL);
}

/* Run `aw CMD SOCKET` and collect its output (on a plain thread). */
static void *cli_thread(void *arg)
{
    cli_run *c = arg;
    int p[2];
    if (pipe2(p, O_CLOEXEC) == 0) {
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[1], 1);
        char *argv[] = { (char *)AW_CLI_PATH, (char *)c->cmd, sock_path, NULL };
        pid_t pid;
        int rc = posix_spawn(&pid, AW_CLI_PATH, &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(p[1]);
        if (rc == 0) {
            ssize_t k;
            while ((k = read(p[0], c->out + c->len, sizeof c->out - 1 - c->len)) > 0) c->len += (size_t)k;
            waitpid(pid, &c->status, 0);
        } else {
            c->status = -1;
        }
        close(p[0]);
    }
    c->out[c->len] = 0;
    atomic_store(&c->finished, 1);
    if (c->loop) aw_loop_call_soon_threadsafe(c->loop, cli_finished, c);
    return NULL;
}

/* Await the CLI's run without blocking the loop (it has to answer). */
static int run_cli(cli_run *c, const char *cmd)
{
    memset(c, 0, sizeof *c);
    c->cmd = cmd;
    c->loop = aw_running_loop();
    c->done = aw_future_new();
    pthread_t th;
    if (pthread_create(&th, NULL, cli_thread, c) != 0) return -1;
    aw_scope s;
    aw_scope_begin(&s);
    aw_scope_set_deadline(&s, aw_now() + 30);
    int rc = aw_await(c->done, NULL);
    aw_scope_end(&s);
    pthread_join(th, NULL);
    aw_future_release(c->done);
    return rc;
}

static int worker(void *arg, void **result)
{
    (void)arg; (void)result;
    return aw_sleep(3600);
}

static int live_spinner(void *arg, void **result)
{
    cli_run *c = arg;
    (void)result;
    if (aw_sleep(0.01) < 0) return -1;
    pthread_t th;
    if (pthread_create(&th, NULL, cli_thread, c) != 0) return -1;
    double limit = aw__clock_real() + 20;
    while (!atomic_load(&c->finished) && aw__clock_real() < limit) {
        /* the loop is stuck: only the debug thread can answer */
    }
    pthread_join(th, NULL);
    return 0;
}

static int live_main(void *arg, void **result)
{
    (void)arg; (void)result;
    snprintf(sock_path, sizeof sock_path, "/tmp/aw-test-debug-%ld.sock", (long)getpid());
    aw_loop *loop = aw_running_loop();
    assert_int_equal(aw_loop_serve_debug(loop, sock_path), 0);
    assert_int_equal(aw_loop_serve_debug(loop, ""), -EINVAL);
    aw_task *w1 = aw_create_task(aw_coro(worker, NULL), "worker-1");
    aw_task *w2 = aw_create_task(aw_coro(worker, NULL), "worker-2");
    assert_int_equal(aw_sleep(0), 0);
    static cli_run c;

    assert_int_equal(run_cli(&c, "ps"), 0);
    assert_true(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0);
    assert_contains(c.out, "iterations ");
    assert_contains(c.out, "tasks.live       3\n");
    assert_contains(c.out, "    ID PARENT  NAME");
    assert_row(c.out, "worker-1", "waiting on sleep");
    assert_row(c.out, "worker-2", "waiting on sleep");
    assert_row(c.out, "main", "waiting on future");

    assert_int_equal(run_cli(&c, "pstree"), 0);
    assert_contains(c.out, "(T) main #1 [waiting on future, since ");
    assert_contains(c.out, " KiB]\n    live_main tests/test_debug.c:");
    assert_contains(c.out, "(T) worker-1 #2 [waiting on sleep, since ");
    assert_contains(c.out, " KiB]\n    worker tests/test_debug.c:");

    assert_int_equal(run_cli(&c, "stats"), 0);
    assert_contains(c.out, "switches ");
    assert_contains(c.out, "debug            on\n");
    assert_null(strstr(c.out, "(T)"));

    /* A second server at the same path is refused while this one answers. */
    aw_loop *other = aw_loop_new();
    assert_int_equal(aw_loop_serve_debug(other, sock_path), -EADDRINUSE);
    aw_loop_close(other);

    /* A stuck loop cannot build the dump; the debug thread names the step. */
    memset(&c, 0, sizeof c);
    c.cmd = "ps";
    aw_task *sp = aw_create_task(aw_coro(live_spinner, &c), "spinner");
    assert_int_equal(aw_join(sp, NULL), 0);
    assert_contains(c.out, "aw: the loop did not answer within 1.0 s: it has been running one step for ");
    assert_contains(c.out, "  (T) spinner #");
    assert_contains(c.out, ", its step began at tests/test_debug.c:");
    assert_contains(c.out, "(resumed from sleep)");

    aw_task_cancel(w1, NULL);
    aw_task_cancel(w2, NULL);
    aw_join(w1, NULL);
    aw_join(w2, NULL);
    assert_int_equal(aw_loop_serve_debug(loop, NULL), 0);
    return 0;
}

static void live_aw_ps(void **state)
{
    (void)state;
    if (access(AW_CLI_PATH, X_OK) != 0) skip();
    mt_reports m;
    memset(&m, 0, sizeof m);
    pthread_mutex_init(&m.mu, NULL);
    aw_run_opts o = { .debug = 1, .no_sigint = true, .exception_handler = mt_handler, .exception_arg = &m };
    assert_int_equal(aw_run_ex(aw_coro(live_main, NULL), NULL, &o), 0);
    pthread_mutex_destroy(&m.mu);
    /* The socket file goes with the server. */
    assert_int_equal(access(sock_path, F_OK), -1);
}

/* ---- AW_DEBUG_SOCKET in a child process ---- */

static int serve_worker(void *arg, void **result)
{
    (void)arg; (void)result;
    return aw_sleep(3600);
}

/* The child: tasks until its stdin closes (the parent is done looking). */
static int serve_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task *w = aw_create_task(aw_coro(serve_worker, NULL), "env-worker");
    int rc = aw_wait_readable(0, 30);
    aw_task_cancel(w, NULL);
    aw_join(w, NULL);
    return rc;
}

/* Run the aw tool on path; its output into out. Returns its exit status. */
static int run_tool(const char *cmd, const char *path, char *out, size_t size)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    char *argv[] = { (char *)AW_CLI_PATH, (char *)cmd, (char *)path, NULL };
    pid_t pid;
    int rc = posix_spawn(&pid, AW_CLI_PATH, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    size_t len = 0;
    ssize_t k;
    while (rc == 0 && len + 1 < size && (k = read(p[0], out + len, size - 1 - len)) > 0) len += (size_t)k;
    out[len] = 0;
    close(p[0]);
    int status = -1;
    if (rc == 0) waitpid(pid, &status, 0);
    return status;
}

static char self_path[4096];

static void env_socket_in_child(void **state)
{
    (void)state;
    if (access(AW_CLI_PATH, X_OK) != 0 || !self_path[0]) skip();
    int in[2];
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    char *argv[] = { self_path, (char *)"--serve", NULL };
    char *envp[] = { (char *)"AW_DEBUG_SOCKET=/tmp/aw-test-env-%p.sock", (char *)"AW_DEBUG=1", NULL };
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, self_path, &fa, NULL, argv, envp), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    char path[108];
    snprintf(path, sizeof path, "/tmp/aw-test-env-%ld.sock", (long)pid);   /* "%p" is the child's pid */
    static char out[32768];
    int status = -1;
    for (int i = 0; i < 400; i++) {                 /* the child's loop starts: up to 20 s */
        /* The socket is served from the loop's start: wait for both tasks to be parked. */
        if (access(path, F_OK) == 0 && (status = run_tool("pstree", path, out, sizeof out)) == 0 &&
            strstr(out, "(T) env-worker #2 [waiting"))
            break;
        struct timespec ts = { 0, 50 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    close(in[1]);                                   /* the child's stdin ends: it stops */
    int cstatus;
    waitpid(pid, &cstatus, 0);
    assert_int_equal(status, 0);
    assert_contains(out, "(T) main #1 [waiting on read, since ");
    assert_contains(out, "    serve_main tests/test_debug.c:");
    assert_contains(out, "(T) env-worker #2 [waiting on sleep, since ");
    assert_true(WIFEXITED(cstatus) && WEXITSTATUS(cstatus) == 0);
    assert_int_equal(access(path, F_OK), -1);     /* removed when the loop closed */
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--serve") == 0)
        return aw_run(aw_coro(serve_main, NULL), NULL) == 0 ? 0 : 1;
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    self_path[n > 0 ? n : 0] = 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dump_tree_matches_golden),
        cmocka_unit_test(dump_without_debug_mode),
        cmocka_unit_test(dump_reports_cycle),
        cmocka_unit_test(combinator_link_nests_child),
        cmocka_unit_test(slow_step_reported),
        cmocka_unit_test(watchdog_reports_stuck_step),
        cmocka_unit_test(stack_use_reported),
        cmocka_unit_test(released_pending_reported),
        cmocka_unit_test(foreign_thread_refused),
        cmocka_unit_test(unclosed_resources_reported),
        cmocka_unit_test(dump_signal_prints_tree),
        cmocka_unit_test(live_aw_ps),
        cmocka_unit_test(env_socket_in_child),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
