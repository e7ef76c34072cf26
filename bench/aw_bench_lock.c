/* lock: K tasks (default 4) each acquire one aw_lock, yield with aw_sleep(0) while
 * holding it, and release it, N times; ns per hand-off = elapsed / (N * K). */
#include "aw.h"
#include "bench_util.h"

static long n;
static aw_lock lock = AW_LOCK_INIT;

static int worker(void *arg, void **result)
{
    (void)arg; (void)result;
    for (long i = 0; i < n; i++) {
        if (aw_lock_acquire(&lock) < 0) return -1;
        aw_sleep(0);
        aw_lock_release(&lock);
    }
    return 0;
}

static int bench(void *arg, void **result)
{
    (void)result;
    long k = (long)(intptr_t)arg;
    aw_task *t[64];
    double t0 = bench_now();
    for (long i = 0; i < k; i++) t[i] = aw_create_task(aw_coro(worker, NULL), NULL);
    int rc = 0;
    for (long i = 0; i < k; i++) rc |= aw_join(t[i], NULL);
    double dt = bench_now() - t0;
    printf("RESULT lock ns_per_handoff %.2f ns\n", dt * 1e9 / (double)(n * k));
    return rc;
}

int main(int argc, char **argv)
{
    n = bench_arg(argc, argv, 1, 500000);
    long k = bench_arg(argc, argv, 2, 4);
    if (k > 64) k = 64;
    return aw_run(aw_coro(bench, (void *)(intptr_t)k), NULL) == 0 ? 0 : 1;
}
