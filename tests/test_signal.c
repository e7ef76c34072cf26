/* Tests of signals: aw_signal_wait, loop signal handlers, dispositions restored at close. */
#include "test_util.h"
#include "internal.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

static int sigset_of(sigset_t *s, int a, int b)
{
    sigemptyset(s);
    if (a) sigaddset(s, a);
    if (b) sigaddset(s, b);
    return 0;
}

static void *handler_of(int sig)
{
    struct sigaction sa;
    sigaction(sig, NULL, &sa);
    return (void *)sa.sa_handler;
}

/* ---- aw_signal_wait sees a raised signal ---- */

typedef struct waiter {
    sigset_t set;
    int signo;
    int rc;
    bool parked;
} waiter;

static int wait_body(void *arg, void **result)
{
    (void)result;
    waiter *w = arg;
    w->parked = true;
    w->rc = aw_signal_wait(&w->set, &w->signo);
    return w->rc;
}

static int wait_main(void *arg, void **result)
{
    (void)arg; (void)result;
    waiter w = { .signo = 0 };
    sigset_of(&w.set, SIGUSR1, SIGUSR2);
    aw_task *t = aw_create_task(aw_coro(wait_body, &w), "waiter");
    assert_int_equal(aw_sleep(0), 0);
    assert_true(w.parked);
    assert_false(aw_task_done(t));
    raise(SIGUSR2);
    assert_int_equal(aw_join(t, NULL), 0);
    assert_int_equal(w.signo, SIGUSR2);

    /* The handler stays installed: a signal that comes while nobody waits is
     * kept for the next wait. */
    raise(SIGUSR1);
    assert_int_equal(aw_sleep(0), 0);
    int signo = 0;
    sigset_t one;
    sigset_of(&one, SIGUSR1, 0);
    assert_int_equal(aw_signal_wait(&one, &signo), 0);
    assert_int_equal(signo, SIGUSR1);

    /* A delivered signal wakes one waiter (the first), as sigwait does. */
    waiter a = { .signo = 0 }, b = { .signo = 0 };
    a.set = one;
    b.set = one;
    aw_task *ta = aw_create_task(aw_coro(wait_body, &a), "a");
    aw_task *tb = aw_create_task(aw_coro(wait_body, &b), "b");
    assert_int_equal(aw_sleep(0), 0);
    raise(SIGUSR1);
    assert_int_equal(aw_join(ta, NULL), 0);
    assert_int_equal(a.signo, SIGUSR1);
    assert_false(aw_task_done(tb));
    raise(SIGUSR1);
    assert_int_equal(aw_join(tb, NULL), 0);
    assert_int_equal(b.signo, SIGUSR1);
    return 0;
}

static void signal_wait_raise(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(wait_main, NULL), NULL, NULL), 0);
    assert_ptr_equal(handler_of(SIGUSR1), (void *)SIG_DFL);
    assert_ptr_equal(handler_of(SIGUSR2), (void *)SIG_DFL);
}

/* ---- a signal from another thread wakes an idle loop (no deadlock report) ---- */

static void *send_later(void *arg)
{
    (void)arg;
    sigset_t s;
    sigset_of(&s, SIGUSR1, 0);
    pthread_sigmask(SIG_BLOCK, &s, NULL);   /* so it lands on the loop's thread */
    usleep(20000);
    kill(getpid(), SIGUSR1);
    return NULL;
}

static int idle_main(void *arg, void **result)
{
    (void)arg; (void)result;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, send_later, NULL), 0);
    sigset_t s;
    sigset_of(&s, SIGUSR1, 0);
    int signo = 0;
    int rc = aw_signal_wait(&s, &signo);
    pthread_join(th, NULL);
    assert_int_equal(rc, 0);
    assert_int_equal(signo, SIGUSR1);
    return 0;
}

static void signal_wakes_idle_loop(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(idle_main, NULL), NULL, NULL), 0);
}

/* ---- loop handlers ---- */

static atomic_int old_hits;
static void old_handler(int sig) { (void)sig; atomic_fetch_add(&old_hits, 1); }

static int cb_hits;
static void on_usr2(int signo, void *arg)
{
    assert_int_equal(signo, SIGUSR2);
    (*(int *)arg)++;
}

