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

typedef struct aw__heap {
    aw__timer **v;
    size_t n, cap;
    uint64_t seq;
} aw__heap;

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
    double step_start;          /* debug: real time the current step began */
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
    unsigned polls_skipped;     /* iterations since the last poll with a busy ready queue */
    aw__ctx sched;              /* the loop's own context (the thread's stack) */
    aw_task *current;
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
int  aw__suspend_check(aw_task **out);
/* Deliver a cancel to t if it is parked and now effectively cancelled. */
void aw__task_deliver_cancel(aw_task *t);
void aw__task_step(aw_loop *loop, aw_task *t);
/* Switch away from the running task t (which has queued or parked itself): straight
 * to the next ready task when the iteration allows, else to the loop. */
void aw__task_switch_out(aw_loop *loop, aw_task *t);
aw_task *aw__task_new(aw_loop *loop, aw_fn fn, void *arg, const char *fn_name,
                      const char *file, int line, const char *name);
void aw__task_free(aw_task *t);
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
/* Is x a coroutine handle (by its tag bits)? */
bool aw__is_coro_handle(const void *x);

#endif
