/* docs/guide.md, "DNS": getaddrinfo and getnameinfo without blocking the loop. */
#include <aw.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static int main_coro(void *arg, void **result)
{
    (void)result;
    const char *host = arg;
    struct addrinfo hints, *res;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    int rc = aw_getaddrinfo(host, "80", &hints, &res);     /* a lookup on the pool's DNS lane */
    if (rc < 0) {
        printf("%s: %s: %s\n", host, aw_errname(rc), aw_strerror(rc));
        return rc;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        char name[NI_MAXHOST];
        /* numeric flags: answered at once, no thread */
        if (aw_getnameinfo(ai->ai_addr, ai->ai_addrlen, name, sizeof name, NULL, 0, NI_NUMERICHOST) == 0)
            printf("%s -> %s\n", host, name);
    }
    freeaddrinfo(res);
    return 0;
}

int main(int argc, char **argv)
{
    const char *host = argc > 1 ? argv[1] : "localhost";
    return aw_run(aw_coro(main_coro, (void *)host), NULL) == 0 ? 0 : 1;
}