static int handler_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_loop *loop = aw_running_loop();
    cb_hits = 0;
    assert_int_equal(aw_loop_add_signal_handler(loop, SIGUSR2, on_usr2, &cb_hits), 0);
    assert_ptr_not_equal(handler_of(SIGUSR2), (void *)old_handler);
    raise(SIGUSR2);
    assert_int_equal(aw_sleep(0), 0);
    assert_int_equal(cb_hits, 1);
    raise(SIGUSR2);
    assert_int_equal(aw_sleep(0), 0);
    assert_int_equal(cb_hits, 2);
    assert_int_equal(atomic_load(&old_hits), 0);
    /* the last handler gone: the old disposition is back */
    assert_int_equal(aw_loop_remove_signal_handler(loop, SIGUSR2), 1);
    assert_int_equal(aw_loop_remove_signal_handler(loop, SIGUSR2), 0);
    assert_ptr_equal(handler_of(SIGUSR2), (void *)old_handler);
    raise(SIGUSR2);
    assert_int_equal(atomic_load(&old_hits), 1);
    assert_int_equal(cb_hits, 2);

    assert_int_equal(aw_loop_add_signal_handler(loop, SIGKILL, on_usr2, NULL), -EINVAL);
    assert_int_equal(aw_loop_add_signal_handler(loop, 0, on_usr2, NULL), -EINVAL);
    assert_int_equal(aw_loop_add_signal_handler(loop, NSIG, on_usr2, NULL), -EINVAL);
    assert_int_equal(aw_loop_add_signal_handler(loop, SIGUSR2, NULL, NULL), -EINVAL);

    /* installed again, and left for the loop's close to undo */
    assert_int_equal(aw_loop_add_signal_handler(loop, SIGUSR2, on_usr2, &cb_hits), 0);
    raise(SIGUSR2);
    assert_int_equal(aw_sleep(0), 0);
    assert_int_equal(cb_hits, 3);
    return 0;
}

static void signal_handler_callback(void **state)
{
    (void)state;
    struct sigaction sa, prev;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = old_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR2, &sa, &prev);
    atomic_store(&old_hits, 0);
    assert_int_equal(test_run(aw_coro(handler_main, NULL), NULL, NULL), 0);
    assert_ptr_equal(handler_of(SIGUSR2), (void *)old_handler);   /* restored at close */
    raise(SIGUSR2);
    assert_int_equal(atomic_load(&old_hits), 2);
    sigaction(SIGUSR2, &prev, NULL);
}

/* ---- restored at close, even for aw_run's own SIGINT ---- */

static int close_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_loop *loop = aw_running_loop();
    assert_int_equal(aw_loop_add_signal_handler(loop, SIGINT, on_usr2, NULL), 0);
    sigset_t s;
    sigset_of(&s, SIGUSR1, 0);
    waiter w = { .set = s };
    aw_task *t = aw_create_task(aw_coro(wait_body, &w), "left-waiting");
    assert_int_equal(aw_sleep(0), 0);
    aw_task_release(t);     /* main returns while it waits: aw_run cancels it */
    return 0;
}

static void signal_restored_after_close(void **state)
{
    (void)state;
    struct sigaction sa, prev;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = old_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, &prev);
    assert_ptr_equal(handler_of(SIGINT), (void *)SIG_DFL);
    aw_run_opts o;
    memset(&o, 0, sizeof o);
    o.clock = AW_CLOCK_VIRTUAL;     /* aw_run installs its SIGINT handler: no_sigint is false */
    assert_int_equal(aw_run_ex(aw_coro(close_main, NULL), NULL, &o), 0);
    assert_ptr_equal(handler_of(SIGUSR1), (void *)old_handler);
    assert_ptr_equal(handler_of(SIGINT), (void *)SIG_DFL);
    sigaction(SIGUSR1, &prev, NULL);
}

/* ---- bad input and cancellation ---- */

static int bad_main(void *arg, void **result)
{
    (void)arg; (void)result;
    sigset_t s;
    int signo;
    sigemptyset(&s);
    assert_int_equal(aw_signal_wait(&s, &signo), -EINVAL);
    sigset_of(&s, SIGUSR1, SIGKILL);
    assert_int_equal(aw_signal_wait(&s, &signo), -EINVAL);
    assert_int_equal(aw_signal_wait(NULL, &signo), -EINVAL);

    waiter w;
    memset(&w, 0, sizeof w);
    sigset_of(&w.set, SIGUSR1, 0);
    aw_task *t = aw_create_task(aw_coro(wait_body, &w), NULL);
    assert_int_equal(aw_sleep(0), 0);
    aw_task_cancel(t, NULL);
    assert_int_equal(aw_join(t, NULL), AW_ECANCELLED);
    assert_int_equal(aw_running_loop()->signal_handlers, 0);
    return 0;
}

static void signal_bad_input(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(bad_main, NULL), NULL, NULL), 0);
    sigset_t s;
    int signo;
    sigset_of(&s, SIGUSR1, 0);
    assert_int_equal(aw_signal_wait(&s, &signo), AW_ENOTASK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(signal_wait_raise),
        cmocka_unit_test(signal_wakes_idle_loop),
        cmocka_unit_test(signal_handler_callback),
        cmocka_unit_test(signal_restored_after_close),
        cmocka_unit_test(signal_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
