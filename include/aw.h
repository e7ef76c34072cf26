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
#include <sys/socket.h>   /* struct sockaddr, socklen_t: sockets, streams, UDP */
#include <sys/uio.h>      /* struct iovec: aw_stream_writelines */
#include <signal.h>
#include <sys/select.h>   /* sigset_t (also under strict -std=c11): aw_signal_wait */
#include <sys/types.h>    /* pid_t, off_t, mode_t: subprocesses, files */

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
    X(ETLSVERIFY,      -20021, "SSLCertVerificationError", "certificate verify failed") \
    X(EWRONGTHREAD,    -20030, "RuntimeError",    "Non-thread-safe operation invoked on an event loop other than the current one") \
    X(EAI_NONAME,      -20101, "gaierror",        "Name or service not known")                   \
    X(EAI_AGAIN,       -20102, "gaierror",        "Temporary failure in name resolution")        \
    X(EAI_FAIL,        -20103, "gaierror",        "Non-recoverable failure in name resolution")  \
    X(EAI_SERVICE,     -20104, "gaierror",        "Servname not supported for ai_socktype")      \
    X(EAI_FAMILY,      -20105, "gaierror",        "ai_family not supported")                     \
    X(EAI_SOCKTYPE,    -20106, "gaierror",        "ai_socktype not supported")                   \
    X(EAI_BADFLAGS,    -20107, "gaierror",        "Bad value for ai_flags")                      \
    X(EAI_NODATA,      -20108, "gaierror",        "No address associated with hostname")         \
    X(EAI_ADDRFAMILY,  -20109, "gaierror",        "Address family for hostname not supported")   \
    X(EAI_OVERFLOW,    -20110, "gaierror",        "Argument buffer overflow")

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
/* Print every task of the running loop, like `python -m asyncio pstree`: each
 * task as "(T) name #id [waiting on sleep, since 1.2 s]" with its chain of inline
 * coroutines ("func file:line", outermost first, the last line being where it
 * waits), nested under the task that awaits it (directly, or through a gather,
 * a group, a shield: the label after the arrow says which). A cycle in the
 * await graph is printed once, as "cycle: a #1 → b #2 → a #1". With
 * AW_DUMP_FLAT, a ps-like table instead. "since" (how long a task has been
 * waiting) and stack use appear in debug mode. Call it on the loop's thread:
 * 0, AW_ENOLOOP, -EINVAL, -ENOMEM. */
AW_API int aw_dump_tasks(FILE *out, int flags);

/* Counters of a loop. The step timings are kept in debug mode only. */
typedef struct aw_loop_stats {
    uint64_t iterations;
    uint64_t tasks_created, tasks_finished, tasks_live;
    uint64_t switches;
    uint64_t polls, poll_events;    /* poller waits, and the events they returned */
    uint64_t timers_fired;
    size_t ready;                   /* ready-queue length now */
    size_t timers;                  /* timers armed now */
    uint64_t callbacks;             /* handles and done-callbacks run */
    size_t fd_waiters;              /* tasks waiting on an fd now */
    size_t pending_work;            /* thread-pool jobs in flight now */
    uint64_t slow_steps;            /* debug: steps over the slow-step threshold */
    double longest_step;            /* debug: the longest step so far, seconds */
    char longest_step_task[48];     /* debug: its task's name ("<callback>" for a callback) */
} aw_loop_stats;
AW_API int aw_loop_stats_get(aw_loop *loop, aw_loop_stats *out);

/* ------------------------------------------------------------------------ */
/* Sockets, streams, servers, UDP (src/io/sock.c, stream.c, server.c, udp.c) */
/* ------------------------------------------------------------------------ */

/* Low-level sockets: asyncio's loop.sock_* set, on non-blocking fds. Each call
 * tries the system call first and suspends only when it would block; each is a
 * suspension point (AW_ECANCELLED, timeouts through a cancel scope or
 * aw_wait_for). At most one task may wait to read and one to write on an fd:
 * another gets AW_EBUSY. Sends use MSG_NOSIGNAL (no SIGPIPE, -EPIPE instead). */

/* A new socket, non-blocking and close-on-exec: the fd (>= 0) or -errno. */
AW_API int aw_socket(int domain, int type, int protocol);
/* Connect fd to addr, suspending until the connection is made or fails
 * (-ECONNREFUSED, -ETIMEDOUT, ...). */
#define aw_sock_connect(fd, addr, len) aw__sock_connect((fd), (addr), (len), __FILE__, __LINE__)
/* Accept a connection: the new fd (>= 0, non-blocking, close-on-exec) or a
 * negative error. addr and len may be NULL. */
#define aw_sock_accept(fd, addr, len) aw__sock_accept((fd), (addr), (len), __FILE__, __LINE__)
/* Receive up to n bytes: 0 and *got (0 means end of stream), or an error. */
#define aw_sock_recv(fd, buf, n, got) aw__sock_recv((fd), (buf), (n), (got), __FILE__, __LINE__)
/* Send all n bytes (asyncio's sock_sendall). *sent (may be NULL) is how many
 * were sent, also when an error or a cancel stops it half-way. */
#define aw_sock_send(fd, buf, n, sent) aw__sock_send((fd), (buf), (n), (sent), __FILE__, __LINE__)
/* Receive one datagram; addr/len (may be NULL) get its source. */
#define aw_sock_recvfrom(fd, buf, n, got, addr, len) \
    aw__sock_recvfrom((fd), (buf), (n), (got), (addr), (len), __FILE__, __LINE__)
/* Send one datagram to addr. */
#define aw_sock_sendto(fd, buf, n, addr, len) \
    aw__sock_sendto((fd), (buf), (n), (addr), (len), __FILE__, __LINE__)
/* Send count bytes of file_fd from *offset (advanced as bytes go; NULL: from
 * and advancing the file position), count 0 meaning up to the end of the file,
 * with sendfile(2) (read/send when the fds do not allow it). *sent may be NULL. */
#define aw_sock_sendfile(fd, file_fd, offset, count, sent) \
    aw__sock_sendfile((fd), (file_fd), (offset), (count), (sent), __FILE__, __LINE__)
/* aw_fd_forget(fd) then close(fd): 0 or -errno. A task waiting on fd gets -EBADF. */
AW_API int aw_sock_close(int fd);

AW_API int aw__sock_connect(int fd, const struct sockaddr *addr, socklen_t len, const char *file, int line);
AW_API int aw__sock_accept(int fd, struct sockaddr *addr, socklen_t *len, const char *file, int line);
AW_API int aw__sock_recv(int fd, void *buf, size_t n, size_t *got, const char *file, int line);
AW_API int aw__sock_send(int fd, const void *buf, size_t n, size_t *sent, const char *file, int line);
AW_API int aw__sock_recvfrom(int fd, void *buf, size_t n, size_t *got, struct sockaddr *addr,
                             socklen_t *len, const char *file, int line);
AW_API int aw__sock_sendto(int fd, const void *buf, size_t n, const struct sockaddr *addr,
                           socklen_t len, const char *file, int line);
AW_API int aw__sock_sendfile(int fd, int file_fd, long long *offset, size_t count, size_t *sent,
                             const char *file, int line);

/* Streams (asyncio's StreamReader + StreamWriter in one object). A stream reads
 * into its own buffer only when asked (one read per readiness event) and writes
 * straight to the fd when nothing is queued; what the kernel does not take is
 * queued and sent in the background. Read calls return pointers into the
 * buffer where noted: they stay valid until the next call on the stream. One
 * task may read and one may wait in aw_stream_drain at a time (AW_EBUSY). */
typedef struct aw_stream aw_stream;

typedef struct aw_stream_opts {
    size_t limit;               /* buffer limit of readline/readuntil/fill; 0: 64 KiB */
    size_t high_water;          /* aw_stream_drain waits while more is queued; 0: 64 KiB */
    size_t low_water;           /* ...until no more than this is; 0: high_water / 4 */
} aw_stream_opts;

/* Wrap fds in a stream: rfd to read (or -1), wfd to write (or -1; may equal
 * rfd, as for a socket). The stream owns them: they are made non-blocking and
 * closed with it. opts may be NULL. 0, -EINVAL, -ENOMEM. */
AW_API int aw_stream_open_fd(int rfd, int wfd, const aw_stream_opts *opts, aw_stream **out);

