/* kv_server: a small Redis-protocol (RESP2) key-value server that redis-cli and redis-benchmark talk to.
 *
 *   kv_server [PORT] [--host HOST] [--duration SECONDS]
 *
 * Listens on 127.0.0.1:PORT (default 6379; 0 picks a free port). Commands:
 * PING, ECHO, GET, SET (EX, PX, NX, XX), DEL, EXISTS, INCR, EXPIRE, TTL, QUIT,
 * CONFIG GET (enough for redis-benchmark), others get Redis's error. Both
 * RESP arrays and inline commands are understood.
 *
 * Pipelining: every complete command in the read buffer is parsed in place
 * (no copy), executed, and its reply appended to one output buffer, which is
 * written once and drained once per batch. */
#include <aw.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_REQUEST (64u << 20)     /* the stream's buffer limit: the largest command */
#define MAX_BULK (512L << 20)
#define MAX_ARGS (1 << 20)
#define MAX_INLINE (64 * 1024)

/* ---- the store: a chained hash table, lazily expired ---- */

typedef struct entry {
    struct entry *next;
    uint64_t hash;
    int64_t expire_ms;          /* 0: none; else on the loop clock */
    size_t klen, vlen;
    char *val;
    char key[];
} entry;

typedef struct store {
    entry **b;
    size_t nb, n;
} store;

static store db;

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull ^ n;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static int64_t now_ms(void) { return (int64_t)(aw_now() * 1000.0); }

static void entry_free(entry *e)
{
    free(e->val);
    free(e);
}

static int store_grow(void)
{
    size_t nb = db.nb ? db.nb * 2 : 1024;
    entry **b = calloc(nb, sizeof *b);
    if (!b) return -ENOMEM;
    for (size_t i = 0; i < db.nb; i++) {
        for (entry *e = db.b[i], *next; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    }
    free(db.b);
    db.b = b;
    db.nb = nb;
    return 0;
}

/* The live entry for key (an expired one is removed), and the link to it. */
static entry *store_find(const char *k, size_t kl, entry ***linkp)
{
    if (!db.nb) return NULL;
    uint64_t h = hash_bytes(k, kl);
    entry **link = &db.b[h & (db.nb - 1)];
    for (entry *e; (e = *link); link = &e->next) {
        if (e->hash != h || e->klen != kl || memcmp(e->key, k, kl) != 0) continue;
        if (e->expire_ms && e->expire_ms <= now_ms()) {
            *link = e->next;
            entry_free(e);
            db.n--;
            return NULL;
        }
        if (linkp) *linkp = link;
        return e;
    }
    return NULL;
}

static bool store_del(const char *k, size_t kl)
{
    entry **link;
    entry *e = store_find(k, kl, &link);
    if (!e) return false;
    *link = e->next;
    entry_free(e);
    db.n--;
    return true;
}

/* Set key to a copy of v; keeps the entry (and its TTL unless reset) if present. */
static entry *store_set(const char *k, size_t kl, const char *v, size_t vl)
{
    char *copy = malloc(vl ? vl : 1);
    if (!copy) return NULL;
    memcpy(copy, v, vl);
    entry *e = store_find(k, kl, NULL);
    if (e) {
        free(e->val);
        e->val = copy;
        e->vlen = vl;
        return e;
    }
    if (db.n >= db.nb && store_grow() < 0) { free(copy); return NULL; }
    e = malloc(sizeof *e + kl);
    if (!e) { free(copy); return NULL; }
    e->hash = hash_bytes(k, kl);
    e->klen = kl;
    memcpy(e->key, k, kl);
    e->val = copy;
    e->vlen = vl;
    e->expire_ms = 0;
    e->next = db.b[e->hash & (db.nb - 1)];
    db.b[e->hash & (db.nb - 1)] = e;
    db.n++;
    return e;
}

/* A sweeper visits a few buckets every 100 ms so keys nobody reads again still expire. */
static int sweeper(void *arg, void **result)
{
    (void)arg; (void)result;
    size_t pos = 0;
    for (;;) {
        int rc = aw_sleep(0.1);
        if (rc < 0) return rc == AW_ECANCELLED ? 0 : rc;
        for (size_t i = 0; i < 256 && db.nb; i++, pos++) {
            entry **link = &db.b[pos & (db.nb - 1)];
            int64_t now = now_ms();
            for (entry *e; (e = *link);) {
                if (e->expire_ms && e->expire_ms <= now) {
                    *link = e->next;
                    entry_free(e);
                    db.n--;
                } else {
                    link = &e->next;
                }
            }
        }
    }
}

/* ---- replies ---- */

typedef struct out {
    char *p;
    size_t n, cap;
    bool oom;
} out;

static void out_put(out *o, const void *d, size_t n)
{
    if (o->n + n > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->n + n) cap *= 2;
        char *p = realloc(o->p, cap);
        if (!p) { o->oom = true; return; }
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->n, d, n);
    o->n += n;
}

