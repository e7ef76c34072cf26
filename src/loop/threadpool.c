/* The thread pool (aw's one process-wide object), aw_to_thread and aw_run_coroutine_threadsafe. */
#include "internal.h"

#include <sched.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

/*
 * Every loop of the process shares this pool: it is the one piece of state that
 * does not live in a loop object. It starts on first use, and threads are made
 * on demand, never more than max_threads.
 *
 * Jobs queue in lanes (blocking work from aw_to_thread, file system calls, DNS
 * lookups). A worker takes the next job round-robin over the lanes, subject to
 * two rules checked under pool.mu:
 *   - a lane never runs more than its cap at once (DNS: half the base size, as
 *     libuv limits its "slow I/O"), and
 *   - a job may start only if, after it, every *other* lane that runs nothing
 *     could still get a thread. max_threads is the base size plus one thread
 *     per extra lane, so aw_to_thread alone still gets asyncio's
 *     min(32, cores + 4) threads while a saturated lane can never starve the
 *     others (libuv's DNS-starves-file-I/O problem).
 *
 * Locking: pool.mu guards the queues, the counters and each job's state. The
 * rest of a job belongs to its loop's thread, except what work() reads and
 * writes, which the worker owns from "running" until the completion post (the
 * post's mutex orders those writes before the loop reads them). No loop lock is
 * taken while pool.mu is held. Workers block every signal, so signals reach the
 * loop threads.
 */

enum { W_IDLE = 0, W_QUEUED = 1, W_RUNNING = 2, W_FINISHED = 3 };

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cond;        /* idle workers wait here */
    bool configured;
    unsigned base, max_threads;
    unsigned cap[AW__NLANES];
    aw__node queue[AW__NLANES];
    unsigned queued[AW__NLANES], running[AW__NLANES];
    unsigned nqueued;           /* sum of queued[] */
    unsigned busy;              /* sum of running[] */
    unsigned threads;           /* started (or being started) */
    unsigned idle;              /* waiting on cond */
    unsigned next_lane;         /* round-robin start */
} pool = { .mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static unsigned count_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return (unsigned)n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

/* Under pool.mu. */
static void configure(void)
{
    if (pool.configured) return;
    unsigned base = count_cpus() + 4;
    if (base > 32) base = 32;
    const char *env = getenv("AW_THREADPOOL_SIZE");
    if (env && *env) {
        long v = strtol(env, NULL, 10);
        if (v >= 1 && v <= 1024) base = (unsigned)v;
    }
    pool.base = base;
    pool.max_threads = base + (AW__NLANES - 1);
    pool.cap[AW__LANE_CPU] = base;
    pool.cap[AW__LANE_FILE] = base;
    pool.cap[AW__LANE_DNS] = (base + 1) / 2;
    for (int l = 0; l < AW__NLANES; l++) aw__list_init(&pool.queue[l]);
    pool.configured = true;
}

int aw_threadpool_size(void)
{
    pthread_mutex_lock(&pool.mu);
    configure();
    int n = (int)pool.base;
    pthread_mutex_unlock(&pool.mu);
    return n;
}

void aw__threadpool_lane_stats(int lane, unsigned *running, unsigned *queued, unsigned *cap)
{
    pthread_mutex_lock(&pool.mu);
    configure();
    if (lane >= 0 && lane < AW__NLANES) {
        if (running) *running = pool.running[lane];
        if (queued) *queued = pool.queued[lane];
        if (cap) *cap = pool.cap[lane];
    }
    pthread_mutex_unlock(&pool.mu);
}

/* Under pool.mu: the next job a worker may start, or NULL. */
static aw__work *pick(void)
{
    for (unsigned i = 0; i < AW__NLANES; i++) {
        unsigned l = (pool.next_lane + i) % AW__NLANES;
        if (pool.queued[l] == 0 || pool.running[l] >= pool.cap[l]) continue;
        unsigned reserve = 0;
        for (unsigned m = 0; m < AW__NLANES; m++)
            if (m != l && pool.running[m] == 0) reserve++;
        if (pool.busy + 1 + reserve > pool.max_threads) continue;
        aw__node *n = aw__list_pop(&pool.queue[l]);
        pool.queued[l]--;
        pool.nqueued--;
        pool.running[l]++;
        pool.busy++;
        pool.next_lane = (l + 1) % AW__NLANES;
        aw__work *w = AW__CONTAINER(n, aw__work, node);
        w->state = W_RUNNING;
        return w;
    }
    return NULL;
}

static void work_done(void *arg);

static void *worker_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&pool.mu);
    for (;;) {
        aw__work *w = pick();
        if (!w) {
            pool.idle++;
            pthread_cond_wait(&pool.cond, &pool.mu);
            pool.idle--;
            continue;
        }
        /* Another job may be startable too (a wake-up can be lost to a worker
         * that found its job capped): pass the baton to an idle worker. */
        if (pool.nqueued > 0 && pool.idle > 0) pthread_cond_signal(&pool.cond);
        pthread_mutex_unlock(&pool.mu);

        w->work(w);

        pthread_mutex_lock(&pool.mu);
        w->state = W_FINISHED;
        pool.running[w->lane]--;
        pool.busy--;
        aw_loop *loop = w->loop;
        pthread_mutex_unlock(&pool.mu);
        /* The loop cannot close before this arrives: its pending_work counts the
         * job until work_done runs. After the post, w may be freed at any time. */
        aw__loop_post_node(loop, &w->post, work_done, w);
        pthread_mutex_lock(&pool.mu);
    }
    return NULL;
}

