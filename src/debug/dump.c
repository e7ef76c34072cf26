/* Task dumps: the tree of tasks with their state, inline coroutine chain and await site. */
#include "internal.h"

static const char *state_name(const aw_task *t)
{
    switch (t->tstate) {
    case AW__T_NEW: return "new";
    case AW__T_READY: return "ready";
    case AW__T_RUNNING: return "running";
    case AW__T_PARKED: return "waiting";
    case AW__T_DONE: return "done";
    }
    return "?";
}

/* The task t is waiting on, when it awaits another task. */
static aw_task *awaited_task(const aw_task *t)
{
    if (t->tstate == AW__T_PARKED && t->wait_what && strcmp(t->wait_what, "task") == 0)
        return (aw_task *)t->wait_obj;
    return NULL;
}

static void print_task(FILE *out, aw_task *t, int depth)
{
    fprintf(out, "%*s(T) %s #%llu [%s", depth * 4, "", aw__task_name(t),
            (unsigned long long)t->id, state_name(t));
    if (t->wait_what && t->tstate == AW__T_PARKED) fprintf(out, " on %s", t->wait_what);
    fprintf(out, "]\n");
    fprintf(out, "%*s    %s %s:%d\n", depth * 4, "", t->fn_name ? t->fn_name : "?",
            t->file ? t->file : "?", t->line);
    for (aw__frame *f = t->frames; f; f = f->up)
        fprintf(out, "%*s    > %s %s:%d (awaited at %s:%d)\n", depth * 4, "", f->name, f->file, f->line,
                f->await_file, f->await_line);
    if (t->wait_file && t->tstate == AW__T_PARKED)
        fprintf(out, "%*s    waits at %s:%d\n", depth * 4, "", t->wait_file, t->wait_line);
}

int aw_dump_tasks(FILE *out, int flags)
{
    aw_loop *loop = aw__loop();
    if (!loop) return AW_ENOLOOP;
    if (!out) return -EINVAL;
    if (flags & AW_DUMP_FLAT) {
        fprintf(out, "%-6s %-24s %-8s %-10s %s\n", "ID", "NAME", "STATE", "WAITS", "SITE");
        for (aw__node *n = loop->tasks.next; n != &loop->tasks; n = n->next) {
            aw_task *t = AW__CONTAINER(n, aw_task, all);
            fprintf(out, "%-6llu %-24s %-8s %-10s %s:%d\n", (unsigned long long)t->id, aw__task_name(t),
                    state_name(t), t->wait_what && t->tstate == AW__T_PARKED ? t->wait_what : "-",
                    t->wait_file ? t->wait_file : t->file, t->wait_file ? t->wait_line : t->line);
        }
        return 0;
    }
    /* Roots are tasks nobody awaits; each awaited task is printed under its awaiter. */
    for (aw__node *n = loop->tasks.next; n != &loop->tasks; n = n->next) {
        aw_task *t = AW__CONTAINER(n, aw_task, all);
        bool awaited = false;
        for (aw__node *m = loop->tasks.next; m != &loop->tasks; m = m->next)
            if (awaited_task(AW__CONTAINER(m, aw_task, all)) == t) { awaited = true; break; }
        if (awaited) continue;
        int depth = 0;
        for (aw_task *x = t; x && depth < 64; x = awaited_task(x), depth++) {
            print_task(out, x, depth);
            if (awaited_task(x) == t) { fprintf(out, "%*scycle back to '%s'\n", (depth + 1) * 4, "", aw__task_name(t)); break; }
        }
    }
    return 0;
}
