/* The debug thread of a loop: the watchdog, the debug socket's server, the dump signal. */
#include "internal.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/*
 * One thread per loop that needs one, started lazily: by the first step in
 * debug mode (the watchdog), by aw_loop_serve_debug, or by AW_DUMP_SIGNAL. It
 * never touches the loop's tasks. It reads what the loop publishes under d->mu
 * (the step running now) and asks the loop for everything else by posting a
 * request (aw__loop_post_node): the loop builds the dump between steps, on its
 * own thread, and hands the text back. When the loop does not answer within
 * REPLY_WAIT seconds it is stuck in a step (or not running), and the reply says
 * so from the published step instead.
 *
 * The thread sleeps in poll(2) on a non-blocking pipe (d->wake: stop, setting
 * changes, the loop's replies and the signal handler write one byte each) and
 * on the listening socket, never longer than a watchdog tick (pump). A client
 * is served to the end before the next is accepted: one command line in, the
 * text out, each bounded by CLIENT_TIMEOUT, so a slow client delays only other
 * clients, never the loop or the watchdog.
 */

#define REPLY_WAIT 1.0          /* seconds the thread waits for the loop's answer */
#define CLIENT_TIMEOUT 2        /* seconds a client may take to send or receive */

enum { REQ_PS = 1, REQ_TREE = 2, REQ_STATS = 3, REQ_SIGNAL = 4 };

typedef struct dreq {
    aw__post post;              /* how it reaches the loop, without allocating there */
    struct aw__debug *d;
    int kind;
    char *out;                  /* the loop's answer (malloc'ed by open_memstream) */
    size_t len;
    bool done;                  /* d->mu */
    int refs;                   /* d->mu: the loop's and the thread's */
} dreq;

static void wake_thread(struct aw__debug *d, char why)
{
    if (d->wake[1] < 0) return;
    ssize_t w = write(d->wake[1], &why, 1);    /* a full pipe already wakes it */
    (void)w;
}

/* ---- on the loop's thread ---- */

static void req_run(void *arg)
{
    dreq *q = arg;
    struct aw__debug *d = q->d;
    aw_loop *loop = d->loop;
    char *buf = NULL;
    size_t len = 0;
    if (q->kind == REQ_SIGNAL) {
        fprintf(stderr, "aw: tasks of the loop (pid %ld):\n", (long)getpid());
        aw__dump_loop(loop, stderr, 0);
    } else {
        FILE *f = open_memstream(&buf, &len);
        if (f) {
            if (q->kind == REQ_TREE) {
                aw__dump_loop(loop, f, 0);
            } else {
                aw__stats_print(loop, f);
                if (q->kind == REQ_PS) {
                    fputc('\n', f);
                    aw__dump_loop(loop, f, AW_DUMP_FLAT);
                }
            }
            fclose(f);
        }
    }
    pthread_mutex_lock(&d->mu);
    q->out = buf;
    q->len = buf ? len : 0;
    q->done = true;
    int left = --q->refs;
    pthread_mutex_unlock(&d->mu);
    if (left == 0) {            /* the thread gave up waiting */
        free(buf);
        aw__free(q);
        return;
    }
    wake_thread(d, 'r');
}

/* ---- on the debug thread ---- */

typedef struct tstate {
    struct aw__debug *d;
    int lfd;                    /* the listening socket, -1 if none */
    char *lpath;
    bool signal_pending;
    bool stop;
    uint64_t wd_seq;            /* the step the watchdog saw last */
    bool wd_reported;
} tstate;

static double now_real(void) { return aw__clock_real(); }

static void watchdog_tick(tstate *ts, double period);

/* The watchdog's period, 0 when off. */
static double watchdog_period(struct aw__debug *d)
{
    pthread_mutex_lock(&d->mu);
    double wd = d->watchdog;
    pthread_mutex_unlock(&d->mu);
    return wd;
}

/* Read the wake pipe dry; remember a signal and a stop. */
static void drain_wake(tstate *ts)
{
    char buf[64];
    ssize_t n;
    while ((n = read(ts->d->wake[0], buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] == 's') ts->signal_pending = true;
    pthread_mutex_lock(&ts->d->mu);
    ts->stop = ts->d->stop;
    pthread_mutex_unlock(&ts->d->mu);
}

/* Every wait of the thread goes through here, so the watchdog keeps ticking
 * while a client is served: poll the wake pipe (and fd for events, if fd >= 0)
 * until something happens, until `until`, or for one watchdog tick at most.
 * Returns fd's revents (0 when it is not ready). */
static short pump(tstate *ts, int fd, short events, double until)
{
    double wd = watchdog_period(ts->d);
    double slice = until - now_real();
    if (wd > 0) {
        /* Tick often enough to report within a fifth of the period. */
        double tick = wd / 5 < 0.01 ? 0.01 : wd / 5 > 0.2 ? 0.2 : wd / 5;
        if (!(slice < tick)) slice = tick;
    }
    int ms = isinf(slice) ? -1 : slice <= 0 ? 0 : (int)(slice * 1000) + 1;
    struct pollfd p[2] = { { .fd = ts->d->wake[0], .events = POLLIN }, { .fd = fd, .events = events } };
    int n = poll(p, fd >= 0 ? 2 : 1, ms);
    if (n > 0 && p[0].revents) drain_wake(ts);
    if (wd > 0) watchdog_tick(ts, wd);
    return n > 0 && fd >= 0 ? p[1].revents : 0;
}

/* Send the whole buffer to a non-blocking client, giving up at deadline. */
static void send_all(tstate *ts, int fd, const char *p, size_t n, double deadline)
{
    while (n > 0 && !ts->stop) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k > 0) {
            p += k;
            n -= (size_t)k;
        } else if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (now_real() >= deadline) return;
            pump(ts, fd, POLLOUT, deadline);
        } else {
            return;
        }
    }
}

