/* docs/guide.md, "Combinators": gather, wait_for, as_completed, shield, timeouts. */
#include <aw.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

/* A fake fetch: takes arg/10 seconds, fails for 9. */
static int fetch(void *arg, void **result)
{
    intptr_t n = (intptr_t)arg;
    int rc = aw_sleep((double)n / 10);
    if (rc < 0) return rc;
    if (n == 9) return aw_raise(-EIO, "fetch %d failed", (int)n);
    *result = arg;
    return 0;
}

static int main_coro(void *arg, void **result)
{
    (void)arg; (void)result;
    /* gather: results in input order; AW_RETURN_EXCEPTIONS collects every error */
    void *aws[] = { aw_coro(fetch, (void *)3), aw_coro(fetch, (void *)1), aw_coro(fetch, (void *)9) };
    void *res[3];
    int errs[3];
    aw_gather(3, aws, res, errs, AW_RETURN_EXCEPTIONS);
    for (int i = 0; i < 3; i++)
        printf("gather[%d]: %s %ld\n", i, errs[i] ? aw_errname(errs[i]) : "ok", (long)(intptr_t)res[i]);

    /* wait_for: the coroutine runs inline under a deadline; on expiry it is cancelled */
    void *r;
    int rc = aw_wait_for(aw_coro(fetch, (void *)5), 0.2, &r);
    printf("wait_for: %s\n", aw_errname(rc));                    /* TimeoutError */

    /* as_completed: in completion order, with an overall timeout */
    void *more[] = { aw_coro(fetch, (void *)2), aw_coro(fetch, (void *)1), aw_coro(fetch, (void *)7) };
    aw_as_completed it;
    void *x;
    if (aw_as_completed_begin(&it, 3, more, 0.5) == 0) {
        while ((rc = aw_as_completed_next(&it, &x)) > 0) {
            aw_await_any(x, &r);
            printf("as_completed: %ld\n", (long)(intptr_t)r);        /* 1, then 2 */
        }
        printf("as_completed ends with %s\n", aw_errname(rc));  /* TimeoutError: 7 was too slow */
        aw_as_completed_end(&it);
    }

    /* a timeout scope around several awaits; the innermost expired scope reports */
    aw_scope t;
    aw_timeout(&t, 0.25);
    rc = aw_call(fetch, (void *)1, NULL);              /* 0.1 s: fine */
    if (rc == 0) rc = aw_call(fetch, (void *)3, NULL); /* cancelled at 0.25 s */
    printf("timeout: %s, %s\n", aw_errname(rc), aw_errname(aw_timeout_end(&t)));

    /* shield: our wait can be cancelled, the shielded work goes on */
    aw_task *w = aw_create_task(aw_coro(fetch, (void *)4), "precious");
    aw_timeout(&t, 0.1);
    rc = aw_shield(w, &r);
    aw_timeout_end(&t);
    printf("shield: %s; the task finishes anyway: %d\n", aw_errname(rc), aw_join(w, &r));
    return 0;
}

int main(void)
{
    return aw_run(aw_coro(main_coro, NULL), NULL) == 0 ? 0 : 1;
}