/* Read up to n bytes: waits until at least one is there. *got is 0 at end of
 * stream. Bytes already buffered are returned without a system call. */
#define aw_stream_read(s, buf, n, got) aw__stream_read((s), (buf), (n), (got), __FILE__, __LINE__)
/* Read exactly n bytes into buf. AW_EINCOMPLETE ("3 bytes read on a total of
 * 10 expected bytes") if the stream ends first: the partial data is in buf and
 * *got says how much (got may be NULL). A cancelled or failed call consumes
 * nothing: the bytes stay buffered for the next read. */
#define aw_stream_readexactly(s, buf, n, got) \
    aw__stream_readexactly((s), (buf), (n), (got), __FILE__, __LINE__)
/* Read a line, '\n' included: *line points into the buffer, *len its length.
 * At end of stream it gives the partial last line (no '\n'), then *len = 0.
 * AW_ELIMIT if the line is longer than the limit (the data up to and including
 * the separator, or the whole buffer when there is none, is discarded). */
#define aw_stream_readline(s, line, len) aw__stream_readline((s), (line), (len), __FILE__, __LINE__)
/* Read up to and including sep (seplen bytes). AW_ELIMIT ("Separator is not
 * found, and chunk exceed the limit" / "Separator is found, but chunk is longer
 * than limit") leaves the data buffered; AW_EINCOMPLETE at end of stream gives
 * the partial chunk in *chunk and *len (consumed). */
#define aw_stream_readuntil(s, sep, seplen, chunk, len) \
    aw__stream_readuntil((s), (sep), (seplen), (chunk), (len), __FILE__, __LINE__)
/* aw_stream_readuntil with several separators (NUL-terminated strings): stops
 * at the one that ends first. */
#define aw_stream_readuntil_any(s, seps, nseps, chunk, len) \
    aw__stream_readuntil_any((s), (seps), (nseps), (chunk), (len), __FILE__, __LINE__)
/* True at end of stream with nothing left in the buffer. */
AW_API bool aw_stream_at_eof(const aw_stream *s);

/* For parsers: the bytes buffered and not consumed (*data points into the
 * buffer), aw_stream_consume to take n of them, and aw_stream_fill to read more
 * into the buffer (waits for data; *added is 0 at end of stream; AW_ELIMIT when
 * the limit is already buffered). */
AW_API size_t aw_stream_peek(aw_stream *s, const char **data);
AW_API void aw_stream_consume(aw_stream *s, size_t n);
#define aw_stream_fill(s, added) aw__stream_fill((s), (added), __FILE__, __LINE__)

/* Queue n bytes for writing: never suspends. Writes at once when nothing is
 * queued; the rest is sent in the background. 0, or the error that broke the
 * stream (-EPIPE, -ECONNRESET, ...), AW_EINVALSTATE after write_eof/close, -ENOMEM. */
AW_API int aw_stream_write(aw_stream *s, const void *data, size_t n);
/* aw_stream_write of several buffers at once (one writev when nothing is queued). */
AW_API int aw_stream_writelines(aw_stream *s, const struct iovec *iov, int iovcnt);
/* Flow control: returns at once while no more than the high-water mark is
 * queued, else waits until the queue is down to the low-water mark. Reports a
 * broken stream's error (-EPIPE, -ECONNRESET). */
#define aw_stream_drain(s) aw__stream_drain((s), __FILE__, __LINE__)
/* Half-close: once the queue is sent, shut down the write side (sockets) or
 * close the write fd (pipes). Reading goes on. */
AW_API int aw_stream_write_eof(aw_stream *s);
/* Bytes queued and not yet taken by the kernel. */
AW_API size_t aw_stream_write_buffered(const aw_stream *s);
/* Close s and give up the handle: what is still queued is sent in the
 * background first (asyncio's writer.close()). Never suspends; do not use s
 * afterwards. A task waiting on s is woken with -EBADF. */
AW_API void aw_stream_close(aw_stream *s);
/* Close s and wait until the queue is sent and the fd closed (asyncio's
 * writer.close() + await writer.wait_closed(): one call here, as C must free
 * the object). s is released whatever the outcome; returns the error that
 * stopped the final send, AW_ECANCELLED (the queue is then dropped), or 0. */
#define aw_stream_wait_closed(s) aw__stream_wait_closed((s), __FILE__, __LINE__)
/* Drop the queue and close at once (transport.abort()); releases s. */
AW_API void aw_stream_abort(aw_stream *s);
/* The read fd (the socket for network streams), -1 if none. */
AW_API int aw_stream_fd(const aw_stream *s);
/* getpeername/getsockname of the stream's socket: 0 or -errno. */
AW_API int aw_stream_peername(const aw_stream *s, struct sockaddr *addr, socklen_t *len);
AW_API int aw_stream_sockname(const aw_stream *s, struct sockaddr *addr, socklen_t *len);

AW_API int aw__stream_read(aw_stream *s, void *buf, size_t n, size_t *got, const char *file, int line);
AW_API int aw__stream_readexactly(aw_stream *s, void *buf, size_t n, size_t *got, const char *file, int line);
AW_API int aw__stream_readline(aw_stream *s, const char **out, size_t *len, const char *file, int line);
AW_API int aw__stream_readuntil(aw_stream *s, const void *sep, size_t seplen, const char **chunk,
                                size_t *len, const char *file, int line);
AW_API int aw__stream_readuntil_any(aw_stream *s, const char *const *seps, size_t nseps,
                                    const char **chunk, size_t *len, const char *file, int line);
AW_API int aw__stream_fill(aw_stream *s, size_t *added, const char *file, int line);
AW_API int aw__stream_drain(aw_stream *s, const char *file, int line);
AW_API int aw__stream_wait_closed(aw_stream *s, const char *file, int line);

/* TLS settings: see the TLS section below. */
typedef struct aw_tls_config aw_tls_config;

/* Clients. */
typedef struct aw_connect_opts {
    aw_stream_opts stream;
    double timeout;             /* for the whole connect (all attempts); 0: none */
    double happy_eyeballs_delay;/* start the next address after this long; 0: 0.25 s; < 0: one at a time */
    int family;                 /* AF_UNSPEC (0), AF_INET or AF_INET6 */
    aw_tls_config *tls;         /* a client TLS config: the stream is TLS once the handshake is done */
} aw_connect_opts;

/* Resolve host and connect to port, trying every address (happy eyeballs:
 * the next attempt starts when the previous one fails or after the delay; the
 * first to connect wins). A TCP stream with TCP_NODELAY in *out. opts may be
 * NULL. Errors: the last attempt's (-ECONNREFUSED, ...), AW_ETIMEDOUT after
 * opts->timeout, resolver errors. */
#define aw_open_connection(host, port, opts, out) \
    aw__open_connection((host), (port), (opts), (out), __FILE__, __LINE__)
/* Connect to a Unix socket at path. */
#define aw_open_unix_connection(path, opts, out) \
    aw__open_unix_connection((path), (opts), (out), __FILE__, __LINE__)
AW_API int aw__open_connection(const char *host, int port, const aw_connect_opts *opts, aw_stream **out,
                               const char *file, int line);
AW_API int aw__open_unix_connection(const char *path, const aw_connect_opts *opts, aw_stream **out,
                                    const char *file, int line);

/* Servers. The handler runs in a task of its own per connection; the stream is
 * the server's: it is closed (queued output still sent) when the handler
 * returns. A handler's error other than AW_ECANCELLED goes to the loop's
 * exception handler ("Unhandled error in client connection handler"). */
typedef struct aw_server aw_server;
typedef int (*aw_stream_handler)(aw_stream *s, void *arg);

typedef struct aw_server_opts {
    aw_stream_opts stream;
    int backlog;                /* 0: 511 (as Redis and nginx; asyncio uses 100) */
    bool reuse_port;            /* SO_REUSEPORT */
    bool no_reuse_address;      /* SO_REUSEADDR is on by default, as in asyncio on POSIX */
    bool dual_stack;            /* host NULL or "::": one IPv6 socket that accepts IPv4 as well */
    int family;                 /* AF_UNSPEC (0), AF_INET or AF_INET6 */
    double accept_retry_delay;  /* pause after EMFILE/ENFILE/ENOBUFS/ENOMEM on accept; 0: 1 s */
    aw_tls_config *tls;         /* a server TLS config: each connection's handshake runs before its handler */
} aw_server_opts;

