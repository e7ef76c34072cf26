/* Shared helpers for the cmocka tests: capture reports, run main on the virtual clock. */
#ifndef AW_TEST_UTIL_H
#define AW_TEST_UTIL_H

#include <errno.h>
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

/* Elapsed loop time since t0 is in [lo, hi) (virtual clock: exact deadlines). */
#define assert_elapsed(t0, lo, hi) do {                                         \
        double e_ = aw_now() - (t0);                                            \
        if (!(e_ >= (lo) - 1e-6 && e_ < (hi))) fail_msg("elapsed %.9f not in [%g, %g)", e_, (double)(lo), (double)(hi)); \
    } while (0)

/* Integers carried in void * arguments and results. */
#define I(x) ((void *)(intptr_t)(x))
#define V(p) ((int)(intptr_t)(p))

/* A trace of events, to assert on order. */
static int trace[256];
static int ntrace;
static inline void mark(int v) { if (ntrace < 256) trace[ntrace++] = v; }
static inline void trace_reset(void) { ntrace = 0; }
#define assert_trace(...) do {                                                  \
        int want_[] = { __VA_ARGS__ };                                          \
        int n_ = (int)(sizeof want_ / sizeof want_[0]);                         \
        assert_int_equal(ntrace, n_);                                           \
        for (int i_ = 0; i_ < n_; i_++) assert_int_equal(trace[i_], want_[i_]);  \
    } while (0)

/* Write msg (one line, with its newline) to c and read the same line back:
 * 0, the stream's error, or -EILSEQ when another line comes back. */
static inline int test_roundtrip(aw_stream *c, const char *msg)
{
    size_t n = strlen(msg);
    int rc = aw_stream_write(c, msg, n);
    if (rc < 0) return rc;
    const char *line;
    size_t len;
    rc = aw_stream_readline(c, &line, &len);
    if (rc < 0) return rc;
    if (len != n || memcmp(line, msg, n) != 0) return -EILSEQ;
    return 0;
}

#define assert_contains(hay, needle) do {                                          \
        const char *h_ = (hay), *n_ = (needle);                                    \
        if (!strstr(h_, n_)) fail_msg("expected \"%s\" in:\n%s", n_, h_);          \
    } while (0)

#endif
