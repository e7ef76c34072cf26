/* Debug mode: timed and published steps, slow-step and stack reports, thread and release checks, resources. */
#include "internal.h"

#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

/*
 * Everything here runs on the loop's thread, except aw__debug_foreign_thread
 * (on the offending thread, reading only what the loop set before it started
 * running) and what service.c's thread reads under d->mu.
 *
 * A step is published in two parts: d->seq becomes odd and d->pub names the
 * task and where its step began (under d->mu, so the watchdog never reads a
 * half-written name), and seq becomes even again when the step ends. The
 * watchdog compares seq between its ticks: the same odd value for longer than
 * its period is a stuck loop.
 */

struct aw__debug *aw__debug_get(aw_loop *loop)
{
    if (loop->dbg) return loop->dbg;
    struct aw__debug *d = aw__calloc(1, sizeof *d);
    if (!d) return NULL;
    if (pthread_mutex_init(&d->mu, NULL) != 0) {
        aw__free(d);
        return NULL;
    }
    d->loop = loop;
    d->wake[0] = d->wake[1] = -1;
    d->new_listen = -2;
    const char *w = getenv("AW_WATCHDOG");
    char *end = NULL;
    double v = w && *w ? strtod(w, &end) : 1.0;
    d->watchdog = (end && *end) || isnan(v) || v < 0 ? 1.0 : v;
    atomic_init(&d->seq, 0);
    loop->dbg = d;
    return d;
}

/* ---- publishing a step ---- */

static void publish(struct aw__debug *d, uint64_t id, const char *name, const char *file, int line,
                    const char *what)
{
    double started = aw__step_clock == aw__clock_real ? d->clock0 : aw__clock_real();
    pthread_mutex_lock(&d->mu);
    d->pub.task_id = id;
    snprintf(d->pub.name, sizeof d->pub.name, "%s", name);
    d->pub.file = file;
    d->pub.line = line;
    d->pub.what = what;
    d->pub.started = started;
    atomic_store_explicit(&d->seq, (atomic_load_explicit(&d->seq, memory_order_relaxed) | 1u) + 2u,
                          memory_order_release);
    pthread_mutex_unlock(&d->mu);
}

static void unpublish(struct aw__debug *d)
{
    uint64_t s = atomic_load_explicit(&d->seq, memory_order_relaxed);
    if (s & 1u) atomic_store_explicit(&d->seq, s + 1u, memory_order_release);
}

static void lazy_start(aw_loop *loop, struct aw__debug *d)
{
    (void)loop;
    if (d->started || d->start_failed || d->watchdog <= 0) return;
    if (aw__service_start(d) < 0) d->start_failed = true;
}

void aw__debug_step_begin(aw_loop *loop, aw_task *t)
{
    struct aw__debug *d = aw__debug_get(loop);
    if (!d) return;
    /* Stacks handed out from now on carry the fill pattern (debug mode may have
     * been turned on while the loop ran). */
    loop->stacks.debug_fill = true;
    lazy_start(loop, d);
    d->stepping = true;
    d->begin_file = t->wait_file ? t->wait_file : t->file;
    d->begin_line = t->wait_file ? t->wait_line : t->line;
    d->begin_what = t->wait_file ? t->wait_what : NULL;
    d->clock0 = aw__step_clock();
    publish(d, t->id, aw__task_name(t), d->begin_file, d->begin_line, d->begin_what);
}

static void note_longest(aw_loop *loop, double took, const char *name)
{
    if (took <= loop->stats.longest_step) return;
    loop->stats.longest_step = took;
    snprintf(loop->stats.longest_step_task, sizeof loop->stats.longest_step_task, "%s", name);
}

void aw__debug_step_end(aw_loop *loop, aw_task *t)
{
    struct aw__debug *d = loop->dbg;
    if (!d || !d->stepping) return;
    d->stepping = false;
    double took = aw__step_clock() - d->clock0;
    unpublish(d);
    t->since = aw__now(loop);
    note_longest(loop, took, aw__task_name(t));
    if (took < loop->slow_step) return;
    loop->stats.slow_steps++;
    char msg[256], detail[512];
    const char *bf = d->begin_file ? d->begin_file : "?";
    snprintf(msg, sizeof msg, "Executing <Task '%s' at %s:%d> took %.3f seconds",
             aw__task_name(t), bf, d->begin_line, took);
    int n;
    if (d->begin_what)
        n = snprintf(detail, sizeof detail, "the step began at %s:%d (resumed from %s)", bf, d->begin_line,
                     d->begin_what);
    else
        n = snprintf(detail, sizeof detail, "the step began at %s:%d (the task's first step)", bf,
                     d->begin_line);
    size_t k = n > 0 && (size_t)n < sizeof detail ? (size_t)n : 0;
    if (t->tstate == AW__T_DONE)
        snprintf(detail + k, sizeof detail - k, "; then the task finished");
    else
        snprintf(detail + k, sizeof detail - k, "; it suspended at %s:%d (%s)",
                 t->wait_file ? t->wait_file : "?", t->wait_line, t->wait_what ? t->wait_what : "yield");
    aw__loop_report(loop, msg, 0, t, detail, bf, d->begin_line, NULL);
}

