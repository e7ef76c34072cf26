/* Task dumps: the await tree (like `python -m asyncio pstree`), a ps table, one task's stack, the counters. */
#include "internal.h"

/*
 * The tree is built from what the tasks already hold: each task's future lists
 * its waiters, and a waiter names the task that waits through it (a plain
 * await, a shield) or was linked to one by a combinator (aw__await_link). A
 * waiter whose task is not a live task of this loop is ignored, so a stale
 * link can make a dump less informative, never unsafe.
 *
 * Each task hangs under the first task found awaiting it. Every task then has
 * at most one parent, so the graph is a forest plus, for tasks that await each
 * other in a circle, components with exactly one cycle each: those are printed
 * after the trees, each headed by its cycle, and the walk stops where it comes
 * back round. The walks use an explicit stack, so a long await chain cannot
 * overflow the stack of the task that asked for the dump.
 */

typedef struct dnode {
    aw_task *t;
    int parent;                 /* index of the first task awaiting it, -1: none */
    const char *via;            /* how the parent awaits it */
    int nparents;
    int first_child, next_sibling;
    int printed;
    int walk;                   /* the cycle search's stamp */
} dnode;

typedef struct dump {
    aw_loop *loop;
    FILE *out;
    dnode *v;
    size_t n;
    struct dindex { const aw_task *t; int i; } *index;  /* sorted by address */
    bool *last;                 /* per depth: the ancestor there was its parent's last child */
    double now;
} dump;

static int index_cmp(const void *a, const void *b)
{
    const aw_task *x = ((const struct dindex *)a)->t, *y = ((const struct dindex *)b)->t;
    return x < y ? -1 : x > y;
}

/* The index of live task t, or -1 (compares addresses only: t is never read). */
static int lookup(const dump *d, const aw_task *t)
{
    size_t lo = 0, hi = d->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->index[mid].t == t) return d->index[mid].i;
        if (d->index[mid].t < t) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

static const char *edge_label(const aw__waiter *w, const aw_task *by)
{
    if (w->kind) return w->kind;
    if (by->tstate == AW__T_PARKED && by->wait_what && strcmp(by->wait_what, "task") != 0)
        return by->wait_what;           /* "shield", ... */
    return "await";
}

static int build(dump *d)
{
    size_t n = 0;
    for (aw__node *x = d->loop->tasks.next; x != &d->loop->tasks; x = x->next) n++;
    d->n = n;
    d->v = aw__calloc(n ? n : 1, sizeof *d->v);
    d->index = aw__calloc(n ? n : 1, sizeof *d->index);
    d->last = aw__calloc(n + 1, sizeof *d->last);
    if (!d->v || !d->index || !d->last) return -ENOMEM;
    size_t i = 0;
    for (aw__node *x = d->loop->tasks.next; x != &d->loop->tasks; x = x->next, i++) {
        d->v[i].t = AW__CONTAINER(x, aw_task, all);
        d->v[i].parent = d->v[i].first_child = d->v[i].next_sibling = -1;
        d->index[i].t = d->v[i].t;
        d->index[i].i = (int)i;
    }
    qsort(d->index, n, sizeof *d->index, index_cmp);
    for (i = 0; i < n; i++) {
        aw_task *t = d->v[i].t;
        for (aw__node *x = t->fut.waiters.next; x != &t->fut.waiters; x = x->next) {
            aw__waiter *w = AW__CONTAINER(x, aw__waiter, node);
            int j = w->task ? lookup(d, w->task) : -1;
            if (j < 0 || (size_t)j == i) continue;
            if (d->v[i].parent < 0) {
                d->v[i].parent = j;
                d->v[i].via = edge_label(w, d->v[j].t);
            }
            d->v[i].nparents++;
        }
    }
    /* Children in creation order: push each at the front, walking backwards. */
    for (size_t k = n; k-- > 0;) {
        int p = d->v[k].parent;
        if (p < 0) continue;
        d->v[k].next_sibling = d->v[p].first_child;
        d->v[p].first_child = (int)k;
    }
    return 0;
}

static void release(dump *d)
{
    aw__free(d->v);
    aw__free(d->index);
    aw__free(d->last);
}

/* ---- one task ---- */

static bool not_started(const aw_task *t) { return !t->stack && t->tstate != AW__T_DONE; }

