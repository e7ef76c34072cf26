/* The one internal header shared by all of src/: the loop, task and future structures. */
#ifndef AW_INTERNAL_H
#define AW_INTERNAL_H

#ifndef _GNU_SOURCE
#  define _GNU_SOURCE
#endif

#include "aw.h"
#include "ctx/ctx.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define AW__LIKELY(x) __builtin_expect(!!(x), 1)
#define AW__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define AW__CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#define AW__TLS __thread __attribute__((tls_model("initial-exec")))

/* ---- intrusive doubly linked list (circular, with a head node) ---- */

typedef struct aw__node { struct aw__node *next, *prev; } aw__node;

static inline void aw__list_init(aw__node *h) { h->next = h->prev = h; }
static inline bool aw__list_empty(const aw__node *h) { return h->next == h; }
static inline void aw__list_push(aw__node *h, aw__node *n)
{
    n->prev = h->prev; n->next = h; h->prev->next = n; h->prev = n;
}
static inline void aw__list_remove(aw__node *n)
{
    n->prev->next = n->next; n->next->prev = n->prev; n->next = n->prev = n;
}
static inline aw__node *aw__list_pop(aw__node *h)
{
    aw__node *n = h->next;
    if (n == h) return NULL;
    aw__list_remove(n);
    return n;
}
static inline bool aw__node_linked(const aw__node *n) { return n->next != n; }

/* ---- memory: every allocation goes through here so tests can make it fail ---- */

void *aw__malloc(size_t n);
void *aw__calloc(size_t n, size_t m);
void *aw__realloc(void *p, size_t n);
char *aw__strdup(const char *s);
void  aw__free(void *p);
/* Make the nth allocation from now fail (and every one after it when sticky); 0 disarms. */
AW_API void aw__test_fail_alloc(long nth, bool sticky);

/* ---- the ready queue ---- */

enum aw__run_kind { AW__RUN_TASK = 1, AW__RUN_HANDLE = 2, AW__RUN_DONE_CB = 3 };

/* Anything that can sit in the ready queue. Embedded in tasks, handles and
 * done-callback registrations, so a wake-up never allocates. */
typedef struct aw__runnable {
    aw__node node;
    int kind;
} aw__runnable;

/* ---- timers ---- */

/* A timer embedded in its owner (a sleeping task's frame, a handle, a scope).
 * Layout must match aw_scope's _timer. */
typedef struct aw__timer {
    double when;
    uint64_t seq;               /* start order: equal deadlines fire in the order started */
    size_t idx;                 /* position in the heap, SIZE_MAX when not armed */
    void *owner;
    void (*fire)(void *owner);
} aw__timer;

/* A heap entry keeps the timer's key inline and names the timer through a
 * slot, so sifting reads and writes only the heap array: the timers themselves
 * live on task stacks, one page each, and touching them on every sift step
 * costs a TLB miss per level. A stopped timer frees nothing at once: its slot
 * is emptied and the entry is dropped when it reaches the top (or when
 * stopped entries outnumber live ones, the heap is rebuilt: asyncio's rule). */
typedef struct aw__heap_entry {
    double when;
    uint64_t seq;
    size_t slot;
} aw__heap_entry;

typedef struct aw__heap {
    aw__heap_entry *v;
    size_t n, cap;              /* entries, live and stopped */
    uint64_t seq;
    aw__timer **slots;          /* slot -> timer, NULL once stopped */
    size_t nslots;
    size_t *free_slots;         /* stack of slots whose entry has left the heap */
    size_t nfree;
    size_t nstopped;            /* entries whose timer was stopped */
} aw__heap;

/* Timers armed and not stopped. */
static inline size_t aw__timers_live(const aw__heap *h) { return h->n - h->nstopped; }

int  aw__timer_start(aw_loop *loop, aw__timer *t, double when);
void aw__timer_stop(aw_loop *loop, aw__timer *t);
static inline bool aw__timer_armed(const aw__timer *t) { return t->idx != SIZE_MAX; }
static inline void aw__timer_init(aw__timer *t, void *owner, void (*fire)(void *))
{
    t->when = 0; t->seq = 0; t->idx = SIZE_MAX; t->owner = owner; t->fire = fire;
}
/* Fire every timer due at loop->now; returns how many fired. */
size_t aw__timers_run(aw_loop *loop);
/* Seconds until the first deadline, INFINITY when none. */
double aw__timers_next(aw_loop *loop);
/* Take any armed timer out of the heap without firing it (loop close), or NULL. */
aw__timer *aw__timers_pop_any(aw_loop *loop);
void aw__heap_free(aw__heap *h);

/* ---- futures and tasks ---- */

#define AW__MAGIC_FUTURE 0x61774675u  /* "awFu" */
#define AW__MAGIC_TASK   0x61775461u  /* "awTa" */
#define AW__MAGIC_DEAD   0x64656164u

