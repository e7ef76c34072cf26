/* Signals: sigaction handlers that count deliveries per loop and wake it; aw_signal_wait and loop handlers. */
#include "internal.h"

#include <sched.h>
#include <signal.h>

/*
 * libuv's way, not signalfd's (whose blocked mask would leak into every child):
 * aw installs one process-wide sigaction handler per signal that some loop
 * watches. The handler is async-signal-safe: for every loop that watches the
 * signal it bumps a per-loop counter, raises loop->sig_pending and writes the
 * loop's eventfd. The loop sees sig_pending in phase 3 of its iteration and
 * calls aw__signal_dispatch, which runs handlers and wakes waiting tasks.
 *
 * The registry (which loops watch, the dispositions aw replaced) is changed
 * under reg_mu by loop threads only. The handler never locks: it reads the
 * published slots, and a loop that unpublishes its slot waits until no handler
 * is running (in_handler) before freeing its state.
 */

#define MAX_LOOPS 256

struct aw__sigstate {
    aw_loop *loop;
    int slot;
    atomic_bool watched[NSIG];  /* read by the handler */
    atomic_uint caught[NSIG];   /* written by the handler */
    bool installed[NSIG];       /* this loop holds a reference on reg_users[sig] */
    bool waitable[NSIG];        /* aw_signal_wait used it: stays installed until close */
    bool pending[NSIG];         /* caught while nobody waited, for the next aw_signal_wait */
    aw_signal_cb cb[NSIG];
    void *arg[NSIG];
    aw__node waiters;           /* sig_waiter, on the waiting tasks' stacks */
};

typedef struct sig_waiter {
    aw__node node;
    aw_task *task;
    sigset_t set;
    int signo;
} sig_waiter;

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned reg_users[NSIG];                 /* reg_mu: loops watching each signal */
static struct sigaction reg_old[NSIG];           /* reg_mu: the disposition aw replaced */
static struct aw__sigstate *_Atomic reg_slots[MAX_LOOPS];
static atomic_int reg_high;                      /* slots in use are below this */
static atomic_int in_handler;

static void on_signal(int sig)
{
    int saved = errno;
    atomic_fetch_add(&in_handler, 1);
    int high = atomic_load(&reg_high);
    for (int i = 0; i < high; i++) {
        struct aw__sigstate *s = atomic_load(&reg_slots[i]);
        if (!s || !atomic_load_explicit(&s->watched[sig], memory_order_relaxed)) continue;
        atomic_fetch_add(&s->caught[sig], 1);
        atomic_store(&s->loop->sig_pending, 1);
        aw__loop_wakeup(s->loop);
    }
    atomic_fetch_sub(&in_handler, 1);
    errno = saved;
}

static bool valid_signal(int sig)
{
    return sig > 0 && sig < NSIG && sig != SIGKILL && sig != SIGSTOP;
}

static int get_state(aw_loop *loop, struct aw__sigstate **out)
{
    if (loop->sig) {
        *out = loop->sig;
        return 0;
    }
    struct aw__sigstate *s = aw__calloc(1, sizeof *s);
    if (!s) return -ENOMEM;
    s->loop = loop;
    aw__list_init(&s->waiters);
    pthread_mutex_lock(&reg_mu);
    int slot = -1;
    for (int i = 0; i < MAX_LOOPS; i++)
        if (!atomic_load(&reg_slots[i])) { slot = i; break; }
    if (slot < 0) {
        pthread_mutex_unlock(&reg_mu);
        aw__free(s);
        return -EAGAIN;
    }
    s->slot = slot;
    atomic_store(&reg_slots[slot], s);
    if (slot >= atomic_load(&reg_high)) atomic_store(&reg_high, slot + 1);
    pthread_mutex_unlock(&reg_mu);
    loop->sig = s;
    *out = s;
    return 0;
}

/* Make the loop see sig: install aw's handler if no loop had it yet. */
static int watch(struct aw__sigstate *s, int sig)
{
    if (s->installed[sig]) return 0;
    /* Watched before installed: a signal arriving in between is not lost. */
    atomic_store(&s->watched[sig], true);
    pthread_mutex_lock(&reg_mu);
    if (reg_users[sig] == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESTART;
        sigfillset(&sa.sa_mask);
        if (sigaction(sig, &sa, &reg_old[sig]) < 0) {
            int e = errno;
            pthread_mutex_unlock(&reg_mu);
            atomic_store(&s->watched[sig], false);
            return -e;
        }
    }
    reg_users[sig]++;
    pthread_mutex_unlock(&reg_mu);
    s->installed[sig] = true;
    return 0;
}

/* Stop watching sig; the last loop to stop gives back the old disposition. */
static void unwatch(struct aw__sigstate *s, int sig)
{
    if (!s->installed[sig]) return;
    atomic_store(&s->watched[sig], false);
    atomic_store(&s->caught[sig], 0);
    pthread_mutex_lock(&reg_mu);
    if (--reg_users[sig] == 0) sigaction(sig, &reg_old[sig], NULL);
    pthread_mutex_unlock(&reg_mu);
    s->installed[sig] = false;
    s->waitable[sig] = false;
    s->pending[sig] = false;
}

