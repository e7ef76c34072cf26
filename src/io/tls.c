/* TLS: OpenSSL under a stream, so every stream call works the same on an encrypted connection. */
#include "internal.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <sys/un.h>
#include <unistd.h>

/*
 * The stream stays what it is (a read buffer filled on demand, a write queue
 * sent by the flusher); TLS replaces only its three raw operations: one read,
 * one write, and the close_notify before the write side shuts. stream.c calls
 * aw__tls_read/aw__tls_writev/aw__tls_close_notify where it would call
 * read(2)/send(2)/shutdown(2) when s->tls is set.
 *
 * OpenSSL runs non-blocking on a BIO of our own that reads and writes the
 * stream's fds: SSL_ERROR_WANT_READ/WANT_WRITE always means the system call
 * said EAGAIN, which is exactly when edge-triggered epoll may be waited on.
 * The BIO sends with MSG_NOSIGNAL (OpenSSL's socket BIO would raise SIGPIPE),
 * hands out first the bytes a plain stream had buffered before STARTTLS, and
 * remembers a short read, so that the next read can wait for readiness
 * without a system call that would only say EAGAIN (the stream's own trick,
 * guarded by SSL_has_pending for records OpenSSL already holds).
 *
 * One SSL object serves the reading task and the flusher, interleaved but
 * never at once (one thread). Writes use partial-write mode with a moving
 * buffer: after WANT_WRITE OpenSSL keeps the record it built and wants the
 * same bytes again, and the stream's queue starts with exactly those bytes
 * (it only ever grows at the end), wherever the queue lives by then.
 *
 * Each SSL call starts with an empty error queue and leaves one: the queue is
 * per thread, and a stale entry would be read as the next connection's error.
 *
 * A config is an SSL_CTX plus what aw adds (verify mode, hostname check, SNI
 * name, ALPN, timeouts, the client session cache). It freezes at first use,
 * because OpenSSL does not allow an SSL_CTX to change while connections use it.
 */

#if AW_HAVE_OPENSSL

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define DEFAULT_HANDSHAKE_TIMEOUT 60.0
#define DEFAULT_SHUTDOWN_TIMEOUT  30.0
#define COALESCE_MAX 16384      /* writelines joins up to this much into one record */

enum { HS_NONE = 0, HS_RUNNING = 1, HS_DONE = 2, HS_FAILED = 3 };

typedef struct cache_entry {
    char *key;                  /* peer address and server name */
    SSL_SESSION *sess;
    uint64_t used;
} cache_entry;

struct aw_tls_config {
    atomic_uint refs;
    int role;
    SSL_CTX *ctx;
    atomic_bool frozen;
    pthread_mutex_t mu;         /* freezing and the session cache */
    bool ca_set, cert_set;
    int verify;
    bool check_hostname;
    char *server_name;
    unsigned char *alpn;        /* wire format: length-prefixed names */
    size_t alpn_len;
    double handshake_timeout, shutdown_timeout;
    cache_entry *cache;
    size_t cache_max, cache_n;
    uint64_t cache_clock;
    char err[256];              /* the last setter's failure */
};

struct aw__tls {
    aw_stream *s;
    aw_tls_config *cfg;
    SSL *ssl;
    uint8_t state;              /* HS_* */
    uint8_t wdir;               /* what the last write that could not go on waits for: 0 the
                                   handshake, 1 input, 2 room in the socket */
    bool server;
    bool r_drained;             /* the BIO's last read was short: the kernel's buffer was empty */
    bool eof;                   /* the BIO read end of file */
    bool fatal;                 /* OpenSSL failed: no close_notify may follow */
    bool notify_sent;           /* close_notify written (or moot) */
    bool notify_received;       /* the peer's close_notify was read */
    int sys_err;                /* errno of the BIO's last failed system call */
    int hs_err;                 /* why the handshake failed */
    double close_deadline;      /* the shutdown timeout's end, once closing was seen (0: not yet) */
    char *pre;                  /* bytes read in plain mode before the upgrade */
    size_t pre_off, pre_len;
    aw__node hs_waiters;        /* aw__waiter: a flusher waiting for the handshake */
    char *name;                 /* client: the name verified */
    char *cache_key;            /* client with a session cache */
};

/* ---- small helpers ---- */

static void wake_list(aw__node *list, int err)
{
    aw__node *n;
    while ((n = aw__list_pop(list))) aw__task_wake(AW__CONTAINER(n, aw__waiter, node)->task, err);
}

static bool list_unpark(aw_task *t, void *ctx)
{
    (void)t;
    aw__waiter *w = ctx;
    if (aw__node_linked(&w->node)) aw__list_remove(&w->node);
    return true;
}

static bool is_ip_literal(const char *name)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

/* Park on fd. Only one task may wait per direction: the rare TLS wait in the
 * other direction (a read that must write a key update, a write that must
 * read) finds the slot taken by the stream's reader or flusher; it then polls
 * with short sleeps, since that other task will move the connection on. */
static int wait_fd(aw_task *t, int fd, int dir, const char *file, int line)
{
    int rc = aw__fd_wait(t, fd, dir, file, line);
    if (rc == AW_EBUSY) rc = aw__sleep(0.001, file, line);
    return rc;
}

/* Before an SSL call: the queue is normally empty already (every path below
 * leaves it so), and looking is cheaper than clearing its sixteen slots. */
static inline void errors_reset(void)
{
    if (ERR_peek_error()) ERR_clear_error();
}

static inline bool fd_ready(aw_loop *loop, int fd)
{
    return (size_t)fd < loop->nfds && (loop->fds[fd].ready & (1 | AW__FD_HUP));
}

/* ---- the BIO: OpenSSL's transport is the stream's fds ---- */

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static int bio_write(BIO *b, const char *buf, int len)
{
    struct aw__tls *x = BIO_get_data(b);
    aw_stream *s = x->s;
    BIO_clear_retry_flags(b);
    if (s->wfd < 0) {
        x->sys_err = EBADF;
        return -1;
    }
    for (;;) {
        ssize_t r = aw__stream_raw_write(s, buf, (size_t)len);
        if (r >= 0) return (int)r;
        if (errno == EINTR) continue;
        x->sys_err = errno;
        if (errno == EAGAIN) BIO_set_retry_write(b);
        return -1;
    }
}

