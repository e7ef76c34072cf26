/* UDP endpoints: a bound and/or connected datagram socket with suspending send and receive. */
#include "internal.h"

#include <netdb.h>
#include <netinet/in.h>
#include <unistd.h>

struct aw_udp {
    int fd;
};

static int udp_socket(int family, const aw_udp_opts *o)
{
    int fd = aw_socket(family, SOCK_DGRAM, 0);
    if (fd < 0) return fd;
    int one = 1;
    if (o && o->reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) goto out_close;
    if (o && o->broadcast && setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one) < 0) goto out_close;
    return fd;
out_close:
    {
        int e = -errno;
        close(fd);
        return e;
    }
}

/* Bind fd to the first local address of its family. */
static int bind_local(int fd, int family, struct addrinfo *local)
{
    int rc = -EAFNOSUPPORT;
    for (struct addrinfo *ai = local; ai; ai = ai->ai_next) {
        if (ai->ai_family != family) continue;
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0) return 0;
        rc = -errno;
    }
    return rc;
}

int aw__udp_open(const char *local_host, int local_port, const char *remote_host, int remote_port,
                 const aw_udp_opts *opts, aw_udp **out, const char *file, int line)
{
    (void)file; (void)line;
    if (out) *out = NULL;
    aw_task *t;
    int rc = aw__suspend_check(&t);
    if (rc < 0) return rc;
    if (!out || local_port < 0 || local_port > 65535 || remote_port < 0 || remote_port > 65535) return -EINVAL;
    if (remote_host && remote_port == 0) return -EINVAL;
    int family = opts ? opts->family : AF_UNSPEC;
    bool want_local = local_host || local_port;
    struct addrinfo *local = NULL, *remote = NULL;
    if (want_local && (rc = aw__resolve(local_host, local_port, family, SOCK_DGRAM, AI_PASSIVE, &local)) < 0)
        return rc;
    if (remote_host && (rc = aw__resolve(remote_host, remote_port, family, SOCK_DGRAM, 0, &remote)) < 0)
        goto out_free;
    int fd = -1;
    rc = -EHOSTUNREACH;
    if (remote) {
        /* Each remote address in turn, with a local address of its family. */
        for (struct addrinfo *ai = remote; ai; ai = ai->ai_next) {
            fd = udp_socket(ai->ai_family, opts);
            if (fd < 0) { rc = fd; continue; }
            if (local && (rc = bind_local(fd, ai->ai_family, local)) < 0) goto next;
            if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) { rc = 0; break; }
            rc = -errno;
next:
            close(fd);
            fd = -1;
        }
    } else if (local) {
        for (struct addrinfo *ai = local; ai; ai = ai->ai_next) {
            fd = udp_socket(ai->ai_family, opts);
            if (fd < 0) { rc = fd; continue; }
            if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0) { rc = 0; break; }
            rc = -errno;
            close(fd);
            fd = -1;
        }
    } else {
        fd = udp_socket(family == AF_UNSPEC ? AF_INET : family, opts);
        rc = fd < 0 ? fd : 0;
    }
    if (rc < 0) goto out_free;
    aw_udp *u = aw__malloc(sizeof *u);
    if (!u) {
        close(fd);
        rc = -ENOMEM;
        goto out_free;
    }
    u->fd = fd;
    *out = u;
out_free:
    if (local) freeaddrinfo(local);
    if (remote) freeaddrinfo(remote);
    return rc;
}

int aw__udp_sendto(aw_udp *u, const void *buf, size_t n, const struct sockaddr *addr, socklen_t len,
                   const char *file, int line)
{
    if (!u) return -EINVAL;
    return aw__sock_sendto(u->fd, buf, n, addr, len, file, line);
}

int aw__udp_recvfrom(aw_udp *u, void *buf, size_t n, size_t *got, struct sockaddr *addr,
                     socklen_t *len, const char *file, int line)
{
    if (got) *got = 0;
    if (!u) return -EINVAL;
    return aw__sock_recvfrom(u->fd, buf, n, got, addr, len, file, line);
}

int aw_udp_sockaddr(const aw_udp *u, struct sockaddr *addr, socklen_t *len)
{
    if (!u || !addr || !len) return -EINVAL;
    return getsockname(u->fd, addr, len) < 0 ? -errno : 0;
}

int aw_udp_port(const aw_udp *u)
{
    struct sockaddr_storage ss;
    socklen_t l = sizeof ss;
    if (aw_udp_sockaddr(u, (struct sockaddr *)&ss, &l) < 0) return 0;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

int aw_udp_fd(const aw_udp *u) { return u ? u->fd : -1; }

void aw_udp_close(aw_udp *u)
{
    if (!u) return;
    aw_sock_close(u->fd);
    aw__free(u);
}
