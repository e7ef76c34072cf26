/* echo_server: a TCP echo server, one task per connection.
 *
 *   echo_server [PORT] [--host HOST] [--duration SECONDS] [--tls CERT KEY]
 *
 * Listens on 127.0.0.1:PORT (default 9000; 0 picks a free port) and prints
 * "listening on HOST:PORT". Runs until SIGINT or SIGTERM, or for --duration
 * seconds. --tls serves TLS with the certificate chain CERT and key KEY (PEM). */
#include <aw.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int echo(aw_stream *s, void *arg)
{
    (void)arg;
    char buf[16384];
    for (;;) {
        size_t got;
        int rc = aw_stream_read(s, buf, sizeof buf, &got);
        if (rc == -ECONNRESET || (rc == 0 && got == 0)) return 0;   /* the client left */
        if (rc < 0) return rc;
        rc = aw_stream_write(s, buf, got);
        if (rc == 0) rc = aw_stream_drain(s);
        if (rc == -EPIPE || rc == -ECONNRESET) return 0;
        if (rc < 0) return rc;
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
    aw_server_opts so = { .tls = NULL };
    if (o->cert) {              /* --tls: the same server, over TLS */
        so.tls = aw_tls_config_new(AW_TLS_SERVER);
        if (!so.tls || aw_tls_config_set_cert(so.tls, o->cert, o->key) < 0) {
            fprintf(stderr, "echo_server: %s\n", so.tls ? aw_tls_config_error(so.tls) : strerror(errno));
            aw_tls_config_free(so.tls);
            return -EINVAL;
        }
    }
    aw_server *srv;
    int rc = aw_start_server(o->host, o->port, echo, NULL, &so, &srv);
    aw_tls_config_free(so.tls);
    if (rc < 0) {
        fprintf(stderr, "echo_server: cannot listen on %s:%d: %s\n", o->host, o->port, aw_strerror(rc));
        return rc;
    }
    printf("listening on %s:%d\n", o->host, aw_server_port(srv));
    fflush(stdout);
    /* Serve until SIGTERM (SIGINT cancels main) or the end of --duration. */
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
    opts o = { .host = "127.0.0.1", .port = 9000, .duration = 0 };
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--host") && i + 1 < argc) o.host = argv[++i];
        else if (!strcmp(argv[i], "--duration") && i + 1 < argc) o.duration = atof(argv[++i]);
        else if (!strcmp(argv[i], "--tls") && i + 2 < argc) { o.cert = argv[++i]; o.key = argv[++i]; }
        else if (argv[i][0] != '-') o.port = atoi(argv[i]);
        else {
            fprintf(stderr, "usage: echo_server [PORT] [--host HOST] [--duration SECONDS] [--tls CERT KEY]\n");
            return 2;
        }
    }
    int rc = aw_run(aw_coro(serve, &o), NULL);
    return rc < 0 ? 1 : 0;
}
