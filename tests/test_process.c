/* Tests of subprocesses: pipes both ways, communicate without deadlock, status, signals, -ENOENT, no zombies. */
#include "test_util.h"
#include "internal.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static aw_process *start(const char *const argv[], int in, int out, int err)
{
    aw_process_opts o;
    memset(&o, 0, sizeof o);
    o.in = in;
    o.out = out;
    o.err = err;
    aw_process *p = NULL;
    int rc = aw_subprocess_exec(argv, &o, &p);
    assert_int_equal(rc, 0);
    assert_non_null(p);
    return p;
}

/* ---- output, status ---- */

static int echo_main(void *arg, void **result)
{
    (void)arg; (void)result;
    const char *argv[] = { "echo", "hello", "world", NULL };
    aw_process *p = start(argv, AW_INHERIT, AW_PIPE, AW_INHERIT);
    assert_true(aw_process_pid(p) > 0);
    assert_null(aw_process_stdin(p));
    assert_non_null(aw_process_stdout(p));
    int st = 77;
    assert_int_equal(aw_process_returncode(p, &st), AW_EINVALSTATE);
    char *out = NULL, *err = (char *)1;
    size_t outlen = 0, errlen = 5;
    assert_int_equal(aw_process_communicate(p, NULL, 0, &out, &outlen, &err, &errlen), 0);
    assert_string_equal(out, "hello world\n");
    assert_int_equal(outlen, 12);
    assert_null(err);               /* stderr was not a pipe */
    assert_int_equal(errlen, 0);
    assert_int_equal(aw_process_returncode(p, &st), 0);
    assert_int_equal(st, 0);
    free(out);
    aw_process_free(p);

    const char *fail[] = { "/bin/sh", "-c", "exit 3", NULL };
    p = start(fail, AW_INHERIT, AW_INHERIT, AW_INHERIT);
    assert_int_equal(aw_process_wait(p, &st), 0);
    assert_int_equal(st, 3);
    assert_int_equal(aw_process_wait(p, &st), 0);    /* again: the same answer */
    assert_int_equal(st, 3);
    assert_int_equal(aw_process_send_signal(p, SIGTERM), -ESRCH);
    aw_process_free(p);

    assert_int_equal(aw_subprocess_shell("echo $((1 + 2)); echo oops >&2; exit 4",
                                         &(aw_process_opts){ .out = AW_PIPE, .err = AW_PIPE }, &p), 0);
    assert_int_equal(aw_process_communicate(p, NULL, 0, &out, &outlen, &err, &errlen), 0);
    assert_string_equal(out, "3\n");
    assert_string_equal(err, "oops\n");
    assert_int_equal(aw_process_returncode(p, &st), 0);
    assert_int_equal(st, 4);
    free(out);
    free(err);
    aw_process_free(p);
    return 0;
}

static void process_output_and_status(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(echo_main, NULL), NULL, NULL), 0);
}

/* ---- a big payload both ways, with both outputs full at once ---- */

#define PAYLOAD (3 * 1024 * 1024 / 2 + 11)

static int big_main(void *arg, void **result)
{
    (void)arg; (void)result;
    char *in = malloc(PAYLOAD);
    for (size_t i = 0; i < PAYLOAD; i++) in[i] = (char)('a' + (i * 7) % 26);
    /* tee writes everything to stdout and to stderr while reading stdin: with
     * any of the three pipes not serviced, the child and we would block. */
    const char *argv[] = { "/bin/sh", "-c", "tee /dev/stderr", NULL };
    aw_process *p = start(argv, AW_PIPE, AW_PIPE, AW_PIPE);
    char *out = NULL, *err = NULL;
    size_t outlen = 0, errlen = 0;
    assert_int_equal(aw_process_communicate(p, in, PAYLOAD, &out, &outlen, &err, &errlen), 0);
    assert_int_equal(outlen, PAYLOAD);
    assert_int_equal(errlen, PAYLOAD);
    assert_memory_equal(out, in, PAYLOAD);
    assert_memory_equal(err, in, PAYLOAD);
    int st = -1;
    assert_int_equal(aw_process_returncode(p, &st), 0);
    assert_int_equal(st, 0);
    free(out);
    free(err);
    aw_process_free(p);

    /* a child that does not read its input: EPIPE is not an error */
    const char *quick[] = { "/bin/sh", "-c", "exec 0<&-; echo done", NULL };
    p = start(quick, AW_PIPE, AW_PIPE, AW_INHERIT);
    assert_int_equal(aw_process_communicate(p, in, PAYLOAD, &out, NULL, NULL, NULL), 0);
    assert_string_equal(out, "done\n");
    free(out);
    aw_process_free(p);
    free(in);
    return 0;
}

