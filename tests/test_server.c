/* Tests of servers and client connections: TCP and Unix round trips, many clients, closing, bad input, EMFILE. */
#include "test_util.h"
#include "internal.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- an echo handler: lines back, upper-cased first letter, until EOF ---- */

static int handled;

static int echo_handler(aw_stream *s, void *arg)
{
    (void)arg;
    handled++;
    for (;;) {
        const char *line;
        size_t len;
        int rc = aw_stream_readline(s, &line, &len);
        if (rc < 0) return rc == -ECONNRESET ? 0 : rc;
        if (len == 0) return 0;
        rc = aw_stream_write(s, line, len);
        if (rc == 0) rc = aw_stream_drain(s);
        if (rc < 0) return rc;
    }
}

static int tcp_main(void *arg, void **result)
{
    (void)arg; (void)result;
    handled = 0;
    aw_server *srv;
    assert_int_equal(aw_start_server("127.0.0.1", 0, echo_handler, NULL, NULL, &srv), 0);
    int port = aw_server_port(srv);
    assert_true(port > 0);
    assert_true(aw_server_is_serving(srv));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    assert_int_equal(aw_server_sockaddr(srv, 0, (struct sockaddr *)&ss, &sl), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(aw_server_sockaddr(srv, 1, (struct sockaddr *)&ss, &sl), -ENOENT);

    aw_stream *c;
    assert_int_equal(aw_open_connection("127.0.0.1", port, NULL, &c), 0);
    assert_int_equal(test_roundtrip(c, "hello\n"), 0);
    assert_int_equal(test_roundtrip(c, "world\n"), 0);
    assert_int_equal(aw_server_connections(srv), 1);
    struct sockaddr_in peer;
    sl = sizeof peer;
    assert_int_equal(aw_stream_peername(c, (struct sockaddr *)&peer, &sl), 0);
    assert_int_equal(ntohs(peer.sin_port), port);
    assert_int_equal(aw_stream_wait_closed(c), 0);

    /* "localhost" may give ::1 first: the race falls through to 127.0.0.1 */
    assert_int_equal(aw_open_connection("localhost", port, NULL, &c), 0);
    assert_int_equal(test_roundtrip(c, "again\n"), 0);
    aw_stream_close(c);

    aw_server_close(srv);
    assert_false(aw_server_is_serving(srv));
    assert_int_equal(aw_server_wait_closed(srv), 0);
    assert_int_equal(aw_server_connections(srv), 0);
    assert_int_equal(handled, 2);
    /* closed: the port is free and nobody listens */
    assert_int_equal(aw_open_connection("127.0.0.1", port, NULL, &c), -ECONNREFUSED);
    aw_server_release(srv);
    return 0;
}

static void tcp_round_trip(void **state)
{
    (void)state;
    test_reports r = { .len = 0 };
    assert_int_equal(test_run(aw_coro(tcp_main, NULL), NULL, &r), 0);
    assert_int_equal(r.count, 0);
}

static int unix_main(void *arg, void **result)
{
    (void)result;
    const char *path = arg;
    handled = 0;
    aw_server *srv;
    assert_int_equal(aw_start_unix_server(path, echo_handler, NULL, NULL, &srv), 0);
    assert_int_equal(aw_server_port(srv), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    aw_stream *c;
    assert_int_equal(aw_open_unix_connection(path, NULL, &c), 0);
    assert_int_equal(test_roundtrip(c, "over unix\n"), 0);
    aw_stream_close(c);
    aw_server_release(srv);
    /* the socket file goes with the server */
    assert_int_equal(stat(path, &st), -1);
    assert_int_equal(aw_open_unix_connection(path, NULL, &c), -ENOENT);
    /* a stale socket file is replaced */
    assert_int_equal(aw_start_unix_server(path, echo_handler, NULL, NULL, &srv), 0);
    aw_server *srv2;
    assert_int_equal(aw_start_unix_server(path, echo_handler, NULL, NULL, &srv2), 0);
    assert_int_equal(aw_open_unix_connection(path, NULL, &c), 0);
    assert_int_equal(test_roundtrip(c, "second\n"), 0);
    aw_stream_close(c);
    aw_server_release(srv);
    aw_server_release(srv2);
    unlink(path);
    return 0;
}

static void unix_round_trip(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof path, "/tmp/aw-test-%d.sock", (int)getpid());
    test_reports r = { .len = 0 };
    assert_int_equal(test_run(aw_coro(unix_main, path), NULL, &r), 0);
    assert_int_equal(r.count, 0);
}

/* ---- many concurrent clients ---- */

#define NCLIENTS 200

typedef struct client_arg {
    int port;
    const char *path;
    int id;
    int ok;
} client_arg;

static int client_task(void *arg, void **result)
{
    (void)result;
    client_arg *a = arg;
    aw_stream *c;
    int rc = a->path ? aw_open_unix_connection(a->path, NULL, &c) : aw_open_connection("127.0.0.1", a->port, NULL, &c);
    if (rc < 0) return rc;
    char msg[64];
    for (int i = 0; i < 5 && rc == 0; i++) {
        snprintf(msg, sizeof msg, "client %d message %d\n", a->id, i);
        rc = test_roundtrip(c, msg);
        if (rc == 0) rc = aw_sleep(0.001 * (a->id % 7));
    }
    if (rc == 0) a->ok = 1;
    aw_stream_close(c);
    return rc;
}

static int many_main(void *arg, void **result)
{
    (void)result;
    const char *path = arg;
    handled = 0;
    aw_server *srv;
    if (path) assert_int_equal(aw_start_unix_server(path, echo_handler, NULL, NULL, &srv), 0);
    else assert_int_equal(aw_start_server("127.0.0.1", 0, echo_handler, NULL, NULL, &srv), 0);
    static client_arg args[NCLIENTS];
    aw_task *tasks[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++) {
        args[i] = (client_arg){ .port = aw_server_port(srv), .path = path, .id = i };
        tasks[i] = aw_spawn(client_task, &args[i]);
        assert_non_null(tasks[i]);
    }
    size_t peak = 0;
    while (peak < NCLIENTS / 2 && !aw_task_done(tasks[NCLIENTS - 1])) {
        if (aw_server_connections(srv) > peak) peak = aw_server_connections(srv);
        assert_int_equal(aw_sleep(0.0005), 0);
    }
    int ok = 0;
    for (int i = 0; i < NCLIENTS; i++) {
        int rc = aw_join(tasks[i], NULL);
        if (rc != 0) fail_msg("client %d: %s", i, aw_strerror(rc));
        ok += args[i].ok;
    }
    assert_int_equal(ok, NCLIENTS);
    assert_true(peak >= NCLIENTS / 2);     /* they really were served at the same time */
    aw_server_close(srv);
    assert_int_equal(aw_server_wait_closed(srv), 0);
    assert_int_equal(handled, NCLIENTS);
    aw_server_release(srv);
    return 0;
}

static void many_clients(void **state)
{
    (void)state;
    test_reports r = { .len = 0 };
    assert_int_equal(test_run(aw_coro(many_main, NULL), NULL, &r), 0);
    assert_int_equal(r.count, 0);
    char path[64];
    snprintf(path, sizeof path, "/tmp/aw-test-many-%d.sock", (int)getpid());
    assert_int_equal(test_run(aw_coro(many_main, path), NULL, &r), 0);
    assert_int_equal(r.count, 0);
}

/* ---- closing: clients, aborts, release with handlers running ---- */

static int blocked;

static int sleepy_handler(aw_stream *s, void *arg)
{
    (void)s; (void)arg;
    blocked++;
    int rc = aw_sleep(1000);
    blocked--;
    return rc;
}

static int close_main(void *arg, void **result)
{
    (void)arg; (void)result;
    handled = 0;
    aw_server *srv;
    assert_int_equal(aw_start_server("127.0.0.1", 0, echo_handler, NULL, NULL, &srv), 0);
    int port = aw_server_port(srv);
    aw_stream *c1, *c2;
    assert_int_equal(aw_open_connection("127.0.0.1", port, NULL, &c1), 0);
    assert_int_equal(aw_open_connection("127.0.0.1", port, NULL, &c2), 0);
    assert_int_equal(test_roundtrip(c1, "a\n"), 0);
    assert_int_equal(test_roundtrip(c2, "b\n"), 0);
    /* close: no new connections; the open ones go on */
    aw_server_close(srv);
    aw_stream *c3;
    assert_int_equal(aw_open_connection("127.0.0.1", port, NULL, &c3), -ECONNREFUSED);
    assert_int_equal(test_roundtrip(c1, "still\n"), 0);
    /* close_clients: handlers see the end of their streams */
    aw_server_close_clients(srv);
    assert_int_equal(aw_server_wait_closed(srv), 0);
    assert_int_equal(aw_server_connections(srv), 0);
    const char *line;
    size_t len;
    assert_int_equal(aw_stream_readline(c1, &line, &len), 0);
    assert_int_equal(len, 0);
    aw_stream_close(c1);
    aw_stream_close(c2);
    aw_server_release(srv);

    /* abort_clients cancels the handlers */
    blocked = 0;
    assert_int_equal(aw_start_server("127.0.0.1", 0, sleepy_handler, NULL, NULL, &srv), 0);
    port = aw_server_port(srv);
    assert_int_equal(aw_open_connection("127.0.0.1", port, NULL, &c1), 0);
    assert_int_equal(aw_open_connection("127.0.0.1", port, NULL, &c2), 0);
    assert_int_equal(aw_sleep(0.01), 0);
    assert_int_equal(blocked, 2);
    aw_server_close(srv);
    aw_server_abort_clients(srv);
    assert_int_equal(aw_server_wait_closed(srv), 0);
    assert_int_equal(blocked, 0);
    assert_int_equal(aw_stream_readline(c1, &line, &len), 0);
    assert_int_equal(len, 0);
    aw_stream_close(c1);
    aw_stream_close(c2);
    aw_server_release(srv);

    /* release with handlers still running: they finish on their own (here:
     * cancelled when aw_run ends), and nothing leaks */
    assert_int_equal(aw_start_server("127.0.0.1", 0, sleepy_handler, NULL, NULL, &srv), 0);
    assert_int_equal(aw_open_connection("127.0.0.1", aw_server_port(srv), NULL, &c1), 0);
    assert_int_equal(aw_sleep(0.01), 0);
    aw_server_release(srv);
    aw_stream_close(c1);
    /* a server released before its accept task ever ran */
    assert_int_equal(aw_start_server("127.0.0.1", 0, sleepy_handler, NULL, NULL, &srv), 0);
    aw_server_release(srv);
    return 0;
}

static void closing(void **state)
{
    (void)state;
    test_reports r = { .len = 0 };
    assert_int_equal(test_run(aw_coro(close_main, NULL), NULL, &r), 0);
    assert_int_equal(r.count, 0);
}

/* ---- a handler's error is reported ---- */

static int failing_handler(aw_stream *s, void *arg)
{
    (void)s; (void)arg;
    return aw_raise(-EPROTO, "bad request from client");
}

static int report_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_server *srv;
    assert_int_equal(aw_start_server("127.0.0.1", 0, failing_handler, NULL, NULL, &srv), 0);
    aw_stream *c;
    assert_int_equal(aw_open_connection("127.0.0.1", aw_server_port(srv), NULL, &c), 0);
    const char *line;
    size_t len;
    assert_int_equal(aw_stream_readline(c, &line, &len), 0);   /* closed by the server */
    assert_int_equal(len, 0);
    aw_stream_close(c);
    aw_server_release(srv);
    return 0;
}

