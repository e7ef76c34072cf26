/* timers: N tasks each sleep a random 0-100 ms, all at once; seconds until every one finished.
 * The first round starts from a cold process: every task faults its stack's first page.
 * Later rounds (argv[2], default 2 rounds) reuse the warm stack pool, as a long-running
 * server does; they are reported as seconds_warm. */
#include "aw.h"
#include "bench_util.h"

static long n;

static int sleeper(void *arg, void **result)
{
    (void)result;
    return aw_sleep(*(double *)arg);
}

static int round_no;

static int bench(void *arg, void **result)
{
    (void)arg; (void)result;
    round_no++;
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
    if (round_no == 1) printf("RESULT timers seconds %.3f s\n", dt);
    else printf("RESULT timers seconds_warm %.3f s\n", dt);
    free(t);
    free(d);
    return 0;
}

int main(int argc, char **argv)
{
    n = bench_arg(argc, argv, 1, 1000000);
    long rounds = bench_arg(argc, argv, 2, 2);
    aw_loop *loop = aw_loop_new();
    if (!loop) return 1;
    long kib = bench_arg(argc, argv, 3, 0);     /* optional stack size in KiB */
    if (kib > 0 && aw_loop_set_stack_size(loop, (size_t)kib * 1024) < 0) return 1;
    int rc = 0;
    for (long r = 0; r < rounds && rc == 0; r++) rc = aw_loop_run_until_complete(loop, aw_coro(bench, NULL), NULL);
    if (rc) fprintf(stderr, "aw_bench_timers: %s\n", aw_strerror(rc));
    aw_loop_close(loop);
    return rc == 0 ? 0 : 1;
}