/* The kernel's buffer is empty as of now; no poll ran since the read, so
 * clearing the readiness bit loses no event. */
static void bio_mark_drained(struct aw__tls *x, int fd)
{
    aw_loop *loop = aw__loop();
    x->r_drained = true;
    if (loop && (size_t)fd < loop->nfds) loop->fds[fd].ready &= (uint8_t)~1;
}

static int bio_read(BIO *b, char *buf, int len)
{
    struct aw__tls *x = BIO_get_data(b);
    aw_stream *s = x->s;
    BIO_clear_retry_flags(b);
    if (len <= 0) return 0;
    if (x->pre) {
        size_t k = x->pre_len - x->pre_off;
        if (k > (size_t)len) k = (size_t)len;
        memcpy(buf, x->pre + x->pre_off, k);
        x->pre_off += k;
        if (x->pre_off == x->pre_len) {
            aw__free(x->pre);
            x->pre = NULL;
        }
        return (int)k;
    }
    if (s->rfd < 0) {
        x->sys_err = EBADF;
        return -1;
    }
    for (;;) {
        ssize_t r = s->is_sock ? recv(s->rfd, buf, (size_t)len, 0) : read(s->rfd, buf, (size_t)len);
        if (r > 0) {
            if (r < len) bio_mark_drained(x, s->rfd);
            return (int)r;
        }
        if (r == 0) {
            x->eof = true;
            return 0;
        }
        if (errno == EINTR) continue;
        x->sys_err = errno;
        if (errno == EAGAIN) {
            bio_mark_drained(x, s->rfd);
            BIO_set_retry_read(b);
        }
        return -1;
    }
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num; (void)ptr;
    struct aw__tls *x = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH: return 1;
    case BIO_CTRL_EOF: return x && x->eof;
    case BIO_CTRL_PENDING: return x && x->pre ? (long)(x->pre_len - x->pre_off) : 0;
    default: return 0;
    }
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void bio_method_init(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "aw stream");
    if (!m) return;
    BIO_meth_set_write(m, bio_write);
    BIO_meth_set_read(m, bio_read);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_create(m, bio_create);
    bio_method = m;
}

/* ---- errors ---- */

/* OpenSSL's reason for the oldest error in the queue; empties the queue. */
static void ssl_reason(char *buf, size_t size, unsigned long *code)
{
    unsigned long e = ERR_get_error();
    if (code) *code = e;
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    if (r) snprintf(buf, size, "%s", r);
    else if (e) ERR_error_string_n(e, buf, size);
    else snprintf(buf, size, "unknown error");
    ERR_clear_error();
}

