/*
 * echo_load - closed-loop load generator for the TCP echo benchmarks.
 *
 * Opens C connections (default 100) to HOST:PORT (loopback only).  Each
 * connection sends one SIZE-byte message (default 64), waits until the whole
 * message has come back, checks it, and immediately sends the next one.
 * After a warm-up (default 0.5 s) it measures for DURATION seconds (default
 * 10) and then stops by itself.  Single thread, plain epoll, no aw code.
 *
 * Prints (one line each):
 *   RESULT echo msgs_per_sec <v> msg/s        round trips completed per second
 *   RESULT echo p50_latency_us <v> us         send-to-full-echo latency
 *   RESULT echo p99_latency_us <v> us
 *   RESULT echo server_cpu_us_per_msg <v> us  only with --pid: the server's
 *        utime+stime (all threads, /proc/PID/stat) over the measured window
 *        divided by the messages echoed in it
 *
 * Usage: echo_load --port PORT [--host 127.0.0.1] [--conns C]
 *                  [--duration SECONDS] [--warmup SECONDS] [--size BYTES]
 *                  [--pid SERVER_PID]
 *
 * Bounded: at most 10000 connections, 3600 s, 65536-byte messages.
 * Latencies go into a fixed histogram of 1 us buckets up to 1 s (larger
 * values land in the last bucket).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "peers/peer_util.h"

#define MAX_CONNS 10000
#define MAX_DURATION 3600.0
#define MAX_SIZE 65536
#define HIST_BUCKETS 1000000 /* 1 us each: 0 .. 999999 us */

struct conn {
    int fd;
    int id;
    size_t sent;      /* bytes of the current message written */
    size_t recvd;     /* bytes of the current echo read back */
    uint64_t t_send;  /* when the current message was started */
    int want_out;     /* EPOLLOUT registered */
};

static uint32_t *hist;
static uint64_t hist_total;
static size_t msg_size = 64;
static char *msg_tmpl;

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static double parse_double(const char *s, const char *opt)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || v < 0) {
        fprintf(stderr, "echo_load: bad value '%s' for %s\n", s, opt);
        exit(2);
    }
    return v;
}

/* utime + stime of a process, in clock ticks; -1 if unreadable. */
static long long proc_cpu_ticks(long pid)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* comm may contain spaces */
    if (!p)
        return -1;
    p++;
    /* after ')' come fields 3 (state) .. ; utime is 14, stime is 15 */
    long long utime = -1, stime = -1;
    int field = 2;
    char *save = NULL;
    for (char *tok = strtok_r(p, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        field++;
        if (field == 14)
            utime = atoll(tok);
        else if (field == 15) {
            stime = atoll(tok);
            break;
        }
    }
    if (utime < 0 || stime < 0)
        return -1;
    return utime + stime;
}

static double hist_percentile(double q)
{
    if (hist_total == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)hist_total);
    if (rank >= hist_total)
        rank = hist_total - 1;
    uint64_t seen = 0;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        seen += hist[i];
        if (seen > rank)
            return i + 0.5; /* middle of the 1 us bucket */
    }
    return HIST_BUCKETS;
}

static void set_out(int ep, struct conn *c, int on)
{
    if (c->want_out == on)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        die("epoll_ctl");
    c->want_out = on;
}