/* Listen on every address of host (NULL: all interfaces) at port (0: a free
 * port, the same one on every address) and start serving. -EADDRINUSE, ... */
#define aw_start_server(host, port, handler, arg, opts, out) \
    aw__start_server((host), (port), (handler), (arg), (opts), (out), __FILE__, __LINE__)
/* Listen on a Unix socket at path (a stale socket file there is replaced; the
 * file is removed when the server closes). */
#define aw_start_unix_server(path, handler, arg, opts, out) \
    aw__start_unix_server((path), (handler), (arg), (opts), (out), __FILE__, __LINE__)
AW_API int aw__start_server(const char *host, int port, aw_stream_handler handler, void *arg,
                            const aw_server_opts *opts, aw_server **out, const char *file, int line);
AW_API int aw__start_unix_server(const char *path, aw_stream_handler handler, void *arg,
                                 const aw_server_opts *opts, aw_server **out, const char *file, int line);
/* Stop listening (the sockets are closed); connections go on. */
AW_API void aw_server_close(aw_server *srv);
/* Shut down every connection's socket: handlers see end of stream or -EPIPE. */
AW_API void aw_server_close_clients(aw_server *srv);
/* Cancel every connection's handler task. */
AW_API void aw_server_abort_clients(aw_server *srv);
/* Wait until the server is closed and every handler has returned. */
#define aw_server_wait_closed(srv) aw__server_wait_closed((srv), __FILE__, __LINE__)
AW_API int aw__server_wait_closed(aw_server *srv, const char *file, int line);
/* Close (if not yet) and give up the handle; running handlers finish on their own. */
AW_API void aw_server_release(aw_server *srv);
/* The port the server listens on (0 for a Unix server). */
AW_API int aw_server_port(const aw_server *srv);
/* The address of listening socket i: 0, or -ENOENT past the last. */
AW_API int aw_server_sockaddr(const aw_server *srv, size_t i, struct sockaddr *addr, socklen_t *len);
/* Connections being served now. */
AW_API size_t aw_server_connections(const aw_server *srv);
AW_API bool aw_server_is_serving(const aw_server *srv);

/* UDP endpoints (asyncio's create_datagram_endpoint, as straight-line calls). */
typedef struct aw_udp aw_udp;
typedef struct aw_udp_opts {
    int family;                 /* AF_UNSPEC (0), AF_INET or AF_INET6 */
    bool reuse_port;            /* SO_REUSEPORT */
    bool broadcast;             /* SO_BROADCAST */
} aw_udp_opts;
/* A UDP socket bound to local_host:local_port (local_host NULL: none given, or
 * "0.0.0.0"/"::" when only a port is) and/or connected to remote_host:remote_port
 * (remote_host NULL: not connected). */
#define aw_udp_open(local_host, local_port, remote_host, remote_port, opts, out) \
    aw__udp_open((local_host), (local_port), (remote_host), (remote_port), (opts), (out), __FILE__, __LINE__)
AW_API int aw__udp_open(const char *local_host, int local_port, const char *remote_host, int remote_port,
                        const aw_udp_opts *opts, aw_udp **out, const char *file, int line);
/* Send a datagram to the connected peer. */
#define aw_udp_send(u, buf, n) aw__udp_sendto((u), (buf), (n), NULL, 0, __FILE__, __LINE__)
#define aw_udp_sendto(u, buf, n, addr, len) aw__udp_sendto((u), (buf), (n), (addr), (len), __FILE__, __LINE__)
/* Wait for a datagram: its size in *got (truncated to n); addr/len may be NULL. */
#define aw_udp_recv(u, buf, n, got) aw__udp_recvfrom((u), (buf), (n), (got), NULL, NULL, __FILE__, __LINE__)
#define aw_udp_recvfrom(u, buf, n, got, addr, len) \
    aw__udp_recvfrom((u), (buf), (n), (got), (addr), (len), __FILE__, __LINE__)
AW_API int aw__udp_sendto(aw_udp *u, const void *buf, size_t n, const struct sockaddr *addr, socklen_t len,
                          const char *file, int line);
AW_API int aw__udp_recvfrom(aw_udp *u, void *buf, size_t n, size_t *got, struct sockaddr *addr,
                            socklen_t *len, const char *file, int line);
/* The bound port, the socket's address, the fd. */
AW_API int aw_udp_port(const aw_udp *u);
AW_API int aw_udp_sockaddr(const aw_udp *u, struct sockaddr *addr, socklen_t *len);
AW_API int aw_udp_fd(const aw_udp *u);
/* Close the socket (a waiting task gets -EBADF) and free u. */
AW_API void aw_udp_close(aw_udp *u);

/* ------------------------------------------------------------------------ */
/* DNS (resolved on the thread pool's DNS lane)                              */
/* ------------------------------------------------------------------------ */

struct addrinfo;

/* getaddrinfo(3) without blocking the loop: the lookup runs on the thread pool's
 * DNS lane while the task waits. Numeric hosts (and a NULL host) are answered at
 * once, without a thread. 0 and *res (free it with freeaddrinfo), or -errno,
 * AW_EAI_* (AW_EAI_NONAME for a name that does not resolve), AW_ECANCELLED.
 * Cancellable: the task returns at once and an abandoned lookup finishes in the
 * pool, which frees its result. */
#define aw_getaddrinfo(host, port, hints, res) \
    aw__getaddrinfo((host), (port), (hints), (res), __FILE__, __LINE__)
AW_API int aw__getaddrinfo(const char *host, const char *port, const struct addrinfo *hints,
                           struct addrinfo **res, const char *file, int line);
/* getnameinfo(3) on the DNS lane: host and serv (either may be NULL) receive the
 * names of addr. Returns like aw_getaddrinfo. */
#define aw_getnameinfo(addr, len, host, hostlen, serv, servlen, flags) \
    aw__getnameinfo((addr), (len), (host), (hostlen), (serv), (servlen), (flags), __FILE__, __LINE__)
AW_API int aw__getnameinfo(const struct sockaddr *addr, socklen_t len, char *host, size_t hostlen,
                           char *serv, size_t servlen, int flags, const char *file, int line);
/* The aw code for a getaddrinfo(3) EAI_* result (EAI_SYSTEM gives -errno). */
AW_API int aw_gai_error(int eai);

/* ------------------------------------------------------------------------ */
/* Threads: the thread pool, to_thread, run_coroutine_threadsafe            */
/* ------------------------------------------------------------------------ */

/* The thread pool is the one thing aw shares across the process (every loop uses
 * it). It starts on first use with threads created on demand: up to
 * min(32, cores + 4) run aw_to_thread work, as asyncio's default executor, plus
 * one reserved thread for each of the file and DNS lanes, so no kind of work can
 * starve another. AW_THREADPOOL_SIZE in the environment overrides the base size. */

enum {
    AW_THREAD_ABANDON = 1,      /* a cancel returns at once; the late result is dropped */
};

/* Run fn(arg, &r) on a pool thread and suspend the task until it returns; its
 * return value is aw_to_thread's, r goes to *result. fn must not touch the loop
 * (use aw_loop_call_soon_threadsafe). Cancelling the task while fn runs waits
 * for fn to return (arg may live on the task's stack), then returns
 * AW_ECANCELLED with *result still set, so the caller can release it; a job that
 * had not started is simply dropped. */
#define aw_to_thread(fn, arg, result) aw__to_thread((fn), (arg), (result), 0, __FILE__, __LINE__)
/* aw_to_thread with flags. AW_THREAD_ABANDON: a cancel returns AW_ECANCELLED at
 * once; fn keeps running and what it returns is dropped, so arg must outlive
 * it (heap-owned) and fn must own any result it allocates. */
#define aw_to_thread_ex(fn, arg, result, flags) \
    aw__to_thread((fn), (arg), (result), (flags), __FILE__, __LINE__)
AW_API int aw__to_thread(aw_fn fn, void *arg, void **result, int flags, const char *file, int line);

/* The pool's base size (threads for aw_to_thread work); starts nothing. */
AW_API int aw_threadpool_size(void);

/* A handle to a coroutine submitted from another thread (concurrent.futures.Future). */
typedef struct aw_cfuture aw_cfuture;

