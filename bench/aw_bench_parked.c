/* parked: N tasks parked on a long sleep at once; (RSS + VmPTE growth) / N bytes per task.
 * argv: N [stack KiB] (default: the loop's default stack size). */
#include "aw.h"
#include "bench_util.h"

static long n;
static long parked;

static int sleeper(void *arg, void **result)
{
    (void)arg; (void)result;
    parked++;
    return aw_sleep(3600);
}

static int bench(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task **t = malloc((size_t)n * sizeof *t);
    if (!t) return -1;
    long rss0 = bench_status_kib("VmRSS"), pte0 = bench_status_kib("VmPTE");
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        t[i] = aw_spawn(sleeper, NULL);
        if (!t[i]) { fprintf(stderr, "spawn %ld failed\n", i); return -1; }
    }
    while (parked < n) aw_sleep(0);
    double dt = bench_now() - t0;
    long rss1 = bench_status_kib("VmRSS"), pte1 = bench_status_kib("VmPTE");
    double per = ((double)(rss1 - rss0) + (double)(pte1 - pte0)) * 1024.0 / (double)n;
    printf("RESULT parked bytes_per_task %.0f B\n", per);
    printf("RESULT parked rss_kib_per_task %.2f KiB\n", (double)(rss1 - rss0) / (double)n);
    printf("RESULT parked pte_bytes_per_task %.0f B\n", (double)(pte1 - pte0) * 1024.0 / (double)n);
    printf("RESULT parked seconds_to_park %.3f s\n", dt);
    printf("RESULT parked max_map_count %ld maps\n", bench_max_map_count());
    for (long i = 0; i < n; i++) aw_task_cancel(t[i], NULL);
    for (long i = 0; i < n; i++) aw_join(t[i], NULL);
    free(t);
    return 0;
}

int main(int argc, char **argv)
{
    n = bench_arg(argc, argv, 1, 1000000);
    aw_run_opts o = { .stack_size = (size_t)bench_arg(argc, argv, 2, 0) * 1024 };  /* optional, KiB */
    return aw_run_ex(aw_coro(bench, NULL), NULL, &o) == 0 ? 0 : 1;
}