int aw__thread_start(void *(*fn)(void *), void *arg, pthread_t *out)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (!out) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    int rc = pthread_create(out ? out : &th, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return -rc;
}

/* Start one worker (pool.mu not held). */
static int start_worker(void)
{
    return aw__thread_start(worker_main, NULL, NULL);
}

/* Queue w on lane. 0, or -EAGAIN when no thread can be started at all. */
static int submit(aw__work *w, int lane)
{
    pthread_mutex_lock(&pool.mu);
    configure();
    w->lane = (uint8_t)lane;
    w->state = W_QUEUED;
    aw__list_push(&pool.queue[lane], &w->node);
    pool.queued[lane]++;
    pool.nqueued++;
    bool spawn = pool.nqueued > pool.idle && pool.threads < pool.max_threads;
    if (spawn) pool.threads++;
    if (pool.idle > 0) pthread_cond_signal(&pool.cond);
    pthread_mutex_unlock(&pool.mu);
    if (!spawn) return 0;
    int rc = start_worker();
    if (rc == 0) return 0;
    pthread_mutex_lock(&pool.mu);
    pool.threads--;
    if (pool.threads == 0 && w->state == W_QUEUED) {
        /* Nobody will ever run it. */
        aw__list_remove(&w->node);
        pool.queued[lane]--;
        pool.nqueued--;
        w->state = W_IDLE;
        pthread_mutex_unlock(&pool.mu);
        return rc;
    }
    pthread_mutex_unlock(&pool.mu);
    return 0;
}

/* On the loop thread, once the worker is done with w. */
static void work_done(void *arg)
{
    aw__work *w = arg;
    atomic_fetch_sub(&w->loop->pending_work, 1);
    if (w->abandoned) {
        if (w->release) w->release(w);
        else aw__free(w);
        return;
    }
    aw__task_wake(w->task, 0);
}

typedef struct wait_ctx {
    aw__work *w;
    int flags;
    bool abandoned;
} wait_ctx;

