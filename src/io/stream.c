/* Streams: asyncio's StreamReader/StreamWriter over an fd pair, as straight-line calls. */
#include "internal.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Reading is pulled, not pushed: the stream reads from the fd only inside a
 * read call, once per readiness event, into its buffer (or straight into the
 * caller's buffer for a large aw_stream_read with nothing buffered). Bytes stay
 * in the buffer until a call hands them out, so a read that is cancelled or
 * fails loses nothing.
 *
 * A read that returns less than it asked for has emptied the kernel's buffer:
 * the next read then waits for a readiness event instead of trying a system
 * call that would only say EAGAIN (libuv's trick, made safe for edge-triggered
 * epoll by the poller's sticky hang-up bit, since the FIN can arrive with the
 * last data).
 *
 * Writing goes straight to the fd while nothing is queued. What the kernel
 * does not take is queued and sent by a background task, the flusher, which
 * exists only while the queue is not empty; aw_stream_drain waits on it.
 */

#define DEFAULT_LIMIT   (64 * 1024)
#define DEFAULT_HIGH    (64 * 1024)
#define RBUF_INIT       16384           /* first read buffer */
#define RBUF_MIN_READ   4096            /* compact or grow when less room is left */
#define DIRECT_MIN      16384           /* aw_stream_read of this much reads into the caller's buffer */

/* ---- life cycle ---- */

int aw__stream_new(int rfd, int wfd, bool is_sock, const aw_stream_opts *o, aw_stream **out)
{
    aw_stream *s = aw__calloc(1, sizeof *s);
    if (!s) return -ENOMEM;
    s->rfd = rfd;
    s->wfd = wfd;
    s->is_sock = is_sock;
    s->limit = o && o->limit ? o->limit : DEFAULT_LIMIT;
    s->high = o && o->high_water ? o->high_water : DEFAULT_HIGH;
    s->low = o && o->low_water ? o->low_water : s->high / 4;
    if (s->low > s->high) s->low = s->high;
    s->refs = 1;
    aw__list_init(&s->drainers);
    aw__list_init(&s->closers);
    aw__list_init(&s->srv_node);
    *out = s;
    return 0;
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return -errno;
    if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -errno;
    return 0;
}

int aw_stream_open_fd(int rfd, int wfd, const aw_stream_opts *opts, aw_stream **out)
{
    if (out) *out = NULL;
    if (!out || (rfd < 0 && wfd < 0) || rfd < -1 || wfd < -1) return -EINVAL;
    struct stat st;
    if (fstat(rfd >= 0 ? rfd : wfd, &st) < 0) return -errno;
    bool is_sock = S_ISSOCK(st.st_mode);
    if (rfd >= 0 && wfd >= 0 && rfd != wfd) {
        struct stat st2;
        if (fstat(wfd, &st2) < 0) return -errno;
        is_sock = is_sock && S_ISSOCK(st2.st_mode);
    }
    int rc;
    if (rfd >= 0 && (rc = set_nonblock(rfd)) < 0) return rc;
    if (wfd >= 0 && wfd != rfd && (rc = set_nonblock(wfd)) < 0) return rc;
    return aw__stream_new(rfd, wfd, is_sock, opts, out);
}

static void wake_list(aw__node *list, int err)
{
    aw__node *n;
    while ((n = aw__list_pop(list))) aw__task_wake(AW__CONTAINER(n, aw__waiter, node)->task, err);
}

static bool list_unpark(aw_task *t, void *ctx)
{
    (void)t;
    aw__waiter *w = ctx;
    if (aw__node_linked(&w->node)) aw__list_remove(&w->node);
    return true;
}

static void close_fds(aw_stream *s)
{
    if (s->closed) return;
    s->closed = s->closing = true;
    s->wstart = s->wend = 0;
    int r = s->rfd, w = s->wfd;
    s->rfd = s->wfd = -1;
    /* aw_fd_forget wakes a task parked on the fd (a reader, the flusher) with -EBADF. */
    if (r >= 0) { aw_fd_forget(r); close(r); }
    if (w >= 0 && w != r) { aw_fd_forget(w); close(w); }
    wake_list(&s->drainers, s->werr ? s->werr : -EPIPE);
    wake_list(&s->closers, 0);
}

void aw__stream_unref(aw_stream *s)
{
    if (--s->refs > 0) return;
    close_fds(s);
    if (s->tls) aw__tls_free(s);
    aw__free(s->rbuf);
    aw__free(s->wbuf);
    aw__free(s);
}

/* Code that runs in a cancelled scope (cleanup after AW_ECANCELLED, aw_run's
 * shutdown) must not leave work behind: its closes are aborts. */
static bool in_cancelled_code(void)
{
    aw_loop *loop = aw__loop();
    aw_task *t = loop ? loop->current : NULL;
    return t && aw__scope_cancelling(t) != NULL;
}

/* ---- the flusher ---- */

static ssize_t pipe_writev(int fd, const struct iovec *iov, int cnt)
{
    /* A pipe has no MSG_NOSIGNAL: keep SIGPIPE blocked around the write and
     * take back the one a closed reader raises. */
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    ssize_t r = writev(fd, iov, cnt);
    int e = errno;
    if (r < 0 && e == EPIPE) {
        struct timespec zero = { 0, 0 };
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return r;
}

static ssize_t sys_writev(aw_stream *s, const struct iovec *iov, int cnt)
{
    if (s->tls) return aw__tls_writev(s, iov, cnt);
    if (s->is_sock) {
        if (cnt == 1) return send(s->wfd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
        struct msghdr m;
        memset(&m, 0, sizeof m);
        m.msg_iov = (struct iovec *)iov;
        m.msg_iovlen = (size_t)cnt;
        return sendmsg(s->wfd, &m, MSG_NOSIGNAL);
    }
    return pipe_writev(s->wfd, iov, cnt);
}

ssize_t aw__stream_raw_write(aw_stream *s, const void *p, size_t n)
{
    if (s->is_sock) return send(s->wfd, p, n, MSG_NOSIGNAL);
    struct iovec v = { (void *)p, n };
    return pipe_writev(s->wfd, &v, 1);
}

static ssize_t sys_write(aw_stream *s, const void *p, size_t n)
{
    if (s->tls) {
        struct iovec v = { (void *)p, n };
        return aw__tls_writev(s, &v, 1);
    }
    return aw__stream_raw_write(s, p, n);
}

static void shut_wr(aw_stream *s)
{
    s->eof_pending = false;
    if (s->wr_shut || s->wfd < 0) return;
    s->wr_shut = true;
    if (s->is_sock) {
        shutdown(s->wfd, SHUT_WR);
    } else if (s->wfd != s->rfd) {
        aw_fd_forget(s->wfd);
        close(s->wfd);
        s->wfd = -1;
    }
}

static void flusher_done(aw_stream *s, int rc)
{
    s->flusher = NULL;
    if (rc < 0) {
        if (!s->closed && !s->werr) s->werr = rc;
        s->wstart = s->wend = 0;
        wake_list(&s->drainers, s->werr ? s->werr : rc);
    } else {
        wake_list(&s->drainers, 0);
        if (s->eof_pending) shut_wr(s);
    }
    if (s->closing) close_fds(s);
    aw__stream_unref(s);
}

static int flusher_main(void *arg, void **result)
{
    (void)result;
    aw_stream *s = arg;
    aw_task *t = aw__loop()->current;
    int rc = 0;
    while (s->wend > s->wstart && s->wfd >= 0) {
        ssize_t r = sys_write(s, s->wbuf + s->wstart, s->wend - s->wstart);
        if (r > 0) {
            s->wstart += (size_t)r;
            if (s->wstart == s->wend) s->wstart = s->wend = 0;
            if (s->wend - s->wstart <= s->low) wake_list(&s->drainers, 0);
            continue;
        }
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == EAGAIN) {
            rc = s->tls ? aw__tls_wait_write(s, t, __FILE__, __LINE__)
                        : aw__fd_wait(t, s->wfd, 2, __FILE__, __LINE__);
            if (rc < 0) break;
            continue;
        }
        rc = r < 0 ? -errno : -EIO;
        break;
    }
    if (rc == 0 && s->tls) rc = aw__tls_flush_end(s, t);
    flusher_done(s, rc);
    return 0;
}

static void flusher_never_ran(void *arg)
{
    flusher_done(arg, AW_ECANCELLED);
}

static int start_flusher(aw_stream *s)
{
    if (s->flusher) return 0;
    aw_loop *loop = aw__loop();
    if (!loop) return AW_ENOLOOP;
    aw_task *t = aw__task_new(loop, flusher_main, s, "flusher_main", __FILE__, __LINE__, "aw-flush");
    if (!t) return -ENOMEM;
    t->never_ran = flusher_never_ran;
    s->flusher = t;
    s->refs++;
    aw_task_release(t);
    return 0;
}

/* ---- closing ---- */

void aw__stream_shut(aw_stream *s, bool abort)
{
    if (s->closed) return;
    s->closing = true;
    bool pending = s->wend > s->wstart && s->wfd >= 0 && !s->werr;
    /* TLS: close_notify goes out first, by the flusher when the socket is full */
    if (s->tls && !abort && !pending && s->wfd >= 0 && !s->werr) pending = aw__tls_close_notify(s) > 0;
    if (abort || !pending) {
        close_fds(s);
        return;
    }
    /* The queue is still going out: the write fd stays open until the flusher
     * is done; a reader waiting on a shared fd is told now. */
    if (s->reader && s->rfd >= 0) aw__fd_wake_waiter(aw__loop(), s->rfd, 1, -EBADF);
    if (s->rfd >= 0 && s->rfd != s->wfd) {
        aw_fd_forget(s->rfd);
        close(s->rfd);
        s->rfd = -1;
    }
    if (start_flusher(s) < 0) close_fds(s);
}

void aw_stream_close(aw_stream *s)
{
    if (!s) return;
    aw__stream_shut(s, in_cancelled_code());
    if (!s->borrowed) aw__stream_unref(s);
}

void aw_stream_abort(aw_stream *s)
{
    if (!s) return;
    aw__stream_shut(s, true);
    if (!s->borrowed) aw__stream_unref(s);
}

int aw__stream_wait_closed(aw_stream *s, const char *file, int line)
{
    if (!s) return -EINVAL;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    bool borrowed = s->borrowed;
    if (rc < 0) {
        aw__stream_shut(s, rc == AW_ECANCELLED);
        if (!borrowed) aw__stream_unref(s);
        return rc;
    }
    aw__stream_shut(s, false);
    s->refs++;
    while (!s->closed) {
        aw__waiter w = { .task = t };
        aw__list_push(&s->closers, &w.node);
        rc = aw__park(t, list_unpark, &w, "stream close", s, file, line);
        if (rc < 0) {
            aw__stream_shut(s, true);
            break;
        }
    }
    if (rc == 0 && s->werr) rc = s->werr;
    aw__stream_unref(s);
    if (!borrowed) aw__stream_unref(s);
    return rc;
}

/* ---- reading ---- */

static inline size_t rbuffered(const aw_stream *s) { return s->rend - s->rstart; }

static inline bool fd_ready(aw_loop *loop, int fd)
{
    return (size_t)fd < loop->nfds && (loop->fds[fd].ready & (1 | AW__FD_HUP));
}

/* The kernel's buffer is empty as of now: the next read waits for an event.
 * Clearing the readiness bit is safe because no poll ran since the read. */
static inline void mark_drained(aw_stream *s, aw_loop *loop, int fd)
{
    s->r_drained = true;
    if ((size_t)fd < loop->nfds) loop->fds[fd].ready &= (uint8_t)~1;
}

/* One read from the fd into dst, waiting for data first if needed.
 * 0 and *got (0 at end of stream), or an error. */
static int read_once(aw_stream *s, aw_task *t, char *dst, size_t cap, size_t *got,
                     const char *file, int line)
{
    if (s->tls) return aw__tls_read(s, t, dst, cap, got, file, line);
    aw_loop *loop = t->loop;
    *got = 0;
    for (;;) {
        if (s->closing || s->rfd < 0) return -EBADF;
        int fd = s->rfd;
        if (s->r_drained && !fd_ready(loop, fd)) goto wait;
        ssize_t r = read(fd, dst, cap);
        if (r > 0) {
            if ((size_t)r < cap) mark_drained(s, loop, fd);
            *got = (size_t)r;
            return 0;
        }
        if (r == 0) {
            s->r_eof = true;
            return 0;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN) {
            s->rerr = -errno;
            return s->rerr;
        }
        mark_drained(s, loop, fd);
wait:;
        int rc = aw__fd_wait(t, fd, 1, file, line);
        if (rc < 0) return rc;
        s->r_drained = false;
    }
}

/* Make room at the end of the buffer, which may hold up to maxcap bytes.
 * AW_ELIMIT when maxcap bytes are buffered already. */
static int rbuf_room(aw_stream *s, size_t maxcap)
{
    size_t have = rbuffered(s);
    if (have >= maxcap) return AW_ELIMIT;
    if (have == 0) s->rstart = s->rend = 0;
    if (s->rcap - s->rend >= RBUF_MIN_READ) return 0;
    if (s->rstart > 0) {
        memmove(s->rbuf, s->rbuf + s->rstart, have);
        s->rstart = 0;
        s->rend = have;
        if (s->rcap - s->rend >= RBUF_MIN_READ) return 0;
    }
    if (s->rcap >= maxcap) return 0;    /* have < maxcap <= rcap: some room is left */
    size_t ncap = s->rcap ? s->rcap * 2 : RBUF_INIT;
    if (ncap > maxcap) ncap = maxcap;
    char *nb = aw__realloc(s->rbuf, ncap);
    if (!nb) return -ENOMEM;
    s->rbuf = nb;
    s->rcap = ncap;
    return 0;
}

/* One read into the buffer. 0 and *added (0 at end of stream), or an error. */
static int fill_once(aw_stream *s, aw_task *t, size_t maxcap, size_t *added, const char *file, int line)
{
    *added = 0;
    if (s->r_eof) return 0;
    if (s->rerr) return s->rerr;
    int rc = rbuf_room(s, maxcap);
    if (rc < 0) return rc;
    size_t room = s->rcap - s->rend, left = maxcap - rbuffered(s);
    rc = read_once(s, t, s->rbuf + s->rend, room < left ? room : left, added, file, line);
    if (rc == 0) s->rend += *added;
    return rc;
}

/* A buffer grown past its usual size (a large readexactly) goes back once empty. */
static void rbuf_consumed(aw_stream *s)
{
    if (s->rstart != s->rend) return;
    s->rstart = s->rend = 0;
    if (s->rcap > 2 * s->limit + RBUF_INIT) {
        aw__free(s->rbuf);
        s->rbuf = NULL;
        s->rcap = 0;
    }
}

static int enter_read(aw_stream *s, aw_task *t, const char *what)
{
    if (s->reader)
        return aw_raise(AW_EBUSY, "%s() called while another task is already waiting for incoming data", what);
    s->reader = t;
    s->refs++;
    return 0;
}

static void leave_read(aw_stream *s)
{
    s->reader = NULL;
    aw__stream_unref(s);
}

int aw__stream_read(aw_stream *s, void *buf, size_t n, size_t *got, const char *file, int line)
{
    if (got) *got = 0;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (!s || !got || (!buf && n)) return -EINVAL;
    if (n == 0) return 0;
    size_t have = rbuffered(s);
    if (have == 0 && (s->r_eof || s->rerr)) return s->rerr;
    if ((rc = enter_read(s, t, "read")) < 0) return rc;
    if (have == 0) {
        if (n >= DIRECT_MIN) {
            rc = read_once(s, t, buf, n, got, file, line);
            leave_read(s);
            return rc;
        }
        size_t added;
        rc = fill_once(s, t, s->limit, &added, file, line);
        have = rbuffered(s);
    }
    if (have) {
        size_t k = have < n ? have : n;
        memcpy(buf, s->rbuf + s->rstart, k);
        s->rstart += k;
        rbuf_consumed(s);
        *got = k;
        rc = 0;
    }
    leave_read(s);
    return rc;
}

int aw__stream_readexactly(aw_stream *s, void *buf, size_t n, size_t *got, const char *file, int line)
{
    if (got) *got = 0;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (!s || (!buf && n)) return -EINVAL;
    if (n == 0) return 0;
    if ((rc = enter_read(s, t, "readexactly")) < 0) return rc;
    size_t maxcap = n > s->limit ? n : s->limit;
    while (rbuffered(s) < n && !s->r_eof) {
        size_t added;
        rc = fill_once(s, t, maxcap, &added, file, line);
        if (rc < 0) goto out;
    }
    size_t k = rbuffered(s) < n ? rbuffered(s) : n;
    if (k) memcpy(buf, s->rbuf + s->rstart, k);
    s->rstart += k;
    rbuf_consumed(s);
    if (got) *got = k;
    rc = 0;
    if (k < n) rc = aw_raise(AW_EINCOMPLETE, "%zu bytes read on a total of %zu expected bytes", k, n);
out:
    leave_read(s);
    return rc;
}

/* asyncio's readuntil: find the separator that ends first, searching only
 * the bytes not searched before; give up once more than the limit lies before
 * the place a separator could still start. On AW_ELIMIT *consumed is the
 * offset asyncio reports (where the separator starts, or how far it looked). */
static int readuntil_core(aw_stream *s, aw_task *t, const char *const *seps, const size_t *lens,
                          size_t nseps, const char **chunk, size_t *len, size_t *consumed,
                          const char *file, int line)
{
    size_t minsep = SIZE_MAX, maxsep = 0;
    for (size_t i = 0; i < nseps; i++) {
        if (lens[i] < minsep) minsep = lens[i];
        if (lens[i] > maxsep) maxsep = lens[i];
    }
    size_t offset = 0, match_start = 0, match_end = 0;
    bool found = false;
    for (;;) {
        size_t buflen = rbuffered(s);
        if (buflen >= offset && buflen - offset >= minsep) {
            const char *base = s->rbuf + s->rstart;
            for (size_t i = 0; i < nseps; i++) {
                const char *p = lens[i] == 1 ? memchr(base + offset, seps[i][0], buflen - offset)
                                             : memmem(base + offset, buflen - offset, seps[i], lens[i]);
                if (!p) continue;
                size_t st = (size_t)(p - base), end = st + lens[i];
                if (!found || end < match_end) {
                    found = true;
                    match_start = st;
                    match_end = end;
                }
            }
            if (found) break;
            offset = buflen + 1 > maxsep ? buflen + 1 - maxsep : 0;
            if (offset > s->limit) {
                *consumed = offset;
                return aw_raise(AW_ELIMIT, "Separator is not found, and chunk exceed the limit");
            }
        }
        if (s->r_eof) {
            *chunk = s->rbuf ? s->rbuf + s->rstart : "";
            *len = buflen;
            s->rstart = s->rend;
            return aw_raise(AW_EINCOMPLETE, "%zu bytes read on a total of undefined expected bytes", buflen);
        }
        /* asyncio's transport stops reading at twice the limit; so does this buffer */
        size_t added;
        int rc = fill_once(s, t, 2 * s->limit + maxsep, &added, file, line);
        if (rc < 0) return rc;
    }
    if (match_start > s->limit) {
        *consumed = match_start;
        return aw_raise(AW_ELIMIT, "Separator is found, but chunk is longer than limit");
    }
    *chunk = s->rbuf + s->rstart;
    *len = match_end;
    s->rstart += match_end;
    return 0;
}

int aw__stream_readuntil_any(aw_stream *s, const char *const *seps, size_t nseps,
                             const char **chunk, size_t *len, const char *file, int line)
{
    if (chunk) *chunk = NULL;
    if (len) *len = 0;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (!s || !chunk || !len || !seps || nseps == 0 || nseps > 64) return -EINVAL;
    size_t lens[64];
    for (size_t i = 0; i < nseps; i++) {
        if (!seps[i] || !seps[i][0])
            return aw_raise(-EINVAL, "Separator should contain at least one element");
        lens[i] = strlen(seps[i]);
    }
    if ((rc = enter_read(s, t, "readuntil")) < 0) return rc;
    size_t consumed = 0;
    rc = readuntil_core(s, t, seps, lens, nseps, chunk, len, &consumed, file, line);
    leave_read(s);
    return rc;
}

int aw__stream_readuntil(aw_stream *s, const void *sep, size_t seplen, const char **chunk,
                         size_t *len, const char *file, int line)
{
    if (chunk) *chunk = NULL;
    if (len) *len = 0;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (!s || !chunk || !len || !sep) return -EINVAL;
    if (seplen == 0) return aw_raise(-EINVAL, "Separator should be at least one-byte string");
    if ((rc = enter_read(s, t, "readuntil")) < 0) return rc;
    const char *seps[1] = { sep };
    size_t consumed = 0;
    rc = readuntil_core(s, t, seps, &seplen, 1, chunk, len, &consumed, file, line);
    leave_read(s);
    return rc;
}

int aw__stream_readline(aw_stream *s, const char **out, size_t *len, const char *file, int line)
{
    if (out) *out = NULL;
    if (len) *len = 0;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (!s || !out || !len) return -EINVAL;
    if ((rc = enter_read(s, t, "readline")) < 0) return rc;
    const char *seps[1] = { "\n" };
    size_t one = 1, consumed = 0;
    rc = readuntil_core(s, t, seps, &one, 1, out, len, &consumed, file, line);
    if (rc == AW_EINCOMPLETE) {
        /* asyncio: the end of the stream ends the last line */
        rc = 0;
    } else if (rc == AW_ELIMIT) {
        /* asyncio: drop the long line through its separator, or all of the buffer */
        if (rbuffered(s) > consumed && s->rbuf[s->rstart + consumed] == '\n') s->rstart += consumed + 1;
        else s->rstart = s->rend;
        rbuf_consumed(s);
    }
    leave_read(s);
    return rc;
}

bool aw_stream_at_eof(const aw_stream *s)
{
    return s && s->r_eof && rbuffered(s) == 0;
}

size_t aw_stream_peek(aw_stream *s, const char **data)
{
    if (!s) { if (data) *data = NULL; return 0; }
    if (data) *data = s->rbuf ? s->rbuf + s->rstart : NULL;
    return rbuffered(s);
}

void aw_stream_consume(aw_stream *s, size_t n)
{
    if (!s) return;
    size_t have = rbuffered(s);
    s->rstart += n < have ? n : have;
    rbuf_consumed(s);
}

int aw__stream_fill(aw_stream *s, size_t *added, const char *file, int line)
{
    if (added) *added = 0;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (!s || !added) return -EINVAL;
    if (s->r_eof) return 0;
    if (s->rerr) return s->rerr;
    if (rbuffered(s) >= s->limit)
        return aw_raise(AW_ELIMIT, "the stream's buffer holds its limit of %zu bytes", s->limit);
    if ((rc = enter_read(s, t, "fill")) < 0) return rc;
    rc = fill_once(s, t, s->limit, added, file, line);
    leave_read(s);
    return rc;
}

/* ---- writing ---- */

static int wq_append(aw_stream *s, const void *p, size_t n)
{
    size_t used = s->wend - s->wstart;
    if (s->wcap - s->wend < n) {
        if (s->wstart > 0 && s->wcap - used >= n && used <= s->wcap / 2) {
            memmove(s->wbuf, s->wbuf + s->wstart, used);
        } else {
            size_t ncap = s->wcap ? s->wcap : 16384;
            while (ncap < used + n) {
                if (ncap > SIZE_MAX / 2) return -ENOMEM;
                ncap *= 2;
            }
            char *nb = aw__malloc(ncap);
            if (!nb) return -ENOMEM;
            if (used) memcpy(nb, s->wbuf + s->wstart, used);
            aw__free(s->wbuf);
            s->wbuf = nb;
            s->wcap = ncap;
        }
        s->wstart = 0;
        s->wend = used;
    }
    memcpy(s->wbuf + s->wend, p, n);
    s->wend += n;
    return 0;
}

static int write_check(aw_stream *s)
{
    if (s->werr) return s->werr;
    if (s->closing || s->eof_pending || s->wr_shut || s->wfd < 0)
        return aw_raise(AW_EINVALSTATE, "write to a stream that is closing or half-closed");
    return 0;
}

/* After a partial direct write: the rest goes out in the background. A
 * cancelled task starts no flusher (its close will be an abort). */
static void queue_started(aw_stream *s)
{
    if (!s->flusher && !in_cancelled_code()) start_flusher(s);
}

int aw_stream_write(aw_stream *s, const void *data, size_t n)
{
    if (!s || (!data && n)) return -EINVAL;
    int rc = write_check(s);
    if (rc < 0) return rc;
    if (n == 0) return 0;
    size_t off = 0;
    if (s->wend == s->wstart) {
        ssize_t r = sys_write(s, data, n);
        if (r >= 0) {
            if ((size_t)r == n) return 0;
            off = (size_t)r;
        } else if (errno != EAGAIN && errno != EINTR) {
            s->werr = -errno;
            return s->werr;
        }
    }
    rc = wq_append(s, (const char *)data + off, n - off);
    if (rc < 0) return rc;
    queue_started(s);
    return 0;
}

int aw_stream_writelines(aw_stream *s, const struct iovec *iov, int iovcnt)
{
    if (!s || iovcnt < 0 || (!iov && iovcnt)) return -EINVAL;
    int rc = write_check(s);
    if (rc < 0) return rc;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) total += iov[i].iov_len;
    if (total == 0) return 0;
    size_t done = 0;
    if (s->wend == s->wstart) {
        ssize_t r = sys_writev(s, iov, iovcnt < IOV_MAX ? iovcnt : IOV_MAX);
        if (r >= 0) {
            if ((size_t)r == total) return 0;
            done = (size_t)r;
        } else if (errno != EAGAIN && errno != EINTR) {
            s->werr = -errno;
            return s->werr;
        }
    }
    for (int i = 0; i < iovcnt; i++) {
        size_t l = iov[i].iov_len;
        if (done >= l) { done -= l; continue; }
        rc = wq_append(s, (const char *)iov[i].iov_base + done, l - done);
        if (rc < 0) return rc;
        done = 0;
    }
    queue_started(s);
    return 0;
}

int aw__stream_drain(aw_stream *s, const char *file, int line)
{
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (!s) return -EINVAL;
    if (s->werr) return s->werr;
    if (s->closed) return aw_raise(-ECONNRESET, "Connection lost");
    if (s->wend - s->wstart <= s->high) return 0;
    if (!s->flusher && (rc = start_flusher(s)) < 0) return rc;
    aw__waiter w = { .task = t };
    aw__list_push(&s->drainers, &w.node);
    s->refs++;
    rc = aw__park(t, list_unpark, &w, "drain", s, file, line);
    aw__stream_unref(s);
    return rc;
}

int aw_stream_write_eof(aw_stream *s)
{
    if (!s) return -EINVAL;
    if (s->werr) return s->werr;
    if (s->closing || s->wfd < 0) return AW_EINVALSTATE;
    if (s->wr_shut || s->eof_pending) return 0;
    if (s->wend == s->wstart && !(s->tls && aw__tls_close_notify(s) > 0)) {
        shut_wr(s);
    } else {
        s->eof_pending = true;
        if (!s->flusher) return start_flusher(s);  /* TLS: close_notify waits for room */
    }
    return 0;
}

size_t aw_stream_write_buffered(const aw_stream *s)
{
    return s ? s->wend - s->wstart : 0;
}

int aw_stream_fd(const aw_stream *s)
{
    if (!s) return -1;
    return s->rfd >= 0 ? s->rfd : s->wfd;
}

int aw_stream_peername(const aw_stream *s, struct sockaddr *addr, socklen_t *len)
{
    int fd = aw_stream_fd(s);
    if (fd < 0) return -EBADF;
    if (!addr || !len) return -EINVAL;
    return getpeername(fd, addr, len) < 0 ? -errno : 0;
}

int aw_stream_sockname(const aw_stream *s, struct sockaddr *addr, socklen_t *len)
{
    int fd = aw_stream_fd(s);
    if (fd < 0) return -EBADF;
    if (!addr || !len) return -EINVAL;
    return getsockname(fd, addr, len) < 0 ? -errno : 0;
}
