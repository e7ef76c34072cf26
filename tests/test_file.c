/* Tests of files on the pool's file lane: open/read/write/pread/pwrite/fsync/close, cancellation. */
#include "test_util.h"
#include "internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char path[64];

static void make_path(void)
{
    strcpy(path, "/tmp/aw_test_file_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
}

/* ---- a round trip ---- */

#define BIG (1024 * 1024 + 17)

static int roundtrip_main(void *arg, void **result)
{
    (void)arg; (void)result;
    int fd = -1;
    assert_int_equal(aw_file_open(path, O_RDWR | O_TRUNC, 0, &fd), 0);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);

    unsigned char *data = malloc(BIG), *back = malloc(BIG);
    for (size_t i = 0; i < BIG; i++) data[i] = (unsigned char)(i * 31 + 7);
    size_t off = 0, done = 0;
    while (off < BIG) {
        assert_int_equal(aw_file_write(fd, data + off, BIG - off, &done), 0);
        assert_true(done > 0);
        off += done;
    }
    assert_int_equal(aw_file_fsync(fd), 0);

    /* pread does not move the position, which is at the end: read sees EOF */
    assert_int_equal(aw_file_read(fd, back, 10, &done), 0);
    assert_int_equal(done, 0);
    off = 0;
    while (off < BIG) {
        assert_int_equal(aw_file_pread(fd, back + off, 65536, (off_t)off, &done), 0);
        assert_true(done > 0);
        off += done;
    }
    assert_memory_equal(back, data, BIG);

    assert_int_equal(aw_file_pwrite(fd, "HELLO", 5, 3, &done), 0);
    assert_int_equal(done, 5);
    char head[8] = { 0 };
    assert_int_equal(aw_file_pread(fd, head, 8, 0, &done), 0);
    assert_int_equal(done, 8);
    assert_memory_equal(head + 3, "HELLO", 5);
    assert_int_equal(aw_file_close(fd), 0);

    char *all = NULL;
    size_t len = 0;
    assert_int_equal(aw_file_read_all(path, &all, &len), 0);
    assert_int_equal(len, BIG);
    assert_memory_equal(all + 3, "HELLO", 5);
    assert_memory_equal(all + 8, data + 8, BIG - 8);
    assert_int_equal(all[len], 0);
    free(all);
    free(data);
    free(back);
    return 0;
}

static void file_roundtrip(void **state)
{
    (void)state;
    make_path();
    assert_int_equal(test_run(aw_coro(roundtrip_main, NULL), NULL, NULL), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, BIG);
    unlink(path);
}

/* ---- errors ---- */

static int errors_main(void *arg, void **result)
{
    (void)arg; (void)result;
    int fd = 123;
    assert_int_equal(aw_file_open("/nonexistent/dir/file", O_RDONLY, 0, &fd), -ENOENT);
    assert_int_equal(fd, -1);
    char b[4];
    size_t done = 99;
    assert_int_equal(aw_file_read(-1, b, 4, &done), -EBADF);
    assert_int_equal(done, 0);
    int p[2];
    assert_int_equal(pipe(p), 0);
    close(p[1]);
    int bad = p[1];
    assert_int_equal(aw_file_write(bad, "x", 1, &done), -EBADF);
    assert_int_equal(aw_file_fsync(bad), -EBADF);
    assert_int_equal(aw_file_close(p[0]), 0);
    assert_int_equal(aw_file_open(NULL, O_RDONLY, 0, &fd), -EINVAL);
    char *all;
    assert_int_equal(aw_file_read_all("/nonexistent", &all, NULL), -ENOENT);
    return 0;
}

static void file_errors(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(errors_main, NULL), NULL, NULL), 0);
    int fd;
    assert_int_equal(aw_file_open("/tmp", O_RDONLY, 0, &fd), AW_ENOTASK);
}

/* ---- many tasks write one file at once ---- */

#define NWRITERS 64
#define RECORD 4096