enum aw__fstate { AW__PENDING = 0, AW__DONE = 1, AW__FAILED = 2, AW__CANCELLED = 3 };

/* A waiter parked on a future: lives on the waiting task's stack. */
typedef struct aw__waiter {
    aw__node node;
    aw_task *task;
    /* NULL: completing the future wakes task. Otherwise completion calls wake(w)
     * instead, at once, after taking w off the list (combinators use it to learn
     * which child finished without a scan). It must not switch. */
    void (*wake)(struct aw__waiter *w);
    /* The await graph (src/debug/): how task waits through this waiter, when a
     * combinator linked it (aw__await_link); NULL for a plain await. */
    const char *kind;
} aw__waiter;

struct aw_future {
    uint32_t magic;
    uint8_t state;              /* enum aw__fstate */
    bool retrieved;             /* the error was seen by someone */
    bool is_task;
    int err;
    void *result;
    aw_loop *loop;              /* bound on first wait */
    uint32_t refs;
    aw__node waiters;           /* aw__waiter, woken in order */
    aw__node callbacks;         /* struct aw__done_cb */
    char *cancel_msg;
};

typedef struct aw__done_cb {
    aw__runnable run;
    aw__node node;              /* in the future's callbacks list */
    aw_done_fn cb;
    void *arg;
    aw_future *fut;
} aw__done_cb;

/* A frame of the inline-coroutine chain, on the task's stack (aw_await of a coroutine). */
typedef struct aw__frame {
    struct aw__frame *up;
    const char *name, *file;    /* the coroutine's function and creation site */
    int line;
    const char *await_file;     /* where it was awaited */
    int await_line;
} aw__frame;

/* Called when a parked task must be woken early (cancel). Removes the task from
 * whatever it waits on and returns true, or returns false to keep waiting (the
 * cancel was forwarded: awaiting a task cancels that task and waits for it). */
typedef bool (*aw__unpark_fn)(aw_task *t, void *ctx);

enum aw__tstate {
    AW__T_NEW = 0,              /* created, never run */
    AW__T_READY = 1,            /* in the ready queue */
    AW__T_RUNNING = 2,
    AW__T_PARKED = 3,           /* suspended at a suspension point */
    AW__T_DONE = 4,
};

struct aw_task {
    aw_future fut;              /* a task is a future: must stay first */
    aw__runnable run;
    uint8_t tstate;             /* enum aw__tstate */
    bool released;              /* the user's reference is gone (debug: double release) */
    uint8_t dbg_flags;          /* AW__TD_*: what debug mode's checks need to know */
    uint8_t delivering;         /* 1: a cancel is being delivered to it; 2: and came back round */
    void (*never_ran)(void *arg); /* internal tasks: cleanup when the body never runs (cancelled first, no stack) */
    aw_loop *loop;
    aw__ctx ctx;
    aw__stack *stack;           /* NULL until the first step and after the last */
    size_t stack_size;          /* 0: the loop's default */
    aw_fn fn;
    void *arg;
    const char *fn_name, *file; /* the coroutine's function and creation site */
    int line;
    uint64_t id;
    char *name;                 /* NULL: "Task-<id>", built on demand in name_buf */
    char name_buf[24];
    aw_scope root;              /* cancelled by aw_task_cancel */
    aw_scope *scope;            /* innermost open scope */
    int cancel_requests;
    bool any_cancelled;         /* some scope of the task's chain may be cancelled: the
                                   fast path of every suspension point reads only this */
    int wake_err;               /* what the suspension point returns when resumed */
    aw__unpark_fn unpark;       /* set while parked */
    void *unpark_ctx;
    const char *wait_file;      /* await site of the current suspension */
    int wait_line;
    const char *wait_what;      /* "sleep", "task", "future", "fd", ... */
    void *wait_obj;
    aw__frame *frames;          /* inline coroutine chain, innermost first */
    char *err_msg;              /* aw_raise message */
    const char *err_file, *err_func;
    int err_line;
    int err_code;
    double since;               /* debug: loop time the task entered its state (dumps) */
    aw__node all;               /* in loop->tasks */
};

/* ---- the fd table ---- */

typedef struct aw__fdstate {
    uint32_t gen;               /* bumped by aw_fd_forget; carried in epoll events */
    bool registered;
    uint8_t ready;              /* 1 readable, 2 writable, seen since the last wait;
                                   AW__FD_HUP: a hang-up was seen (sticky until forgotten) */
    aw_task *waiter[2];         /* reader, writer */
} aw__fdstate;

#define AW__FD_HUP 4

/* The task waiting on fd in dir (1 read, 2 write), if any, is woken with err. */
void aw__fd_wake_waiter(aw_loop *loop, int fd, int dir, int err);

/* ---- cross-thread posts ---- */

