/* Tests of the ctx layer: context switches, FP control state, the stack pool, guards and the overflow report. */
#include "ctx/ctx.h"

#include <errno.h>
#include <fenv.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#if AW_ASAN
/* The overflow tests need the SIGSEGV handler of aw, not ASan's. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "handle_segv=0:handle_sigbus=0"; }
#endif

#define KIB 1024u

/* cmocka's assertions longjmp to the test's frame on the thread's stack, so
 * code running on a context only records what it saw, and the test asserts
 * after switching back. */

static aw__ctx main_ctx;

static aw__stack *get_stack(aw__stack_pool *p)
{
    aw__stack *s = NULL;

    assert_int_equal(aw__stack_get(p, 0, &s), 0);
    assert_non_null(s);
    return s;
}

/* ---- switching ---- */

static aw__ctx ping_ctx, pong_ctx;
static long ping_count, pong_count, ping_sum, pong_sum;
static double ping_fsum;
static volatile bool pp_stop;
static bool pong_done;

/* main -> ping -> pong -> main, N times; then both end with a final switch. */
static void ping(void *arg)
{
    long sum = 0;
    double fsum = 0;

    (void)arg;
    for (;;) {
        if (pp_stop) {
            ping_sum = sum;
            ping_fsum = fsum;
            aw__ctx_switch_final(&ping_ctx, &pong_ctx);
        }
        ping_count++;
        sum += ping_count;
        fsum += 0.5;
        aw__ctx_switch(&ping_ctx, &pong_ctx);
    }
}

static void pong(void *arg)
{
    long sum = 0;

    (void)arg;
    for (;;) {
        if (pp_stop) {
            pong_sum = sum;
            pong_done = true;
            aw__ctx_switch_final(&pong_ctx, &main_ctx);
        }
        pong_count++;
        sum += pong_count * 3;
        aw__ctx_switch(&pong_ctx, &main_ctx);
    }
}

static void test_ping_pong(void **state)
{
    enum { N = 200000 };
    aw__stack_pool p;
    aw__stack *sa, *sb;
    long want = 0;

    (void)state;
    assert_int_equal(aw__stack_pool_init(&p, 64 * KIB), 0);
    sa = get_stack(&p);
    sb = get_stack(&p);
    aw__ctx_init_thread(&main_ctx);
    aw__ctx_init(&ping_ctx, sa->lo, sa->size, ping, NULL);
    aw__ctx_init(&pong_ctx, sb->lo, sb->size, pong, NULL);
    for (long i = 1; i <= N; i++) {
        aw__ctx_switch(&main_ctx, &ping_ctx);
        if (ping_count != i || pong_count != i)
            fail_msg("after %ld rounds: ping %ld, pong %ld", i, ping_count, pong_count);
        want += i;
    }
    pp_stop = true;
    aw__ctx_switch(&main_ctx, &ping_ctx);
    assert_true(pong_done);
    assert_int_equal(ping_sum, want);
    assert_int_equal(pong_sum, want * 3);
    assert_true(ping_fsum == 0.5 * N);
    aw__ctx_destroy(&ping_ctx);
    aw__ctx_destroy(&pong_ctx);
    aw__stack_put(&p, sa);
    aw__stack_put(&p, sb);
    assert_int_equal(p.n_used, 0);
    aw__stack_pool_destroy(&p);
}

/* A ring of contexts, each resuming the next: switches between two contexts
 * that are neither the thread's. */
enum { RING = 64, LAPS = 100 };
static aw__ctx ring[RING];
static int ring_visits[RING];

static void ring_entry(void *arg)
{
    int i = (int)(intptr_t)arg;

    for (int lap = 0; lap < LAPS; lap++) {
        ring_visits[i]++;
        aw__ctx *next = i + 1 < RING ? &ring[i + 1] : &main_ctx;
        if (lap == LAPS - 1)
            aw__ctx_switch_final(&ring[i], next);
        aw__ctx_switch(&ring[i], next);
    }
}

