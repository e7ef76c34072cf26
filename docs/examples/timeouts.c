/* docs/guide.md, "Cancellation and timeouts": scopes, deadlines, shields. */
#include <aw.h>
#include <stdio.h>

static int slow(void *arg, void **result)
{
    (void)arg; (void)result;
    int rc = aw_sleep(10);
    if (rc == AW_ECANCELLED) {
        /* Level-triggered: every suspension here fails at once... */
        aw_scope cleanup;
        aw_scope_begin_flags(&cleanup, AW_SCOPE_SHIELD);   /* ...except inside a shield */
        aw_sleep(0.01);                                    /* e.g. a final flush */
        aw_scope_end(&cleanup);
    }
    return rc;
}

static int main_coro(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_scope s;
    aw_scope_begin(&s);
    aw_scope_set_deadline(&s, aw_now() + 0.1);
    int rc = aw_call(slow, NULL, NULL);
    int end = aw_scope_end(&s);             /* AW_ETIMEDOUT: this scope's deadline fired */
    printf("body: %s, scope: %s\n", aw_errname(rc), aw_errname(end));
    return 0;
}

int main(void)
{
    return aw_run(aw_coro(main_coro, NULL), NULL) == 0 ? 0 : 1;
}
