/*
 * libuv peer, workload "to_thread".
 *
 * Round trip of an empty function through libuv's thread pool:
 * uv_queue_work() with an empty work callback, and the after-work callback
 * (back on the loop thread) queues the next one.  N round trips in sequence.
 *
 * Usage: libuv_to_thread [N]     (default N = 20000)
 * Prints: RESULT to_thread us_per_roundtrip <v> us
 */
#include <uv.h>

#include "../peer_util.h"

static long remaining;
static uv_loop_t *loop;
static uv_work_t req;

static void work(uv_work_t *r)
{
    (void)r; /* empty function, run on a pool thread */
}

static void after_work(uv_work_t *r, int status)
{
    (void)status;
    if (--remaining > 0)
        uv_queue_work(loop, r, work, after_work);
}

static void run(long n)
{
    remaining = n;
    uv_queue_work(loop, &req, work, after_work);
    uv_run(loop, UV_RUN_DEFAULT);
}

int main(int argc, char **argv)
{
    long n = peer_arg_long(argc, argv, 1, 20000);
    loop = uv_default_loop();
    run(1); /* start the pool's threads outside the measurement */
    uint64_t t0 = peer_now_ns();
    run(n);
    uint64_t dt = peer_now_ns() - t0;
    peer_result("to_thread", "us_per_roundtrip", (double)dt / n / 1000.0, "us");
    uv_loop_close(loop);
    return 0;
}