static int writer(void *arg, void **result)
{
    (void)result;
    int i = (int)(intptr_t)arg;
    char buf[RECORD];
    memset(buf, 'A' + i % 26, sizeof buf);
    int fd;
    int rc = aw_file_open(path, O_WRONLY, 0, &fd);
    if (rc < 0) return rc;
    size_t done;
    rc = aw_file_pwrite(fd, buf, sizeof buf, (off_t)i * RECORD, &done);
    if (rc == 0 && done != sizeof buf) rc = -EIO;
    int c = aw_file_close(fd);
    return rc ? rc : c;
}

static int writers_main(void *arg, void **result)
{
    (void)arg; (void)result;
    aw_task *t[NWRITERS];
    for (int i = 0; i < NWRITERS; i++) t[i] = aw_create_task(aw_coro(writer, (void *)(intptr_t)i), NULL);
    for (int i = 0; i < NWRITERS; i++) assert_int_equal(aw_join(t[i], NULL), 0);
    char *all;
    size_t len;
    assert_int_equal(aw_file_read_all(path, &all, &len), 0);
    assert_int_equal(len, NWRITERS * RECORD);
    for (int i = 0; i < NWRITERS; i++)
        for (int k = 0; k < RECORD; k += 512) assert_int_equal(all[i * RECORD + k], 'A' + i % 26);
    free(all);
    return 0;
}

static void file_many_writers(void **state)
{
    (void)state;
    make_path();
    assert_int_equal(test_run(aw_coro(writers_main, NULL), NULL, NULL), 0);
    unlink(path);
}

/* ---- a cancel during a read loses no byte ---- */

typedef struct reader {
    int fd;
    char buf[16];
    size_t got;
    int rc_read, rc_next;
    bool started;
} reader;

static int read_body(void *arg, void **result)
{
    (void)result;
    reader *r = arg;
    r->started = true;
    r->rc_read = aw_file_read(r->fd, r->buf, sizeof r->buf, &r->got);   /* blocks on its thread */
    r->rc_next = aw_sleep(0);
    return 0;
}

static int cancel_main(void *arg, void **result)
{
    (void)arg; (void)result;
    int p[2];
    assert_int_equal(pipe(p), 0);   /* blocking: the read holds its pool thread */
    reader r = { .fd = p[0] };
    aw_task *t = aw_create_task(aw_coro(read_body, &r), "reader");
    unsigned running = 0;
    while (!r.started || (aw__threadpool_lane_stats(AW__LANE_FILE, &running, NULL, NULL), running == 0)) {
        assert_int_equal(aw_sleep(0), 0);
        usleep(50);
    }
    aw_task_cancel(t, NULL);
    for (int i = 0; i < 50; i++) assert_int_equal(aw_sleep(0), 0);
    assert_false(aw_task_done(t));
    assert_int_equal(write(p[1], "payload", 7), 7);
    assert_int_equal(aw_join(t, NULL), 0);
    assert_int_equal(r.rc_read, 0);                 /* the read finished: its bytes are there */
    assert_int_equal(r.got, 7);
    assert_memory_equal(r.buf, "payload", 7);
    assert_int_equal(r.rc_next, AW_ECANCELLED);     /* the cancel is seen next */
    close(p[1]);

    /* a close in a cancelled task still closes */
    int q[2];
    assert_int_equal(pipe(q), 0);
    aw_scope s;
    aw_scope_begin(&s);
    aw_scope_cancel(&s);
    assert_int_equal(aw_file_close(q[0]), 0);
    assert_int_equal(aw_scope_end(&s), 0);
    assert_int_equal(fcntl(q[0], F_GETFD), -1);
    assert_int_equal(aw_file_close(p[0]), 0);
    close(q[1]);
    return 0;
}

static void file_cancel_keeps_bytes(void **state)
{
    (void)state;
    assert_int_equal(test_run(aw_coro(cancel_main, NULL), NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(file_roundtrip),
        cmocka_unit_test(file_errors),
        cmocka_unit_test(file_many_writers),
        cmocka_unit_test(file_cancel_keeps_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
