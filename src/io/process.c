/* Subprocesses: posix_spawn with a clean signal state, exit seen through a pidfd, a background reaper. */
#include "internal.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/pidfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/*
 * A child is started with posix_spawn (glibc's uses clone(CLONE_VM|CLONE_VFORK):
 * no fork() of a process that may have a million task stacks mapped), with an
 * empty signal mask and SIGPIPE back to its default, and it reports exec errors
 * (-ENOENT) to the caller directly. Its exit is seen through a pidfd, which the
 * loop's epoll watches like any fd, and which also makes signals safe against
 * pid reuse.
 *
 * A child that outlives its handle or its loop is handed to the reaper: one
 * process-wide thread, started on first need, that polls the pidfds of such
 * orphans and reaps each when it exits, so none is left a zombie, and none is
 * killed.
 */

enum { NO_STATUS = INT32_MIN };

struct aw_process {
    pid_t pid;
    int pidfd;                  /* -1: kernel without pidfd_open; waits poll waitpid */
    aw_loop *loop;              /* NULL once the loop closed (detached) */
    aw_stream *in, *out, *err;
    int status;                 /* NO_STATUS until reaped */
    bool polling;               /* a task waits on the pidfd for everyone */
    bool detached;              /* the loop closed first: the reaper has the child */
    aw__node waiters;           /* aw__waiter: other tasks in aw_process_wait */
    aw__node link;              /* in procs, under procs_mu */
};

/* Every live handle, so a closing loop can find its own. */
static pthread_mutex_t procs_mu = PTHREAD_MUTEX_INITIALIZER;
static aw__node procs = { &procs, &procs };

/* ---- the reaper ---- */

typedef struct orphan { pid_t pid; int pidfd; } orphan;

static struct {
    pthread_mutex_t mu;
    bool started;
    int efd;                    /* wakes the reaper when an orphan is added */
    orphan *v;                  /* mu */
    size_t n, cap;
} reaper = { .mu = PTHREAD_MUTEX_INITIALIZER, .efd = -1 };

/* Reap pid if it has exited: true when it is gone (reaped, or not our child). */
static bool reap_now(pid_t pid, int *status)
{
    int st;
    pid_t r;
    do r = waitpid(pid, &st, WNOHANG); while (r < 0 && errno == EINTR);
    if (r == 0) return false;
    if (r < 0) {
        /* Someone else reaped it (SIGCHLD ignored, waitpid(-1) elsewhere): as
         * asyncio does, report 255. */
        if (status) *status = 255;
        return true;
    }
    if (status) *status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? -WTERMSIG(st) : 255;
    return true;
}

static void *reaper_main(void *arg)
{
    (void)arg;
    struct pollfd *fds = NULL;
    size_t cap = 0;
    for (;;) {
        pthread_mutex_lock(&reaper.mu);
        size_t n = reaper.n;
        bool any_blind = false;
        if (cap < n + 1) {
            struct pollfd *v = realloc(fds, (n + 1) * sizeof *v);
            if (v) { fds = v; cap = n + 1; }
        }
        size_t k = 0;
        if (cap > 0) fds[k++] = (struct pollfd){ .fd = reaper.efd, .events = POLLIN };
        for (size_t i = 0; i < n && k < cap; i++) {
            if (reaper.v[i].pidfd < 0) { any_blind = true; continue; }
            fds[k++] = (struct pollfd){ .fd = reaper.v[i].pidfd, .events = POLLIN };
        }
        if (k < n + 1) any_blind = true;    /* no memory for every fd: poll by time */
        pthread_mutex_unlock(&reaper.mu);

        if (k > 0) poll(fds, k, any_blind ? 100 : -1);
        else usleep(100000);
        uint64_t v;
        if (read(reaper.efd, &v, sizeof v) < 0) { /* nothing new */ }

        pthread_mutex_lock(&reaper.mu);
        for (size_t i = 0; i < reaper.n;) {
            if (reap_now(reaper.v[i].pid, NULL)) {
                if (reaper.v[i].pidfd >= 0) close(reaper.v[i].pidfd);
                reaper.v[i] = reaper.v[--reaper.n];
            } else {
                i++;
            }
        }
        pthread_mutex_unlock(&reaper.mu);
    }
    return NULL;
}

/* Give a still-running child to the reaper; it takes the pidfd. If memory or a
 * thread cannot be had, the child is reaped the next time an orphan is added. */
