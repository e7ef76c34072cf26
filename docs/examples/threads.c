/* docs/guide.md, "Threads": blocking work on the pool, and a coroutine sent from another thread. */
#include <aw.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

/* Runs on a pool thread: it may block, the loop keeps running. */
static int blocking_sum(void *arg, void **result)
{
    long n = (long)(intptr_t)arg, s = 0;
    for (long i = 1; i <= n; i++) s += i;
    usleep(1000);                               /* stands for a blocking call */
    *result = (void *)(intptr_t)s;
    return 0;
}

/* Submitted from another thread; runs as a task on the loop. */
static int answer(void *arg, void **result)
{
    int rc = aw_sleep(0.01);
    *result = arg;
    return rc;
}

static void *other_thread(void *arg)
{
    aw_loop *loop = arg;
    aw_cfuture *f = aw_run_coroutine_threadsafe(loop, aw_coro(answer, (void *)42));
    if (!f) return NULL;
    void *r = NULL;
    int rc = aw_cfuture_wait(f, 5.0, &r);       /* blocks this thread, 5 s at most */
    printf("from the other thread: %s, %ld\n", aw_errname(rc), (long)(intptr_t)r);
    aw_cfuture_release(f);
    return NULL;
}

static int join(void *arg, void **result)
{
    (void)result;
    return -pthread_join(*(pthread_t *)arg, NULL);
}

static int main_coro(void *arg, void **result)
{
    (void)arg; (void)result;
    void *r = NULL;
    int rc = aw_to_thread(blocking_sum, (void *)1000, &r);
    if (rc < 0) return rc;
    printf("sum: %ld\n", (long)(intptr_t)r);

    pthread_t th;
    if (pthread_create(&th, NULL, other_thread, aw_running_loop()) != 0) return -EAGAIN;
    /* pthread_join blocks, so it goes to the pool too: meanwhile the loop
     * runs the coroutine the other thread sent. */
    return aw_to_thread(join, &th, NULL);
}

int main(void)
{
    return aw_run(aw_coro(main_coro, NULL), NULL) == 0 ? 0 : 1;
}
