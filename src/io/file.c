/* Files: open/read/write/fsync/close of regular files on the thread pool's file lane. */
#include "internal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Regular files are always "ready" to epoll, yet a read can block on the disk,
 * so each call runs on a pool thread while the task waits (asyncio's aiofiles,
 * libuv's uv_fs_*). The job lives on the task's stack: a cancel never abandons
 * it (the buffer is the caller's). A cancel that arrives while the system call
 * runs lets it finish and returns its real result, so no byte read or written
 * is lost; the cancel is seen at the task's next suspension point. A call that
 * had not started yet is dropped and returns AW_ECANCELLED.
 */

enum { OP_OPEN, OP_READ, OP_WRITE, OP_PREAD, OP_PWRITE, OP_FSYNC, OP_CLOSE };

typedef struct file_job {
    aw__work w;
    int op;
    int fd;
    const char *path;
    int flags;
    mode_t mode;
    void *buf;
    size_t n;
    off_t off;
    ssize_t res;                /* >= 0, or -errno */
} file_job;

static void file_work(aw__work *w)
{
    file_job *j = (file_job *)w;
    ssize_t r;
    do {
        switch (j->op) {
        case OP_OPEN: r = open(j->path, j->flags | O_CLOEXEC, j->mode); break;
        case OP_READ: r = read(j->fd, j->buf, j->n); break;
        case OP_WRITE: r = write(j->fd, j->buf, j->n); break;
        case OP_PREAD: r = pread(j->fd, j->buf, j->n, j->off); break;
        case OP_PWRITE: r = pwrite(j->fd, j->buf, j->n, j->off); break;
        case OP_FSYNC: r = fsync(j->fd); break;
        case OP_CLOSE: r = close(j->fd); if (r < 0 && errno == EINTR) r = 0; break;  /* never retried */
        default: r = -1; errno = EINVAL; break;
        }
    } while (r < 0 && errno == EINTR);
    j->res = r < 0 ? -errno : r;
}

static int run(aw_task *t, file_job *j, const char *what, const char *file, int line)
{
    j->w.work = file_work;
    int rc = aw__work_await(t, &j->w, AW__LANE_FILE, 0, what, file, line);
    if (rc < 0) return rc;
    return j->res < 0 ? (int)j->res : 0;
}

int aw__file_open(const char *path, int flags, mode_t mode, int *fd, const char *file, int line)
{
    if (fd) *fd = -1;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (!path || !fd) return -EINVAL;
    file_job j = { .op = OP_OPEN, .path = path, .flags = flags, .mode = mode };
    rc = run(t, &j, "file_open", file, line);
    if (rc < 0) return rc;
    *fd = (int)j.res;
    return 0;
}

int aw__file_rw(int write, int fd, void *buf, size_t n, off_t off, size_t *done, const char *file, int line)
{
    if (done) *done = 0;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (fd < 0) return -EBADF;
    if (!buf && n) return -EINVAL;
    int op = write ? (off >= 0 ? OP_PWRITE : OP_WRITE) : (off >= 0 ? OP_PREAD : OP_READ);
    file_job j = { .op = op, .fd = fd, .buf = buf, .n = n, .off = off };
    rc = run(t, &j, write ? "file_write" : "file_read", file, line);
    if (rc < 0) return rc;
    if (done) *done = (size_t)j.res;
    return 0;
}

int aw__file_fsync(int fd, const char *file, int line)
{
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (fd < 0) return -EBADF;
    file_job j = { .op = OP_FSYNC, .fd = fd };
    return run(t, &j, "file_fsync", file, line);
}

int aw__file_close(int fd, const char *file, int line)
{
    if (fd < 0) return -EBADF;
    aw_loop *loop = aw__loop();
    aw_task *t = loop ? loop->current : NULL;
    if (loop) aw_fd_forget(fd);
    /* A close must happen even in a cancelled task, and outside any task: there
     * it is done right here; in a task that is cancelled meanwhile, the job is
     * still run to its end. */
    if (!t || aw__scope_cancelling(t)) return close(fd) < 0 && errno != EINTR ? -errno : 0;
    file_job j = { .op = OP_CLOSE, .fd = fd };
    int rc = run(t, &j, "file_close", file, line);
    if (rc == AW_ECANCELLED) {
        /* taken out of the queue before it ran: close it here */
        return close(fd) < 0 && errno != EINTR ? -errno : 0;
    }
    return rc;
}

int aw__file_read_all(const char *path, char **data, size_t *len, const char *file, int line)
{
    if (data) *data = NULL;
    if (len) *len = 0;
    if (!path || !data) return -EINVAL;
    int fd;
    int rc = aw__file_open(path, O_RDONLY, 0, &fd, file, line);
    if (rc < 0) return rc;
    size_t cap = 0, n = 0;
    char *buf = NULL;
    for (;;) {
        if (cap - n < 65536 + 1) {
            size_t c = cap ? cap * 2 : 65536 + 1;
            char *b = aw__realloc(buf, c);
            if (!b) { rc = -ENOMEM; break; }
            buf = b;
            cap = c;
        }
        size_t got = 0;
        rc = aw__file_rw(0, fd, buf + n, cap - n - 1, -1, &got, file, line);
        if (rc < 0 || got == 0) break;
        n += got;
    }
    int crc = aw__file_close(fd, file, line);
    if (rc == 0) rc = crc;
    if (rc < 0) {
        aw__free(buf);
        return rc;
    }
    buf[n] = 0;
    *data = buf;
    if (len) *len = n;
    return 0;
}