static void adopt(pid_t pid, int pidfd)
{
    pthread_mutex_lock(&reaper.mu);
    if (!reaper.started) {
        reaper.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (reaper.efd >= 0) {
            if (aw__thread_start(reaper_main, NULL, NULL) == 0) reaper.started = true;
            if (!reaper.started) {
                close(reaper.efd);
                reaper.efd = -1;
            }
        }
    }
    if (reaper.n == reaper.cap) {
        size_t cap = reaper.cap ? reaper.cap * 2 : 16;
        orphan *v = realloc(reaper.v, cap * sizeof *v);
        if (v) { reaper.v = v; reaper.cap = cap; }
    }
    if (reaper.n < reaper.cap) reaper.v[reaper.n++] = (orphan){ pid, pidfd };
    else if (pidfd >= 0) close(pidfd);    /* out of memory: the child may become a zombie */
    int efd = reaper.efd;
    pthread_mutex_unlock(&reaper.mu);
    if (efd >= 0) {
        uint64_t one = 1;
        if (write(efd, &one, sizeof one) < 0) { /* the counter is already set */ }
    }
}

/* ---- spawning ---- */

static int open_devnull(int *fd)
{
    if (*fd >= 0) return 0;
    *fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    return *fd < 0 ? -errno : 0;
}

/* The child's dup2s write fds 0, 1 and 2 in that order, so none of their
 * sources may be one of them (a process with stdin closed gets fd 0 from
 * pipe2). lift_own moves an fd of ours above 2; lift_given copies a caller's
 * fd above 2 into *tmp, closed after the spawn. */
static int lift_own(int *fd)
{
    if (*fd > 2) return 0;
    int c = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
    if (c < 0) return -errno;
    close(*fd);
    *fd = c;
    return 0;
}