static void deliver(struct aw__sigstate *s, int sig)
{
    bool taken = false;
    for (aw__node *n = s->waiters.next; n != &s->waiters; n = n->next) {
        sig_waiter *w = AW__CONTAINER(n, sig_waiter, node);
        if (sigismember(&w->set, sig) == 1) {
            aw__list_remove(&w->node);
            w->signo = sig;
            aw__task_wake(w->task, 0);
            taken = true;
            break;
        }
    }
    if (!taken && s->waitable[sig]) s->pending[sig] = true;
    aw_signal_cb cb = s->cb[sig];
    if (cb) cb(sig, s->arg[sig]);
}

void aw__signal_dispatch(aw_loop *loop)
{
    atomic_store(&loop->sig_pending, 0);
    struct aw__sigstate *s = loop->sig;
    if (!s) return;
    for (int sig = 1; sig < NSIG; sig++) {
        /* A handler run below may remove itself or others: look again each time. */
        if (!s->installed[sig]) continue;
        if (atomic_exchange(&s->caught[sig], 0) == 0) continue;
        deliver(s, sig);
    }
}

/* ---- aw_signal_wait ---- */

static bool sigwait_unpark(aw_task *t, void *ctx)
{
    (void)t;
    sig_waiter *w = ctx;
    if (aw__node_linked(&w->node)) aw__list_remove(&w->node);
    return true;
}

int aw__signal_wait(const sigset_t *set, int *signo, const char *file, int line)
{
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (!set) return -EINVAL;
    int first = 0;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sigismember(set, sig) != 1) continue;
        if (!valid_signal(sig)) return -EINVAL;
        if (!first) first = sig;
    }
    if (!first) return -EINVAL;
    aw_loop *loop = t->loop;
    struct aw__sigstate *s;
    rc = get_state(loop, &s);
    if (rc < 0) return rc;
    for (int sig = first; sig < NSIG; sig++) {
        if (sigismember(set, sig) != 1) continue;
        rc = watch(s, sig);
        if (rc < 0) return rc;
        s->waitable[sig] = true;
    }
    for (int sig = first; sig < NSIG; sig++) {
        if (sigismember(set, sig) == 1 && s->pending[sig]) {
            s->pending[sig] = false;
            if (signo) *signo = sig;
            return 0;
        }
    }
    sig_waiter w = { .task = t, .set = *set, .signo = 0 };
    aw__list_init(&w.node);
    aw__list_push(&s->waiters, &w.node);
    loop->signal_handlers++;    /* a task that a signal can wake: never a deadlock */
    rc = aw__park(t, sigwait_unpark, &w, "signal", NULL, file, line);
    loop->signal_handlers--;
    if (rc == 0 && signo) *signo = w.signo;
    return rc;
}

/* ---- loop handlers ---- */

int aw_loop_add_signal_handler(aw_loop *loop, int sig, aw_signal_cb cb, void *arg)
{
    if (!loop || !cb || !valid_signal(sig)) return -EINVAL;
    if (loop->closed) return AW_ECLOSED;
    struct aw__sigstate *s;
    int rc = get_state(loop, &s);
    if (rc < 0) return rc;
    rc = watch(s, sig);
    if (rc < 0) return rc;
    if (!s->cb[sig]) loop->signal_handlers++;
    s->cb[sig] = cb;
    s->arg[sig] = arg;
    return 0;
}

int aw_loop_remove_signal_handler(aw_loop *loop, int sig)
{
    if (!loop || sig <= 0 || sig >= NSIG) return -EINVAL;
    struct aw__sigstate *s = loop->sig;
    if (!s || !s->cb[sig]) return 0;
    s->cb[sig] = NULL;
    s->arg[sig] = NULL;
    loop->signal_handlers--;
    if (!s->waitable[sig]) unwatch(s, sig);
    return 1;
}

/* ---- closing ---- */

void aw__signal_loop_close(aw_loop *loop)
{
    struct aw__sigstate *s = loop->sig;
    if (!s) return;
    for (int sig = 1; sig < NSIG; sig++) {
        if (s->cb[sig]) loop->signal_handlers--;
        s->cb[sig] = NULL;
        unwatch(s, sig);
    }
    /* Tasks still waiting (a loop closed by hand) are cancelled by close; any
     * left here are simply dropped from the list, which dies with s. */
    pthread_mutex_lock(&reg_mu);
    atomic_store(&reg_slots[s->slot], NULL);
    pthread_mutex_unlock(&reg_mu);
    /* A handler on another thread may still be reading s. */
    while (atomic_load(&in_handler) > 0) sched_yield();
    loop->sig = NULL;
    atomic_store(&loop->sig_pending, 0);
    aw__free(s);
}

void aw__sys_loop_close(aw_loop *loop)
{
    aw__signal_loop_close(loop);
    aw__process_loop_close(loop);
}
