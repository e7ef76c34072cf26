/* Tests of the thread pool: aw_to_thread, cancel and abandon, lanes, aw_run_coroutine_threadsafe. */
#include "test_util.h"
#include "internal.h"

#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

/* A gate a pool thread can block on until the test opens it. */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool open;
    int waiting;                /* threads blocked in gate_pass */
} gate;

static void gate_init(gate *g)
{
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cond, NULL);
    g->open = false;
    g->waiting = 0;
}

static void gate_pass(gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->waiting++;
    while (!g->open) pthread_cond_wait(&g->cond, &g->mu);
    g->waiting--;
    pthread_mutex_unlock(&g->mu);
}

static void gate_open(gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->mu);
}

static int gate_waiting(gate *g)
{
    pthread_mutex_lock(&g->mu);
    int n = g->waiting;
    pthread_mutex_unlock(&g->mu);
    return n;
}

static void gate_destroy(gate *g)
{
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->mu);
}

/* Yield until cond holds (pool threads make progress meanwhile). */
#define YIELD_UNTIL(cond) do {                                   \
        long n_ = 0;                                                \
        while (!(cond)) {                                           \
            assert_int_equal(aw_sleep(0), 0);                       \
            if (++n_ % 64 == 0) usleep(100);                        \
            assert_true(n_ < 50000000);                             \
        }                                                           \
    } while (0)

/* ---- basics ---- */

static int square(void *arg, void **result)
{
    intptr_t v = (intptr_t)arg;
    *result = (void *)(v * v);
    return v < 0 ? -EDOM : 0;
}

static int basic_main(void *arg, void **result)
{
    (void)arg; (void)result;
    void *r = NULL;
    assert_int_equal(aw_to_thread(square, (void *)7, &r), 0);
    assert_ptr_equal(r, (void *)49);
    assert_int_equal(aw_to_thread(square, (void *)-3, &r), -EDOM);
    assert_ptr_equal(r, (void *)9);
    assert_int_equal(aw_to_thread(NULL, NULL, &r), -EINVAL);
    assert_int_equal(aw_to_thread_ex(square, NULL, &r, 0x100), -EINVAL);
    assert_int_equal(aw_to_thread_ex(square, (void *)5, &r, AW_THREAD_ABANDON), 0);
    assert_ptr_equal(r, (void *)25);
    return 0;
}

static void to_thread_basic(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(basic_main, NULL), NULL, NULL), 0);
    void *r;
    assert_int_equal(aw_to_thread(square, (void *)2, &r), AW_ENOTASK);
    int n = aw_threadpool_size();
    assert_true(n >= 5 && n <= 32);
}

/* ---- many tasks at once ---- */

static atomic_int in_fn, max_in_fn;

static int slow_double(void *arg, void **result)
{
    int now = atomic_fetch_add(&in_fn, 1) + 1;
    int m = atomic_load(&max_in_fn);
    while (now > m && !atomic_compare_exchange_weak(&max_in_fn, &m, now)) {}
    usleep(200);
    atomic_fetch_sub(&in_fn, 1);
    *result = (void *)((intptr_t)arg * 2);
    return 0;
}

static int one_call(void *arg, void **result)
{
    return aw_to_thread(slow_double, arg, result);
}

#define MANY 200

static int many_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task *t[MANY];
    for (int i = 0; i < MANY; i++) {
        t[i] = aw_create_task(aw_coro(one_call, (void *)(intptr_t)i), NULL);
        assert_non_null(t[i]);
    }
    for (int i = 0; i < MANY; i++) {
        void *r = NULL;
        assert_int_equal(aw_join(t[i], &r), 0);
        assert_int_equal((intptr_t)r, 2 * i);
    }
    return 0;
}

static void to_thread_many(void **state)
{
    (void)state;
    atomic_store(&in_fn, 0);
    atomic_store(&max_in_fn, 0);
    assert_int_equal(test_run(aw_coro(many_main, NULL), NULL, NULL), 0);
    assert_int_equal(atomic_load(&in_fn), 0);
    assert_true(atomic_load(&max_in_fn) >= 1);
    assert_true(atomic_load(&max_in_fn) <= aw_threadpool_size());
}

/* ---- cancel waits for the worker by default ---- */

typedef struct held {
    gate g;
    atomic_int started, finished;
    int *counter;               /* on the caller's stack: why the default must wait */
} held;

static int held_fn(void *arg, void **result)
{
    held *h = arg;
    atomic_store(&h->started, 1);
    gate_pass(&h->g);
    (*h->counter)++;
    atomic_store(&h->finished, 1);
    *result = (void *)0x1234;
    return 0;
}

typedef struct caller_ctx {
    held *h;
    int flags;
    int rc;
    void *r;
    bool returned;
} caller_ctx;