static bool unexpected_eof(struct aw__tls *x, int sslerr)
{
    if (sslerr == SSL_ERROR_SYSCALL && x->sys_err == 0) return true;     /* OpenSSL 1.1 */
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
    if (sslerr == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        return true;
#endif
    return false;
}

/* A failed SSL call (not WANT_*) as an aw error, with a message through aw_raise. */
static int ssl_fail(struct aw__tls *x, int sslerr, bool handshake, const char *file, int line)
{
    x->fatal = true;
    if (unexpected_eof(x, sslerr)) {
        ERR_clear_error();
        return aw__raise(-ECONNRESET, file, line, __func__, handshake
                         ? "the peer closed the connection during the TLS handshake"
                         : "the peer closed the connection in the middle of a TLS record");
    }
    if (sslerr == SSL_ERROR_SYSCALL) {
        ERR_clear_error();
        int e = x->sys_err ? x->sys_err : EIO;
        return aw__raise(-e, file, line, __func__, "%s", strerror(e));
    }
    char why[200];
    unsigned long code;
    ssl_reason(why, sizeof why, &code);
    long v = SSL_get_verify_result(x->ssl);
    if (ERR_GET_REASON(code) == SSL_R_CERTIFICATE_VERIFY_FAILED && v != X509_V_OK) {
        if (v == X509_V_ERR_HOSTNAME_MISMATCH)
            return aw__raise(AW_ETLSVERIFY, file, line, __func__,
                             "certificate verify failed: Hostname mismatch, certificate is not valid for '%s'",
                             x->name ? x->name : "");
        if (v == X509_V_ERR_IP_ADDRESS_MISMATCH)
            return aw__raise(AW_ETLSVERIFY, file, line, __func__,
                             "certificate verify failed: IP address mismatch, certificate is not valid for '%s'",
                             x->name ? x->name : "");
        return aw__raise(AW_ETLSVERIFY, file, line, __func__, "certificate verify failed: %s",
                         X509_verify_cert_error_string(v));
    }
    return aw__raise(AW_ETLS, file, line, __func__, "%s", why);
}

/* ---- configs ---- */

static int cfg_fail(aw_tls_config *c, int err, const char *fmt, ...) AW__PRINTF(3, 4);
static int cfg_fail(aw_tls_config *c, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    ERR_clear_error();
    return aw_raise(err, "%s", c->err);
}

/* Setters work until the config is first used. */
static int cfg_settable(aw_tls_config *c)
{
    if (!c) return -EINVAL;
    if (atomic_load_explicit(&c->frozen, memory_order_acquire))
        return cfg_fail(c, AW_EINVALSTATE, "the TLS configuration is in use and can no longer change");
    ERR_clear_error();
    return 0;
}

bool aw_tls_available(void) { return true; }

static void apply_verify(aw_tls_config *c)
{
    int mode = SSL_VERIFY_NONE;
    if (c->verify != AW_TLS_VERIFY_NONE) mode = SSL_VERIFY_PEER;
    if (c->role == AW_TLS_SERVER && c->verify == AW_TLS_VERIFY_REQUIRED) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(c->ctx, mode, NULL);
}

aw_tls_config *aw_tls_config_new(int role)
{
    if (role != AW_TLS_CLIENT && role != AW_TLS_SERVER) {
        errno = EINVAL;
        return NULL;
    }
    pthread_once(&bio_once, bio_method_init);
    if (!bio_method) {
        errno = ENOMEM;
        return NULL;
    }
    aw_tls_config *c = aw__calloc(1, sizeof *c);
    if (!c) {
        errno = ENOMEM;
        return NULL;
    }
    ERR_clear_error();
    c->ctx = SSL_CTX_new(role == AW_TLS_SERVER ? TLS_server_method() : TLS_client_method());
    if (!c->ctx) {
        ERR_clear_error();
        aw__free(c);
        errno = ENOMEM;
        return NULL;
    }
    atomic_init(&c->refs, 1);
    atomic_init(&c->frozen, false);
    pthread_mutex_init(&c->mu, NULL);
    c->role = role;
    c->verify = role == AW_TLS_CLIENT ? AW_TLS_VERIFY_REQUIRED : AW_TLS_VERIFY_NONE;
    c->check_hostname = role == AW_TLS_CLIENT;
    c->handshake_timeout = DEFAULT_HANDSHAKE_TIMEOUT;
    c->shutdown_timeout = DEFAULT_SHUTDOWN_TIMEOUT;
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(c->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    long opts = SSL_OP_NO_COMPRESSION;
#ifdef SSL_OP_NO_RENEGOTIATION
    opts |= SSL_OP_NO_RENEGOTIATION;
#endif
    SSL_CTX_set_options(c->ctx, opts);
    /* Read whole socket buffers, not a record header and then its body. */
    SSL_CTX_set_read_ahead(c->ctx, 1);
    /* Sessions resumed by a server that verifies clients need an id context. */
    SSL_CTX_set_session_id_context(c->ctx, (const unsigned char *)"aw", 2);
    apply_verify(c);
    ERR_clear_error();
    return c;
}

aw_tls_config *aw_tls_config_ref(aw_tls_config *c)
{
    if (c) atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

void aw_tls_config_free(aw_tls_config *c)
{
    if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1) return;
    for (size_t i = 0; i < c->cache_n; i++) {
        SSL_SESSION_free(c->cache[i].sess);
        aw__free(c->cache[i].key);
    }
    aw__free(c->cache);
    SSL_CTX_free(c->ctx);
    aw__free(c->server_name);
    aw__free(c->alpn);
    pthread_mutex_destroy(&c->mu);
    aw__free(c);
}

const char *aw_tls_config_error(const aw_tls_config *c)
{
    return c ? c->err : "";
}

int aw_tls_config_set_ca(aw_tls_config *c, const char *cafile, const char *capath)
{
    int rc = cfg_settable(c);
    if (rc < 0) return rc;
    if (!cafile && !capath) return cfg_fail(c, -EINVAL, "a CA file or directory is needed");
    if (cafile && access(cafile, R_OK) < 0)
        return cfg_fail(c, -errno, "cannot read CA file '%s': %s", cafile, strerror(errno));
    if (capath && access(capath, R_OK | X_OK) < 0)
        return cfg_fail(c, -errno, "cannot read CA directory '%s': %s", capath, strerror(errno));
    if (SSL_CTX_load_verify_locations(c->ctx, cafile, capath) != 1) {
        char why[200];
        ssl_reason(why, sizeof why, NULL);
        return cfg_fail(c, AW_ETLS, "cannot load CAs from '%s': %s", cafile ? cafile : capath, why);
    }
    c->ca_set = true;
    return 0;
}

int aw_tls_config_load_default_ca(aw_tls_config *c)
{
    int rc = cfg_settable(c);
    if (rc < 0) return rc;
    if (SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
        char why[200];
        ssl_reason(why, sizeof why, NULL);
        return cfg_fail(c, AW_ETLS, "cannot load the default CAs: %s", why);
    }
    c->ca_set = true;
    return 0;
}

int aw_tls_config_set_cert(aw_tls_config *c, const char *chain_file, const char *key_file)
{
    int rc = cfg_settable(c);
    if (rc < 0) return rc;
    if (!chain_file) return cfg_fail(c, -EINVAL, "a certificate chain file is needed");
    if (!key_file) key_file = chain_file;
    if (access(chain_file, R_OK) < 0)
        return cfg_fail(c, -errno, "cannot read certificate file '%s': %s", chain_file, strerror(errno));
    if (access(key_file, R_OK) < 0)
        return cfg_fail(c, -errno, "cannot read key file '%s': %s", key_file, strerror(errno));
    char why[200];
    if (SSL_CTX_use_certificate_chain_file(c->ctx, chain_file) != 1) {
        ssl_reason(why, sizeof why, NULL);
        return cfg_fail(c, AW_ETLS, "cannot load certificate chain '%s': %s", chain_file, why);
    }
    if (SSL_CTX_use_PrivateKey_file(c->ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        ssl_reason(why, sizeof why, NULL);
        return cfg_fail(c, AW_ETLS, "cannot load private key '%s': %s", key_file, why);
    }
    if (SSL_CTX_check_private_key(c->ctx) != 1) {
        ssl_reason(why, sizeof why, NULL);
        return cfg_fail(c, AW_ETLS, "the private key does not match the certificate: %s", why);
    }
    c->cert_set = true;
    return 0;
}

int aw_tls_config_set_verify(aw_tls_config *c, int mode)
{
    int rc = cfg_settable(c);
    if (rc < 0) return rc;
    if (mode != AW_TLS_VERIFY_NONE && mode != AW_TLS_VERIFY_OPTIONAL && mode != AW_TLS_VERIFY_REQUIRED)
        return cfg_fail(c, -EINVAL, "unknown verify mode %d", mode);
    c->verify = mode;
    apply_verify(c);
    return 0;
}

int aw_tls_config_set_check_hostname(aw_tls_config *c, bool on)
{
    int rc = cfg_settable(c);
    if (rc < 0) return rc;
    c->check_hostname = on;
    return 0;
}

int aw_tls_config_set_server_name(aw_tls_config *c, const char *name)
{
    int rc = cfg_settable(c);
    if (rc < 0) return rc;
    char *copy = NULL;
    if (name && *name) {
        if (strlen(name) > 253) return cfg_fail(c, -EINVAL, "server name longer than 253 bytes");
        if (!(copy = aw__strdup(name))) return -ENOMEM;
    }
    aw__free(c->server_name);
    c->server_name = copy;
    return 0;
}

/* Server: the first of our protocols that the client offers; none without overlap. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    aw_tls_config *c = arg;
    for (size_t i = 0; i < c->alpn_len; i += 1u + c->alpn[i]) {
        const unsigned char *ours = c->alpn + i;
        for (unsigned j = 0; j < inlen; j += 1u + in[j]) {
            if (j + 1u + in[j] > inlen) break;
            if (in[j] == ours[0] && !memcmp(in + j + 1, ours + 1, ours[0])) {
                *out = in + j + 1;
                *outlen = in[j];
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return SSL_TLSEXT_ERR_NOACK;
}

int aw_tls_config_set_alpn(aw_tls_config *c, const char *const *protos, size_t n)
{
    int rc = cfg_settable(c);
    if (rc < 0) return rc;
    if (n && !protos) return cfg_fail(c, -EINVAL, "no protocol list");
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = protos[i] ? strlen(protos[i]) : 0;
        if (l == 0 || l > 255) return cfg_fail(c, -EINVAL, "an ALPN protocol name has 1 to 255 bytes");
        len += 1 + l;
    }
    if (len > 65535) return cfg_fail(c, -EINVAL, "ALPN list too long");
    unsigned char *wire = NULL;
    if (len) {
        if (!(wire = aw__malloc(len))) return -ENOMEM;
        size_t off = 0;
        for (size_t i = 0; i < n; i++) {
            size_t l = strlen(protos[i]);
            wire[off++] = (unsigned char)l;
            memcpy(wire + off, protos[i], l);
            off += l;
        }
    }
    if (c->role == AW_TLS_CLIENT) {
        /* SSL_CTX_set_alpn_protos returns 0 on success */
        if (SSL_CTX_set_alpn_protos(c->ctx, wire, (unsigned)len) != 0) {
            aw__free(wire);
            return cfg_fail(c, -ENOMEM, "cannot set the ALPN list");
        }
    } else {
        SSL_CTX_set_alpn_select_cb(c->ctx, len ? alpn_select : NULL, c);
    }
    aw__free(c->alpn);
    c->alpn = wire;
    c->alpn_len = len;
    return 0;
}

int aw_tls_config_set_min_version(aw_tls_config *c, int version)
{
    int rc = cfg_settable(c);
    if (rc < 0) return rc;
    if (version != AW_TLS_1_2 && version != AW_TLS_1_3)
        return cfg_fail(c, -EINVAL, "the minimum version is AW_TLS_1_2 or AW_TLS_1_3");
    SSL_CTX_set_min_proto_version(c->ctx, version == AW_TLS_1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
    return 0;
}

/* A client's new session (at the end of a TLS 1.2 handshake, or a TLS 1.3
 * ticket read later): keep it for the peer, in place of an older one. Returns
 * 1 when the cache keeps the reference OpenSSL hands over. */
static int session_new(SSL *ssl, SSL_SESSION *sess)
{
    struct aw__tls *x = SSL_get_app_data(ssl);
    if (!x || !x->cache_key || !SSL_SESSION_is_resumable(sess)) return 0;
    aw_tls_config *c = x->cfg;
    int kept = 0;
    pthread_mutex_lock(&c->mu);
    cache_entry *e = NULL;
    for (size_t i = 0; i < c->cache_n && !e; i++)
        if (!strcmp(c->cache[i].key, x->cache_key)) e = &c->cache[i];
    if (!e && c->cache_n < c->cache_max) {
        char *key = aw__strdup(x->cache_key);
        if (key) {
            e = &c->cache[c->cache_n++];
            e->key = key;
            e->sess = NULL;
        }
    } else if (!e && c->cache_n) {
        /* full: replace the least recently used */
        e = &c->cache[0];
        for (size_t i = 1; i < c->cache_n; i++) if (c->cache[i].used < e->used) e = &c->cache[i];
        char *key = aw__strdup(x->cache_key);
        if (key) {
            aw__free(e->key);
            e->key = key;
        } else {
            e = NULL;
        }
    }
    if (e) {
        if (e->sess) SSL_SESSION_free(e->sess);
        e->sess = sess;
        e->used = ++c->cache_clock;
        kept = 1;
    }
    pthread_mutex_unlock(&c->mu);
    return kept;
}

int aw_tls_config_set_session_cache(aw_tls_config *c, size_t max_entries)
{
    int rc = cfg_settable(c);
    if (rc < 0) return rc;
    if (c->role != AW_TLS_CLIENT)
        return cfg_fail(c, -EINVAL, "the session cache is for clients (servers resume through tickets by themselves)");
    if (max_entries > 65536) return cfg_fail(c, -EINVAL, "at most 65536 cached sessions");
    cache_entry *v = NULL;
    if (max_entries && !(v = aw__calloc(max_entries, sizeof *v))) return -ENOMEM;
    for (size_t i = 0; i < c->cache_n; i++) {
        SSL_SESSION_free(c->cache[i].sess);
        aw__free(c->cache[i].key);
    }
    aw__free(c->cache);
    c->cache = v;
    c->cache_max = max_entries;
    c->cache_n = 0;
    if (max_entries) {
        SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(c->ctx, session_new);
    } else {
        SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_sess_set_new_cb(c->ctx, NULL);
    }
    return 0;
}

int aw_tls_config_set_timeouts(aw_tls_config *c, double handshake, double shutdown)
{
    int rc = cfg_settable(c);
    if (rc < 0) return rc;
    if (!(handshake > 0) || !(shutdown > 0)) return cfg_fail(c, -EINVAL, "timeouts must be > 0");
    c->handshake_timeout = handshake;
    c->shutdown_timeout = shutdown;
    return 0;
}

int aw__tls_config_check(aw_tls_config *c, int role)
{
    if (!c) return -EINVAL;
    if (c->role != role)
        return aw_raise(-EINVAL, role == AW_TLS_SERVER ? "a server needs a server TLS configuration"
                                                       : "a client needs a client TLS configuration");
    if (atomic_load_explicit(&c->frozen, memory_order_acquire)) return 0;
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    if (!atomic_load_explicit(&c->frozen, memory_order_relaxed)) {
        ERR_clear_error();
        if (role == AW_TLS_SERVER && !c->cert_set) {
            rc = aw_raise(-EINVAL, "a server TLS configuration needs a certificate (aw_tls_config_set_cert)");
        } else if (role == AW_TLS_CLIENT && c->verify != AW_TLS_VERIFY_NONE && !c->ca_set) {
            if (SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
                char why[200];
                ssl_reason(why, sizeof why, NULL);
                rc = aw_raise(AW_ETLS, "cannot load the default CAs: %s", why);
            } else {
                c->ca_set = true;
            }
        }
        if (rc == 0) atomic_store_explicit(&c->frozen, true, memory_order_release);
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* ---- a stream's TLS state ---- */

static int cache_key(aw_stream *s, const char *name, char **out)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char addr[INET6_ADDRSTRLEN + 8 + sizeof(((struct sockaddr_un *)0)->sun_path)];
    addr[0] = 0;
    if (getpeername(s->rfd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)(void *)&ss;
            char ip[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
            snprintf(addr, sizeof addr, "%s:%u", ip, ntohs(a->sin_port));
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)(void *)&ss;
            char ip[INET6_ADDRSTRLEN];
            inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
            snprintf(addr, sizeof addr, "[%s]:%u", ip, ntohs(a->sin6_port));
        } else if (ss.ss_family == AF_UNIX) {
            struct sockaddr_un *a = (struct sockaddr_un *)(void *)&ss;
            snprintf(addr, sizeof addr, "%.*s", (int)sizeof a->sun_path, a->sun_path);
        }
    }
    size_t n = strlen(addr) + 1 + (name ? strlen(name) : 0) + 1;
    char *k = aw__malloc(n);
    if (!k) return -ENOMEM;
    snprintf(k, n, "%s/%s", addr, name ? name : "");
    *out = k;
    return 0;
}

/* Put TLS under s in role server or client (name: what a client verifies). */
static int tls_attach(aw_stream *s, aw_tls_config *c, bool server, const char *name)
{
    if (!name || !*name) name = NULL;
    if (!server && !name && c->verify != AW_TLS_VERIFY_NONE && c->check_hostname)
        return aw_raise(-EINVAL, "a server name is needed to check the certificate against "
                                 "(aw_tls_config_set_server_name, or server_hostname)");
    struct aw__tls *x = aw__calloc(1, sizeof *x);
    if (!x) return -ENOMEM;
    x->s = s;
    x->server = server;
    aw__list_init(&x->hs_waiters);
    int rc = -ENOMEM;
    if (name && !(x->name = aw__strdup(name))) goto out_free;
    if (!server && c->cache_max && cache_key(s, name, &x->cache_key) < 0) goto out_free;
    ERR_clear_error();
    x->ssl = SSL_new(c->ctx);
    BIO *b = x->ssl ? BIO_new(bio_method) : NULL;
    if (!b) {
        ERR_clear_error();
        goto out_free;
    }
    BIO_set_data(b, x);
    SSL_set_bio(x->ssl, b, b);
    SSL_set_app_data(x->ssl, x);
    x->cfg = aw_tls_config_ref(c);
    if (server) {
        SSL_set_accept_state(x->ssl);
    } else {
        SSL_set_connect_state(x->ssl);
        bool ip = name && is_ip_literal(name);
        rc = AW_ETLS;
        if (name && !ip && SSL_set_tlsext_host_name(x->ssl, name) != 1) goto out_free;
        if (name && c->verify != AW_TLS_VERIFY_NONE && c->check_hostname) {
            X509_VERIFY_PARAM *p = SSL_get0_param(x->ssl);
            if (ip) {
                if (X509_VERIFY_PARAM_set1_ip_asc(p, name) != 1) goto out_free;
            } else {
                X509_VERIFY_PARAM_set_hostflags(p, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
                if (X509_VERIFY_PARAM_set1_host(p, name, 0) != 1) goto out_free;
            }
        }
        if (x->cache_key) {
            pthread_mutex_lock(&c->mu);
            for (size_t i = 0; i < c->cache_n; i++) {
                if (strcmp(c->cache[i].key, x->cache_key)) continue;
                SSL_set_session(x->ssl, c->cache[i].sess);
                c->cache[i].used = ++c->cache_clock;
                break;
            }
            pthread_mutex_unlock(&c->mu);
        }
    }
    ERR_clear_error();
    /* A plain stream may have read past its last plain message (a ClientHello
     * pipelined after STARTTLS): TLS reads those bytes first. */
    size_t have = s->rend - s->rstart;
    if (have) {
        rc = -ENOMEM;
        if (!(x->pre = aw__malloc(have))) goto out_free;
        memcpy(x->pre, s->rbuf + s->rstart, have);
        x->pre_len = have;
        s->rstart = s->rend = 0;
    }
    s->tls = x;
    return 0;
out_free:
    ERR_clear_error();
    if (x->ssl) SSL_free(x->ssl);
    if (x->cfg) aw_tls_config_free(x->cfg);
    aw__free(x->cache_key);
    aw__free(x->name);
    aw__free(x);
    return rc;
}

void aw__tls_free(aw_stream *s)
{
    struct aw__tls *x = s->tls;
    s->tls = NULL;
    SSL_free(x->ssl);           /* and the BIO */
    ERR_clear_error();
    aw_tls_config_free(x->cfg);
    aw__free(x->pre);
    aw__free(x->name);
    aw__free(x->cache_key);
    aw__free(x);
}

/* ---- the handshake ---- */

static int handshake(aw_stream *s, aw_task *t, const char *file, int line)
{
    struct aw__tls *x = s->tls;
    double timeout = x->cfg->handshake_timeout;
    aw_scope sc;
    aw__scope_begin(&sc, 0, file, line);
    if (!isinf(timeout)) aw_scope_set_deadline(&sc, aw__now(t->loop) + timeout);
    x->state = HS_RUNNING;
    int rc;
    for (;;) {
        if (s->closing || s->rfd < 0 || s->wfd < 0) {
            rc = -EBADF;
            break;
        }
        ERR_clear_error();
        x->sys_err = 0;
        int r = SSL_do_handshake(x->ssl);
        if (r == 1) {
            rc = 0;
            break;
        }
        int e = SSL_get_error(x->ssl, r);
        if (e == SSL_ERROR_WANT_READ) {
            ERR_clear_error();
            rc = aw__fd_wait(t, s->rfd, 1, file, line);
            x->r_drained = false;
        } else if (e == SSL_ERROR_WANT_WRITE) {
            ERR_clear_error();
            rc = aw__fd_wait(t, s->wfd, 2, file, line);
        } else {
            rc = ssl_fail(x, e, true, file, line);
            break;
        }
        if (rc < 0) break;
    }
    if (aw_scope_end(&sc) == AW_ETIMEDOUT)
        rc = aw__raise(AW_ETIMEDOUT, file, line, __func__,
                       "SSL handshake is taking longer than %g seconds: aborting the connection", timeout);
    x->state = rc == 0 ? HS_DONE : HS_FAILED;
    x->hs_err = rc;
    if (rc < 0) x->fatal = true;
    wake_list(&x->hs_waiters, 0);
    return rc;
}

/* Run the handshake as the stream's reader, so no other task reads meanwhile. */
static int handshake_as_reader(aw_stream *s, aw_task *t, const char *file, int line)
{
    s->reader = t;
    s->refs++;
    int rc = handshake(s, t, file, line);
    s->reader = NULL;
    aw__stream_unref(s);
    return rc;
}

int aw__tls_client_start(aw_stream *s, aw_tls_config *c, const char *host, const char *file, int line)
{
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if ((rc = aw__tls_config_check(c, AW_TLS_CLIENT)) < 0) return rc;
    if ((rc = tls_attach(s, c, false, c->server_name ? c->server_name : host)) < 0) return rc;
    return handshake_as_reader(s, t, file, line);
}

int aw__tls_server_start(aw_stream *s, aw_tls_config *c, const char *file, int line)
{
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    rc = tls_attach(s, c, true, NULL);
    if (rc == 0) rc = handshake_as_reader(s, t, file, line);
    /* asyncio logs failed server handshakes only in debug mode: a port scanner
     * or a client that gives up is not the server's error */
    if (rc < 0 && rc != AW_ECANCELLED && t->loop->debug) {
        bool own = t->err_code == rc && t->err_msg;
        aw__loop_report(t->loop, "SSL handshake failed", rc, t, own ? t->err_msg : NULL,
                        own ? t->err_file : file, own ? t->err_line : line, own ? t->err_func : NULL);
    }
    return rc;
}

/* Send what the plain stream has queued, before TLS takes over the socket. */
static int flush_plain(aw_stream *s, aw_task *t, const char *file, int line)
{
    while (s->wend > s->wstart) {
        if (s->werr) return s->werr;
        int rc;
        if (s->flusher) {
            /* the flusher is sending it: wait until it is all out */
            size_t low = s->low;
            s->low = 0;
            aw__waiter w = { .task = t };
            aw__list_push(&s->drainers, &w.node);
            rc = aw__park(t, list_unpark, &w, "drain", s, file, line);
            s->low = low;
            if (rc < 0) return rc;
            continue;
        }
        ssize_t r = aw__stream_raw_write(s, s->wbuf + s->wstart, s->wend - s->wstart);
        if (r > 0) {
            s->wstart += (size_t)r;
            if (s->wstart == s->wend) s->wstart = s->wend = 0;
            continue;
        }
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == EAGAIN) {
            if ((rc = aw__fd_wait(t, s->wfd, 2, file, line)) < 0) return rc;
            continue;
        }
        s->werr = r < 0 ? -errno : -EIO;
    }
    return s->werr;
}

int aw__stream_start_tls(aw_stream *s, aw_tls_config *c, const char *server_hostname, const char *file, int line)
{
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (!s || !c) return -EINVAL;
    if (s->tls) return aw_raise(AW_EINVALSTATE, "the stream already uses TLS");
    if (s->werr) return s->werr;
    if (s->rerr) return s->rerr;
    if (s->closing || s->rfd < 0 || s->wfd < 0 || s->wr_shut || s->eof_pending || s->r_eof)
        return aw_raise(AW_EINVALSTATE, "start_tls on a stream that is closing, half-closed or at its end");
    if (s->reader)
        return aw_raise(AW_EBUSY, "start_tls() called while another task is already waiting for incoming data");
    bool server = c->role == AW_TLS_SERVER;
    if ((rc = aw__tls_config_check(c, c->role)) < 0) return rc;
    s->reader = t;
    s->refs++;
    rc = flush_plain(s, t, file, line);
    if (rc == 0 && !s->closing)
        rc = tls_attach(s, c, server, server ? NULL : server_hostname ? server_hostname : c->server_name);
    else if (rc == 0)
        rc = -EBADF;
    if (rc == 0) {
        rc = handshake(s, t, file, line);
        if (rc < 0) {
            /* asyncio closes the transport of a failed start_tls */
            if (!s->rerr) s->rerr = rc;
            if (!s->werr) s->werr = rc;
            aw__stream_shut(s, true);
        }
    }
    s->reader = NULL;
    aw__stream_unref(s);
    return rc;
}

/* ---- reading and writing ---- */

int aw__tls_read(aw_stream *s, aw_task *t, char *dst, size_t cap, size_t *got, const char *file, int line)
{
    struct aw__tls *x = s->tls;
    *got = 0;
    if (cap > INT_MAX) cap = INT_MAX;
    for (;;) {
        if (s->closing || s->rfd < 0) return -EBADF;
        if (x->state != HS_DONE) return x->state == HS_FAILED ? x->hs_err : AW_EINVALSTATE;
        int rc;
        if (x->r_drained && !SSL_has_pending(x->ssl) && !fd_ready(t->loop, s->rfd)) goto wait;
        errors_reset();
        x->sys_err = 0;
        int r = SSL_read(x->ssl, dst, (int)cap);
        if (r > 0) {
            *got = (size_t)r;
            return 0;
        }
        int e = SSL_get_error(x->ssl, r);
        if (e == SSL_ERROR_WANT_READ) {
            errors_reset();
            goto wait;
        }
        if (e == SSL_ERROR_WANT_WRITE) {
            errors_reset();
            if ((rc = wait_fd(t, s->wfd, 2, file, line)) < 0) return rc;
            continue;
        }
        if (e == SSL_ERROR_ZERO_RETURN || unexpected_eof(x, e)) {
            /* close_notify, or a peer that just closed the connection (most
             * HTTPS servers do): the end of the stream, as Go reads it */
            x->notify_received = e == SSL_ERROR_ZERO_RETURN;
            ERR_clear_error();
            s->r_eof = true;
            return 0;
        }
        rc = ssl_fail(x, e, false, file, line);
        s->rerr = rc;
        return rc;
wait:
        rc = aw__fd_wait(t, s->rfd, 1, file, line);
        if (rc < 0) return rc;
        x->r_drained = false;
    }
}

/* One SSL_write of n bytes at p and what follows it in partial-write mode:
 * bytes written (> 0), or 0 and *err (EAGAIN or an error, positive). */
static size_t tls_write_some(struct aw__tls *x, const char *p, size_t n, int *err)
{
    size_t done = 0;
    *err = 0;
    while (done < n) {
        size_t k = n - done;
        if (k > (size_t)1 << 30) k = (size_t)1 << 30;
        errors_reset();
        x->sys_err = 0;
        int r = SSL_write(x->ssl, p + done, (int)k);
        if (r > 0) {
            done += (size_t)r;
            continue;
        }
        int e = SSL_get_error(x->ssl, r);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
            ERR_clear_error();
            x->wdir = e == SSL_ERROR_WANT_READ ? 1 : 2;
            *err = EAGAIN;
        } else {
            *err = -ssl_fail(x, e, false, __FILE__, __LINE__);
        }
        break;
    }
    return done;
}

ssize_t aw__tls_writev(aw_stream *s, const struct iovec *iov, int cnt)
{
    struct aw__tls *x = s->tls;
    if (x->state != HS_DONE) {
        if (x->state == HS_FAILED) {
            errno = -x->hs_err;
            return -1;
        }
        x->wdir = 0;            /* queued until the handshake is done */
        errno = EAGAIN;
        return -1;
    }
    size_t total = 0;
    for (int i = 0; i < cnt; i++) total += iov[i].iov_len;
    int err = 0;
    size_t done = 0;
    if (cnt > 1 && total <= COALESCE_MAX) {
        /* Small pieces (a header and a body) go out as one record, not one each. */
        char buf[COALESCE_MAX];
        size_t off = 0;
        for (int i = 0; i < cnt; i++) {
            if (iov[i].iov_len) memcpy(buf + off, iov[i].iov_base, iov[i].iov_len);
            off += iov[i].iov_len;
        }
        done = tls_write_some(x, buf, total, &err);
    } else {
        for (int i = 0; i < cnt && !err; i++) {
            size_t k = tls_write_some(x, iov[i].iov_base, iov[i].iov_len, &err);
            done += k;
        }
    }
    if (done > 0 || total == 0) return (ssize_t)done;
    errno = err;
    return -1;
}

int aw__tls_wait_write(aw_stream *s, aw_task *t, const char *file, int line)
{
    struct aw__tls *x = s->tls;
    aw_scope sc;
    bool closing = s->closing;
    if (closing) {
        /* aw's own cleanup: shielded from cancellation, bounded by the shutdown timeout */
        aw__scope_begin(&sc, AW_SCOPE_SHIELD, file, line);
        if (x->close_deadline == 0) x->close_deadline = aw__now(t->loop) + x->cfg->shutdown_timeout;
        if (!isinf(x->close_deadline)) aw_scope_set_deadline(&sc, x->close_deadline);
    }
    int rc;
    if (x->wdir == 0 && x->state == HS_RUNNING) {
        aw__waiter w = { .task = t };
        aw__list_push(&x->hs_waiters, &w.node);
        rc = aw__park(t, list_unpark, &w, "TLS handshake", s, file, line);
    } else if (x->wdir == 1) {
        rc = wait_fd(t, s->rfd, 1, file, line);
    } else if (x->wdir == 2) {
        rc = wait_fd(t, s->wfd, 2, file, line);
    } else {
        rc = 0;
    }
    if (closing && aw_scope_end(&sc) == AW_ETIMEDOUT)
        rc = aw__raise(AW_ETIMEDOUT, file, line, __func__,
                       "SSL shutdown timed out after %g seconds", x->cfg->shutdown_timeout);
    return rc;
}

int aw__tls_close_notify(aw_stream *s)
{
    struct aw__tls *x = s->tls;
    if (!x || x->notify_sent || x->fatal || x->state != HS_DONE || s->wfd < 0) return 0;
    ERR_clear_error();
    x->sys_err = 0;
    int r = SSL_shutdown(x->ssl);
    if (r >= 0) {
        x->notify_sent = true;
        ERR_clear_error();
        return 0;
    }
    int e = SSL_get_error(x->ssl, r);
    ERR_clear_error();
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
        x->wdir = e == SSL_ERROR_WANT_READ ? 1 : 2;
        return 1;
    }
    x->notify_sent = true;      /* a broken connection: nothing more to say */
    return 0;
}