#define OUT_LIT(o, s) out_put((o), (s), sizeof(s) - 1)

static void out_int(out *o, char type, long long v)
{
    char b[32];
    int n = snprintf(b, sizeof b, "%c%lld\r\n", type, v);
    out_put(o, b, (size_t)n);
}

static void out_bulk(out *o, const char *d, size_t n)
{
    out_int(o, '$', (long long)n);
    out_put(o, d, n);
    OUT_LIT(o, "\r\n");
}

static void out_err(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_err(out *o, const char *fmt, ...)
{
    char b[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b, sizeof b - 2, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n > sizeof b - 3) n = (int)sizeof b - 3;
    out_put(o, "-", 1);
    out_put(o, b, (size_t)n);
    OUT_LIT(o, "\r\n");
}

/* ---- commands ---- */

typedef struct arg { const char *p; size_t n; } arg;

static bool is(const arg *a, const char *name)
{
    size_t n = strlen(name);
    return a->n == n && strncasecmp(a->p, name, n) == 0;
}

/* Redis's integer syntax: optional '-', digits, no spaces, fits in 64 bits. */
static bool parse_ll(const char *p, size_t n, long long *v)
{
    if (n == 0 || n > 20) return false;
    size_t i = 0;
    bool neg = false;
    if (p[0] == '-') { neg = true; i = 1; if (n == 1) return false; }
    unsigned long long acc = 0;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return false;
        unsigned d = (unsigned)(p[i] - '0');
        if (acc > (ULLONG_MAX - d) / 10) return false;
        acc = acc * 10 + d;
    }
    if (neg) {
        if (acc > (unsigned long long)LLONG_MAX + 1) return false;
        *v = acc == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)acc;
    } else {
        if (acc > (unsigned long long)LLONG_MAX) return false;
        *v = (long long)acc;
    }
    return true;
}

static void wrong_args(out *o, const arg *cmd)
{
    char name[32];
    size_t n = cmd->n < sizeof name - 1 ? cmd->n : sizeof name - 1;
    for (size_t i = 0; i < n; i++) name[i] = (char)tolower((unsigned char)cmd->p[i]);
    name[n] = 0;
    out_err(o, "ERR wrong number of arguments for '%s' command", name);
}

