/*
 * libuv peer, workload "parked".
 *
 * N "tasks" parked on a long sleep at once.  In libuv a parked task is a
 * malloc'd context holding a uv_timer_t armed for one hour (plus the
 * per-task state a real program would keep; here none).  Measures the
 * growth of VmRSS + VmPTE (from /proc/self/status) per task.
 *
 * Usage: libuv_parked [N]        (default N = 100000)
 * Prints: RESULT parked max_map_count <v> maps
 *         RESULT parked bytes_per_task <v> B
 */
#include <uv.h>

#include "../peer_util.h"

struct task {
    uv_timer_t timer;
};

static void on_timer(uv_timer_t *t)
{
    (void)t; /* never reached: the process exits first */
}

static void on_measure(uv_timer_t *t)
{
    long long *before = t->data;
    long n = (long)before[1];
    long long after = peer_rss_pte_bytes();
    peer_result("parked", "bytes_per_task", (double)(after - before[0]) / n, "B");
    exit(0);
}

int main(int argc, char **argv)
{
    long n = peer_arg_long(argc, argv, 1, 100000);
    uv_loop_t *loop = uv_default_loop();
    printf("RESULT parked max_map_count %ld maps\n", peer_max_map_count());

    static long long before[2];
    before[0] = peer_rss_pte_bytes();
    before[1] = n;
    for (long i = 0; i < n; i++) {
        struct task *t = malloc(sizeof *t);
        if (!t) {
            perror("malloc");
            return 1;
        }
        uv_timer_init(loop, &t->timer);
        uv_timer_start(&t->timer, on_timer, 3600 * 1000, 0);
    }
    /* Measure from inside the running loop, once everything is parked. */
    static uv_timer_t measure;
    uv_timer_init(loop, &measure);
    measure.data = before;
    uv_timer_start(&measure, on_measure, 0, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}