int aw__tls_flush_end(aw_stream *s, aw_task *t)
{
    if (!(s->closing || s->eof_pending) || s->wfd < 0 || s->werr) return 0;
    while (aw__tls_close_notify(s) > 0) {
        int rc = aw__tls_wait_write(s, t, __FILE__, __LINE__);
        if (rc < 0) return rc;
    }
    return 0;
}

/* ---- introspection ---- */

bool aw_stream_is_tls(const aw_stream *s)
{
    return s && s->tls;
}

int aw_stream_tls_info(const aw_stream *s, aw_tls_info *out)
{
    if (!s || !out || !s->tls) return -EINVAL;
    struct aw__tls *x = s->tls;
    if (x->state != HS_DONE) return AW_EINVALSTATE;
    memset(out, 0, sizeof *out);
    out->version = SSL_get_version(x->ssl);
    out->cipher = SSL_get_cipher_name(x->ssl);
    const unsigned char *alpn = NULL;
    unsigned alen = 0;
    SSL_get0_alpn_selected(x->ssl, &alpn, &alen);
    if (alpn && alen) snprintf(out->alpn, sizeof out->alpn, "%.*s", (int)alen, (const char *)alpn);
    const char *sni = x->server ? SSL_get_servername(x->ssl, TLSEXT_NAMETYPE_host_name) : x->name;
    if (sni) snprintf(out->server_name, sizeof out->server_name, "%s", sni);
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    X509 *peer = SSL_get1_peer_certificate(x->ssl);
#else
    X509 *peer = SSL_get_peer_certificate(x->ssl);
#endif
    if (peer) {
        X509_NAME_oneline(X509_get_subject_name(peer), out->peer_subject, sizeof out->peer_subject);
        out->peer_verified = SSL_get_verify_result(x->ssl) == X509_V_OK &&
                             x->cfg->verify != AW_TLS_VERIFY_NONE;
        X509_free(peer);
    }
    out->session_reused = SSL_session_reused(x->ssl) == 1;
    out->clean_eof = x->notify_received;
    ERR_clear_error();
    return 0;
}

