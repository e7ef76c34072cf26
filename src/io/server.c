/* Servers: listening sockets, one accept task per socket, one handler task per connection. */
#include "internal.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/*
 * The server is reference-counted: the user's handle, each accept task and
 * each connection hold one, so a handler that outlives aw_server_release still
 * finds its server. Closing stops listening at once (the sockets are closed in
 * aw_server_close itself, so the port is free when it returns); connections go
 * on until their handlers return or aw_server_close_clients/_abort_clients.
 *
 * Accepting takes every pending connection in one go (yielding every
 * ACCEPT_BATCH), so a burst costs one readiness event. Out of fds (EMFILE,
 * ENFILE) or memory, the accept task reports it once and pauses for
 * accept_retry_delay, as asyncio does; connections already open keep being
 * served, and accepting resumes by itself.
 */

#define DEFAULT_BACKLOG 511
#define DEFAULT_RETRY 1.0
#define ACCEPT_BATCH 128
#define MAX_LISTENERS 16

typedef struct listener {
    struct aw_server *srv;
    int fd;
    aw_task *task;
    struct sockaddr_storage addr;
    socklen_t len;
} listener;

struct aw_server {
    aw_loop *loop;
    aw_stream_handler handler;
    void *arg;
    aw_stream_opts sopts;
    double retry_delay;
    bool tcp;
    bool serving;
    bool released;
    uint32_t refs;
    listener ls[MAX_LISTENERS];
    size_t nls;
    aw__node conns;             /* aw_stream.srv_node */
    size_t nconns;
    aw__node waiters;           /* aw__waiter: wait_closed */
    char *unix_path;            /* removed on close if it is still our socket */
    dev_t unix_dev;
    ino_t unix_ino;
    aw_tls_config *tls;         /* a reference, or NULL for plain connections */
};

static void server_unref(aw_server *srv)
{
    if (--srv->refs > 0) return;
    aw_tls_config_free(srv->tls);
    aw__free(srv->unix_path);
    aw__free(srv);
}

static void wake_waiters(aw_server *srv)
{
    if (srv->serving || srv->nconns > 0) return;
    aw__node *n;
    while ((n = aw__list_pop(&srv->waiters))) aw__task_wake(AW__CONTAINER(n, aw__waiter, node)->task, 0);
}

/* ---- connections ---- */

static void conn_done(aw_stream *s, bool abort)
{
    aw_server *srv = s->srv;
    aw__stream_shut(s, abort);
    aw__list_remove(&s->srv_node);
    srv->nconns--;
    aw_task_release(s->task);
    s->task = NULL;
    s->srv = NULL;
    aw__stream_unref(s);
    wake_waiters(srv);
    server_unref(srv);
}

static void conn_never_ran(void *arg)
{
    conn_done(arg, true);
}

static int conn_main(void *arg, void **result)
{
    (void)result;
    aw_stream *s = arg;
    aw_server *srv = s->srv;
    aw_loop *loop = srv->loop;
    aw_task *t = loop->current;
    /* TLS: the handshake runs here, so a slow client never holds up accepting */
    if (srv->tls && aw__tls_server_start(s, srv->tls, __FILE__, __LINE__) < 0) {
        conn_done(s, true);
        return 0;
    }
    int rc = srv->handler(s, srv->arg);
    if (rc < 0 && rc != AW_ECANCELLED) {
        bool own = t->err_code == rc && t->err_msg;
        aw__loop_report(loop, "Unhandled error in client connection handler", rc, t,
                        own ? t->err_msg : NULL, own ? t->err_file : NULL, own ? t->err_line : 0,
                        own ? t->err_func : NULL);
    }
    conn_done(s, aw__scope_cancelling(t) != NULL);
    return 0;
}