static void test_ring(void **state)
{
    aw__stack_pool p;
    aw__stack *st[RING];

    (void)state;
    assert_int_equal(aw__stack_pool_init(&p, 0), 0);
    aw__ctx_init_thread(&main_ctx);
    for (int i = 0; i < RING; i++) {
        st[i] = get_stack(&p);
        aw__ctx_init(&ring[i], st[i]->lo, st[i]->size, ring_entry, (void *)(intptr_t)i);
    }
    for (int lap = 0; lap < LAPS; lap++) {
        aw__ctx_switch(&main_ctx, &ring[0]);
        for (int i = 0; i < RING; i++)
            assert_int_equal(ring_visits[i], lap + 1);
    }
    for (int i = 0; i < RING; i++) {
        aw__ctx_destroy(&ring[i]);
        aw__stack_put(&p, st[i]);
    }
    aw__stack_pool_destroy(&p);
}

static aw__ctx once_ctx;
static int once_ran;
static int once_arg_seen;

static void once_entry(void *arg)
{
    once_arg_seen = *(int *)arg;
    once_ran++;
    aw__ctx_switch_final(&once_ctx, &main_ctx);
}

static void test_switch_final(void **state)
{
    aw__stack_pool p;
    aw__stack *s;
    int arg = 42;

    (void)state;
    assert_int_equal(aw__stack_pool_init(&p, 0), 0);
    aw__ctx_init_thread(&main_ctx);
    /* The same stack serves three contexts in turn, as the pool reuses it. */
    for (int round = 1; round <= 3; round++) {
        s = get_stack(&p);
        aw__ctx_init(&once_ctx, s->lo, s->size, once_entry, &arg);
        aw__ctx_switch(&main_ctx, &once_ctx);
        assert_int_equal(once_ran, round);
        assert_int_equal(once_arg_seen, 42);
        aw__ctx_destroy(&once_ctx);
        aw__stack_put(&p, s);
    }
    aw__stack_pool_destroy(&p);
}

/* A longjmp out of frames on a context's stack: ASan clears their red zones
 * only if it knows which stack it is on (the fiber annotations); otherwise a
 * later, larger frame over the same bytes is reported as an overflow. */
static aw__ctx jump_ctx;
static jmp_buf jump_buf;
static int jump_stage;

static void fill_buf(char *buf, size_t n, int v)
{
    memset(buf, v, n);
}

static void (*volatile fill_fn)(char *, size_t, int) = fill_buf;

static __attribute__((noinline)) void leave_by_longjmp(void)
{
    char small[4][40];

    for (int i = 0; i < 4; i++)
        fill_fn(small[i], sizeof small[i], i);
    longjmp(jump_buf, 1);
}

static __attribute__((noinline)) void big_frame(void)
{
    char big[1024];

    fill_fn(big, sizeof big, 7);
    jump_stage += big[1023] == 7;
}

static void jump_entry(void *arg)
{
    (void)arg;
    if (setjmp(jump_buf) == 0)
        leave_by_longjmp();
    jump_stage++;
    big_frame();
    aw__ctx_switch_final(&jump_ctx, &main_ctx);
}

static void test_longjmp_in_context(void **state)
{
    aw__stack_pool p;
    aw__stack *s;

    (void)state;
    assert_int_equal(aw__stack_pool_init(&p, 0), 0);
    s = get_stack(&p);
    aw__ctx_init_thread(&main_ctx);
    aw__ctx_init(&jump_ctx, s->lo, s->size, jump_entry, NULL);
    aw__ctx_switch(&main_ctx, &jump_ctx);
    assert_int_equal(jump_stage, 2);
    aw__ctx_destroy(&jump_ctx);
    aw__stack_put(&p, s);
    aw__stack_pool_destroy(&p);
}

/* ---- floating-point control state ---- */

static aw__ctx fp_ctx;
static int fp_first, fp_later;
#if defined(__x86_64__)
static unsigned fp_mxcsr_later;
#endif

#if defined(__x86_64__)
static unsigned mxcsr_rounding(void)
{
    return (__builtin_ia32_stmxcsr() >> 13) & 3;
}
#endif

