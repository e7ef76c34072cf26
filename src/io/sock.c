/* Low-level sockets: asyncio's loop.sock_* set on non-blocking fds, and the resolver helper. */
#include "internal.h"

#include <fcntl.h>
#include <netdb.h>
#include <sys/sendfile.h>
#include <sys/un.h>
#include <unistd.h>

/*
 * Every call tries the system call first and parks only after EAGAIN: with
 * the fd registered edge-triggered once, a socket that is ready costs exactly
 * one system call. The one-reader/one-writer rule is checked before the system
 * call, so a second reader cannot steal bytes from the task already waiting.
 */

static int fd_busy(aw_loop *loop, int fd, int dir)
{
    if (fd < 0) return -EBADF;
    if ((size_t)fd < loop->nfds && loop->fds[fd].waiter[dir - 1]) return AW_EBUSY;
    return 0;
}

int aw_socket(int domain, int type, int protocol)
{
    int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    return fd < 0 ? -errno : fd;
}

int aw_sock_close(int fd)
{
    if (fd < 0) return -EBADF;
    aw_fd_forget(fd);
    if (close(fd) < 0 && errno != EINTR) return -errno;
    return 0;
}

int aw__sock_connect(int fd, const struct sockaddr *addr, socklen_t len, const char *file, int line)
{
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (!addr) return -EINVAL;
    if ((rc = fd_busy(t->loop, fd, 2))) return rc;
    if (connect(fd, addr, len) == 0) return 0;
    if (errno != EINPROGRESS && errno != EINTR) return -errno;
    for (;;) {
        rc = aw__fd_wait(t, fd, 2, file, line);
        if (rc < 0) return rc;
        int err = 0;
        socklen_t l = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0) return -errno;
        if (err) return -err;
        /* Writable without an error: connected, unless the wake-up was stale. */
        struct sockaddr_storage peer;
        socklen_t pl = sizeof peer;
        if (getpeername(fd, (struct sockaddr *)&peer, &pl) == 0) return 0;
        if (errno != ENOTCONN) return -errno;
    }
}

int aw__sock_accept(int fd, struct sockaddr *addr, socklen_t *len, const char *file, int line)
{
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if ((rc = fd_busy(t->loop, fd, 1))) return rc;
    for (;;) {
        int c = accept4(fd, addr, addr ? len : NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c >= 0) return c;
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno != EAGAIN) return -errno;
        rc = aw__fd_wait(t, fd, 1, file, line);
        if (rc < 0) return rc;
    }
}

int aw__sock_recv(int fd, void *buf, size_t n, size_t *got, const char *file, int line)
{
    if (got) *got = 0;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (!got || (!buf && n)) return -EINVAL;
    if ((rc = fd_busy(t->loop, fd, 1))) return rc;
    for (;;) {
        ssize_t r = recv(fd, buf, n, 0);
        if (r >= 0) { *got = (size_t)r; return 0; }
        if (errno == EINTR) continue;
        if (errno != EAGAIN) return -errno;
        rc = aw__fd_wait(t, fd, 1, file, line);
        if (rc < 0) return rc;
    }
}

int aw__sock_send(int fd, const void *buf, size_t n, size_t *sent, const char *file, int line)
{
    if (sent) *sent = 0;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (!buf && n) return -EINVAL;
    if ((rc = fd_busy(t->loop, fd, 2))) return rc;
    size_t done = 0;
    while (done < n) {
        ssize_t r = send(fd, (const char *)buf + done, n - done, MSG_NOSIGNAL);
        if (r > 0) { done += (size_t)r; if (sent) *sent = done; continue; }
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno != EAGAIN) return -errno;
        rc = aw__fd_wait(t, fd, 2, file, line);
        if (rc < 0) return rc;
    }
    return 0;
}

int aw__sock_recvfrom(int fd, void *buf, size_t n, size_t *got, struct sockaddr *addr,
                      socklen_t *len, const char *file, int line)
{
    if (got) *got = 0;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (!got || (!buf && n) || (addr && !len)) return -EINVAL;
    if ((rc = fd_busy(t->loop, fd, 1))) return rc;
    for (;;) {
        ssize_t r = recvfrom(fd, buf, n, 0, addr, addr ? len : NULL);
        if (r >= 0) { *got = (size_t)r; return 0; }
        if (errno == EINTR) continue;
        if (errno != EAGAIN) return -errno;
        rc = aw__fd_wait(t, fd, 1, file, line);
        if (rc < 0) return rc;
    }
}