/* "<Handle fn()>" for a callback: the symbol's name when the dynamic linker
 * knows it (exported functions), else its address. */
static void describe_callback(char *buf, size_t size, const char *kind, void (*fn)(void))
{
    const char *name = NULL;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    Dl_info info;
    void *addr;
    memcpy(&addr, &fn, sizeof addr);
    if (dladdr(addr, &info) && info.dli_sname && info.dli_saddr == addr) name = info.dli_sname;
#endif
    if (name) {
        snprintf(buf, size, "<%s %s()>", kind, name);
    } else {
        void *p;
        memcpy(&p, &fn, sizeof p);
        snprintf(buf, size, "<%s %p>", kind, p);
    }
}

void aw__debug_run_callback(aw_loop *loop, aw__runnable *r)
{
    struct aw__debug *d = aw__debug_get(loop);
    char what[48];
    if (r->kind == AW__RUN_HANDLE) {
        aw_handle *h = AW__CONTAINER(r, aw_handle, run);
        describe_callback(what, sizeof what, "Handle", (void (*)(void))h->cb);
    } else {
        aw__done_cb *dc = AW__CONTAINER(r, aw__done_cb, run);
        describe_callback(what, sizeof what, "done-callback", (void (*)(void))dc->cb);
    }
    double t0 = aw__step_clock();
    if (d) {
        lazy_start(loop, d);
        d->clock0 = t0;
        publish(d, 0, what, NULL, 0, NULL);
    }
    if (r->kind == AW__RUN_HANDLE) aw__handle_run(AW__CONTAINER(r, aw_handle, run));
    else aw__done_cb_run(AW__CONTAINER(r, aw__done_cb, run));
    double took = aw__step_clock() - t0;
    if (d) unpublish(d);
    note_longest(loop, took, "<callback>");
    if (took < loop->slow_step) return;
    loop->stats.slow_steps++;
    char msg[160];
    snprintf(msg, sizeof msg, "Executing %s took %.3f seconds", what, took);
    aw__loop_report(loop, msg, 0, NULL, NULL, NULL, 0, NULL);
}

void aw__debug_off(aw_loop *loop)
{
    struct aw__debug *d = loop->dbg;
    if (!d) return;
    d->stepping = false;
    unpublish(d);
}

/* ---- task ends and releases ---- */

void aw__debug_task_end(aw_loop *loop, aw_task *t)
{
    size_t used = aw__stack_high_water(t->stack), size = t->stack->size;
    if (used == 0 || used * 4 <= size * 3) return;
    char msg[96], detail[160];
    snprintf(msg, sizeof msg, "Task used %u %% of its stack", (unsigned)(used * 100 / size));
    snprintf(detail, sizeof detail, "%.1f of %zu KiB at its deepest: give it more with aw_task_set_stack_size",
             (double)used / 1024.0, size / 1024);
    aw__loop_report(loop, msg, 0, t, detail, t->file, t->line, t->fn_name);
}

void aw__debug_task_released(aw_task *t)
{
    aw_loop *loop = t->loop;
    /* Internal tasks, tasks somebody awaits or awaited, and a task dropping its
     * own handle are not the fire-and-forget this report is about. */
    if (!(t->dbg_flags & AW__TD_USER) || (t->dbg_flags & AW__TD_AWAITED) || loop->closed) return;
    if (!aw__list_empty(&t->fut.waiters) || t == loop->current) return;
    aw__loop_report(loop, "Task was released while pending and is never awaited", 0, t,
                    "nobody will see its result; the loop runs it to its end (or cancels it at shutdown)",
                    t->file, t->line, t->fn_name);
}

/* ---- loop APIs from a foreign thread ---- */