/* From any thread but loop's own: run coro as a task on loop (which must be
 * running or about to run) and return a handle the calling thread can block on.
 * Consumes coro. NULL with errno: EINVAL, ENOMEM, EPIPE when the loop is closed. */
AW_API aw_cfuture *aw_run_coroutine_threadsafe(aw_loop *loop, aw_coro *coro);
/* Block the calling thread until the coroutine is done or timeout seconds pass
 * (< 0: no limit). Returns the coroutine's error and sets *result, or
 * AW_ETIMEDOUT (the coroutine keeps running), or -EDEADLK on loop's own thread. */
AW_API int aw_cfuture_wait(aw_cfuture *f, double timeout, void **result);
/* Request cancellation of the task (from any thread). 1 if requested, 0 if it
 * was already done. */
AW_API int aw_cfuture_cancel(aw_cfuture *f);
AW_API bool aw_cfuture_done(aw_cfuture *f);
/* Drop the caller's handle; the task is not cancelled. */
AW_API void aw_cfuture_release(aw_cfuture *f);

/* ------------------------------------------------------------------------ */
/* Subprocesses                                                              */
/* ------------------------------------------------------------------------ */

typedef struct aw_process aw_process;

/* What a child's stdin, stdout or stderr is connected to. */
enum aw_stdio {
    AW_INHERIT = 0,             /* the parent's own fd (the default) */
    AW_PIPE = 1,                /* a pipe, exposed as an aw_stream */
    AW_DEVNULL = 2,             /* /dev/null */
    AW_STDOUT = 3,              /* stderr only: wherever stdout goes */
    AW_FD = 4,                  /* the fd given in in_fd/out_fd/err_fd (not closed by aw) */
};

/* Options of aw_subprocess_exec/_shell. Zero-initialise: everything inherited. */
typedef struct aw_process_opts {
    int in, out, err;           /* enum aw_stdio */
    int in_fd, out_fd, err_fd;  /* with AW_FD */
    const char *const *env;     /* NULL-terminated "NAME=value" list; NULL: the parent's environment */
    const char *cwd;            /* NULL: the parent's */
    bool new_session;           /* setsid() in the child (start_new_session) */
    aw_stream_opts stream;      /* options of the pipe streams */
} aw_process_opts;

/* Start argv[0] (searched in PATH when it has no '/') with argv. Not a suspension
 * point. 0 and *out, or -errno: -ENOENT for a program that does not exist,
 * -EACCES, -ENOMEM, ... reported by this call itself. The child starts with an
 * empty signal mask and default dispositions; aw's fds are close-on-exec. */
AW_API int aw_subprocess_exec(const char *const argv[], const aw_process_opts *opts, aw_process **out);
/* Start "/bin/sh -c cmd". */
AW_API int aw_subprocess_shell(const char *cmd, const aw_process_opts *opts, aw_process **out);

AW_API pid_t aw_process_pid(const aw_process *p);
/* The pipe streams (AW_PIPE), or NULL. They belong to p (aw_process_free
 * closes them): to send EOF, aw_stream_write_eof(aw_process_stdin(p)). */
AW_API aw_stream *aw_process_stdin(aw_process *p);
AW_API aw_stream *aw_process_stdout(aw_process *p);
AW_API aw_stream *aw_process_stderr(aw_process *p);
/* The return code once the child has been waited for: 0 and *status (the exit
 * code, or -N when killed by signal N, as Python's returncode), AW_EINVALSTATE
 * while it runs. */
AW_API int aw_process_returncode(const aw_process *p, int *status);

/* Wait for the child to exit (seen through a pidfd), reap it and set *status as
 * aw_process_returncode. Cancellable; the child goes on running. */
#define aw_process_wait(p, status) aw__process_wait((p), (status), __FILE__, __LINE__)
AW_API int aw__process_wait(aw_process *p, int *status, const char *file, int line);
/* Write input (may be NULL) to the child's stdin and close it, while collecting
 * stdout and stderr (those that are AW_PIPE) until EOF, then wait for the child.
 * *out and *err (may be NULL) receive malloc'ed, NUL-terminated buffers the caller
 * frees. Returns 0 or an error; -EPIPE from a child that does not read its
 * input is ignored, as in asyncio. */
#define aw_process_communicate(p, input, len, out, outlen, err, errlen) \
    aw__process_communicate((p), (input), (len), (out), (outlen), (err), (errlen), __FILE__, __LINE__)
AW_API int aw__process_communicate(aw_process *p, const void *input, size_t len, char **out, size_t *outlen,
                                   char **err, size_t *errlen, const char *file, int line);
/* Send sig to the child (through its pidfd: never to a recycled pid). -ESRCH once
 * it has been reaped. */
AW_API int aw_process_send_signal(aw_process *p, int sig);
AW_API int aw_process_terminate(aw_process *p);    /* SIGTERM */
AW_API int aw_process_kill(aw_process *p);         /* SIGKILL */
/* Close the pipes and free p (no task may be waiting on it). A child still
 * running is not killed: it is reaped in the background when it exits, never
 * left a zombie. A handle whose loop closed first is detached: its child went
 * to the background reaper, and waits and signals give AW_ECLOSED. */
AW_API void aw_process_free(aw_process *p);

/* ------------------------------------------------------------------------ */
/* Signals                                                                   */
/* ------------------------------------------------------------------------ */

/* Signals reach aw through sigaction handlers that wake the loop (no signalfd:
 * its blocked mask would leak into children). The handled signals must not be
 * blocked in every thread. */

/* Suspend until one of the signals in set arrives; *signo receives it. The first
 * wait for a signal installs aw's handler for it, which then stays until the
 * loop closes: a signal that arrives while nobody waits is kept (once, as the
 * kernel's pending set) for the next wait. -EINVAL for an empty set or one with
 * SIGKILL/SIGSTOP. */
#define aw_signal_wait(set, signo) aw__signal_wait((set), (signo), __FILE__, __LINE__)
AW_API int aw__signal_wait(const sigset_t *set, int *signo, const char *file, int line);

typedef void (*aw_signal_cb)(int signo, void *arg);
/* asyncio's loop.add_signal_handler: run cb(signo, arg) on loop's thread each
 * time sig arrives (deliveries that arrive together are coalesced, as the kernel
 * does). Replaces this loop's earlier handler for sig. The previous disposition
 * comes back when the last handler goes or the loop closes. Call it on loop's
 * thread. 0, -EINVAL (SIGKILL, SIGSTOP, out of range), -ENOMEM. */
AW_API int aw_loop_add_signal_handler(aw_loop *loop, int sig, aw_signal_cb cb, void *arg);
/* 1 if a handler was removed, 0 if there was none, -EINVAL. */
AW_API int aw_loop_remove_signal_handler(aw_loop *loop, int sig);

/* ------------------------------------------------------------------------ */
/* Files (on the thread pool's file lane)                                    */
/* ------------------------------------------------------------------------ */

/* Regular files cannot be polled, so these run the system call on a pool thread
 * while the task waits. A cancel that arrives while the call runs waits for it
 * and returns its real result (no byte is lost); the cancel is seen at the next
 * suspension point. Bytes go to *done (may be NULL). */
#define aw_file_open(path, flags, mode, fd) aw__file_open((path), (flags), (mode), (fd), __FILE__, __LINE__)
#define aw_file_read(fd, buf, n, done) aw__file_rw(0, (fd), (buf), (n), -1, (done), __FILE__, __LINE__)
#define aw_file_write(fd, buf, n, done) aw__file_rw(1, (fd), (void *)(buf), (n), -1, (done), __FILE__, __LINE__)
#define aw_file_pread(fd, buf, n, off, done) aw__file_rw(0, (fd), (buf), (n), (off), (done), __FILE__, __LINE__)
#define aw_file_pwrite(fd, buf, n, off, done) \
    aw__file_rw(1, (fd), (void *)(buf), (n), (off), (done), __FILE__, __LINE__)
#define aw_file_fsync(fd) aw__file_fsync((fd), __FILE__, __LINE__)
/* Close fd; always closes it, even in a cancelled task. */
#define aw_file_close(fd) aw__file_close((fd), __FILE__, __LINE__)
/* open(2) with O_CLOEXEC added: 0 and *fd, or -errno. */
AW_API int aw__file_open(const char *path, int flags, mode_t mode, int *fd, const char *file, int line);
/* read/write (off < 0) or pread/pwrite (off >= 0): one call, which may be short;
 * 0 bytes read means end of file. */
