/* Cancel scopes: level-triggered cancellation with deadlines and shields, on the task's stack. */
#include "internal.h"

enum { SC_SHIELD = AW_SCOPE_SHIELD, SC_CANCELLED = 2, SC_EXPIRED = 4, SC_DELIVERED = 8, SC_OPEN = 16 };

static inline aw__timer *scope_timer(aw_scope *s) { return (aw__timer *)(void *)&s->_timer; }

_Static_assert(sizeof(((aw_scope *)0)->_timer) == sizeof(aw__timer), "aw_scope._timer layout");

static void scope_cancel(aw_scope *s)
{
    if (s->_flags & SC_CANCELLED) return;
    s->_flags |= SC_CANCELLED;
    if (s->_task && (s->_flags & SC_OPEN)) s->_task->any_cancelled = true;
    if (s->_task && (s->_flags & SC_OPEN)) aw__task_deliver_cancel(s->_task);
}

static void deadline_fired(void *owner)
{
    aw_scope *s = owner;
    s->_flags |= SC_EXPIRED;
    scope_cancel(s);
}

int aw__scope_begin(aw_scope *s, int flags, const char *file, int line)
{
    if (!s) return -EINVAL;
    aw_loop *loop = aw__loop();
    aw_task *t = loop ? loop->current : NULL;
    memset(s, 0, sizeof *s);
    s->_deadline = INFINITY;
    s->_timer.idx = SIZE_MAX;
    s->_file = file;
    s->_line = line;
    if (!t) return AW_ENOTASK;
    s->_task = t;
    s->_parent = t->scope;
    s->_flags = SC_OPEN | ((unsigned)flags & SC_SHIELD);
    t->scope = s;
    return 0;
}

int aw_scope_end(aw_scope *s)
{
    if (!s || !s->_task || !(s->_flags & SC_OPEN)) return -EINVAL;
    aw_task *t = s->_task;
    if (t->scope != s) {
        aw_scope *inner = t->scope;
        char msg[200];
        snprintf(msg, sizeof msg, "aw_scope_end: the scope opened at %s:%d is not the innermost "
                 "(the one opened at %s:%d is still open)", s->_file, s->_line,
                 inner->_file ? inner->_file : "?", inner->_line);
        aw__loop_report(t->loop, msg, AW_EINVALSTATE, t, NULL, s->_file, s->_line, NULL);
        return AW_EINVALSTATE;
    }
    aw__timer_stop(t->loop, scope_timer(s));
    t->scope = s->_parent;
    s->_flags &= ~(unsigned)SC_OPEN;
    if (s->_flags & SC_CANCELLED) aw__task_recheck_cancelled(t);
    if ((s->_flags & SC_EXPIRED) && (s->_flags & SC_DELIVERED)) return AW_ETIMEDOUT;
    return 0;
}

void aw_scope_cancel(aw_scope *s)
{
    if (s) scope_cancel(s);
}

void aw_scope_set_deadline(aw_scope *s, double when)
{
    if (!s || isnan(when)) return;
    s->_deadline = when;
    aw_task *t = s->_task;
    if (!t || !(s->_flags & SC_OPEN)) return;
    aw__timer *tm = scope_timer(s);
    aw__timer_stop(t->loop, tm);
    if (isinf(when)) return;
    if (when <= aw__now(t->loop)) {
        deadline_fired(s);
        return;
    }
    tm->owner = s;
    tm->fire = deadline_fired;
    if (aw__timer_start(t->loop, tm, when) < 0) deadline_fired(s);   /* no memory: expire now rather than never */
}

double aw_scope_deadline(const aw_scope *s) { return s ? s->_deadline : INFINITY; }
bool aw_scope_expired(const aw_scope *s) { return s && (s->_flags & SC_EXPIRED); }
bool aw_scope_cancelled(const aw_scope *s) { return s && (s->_flags & SC_CANCELLED); }
