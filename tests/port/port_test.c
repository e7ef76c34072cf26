/* Port check of the ctx layer without cmocka: switches, FP control state, the stack pool and guards. */
/*
 * Built for AArch64 and run under qemu-user, and natively with
 * -DAW_FORCE_UCONTEXT for the portable backend; it needs nothing but libc.
 * Every check runs even after one fails; the last line reads
 * "N passed, M failed" and the exit status is 0 only when M is 0.
 */
#include "ctx/ctx.h"

#include <errno.h>
#include <fenv.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int passed, failed;

#define CHECK(cond) check((cond), #cond, __FILE__, __LINE__)

static void check(bool ok, const char *what, const char *file, int line)
{
    if (ok) {
        passed++;
        return;
    }
    failed++;
    fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
}

static aw__ctx main_ctx;

/* ---- switching ---- */

static aw__ctx ping_ctx, pong_ctx;
static long ping_count, pong_count, ping_sum;
static double ping_fsum;
static volatile bool pp_stop;

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
        fsum += 0.25;
        aw__ctx_switch(&ping_ctx, &pong_ctx);
    }
}

static void pong(void *arg)
{
    (void)arg;
    for (;;) {
        if (pp_stop)
            aw__ctx_switch_final(&pong_ctx, &main_ctx);
        pong_count++;
        aw__ctx_switch(&pong_ctx, &main_ctx);
    }
}

static void test_ping_pong(void)
{
    enum { N = 100000 };
    aw__stack_pool p;
    aw__stack *a, *b;
    long want = 0;
    bool in_step = true;

    CHECK(aw__stack_pool_init(&p, 64 * 1024) == 0);
    CHECK(aw__stack_get(&p, 0, &a) == 0);
    CHECK(aw__stack_get(&p, 0, &b) == 0);
    aw__ctx_init_thread(&main_ctx);
    aw__ctx_init(&ping_ctx, a->lo, a->size, ping, NULL);
    aw__ctx_init(&pong_ctx, b->lo, b->size, pong, NULL);
    for (long i = 1; i <= N; i++) {
        aw__ctx_switch(&main_ctx, &ping_ctx);
        in_step = in_step && ping_count == i && pong_count == i;
        want += i;
    }
    CHECK(in_step);
    pp_stop = true;
    aw__ctx_switch(&main_ctx, &ping_ctx);
    CHECK(ping_sum == want);
    CHECK(ping_fsum == 0.25 * N);
    aw__ctx_destroy(&ping_ctx);
    aw__ctx_destroy(&pong_ctx);
    aw__stack_put(&p, a);
    aw__stack_put(&p, b);
    aw__stack_pool_destroy(&p);
}

/* ---- floating-point control state ---- */

static aw__ctx fp_ctx;
static int fp_first, fp_later;

static void fp_entry(void *arg)
{
    (void)arg;
    fp_first = fegetround();
    fesetround(FE_UPWARD);
    aw__ctx_switch(&fp_ctx, &main_ctx);
    fp_later = fegetround();
    aw__ctx_switch_final(&fp_ctx, &main_ctx);
}

static void test_fp(void)
{
    aw__stack_pool p;
    aw__stack *s;

    CHECK(aw__stack_pool_init(&p, 0) == 0);
    CHECK(aw__stack_get(&p, 0, &s) == 0);
    aw__ctx_init_thread(&main_ctx);
    fesetround(FE_TOWARDZERO);
    aw__ctx_init(&fp_ctx, s->lo, s->size, fp_entry, NULL);
    fesetround(FE_TONEAREST);
    aw__ctx_switch(&main_ctx, &fp_ctx);
    CHECK(fp_first == FE_TOWARDZERO);
    CHECK(fegetround() == FE_TONEAREST);
    fesetround(FE_DOWNWARD);
    aw__ctx_switch(&main_ctx, &fp_ctx);
    CHECK(fp_later == FE_UPWARD);
    CHECK(fegetround() == FE_DOWNWARD);
    fesetround(FE_TONEAREST);
    aw__ctx_destroy(&fp_ctx);
    aw__stack_put(&p, s);
    aw__stack_pool_destroy(&p);
}

/* ---- the pool ---- */

