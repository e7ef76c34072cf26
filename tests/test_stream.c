/* Tests of streams: every read function at every chunk boundary, limits, EOF, resets, drain, cancel, close, pipes. */
#include "test_util.h"
#include "internal.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- a feeder: another task writes data into the peer end in chunks ---- */

typedef struct feed {
    int fd;
    const char *data;
    size_t len, chunk;
    double pause;               /* between chunks (virtual clock) */
    bool eof;                   /* shut down the write side at the end */
    size_t sent;
} feed;

static int feeder(void *arg, void **result)
{
    (void)result;
    feed *f = arg;
    while (f->sent < f->len) {
        size_t k = f->len - f->sent < f->chunk ? f->len - f->sent : f->chunk;
        int rc = aw_sock_send(f->fd, f->data + f->sent, k, NULL);
        if (rc < 0) return rc;
        f->sent += k;
        /* A timer, not a yield: the loop then polls and the reader sees this chunk alone. */
        rc = aw_sleep(f->pause);
        if (rc < 0) return rc;
    }
    if (f->eof) shutdown(f->fd, SHUT_WR);
    return 0;
}

static void make_pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

typedef int (*reader_fn)(aw_stream *s, void *ctx);

typedef struct harness {
    const char *data;
    size_t len, chunk;
    aw_stream_opts opts;
    reader_fn fn;
    void *ctx;
} harness;

static int harness_main(void *arg, void **result)
{
    (void)result;
    harness *h = arg;
    int sv[2];
    make_pair(sv);
    aw_stream *s;
    assert_int_equal(aw_stream_open_fd(sv[0], sv[0], &h->opts, &s), 0);
    feed f = { .fd = sv[1], .data = h->data, .len = h->len, .chunk = h->chunk, .pause = 0.001, .eof = true };
    aw_task *ft = aw_spawn(feeder, &f);
    assert_non_null(ft);
    int rc = h->fn(s, h->ctx);
    assert_int_equal(aw_join(ft, NULL), 0);
    aw_stream_close(s);
    aw_sock_close(sv[1]);
    return rc;
}

static const size_t CHUNKS[] = { 1, 2, 3, 5, 7, 11, 64, 100000 };
#define NCHUNKS (sizeof CHUNKS / sizeof CHUNKS[0])

static void run_chunked(const char *data, size_t len, const aw_stream_opts *opts, reader_fn fn, void *ctx)
{
    for (size_t i = 0; i < NCHUNKS; i++) {
        harness h = { .data = data, .len = len, .chunk = CHUNKS[i], .fn = fn, .ctx = ctx };
        if (opts) h.opts = *opts;
        test_reports r = { .len = 0 };
        int rc = test_run(aw_coro(harness_main, &h), NULL, &r);
        if (rc != 0) fail_msg("chunk %zu: rc %d (%s)\n%s", CHUNKS[i], rc, aw_strerror(rc), r.text);
        assert_int_equal(r.count, 0);
    }
}

/* ---- readline ---- */

static const char LINES[] = "alpha\nbe\n\ngamma delta\nx\nlast line without newline";

static int readline_reader(aw_stream *s, void *ctx)
{
    (void)ctx;
    static const char *want[] = { "alpha\n", "be\n", "\n", "gamma delta\n", "x\n", "last line without newline" };
    for (size_t i = 0; i < 6; i++) {
        const char *line;
        size_t len;
        assert_int_equal(aw_stream_readline(s, &line, &len), 0);
        assert_int_equal(len, strlen(want[i]));
        assert_memory_equal(line, want[i], len);
    }
    const char *line;
    size_t len = 99;
    assert_int_equal(aw_stream_readline(s, &line, &len), 0);
    assert_int_equal(len, 0);
    assert_true(aw_stream_at_eof(s));
    return 0;
}

static void readline_every_boundary(void **state)
{
    (void)state;
    run_chunked(LINES, strlen(LINES), NULL, readline_reader, NULL);
}

/* ---- readuntil ---- */

