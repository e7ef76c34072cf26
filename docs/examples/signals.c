/* docs/guide.md, "Signals": a loop signal handler and a task that waits for a signal. */
#include <aw.h>
#include <signal.h>
#include <stdio.h>

static void on_usr1(int signo, void *arg)       /* runs on the loop's thread, not in the handler */
{
    (*(int *)arg)++;
    printf("handler: signal %d\n", signo);
}

static int raiser(void *arg, void **result)
{
    (void)arg; (void)result;
    raise(SIGUSR1);
    raise(SIGUSR2);
    return 0;
}

static int main_coro(void *arg, void **result)
{
    (void)arg; (void)result;
    int count = 0;
    aw_loop *loop = aw_running_loop();
    int rc = aw_loop_add_signal_handler(loop, SIGUSR1, on_usr1, &count);
    if (rc < 0) return rc;

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGTERM);
    aw_task *t = aw_create_task(aw_coro(raiser, NULL), "raiser");
    int signo = 0;
    rc = aw_signal_wait(&set, &signo);         /* a suspension point */
    aw_join(t, NULL);
    printf("waited for signal %d; the handler ran %d time(s)\n", signo, count);
    aw_loop_remove_signal_handler(loop, SIGUSR1);   /* SIGUSR1's old disposition is back */
    return rc;
}

int main(void)
{
    return aw_run(aw_coro(main_coro, NULL), NULL) == 0 ? 0 : 1;
}
