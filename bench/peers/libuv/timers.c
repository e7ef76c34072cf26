/*
 * libuv peer, workload "timers".
 *
 * N uv_timer_t, each armed for a random 0-100 ms (libuv timers have 1 ms
 * resolution; fixed seed), all concurrent.  Measures the seconds from
 * starting to arm the first timer until the last one has fired.
 *
 * Usage: libuv_timers [N]        (default N = 1000000)
 * Prints: RESULT timers seconds <v> s
 */
#include <uv.h>

#include "../peer_util.h"

static long remaining;

static void on_timer(uv_timer_t *t)
{
    (void)t;
    --remaining; /* the loop ends by itself once no timer is active */
}

int main(int argc, char **argv)
{
    long n = peer_arg_long(argc, argv, 1, 1000000);
    uv_loop_t *loop = uv_default_loop();
    uv_timer_t *timers = malloc(sizeof *timers * (size_t)n);
    uint64_t *delays = malloc(sizeof *delays * (size_t)n);
    if (!timers || !delays) {
        perror("malloc");
        return 1;
    }
    srand(42);
    for (long i = 0; i < n; i++)
        delays[i] = (uint64_t)(rand() % 101);

    remaining = n;
    uint64_t t0 = peer_now_ns();
    for (long i = 0; i < n; i++) {
        uv_timer_init(loop, &timers[i]);
        uv_timer_start(&timers[i], on_timer, delays[i], 0);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    uint64_t dt = peer_now_ns() - t0;
    if (remaining != 0) {
        fprintf(stderr, "timers: %ld never fired\n", remaining);
        return 1;
    }
    peer_result("timers", "seconds", dt / 1e9, "s");
    return 0;
}
