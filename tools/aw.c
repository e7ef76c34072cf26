/* aw: print what a running aw program's loop is doing, from its debug socket (AW_DEBUG_SOCKET). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

/*
 * The protocol is one line each way round: the command ("ps", "pstree" or
 * "stats") and a newline; the program answers with text and closes. The
 * program's loop builds the answer between two steps; when it is stuck in one,
 * its debug thread answers instead, naming the step.
 */

#define TIMEOUT_SECONDS 5

static void usage(FILE *out)
{
    fputs("usage: aw COMMAND [SOCKET]\n"
          "  ps      the tasks as a table, after the loop's counters\n"
          "  pstree  the tasks as a tree: who awaits whom, and where each waits\n"
          "  stats   the loop's counters\n"
          "SOCKET is the path the program serves (AW_DEBUG_SOCKET=path, or\n"
          "aw_loop_serve_debug); without it, $AW_DEBUG_SOCKET.\n", out);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc < 2 || argc > 3) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "ps") != 0 && strcmp(cmd, "pstree") != 0 && strcmp(cmd, "stats") != 0) {
        fprintf(stderr, "aw: unknown command '%s'\n", cmd);
        usage(stderr);
        return 2;
    }
    const char *path = argc == 3 ? argv[2] : getenv("AW_DEBUG_SOCKET");
    if (!path || !*path) {
        fputs("aw: no socket given and AW_DEBUG_SOCKET is not set\n", stderr);
        return 2;
    }
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "aw: %s: path too long\n", path);
        return 2;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("aw: socket");
        return 1;
    }
    struct timeval tv = { .tv_sec = TIMEOUT_SECONDS };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        fprintf(stderr, "aw: %s: %s (is the program running with AW_DEBUG_SOCKET=%s?)\n", path,
                strerror(errno), path);
        close(fd);
        return 1;
    }
    char line[16];
    int n = snprintf(line, sizeof line, "%s\n", cmd);
    if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n) {
        fprintf(stderr, "aw: %s: %s\n", path, strerror(errno));
        close(fd);
        return 1;
    }
    shutdown(fd, SHUT_WR);
    char buf[65536];
    size_t total = 0;
    for (;;) {
        ssize_t k = recv(fd, buf, sizeof buf, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            fprintf(stderr, "aw: %s: %s\n", path,
                    errno == EAGAIN || errno == EWOULDBLOCK ? "no answer" : strerror(errno));
            close(fd);
            return 1;
        }
        if (k == 0) break;
        fwrite(buf, 1, (size_t)k, stdout);
        total += (size_t)k;
    }
    close(fd);
    if (total == 0) {
        fprintf(stderr, "aw: %s: the program closed the connection without an answer\n", path);
        return 1;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