int aw__sock_sendto(int fd, const void *buf, size_t n, const struct sockaddr *addr,
                    socklen_t len, const char *file, int line)
{
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (!buf && n) return -EINVAL;
    if ((rc = fd_busy(t->loop, fd, 2))) return rc;
    for (;;) {
        ssize_t r = sendto(fd, buf, n, MSG_NOSIGNAL, addr, addr ? len : 0);
        if (r >= 0) return 0;
        if (errno == EINTR) continue;
        if (errno != EAGAIN) return -errno;
        rc = aw__fd_wait(t, fd, 2, file, line);
        if (rc < 0) return rc;
    }
}

/* sendfile(2) refuses some pairs of fds (a pipe as the source, say): copy
 * through a buffer instead. */
static int sendfile_copy(aw_task *t, int fd, int file_fd, off_t *off, size_t count, size_t *total,
                         const char *file, int line)
{
    char buf[16384];
    for (;;) {
        size_t want = sizeof buf;
        if (count && count - *total < want) want = count - *total;
        if (want == 0) return 0;
        ssize_t r = off ? pread(file_fd, buf, want, *off) : read(file_fd, buf, want);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -errno;
        if (r == 0) return 0;
        size_t sent = 0;
        int rc = aw__sock_send(fd, buf, (size_t)r, &sent, file, line);
        *total += sent;
        if (off) *off += (off_t)sent;
        if (rc < 0) {
            /* Bytes read but not sent go back to the file position. */
            if (!off && sent < (size_t)r) lseek(file_fd, -(off_t)((size_t)r - sent), SEEK_CUR);
            return rc;
        }
        (void)t;
    }
}

int aw__sock_sendfile(int fd, int file_fd, long long *offset, size_t count, size_t *sent,
                      const char *file, int line)
{
    if (sent) *sent = 0;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (file_fd < 0) return -EBADF;
    if ((rc = fd_busy(t->loop, fd, 2))) return rc;
    off_t off = offset ? (off_t)*offset : 0;
    off_t *po = offset ? &off : NULL;
    size_t total = 0;
    for (;;) {
        size_t want = 0x7ffff000;
        if (count) {
            if (total == count) break;
            if (count - total < want) want = count - total;
        }
        ssize_t r = sendfile(fd, file_fd, po, want);
        if (r > 0) {
            total += (size_t)r;
            if (offset) *offset = (long long)off;
            if (sent) *sent = total;
            continue;
        }
        if (r == 0) break;
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
            rc = aw__fd_wait(t, fd, 2, file, line);
            if (rc < 0) return rc;
            continue;
        }
        if ((errno == EINVAL || errno == ENOSYS) && total == 0) {
            rc = sendfile_copy(t, fd, file_fd, po, count, &total, file, line);
            if (offset) *offset = (long long)off;
            if (sent) *sent = total;
            return rc;
        }
        return -errno;
    }
    return 0;
}

/* ---- Unix socket addresses ---- */

int aw__sockaddr_un(const char *path, struct sockaddr_un *sun, socklen_t *len)
{
    size_t plen = strlen(path);
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    if (plen >= sizeof sun->sun_path) return -ENAMETOOLONG;
    memcpy(sun->sun_path, path, plen);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + 1);
    return 0;
}

/* ---- resolving ---- */

int aw__resolve(const char *host, int port, int family, int socktype, int flags, struct addrinfo **res)
{
    *res = NULL;
    if (port < 0 || port > 65535) return -EINVAL;
    char pbuf[8];
    snprintf(pbuf, sizeof pbuf, "%d", port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = family;
    hints.ai_socktype = socktype;
    hints.ai_flags = flags | AI_NUMERICSERV;
    if (host && !*host) host = NULL;
    /* Numeric hosts are answered at once; names go to the thread pool. */
    return aw_getaddrinfo(host, pbuf, &hints, res);
}
