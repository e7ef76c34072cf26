/* asyncio.timeout / timeout_at: cancel scopes with a deadline, on the caller's stack. */
#include "internal.h"

int aw__timeout_at(aw_scope *s, double when, const char *file, int line)
{
    if (!s || isnan(when)) return -EINVAL;
    int rc = aw__scope_begin(s, 0, file, line);
    if (rc < 0) return rc;
    if (!isinf(when)) aw_scope_set_deadline(s, when);
    return 0;
}

int aw__timeout(aw_scope *s, double seconds, const char *file, int line)
{
    if (!s || isnan(seconds)) return -EINVAL;
    aw_loop *loop = aw__loop();
    double when = isinf(seconds) || !loop ? INFINITY : aw__now(loop) + seconds;
    return aw__timeout_at(s, when, file, line);
}

int aw_timeout_reschedule(aw_scope *s, double when)
{
    if (!s || isnan(when)) return -EINVAL;
    if (!s->_task) return AW_EINVALSTATE;               /* never begun */
    if (aw_scope_expired(s)) return AW_EINVALSTATE;     /* asyncio: "Cannot change state of expiring Timeout" */
    aw_scope_set_deadline(s, when);
    return 0;
}

bool aw_timeout_expired(const aw_scope *s) { return aw_scope_expired(s); }
double aw_timeout_when(const aw_scope *s) { return aw_scope_deadline(s); }
int aw_timeout_end(aw_scope *s) { return aw_scope_end(s); }