/* What the loop published, for a loop that does not answer. */
static void describe_busy(struct aw__debug *d, char *buf, size_t size)
{
    pthread_mutex_lock(&d->mu);
    uint64_t s = atomic_load(&d->seq);
    aw__step_info info = d->pub;
    pthread_mutex_unlock(&d->mu);
    if (!(s & 1u)) {
        snprintf(buf, size, "aw: the loop did not answer within %.1f s: it is not running, or it is "
                 "busy and debug mode is off (AW_DEBUG=1 publishes the step it runs)\n", REPLY_WAIT);
        return;
    }
    double ran = now_real() - info.started;
    if (info.task_id)
        snprintf(buf, size, "aw: the loop did not answer within %.1f s: it has been running one step for "
                 "%.3f s:\n  (T) %s #%llu, its step began at %s:%d%s%s%s\n", REPLY_WAIT, ran, info.name,
                 (unsigned long long)info.task_id, info.file ? info.file : "?", info.line,
                 info.what ? " (resumed from " : " (its first step", info.what ? info.what : "", ")");
    else
        snprintf(buf, size, "aw: the loop did not answer within %.1f s: it has been running %s for %.3f s\n",
                 REPLY_WAIT, info.name, ran);
}

/* Post a request to the loop and wait for the answer: the request, done, or
 * NULL (the loop did not answer; it frees the request when it runs it). */
static dreq *ask_loop(tstate *ts, int kind)
{
    struct aw__debug *d = ts->d;
    dreq *q = aw__calloc(1, sizeof *q);
    if (!q) return NULL;
    q->d = d;
    q->kind = kind;
    q->refs = 2;
    if (aw__loop_post_node(d->loop, &q->post, req_run, q) < 0) {
        aw__free(q);
        return NULL;
    }
    double deadline = now_real() + REPLY_WAIT;
    bool done;
    for (;;) {
        pthread_mutex_lock(&d->mu);
        done = q->done;
        pthread_mutex_unlock(&d->mu);
        /* Stopping: the loop is closing; it runs the request in its last drain. */
        if (done || ts->stop || now_real() >= deadline) break;
        pump(ts, -1, 0, deadline);
    }
    pthread_mutex_lock(&d->mu);
    done = q->done;
    q->refs--;
    pthread_mutex_unlock(&d->mu);
    return done ? q : NULL;
}

static void free_req(dreq *q)
{
    free(q->out);
    aw__free(q);
}

