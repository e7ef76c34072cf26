/*
 * aw benchmark, workload "to_thread": the round trip of an empty function
 * through the thread pool. One task calls aw_to_thread N times in sequence;
 * each call queues the job, a pool thread runs it and posts the completion,
 * and the loop resumes the task (the same shape as libuv's uv_queue_work peer).
 *
 * Usage: aw_bench_to_thread [N]     (default N = 20000)
 * Prints: RESULT to_thread us_per_roundtrip <v> us
 */
#include <aw.h>

#include "bench_util.h"

static int empty(void *arg, void **result)
{
    (void)arg; (void)result;
    return 0;
}

static int run(void *arg, void **result)
{
    (void)result;
    long n = (long)(intptr_t)arg;
    for (long i = 0; i < n; i++) {
        int rc = aw_to_thread(empty, NULL, NULL);
        if (rc < 0) return rc;
    }
    return 0;
}

int main(int argc, char **argv)
{
    long n = bench_arg(argc, argv, 1, 20000);
    if (n < 1) n = 1;
    aw_run(aw_coro(run, (void *)(intptr_t)100), NULL);   /* start the pool's threads first */
    double t0 = bench_now();
    int rc = aw_run(aw_coro(run, (void *)(intptr_t)n), NULL);
    double dt = bench_now() - t0;
    if (rc < 0) {
        fprintf(stderr, "aw_bench_to_thread: %s\n", aw_strerror(rc));
        return 1;
    }
    printf("RESULT to_thread us_per_roundtrip %.3f us\n", dt / (double)n * 1e6);
    return 0;
}