static int lift_given(int fd, int *tmp)
{
    if (fd > 2) return fd;
    *tmp = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    return *tmp < 0 ? -errno : *tmp;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

static int spawn(const char *const argv[], const aw_process_opts *o, aw_process **out)
{
    if (out) *out = NULL;
    if (!out || !argv || !argv[0] || !argv[0][0]) return -EINVAL;
    aw_process_opts dflt;
    if (!o) {
        memset(&dflt, 0, sizeof dflt);
        o = &dflt;
    }
    int modes[3] = { o->in, o->out, o->err };
    int given[3] = { o->in_fd, o->out_fd, o->err_fd };
    for (int i = 0; i < 3; i++) {
        if (modes[i] < AW_INHERIT || modes[i] > AW_FD) return -EINVAL;
        if (modes[i] == AW_STDOUT && i != 2) return -EINVAL;
        if (modes[i] == AW_FD && given[i] < 0) return -EBADF;
    }
    aw_loop *loop = aw__loop();
    bool pipes = modes[0] == AW_PIPE || modes[1] == AW_PIPE || modes[2] == AW_PIPE;
    if (pipes && !loop) return AW_ENOLOOP;

    aw_process *p = aw__calloc(1, sizeof *p);
    if (!p) return -ENOMEM;
    p->pidfd = -1;
    p->status = NO_STATUS;
    aw__list_init(&p->waiters);
    aw__list_init(&p->link);

    int child[3] = { -1, -1, -1 };     /* what the child gets as 0, 1, 2 (-1: inherit) */
    int parent[3] = { -1, -1, -1 };    /* our ends of the pipes */
    int tmp[3] = { -1, -1, -1 };       /* lifted copies of given fds */
    int devnull = -1;
    int rc = 0;
    for (int i = 0; i < 3; i++) {
        switch (modes[i]) {
        case AW_PIPE: {
            int pf[2];
            if (pipe2(pf, O_CLOEXEC) < 0) { rc = -errno; goto out_close; }
            /* stdin: the child reads pf[0]; stdout/stderr: the child writes pf[1]. */
            child[i] = i == 0 ? pf[0] : pf[1];
            parent[i] = i == 0 ? pf[1] : pf[0];
            if ((rc = lift_own(&child[i])) < 0) goto out_close;
            break;
        }
        case AW_DEVNULL:
            if ((rc = open_devnull(&devnull)) < 0) goto out_close;
            if ((rc = lift_own(&devnull)) < 0) goto out_close;
            child[i] = devnull;
            break;
        case AW_FD:
            /* the caller's fd: inherited as is when it already is the target */
            child[i] = given[i] == i ? -1 : lift_given(given[i], &tmp[i]);
            if (child[i] < -1) { rc = child[i]; goto out_close; }
            break;
        default:
            break;
        }
    }

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    if ((rc = -posix_spawn_file_actions_init(&fa)) < 0) goto out_close;
    if ((rc = -posix_spawnattr_init(&attr)) < 0) goto out_fa;
    for (int i = 0; i < 3 && rc == 0; i++) {
        if (child[i] >= 0 && child[i] != i) rc = -posix_spawn_file_actions_adddup2(&fa, child[i], i);
        else if (modes[i] == AW_STDOUT) rc = -posix_spawn_file_actions_adddup2(&fa, 1, 2);
    }
    if (rc == 0 && o->cwd) rc = -posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
    sigset_t mask, def;
    sigemptyset(&mask);
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    sigaddset(&def, SIGXFSZ);
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (o->new_session) flags |= POSIX_SPAWN_SETSID;
    if (rc == 0) rc = -posix_spawnattr_setsigmask(&attr, &mask);
    if (rc == 0) rc = -posix_spawnattr_setsigdefault(&attr, &def);
    if (rc == 0) rc = -posix_spawnattr_setflags(&attr, flags);
    if (rc == 0) {
        char *const *envp = o->env ? (char *const *)o->env : environ;
        pid_t pid;
        int e = strchr(argv[0], '/')
            ? posix_spawn(&pid, argv[0], &fa, &attr, (char *const *)argv, envp)
            : posix_spawnp(&pid, argv[0], &fa, &attr, (char *const *)argv, envp);
        if (e) rc = -e;
        else p->pid = pid;
    }
    posix_spawnattr_destroy(&attr);
out_fa:
    posix_spawn_file_actions_destroy(&fa);
    if (rc < 0) goto out_close;

    /* The child is running: from here on it must be waited for whatever happens. */
    p->pidfd = pidfd_open(p->pid, 0);  /* -1 (ENOSYS, EMFILE): waits poll waitpid instead */
    if (p->pidfd >= 0) fcntl(p->pidfd, F_SETFD, FD_CLOEXEC);
    for (int i = 0; i < 3; i++) {
        if (modes[i] == AW_PIPE) close_fd(&child[i]);
        close_fd(&tmp[i]);
    }
    close_fd(&devnull);
    aw_stream **slot[3] = { &p->in, &p->out, &p->err };
    for (int i = 0; i < 3; i++) {
        if (parent[i] < 0) continue;
        int r = aw_stream_open_fd(i == 0 ? -1 : parent[i], i == 0 ? parent[i] : -1, &o->stream, slot[i]);
        if (r < 0) {
            close_fd(&parent[i]);
            if (rc == 0) rc = r;
        }
        parent[i] = -1;                 /* the stream owns it */
    }
    p->loop = loop;
    pthread_mutex_lock(&procs_mu);
    aw__list_push(&procs, &p->link);
    pthread_mutex_unlock(&procs_mu);
    if (rc < 0) {
        /* No stream for a pipe: the child was started; do not leave it behind. */
        aw_process_kill(p);
        aw_process_free(p);
        return rc;
    }
    *out = p;
    return 0;

out_close:
    for (int i = 0; i < 3; i++) {
        if (modes[i] == AW_PIPE) close_fd(&child[i]);
        close_fd(&parent[i]);
        close_fd(&tmp[i]);
    }
    close_fd(&devnull);
    aw__free(p);
    return rc;
}

int aw_subprocess_exec(const char *const argv[], const aw_process_opts *opts, aw_process **out)
{
    return spawn(argv, opts, out);
}

int aw_subprocess_shell(const char *cmd, const aw_process_opts *opts, aw_process **out)
{
    if (out) *out = NULL;
    if (!cmd) return -EINVAL;
    const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    return spawn(argv, opts, out);
}

/* ---- accessors ---- */

pid_t aw_process_pid(const aw_process *p) { return p ? p->pid : -1; }
aw_stream *aw_process_stdin(aw_process *p) { return p ? p->in : NULL; }
aw_stream *aw_process_stdout(aw_process *p) { return p ? p->out : NULL; }
aw_stream *aw_process_stderr(aw_process *p) { return p ? p->err : NULL; }

int aw_process_returncode(const aw_process *p, int *status)
{
    if (!p) return -EINVAL;
    if (p->status == NO_STATUS) return AW_EINVALSTATE;
    if (status) *status = p->status;
    return 0;
}

/* ---- signals ---- */

int aw_process_send_signal(aw_process *p, int sig)
{
    if (!p || sig < 0 || sig >= NSIG) return -EINVAL;
    if (p->status != NO_STATUS) return -ESRCH;
    if (p->detached) return AW_ECLOSED;    /* its pid may be reused once the reaper has it */
    if (p->pidfd >= 0) {
        if (syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0) == 0) return 0;
        if (errno != ENOSYS) return -errno;
    }
    return kill(p->pid, sig) == 0 ? 0 : -errno;
}

