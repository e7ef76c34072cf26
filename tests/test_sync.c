/* Tests of the sync primitives: Lock, Event, Condition, Semaphore, BoundedSemaphore, Barrier. */
#include "test_util.h"

#include <errno.h>
#include <math.h>

/* assert_elapsed, mark, trace_reset and assert_trace: tests/test_util.h */

/* A child that records what a call returned: rcs[id] */
static int rcs[16];

/* ---- Lock ---- */

static aw_lock the_lock = AW_LOCK_INIT;

typedef struct { aw_lock *l; int id; double hold; } locker_arg;

static int locker(void *arg, void **result)
{
    (void)result;
    locker_arg *a = arg;
    int rc = aw_lock_acquire(a->l);
    rcs[a->id] = rc;
    if (rc < 0) { mark(-a->id); return rc; }
    mark(a->id);
    if (a->hold >= 0) aw_sleep(a->hold);
    assert_int_equal(aw_lock_release(a->l), 0);
    return 0;
}

static int lock_basic_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_lock *l = aw_lock_new();
    assert_non_null(l);
    assert_false(aw_lock_locked(l));
    assert_int_equal(aw_lock_release(l), AW_EINVALSTATE);   /* asyncio: RuntimeError('Lock is not acquired.') */
    assert_int_equal(aw_lock_acquire(l), 0);
    assert_true(aw_lock_locked(l));
    assert_int_equal(aw_lock_release(l), 0);
    assert_false(aw_lock_locked(l));
    assert_int_equal(aw_lock_acquire(NULL), -EINVAL);
    assert_int_equal(aw_lock_release(NULL), -EINVAL);
    aw_lock_free(l);
    aw_lock_free(NULL);
    /* the static initialiser */
    assert_int_equal(aw_lock_acquire(&the_lock), 0);
    assert_int_equal(aw_lock_release(&the_lock), 0);
    return 0;
}

static void lock_basic(void **state)
{
    (void)state;
    assert_int_equal(aw_lock_acquire(&the_lock), AW_ENOTASK);
    assert_int_equal(test_run(aw_coro(lock_basic_main, NULL), NULL, NULL), 0);
}

/* Waiters get the lock in FIFO order, and a task that asks in between a release
 * and the woken waiter's turn queues up behind it (no barging). */
static int lock_fifo_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    aw_lock l = AW_LOCK_INIT;
    locker_arg a[4] = { { &l, 1, 0 }, { &l, 2, 0 }, { &l, 3, 0 }, { &l, 4, 0 } };
    assert_int_equal(aw_lock_acquire(&l), 0);
    aw_task *t[4];
    for (int i = 0; i < 3; i++) t[i] = aw_create_task(aw_coro(locker, &a[i]), NULL);
    assert_int_equal(aw_sleep(0), 0);          /* all three queue up */
    assert_int_equal(aw_lock_release(&l), 0);   /* handed to 1 */
    assert_true(aw_lock_locked(&l));
    t[3] = aw_create_task(aw_coro(locker, &a[3]), NULL);
    for (int i = 0; i < 4; i++) assert_int_equal(aw_join(t[i], NULL), 0);
    assert_trace(1, 2, 3, 4);
    assert_false(aw_lock_locked(&l));
    return 0;
}

static void lock_fifo(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(lock_fifo_main, NULL), NULL, NULL), 0);
}

/* A waiter cancelled while it waits leaves the queue; one cancelled after the
 * lock was handed to it (before it ran) passes the lock on: never stuck. */
static int lock_cancel_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    aw_lock l = AW_LOCK_INIT;
    locker_arg a[4] = { { &l, 1, 0 }, { &l, 2, 0 }, { &l, 3, 0 }, { &l, 4, 0 } };
    assert_int_equal(aw_lock_acquire(&l), 0);
    aw_task *t[4];
    for (int i = 0; i < 4; i++) t[i] = aw_create_task(aw_coro(locker, &a[i]), NULL);
    assert_int_equal(aw_sleep(0), 0);
    aw_task_cancel(t[1], NULL);                 /* 2 cancelled while queued */
    assert_int_equal(aw_lock_release(&l), 0);   /* handed to 1 ... */
    aw_task_cancel(t[0], NULL);                 /* ... which is cancelled before it runs */
    for (int i = 0; i < 4; i++) aw_join(t[i], NULL);
    assert_int_equal(rcs[1], AW_ECANCELLED);
    assert_int_equal(rcs[2], AW_ECANCELLED);
    assert_int_equal(rcs[3], 0);
    assert_int_equal(rcs[4], 0);
    assert_trace(-2, -1, 3, 4);
    assert_false(aw_lock_locked(&l));
    assert_int_equal(aw_lock_acquire(&l), 0);
    assert_int_equal(aw_lock_release(&l), 0);
    return 0;
}