bool aw__tls_errors_pending(void)
{
    return ERR_peek_error() != 0;
}

#else /* !AW_HAVE_OPENSSL: every TLS call says ENOTSUP */

bool aw_tls_available(void) { return false; }

aw_tls_config *aw_tls_config_new(int role)
{
    (void)role;
    errno = ENOTSUP;
    return NULL;
}

aw_tls_config *aw_tls_config_ref(aw_tls_config *c) { return c; }
void aw_tls_config_free(aw_tls_config *c) { (void)c; }
const char *aw_tls_config_error(const aw_tls_config *c) { (void)c; return "aw was built without OpenSSL"; }
int aw_tls_config_set_ca(aw_tls_config *c, const char *f, const char *p) { (void)c; (void)f; (void)p; return -ENOTSUP; }
int aw_tls_config_load_default_ca(aw_tls_config *c) { (void)c; return -ENOTSUP; }
int aw_tls_config_set_cert(aw_tls_config *c, const char *f, const char *k) { (void)c; (void)f; (void)k; return -ENOTSUP; }
int aw_tls_config_set_verify(aw_tls_config *c, int mode) { (void)c; (void)mode; return -ENOTSUP; }
int aw_tls_config_set_check_hostname(aw_tls_config *c, bool on) { (void)c; (void)on; return -ENOTSUP; }
int aw_tls_config_set_server_name(aw_tls_config *c, const char *n) { (void)c; (void)n; return -ENOTSUP; }
int aw_tls_config_set_alpn(aw_tls_config *c, const char *const *p, size_t n) { (void)c; (void)p; (void)n; return -ENOTSUP; }
int aw_tls_config_set_min_version(aw_tls_config *c, int v) { (void)c; (void)v; return -ENOTSUP; }
int aw_tls_config_set_session_cache(aw_tls_config *c, size_t n) { (void)c; (void)n; return -ENOTSUP; }
int aw_tls_config_set_timeouts(aw_tls_config *c, double h, double s) { (void)c; (void)h; (void)s; return -ENOTSUP; }