static void serve_client(tstate *ts, int fd)
{
    double deadline = now_real() + CLIENT_TIMEOUT;
    char cmd[64];
    size_t n = 0;
    while (n + 1 < sizeof cmd && !memchr(cmd, '\n', n) && !ts->stop) {
        ssize_t k = recv(fd, cmd + n, sizeof cmd - 1 - n, 0);
        if (k > 0) {
            n += (size_t)k;
        } else if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (now_real() >= deadline) return;
            pump(ts, fd, POLLIN, deadline);
        } else {
            break;              /* end of the command (the client shut its side) or an error */
        }
    }
    cmd[n] = 0;
    cmd[strcspn(cmd, "\r\n")] = 0;
    int kind = strcmp(cmd, "ps") == 0 ? REQ_PS
             : strcmp(cmd, "pstree") == 0 || strcmp(cmd, "tree") == 0 ? REQ_TREE
             : strcmp(cmd, "stats") == 0 ? REQ_STATS : 0;
    char msg[512];
    if (!kind) {
        snprintf(msg, sizeof msg, "aw: unknown command '%.40s' (ps, pstree, stats)\n", cmd);
        send_all(ts, fd, msg, strlen(msg), now_real() + CLIENT_TIMEOUT);
        return;
    }
    dreq *q = ask_loop(ts, kind);
    if (q) {
        if (q->out) send_all(ts, fd, q->out, q->len, now_real() + CLIENT_TIMEOUT);
        else send_all(ts, fd, "aw: out of memory\n", 18, now_real() + CLIENT_TIMEOUT);
        free_req(q);
        return;
    }
    describe_busy(ts->d, msg, sizeof msg);
    send_all(ts, fd, msg, strlen(msg), now_real() + CLIENT_TIMEOUT);
}

static void signal_dump(tstate *ts)
{
    ts->signal_pending = false;
    dreq *q = ask_loop(ts, REQ_SIGNAL);
    if (q) {
        free_req(q);
        return;
    }
    if (ts->stop) return;
    char msg[512];
    describe_busy(ts->d, msg, sizeof msg);
    fputs(msg, stderr);
    fflush(stderr);
}

static void watchdog_tick(tstate *ts, double period)
{
    struct aw__debug *d = ts->d;
    pthread_mutex_lock(&d->mu);
    uint64_t s = atomic_load(&d->seq);
    aw__step_info info = d->pub;
    pthread_mutex_unlock(&d->mu);
    if (s != ts->wd_seq) {
        ts->wd_seq = s;
        ts->wd_reported = false;
    }
    if (!(s & 1u) || ts->wd_reported) return;
    double ran = now_real() - info.started;
    if (ran < period) return;
    ts->wd_reported = true;
    char msg[256], detail[320];
    const char *file = info.file ? info.file : "?";
    if (info.task_id)
        snprintf(msg, sizeof msg, "Executing <Task '%s' at %s:%d> has been running for %.3f seconds: "
                 "the loop is stuck in it", info.name, file, info.line, ran);
    else
        snprintf(msg, sizeof msg, "Executing %s has been running for %.3f seconds: the loop is stuck in it",
                 info.name, ran);
    if (info.what)
        snprintf(detail, sizeof detail, "watchdog: the step began at %s:%d (resumed from %s) and has not "
                 "suspended since", file, info.line, info.what);
    else
        snprintf(detail, sizeof detail, "watchdog: the step began at %s:%d (%s) and has not suspended since",
                 file, info.line, info.task_id ? "the task's first step" : "a callback");
    aw_exception_context c = {
        .message = msg, .detail = detail, .task_name = info.task_id ? info.name : NULL,
        .file = info.file, .line = info.line,
    };
    aw_loop_call_exception_handler(d->loop, &c);
}

static void give_up_socket(tstate *ts)
{
    if (ts->lfd >= 0) close(ts->lfd);
    if (ts->lpath) unlink(ts->lpath);
    aw__free(ts->lpath);
    ts->lfd = -1;
    ts->lpath = NULL;
}

