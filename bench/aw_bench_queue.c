/* queue: ping-pong over two aw_queues of maxsize 1 between two tasks; ns per round trip. */
#include "aw.h"
#include "bench_util.h"

static long n;
static aw_queue *ping, *pong;

static int echoer(void *arg, void **result)
{
    (void)arg; (void)result;
    for (long i = 0; i < n; i++) {
        void *x;
        if (aw_queue_get(ping, &x) < 0 || aw_queue_put(pong, x) < 0) return -1;
    }
    return 0;
}

static int bench(void *arg, void **result)
{
    (void)arg; (void)result;
    ping = aw_queue_new(1);
    pong = aw_queue_new(1);
    if (!ping || !pong) return -1;
    double t0 = bench_now();
    aw_task *e = aw_create_task(aw_coro(echoer, NULL), "echoer");
    for (long i = 0; i < n; i++) {
        void *x;
        if (aw_queue_put(ping, (void *)(intptr_t)i) < 0 || aw_queue_get(pong, &x) < 0) return -1;
    }
    int rc = aw_join(e, NULL);
    double dt = bench_now() - t0;
    printf("RESULT queue ns_per_roundtrip %.2f ns\n", dt * 1e9 / (double)n);
    aw_queue_free(ping);
    aw_queue_free(pong);
    return rc;
}

int main(int argc, char **argv)
{
    n = bench_arg(argc, argv, 1, 2000000);
    return aw_run(aw_coro(bench, NULL), NULL) == 0 ? 0 : 1;
}
