/*
 * subprocess_pipeline: `seq 1 N | grep 7`, with aw as the pipe in the middle.
 *
 * Two children, each with pipes: a pump task reads seq's stdout and writes it
 * into grep's stdin (aw_stream_drain gives the back-pressure a shell pipe
 * would), counting lines as they pass; a collector task counts the lines grep
 * keeps. Then both exit statuses, and a summary:
 *
 *   $ subprocess_pipeline 100000
 *   seq 1 100000: 100000 lines, 588895 bytes through aw
 *   grep 7: kept 40951 lines
 *   exit status: seq 0, grep 0
 *
 * Usage: subprocess_pipeline [N] (default 100000)
 */
#include <aw.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pipeline {
    aw_process *seq, *grep;
    unsigned long lines_in, bytes_in, lines_out;
} pipeline;

static unsigned long count_newlines(const char *p, size_t n)
{
    unsigned long c = 0;
    for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))); p++) c++;
    return c;
}

/* seq's stdout -> grep's stdin; then EOF to grep. */
static int pump(void *arg, void **result)
{
    (void)result;
    pipeline *pl = arg;
    aw_stream *from = aw_process_stdout(pl->seq), *to = aw_process_stdin(pl->grep);
    char buf[16384];
    int rc;
    for (;;) {
        size_t got;
        rc = aw_stream_read(from, buf, sizeof buf, &got);
        if (rc < 0 || got == 0) break;
        pl->bytes_in += got;
        pl->lines_in += count_newlines(buf, got);
        rc = aw_stream_write(to, buf, got);
        if (rc == 0) rc = aw_stream_drain(to);    /* wait while grep is behind */
        if (rc < 0) break;
    }
    int eof = aw_stream_write_eof(to);
    return rc < 0 ? rc : eof;
}

/* grep's stdout: count what it keeps. */
static int collect(void *arg, void **result)
{
    (void)result;
    pipeline *pl = arg;
    aw_stream *s = aw_process_stdout(pl->grep);
    const char *line;
    size_t len;
    int rc;
    while ((rc = aw_stream_readline(s, &line, &len)) == 0 && len > 0) pl->lines_out++;
    return rc;
}

static int main_coro(void *arg, void **result)
{
    (void)result;
    const char *n = arg;
    pipeline pl = { 0 };
    const char *seq[] = { "seq", "1", n, NULL };
    const char *grep[] = { "grep", "7", NULL };
    aw_process_opts out_only = { .in = AW_DEVNULL, .out = AW_PIPE };
    aw_process_opts both = { .in = AW_PIPE, .out = AW_PIPE };
    int rc = aw_subprocess_exec(seq, &out_only, &pl.seq);
    if (rc < 0) {
        fprintf(stderr, "seq: %s\n", aw_strerror(rc));
        return rc;
    }
    rc = aw_subprocess_exec(grep, &both, &pl.grep);
    if (rc < 0) {
        fprintf(stderr, "grep: %s\n", aw_strerror(rc));
        aw_process_kill(pl.seq);
        aw_process_free(pl.seq);
        return rc;
    }

    aw_task *p = aw_create_task(aw_coro(pump, &pl), "pump");
    aw_task *c = aw_create_task(aw_coro(collect, &pl), "collect");
    int rp = p ? aw_join(p, NULL) : -ENOMEM;
    int rcol = c ? aw_join(c, NULL) : -ENOMEM;
    int st_seq = -1, st_grep = -1;
    int ws = aw_process_wait(pl.seq, &st_seq);
    int wg = aw_process_wait(pl.grep, &st_grep);
    aw_process_free(pl.seq);
    aw_process_free(pl.grep);

    printf("seq 1 %s: %lu lines, %lu bytes through aw\n", n, pl.lines_in, pl.bytes_in);
    printf("grep 7: kept %lu lines\n", pl.lines_out);
    printf("exit status: seq %d, grep %d\n", st_seq, st_grep);
    if (rp < 0) return rp;
    if (rcol < 0) return rcol;
    return ws < 0 ? ws : wg;
}

int main(int argc, char **argv)
{
    const char *n = argc > 1 ? argv[1] : "100000";
    if (atol(n) <= 0) {
        fprintf(stderr, "usage: %s [N]\n", argv[0]);
        return 2;
    }
    int rc = aw_run(aw_coro(main_coro, (void *)n), NULL);
    if (rc < 0) {
        fprintf(stderr, "subprocess_pipeline: %s: %s\n", aw_errname(rc), aw_strerror(rc));
        return 1;
    }
    return 0;
}
