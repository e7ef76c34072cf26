/* asyncio.Lock: FIFO hand-off, so a newcomer never barges past a waiter. */
#include "internal.h"

/*
 * Invariant: the lock is unlocked only when nobody waits. Releasing with
 * waiters hands the lock straight to the first one (it stays locked), so a task
 * that calls acquire in between queues up behind it. A waiter that is cancelled
 * while queued simply leaves the queue; one cancelled after the hand-off but
 * before it ran gives the lock on to the next waiter and reports the cancel, so
 * neither case leaves the lock stuck.
 */

aw_lock *aw_lock_new(void)
{
    aw_lock *l = aw__calloc(1, sizeof *l);
    if (!l) errno = ENOMEM;
    return l;
}

void aw_lock_free(aw_lock *l)
{
    if (!l) return;
    if (!aw__wq_empty(&l->_waiters)) {
        aw__sync_report("aw_lock_free: tasks are still waiting on the lock (not freed)", NULL, 0);
        return;
    }
    aw__free(l);
}

static void lock_pass(aw_lock *l)
{
    if (!aw__wq_wake_one(&l->_waiters)) l->_locked = false;
}

int aw__lock_acquire(aw_lock *l, const char *file, int line)
{
    if (!l) return -EINVAL;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (AW__UNLIKELY(l->_loop != t->loop->serial) && l->_loop) return AW_EWRONGLOOP;
    if (!l->_locked) {
        l->_locked = true;
        return 0;
    }
    rc = aw__wq_wait(&l->_waiters, &l->_loop, t, false, "lock", l, file, line);
    if (rc < 0) return rc;
    if (aw__check_cancel(t) < 0) {
        lock_pass(l);           /* handed to us, but we were cancelled before we ran */
        return AW_ECANCELLED;
    }
    return 0;
}

int aw_lock_release(aw_lock *l)
{
    if (!l) return -EINVAL;
    int rc = aw__sync_check(l->_loop);
    if (rc < 0) return rc;
    if (!l->_locked) return aw_raise(AW_EINVALSTATE, "Lock is not acquired.");
    lock_pass(l);
    return 0;
}

bool aw_lock_locked(const aw_lock *l) { return l && l->_locked; }
