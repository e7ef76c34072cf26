/* http_server: an HTTP/1.1 keep-alive "Hello, World!" server.
 *
 *   http_server [PORT] [--host HOST] [--duration SECONDS] [--idle-timeout SECONDS]
 *                      [--max-header BYTES] [--tls CERT KEY]
 *
 * Listens on 127.0.0.1:PORT (default 8080; 0 picks a free port). Every GET or
 * HEAD gets "Hello, World!\n"; a malformed request gets 400 and the connection
 * is closed; a request head larger than --max-header (default 8 KiB) gets 400
 * as well. A connection idle for --idle-timeout seconds (default 10) is closed.
 * Pipelined requests are answered in one write. --tls serves HTTPS with the
 * certificate chain CERT and key KEY (PEM). */
#include <aw.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static double idle_timeout = 10;
static size_t max_header = 8192;

static const char HELLO[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 14\r\n"
    "\r\n"
    "Hello, World!\n";
static const char HELLO_CLOSE[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 14\r\n"
    "Connection: close\r\n"
    "\r\n"
    "Hello, World!\n";
static const char BAD[] =
    "HTTP/1.1 400 Bad Request\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 12\r\n"
    "Connection: close\r\n"
    "\r\n"
    "Bad Request\n";
static const char NOT_IMPL[] =
    "HTTP/1.1 501 Not Implemented\r\n"
    "Content-Length: 0\r\n"
    "Connection: close\r\n"
    "\r\n";

typedef struct request {
    bool keep_alive;
    bool head;
    bool chunked;
    long long content_length;
} request;

static bool token_char(char c)
{
    return c > 32 && c < 127 && !strchr("()<>@,;:\\\"/[]?={}", c);
}

/* Parse a request head (through the blank line). 0, or the status to answer with. */
static int parse_head(const char *p, size_t n, request *rq)
{
    const char *end = p + n;
    /* request line: METHOD SP TARGET SP HTTP/1.x */
    const char *eol = memchr(p, '\n', n);
    const char *le = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
    const char *sp1 = memchr(p, ' ', (size_t)(le - p));
    if (!sp1 || sp1 == p) return 400;
    for (const char *q = p; q < sp1; q++) if (!token_char(*q)) return 400;
    const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(le - sp1 - 1));
    if (!sp2 || sp2 == sp1 + 1) return 400;
    for (const char *q = sp1 + 1; q < sp2; q++) if ((unsigned char)*q <= 32 || *q == 127) return 400;
    size_t vlen = (size_t)(le - sp2 - 1);
    if (vlen != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 || (sp2[8] != '0' && sp2[8] != '1')) return 400;
    bool http11 = sp2[8] == '1';
    size_t mlen = (size_t)(sp1 - p);
    rq->head = mlen == 4 && !memcmp(p, "HEAD", 4);
    rq->keep_alive = http11;
    rq->chunked = false;
    rq->content_length = 0;
    /* header fields: NAME ":" OWS VALUE OWS */
    for (const char *l = eol + 1; l < end;) {
        const char *nl = memchr(l, '\n', (size_t)(end - l));
        if (!nl) return 400;
        const char *e = nl > l && nl[-1] == '\r' ? nl - 1 : nl;
        if (e == l) break;          /* the blank line */
        const char *colon = memchr(l, ':', (size_t)(e - l));
        if (!colon || colon == l) return 400;
        for (const char *q = l; q < colon; q++) if (!token_char(*q)) return 400;
        const char *v = colon + 1;
        while (v < e && (*v == ' ' || *v == '\t')) v++;
        const char *ve = e;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
        size_t nlen = (size_t)(colon - l), len = (size_t)(ve - v);
        if (nlen == 10 && !strncasecmp(l, "Connection", 10)) {
            if (len == 5 && !strncasecmp(v, "close", 5)) rq->keep_alive = false;
            else if (len == 10 && !strncasecmp(v, "keep-alive", 10)) rq->keep_alive = true;
        } else if (nlen == 14 && !strncasecmp(l, "Content-Length", 14)) {
            if (len == 0 || len > 15) return 400;
            long long cl = 0;
            for (size_t i = 0; i < len; i++) {
                if (v[i] < '0' || v[i] > '9') return 400;
                cl = cl * 10 + (v[i] - '0');
            }
            rq->content_length = cl;
        } else if (nlen == 17 && !strncasecmp(l, "Transfer-Encoding", 17)) {
            rq->chunked = true;
        }
        l = nl + 1;
    }
    /* Chunked bodies are not supported; every method gets the same answer. */
    return rq->chunked ? 501 : 0;
}

/* Answer, close our side, and read what the client still sends for a while
 * (a lingering close, as nginx does), so the answer is not lost to a reset. */
static int reject(aw_stream *s, const char *resp, size_t n)
{
    int rc = aw_stream_write(s, resp, n);
    if (rc == 0) rc = aw_stream_drain(s);
    if (rc == 0) rc = aw_stream_write_eof(s);
    if (rc < 0) return 0;
    aw_scope sc;
    aw_scope_begin(&sc);
    aw_scope_set_deadline(&sc, aw_now() + 2);
    char buf[16384];
    size_t got, total = 0;
    aw_stream_consume(s, aw_stream_peek(s, NULL));
    while (total < (16u << 20) && aw_stream_read(s, buf, sizeof buf, &got) == 0 && got > 0) total += got;
    aw_scope_end(&sc);
    return 0;
}

static int client(aw_stream *s, void *arg)
{
    (void)arg;
    static const char *const ends[] = { "\r\n\r\n", "\n\n" };
    char out[4096];
    size_t nout = 0;
    for (;;) {
        const char *head;
        size_t len;
        aw_scope sc;
        aw_scope_begin(&sc);
        aw_scope_set_deadline(&sc, aw_now() + idle_timeout);
        int rc = aw_stream_readuntil_any(s, ends, 2, &head, &len);
        if (aw_scope_end(&sc) == AW_ETIMEDOUT) return 0;          /* idle: close */
        if (rc == AW_ELIMIT) return reject(s, BAD, sizeof BAD - 1);   /* head too large */
        if (rc == AW_EINCOMPLETE) {
            if (len > 0) return reject(s, BAD, sizeof BAD - 1);     /* cut off mid-head */
            return 0;                                               /* clean end between requests */
        }
        if (rc < 0) return rc == -ECONNRESET ? 0 : rc;
        request rq;
        int status = parse_head(head, len, &rq);
        if (status == 400) return reject(s, BAD, sizeof BAD - 1);
        if (status == 501) return reject(s, NOT_IMPL, sizeof NOT_IMPL - 1);
        /* a body is read and dropped */
        for (long long left = rq.content_length; left > 0;) {
            const char *p;
            size_t have = aw_stream_peek(s, &p), added;
            if (have == 0) {
                rc = aw_stream_fill(s, &added);
                if (rc < 0 || added == 0) return rc == -ECONNRESET ? 0 : rc;
                continue;
            }
            size_t k = (long long)have < left ? have : (size_t)left;
            aw_stream_consume(s, k);
            left -= (long long)k;
        }
        const char *resp = rq.keep_alive ? HELLO : HELLO_CLOSE;
        size_t rlen = rq.keep_alive ? sizeof HELLO - 1 : sizeof HELLO_CLOSE - 1;
        if (rq.head) rlen -= 14;
        if (nout + rlen > sizeof out) {
            rc = aw_stream_write(s, out, nout);
            if (rc < 0) return 0;
            nout = 0;
        }
        memcpy(out + nout, resp, rlen);
        nout += rlen;
        /* Pipelined requests already buffered are answered in the same write. */
        if (!rq.keep_alive || aw_stream_peek(s, NULL) == 0) {
            rc = aw_stream_write(s, out, nout);
            nout = 0;
            if (rc == 0) rc = aw_stream_drain(s);
            if (rc < 0) return 0;       /* the client went away */
        }
        if (!rq.keep_alive) return 0;
    }
}

typedef struct opts {
    const char *host;
    int port;
    double duration;
    const char *cert, *key;     /* --tls CERT KEY */
} opts;

static int serve(void *arg, void **result)
{
    (void)result;
    opts *o = arg;
    aw_server_opts so = { .stream = { .limit = max_header } };
    if (o->cert) {              /* --tls: HTTPS */
        so.tls = aw_tls_config_new(AW_TLS_SERVER);
        const char *alpn[] = { "http/1.1" };
        if (!so.tls || aw_tls_config_set_cert(so.tls, o->cert, o->key) < 0 ||
            aw_tls_config_set_alpn(so.tls, alpn, 1) < 0) {
            fprintf(stderr, "http_server: %s\n", so.tls ? aw_tls_config_error(so.tls) : strerror(errno));
            aw_tls_config_free(so.tls);
            return -EINVAL;
        }
    }
    aw_server *srv;
    int rc = aw_start_server(o->host, o->port, client, NULL, &so, &srv);
    aw_tls_config_free(so.tls);
    if (rc < 0) {
        fprintf(stderr, "http_server: cannot listen on %s:%d: %s\n", o->host, o->port, aw_strerror(rc));
        return rc;
    }
    printf("listening on %s:%d\n", o->host, aw_server_port(srv));
    fflush(stdout);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    aw_scope sc;
    aw_scope_begin(&sc);
    if (o->duration > 0) aw_scope_set_deadline(&sc, aw_now() + o->duration);
    int signo;
    rc = aw_signal_wait(&set, &signo);
    if (aw_scope_end(&sc) == AW_ETIMEDOUT) rc = 0;
    aw_server_close(srv);
    aw_server_abort_clients(srv);
    aw_server_release(srv);
    return rc == AW_ECANCELLED ? 0 : rc;
}

int main(int argc, char **argv)
{
    opts o = { .host = "127.0.0.1", .port = 8080, .duration = 0 };
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--host") && i + 1 < argc) o.host = argv[++i];
        else if (!strcmp(argv[i], "--duration") && i + 1 < argc) o.duration = atof(argv[++i]);
        else if (!strcmp(argv[i], "--tls") && i + 2 < argc) { o.cert = argv[++i]; o.key = argv[++i]; }
        else if (!strcmp(argv[i], "--idle-timeout") && i + 1 < argc) idle_timeout = atof(argv[++i]);
        else if (!strcmp(argv[i], "--max-header") && i + 1 < argc) max_header = (size_t)atol(argv[++i]);
        else if (argv[i][0] != '-') o.port = atoi(argv[i]);
        else {
            fprintf(stderr, "usage: http_server [PORT] [--host HOST] [--duration SECONDS] "
                            "[--idle-timeout SECONDS] [--max-header BYTES] [--tls CERT KEY]\n");
            return 2;
        }
    }
    if (idle_timeout <= 0 || max_header < 64) {
        fprintf(stderr, "http_server: --idle-timeout > 0, --max-header >= 64\n");
        return 2;
    }
    int rc = aw_run(aw_coro(serve, &o), NULL);
    return rc < 0 ? 1 : 0;
}
