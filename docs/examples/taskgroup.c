/* docs/guide.md, "TaskGroup": structured concurrency; gather vs TaskGroup when a child fails. */
#include <aw.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

static int worker(void *arg, void **result)
{
    (void)result;
    intptr_t n = (intptr_t)arg;
    int rc = aw_sleep((double)n / 10);
    if (rc < 0) {
        printf("  worker %d cancelled\n", (int)n);
        return rc;
    }
    if (n == 2) return aw_raise(-ECONNRESET, "worker %d lost its peer", (int)n);
    printf("  worker %d done\n", (int)n);
    return 0;
}

static int main_coro(void *arg, void **result)
{
    (void)arg; (void)result;
    /* gather: the first error comes back at once, the others keep running */
    printf("gather:\n");
    void *aws[] = { aw_coro(worker, (void *)1), aw_coro(worker, (void *)2), aw_coro(worker, (void *)5) };
    int rc = aw_gather(3, aws, NULL, NULL, 0);
    printf("  gather returned %s; worker 5 still runs\n", aw_errname(rc));
    aw_sleep(0.5);

    /* TaskGroup: the first failure cancels the siblings and the body; no child
     * outlives the group, and every error is kept */
    printf("TaskGroup:\n");
    aw_group g;
    aw_group_begin(&g);
    for (intptr_t i = 1; i <= 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "worker-%d", (int)i);
        aw_group_spawn(&g, aw_coro(worker, (void *)(i == 3 ? 5 : i)), name);
    }
    rc = aw_sleep(10);                          /* the body is cancelled too */
    printf("  body: %s\n", aw_errname(rc));
    rc = aw_group_end(&g);                      /* waits for every child */
    size_t n;
    const aw_group_error *e = aw_group_errors(&g, &n);
    for (size_t i = 0; i < n; i++)
        printf("  %s: %s (%s)\n", e[i].task_name, aw_errname(e[i].error), e[i].message);
    aw_group_clear(&g);
    printf("  group returned %s; the task goes on: sleep -> %d\n", aw_errname(rc), aw_sleep(0.01));
    return 0;
}

int main(void)
{
    return aw_run(aw_coro(main_coro, NULL), NULL) == 0 ? 0 : 1;
}
