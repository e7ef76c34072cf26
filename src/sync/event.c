/* asyncio.Event: a flag that tasks wait on; setting it wakes them all. */
#include "internal.h"

aw_event *aw_event_new(void)
{
    aw_event *e = aw__calloc(1, sizeof *e);
    if (!e) errno = ENOMEM;
    return e;
}

void aw_event_free(aw_event *e)
{
    if (!e) return;
    if (!aw__wq_empty(&e->_waiters)) {
        aw__sync_report("aw_event_free: tasks are still waiting on the event (not freed)", NULL, 0);
        return;
    }
    aw__free(e);
}

int aw_event_set(aw_event *e)
{
    if (!e) return -EINVAL;
    int rc = aw__sync_check(e->_loop);
    if (rc < 0) return rc;
    if (!e->_set) {
        e->_set = true;
        aw__wq_wake_all(&e->_waiters);
    }
    return 0;
}

void aw_event_clear(aw_event *e)
{
    if (e) e->_set = false;
}

bool aw_event_is_set(const aw_event *e) { return e && e->_set; }

int aw__event_wait(aw_event *e, const char *file, int line)
{
    if (!e) return -EINVAL;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (e->_loop && e->_loop != t->loop->serial) return AW_EWRONGLOOP;
    if (e->_set) return 0;
    rc = aw__wq_wait(&e->_waiters, &e->_loop, t, false, "event", e, file, line);
    if (rc < 0) return rc;
    /* Woken by set (a broadcast: nothing to pass on), but cancelled before we ran. */
    return aw__check_cancel(t);
}