int aw__debug_foreign_thread(aw_loop *loop, const char *api)
{
    /* Only a running loop belongs to a thread (asyncio checks the same way). */
    if (!loop->running) return 0;
    char detail[160];
    snprintf(detail, sizeof detail, "%s was called from another thread than the loop's; "
             "use aw_loop_call_soon_threadsafe", api);
    aw__loop_report(loop, aw_strerror(AW_EWRONGTHREAD), AW_EWRONGTHREAD, NULL, detail, NULL, 0, api);
    return AW_EWRONGTHREAD;
}

/* ---- settings ---- */

int aw_loop_set_slow_callback_duration(aw_loop *loop, double seconds)
{
    if (!loop || isnan(seconds) || seconds < 0) return -EINVAL;
    loop->slow_step = seconds;
    return 0;
}

double aw_loop_get_slow_callback_duration(const aw_loop *loop)
{
    return loop ? loop->slow_step : 0;
}

int aw_loop_set_watchdog(aw_loop *loop, double seconds)
{
    if (!loop || isnan(seconds) || seconds < 0) return -EINVAL;
    struct aw__debug *d = aw__debug_get(loop);
    if (!d) return -ENOMEM;
    pthread_mutex_lock(&d->mu);
    d->watchdog = seconds;
    pthread_mutex_unlock(&d->mu);
    /* A running thread picks the new period up at its next tick; wake it so a
     * long tick does not delay that. */
    if (d->wake[1] >= 0) {
        ssize_t w = write(d->wake[1], "c", 1);
        (void)w;
    }
    return 0;
}

/* ---- resources ---- */

static size_t res_hash(const void *obj, size_t cap)
{
    uintptr_t x = (uintptr_t)obj;
    x ^= x >> 17;
    x *= (uintptr_t)0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 7) & (cap - 1);
}

static aw__resource *res_find(struct aw__debug *d, const void *obj)
{
    if (!d->cap) return NULL;
    for (size_t i = res_hash(obj, d->cap), n = 0; n < d->cap; i = (i + 1) & (d->cap - 1), n++) {
        if (d->res[i].obj == obj) return &d->res[i];
        if (!d->res[i].obj && !d->res[i].kind) return NULL;    /* never used: the end of the probe */
    }
    return NULL;
}

static int res_grow(struct aw__debug *d)
{
    size_t cap = 64;
    while ((d->nres + 1) * 4 > cap) cap *= 2;
    aw__resource *v = aw__calloc(cap, sizeof *v);
    if (!v) return -ENOMEM;
    for (size_t i = 0; i < d->cap; i++) {
        if (!d->res[i].obj) continue;
        size_t j = res_hash(d->res[i].obj, cap);
        while (v[j].obj) j = (j + 1) & (cap - 1);
        v[j] = d->res[i];
    }
    aw__free(d->res);
    d->res = v;
    d->cap = cap;
    d->nused = d->nres;
    return 0;
}

void aw__resource_track(aw_loop *loop, const char *kind, const char *name, const void *obj)
{
    if (!loop) loop = aw__loop();
    if (!loop || !loop->debug || !obj) return;
    struct aw__debug *d = aw__debug_get(loop);
    if (!d) return;
    /* Deleted slots keep their kind as a tombstone; rebuild (which drops them)
     * before the table is more than half used, tombstones included. */
    if ((d->nused + 1) * 2 > d->cap && res_grow(d) < 0) return;
    aw__resource *e = res_find(d, obj);
    if (!e) {
        size_t i = res_hash(obj, d->cap);
        while (d->res[i].obj) i = (i + 1) & (d->cap - 1);
        e = &d->res[i];
        if (!e->kind) d->nused++;
        d->nres++;
    }
    e->obj = obj;
    e->kind = kind ? kind : "resource";
    snprintf(e->name, sizeof e->name, "%s", name ? name : "");
}

void aw__resource_untrack(aw_loop *loop, const void *obj)
{
    if (!loop) loop = aw__loop();
    if (!loop || !loop->dbg || !obj) return;
    aw__resource *e = res_find(loop->dbg, obj);
    if (!e) return;
    e->obj = NULL;              /* kind stays: a tombstone for the probe sequence */
    loop->dbg->nres--;
}

