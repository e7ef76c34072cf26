/* docs/guide.md, "TLS": a TLS line server, a client that verifies it, and a STARTTLS upgrade.
 *
 *   tls CERT KEY CA       (e.g. a server certificate for "localhost" and the CA that signed it)
 */
#include <aw.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

typedef struct files { const char *cert, *key, *ca; } files;

/* The handler sees a plain stream API: the handshake is done before it runs. */
static int echo(aw_stream *s, void *arg)
{
    (void)arg;
    for (;;) {
        const char *line;
        size_t len;
        int rc = aw_stream_readline(s, &line, &len);     /* decrypted, across records */
        if (rc < 0 || len == 0) return rc;
        rc = aw_stream_write(s, line, len);              /* encrypted on the way out */
        if (rc == 0) rc = aw_stream_drain(s);
        if (rc < 0) return rc;
    }
}

/* STARTTLS: plain text first, then the same connection upgraded in place. */
static int starttls_server(aw_stream *s, void *arg)
{
    const char *line;
    size_t len;
    int rc = aw_stream_readline(s, &line, &len);
    if (rc < 0 || len == 0) return rc;
    if (len < 8 || memcmp(line, "STARTTLS", 8)) return aw_stream_write(s, "NO\n", 3);
    if ((rc = aw_stream_write(s, "OK\n", 3)) < 0) return rc;
    if ((rc = aw_stream_start_tls(s, arg, NULL)) < 0) return rc;   /* arg: the server config */
    return echo(s, NULL);
}

static int ask(aw_stream *c, const char *msg)
{
    const char *line;
    size_t len;
    int rc = aw_stream_write(c, msg, strlen(msg));
    if (rc == 0) rc = aw_stream_readline(c, &line, &len);
    if (rc == 0) printf("%.*s", (int)len, line);
    return rc;
}

static int main_coro(void *arg, void **result)
{
    (void)result;
    files *f = arg;
    /* A server config: our certificate and key. */
    aw_tls_config *server = aw_tls_config_new(AW_TLS_SERVER);
    if (!server) return -errno;                          /* ENOTSUP: aw built without OpenSSL */
    int rc = aw_tls_config_set_cert(server, f->cert, f->key);
    /* A client config: verify the server against our CA (else the system's). */
    aw_tls_config *client = aw_tls_config_new(AW_TLS_CLIENT);
    if (!client) { aw_tls_config_free(server); return -errno; }
    if (rc == 0) rc = aw_tls_config_set_ca(client, f->ca, NULL);
    if (rc < 0) {
        fprintf(stderr, "%s%s\n", aw_tls_config_error(server), aw_tls_config_error(client));
        goto out_configs;
    }

    aw_server_opts so = { .tls = server };
    aw_server *srv;
    if ((rc = aw_start_server("127.0.0.1", 0, echo, NULL, &so, &srv)) < 0) goto out_configs;
    aw_tls_config_set_server_name(client, "localhost");  /* the name on the certificate */
    aw_connect_opts co = { .tls = client };
    aw_stream *c;
    rc = aw_open_connection("127.0.0.1", aw_server_port(srv), &co, &c);
    if (rc == 0) {
        aw_tls_info info;
        aw_stream_tls_info(c, &info);
        printf("%s, %s, server %s\n", info.version, info.cipher, info.peer_subject);
        rc = ask(c, "hello over TLS\n");
        aw_stream_wait_closed(c);                        /* close_notify, then close */
    } else {
        /* AW_ETLSVERIFY: "certificate verify failed: ..."; AW_ETLS: OpenSSL's reason */
        printf("%s: %s\n", aw_errname(rc), aw_task_error_message(aw_current_task()));
    }
    aw_server_release(srv);

    /* STARTTLS on a plain server */
    if (rc == 0 && (rc = aw_start_server("127.0.0.1", 0, starttls_server, server, NULL, &srv)) == 0) {
        if ((rc = aw_open_connection("127.0.0.1", aw_server_port(srv), NULL, &c)) == 0) {
            rc = ask(c, "STARTTLS\n");                   /* "OK", in the clear */
            if (rc == 0) rc = aw_stream_start_tls(c, client, "localhost");
            if (rc == 0) rc = ask(c, "hello after STARTTLS\n");
            aw_stream_close(c);
        }
        aw_server_close(srv);
        aw_server_wait_closed(srv);
        aw_server_release(srv);
    }
out_configs:
    aw_tls_config_free(client);                          /* streams and servers hold their own references */
    aw_tls_config_free(server);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: tls CERT KEY CA\n");
        return 2;
    }
    files f = { argv[1], argv[2], argv[3] };
    int rc = aw_run(aw_coro(main_coro, &f), NULL);
    if (rc < 0) fprintf(stderr, "tls: %s\n", aw_strerror(rc));
    return rc < 0;
}