static bool work_unpark(aw_task *t, void *ctx)
{
    wait_ctx *c = ctx;
    aw__work *w = c->w;
    pthread_mutex_lock(&pool.mu);
    if (w->state == W_QUEUED) {
        /* Not started: drop it, as cancelling a pending executor future does. */
        aw__list_remove(&w->node);
        pool.queued[w->lane]--;
        pool.nqueued--;
        w->state = W_IDLE;
        pthread_mutex_unlock(&pool.mu);
        atomic_fetch_sub(&t->loop->pending_work, 1);
        return true;
    }
    pthread_mutex_unlock(&pool.mu);
    if (c->flags & AW_THREAD_ABANDON) {
        w->abandoned = true;
        c->abandoned = true;
        return true;
    }
    /* Running (or finished, its completion on the way): wait for it. */
    w->cancel_seen = true;
    return false;
}

int aw__work_await(aw_task *t, aw__work *w, int lane, int flags, const char *what,
                   const char *file, int line)
{
    aw_loop *loop = t->loop;
    w->loop = loop;
    w->task = t;
    w->abandoned = false;
    w->cancel_seen = false;
    atomic_fetch_add(&loop->pending_work, 1);
    int rc = submit(w, lane);
    if (rc < 0) {
        atomic_fetch_sub(&loop->pending_work, 1);
        return rc;
    }
    wait_ctx c = { .w = w, .flags = flags, .abandoned = false };
    rc = aw__park(t, work_unpark, &c, what, NULL, file, line);
    if (rc == 0) return 0;
    if (!c.abandoned && (flags & AW_THREAD_ABANDON)) {
        /* Taken out of the queue: with ABANDON the caller has let go of w already. */
        if (w->release) w->release(w);
        else aw__free(w);
    }
    return rc;
}

/* ---- aw_to_thread ---- */

typedef struct tt_job {
    aw__work w;
    aw_fn fn;
    void *arg;
    void *result;
    int err;
} tt_job;

static void tt_work(aw__work *w)
{
    tt_job *j = (tt_job *)w;
    j->result = NULL;
    j->err = j->fn(j->arg, &j->result);
}

int aw__to_thread(aw_fn fn, void *arg, void **result, int flags, const char *file, int line)
{
    if (result) *result = NULL;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (!fn || (flags & ~AW_THREAD_ABANDON)) return -EINVAL;

    if (flags & AW_THREAD_ABANDON) {
        /* The job may outlive this call: it lives on the heap. */
        tt_job *j = aw__calloc(1, sizeof *j);
        if (!j) return -ENOMEM;
        j->w.work = tt_work;
        j->fn = fn;
        j->arg = arg;
        rc = aw__work_await(t, &j->w, AW__LANE_CPU, flags, "to_thread", file, line);
        if (rc < 0) {
            if (rc != AW_ECANCELLED) aw__free(j);   /* never submitted */
            return rc;
        }
        if (result) *result = j->result;
        rc = j->err;
        aw__free(j);
        return rc;
    }

    /* Without ABANDON the call always outlasts the job: it can live right here. */
    tt_job j;
    memset(&j, 0, sizeof j);
    j.w.work = tt_work;
    j.fn = fn;
    j.arg = arg;
    rc = aw__work_await(t, &j.w, AW__LANE_CPU, 0, "to_thread", file, line);
    if (rc < 0) return rc;
    if (result) *result = j.result;
    if (j.w.cancel_seen) {
        /* fn finished; the cancel that came meanwhile is delivered now. */
        int c = aw__check_cancel(t);
        if (c < 0) return c;
    }
    return j.err;
}

/* ---- aw_run_coroutine_threadsafe ---- */

/*
 * The foreign thread and the loop each hold a reference. The loop side is a
 * task running cf_main, which awaits the user's coroutine inline and completes
 * the handle. A task cancelled before its first step never runs its body, so a
 * done-callback completes the handle in that case; until the body starts (or
 * that callback ran) the handle counts as pool work of the loop, which keeps
 * aw_run's shutdown and aw_loop_close turning until it is settled.
 */