static int caller(void *arg, void **result)
{
    (void)result;
    caller_ctx *c = arg;
    int counter = 0;
    c->h->counter = &counter;
    c->rc = aw_to_thread_ex(held_fn, c->h, &c->r, c->flags);
    c->returned = true;
    if (!(c->flags & AW_THREAD_ABANDON)) assert_int_equal(counter, 1);
    return c->rc;
}

static int cancel_waits_main(void *arg, void **result)
{
    (void)arg; (void)result;
    held h;
    gate_init(&h.g);
    atomic_store(&h.started, 0);
    atomic_store(&h.finished, 0);
    caller_ctx c = { .h = &h, .flags = 0 };
    aw_task *t = aw_create_task(aw_coro(caller, &c), "caller");
    YIELD_UNTIL(atomic_load(&h.started));
    assert_int_equal(aw_task_cancel(t, NULL), 1);
    for (int i = 0; i < 100; i++) assert_int_equal(aw_sleep(0), 0);
    /* fn still runs: the caller has not returned */
    assert_false(c.returned);
    assert_false(aw_task_done(t));
    gate_open(&h.g);
    assert_int_equal(aw_join(t, NULL), AW_ECANCELLED);
    assert_true(c.returned);
    assert_int_equal(c.rc, AW_ECANCELLED);
    assert_ptr_equal(c.r, (void *)0x1234);    /* the result is handed back for release */
    assert_int_equal(atomic_load(&h.finished), 1);
    gate_destroy(&h.g);
    return 0;
}

static void to_thread_cancel_waits(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(cancel_waits_main, NULL), NULL, NULL), 0);
}

/* ---- abandon returns at once; the late result is dropped ---- */

static held *abandoned;
static int abandoned_counter;

static int abandon_main(void *arg, void **result)
{
    (void)arg; (void)result;
    held *h = abandoned;
    caller_ctx *c = calloc(1, sizeof *c);
    c->h = h;
    c->flags = AW_THREAD_ABANDON;
    aw_task *t = aw_create_task(aw_coro(caller, c), "abandoner");
    YIELD_UNTIL(atomic_load(&h->started));
    h->counter = &abandoned_counter;    /* fn writes somewhere that outlives the task */
    assert_int_equal(aw_task_cancel(t, NULL), 1);
    assert_int_equal(aw_join(t, NULL), AW_ECANCELLED);
    assert_true(c->returned);
    assert_int_equal(c->rc, AW_ECANCELLED);
    assert_null(c->r);
    assert_int_equal(atomic_load(&h->finished), 0);  /* fn is still blocked */
    free(c);
    gate_open(&h->g);           /* the late result arrives after the caller left */
    return 0;
}

static void to_thread_abandon(void **state)
{
    (void)state;
    held *h = calloc(1, sizeof *h);
    gate_init(&h->g);
    abandoned = h;
    abandoned_counter = 0;
    assert_int_equal(test_run(aw_coro(abandon_main, NULL), NULL, NULL), 0);
    /* aw_run's shutdown waited for the job of its loop */
    assert_int_equal(atomic_load(&h->finished), 1);
    assert_int_equal(abandoned_counter, 1);
    gate_destroy(&h->g);
    free(h);
}

/* ---- a job that has not started is dropped by a cancel ---- */

static atomic_int ran_late;

static int mark_ran(void *arg, void **result)
{
    (void)arg; (void)result;
    atomic_store(&ran_late, 1);
    return 0;
}

static int blocker(void *arg, void **result)
{
    (void)result;
    gate_pass(arg);
    return 0;
}

static int run_blocker(void *arg, void **result)
{
    return aw_to_thread(blocker, arg, result);
}

static int run_mark(void *arg, void **result)
{
    return aw_to_thread(mark_ran, arg, result);
}

static int cancel_queued_main(void *arg, void **result)
{
    (void)arg; (void)result;
    unsigned cap;
    aw__threadpool_lane_stats(AW__LANE_CPU, NULL, NULL, &cap);
    gate g;
    gate_init(&g);
    aw_task *b[64];
    for (unsigned i = 0; i < cap; i++) b[i] = aw_create_task(aw_coro(run_blocker, &g), NULL);
    YIELD_UNTIL(gate_waiting(&g) == (int)cap);
    aw_task *late = aw_create_task(aw_coro(run_mark, NULL), "late");
    unsigned running, queued;
    YIELD_UNTIL((aw__threadpool_lane_stats(AW__LANE_CPU, &running, &queued, NULL), queued == 1));
    assert_int_equal(running, cap);
    aw_task_cancel(late, NULL);
    assert_int_equal(aw_join(late, NULL), AW_ECANCELLED);
    aw__threadpool_lane_stats(AW__LANE_CPU, &running, &queued, NULL);
    assert_int_equal(queued, 0);
    gate_open(&g);
    for (unsigned i = 0; i < cap; i++) assert_int_equal(aw_join(b[i], NULL), 0);
    assert_int_equal(atomic_load(&ran_late), 0);
    gate_destroy(&g);
    return 0;
}

