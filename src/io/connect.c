/* Client connections: resolve, race the addresses happy-eyeballs style, wrap the winner in a stream. */
#include "internal.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/un.h>
#include <unistd.h>

/*
 * RFC 8305 in one task: attempts start one after another, the next when the
 * previous fails or when the delay has passed with it still pending; the
 * first to connect wins and the others are closed. The task parks once on
 * all pending sockets at the same time (registered as the writer of each)
 * and on a timer for the next start, then looks at every socket with one
 * poll(2) to see which ones finished.
 */

#define MAX_ADDRS 32
#define DEFAULT_DELAY 0.25

typedef struct race {
    aw_task *t;
    int fds[MAX_ADDRS];         /* pending attempts, -1 when free */
    aw__timer timer;
} race;

static void race_unregister(race *r)
{
    aw_loop *loop = r->t->loop;
    for (size_t i = 0; i < MAX_ADDRS; i++) {
        int fd = r->fds[i];
        if (fd < 0 || (size_t)fd >= loop->nfds) continue;
        if (loop->fds[fd].waiter[1] == r->t) {
            loop->fds[fd].waiter[1] = NULL;
            loop->fd_waiters--;
        }
    }
    aw__timer_stop(loop, &r->timer);
}

static bool race_unpark(aw_task *t, void *ctx)
{
    (void)t;
    race_unregister(ctx);
    return true;
}

static void race_timer_fired(void *owner)
{
    race *r = owner;
    aw__task_wake(r->t, 0);
}

static void race_drop(race *r, size_t i)
{
    aw_sock_close(r->fds[i]);
    r->fds[i] = -1;
}

/* Order the addresses as RFC 8305 asks: alternate the families, the first
 * family returned first. */
static size_t interleave(struct addrinfo *list, struct addrinfo **out)
{
    struct addrinfo *byfam[2][MAX_ADDRS];
    size_t nfam[2] = { 0, 0 };
    int first = -1;
    for (struct addrinfo *ai = list; ai; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
        int f = ai->ai_family == AF_INET6;
        if (first < 0) first = f;
        if (nfam[f] < MAX_ADDRS) byfam[f][nfam[f]++] = ai;
    }
    if (first < 0) return 0;
    size_t n = 0, i = 0, j = 0;
    int a = first, b = !first;
    while (n < MAX_ADDRS && (i < nfam[a] || j < nfam[b])) {
        if (i < nfam[a]) out[n++] = byfam[a][i++];
        if (n < MAX_ADDRS && j < nfam[b]) out[n++] = byfam[b][j++];
    }
    return n;
}

static int connect_race(aw_task *t, struct addrinfo *list, double delay, int *out_fd,
                        const char *file, int line)
{
    aw_loop *loop = t->loop;
    struct addrinfo *addrs[MAX_ADDRS];
    size_t na = interleave(list, addrs);
    if (na == 0) return -EHOSTUNREACH;
    race r;
    r.t = t;
    for (size_t i = 0; i < MAX_ADDRS; i++) r.fds[i] = -1;
    aw__timer_init(&r.timer, &r, race_timer_fired);
    size_t next = 0, pending = 0;
    int last_err = -ECONNREFUSED, rc = 0;
    double next_start = 0;
    for (;;) {
        /* Start the next attempt when nothing is pending or its time has come. */
        if (next < na && (pending == 0 || (delay >= 0 && aw__now(loop) >= next_start))) {
            struct addrinfo *ai = addrs[next];
            size_t slot = next++;
            int fd = aw_socket(ai->ai_family, SOCK_STREAM, ai->ai_protocol);
            if (fd < 0) { last_err = fd; continue; }
            if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
                r.fds[slot] = fd;
                *out_fd = fd;
                r.fds[slot] = -1;
                goto won;
            }
            if (errno != EINPROGRESS && errno != EINTR) {
                last_err = -errno;
                close(fd);
                continue;
            }
            r.fds[slot] = fd;
            pending++;
            next_start = aw__now(loop) + (delay > 0 ? delay : 0);
            continue;
        }
        if (pending == 0) return last_err;
        /* Which attempts have finished? */
        struct pollfd pf[MAX_ADDRS];
        size_t idx[MAX_ADDRS], k = 0;
        for (size_t i = 0; i < MAX_ADDRS; i++) {
            if (r.fds[i] < 0) continue;
            pf[k].fd = r.fds[i];
            pf[k].events = POLLOUT;
            pf[k].revents = 0;
            idx[k++] = i;
            /* poll(2) below gives the truth: a readiness bit set before it is stale */
            if ((size_t)r.fds[i] < loop->nfds) loop->fds[r.fds[i]].ready &= (uint8_t)~2;
        }
        if (poll(pf, k, 0) < 0 && errno != EINTR) { rc = -errno; goto fail; }
        bool progress = false;
        for (size_t j = 0; j < k; j++) {
            if (!pf[j].revents) continue;
            int err = 0;
            socklen_t l = sizeof err;
            if (getsockopt(pf[j].fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0) err = errno;
            if (err == 0 && (pf[j].revents & POLLOUT) && !(pf[j].revents & (POLLERR | POLLHUP))) {
                *out_fd = pf[j].fd;
                r.fds[idx[j]] = -1;
                goto won;
            }
            if (err == 0) err = ECONNREFUSED;
            last_err = -err;
            race_drop(&r, idx[j]);
            pending--;
            progress = true;
        }
        if (progress) continue;
        /* Park on every pending socket and on the next start time. */
        for (size_t i = 0; i < MAX_ADDRS; i++) {
            if (r.fds[i] < 0) continue;
            aw__fdstate *st;
            rc = aw__fd_register(loop, r.fds[i], &st);
            if (rc < 0) goto fail;
            if (rc == 1) continue;
            if (st->waiter[1]) { rc = AW_EBUSY; race_unregister(&r); goto fail; }
            st->waiter[1] = t;
            loop->fd_waiters++;
        }
        if (next < na && delay >= 0) {
            rc = aw__timer_start(loop, &r.timer, next_start);
            if (rc < 0) { race_unregister(&r); goto fail; }
        }
        rc = aw__park(t, race_unpark, &r, "connect", NULL, file, line);
        race_unregister(&r);
        if (rc < 0) goto fail;
    }
won:
    for (size_t i = 0; i < MAX_ADDRS; i++)
        if (r.fds[i] >= 0) race_drop(&r, i);
    return 0;
fail:
    for (size_t i = 0; i < MAX_ADDRS; i++)
        if (r.fds[i] >= 0) race_drop(&r, i);
    return rc;
}

