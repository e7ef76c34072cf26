/* docs/guide.md, "Synchronization": Lock, Event, Semaphore, Condition, Barrier. */
#include <aw.h>
#include <stdio.h>

static aw_lock lock = AW_LOCK_INIT;             /* static initialisers: no _new/_free */
static aw_event go = AW_EVENT_INIT;
static aw_semaphore slots = AW_SEMAPHORE_INIT(2);
static aw_condition cond = AW_CONDITION_INIT;
static aw_barrier meet = AW_BARRIER_INIT(3);
static int balance, ready;

static int client(void *arg, void **result)
{
    (void)result;
    int id = (int)(long)arg;
    int rc = aw_event_wait(&go);                /* everyone starts together */
    if (rc < 0) return rc;

    if ((rc = aw_semaphore_acquire(&slots)) < 0) return rc;   /* at most two at a time */
    rc = aw_sleep(0.01);
    aw_semaphore_release(&slots);
    if (rc < 0) return rc;

    if ((rc = aw_lock_acquire(&lock)) < 0) return rc;         /* a critical section that awaits */
    int b = balance;
    rc = aw_sleep(0.001);
    balance = b + 10;
    aw_lock_release(&lock);
    if (rc < 0) return rc;

    if ((rc = aw_condition_acquire(&cond)) < 0) return rc;
    ready++;
    aw_condition_notify_all(&cond);
    aw_condition_release(&cond);

    rc = aw_barrier_wait(&meet);                /* arrival index, or an error */
    if (rc < 0) return rc;
    printf("client %d passed the barrier as #%d\n", id, rc);
    return 0;
}

static bool all_ready(void *arg) { return ready == *(int *)arg; }

static int main_coro(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task *t[3];
    for (long i = 0; i < 3; i++) t[i] = aw_create_task(aw_coro(client, (void *)i), NULL);
    aw_event_set(&go);

    int want = 3;
    aw_condition_acquire(&cond);
    int rc = aw_condition_wait_for(&cond, all_ready, &want);   /* releases the lock while it waits */
    aw_condition_release(&cond);
    printf("all ready (%s), balance %d\n", aw_errname(rc), balance);

    for (int i = 0; i < 3; i++) aw_join(t[i], NULL);
    printf("releasing an unlocked lock: %s\n", aw_errname(aw_lock_release(&lock)));
    return 0;
}

int main(void)
{
    return aw_run(aw_coro(main_coro, NULL), NULL) == 0 ? 0 : 1;
}