static void report_resources(aw_loop *loop, struct aw__debug *d)
{
    for (size_t i = 0; i < d->cap && loop->debug; i++) {
        aw__resource *e = &d->res[i];
        if (!e->obj) continue;
        char detail[160];
        snprintf(detail, sizeof detail, "%s %s%s(%p)", e->kind, e->name, e->name[0] ? " " : "", e->obj);
        aw__loop_report(loop, "Unclosed resource when the loop closed", 0, NULL, detail, NULL, 0, NULL);
    }
    aw__free(d->res);
    d->res = NULL;
    d->cap = d->nres = d->nused = 0;
}

/* ---- the loop's life ---- */

static struct {
    pthread_once_t once;
    const char *socket;         /* AW_DEBUG_SOCKET */
    int signal;                 /* AW_DUMP_SIGNAL, 0 if unset */
    aw_loop *_Atomic socket_owner, *_Atomic signal_owner;
} env = { .once = PTHREAD_ONCE_INIT };

static int parse_signal(const char *s)
{
    static const struct { const char *name; int sig; } names[] = {
        { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "HUP", SIGHUP }, { "QUIT", SIGQUIT },
        { "WINCH", SIGWINCH }, { "PWR", SIGPWR }, { "TRAP", SIGTRAP },
    };
    if (!s || !*s) return 0;
    if (strncmp(s, "SIG", 3) == 0) s += 3;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0) return names[i].sig;
    char *end;
    long v = strtol(s, &end, 10);
    return *end == 0 && v > 0 && v < NSIG ? (int)v : 0;
}

static void read_env(void)
{
    const char *s = getenv("AW_DEBUG_SOCKET");
    env.socket = s && *s ? s : NULL;
    env.signal = parse_signal(getenv("AW_DUMP_SIGNAL"));
    if (getenv("AW_DUMP_SIGNAL") && *getenv("AW_DUMP_SIGNAL") && !env.signal)
        fprintf(stderr, "aw: AW_DUMP_SIGNAL=%s: not a signal name or number\n", getenv("AW_DUMP_SIGNAL"));
}

/* "%p" in the path becomes the process id. */
static void expand_path(char *buf, size_t size, const char *tmpl)
{
    size_t n = 0;
    for (const char *p = tmpl; *p && n + 1 < size; p++) {
        if (p[0] == '%' && p[1] == 'p') {
            int k = snprintf(buf + n, size - n, "%ld", (long)getpid());
            if (k > 0) n = (size_t)k < size - n ? n + (size_t)k : size - 1;
            p++;
        } else {
            buf[n++] = *p;
        }
    }
    buf[n] = 0;
}

void aw__debug_enter(aw_loop *loop)
{
    if (loop->debug) loop->stacks.debug_fill = true;
    pthread_once(&env.once, read_env);
    if (!env.socket && !env.signal) return;
    struct aw__debug *d = aw__debug_get(loop);
    if (!d || d->env_done) return;
    d->env_done = true;
    aw_loop *none = NULL;
    if (env.socket && atomic_compare_exchange_strong(&env.socket_owner, &none, loop)) {
        char path[256];
        expand_path(path, sizeof path, env.socket);
        int rc = aw_loop_serve_debug(loop, path);
        if (rc < 0) {
            fprintf(stderr, "aw: AW_DEBUG_SOCKET=%s: %s\n", path, aw_strerror(rc));
            atomic_store(&env.socket_owner, NULL);
        } else {
            d->env_socket = true;
        }
    }
    none = NULL;
    if (env.signal && atomic_compare_exchange_strong(&env.signal_owner, &none, loop)) {
        if (aw__service_signal_install(d, env.signal) < 0) atomic_store(&env.signal_owner, NULL);
        else d->env_signal = true;
    }
}

void aw__debug_loop_close(aw_loop *loop)
{
    struct aw__debug *d = loop->dbg;
    if (!d) return;
    if (d->env_signal) {
        aw__service_signal_remove(d);
        atomic_store(&env.signal_owner, NULL);
        d->env_signal = false;
    }
    aw__service_stop(d);
    if (d->env_socket) {
        atomic_store(&env.socket_owner, NULL);
        d->env_socket = false;
    }
    d->stepping = false;
    unpublish(d);
    report_resources(loop, d);
}

void aw__debug_free(aw_loop *loop)
{
    struct aw__debug *d = loop->dbg;
    if (!d) return;
    if (d->started) aw__service_stop(d);
    if (d->wake[0] >= 0) close(d->wake[0]);
    if (d->wake[1] >= 0) close(d->wake[1]);
    pthread_mutex_destroy(&d->mu);
    aw__free(d->res);
    aw__free(d->new_path);
    aw__free(d);
    loop->dbg = NULL;
}