typedef struct aw__post {
    struct aw__post *next;
    aw_callback cb;
    void *arg;
    bool heap;                  /* allocated by aw__loop_post: freed after cb runs */
} aw__post;

/* ---- the loop ---- */

struct aw_handle {
    aw__runnable run;
    aw__timer timer;
    aw_loop *loop;
    aw_callback cb;
    void *arg;
    uint32_t refs;              /* the loop's while scheduled + the user's */
    bool cancelled, scheduled;
};

struct aw_loop {
    aw__node ready;             /* aw__runnable, FIFO */
    size_t nready;
    aw__heap timers;
    double now;                 /* cached: read it through aw__now() */
    bool now_stale;             /* the clock has not been read in this iteration */
    size_t ntodo;               /* ready items left to run in this iteration */
    double vnow_offset;         /* virtual clock: now = real start + offset jumps */
    int clock;
    bool debug;
    bool running, stopping, closed;
    bool shared;                /* the loop pointer was handed out: no deadlock detection */
    int epfd;
    int wakefd;                 /* eventfd: cross-thread wake-up */
    aw__fdstate *fds;
    size_t nfds;
    size_t fd_waiters;          /* tasks parked on fds */
    atomic_size_t pending_work; /* thread-pool jobs of this loop in flight */
    size_t signal_handlers;
    struct aw__sigstate *sig;   /* signal handlers and waits of this loop (signal.c), or NULL */
    atomic_int sig_pending;     /* set by the signal handler: dispatch in phase 3 */
    unsigned polls_skipped;     /* iterations since the last poll with a busy ready queue */
    aw__ctx sched;              /* the loop's own context (the thread's stack) */
    aw_task *current;
    aw_task *zombie;            /* finished, switched away directly: its stack awaits release */
    aw_task *until;             /* the task this run waits for: once it is done, no new
                                   iteration starts without the loop seeing it */
    aw__stack_pool stacks;
    size_t default_stack;
    aw__node tasks;             /* every live task */
    size_t ntasks;
    uint64_t next_task_id;
    aw__node coros;             /* coroutine objects created on this loop, not yet used */
    aw_exception_handler exc_handler;
    void *exc_arg;
    pthread_mutex_t post_mu;
    aw__post *posts, **posts_tail; /* under post_mu */
    atomic_size_t nposts;       /* posts queued: read without the mutex */
    atomic_int sigint;          /* SIGINT seen (aw_run) */
    aw_task *main_task;
    pthread_t thread;
    aw_task *free_tasks;        /* recycled task structures */
    size_t nfree_tasks;
    size_t live_objs;           /* task structures alive: the loop is freed after the last */
    aw_loop_stats stats;
    double slow_step;           /* debug: slow-step threshold, seconds */
    uint64_t serial;            /* unique per loop in the process: sync primitives bind to it */
    struct aw__debug *dbg;      /* debug state (src/debug/), allocated when first needed */
};

/* How many iterations with a busy ready queue may pass without looking at I/O.
 * A zero-timeout epoll_wait costs about fifty switches here, so polling on every
 * iteration would dominate a yield-heavy program; never polling would starve
 * sockets. Tokio polls every 61 task polls; aw polls every 61 iterations, each
 * of which runs every task ready at its start. */
#define AW__POLL_EVERY 61

extern AW__TLS aw_loop *aw__loop_tls;   /* the loop running on this thread */

static inline aw_loop *aw__loop(void) { return aw__loop_tls; }

double aw__loop_clock_read(aw_loop *loop);
/* The loop clock, read at most once per iteration (on first use: an iteration
 * that arms no timer never pays for clock_gettime). */
static inline double aw__now(aw_loop *loop)
{
    if (AW__UNLIKELY(loop->now_stale)) return aw__loop_clock_read(loop);
    return loop->now;
}

int  aw__loop_init_internal(aw_loop *loop);
void aw__loop_enqueue(aw_loop *loop, aw__runnable *r);
/* One iteration; block in the poller for at most the nearest deadline. Returns
 * AW_EDEADLOCK when nothing can ever become ready (and detect is set). */
int  aw__loop_run_once(aw_loop *loop, bool detect_deadlock);
double aw__clock_real(void);
/* The clock that measures step durations in debug mode: the real clock, or a
 * test's hook (a slow step without waiting). */
AW_API extern double (*aw__step_clock)(void);
/* Run the loop until t is done (run_until_complete, close). */
int  aw__loop_run_task(aw_loop *loop, aw_task *t, bool detect_deadlock);
/* aw_run's main phase: also turns SIGINT into a cancel of t and detects deadlock. */
int  aw__loop_run_main(aw_loop *loop, aw_task *t);
/* Cancel every live task and run the loop until all have ended. */
int  aw__loop_cancel_all(aw_loop *loop, bool report_pending);
/* Run the loop until no thread-pool work of it is in flight. */
void aw__loop_wait_work(aw_loop *loop);
void aw__loop_wakeup(aw_loop *loop);
/* Drop a task structure's hold on the loop; frees a closed loop after the last. */
void aw__loop_unref(aw_loop *loop);
void aw__loop_report(aw_loop *loop, const char *message, int err, aw_task *t,
                     const char *detail, const char *file, int line, const char *func);
