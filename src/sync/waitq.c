/* Wait queues shared by the sync primitives: park a task, take it out on a cancel, wake. */
#include "internal.h"

bool aw__wq_unpark(aw_task *t, void *ctx)
{
    (void)t;
    aw__wq_remove(ctx);
    return true;
}

size_t aw__wq_wake_all(aw__waitq *q)
{
    size_t n = 0;
    while (aw__wq_wake_one(q)) n++;
    return n;
}

void aw__sync_report(const char *message, const char *file, int line)
{
    aw_loop *loop = aw__loop();
    if (loop) aw__loop_report(loop, message, AW_EINVALSTATE, loop->current, NULL, file, line, NULL);
    else fprintf(stderr, "aw: %s\n", message);
}
