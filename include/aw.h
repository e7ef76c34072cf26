/* aw — Python asyncio's execution model in C.
 *
 * Calling an async function gives a coroutine object that does not run; awaiting
 * it runs it; tasks are scheduled by an event loop; aw_run() creates a loop, runs
 * main as a task, cancels what is left and closes the loop.
 *
 * Conventions used by every declaration below:
 *  - Calls that can fail return int: 0, or a negative code (-errno for system
 *    errors, AW_E* for aw's own). aw_strerror()/aw_errname() describe a code.
 *  - Constructors return NULL on failure and set errno.
 *  - A call that takes an aw_coro * consumes it, even when it fails.
 *  - A task's or future's result is a borrowed void *: ownership stays with the program.
 *  - errno is not preserved across a suspension point.
 *  - C++ exceptions must not cross aw frames.
 */
#ifndef AW_H
#define AW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define AW_VERSION_MAJOR 0
#define AW_VERSION_MINOR 1
#define AW_VERSION_PATCH 0

#if defined(_WIN32)
#  define AW_API
#else
#  define AW_API __attribute__((visibility("default")))
#endif

#if defined(__GNUC__)
#  define AW__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#  define AW__PRINTF(a, b)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/* aw's own error codes, beyond errno's range. X(name, value, asyncio name, message). */
#define AW_ERRNO_MAP(X)                                                                         \
    X(ECANCELLED,      -20001, "CancelledError",  "the task or scope was cancelled")             \
    X(ETIMEDOUT,       -20002, "TimeoutError",    "the deadline expired")                        \
    X(ENOTASK,         -20003, "RuntimeError",    "await outside of a task")                     \
    X(ENOTAWAITABLE,   -20004, "TypeError",       "object can't be used in 'await' expression")  \
    X(EREUSED,         -20005, "RuntimeError",    "cannot reuse already awaited coroutine")      \
    X(ELOOPRUNNING,    -20006, "RuntimeError",    "aw_run() cannot be called from a running event loop") \
    X(EWRONGLOOP,      -20007, "RuntimeError",    "object is bound to a different event loop")   \
    X(EINVALSTATE,     -20008, "InvalidStateError", "invalid state")                             \
    X(ELIMIT,          -20009, "LimitOverrunError", "the stream's buffer limit was exceeded")    \
    X(EINCOMPLETE,     -20010, "IncompleteReadError", "the stream ended before enough bytes were read") \
    X(EQUEUEFULL,      -20011, "QueueFull",       "the queue is full")                           \
    X(EQUEUEEMPTY,     -20012, "QueueEmpty",      "the queue is empty")                          \
    X(ESHUTDOWN,       -20013, "QueueShutDown",   "the queue was shut down")                     \
    X(EDEADLOCK,       -20014, "DeadlockError",   "all tasks are asleep - deadlock!")             \
    X(EBROKEN,         -20015, "BrokenBarrierError", "the barrier is broken")                    \
    X(EBUSY,           -20016, "RuntimeError",    "another task is already waiting on this")     \
    X(ENOLOOP,         -20017, "RuntimeError",    "no running event loop")                       \
    X(ECLOSED,         -20018, "RuntimeError",    "the event loop is closed")                    \
    X(EOVERFLOW,       -20019, "ValueError",      "released too many times")                     \
    X(ETLS,            -20020, "SSLError",        "TLS error")                                   \
    X(ETLSVERIFY,      -20021, "SSLCertVerificationError", "certificate verify failed")

enum {
#define AW__ERR_ENUM(name, value, pyname, msg) AW_##name = value,
    AW_ERRNO_MAP(AW__ERR_ENUM)
#undef AW__ERR_ENUM
};

/* A static message for err (aw's own codes and -errno). Never NULL. */
AW_API const char *aw_strerror(int err);
/* The asyncio-style name of err: "CancelledError", "TimeoutError", "OSError" for -errno. */
AW_API const char *aw_errname(int err);

/* ------------------------------------------------------------------------ */
/* Types                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct aw_loop aw_loop;
typedef struct aw_coro aw_coro;          /* an opaque, generation-checked handle */
typedef struct aw_future aw_future;
typedef struct aw_task aw_task;
typedef struct aw_handle aw_handle;

/* A coroutine body. It returns 0 (and may set *result) or a negative error. */
typedef int (*aw_fn)(void *arg, void **result);