static void process_big_payload(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(big_main, NULL), NULL, NULL), 0);
}

/* ---- streams, stdio choices, env and cwd ---- */

static int stdio_main(void *arg, void **result)
{
    (void)arg; (void)result;
    /* stdout as a stream, read line by line */
    const char *seq[] = { "seq", "1", "5", NULL };
    aw_process *p = start(seq, AW_DEVNULL, AW_PIPE, AW_INHERIT);
    int n = 0;
    for (;;) {
        const char *line;
        size_t len;
        assert_int_equal(aw_stream_readline(aw_process_stdout(p), &line, &len), 0);
        if (len == 0) break;
        n++;
        char want[16];
        snprintf(want, sizeof want, "%d\n", n);
        assert_int_equal(len, strlen(want));
        assert_memory_equal(line, want, len);
    }
    assert_int_equal(n, 5);
    int st;
    assert_int_equal(aw_process_wait(p, &st), 0);
    assert_int_equal(st, 0);
    aw_process_free(p);

    /* stderr into stdout */
    char *out;
    const char *both[] = { "/bin/sh", "-c", "echo out; echo err >&2", NULL };
    p = start(both, AW_INHERIT, AW_PIPE, AW_STDOUT);
    assert_null(aw_process_stderr(p));
    assert_int_equal(aw_process_communicate(p, NULL, 0, &out, NULL, NULL, NULL), 0);
    assert_string_equal(out, "out\nerr\n");
    free(out);
    aw_process_free(p);

    /* stdin from /dev/null */
    const char *cat[] = { "cat", NULL };
    p = start(cat, AW_DEVNULL, AW_PIPE, AW_INHERIT);
    size_t len = 9;
    assert_int_equal(aw_process_communicate(p, NULL, 0, &out, &len, NULL, NULL), 0);
    assert_int_equal(len, 0);
    assert_string_equal(out, "");
    free(out);
    aw_process_free(p);

    /* stdout into a given fd */
    char path[] = "/tmp/aw_test_proc_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    aw_process_opts o;
    memset(&o, 0, sizeof o);
    o.out = AW_FD;
    o.out_fd = fd;
    const char *hi[] = { "echo", "to a file", NULL };
    assert_int_equal(aw_subprocess_exec(hi, &o, &p), 0);
    assert_int_equal(aw_process_wait(p, &st), 0);
    aw_process_free(p);
    char buf[32] = { 0 };
    assert_int_equal(pread(fd, buf, sizeof buf - 1, 0), 10);
    assert_string_equal(buf, "to a file\n");
    close(fd);
    unlink(path);

    /* environment and working directory */
    const char *env[] = { "FOO=bar", NULL };
    memset(&o, 0, sizeof o);
    o.out = AW_PIPE;
    o.env = env;
    o.cwd = "/tmp";
    const char *show[] = { "/bin/sh", "-c", "echo $FOO; pwd", NULL };
    assert_int_equal(aw_subprocess_exec(show, &o, &p), 0);
    assert_int_equal(aw_process_communicate(p, NULL, 0, &out, NULL, NULL, NULL), 0);
    assert_string_equal(out, "bar\n/tmp\n");
    free(out);
    aw_process_free(p);
    return 0;
}

static void process_stdio(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(stdio_main, NULL), NULL, NULL), 0);
}

/* ---- signals: kill, terminate, a clean mask in the child ---- */

typedef struct waiter { aw_process *p; int st; int rc; } waiter;

static int wait_body(void *arg, void **result)
{
    (void)result;
    waiter *w = arg;
    w->rc = aw_process_wait(w->p, &w->st);
    return w->rc;
}

