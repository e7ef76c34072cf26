/* timers: N tasks each sleep a random 0-100 ms, all at once; seconds until every one finished. */
#include "aw.h"
#include "bench_util.h"

static long n;

static int sleeper(void *arg, void **result)
{
    (void)result;
    return aw_sleep(*(double *)arg);
}

static int bench(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task **t = malloc((size_t)n * sizeof *t);
    double *d = malloc((size_t)n * sizeof *d);
    if (!t || !d) return -1;
    unsigned s = 12345;
    for (long i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        d[i] = (double)((s >> 8) % 100000) / 1e6;
    }
    double t0 = bench_now();
    for (long i = 0; i < n; i++) t[i] = aw_spawn(sleeper, &d[i]);
    for (long i = 0; i < n; i++) aw_join(t[i], NULL);
    double dt = bench_now() - t0;
    printf("RESULT timers seconds %.3f s\n", dt);
    free(t);
    free(d);
    return 0;
}

int main(int argc, char **argv)
{
    n = bench_arg(argc, argv, 1, 1000000);
    return aw_run(aw_coro(bench, NULL), NULL) == 0 ? 0 : 1;
}
