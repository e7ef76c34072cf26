/* docs/guide.md, "Streams and servers": a line server and its client, asyncio's streams in C. */
#include <aw.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* One task per connection: read lines, answer them upper-cased, until EOF. */
static int shout(aw_stream *s, void *arg)
{
    (void)arg;
    for (;;) {
        const char *line;
        size_t len;
        aw_scope idle;                              /* a client silent for 30 s is dropped */
        aw_scope_begin(&idle);
        aw_scope_set_deadline(&idle, aw_now() + 30);
        int rc = aw_stream_readline(s, &line, &len);   /* line points into the stream's buffer */
        if (aw_scope_end(&idle) == AW_ETIMEDOUT) return 0;
        if (rc < 0) return rc;
        if (len == 0) return 0;                     /* EOF: the stream is closed for us */
        char up[256];
        size_t n = len < sizeof up ? len : sizeof up;
        for (size_t i = 0; i < n; i++) up[i] = (char)toupper((unsigned char)line[i]);
        rc = aw_stream_write(s, up, n);             /* buffered, never suspends */
        if (rc == 0) rc = aw_stream_drain(s);       /* flow control */
        if (rc < 0) return rc;
    }
}

static int main_coro(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_server *srv;
    int rc = aw_start_server("127.0.0.1", 0, shout, NULL, NULL, &srv);    /* port 0: any free port */
    if (rc < 0) return rc;
    aw_stream *c;
    rc = aw_open_connection("127.0.0.1", aw_server_port(srv), NULL, &c);
    if (rc < 0) goto out_server;
    const char *words[] = { "hello\n", "streams\n" };
    for (int i = 0; i < 2 && rc == 0; i++) {
        const char *line;
        size_t len;
        rc = aw_stream_write(c, words[i], strlen(words[i]));
        if (rc == 0) rc = aw_stream_readline(c, &line, &len);
        if (rc == 0) printf("%.*s", (int)len, line);     /* HELLO, STREAMS */
    }
    /* readexactly: a short read at EOF is AW_EINCOMPLETE, with the partial data */
    aw_stream_write(c, "abc\n", 4);
    aw_stream_write_eof(c);                         /* half-close: the server sees EOF */
    char buf[10];
    size_t got;
    int r = aw_stream_readexactly(c, buf, sizeof buf, &got);
    printf("%s: %s (%zu bytes: %.*s)", aw_errname(r), aw_task_error_message(aw_current_task()),
           got, (int)got, buf);
    aw_stream_wait_closed(c);                       /* close, flush, free */
out_server:
    aw_server_close(srv);                           /* stop listening */
    aw_server_wait_closed(srv);                     /* every handler has returned */
    aw_server_release(srv);
    return rc;
}

int main(void)
{
    return aw_run(aw_coro(main_coro, NULL), NULL) == 0 ? 0 : 1;
}