static void serve_conn(aw_server *srv, int fd)
{
    if (srv->tcp) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    aw_stream *s;
    if (aw__stream_new(fd, fd, true, &srv->sopts, &s) < 0) {
        close(fd);
        return;
    }
    s->borrowed = true;
    aw_task *t = aw__task_new(srv->loop, conn_main, s, "conn_main", __FILE__, __LINE__, NULL);
    if (!t) {
        aw__stream_unref(s);
        return;
    }
    t->never_ran = conn_never_ran;
    s->srv = srv;
    s->task = t;
    srv->refs++;
    aw__list_push(&srv->conns, &s->srv_node);
    srv->nconns++;
}

/* ---- accepting ---- */

static void close_listener(listener *l)
{
    if (l->fd < 0) return;
    aw_sock_close(l->fd);
    l->fd = -1;
}

static void accept_done(listener *l)
{
    aw_server *srv = l->srv;
    close_listener(l);
    aw_task_release(l->task);
    l->task = NULL;
    server_unref(srv);
}

static void accept_never_ran(void *arg)
{
    accept_done(arg);
}

static int accept_main(void *arg, void **result)
{
    (void)result;
    listener *l = arg;
    aw_server *srv = l->srv;
    aw_task *t = srv->loop->current;
    bool reported = false;
    int batch = 0;
    while (l->fd >= 0) {
        int c = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c >= 0) {
            reported = false;
            serve_conn(srv, c);
            if (++batch == ACCEPT_BATCH) {
                batch = 0;
                if (aw_sleep(0) < 0) break;
            }
            continue;
        }
        int e = errno;
        if (e == EINTR || e == ECONNABORTED || e == EPROTO) continue;
        if (e == EAGAIN) {
            batch = 0;
            if (aw__fd_wait(t, l->fd, 1, __FILE__, __LINE__) < 0) break;
            continue;
        }
        if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
            if (!reported) {
                char msg[128];
                snprintf(msg, sizeof msg, "accept() out of system resource; retrying in %g s", srv->retry_delay);
                aw__loop_report(srv->loop, msg, -e, t, NULL, NULL, 0, NULL);
                reported = true;
            }
            if (aw_sleep(srv->retry_delay) < 0) break;
            continue;
        }
        aw__loop_report(srv->loop, "accept() failed; the server stops listening on this socket",
                        -e, t, NULL, NULL, 0, NULL);
        break;
    }
    accept_done(l);
    return 0;
}

/* ---- starting ---- */

static int server_new(aw_loop *loop, aw_stream_handler handler, void *arg, const aw_server_opts *o,
                      aw_server **out)
{
    int rc = o && o->tls ? aw__tls_config_check(o->tls, AW_TLS_SERVER) : 0;
    if (rc < 0) return rc;
    aw_server *srv = aw__calloc(1, sizeof *srv);
    if (!srv) return -ENOMEM;
    if (o && o->tls) srv->tls = aw_tls_config_ref(o->tls);
    srv->loop = loop;
    srv->handler = handler;
    srv->arg = arg;
    if (o) srv->sopts = o->stream;
    srv->retry_delay = o && o->accept_retry_delay > 0 ? o->accept_retry_delay : DEFAULT_RETRY;
    srv->refs = 1;
    for (size_t i = 0; i < MAX_LISTENERS; i++) srv->ls[i].fd = -1;
    aw__list_init(&srv->conns);
    aw__list_init(&srv->waiters);
    *out = srv;
    return 0;
}

static int add_listener(aw_server *srv, int fd, int backlog)
{
    listener *l = &srv->ls[srv->nls];
    l->srv = srv;
    l->fd = fd;
    l->len = sizeof l->addr;
    if (listen(fd, backlog) < 0 || getsockname(fd, (struct sockaddr *)&l->addr, &l->len) < 0) {
        int e = -errno;
        l->fd = -1;
        return e;
    }
    srv->nls++;
    return 0;
}

/* Accept tasks start once every socket listens, so a failure leaves nothing running. */
static int start_accepting(aw_server *srv)
{
    for (size_t i = 0; i < srv->nls; i++) {
        listener *l = &srv->ls[i];
        l->task = aw__task_new(srv->loop, accept_main, l, "accept_main", __FILE__, __LINE__, "aw-accept");
        if (!l->task) return -ENOMEM;
        l->task->never_ran = accept_never_ran;
        srv->refs++;
    }
    srv->serving = true;
    return 0;
}