/* Execute one command; returns false for QUIT. */
static bool execute(out *o, arg *a, size_t argc)
{
    const arg *cmd = &a[0];
    if (is(cmd, "GET")) {
        if (argc != 2) { wrong_args(o, cmd); return true; }
        entry *e = store_find(a[1].p, a[1].n, NULL);
        if (e) out_bulk(o, e->val, e->vlen);
        else OUT_LIT(o, "$-1\r\n");
    } else if (is(cmd, "SET")) {
        if (argc < 3) { wrong_args(o, cmd); return true; }
        bool nx = false, xx = false;
        int64_t expire = 0;
        for (size_t i = 3; i < argc; i++) {
            long long v;
            if (is(&a[i], "NX")) nx = true;
            else if (is(&a[i], "XX")) xx = true;
            else if ((is(&a[i], "EX") || is(&a[i], "PX")) && i + 1 < argc && !expire) {
                bool ex = is(&a[i], "EX");
                i++;
                if (!parse_ll(a[i].p, a[i].n, &v)) { out_err(o, "ERR value is not an integer or out of range"); return true; }
                if (v <= 0 || v > (ex ? LLONG_MAX / 1000 : LLONG_MAX) - now_ms() / (ex ? 1000 : 1)) {
                    out_err(o, "ERR invalid expire time in 'set' command");
                    return true;
                }
                expire = now_ms() + (ex ? v * 1000 : v);
            } else {
                out_err(o, "ERR syntax error");
                return true;
            }
        }
        if (nx && xx) { out_err(o, "ERR syntax error"); return true; }
        bool exists = store_find(a[1].p, a[1].n, NULL) != NULL;
        if ((nx && exists) || (xx && !exists)) { OUT_LIT(o, "$-1\r\n"); return true; }
        entry *e = store_set(a[1].p, a[1].n, a[2].p, a[2].n);
        if (!e) { out_err(o, "OOM command not allowed when used memory > 'maxmemory'."); return true; }
        e->expire_ms = expire;      /* plain SET clears a TTL, as in Redis */
        OUT_LIT(o, "+OK\r\n");
    } else if (is(cmd, "PING")) {
        if (argc > 2) wrong_args(o, cmd);
        else if (argc == 2) out_bulk(o, a[1].p, a[1].n);
        else OUT_LIT(o, "+PONG\r\n");
    } else if (is(cmd, "ECHO")) {
        if (argc != 2) wrong_args(o, cmd);
        else out_bulk(o, a[1].p, a[1].n);
    } else if (is(cmd, "DEL") || is(cmd, "EXISTS")) {
        if (argc < 2) { wrong_args(o, cmd); return true; }
        bool del = is(cmd, "DEL");
        long long n = 0;
        for (size_t i = 1; i < argc; i++)
            n += del ? store_del(a[i].p, a[i].n) : store_find(a[i].p, a[i].n, NULL) != NULL;
        out_int(o, ':', n);
    } else if (is(cmd, "INCR")) {
        if (argc != 2) { wrong_args(o, cmd); return true; }
        entry *e = store_find(a[1].p, a[1].n, NULL);
        long long v = 0;
        if (e && !parse_ll(e->val, e->vlen, &v)) { out_err(o, "ERR value is not an integer or out of range"); return true; }
        if (v == LLONG_MAX) { out_err(o, "ERR increment or decrement would overflow"); return true; }
        char b[24];
        int n = snprintf(b, sizeof b, "%lld", v + 1);
        int64_t keep = e ? e->expire_ms : 0;
        e = store_set(a[1].p, a[1].n, b, (size_t)n);
        if (!e) { out_err(o, "OOM command not allowed when used memory > 'maxmemory'."); return true; }
        e->expire_ms = keep;
        out_int(o, ':', v + 1);
    } else if (is(cmd, "EXPIRE")) {
        if (argc != 3) { wrong_args(o, cmd); return true; }
        long long v;
        if (!parse_ll(a[2].p, a[2].n, &v)) { out_err(o, "ERR value is not an integer or out of range"); return true; }
        entry *e = store_find(a[1].p, a[1].n, NULL);
        if (!e) { OUT_LIT(o, ":0\r\n"); return true; }
        if (v <= 0) store_del(a[1].p, a[1].n);
        else e->expire_ms = now_ms() + (v > LLONG_MAX / 2000 ? LLONG_MAX / 2 : v * 1000);
        OUT_LIT(o, ":1\r\n");
    } else if (is(cmd, "TTL")) {
        if (argc != 2) { wrong_args(o, cmd); return true; }
        entry *e = store_find(a[1].p, a[1].n, NULL);
        if (!e) OUT_LIT(o, ":-2\r\n");
        else if (!e->expire_ms) OUT_LIT(o, ":-1\r\n");
        else out_int(o, ':', (e->expire_ms - now_ms() + 500) / 1000);
    } else if (is(cmd, "QUIT")) {
        OUT_LIT(o, "+OK\r\n");
        return false;
    } else if (is(cmd, "CONFIG") && argc == 3 && is(&a[1], "GET")) {
        /* redis-benchmark asks for "save" and "appendonly" before it starts */
        if (is(&a[2], "save")) { OUT_LIT(o, "*2\r\n"); out_bulk(o, "save", 4); out_bulk(o, "", 0); }
        else if (is(&a[2], "appendonly")) { OUT_LIT(o, "*2\r\n"); out_bulk(o, "appendonly", 10); out_bulk(o, "no", 2); }
        else OUT_LIT(o, "*0\r\n");
    } else {
        char name[64], first[64];
        size_t n = cmd->n < 40 ? cmd->n : 40;
        memcpy(name, cmd->p, n);
        name[n] = 0;
        size_t pos = 0;
        first[0] = 0;
        for (size_t i = 1; i < argc && pos < 40; i++) {
            size_t k = a[i].n < 40 - pos ? a[i].n : 40 - pos;
            pos += (size_t)snprintf(first + pos, sizeof first - pos, "'%.*s' ", (int)k, a[i].p);
        }
        out_err(o, "ERR unknown command '%s', with args beginning with: %s", name, first);
    }
    return true;
}

