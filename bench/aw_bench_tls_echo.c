/* aw_bench_tls_echo: TLS echo throughput of aw, next to plain aw and Go's crypto/tls, in one run.
 *
 *   aw_bench_tls_echo [--duration S] [--conns C] [--sizes 64,16384] [--rounds R]
 *                     [--echo-server PATH] [--gobench PATH] [--no-pin]
 *   aw_bench_tls_echo --load PORT [--plain] [--duration S] [--conns C] [--sizes N]
 *                     (only the load, against a server already listening on
 *                     127.0.0.1:PORT, TLS unless --plain)
 *
 * Servers (each started fresh for every measurement, pinned to CPU 0):
 *   aw       examples/echo_server PORT                   (plain TCP)
 *   aw-tls   examples/echo_server PORT --tls CERT KEY    (aw over OpenSSL)
 *   go       gobench echo_server PORT                    (net, GOMAXPROCS=1)
 *   go-tls   gobench tls_echo_server PORT CERT KEY       (crypto/tls, GOMAXPROCS=1)
 * gobench is bench/peers/go built by bench/run into build/bench-peers/ (or
 * --gobench); without it the Go rows are skipped.
 *
 * The load generator is this program, pinned to CPU 1, with no aw code in it:
 * one thread, edge-triggered epoll, non-blocking OpenSSL for the TLS servers
 * (plain send/recv otherwise), C connections each sending one SIZE-byte
 * message, waiting for all of it to come back and sending the next. After a
 * 0.5 s warm-up it counts round trips for S seconds. The certificate is a
 * throw-away EC P-256 one made with the openssl command; the client does not
 * verify it (verification costs only at the handshake, which is not timed),
 * and offers only TLS_AES_128_GCM_SHA256, so every TLS server runs the same cipher.
 *
 * Prints, for every server and size, the median over the rounds:
 *   RESULT tls_echo <server>_<size>B_msgs_per_sec <v> msg/s
 *   RESULT tls_echo <server>_<size>B_server_cpu_us_per_msg <v> us
 * and the ratios aw-tls/aw and aw-tls/go-tls (> 1: aw-tls is faster). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#if AW_BENCH_OPENSSL
#include <openssl/err.h>
#include <openssl/ssl.h>

#define MAX_CONNS 1000
#define MAX_SIZES 4
#define MAX_ROUNDS 9

enum { SRV_AW, SRV_AW_TLS, SRV_GO, SRV_GO_TLS, NSRV };
static const char *const srv_names[NSRV] = { "aw", "aw-tls", "go", "go-tls" };

typedef struct conn {
    int fd;
    SSL *ssl;
    int state;                  /* 0 handshake, 1 send, 2 receive */
    size_t sent, recvd;
    long done;                  /* round trips in the measured window */
} conn;

static void die(const char *what);
static char dir[64], cert[128], key[128];
static char echo_server[4096], gobench[4096];
static bool pin = true;

