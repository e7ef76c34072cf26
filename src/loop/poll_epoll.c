/* The epoll backend: each fd registered once, edge-triggered, and kept; waits cost no epoll_ctl. */
#include "internal.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

/*
 * An fd is added to epoll the first time a task waits on it, for input and
 * output at once, edge-triggered, and stays registered until aw_fd_forget (aw's
 * own sockets call it when they close). The epoll data carries the fd and its
 * generation, so an event for a closed and reused fd number never wakes the
 * waiter of the new one. One reader and one writer may wait per fd.
 */

#define WAKE_TOKEN UINT64_MAX

static inline uint64_t token(int fd, uint32_t gen) { return ((uint64_t)gen << 32) | (uint32_t)fd; }

void aw__poll_init_fd(aw_loop *loop)
{
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) return;
    loop->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop->wakefd < 0) goto out_close_ep;
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = WAKE_TOKEN };
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wakefd, &ev) < 0) goto out_close_wake;
    return;
out_close_wake:
    close(loop->wakefd);
    loop->wakefd = -1;
out_close_ep:
    {
        int e = errno;
        close(loop->epfd);
        loop->epfd = -1;
        errno = e;
    }
}

void aw__poll_close(aw_loop *loop)
{
    if (loop->wakefd >= 0) close(loop->wakefd);
    if (loop->epfd >= 0) close(loop->epfd);
    aw__free(loop->fds);
    loop->fds = NULL;
    loop->nfds = 0;
}

void aw__loop_wakeup(aw_loop *loop)
{
    uint64_t one = 1;
    ssize_t r = write(loop->wakefd, &one, sizeof one);
    (void)r;    /* EAGAIN: the counter is already non-zero, the loop will wake */
}

static void fd_event(aw_loop *loop, uint64_t tok, uint32_t events)
{
    int fd = (int)(uint32_t)tok;
    uint32_t gen = (uint32_t)(tok >> 32);
    if (fd < 0 || (size_t)fd >= loop->nfds) return;
    aw__fdstate *s = &loop->fds[fd];
    if (s->gen != gen) return;      /* an event for an fd number since forgotten */
    uint8_t ready = 0;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ready |= 1;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) ready |= 2;
    /* Sticky: a reader that saw a short read may skip its next read only while
     * no hang-up is pending (the FIN can arrive with the last data). */
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ready |= AW__FD_HUP;
    s->ready |= ready;
    for (int d = 0; d < 2; d++) {
        if ((ready & (1 << d)) && s->waiter[d]) {
            aw_task *t = s->waiter[d];
            s->waiter[d] = NULL;
            s->ready &= (uint8_t)~(1 << d);
            loop->fd_waiters--;
            aw__task_wake(t, 0);
        }
    }
}

int aw__poll(aw_loop *loop, double timeout)
{
    struct epoll_event evs[256];
    int ms;
    if (timeout < 0 || isinf(timeout)) ms = -1;
    else if (timeout == 0) ms = 0;
    else {
        double m = ceil(timeout * 1000.0);
        ms = m > 2147483647.0 ? 2147483647 : (int)m;
    }
    int n = epoll_wait(loop->epfd, evs, 256, ms);
    loop->stats.polls++;
    if (n < 0) return 0;    /* EINTR: a signal; the caller goes round again */
    for (int i = 0; i < n; i++) {
        if (evs[i].data.u64 == WAKE_TOKEN) {
            uint64_t v;
            ssize_t r = read(loop->wakefd, &v, sizeof v);
            (void)r;
            continue;
        }
        fd_event(loop, evs[i].data.u64, evs[i].events);
    }
    loop->stats.poll_events += (uint64_t)n;
    return n;
}

static int fd_slot(aw_loop *loop, int fd, aw__fdstate **out)
{
    if ((size_t)fd >= loop->nfds) {
        size_t n = loop->nfds ? loop->nfds : 64;
        while (n <= (size_t)fd) n *= 2;
        aw__fdstate *v = aw__realloc(loop->fds, n * sizeof(*v));
        if (!v) return -ENOMEM;
        memset(v + loop->nfds, 0, (n - loop->nfds) * sizeof(*v));
        loop->fds = v;
        loop->nfds = n;
    }
    *out = &loop->fds[fd];
    return 0;
}

