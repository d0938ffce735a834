/* The real servers of benchmarks/peer_keepalived.py: as little work per check as each check type allows.
 *
 *   listener [--http | --https CERT KEY] SECONDS ADDR:PORT [ADDR:PORT ...]
 *
 * One epoll loop over every listening socket.  Default (TCP checks): each
 * readable listener is drained with accept4() and every connection is closed
 * at once.  --http: read the request (one read; a check's request fits one
 * segment), answer "200 OK" with a two-byte body, close.  --https: the same
 * behind a non-blocking OpenSSL handshake (no session tickets: every check
 * is a full handshake, as both daemons make it).  Written in C so that the
 * real servers cost as little of the guest CPU as possible: the daemons
 * under test, not the servers, should use it.  Exits after SECONDS.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { MODE_TCP, MODE_HTTP, MODE_HTTPS };

struct item {
    int listener;      /* 1: a listening socket, 0: a connection */
    int fd;
    SSL *ssl;          /* --https only */
    int handshaken;
};

static const char RESPONSE[] = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
                               "Connection: close\r\n\r\nok";
static int mode = MODE_TCP;
static SSL_CTX *ctx;
static int ep;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int open_listener(const char *spec)
{
    char host[64];
    const char *colon = strrchr(spec, ':');
    if (!colon || colon - spec >= (long)sizeof(host))
        return -1;
    memcpy(host, spec, colon - spec);
    host[colon - spec] = 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 65535) < 0) {
        perror(spec);
        return -1;
    }
    return fd;
}

static void finish(struct item *it)
{
    if (it->ssl)
        SSL_free(it->ssl);
    close(it->fd);         /* also removes it from the epoll set */
    free(it);
}

/* Advance one connection; returns 0 while it waits for more input. */
static int serve(struct item *it)
{
    char buf[4096];
    if (mode == MODE_HTTP) {
        ssize_t n = read(it->fd, buf, sizeof(buf));
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n > 0 && write(it->fd, RESPONSE, sizeof(RESPONSE) - 1) < 0)
            return 1;
        return 1;
    }
    if (!it->handshaken) {
        int r = SSL_accept(it->ssl);
        if (r != 1) {
            int e = SSL_get_error(it->ssl, r);
            ERR_clear_error();
            return !(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE);
        }
        it->handshaken = 1;
    }
    int n = SSL_read(it->ssl, buf, sizeof(buf));
    if (n <= 0) {
        int e = SSL_get_error(it->ssl, n);
        ERR_clear_error();
        return !(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE);
    }
    SSL_write(it->ssl, RESPONSE, sizeof(RESPONSE) - 1);
    SSL_shutdown(it->ssl);
    ERR_clear_error();
    return 1;
}

static void accept_all(int lfd)
{
    for (int k = 0; k < 1024; k++) {
        int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
        if (c < 0)
            return;
        if (mode == MODE_TCP) {
            close(c);
            continue;
        }
        struct item *it = calloc(1, sizeof(*it));
        it->fd = c;
        if (mode == MODE_HTTPS) {
            it->ssl = SSL_new(ctx);
            SSL_set_fd(it->ssl, c);
        }
        if (serve(it)) {                 /* the request was already there */
            finish(it);
            continue;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = it};
        epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
    }
}

int main(int argc, char **argv)
{
    int arg = 1;
    if (arg < argc && strcmp(argv[arg], "--http") == 0) {
        mode = MODE_HTTP;
        arg++;
    } else if (arg + 2 < argc && strcmp(argv[arg], "--https") == 0) {
        mode = MODE_HTTPS;
        ctx = SSL_CTX_new(TLS_server_method());
        SSL_CTX_set_num_tickets(ctx, 0);
        if (SSL_CTX_use_certificate_file(ctx, argv[arg + 1], SSL_FILETYPE_PEM) != 1
            || SSL_CTX_use_PrivateKey_file(ctx, argv[arg + 2], SSL_FILETYPE_PEM) != 1) {
            ERR_print_errors_fp(stderr);
            return 1;
        }
        arg += 3;
    }
    if (argc - arg < 2) {
        fprintf(stderr, "usage: %s [--http | --https CERT KEY] SECONDS ADDR:PORT...\n", argv[0]);
        return 2;
    }
    double deadline = now() + atof(argv[arg]);
    ep = epoll_create1(0);
    for (int i = arg + 1; i < argc; i++) {
        int fd = open_listener(argv[i]);
        if (fd < 0)
            return 1;
        struct item *it = calloc(1, sizeof(*it));
        it->listener = 1;
        it->fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = it};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    printf("ready\n");
    fflush(stdout);
    struct epoll_event events[256];
    while (now() < deadline) {
        int n = epoll_wait(ep, events, 256, 500);
        for (int i = 0; i < n; i++) {
            struct item *it = events[i].data.ptr;
            if (it->listener)
                accept_all(it->fd);
            else if (serve(it))
                finish(it);
        }
    }
    return 0;
}