int aw_process_terminate(aw_process *p) { return aw_process_send_signal(p, SIGTERM); }
int aw_process_kill(aw_process *p) { return aw_process_send_signal(p, SIGKILL); }

/* ---- waiting ---- */

static void set_reaped(aw_process *p, int status)
{
    p->status = status;
    if (p->pidfd >= 0) {
        if (p->loop && aw__loop() == p->loop) aw_fd_forget(p->pidfd);
        close(p->pidfd);
        p->pidfd = -1;
    }
}

static bool try_reap(aw_process *p)
{
    if (p->status != NO_STATUS) return true;
    if (p->detached) return false;
    int st;
    if (!reap_now(p->pid, &st)) return false;
    set_reaped(p, st);
    return true;
}

static void wake_waiters(aw_process *p)
{
    aw__node *n;
    while ((n = aw__list_pop(&p->waiters))) aw__task_wake(AW__CONTAINER(n, aw__waiter, node)->task, 0);
}

static bool waiter_unpark(aw_task *t, void *ctx)
{
    (void)t;
    aw__waiter *w = ctx;
    if (aw__node_linked(&w->node)) aw__list_remove(&w->node);
    return true;
}

int aw__process_wait(aw_process *p, int *status, const char *file, int line)
{
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (!p) return -EINVAL;
    double backoff = 0.001;
    for (;;) {
        if (try_reap(p)) {
            if (status) *status = p->status;
            return 0;
        }
        if (p->detached) return AW_ECLOSED;
        if (!p->loop) {
            /* started outside any loop: bind on first wait (closing loops read
             * p->loop under procs_mu) */
            pthread_mutex_lock(&procs_mu);
            p->loop = t->loop;
            pthread_mutex_unlock(&procs_mu);
        }
        if (p->loop != t->loop) return AW_EWRONGLOOP;
        if (p->pidfd < 0) {
            /* No pidfd: look again after a growing pause. */
            rc = aw__sleep(backoff, file, line);
            if (rc < 0) return rc;
            if (backoff < 0.1) backoff *= 2;
            continue;
        }
        if (!p->polling) {
            /* One task watches the pidfd for all; the others wait on the list. */
            p->polling = true;
            rc = aw__fd_wait(t, p->pidfd, 1, file, line);
            p->polling = false;
            wake_waiters(p);            /* they look again: reaped, or one takes over */
            if (rc < 0) return rc;
        } else {
            aw__waiter w = { .task = t };
            aw__list_push(&p->waiters, &w.node);
            rc = aw__park(t, waiter_unpark, &w, "process", p, file, line);
            if (rc < 0) return rc;
        }
    }
}

/* ---- communicate ---- */

typedef struct collect {
    aw_stream *s;
    char *buf;
    size_t len, cap;
} collect;

static int collect_main(void *arg, void **result)
{
    (void)result;
    collect *c = arg;
    for (;;) {
        if (c->cap - c->len < 65536) {
            size_t cap = c->cap ? c->cap * 2 : 65536 + 1;
            char *b = aw__realloc(c->buf, cap);
            if (!b) return -ENOMEM;
            c->buf = b;
            c->cap = cap;
        }
        size_t got = 0;
        int rc = aw_stream_read(c->s, c->buf + c->len, c->cap - c->len - 1, &got);
        if (rc < 0) return rc;
        if (got == 0) break;            /* EOF */
        c->len += got;
    }
    return 0;
}