static void test_pool(void)
{
    enum { N = 2000 };
    aw__stack_pool p;
    aw__stack *a, *b, *x, *big;
    static aw__stack *many[N];
    bool ok = true;

    CHECK(aw__stack_pool_init(&p, 0) == 0);
    CHECK(aw__stack_get(&p, 0, &a) == 0);
    CHECK(aw__stack_get(&p, 0, &b) == 0);
    CHECK(a != b && a->lo != b->lo);
    aw__stack_put(&p, a);
    aw__stack_put(&p, b);
    CHECK(aw__stack_get(&p, 0, &x) == 0 && x == b);
    CHECK(aw__stack_get(&p, 0, &x) == 0 && x == a);
    CHECK(aw__stack_get(&p, 512 * 1024, &big) == 0 && big->size >= 512 * 1024);
    aw__stack_put(&p, big);
    aw__stack_put(&p, a);
    aw__stack_put(&p, b);

    /* Beyond the high-water mark, stacks are given back and read as zero. */
    p.warm_max = 1;
    CHECK(aw__stack_get(&p, 0, &a) == 0);
    CHECK(aw__stack_get(&p, 0, &b) == 0);
    ((char *)a->lo)[a->size - 1] = 7;
    ((char *)b->lo)[b->size - 1] = 7;
    aw__stack_put(&p, a);
    aw__stack_put(&p, b);
    CHECK(aw__stack_pool_trim(&p, 8) == 1);   /* the least recently used goes back */
    CHECK(p.n_warm == 1 && p.n_cold == 1);
    CHECK(((char *)b->lo)[b->size - 1] == 7);
    CHECK(((char *)a->lo)[a->size - 1] == 0);
    CHECK(aw__stack_get(&p, 0, &x) == 0 && x == b);
    CHECK(aw__stack_get(&p, 0, &x) == 0 && x == a);
    aw__stack_put(&p, a);
    aw__stack_put(&p, b);

    p.warm_max = N;
    for (int i = 0; i < N; i++) {
        ok = ok && aw__stack_get(&p, 0, &many[i]) == 0;
        if (ok)
            ((volatile char *)many[i]->lo)[many[i]->size - 1] = (char)i;
    }
    CHECK(ok);
    for (int i = 0; ok && i < N; i++)
        aw__stack_put(&p, many[i]);
    CHECK(p.n_used == 0);
    aw__stack_pool_destroy(&p);
}

/* ---- guards, canaries, the overflow report ---- */

static bool guard_faults(const aw__stack *s)
{
    int fds[2];
    bool ok;

    if (pipe(fds) != 0)
        return false;
    ok = write(fds[1], (const char *)s->lo - sysconf(_SC_PAGESIZE), 1) < 0 && errno == EFAULT;
    ok = ok && write(fds[1], s->lo, 1) == 1;
    close(fds[0]);
    close(fds[1]);
    return ok;
}

static void test_guards(void)
{
    static const char *names[] = { "?", "MADV_GUARD_INSTALL", "mprotect", "canary" };
    int mode = aw__stack_guard_mode();
    aw__stack_pool p;
    aw__stack *s, *c;

    printf("guard mode: %s\n", names[mode >= 1 && mode <= 3 ? mode : 0]);
    CHECK(mode >= AW__GUARD_MADV && mode <= AW__GUARD_CANARY);
    CHECK(aw__stack_pool_init(&p, 0) == 0);
    CHECK(aw__stack_get(&p, 0, &s) == 0);
    CHECK(s->guard == (uint32_t)mode);
    if (mode != AW__GUARD_CANARY)
        CHECK(guard_faults(s));
    p.force_guard = AW__GUARD_CANARY;
    CHECK(aw__stack_get(&p, 0, &c) == 0);
    CHECK(c->guard == AW__GUARD_CANARY);
    CHECK(aw__stack_canary_ok(c));
    ((volatile char *)c->lo)[0] ^= 1;
    CHECK(!aw__stack_canary_ok(c));
    ((volatile char *)c->lo)[0] ^= 1;
    CHECK(aw__stack_canary_ok(c));
    p.canary_refuse = true;
    CHECK(aw__stack_get(&p, 0, &s) == -ENOMEM);
    aw__stack_put(&p, c);
    aw__stack_pool_destroy(&p);
}

static aw__ctx deep_ctx;
static volatile size_t frame_bytes = 512;

static void touch(char *buf, size_t n, int depth)
{
    memset(buf, depth, n);
}

static void (*volatile touch_fn)(char *, size_t, int) = touch;

static __attribute__((noinline)) int recurse(int depth)
{
    char buf[frame_bytes];
    int r;

    touch_fn(buf, sizeof buf, depth);
    r = depth < (1 << 30) ? recurse(depth + 1) : 0;
    return r + buf[0];
}

static void deep_entry(void *arg)
{
    (void)arg;
    recurse(0);
    aw__ctx_switch_final(&deep_ctx, &main_ctx);
}

static void overflow_child(int guard)
{
    aw__stack_pool p;
    aw__stack *s;

    if (aw__stack_pool_init(&p, 64 * 1024) != 0)
        _exit(2);
    p.force_guard = (uint32_t)guard;
    if (aw__stack_get(&p, 0, &s) != 0 || aw__stack_install_overflow_handler() != 0)
        _exit(3);
    s->owner = "deep";
    aw__ctx_init_thread(&main_ctx);
    aw__ctx_init(&deep_ctx, s->lo, s->size, deep_entry, NULL);
    aw__stack_set_running(s);
    aw__ctx_switch(&main_ctx, &deep_ctx);
    _exit(4);
}

static void test_overflow(int guard)
{
    char out[4096];
    size_t n = 0;
    ssize_t r;
    int fds[2], status = 0;
    pid_t pid;

    if (pipe(fds) != 0) {
        CHECK(false);
        return;
    }
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        overflow_child(guard);
    }
    close(fds[1]);
    while (n + 1 < sizeof out && (r = read(fds[0], out + n, sizeof out - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(fds[0]);
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && (WTERMSIG(status) == SIGSEGV || WTERMSIG(status) == SIGBUS));
    CHECK(strstr(out, "task 'deep' overflowed its 64 KiB stack\n") != NULL);
}

int main(void)
{
    test_ping_pong();
    test_fp();
    test_pool();
    test_guards();
    if (aw__stack_guard_mode() != AW__GUARD_CANARY)
        test_overflow(0);
    test_overflow(AW__GUARD_MPROTECT);
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
