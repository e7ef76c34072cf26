/* Tests of the loop layer: fd waits, cross-thread posts, SIGINT, the poller's bad input. */
#include "test_util.h"
#include "internal.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

static int fds[2];
static int got;

static int reader(void *arg, void **result)
{
    (void)arg; (void)result;
    int rc = aw_wait_readable(fds[0], -1);
    if (rc < 0) return rc;
    char c;
    if (read(fds[0], &c, 1) != 1) return -EIO;
    got = c;
    return 0;
}

static int writer(void *arg, void **result)
{
    (void)arg; (void)result;
    int rc = aw_sleep(0.5);
    if (rc < 0) return rc;
    return write(fds[1], "x", 1) == 1 ? 0 : -EIO;
}

static int fd_main(void *arg, void **result)
{
    (void)arg; (void)result;
    got = 0;
    assert_int_equal(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    aw_task *r = aw_create_task(aw_coro(reader, NULL), "reader");
    aw_task *w = aw_create_task(aw_coro(writer, NULL), "writer");
    assert_int_equal(aw_join(r, NULL), 0);
    assert_int_equal(aw_join(w, NULL), 0);
    assert_int_equal(got, 'x');

    /* a second reader on the same fd is refused, as asyncio refuses it */
    r = aw_create_task(aw_coro(reader, NULL), "reader");
    assert_int_equal(aw_sleep(0), 0);
    assert_int_equal(aw_wait_readable(fds[0], -1), AW_EBUSY);
    assert_int_equal(write(fds[1], "y", 1), 1);
    assert_int_equal(aw_join(r, NULL), 0);
    assert_int_equal(got, 'y');

    /* level-triggered public wait: data already there returns at once */
    assert_int_equal(write(fds[1], "zz", 2), 2);
    assert_int_equal(aw_wait_readable(fds[0], -1), 0);
    char c;
    assert_int_equal(read(fds[0], &c, 1), 1);
    assert_int_equal(aw_wait_readable(fds[0], -1), 0);   /* one byte left, no new edge */
    assert_int_equal(read(fds[0], &c, 1), 1);

    /* timeouts, on the virtual clock */
    double t0 = aw_now();
    assert_int_equal(aw_wait_readable(fds[0], 2.0), AW_ETIMEDOUT);
    assert_true(aw_now() - t0 >= 2.0);
    assert_int_equal(aw_wait_readable(fds[0], 0), AW_ETIMEDOUT);
    assert_int_equal(aw_wait_writable(fds[1], 1.0), 0);

    /* bad input: a closed fd, a negative fd, a NaN timeout */
    aw_fd_forget(fds[0]);
    aw_fd_forget(fds[1]);
    close(fds[0]);
    close(fds[1]);
    assert_int_equal(aw_wait_readable(fds[0], 1.0), -EBADF);
    assert_int_equal(aw_wait_readable(-1, 1.0), -EBADF);
    assert_int_equal(aw_wait_readable(0, NAN), -EINVAL);
    return 0;
}

static void fd_waits(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(fd_main, NULL), NULL, NULL), 0);
}

/* ---- cross-thread posts ---- */

static aw_future *posted_future;

static void set_from_loop(void *arg)
{
    aw_future_set_result(posted_future, arg);
}

static void *poster(void *arg)
{
    aw_loop *loop = arg;
    usleep(10000);
    aw_loop_call_soon_threadsafe(loop, set_from_loop, (void *)77);
    return NULL;
}

static int threadsafe_main(void *arg, void **result)
{
    (void)arg;
    posted_future = aw_future_new();
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, poster, aw_running_loop()), 0);
    int rc = aw_await(posted_future, result);
    pthread_join(th, NULL);
    aw_future_release(posted_future);
    return rc;
}

static void call_soon_threadsafe(void **state)
{
    (void)state;
    void *r = NULL;
    aw_run_opts o = { .no_sigint = true };
    assert_int_equal(aw_run_ex(aw_coro(threadsafe_main, NULL), &r, &o), 0);
    assert_ptr_equal(r, (void *)77);
}

/* ---- SIGINT cancels main ---- */

static int sigint_cleanup;
static int sigint_main(void *arg, void **result)
{
    (void)arg; (void)result;
    raise(SIGINT);
    int rc = aw_sleep(3600);
    if (rc == AW_ECANCELLED) sigint_cleanup = 1;
    assert_string_equal(aw_task_cancel_message(aw_current_task()), "KeyboardInterrupt");
    return rc;
}

static void sigint_cancels_main(void **state)
{
    (void)state;
    sigint_cleanup = 0;
    assert_int_equal(aw_run(aw_coro(sigint_main, NULL), NULL), AW_ECANCELLED);
    assert_int_equal(sigint_cleanup, 1);
    struct sigaction sa;
    sigaction(SIGINT, NULL, &sa);
    assert_ptr_equal(sa.sa_handler, SIG_DFL);    /* restored */
}

/* ---- releasing a task twice, in debug mode ---- */

static int idle(void *arg, void **result)
{
    (void)arg; (void)result;
    return aw_sleep(1);
}

static int release_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task *t = aw_create_task(aw_coro(idle, NULL), "twice");
    aw_task_release(t);
    aw_task_release(t);         /* caught: the loop still holds it */
    return aw_sleep(2);
}

static void release_twice_debug(void **state)
{
    (void)state;
    test_reports r = {0};
    aw_run_opts o = { .debug = 1, .clock = AW_CLOCK_VIRTUAL, .no_sigint = true,
                      .exception_handler = test_report_handler, .exception_arg = &r };
    assert_int_equal(aw_run_ex(aw_coro(release_main, NULL), NULL, &o), 0);
    assert_contains(r.text, "aw_task_release called twice on a task|twice|");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fd_waits),
        cmocka_unit_test(call_soon_threadsafe),
        cmocka_unit_test(sigint_cancels_main),
        cmocka_unit_test(release_twice_debug),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