AW_API int aw__file_rw(int write, int fd, void *buf, size_t n, off_t off, size_t *done,
                       const char *file, int line);
AW_API int aw__file_fsync(int fd, const char *file, int line);
AW_API int aw__file_close(int fd, const char *file, int line);
/* The whole file at path in one malloc'ed, NUL-terminated buffer (*len bytes). */
#define aw_file_read_all(path, data, len) aw__file_read_all((path), (data), (len), __FILE__, __LINE__)
AW_API int aw__file_read_all(const char *path, char **data, size_t *len, const char *file, int line);

/* ------------------------------------------------------------------------ */
/* Combinators: gather, wait, wait_for, as_completed, shield, timeouts       */
/* ------------------------------------------------------------------------ */

/* Timeouts in this section are seconds on the loop clock: AW_FOREVER means no
 * timeout, zero or less means "already expired" (as asyncio, so a computed
 * remaining time that goes negative never turns into "wait forever"). */
#define AW_FOREVER (__builtin_inf())

/* The combinators take a coroutine, a task or a future. These macros check the
 * type at compile time (anything else fails to compile, as aw_await). */
#ifdef __cplusplus
} /* extern "C" */
static inline void *aw__awaitable(aw_coro *x) { return (void *)x; }
static inline void *aw__awaitable(aw_task *x) { return (void *)x; }
static inline void *aw__awaitable(aw_future *x) { return (void *)x; }
#define AW__AWAITABLE(x) aw__awaitable(x)
extern "C" {
#else
#define AW__AWAITABLE(x) _Generic((x),                                      \
        aw_coro *: (void *)(x), aw_task *: (void *)(x), aw_future *: (void *)(x))
#endif

enum {
    AW_RETURN_EXCEPTIONS = 1,   /* aw_gather: wait for every child; errors land in errors[i] */
};

/* asyncio.gather: run n awaitables (aw_coro *, aw_task * or aw_future *, mixed,
 * checked at run time) concurrently; coroutines are wrapped in tasks. Waits for
 * all of them and puts results[i] (may be NULL) in input order. Without
 * AW_RETURN_EXCEPTIONS the first child error (AW_ECANCELLED included) is
 * returned at once and the other children keep running; their late results are
 * never written to the caller's arrays. With it, every child's error lands in
 * errors[i] (0 on success; errors must not be NULL) and gather returns 0.
 * errors (may be NULL otherwise) always gets each child's error, AW_EINVALSTATE
 * for a child still running at an early return. Cancelling the task in gather
 * cancels every child. n = 0 returns 0 at once. Consumes every coroutine, even on
 * failure. -EINVAL (NULL array or element), AW_ENOTAWAITABLE, AW_EREUSED,
 * AW_EWRONGLOOP, -ENOMEM, AW_ENOTASK, AW_ECANCELLED. */
#define aw_gather(n, aws, results, errors, flags) \
    aw__gather((n), (aws), (results), (errors), (flags), __FILE__, __LINE__)
AW_API int aw__gather(size_t n, void *const *aws, void **results, int *errors, int flags,
                      const char *file, int line);

enum aw_return_when {
    AW_FIRST_COMPLETED = 1,     /* as soon as any is done */
    AW_FIRST_EXCEPTION = 2,     /* as soon as any fails (not cancelled), else when all are done */
    AW_ALL_COMPLETED = 3,       /* when all are done */
};

/* asyncio.wait: wait on n tasks or futures (not coroutines: AW_ENOTAWAITABLE,
 * and the coroutine is closed) until return_when holds or timeout passes. Never
 * fails with a timeout: returns how many are done (>= 0), with the done ones in
 * done_out and the others in pending_out (each may be NULL, else room for n),
 * in input order. Errors are not retrieved. Cancelling it leaves the awaitables
 * alone. -EINVAL for n = 0, a NULL array, a bad return_when or a NaN timeout. */
#define aw_wait(n, aws, timeout, return_when, done_out, pending_out) \
    aw__wait((n), (aws), (timeout), (return_when), (done_out), (pending_out), __FILE__, __LINE__)
AW_API int aw__wait(size_t n, void *const *aws, double timeout, int return_when,
                    void **done_out, void **pending_out, const char *file, int line);

/* asyncio.wait_for: await x (aw_coro *, aw_task * or aw_future *) for at most
 * seconds. A coroutine runs inline under a deadline scope (no task). On timeout
 * the inner work is cancelled and waited for, then AW_ETIMEDOUT. seconds <= 0
 * does not start a coroutine at all (AW_ETIMEDOUT). A cancel of the caller
 * cancels the inner work too (and waits for it). Otherwise x's error and *result. */
#define aw_wait_for(x, seconds, result) \
    aw__wait_for(AW__AWAITABLE(x), (seconds), (result), __FILE__, __LINE__)
AW_API int aw__wait_for(void *x, double seconds, void **result, const char *file, int line);

/* asyncio.shield: await x, but a cancel of the caller does not reach x. The
 * caller sees AW_ECANCELLED at once while the inner work goes on (a coroutine
 * runs in a task that the loop keeps until it ends; its error is then marked
 * retrieved, as asyncio does). Otherwise x's error and *result. */
#define aw_shield(x, result) aw__shield(AW__AWAITABLE(x), (result), __FILE__, __LINE__)
AW_API int aw__shield(void *x, void **result, const char *file, int line);

/* asyncio.as_completed, as an iterator on the caller's stack:
 *
 *     aw_as_completed it;
 *     void *x;
 *     int rc = aw_as_completed_begin(&it, n, aws, 5.0);
 *     while (rc >= 0 && (rc = aw_as_completed_next(&it, &x)) > 0) { aw_await_any(x, &r); ... }
 *     aw_as_completed_end(&it);
 *
 * begin wraps coroutines in tasks (owned by the iterator until end) and starts
 * the overall timeout. next returns 1 with the next awaitable to finish (a task
 * or future given, or the task made for a coroutine), 0 once all were yielded,
 * AW_ETIMEDOUT (once for each one left) after the timeout, or AW_ECANCELLED.
 * end is always needed after a successful begin; work still running goes on. */
typedef struct aw_as_completed {
    struct aw__ac_state *_st;   /* on the heap: completions never touch the caller's stack */
    size_t _n, _left;
    double _deadline;
} aw_as_completed;
#define aw_as_completed_begin(it, n, aws, timeout) \
    aw__as_completed_begin((it), (n), (aws), (timeout), __FILE__, __LINE__)
AW_API int aw__as_completed_begin(aw_as_completed *it, size_t n, void *const *aws, double timeout,
                                  const char *file, int line);
#define aw_as_completed_next(it, out) aw__as_completed_next((it), (out), __FILE__, __LINE__)
AW_API int aw__as_completed_next(aw_as_completed *it, void **out, const char *file, int line);
AW_API void aw_as_completed_end(aw_as_completed *it);

/* asyncio.timeout / timeout_at, over cancel scopes: begin a scope on the
 * caller's stack with a deadline seconds from now (AW_FOREVER: none; <= 0:
 * expired at once) or at the loop time when. Every suspension inside fails with
 * AW_ECANCELLED once it expires; aw_timeout_end returns AW_ETIMEDOUT when it did
 * (and cancelled something), else 0. Nestable: the innermost expired scope is
 * the one that reports. 0, AW_ENOTASK, -EINVAL (NaN; the scope is not begun). */
#define aw_timeout(s, seconds) aw__timeout((s), (seconds), __FILE__, __LINE__)
#define aw_timeout_at(s, when) aw__timeout_at((s), (when), __FILE__, __LINE__)
AW_API int aw__timeout(aw_scope *s, double seconds, const char *file, int line);
AW_API int aw__timeout_at(aw_scope *s, double when, const char *file, int line);
/* Move the deadline to the loop time when (AW_FOREVER: none). AW_EINVALSTATE if
 * s was never begun or has already expired; -EINVAL for NaN. */
AW_API int aw_timeout_reschedule(aw_scope *s, double when);
/* True once the deadline has passed (and cancelled the scope). */
AW_API bool aw_timeout_expired(const aw_scope *s);
/* The deadline (AW_FOREVER when none). */
AW_API double aw_timeout_when(const aw_scope *s);
/* Leave the scope: AW_ETIMEDOUT if its deadline expired and cancelled a
 * suspension inside it, else 0 (AW_EINVALSTATE: not the innermost scope). */
