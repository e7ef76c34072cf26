/* Tests of DNS: aw_getaddrinfo/aw_getnameinfo on the pool, numeric short cuts, errors, cancellation. */
#include "test_util.h"
#include "internal.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <unistd.h>


/* A resolver that counts calls and, when held, blocks until released. */
static pthread_mutex_t hook_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hook_cond = PTHREAD_COND_INITIALIZER;
static int hook_calls, hook_waiting;
static bool hook_hold;
static atomic_int hook_done;

static int hook_gai(const char *h, const char *p, const struct addrinfo *hints, struct addrinfo **res)
{
    pthread_mutex_lock(&hook_mu);
    hook_calls++;
    hook_waiting++;
    while (hook_hold) pthread_cond_wait(&hook_cond, &hook_mu);
    hook_waiting--;
    pthread_mutex_unlock(&hook_mu);
    (void)h;
    /* answer as localhost would, so an abandoned lookup has a result to free */
    int e = getaddrinfo("localhost", p, hints, res);
    atomic_fetch_add(&hook_done, 1);
    return e;
}

static void hook_install(bool hold)
{
    pthread_mutex_lock(&hook_mu);
    hook_calls = 0;
    hook_waiting = 0;
    hook_hold = hold;
    pthread_mutex_unlock(&hook_mu);
    atomic_store(&hook_done, 0);
    aw__gai_fn = hook_gai;
}

static void hook_release(void)
{
    pthread_mutex_lock(&hook_mu);
    hook_hold = false;
    pthread_cond_broadcast(&hook_cond);
    pthread_mutex_unlock(&hook_mu);
}

static int hook_count(int *waiting)
{
    pthread_mutex_lock(&hook_mu);
    int n = hook_calls;
    if (waiting) *waiting = hook_waiting;
    pthread_mutex_unlock(&hook_mu);
    return n;
}

static void hook_remove(void) { aw__gai_fn = getaddrinfo; }

static const char *addr_str(const struct addrinfo *ai, char *buf, size_t n)
{
    const void *a = ai->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                                             : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
    return inet_ntop(ai->ai_family, a, buf, (socklen_t)n);
}

/* ---- localhost, through the pool ---- */

static int localhost_main(void *arg, void **result)
{
    (void)arg; (void)result;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    assert_int_equal(aw_getaddrinfo("localhost", "80", &hints, &res), 0);
    assert_non_null(res);
    char buf[64];
    assert_string_equal(addr_str(res, buf, sizeof buf), "127.0.0.1");
    assert_int_equal(ntohs(((struct sockaddr_in *)res->ai_addr)->sin_port), 80);
    freeaddrinfo(res);

    /* a service name needs the pool too */
    res = NULL;
    assert_int_equal(aw_getaddrinfo("localhost", "http", &hints, &res), 0);
    assert_int_equal(ntohs(((struct sockaddr_in *)res->ai_addr)->sin_port), 80);
    freeaddrinfo(res);
    return 0;
}

static void resolve_localhost(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(localhost_main, NULL), NULL, NULL), 0);
}

/* ---- numeric hosts need no thread ---- */

static int numeric_main(void *arg, void **result)
{
    (void)arg; (void)result;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    char buf[64];

    assert_int_equal(aw_getaddrinfo("127.0.0.1", "8080", &hints, &res), 0);
    assert_int_equal(res->ai_family, AF_INET);
    assert_string_equal(addr_str(res, buf, sizeof buf), "127.0.0.1");
    assert_int_equal(ntohs(((struct sockaddr_in *)res->ai_addr)->sin_port), 8080);
    freeaddrinfo(res);

    assert_int_equal(aw_getaddrinfo("::1", "443", &hints, &res), 0);
    assert_int_equal(res->ai_family, AF_INET6);
    assert_string_equal(addr_str(res, buf, sizeof buf), "::1");
    freeaddrinfo(res);

    hints.ai_flags = AI_PASSIVE;
    hints.ai_family = AF_INET;
    assert_int_equal(aw_getaddrinfo(NULL, "9000", &hints, &res), 0);
    assert_string_equal(addr_str(res, buf, sizeof buf), "0.0.0.0");
    freeaddrinfo(res);

    /* a non-numeric name with AI_NUMERICHOST fails at once, without a lookup */
    hints.ai_flags = AI_NUMERICHOST;
    assert_int_equal(aw_getaddrinfo("localhost", "80", &hints, &res), AW_EAI_NONAME);
    assert_null(res);

    assert_int_equal(aw_getaddrinfo(NULL, NULL, NULL, &res), AW_EAI_NONAME);
    assert_int_equal(aw_getaddrinfo("127.0.0.1", "80", NULL, NULL), -EINVAL);

    /* reverse, numeric: inline too */
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(80) };
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    assert_int_equal(aw_getnameinfo((struct sockaddr *)&sin, sizeof sin, host, sizeof host, serv, sizeof serv,
                                    NI_NUMERICHOST | NI_NUMERICSERV), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_string_equal(serv, "80");
    return 0;
}