static void pin_to(int cpu)
{
    if (!pin) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

/* A port nobody listens on now (gobench wants one; echo_server would take 0). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        die("free port");
    close(fd);
    return ntohs(a.sin_port);
}

/* Start a server pinned to CPU 0; *port from its "listening on HOST:PORT" line. */
static pid_t start_server(int which, int *port)
{
    const char *argv[8];
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", free_port());
    int n = 0;
    if (which == SRV_AW || which == SRV_AW_TLS) {
        argv[n++] = echo_server;
        argv[n++] = port_s;
        if (which == SRV_AW_TLS) { argv[n++] = "--tls"; argv[n++] = cert; argv[n++] = key; }
    } else {
        argv[n++] = gobench;
        argv[n++] = which == SRV_GO ? "echo_server" : "tls_echo_server";
        argv[n++] = port_s;
        if (which == SRV_GO_TLS) { argv[n++] = cert; argv[n++] = key; }
    }
    argv[n] = NULL;
    int p[2];
    if (pipe(p) < 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        pin_to(0);
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    char line[256];
    size_t len = 0;
    while (len < sizeof line - 1 && !memchr(line, '\n', len)) {
        ssize_t r = read(p[0], line + len, sizeof line - 1 - len);
        if (r <= 0) break;
        len += (size_t)r;
    }
    close(p[0]);
    line[len] = 0;
    char *sp = strncmp(line, "listening on ", 13) == 0 ? strchr(line + 13, ' ') : NULL;
    if (sp) *sp = 0;
    char *colon = strrchr(line, ':');
    *port = colon ? atoi(colon + 1) : 0;
    if (*port <= 0) {
        fprintf(stderr, "%s did not start: \"%s\"\n", srv_names[which], line);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    return pid;
}

static void stop_server(pid_t pid)
{
    kill(pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid) return;
        usleep(20000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* utime + stime of pid, in seconds. */
static double proc_cpu(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return 0;
    unsigned long ut = 0, st = 0;
    /* fields after the command: state(3) ... utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void die(const char *what)
{
    char e[256] = "";
    unsigned long code = ERR_get_error();
    if (code) ERR_error_string_n(code, e, sizeof e);
    fprintf(stderr, "aw_bench_tls_echo: %s: %s %s\n", what, strerror(errno), e);
    exit(1);
}

/* Move c on until the socket would block. Returns round trips completed. */
static long drive(conn *c, bool tls, const char *msg, char *buf, size_t size)
{
    long done = 0;
    for (;;) {
        if (c->state == 0) {
            ERR_clear_error();
            int r = SSL_do_handshake(c->ssl);
            if (r == 1) { c->state = 1; continue; }
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return done;
            die("handshake");
        }
        ssize_t r;
        if (c->state == 1) {
            if (tls) {
                ERR_clear_error();
                r = SSL_write(c->ssl, msg + c->sent, (int)(size - c->sent));
                if (r <= 0) {
                    int e = SSL_get_error(c->ssl, (int)r);
                    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return done;
                    die("SSL_write");
                }
            } else {
                r = send(c->fd, msg + c->sent, size - c->sent, MSG_NOSIGNAL);
                if (r < 0 && errno == EAGAIN) return done;
                if (r < 0) die("send");
            }
            c->sent += (size_t)r;
            if (c->sent == size) { c->state = 2; c->recvd = 0; }
            continue;
        }
        if (tls) {
            ERR_clear_error();
            r = SSL_read(c->ssl, buf, (int)(size - c->recvd));
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, (int)r);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return done;
                die("SSL_read");
            }
        } else {
            r = recv(c->fd, buf, size - c->recvd, 0);
            if (r < 0 && errno == EAGAIN) return done;
            if (r <= 0) die("recv");
        }
        c->recvd += (size_t)r;
        if (c->recvd == size) { c->state = 1; c->sent = 0; done++; }
    }
}

typedef struct result { double msgs_per_sec, cpu_us_per_msg; } result;

static int run_load(int port, bool tls, int nconns, size_t size, double duration, pid_t server, result *out)
{
    static SSL_CTX *ctx;
    if (tls && !ctx) {
        ctx = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
        SSL_CTX_set_read_ahead(ctx, 1);
        /* one cipher for every server: Go would pick AES-128-GCM by itself, an
         * OpenSSL server takes the client's first choice (AES-256-GCM by default) */
        SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256");
    }
    int ep = epoll_create1(0);
    conn *cs = calloc((size_t)nconns, sizeof *cs);
    char *msg = malloc(size), *buf = malloc(size);
    memset(msg, 'm', size);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    for (int i = 0; i < nconns; i++) {
        conn *c = &cs[i];
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
        c->state = 1;
        if (tls) {
            c->ssl = SSL_new(ctx);
            SSL_set_fd(c->ssl, c->fd);
            SSL_set_connect_state(c->ssl);
            c->state = 0;
        }
        struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c };
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
        drive(c, tls, msg, buf, size);
    }
    double t0 = bench_now(), start = t0 + 0.5, end = start + duration, cpu0 = 0;
    long count = 0;
    bool measuring = false;
    for (;;) {
        double now = bench_now();
        if (!measuring && now >= start) {
            measuring = true;
            count = 0;
            cpu0 = proc_cpu(server);
            start = now;
        }
        if (now >= end) break;
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            long k = drive(c, tls, msg, buf, size);
            count += k;
            if (measuring) c->done += k;
        }
    }
    /* A server that loses a wake-up leaves connections stuck: say so. */
    int stuck = 0;
    for (int i = 0; i < nconns; i++) stuck += cs[i].done * nconns * 20 < count;
    if (stuck) fprintf(stderr, "aw_bench_tls_echo: %d of %d connections made (almost) no progress\n", stuck, nconns);
    double elapsed = bench_now() - start, cpu = proc_cpu(server) - cpu0;
    for (int i = 0; i < nconns; i++) {
        if (cs[i].ssl) SSL_free(cs[i].ssl);
        close(cs[i].fd);
    }
    close(ep);
    free(cs);
    free(msg);
    free(buf);
    out->msgs_per_sec = (double)count / elapsed;
    out->cpu_us_per_msg = count ? cpu * 1e6 / (double)count : 0;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    double duration = 3;
    int nconns = 50, rounds = 1, nsizes = 2, load_port = 0;
    bool plain = false;
    size_t sizes[MAX_SIZES] = { 64, 16384 };
    char self[4096];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    self[sl > 0 ? sl : 0] = 0;
    char *bindir = dirname(self);           /* build/bench */
    snprintf(echo_server, sizeof echo_server, "%s/../examples/echo_server", bindir);
    snprintf(gobench, sizeof gobench, "%s/../bench-peers/gobench", bindir);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--duration") && i + 1 < argc) duration = atof(argv[++i]);
        else if (!strcmp(argv[i], "--conns") && i + 1 < argc) nconns = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--echo-server") && i + 1 < argc) snprintf(echo_server, sizeof echo_server, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--gobench") && i + 1 < argc) snprintf(gobench, sizeof gobench, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--no-pin")) pin = false;
        else if (!strcmp(argv[i], "--load") && i + 1 < argc) load_port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--plain")) plain = true;
        else if (!strcmp(argv[i], "--sizes") && i + 1 < argc) {
            nsizes = 0;
            for (char *p = argv[++i]; *p && nsizes < MAX_SIZES; p = strchr(p, ',') ? strchr(p, ',') + 1 : "")
                sizes[nsizes++] = (size_t)atol(p);
        } else {
            fprintf(stderr, "usage: aw_bench_tls_echo [--duration S] [--conns C] [--sizes 64,16384] "
                            "[--rounds R] [--echo-server PATH] [--gobench PATH] [--no-pin]\n");
            return 2;
        }
    }
    if (duration <= 0 || nconns < 1 || nconns > MAX_CONNS || rounds < 1 || rounds > MAX_ROUNDS || nsizes < 1) {
        fprintf(stderr, "aw_bench_tls_echo: bad arguments\n");
        return 2;
    }
    for (int i = 0; i < nsizes; i++)
        if (sizes[i] < 1 || sizes[i] > (1u << 20)) { fprintf(stderr, "sizes: 1 .. 1048576\n"); return 2; }
    signal(SIGPIPE, SIG_IGN);
    if (load_port > 0) {
        result res;
        run_load(load_port, !plain, nconns, sizes[0], duration, getpid(), &res);
        printf("RESULT tls_echo load_%zuB_msgs_per_sec %.0f msg/s\n", sizes[0], res.msgs_per_sec);
        return 0;
    }
    if (access(echo_server, X_OK) != 0) {
        fprintf(stderr, "aw_bench_tls_echo: %s not built\n", echo_server);
        return 1;
    }
    bool have_go = access(gobench, X_OK) == 0;
    if (!have_go) fprintf(stderr, "skipped: go, go-tls: %s not built (bench/run builds it)\n", gobench);
    strcpy(dir, "/tmp/aw-bench-tls-XXXXXX");
    if (!mkdtemp(dir)) die("mkdtemp");
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout %s -out %s -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
             ">/dev/null 2>&1", key, cert);
    if (system(cmd) != 0) {
        fprintf(stderr, "aw_bench_tls_echo: the openssl command failed\n");
        return 1;
    }
    pin_to(1);

    static double rate[NSRV][MAX_SIZES][MAX_ROUNDS], cpu[NSRV][MAX_SIZES][MAX_ROUNDS];
    bool ran[NSRV] = { false };
    for (int r = 0; r < rounds; r++) {
        for (int si = 0; si < nsizes; si++) {
            for (int k = 0; k < NSRV; k++) {
                int which = (k + r) % NSRV;         /* rotate the order from round to round */
                if ((which == SRV_GO || which == SRV_GO_TLS) && !have_go) continue;
                int port;
                pid_t pid = start_server(which, &port);
                if (pid < 0) continue;
                result res;
                bool tls = which == SRV_AW_TLS || which == SRV_GO_TLS;
                run_load(port, tls, nconns, sizes[si], duration, pid, &res);
                stop_server(pid);
                rate[which][si][r] = res.msgs_per_sec;
                cpu[which][si][r] = res.cpu_us_per_msg;
                ran[which] = true;
                fprintf(stderr, "  round %d  %-7s %6zu B  %10.0f msg/s  %7.1f MB/s  server %.2f us/msg\n",
                        r + 1, srv_names[which], sizes[si], res.msgs_per_sec,
                        res.msgs_per_sec * (double)sizes[si] / 1e6, res.cpu_us_per_msg);
            }
        }
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);

    printf("# %d connections, %g s per run, %d round(s); median msg/s (MB/s), server CPU per message\n",
           nconns, duration, rounds);
    double med[NSRV][MAX_SIZES];
    for (int si = 0; si < nsizes; si++) {
        for (int w = 0; w < NSRV; w++) {
            if (!ran[w]) continue;
            med[w][si] = median(rate[w][si], rounds);
            double c = median(cpu[w][si], rounds);
            printf("RESULT tls_echo %s_%zuB_msgs_per_sec %.0f msg/s\n", srv_names[w], sizes[si], med[w][si]);
            printf("RESULT tls_echo %s_%zuB_server_cpu_us_per_msg %.2f us\n", srv_names[w], sizes[si], c);
        }
        if (ran[SRV_AW] && ran[SRV_AW_TLS])
            printf("# %zu B: aw-tls / aw = %.2f\n", sizes[si], med[SRV_AW_TLS][si] / med[SRV_AW][si]);
        if (ran[SRV_GO_TLS] && ran[SRV_AW_TLS])
            printf("# %zu B: aw-tls / go-tls = %.2f\n", sizes[si], med[SRV_AW_TLS][si] / med[SRV_GO_TLS][si]);
        if (ran[SRV_GO] && ran[SRV_GO_TLS])
            printf("# %zu B: go-tls / go = %.2f\n", sizes[si], med[SRV_GO_TLS][si] / med[SRV_GO][si]);
    }
    return 0;
}

#else

int main(void)
{
    printf("skipped: tls_echo: aw was built without OpenSSL\n");
    return 0;
}

#endif
