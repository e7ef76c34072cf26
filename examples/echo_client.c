/* echo_client: a closed-loop load generator for echo_server, written with aw streams.
 *
 *   echo_client [PORT] [--host HOST] [--conns N] [--size BYTES] [--duration SECONDS | --count N]
 *
 * Opens N connections (default 10); each sends one message, waits for the
 * whole echo, checks it, and sends the next, for --duration seconds (default
 * 2) or --count messages per connection. Prints the round trips per second;
 * exits 1 on any error. */
#include <aw.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct opts {
    const char *host;
    int port, conns;
    size_t size;
    double duration;
    long count;
} opts;

typedef struct conn {
    const opts *o;
    int id;
    long done;
    double deadline;
} conn;

static int client(void *arg, void **result)
{
    (void)result;
    conn *c = arg;
    const opts *o = c->o;
    aw_stream *s;
    int rc = aw_open_connection(o->host, o->port, NULL, &s);
    if (rc < 0) return rc;
    char *out = malloc(o->size), *in = malloc(o->size);
    if (!out || !in) { rc = -ENOMEM; goto out; }
    for (size_t i = 0; i < o->size; i++) out[i] = (char)('a' + (i + (size_t)c->id) % 26);
    while (o->count ? c->done < o->count : aw_now() < c->deadline) {
        rc = aw_stream_write(s, out, o->size);
        if (rc < 0) break;
        size_t got;
        rc = aw_stream_readexactly(s, in, o->size, &got);
        if (rc < 0) break;
        if (memcmp(in, out, o->size) != 0) { rc = -EILSEQ; break; }
        c->done++;
    }
out:
    free(out);
    free(in);
    aw_stream_close(s);
    return rc;
}

static int run(void *arg, void **result)
{
    (void)result;
    opts *o = arg;
    conn *cs = calloc((size_t)o->conns, sizeof *cs);
    aw_task **ts = calloc((size_t)o->conns, sizeof *ts);
    if (!cs || !ts) return -ENOMEM;
    double t0 = aw_now();
    for (int i = 0; i < o->conns; i++) {
        cs[i] = (conn){ .o = o, .id = i, .deadline = t0 + o->duration };
        ts[i] = aw_spawn(client, &cs[i]);
    }
    int err = 0;
    long total = 0;
    for (int i = 0; i < o->conns; i++) {
        int rc = ts[i] ? aw_join(ts[i], NULL) : -ENOMEM;
        if (rc < 0 && !err) {
            err = rc;
            fprintf(stderr, "echo_client: connection %d: %s\n", i, aw_strerror(rc));
        }
        total += cs[i].done;
    }
    double took = aw_now() - t0;
    printf("%ld round trips of %zu bytes over %d connections in %.2f s: %.0f msg/s\n",
           total, o->size, o->conns, took, took > 0 ? (double)total / took : 0.0);
    free(cs);
    free(ts);
    return err;
}

int main(int argc, char **argv)
{
    opts o = { .host = "127.0.0.1", .port = 9000, .conns = 10, .size = 64, .duration = 2, .count = 0 };
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--host") && i + 1 < argc) o.host = argv[++i];
        else if (!strcmp(argv[i], "--conns") && i + 1 < argc) o.conns = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--size") && i + 1 < argc) o.size = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--duration") && i + 1 < argc) o.duration = atof(argv[++i]);
        else if (!strcmp(argv[i], "--count") && i + 1 < argc) o.count = atol(argv[++i]);
        else if (argv[i][0] != '-') o.port = atoi(argv[i]);
        else {
            fprintf(stderr, "usage: echo_client [PORT] [--host HOST] [--conns N] [--size BYTES] "
                            "[--duration SECONDS | --count N]\n");
            return 2;
        }
    }
    if (o.conns < 1 || o.conns > 10000 || o.size < 1 || o.size > (1 << 24)) {
        fprintf(stderr, "echo_client: --conns 1..10000, --size 1..16777216\n");
        return 2;
    }
    int rc = aw_run(aw_coro(run, &o), NULL);
    return rc < 0 ? 1 : 0;
}