static int readuntil_reader(aw_stream *s, void *ctx)
{
    (void)ctx;
    static const char *want[] = { "a\r\n", "bb\r\n", "\r\n", "ccc\r\n" };
    const char *c;
    size_t len;
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(aw_stream_readuntil(s, "\r\n", 2, &c, &len), 0);
        assert_int_equal(len, strlen(want[i]));
        assert_memory_equal(c, want[i], len);
    }
    assert_int_equal(aw_stream_readuntil(s, "\r\n", 2, &c, &len), AW_EINCOMPLETE);
    assert_int_equal(len, 4);
    assert_memory_equal(c, "rest", 4);
    assert_string_equal(aw_task_error_message(aw_current_task()), "4 bytes read on a total of undefined expected bytes");
    assert_int_equal(aw_stream_readuntil(s, "\r\n", 2, &c, &len), AW_EINCOMPLETE);
    assert_int_equal(len, 0);
    return 0;
}

static void readuntil_every_boundary(void **state)
{
    (void)state;
    const char *d = "a\r\nbb\r\n\r\nccc\r\nrest";
    run_chunked(d, strlen(d), NULL, readuntil_reader, NULL);
}

static int readuntil_any_reader(aw_stream *s, void *ctx)
{
    (void)ctx;
    static const char *const seps[] = { "\r\n", "\n\n", "END" };
    static const char *want[] = { "one\n\n", "two\r\n", "threeEND", "\n\n" };
    const char *c;
    size_t len;
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(aw_stream_readuntil_any(s, seps, 3, &c, &len), 0);
        assert_int_equal(len, strlen(want[i]));
        assert_memory_equal(c, want[i], len);
    }
    /* The separator that ends first wins, even if another starts earlier. */
    static const char *const seps2[] = { "abcd", "bc" };
    assert_int_equal(aw_stream_readuntil_any(s, seps2, 2, &c, &len), 0);
    assert_int_equal(len, 4);
    assert_memory_equal(c, "xabc", 4);
    assert_int_equal(aw_stream_readuntil_any(s, seps2, 2, &c, &len), AW_EINCOMPLETE);
    assert_int_equal(len, 2);
    assert_memory_equal(c, "dy", 2);
    return 0;
}

static void readuntil_several_separators(void **state)
{
    (void)state;
    const char *d = "one\n\ntwo\r\nthreeEND\n\nxabcdy";
    run_chunked(d, strlen(d), NULL, readuntil_any_reader, NULL);
}

/* ---- readexactly and read ---- */

static char pattern[100];

static int readexactly_reader(aw_stream *s, void *ctx)
{
    (void)ctx;
    char buf[16];
    size_t got;
    for (int i = 0; i < 14; i++) {
        assert_int_equal(aw_stream_readexactly(s, buf, 7, &got), 0);
        assert_int_equal(got, 7);
        assert_memory_equal(buf, pattern + 7 * i, 7);
    }
    assert_int_equal(aw_stream_readexactly(s, buf, 7, &got), AW_EINCOMPLETE);
    assert_int_equal(got, 2);
    assert_memory_equal(buf, pattern + 98, 2);
    assert_string_equal(aw_task_error_message(aw_current_task()), "2 bytes read on a total of 7 expected bytes");
    assert_int_equal(aw_stream_readexactly(s, buf, 0, &got), 0);
    assert_true(aw_stream_at_eof(s));
    return 0;
}

static int read_reader(aw_stream *s, void *ctx)
{
    size_t n = (size_t)(uintptr_t)ctx;
    char buf[40000];
    char all[200];
    size_t total = 0, got;
    for (;;) {
        assert_int_equal(aw_stream_read(s, buf, n, &got), 0);
        if (got == 0) break;
        assert_true(got <= n);
        assert_true(total + got <= sizeof pattern);
        memcpy(all + total, buf, got);
        total += got;
    }
    assert_int_equal(total, sizeof pattern);
    assert_memory_equal(all, pattern, sizeof pattern);
    assert_true(aw_stream_at_eof(s));
    assert_int_equal(aw_stream_read(s, buf, n, &got), 0);
    assert_int_equal(got, 0);
    return 0;
}

static void readexactly_and_read_every_boundary(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof pattern; i++) pattern[i] = (char)('A' + i % 57);
    run_chunked(pattern, sizeof pattern, NULL, readexactly_reader, NULL);
    run_chunked(pattern, sizeof pattern, NULL, read_reader, (void *)(uintptr_t)5);
    run_chunked(pattern, sizeof pattern, NULL, read_reader, (void *)(uintptr_t)1);
    run_chunked(pattern, sizeof pattern, NULL, read_reader, (void *)(uintptr_t)32768);   /* straight into the caller's buffer */
}

