/* docs/debugging.md: a program with a stuck step, its task tree, and what debug mode reports.
 *
 *     AW_DEBUG_SOCKET=/tmp/app.sock ./doc_debugging 1.5 30 &   # block 1.5 s, stay up 30 s
 *     aw pstree /tmp/app.sock
 */
#include <aw.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double block_for = 1.5;  /* how long the bad step computes */
static double stay_up = 0;      /* how long main waits before it stops everything */

static int query_db(void *arg, void **result)
{
    (void)arg; (void)result;
    return aw_sleep(3600);      /* a reply that never comes */
}

static int load_user(void *arg, void **result)
{
    return aw_call(query_db, arg, result);
}

static int handle_request(void *arg, void **result)
{
    return aw_call(load_user, arg, result);
}

static int send_report(void *arg, void **result)
{
    return aw_await((aw_task *)arg, result);    /* waits for the request */
}

static int worker(void *arg, void **result)
{
    (void)result;
    aw_queue *jobs = arg;
    for (;;) {
        void *job;
        int rc = aw_queue_get(jobs, &job);
        if (rc < 0) return rc;
    }
}

/* The bug: pure computation, no suspension point, for seconds. */
static int checksum(void *arg, void **result)
{
    (void)arg; (void)result;
    int rc = aw_sleep(0.2);
    if (rc < 0) return rc;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do clock_gettime(CLOCK_MONOTONIC, &t);
    while ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) * 1e-9 < block_for);
    return 0;
}

static int app(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_queue *jobs = aw_queue_new(0);
    aw_task *w1 = aw_create_task(aw_coro(worker, jobs), "worker-1");
    aw_task *w2 = aw_create_task(aw_coro(worker, jobs), "worker-2");
    aw_task *req = aw_create_task(aw_coro(handle_request, NULL), "request-7");
    aw_task *rep = aw_create_task(aw_coro(send_report, req), "report");
    aw_join(aw_create_task(aw_coro(checksum, NULL), "checksum"), NULL);

    printf("--- aw_dump_tasks(stdout, 0)\n");
    aw_dump_tasks(stdout, 0);
    printf("--- aw_task_print_stack(request-7, stdout)\n");
    aw_task_print_stack(req, stdout);
    fflush(stdout);

    if (stay_up > 0) aw_sleep(stay_up);
    aw_task *all[] = { rep, req, w1, w2 };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        aw_task_cancel(all[i], NULL);
        aw_join(all[i], NULL);
    }
    aw_queue_free(jobs);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1) block_for = atof(argv[1]);
    if (argc > 2) stay_up = atof(argv[2]);
    aw_run_opts o = { .debug = 1 };
    return aw_run_ex(aw_coro(app, NULL), NULL, &o) == 0 ? 0 : 1;
}
