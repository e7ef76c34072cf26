/* docs/guide.md, "Subprocesses": communicate, and reading a child's output as a stream. */
#include <aw.h>
#include <stdio.h>
#include <stdlib.h>

static int main_coro(void *arg, void **result)
{
    (void)arg; (void)result;
    /* Input in, both outputs out, without deadlock, then the exit status. */
    const char *tr[] = { "tr", "a-z", "A-Z", NULL };
    aw_process_opts o = { .in = AW_PIPE, .out = AW_PIPE };
    aw_process *p;
    int rc = aw_subprocess_exec(tr, &o, &p);
    if (rc < 0) return rc;                  /* -ENOENT if tr does not exist */
    char *out;
    size_t len;
    rc = aw_process_communicate(p, "hello, aw\n", 10, &out, &len, NULL, NULL);
    int status = -1;
    aw_process_returncode(p, &status);
    aw_process_free(p);
    if (rc < 0) return rc;
    printf("tr said %s(exit %d)\n", out, status);
    free(out);

    /* A child's stdout as a stream, line by line. */
    aw_process_opts lines = { .out = AW_PIPE };
    rc = aw_subprocess_shell("printf 'one\\ntwo\\nthree\\n'", &lines, &p);
    if (rc < 0) return rc;
    const char *line;
    while ((rc = aw_stream_readline(aw_process_stdout(p), &line, &len)) == 0 && len > 0)
        printf("line: %.*s", (int)len, line);
    if (rc == 0) rc = aw_process_wait(p, &status);
    aw_process_free(p);
    return rc;
}

int main(void)
{
    return aw_run(aw_coro(main_coro, NULL), NULL) == 0 ? 0 : 1;
}