static void *service_main(void *arg)
{
    tstate ts = { .d = arg, .lfd = -1 };
    struct aw__debug *d = ts.d;
    for (;;) {
        pthread_mutex_lock(&d->mu);
        ts.stop = d->stop;
        if (d->new_listen != -2) {
            give_up_socket(&ts);
            ts.lfd = d->new_listen;
            ts.lpath = d->new_path;
            d->new_listen = -2;
            d->new_path = NULL;
        }
        pthread_mutex_unlock(&d->mu);
        if (ts.stop) break;
        if (ts.signal_pending) signal_dump(&ts);
        if (pump(&ts, ts.lfd, POLLIN, INFINITY) & POLLIN) {
            int c = accept4(ts.lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (c >= 0) {
                serve_client(&ts, c);
                close(c);
            }
        }
    }
    give_up_socket(&ts);
    return NULL;
}

int aw__service_start(struct aw__debug *d)
{
    if (d->started) return 0;
    if (d->wake[0] < 0 && pipe2(d->wake, O_NONBLOCK | O_CLOEXEC) < 0) return -errno;
    pthread_mutex_lock(&d->mu);
    d->stop = false;
    pthread_mutex_unlock(&d->mu);
    /* The thread takes no signals: they belong to the program's threads (and
     * SIGINT's handler must not interrupt the thread's poll). */
    int rc = aw__thread_start(service_main, d, &d->thread);
    if (rc < 0) return rc;
    d->started = true;
    return 0;
}

void aw__service_stop(struct aw__debug *d)
{
    if (d->started) {
        pthread_mutex_lock(&d->mu);
        d->stop = true;
        pthread_mutex_unlock(&d->mu);
        wake_thread(d, 'x');
        pthread_join(d->thread, NULL);
        d->started = false;
    }
    /* A socket handed over that the thread never took. */
    if (d->new_listen >= 0) {
        close(d->new_listen);
        if (d->new_path) unlink(d->new_path);
    }
    d->new_listen = -2;
    aw__free(d->new_path);
    d->new_path = NULL;
}

/* ---- the debug socket ---- */

/* A listening socket at path. A socket file nobody answers at is stale and
 * replaced; a live one is left alone. */
static int listen_at(const char *path, int *out)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sa.sun_path) return -ENAMETOOLONG;
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -errno;
    int rc = 0;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        rc = -errno;
        if (rc != -EADDRINUSE) goto out_close;
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool live = probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0;
        if (probe >= 0) close(probe);
        struct stat st;
        if (live || lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode)) goto out_close;
        unlink(path);
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
            rc = -errno;
            goto out_close;
        }
    }
    /* The dump shows the program's insides: only its user may connect. */
    chmod(path, 0600);
    if (listen(fd, 16) < 0) {
        rc = -errno;
        unlink(path);
        goto out_close;
    }
    *out = fd;
    return 0;
out_close:
    close(fd);
    return rc;
}

int aw_loop_serve_debug(aw_loop *loop, const char *path)
{
    if (!loop || (path && !*path)) return -EINVAL;
    struct aw__debug *d = aw__debug_get(loop);
    if (!d) return -ENOMEM;
    int fd = -1;
    char *copy = NULL;
    if (path) {
        copy = aw__strdup(path);
        if (!copy) return -ENOMEM;
        int rc = listen_at(path, &fd);
        if (rc < 0) {
            aw__free(copy);
            return rc;
        }
    } else if (!d->started) {
        return 0;
    }
    pthread_mutex_lock(&d->mu);
    if (d->new_listen >= 0) {   /* an earlier hand-over the thread has not taken yet */
        close(d->new_listen);
        if (d->new_path) unlink(d->new_path);
    }
    aw__free(d->new_path);
    d->new_listen = fd;
    d->new_path = copy;
    pthread_mutex_unlock(&d->mu);
    int rc = aw__service_start(d);
    if (rc < 0) {
        aw__service_stop(d);    /* closes and unlinks the socket handed over */
        return rc;
    }
    wake_thread(d, 'c');
    return 0;
}

/* ---- the dump signal ---- */

static atomic_int sig_fd = -1;          /* the wake pipe of the loop that owns the signal */
static atomic_int sig_in_handler;
static int sig_no;
static struct sigaction sig_old;

static void on_dump_signal(int sig)
{
    (void)sig;
    int saved = errno;
    atomic_fetch_add(&sig_in_handler, 1);
    int fd = atomic_load(&sig_fd);
    if (fd >= 0) {
        ssize_t w = write(fd, "s", 1);
        (void)w;
    }
    atomic_fetch_sub(&sig_in_handler, 1);
    errno = saved;
}

int aw__service_signal_install(struct aw__debug *d, int sig)
{
    int rc = aw__service_start(d);
    if (rc < 0) return rc;
    atomic_store(&sig_fd, d->wake[1]);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_dump_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, &sig_old) < 0) {
        rc = -errno;
        atomic_store(&sig_fd, -1);
        return rc;
    }
    sig_no = sig;
    return 0;
}

void aw__service_signal_remove(struct aw__debug *d)
{
    (void)d;
    if (!sig_no) return;
    sigaction(sig_no, &sig_old, NULL);
    sig_no = 0;
    atomic_store(&sig_fd, -1);
    /* A handler that read the fd before the store may still write to it: the
     * pipe stays open until it is done. */
    while (atomic_load(&sig_in_handler) > 0) sched_yield();
}
