/* Compiled by CTest: without AWAIT_OK it must fail (awaiting an int is a type error). */
#include "aw.h"

static int body(void *arg, void **result) { (void)arg; (void)result; return 0; }

int try_await(void);
int try_await(void)
{
    void *r;
#ifdef AWAIT_OK
    return aw_await(aw_coro(body, 0), &r);
#else
    (void)body;
    return aw_await(42, &r);
#endif
}
