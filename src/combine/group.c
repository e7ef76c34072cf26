/* asyncio.TaskGroup: children that cannot outlive the group; the first failure cancels the rest. */
#include "internal.h"

/*
 * The group is a cancel scope of the task that begins it (the parent), so a
 * child's failure cancels the body through aw_scope_cancel, and the core's
 * balanced-scope check reports a group left open. The bookkeeping lives on the
 * heap (struct aw__group), created by the first spawn: each child has a record
 * whose waiter is called inside the child's completion, so errors are recorded
 * and siblings cancelled at once, not when the parent next looks.
 *
 * The state also watches the parent task itself. If the parent returns with the
 * group still open (a bug, reported by the core), its stack is about to go: the
 * state forgets the aw_group, cancels the children, and frees itself after the
 * last one, so no child ever writes into a dead stack.
 */

enum { G_OPEN = 1, G_ENDED = 2 };

typedef struct gchild {
    aw__waiter w;               /* on the child's waiters */
    aw__node link;              /* in the state's children */
    aw_task *task;
    struct aw__group *st;
} gchild;

struct aw__group {
    aw_group *g;                /* NULL once orphaned (the parent returned with the group open) */
    aw_task *parent;
    aw__waiter parent_watch;    /* on the parent's waiters: notices an orphaning */
    aw__node children;
    size_t nchildren;
    aw_task *waiting;           /* the parent, parked in aw_group_end */
    bool aborting;
    int first_error;
    aw_group_error *errors;
    size_t nerrors, cap;
};

static void free_errors(aw_group_error *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        aw__free(e[i].task_name);
        aw__free(e[i].message);
    }
    aw__free(e);
}

/* Cancel every child still running (and the body, unless orphaned). */
static void group_abort(struct aw__group *st)
{
    st->aborting = true;
    if (st->g) aw_scope_cancel(&st->g->_scope);
    for (aw__node *n = st->children.next; n != &st->children; n = n->next)
        aw_task_cancel(AW__CONTAINER(n, gchild, link)->task, NULL);
}

static void record_error(struct aw__group *st, aw_task *t, int err)
{
    if (!st->first_error) st->first_error = err;
    if (st->nerrors == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 4;
        aw_group_error *e = aw__realloc(st->errors, cap * sizeof *e);
        if (!e) return;         /* the count of errors stays short; first_error is kept */
        st->errors = e;
        st->cap = cap;
    }
    aw_group_error *e = &st->errors[st->nerrors++];
    e->task_name = aw__strdup(aw__task_name(t));
    e->error = err;
    e->message = t->err_msg ? aw__strdup(t->err_msg) : NULL;
}

static void child_done(aw__waiter *w)
{
    gchild *c = AW__CONTAINER(w, gchild, w);
    struct aw__group *st = c->st;
    aw_task *t = c->task;
    aw__list_remove(&c->link);
    st->nchildren--;
    int err = t->fut.err;
    if (err != 0 && err != AW_ECANCELLED && st->g) {
        t->fut.retrieved = true;    /* the group reports it */
        record_error(st, t, err);
        if (!st->aborting) group_abort(st);
    }
    aw__future_unref(&t->fut);
    aw__free(c);
    if (st->nchildren == 0) {
        if (st->waiting) aw__task_wake(st->waiting, 0);
        if (!st->g) {
            free_errors(st->errors, st->nerrors);
            aw__free(st);
        }
    }
}

/* The parent task completed while the group was open. */
static void parent_done(aw__waiter *w)
{
    struct aw__group *st = AW__CONTAINER(w, struct aw__group, parent_watch);
    st->g = NULL;
    st->parent = NULL;
    /* the children outlive the task that awaited them: they name nobody now */
    for (aw__node *n = st->children.next; n != &st->children; n = n->next)
        aw__await_unlink(&AW__CONTAINER(n, gchild, link)->w);
    group_abort(st);
    if (st->nchildren == 0) {
        free_errors(st->errors, st->nerrors);
        aw__free(st);
    }
}

int aw__group_begin(aw_group *g, const char *file, int line)
{
    if (!g) return -EINVAL;
    memset(g, 0, sizeof *g);
    int rc = aw__scope_begin(&g->_scope, 0, file, line);
    if (rc < 0) return rc;
    g->_flags = G_OPEN;
    return 0;
}