int aw__process_communicate(aw_process *p, const void *input, size_t len, char **out, size_t *outlen,
                            char **err, size_t *errlen, const char *file, int line)
{
    if (out) *out = NULL;
    if (outlen) *outlen = 0;
    if (err) *err = NULL;
    if (errlen) *errlen = 0;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (!p || (len && !input)) return -EINVAL;
    if (p->loop != t->loop) return AW_EWRONGLOOP;

    /* Both outputs are read by helper tasks while this task writes the input,
     * so a child that fills one pipe while we fill another cannot deadlock us. */
    collect cs[2] = { { .s = p->out }, { .s = p->err } };
    aw_task *helper[2] = { NULL, NULL };
    for (int i = 0; i < 2; i++) {
        if (!cs[i].s) continue;
        helper[i] = aw_create_task(aw_coro(collect_main, &cs[i]), i == 0 ? "aw-communicate-stdout"
                                                                          : "aw-communicate-stderr");
        if (!helper[i]) { rc = -ENOMEM; break; }
    }
    if (rc == 0 && p->in) {
        if (len) {
            rc = aw_stream_write(p->in, input, len);
            if (rc == 0) rc = aw_stream_drain(p->in);
        }
        if (rc == 0 || rc == -EPIPE || rc == -ECONNRESET) rc = aw_stream_write_eof(p->in);
        /* A child that exits without reading its input is not an error (asyncio). */
        if (rc == -EPIPE || rc == -ECONNRESET) rc = 0;
    }

    /* The helpers use cs on this stack: they must be finished before we return,
     * even when this task is cancelled, so wait for them in a shielded scope. */
    int herr = 0;
    for (int i = 0; i < 2; i++) {
        if (!helper[i]) continue;
        if (rc < 0) aw_task_cancel(helper[i], NULL);
        aw_scope sh;
        aw__scope_begin(&sh, AW_SCOPE_SHIELD, file, line);
        int e = aw__await_task(helper[i], NULL, file, line);
        aw_scope_end(&sh);
        aw_task_release(helper[i]);
        if (e < 0 && !herr && e != AW_ECANCELLED) herr = e;
    }
    if (rc == 0) rc = herr;
    if (rc == 0) rc = aw__process_wait(p, NULL, file, line);
    if (rc < 0) {
        aw__free(cs[0].buf);
        aw__free(cs[1].buf);
        return rc;
    }
    char **dst[2] = { out, err };
    size_t *dlen[2] = { outlen, errlen };
    for (int i = 0; i < 2; i++) {
        if (cs[i].buf) cs[i].buf[cs[i].len] = 0;
        if (dst[i] && cs[i].s) {
            if (!cs[i].buf && !(cs[i].buf = aw__calloc(1, 1))) {
                rc = -ENOMEM;
                continue;
            }
            *dst[i] = cs[i].buf;
            cs[i].buf = NULL;
            if (dlen[i]) *dlen[i] = cs[i].len;
        }
        aw__free(cs[i].buf);
    }
    return rc;
}

/* ---- freeing ---- */

static void close_streams(aw_process *p)
{
    /* On its loop, what is still queued for stdin goes out in the background
     * (asyncio's close); with the loop gone or closing, nothing can: abort. */
    void (*close_fn)(aw_stream *) = p->loop && aw__loop() == p->loop ? aw_stream_close : aw_stream_abort;
    if (p->in) close_fn(p->in);
    if (p->out) close_fn(p->out);
    if (p->err) close_fn(p->err);
    p->in = p->out = p->err = NULL;
}

/* The child still runs and the handle goes (or its loop closes): reap it now
 * if it has exited, else hand it to the reaper. */
static void detach_child(aw_process *p)
{
    if (p->status != NO_STATUS || p->detached) return;
    int st;
    if (reap_now(p->pid, &st)) {
        set_reaped(p, st);
        return;
    }
    if (p->pidfd >= 0 && p->loop && aw__loop() == p->loop) aw_fd_forget(p->pidfd);
    adopt(p->pid, p->pidfd);
    p->pidfd = -1;
}

void aw_process_free(aw_process *p)
{
    if (!p) return;
    pthread_mutex_lock(&procs_mu);
    aw__list_remove(&p->link);
    pthread_mutex_unlock(&procs_mu);
    close_streams(p);
    detach_child(p);
    wake_waiters(p);
    aw__free(p);
}

void aw__process_loop_close(aw_loop *loop)
{
    /* Handles the program still holds lose their loop: their streams close and
     * their children go to the reaper; aw_process_free still frees them. */
    pthread_mutex_lock(&procs_mu);
    for (aw__node *n = procs.next; n != &procs; n = n->next) {
        aw_process *p = AW__CONTAINER(n, aw_process, link);
        if (p->loop != loop) continue;
        close_streams(p);
        detach_child(p);
        p->detached = p->status == NO_STATUS;
        p->loop = NULL;
    }
    pthread_mutex_unlock(&procs_mu);
}