struct aw_cfuture {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    unsigned refs;              /* mu */
    bool done;                  /* mu */
    int err;                    /* mu */
    void *result;               /* mu */
    aw_loop *loop;
    aw_coro *coro;              /* the user's coroutine, until awaited */
    aw_task *task;              /* loop thread: a reference until the handle is completed */
    bool started;               /* loop thread */
    aw__post post;
};

static void cf_unref(aw_cfuture *cf)
{
    pthread_mutex_lock(&cf->mu);
    bool last = --cf->refs == 0;
    pthread_mutex_unlock(&cf->mu);
    if (!last) return;
    pthread_cond_destroy(&cf->cond);
    pthread_mutex_destroy(&cf->mu);
    aw__free(cf);
}

static void cf_complete(aw_cfuture *cf, int err, void *result)
{
    pthread_mutex_lock(&cf->mu);
    cf->done = true;
    cf->err = err;
    cf->result = result;
    pthread_cond_broadcast(&cf->cond);
    pthread_mutex_unlock(&cf->mu);
}

static void cf_drop_coro(aw_cfuture *cf)
{
    aw_fn fn; void *arg; const char *n, *f; int l;
    if (cf->coro) aw__coro_take(cf->coro, &fn, &arg, &n, &f, &l);
    cf->coro = NULL;
}

/* Settle a handle whose body never ran (on the loop thread). */
static void cf_settle_unstarted(aw_cfuture *cf, int err)
{
    cf_drop_coro(cf);
    cf_complete(cf, err, NULL);
    if (cf->task) aw_task_release(cf->task);
    cf->task = NULL;
    atomic_fetch_sub(&cf->loop->pending_work, 1);
    cf_unref(cf);
}

static void cf_task_done(aw_future *f, void *arg)
{
    aw_cfuture *cf = arg;
    if (cf->started) return;
    int err = f->err ? f->err : AW_ECANCELLED;
    cf_settle_unstarted(cf, err);
}

static int cf_main(void *arg, void **result)
{
    (void)result;
    aw_cfuture *cf = arg;
    cf->started = true;
    aw_future_remove_done_callback(aw_task_future(cf->task), cf_task_done, cf);
    atomic_fetch_sub(&cf->loop->pending_work, 1);
    aw_coro *c = cf->coro;
    cf->coro = NULL;
    void *r = NULL;
    int rc = aw_await(c, &r);
    aw_task_release(cf->task);
    cf->task = NULL;
    cf_complete(cf, rc, r);
    cf_unref(cf);
    /* The error went to the waiting thread; the task itself succeeds so that
     * nobody reports it as never retrieved. */
    return 0;
}

static void cf_start(void *arg)
{
    aw_cfuture *cf = arg;
    aw_task *t = aw_loop_create_task(cf->loop, aw_coro(cf_main, cf), NULL);
    if (!t) {
        cf_settle_unstarted(cf, -errno);
        return;
    }
    cf->task = t;
    if (aw_future_add_done_callback(aw_task_future(t), cf_task_done, cf) < 0) {
        /* Without the callback an early cancel could go unseen: fail it now. */
        aw_task_cancel(t, NULL);
        cf->started = true;     /* the body is skipped; cf_task_done never runs */
        cf_drop_coro(cf);
        cf_complete(cf, -ENOMEM, NULL);
        aw_task_release(t);
        cf->task = NULL;
        atomic_fetch_sub(&cf->loop->pending_work, 1);
        cf_unref(cf);
    }
}