AW_API int aw_timeout_end(aw_scope *s);

/* ------------------------------------------------------------------------ */
/* TaskGroup (structured concurrency)                                        */
/* ------------------------------------------------------------------------ */

/* One failed child, as an entry of asyncio's ExceptionGroup. */
typedef struct aw_group_error {
    char *task_name;            /* a copy (NULL if memory ran out) */
    int error;
    char *message;              /* the child's aw_raise message, or NULL */
} aw_group_error;

/* asyncio.TaskGroup, on the caller's stack:
 *
 *     aw_group g;
 *     aw_group_begin(&g);
 *     aw_group_spawn(&g, aw_coro(fetch, a), "a");
 *     aw_group_spawn(&g, aw_coro(fetch, b), "b");
 *     int err = aw_group_end(&g);       // waits for every child
 *     ...aw_group_errors(&g, &n)...
 *     aw_group_clear(&g);               // frees the error list, if any
 *
 * The group is a cancel scope of the task that begins it: the first child that
 * fails (other than by a cancel) cancels every other child and the body, whose
 * next suspension returns AW_ECANCELLED until aw_group_end. A cancel from
 * outside reaches the body; aw_group_end then cancels every child. Children
 * never outlive the group: aw_group_end waits for all of them, and a group left
 * open by an early return is reported (and its children cancelled). */
typedef struct aw_group {
    aw_scope _scope;
    struct aw__group *_st;      /* children and bookkeeping, from the first spawn to the end */
    aw_group_error *_errors;    /* after aw_group_end */
    size_t _nerrors;
    unsigned _flags;
} aw_group;

/* Begin the group in the running task: 0 or AW_ENOTASK. */
#define aw_group_begin(g) aw__group_begin((g), __FILE__, __LINE__)
AW_API int aw__group_begin(aw_group *g, const char *file, int line);
/* Run c as a child task named name (may be NULL). Returns the task, borrowed: it
 * stays valid until aw_group_end returns (aw_task_ref it to keep it longer).
 * NULL with errno: EINVAL (NULL, or the group is not open), ECANCELED (the group
 * is shutting down after a failure or aw_group_cancel), ENOMEM. Consumes c. */
AW_API aw_task *aw_group_spawn(aw_group *g, aw_coro *c, const char *name);
/* Wait for every child, then leave the group's scope. Cancels the children
 * first if the body is cancelled. Returns the first child error (in completion
 * order; all are in aw_group_errors), else AW_ECANCELLED when a cancel from
 * outside is pending, else 0. The group's own cancellation never escapes it. */
#define aw_group_end(g) aw__group_end((g), __FILE__, __LINE__)
AW_API int aw__group_end(aw_group *g, const char *file, int line);
/* Cancel the body and every child (Trio's nursery.cancel_scope.cancel()); the
 * group's own cancel is not an error: aw_group_end returns 0 if no child failed. */
AW_API void aw_group_cancel(aw_group *g);
/* The children's errors so far (after aw_group_end: all of them), in completion
 * order; cancelled children are not errors. *count may be NULL. */
AW_API const aw_group_error *aw_group_errors(const aw_group *g, size_t *count);
/* Free the error list kept by aw_group_end (a no-op when there is none). */
AW_API void aw_group_clear(aw_group *g);

/* ------------------------------------------------------------------------ */
/* Synchronization: Lock, Event, Condition, Semaphore, Barrier               */
/* ------------------------------------------------------------------------ */

/* Common rules. Waiters are served in FIFO order. Every call that can suspend
 * is a suspension point: in a cancelled task it fails with AW_ECANCELLED at
 * once (even when it would not have to wait), and a waiter that is cancelled
 * never consumes what was meant for another: a permit, an item or a wake-up
 * handed to it just before the cancel goes to the next waiter. A primitive binds
 * to the loop that first waits on it; a call from another loop fails with
 * AW_EWRONGLOOP. They are not thread-safe (as asyncio's). The static
 * initialisers need no _free; _new/_free allocate. Freeing a primitive tasks
 * still wait on is refused (reported through the loop's exception handler). */

struct aw__sync_waiter;
typedef struct aw__waitq { struct aw__sync_waiter *_head, *_tail; } aw__waitq;

/* asyncio.Lock. */
typedef struct aw_lock {
    aw__waitq _waiters;
    uint64_t _loop;
    bool _locked;
} aw_lock;
#define AW_LOCK_INIT { { 0, 0 }, 0, 0 }
AW_API aw_lock *aw_lock_new(void);
AW_API void aw_lock_free(aw_lock *l);
/* Acquire the lock, waiting in FIFO order: 0, AW_ECANCELLED, AW_ENOTASK, ... */
#define aw_lock_acquire(l) aw__lock_acquire((l), __FILE__, __LINE__)
AW_API int aw__lock_acquire(aw_lock *l, const char *file, int line);
/* Release it (to the first waiter, if any): 0, or AW_EINVALSTATE when it is not
 * locked. As asyncio, any task may release it. */
AW_API int aw_lock_release(aw_lock *l);
AW_API bool aw_lock_locked(const aw_lock *l);

/* asyncio.Event. */
typedef struct aw_event {
    aw__waitq _waiters;
    uint64_t _loop;
    bool _set;
} aw_event;
#define AW_EVENT_INIT { { 0, 0 }, 0, 0 }
AW_API aw_event *aw_event_new(void);
AW_API void aw_event_free(aw_event *e);
/* Set the flag and wake every waiter. */
AW_API int aw_event_set(aw_event *e);
AW_API void aw_event_clear(aw_event *e);
AW_API bool aw_event_is_set(const aw_event *e);
/* Wait until the flag is set: 0 (at once if it is), AW_ECANCELLED, ... */
#define aw_event_wait(e) aw__event_wait((e), __FILE__, __LINE__)
AW_API int aw__event_wait(aw_event *e, const char *file, int line);

/* asyncio.Condition, on a lock (its own, or one shared with other conditions). */
typedef struct aw_condition {
    aw__waitq _waiters;
    uint64_t _loop;
    aw_lock *_lock;             /* NULL: _own */
    aw_lock _own;
} aw_condition;
/* A condition with its own lock. */
#define AW_CONDITION_INIT { { 0, 0 }, 0, 0, AW_LOCK_INIT }
/* A condition on the lock at address lockp. */
#define AW_CONDITION_INIT_LOCK(lockp) { { 0, 0 }, 0, (lockp), AW_LOCK_INIT }
/* lock NULL: the condition makes its own. */
AW_API aw_condition *aw_condition_new(aw_lock *lock);
AW_API void aw_condition_free(aw_condition *c);
/* The underlying lock's acquire/release/locked. */
#define aw_condition_acquire(c) aw__condition_acquire((c), __FILE__, __LINE__)
AW_API int aw__condition_acquire(aw_condition *c, const char *file, int line);
AW_API int aw_condition_release(aw_condition *c);
AW_API bool aw_condition_locked(const aw_condition *c);
/* Release the lock, wait for a notify, re-acquire the lock (always, even when
 * cancelled: the lock is held when it returns, except for AW_EINVALSTATE).
 * 0 when notified; AW_ECANCELLED (a notify it had received goes to the next
 * waiter); AW_EINVALSTATE when the lock is not held. */
#define aw_condition_wait(c) aw__condition_wait((c), __FILE__, __LINE__)
AW_API int aw__condition_wait(aw_condition *c, const char *file, int line);
/* Wait until pred(arg) is true (checked first, then after each notify), as
 * asyncio's wait_for(predicate). 0 or an error of aw_condition_wait. */
#define aw_condition_wait_for(c, pred, arg) aw__condition_wait_for((c), (pred), (arg), __FILE__, __LINE__)
AW_API int aw__condition_wait_for(aw_condition *c, bool (*pred)(void *arg), void *arg,
                                  const char *file, int line);
/* Wake up to n waiters (the lock must be held: else AW_EINVALSTATE). Returns how
 * many were woken. */
AW_API int aw_condition_notify(aw_condition *c, int n);
AW_API int aw_condition_notify_all(aw_condition *c);

