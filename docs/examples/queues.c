/* docs/guide.md, "Queues": producers, consumers, task_done/join, shutdown. */
#include <aw.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

static int consumer(void *arg, void **result)
{
    (void)result;
    aw_queue *q = arg;
    for (;;) {
        void *item;
        int rc = aw_queue_get(q, &item);        /* waits for an item */
        if (rc == AW_ESHUTDOWN) return 0;       /* shut down and drained */
        if (rc < 0) return rc;
        aw_sleep(0.01);                         /* work on it */
        printf("%s: job %ld\n", aw_task_name(aw_current_task()), (long)(intptr_t)item);
        aw_queue_task_done(q);
    }
}

static int by_value(const void *a, const void *b)
{
    return (intptr_t)a < (intptr_t)b ? -1 : (intptr_t)a > (intptr_t)b;
}

static int main_coro(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_queue *q = aw_queue_new(2);              /* put waits while 2 items wait */
    if (!q) return -errno;
    aw_task *w[2] = {
        aw_create_task(aw_coro(consumer, q), "worker-a"),
        aw_create_task(aw_coro(consumer, q), "worker-b"),
    };
    for (intptr_t i = 1; i <= 6; i++) aw_queue_put(q, (void *)i);
    aw_queue_join(q);                           /* every item taken and done */
    aw_queue_shutdown(q, false);                /* the workers drain and stop */
    for (int i = 0; i < 2; i++) aw_join(w[i], NULL);
    printf("put after shutdown: %s\n", aw_errname(aw_queue_put_nowait(q, NULL)));
    aw_queue_free(q);

    /* a priority queue: smallest first, ties in arrival order */
    aw_queue *p = aw_queue_new_priority(0, by_value);
    intptr_t in[] = { 5, 1, 4, 2 };
    for (int i = 0; i < 4; i++) aw_queue_put_nowait(p, (void *)in[i]);
    void *x;
    while (aw_queue_get_nowait(p, &x) == 0) printf("priority: %ld\n", (long)(intptr_t)x);
    aw_queue_free(p);
    return 0;
}

int main(void)
{
    return aw_run(aw_coro(main_coro, NULL), NULL) == 0 ? 0 : 1;
}
