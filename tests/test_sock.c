/* Tests of the low-level socket calls (loop.sock_*): connect, accept, send, recv, sendfile, one waiter per direction. */
#include "test_util.h"
#include "internal.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/un.h>
#include <unistd.h>

static int listener(struct sockaddr_in *sin)
{
    int l = aw_socket(AF_INET, SOCK_STREAM, 0);
    assert_true(l >= 0);
    memset(sin, 0, sizeof *sin);
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(l, (struct sockaddr *)sin, sizeof *sin), 0);
    assert_int_equal(listen(l, 16), 0);
    socklen_t sl = sizeof *sin;
    assert_int_equal(getsockname(l, (struct sockaddr *)sin, &sl), 0);
    return l;
}

typedef struct srv_arg {
    int lfd;
    size_t echoed;
} srv_arg;

/* Accept one connection and echo until EOF, with the raw calls. */
static int echo_once(void *arg, void **result)
{
    (void)result;
    srv_arg *a = arg;
    struct sockaddr_storage peer;
    socklen_t pl = sizeof peer;
    int c = aw_sock_accept(a->lfd, (struct sockaddr *)&peer, &pl);
    if (c < 0) return c;
    assert_int_equal(peer.ss_family, AF_INET);
    assert_true(fcntl(c, F_GETFD) & FD_CLOEXEC);
    assert_true(fcntl(c, F_GETFL) & O_NONBLOCK);
    char buf[4096];
    for (;;) {
        size_t got;
        int rc = aw_sock_recv(c, buf, sizeof buf, &got);
        if (rc < 0 || got == 0) { aw_sock_close(c); return rc; }
        rc = aw_sock_send(c, buf, got, NULL);
        if (rc < 0) { aw_sock_close(c); return rc; }
        a->echoed += got;
    }
}

static int roundtrip_main(void *arg, void **result)
{
    (void)arg; (void)result;
    struct sockaddr_in sin;
    int l = listener(&sin);
    srv_arg sa = { .lfd = l };
    aw_task *st = aw_spawn(echo_once, &sa);
    int c = aw_socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c >= 0);
    assert_true(fcntl(c, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(aw_sock_connect(c, (struct sockaddr *)&sin, sizeof sin), 0);
    /* 1 MiB through: sends that fill the socket buffer wait and go on */
    static char out[1 << 20], in[1 << 20];
    for (size_t i = 0; i < sizeof out; i++) out[i] = (char)(i * 13);
    size_t sent = 0;
    /* interleave: send in pieces, receive what comes back */
    size_t recvd = 0;
    while (recvd < sizeof in) {
        if (sent < sizeof out) {
            size_t k = sizeof out - sent < 65536 ? sizeof out - sent : 65536;
            size_t s1;
            assert_int_equal(aw_sock_send(c, out + sent, k, &s1), 0);
            assert_int_equal(s1, k);
            sent += k;
        }
        size_t got;
        assert_int_equal(aw_sock_recv(c, in + recvd, sizeof in - recvd, &got), 0);
        assert_true(got > 0);
        recvd += got;
    }
    assert_memory_equal(in, out, sizeof in);
    shutdown(c, SHUT_WR);
    size_t got = 1;
    assert_int_equal(aw_sock_recv(c, in, 10, &got), 0);
    assert_int_equal(got, 0);   /* EOF */
    assert_int_equal(aw_join(st, NULL), 0);
    assert_int_equal(sa.echoed, sizeof out);
    assert_int_equal(aw_sock_close(c), 0);
    assert_int_equal(aw_sock_close(l), 0);
    return 0;
}

static void tcp_round_trip(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(roundtrip_main, NULL), NULL, NULL), 0);
}

/* ---- one waiter per direction, close wakes, cancellation, timeouts ---- */

static int recv_one(void *arg, void **result)
{
    (void)result;
    char b;
    size_t got;
    return aw_sock_recv((int)(intptr_t)arg, &b, 1, &got);
}