/* Write what is left of the current message; returns -1 on a dead socket. */
static int flush_msg(int ep, struct conn *c)
{
    while (c->sent < msg_size) {
        ssize_t w = send(c->fd, msg_tmpl + c->sent, msg_size - c->sent, MSG_NOSIGNAL);
        if (w > 0) {
            c->sent += (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_out(ep, c, 1);
            return 0;
        } else {
            return -1;
        }
    }
    set_out(ep, c, 0);
    return 0;
}

static int start_msg(int ep, struct conn *c)
{
    c->sent = 0;
    c->recvd = 0;
    c->t_send = peer_now_ns();
    return flush_msg(ep, c);
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    long port = 0, pid = 0, nconns = 100;
    double duration = 10.0, warmup = 0.5;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "echo_load: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--port"))
            port = (long)parse_double(v, a);
        else if (!strcmp(a, "--host"))
            host = v;
        else if (!strcmp(a, "--conns") || !strcmp(a, "-c"))
            nconns = (long)parse_double(v, a);
        else if (!strcmp(a, "--duration") || !strcmp(a, "-d"))
            duration = parse_double(v, a);
        else if (!strcmp(a, "--warmup"))
            warmup = parse_double(v, a);
        else if (!strcmp(a, "--size"))
            msg_size = (size_t)parse_double(v, a);
        else if (!strcmp(a, "--pid"))
            pid = (long)parse_double(v, a);
        else {
            fprintf(stderr, "echo_load: unknown option %s\n", a);
            return 2;
        }
        i++;
    }
    if (port <= 0 || port > 65535) {
        fprintf(stderr, "usage: echo_load --port PORT [--host 127.0.0.1] [--conns C] "
                        "[--duration S] [--warmup S] [--size B] [--pid PID]\n");
        return 2;
    }
    if (nconns < 1 || nconns > MAX_CONNS || duration <= 0 || duration > MAX_DURATION ||
        warmup > MAX_DURATION || msg_size < 1 || msg_size > MAX_SIZE) {
        fprintf(stderr, "echo_load: out of bounds (conns 1..%d, duration <= %.0f s, "
                        "size 1..%d)\n", MAX_CONNS, MAX_DURATION, MAX_SIZE);
        return 2;
    }

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "echo_load: host must be an IPv4 address\n");
        return 2;
    }
    if ((ntohl(sa.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "echo_load: refusing non-loopback target %s\n", host);
        return 2;
    }

    signal(SIGPIPE, SIG_IGN);
    hist = calloc(HIST_BUCKETS, sizeof *hist);
    msg_tmpl = malloc(msg_size);
    char *rbuf = malloc(MAX_SIZE);
    struct conn *conns = calloc((size_t)nconns, sizeof *conns);
    if (!hist || !msg_tmpl || !rbuf || !conns)
        die("malloc");
    for (size_t i = 0; i < msg_size; i++)
        msg_tmpl[i] = (char)('a' + i % 26);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");

    /* Connect (blocking, 3 s timeout each), then switch to non-blocking. */
    for (long i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        c->id = (int)i;
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
            die("socket");
        struct timeval tv = {.tv_sec = 3};
        setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
            fprintf(stderr, "echo_load: connect %s:%ld: %s\n", host, port, strerror(errno));
            return 1;
        }
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
            die("epoll_ctl");
    }

    uint64_t t_start = peer_now_ns();
    uint64_t t_measure = t_start + (uint64_t)(warmup * 1e9);
    uint64_t t_end = t_measure + (uint64_t)(duration * 1e9);
    int measuring = warmup <= 0;
    long long cpu0 = measuring && pid ? proc_cpu_ticks(pid) : -1;
    uint64_t msgs = 0, errors = 0, mismatches = 0;
    long alive = nconns;

    for (long i = 0; i < nconns; i++)
        if (start_msg(ep, &conns[i]) < 0) {
            fprintf(stderr, "echo_load: send failed on connection %ld\n", i);
            return 1;
        }

    struct epoll_event evs[256];
    uint64_t now = t_start;
    while (alive > 0) {
        now = peer_now_ns();
        if (!measuring && now >= t_measure) {
            measuring = 1;
            t_measure = now;
            t_end = now + (uint64_t)(duration * 1e9);
            cpu0 = pid ? proc_cpu_ticks(pid) : -1;
        }
        if (measuring && now >= t_end)
            break;
        uint64_t until = measuring ? t_end : t_measure;
        int timeout_ms = (int)((until - now) / 1000000) + 1;
        int n = epoll_wait(ep, evs, 256, timeout_ms);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int k = 0; k < n; k++) {
            struct conn *c = evs[k].data.ptr;
            if (c->fd < 0)
                continue;
            int dead = 0;
            if (evs[k].events & EPOLLOUT && c->sent < msg_size)
                dead = flush_msg(ep, c) < 0;
            if (!dead && evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                for (;;) {
                    size_t want = msg_size - c->recvd;
                    ssize_t r = recv(c->fd, rbuf, want, 0);
                    if (r > 0) {
                        if (memcmp(rbuf, msg_tmpl + c->recvd, (size_t)r) != 0)
                            mismatches++;
                        c->recvd += (size_t)r;
                        if (c->recvd < msg_size)
                            continue;
                        uint64_t t = peer_now_ns();
                        if (measuring) {
                            uint64_t us = (t - c->t_send) / 1000;
                            hist[us < HIST_BUCKETS ? us : HIST_BUCKETS - 1]++;
                            hist_total++;
                            msgs++;
                        }
                        if (measuring && t >= t_end)
                            break;
                        if (start_msg(ep, c) < 0) {
                            dead = 1;
                            break;
                        }
                    } else if (r < 0 && errno == EINTR) {
                        continue;
                    } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                        break;
                    } else {
                        dead = 1; /* EOF or error */
                        break;
                    }
                }
            }
            if (dead) {
                errors++;
                close(c->fd);
                c->fd = -1;
                alive--;
            }
        }
    }
    now = peer_now_ns();
    if (!measuring) {
        fprintf(stderr, "echo_load: all connections died during warm-up\n");
        return 1;
    }
    long long cpu1 = pid ? proc_cpu_ticks(pid) : -1;
    double secs = (double)((now < t_end ? now : t_end) - t_measure) / 1e9;
    if (secs <= 0)
        secs = 1e-9;

    for (long i = 0; i < nconns; i++)
        if (conns[i].fd >= 0)
            close(conns[i].fd);

    fprintf(stderr, "echo_load: %ld conns, %zu-byte messages, %.2f s measured, "
                    "%llu msgs, %llu dead connections, %llu mismatched chunks\n",
            nconns, msg_size, secs, (unsigned long long)msgs,
            (unsigned long long)errors, (unsigned long long)mismatches);
    peer_result("echo", "msgs_per_sec", (double)msgs / secs, "msg/s");
    peer_result("echo", "p50_latency_us", hist_percentile(0.50), "us");
    peer_result("echo", "p99_latency_us", hist_percentile(0.99), "us");
    if (pid) {
        if (cpu0 >= 0 && cpu1 >= 0 && msgs > 0) {
            double us = (double)(cpu1 - cpu0) * 1e6 / (double)sysconf(_SC_CLK_TCK);
            peer_result("echo", "server_cpu_us_per_msg", us / (double)msgs, "us");
        } else {
            fprintf(stderr, "echo_load: could not read CPU time of pid %ld\n", pid);
        }
    }
    if (msgs == 0 || mismatches > 0)
        return 1;
    return 0;
}
