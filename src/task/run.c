/* aw_run: asyncio.run() — a new loop, main as a task, cancel the leftovers, close. */
#include "internal.h"

#include <signal.h>
#include <unistd.h>


/* SIGINT while aw_run runs cancels main, as asyncio.Runner does. The handler
 * only records the signal and wakes the loop; the loop cancels main. */
static aw_loop *_Atomic sigint_loop;

static void on_sigint(int sig)
{
    (void)sig;
    aw_loop *loop = atomic_load(&sigint_loop);
    if (!loop) return;
    if (atomic_exchange(&loop->sigint, 1)) {
        /* A second Ctrl-C while the first is being handled: give up, as Python does. */
        signal(SIGINT, SIG_DFL);
        raise(SIGINT);
        return;
    }
    int saved = errno;
    aw__loop_wakeup(loop);
    errno = saved;
}

static void report_deadlock(aw_loop *loop)
{
    char line[512];
    aw__loop_report(loop, "all tasks are asleep - deadlock!", AW_EDEADLOCK, NULL, NULL, NULL, 0, NULL);
    for (aw__node *n = loop->tasks.next; n != &loop->tasks; n = n->next) {
        aw_task *t = AW__CONTAINER(n, aw_task, all);
        snprintf(line, sizeof line, "task '%s' waits on %s", aw__task_name(t),
                 t->wait_what ? t->wait_what : "nothing");
        aw__loop_report(loop, line, 0, t, NULL, t->wait_file, t->wait_line, NULL);
    }
}

int aw_run(aw_coro *main, void **result)
{
    return aw_run_ex(main, result, NULL);
}

int aw_run_ex(aw_coro *main, void **result, const aw_run_opts *opts)
{
    if (result) *result = NULL;
    if (aw__loop()) {
        aw_fn fn; void *arg; const char *n, *f; int l;
        aw__coro_take(main, &fn, &arg, &n, &f, &l);
        return AW_ELOOPRUNNING;
    }
    if (!main) return -EINVAL;
    aw_loop *loop = aw__malloc(sizeof *loop);
    if (!loop) { aw_coro_close(main); return -ENOMEM; }
    int rc = aw__loop_init_internal(loop);
    if (rc < 0) { aw__free(loop); aw_coro_close(main); return rc; }
    if (opts) {
        if (opts->debug) loop->debug = true;
        if (opts->stack_size) {
            rc = aw_loop_set_stack_size(loop, opts->stack_size);
            if (rc < 0) goto out_close;
        }
        if (opts->clock) aw_loop_set_clock(loop, opts->clock);
        if (opts->exception_handler) aw_loop_set_exception_handler(loop, opts->exception_handler, opts->exception_arg);
    }
    aw_task *t = aw_loop_create_task(loop, main, "main");
    if (!t) { rc = -errno; goto out_close; }
    loop->main_task = t;

    struct sigaction old, sa;
    bool sigint_installed = false;
    if (!(opts && opts->no_sigint) && sigaction(SIGINT, NULL, &old) == 0 && old.sa_handler == SIG_DFL) {
        aw_loop *expected = NULL;
        if (atomic_compare_exchange_strong(&sigint_loop, &expected, loop)) {
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_sigint;
            sigemptyset(&sa.sa_mask);
            sigaction(SIGINT, &sa, NULL);
            sigint_installed = true;
        }
    }

    rc = aw__loop_run_main(loop, t);
    if (rc == AW_EDEADLOCK) report_deadlock(loop);

    /* Cancel every task still pending and let each finish its cleanup; report
     * the ones that fail with something other than a cancel. */
    size_t cap = loop->ntasks;
    aw_task **left = cap ? aw__calloc(cap, sizeof *left) : NULL;
    size_t nleft = 0;
    if (left)
        for (aw__node *n = loop->tasks.next; n != &loop->tasks; n = n->next) {
            aw_task *x = AW__CONTAINER(n, aw_task, all);
            left[nleft++] = aw_task_ref(x);
            if (loop->debug)
                aw__loop_report(loop, "task still pending when main returned: cancelled by aw_run()", 0, x,
                                NULL, x->wait_file ? x->wait_file : x->file,
                                x->wait_file ? x->wait_line : x->line, NULL);
        }
    aw__loop_cancel_all(loop, false);
    for (size_t i = 0; i < nleft; i++) {
        aw_task *x = left[i];
        if (x->fut.state == AW__FAILED && x != t) {
            x->fut.retrieved = true;
            aw__loop_report(loop, "unhandled exception during aw_run() shutdown", x->fut.err, x,
                            x->err_msg, x->err_msg ? x->err_file : x->file,
                            x->err_msg ? x->err_line : x->line, x->err_msg ? x->err_func : NULL);
        }
        aw_task_release(x);
    }
    aw__free(left);
    aw__loop_wait_work(loop);

    if (rc == 0) {
        void *r = NULL;
        int e = aw_task_result(t, &r);
        if (result) *result = r;
        rc = e;
    } else {
        t->fut.retrieved = true;
    }
    aw_task_release(t);
    aw__sys_loop_close(loop);   /* give back signal dispositions before SIGINT's own */
    if (sigint_installed) {
        sigaction(SIGINT, &old, NULL);
        atomic_store(&sigint_loop, NULL);
    }
out_close:
    aw_loop_close(loop);
    return rc;
}