static void lock_cancel(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(lock_cancel_main, NULL), NULL, NULL), 0);
}

/* Every call that can suspend is a suspension point: a cancelled task fails at
 * once even where it would not wait, and nothing is taken. */
static int cancelled_self_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_lock l = AW_LOCK_INIT;
    aw_event e = AW_EVENT_INIT;
    aw_semaphore s = AW_SEMAPHORE_INIT(1);
    aw_barrier b = AW_BARRIER_INIT(1);
    aw_event_set(&e);
    aw_task_cancel(aw_current_task(), NULL);
    assert_int_equal(aw_lock_acquire(&l), AW_ECANCELLED);
    assert_false(aw_lock_locked(&l));
    assert_int_equal(aw_event_wait(&e), AW_ECANCELLED);
    assert_int_equal(aw_semaphore_acquire(&s), AW_ECANCELLED);
    assert_int_equal(aw_semaphore_value(&s), 1);
    assert_int_equal(aw_barrier_wait(&b), AW_ECANCELLED);
    aw_task_uncancel(aw_current_task());
    assert_int_equal(aw_lock_acquire(&l), 0);
    assert_int_equal(aw_semaphore_acquire(&s), 0);
    assert_int_equal(aw_barrier_wait(&b), 0);
    return 0;
}

static void cancelled_task_fails_fast(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(cancelled_self_main, NULL), NULL, NULL), 0);
}

/* A timeout scope reaches a lock wait. */
static int lock_timeout_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_lock l = AW_LOCK_INIT;
    locker_arg a = { &l, 1, 10 };
    aw_task *holder = aw_create_task(aw_coro(locker, &a), "holder");
    assert_int_equal(aw_sleep(0), 0);
    double t0 = aw_now();
    aw_scope s;
    assert_int_equal(aw_timeout(&s, 1.5), 0);
    assert_int_equal(aw_lock_acquire(&l), AW_ECANCELLED);
    assert_int_equal(aw_timeout_end(&s), AW_ETIMEDOUT);
    assert_elapsed(t0, 1.5, 1.6);
    assert_int_equal(aw_lock_acquire(&l), 0);    /* after the holder's 10 s */
    assert_elapsed(t0, 10, 1e9);
    assert_int_equal(aw_lock_release(&l), 0);
    return aw_join(holder, NULL);
}

static void lock_timeout(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(lock_timeout_main, NULL), NULL, NULL), 0);
}

/* ---- loop binding ---- */

static aw_lock shared_lock = AW_LOCK_INIT;
static aw_event shared_event = AW_EVENT_INIT;

static int bind_child(void *arg, void **result)
{
    (void)arg; (void)result;
    int rc = aw_lock_acquire(&shared_lock);      /* waits: binds the lock */
    if (rc == 0) aw_lock_release(&shared_lock);
    return rc;
}

static int bind_first_main(void *arg, void **result)
{
    (void)arg; (void)result;
    assert_int_equal(aw_lock_acquire(&shared_lock), 0);
    aw_task *c = aw_spawn(bind_child, NULL);
    aw_sleep(0);
    aw_lock_release(&shared_lock);
    assert_int_equal(aw_join(c, NULL), 0);
    aw_task *w = aw_create_task(aw_coro(bind_child, NULL), NULL);
    (void)w;
    /* an event waited on binds too */
    aw_scope s;
    aw_timeout(&s, 1);
    assert_int_equal(aw_event_wait(&shared_event), AW_ECANCELLED);
    assert_int_equal(aw_timeout_end(&s), AW_ETIMEDOUT);
    aw_join(w, NULL);
    return 0;
}

static int bind_second_main(void *arg, void **result)
{
    (void)arg; (void)result;
    /* A new aw_run is a new loop, even if it lands at the same address. */
    assert_int_equal(aw_lock_acquire(&shared_lock), AW_EWRONGLOOP);
    assert_int_equal(aw_event_wait(&shared_event), AW_EWRONGLOOP);
    assert_int_equal(aw_event_set(&shared_event), AW_EWRONGLOOP);
    return 0;
}