static void resolve_numeric(void **state)
{
    (void)state;
    hook_install(false);
    assert_int_equal(test_run(aw_coro(numeric_main, NULL), NULL, NULL), 0);
    assert_int_equal(hook_count(NULL), 0);     /* no lookup went to the pool */
    hook_remove();
    struct addrinfo *res;
    assert_int_equal(aw_getaddrinfo("127.0.0.1", "80", NULL, &res), AW_ENOTASK);
}

/* ---- names that do not resolve ---- */

static int noname_main(void *arg, void **result)
{
    (void)arg; (void)result;
    struct addrinfo *res = (struct addrinfo *)1;
    /* not a valid host name: the resolver refuses it without sending a query */
    int rc = aw_getaddrinfo("no such host!", "80", NULL, &res);
    assert_int_equal(rc, AW_EAI_NONAME);
    assert_null(res);
    assert_string_equal(aw_errname(rc), "gaierror");
    assert_string_equal(aw_strerror(rc), "Name or service not known");
    assert_int_equal(aw_getaddrinfo("localhost", "no-such-service", NULL, &res), AW_EAI_SERVICE);
    assert_int_equal(aw_gai_error(EAI_AGAIN), AW_EAI_AGAIN);
    assert_int_equal(aw_gai_error(EAI_MEMORY), -ENOMEM);
    return 0;
}

static void resolve_failure(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(noname_main, NULL), NULL, NULL), 0);
}

/* ---- reverse lookups through the pool ---- */

static int reverse_main(void *arg, void **result)
{
    (void)arg; (void)result;
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(80) };
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    assert_int_equal(aw_getnameinfo((struct sockaddr *)&sin, sizeof sin, host, sizeof host, serv, sizeof serv, 0), 0);
    assert_string_equal(host, "localhost");
    assert_string_equal(serv, "http");
    char tiny[4];
    assert_int_equal(aw_getnameinfo((struct sockaddr *)&sin, sizeof sin, tiny, sizeof tiny, NULL, 0, 0),
                     AW_EAI_OVERFLOW);
    assert_int_equal(aw_getnameinfo((struct sockaddr *)&sin, sizeof sin, NULL, 0, NULL, 0, 0), AW_EAI_NONAME);
    return 0;
}

static void resolve_reverse(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(reverse_main, NULL), NULL, NULL), 0);
}

/* ---- cancellation: the task returns at once, the lookup ends in the pool ---- */

typedef struct looker {
    int rc;
    struct addrinfo *res;
    bool returned;
} looker;

static int look(void *arg, void **result)
{
    (void)result;
    looker *l = arg;
    l->rc = aw_getaddrinfo("slow.example", "80", NULL, &l->res);
    l->returned = true;
    return l->rc;
}

static int cancel_main(void *arg, void **result)
{
    (void)arg; (void)result;
    looker l = { 0 };
    aw_task *t = aw_create_task(aw_coro(look, &l), "lookup");
    int waiting = 0;
    while (hook_count(&waiting), waiting < 1) {
        assert_int_equal(aw_sleep(0), 0);
        usleep(50);
    }
    aw_task_cancel(t, NULL);
    assert_int_equal(aw_join(t, NULL), AW_ECANCELLED);
    assert_true(l.returned);
    assert_int_equal(l.rc, AW_ECANCELLED);
    assert_null(l.res);
    assert_int_equal(atomic_load(&hook_done), 0);   /* the lookup itself is still held */
    hook_release();
    return 0;
}

static void resolve_cancel(void **state)
{
    (void)state;
    hook_install(true);
    assert_int_equal(test_run(aw_coro(cancel_main, NULL), NULL, NULL), 0);
    /* aw_run waited for the abandoned lookup, which freed its own result (ASan checks) */
    assert_int_equal(atomic_load(&hook_done), 1);
    hook_remove();
}

/* A timeout around a lookup, on the real clock. */
static int timeout_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_scope s;
    aw_scope_begin(&s);
    aw_scope_set_deadline(&s, aw_now() + 0.02);
    struct addrinfo *res = NULL;
    int rc = aw_getaddrinfo("slow.example", "80", NULL, &res);
    assert_int_equal(rc, AW_ECANCELLED);
    assert_int_equal(aw_scope_end(&s), AW_ETIMEDOUT);
    assert_null(res);
    hook_release();
    return 0;
}

static void resolve_timeout(void **state)
{
    (void)state;
    hook_install(true);
    aw_run_opts o;
    memset(&o, 0, sizeof o);
    o.no_sigint = true;
    assert_int_equal(aw_run_ex(aw_coro(timeout_main, NULL), NULL, &o), 0);
    assert_int_equal(atomic_load(&hook_done), 1);
    hook_remove();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resolve_localhost),
        cmocka_unit_test(resolve_numeric),
        cmocka_unit_test(resolve_failure),
        cmocka_unit_test(resolve_reverse),
        cmocka_unit_test(resolve_cancel),
        cmocka_unit_test(resolve_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