static void fp_entry(void *arg)
{
    (void)arg;
    fp_first = fegetround();
    fesetround(FE_UPWARD);
    aw__ctx_switch(&fp_ctx, &main_ctx);
    fp_later = fegetround();
#if defined(__x86_64__)
    fp_mxcsr_later = mxcsr_rounding();
#endif
    aw__ctx_switch_final(&fp_ctx, &main_ctx);
}

static void test_fp_control(void **state)
{
    aw__stack_pool p;
    aw__stack *s;

    (void)state;
    assert_int_equal(aw__stack_pool_init(&p, 0), 0);
    s = get_stack(&p);
    aw__ctx_init_thread(&main_ctx);
    /* A new context starts with its creator's mode... */
    fesetround(FE_TOWARDZERO);
    aw__ctx_init(&fp_ctx, s->lo, s->size, fp_entry, NULL);
    fesetround(FE_TONEAREST);
    aw__ctx_switch(&main_ctx, &fp_ctx);
    assert_int_equal(fp_first, FE_TOWARDZERO);
    /* ...and from then on each keeps its own. */
    assert_int_equal(fegetround(), FE_TONEAREST);
#if defined(__x86_64__)
    assert_int_equal(mxcsr_rounding(), 0);
#endif
    fesetround(FE_DOWNWARD);
    aw__ctx_switch(&main_ctx, &fp_ctx);
    assert_int_equal(fp_later, FE_UPWARD);
#if defined(__x86_64__)
    assert_int_equal(fp_mxcsr_later, 2);    /* round up */
    assert_int_equal(mxcsr_rounding(), 1);  /* round down */
#endif
    assert_int_equal(fegetround(), FE_DOWNWARD);
    fesetround(FE_TONEAREST);
    aw__ctx_destroy(&fp_ctx);
    aw__stack_put(&p, s);
    aw__stack_pool_destroy(&p);
}

/* ---- the pool ---- */

static void test_pool_lifo(void **state)
{
    aw__stack_pool p;
    aw__stack *a, *b, *c, *x, *big, *small;

    (void)state;
    assert_int_equal(aw__stack_pool_init(&p, 100 * KIB), 0);
    assert_int_equal(p.default_size % (size_t)sysconf(_SC_PAGESIZE), 0);
    assert_true(p.default_size >= 100 * KIB);
    a = get_stack(&p);
    b = get_stack(&p);
    c = get_stack(&p);
    assert_ptr_not_equal(a, b);
    assert_ptr_not_equal(b, c);
    assert_ptr_not_equal(a->lo, b->lo);
    assert_int_equal(p.n_used, 3);
    aw__stack_put(&p, a);
    aw__stack_put(&p, b);
    assert_int_equal(p.n_used, 1);
    assert_int_equal(p.n_warm, 2);
    /* The most recently freed stack, whose pages are most likely still hot, comes first. */
    assert_int_equal(aw__stack_get(&p, 0, &x), 0);
    assert_ptr_equal(x, b);
    assert_int_equal(aw__stack_get(&p, 0, &x), 0);
    assert_ptr_equal(x, a);
    assert_int_equal(p.n_warm, 0);
    assert_int_equal(p.n_slabs_stacks, 3);

    /* A small request gets a default stack; a larger one its own mapping. */
    assert_int_equal(aw__stack_get(&p, 1, &small), 0);
    assert_int_equal(small->size, p.default_size);
    assert_int_equal(aw__stack_get(&p, 1024 * KIB, &big), 0);
    assert_true(big->size >= 1024 * KIB);
    assert_true(big->flags & AW__STACK_ODD);
    memset((char *)big->lo + big->size - 4096, 1, 4096);
    aw__stack_put(&p, big);
    assert_int_equal(p.n_warm, 0);
    aw__stack_put(&p, small);
    aw__stack_put(&p, a);
    aw__stack_put(&p, b);
    aw__stack_put(&p, c);
    assert_int_equal(p.n_used, 0);
    aw__stack_pool_destroy(&p);
}

