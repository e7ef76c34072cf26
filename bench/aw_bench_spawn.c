/* spawn: create N empty tasks and await each, 1000 at a time; ns per task. */
#include "aw.h"
#include "bench_util.h"

static long n;

static int empty(void *arg, void **result)
{
    (void)arg; (void)result;
    return 0;
}

static int bench(void *arg, void **result)
{
    (void)arg; (void)result;
    enum { BATCH = 1000 };
    static aw_task *t[BATCH];
    double t0 = bench_now();
    for (long done = 0; done < n; done += BATCH) {
        for (int i = 0; i < BATCH; i++) t[i] = aw_spawn(empty, NULL);
        for (int i = 0; i < BATCH; i++) aw_join(t[i], NULL);
    }
    double dt = bench_now() - t0;
    printf("RESULT spawn ns_per_task %.1f ns\n", dt * 1e9 / (double)n);
    return 0;
}

int main(int argc, char **argv)
{
    n = bench_arg(argc, argv, 1, 1000000);
    return aw_run(aw_coro(bench, NULL), NULL) == 0 ? 0 : 1;
}
