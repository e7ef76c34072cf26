/* Tests of aw_queue: FIFO, LIFO, priority; waits, cancellation races, task_done/join, shutdown. */
#include "test_util.h"
#include "internal.h"

#include <errno.h>

/* Elapsed virtual time within [lo, hi), with room for the rounding of a large clock base. */
/* assert_elapsed, I, V, mark, trace_reset and assert_trace: tests/test_util.h */

/* ---- order ---- */

static int cmp_int(const void *a, const void *b)
{
    return (V(a) / 10 > V(b) / 10) - (V(a) / 10 < V(b) / 10);   /* compares tens only: ties */
}

static int order_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_queue *fifo = aw_queue_new(0), *lifo = aw_queue_new_lifo(0);
    aw_queue *prio = aw_queue_new_priority(0, cmp_int);
    int in[] = { 31, 10, 22, 11, 30, 12, 20 };
    for (int i = 0; i < 7; i++) {
        assert_int_equal(aw_queue_put(fifo, I(in[i])), 0);
        assert_int_equal(aw_queue_put(lifo, I(in[i])), 0);
        assert_int_equal(aw_queue_put(prio, I(in[i])), 0);
    }
    assert_int_equal(aw_queue_qsize(fifo), 7);
    int want_prio[] = { 10, 11, 12, 22, 20, 31, 30 };   /* equal tens keep arrival order */
    for (int i = 0; i < 7; i++) {
        void *x;
        assert_int_equal(aw_queue_get(fifo, &x), 0);
        assert_int_equal(V(x), in[i]);
        assert_int_equal(aw_queue_get(lifo, &x), 0);
        assert_int_equal(V(x), in[6 - i]);
        assert_int_equal(aw_queue_get(prio, &x), 0);
        assert_int_equal(V(x), want_prio[i]);
    }
    assert_true(aw_queue_empty(fifo));
    /* grow well past the first allocation, wrapping the ring */
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 1000; i++) assert_int_equal(aw_queue_put_nowait(fifo, I(i)), 0);
        for (int i = 0; i < 500; i++) { void *x; aw_queue_get_nowait(fifo, &x); assert_int_equal(V(x), i); }
        for (int i = 0; i < 500; i++) assert_int_equal(aw_queue_put_nowait(fifo, I(1000 + i)), 0);
        for (int i = 500; i < 1500; i++) { void *x; aw_queue_get_nowait(fifo, &x); assert_int_equal(V(x), i); }
    }
    for (int i = 0; i < 1000; i++) aw_queue_put_nowait(prio, I((i * 7919) % 1000 * 10));
    int last = -1;
    for (int i = 0; i < 1000; i++) { void *x; aw_queue_get_nowait(prio, &x); assert_true(V(x) >= last); last = V(x); }
    aw_queue_free(fifo);
    aw_queue_free(lifo);
    aw_queue_free(prio);
    return 0;
}

static void queue_order(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(order_main, NULL), NULL, NULL), 0);
}

/* ---- bad input, nowait, sizes ---- */

static int nowait_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_queue *q = aw_queue_new(2);
    void *x = I(99);
    assert_int_equal(aw_queue_maxsize(q), 2);
    assert_int_equal(aw_queue_get_nowait(q, &x), AW_EQUEUEEMPTY);
    assert_null(x);
    assert_int_equal(aw_queue_put_nowait(q, I(1)), 0);
    assert_int_equal(aw_queue_put_nowait(q, I(2)), 0);
    assert_true(aw_queue_full(q));
    assert_int_equal(aw_queue_put_nowait(q, I(3)), AW_EQUEUEFULL);
    assert_int_equal(aw_queue_qsize(q), 2);
    assert_int_equal(aw_queue_get_nowait(q, &x), 0);
    assert_int_equal(V(x), 1);
    assert_int_equal(aw_queue_put_nowait(NULL, I(1)), -EINVAL);
    assert_int_equal(aw_queue_get_nowait(NULL, &x), -EINVAL);
    assert_int_equal(aw_queue_get_nowait(q, NULL), -EINVAL);
    assert_int_equal(aw_queue_put(NULL, I(1)), -EINVAL);
    assert_int_equal(aw_queue_get(NULL, &x), -EINVAL);
    assert_int_equal(aw_queue_join(NULL), -EINVAL);
    assert_int_equal(aw_queue_task_done(NULL), -EINVAL);
    assert_int_equal(aw_queue_qsize(NULL), 0);
    aw_queue_free(q);
    aw_queue *u = aw_queue_new(0);
    assert_false(aw_queue_full(u));
    assert_int_equal(aw_queue_maxsize(u), 0);
    aw_queue_free(u);
    return 0;
}