/* A post from any thread: cb(arg) runs on the loop's thread. */
int  aw__loop_post(aw_loop *loop, aw_callback cb, void *arg);
/* aw__loop_post with a node the caller owns (embedded in a thread-pool job), so
 * a completion never needs memory. p must stay valid until cb(arg) has run. */
int  aw__loop_post_node(aw_loop *loop, aw__post *p, aw_callback cb, void *arg);
void aw__poll_init_fd(aw_loop *loop);
int  aw__poll(aw_loop *loop, double timeout);
void aw__poll_close(aw_loop *loop);

/* ---- tasks: suspension ---- */

/* Park the running task (state PARKED) and switch to the loop; returns the wake
 * code given to aw__task_wake. The caller must have registered the task
 * wherever it waits, and set unpark so a cancel can take it out. */
int  aw__park(aw_task *t, aw__unpark_fn unpark, void *ctx, const char *what, void *obj,
              const char *file, int line);
/* Make a parked task ready; its aw__park returns err. No-op if not parked. */
void aw__task_wake(aw_task *t, int err);
/* AW_ECANCELLED if the running task is cancelled at this point (and marks the
 * scope that delivered it), else 0. */
int  aw__check_cancel(aw_task *t);
/* Entry checks of every suspension point: in a task, not cancelled. */
int  aw__cancel_slow(aw_task *t);
static inline int aw__suspend_check(aw_task **out)
{
    aw_loop *loop = aw__loop_tls;
    aw_task *t = loop ? loop->current : NULL;
    *out = t;
    if (AW__UNLIKELY(!t)) return AW_ENOTASK;
    if (AW__LIKELY(!t->any_cancelled)) return 0;    /* the common case: no scope is cancelled */
    return aw__cancel_slow(t);
}
/* Deliver a cancel to t if it is parked and now effectively cancelled. */
void aw__task_deliver_cancel(aw_task *t);
void aw__task_step(aw_loop *loop, aw_task *t);
/* Switch away from the running task t (which has queued or parked itself): straight
 * to the next ready task when the iteration allows, else to the loop. */
void aw__task_switch_out(aw_loop *loop, aw_task *t);
aw_task *aw__task_new(aw_loop *loop, aw_fn fn, void *arg, const char *fn_name,
                      const char *file, int line, const char *name);
void aw__task_free(aw_task *t);
/* Recompute t->any_cancelled from the scope chain (after a cancelled scope ends). */
void aw__task_recheck_cancelled(aw_task *t);
/* The innermost cancelled scope that reaches the running code of t, or NULL. */
aw_scope *aw__scope_cancelling(aw_task *t);
/* Park t until fd is ready in dir (1 read, 2 write); the caller has seen EAGAIN. */
int  aw__fd_wait(aw_task *t, int fd, int dir, const char *file, int line);
int  aw__fd_register(aw_loop *loop, int fd, aw__fdstate **out);
void aw__future_init(aw_future *f, bool is_task);
void aw__future_complete(aw_future *f, int state, int err, void *result);
void aw__future_unref(aw_future *f);
void aw__done_cb_run(aw__done_cb *d);
void aw__handle_run(aw_handle *h);
const char *aw__task_name(aw_task *t);

/* ---- coroutine objects ---- */

/* Take the contents out of a fresh coroutine object, freeing its slot. AW_EREUSED
 * for a used or unknown handle, -EINVAL for NULL. */
int  aw__coro_take(aw_coro *c, aw_fn *fn, void **arg, const char **name,
                   const char **file, int *line);
/* Report coroutine objects of this loop that were never awaited, and free them. */
void aw__coros_report_unawaited(aw_loop *loop);
/* Fill a Unix socket address for path: 0 or -ENAMETOOLONG; *len is the address length. */
struct sockaddr_un;
int aw__sockaddr_un(const char *path, struct sockaddr_un *sun, socklen_t *len);
/* Start a detached thread with every signal blocked (signals belong to the
 * program's own threads): 0 or -errno. */
int aw__thread_start(void *(*fn)(void *), void *arg, pthread_t *out);
/* Is x a coroutine handle (by its tag bits)? */
bool aw__is_coro_handle(const void *x);

/* ---- sockets, streams, servers, UDP (src/io/sock.c, stream.c, server.c, udp.c) ---- */

struct addrinfo;

/* A stream: a read buffer filled on demand, a write queue sent by a background
 * task (the flusher) when the kernel does not take everything at once. Freed
 * when the last reference goes: the user's (or the server's, for a
 * connection), a flusher's, and a task's inside a read or drain call. */
