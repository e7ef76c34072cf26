/* docs/guide.md, "First steps": coroutines, tasks and aw_run. */
#include <aw.h>
#include <stdio.h>

static int fetch(void *arg, void **result)
{
    int rc = aw_sleep(0.01);                 /* a suspension point */
    if (rc < 0) return rc;                   /* AW_ECANCELLED if cancelled */
    *result = arg;
    return 0;
}

static int main_coro(void *arg, void **result)
{
    (void)arg;
    aw_task *a = aw_create_task(aw_coro(fetch, "a"), "fetch-a");
    aw_task *b = aw_create_task(aw_coro(fetch, "b"), "fetch-b");
    void *ra, *rb;
    int rc = aw_join(a, &ra);
    if (rc == 0) rc = aw_join(b, &rb);
    else aw_task_release(b);
    if (rc < 0) return rc;
    printf("%s %s\n", (char *)ra, (char *)rb);
    return aw_await(aw_coro(fetch, "inline"), result);   /* runs on this task's stack */
}

int main(void)
{
    void *r;
    int rc = aw_run(aw_coro(main_coro, NULL), &r);
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", aw_errname(rc), aw_strerror(rc));
        return 1;
    }
    printf("%s\n", (char *)r);
    return 0;
}