static void to_thread_cancel_queued(void **state)
{
    (void)state;
    atomic_store(&ran_late, 0);
    assert_int_equal(test_run(aw_coro(cancel_queued_main, NULL), NULL, NULL), 0);
    assert_int_equal(atomic_load(&ran_late), 0);
}

/* ---- lanes: one saturated lane does not block the others ---- */

static gate dns_gate;
static int blocking_gai(const char *h, const char *p, const struct addrinfo *hints, struct addrinfo **res)
{
    (void)h; (void)p; (void)hints; (void)res;
    gate_pass(&dns_gate);
    return EAI_NONAME;
}

static int lookup(void *arg, void **result)
{
    (void)arg; (void)result;
    struct addrinfo *res = NULL;
    int rc = aw_getaddrinfo("blocked.example", "80", NULL, &res);
    assert_null(res);
    return rc;
}

static int file_work(const char *path)
{
    int fd;
    int rc = aw_file_open(path, O_RDWR | O_CREAT | O_TRUNC, 0600, &fd);
    if (rc < 0) return rc;
    size_t done;
    rc = aw_file_write(fd, "lanes", 5, &done);
    if (rc == 0) rc = aw_file_pread(fd, (char[8]){0}, 5, 0, &done);
    if (rc == 0 && done != 5) rc = -EIO;
    int c = aw_file_close(fd);
    return rc ? rc : c;
}

static int lanes_main(void *arg, void **result)
{
    (void)arg; (void)result;
    const char *path = arg;
    unsigned dns_cap;
    aw__threadpool_lane_stats(AW__LANE_DNS, NULL, NULL, &dns_cap);
    aw_task *l[64];
    unsigned n = dns_cap + 2;
    for (unsigned i = 0; i < n; i++) l[i] = aw_create_task(aw_coro(lookup, NULL), NULL);
    YIELD_UNTIL(gate_waiting(&dns_gate) == (int)dns_cap);
    unsigned running, queued;
    aw__threadpool_lane_stats(AW__LANE_DNS, &running, &queued, NULL);
    assert_int_equal(running, dns_cap);
    assert_int_equal(queued, 2);

    /* The DNS lane is full and stuck: file I/O and to_thread still go through. */
    assert_int_equal(file_work(path), 0);
    void *r;
    assert_int_equal(aw_to_thread(square, (void *)3, &r), 0);
    assert_ptr_equal(r, (void *)9);

    /* Now block the CPU lane too: file I/O still goes through. */
    unsigned cpu_cap;
    aw__threadpool_lane_stats(AW__LANE_CPU, NULL, NULL, &cpu_cap);
    gate g;
    gate_init(&g);
    aw_task *b[64];
    unsigned nb = cpu_cap + 1;
    for (unsigned i = 0; i < nb; i++) b[i] = aw_create_task(aw_coro(run_blocker, &g), NULL);
    YIELD_UNTIL(gate_waiting(&g) >= 1 &&
                (aw__threadpool_lane_stats(AW__LANE_CPU, &running, &queued, NULL), running + queued == nb) &&
                gate_waiting(&g) == (int)running);
    assert_int_equal(file_work(path), 0);

    gate_open(&g);
    gate_open(&dns_gate);
    for (unsigned i = 0; i < nb; i++) assert_int_equal(aw_join(b[i], NULL), 0);
    for (unsigned i = 0; i < n; i++) assert_int_equal(aw_join(l[i], NULL), AW_EAI_NONAME);
    gate_destroy(&g);
    return 0;
}

static void lanes_do_not_starve(void **state)
{
    (void)state;
    char path[] = "/tmp/aw_test_lanes_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    gate_init(&dns_gate);
    aw__gai_fn = blocking_gai;
    assert_int_equal(test_run(aw_coro(lanes_main, path), NULL, NULL), 0);
    aw__gai_fn = getaddrinfo;
    gate_destroy(&dns_gate);
    unlink(path);
}

/* ---- aw_run_coroutine_threadsafe ---- */

typedef struct foreign {
    aw_loop *loop;
    aw_future *f;               /* what the submitted coroutine waits for */
    aw_future *never;           /* never completed: for the cancel */
    int rc_timeout, rc_result, rc_cancel, rc_cancelled, rc_done_cancel;
    void *result;
} foreign;

static int await_future(void *arg, void **result)
{
    aw_future *f = arg;
    void *r = NULL;
    int rc = aw_await(f, &r);
    if (result) *result = r;
    return rc;
}