static void deadline_begin(aw_scope *sc, double timeout, const char *file, int line)
{
    aw__scope_begin(sc, 0, file, line);
    aw_scope_set_deadline(sc, aw_now() + timeout);
}

int aw__open_connection(const char *host, int port, const aw_connect_opts *opts, aw_stream **out,
                        const char *file, int line)
{
    if (out) *out = NULL;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (!host || !out || port <= 0 || port > 65535) return -EINVAL;
    if (opts && opts->tls && (rc = aw__tls_config_check(opts->tls, AW_TLS_CLIENT)) < 0) return rc;
    double timeout = opts ? opts->timeout : 0;
    double delay = opts && opts->happy_eyeballs_delay ? opts->happy_eyeballs_delay : DEFAULT_DELAY;
    if (isnan(timeout) || isnan(delay)) return -EINVAL;
    aw_scope sc;
    bool timed = timeout > 0 && !isinf(timeout);
    if (timed) deadline_begin(&sc, timeout, file, line);
    struct addrinfo *res = NULL;
    int fd = -1;
    rc = aw__resolve(host, port, opts ? opts->family : AF_UNSPEC, SOCK_STREAM, 0, &res);
    if (rc == 0) rc = connect_race(t, res, delay, &fd, file, line);
    if (timed && aw_scope_end(&sc) == AW_ETIMEDOUT) rc = AW_ETIMEDOUT;
    if (res) freeaddrinfo(res);
    if (rc < 0) {
        if (fd >= 0) aw_sock_close(fd);
        return rc;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    rc = aw__stream_new(fd, fd, true, opts ? &opts->stream : NULL, out);
    if (rc < 0) aw_sock_close(fd);
    else if (opts && opts->tls && (rc = aw__tls_client_start(*out, opts->tls, host, file, line)) < 0) {
        aw_stream_abort(*out);
        *out = NULL;
    }
    return rc;
}

int aw__open_unix_connection(const char *path, const aw_connect_opts *opts, aw_stream **out,
                             const char *file, int line)
{
    if (out) *out = NULL;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (!path || !out || !*path) return -EINVAL;
    if (opts && opts->tls && (rc = aw__tls_config_check(opts->tls, AW_TLS_CLIENT)) < 0) return rc;
    struct sockaddr_un sun;
    socklen_t sunlen;
    rc = aw__sockaddr_un(path, &sun, &sunlen);
    if (rc < 0) return rc;
    double timeout = opts ? opts->timeout : 0;
    if (isnan(timeout)) return -EINVAL;
    int fd = aw_socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) return fd;
    aw_scope sc;
    bool timed = timeout > 0 && !isinf(timeout);
    if (timed) deadline_begin(&sc, timeout, file, line);
    /* A Unix listener with a full backlog answers EAGAIN at once instead of
     * keeping the connect pending: retry with a short, growing pause. */
    double pause = 0.001;
    for (;;) {
        rc = aw__sock_connect(fd, (struct sockaddr *)&sun,
                              sunlen, file, line);
        if (rc != -EAGAIN) break;
        rc = aw__sleep(pause, file, line);
        if (rc < 0) break;
        if (pause < 0.1) pause *= 2;
    }
    if (timed && aw_scope_end(&sc) == AW_ETIMEDOUT) rc = AW_ETIMEDOUT;
    if (rc < 0) {
        aw_sock_close(fd);
        return rc;
    }
    rc = aw__stream_new(fd, fd, true, opts ? &opts->stream : NULL, out);
    if (rc < 0) aw_sock_close(fd);
    else if (opts && opts->tls && (rc = aw__tls_client_start(*out, opts->tls, NULL, file, line)) < 0) {
        aw_stream_abort(*out);
        *out = NULL;
    }
    return rc;
}