/* asyncio.Semaphore and BoundedSemaphore. */
typedef struct aw_semaphore {
    aw__waitq _waiters;
    uint64_t _loop;
    long _value;
    long _bound;                /* BoundedSemaphore's initial value, -1 for a plain one */
} aw_semaphore;
#define AW_SEMAPHORE_INIT(value) { { 0, 0 }, 0, (value), -1 }
#define AW_BOUNDED_SEMAPHORE_INIT(value) { { 0, 0 }, 0, (value), (value) }
/* NULL with errno = EINVAL for a negative value, ENOMEM. */
AW_API aw_semaphore *aw_semaphore_new(long value);
AW_API aw_semaphore *aw_bounded_semaphore_new(long value);
AW_API void aw_semaphore_free(aw_semaphore *s);
/* Take a permit, waiting in FIFO order when there is none (or others wait). */
#define aw_semaphore_acquire(s) aw__semaphore_acquire((s), __FILE__, __LINE__)
AW_API int aw__semaphore_acquire(aw_semaphore *s, const char *file, int line);
/* Give a permit back (to the first waiter, if any). A bounded semaphore
 * refuses to go above its initial value: AW_EOVERFLOW (asyncio's ValueError). */
AW_API int aw_semaphore_release(aw_semaphore *s);
/* True when acquire would wait. */
AW_API bool aw_semaphore_locked(const aw_semaphore *s);
/* The permits available now. */
AW_API long aw_semaphore_value(const aw_semaphore *s);

/* asyncio.Barrier. */
typedef struct aw_barrier {
    aw__waitq _waiters;
    uint64_t _loop;
    int _parties;
    int _count;                 /* tasks inside wait */
    int _state;                 /* filling, draining, resetting, broken */
} aw_barrier;
#define AW_BARRIER_INIT(parties) { { 0, 0 }, 0, (parties), 0, 0 }
/* NULL with errno = EINVAL when parties < 1, ENOMEM. */
AW_API aw_barrier *aw_barrier_new(int parties);
AW_API void aw_barrier_free(aw_barrier *b);
/* Wait until parties tasks are waiting, then release them all. Returns this
 * task's arrival index (0 .. parties-1), or AW_EBROKEN (the barrier was
 * aborted, or reset while waiting), AW_ECANCELLED (the barrier does not break:
 * the task just leaves it), -EINVAL. */
#define aw_barrier_wait(b) aw__barrier_wait((b), __FILE__, __LINE__)
AW_API int aw__barrier_wait(aw_barrier *b, const char *file, int line);
/* Back to the empty state; tasks waiting get AW_EBROKEN. Not a suspension point
 * (asyncio's reset and abort are coroutines only to take an internal lock). */
AW_API int aw_barrier_reset(aw_barrier *b);
/* Break the barrier: waiting and future waits fail with AW_EBROKEN until reset. */
AW_API int aw_barrier_abort(aw_barrier *b);
AW_API int aw_barrier_parties(const aw_barrier *b);
/* Tasks waiting for the barrier to fill. */
AW_API int aw_barrier_n_waiting(const aw_barrier *b);
AW_API bool aw_barrier_broken(const aw_barrier *b);

/* ------------------------------------------------------------------------ */
/* Queues                                                                    */
/* ------------------------------------------------------------------------ */

/* asyncio.Queue, LifoQueue and PriorityQueue of void * items. */
typedef struct aw_queue aw_queue;

/* Orders a priority queue: < 0 when item a comes out before b. Items that
 * compare equal come out in the order they were put. */
typedef int (*aw_compare_fn)(const void *a, const void *b);

/* A queue holding at most maxsize items (0: unbounded). NULL with errno =
 * EINVAL for a negative maxsize (asyncio would treat it as unbounded) or a NULL
 * cmp, ENOMEM. */
AW_API aw_queue *aw_queue_new(long maxsize);
AW_API aw_queue *aw_queue_new_lifo(long maxsize);
AW_API aw_queue *aw_queue_new_priority(long maxsize, aw_compare_fn cmp);
/* Set a function that frees items the queue drops: at aw_queue_shutdown(q,
 * true) and for items still inside at aw_queue_free. */
AW_API void aw_queue_set_item_free(aw_queue *q, void (*item_free)(void *item));
AW_API void aw_queue_free(aw_queue *q);

/* Put item, waiting for a free slot: 0, AW_ESHUTDOWN, AW_ECANCELLED, -ENOMEM. */
#define aw_queue_put(q, item) aw__queue_put((q), (item), __FILE__, __LINE__)
AW_API int aw__queue_put(aw_queue *q, void *item, const char *file, int line);
/* Take the next item into *item, waiting for one: 0, AW_ESHUTDOWN (shut down
 * and empty, or shut down immediately), AW_ECANCELLED (no item is taken). */
#define aw_queue_get(q, item) aw__queue_get((q), (item), __FILE__, __LINE__)
AW_API int aw__queue_get(aw_queue *q, void **item, const char *file, int line);
/* Without waiting: AW_EQUEUEFULL / AW_EQUEUEEMPTY instead. */
AW_API int aw_queue_put_nowait(aw_queue *q, void *item);
AW_API int aw_queue_get_nowait(aw_queue *q, void **item);
AW_API size_t aw_queue_qsize(const aw_queue *q);
AW_API bool aw_queue_empty(const aw_queue *q);
AW_API bool aw_queue_full(const aw_queue *q);
AW_API size_t aw_queue_maxsize(const aw_queue *q);
/* One item taken by get is fully processed. AW_EOVERFLOW when called more
 * times than items were put (asyncio's ValueError). */
AW_API int aw_queue_task_done(aw_queue *q);
/* Wait until every item put has been taken and marked done. */
#define aw_queue_join(q) aw__queue_join((q), __FILE__, __LINE__)
AW_API int aw__queue_join(aw_queue *q, const char *file, int line);
/* Shut the queue down (3.13): puts fail with AW_ESHUTDOWN; gets drain what is
 * left, then fail with AW_ESHUTDOWN. immediate: drop the items now (to the item
 * free function, if set; each counts as done for join). Every waiting put and
 * get is woken. */
AW_API void aw_queue_shutdown(aw_queue *q, bool immediate);
AW_API bool aw_queue_is_shutdown(const aw_queue *q);

/* ------------------------------------------------------------------------ */
/* Debugging (src/debug/, tools/aw.c)                                        */
/* ------------------------------------------------------------------------ */

/* Debug mode (AW_DEBUG=1, aw_loop_set_debug, aw_run_opts.debug) adds:
 *  - slow steps: a task step or callback longer than the slow-callback duration
 *    is reported, "Executing <Task 'NAME' at FILE:LINE> took 0.512 seconds",
 *    with where the step began and where it suspended;
 *  - a watchdog thread that reports a loop stuck in one step for longer than
 *    the watchdog period (1 s; AW_WATCHDOG=seconds), while it is stuck;
 *  - each task's stack high-water mark (stacks are filled with a pattern, so
 *    every page of a stack becomes resident), and a report at the end of a task
 *    that used more than 75 % of its stack;
 *  - a report of loop APIs called from another thread than the running loop's
 *    (they fail with AW_EWRONGTHREAD), of tasks released while pending that
 *    nobody ever awaited, and of resources (streams, servers, sockets,
 *    subprocesses) still open when the loop closes.
 * Reports go to the loop's exception handler. The watchdog's report and the
 * foreign-thread report reach it from the watchdog's or the calling thread:
 * a custom handler must be thread-safe for them. */

/* Print where task t is, like asyncio's Task.print_stack(): its name, state,
 * and its chain of inline coroutines, outermost first. On t's loop thread:
 * 0, -EINVAL, AW_EWRONGTHREAD. */
AW_API int aw_task_print_stack(aw_task *t, FILE *out);

/* Debug mode's slow-step threshold (asyncio's slow_callback_duration):
 * 0.1 s by default. -EINVAL for a negative or NaN value. */
AW_API int aw_loop_set_slow_callback_duration(aw_loop *loop, double seconds);
AW_API double aw_loop_get_slow_callback_duration(const aw_loop *loop);

/* Debug mode's watchdog: report a step that has run for more than seconds
 * while it still runs (0 turns it off; default 1 s or AW_WATCHDOG). The
 * watchdog is a thread started at the loop's first step in debug mode; it
 * reads only what the loop publishes for it. 0, -EINVAL, -ENOMEM. */
AW_API int aw_loop_set_watchdog(aw_loop *loop, double seconds);