static void wrong_loop(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(bind_first_main, NULL), NULL, NULL), 0);
    assert_int_equal(test_run(aw_coro(bind_second_main, NULL), NULL, NULL), 0);
}

static int event_waiter(void *arg, void **result);

/* Freeing a primitive tasks wait on is refused and reported. */
static int free_busy_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_event *e = aw_event_new();
    aw_lock *l = aw_lock_new();
    trace_reset();
    aw_task *t = aw_create_task(aw_coro(event_waiter, e), NULL);
    aw_sleep(0);
    aw_event_free(e);           /* refused: a task waits */
    aw_event_set(e);
    aw_sleep(0);
    aw_event_free(e);
    aw_lock_free(l);
    aw_task_release(t);
    return 0;
}

static void free_busy_refused(void **state)
{
    (void)state;
    test_reports r = {0};
    assert_int_equal(test_run(aw_coro(free_busy_main, NULL), NULL, &r), 0);
    assert_int_equal(r.count, 1);
    assert_contains(r.text, "aw_event_free: tasks are still waiting on the event");
}

/* ---- Event ---- */

static int event_waiter(void *arg, void **result)
{
    (void)result;
    aw_event *e = arg;
    int rc = aw_event_wait(e);
    mark(rc == 0 ? 1 : -1);
    return rc;
}

static int event_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    aw_event e = AW_EVENT_INIT;
    assert_false(aw_event_is_set(&e));
    aw_task *t[3];
    for (int i = 0; i < 3; i++) t[i] = aw_create_task(aw_coro(event_waiter, &e), NULL);
    aw_sleep(0);
    assert_int_equal(ntrace, 0);
    aw_task_cancel(t[2], NULL);
    aw_sleep(0);
    assert_trace(-1);
    assert_int_equal(aw_event_set(&e), 0);
    assert_true(aw_event_is_set(&e));
    aw_event_clear(&e);         /* the woken waiters still return 0 */
    assert_false(aw_event_is_set(&e));
    assert_int_equal(aw_join(t[0], NULL), 0);
    assert_int_equal(aw_join(t[1], NULL), 0);
    assert_int_equal(aw_join(t[2], NULL), AW_ECANCELLED);
    assert_trace(-1, 1, 1);
    aw_event_set(&e);
    assert_int_equal(aw_event_wait(&e), 0);     /* set: at once */
    assert_int_equal(aw_event_wait(NULL), -EINVAL);
    assert_int_equal(aw_event_set(NULL), -EINVAL);
    return 0;
}

static void event_basic(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(event_main, NULL), NULL, NULL), 0);
}

/* A waiter woken by set but cancelled before it ran reports the cancel. */
static int event_cancel_after_set_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    aw_event *e = aw_event_new();
    aw_task *t = aw_create_task(aw_coro(event_waiter, e), NULL);
    aw_sleep(0);
    aw_event_set(e);
    aw_task_cancel(t, NULL);
    assert_int_equal(aw_join(t, NULL), AW_ECANCELLED);
    aw_event_free(e);
    return 0;
}

static void event_cancel_after_set(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(event_cancel_after_set_main, NULL), NULL, NULL), 0);
}

/* ---- Condition ---- */

typedef struct { aw_condition *c; int id; int *items; } cond_arg;

static int cond_waiter(void *arg, void **result)
{
    (void)result;
    cond_arg *a = arg;
    assert_int_equal(aw_condition_acquire(a->c), 0);
    int rc = aw_condition_wait(a->c);
    rcs[a->id] = rc;
    assert_true(aw_condition_locked(a->c));     /* held again, even when cancelled */
    mark(rc == 0 ? a->id : -a->id);
    aw_condition_release(a->c);
    return rc;
}

static int cond_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    aw_condition c = AW_CONDITION_INIT;
    assert_int_equal(aw_condition_wait(&c), AW_EINVALSTATE);     /* cannot wait on un-acquired lock */
    assert_int_equal(aw_condition_notify(&c, 1), AW_EINVALSTATE);
    cond_arg a[4] = { { &c, 1, 0 }, { &c, 2, 0 }, { &c, 3, 0 }, { &c, 4, 0 } };
    aw_task *t[4];
    for (int i = 0; i < 4; i++) t[i] = aw_create_task(aw_coro(cond_waiter, &a[i]), NULL);
    aw_sleep(0);
    assert_int_equal(aw_condition_acquire(&c), 0);
    assert_int_equal(aw_condition_notify(&c, 1), 1);
    aw_condition_release(&c);
    aw_sleep(0);
    aw_sleep(0);
    assert_trace(1);
    assert_int_equal(aw_condition_acquire(&c), 0);
    assert_int_equal(aw_condition_notify_all(&c), 3);
    assert_int_equal(aw_condition_notify(&c, 5), 0);
    aw_condition_release(&c);
    for (int i = 0; i < 4; i++) assert_int_equal(aw_join(t[i], NULL), 0);
    assert_trace(1, 2, 3, 4);
    return 0;
}