static void set_port(struct sockaddr *sa, int port)
{
    if (sa->sa_family == AF_INET) ((struct sockaddr_in *)(void *)sa)->sin_port = htons((uint16_t)port);
    else if (sa->sa_family == AF_INET6) ((struct sockaddr_in6 *)(void *)sa)->sin6_port = htons((uint16_t)port);
}

static int get_port(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) return ntohs(((const struct sockaddr_in *)(const void *)ss)->sin_port);
    if (ss->ss_family == AF_INET6) return ntohs(((const struct sockaddr_in6 *)(const void *)ss)->sin6_port);
    return 0;
}

int aw__start_server(const char *host, int port, aw_stream_handler handler, void *arg,
                     const aw_server_opts *opts, aw_server **out, const char *file, int line)
{
    (void)file; (void)line;
    if (out) *out = NULL;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (!handler || !out || port < 0 || port > 65535) return -EINVAL;
    bool dual = opts && opts->dual_stack;
    int family = opts ? opts->family : AF_UNSPEC;
    if (dual && (!host || !strcmp(host, "::") || !*host)) {
        host = "::";
        family = AF_INET6;
    }
    struct addrinfo *res;
    rc = aw__resolve(host, port, family, SOCK_STREAM, AI_PASSIVE, &res);
    if (rc < 0) return rc;
    aw_server *srv;
    rc = server_new(t->loop, handler, arg, opts, &srv);
    if (rc < 0) goto out_free_res;
    srv->tcp = true;
    int backlog = opts && opts->backlog > 0 ? opts->backlog : DEFAULT_BACKLOG;
    int bound_port = port;
    for (struct addrinfo *ai = res; ai && srv->nls < MAX_LISTENERS; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
        int fd = aw_socket(ai->ai_family, SOCK_STREAM, ai->ai_protocol);
        if (fd < 0) { rc = fd; goto out_close; }
        int one = 1, v6only = dual ? 0 : 1;
        if (!(opts && opts->no_reuse_address)) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (opts && opts->reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
            rc = -errno;
            close(fd);
            goto out_close;
        }
        if (ai->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
        /* Port 0 on several addresses: the port the first one got, on all of them. */
        if (port == 0 && bound_port) set_port(ai->ai_addr, bound_port);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            rc = -errno;
            close(fd);
            goto out_close;
        }
        if ((rc = add_listener(srv, fd, backlog)) < 0) {
            close(fd);
            goto out_close;
        }
        if (!bound_port) bound_port = get_port(&srv->ls[srv->nls - 1].addr);
    }
    if (srv->nls == 0) { rc = -EADDRNOTAVAIL; goto out_close; }
    if ((rc = start_accepting(srv)) < 0) goto out_close;
    freeaddrinfo(res);
    *out = srv;
    return 0;
out_close:
    aw_server_release(srv);
out_free_res:
    freeaddrinfo(res);
    return rc;
}

int aw__start_unix_server(const char *path, aw_stream_handler handler, void *arg,
                          const aw_server_opts *opts, aw_server **out, const char *file, int line)
{
    (void)file; (void)line;
    if (out) *out = NULL;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (!handler || !out || !path || !*path) return -EINVAL;
    struct sockaddr_un sun;
    socklen_t sunlen;
    rc = aw__sockaddr_un(path, &sun, &sunlen);
    if (rc < 0) return rc;
    aw_server *srv;
    rc = server_new(t->loop, handler, arg, opts, &srv);
    if (rc < 0) return rc;
    srv->unix_path = aw__strdup(path);
    if (!srv->unix_path) { rc = -ENOMEM; goto out_release; }
    /* A socket file left by an earlier server is replaced, as asyncio does. */
    struct stat st;
    if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path);
    int fd = aw_socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) { rc = fd; goto out_release; }
    if (bind(fd, (struct sockaddr *)&sun, sunlen) < 0) {
        rc = -errno;
        close(fd);
        aw__free(srv->unix_path);
        srv->unix_path = NULL;          /* not ours: never remove it */
        goto out_release;
    }
    if (stat(path, &st) == 0) {
        srv->unix_dev = st.st_dev;
        srv->unix_ino = st.st_ino;
    }
    if ((rc = add_listener(srv, fd, opts && opts->backlog > 0 ? opts->backlog : DEFAULT_BACKLOG)) < 0) {
        close(fd);
        goto out_release;
    }
    if ((rc = start_accepting(srv)) < 0) goto out_release;
    *out = srv;
    return 0;
