/* https_get: fetch one URL over HTTPS and print the status line and the body.
 *
 *   https_get URL [--cacert FILE] [--insecure] [--timeout SECONDS]
 *
 * URL is https://HOST[:PORT][/PATH]. The server's certificate is verified
 * against the system's trust store, or FILE with --cacert; --insecure skips
 * verification. Prints the status line, then the body (Content-Length,
 * chunked, or up to the end of the connection). Exit status 0 for a 2xx
 * answer, 1 for anything else or an error (reported on stderr). */
#include <aw.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct request {
    char host[256];
    int port;
    const char *path;
    const char *cafile;
    bool insecure;
    double timeout;
    int status;
} request;

static int parse_url(const char *url, request *rq)
{
    if (strncasecmp(url, "https://", 8) != 0) return -EINVAL;
    const char *h = url + 8, *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    rq->path = slash ? slash : "/";
    rq->port = 443;
    const char *colon = memchr(h, ':', hl);
    if (h[0] == '[') {                              /* [::1]:8443 */
        const char *end = memchr(h, ']', hl);
        if (!end) return -EINVAL;
        colon = end + 1 < h + hl && end[1] == ':' ? end + 1 : NULL;
        if ((size_t)(end - h - 1) >= sizeof rq->host) return -EINVAL;
        memcpy(rq->host, h + 1, (size_t)(end - h - 1));
        rq->host[end - h - 1] = 0;
    } else {
        size_t n = colon ? (size_t)(colon - h) : hl;
        if (n == 0 || n >= sizeof rq->host) return -EINVAL;
        memcpy(rq->host, h, n);
        rq->host[n] = 0;
    }
    if (colon) rq->port = atoi(colon + 1);
    return rq->port > 0 && rq->port < 65536 ? 0 : -EINVAL;
}

/* Copy n body bytes to stdout (n < 0: up to the end of the stream). */
static int copy_body(aw_stream *s, long long n)
{
    char buf[16384];
    while (n != 0) {
        size_t want = n < 0 || n > (long long)sizeof buf ? sizeof buf : (size_t)n, got;
        int rc = aw_stream_read(s, buf, want, &got);
        if (rc < 0) return rc;
        if (got == 0) return n < 0 ? 0 : aw_raise(AW_EINCOMPLETE, "the body ended early");
        fwrite(buf, 1, got, stdout);
        if (n > 0) n -= (long long)got;
    }
    return 0;
}

static int copy_chunked(aw_stream *s)
{
    for (;;) {
        const char *line;
        size_t len;
        int rc = aw_stream_readline(s, &line, &len);
        if (rc < 0) return rc;
        if (len == 0) return aw_raise(AW_EINCOMPLETE, "the chunked body ended early");
        long long size = strtoll(line, NULL, 16);
        if (size < 0) return -EPROTO;
        if (size == 0) return 0;                    /* trailers are not read */
        if ((rc = copy_body(s, size)) < 0) return rc;
        if ((rc = aw_stream_readline(s, &line, &len)) < 0) return rc;
    }
}

static int get(void *arg, void **result)
{
    (void)result;
    request *rq = arg;
    aw_tls_config *tls = aw_tls_config_new(AW_TLS_CLIENT);
    if (!tls) {
        int e = errno;
        fprintf(stderr, "https_get: %s\n", e == ENOTSUP ? "aw was built without OpenSSL" : strerror(e));
        return -e;
    }
    int rc = 0;
    if (rq->cafile) rc = aw_tls_config_set_ca(tls, rq->cafile, NULL);
    if (rc == 0 && rq->insecure) rc = aw_tls_config_set_verify(tls, AW_TLS_VERIFY_NONE);
    const char *alpn[] = { "http/1.1" };
    if (rc == 0) rc = aw_tls_config_set_alpn(tls, alpn, 1);
    if (rc < 0) {
        fprintf(stderr, "https_get: %s\n", aw_tls_config_error(tls));
        aw_tls_config_free(tls);
        return rc;
    }
    aw_connect_opts co = { .timeout = rq->timeout, .tls = tls };
    aw_stream *s;
    aw_scope sc;                                    /* the whole exchange */
    aw_scope_begin(&sc);
    aw_scope_set_deadline(&sc, aw_now() + rq->timeout);
    rc = aw_open_connection(rq->host, rq->port, &co, &s);
    aw_tls_config_free(tls);                        /* the stream holds what it needs */
    if (rc < 0) goto out;
    char head[1024];
    int n = snprintf(head, sizeof head, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: aw-https_get\r\n"
                     "Accept: */*\r\nConnection: close\r\n\r\n", rq->path, rq->host);
    if (n < 0 || (size_t)n >= sizeof head) { rc = -EINVAL; goto out_close; }
    rc = aw_stream_write(s, head, (size_t)n);
    const char *line;
    size_t len;
    if (rc == 0) rc = aw_stream_readline(s, &line, &len);
    if (rc < 0) goto out_close;
    if (len < 12 || strncmp(line, "HTTP/1.", 7) != 0) {
        rc = aw_raise(-EPROTO, "not an HTTP answer");
        goto out_close;
    }
    rq->status = atoi(line + 9);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
    printf("%.*s\n", (int)len, line);
    long long length = -1;
    bool chunked = false;
    for (;;) {
        if ((rc = aw_stream_readline(s, &line, &len)) < 0) goto out_close;
        if (len == 0 || line[0] == '\r' || line[0] == '\n') break;
        if (len > 15 && !strncasecmp(line, "Content-Length:", 15)) length = strtoll(line + 15, NULL, 10);
        if (len > 18 && !strncasecmp(line, "Transfer-Encoding:", 18) && strstr(line, "chunked")) chunked = true;
    }
    rc = chunked ? copy_chunked(s) : copy_body(s, length);
out_close:
    aw_stream_close(s);
out:
    if (aw_scope_end(&sc) == AW_ETIMEDOUT) rc = AW_ETIMEDOUT;
    if (rc < 0) {
        const char *msg = aw_task_error_message(aw_current_task());
        fprintf(stderr, "https_get: %s: %s\n", aw_errname(rc), msg ? msg : aw_strerror(rc));
    }
    return rc;
}

int main(int argc, char **argv)
{
    request rq = { .timeout = 30 };
    const char *url = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--cacert") && i + 1 < argc) rq.cafile = argv[++i];
        else if (!strcmp(argv[i], "--insecure")) rq.insecure = true;
        else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) rq.timeout = atof(argv[++i]);
        else if (argv[i][0] != '-' && !url) url = argv[i];
        else url = NULL, i = argc;
    }
    if (!url || rq.timeout <= 0 || parse_url(url, &rq) < 0) {
        fprintf(stderr, "usage: https_get https://HOST[:PORT][/PATH] [--cacert FILE] [--insecure] "
                        "[--timeout SECONDS]\n");
        return 2;
    }
    int rc = aw_run(aw_coro(get, &rq), NULL);
    fflush(stdout);
    return rc == 0 && rq.status >= 200 && rq.status < 300 ? 0 : 1;
}