static void condition_basic(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(cond_main, NULL), NULL, NULL), 0);
}

/* A notify delivered to a waiter that is then cancelled goes to the next one. */
static int cond_notify_cancel_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    aw_lock l = AW_LOCK_INIT;
    aw_condition c = AW_CONDITION_INIT_LOCK(&l);
    cond_arg a[3] = { { &c, 1, 0 }, { &c, 2, 0 }, { &c, 3, 0 } };
    aw_task *t[3];
    for (int i = 0; i < 3; i++) t[i] = aw_create_task(aw_coro(cond_waiter, &a[i]), NULL);
    aw_sleep(0);
    assert_int_equal(aw_lock_acquire(&l), 0);
    assert_int_equal(aw_condition_notify(&c, 1), 1);   /* to 1 ... */
    aw_task_cancel(t[0], NULL);                         /* ... cancelled before it runs */
    aw_lock_release(&l);
    assert_int_equal(aw_join(t[0], NULL), AW_ECANCELLED);
    assert_int_equal(aw_join(t[1], NULL), 0);           /* 2 got the notify */
    assert_false(aw_task_done(t[2]));                   /* 3 still waits: one notify, one wake */
    aw_lock_acquire(&l);
    aw_condition_notify(&c, 1);
    aw_lock_release(&l);
    assert_int_equal(aw_join(t[2], NULL), 0);
    assert_trace(-1, 2, 3);
    /* cancelled while waiting (not notified): no notify is passed on */
    aw_task *x = aw_create_task(aw_coro(cond_waiter, &a[0]), NULL);
    aw_task *y = aw_create_task(aw_coro(cond_waiter, &a[1]), NULL);
    aw_sleep(0);
    aw_task_cancel(x, NULL);
    assert_int_equal(aw_join(x, NULL), AW_ECANCELLED);
    assert_false(aw_task_done(y));
    aw_lock_acquire(&l);
    aw_condition_notify_all(&c);
    aw_lock_release(&l);
    return aw_join(y, NULL);
}

static void condition_notify_to_cancelled(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(cond_notify_cancel_main, NULL), NULL, NULL), 0);
}

static int counter;
static bool counter_reached(void *arg) { return counter >= *(int *)arg; }

static int cond_pred_waiter(void *arg, void **result)
{
    (void)result;
    aw_condition *c = arg;
    static int want = 3;
    aw_condition_acquire(c);
    int rc = aw_condition_wait_for(c, counter_reached, &want);
    mark(counter);
    aw_condition_release(c);
    return rc;
}

static int cond_wait_for_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    counter = 0;
    aw_condition *c = aw_condition_new(NULL);
    aw_task *t = aw_create_task(aw_coro(cond_pred_waiter, c), NULL);
    for (int i = 0; i < 5; i++) {
        aw_sleep(1);
        aw_condition_acquire(c);
        counter++;
        aw_condition_notify_all(c);
        aw_condition_release(c);
    }
    assert_int_equal(aw_join(t, NULL), 0);
    assert_trace(3);
    /* already true: no wait */
    aw_condition_acquire(c);
    int want = 1;
    assert_int_equal(aw_condition_wait_for(c, counter_reached, &want), 0);
    assert_int_equal(aw_condition_wait_for(c, NULL, NULL), -EINVAL);
    aw_condition_release(c);
    aw_condition_free(c);
    return 0;
}

static void condition_wait_for(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(cond_wait_for_main, NULL), NULL, NULL), 0);
}

/* ---- Semaphore ---- */

typedef struct { aw_semaphore *s; int id; double hold; } sem_arg;

static int sem_user(void *arg, void **result)
{
    (void)result;
    sem_arg *a = arg;
    int rc = aw_semaphore_acquire(a->s);
    rcs[a->id] = rc;
    if (rc < 0) { mark(-a->id); return rc; }
    mark(a->id);
    aw_sleep(a->hold);
    aw_semaphore_release(a->s);
    return 0;
}