struct aw_stream {
    int rfd, wfd;               /* -1 when absent or closed; equal for sockets */
    bool is_sock;
    bool borrowed;              /* a server connection: the server holds the handle */
    bool r_eof;                 /* end of stream seen */
    bool r_drained;             /* the last read emptied the kernel's buffer */
    bool eof_pending;           /* write_eof once the queue is sent */
    bool wr_shut;               /* the write side is shut down */
    bool closing;               /* close requested: no more reads or writes */
    bool closed;                /* the fds are closed */
    int rerr, werr;             /* sticky errors of each side */
    uint32_t refs;
    size_t limit, high, low;
    char *rbuf;                 /* bytes [rstart, rend) are buffered */
    size_t rstart, rend, rcap;
    char *wbuf;                 /* bytes [wstart, wend) are queued */
    size_t wstart, wend, wcap;
    aw_task *reader;            /* the task inside a read call */
    aw_task *flusher;           /* the background writer, while the queue is not empty */
    aw__node drainers;          /* aw__waiter: tasks in aw_stream_drain */
    aw__node closers;           /* aw__waiter: tasks in aw_stream_wait_closed */
    aw_loop *loop;              /* bound when the flusher first starts */
    struct aw_server *srv;      /* the server of a connection, or NULL */
    aw__node srv_node;          /* in the server's list of connections */
    aw_task *task;              /* the connection's handler task */
    struct aw__tls *tls;        /* TLS under the stream (src/io/tls.c), NULL when plain */
};

/* A stream on fds the caller has made non-blocking and close-on-exec. */
int  aw__stream_new(int rfd, int wfd, bool is_sock, const aw_stream_opts *opts, aw_stream **out);
/* Start closing s (abort: drop the queue, close at once); idempotent. */
void aw__stream_shut(aw_stream *s, bool abort);
void aw__stream_unref(aw_stream *s);
/* Resolve host:port for socktype (numeric hosts without a thread). host NULL
 * with AI_PASSIVE: every local interface. Free *res with freeaddrinfo. */
int  aw__resolve(const char *host, int port, int family, int socktype, int flags, struct addrinfo **res);

/* ---- the system half of the outside world: thread pool, signals, processes ---- */
/* (src/loop/threadpool.c, src/io/signal.c, src/io/process.c, src/io/dns.c, src/io/file.c) */

/* The pool's lanes: each has its own queue and concurrency cap, and every lane
 * keeps a thread it can always get, so slow work of one kind never starves another. */
enum aw__lane { AW__LANE_CPU = 0, AW__LANE_FILE = 1, AW__LANE_DNS = 2, AW__NLANES = 3 };

/* A job for the pool, embedded in the caller's own structure. */
typedef struct aw__work aw__work;
struct aw__work {
    aw__node node;              /* in its lane's queue while queued (pool mutex) */
    aw__post post;              /* the completion: posted to the loop without allocating */
    aw_loop *loop;
    void (*work)(aw__work *w);  /* runs on a pool thread */
    void (*release)(aw__work *w); /* frees an abandoned job on the loop thread; NULL: aw__free */
    aw_task *task;              /* the task waiting for it (loop thread) */
    uint8_t lane;
    uint8_t state;              /* pool mutex */
    bool abandoned;             /* pool mutex */
    bool cancel_seen;           /* a cancel arrived while it ran (loop thread) */
};

/* Run w->work on lane while the running task t waits. 0 once it has run
 * (w->cancel_seen says whether a cancel came meanwhile: the caller decides what
 * it means). AW_ECANCELLED when a cancel took it out of the queue before it
 * started (it never runs), or with AW_THREAD_ABANDON while it ran. After
 * AW_ECANCELLED with AW_THREAD_ABANDON the pool owns w and calls w->release
 * (w must then be on the heap); otherwise the caller owns w. */
int  aw__work_await(aw_task *t, aw__work *w, int lane, int flags, const char *what,
                    const char *file, int line);