static void put_state(FILE *out, const aw_task *t)
{
    if (not_started(t)) fputs("new", out);
    else if (t->tstate == AW__T_PARKED) fprintf(out, "waiting on %s", t->wait_what ? t->wait_what : "?");
    else if (t->tstate == AW__T_READY) fputs("ready", out);
    else if (t->tstate == AW__T_RUNNING) fputs("running", out);
    else if (t->tstate == AW__T_DONE) fputs("done", out);
    else fputs("?", out);
}

/* Bytes of t's stack used at its deepest (debug mode fills stacks), or 0. */
static size_t stack_used(const aw_task *t)
{
    return t->stack && (t->stack->flags & AW__STACK_FILLED) ? aw__stack_high_water(t->stack) : 0;
}

static void put_header(const dump *d, const aw_task *t)
{
    FILE *out = d->out;
    fprintf(out, "(T) %s #%llu [", aw__task_name((aw_task *)t), (unsigned long long)t->id);
    put_state(out, t);
    if (t->cancel_requests > 0) fputs(", cancelling", out);
    if (d->loop->debug && t->since > 0 && t->tstate == AW__T_PARKED)
        fprintf(out, ", since %.1f s", d->now - t->since);
    size_t used = stack_used(t);
    if (used) fprintf(out, ", stack %.1f/%zu KiB", (double)used / 1024.0, t->stack->size / 1024);
    fputc(']', out);
}

/* The site where t's innermost code is now, as "file:line" (or a remark). */
static void put_site(FILE *out, const aw_task *t)
{
    if (not_started(t)) fprintf(out, "(not started; created at %s:%d)", t->file ? t->file : "?", t->line);
    else if (t->tstate == AW__T_RUNNING) fputs("(running)", out);
    else if (t->tstate == AW__T_DONE) fputs("(done)", out);
    else if (t->wait_file) fprintf(out, "%s:%d", t->wait_file, t->wait_line);
    else fputs("?", out);
}

/* Print t's coroutine chain, outermost first, each line prefixed by pre:
 * "fn file:line", where file:line is where that function is now. */
static void put_chain(FILE *out, const aw_task *t, const char *pre, const char *pre2)
{
    size_t nf = 0;
    for (const aw__frame *f = t->frames; f; f = f->up) nf++;
    const aw__frame *stackv[64];
    const aw__frame **fr = nf <= 64 ? stackv : aw__malloc(nf * sizeof *fr);
    if (!fr) nf = 0;
    size_t k = nf;
    for (const aw__frame *f = t->frames; f && k > 0; f = f->up) fr[--k] = f;   /* fr[0]: outermost */
    fprintf(out, "%s%s%s ", pre, pre2, t->fn_name ? t->fn_name : "?");
    if (nf) fprintf(out, "%s:%d\n", fr[0]->await_file ? fr[0]->await_file : "?", fr[0]->await_line);
    else { put_site(out, t); fputc('\n', out); }
    for (size_t i = 0; i < nf; i++) {
        fprintf(out, "%s%s%s ", pre, pre2, fr[i]->name ? fr[i]->name : "?");
        if (i + 1 < nf) fprintf(out, "%s:%d\n", fr[i + 1]->await_file ? fr[i + 1]->await_file : "?",
                                fr[i + 1]->await_line);
        else { put_site(out, t); fputc('\n', out); }
    }
    if (fr != stackv) aw__free(fr);
}

/* ---- the tree ---- */

static void put_prefix(const dump *d, int depth)
{
    for (int l = 1; l < depth; l++) fputs(d->last[l] ? "    " : "│   ", d->out);
}

static void put_node(dump *d, int i, int depth, bool back)
{
    dnode *v = &d->v[i];
    put_prefix(d, depth);
    if (depth > 0) fputs(d->last[depth] ? "└── " : "├── ", d->out);
    if (back) {
        fprintf(d->out, "(T) %s #%llu ↺ back to the start of the cycle\n", aw__task_name(v->t),
                (unsigned long long)v->t->id);
        return;
    }
    put_header(d, v->t);
    if (depth > 0) fprintf(d->out, " ← %s", v->via);
    if (v->nparents > 1) fprintf(d->out, " (and %d more awaiting it)", v->nparents - 1);
    fputc('\n', d->out);
    /* The chain lines continue the vertical lines of the levels above. */
    char pre[16];
    snprintf(pre, sizeof pre, "%s%s", depth > 0 ? (d->last[depth] ? "    " : "│   ") : "",
             v->first_child >= 0 ? "│   " : "    ");
    char lead[4096];
    size_t n = 0;
    for (int l = 1; l < depth && n + 8 < sizeof lead; l++) {
        const char *s = d->last[l] ? "    " : "│   ";
        size_t k = strlen(s);
        memcpy(lead + n, s, k);
        n += k;
    }
    lead[n] = 0;
    put_chain(d->out, v->t, lead, pre);
}