static void queue_nowait_and_bad_input(void **state)
{
    (void)state;
    errno = 0;
    assert_null(aw_queue_new(-1));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(aw_queue_new_priority(4, NULL));
    assert_int_equal(errno, EINVAL);
    aw_queue *q = aw_queue_new(1);
    void *x;
    assert_int_equal(aw_queue_get(q, &x), AW_ENOTASK);
    assert_int_equal(aw_queue_put(q, I(1)), AW_ENOTASK);
    aw_queue_free(q);
    assert_int_equal(test_run(aw_coro(nowait_main, NULL), NULL, NULL), 0);
}

/* ---- waiting ---- */

typedef struct { aw_queue *q; int id; int n; } qarg;
static int rcs[16];

static int getter(void *arg, void **result)
{
    (void)result;
    qarg *a = arg;
    for (int i = 0; i < a->n; i++) {
        void *x;
        int rc = aw_queue_get(a->q, &x);
        rcs[a->id] = rc;
        if (rc < 0) { mark(-a->id); return rc; }
        mark(a->id * 100 + V(x));
    }
    return 0;
}

static int putter(void *arg, void **result)
{
    (void)result;
    qarg *a = arg;
    for (int i = 0; i < a->n; i++) {
        int rc = aw_queue_put(a->q, I(a->id * 10 + i));
        rcs[a->id] = rc;
        if (rc < 0) { mark(-a->id); return rc; }
        mark(a->id);
    }
    return 0;
}

static int waits_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    aw_queue *q = aw_queue_new(1);
    /* getters wait in FIFO order */
    qarg g[3] = { { q, 1, 1 }, { q, 2, 1 }, { q, 3, 1 } };
    aw_task *t[3];
    for (int i = 0; i < 3; i++) t[i] = aw_create_task(aw_coro(getter, &g[i]), NULL);
    aw_sleep(0);
    for (int i = 0; i < 3; i++) assert_int_equal(aw_queue_put(q, I(i)), 0);
    for (int i = 0; i < 3; i++) assert_int_equal(aw_join(t[i], NULL), 0);
    assert_trace(100, 201, 302);
    /* putters wait for room in FIFO order */
    trace_reset();
    assert_int_equal(aw_queue_put(q, I(0)), 0);
    qarg p[2] = { { q, 1, 1 }, { q, 2, 1 } };
    aw_task *u[2];
    for (int i = 0; i < 2; i++) u[i] = aw_create_task(aw_coro(putter, &p[i]), NULL);
    aw_sleep(0);
    void *x;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(aw_queue_get(q, &x), 0);
        mark(V(x) + 1000);
        aw_sleep(0);
    }
    for (int i = 0; i < 2; i++) assert_int_equal(aw_join(u[i], NULL), 0);
    assert_trace(1000, 1, 1010, 2, 1020);
    aw_queue_free(q);
    return 0;
}

static void queue_waits(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(waits_main, NULL), NULL, NULL), 0);
}

/* A get cancelled after a put woke it (before it ran) must not lose the item:
 * the wake-up goes to the next getter. */
static int cancel_get_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    aw_queue *q = aw_queue_new(0);
    qarg g[3] = { { q, 1, 1 }, { q, 2, 1 }, { q, 3, 1 } };
    aw_task *t[3];
    for (int i = 0; i < 3; i++) t[i] = aw_create_task(aw_coro(getter, &g[i]), NULL);
    aw_sleep(0);
    aw_task_cancel(t[1], NULL);                 /* cancelled while waiting: just leaves */
    assert_int_equal(aw_queue_put(q, I(7)), 0); /* wakes 1 ... */
    aw_task_cancel(t[0], NULL);                 /* ... cancelled before it runs */
    for (int i = 0; i < 3; i++) aw_join(t[i], NULL);
    assert_int_equal(rcs[1], AW_ECANCELLED);
    assert_int_equal(rcs[2], AW_ECANCELLED);
    assert_int_equal(rcs[3], 0);
    assert_trace(-2, -1, 307);                  /* 3 got the item */
    assert_true(aw_queue_empty(q));
    aw_queue_free(q);
    return 0;
}

