/*
 * libuv peer, TCP echo server.
 *
 * The textbook libuv echo server: uv_listen on 127.0.0.1:PORT, uv_read_start
 * on every accepted connection, and each chunk read is written straight
 * back with uv_write (the buffer is freed in the write callback).  Serves
 * until killed.  Load comes from bench/echo_load.
 *
 * Usage: libuv_echo_server PORT
 */
#include <uv.h>

#include "../peer_util.h"

struct write_req {
    uv_write_t req;
    uv_buf_t buf;
};

static uv_loop_t *loop;

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    buf->base = malloc(16384);
    buf->len = buf->base ? 16384 : 0;
}

static void on_close(uv_handle_t *h)
{
    free(h);
}

static void on_write(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    uv_stream_t *s = req->handle;
    free(w->buf.base);
    free(w);
    if (status < 0 && !uv_is_closing((uv_handle_t *)s))
        uv_close((uv_handle_t *)s, on_close);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    if (nread > 0) {
        struct write_req *w = malloc(sizeof *w);
        if (!w) {
            free(buf->base);
            uv_close((uv_handle_t *)s, on_close);
            return;
        }
        w->buf = uv_buf_init(buf->base, (unsigned)nread);
        if (uv_write(&w->req, s, &w->buf, 1, on_write) < 0) {
            free(buf->base);
            free(w);
            uv_close((uv_handle_t *)s, on_close);
        }
        return;
    }
    free(buf->base);
    if (nread < 0 && !uv_is_closing((uv_handle_t *)s))
        uv_close((uv_handle_t *)s, on_close);
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    uv_tcp_t *c = malloc(sizeof *c);
    if (!c)
        return;
    uv_tcp_init(loop, c);
    if (uv_accept(server, (uv_stream_t *)c) == 0) {
        uv_tcp_nodelay(c, 1);
        uv_read_start((uv_stream_t *)c, alloc_cb, on_read);
    } else {
        uv_close((uv_handle_t *)c, on_close);
    }
}

int main(int argc, char **argv)
{
    long port = peer_arg_long(argc, argv, 1, 9000);
    loop = uv_default_loop();
    uv_tcp_t server;
    struct sockaddr_in addr;
    uv_tcp_init(loop, &server);
    uv_ip4_addr("127.0.0.1", (int)port, &addr);
    int rc = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&server, 1024, on_connection);
    if (rc < 0) {
        fprintf(stderr, "listen on 127.0.0.1:%ld: %s\n", port, uv_strerror(rc));
        return 1;
    }
    printf("listening on 127.0.0.1:%ld (libuv %s)\n", port, uv_version_string());
    fflush(stdout);
    return uv_run(loop, UV_RUN_DEFAULT);
}