/* ---- the protocol ---- */

enum { P_OK = 0, P_MORE = 1, P_ERR = 2 };

typedef struct conn {
    arg *args;
    size_t cap;
    char err[128];
} conn;

static int need_args(conn *c, size_t n)
{
    if (n <= c->cap) return 0;
    size_t cap = c->cap ? c->cap : 16;
    while (cap < n) cap *= 2;
    arg *a = realloc(c->args, cap * sizeof *a);
    if (!a) return -ENOMEM;
    c->args = a;
    c->cap = cap;
    return 0;
}

/* A CRLF-terminated number after the type byte at p. */
static int parse_num(const char *p, const char *end, long long *v, const char **next)
{
    const char *cr = memchr(p, '\r', (size_t)(end - p));
    if (!cr || cr + 1 >= end) return (end - p) > 32 ? P_ERR : P_MORE;
    if (cr[1] != '\n' || !parse_ll(p, (size_t)(cr - p), v)) return P_ERR;
    *next = cr + 2;
    return P_OK;
}

/* Parse one command at p..end: P_OK with *argc and *used, P_MORE, or P_ERR (c->err set). */
static int parse(conn *c, const char *p, const char *end, size_t *argc, size_t *used)
{
    const char *start = p;
    if (*p != '*') {
        /* an inline command: words up to the end of the line */
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            if (end - p > MAX_INLINE) { snprintf(c->err, sizeof c->err, "ERR Protocol error: too big inline request"); return P_ERR; }
            return P_MORE;
        }
        const char *le = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
        size_t n = 0;
        for (const char *q = p; q < le;) {
            while (q < le && (*q == ' ' || *q == '\t')) q++;
            if (q == le) break;
            const char *w = q;
            while (q < le && *q != ' ' && *q != '\t') q++;
            if (need_args(c, n + 1) < 0) { snprintf(c->err, sizeof c->err, "ERR out of memory"); return P_ERR; }
            c->args[n++] = (arg){ w, (size_t)(q - w) };
        }
        *argc = n;
        *used = (size_t)(nl + 1 - start);
        return P_OK;
    }
    long long n;
    int r = parse_num(p + 1, end, &n, &p);
    if (r == P_ERR) { snprintf(c->err, sizeof c->err, "ERR Protocol error: invalid multibulk length"); return P_ERR; }
    if (r == P_MORE) return P_MORE;
    if (n > MAX_ARGS) { snprintf(c->err, sizeof c->err, "ERR Protocol error: invalid multibulk length"); return P_ERR; }
    if (n <= 0) { *argc = 0; *used = (size_t)(p - start); return P_OK; }
    if (need_args(c, (size_t)n) < 0) { snprintf(c->err, sizeof c->err, "ERR out of memory"); return P_ERR; }
    for (long long i = 0; i < n; i++) {
        if (p >= end) return P_MORE;
        if (*p != '$') {
            snprintf(c->err, sizeof c->err, "ERR Protocol error: expected '$', got '%c'", *p);
            return P_ERR;
        }
        long long len;
        r = parse_num(p + 1, end, &len, &p);
        if (r == P_MORE) return P_MORE;
        if (r == P_ERR || len < 0 || len > MAX_BULK) {
            snprintf(c->err, sizeof c->err, "ERR Protocol error: invalid bulk length");
            return P_ERR;
        }
        if (end - p < len + 2) return P_MORE;
        if (p[len] != '\r' || p[len + 1] != '\n') {
            snprintf(c->err, sizeof c->err, "ERR Protocol error: invalid bulk format");
            return P_ERR;
        }
        c->args[i] = (arg){ p, (size_t)len };
        p += len + 2;
    }
    *argc = (size_t)n;
    *used = (size_t)(p - start);
    return P_OK;
}