static void queue_cancelled_get_keeps_item(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(cancel_get_main, NULL), NULL, NULL), 0);
}

/* A put woken for a free slot but cancelled before it ran passes the slot on. */
static int cancel_put_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    aw_queue *q = aw_queue_new(1);
    aw_queue_put_nowait(q, I(0));
    qarg p[2] = { { q, 1, 1 }, { q, 2, 1 } };
    aw_task *t[2];
    for (int i = 0; i < 2; i++) t[i] = aw_create_task(aw_coro(putter, &p[i]), NULL);
    aw_sleep(0);
    void *x;
    assert_int_equal(aw_queue_get_nowait(q, &x), 0);   /* wakes putter 1 ... */
    aw_task_cancel(t[0], NULL);                         /* ... cancelled first */
    assert_int_equal(aw_join(t[0], NULL), AW_ECANCELLED);
    assert_int_equal(aw_join(t[1], NULL), 0);
    assert_int_equal(aw_queue_get_nowait(q, &x), 0);
    assert_int_equal(V(x), 20);
    assert_trace(-1, 2);
    aw_queue_free(q);
    return 0;
}

static void queue_cancelled_put_passes_slot(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(cancel_put_main, NULL), NULL, NULL), 0);
}

/* A woken getter whose item was taken meanwhile waits again at the front. */
static int steal_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    aw_queue *q = aw_queue_new(0);
    qarg g[2] = { { q, 1, 1 }, { q, 2, 1 } };
    aw_task *t[2];
    for (int i = 0; i < 2; i++) t[i] = aw_create_task(aw_coro(getter, &g[i]), NULL);
    aw_sleep(0);
    aw_queue_put_nowait(q, I(5));               /* wakes 1 */
    void *x;
    assert_int_equal(aw_queue_get_nowait(q, &x), 0);   /* but main takes it */
    aw_sleep(0);                                /* 1 finds nothing, waits again at the front */
    aw_queue_put_nowait(q, I(6));
    aw_queue_put_nowait(q, I(7));
    for (int i = 0; i < 2; i++) assert_int_equal(aw_join(t[i], NULL), 0);
    assert_trace(106, 207);
    aw_queue_free(q);
    return 0;
}

static void queue_woken_getter_keeps_turn(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(steal_main, NULL), NULL, NULL), 0);
}

/* Timeouts reach queue waits; nothing is lost. */
static int timeout_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_queue *q = aw_queue_new(1);
    aw_scope s;
    void *x;
    double t0 = aw_now();
    aw_timeout(&s, 2);
    assert_int_equal(aw_queue_get(q, &x), AW_ECANCELLED);
    assert_int_equal(aw_timeout_end(&s), AW_ETIMEDOUT);
    assert_elapsed(t0, 2, 1e9);
    aw_queue_put_nowait(q, I(1));
    aw_timeout(&s, 2);
    assert_int_equal(aw_queue_put(q, I(2)), AW_ECANCELLED);
    assert_int_equal(aw_timeout_end(&s), AW_ETIMEDOUT);
    assert_int_equal(aw_queue_qsize(q), 1);
    assert_int_equal(aw_queue_get(q, &x), 0);
    assert_int_equal(V(x), 1);
    aw_queue_free(q);
    return 0;
}

static void queue_timeouts(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(timeout_main, NULL), NULL, NULL), 0);
}

/* ---- task_done / join ---- */

static int worker(void *arg, void **result)
{
    (void)result;
    aw_queue *q = arg;
    for (;;) {
        void *x;
        int rc = aw_queue_get(q, &x);
        if (rc < 0) return rc == AW_ESHUTDOWN ? 0 : rc;
        aw_sleep(V(x));
        mark(V(x));
        aw_queue_task_done(q);
    }
}