out_release:
    aw_server_release(srv);
    return rc;
}

/* ---- closing ---- */

void aw_server_close(aw_server *srv)
{
    if (!srv) return;
    for (size_t i = 0; i < srv->nls; i++) {
        listener *l = &srv->ls[i];
        /* aw_sock_close wakes an accept task parked on the socket (-EBADF);
         * one pausing after EMFILE is cancelled. */
        close_listener(l);
        if (l->task) aw_task_cancel(l->task, NULL);
    }
    if (srv->unix_path) {
        struct stat st;
        if (stat(srv->unix_path, &st) == 0 && st.st_dev == srv->unix_dev && st.st_ino == srv->unix_ino)
            unlink(srv->unix_path);
        aw__free(srv->unix_path);
        srv->unix_path = NULL;
    }
    srv->serving = false;
    wake_waiters(srv);
}

void aw_server_close_clients(aw_server *srv)
{
    if (!srv) return;
    for (aw__node *n = srv->conns.next; n != &srv->conns; n = n->next) {
        aw_stream *s = AW__CONTAINER(n, aw_stream, srv_node);
        int fd = s->rfd >= 0 ? s->rfd : s->wfd;
        if (fd >= 0) shutdown(fd, SHUT_RDWR);
    }
}

void aw_server_abort_clients(aw_server *srv)
{
    if (!srv) return;
    for (aw__node *n = srv->conns.next; n != &srv->conns; n = n->next) {
        aw_stream *s = AW__CONTAINER(n, aw_stream, srv_node);
        if (s->task) aw_task_cancel(s->task, NULL);
    }
}

static bool waiter_unpark(aw_task *t, void *ctx)
{
    (void)t;
    aw__waiter *w = ctx;
    if (aw__node_linked(&w->node)) aw__list_remove(&w->node);
    return true;
}

int aw__server_wait_closed(aw_server *srv, const char *file, int line)
{
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (!srv) return -EINVAL;
    srv->refs++;
    while (srv->serving || srv->nconns > 0) {
        aw__waiter w = { .task = t };
        aw__list_push(&srv->waiters, &w.node);
        rc = aw__park(t, waiter_unpark, &w, "server", srv, file, line);
        if (aw__node_linked(&w.node)) aw__list_remove(&w.node);
        if (rc < 0) break;
    }
    server_unref(srv);
    return rc;
}

void aw_server_release(aw_server *srv)
{
    if (!srv || srv->released) return;
    srv->released = true;
    aw_server_close(srv);
    server_unref(srv);
}

int aw_server_port(const aw_server *srv)
{
    if (!srv || srv->nls == 0) return 0;
    return get_port(&srv->ls[0].addr);
}

int aw_server_sockaddr(const aw_server *srv, size_t i, struct sockaddr *addr, socklen_t *len)
{
    if (!srv || !addr || !len) return -EINVAL;
    if (i >= srv->nls) return -ENOENT;
    socklen_t n = srv->ls[i].len < *len ? srv->ls[i].len : *len;
    memcpy(addr, &srv->ls[i].addr, n);
    *len = srv->ls[i].len;
    return 0;
}

size_t aw_server_connections(const aw_server *srv) { return srv ? srv->nconns : 0; }
bool aw_server_is_serving(const aw_server *srv) { return srv && srv->serving; }
