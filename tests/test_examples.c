/* Runs the network examples briefly against real clients: redis-cli, redis-benchmark, curl, wrk (127.0.0.1 only). */
#include "test_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static char examples_dir[4096];

/* build/tests/test_examples -> build/examples/ */
static bool find_examples(void)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return false;
    self[n] = 0;
    snprintf(examples_dir, sizeof examples_dir, "%s/../examples", dirname(self));
    return true;
}

static bool have_tool(const char *name)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

typedef struct server {
    pid_t pid;
    int port;
} server;

/* Start an example with args; wait for "listening on HOST:PORT". */
static bool start(server *s, const char *prog, const char *const *args)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", examples_dir, prog);
    if (access(path, X_OK) != 0) return false;
    const char *argv[16] = { path };
    int n = 1;
    for (; args[n - 1] && n < 15; n++) argv[n] = args[n - 1];
    argv[n] = NULL;
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    assert_int_equal(posix_spawn(&s->pid, path, &fa, NULL, (char *const *)argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    char line[256];
    size_t len = 0;
    struct pollfd pf = { .fd = p[0], .events = POLLIN };
    while (len < sizeof line - 1 && !memchr(line, '\n', len)) {
        if (poll(&pf, 1, 20000) <= 0) break;
        ssize_t r = read(p[0], line + len, sizeof line - 1 - len);
        if (r <= 0) break;
        len += (size_t)r;
    }
    line[len] = 0;
    close(p[0]);
    const char *colon = strrchr(line, ':');
    if (strncmp(line, "listening on ", 13) != 0 || !colon) fail_msg("%s did not start: \"%s\"", prog, line);
    s->port = atoi(colon + 1);
    assert_true(s->port > 0);
    return true;
}

static bool alive(server *s)
{
    return waitpid(s->pid, NULL, WNOHANG) == 0;
}

/* SIGTERM, then the exit status (0 expected: a clean shutdown). */
static int stop(server *s)
{
    kill(s->pid, SIGTERM);
    int st;
    for (int i = 0; i < 200; i++) {
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        usleep(50000);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &st, 0);
    return -1;
}

/* Run a shell command (bounded by timeout(1)); its output in buf, its status returned. */
static int run(char *buf, size_t cap, const char *fmt, ...)
{
    char cmd[1024], full[1100];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "timeout 100 %s 2>&1", cmd);
    FILE *f = popen(full, "r");
    assert_non_null(f);
    size_t n = 0;
    for (;;) {
        size_t r = fread(buf + n, 1, cap - 1 - n, f);
        if (r == 0) break;
        n += r;
        if (n == cap - 1) {
            /* keep the tail */
            memmove(buf, buf + cap / 2, n - cap / 2);
            n -= cap / 2;
        }
    }
    buf[n] = 0;
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* One raw request; the first bytes of the answer (or "" when closed without one). */
static void raw_request(int port, const void *req, size_t n, char *resp, size_t cap, double *took)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t off = 0;
    while (off < n) {
        ssize_t w = send(fd, (const char *)req + off, n - off, MSG_NOSIGNAL);
        if (w <= 0) break;      /* the server may answer and stop reading early */
        off += (size_t)w;
    }
    size_t len = 0;
    struct pollfd pf = { .fd = fd, .events = POLLIN };
    while (len < cap - 1 && poll(&pf, 1, 10000) > 0) {
        ssize_t r = recv(fd, resp + len, cap - 1 - len, 0);
        if (r <= 0) break;
        len += (size_t)r;
    }
    resp[len] = 0;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (took) *took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    close(fd);
}

/* ---- kv_server ---- */

static void kv_server_with_redis_tools(void **state)
{
    (void)state;
    if (!have_tool("redis-cli") || !have_tool("redis-benchmark")) {
        print_message("redis-cli/redis-benchmark not installed (apt-get install redis-tools): skipped\n");
        skip();
    }
    server s;
    const char *args[] = { "0", "--duration", "110", NULL };
    if (!start(&s, "kv_server", args)) { print_message("kv_server not built: skipped\n"); skip(); }
    static char out[65536];
    const char *cli = "redis-cli -h 127.0.0.1 -p";
    assert_int_equal(run(out, sizeof out, "%s %d PING", cli, s.port), 0);
    assert_string_equal(out, "PONG\n");
    assert_int_equal(run(out, sizeof out, "%s %d SET greeting hello", cli, s.port), 0);
    assert_string_equal(out, "OK\n");
    assert_int_equal(run(out, sizeof out, "%s %d GET greeting", cli, s.port), 0);
    assert_string_equal(out, "hello\n");
    assert_int_equal(run(out, sizeof out, "%s %d INCR counter", cli, s.port), 0);
    assert_string_equal(out, "1\n");
    assert_int_equal(run(out, sizeof out, "%s %d SET temp x EX 100", cli, s.port), 0);
    assert_int_equal(run(out, sizeof out, "%s %d TTL temp", cli, s.port), 0);
    assert_string_equal(out, "100\n");
    assert_int_equal(run(out, sizeof out, "%s %d EXISTS greeting temp nokey", cli, s.port), 0);
    assert_string_equal(out, "2\n");
    assert_int_equal(run(out, sizeof out, "%s %d DEL greeting temp", cli, s.port), 0);
    assert_string_equal(out, "2\n");
    assert_int_equal(run(out, sizeof out, "%s %d ECHO 'two words'", cli, s.port), 0);
    assert_string_equal(out, "two words\n");
    run(out, sizeof out, "%s %d LPUSH list x", cli, s.port);
    assert_contains(out, "ERR unknown command 'LPUSH'");
    run(out, sizeof out, "%s %d INCR greeting2 x", cli, s.port);
    assert_contains(out, "ERR wrong number of arguments for 'incr' command");

    int rc = run(out, sizeof out, "redis-benchmark -h 127.0.0.1 -p %d -t ping,set,get -n 100000 -c 50 -q", s.port);
    if (rc != 0) fail_msg("redis-benchmark exited %d:\n%s", rc, out);
    /* the live progress lines end with \r; the results with \n */
    int results = 0;
    for (char *p = out; (p = strstr(p, "requests per second")); p++) results++;
    if (results < 4) fail_msg("expected 4 results:\n%s", out);
    if (strstr(out, "ERR") || strstr(out, "WARNING") || strstr(out, "rror")) fail_msg("errors:\n%s", out);
    assert_true(alive(&s));
    assert_int_equal(stop(&s), 0);
}

