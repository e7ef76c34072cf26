/* Shared helpers for the cmocka tests: capture reports, run main on the virtual clock. */
#ifndef AW_TEST_UTIL_H
#define AW_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "aw.h"

/* Reports sent to the exception handler, one per line: "message|task|error|detail|file:line". */
typedef struct test_reports {
    char text[16384];
    size_t len;
    int count;
} test_reports;

static inline void test_report_handler(aw_loop *loop, const aw_exception_context *c, void *arg)
{
    (void)loop;
    test_reports *r = arg;
    int n = snprintf(r->text + r->len, sizeof r->text - r->len, "%s|%s|%s|%s|%s:%d\n",
                     c->message ? c->message : "", c->task_name ? c->task_name : "",
                     c->error ? aw_errname(c->error) : "", c->detail ? c->detail : "",
                     c->file ? c->file : "", c->line);
    if (n > 0 && (size_t)n < sizeof r->text - r->len) r->len += (size_t)n;
    r->count++;
}

/* aw_run on the virtual clock with reports captured in r (may be NULL: stderr). */
static inline int test_run(aw_coro *c, void **result, test_reports *r)
{
    aw_run_opts o;
    memset(&o, 0, sizeof o);
    o.clock = AW_CLOCK_VIRTUAL;
    o.no_sigint = true;
    if (r) {
        o.exception_handler = test_report_handler;
        o.exception_arg = r;
    }
    return aw_run_ex(c, result, &o);
}

#define assert_contains(hay, needle) do {                                          \
        const char *h_ = (hay), *n_ = (needle);                                    \
        if (!strstr(h_, n_)) fail_msg("expected \"%s\" in:\n%s", n_, h_);          \
    } while (0)

#endif