aw_cfuture *aw_run_coroutine_threadsafe(aw_loop *loop, aw_coro *coro)
{
    if (!loop || !coro) {
        if (coro) {
            aw_fn fn; void *arg; const char *n, *f; int l;
            aw__coro_take(coro, &fn, &arg, &n, &f, &l);
        }
        errno = EINVAL;
        return NULL;
    }
    aw_cfuture *cf = aw__calloc(1, sizeof *cf);
    if (!cf) goto out_take;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&cf->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (rc) goto out_free;
    pthread_mutex_init(&cf->mu, NULL);
    cf->refs = 2;
    cf->loop = loop;
    cf->coro = coro;
    atomic_fetch_add(&loop->pending_work, 1);
    rc = aw__loop_post_node(loop, &cf->post, cf_start, cf);
    if (rc < 0) {
        atomic_fetch_sub(&loop->pending_work, 1);
        pthread_mutex_destroy(&cf->mu);
        pthread_cond_destroy(&cf->cond);
        aw__free(cf);
        aw_fn fn; void *arg; const char *n, *f; int l;
        aw__coro_take(coro, &fn, &arg, &n, &f, &l);
        errno = rc == AW_ECLOSED ? EPIPE : ENOMEM;
        return NULL;
    }
    return cf;
out_free:
    aw__free(cf);
out_take:
    {
        aw_fn fn; void *arg; const char *n, *f; int l;
        aw__coro_take(coro, &fn, &arg, &n, &f, &l);
    }
    errno = ENOMEM;
    return NULL;
}

int aw_cfuture_wait(aw_cfuture *cf, double timeout, void **result)
{
    if (result) *result = NULL;
    if (!cf || isnan(timeout)) return -EINVAL;
    pthread_mutex_lock(&cf->mu);
    if (!cf->done && aw__loop() == cf->loop) {
        /* Blocking the loop's own thread would wait forever. */
        pthread_mutex_unlock(&cf->mu);
        return -EDEADLK;
    }
    struct timespec until;
    bool timed = timeout >= 0 && !isinf(timeout);
    if (timed) {
        clock_gettime(CLOCK_MONOTONIC, &until);
        double s = (double)until.tv_sec + (double)until.tv_nsec * 1e-9 + timeout;
        until.tv_sec = (time_t)s;
        until.tv_nsec = (long)((s - (double)until.tv_sec) * 1e9);
        if (until.tv_nsec >= 1000000000L) { until.tv_sec++; until.tv_nsec -= 1000000000L; }
    }
    int rc = 0;
    while (!cf->done) {
        if (!timed) {
            pthread_cond_wait(&cf->cond, &cf->mu);
        } else if (pthread_cond_timedwait(&cf->cond, &cf->mu, &until) == ETIMEDOUT) {
            if (!cf->done) rc = AW_ETIMEDOUT;
            break;
        }
    }
    if (cf->done) {
        rc = cf->err;
        if (result) *result = cf->result;
    }
    pthread_mutex_unlock(&cf->mu);
    return rc;
}

bool aw_cfuture_done(aw_cfuture *cf)
{
    if (!cf) return false;
    pthread_mutex_lock(&cf->mu);
    bool d = cf->done;
    pthread_mutex_unlock(&cf->mu);
    return d;
}

static void cf_cancel_cb(void *arg)
{
    aw_cfuture *cf = arg;
    pthread_mutex_lock(&cf->mu);
    bool done = cf->done;
    pthread_mutex_unlock(&cf->mu);
    if (!done && cf->task) aw_task_cancel(cf->task, NULL);
    cf_unref(cf);
}

int aw_cfuture_cancel(aw_cfuture *cf)
{
    if (!cf) return -EINVAL;
    pthread_mutex_lock(&cf->mu);
    if (cf->done) {
        pthread_mutex_unlock(&cf->mu);
        return 0;
    }
    cf->refs++;
    pthread_mutex_unlock(&cf->mu);
    /* Posted even from the loop's own thread: posts run in order, so the
     * cancel always finds the task that cf_start created. */
    int rc = aw__loop_post(cf->loop, cf_cancel_cb, cf);
    if (rc < 0) {
        cf_unref(cf);
        return rc;
    }
    return 1;
}

void aw_cfuture_release(aw_cfuture *cf)
{
    if (cf) cf_unref(cf);
}