static int kill_main(void *arg, void **result)
{
    (void)arg; (void)result;
    const char *argv[] = { "sleep", "100", NULL };
    aw_process *p = start(argv, AW_DEVNULL, AW_INHERIT, AW_INHERIT);
    /* two tasks wait for the same child */
    waiter a = { .p = p }, b = { .p = p };
    aw_task *ta = aw_create_task(aw_coro(wait_body, &a), "a");
    aw_task *tb = aw_create_task(aw_coro(wait_body, &b), "b");
    assert_int_equal(aw_sleep(0), 0);
    assert_false(aw_task_done(ta));
    assert_int_equal(aw_process_kill(p), 0);
    assert_int_equal(aw_join(ta, NULL), 0);
    assert_int_equal(aw_join(tb, NULL), 0);
    assert_int_equal(a.st, -SIGKILL);
    assert_int_equal(b.st, -SIGKILL);
    aw_process_free(p);

    /* SIGTERM blocked here must not be blocked in the child */
    sigset_t s, old;
    sigemptyset(&s);
    sigaddset(&s, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &s, &old);
    p = start(argv, AW_DEVNULL, AW_INHERIT, AW_INHERIT);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    /* a cancelled wait leaves the child running */
    waiter c = { .p = p };
    aw_task *tc = aw_create_task(aw_coro(wait_body, &c), "c");
    assert_int_equal(aw_sleep(0), 0);
    aw_task_cancel(tc, NULL);
    assert_int_equal(aw_join(tc, NULL), AW_ECANCELLED);
    assert_int_equal(aw_process_returncode(p, NULL), AW_EINVALSTATE);
    assert_int_equal(aw_process_terminate(p), 0);
    int st;
    assert_int_equal(aw_process_wait(p, &st), 0);
    assert_int_equal(st, -SIGTERM);
    assert_int_equal(aw_process_kill(p), -ESRCH);
    aw_process_free(p);
    return 0;
}

static void process_kill(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(kill_main, NULL), NULL, NULL), 0);
}

/* ---- programs that do not exist ---- */

static int enoent_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_process *p = (aw_process *)1;
    const char *abs[] = { "/nonexistent/program", NULL };
    assert_int_equal(aw_subprocess_exec(abs, NULL, &p), -ENOENT);
    assert_null(p);
    const char *rel[] = { "aw-no-such-program-anywhere", NULL };
    aw_process_opts o = { .in = AW_PIPE, .out = AW_PIPE, .err = AW_PIPE };
    assert_int_equal(aw_subprocess_exec(rel, &o, &p), -ENOENT);
    assert_null(p);
    const char *dir[] = { "/tmp", NULL };
    assert_int_equal(aw_subprocess_exec(dir, NULL, &p), -EACCES);
    const char *empty[] = { NULL };
    assert_int_equal(aw_subprocess_exec(empty, NULL, &p), -EINVAL);
    o.in = AW_STDOUT;
    const char *echo[] = { "echo", NULL };
    assert_int_equal(aw_subprocess_exec(echo, &o, &p), -EINVAL);
    o.in = AW_FD;
    o.in_fd = -1;
    assert_int_equal(aw_subprocess_exec(echo, &o, &p), -EBADF);
    return 0;
}

static void process_enoent(void **state)
{
    (void)state;
    int before = 0;
    for (int fd = 0; fd < 1024; fd++) if (fcntl(fd, F_GETFD) >= 0) before++;
    assert_int_equal(test_run(aw_coro(enoent_main, NULL), NULL, NULL), 0);
    int after = 0;
    for (int fd = 0; fd < 1024; fd++) if (fcntl(fd, F_GETFD) >= 0) after++;
    assert_int_equal(after, before);    /* no pipe end leaked on the error paths */
}

/* ---- no zombie after aw_run ---- */

static aw_process *kept;

static int orphans_main(void *arg, void **result)
{
    (void)arg; (void)result;
    const char *quick[] = { "true", NULL };
    const char *slow[] = { "sleep", "0.3", NULL };
    aw_process *p;
    /* freed before they exit, never waited for */
    for (int i = 0; i < 3; i++) {
        p = start(slow, AW_DEVNULL, AW_INHERIT, AW_INHERIT);
        aw_process_free(p);
        p = start(quick, AW_DEVNULL, AW_PIPE, AW_INHERIT);
        aw_process_free(p);
    }
    /* still held when the loop closes */
    kept = start(slow, AW_PIPE, AW_PIPE, AW_INHERIT);
    return 0;
}

static void process_no_zombies(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(orphans_main, NULL), NULL, NULL), 0);
    /* the loop is gone: the handle is detached and the reaper has its child */
    assert_int_equal(aw_process_returncode(kept, NULL), AW_EINVALSTATE);
    assert_null(aw_process_stdout(kept));
    assert_int_equal(aw_process_kill(kept), AW_ECLOSED);
    aw_process_free(kept);
    /* Watch (without reaping: WNOWAIT) until no child is left at all; a zombie
     * nobody reaps would stay forever. Bounded: the children live 0.3 s. */
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        int r = waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT);
        if (r < 0 && errno == ECHILD) break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec > 20) fail_msg("children left: pid %d", (int)si.si_pid);
        usleep(10000);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(process_output_and_status),
        cmocka_unit_test(process_big_payload),
        cmocka_unit_test(process_stdio),
        cmocka_unit_test(process_kill),
        cmocka_unit_test(process_enoent),
        cmocka_unit_test(process_no_zombies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
