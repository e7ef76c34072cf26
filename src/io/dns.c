/* DNS: getaddrinfo/getnameinfo on the thread pool's DNS lane; numeric names answered inline. */
#include "internal.h"

#include <netdb.h>
#include <sys/socket.h>

/* The resolver calls, replaceable by tests (to hold a lookup on its thread). */
int (*aw__gai_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **) = getaddrinfo;

int aw_gai_error(int eai)
{
    switch (eai) {
    case 0: return 0;
    case EAI_SYSTEM: return errno ? -errno : -EIO;
    case EAI_MEMORY: return -ENOMEM;
    case EAI_NONAME: return AW_EAI_NONAME;
    case EAI_AGAIN: return AW_EAI_AGAIN;
    case EAI_FAIL: return AW_EAI_FAIL;
    case EAI_SERVICE: return AW_EAI_SERVICE;
    case EAI_FAMILY: return AW_EAI_FAMILY;
    case EAI_SOCKTYPE: return AW_EAI_SOCKTYPE;
    case EAI_BADFLAGS: return AW_EAI_BADFLAGS;
    case EAI_OVERFLOW: return AW_EAI_OVERFLOW;
#ifdef EAI_NODATA
    case EAI_NODATA: return AW_EAI_NODATA;
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY: return AW_EAI_ADDRFAMILY;
#endif
    default: return AW_EAI_FAIL;
    }
}

static bool all_digits(const char *s)
{
    if (!*s) return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return false;
    return true;
}

/* ---- getaddrinfo ---- */

/* A lookup owns copies of its inputs, so it can finish after its caller left. */
typedef struct gai_job {
    aw__work w;
    char *host, *port;
    struct addrinfo hints;
    bool has_hints;
    struct addrinfo *res;
    int rc;
} gai_job;

static void gai_work(aw__work *w)
{
    gai_job *j = (gai_job *)w;
    errno = 0;
    int e = aw__gai_fn(j->host, j->port, j->has_hints ? &j->hints : NULL, &j->res);
    j->rc = aw_gai_error(e);    /* on this thread: EAI_SYSTEM's errno is here */
    if (e) j->res = NULL;
}

static void gai_free(aw__work *w)
{
    gai_job *j = (gai_job *)w;
    if (j->res) freeaddrinfo(j->res);
    aw__free(j->host);
    aw__free(j->port);
    aw__free(j);
}

int aw__getaddrinfo(const char *host, const char *port, const struct addrinfo *hints,
                    struct addrinfo **res, const char *file, int line)
{
    if (!res) return -EINVAL;
    *res = NULL;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (!host && !port) return AW_EAI_NONAME;

    struct addrinfo h;
    memset(&h, 0, sizeof h);
    if (hints) {
        h.ai_flags = hints->ai_flags;
        h.ai_family = hints->ai_family;
        h.ai_socktype = hints->ai_socktype;
        h.ai_protocol = hints->ai_protocol;
    } else {
        h.ai_flags = AI_V4MAPPED | AI_ADDRCONFIG;   /* glibc's default for NULL hints */
    }

    /* A numeric host (or none) with a numeric port (or none) needs no lookup:
     * answer it here, without a thread. */
    if (!port || all_digits(port)) {
        struct addrinfo nh = h;
        nh.ai_flags |= AI_NUMERICHOST | (port ? AI_NUMERICSERV : 0);
        int e = getaddrinfo(host, port, &nh, res);
        if (e == 0) return 0;
        *res = NULL;
        if (e != EAI_NONAME || !host || (h.ai_flags & AI_NUMERICHOST)) return aw_gai_error(e);
    } else if (h.ai_flags & AI_NUMERICHOST && h.ai_flags & AI_NUMERICSERV) {
        int e = getaddrinfo(host, port, &h, res);
        if (e) *res = NULL;
        return aw_gai_error(e);
    }

    gai_job *j = aw__calloc(1, sizeof *j);
    if (!j) return -ENOMEM;
    if ((host && !(j->host = aw__strdup(host))) || (port && !(j->port = aw__strdup(port)))) {
        gai_free(&j->w);
        return -ENOMEM;
    }
    j->hints = h;
    j->has_hints = true;
    j->w.work = gai_work;
    j->w.release = gai_free;
    /* Cancel abandons the lookup: it finishes on its thread and gai_free drops it. */
    rc = aw__work_await(t, &j->w, AW__LANE_DNS, AW_THREAD_ABANDON, "getaddrinfo", file, line);
    if (rc == AW_ECANCELLED) return rc;         /* the pool owns j now */
    if (rc < 0) {
        gai_free(&j->w);
        return rc;
    }
    rc = j->rc;
    if (rc == 0) {
        *res = j->res;
        j->res = NULL;
    }
    gai_free(&j->w);
    return rc;
}

/* ---- getnameinfo ---- */

typedef struct gni_job {
    aw__work w;
    struct sockaddr_storage addr;
    socklen_t len;
    int flags;
    bool want_host, want_serv;
    char host[NI_MAXHOST];
    char serv[NI_MAXSERV];
    int rc;
} gni_job;

static void gni_work(aw__work *w)
{
    gni_job *j = (gni_job *)w;
    errno = 0;
    int e = getnameinfo((struct sockaddr *)&j->addr, j->len,
                        j->want_host ? j->host : NULL, j->want_host ? sizeof j->host : 0,
                        j->want_serv ? j->serv : NULL, j->want_serv ? sizeof j->serv : 0, j->flags);
    j->rc = aw_gai_error(e);
}

static int copy_out(char *dst, size_t cap, const char *src)
{
    if (!dst) return 0;
    size_t n = strlen(src);
    if (n >= cap) return AW_EAI_OVERFLOW;
    memcpy(dst, src, n + 1);
    return 0;
}

int aw__getnameinfo(const struct sockaddr *addr, socklen_t len, char *host, size_t hostlen,
                    char *serv, size_t servlen, int flags, const char *file, int line)
{
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (!addr || len == 0 || len > sizeof(struct sockaddr_storage)) return AW_EAI_FAMILY;
    if ((!host || !hostlen) && (!serv || !servlen)) return AW_EAI_NONAME;
    if (!hostlen) host = NULL;
    if (!servlen) serv = NULL;

    if ((flags & NI_NUMERICHOST || !host) && (flags & NI_NUMERICSERV || !serv)) {
        int e = getnameinfo(addr, len, host, host ? hostlen : 0, serv, serv ? servlen : 0, flags);
        return aw_gai_error(e);
    }

    gni_job *j = aw__calloc(1, sizeof *j);
    if (!j) return -ENOMEM;
    memcpy(&j->addr, addr, len);
    j->len = len;
    j->flags = flags;
    j->want_host = host != NULL;
    j->want_serv = serv != NULL;
    j->w.work = gni_work;
    /* The answer lands in j, never in the caller's buffers, so abandoning is safe. */
    rc = aw__work_await(t, &j->w, AW__LANE_DNS, AW_THREAD_ABANDON, "getnameinfo", file, line);
    if (rc == AW_ECANCELLED) return rc;
    if (rc == 0) rc = j->rc;
    if (rc == 0) rc = copy_out(host, hostlen, j->host);
    if (rc == 0) rc = copy_out(serv, servlen, j->serv);
    aw__free(j);
    return rc;
}