static int busy_main(void *arg, void **result)
{
    (void)arg; (void)result;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    aw_task *t = aw_spawn(recv_one, (void *)(intptr_t)sv[0]);
    assert_int_equal(aw_sleep(0.01), 0);
    char b;
    size_t got;
    /* a second reader: refused before it can take the first one's bytes */
    assert_int_equal(aw_sock_recv(sv[0], &b, 1, &got), AW_EBUSY);
    /* ...but a writer may wait at the same time */
    assert_int_equal(aw_sock_send(sv[0], "x", 1, NULL), 0);
    /* closing the fd wakes the waiting reader with -EBADF */
    assert_int_equal(aw_sock_close(sv[0]), 0);
    assert_int_equal(aw_join(t, NULL), -EBADF);
    /* a closed fd */
    assert_int_equal(aw_sock_recv(sv[0], &b, 1, &got), -EBADF);
    assert_int_equal(aw_sock_send(sv[0], "x", 1, NULL), -EBADF);
    assert_int_equal(aw_sock_recv(-1, &b, 1, &got), -EBADF);
    assert_int_equal(aw_sock_close(-1), -EBADF);

    /* a timeout through a scope, on the virtual clock */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    double t0 = aw_now();
    aw_scope sc;
    aw_scope_begin(&sc);
    aw_scope_set_deadline(&sc, aw_now() + 10);
    assert_int_equal(aw_sock_recv(sv[0], &b, 1, &got), AW_ECANCELLED);
    assert_int_equal(aw_scope_end(&sc), AW_ETIMEDOUT);
    assert_true(aw_now() - t0 >= 10);
    /* ...and the fd still works afterwards */
    assert_int_equal(aw_sock_send(sv[1], "y", 1, NULL), 0);
    assert_int_equal(aw_sock_recv(sv[0], &b, 1, &got), 0);
    assert_int_equal(b, 'y');
    /* a cancelled task fails at once (level-triggered) */
    aw_scope_begin(&sc);
    aw_scope_cancel(&sc);
    assert_int_equal(aw_sock_send(sv[0], "z", 1, NULL), AW_ECANCELLED);
    aw_scope_end(&sc);
    aw_sock_close(sv[0]);
    aw_sock_close(sv[1]);
    return 0;
}

static void one_waiter_per_direction(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(busy_main, NULL), NULL, NULL), 0);
    char b;
    size_t got;
    assert_int_equal(aw_sock_recv(0, &b, 1, &got), AW_ENOTASK);
}

/* ---- connect errors ---- */

static int refused_main(void *arg, void **result)
{
    (void)arg; (void)result;
    struct sockaddr_in sin;
    int l = listener(&sin);
    aw_sock_close(l);       /* nobody listens there now */
    int c = aw_socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(aw_sock_connect(c, (struct sockaddr *)&sin, sizeof sin), -ECONNREFUSED);
    aw_sock_close(c);
    /* Unix: no such socket */
    struct sockaddr_un sun = { .sun_family = AF_UNIX, .sun_path = "/nonexistent/aw.sock" };
    c = aw_socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(aw_sock_connect(c, (struct sockaddr *)&sun, sizeof sun), -ENOENT);
    aw_sock_close(c);
    assert_int_equal(aw_sock_connect(-1, (struct sockaddr *)&sun, sizeof sun), -EBADF);
    assert_int_equal(aw_sock_connect(3, NULL, 0), -EINVAL);
    assert_int_equal(aw_socket(12345, SOCK_STREAM, 0), -EAFNOSUPPORT);
    return 0;
}

static void connect_errors(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(refused_main, NULL), NULL, NULL), 0);
}

/* ---- sendfile ---- */

typedef struct sink { int fd; size_t n; } sink;

static char sf_in[400000];

