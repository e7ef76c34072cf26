/* docs/guide.md, "Files": regular-file I/O on the pool's file lane. */
#include <aw.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int main_coro(void *arg, void **result)
{
    (void)result;
    const char *path = arg;
    int fd;
    int rc = aw_file_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644, &fd);
    if (rc < 0) return rc;
    const char text[] = "written by a pool thread\n";
    size_t done;
    rc = aw_file_write(fd, text, sizeof text - 1, &done);
    if (rc == 0) rc = aw_file_fsync(fd);
    int crc = aw_file_close(fd);               /* closes even in a cancelled task */
    if (rc < 0 || crc < 0) return rc < 0 ? rc : crc;

    char *data;
    size_t len;
    rc = aw_file_read_all(path, &data, &len);
    if (rc < 0) return rc;
    printf("%zu bytes: %s", len, data);
    free(data);
    return 0;
}

int main(void)
{
    char path[] = "/tmp/aw_doc_files_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 1;
    close(fd);
    int rc = aw_run(aw_coro(main_coro, path), NULL);
    unlink(path);
    return rc == 0 ? 0 : 1;
}