static int join_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    aw_queue *q = aw_queue_new(0);
    assert_int_equal(aw_queue_join(q), 0);      /* nothing put: at once */
    aw_task *w = aw_create_task(aw_coro(worker, q), "worker");
    double t0 = aw_now();
    for (int i = 1; i <= 3; i++) aw_queue_put_nowait(q, I(i));
    assert_int_equal(aw_queue_join(q), 0);
    assert_elapsed(t0, 6, 1e9);
    assert_trace(1, 2, 3);
    assert_int_equal(aw_queue_task_done(q), AW_EOVERFLOW);   /* called too many times */
    aw_queue_shutdown(q, false);
    assert_int_equal(aw_join(w, NULL), 0);
    aw_queue_free(q);
    return 0;
}

static void queue_join(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(join_main, NULL), NULL, NULL), 0);
}

/* ---- shutdown ---- */

static int freed;
static void count_free(void *item) { (void)item; freed++; }

static int shutdown_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    /* blocked getters and putters are woken with AW_ESHUTDOWN */
    aw_queue *q = aw_queue_new(1);
    qarg g = { q, 1, 1 };
    aw_task *tg = aw_create_task(aw_coro(getter, &g), NULL);
    aw_sleep(0);
    aw_queue_shutdown(q, false);
    assert_int_equal(aw_join(tg, NULL), AW_ESHUTDOWN);
    assert_true(aw_queue_is_shutdown(q));
    assert_int_equal(aw_queue_put(q, I(1)), AW_ESHUTDOWN);
    assert_int_equal(aw_queue_put_nowait(q, I(1)), AW_ESHUTDOWN);
    aw_queue_free(q);

    q = aw_queue_new(1);
    aw_queue_put_nowait(q, I(1));
    qarg p = { q, 2, 1 };
    aw_task *tp = aw_create_task(aw_coro(putter, &p), NULL);
    aw_sleep(0);
    aw_queue_shutdown(q, false);
    assert_int_equal(aw_join(tp, NULL), AW_ESHUTDOWN);
    /* not immediate: what is left can still be taken, then AW_ESHUTDOWN */
    void *x;
    assert_int_equal(aw_queue_get(q, &x), 0);
    assert_int_equal(V(x), 1);
    assert_int_equal(aw_queue_get(q, &x), AW_ESHUTDOWN);
    assert_int_equal(aw_queue_get_nowait(q, &x), AW_ESHUTDOWN);
    aw_queue_free(q);

    /* immediate: items are dropped (to the free function) and count as done */
    freed = 0;
    q = aw_queue_new(0);
    aw_queue_set_item_free(q, count_free);
    for (int i = 0; i < 5; i++) aw_queue_put_nowait(q, I(i));
    aw_queue_get_nowait(q, &x);                 /* taken, not done */
    aw_queue_shutdown(q, true);
    assert_int_equal(freed, 4);
    assert_int_equal(aw_queue_qsize(q), 0);
    assert_int_equal(aw_queue_get(q, &x), AW_ESHUTDOWN);
    aw_queue_task_done(q);
    assert_int_equal(aw_queue_join(q), 0);
    aw_queue_free(q);

    /* free releases items left inside */
    freed = 0;
    q = aw_queue_new_lifo(0);
    aw_queue_set_item_free(q, count_free);
    aw_queue_put_nowait(q, I(1));
    aw_queue_put_nowait(q, I(2));
    aw_queue_free(q);
    assert_int_equal(freed, 2);
    return 0;
}

static void queue_shutdown(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(shutdown_main, NULL), NULL, NULL), 0);
}

/* A join waiting on a queue that is shut down immediately is released. */
static int joiner(void *arg, void **result)
{
    (void)result;
    return aw_queue_join(arg);
}

static int shutdown_join_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_queue *q = aw_queue_new(0);
    aw_queue_put_nowait(q, I(1));
    aw_task *j = aw_create_task(aw_coro(joiner, q), NULL);
    aw_sleep(0);
    assert_false(aw_task_done(j));
    aw_queue_shutdown(q, true);
    assert_int_equal(aw_join(j, NULL), 0);
    aw_queue_free(q);
    return 0;
}

