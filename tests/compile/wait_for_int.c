/* Compiled by CTest: without AWAIT_OK it must fail (aw_wait_for and aw_shield take
 * only a coroutine, a task or a future, checked at compile time). */
#include "aw.h"

static int body(void *arg, void **result) { (void)arg; (void)result; return 0; }

int try_wait_for(void);
int try_wait_for(void)
{
    void *r;
#ifdef AWAIT_OK
    return aw_wait_for(aw_coro(body, 0), 1.0, &r) + aw_shield(aw_coro(body, 0), &r);
#else
    static int x = 42;
    (void)body;
    return aw_wait_for(&x, 1.0, &r);
#endif
}