/* Depth-first from root, children in order; a child already printed is the
 * way back round a cycle. */
static int walk(dump *d, int root)
{
    struct frame { int i, depth; bool back; } *st = aw__malloc((d->n + 1) * sizeof *st);
    if (!st) return -ENOMEM;
    size_t sp = 0;
    st[sp++] = (struct frame){ root, 0, false };
    d->last[0] = true;
    while (sp > 0) {
        struct frame f = st[--sp];
        int depth = f.depth;
        if (depth > 0) {
            /* Am I my parent's last child? Then no sibling follows me on the stack. */
            d->last[depth] = sp == 0 || st[sp - 1].depth < depth;
        }
        put_node(d, f.i, depth, f.back);
        if (f.back) continue;
        d->v[f.i].printed = 1;
        /* Push the children in reverse so the first is printed first. */
        size_t start = sp;
        for (int c = d->v[f.i].first_child; c >= 0; c = d->v[c].next_sibling) {
            if (sp >= d->n + 1) break;
            st[sp++] = (struct frame){ c, depth + 1, d->v[c].printed != 0 };
            if (!d->v[c].printed) d->v[c].printed = 2;  /* queued: a second path to it is a cycle */
        }
        for (size_t a = start, b = sp; a + 1 < b; a++, b--) {
            struct frame tmp = st[a];
            st[a] = st[b - 1];
            st[b - 1] = tmp;
        }
    }
    aw__free(st);
    return 0;
}

static void put_cycle(dump *d, int start)
{
    /* start lies on the cycle. Following parents gives "is awaited by"; the
     * header reads the other way, "a → b" for a awaits b, from the lowest id. */
    size_t len = 1;
    for (int z = d->v[start].parent; z != start; z = d->v[z].parent) len++;
    int *cyc = aw__malloc(len * sizeof *cyc);
    if (!cyc) { fputs("cycle:\n", d->out); return; }
    size_t k = len;
    cyc[--k] = start;
    for (int z = d->v[start].parent; z != start; z = d->v[z].parent) cyc[--k] = z;
    /* cyc[i] awaits cyc[i+1]: cyc[i] is the parent of cyc[i+1]. */
    size_t lo = 0;
    for (size_t i = 1; i < len; i++)
        if (d->v[cyc[i]].t->id < d->v[cyc[lo]].t->id) lo = i;
    fputs("cycle:", d->out);
    for (size_t i = 0; i <= len; i++) {
        aw_task *t = d->v[cyc[(lo + i) % len]].t;
        fprintf(d->out, "%s %s #%llu", i ? " →" : "", aw__task_name(t), (unsigned long long)t->id);
    }
    fputc('\n', d->out);
    aw__free(cyc);
}

static int put_tree(dump *d)
{
    int rc = 0;
    for (size_t i = 0; i < d->n && rc == 0; i++)
        if (d->v[i].parent < 0) rc = walk(d, (int)i);
    /* Whatever is left hangs off a cycle. */
    int stamp = 0;
    for (size_t i = 0; i < d->n && rc == 0; i++) {
        if (d->v[i].printed) continue;
        stamp++;
        int z = (int)i;
        while (d->v[z].walk != stamp) {
            d->v[z].walk = stamp;
            z = d->v[z].parent;
        }
        /* z is on the cycle; start the tree at its lowest id. */
        int root = z;
        for (int y = d->v[z].parent; y != z; y = d->v[y].parent)
            if (d->v[y].t->id < d->v[root].t->id) root = y;
        put_cycle(d, root);
        rc = walk(d, root);
    }
    return rc;
}

/* ---- the table ---- */

