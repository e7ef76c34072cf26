/* Tests of UDP endpoints: bound and connected sockets, datagram boundaries, timeouts, errors. */
#include "test_util.h"
#include "internal.h"

#include <netinet/in.h>
#include <unistd.h>

static int udp_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_udp *server, *client, *other;
    assert_int_equal(aw_udp_open("127.0.0.1", 0, NULL, 0, NULL, &server), 0);
    int port = aw_udp_port(server);
    assert_true(port > 0);
    assert_true(aw_udp_fd(server) >= 0);
    /* a connected client: send/recv without addresses */
    assert_int_equal(aw_udp_open(NULL, 0, "127.0.0.1", port, NULL, &client), 0);
    assert_int_equal(aw_udp_send(client, "one", 3), 0);
    assert_int_equal(aw_udp_send(client, "two!", 4), 0);
    char buf[64];
    size_t got;
    struct sockaddr_storage from;
    socklen_t fl = sizeof from;
    /* datagram boundaries are kept */
    assert_int_equal(aw_udp_recvfrom(server, buf, sizeof buf, &got, (struct sockaddr *)&from, &fl), 0);
    assert_int_equal(got, 3);
    assert_memory_equal(buf, "one", 3);
    assert_int_equal(aw_udp_recvfrom(server, buf, sizeof buf, &got, (struct sockaddr *)&from, &fl), 0);
    assert_int_equal(got, 4);
    assert_int_equal(((struct sockaddr_in *)&from)->sin_port, htons((uint16_t)aw_udp_port(client)));
    /* reply to the sender */
    assert_int_equal(aw_udp_sendto(server, "pong", 4, (struct sockaddr *)&from, fl), 0);
    assert_int_equal(aw_udp_recv(client, buf, sizeof buf, &got), 0);
    assert_int_equal(got, 4);
    assert_memory_equal(buf, "pong", 4);
    /* a connected socket ignores other senders */
    assert_int_equal(aw_udp_open("127.0.0.1", 0, NULL, 0, NULL, &other), 0);
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)aw_udp_port(client)),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(aw_udp_sendto(other, "stranger", 8, (struct sockaddr *)&to, sizeof to), 0);
    /* receive with a timeout (virtual clock): nothing comes */
    aw_scope sc;
    aw_scope_begin(&sc);
    aw_scope_set_deadline(&sc, aw_now() + 2);
    assert_int_equal(aw_udp_recv(client, buf, sizeof buf, &got), AW_ECANCELLED);
    assert_int_equal(aw_scope_end(&sc), AW_ETIMEDOUT);
    /* a datagram longer than the buffer is cut */
    assert_int_equal(aw_udp_send(client, "0123456789", 10), 0);
    assert_int_equal(aw_udp_recv(server, buf, 4, &got), 0);
    assert_int_equal(got, 4);
    assert_memory_equal(buf, "0123", 4);
    aw_udp_close(other);
    aw_udp_close(server);
    /* nobody at the other end: the kernel's port-unreachable reaches a connected socket */
    assert_int_equal(aw_udp_send(client, "anyone?", 7), 0);
    int rc = aw_udp_recv(client, buf, sizeof buf, &got);
    assert_int_equal(rc, -ECONNREFUSED);
    aw_udp_close(client);
    return 0;
}

static void udp_round_trip(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(udp_main, NULL), NULL, NULL), 0);
}

static int waiter(void *arg, void **result)
{
    (void)result;
    char b[4];
    size_t got;
    return aw_udp_recv((aw_udp *)arg, b, sizeof b, &got);
}

static int close_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_udp *u, *dup;
    assert_int_equal(aw_udp_open("127.0.0.1", 0, NULL, 0, NULL, &u), 0);
    /* one reader at a time */
    aw_task *t = aw_spawn(waiter, u);
    assert_int_equal(aw_sleep(0.01), 0);
    char b[4];
    size_t got;
    assert_int_equal(aw_udp_recv(u, b, sizeof b, &got), AW_EBUSY);
    assert_int_equal(aw_task_cancel(t, NULL), 1);
    assert_int_equal(aw_join(t, NULL), AW_ECANCELLED);
    /* port in use */
    int port = aw_udp_port(u);
    dup = (aw_udp *)1;
    assert_int_equal(aw_udp_open("127.0.0.1", port, NULL, 0, NULL, &dup), -EADDRINUSE);
    assert_null(dup);
    /* SO_REUSEPORT on both */
    aw_udp_close(u);
    aw_udp_opts o = { .reuse_port = true };
    assert_int_equal(aw_udp_open("127.0.0.1", 0, NULL, 0, &o, &u), 0);
    assert_int_equal(aw_udp_open("127.0.0.1", aw_udp_port(u), NULL, 0, &o, &dup), 0);
    aw_udp_close(dup);
    aw_udp_close(u);
    /* bad input */
    assert_int_equal(aw_udp_open(NULL, 0, "127.0.0.1", 0, NULL, &u), -EINVAL);
    assert_int_equal(aw_udp_open(NULL, 70000, NULL, 0, NULL, &u), -EINVAL);
    assert_int_equal(aw_udp_recv(NULL, b, 4, &got), -EINVAL);
    /* an unbound socket sends from an ephemeral port */
    assert_int_equal(aw_udp_open(NULL, 0, NULL, 0, NULL, &u), 0);
    aw_udp *srv;
    assert_int_equal(aw_udp_open("127.0.0.1", 0, NULL, 0, NULL, &srv), 0);
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)aw_udp_port(srv)),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(aw_udp_sendto(u, "hi", 2, (struct sockaddr *)&to, sizeof to), 0);
    assert_int_equal(aw_udp_recv(srv, b, sizeof b, &got), 0);
    assert_int_equal(got, 2);
    aw_udp_close(srv);
    aw_udp_close(u);
    return 0;
}

static void udp_errors_and_close(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(close_main, NULL), NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(udp_round_trip),
        cmocka_unit_test(udp_errors_and_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