int aw__stream_start_tls(aw_stream *s, aw_tls_config *c, const char *name, const char *file, int line)
{
    (void)s; (void)c; (void)name; (void)file; (void)line;
    return -ENOTSUP;
}

bool aw_stream_is_tls(const aw_stream *s) { (void)s; return false; }
int aw_stream_tls_info(const aw_stream *s, aw_tls_info *out) { (void)s; (void)out; return -ENOTSUP; }

int aw__tls_config_check(aw_tls_config *c, int role) { (void)c; (void)role; return -ENOTSUP; }
int aw__tls_client_start(aw_stream *s, aw_tls_config *c, const char *host, const char *file, int line)
{
    (void)s; (void)c; (void)host; (void)file; (void)line;
    return -ENOTSUP;
}
int aw__tls_server_start(aw_stream *s, aw_tls_config *c, const char *file, int line)
{
    (void)s; (void)c; (void)file; (void)line;
    return -ENOTSUP;
}

/* Never reached: a stream gets s->tls only from the functions above. */
int aw__tls_read(aw_stream *s, aw_task *t, char *dst, size_t cap, size_t *got, const char *file, int line)
{
    (void)s; (void)t; (void)dst; (void)cap; (void)file; (void)line;
    *got = 0;
    return -ENOTSUP;
}
ssize_t aw__tls_writev(aw_stream *s, const struct iovec *iov, int cnt)
{
    (void)s; (void)iov; (void)cnt;
    errno = ENOTSUP;
    return -1;
}
int aw__tls_wait_write(aw_stream *s, aw_task *t, const char *file, int line)
{
    (void)s; (void)t; (void)file; (void)line;
    return -ENOTSUP;
}
int aw__tls_close_notify(aw_stream *s) { (void)s; return 0; }
int aw__tls_flush_end(aw_stream *s, aw_task *t) { (void)s; (void)t; return 0; }
void aw__tls_free(aw_stream *s) { s->tls = NULL; }
bool aw__tls_errors_pending(void) { return false; }

#endif
