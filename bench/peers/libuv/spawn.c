/*
 * libuv peer, workload "spawn".
 *
 * libuv has no task object.  Here a "task" is what a callback-style C
 * program would create for a unit of deferred work: a malloc'd context
 * holding a uv_idle_t, started so the loop calls it on its next iteration;
 * its callback (the empty task body) stops and closes the handle, and the
 * close callback frees the context and counts it as finished ("awaited").
 * Tasks are created in batches of 1000; the next batch starts once the
 * whole previous batch has been freed.
 *
 * Usage: libuv_spawn [N]         (default N = 1000000)
 * Prints: RESULT spawn ns_per_task <v> ns
 */
#include <uv.h>

#include "../peer_util.h"

#define BATCH 1000

struct task {
    uv_idle_t idle;
};

static long total, started, finished_in_batch, batch_size;
static uv_loop_t *loop;

static void start_batch(void);

static void on_closed(uv_handle_t *h)
{
    free(h->data);
    if (++finished_in_batch == batch_size)
        start_batch();
}

static void on_run(uv_idle_t *h)
{
    /* empty task body */
    uv_idle_stop(h);
    uv_close((uv_handle_t *)h, on_closed);
}

static void start_batch(void)
{
    batch_size = total - started < BATCH ? total - started : BATCH;
    finished_in_batch = 0;
    for (long i = 0; i < batch_size; i++) {
        struct task *t = malloc(sizeof *t);
        if (!t) {
            perror("malloc");
            exit(1);
        }
        uv_idle_init(loop, &t->idle);
        t->idle.data = t;
        uv_idle_start(&t->idle, on_run);
    }
    started += batch_size;
}

int main(int argc, char **argv)
{
    total = peer_arg_long(argc, argv, 1, 1000000);
    loop = uv_default_loop();
    uint64_t t0 = peer_now_ns();
    start_batch();
    uv_run(loop, UV_RUN_DEFAULT);
    uint64_t dt = peer_now_ns() - t0;
    peer_result("spawn", "ns_per_task", (double)dt / total, "ns");
    uv_loop_close(loop);
    return 0;
}