/* Mixed calls share one buffer. */
static int mixed_reader(aw_stream *s, void *ctx)
{
    (void)ctx;
    const char *c;
    size_t len, got;
    char buf[8];
    assert_int_equal(aw_stream_readline(s, &c, &len), 0);
    assert_int_equal(len, 4);
    assert_memory_equal(c, "GET\n", 4);
    assert_int_equal(aw_stream_readexactly(s, buf, 5, &got), 0);
    assert_memory_equal(buf, "12345", 5);
    assert_int_equal(aw_stream_readuntil(s, "::", 2, &c, &len), 0);
    assert_int_equal(len, 4);
    assert_memory_equal(c, "ab::", 4);
    assert_int_equal(aw_stream_read(s, buf, 3, &got), 0);
    assert_true(got >= 1 && got <= 3);
    assert_memory_equal(buf, "tail", got);
    return 0;
}

static void mixed_reads_every_boundary(void **state)
{
    (void)state;
    const char *d = "GET\n12345ab::tail";
    run_chunked(d, strlen(d), NULL, mixed_reader, NULL);
}

/* ---- peek / consume / fill ---- */

static int fill_reader(aw_stream *s, void *ctx)
{
    (void)ctx;
    size_t added, total = 0;
    for (;;) {
        assert_int_equal(aw_stream_fill(s, &added), 0);
        if (added == 0) break;
        total += added;
        const char *p;
        assert_int_equal(aw_stream_peek(s, &p), total);
        assert_memory_equal(p, pattern, total);
    }
    assert_int_equal(total, sizeof pattern);
    aw_stream_consume(s, 60);
    const char *p;
    assert_int_equal(aw_stream_peek(s, &p), 40);
    assert_memory_equal(p, pattern + 60, 40);
    aw_stream_consume(s, 1000);
    assert_int_equal(aw_stream_peek(s, &p), 0);
    assert_true(aw_stream_at_eof(s));
    return 0;
}

static void peek_consume_fill(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof pattern; i++) pattern[i] = (char)('A' + i % 57);
    run_chunked(pattern, sizeof pattern, NULL, fill_reader, NULL);
}

/* ---- limits ---- */

static const char LONG[] = "0123456789abc\nok\n";