static int sem_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    aw_semaphore s = AW_SEMAPHORE_INIT(2);
    assert_false(aw_semaphore_locked(&s));
    sem_arg a[5];
    aw_task *t[5];
    for (int i = 0; i < 5; i++) {
        a[i] = (sem_arg){ &s, i + 1, 1 };
        t[i] = aw_create_task(aw_coro(sem_user, &a[i]), NULL);
    }
    double t0 = aw_now();
    for (int i = 0; i < 5; i++) assert_int_equal(aw_join(t[i], NULL), 0);
    assert_trace(1, 2, 3, 4, 5);
    assert_elapsed(t0, 3, 3.1);    /* 2 at a time */
    assert_int_equal(aw_semaphore_value(&s), 2);
    /* a plain semaphore may go above its start */
    assert_int_equal(aw_semaphore_release(&s), 0);
    assert_int_equal(aw_semaphore_value(&s), 3);
    errno = 0;
    assert_null(aw_semaphore_new(-1));
    assert_int_equal(errno, EINVAL);
    return 0;
}

static void semaphore_basic(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(sem_main, NULL), NULL, NULL), 0);
}

static int bounded_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_semaphore *s = aw_bounded_semaphore_new(2);
    assert_non_null(s);
    assert_int_equal(aw_semaphore_release(s), AW_EOVERFLOW);    /* BoundedSemaphore released too many times */
    assert_int_equal(aw_semaphore_value(s), 2);
    assert_int_equal(aw_semaphore_acquire(s), 0);
    assert_int_equal(aw_semaphore_acquire(s), 0);
    assert_true(aw_semaphore_locked(s));
    assert_int_equal(aw_semaphore_release(s), 0);
    assert_int_equal(aw_semaphore_release(s), 0);
    assert_int_equal(aw_semaphore_release(s), AW_EOVERFLOW);
    aw_semaphore_free(s);
    aw_semaphore st = AW_BOUNDED_SEMAPHORE_INIT(1);
    assert_int_equal(aw_semaphore_release(&st), AW_EOVERFLOW);
    assert_int_equal(aw_semaphore_release(NULL), -EINVAL);
    return 0;
}

static void semaphore_bounded(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(bounded_main, NULL), NULL, NULL), 0);
}

/* A permit handed to a waiter cancelled before it ran goes to the next waiter. */
static int sem_cancel_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    aw_semaphore s = AW_BOUNDED_SEMAPHORE_INIT(1);
    assert_int_equal(aw_semaphore_acquire(&s), 0);
    sem_arg a[3] = { { &s, 1, 0 }, { &s, 2, 0 }, { &s, 3, 0 } };
    aw_task *t[3];
    for (int i = 0; i < 3; i++) t[i] = aw_create_task(aw_coro(sem_user, &a[i]), NULL);
    aw_sleep(0);
    assert_int_equal(aw_semaphore_release(&s), 0);     /* handed to 1 */
    assert_int_equal(aw_semaphore_value(&s), 0);
    aw_task_cancel(t[0], NULL);
    aw_task_cancel(t[2], NULL);                         /* 3 still queued */
    for (int i = 0; i < 3; i++) aw_join(t[i], NULL);
    assert_trace(-1, -3, 2);
    assert_int_equal(aw_semaphore_value(&s), 1);
    return 0;
}

static void semaphore_cancel(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(sem_cancel_main, NULL), NULL, NULL), 0);
}

/* ---- Barrier ---- */

static int barrier_user(void *arg, void **result)
{
    aw_barrier *b = arg;
    int rc = aw_barrier_wait(b);
    *result = (void *)(intptr_t)rc;
    mark(rc);
    return rc < 0 ? rc : 0;
}

static int barrier_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    aw_barrier b = AW_BARRIER_INIT(3);
    assert_int_equal(aw_barrier_parties(&b), 3);
    for (int round = 0; round < 2; round++) {
        aw_task *t[3];
        for (int i = 0; i < 2; i++) t[i] = aw_create_task(aw_coro(barrier_user, &b), NULL);
        aw_sleep(0);
        assert_int_equal(aw_barrier_n_waiting(&b), 2);
        t[2] = aw_create_task(aw_coro(barrier_user, &b), NULL);   /* releases them */
        int seen = 0;
        for (int i = 0; i < 3; i++) {
            void *r;
            assert_int_equal(aw_join(t[i], &r), 0);
            seen |= 1 << (int)(intptr_t)r;
        }
        assert_int_equal(seen, 7);                      /* indices 0, 1, 2 */
        assert_int_equal(aw_barrier_n_waiting(&b), 0);
    }
    assert_false(aw_barrier_broken(&b));
    errno = 0;
    assert_null(aw_barrier_new(0));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(aw_barrier_wait(NULL), -EINVAL);
    return 0;
}

