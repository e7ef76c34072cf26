/* asyncio.Semaphore and BoundedSemaphore: a counter of permits with FIFO hand-off. */
#include "internal.h"

/*
 * Invariant: tasks wait only while _value is 0. A release with waiters hands
 * its permit straight to the first one (as asyncio 3.13's _wake_up_next, which
 * decrements the value when it wakes someone), so FIFO order holds even against
 * a task that calls acquire before the woken one runs. A waiter cancelled after
 * the hand-off gives the permit on.
 */

static aw_semaphore *sem_new(long value, bool bounded)
{
    if (value < 0) { errno = EINVAL; return NULL; }
    aw_semaphore *s = aw__calloc(1, sizeof *s);
    if (!s) { errno = ENOMEM; return NULL; }
    s->_value = value;
    s->_bound = bounded ? value : -1;
    return s;
}

aw_semaphore *aw_semaphore_new(long value) { return sem_new(value, false); }
aw_semaphore *aw_bounded_semaphore_new(long value) { return sem_new(value, true); }

void aw_semaphore_free(aw_semaphore *s)
{
    if (!s) return;
    if (!aw__wq_empty(&s->_waiters)) {
        aw__sync_report("aw_semaphore_free: tasks are still waiting on the semaphore (not freed)", NULL, 0);
        return;
    }
    aw__free(s);
}

static void sem_pass(aw_semaphore *s)
{
    if (!aw__wq_wake_one(&s->_waiters)) s->_value++;
}

int aw__semaphore_acquire(aw_semaphore *s, const char *file, int line)
{
    if (!s) return -EINVAL;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (s->_loop && s->_loop != t->loop->serial) return AW_EWRONGLOOP;
    if (s->_value > 0) {
        s->_value--;
        return 0;
    }
    rc = aw__wq_wait(&s->_waiters, &s->_loop, t, false, "semaphore", s, file, line);
    if (rc < 0) return rc;
    if (aw__check_cancel(t) < 0) {
        sem_pass(s);
        return AW_ECANCELLED;
    }
    return 0;
}

int aw_semaphore_release(aw_semaphore *s)
{
    if (!s) return -EINVAL;
    int rc = aw__sync_check(s->_loop);
    if (rc < 0) return rc;
    if (s->_bound >= 0 && s->_value >= s->_bound)
        return aw_raise(AW_EOVERFLOW, "BoundedSemaphore released too many times");
    sem_pass(s);
    return 0;
}

bool aw_semaphore_locked(const aw_semaphore *s) { return !s || s->_value <= 0; }
long aw_semaphore_value(const aw_semaphore *s) { return s ? s->_value : 0; }