static void queue_shutdown_releases_join(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(shutdown_join_main, NULL), NULL, NULL), 0);
}

/* ---- ping-pong, the benchmark's shape ---- */

static aw_queue *ping, *pong;

static int echoer(void *arg, void **result)
{
    (void)result;
    long n = (long)(intptr_t)arg;
    for (long i = 0; i < n; i++) {
        void *x;
        int rc = aw_queue_get(ping, &x);
        if (rc == 0) rc = aw_queue_put(pong, x);
        if (rc < 0) return rc;
    }
    return 0;
}

static int pingpong_main(void *arg, void **result)
{
    (void)arg; (void)result;
    long n = 10000;
    ping = aw_queue_new(1);
    pong = aw_queue_new(1);
    aw_task *e = aw_create_task(aw_coro(echoer, I(n)), "echoer");
    for (long i = 0; i < n; i++) {
        void *x;
        assert_int_equal(aw_queue_put(ping, I(i)), 0);
        assert_int_equal(aw_queue_get(pong, &x), 0);
        assert_int_equal(V(x), i);
    }
    assert_int_equal(aw_join(e, NULL), 0);
    aw_queue_free(ping);
    aw_queue_free(pong);
    return 0;
}

static void queue_pingpong(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(pingpong_main, NULL), NULL, NULL), 0);
}

/* ---- loop binding ---- */

static aw_queue *shared_q;

static int bind_first(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_scope s;
    void *x;
    aw_timeout(&s, 1);
    assert_int_equal(aw_queue_get(shared_q, &x), AW_ECANCELLED);    /* waited: bound */
    return aw_timeout_end(&s) == AW_ETIMEDOUT ? 0 : -1;
}

static int bind_second(void *arg, void **result)
{
    (void)arg; (void)result;
    void *x;
    assert_int_equal(aw_queue_get(shared_q, &x), AW_EWRONGLOOP);
    assert_int_equal(aw_queue_put(shared_q, I(1)), AW_EWRONGLOOP);
    assert_int_equal(aw_queue_put_nowait(shared_q, I(1)), AW_EWRONGLOOP);
    return 0;
}

static void queue_wrong_loop(void **state)
{
    (void)state;
    shared_q = aw_queue_new(0);
    assert_int_equal(test_run(aw_coro(bind_first, NULL), NULL, NULL), 0);
    assert_int_equal(test_run(aw_coro(bind_second, NULL), NULL, NULL), 0);
    aw_queue_free(shared_q);
}

/* ---- out of memory ---- */

static int oom_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_queue *q = aw_queue_new(0);
    for (int i = 0; i < 16; i++) assert_int_equal(aw_queue_put_nowait(q, I(i)), 0);
    aw__test_fail_alloc(1, false);               /* the growth fails */
    assert_int_equal(aw_queue_put_nowait(q, I(16)), -ENOMEM);
    assert_int_equal(aw_queue_qsize(q), 16);
    assert_int_equal(aw_queue_put_nowait(q, I(16)), 0);   /* and works once memory is back */
    void *x;
    for (int i = 0; i < 17; i++) { aw_queue_get_nowait(q, &x); assert_int_equal(V(x), i); }
    aw_queue_free(q);
    aw__test_fail_alloc(1, false);
    errno = 0;
    assert_null(aw_queue_new(0));
    assert_int_equal(errno, ENOMEM);
    return 0;
}

static void queue_out_of_memory(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(oom_main, NULL), NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(queue_order),
        cmocka_unit_test(queue_nowait_and_bad_input),
        cmocka_unit_test(queue_waits),
        cmocka_unit_test(queue_cancelled_get_keeps_item),
        cmocka_unit_test(queue_cancelled_put_passes_slot),
        cmocka_unit_test(queue_woken_getter_keeps_turn),
        cmocka_unit_test(queue_timeouts),
        cmocka_unit_test(queue_join),
        cmocka_unit_test(queue_shutdown),
        cmocka_unit_test(queue_shutdown_releases_join),
        cmocka_unit_test(queue_pingpong),
        cmocka_unit_test(queue_wrong_loop),
        cmocka_unit_test(queue_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
