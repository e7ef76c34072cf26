/* asyncio.Barrier: parties tasks meet, then all go on; reset and abort break it for those waiting. */
#include "internal.h"

/*
 * The state machine is asyncio's. FILLING: tasks arrive and wait. When the last
 * party arrives the barrier is DRAINING: the waiters leave, and tasks arriving
 * meanwhile wait for the drain to finish. RESETTING: a reset while tasks were
 * inside; they leave with AW_EBROKEN and the barrier fills again after the last.
 * BROKEN: after abort, until reset. Every state change wakes every waiter, which
 * re-checks what it waits for (a broadcast: no wake-up can be lost to a cancel).
 */

enum { FILLING = 0, DRAINING = 1, RESETTING = 2, BROKEN = 3 };

aw_barrier *aw_barrier_new(int parties)
{
    if (parties < 1) { errno = EINVAL; return NULL; }
    aw_barrier *b = aw__calloc(1, sizeof *b);
    if (!b) { errno = ENOMEM; return NULL; }
    b->_parties = parties;
    return b;
}

void aw_barrier_free(aw_barrier *b)
{
    if (!b) return;
    if (!aw__wq_empty(&b->_waiters)) {
        aw__sync_report("aw_barrier_free: tasks are still waiting on the barrier (not freed)", NULL, 0);
        return;
    }
    aw__free(b);
}

/* A task leaves wait: the last one out of a drain or reset refills the barrier. */
static void barrier_exit(aw_barrier *b)
{
    if (--b->_count == 0) {
        if (b->_state == DRAINING || b->_state == RESETTING) b->_state = FILLING;
        aw__wq_wake_all(&b->_waiters);
    }
}

int aw__barrier_wait(aw_barrier *b, const char *file, int line)
{
    if (!b || b->_parties < 1) return -EINVAL;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (b->_loop && b->_loop != t->loop->serial) return AW_EWRONGLOOP;
    /* Wait out a drain or reset in progress. */
    while (b->_state == DRAINING || b->_state == RESETTING) {
        rc = aw__wq_wait(&b->_waiters, &b->_loop, t, false, "barrier", b, file, line);
        if (rc == 0) rc = aw__check_cancel(t);
        if (rc < 0) return rc;
    }
    if (b->_state == BROKEN) return AW_EBROKEN;
    int index = b->_count++;
    if (index + 1 == b->_parties) {
        b->_state = DRAINING;
        aw__wq_wake_all(&b->_waiters);
        barrier_exit(b);
        return index;
    }
    while (b->_state == FILLING) {
        rc = aw__wq_wait(&b->_waiters, &b->_loop, t, false, "barrier", b, file, line);
        if (rc == 0) rc = aw__check_cancel(t);
        if (rc < 0) {
            barrier_exit(b);
            return rc;
        }
    }
    rc = b->_state == DRAINING ? index : AW_EBROKEN;
    barrier_exit(b);
    return rc;
}

int aw_barrier_reset(aw_barrier *b)
{
    if (!b) return -EINVAL;
    int rc = aw__sync_check(b->_loop);
    if (rc < 0) return rc;
    if (b->_count > 0) b->_state = RESETTING;
    else b->_state = FILLING;
    aw__wq_wake_all(&b->_waiters);
    return 0;
}

int aw_barrier_abort(aw_barrier *b)
{
    if (!b) return -EINVAL;
    int rc = aw__sync_check(b->_loop);
    if (rc < 0) return rc;
    b->_state = BROKEN;
    aw__wq_wake_all(&b->_waiters);
    return 0;
}

int aw_barrier_parties(const aw_barrier *b) { return b ? b->_parties : 0; }
int aw_barrier_n_waiting(const aw_barrier *b) { return b && b->_state == FILLING ? b->_count : 0; }
bool aw_barrier_broken(const aw_barrier *b) { return b && b->_state == BROKEN; }