/* The resolver call used on the DNS lane (getaddrinfo; tests replace it). */
extern int (*aw__gai_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
/* Test hook: jobs of lane running and queued now, and the lane's cap. */
void aw__threadpool_lane_stats(int lane, unsigned *running, unsigned *queued, unsigned *cap);

/* Deliver the signals caught since the last call (phase 3 of an iteration). */
void aw__signal_dispatch(aw_loop *loop);
/* At loop close (and in aw_run before SIGINT is given back): restore the signal
 * dispositions the loop took and hand its unreaped children to the background
 * reaper. Idempotent. */
void aw__sys_loop_close(aw_loop *loop);
void aw__signal_loop_close(aw_loop *loop);
void aw__process_loop_close(aw_loop *loop);


/* ---- TLS (src/io/tls.c): OpenSSL under a stream ---- */

/* stream.c sends and receives through these when s->tls is set; the TLS layer
 * in turn reads and writes the fds through its own BIO. */

/* One read of application data into dst (waiting for it): 0 and *got, 0 and
 * s->r_eof at the end (close_notify, or a peer that just closed), or an error
 * (also left in s->rerr when it is fatal). */
int     aw__tls_read(aw_stream *s, aw_task *t, char *dst, size_t cap, size_t *got,
                     const char *file, int line);
/* Write as much of iov as the socket takes now, as writev(2): the bytes
 * written, or -1 with errno set (EAGAIN: wait with aw__tls_wait_write; an aw
 * code such as AW_ETLS is stored negated, so -errno is the error). After
 * EAGAIN the next call must start with the same bytes (the stream's queue
 * guarantees it). Never suspends. */
ssize_t aw__tls_writev(aw_stream *s, const struct iovec *iov, int cnt);
/* The flusher, after EAGAIN: wait for what TLS needs (the handshake to end,
 * the socket to drain, or rarely input). While the stream is closing the wait
 * is shielded and bounded by the shutdown timeout. */
int     aw__tls_wait_write(aw_stream *s, aw_task *t, const char *file, int line);
/* Try to send close_notify now: 0 when sent or moot, 1 when it must wait for
 * the socket (the flusher then finishes it with aw__tls_flush_end). */
int     aw__tls_close_notify(aw_stream *s);
/* The flusher, once the queue is empty: send close_notify if the stream is
 * closing or half-closing, waiting as needed. 0 or an error. */
int     aw__tls_flush_end(aw_stream *s, aw_task *t);
/* Free the TLS state (the last reference to the stream went). */
void    aw__tls_free(aw_stream *s);
/* The fd's own write, below TLS (stream.c): send(MSG_NOSIGNAL) or a pipe write. */
ssize_t aw__stream_raw_write(aw_stream *s, const void *p, size_t n);

/* Check that c fits role and freeze it (load the default CAs a client needs):
 * 0, -EINVAL, AW_ETLS, -ENOTSUP. connect.c and server.c call it before they start. */
int aw__tls_config_check(aw_tls_config *c, int role);
/* The handshakes of a new stream: a client (connect.c; host is what was
 * dialled, NULL for a Unix socket) or a server connection (server.c, in the
 * connection's task, before its handler; failures are reported in debug mode). */
int aw__tls_client_start(aw_stream *s, aw_tls_config *c, const char *host, const char *file, int line);
int aw__tls_server_start(aw_stream *s, aw_tls_config *c, const char *file, int line);
/* Test hook: OpenSSL's error queue of this thread holds something. */
AW_API bool aw__tls_errors_pending(void);

/* ---- sync and combine: wait queues, loop binding (src/sync/, src/combine/) ---- */

/* A task waiting on a sync primitive, on the task's own stack. The queue it sits
 * in is NULL-terminated with head and tail pointers (aw__waitq in aw.h), so a
 * zero-initialised primitive (AW_LOCK_INIT) already holds a valid empty queue. */
struct aw__sync_waiter {
    struct aw__sync_waiter *next, *prev;
    aw__waitq *q;               /* the queue it is in, NULL once taken out */
    aw_task *task;
};
typedef struct aw__sync_waiter aw__swaiter;

static inline bool aw__wq_empty(const aw__waitq *q) { return q->_head == NULL; }

static inline void aw__wq_push(aw__waitq *q, aw__swaiter *w, bool front)
{
    w->q = q;
    if (front) {
        w->prev = NULL;
        w->next = q->_head;
        if (q->_head) q->_head->prev = w; else q->_tail = w;
        q->_head = w;
    } else {
        w->next = NULL;
        w->prev = q->_tail;
        if (q->_tail) q->_tail->next = w; else q->_head = w;
        q->_tail = w;
    }
}

static inline void aw__wq_remove(aw__swaiter *w)
{
    aw__waitq *q = w->q;
    if (!q) return;
    if (w->prev) w->prev->next = w->next; else q->_head = w->next;
    if (w->next) w->next->prev = w->prev; else q->_tail = w->prev;
    w->next = w->prev = NULL;
    w->q = NULL;
}

/* Take the first waiter off q and wake its task (its wait returns 0). Returns
 * false when nobody waits. O(1). */
static inline bool aw__wq_wake_one(aw__waitq *q)
{
    aw__swaiter *w = q->_head;
    if (!w) return false;
    q->_head = w->next;
    if (w->next) w->next->prev = NULL; else q->_tail = NULL;
    w->next = NULL;
    w->q = NULL;
    aw__task_wake(w->task, 0);
    return true;
}

/* Wake every waiter of q, in order; returns how many. */
size_t aw__wq_wake_all(aw__waitq *q);

/* The unpark function of a sync waiter: takes it out of its queue. */
bool aw__wq_unpark(aw_task *t, void *ctx);

/* Park the running task t on q (at the back, or at the front when it lost a race
 * and keeps its turn) until a wake takes it off: 0. A cancel takes it off
 * instead: AW_ECANCELLED, nothing consumed. Binds *bound to t's loop. Inline:
 * it is on the path of every queue and lock hand-off. */
static inline int aw__wq_wait(aw__waitq *q, uint64_t *bound, aw_task *t, bool front,
                              const char *what, void *obj, const char *file, int line)
{
    if (*bound == 0) *bound = t->loop->serial;
    aw__swaiter w = { .task = t };
    aw__wq_push(q, &w, front);
    int rc = aw__park(t, aw__wq_unpark, &w, what, obj, file, line);
    aw__wq_remove(&w);          /* already out unless something else woke the task */
    return rc;
}

/* A primitive is bound to the serial of the loop that first waited on it (0:
 * not yet). Calls on a bound primitive from another running loop fail with
 * AW_EWRONGLOOP; outside any loop they are allowed (on the loop's thread). */
static inline int aw__sync_check(uint64_t bound)
{
    aw_loop *loop = aw__loop();
    if (AW__LIKELY(bound == 0 || !loop || bound == loop->serial)) return 0;
    return AW_EWRONGLOOP;
}

/* Report misuse of a primitive (freed while tasks wait) through the running
 * loop's exception handler, or stderr outside a loop. */
void aw__sync_report(const char *message, const char *file, int line);

/* Register w on f (a task or future of the running loop) so that its completion
 * calls wake(w). Takes a reference on f; aw__watch_drop gives it back. */
static inline void aw__watch_add(aw__waiter *w, aw_future *f, void (*wake)(aw__waiter *))
{
    w->task = NULL;
    w->wake = wake;
    f->refs++;
    aw__list_push(&f->waiters, &w->node);
}
static inline void aw__watch_drop(aw__waiter *w, aw_future *f)
{
    if (aw__node_linked(&w->node)) aw__list_remove(&w->node);
    aw__future_unref(f);
}

/* What a combinator was handed: a coroutine handle, a task or a future. */
enum aw__aw_kind { AW__AW_CORO = 1, AW__AW_TASK = 2, AW__AW_FUTURE = 3 };
/* Classify x for the running loop: the kind, or -EINVAL (NULL),
 * AW_ENOTAWAITABLE, AW_EWRONGLOOP (a task or future of another loop). Binds an
 * unbound future to loop. */
int aw__aw_classify(void *x, aw_loop *loop);
/* Consume a coroutine handle without running it or reporting it. */
void aw__coro_discard(aw_coro *c);
/* Mark a done task's or future's error as seen (the combinator reported it). */
static inline void aw__future_retrieved(aw_future *f) { f->retrieved = true; }

/* ---- debugging: the await graph, step hooks, checks, resources (src/debug/) ---- */

/* aw_task.dbg_flags */
enum {
    AW__TD_USER = 1,            /* made by aw_loop_create_task (not an internal task of aw's) */
    AW__TD_AWAITED = 2,         /* some task awaited it, directly or through a combinator */
};

/*
 * The await graph costs nothing to keep: a task's future already lists its
 * waiters, and a plain await (aw__await_task, aw__await_future, a shield)
 * registers an aw__waiter whose task is the awaiting task. aw_dump_tasks
 * nests each task under the tasks found in its waiters list.
 *
 * A combinator's watcher (aw__watch_add: wake set, task NULL) names nobody, so
 * a combinator links it: aw__await_link(w, child, by, "gather") says that task
 * `by` awaits child through w, and the dump nests child under by with that
 * label. `by` must stay alive while linked: unlink (or take the watcher off the
 * child's list) before `by` can end, e.g. when a gather returns early and leaves
 * its watchers registered on children that run on. Two pointer stores.
 */
static inline void aw__await_link(aw__waiter *w, aw_future *child, aw_task *by, const char *kind)
{
    w->task = by;
    w->kind = kind;
    if (child->is_task) ((aw_task *)child)->dbg_flags |= AW__TD_AWAITED;
}
static inline void aw__await_unlink(aw__waiter *w) { w->task = NULL; }

/* What the loop publishes for the threads that watch it (the watchdog, the
 * debug server): the step running now. Written by the loop under aw__debug.mu,
 * which is never held across anything that can block. */
typedef struct aw__step_info {
    uint64_t task_id;           /* 0 for a callback */
    char name[48];              /* the task's name, or "<Handle fn()>" */
    const char *file;           /* where the step began (a static string: __FILE__) */
    int line;
    const char *what;           /* what the task had waited on, NULL at its first step */
    double started;             /* aw__clock_real() at its start */
} aw__step_info;

typedef struct aw__resource {
    const void *obj;            /* NULL: a free slot */
    const char *kind;
    char name[80];
} aw__resource;

/* A loop's debug state: created when first needed, freed with the loop. */
struct aw__debug {
    aw_loop *loop;
    pthread_mutex_t mu;         /* pub, the service's settings and the requests' state */
    atomic_uint_fast64_t seq;   /* bumped at each step's start and end: odd while one runs */
    aw__step_info pub;          /* the step running now (while seq is odd) */
    /* the loop thread's own record of the step running now */
    bool stepping;
    double clock0;              /* aw__step_clock() at its start */
    const char *begin_file;
    int begin_line;
    const char *begin_what;
    /* the service thread: watchdog, debug socket, dump signal (service.c) */
    double watchdog;            /* seconds, 0: off (mu) */
    bool started, start_failed;
    bool stop;                  /* mu: the thread must end */
    pthread_t thread;
    int wake[2];                /* non-blocking pipe that wakes the thread */
    int new_listen;             /* mu: a socket handed to the thread, -2: none pending */
    char *new_path;             /* mu: its path, unlinked when the thread gives it up */
    bool env_socket, env_signal;/* this loop took AW_DEBUG_SOCKET / AW_DUMP_SIGNAL */
    bool env_done;
    /* resources still open (debug mode): an open-addressing table keyed by obj */
    aw__resource *res;
    size_t nres, nused, cap;    /* live entries; live + deleted (tombstones); slots */
};

/* Step hooks: the core calls them only in debug mode (loop->debug). They time
 * the step with aw__step_clock, publish the running task and where its step
 * began for the watchdog and outside dumps, and report slow steps. */
void aw__debug_step_begin(aw_loop *loop, aw_task *t);
void aw__debug_step_end(aw_loop *loop, aw_task *t);
/* Run a ready handle or done-callback as a timed, published step. */
void aw__debug_run_callback(aw_loop *loop, aw__runnable *r);
/* A task ends: report it if it used more than 75 % of its stack (before the
 * stack goes back to the pool). */
void aw__debug_task_end(aw_loop *loop, aw_task *t);
/* The user's last reference to a pending task went (aw_task_release). */
void aw__debug_task_released(aw_task *t);
/* Debug mode is being turned off: end the published step. */
void aw__debug_off(aw_loop *loop);
/* A loop starts running (loop_enter): take up AW_DEBUG_SOCKET, AW_DUMP_SIGNAL,
 * AW_WATCHDOG and the stack fill of debug mode. */
void aw__debug_enter(aw_loop *loop);
/* aw_loop_close, after the tasks have ended and before the last posts run: stop
 * the debug thread, report resources still open (debug mode). */
void aw__debug_loop_close(aw_loop *loop);
/* The loop structure is freed. */
void aw__debug_free(aw_loop *loop);

/* Report a loop API called from a foreign thread; returns AW_EWRONGTHREAD, or 0
 * when the loop is not running (then any thread may call it). */
int  aw__debug_foreign_thread(aw_loop *loop, const char *api);
/* Debug mode: 0 when the calling thread may use loop's non-thread-safe API,
 * else reports it and returns AW_EWRONGTHREAD. One branch when debug is off. */
static inline int aw__check_thread(aw_loop *loop, const char *api)
{
    if (AW__LIKELY(!loop->debug) || aw__loop_tls == loop) return 0;
    return aw__debug_foreign_thread(loop, api);
}

/* Resources (streams, servers, sockets, processes): in debug mode, the loop
 * keeps a registry of those open and reports the ones still open when it
 * closes. kind is a static string ("stream", "server", ...), name is copied,
 * obj identifies the resource. loop NULL: the running loop. No-ops without
 * debug mode (track) or a registry (untrack); untrack of an unknown obj is fine. */
void aw__resource_track(aw_loop *loop, const char *kind, const char *name, const void *obj);
void aw__resource_untrack(aw_loop *loop, const void *obj);
/* The registry key of a raw fd (never a valid pointer). */
static inline const void *aw__fd_key(int fd) { return (const void *)(uintptr_t)((unsigned)fd + 1u); }

/* The debug state of loop, created on first use (NULL when memory runs out). */
struct aw__debug *aw__debug_get(aw_loop *loop);
/* Start the service thread if it is not running: 0 or -errno (service.c). */
int  aw__service_start(struct aw__debug *d);
/* Stop it and wait for it to end (service.c). */
void aw__service_stop(struct aw__debug *d);
/* AW_DUMP_SIGNAL: install / remove the handler that wakes d's thread. */
int  aw__service_signal_install(struct aw__debug *d, int sig);
void aw__service_signal_remove(struct aw__debug *d);

/* Dump loop's tasks to out (aw_dump_tasks' work; on loop's thread). */
int  aw__dump_loop(aw_loop *loop, FILE *out, int flags);
/* The loop's counters as "name value" lines. */
void aw__stats_print(aw_loop *loop, FILE *out);

#endif