/* ---- http_server ---- */

static void http_server_with_curl_and_wrk(void **state)
{
    (void)state;
    if (!have_tool("curl")) {
        print_message("curl not installed: skipped\n");
        skip();
    }
    server s;
    const char *args[] = { "0", "--duration", "110", "--idle-timeout", "0.5", NULL };
    if (!start(&s, "http_server", args)) { print_message("http_server not built: skipped\n"); skip(); }
    static char out[65536];
    assert_int_equal(run(out, sizeof out, "curl -s http://127.0.0.1:%d/", s.port), 0);
    assert_string_equal(out, "Hello, World!\n");
    /* two requests on one keep-alive connection */
    assert_int_equal(run(out, sizeof out, "curl -s -v http://127.0.0.1:%d/a http://127.0.0.1:%d/b", s.port, s.port), 0);
    assert_contains(out, "Re-using existing connection");
    /* malformed requests: 400 and the connection is closed */
    char resp[512];
    raw_request(s.port, "GARBAGE\r\n\r\n", 11, resp, sizeof resp, NULL);
    assert_contains(resp, "HTTP/1.1 400 Bad Request");
    raw_request(s.port, "GET / HTTP/1.1\r\nno colon here\r\n\r\n", 34, resp, sizeof resp, NULL);
    assert_contains(resp, "HTTP/1.1 400 Bad Request");
    /* a 1 MiB request line: 400, and the server stays up */
    size_t big = (1u << 20) + 32;
    char *huge = malloc(big);
    memcpy(huge, "GET /", 5);
    memset(huge + 5, 'a', big - 5);
    memcpy(huge + big - 15, " HTTP/1.1\r\n\r\n", 13);
    raw_request(s.port, huge, big - 2, resp, sizeof resp, NULL);
    free(huge);
    assert_contains(resp, "HTTP/1.1 400 Bad Request");
    assert_true(alive(&s));
    assert_int_equal(run(out, sizeof out, "curl -s -o /dev/null -w '%%{http_code}' http://127.0.0.1:%d/", s.port), 0);
    assert_string_equal(out, "200");
    /* a client that connects and sends nothing is closed after the idle timeout */
    double took;
    raw_request(s.port, "", 0, resp, sizeof resp, &took);
    assert_string_equal(resp, "");
    assert_true(took >= 0.4 && took < 5);
    /* pipelined requests: all answered */
    const char *pipe3 = "GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nConnection: close\r\n\r\n";
    raw_request(s.port, pipe3, strlen(pipe3), resp, sizeof resp, NULL);
    int oks = 0;
    for (char *p = resp; (p = strstr(p, "200 OK")); p++) oks++;
    assert_int_equal(oks, 3);

    if (have_tool("wrk")) {
        int rc = run(out, sizeof out, "wrk -t1 -c20 -d1 http://127.0.0.1:%d/", s.port);
        if (rc != 0) fail_msg("wrk exited %d:\n%s", rc, out);
        assert_contains(out, "Requests/sec:");
        if (strstr(out, "Socket errors") || strstr(out, "Non-2xx")) fail_msg("errors:\n%s", out);
    } else {
        print_message("wrk not installed: the wrk run is skipped\n");
    }
    assert_true(alive(&s));
    assert_int_equal(stop(&s), 0);
}

/* ---- echo_server + echo_client ---- */

static void echo_server_and_client(void **state)
{
    (void)state;
    server s;
    const char *args[] = { "0", "--duration", "110", NULL };
    if (!start(&s, "echo_server", args)) { print_message("echo_server not built: skipped\n"); skip(); }
    static char out[4096];
    int rc = run(out, sizeof out, "%s/echo_client %d --conns 20 --count 200 --size 100", examples_dir, s.port);
    if (rc != 0) fail_msg("echo_client exited %d:\n%s", rc, out);
    assert_contains(out, "4000 round trips of 100 bytes over 20 connections");
    assert_int_equal(stop(&s), 0);
}

int main(void)
{
    if (!find_examples()) return 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(echo_server_and_client),
        cmocka_unit_test(kv_server_with_redis_tools),
        cmocka_unit_test(http_server_with_curl_and_wrk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
