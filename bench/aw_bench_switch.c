/* switch: two tasks each call aw_sleep(0) N times; ns per switch = elapsed / (2N). */
#include "aw.h"
#include "bench_util.h"

static long n;

static int yielder(void *arg, void **result)
{
    (void)arg; (void)result;
    for (long i = 0; i < n; i++) aw_sleep(0);
    return 0;
}

static int bench(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task *a = aw_spawn(yielder, NULL);
    aw_task *b = aw_spawn(yielder, NULL);
    double t0 = bench_now();
    aw_join(a, NULL);
    aw_join(b, NULL);
    double dt = bench_now() - t0;
    printf("RESULT switch ns_per_switch %.2f ns\n", dt * 1e9 / (2.0 * (double)n));
    return 0;
}

int main(int argc, char **argv)
{
    n = bench_arg(argc, argv, 1, 10000000);
    return aw_run(aw_coro(bench, NULL), NULL) == 0 ? 0 : 1;
}