/* A plain callback run by the loop (aw_call_soon and friends). */
typedef void (*aw_callback)(void *arg);

/* What the exception handler receives. */
typedef struct aw_exception_context {
    const char *message;        /* "Task exception was never retrieved", ... */
    int error;                  /* the error code, 0 if none */
    const char *detail;         /* aw_raise message, or NULL */
    aw_task *task;              /* may be NULL */
    const char *task_name;
    const char *file;           /* the site the report is about, or NULL */
    int line;
    const char *func;
} aw_exception_context;

typedef void (*aw_exception_handler)(aw_loop *loop, const aw_exception_context *ctx, void *arg);

/* ------------------------------------------------------------------------ */
/* Coroutine objects                                                         */
/* ------------------------------------------------------------------------ */

/* A coroutine object: fn and arg, not yet run. fn is not called. Records #fn and
 * the creation site. NULL with errno = EINVAL (fn is NULL) or ENOMEM. */
#define aw_coro(fn, arg) aw__coro_new((fn), (arg), #fn, __FILE__, __LINE__)
AW_API aw_coro *aw__coro_new(aw_fn fn, void *arg, const char *name, const char *file, int line);

/* Discard a coroutine that will never be awaited; reports it as never awaited
 * (asyncio's coroutine.close()). AW_EREUSED if it was already used. */
AW_API int aw_coro_close(aw_coro *c);

/* Write "<coroutine NAME at FILE:LINE>" (or "<coroutine NAME (used)>") into buf.
 * Returns buf. */
AW_API const char *aw_describe(aw_coro *c, char *buf, size_t size);

/* ------------------------------------------------------------------------ */
/* Awaiting                                                                  */
/* ------------------------------------------------------------------------ */

/* Await a coroutine, a task or a future. A coroutine runs inline, on the
 * awaiting task's stack, without a switch; a task or future suspends the caller
 * until it is done. Returns the awaited thing's error code and sets *result
 * (result may be NULL). Any other type fails to compile.
 * AW_ENOTASK outside a task, AW_EREUSED for a coroutine awaited twice. */
#ifdef __cplusplus
} /* extern "C" */
AW_API int aw__await_coro(aw_coro *c, void **result, const char *file, int line);
AW_API int aw__await_task(aw_task *t, void **result, const char *file, int line);
AW_API int aw__await_future(aw_future *f, void **result, const char *file, int line);
static inline int aw__await_cxx(aw_coro *c, void **r, const char *f, int l) { return aw__await_coro(c, r, f, l); }
static inline int aw__await_cxx(aw_task *t, void **r, const char *f, int l) { return aw__await_task(t, r, f, l); }
static inline int aw__await_cxx(aw_future *x, void **r, const char *f, int l) { return aw__await_future(x, r, f, l); }
#define aw_await(x, result) aw__await_cxx((x), (result), __FILE__, __LINE__)
extern "C" {
#else
AW_API int aw__await_coro(aw_coro *c, void **result, const char *file, int line);
AW_API int aw__await_task(aw_task *t, void **result, const char *file, int line);
AW_API int aw__await_future(aw_future *f, void **result, const char *file, int line);
#define aw_await(x, result) _Generic((x),                                  \
        aw_coro *: aw__await_coro,                                      \
        aw_task *: aw__await_task,                                      \
        aw_future *: aw__await_future)((x), (result), __FILE__, __LINE__)
#endif

/* Await anything at run time: checks aw's magic header and returns
 * AW_ENOTAWAITABLE for other objects. x must point at readable memory. */
#define aw_await_any(x, result) aw__await_any((x), (result), __FILE__, __LINE__)
AW_API int aw__await_any(void *x, void **result, const char *file, int line);

/* aw_await(aw_coro(fn, arg), result) in one call. */
#define aw_call(fn, arg, result) aw__call((fn), (arg), (result), #fn, __FILE__, __LINE__)
AW_API int aw__call(aw_fn fn, void *arg, void **result, const char *name, const char *file, int line);

/* Attach a message and the raise site to the current task's error and return err.
 * Write `return aw_raise(-EINVAL, "bad port %d", port);`. */
#define aw_raise(err, ...) aw__raise((err), __FILE__, __LINE__, __func__, __VA_ARGS__)
AW_API int aw__raise(int err, const char *file, int line, const char *func, const char *fmt, ...)
    AW__PRINTF(5, 6);

/* ------------------------------------------------------------------------ */
/* Running                                                                   */
/* ------------------------------------------------------------------------ */