static int limit_reader(aw_stream *s, void *ctx)
{
    bool whole = ctx != NULL;   /* the data arrived in one read */
    const char *c;
    size_t len;
    int rc = aw_stream_readuntil(s, "\n", 1, &c, &len);
    assert_int_equal(rc, AW_ELIMIT);
    assert_string_equal(aw_task_error_message(aw_current_task()),
                        whole ? "Separator is found, but chunk is longer than limit"
                              : "Separator is not found, and chunk exceed the limit");
    /* readuntil leaves the data buffered; readline drops the long line */
    assert_true(aw_stream_peek(s, NULL) > 0);
    assert_int_equal(aw_stream_readline(s, &c, &len), AW_ELIMIT);
    if (!whole) {
        /* asyncio drops what was buffered; the rest of the long line comes next */
        assert_int_equal(aw_stream_readline(s, &c, &len), 0);
        assert_int_equal(len, 5);
        assert_memory_equal(c, "9abc\n", 5);
    }
    assert_int_equal(aw_stream_readline(s, &c, &len), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(c, "ok\n", 3);
    return 0;
}

static int limit_main(void *arg, void **result)
{
    (void)result;
    size_t chunk = (size_t)(uintptr_t)arg;
    int sv[2];
    make_pair(sv);
    aw_stream_opts o = { .limit = 8 };
    aw_stream *s;
    assert_int_equal(aw_stream_open_fd(sv[0], sv[0], &o, &s), 0);
    if (chunk == 0) {
        assert_int_equal(send(sv[1], LONG, strlen(LONG), 0), (ssize_t)strlen(LONG));
        limit_reader(s, (void *)1);
    } else {
        feed f = { .fd = sv[1], .data = LONG, .len = strlen(LONG), .chunk = 1, .pause = 0.001 };
        aw_task *ft = aw_spawn(feeder, &f);
        limit_reader(s, NULL);
        assert_int_equal(aw_join(ft, NULL), 0);
    }
    /* fill stops at the limit */
    assert_int_equal(send(sv[1], "0123456789", 10, 0), 10);
    size_t added, total = 0;
    int rc;
    while ((rc = aw_stream_fill(s, &added)) == 0) total += added;
    assert_int_equal(rc, AW_ELIMIT);
    assert_int_equal(total, 8);
    aw_stream_close(s);
    aw_sock_close(sv[1]);
    return 0;
}

static void limits(void **state)
{
    (void)state;
    test_reports r = { .len = 0 };
    assert_int_equal(test_run(aw_coro(limit_main, (void *)0), NULL, &r), 0);
    assert_int_equal(test_run(aw_coro(limit_main, (void *)1), NULL, &r), 0);
    assert_int_equal(r.count, 0);
}

/* ---- cancellation loses nothing ---- */

static int cancel_main(void *arg, void **result)
{
    (void)arg; (void)result;
    int sv[2];
    make_pair(sv);
    aw_stream *s;
    assert_int_equal(aw_stream_open_fd(sv[0], sv[0], NULL, &s), 0);
    assert_int_equal(send(sv[1], "abc", 3, 0), 3);
    char buf[16];
    size_t got = 99;
    aw_scope sc;
    aw_scope_begin(&sc);
    aw_scope_set_deadline(&sc, aw_now() + 1);
    assert_int_equal(aw_stream_readexactly(s, buf, 10, &got), AW_ECANCELLED);
    assert_int_equal(aw_scope_end(&sc), AW_ETIMEDOUT);
    assert_int_equal(got, 0);
    assert_int_equal(aw_stream_peek(s, NULL), 3);     /* still buffered */

    /* the same for a line */
    const char *c;
    size_t len;
    aw_scope_begin(&sc);
    aw_scope_set_deadline(&sc, aw_now() + 1);
    assert_int_equal(aw_stream_readline(s, &c, &len), AW_ECANCELLED);
    assert_int_equal(aw_scope_end(&sc), AW_ETIMEDOUT);

    /* a cancelled task fails at once, even with data buffered (level-triggered) */
    aw_scope_begin(&sc);
    aw_scope_cancel(&sc);
    assert_int_equal(aw_stream_read(s, buf, 1, &got), AW_ECANCELLED);
    aw_scope_end(&sc);

    assert_int_equal(send(sv[1], "defghij\nrest", 12, 0), 12);
    assert_int_equal(aw_stream_readexactly(s, buf, 10, &got), 0);
    assert_memory_equal(buf, "abcdefghij", 10);
    assert_int_equal(aw_stream_readline(s, &c, &len), 0);
    assert_int_equal(len, 1);
    assert_int_equal(aw_stream_readexactly(s, buf, 4, &got), 0);
    assert_memory_equal(buf, "rest", 4);

    /* aw_wait_for style: a task reading with a timeout, cancelled from outside */
    aw_stream_close(s);
    aw_sock_close(sv[1]);
    return 0;
}

static void cancelled_read_loses_no_bytes(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(cancel_main, NULL), NULL, NULL), 0);
}

/* ---- one reader at a time; close wakes a waiting reader ---- */

static int waiting_reader(void *arg, void **result)
{
    (void)result;
    const char *c;
    size_t len;
    return aw_stream_readline((aw_stream *)arg, &c, &len);
}

static int busy_main(void *arg, void **result)
{
    (void)arg; (void)result;
    int sv[2];
    make_pair(sv);
    aw_stream *s;
    assert_int_equal(aw_stream_open_fd(sv[0], sv[0], NULL, &s), 0);
    aw_task *t = aw_spawn(waiting_reader, s);
    assert_int_equal(aw_sleep(0.01), 0);
    const char *c;
    size_t len;
    assert_int_equal(aw_stream_readline(s, &c, &len), AW_EBUSY);
    assert_contains(aw_task_error_message(aw_current_task()), "readline() called while another task");
    /* closing under a waiting reader: it gets -EBADF, the memory lives until it leaves */
    aw_stream_close(s);
    assert_int_equal(aw_join(t, NULL), -EBADF);
    aw_sock_close(sv[1]);
    return 0;
}