aw_task *aw_group_spawn(aw_group *g, aw_coro *c, const char *name)
{
    int err = 0;
    aw_loop *loop = aw__loop();
    if (!g || !c || !(g->_flags & G_OPEN)) err = EINVAL;
    else if (!loop || loop != g->_scope._task->loop) err = EINVAL;
    else if (g->_st && g->_st->aborting) err = ECANCELED;   /* asyncio: "TaskGroup is shutting down" */
    struct aw__group *st = err ? NULL : g->_st;
    if (!err && !st) {
        st = aw__calloc(1, sizeof *st);
        if (!st) {
            err = ENOMEM;
        } else {
            st->g = g;
            st->parent = g->_scope._task;
            aw__list_init(&st->children);
            st->parent_watch.wake = parent_done;
            aw__list_push(&st->parent->fut.waiters, &st->parent_watch.node);
            g->_st = st;
        }
    }
    gchild *ch = err ? NULL : aw__malloc(sizeof *ch);
    if (!err && !ch) err = ENOMEM;
    if (err) {
        if (c) aw__coro_discard(c);
        errno = err;
        return NULL;
    }
    aw_task *t = aw_create_task(c, name);
    if (!t) {
        aw__free(ch);
        return NULL;            /* errno set; c consumed */
    }
    ch->task = t;               /* the group holds the reference aw_create_task gave */
    ch->st = st;
    ch->w.task = NULL;
    ch->w.wake = child_done;
    if (st->parent) aw__await_link(&ch->w, &t->fut, st->parent, "task group");
    aw__list_push(&t->fut.waiters, &ch->w.node);
    aw__list_push(&st->children, &ch->link);
    st->nchildren++;
    return t;
}

static bool end_unpark(aw_task *t, void *ctx)
{
    (void)t;
    struct aw__group *st = ctx;
    if (!st->aborting) group_abort(st);
    return false;               /* the children end first */
}

int aw__group_end(aw_group *g, const char *file, int line)
{
    if (!g || !(g->_flags & G_OPEN)) return -EINVAL;
    aw_task *t = aw_current_task();
    if (t != g->_scope._task) return aw_raise(AW_EINVALSTATE, "aw_group_end outside the task that began the group");
    struct aw__group *st = g->_st;
    if (st) {
        /* A body leaving cancelled (by a failure, aw_group_cancel or from outside)
         * takes the children with it. */
        if (!st->aborting && aw__scope_cancelling(t)) group_abort(st);
        while (st->nchildren > 0) {
            st->waiting = t;
            aw__park(t, end_unpark, st, "task group", g, file, line);
            st->waiting = NULL;
        }
        if (aw__node_linked(&st->parent_watch.node)) aw__list_remove(&st->parent_watch.node);
        g->_errors = st->errors;
        g->_nerrors = st->nerrors;
        int first = st->first_error;
        aw__free(st);
        g->_st = NULL;
        int se = aw_scope_end(&g->_scope);
        g->_flags = G_ENDED;
        if (se == AW_EINVALSTATE) return se;
        if (first) return first;
    } else {
        int se = aw_scope_end(&g->_scope);
        g->_flags = G_ENDED;
        if (se == AW_EINVALSTATE) return se;
    }
    return aw__check_cancel(t);     /* a cancel from outside is still pending */
}

void aw_group_cancel(aw_group *g)
{
    if (!g || !(g->_flags & G_OPEN)) return;
    if (g->_st) group_abort(g->_st);
    else aw_scope_cancel(&g->_scope);
}

const aw_group_error *aw_group_errors(const aw_group *g, size_t *count)
{
    const aw_group_error *e = NULL;
    size_t n = 0;
    if (g && g->_st) { e = g->_st->errors; n = g->_st->nerrors; }
    else if (g) { e = g->_errors; n = g->_nerrors; }
    if (count) *count = n;
    return e;
}

void aw_group_clear(aw_group *g)
{
    if (!g || (g->_flags & G_OPEN)) return;
    free_errors(g->_errors, g->_nerrors);
    g->_errors = NULL;
    g->_nerrors = 0;
}