/* Register fd with epoll if it is not yet. */
int aw__fd_register(aw_loop *loop, int fd, aw__fdstate **out)
{
    aw__fdstate *s;
    int rc = fd_slot(loop, fd, &s);
    if (rc < 0) return rc;
    if (!s->registered) {
        struct epoll_event ev = {
            .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
            .data.u64 = token(fd, s->gen),
        };
        if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            if (errno == EEXIST) {
                /* registered under an older generation (closed without aw_fd_forget) */
                if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0) return -errno;
            } else if (errno == EPERM) {
                /* regular files and some devices cannot be polled: always ready */
                s->ready = 3;
                *out = s;
                return 1;
            } else {
                return -errno;
            }
        }
        s->registered = true;
        s->ready = 0;
    }
    *out = s;
    return 0;
}

void aw_fd_forget(int fd)
{
    aw_loop *loop = aw__loop();
    if (!loop || fd < 0 || (size_t)fd >= loop->nfds) return;
    aw__fdstate *s = &loop->fds[fd];
    for (int d = 0; d < 2; d++) {
        if (s->waiter[d]) {
            aw_task *t = s->waiter[d];
            s->waiter[d] = NULL;
            loop->fd_waiters--;
            aw__task_wake(t, -EBADF);
        }
    }
    if (s->registered) epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    s->registered = false;
    s->ready = 0;
    s->gen++;
}

void aw__fd_wake_waiter(aw_loop *loop, int fd, int dir, int err)
{
    if (!loop || fd < 0 || (size_t)fd >= loop->nfds) return;
    aw__fdstate *s = &loop->fds[fd];
    aw_task *t = s->waiter[dir - 1];
    if (!t) return;
    s->waiter[dir - 1] = NULL;
    loop->fd_waiters--;
    aw__task_wake(t, err);
}

static bool fd_unpark(aw_task *t, void *ctx)
{
    /* ctx is the fd number: the table may have been reallocated since the wait began */
    aw__fdstate *s = &t->loop->fds[(intptr_t)ctx];
    for (int d = 0; d < 2; d++) {
        if (s->waiter[d] == t) {
            s->waiter[d] = NULL;
            t->loop->fd_waiters--;
        }
    }
    return true;
}

/* Park the running task until fd is ready in direction dir (1 read, 2 write).
 * The caller has seen EAGAIN, so an earlier readiness bit is stale. */
int aw__fd_wait(aw_task *t, int fd, int dir, const char *file, int line)
{
    aw_loop *loop = t->loop;
    aw__fdstate *s = NULL;
    int rc = aw__fd_register(loop, fd, &s);
    if (rc < 0) return rc;
    if (rc == 1) return 0;
    int d = dir - 1;
    if (s->waiter[d]) return AW_EBUSY;
    s->ready &= (uint8_t)~dir;
    s->waiter[d] = t;
    loop->fd_waiters++;
    return aw__park(t, fd_unpark, (void *)(intptr_t)fd, dir == 1 ? "read" : "write", NULL, file, line);
}

int aw__wait_fd(int fd, int dir, double timeout, const char *file, int line)
{
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (fd < 0 || (dir != 1 && dir != 2)) return -EBADF;
    if (isnan(timeout)) return -EINVAL;
    /* The public wait is level-triggered: look first. */
    struct pollfd p = { .fd = fd, .events = dir == 1 ? POLLIN : POLLOUT };
    int n = poll(&p, 1, 0);
    if (n < 0) return -errno;
    if (p.revents & POLLNVAL) return -EBADF;
    if (n > 0) return 0;
    if (timeout == 0) return AW_ETIMEDOUT;
    aw_scope sc;
    bool timed = timeout > 0 && !isinf(timeout);
    if (timed) {
        aw__scope_begin(&sc, 0, file, line);
        aw_scope_set_deadline(&sc, aw__now(t->loop) + timeout);
    }
    rc = aw__fd_wait(t, fd, dir, file, line);
    if (timed) {
        int e = aw_scope_end(&sc);
        if (e == AW_ETIMEDOUT) rc = e;
    }
    return rc;
}