static int cmp_lo(const void *x, const void *y)
{
    const aw__stack *a = *(aw__stack *const *)x, *b = *(aw__stack *const *)y;

    return a->lo < b->lo ? -1 : a->lo > b->lo;
}

static size_t count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    size_t n = 0;
    int ch;

    assert_non_null(f);
    while ((ch = fgetc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

static void test_many_stacks(void **state)
{
    enum { N = 10000 };
    aw__stack_pool p;
    aw__stack **st = calloc(N, sizeof *st);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t maps_before, maps_after;

    (void)state;
    assert_non_null(st);
    maps_before = count_maps();
    assert_int_equal(aw__stack_pool_init(&p, 64 * KIB), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(aw__stack_get(&p, 0, &st[i]), 0);
        assert_int_equal((uintptr_t)st[i]->lo % page, 0);
        /* What a task's first frame does: touch the top page. */
        ((volatile char *)st[i]->lo)[st[i]->size - 1] = (char)i;
    }
    assert_int_equal(p.n_used, N);
    assert_int_equal(p.n_slabs_stacks, N);
    maps_after = count_maps();
    if (aw__stack_guard_mode() == AW__GUARD_MADV)
        assert_true(maps_after - maps_before < 32);     /* a few slabs, no split mappings */
    qsort(st, N, sizeof *st, cmp_lo);
    for (int i = 1; i < N; i++) {
        /* Disjoint, with at least a guard page between neighbours. */
        char *prev_end = (char *)st[i - 1]->lo + st[i - 1]->size;
        assert_true(prev_end + page <= (char *)st[i]->lo);
    }
    p.warm_max = N / 2;
    for (int i = 0; i < N; i++)
        aw__stack_put(&p, st[i]);
    assert_int_equal(p.n_used, 0);
    assert_int_equal(p.n_warm, N);      /* put never madvises: trimming does, later */
    assert_true(aw__stack_pool_needs_trim(&p));
    assert_int_equal(aw__stack_pool_trim(&p, 100), 100);
    assert_int_equal(aw__stack_pool_trim(&p, (size_t)N), N - N / 2 - 100);
    assert_false(aw__stack_pool_needs_trim(&p));
    assert_int_equal(p.n_warm, N / 2);
    assert_int_equal(p.n_cold, N - N / 2);
    aw__stack_pool_destroy(&p);
    free(st);
}

static void test_high_water_madvise(void **state)
{
    aw__stack_pool p;
    aw__stack *s[4], *x;

    (void)state;
    assert_int_equal(aw__stack_pool_init(&p, 0), 0);
    p.warm_max = 2;
    for (int i = 0; i < 4; i++) {
        s[i] = get_stack(&p);
        memset((char *)s[i]->lo + s[i]->size - 8192, 0x5a, 8192);
    }
    for (int i = 0; i < 4; i++)
        aw__stack_put(&p, s[i]);
    assert_int_equal(p.n_warm, 4);
    assert_int_equal(aw__stack_pool_trim(&p, 16), 2);
    assert_int_equal(p.n_warm, 2);
    assert_int_equal(p.n_cold, 2);
    /* The most recently used stay warm; the least recently used go back. */
    assert_true(s[2]->warm && s[3]->warm);
    assert_false(s[0]->warm || s[1]->warm);
    /* Warm stacks keep their pages; cold ones were given back and read as zero. */
    assert_int_equal(((unsigned char *)s[2]->lo)[s[2]->size - 1], 0x5a);
    assert_int_equal(((unsigned char *)s[1]->lo)[s[1]->size - 1], 0);
    assert_int_equal(((unsigned char *)s[0]->lo)[s[0]->size - 8192], 0);
    /* Warm first, then cold, each LIFO. */
    assert_int_equal(aw__stack_get(&p, 0, &x), 0);
    assert_ptr_equal(x, s[3]);
    assert_int_equal(aw__stack_get(&p, 0, &x), 0);
    assert_ptr_equal(x, s[2]);
    assert_int_equal(aw__stack_get(&p, 0, &x), 0);
    assert_ptr_equal(x, s[0]);
    assert_true(x->warm);
    assert_int_equal(aw__stack_get(&p, 0, &x), 0);
    assert_ptr_equal(x, s[1]);
    assert_int_equal(p.n_slabs_stacks, 4);
    for (int i = 0; i < 4; i++)
        aw__stack_put(&p, s[i]);
    aw__stack_pool_destroy(&p);
}

/* The stack's guard page must really be unreadable: the kernel refuses to
 * read it for write(2), without a signal. */
static void assert_guard_faults(const aw__stack *s)
{
    int fds[2];
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    ssize_t r;

    assert_int_equal(pipe(fds), 0);
    r = write(fds[1], (const char *)s->lo - page, 1);
    assert_int_equal(r, -1);
    assert_int_equal(errno, EFAULT);
    r = write(fds[1], s->lo, 1);
    assert_int_equal(r, 1);
    close(fds[0]);
    close(fds[1]);
}

static const char *guard_name(int g)
{
    return g == AW__GUARD_MADV ? "MADV_GUARD_INSTALL" : g == AW__GUARD_MPROTECT ? "mprotect" : "canary";
}

static void test_guard_mode(void **state)
{
    int mode = aw__stack_guard_mode();
    aw__stack_pool p;
    aw__stack *s, *m;

    (void)state;
    print_message("guard mode: %s\n", guard_name(mode));
    assert_true(mode >= AW__GUARD_MADV && mode <= AW__GUARD_CANARY);
    assert_int_equal(aw__stack_guard_mode(), mode);
    assert_int_equal(aw__stack_pool_init(&p, 0), 0);
    s = get_stack(&p);
    assert_int_equal(s->guard, (uint32_t)mode);
    assert_true(aw__stack_canary_ok(s));
    if (mode != AW__GUARD_CANARY)
        assert_guard_faults(s);
    p.force_guard = AW__GUARD_MPROTECT;
    m = get_stack(&p);
    assert_int_equal(m->guard, AW__GUARD_MPROTECT);
    assert_guard_faults(m);
    aw__stack_put(&p, s);
    aw__stack_put(&p, m);
    aw__stack_pool_destroy(&p);
}

/* ---- debug fill and high-water ---- */

static aw__ctx deep_ctx;
static volatile int deep_limit = 1 << 30;

static void touch(char *buf, size_t n, int depth)
{
    memset(buf, depth, n);
}

/* Called through a volatile pointer, so no compiler can shrink the buffer. */
static void (*volatile touch_fn)(char *, size_t, int) = touch;

static volatile size_t frame_bytes = 512;

/* The buffer's size is known only at run time, so it is on the real stack
 * even when ASan moves fixed-size locals to its fake stack (use-after-return mode). */
static __attribute__((noinline)) int recurse(int depth, int max)
{
    char buf[frame_bytes];
    int r = 0;

    touch_fn(buf, sizeof buf, depth);
    if (depth < max && depth < deep_limit)
        r = recurse(depth + 1, max);
    /* Read after the call, so the frame and its buffer outlive it. */
    return r + buf[0] + buf[sizeof buf - 1];
}

static void deep_entry(void *arg)
{
    recurse(0, (int)(intptr_t)arg);
    aw__ctx_switch_final(&deep_ctx, &main_ctx);
}

static void test_stack_fill(void **state)
{
    aw__stack_pool p;
    aw__stack *s, *t;
    size_t hw;

    (void)state;
    assert_int_equal(aw__stack_pool_init(&p, 256 * KIB), 0);
    s = get_stack(&p);
    assert_int_equal(aw__stack_high_water(s), 0);   /* not filled */
    aw__stack_put(&p, s);

    p.debug_fill = true;
    s = get_stack(&p);
    assert_true(s->flags & AW__STACK_FILLED);
    assert_int_equal(aw__stack_high_water(s), 0);   /* filled, unused */
    aw__ctx_init_thread(&main_ctx);
    aw__ctx_init(&deep_ctx, s->lo, s->size, deep_entry, (void *)(intptr_t)64);
    aw__ctx_switch(&main_ctx, &deep_ctx);
    hw = aw__stack_high_water(s);
    /* 64 frames with a 512-byte buffer each. */
    assert_true(hw >= 64 * 512);
    assert_true(hw < s->size);
    aw__ctx_destroy(&deep_ctx);
    aw__stack_put(&p, s);
    aw__stack_pool_destroy(&p);

    /* A canary stack's fill spares the canary. */
    assert_int_equal(aw__stack_pool_init(&p, 0), 0);
    p.debug_fill = true;
    p.force_guard = AW__GUARD_CANARY;
    t = get_stack(&p);
    assert_int_equal(t->guard, AW__GUARD_CANARY);
    assert_true(aw__stack_canary_ok(t));
    assert_int_equal(aw__stack_high_water(t), 0);
    aw__stack_put(&p, t);
    aw__stack_pool_destroy(&p);
}

/* ---- canary-only stacks ---- */

/* Run fn(arg) in a child whose stderr comes back through a pipe; returns the
 * wait status and fills out with what the child wrote. */
static int run_child(void (*fn)(void *), void *arg, char *out, size_t cap)
{
    int fds[2], status = 0;
    size_t n = 0;
    ssize_t r;
    pid_t pid;

    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        close(fds[1]);
        fn(arg);
        _exit(99);
    }
    close(fds[1]);
    while (n + 1 < cap && (r = read(fds[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void report_canary(void *arg)
{
    aw__stack_overflowed(arg);
}

static void test_canary(void **state)
{
    aw__stack_pool p;
    aw__stack *s, *x;
    char out[4096], want[128];
    int status;

    (void)state;
    assert_int_equal(aw__stack_pool_init(&p, 64 * KIB), 0);
    p.force_guard = AW__GUARD_CANARY;
    s = get_stack(&p);
    assert_int_equal(s->guard, AW__GUARD_CANARY);
    assert_true(aw__stack_canary_ok(s));
    /* An overflow that reached the low end of the stack. */
    ((volatile char *)s->lo)[3] ^= 0x40;
    assert_false(aw__stack_canary_ok(s));
    s->owner = "worker";
    status = run_child(report_canary, s, out, sizeof out);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    snprintf(want, sizeof want, "task 'worker' overflowed its %zu KiB stack\n", s->size / 1024);
    assert_non_null(strstr(out, want));
    s->owner = NULL;
    ((volatile char *)s->lo)[3] ^= 0x40;
    assert_true(aw__stack_canary_ok(s));

    /* A stack given back with madvise gets its canary again when reused. */
    p.warm_max = 0;
    aw__stack_put(&p, s);
    assert_int_equal(aw__stack_pool_trim(&p, 1), 1);
    assert_int_equal(p.n_cold, 1);
    s = get_stack(&p);
    assert_true(aw__stack_canary_ok(s));
    aw__stack_put(&p, s);

    /* The refusing setting: no stack rather than an unguarded one. */
    p.canary_refuse = true;
    p.warm_max = 64;
    assert_int_equal(aw__stack_get(&p, 0, &s), 0);     /* the cold one, already made */
    assert_int_equal(aw__stack_get(&p, 0, &x), -ENOMEM);
    assert_int_equal(p.n_used, 1);
    aw__stack_put(&p, s);
    p.force_guard = 0;
    aw__stack_pool_destroy(&p);
}

/* ---- the overflow report ---- */

/* cmocka catches SIGSEGV to report a crashing test: the child must die of it instead. */
static void default_fault_actions(void)
{
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
}

static void overflow_child(void *arg)
{
    aw__stack_pool p;
    aw__stack *s;

    default_fault_actions();

    if (aw__stack_pool_init(&p, 64 * KIB) != 0)
        _exit(2);
    p.force_guard = (uint32_t)(intptr_t)arg;
    if (aw__stack_get(&p, 0, &s) != 0 || aw__stack_install_overflow_handler() != 0)
        _exit(3);
    s->owner = "deep";
    aw__ctx_init_thread(&main_ctx);
    aw__ctx_init(&deep_ctx, s->lo, s->size, deep_entry, (void *)(intptr_t)(1 << 30));
    aw__stack_set_running(s);
    aw__ctx_switch(&main_ctx, &deep_ctx);
    _exit(4);
}

static void check_overflow(int guard)
{
    char out[8192], want[128];
    aw__stack_pool p;
    size_t kib;
    int status;

    assert_int_equal(aw__stack_pool_init(&p, 64 * KIB), 0);
    kib = p.default_size / 1024;    /* 64, or 256 under ASan */
    aw__stack_pool_destroy(&p);
    status = run_child(overflow_child, (void *)(intptr_t)guard, out, sizeof out);

    snprintf(want, sizeof want, "task 'deep' overflowed its %zu KiB stack\n", kib);
    if (!WIFSIGNALED(status) || !strstr(out, want))
        fail_msg("child status %#x, stderr:\n%s", status, out);
    assert_true(WTERMSIG(status) == SIGSEGV || WTERMSIG(status) == SIGBUS);
}

static void test_overflow(void **state)
{
    (void)state;
    if (aw__stack_guard_mode() == AW__GUARD_CANARY)
        skip();
    check_overflow(0);
}

static void test_overflow_mprotect(void **state)
{
    (void)state;
    check_overflow(AW__GUARD_MPROTECT);
}

static void install_twice(void *arg)
{
    (void)arg;
    if (aw__stack_install_overflow_handler() != 0 || aw__stack_install_overflow_handler() != 0)
        _exit(1);
    _exit(0);
}

/* In a child, so that the overflow tests' children install the handler themselves. */
static void test_install_handler_twice(void **state)
{
    char out[256];
    int status = run_child(install_twice, NULL, out, sizeof out);

    (void)state;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- threads: each runs its own contexts and pool ---- */

struct thread_run {
    aw__ctx main, a;
    long count;
    int rc;
};

static void thread_entry(void *arg)
{
    struct thread_run *t = arg;

    for (;;) {
        t->count++;
        aw__ctx_switch(&t->a, &t->main);
    }
}

static void *thread_main(void *arg)
{
    struct thread_run *t = arg;
    aw__stack_pool p;
    aw__stack *s;

    t->rc = aw__stack_install_overflow_handler();
    if (t->rc == 0)
        t->rc = aw__stack_pool_init(&p, 0);
    if (t->rc == 0)
        t->rc = aw__stack_get(&p, 0, &s);
    if (t->rc != 0)
        return NULL;
    aw__ctx_init_thread(&t->main);
    aw__ctx_init(&t->a, s->lo, s->size, thread_entry, t);
    aw__stack_set_running(s);
    for (int i = 0; i < 20000; i++)
        aw__ctx_switch(&t->main, &t->a);
    aw__stack_set_running(NULL);
    /* The context stays suspended forever: its stack simply goes back. */
    aw__ctx_destroy(&t->a);
    aw__stack_put(&p, s);
    aw__stack_pool_destroy(&p);
    return NULL;
}

static void test_threads(void **state)
{
    enum { T = 4 };
    struct thread_run runs[T];
    pthread_t th[T];

    (void)state;
    memset(runs, 0, sizeof runs);
    for (int i = 0; i < T; i++)
        assert_int_equal(pthread_create(&th[i], NULL, thread_main, &runs[i]), 0);
    for (int i = 0; i < T; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(runs[i].rc, 0);
        assert_int_equal(runs[i].count, 20000);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ping_pong),
        cmocka_unit_test(test_ring),
        cmocka_unit_test(test_switch_final),
        cmocka_unit_test(test_longjmp_in_context),
        cmocka_unit_test(test_fp_control),
        cmocka_unit_test(test_pool_lifo),
        cmocka_unit_test(test_many_stacks),
        cmocka_unit_test(test_high_water_madvise),
        cmocka_unit_test(test_guard_mode),
        cmocka_unit_test(test_stack_fill),
        cmocka_unit_test(test_canary),
        cmocka_unit_test(test_overflow),
        cmocka_unit_test(test_overflow_mprotect),
        cmocka_unit_test(test_install_handler_twice),
        cmocka_unit_test(test_threads),
    };

    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