static void handler_error_reported(void **state)
{
    (void)state;
    test_reports r = { .len = 0 };
    assert_int_equal(test_run(aw_coro(report_main, NULL), NULL, &r), 0);
    assert_int_equal(r.count, 1);
    assert_contains(r.text, "Unhandled error in client connection handler");
    assert_contains(r.text, "bad request from client");
}

/* ---- bad input ---- */

static int bad_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_server *srv, *srv2;
    assert_int_equal(aw_start_server("127.0.0.1", 0, echo_handler, NULL, NULL, &srv), 0);
    int port = aw_server_port(srv);
    /* port in use (SO_REUSEADDR does not allow two listeners) */
    srv2 = (aw_server *)1;
    assert_int_equal(aw_start_server("127.0.0.1", port, echo_handler, NULL, NULL, &srv2), -EADDRINUSE);
    assert_null(srv2);
    /* ...unless both ask for SO_REUSEPORT */
    aw_server_release(srv);
    aw_server_opts ro = { .reuse_port = true };
    assert_int_equal(aw_start_server("127.0.0.1", 0, echo_handler, NULL, &ro, &srv), 0);
    assert_int_equal(aw_start_server("127.0.0.1", aw_server_port(srv), echo_handler, NULL, &ro, &srv2), 0);
    aw_server_release(srv2);
    aw_server_release(srv);
    /* connection refused */
    aw_stream *c = (aw_stream *)1;
    assert_int_equal(aw_open_connection("127.0.0.1", port, NULL, &c), -ECONNREFUSED);
    assert_null(c);
    /* a host that does not resolve: a name the resolver refuses by itself, so
     * no query leaves the machine (tests talk to loopback only) */
    int rc = aw_open_connection("no such host!", 80, NULL, &c);
    assert_true(rc < 0);
    assert_int_not_equal(rc, AW_ECANCELLED);
    /* arguments */
    assert_int_equal(aw_open_connection(NULL, 80, NULL, &c), -EINVAL);
    assert_int_equal(aw_open_connection("127.0.0.1", 0, NULL, &c), -EINVAL);
    assert_int_equal(aw_open_connection("127.0.0.1", 70000, NULL, &c), -EINVAL);
    assert_int_equal(aw_start_server("127.0.0.1", 0, NULL, NULL, NULL, &srv), -EINVAL);
    assert_int_equal(aw_start_server("not an address!", 0, echo_handler, NULL, NULL, &srv) < 0, 1);
    char longpath[200];
    memset(longpath, 'x', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = 0;
    assert_int_equal(aw_start_unix_server(longpath, echo_handler, NULL, NULL, &srv), -ENAMETOOLONG);
    assert_int_equal(aw_open_unix_connection(longpath, NULL, &c), -ENAMETOOLONG);
    assert_int_equal(aw_start_unix_server("/nonexistent-dir/x.sock", echo_handler, NULL, NULL, &srv), -ENOENT);
    /* a connect that cannot finish (a listener whose queue is full drops the
     * SYN): the timeout, on the virtual clock */
    int l = aw_socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(bind(l, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_int_equal(listen(l, 0), 0);
    socklen_t sl = sizeof sin;
    getsockname(l, (struct sockaddr *)&sin, &sl);
    int filler[4];
    for (int i = 0; i < 4; i++) {
        filler[i] = aw_socket(AF_INET, SOCK_STREAM, 0);
        connect(filler[i], (struct sockaddr *)&sin, sizeof sin);
    }
    aw_connect_opts co = { .timeout = 5 };
    double t0 = aw_now();
    rc = aw_open_connection("127.0.0.1", ntohs(sin.sin_port), &co, &c);
    assert_int_equal(rc, AW_ETIMEDOUT);
    assert_true(aw_now() - t0 >= 5);
    for (int i = 0; i < 4; i++) aw_sock_close(filler[i]);
    aw_sock_close(l);
    return 0;
}

static void bad_input(void **state)
{
    (void)state;
    test_reports r = { .len = 0 };
    assert_int_equal(test_run(aw_coro(bad_main, NULL), NULL, &r), 0);
    assert_int_equal(r.count, 0);
    aw_server *srv;
    assert_int_equal(aw_start_server("127.0.0.1", 0, echo_handler, NULL, NULL, &srv), AW_ENOTASK);
}

/* ---- idle clients are closed after the handler's timeout (virtual clock) ---- */

static int idle_handler(aw_stream *s, void *arg)
{
    (void)arg;
    for (;;) {
        aw_scope sc;
        aw_scope_begin(&sc);
        aw_scope_set_deadline(&sc, aw_now() + 30);
        const char *line;
        size_t len;
        int rc = aw_stream_readline(s, &line, &len);
        if (aw_scope_end(&sc) == AW_ETIMEDOUT) return 0;    /* idle: close */
        if (rc < 0 || len == 0) return rc < 0 ? rc : 0;
        rc = aw_stream_write(s, line, len);
        if (rc < 0) return rc;
    }
}

static int idle_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_server *srv;
    assert_int_equal(aw_start_server("127.0.0.1", 0, idle_handler, NULL, NULL, &srv), 0);
    aw_stream *busy, *idle;
    assert_int_equal(aw_open_connection("127.0.0.1", aw_server_port(srv), NULL, &idle), 0);
    assert_int_equal(aw_open_connection("127.0.0.1", aw_server_port(srv), NULL, &busy), 0);
    double t0 = aw_now();
    assert_int_equal(test_roundtrip(busy, "x\n"), 0);
    assert_int_equal(aw_sleep(20), 0);
    assert_int_equal(test_roundtrip(busy, "y\n"), 0);        /* keeps its connection alive */
    const char *line;
    size_t len;
    assert_int_equal(aw_stream_readline(idle, &line, &len), 0);     /* sent nothing: closed */
    assert_int_equal(len, 0);
    double waited = aw_now() - t0;
    assert_true(waited >= 30 && waited < 31);
    assert_int_equal(aw_server_connections(srv), 1);
    assert_int_equal(aw_stream_readline(busy, &line, &len), 0);     /* then the busy one idles out */
    assert_int_equal(len, 0);
    assert_true(aw_now() - t0 >= 50);
    aw_stream_close(idle);
    aw_stream_close(busy);
    aw_server_release(srv);
    return 0;
}

static void idle_client_closed(void **state)
{
    (void)state;
    test_reports r = { .len = 0 };
    assert_int_equal(test_run(aw_coro(idle_main, NULL), NULL, &r), 0);
    assert_int_equal(r.count, 0);
}

/* ---- EMFILE on accept: keep serving, recover ---- */

/* The limit under which exactly n more fds can be opened (the n lowest free
 * numbers; fds inherited above them do not matter). */
static rlim_t limit_for(int n)
{
    int fds[8], hi = -1;
    for (int i = 0; i < n; i++) {
        fds[i] = fcntl(0, F_DUPFD_CLOEXEC, 0);
        if (fds[i] > hi) hi = fds[i];
    }
    for (int i = 0; i < n; i++) close(fds[i]);
    return (rlim_t)hi + 1;
}

static int emfile_main(void *arg, void **result)
{
    (void)arg; (void)result;
    handled = 0;
    aw_server_opts so = { .accept_retry_delay = 0.5 };
    aw_server *srv;
    assert_int_equal(aw_start_server("127.0.0.1", 0, echo_handler, NULL, &so, &srv), 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)aw_server_port(srv)),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    /* Client sockets first: then only the server's accepts need new fds. */
    int cfd[4];
    for (int i = 0; i < 4; i++) assert_true((cfd[i] = aw_socket(AF_INET, SOCK_STREAM, 0)) >= 0);
    struct rlimit old, lim;
    getrlimit(RLIMIT_NOFILE, &old);
    lim = old;
    lim.rlim_cur = limit_for(2);                /* room for two accepted connections */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
    for (int i = 0; i < 4; i++) assert_int_equal(aw_sock_connect(cfd[i], (struct sockaddr *)&sin, sizeof sin), 0);
    aw_stream *c[4];
    for (int i = 0; i < 4; i++) assert_int_equal(aw_stream_open_fd(cfd[i], cfd[i], NULL, &c[i]), 0);
    /* two are served; the server keeps serving them while it cannot accept */
    assert_int_equal(test_roundtrip(c[0], "zero\n"), 0);
    assert_int_equal(test_roundtrip(c[1], "one\n"), 0);
    assert_int_equal(aw_sleep(2), 0);
    assert_int_equal(handled, 2);
    assert_int_equal(test_roundtrip(c[0], "zero again\n"), 0);
    /* one closes: its fd comes back and the next pending client is accepted */
    aw_stream_close(c[0]);
    assert_int_equal(test_roundtrip(c[2], "two\n"), 0);
    aw_stream_close(c[1]);
    assert_int_equal(test_roundtrip(c[3], "three\n"), 0);
    assert_int_equal(handled, 4);
    aw_stream_close(c[2]);
    aw_stream_close(c[3]);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    aw_server_release(srv);
    return 0;
}