static void one_reader_and_close_under_it(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(busy_main, NULL), NULL, NULL), 0);
}

/* ---- writing: drain under a slow reader, writelines, write_eof, wait_closed ---- */

#define BIG (4u << 20)

typedef struct slow {
    int fd;
    size_t got;
    uint32_t sum;
    bool eof;
} slow;

static int slow_reader(void *arg, void **result)
{
    (void)result;
    slow *sl = arg;
    char buf[4096];
    for (;;) {
        size_t got;
        int rc = aw_sock_recv(sl->fd, buf, sizeof buf, &got);
        if (rc < 0) return rc;
        if (got == 0) { sl->eof = true; return 0; }
        for (size_t i = 0; i < got; i++) {
            if ((unsigned char)buf[i] != (unsigned char)((sl->got + i) * 7)) return -EILSEQ;
        }
        sl->got += got;
        rc = aw_sleep(0.001);
        if (rc < 0) return rc;
    }
}

static int drain_main(void *arg, void **result)
{
    (void)arg; (void)result;
    int sv[2];
    make_pair(sv);
    aw_stream_opts o = { .high_water = 65536, .low_water = 8192 };
    aw_stream *s;
    assert_int_equal(aw_stream_open_fd(sv[0], sv[0], &o, &s), 0);
    slow sl = { .fd = sv[1] };
    aw_task *rt = aw_spawn(slow_reader, &sl);
    static unsigned char chunk[65536];
    size_t off = 0;
    int waited = 0;
    while (off < BIG) {
        for (size_t i = 0; i < sizeof chunk; i++) chunk[i] = (unsigned char)((off + i) * 7);
        assert_int_equal(aw_stream_write(s, chunk, sizeof chunk), 0);
        off += sizeof chunk;
        bool over = aw_stream_write_buffered(s) > 65536;
        assert_int_equal(aw_stream_drain(s), 0);
        if (over) {
            waited++;
            assert_true(aw_stream_write_buffered(s) <= 8192);
        }
        assert_true(aw_stream_write_buffered(s) <= 65536);
    }
    assert_true(waited > 10);       /* the reader really was slower */
    assert_int_equal(aw_stream_write_eof(s), 0);
    assert_int_equal(aw_stream_write(s, "x", 1), AW_EINVALSTATE);
    assert_int_equal(aw_join(rt, NULL), 0);
    assert_int_equal(sl.got, BIG);
    assert_true(sl.eof);
    aw_stream_close(s);
    aw_sock_close(sv[1]);
    return 0;
}

static void drain_under_slow_reader(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(drain_main, NULL), NULL, NULL), 0);
}

static int wait_closed_main(void *arg, void **result)
{
    (void)arg; (void)result;
    int sv[2];
    make_pair(sv);
    aw_stream *s;
    assert_int_equal(aw_stream_open_fd(sv[0], sv[0], NULL, &s), 0);
    slow sl = { .fd = sv[1] };
    aw_task *rt = aw_spawn(slow_reader, &sl);
    static unsigned char big[1 << 20];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (unsigned char)(i * 7);
    /* writelines: several buffers, one queue */
    struct iovec iov[3] = { { big, 100 }, { big + 100, 900 }, { big + 1000, sizeof big - 1000 } };
    assert_int_equal(aw_stream_writelines(s, iov, 3), 0);
    assert_true(aw_stream_write_buffered(s) > 0);
    /* close + wait: everything queued is delivered, then end of stream */
    assert_int_equal(aw_stream_wait_closed(s), 0);
    assert_int_equal(aw_join(rt, NULL), 0);
    assert_int_equal(sl.got, sizeof big);
    assert_true(sl.eof);
    aw_sock_close(sv[1]);

    /* aw_stream_close (no wait): the background send still delivers everything */
    make_pair(sv);
    assert_int_equal(aw_stream_open_fd(sv[0], sv[0], NULL, &s), 0);
    sl = (slow){ .fd = sv[1] };
    rt = aw_spawn(slow_reader, &sl);
    assert_int_equal(aw_stream_write(s, big, sizeof big), 0);
    aw_stream_close(s);
    assert_int_equal(aw_join(rt, NULL), 0);
    assert_int_equal(sl.got, sizeof big);
    assert_true(sl.eof);
    aw_sock_close(sv[1]);
    return 0;
}

