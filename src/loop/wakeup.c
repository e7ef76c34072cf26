/* Cross-thread wake-up: posts queued under a mutex and an eventfd to rouse a sleeping loop. */
#include "internal.h"

void aw__loop_wakeup(aw_loop *loop);

static int post(aw_loop *loop, aw__post *p, aw_callback cb, void *arg, bool heap)
{
    p->next = NULL;
    p->cb = cb;
    p->arg = arg;
    p->heap = heap;
    pthread_mutex_lock(&loop->post_mu);
    if (loop->closed) {
        pthread_mutex_unlock(&loop->post_mu);
        return AW_ECLOSED;
    }
    bool was_empty = loop->posts == NULL;
    *loop->posts_tail = p;
    loop->posts_tail = &p->next;
    atomic_fetch_add_explicit(&loop->nposts, 1, memory_order_relaxed);
    /* Only the first post after a drain needs to wake the loop; the loop re-checks
     * the queue after announcing that it sleeps. The wake-up is written before
     * the mutex is released: once the loop can drain this post it may run a
     * completion, see no work pending, close and free itself, so the poster
     * must not touch the loop after the unlock. */
    if (was_empty) aw__loop_wakeup(loop);
    pthread_mutex_unlock(&loop->post_mu);
    return 0;
}

int aw__loop_post(aw_loop *loop, aw_callback cb, void *arg)
{
    if (!loop || !cb) return -EINVAL;
    aw__post *p = aw__malloc(sizeof *p);
    if (!p) return -ENOMEM;
    int rc = post(loop, p, cb, arg, true);
    if (rc < 0) aw__free(p);
    return rc;
}

int aw__loop_post_node(aw_loop *loop, aw__post *p, aw_callback cb, void *arg)
{
    if (!loop || !p || !cb) return -EINVAL;
    return post(loop, p, cb, arg, false);
}

int aw_loop_call_soon_threadsafe(aw_loop *loop, aw_callback cb, void *arg)
{
    return aw__loop_post(loop, cb, arg);
}
