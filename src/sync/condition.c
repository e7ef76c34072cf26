/* asyncio.Condition: wait for a notify while the lock is released, on a lock of its own or a shared one. */
#include "internal.h"

static inline aw_lock *cond_lock(aw_condition *c) { return c->_lock ? c->_lock : &c->_own; }

aw_condition *aw_condition_new(aw_lock *lock)
{
    aw_condition *c = aw__calloc(1, sizeof *c);
    if (!c) { errno = ENOMEM; return NULL; }
    c->_lock = lock;
    return c;
}

void aw_condition_free(aw_condition *c)
{
    if (!c) return;
    if (!aw__wq_empty(&c->_waiters) || !aw__wq_empty(&c->_own._waiters)) {
        aw__sync_report("aw_condition_free: tasks are still waiting on the condition (not freed)", NULL, 0);
        return;
    }
    aw__free(c);
}

int aw__condition_acquire(aw_condition *c, const char *file, int line)
{
    if (!c) return -EINVAL;
    return aw__lock_acquire(cond_lock(c), file, line);
}

int aw_condition_release(aw_condition *c)
{
    if (!c) return -EINVAL;
    return aw_lock_release(cond_lock(c));
}

bool aw_condition_locked(const aw_condition *c)
{
    return c && aw_lock_locked(cond_lock((aw_condition *)c));
}

static int notify(aw_condition *c, int n)
{
    int woken = 0;
    while (woken < n && aw__wq_wake_one(&c->_waiters)) woken++;
    return woken;
}

int aw__condition_wait(aw_condition *c, const char *file, int line)
{
    if (!c) return -EINVAL;
    aw_lock *l = cond_lock(c);
    if (!l->_locked) return aw_raise(AW_EINVALSTATE, "cannot wait on un-acquired lock");
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;     /* the lock stays held, as after a wait */
    if (c->_loop && c->_loop != t->loop->serial) return AW_EWRONGLOOP;
    aw_lock_release(l);
    int waited = aw__wq_wait(&c->_waiters, &c->_loop, t, false, "condition", c, file, line);
    /* Re-acquire the lock whatever happened: the caller always leaves holding it.
     * The shield keeps a cancel from failing the acquire at once. */
    aw_scope shield;
    aw__scope_begin(&shield, AW_SCOPE_SHIELD, file, line);
    rc = aw__lock_acquire(l, file, line);
    aw_scope_end(&shield);
    if (aw__check_cancel(t) < 0) {
        /* A notify that reached us after all goes to the next waiter. */
        if (waited == 0) notify(c, 1);
        return AW_ECANCELLED;
    }
    if (rc < 0) return rc;
    return waited;
}

int aw__condition_wait_for(aw_condition *c, bool (*pred)(void *arg), void *arg,
                           const char *file, int line)
{
    if (!c || !pred) return -EINVAL;
    if (!cond_lock(c)->_locked) return aw_raise(AW_EINVALSTATE, "cannot wait on un-acquired lock");
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    while (!pred(arg)) {
        rc = aw__condition_wait(c, file, line);
        if (rc < 0) return rc;
    }
    return 0;
}

int aw_condition_notify(aw_condition *c, int n)
{
    if (!c || n < 0) return -EINVAL;
    int rc = aw__sync_check(c->_loop);
    if (rc < 0) return rc;
    if (!cond_lock(c)->_locked) return aw_raise(AW_EINVALSTATE, "cannot notify on un-acquired lock");
    return notify(c, n);
}

int aw_condition_notify_all(aw_condition *c)
{
    return aw_condition_notify(c, INT32_MAX);
}