static void set_f(void *arg)
{
    foreign *x = arg;
    aw_future_set_result(x->f, (void *)0xbeef);
}

static void *foreign_thread(void *arg)
{
    foreign *x = arg;
    aw_cfuture *cf = aw_run_coroutine_threadsafe(x->loop, aw_coro(await_future, x->f));
    if (!cf) return NULL;
    void *r = NULL;
    x->rc_timeout = aw_cfuture_wait(cf, 0.05, &r);      /* the future is not set yet */
    aw_loop_call_soon_threadsafe(x->loop, set_f, x);
    x->rc_result = aw_cfuture_wait(cf, -1, &x->result);
    x->rc_done_cancel = aw_cfuture_cancel(cf);           /* already done: 0 */
    aw_cfuture_release(cf);

    aw_cfuture *c2 = aw_run_coroutine_threadsafe(x->loop, aw_coro(await_future, x->never));
    if (!c2) return NULL;
    x->rc_cancel = aw_cfuture_cancel(c2);
    x->rc_cancelled = aw_cfuture_wait(c2, 10, NULL);
    aw_cfuture_release(c2);
    return NULL;
}

static int join_thread(void *arg, void **result)
{
    (void)result;
    return -pthread_join(*(pthread_t *)arg, NULL);
}

static int threadsafe_main(void *arg, void **result)
{
    (void)result;
    foreign *x = arg;
    x->loop = aw_running_loop();
    x->f = aw_future_new();
    x->never = aw_future_new();
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, foreign_thread, x), 0);
    /* The loop keeps running while this task waits for the thread on the pool. */
    assert_int_equal(aw_to_thread(join_thread, &th, NULL), 0);

    /* On the loop's own thread, waiting would deadlock. */
    aw_cfuture *cf = aw_run_coroutine_threadsafe(x->loop, aw_coro(await_future, x->never));
    assert_non_null(cf);
    assert_int_equal(aw_cfuture_wait(cf, 1, NULL), -EDEADLK);
    assert_int_equal(aw_cfuture_cancel(cf), 1);
    YIELD_UNTIL(aw_cfuture_done(cf));
    assert_int_equal(aw_cfuture_wait(cf, 0, NULL), AW_ECANCELLED);
    aw_cfuture_release(cf);

    aw_future_release(x->f);
    aw_future_release(x->never);
    return 0;
}

static void run_coroutine_threadsafe(void **state)
{
    (void)state;
    foreign x;
    memset(&x, 0, sizeof x);
    assert_int_equal(test_run(aw_coro(threadsafe_main, &x), NULL, NULL), 0);
    assert_int_equal(x.rc_timeout, AW_ETIMEDOUT);
    assert_int_equal(x.rc_result, 0);
    assert_ptr_equal(x.result, (void *)0xbeef);
    assert_int_equal(x.rc_done_cancel, 0);
    assert_int_equal(x.rc_cancel, 1);
    assert_int_equal(x.rc_cancelled, AW_ECANCELLED);
    assert_null(aw_run_coroutine_threadsafe(NULL, aw_coro(await_future, NULL)));
    assert_int_equal(errno, EINVAL);
}

/* A handle still pending when main returns is settled by aw_run's shutdown. */
static aw_cfuture *leftover;
static aw_future *leftover_f;

static int leftover_main(void *arg, void **result)
{
    (void)arg; (void)result;
    leftover_f = aw_future_new();
    leftover = aw_run_coroutine_threadsafe(aw_running_loop(), aw_coro(await_future, leftover_f));
    assert_non_null(leftover);
    /* main returns at once: the task has not even started */
    return 0;
}

static void threadsafe_settled_at_shutdown(void **state)
{
    (void)state;
    test_reports rep;
    memset(&rep, 0, sizeof rep);
    assert_int_equal(test_run(aw_coro(leftover_main, NULL), NULL, &rep), 0);
    assert_true(aw_cfuture_done(leftover));
    assert_int_equal(aw_cfuture_wait(leftover, 0, NULL), AW_ECANCELLED);
    aw_cfuture_release(leftover);
    aw_future_release(leftover_f);
    assert_int_equal(rep.count, 1);
    assert_contains(rep.text, "Task was destroyed but it is pending!");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(to_thread_basic),
        cmocka_unit_test(to_thread_many),
        cmocka_unit_test(to_thread_cancel_waits),
        cmocka_unit_test(to_thread_abandon),
        cmocka_unit_test(to_thread_cancel_queued),
        cmocka_unit_test(lanes_do_not_starve),
        cmocka_unit_test(run_coroutine_threadsafe),
        cmocka_unit_test(threadsafe_settled_at_shutdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