static void close_flushes_queue(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(wait_closed_main, NULL), NULL, NULL), 0);
}

/* A queue that never drains (the peer does not read) is dropped when the loop
 * shuts down: the flusher is cancelled and nothing leaks. */
static int stuck_main(void *arg, void **result)
{
    (void)result;
    int *sv = arg;
    make_pair(sv);
    aw_stream *s;
    assert_int_equal(aw_stream_open_fd(sv[0], sv[0], NULL, &s), 0);
    static char big[1 << 20];
    assert_int_equal(aw_stream_write(s, big, sizeof big), 0);
    assert_true(aw_stream_write_buffered(s) > 0);
    aw_stream_close(s);
    return 0;
}

static void shutdown_drops_stuck_queue(void **state)
{
    (void)state;
    int sv[2];
    test_reports r = { .len = 0 };
    assert_int_equal(test_run(aw_coro(stuck_main, sv), NULL, &r), 0);
    close(sv[1]);
    /* the stream's fd was closed when its flusher was cancelled */
    assert_int_equal(fcntl(sv[0], F_GETFD), -1);
}

/* ---- errors: peer reset, EOF, closed fds, pipes ---- */

static void tcp_pair(int *a, int *b)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(l >= 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(bind(l, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_int_equal(listen(l, 4), 0);
    socklen_t sl = sizeof sin;
    assert_int_equal(getsockname(l, (struct sockaddr *)&sin, &sl), 0);
    *b = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(*b, (struct sockaddr *)&sin, sizeof sin), 0);
    *a = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    assert_true(*a >= 0);
    close(l);
}

static int reset_reader(void *arg, void **result)
{
    (void)result;
    const char *c;
    size_t len;
    return aw_stream_readline((aw_stream *)arg, &c, &len);
}

static int reset_main(void *arg, void **result)
{
    (void)arg; (void)result;
    int a, b;
    tcp_pair(&a, &b);
    aw_stream *s;
    assert_int_equal(aw_stream_open_fd(a, a, NULL, &s), 0);
    aw_task *t = aw_spawn(reset_reader, s);
    assert_int_equal(send(b, "par", 3, 0), 3);
    assert_int_equal(aw_sleep(0.01), 0);        /* the reader has "par" and waits for more */
    assert_false(aw_task_done(t));
    struct linger lg = { 1, 0 };
    assert_int_equal(setsockopt(b, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(b);                                    /* RST */
    assert_int_equal(aw_join(t, NULL), -ECONNRESET);
    /* the bytes read before the reset are still there; then the error again */
    char buf[8];
    size_t got;
    assert_int_equal(aw_stream_read(s, buf, sizeof buf, &got), 0);
    assert_int_equal(got, 3);
    assert_memory_equal(buf, "par", 3);
    assert_int_equal(aw_stream_read(s, buf, sizeof buf, &got), -ECONNRESET);
    /* writing to a reset connection fails; drain reports it */
    int rc = aw_stream_write(s, "x", 1);
    if (rc == 0) rc = aw_stream_drain(s);
    assert_true(rc == -EPIPE || rc == -ECONNRESET);
    aw_stream_close(s);
    return 0;
}

static void peer_reset_mid_read(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(reset_main, NULL), NULL, NULL), 0);
}

static int eof_main(void *arg, void **result)
{
    (void)arg; (void)result;
    int sv[2];
    make_pair(sv);
    aw_stream *s;
    assert_int_equal(aw_stream_open_fd(sv[0], sv[0], NULL, &s), 0);
    assert_int_equal(send(sv[1], "no newline", 10, 0), 10);
    shutdown(sv[1], SHUT_WR);
    const char *c;
    size_t len;
    assert_int_equal(aw_stream_readline(s, &c, &len), 0);
    assert_int_equal(len, 10);
    assert_memory_equal(c, "no newline", 10);
    assert_int_equal(aw_stream_readline(s, &c, &len), 0);
    assert_int_equal(len, 0);
    assert_true(aw_stream_at_eof(s));
    /* half-closed by the peer: we can still write back */
    assert_int_equal(aw_stream_write(s, "bye", 3), 0);
    char buf[4];
    assert_int_equal(recv(sv[1], buf, 3, 0), 3);
    assert_memory_equal(buf, "bye", 3);
    aw_stream_close(s);
    aw_sock_close(sv[1]);
    return 0;
}

static void eof_mid_line(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(eof_main, NULL), NULL, NULL), 0);
}