enum aw_clock { AW_CLOCK_MONOTONIC = 0, AW_CLOCK_VIRTUAL = 1 };

/* Options for aw_run_ex. Zero-initialise, then set what you need. */
typedef struct aw_run_opts {
    int debug;                  /* 1: debug mode (as AW_DEBUG=1) */
    int clock;                  /* enum aw_clock */
    size_t stack_size;          /* default stack size of the loop's tasks; 0 = 256 KiB */
    bool no_sigint;             /* do not turn SIGINT into a cancel of main */
    aw_exception_handler exception_handler;  /* NULL: print to stderr */
    void *exception_arg;
} aw_run_opts;

/* asyncio.run(): a new loop, main as a task named "main", run to completion;
 * then every leftover task is cancelled and awaited, and the loop closed.
 * Returns main's error and sets *result. AW_ELOOPRUNNING inside a running loop;
 * AW_EDEADLOCK when no task can ever be woken (every waiting task is named). */
AW_API int aw_run(aw_coro *main, void **result);
AW_API int aw_run_ex(aw_coro *main, void **result, const aw_run_opts *opts);

/* ------------------------------------------------------------------------ */
/* Tasks                                                                     */
/* ------------------------------------------------------------------------ */

/* Wrap c in a task scheduled on the running loop (at the back of its ready
 * queue); the caller keeps running. Returns an owned reference; NULL with errno
 * AW_ENOLOOP-style ESRCH outside a loop, or ENOMEM. name may be NULL ("Task-N"). */
AW_API aw_task *aw_create_task(aw_coro *c, const char *name);
/* aw_create_task(aw_coro(fn, arg), NULL). */
#define aw_spawn(fn, arg) aw_create_task(aw_coro((fn), (arg)), NULL)
/* aw_create_task on a given loop (which need not be running yet). */
AW_API aw_task *aw_loop_create_task(aw_loop *loop, aw_coro *c, const char *name);
/* Set the stack size of a task that has not run yet: -EINVAL below 16 KiB,
 * AW_EINVALSTATE once it has started. */
AW_API int aw_task_set_stack_size(aw_task *t, size_t size);

/* Request cancellation: every suspension point inside the task returns
 * AW_ECANCELLED from now on (level-triggered). Returns 1 if requested, 0 if the
 * task was already done. msg may be NULL. */
AW_API int aw_task_cancel(aw_task *t, const char *msg);
/* Undo one cancel request; returns the number still pending. */
AW_API int aw_task_uncancel(aw_task *t);
/* The number of pending cancel requests. */
AW_API int aw_task_cancelling(const aw_task *t);
/* The message given to the first pending cancel, or NULL. */
AW_API const char *aw_task_cancel_message(const aw_task *t);

AW_API bool aw_task_done(const aw_task *t);
AW_API bool aw_task_cancelled(const aw_task *t);
/* The task's outcome: its error (0 on success) and *result; AW_EINVALSTATE if
 * it is not done. Marks the error retrieved. */
AW_API int aw_task_result(aw_task *t, void **result);
/* The task's error (0 if none); AW_EINVALSTATE if not done. Marks it retrieved. */
AW_API int aw_task_exception(aw_task *t);
/* The message and site given to aw_raise for the task's error, or NULL. */
AW_API const char *aw_task_error_message(const aw_task *t);
/* Drop a reference. It never cancels: the loop keeps the task until it ends. */
AW_API void aw_task_release(aw_task *t);
/* Take another reference. */
AW_API aw_task *aw_task_ref(aw_task *t);
/* aw_await(t) then aw_task_release(t). */
#define aw_join(t, result) aw__join((t), (result), __FILE__, __LINE__)
AW_API int aw__join(aw_task *t, void **result, const char *file, int line);

AW_API const char *aw_task_name(const aw_task *t);
/* Rename the task (the name is copied): 0 or -ENOMEM. */
AW_API int aw_task_set_name(aw_task *t, const char *name);
AW_API uint64_t aw_task_id(const aw_task *t);
/* The task as a future, for aw_future_add_done_callback. */
AW_API aw_future *aw_task_future(aw_task *t);

/* The running task, or NULL outside a task. */
AW_API aw_task *aw_current_task(void);
/* Fill out with up to cap live tasks of the running loop (borrowed); returns how
 * many there are. */
AW_API size_t aw_all_tasks(aw_task **out, size_t cap);