static int sink_reader(void *p, void **r)
{
    (void)r;
    sink *rd = p;
    for (;;) {
        size_t got;
        int rc = aw_sock_recv(rd->fd, sf_in + rd->n, sizeof sf_in - rd->n, &got);
        if (rc < 0) return rc;
        if (got == 0) return 0;
        rd->n += got;
        rc = aw_sleep(0.001);
        if (rc < 0) return rc;
    }
}

static int sendfile_main(void *arg, void **result)
{
    (void)arg; (void)result;
    char path[] = "/tmp/aw-sendfile-XXXXXX";
    int f = mkstemp(path);
    assert_true(f >= 0);
    unlink(path);
    static char data[300000];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (char)(i * 31 + 1);
    assert_int_equal(write(f, data, sizeof data), (ssize_t)sizeof data);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    /* a reader drains the other end while sendfile waits for room */
    sink rd = { sv[1], 0 };
    aw_task *rt = aw_spawn(sink_reader, &rd);
    long long off = 1000;
    size_t sent = 0;
    assert_int_equal(aw_sock_sendfile(sv[0], f, &off, 0, &sent), 0);
    assert_int_equal(sent, sizeof data - 1000);
    assert_int_equal(off, (long long)sizeof data);
    /* a count, from the file position (offset NULL) */
    lseek(f, 5, SEEK_SET);
    assert_int_equal(aw_sock_sendfile(sv[0], f, NULL, 10, &sent), 0);
    assert_int_equal(sent, 10);
    assert_int_equal(lseek(f, 0, SEEK_CUR), 15);
    /* a pipe as the source: read/send instead */
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(write(p[1], "piped", 5), 5);
    close(p[1]);
    assert_int_equal(aw_sock_sendfile(sv[0], p[0], NULL, 0, &sent), 0);
    assert_int_equal(sent, 5);
    close(p[0]);
    shutdown(sv[0], SHUT_WR);
    assert_int_equal(aw_join(rt, NULL), 0);
    assert_int_equal(rd.n, sizeof data - 1000 + 10 + 5);
    aw_sock_close(sv[0]);
    aw_sock_close(sv[1]);
    close(f);
    return 0;
}

static void sendfile_file_and_pipe(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(sendfile_main, NULL), NULL, NULL), 0);
    for (size_t i = 0; i < 300000 - 1000; i++)
        if (sf_in[i] != (char)((i + 1000) * 31 + 1)) fail_msg("byte %zu differs", i);
    for (size_t i = 0; i < 10; i++) assert_int_equal(sf_in[299000 + i], (char)((i + 5) * 31 + 1));
    assert_memory_equal(sf_in + 299010, "piped", 5);
}

/* ---- datagrams with the raw calls ---- */

static int dgram_main(void *arg, void **result)
{
    (void)arg; (void)result;
    int a = aw_socket(AF_INET, SOCK_DGRAM, 0), b = aw_socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) }, sb = sa;
    assert_int_equal(bind(a, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(bind(b, (struct sockaddr *)&sb, sizeof sb), 0);
    socklen_t l = sizeof sa;
    getsockname(a, (struct sockaddr *)&sa, &l);
    getsockname(b, (struct sockaddr *)&sb, &l);
    assert_int_equal(aw_sock_sendto(b, "ping", 4, (struct sockaddr *)&sa, sizeof sa), 0);
    char buf[16];
    size_t got;
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    assert_int_equal(aw_sock_recvfrom(a, buf, sizeof buf, &got, (struct sockaddr *)&from, &fl), 0);
    assert_int_equal(got, 4);
    assert_memory_equal(buf, "ping", 4);
    assert_int_equal(from.sin_port, sb.sin_port);
    aw_sock_close(a);
    aw_sock_close(b);
    return 0;
}

static void datagrams(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(dgram_main, NULL), NULL, NULL), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_DFL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tcp_round_trip),
        cmocka_unit_test(one_waiter_per_direction),
        cmocka_unit_test(connect_errors),
        cmocka_unit_test(sendfile_file_and_pipe),
        cmocka_unit_test(datagrams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