static void put_table(dump *d)
{
    FILE *out = d->out;
    fprintf(out, "%6s %6s  %-20s %-22s %8s %11s  %s\n", "ID", "PARENT", "NAME", "STATE", "SINCE", "STACK KiB",
            "WHERE");
    for (size_t i = 0; i < d->n; i++) {
        aw_task *t = d->v[i].t;
        char parent[24] = "-", state[64], since[24] = "-", stack[32] = "-";
        if (d->v[i].parent >= 0)
            snprintf(parent, sizeof parent, "%llu", (unsigned long long)d->v[d->v[i].parent].t->id);
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (f) {
            put_state(f, t);
            if (t->cancel_requests > 0) fputs(", cancelling", f);
            fclose(f);
        }
        snprintf(state, sizeof state, "%s", buf ? buf : "?");
        free(buf);
        if (d->loop->debug && t->since > 0 && t->tstate == AW__T_PARKED)
            snprintf(since, sizeof since, "%.1fs", d->now - t->since);
        size_t used = stack_used(t);
        if (used) snprintf(stack, sizeof stack, "%.1f/%zu", (double)used / 1024.0, t->stack->size / 1024);
        const char *fn = t->frames ? t->frames->name : t->fn_name;
        fprintf(out, "%6llu %6s  %-20s %-22s %8s %11s  %s ", (unsigned long long)t->id, parent,
                aw__task_name(t), state, since, stack, fn ? fn : "?");
        put_site(out, t);
        fputc('\n', out);
    }
}

int aw__dump_loop(aw_loop *loop, FILE *out, int flags)
{
    dump d = { .loop = loop, .out = out, .now = aw__now(loop) };
    int rc = build(&d);
    if (rc == 0) {
        if (flags & AW_DUMP_FLAT) put_table(&d);
        else rc = put_tree(&d);
    }
    release(&d);
    fflush(out);
    return rc;
}

int aw_dump_tasks(FILE *out, int flags)
{
    aw_loop *loop = aw__loop();
    if (!loop) return AW_ENOLOOP;
    if (!out) return -EINVAL;
    return aw__dump_loop(loop, out, flags);
}

int aw_task_print_stack(aw_task *t, FILE *out)
{
    if (!t || !out || t->fut.magic != AW__MAGIC_TASK) return -EINVAL;
    if (t->loop->running && aw__loop_tls != t->loop) return AW_EWRONGTHREAD;
    fprintf(out, "Stack for <Task '%s' #%llu> (", aw__task_name(t), (unsigned long long)t->id);
    put_state(out, t);
    fputs(", most recent call last):\n", out);
    if (t->tstate != AW__T_DONE) put_chain(out, t, "  ", "");
    fflush(out);
    return 0;
}

/* ---- counters ---- */

void aw__stats_print(aw_loop *loop, FILE *out)
{
    aw_loop_stats s;
    aw_loop_stats_get(loop, &s);
    fprintf(out, "%-16s %llu\n", "iterations", (unsigned long long)s.iterations);
    fprintf(out, "%-16s %llu\n", "switches", (unsigned long long)s.switches);
    fprintf(out, "%-16s %llu\n", "tasks.live", (unsigned long long)s.tasks_live);
    fprintf(out, "%-16s %llu\n", "tasks.created", (unsigned long long)s.tasks_created);
    fprintf(out, "%-16s %llu\n", "tasks.finished", (unsigned long long)s.tasks_finished);
    fprintf(out, "%-16s %zu\n", "ready", s.ready);
    fprintf(out, "%-16s %zu\n", "timers", s.timers);
    fprintf(out, "%-16s %llu\n", "timers.fired", (unsigned long long)s.timers_fired);
    fprintf(out, "%-16s %llu\n", "callbacks", (unsigned long long)s.callbacks);
    fprintf(out, "%-16s %llu\n", "polls", (unsigned long long)s.polls);
    fprintf(out, "%-16s %llu\n", "poll.events", (unsigned long long)s.poll_events);
    fprintf(out, "%-16s %zu\n", "fd.waiters", s.fd_waiters);
    fprintf(out, "%-16s %zu\n", "pool.pending", s.pending_work);
    fprintf(out, "%-16s %s\n", "debug", loop->debug ? "on" : "off");
    if (loop->debug) {
        fprintf(out, "%-16s %llu\n", "slow.steps", (unsigned long long)s.slow_steps);
        fprintf(out, "%-16s %.6f s%s%s%s\n", "longest.step", s.longest_step,
                s.longest_step_task[0] ? " (" : "", s.longest_step_task, s.longest_step_task[0] ? ")" : "");
    }
}