/* ------------------------------------------------------------------------ */
/* Futures                                                                   */
/* ------------------------------------------------------------------------ */

/* A new pending future, owned by the caller. It binds to the loop that first
 * waits on it. NULL with errno = ENOMEM. */
AW_API aw_future *aw_future_new(void);
AW_API void aw_future_release(aw_future *f);
/* 0, or AW_EINVALSTATE if already done. */
AW_API int aw_future_set_result(aw_future *f, void *result);
/* err must be negative: -EINVAL otherwise. */
AW_API int aw_future_set_error(aw_future *f, int err);
/* 1 if cancelled now, 0 if already done. */
AW_API int aw_future_cancel(aw_future *f, const char *msg);
AW_API bool aw_future_done(const aw_future *f);
AW_API bool aw_future_cancelled(const aw_future *f);
/* The outcome: AW_EINVALSTATE while pending, else the error (0) and *result. */
AW_API int aw_future_result(aw_future *f, void **result);

typedef void (*aw_done_fn)(aw_future *f, void *arg);
/* Run cb(f, arg) from the loop once f is done (at once if it is: scheduled with
 * aw_call_soon semantics). 0 or -ENOMEM. */
AW_API int aw_future_add_done_callback(aw_future *f, aw_done_fn cb, void *arg);
/* Remove every registration of (cb, arg); returns how many were removed. */
AW_API int aw_future_remove_done_callback(aw_future *f, aw_done_fn cb, void *arg);

/* ------------------------------------------------------------------------ */
/* Time                                                                      */
/* ------------------------------------------------------------------------ */

/* Suspend the running task for seconds; aw_sleep(0) yields to the other ready
 * tasks. -EINVAL for NaN or negative, AW_ENOTASK outside a task,
 * AW_ECANCELLED when cancelled. */
#define aw_sleep(seconds) aw__sleep((seconds), __FILE__, __LINE__)
AW_API int aw__sleep(double seconds, const char *file, int line);
/* The running loop's clock (monotonic seconds, cached once per iteration; the
 * virtual clock when set). 0 outside a loop. */
AW_API double aw_now(void);

/* ------------------------------------------------------------------------ */
/* Cancel scopes and timeouts                                                */
/* ------------------------------------------------------------------------ */

/* A cancel scope lives on the task's own stack, between aw_scope_begin and
 * aw_scope_end. Once cancelled (by aw_scope_cancel or its deadline) every
 * suspension point inside it returns AW_ECANCELLED, until it ends. */
typedef struct aw_scope {
    struct aw_scope *_parent;
    aw_task *_task;
    double _deadline;           /* INFINITY when none */
    struct { double when; uint64_t seq; size_t idx; void *owner; void (*fire)(void *); } _timer;
    const char *_file;
    int _line;
    unsigned _flags;
} aw_scope;

enum {
    AW_SCOPE_SHIELD = 1,        /* cancellation from outside does not reach inside */
};

#define aw_scope_begin(s) aw__scope_begin((s), 0, __FILE__, __LINE__)
#define aw_scope_begin_flags(s, flags) aw__scope_begin((s), (flags), __FILE__, __LINE__)
/* Enter s in the running task: 0, or AW_ENOTASK. */
AW_API int aw__scope_begin(aw_scope *s, int flags, const char *file, int line);
/* Leave s, which must be the innermost scope. Returns AW_ETIMEDOUT if its own
 * deadline expired and cancelled a suspension inside it, else 0;
 * AW_EINVALSTATE if s is not the innermost open scope. */
AW_API int aw_scope_end(aw_scope *s);
AW_API void aw_scope_cancel(aw_scope *s);
/* Absolute deadline on the loop clock (INFINITY for none). */
AW_API void aw_scope_set_deadline(aw_scope *s, double when);
AW_API double aw_scope_deadline(const aw_scope *s);
/* True once the scope's deadline has passed and cancelled it. */
AW_API bool aw_scope_expired(const aw_scope *s);
AW_API bool aw_scope_cancelled(const aw_scope *s);

/* ------------------------------------------------------------------------ */
/* The event loop                                                            */
/* ------------------------------------------------------------------------ */

