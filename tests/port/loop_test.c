/* The port check's loop scenario: tasks, yields, sleeps on the virtual clock, cancel
 * scopes and an fd wait, built for the target (AArch64 under qemu-user) without cmocka. */
#include "aw.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int passed, failed;
#define CHECK(cond) do { if (cond) passed++; else { failed++; fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } } while (0)

static char order[64];
static int norder;

static int pinger(void *arg, void **result)
{
    (void)result;
    for (int i = 0; i < 3; i++) {
        order[norder++] = *(const char *)arg;
        if (aw_sleep(0) < 0) return -1;
    }
    return 0;
}

static int sleeper(void *arg, void **result)
{
    double d = *(double *)arg;
    int rc = aw_sleep(d);
    *result = arg;
    return rc;
}

static int fds[2];

static int reader(void *arg, void **result)
{
    (void)arg;
    int rc = aw_wait_readable(fds[0], 10);
    if (rc < 0) return rc;
    static char c;
    if (read(fds[0], &c, 1) != 1) return -EIO;
    *result = &c;
    return 0;
}

static int deep(void *arg, void **result)
{
    int n = (int)(long)arg;
    volatile char pad[512];
    pad[0] = (char)n;
    if (n == 0) { *result = (void *)(long)pad[0]; return 0; }
    return aw_await(aw_coro(deep, (void *)(long)(n - 1)), result);
}

static int main_coro(void *arg, void **result)
{
    (void)arg; (void)result;
    /* FIFO scheduling and yields */
    aw_task *a = aw_create_task(aw_coro(pinger, "a"), "a");
    aw_task *b = aw_create_task(aw_coro(pinger, "b"), "b");
    CHECK(aw_join(a, NULL) == 0);
    CHECK(aw_join(b, NULL) == 0);
    order[norder] = 0;
    CHECK(strcmp(order, "ababab") == 0);

    /* timers in deadline order on the virtual clock */
    static double d[3] = {3, 1, 2};
    aw_task *t[3];
    double t0 = aw_now();
    for (int i = 0; i < 3; i++) t[i] = aw_spawn(sleeper, &d[i]);
    void *r;
    for (int i = 0; i < 3; i++) CHECK(aw_join(t[i], &r) == 0 && r == &d[i]);
    CHECK(aw_now() - t0 >= 3.0 && aw_now() - t0 < 3.01);

    /* a deadline scope */
    aw_scope s;
    aw_scope_begin(&s);
    aw_scope_set_deadline(&s, aw_now() + 1);
    CHECK(aw_sleep(5) == AW_ECANCELLED);
    CHECK(aw_scope_end(&s) == AW_ETIMEDOUT);

    /* cancelling a task */
    static double longd = 100;
    aw_task *c = aw_spawn(sleeper, &longd);
    CHECK(aw_sleep(0) == 0);
    CHECK(aw_task_cancel(c, NULL) == 1);
    CHECK(aw_join(c, NULL) == AW_ECANCELLED);

    /* an fd wait */
    CHECK(pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0);
    aw_task *rd = aw_spawn(reader, NULL);
    CHECK(aw_sleep(0.5) == 0);
    CHECK(write(fds[1], "z", 1) == 1);
    CHECK(aw_join(rd, &r) == 0 && r && *(char *)r == 'z');
    aw_fd_forget(fds[0]);
    close(fds[0]);
    close(fds[1]);

    /* deep inline awaits on a task stack */
    CHECK(aw_call(deep, (void *)100, &r) == 0 && r == (void *)0);

    /* coroutine reuse */
    aw_coro *co = aw_coro(pinger, "x");
    CHECK(aw_await(co, NULL) == 0);
    CHECK(aw_await(co, NULL) == AW_EREUSED);
    return 0;
}

int main(void)
{
    aw_run_opts o;
    memset(&o, 0, sizeof o);
    o.clock = AW_CLOCK_VIRTUAL;
    o.no_sigint = true;
    CHECK(aw_run_ex(aw_coro(main_coro, NULL), NULL, &o) == 0);
    CHECK(aw_sleep(0) == AW_ENOTASK);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
