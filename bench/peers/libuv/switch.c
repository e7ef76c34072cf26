/*
 * libuv peer, workload "switch".
 *
 * libuv has no tasks or coroutines, so there is nothing to switch between.
 * The closest honest equivalent of "two tasks each yield N times" is two
 * uv_idle_t handles whose callbacks the loop calls once per iteration
 * (idle phase); each callback invocation counts as one "switch" and each
 * handle stops itself after N calls.  Note that an active idle handle makes
 * the loop poll for I/O with a zero timeout every iteration.
 *
 * Usage: libuv_switch [N]        (default N = 1000000)
 * Prints: RESULT switch ns_per_switch <v> ns   (= elapsed / (2N))
 */
#include <uv.h>

#include "../peer_util.h"

struct yielder {
    uv_idle_t idle;
    long left;
};

static void on_idle(uv_idle_t *h)
{
    struct yielder *y = (struct yielder *)h;
    if (--y->left == 0)
        uv_idle_stop(h);
}

int main(int argc, char **argv)
{
    long n = peer_arg_long(argc, argv, 1, 1000000);
    uv_loop_t *loop = uv_default_loop();
    struct yielder a = {.left = n}, b = {.left = n};

    uv_idle_init(loop, &a.idle);
    uv_idle_init(loop, &b.idle);
    uint64_t t0 = peer_now_ns();
    uv_idle_start(&a.idle, on_idle);
    uv_idle_start(&b.idle, on_idle);
    uv_run(loop, UV_RUN_DEFAULT);
    uint64_t dt = peer_now_ns() - t0;

    peer_result("switch", "ns_per_switch", (double)dt / (2.0 * n), "ns");
    uv_close((uv_handle_t *)&a.idle, NULL);
    uv_close((uv_handle_t *)&b.idle, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    return 0;
}