static void emfile_on_accept(void **state)
{
    (void)state;
    test_reports r = { .len = 0 };
    assert_int_equal(test_run(aw_coro(emfile_main, NULL), NULL, &r), 0);
    /* reported once per episode, not once per retry */
    assert_true(r.count >= 1 && r.count <= 2);
    assert_contains(r.text, "accept() out of system resource; retrying in 0.5 s");
    assert_contains(r.text, "OSError");
}

/* ---- dual stack ---- */

static int dual_main(void *arg, void **result)
{
    (void)arg; (void)result;
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    if (probe < 0) return 1;        /* no IPv6 here */
    close(probe);
    aw_server_opts so = { .dual_stack = true };
    aw_server *srv;
    int rc = aw_start_server(NULL, 0, echo_handler, NULL, &so, &srv);
    if (rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT) return 1;
    assert_int_equal(rc, 0);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    assert_int_equal(aw_server_sockaddr(srv, 0, (struct sockaddr *)&ss, &sl), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(aw_server_sockaddr(srv, 1, (struct sockaddr *)&ss, &sl), -ENOENT);
    aw_stream *c;
    assert_int_equal(aw_open_connection("127.0.0.1", aw_server_port(srv), NULL, &c), 0);   /* IPv4 to the IPv6 socket */
    assert_int_equal(test_roundtrip(c, "v4\n"), 0);
    aw_stream_close(c);
    if (aw_open_connection("::1", aw_server_port(srv), NULL, &c) == 0) {
        assert_int_equal(test_roundtrip(c, "v6\n"), 0);
        aw_stream_close(c);
    }
    aw_server_release(srv);
    return 0;
}

static void dual_stack(void **state)
{
    (void)state;
    void *r;
    int rc = test_run(aw_coro(dual_main, NULL), &r, NULL);
    if (rc == 1) skip();
    assert_int_equal(rc, 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_DFL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tcp_round_trip),
        cmocka_unit_test(unix_round_trip),
        cmocka_unit_test(many_clients),
        cmocka_unit_test(closing),
        cmocka_unit_test(handler_error_reported),
        cmocka_unit_test(bad_input),
        cmocka_unit_test(idle_client_closed),
        cmocka_unit_test(emfile_on_accept),
        cmocka_unit_test(dual_stack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