/* Serve the loop's task dump on a Unix socket at path (NULL: stop serving), as
 * AW_DEBUG_SOCKET=path does for the first loop that runs ("%p" in the path
 * becomes the process id). `aw ps PATH`, `aw pstree PATH` and `aw stats PATH`
 * read it. A helper thread accepts the connections; the dump itself is built
 * on the loop's thread between steps, so a busy loop is never interrupted:
 * when the loop does not answer within a second, the reply says which step
 * it is stuck in (debug mode publishes it). AW_DUMP_SIGNAL=USR1 (or another
 * signal name or number) likewise prints the tree to stderr on that signal.
 * 0, -EINVAL, -EADDRINUSE (a live server answers at path), -errno. */
AW_API int aw_loop_serve_debug(aw_loop *loop, const char *path);

/* ------------------------------------------------------------------------ */
/* TLS (src/io/tls.c, on OpenSSL)                                            */
/* ------------------------------------------------------------------------ */

/* TLS sits under a stream: aw_open_connection and aw_start_server take a
 * config in their options (opts.tls), aw_stream_start_tls upgrades a plain
 * stream in place (STARTTLS), and from then on every stream call (read,
 * readline, readuntil, write, drain, write_eof, close) works the same on the
 * encrypted connection. Handshake, reads, writes and the close_notify at close
 * are suspension points: they honour cancellation and deadlines.
 *
 * OpenSSL is optional at build time: without it aw_tls_available() is false,
 * aw_tls_config_new fails with errno ENOTSUP and every other TLS call returns
 * -ENOTSUP.
 *
 * A config is reference-counted and becomes immutable at its first use (when
 * a connection, a server or aw_stream_start_tls takes it): setters then fail
 * with AW_EINVALSTATE. It may be freed as soon as it has been handed over, and
 * one config may be shared by several loops and threads.
 *
 * Errors: AW_ETLSVERIFY ("certificate verify failed: ...", also for a hostname
 * mismatch), AW_ETLS for protocol errors (OpenSSL's reason in the message),
 * -ECONNRESET for a peer that closes during the handshake, AW_ETIMEDOUT when
 * the handshake takes longer than the handshake timeout. The message comes
 * through aw_raise (aw_task_error_message). */
typedef struct aw_tls_config aw_tls_config;

enum aw_tls_role { AW_TLS_CLIENT = 0, AW_TLS_SERVER = 1 };

/* Peer verification (Python's ssl.CERT_*). */
enum aw_tls_verify {
    AW_TLS_VERIFY_NONE = 0,      /* client: accept any certificate; server: ask for none (server default) */
    AW_TLS_VERIFY_OPTIONAL = 1,  /* server: ask for a client certificate and verify one if given */
    AW_TLS_VERIFY_REQUIRED = 2,  /* client default: verify the server; server: require a client certificate */
};

enum aw_tls_version { AW_TLS_1_2 = 0x0303, AW_TLS_1_3 = 0x0304 };

/* True when aw was built with OpenSSL. */
AW_API bool aw_tls_available(void);

/* A new config for role (AW_TLS_CLIENT or AW_TLS_SERVER) with one reference.
 * Defaults: TLS 1.2 minimum; clients verify the server's certificate and
 * hostname against the system trust store unless a CA is set; handshake
 * timeout 60 s, shutdown timeout 30 s (asyncio's); no ALPN; no client session
 * cache. NULL with errno = EINVAL, ENOMEM, ENOTSUP (no OpenSSL). */
AW_API aw_tls_config *aw_tls_config_new(int role);
/* Take another reference (returns c). */
AW_API aw_tls_config *aw_tls_config_ref(aw_tls_config *c);
/* Drop a reference; the last one frees c. NULL is ignored. */
AW_API void aw_tls_config_free(aw_tls_config *c);
/* The message of the last setter that failed on c ("" if none). */
AW_API const char *aw_tls_config_error(const aw_tls_config *c);

/* Trust the CAs in cafile (PEM) and/or the hashed directory capath (either may
 * be NULL). 0, -EINVAL, -ENOENT, AW_ETLS (unreadable). */
AW_API int aw_tls_config_set_ca(aw_tls_config *c, const char *cafile, const char *capath);
/* Trust the system's default store as well (a client does so by itself when
 * no CA is set). */
AW_API int aw_tls_config_load_default_ca(aw_tls_config *c);
/* Our certificate chain (PEM, leaf first) and private key (PEM; NULL: in the
 * chain file). Required for a server. -ENOENT, AW_ETLS (bad file, key does
 * not match the certificate). */
AW_API int aw_tls_config_set_cert(aw_tls_config *c, const char *chain_file, const char *key_file);
/* enum aw_tls_verify. */
AW_API int aw_tls_config_set_verify(aw_tls_config *c, int mode);
/* Client: check that the server's certificate is valid for the name it was
 * reached by (on by default; off has no effect with AW_TLS_VERIFY_NONE). */
AW_API int aw_tls_config_set_check_hostname(aw_tls_config *c, bool on);
/* Client: the name sent as SNI and checked against the certificate, instead of
 * the host given to aw_open_connection (asyncio's server_hostname). IP literals
 * are checked as addresses and never sent as SNI. */
AW_API int aw_tls_config_set_server_name(aw_tls_config *c, const char *name);
/* ALPN protocols in order of preference ("h2", "http/1.1"); each 1-255 bytes.
 * A server picks its first that the client offers, and none when there is no
 * overlap. n = 0 clears the list. */
AW_API int aw_tls_config_set_alpn(aw_tls_config *c, const char *const *protos, size_t n);
/* Lowest protocol version accepted: AW_TLS_1_2 (default) or AW_TLS_1_3. */
AW_API int aw_tls_config_set_min_version(aw_tls_config *c, int version);
/* Client: keep up to max_entries sessions (one per peer address and server
 * name) and offer them on later connections to resume without a full
 * handshake. 0 (default) keeps none. A TLS 1.3 ticket arrives after the
 * handshake and is taken when the connection next reads. */
AW_API int aw_tls_config_set_session_cache(aw_tls_config *c, size_t max_entries);
/* Handshake and shutdown timeouts in seconds (> 0; INFINITY for none):
 * asyncio's ssl_handshake_timeout (60) and ssl_shutdown_timeout (30). The
 * shutdown timeout bounds the final send of a closing stream and its
 * close_notify, which run shielded from cancellation. */
AW_API int aw_tls_config_set_timeouts(aw_tls_config *c, double handshake, double shutdown);

/* Upgrade a plain stream to TLS in place (asyncio's StreamWriter.start_tls):
 * what is queued is sent first, bytes already buffered past the plain part are
 * fed to TLS, then the handshake runs in the role of config (client: verify
 * against server_hostname, or the config's server name when NULL). On failure
 * the stream is closed (its handle stays valid: close it) and later calls give
 * the error. AW_EINVALSTATE (already TLS, closing, half-closed), AW_EBUSY
 * (another task is reading), handshake errors. */
#define aw_stream_start_tls(s, config, server_hostname) \
    aw__stream_start_tls((s), (config), (server_hostname), __FILE__, __LINE__)
AW_API int aw__stream_start_tls(aw_stream *s, aw_tls_config *config, const char *server_hostname,
                                const char *file, int line);

/* What was negotiated on a TLS stream (asyncio's get_extra_info("ssl_object")). */
typedef struct aw_tls_info {
    const char *version;        /* "TLSv1.3" (static) */
    const char *cipher;         /* "TLS_AES_256_GCM_SHA384" (static) */
    char alpn[256];             /* the ALPN protocol chosen, "" if none */
    char server_name[256];      /* client: the name verified; server: the SNI the client sent; "" if none */
    char peer_subject[256];     /* the peer certificate's subject, one line; "" if none */
    bool peer_verified;         /* the peer presented a certificate and it was verified */
    bool session_reused;        /* resumed without a full handshake */
    bool clean_eof;             /* the stream ended with the peer's close_notify; false while
                                   open, or when the peer just closed (a truncation would look so) */
} aw_tls_info;

AW_API bool aw_stream_is_tls(const aw_stream *s);
/* 0 and *out; -EINVAL for a plain stream, AW_EINVALSTATE before the handshake is done. */
AW_API int aw_stream_tls_info(const aw_stream *s, aw_tls_info *out);

#ifdef __cplusplus
}
#endif

#endif /* AW_H */