static int flush(aw_stream *s, out *o)
{
    if (o->oom) return -ENOMEM;
    if (!o->n) return 0;
    int rc = aw_stream_write(s, o->p, o->n);
    o->n = 0;
    return rc < 0 ? rc : aw_stream_drain(s);
}

static int client(aw_stream *s, void *unused)
{
    (void)unused;
    conn c = { 0 };
    out o = { 0 };
    int rc = 0;
    bool quit = false;
    while (!quit) {
        /* every complete command in the buffer, in place */
        const char *buf;
        size_t have = aw_stream_peek(s, &buf), off = 0;
        while (off < have && !quit) {
            size_t argc, used;
            int r = parse(&c, buf + off, buf + have, &argc, &used);
            if (r == P_MORE) break;
            if (r == P_ERR) {
                out_err(&o, "%s", c.err);
                quit = true;    /* Redis closes the connection after a protocol error */
                break;
            }
            off += used;
            if (argc > 0) quit = !execute(&o, c.args, argc);
            if (o.n >= 65536) {
                /* a large reply: send it before going on (the buffer stays valid:
                 * writing does not touch it) */
                rc = flush(s, &o);
                if (rc < 0) goto out;
            }
        }
        aw_stream_consume(s, off);
        rc = flush(s, &o);
        if (rc < 0 || quit) break;
        size_t added;
        rc = aw_stream_fill(s, &added);
        if (rc == AW_ELIMIT) {
            out_err(&o, "ERR Protocol error: request larger than %u bytes", MAX_REQUEST);
            flush(s, &o);
            break;
        }
        if (rc < 0 || added == 0) break;
    }
out:
    free(c.args);
    free(o.p);
    /* a client that disconnects is not an error */
    if (rc == -ECONNRESET || rc == -EPIPE || rc == AW_ELIMIT) rc = 0;
    return rc;
}

typedef struct opts {
    const char *host;
    int port;
    double duration;
} opts;

static int serve(void *arg, void **result)
{
    (void)result;
    opts *o = arg;
    aw_server_opts so = { .stream = { .limit = MAX_REQUEST } };
    aw_server *srv;
    int rc = aw_start_server(o->host, o->port, client, NULL, &so, &srv);
    if (rc < 0) {
        fprintf(stderr, "kv_server: cannot listen on %s:%d: %s\n", o->host, o->port, aw_strerror(rc));
        return rc;
    }
    aw_task *sw = aw_create_task(aw_coro(sweeper, NULL), "sweeper");
    printf("listening on %s:%d\n", o->host, aw_server_port(srv));
    fflush(stdout);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    aw_scope sc;
    aw_scope_begin(&sc);
    if (o->duration > 0) aw_scope_set_deadline(&sc, aw_now() + o->duration);
    int signo;
    rc = aw_signal_wait(&set, &signo);
    if (aw_scope_end(&sc) == AW_ETIMEDOUT) rc = 0;
    aw_server_close(srv);
    aw_server_abort_clients(srv);
    aw_server_release(srv);
    if (sw) {
        aw_task_cancel(sw, NULL);
        aw_join(sw, NULL);
    }
    for (size_t i = 0; i < db.nb; i++) {
        for (entry *e = db.b[i], *next; e; e = next) {
            next = e->next;
            entry_free(e);
        }
    }
    free(db.b);
    return rc == AW_ECANCELLED ? 0 : rc;
}

int main(int argc, char **argv)
{
    opts o = { .host = "127.0.0.1", .port = 6379, .duration = 0 };
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--host") && i + 1 < argc) o.host = argv[++i];
        else if (!strcmp(argv[i], "--duration") && i + 1 < argc) o.duration = atof(argv[++i]);
        else if (argv[i][0] != '-') o.port = atoi(argv[i]);
        else {
            fprintf(stderr, "usage: kv_server [PORT] [--host HOST] [--duration SECONDS]\n");
            return 2;
        }
    }
    int rc = aw_run(aw_coro(serve, &o), NULL);
    return rc < 0 ? 1 : 0;
}