static void barrier_basic(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(barrier_main, NULL), NULL, NULL), 0);
}

static int barrier_break_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    aw_barrier *b = aw_barrier_new(3);
    aw_task *t[2];
    for (int i = 0; i < 2; i++) t[i] = aw_create_task(aw_coro(barrier_user, b), NULL);
    aw_sleep(0);
    assert_int_equal(aw_barrier_n_waiting(b), 2);
    /* a cancelled waiter just leaves: the barrier does not break */
    aw_task_cancel(t[1], NULL);
    assert_int_equal(aw_join(t[1], NULL), AW_ECANCELLED);
    assert_int_equal(aw_barrier_n_waiting(b), 1);
    assert_false(aw_barrier_broken(b));
    /* reset while one waits: it gets BrokenBarrierError; the barrier is usable again */
    assert_int_equal(aw_barrier_reset(b), 0);
    assert_int_equal(aw_join(t[0], NULL), AW_EBROKEN);
    assert_false(aw_barrier_broken(b));
    assert_int_equal(aw_barrier_n_waiting(b), 0);
    /* abort: waiting and later waits fail until reset */
    t[0] = aw_create_task(aw_coro(barrier_user, b), NULL);
    aw_sleep(0);
    assert_int_equal(aw_barrier_abort(b), 0);
    assert_true(aw_barrier_broken(b));
    assert_int_equal(aw_join(t[0], NULL), AW_EBROKEN);
    assert_int_equal(aw_barrier_wait(b), AW_EBROKEN);
    aw_barrier_reset(b);
    assert_false(aw_barrier_broken(b));
    aw_barrier_free(b);
    /* one party: passes at once */
    aw_barrier one = AW_BARRIER_INIT(1);
    assert_int_equal(aw_barrier_wait(&one), 0);
    assert_int_equal(aw_barrier_wait(&one), 0);
    return 0;
}

static void barrier_break(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(barrier_break_main, NULL), NULL, NULL), 0);
}

/* Tasks arriving while the barrier drains wait for the next round. */
static int barrier_drain_main(void *arg, void **result)
{
    (void)arg; (void)result;
    trace_reset();
    aw_barrier b = AW_BARRIER_INIT(2);
    aw_task *t[4];
    for (int i = 0; i < 4; i++) t[i] = aw_create_task(aw_coro(barrier_user, &b), NULL);
    for (int i = 0; i < 4; i++) assert_int_equal(aw_join(t[i], NULL), 0);
    /* two rounds of two: indices 0,1 then 0,1 */
    int sum = 0;
    for (int i = 0; i < ntrace; i++) sum += trace[i];
    assert_int_equal(ntrace, 4);
    assert_int_equal(sum, 2);
    return 0;
}

static void barrier_drain(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(barrier_drain_main, NULL), NULL, NULL), 0);
}

/* Every task waits on an event nobody will set: aw_run reports the deadlock. */
static int deadlock_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_event e = AW_EVENT_INIT;
    return aw_event_wait(&e);
}

static void deadlock_detected(void **state)
{
    (void)state;
    test_reports r = {0};
    assert_int_equal(test_run(aw_coro(deadlock_main, NULL), NULL, &r), AW_EDEADLOCK);
    assert_contains(r.text, "waits on event");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lock_basic),
        cmocka_unit_test(lock_fifo),
        cmocka_unit_test(lock_cancel),
        cmocka_unit_test(cancelled_task_fails_fast),
        cmocka_unit_test(lock_timeout),
        cmocka_unit_test(wrong_loop),
        cmocka_unit_test(free_busy_refused),
        cmocka_unit_test(event_basic),
        cmocka_unit_test(event_cancel_after_set),
        cmocka_unit_test(condition_basic),
        cmocka_unit_test(condition_notify_to_cancelled),
        cmocka_unit_test(condition_wait_for),
        cmocka_unit_test(semaphore_basic),
        cmocka_unit_test(semaphore_bounded),
        cmocka_unit_test(semaphore_cancel),
        cmocka_unit_test(barrier_basic),
        cmocka_unit_test(barrier_break),
        cmocka_unit_test(barrier_drain),
        cmocka_unit_test(deadlock_detected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