static int pipe_main(void *arg, void **result)
{
    (void)arg; (void)result;
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    aw_stream *w, *r;
    assert_int_equal(aw_stream_open_fd(-1, p[1], NULL, &w), 0);
    assert_int_equal(aw_stream_open_fd(p[0], -1, NULL, &r), 0);
    assert_int_equal(aw_stream_write(w, "one\ntwo\n", 8), 0);
    const char *c;
    size_t len;
    assert_int_equal(aw_stream_readline(r, &c, &len), 0);
    assert_memory_equal(c, "one\n", 4);
    assert_int_equal(aw_stream_write_eof(w), 0);
    assert_int_equal(aw_stream_readline(r, &c, &len), 0);
    assert_memory_equal(c, "two\n", 4);
    assert_int_equal(aw_stream_readline(r, &c, &len), 0);
    assert_int_equal(len, 0);
    /* reading a write-only stream */
    assert_int_equal(aw_stream_readline(w, &c, &len), -EBADF);
    aw_stream_close(w);
    aw_stream_close(r);

    /* a pipe whose reader is gone: -EPIPE, and SIGPIPE does not kill us */
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(aw_stream_open_fd(-1, p[1], NULL, &w), 0);
    close(p[0]);
    assert_int_equal(aw_stream_write(w, "x", 1), -EPIPE);
    assert_int_equal(aw_stream_drain(w), -EPIPE);
    aw_stream_close(w);
    sigset_t pend;
    sigpending(&pend);
    assert_false(sigismember(&pend, SIGPIPE));
    return 0;
}

static void pipes(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(pipe_main, NULL), NULL, NULL), 0);
}

static int bad_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_stream *s = (aw_stream *)1;
    assert_int_equal(aw_stream_open_fd(-1, -1, NULL, &s), -EINVAL);
    assert_null(s);
    int sv[2];
    make_pair(sv);
    close(sv[1]);
    int dead = sv[1];
    assert_int_equal(aw_stream_open_fd(dead, dead, NULL, &s), -EBADF);
    assert_int_equal(aw_stream_open_fd(sv[0], sv[0], NULL, &s), 0);
    const char *c;
    size_t len;
    assert_int_equal(aw_stream_readline(s, &c, &len), 0);    /* the peer is gone: EOF */
    assert_int_equal(len, 0);
    assert_int_equal(aw_stream_readline(s, NULL, &len), -EINVAL);
    assert_int_equal(aw_stream_readuntil(s, "", 0, &c, &len), -EINVAL);
    aw_stream_close(s);
    aw__test_fail_alloc(1, false);
    make_pair(sv);
    assert_int_equal(aw_stream_open_fd(sv[0], sv[0], NULL, &s), -ENOMEM);
    aw__test_fail_alloc(0, false);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

static void bad_input(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(bad_main, NULL), NULL, NULL), 0);
    /* outside a task */
    const char *c;
    size_t len;
    assert_int_equal(aw_stream_readline((aw_stream *)NULL, &c, &len), AW_ENOTASK);
}

int main(void)
{
    signal(SIGPIPE, SIG_DFL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(readline_every_boundary),
        cmocka_unit_test(readuntil_every_boundary),
        cmocka_unit_test(readuntil_several_separators),
        cmocka_unit_test(readexactly_and_read_every_boundary),
        cmocka_unit_test(mixed_reads_every_boundary),
        cmocka_unit_test(peek_consume_fill),
        cmocka_unit_test(limits),
        cmocka_unit_test(cancelled_read_loses_no_bytes),
        cmocka_unit_test(one_reader_and_close_under_it),
        cmocka_unit_test(drain_under_slow_reader),
        cmocka_unit_test(close_flushes_queue),
        cmocka_unit_test(shutdown_drops_stuck_queue),
        cmocka_unit_test(peer_reset_mid_read),
        cmocka_unit_test(eof_mid_line),
        cmocka_unit_test(pipes),
        cmocka_unit_test(bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