/* A new loop, not running. NULL with errno set. */
AW_API aw_loop *aw_loop_new(void);
/* Run c as a task until it is done; its error and *result. */
AW_API int aw_loop_run_until_complete(aw_loop *loop, aw_coro *c, void **result);
/* Run until aw_loop_stop. */
AW_API int aw_loop_run_forever(aw_loop *loop);
/* Make run_forever return after the current iteration. */
AW_API void aw_loop_stop(aw_loop *loop);
/* Report tasks still pending ("Task was destroyed but it is pending!"), cancel
 * and drain them, report never-awaited coroutines, and free the loop.
 * AW_ELOOPRUNNING if it is running. */
AW_API int aw_loop_close(aw_loop *loop);
/* The loop running on this thread, or NULL. */
AW_API aw_loop *aw_running_loop(void);
/* AW_CLOCK_MONOTONIC or AW_CLOCK_VIRTUAL. With the virtual clock, time jumps to
 * the next deadline whenever nothing is ready and no I/O or thread work is
 * pending. AW_EINVALSTATE if timers are armed. */
AW_API int aw_loop_set_clock(aw_loop *loop, int clock);
AW_API int aw_loop_set_debug(aw_loop *loop, bool on);
AW_API bool aw_loop_get_debug(const aw_loop *loop);
/* Default stack size for tasks created on loop from now on: -EINVAL below 16 KiB. */
AW_API int aw_loop_set_stack_size(aw_loop *loop, size_t size);
AW_API double aw_loop_time(const aw_loop *loop);

/* Callbacks. Each returns 0 (and, if out is not NULL, a handle you own) or a
 * negative error. aw_handle_cancel cancels a handle that has not run and drops
 * your reference; aw_handle_release drops it without cancelling. */
AW_API int aw_call_soon(aw_loop *loop, aw_callback cb, void *arg, aw_handle **out);
AW_API int aw_call_later(aw_loop *loop, double delay, aw_callback cb, void *arg, aw_handle **out);
AW_API int aw_call_at(aw_loop *loop, double when, aw_callback cb, void *arg, aw_handle **out);
AW_API void aw_handle_cancel(aw_handle *h);
AW_API void aw_handle_release(aw_handle *h);
AW_API bool aw_handle_cancelled(const aw_handle *h);

/* Thread-safe: run cb(arg) on loop's thread soon. 0, -ENOMEM or AW_ECLOSED. */
AW_API int aw_loop_call_soon_threadsafe(aw_loop *loop, aw_callback cb, void *arg);

/* Replace the handler (NULL restores the default, which prints to stderr). */
AW_API void aw_loop_set_exception_handler(aw_loop *loop, aw_exception_handler h, void *arg);
AW_API void aw_loop_default_exception_handler(aw_loop *loop, const aw_exception_context *ctx, void *arg);
/* Send a report through the loop's handler. */
AW_API void aw_loop_call_exception_handler(aw_loop *loop, const aw_exception_context *ctx);

/* ------------------------------------------------------------------------ */
/* File descriptors                                                          */
/* ------------------------------------------------------------------------ */

/* Suspend until fd is readable (writable), or timeout seconds (< 0: none) pass.
 * 0, AW_ETIMEDOUT, AW_ECANCELLED, -EBADF for a closed fd, AW_EBUSY when another
 * task already waits in that direction. The fd stays registered with the poller:
 * call aw_fd_forget before closing an fd you waited on. */
#define aw_wait_readable(fd, timeout) aw__wait_fd((fd), 1, (timeout), __FILE__, __LINE__)
#define aw_wait_writable(fd, timeout) aw__wait_fd((fd), 2, (timeout), __FILE__, __LINE__)
AW_API int aw__wait_fd(int fd, int dir, double timeout, const char *file, int line);
/* Tell the running loop that fd is about to be closed. */
AW_API void aw_fd_forget(int fd);

/* ------------------------------------------------------------------------ */
/* Introspection                                                             */
/* ------------------------------------------------------------------------ */

enum { AW_DUMP_FLAT = 1 };
/* Print every task of the running loop: a tree by default, a ps-like table with
 * AW_DUMP_FLAT. 0 or AW_ENOLOOP. */
AW_API int aw_dump_tasks(FILE *out, int flags);

/* Counters of a loop. */
typedef struct aw_loop_stats {
    uint64_t iterations;
    uint64_t tasks_created, tasks_finished, tasks_live;
    uint64_t switches;
    uint64_t polls, poll_events;
    uint64_t timers_fired;
    size_t ready;
    size_t timers;
} aw_loop_stats;
AW_API int aw_loop_stats_get(aw_loop *loop, aw_loop_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* AW_H */
