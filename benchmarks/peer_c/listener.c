/* The real servers of benchmarks/peer_keepalived.py: accept and close, nothing else.
 *
 *   listener SECONDS ADDR:PORT [ADDR:PORT ...]
 *
 * One epoll loop over every listening socket; each readable listener is drained
 * with accept4() and every connection is closed at once.  Written in C so that
 * the real servers cost as little of the single guest CPU as possible: the
 * daemons under test, not the servers, should use it.  Exits after SECONDS.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s SECONDS ADDR:PORT...\n", argv[0]);
        return 2;
    }
    double deadline = now() + atof(argv[1]);
    int ep = epoll_create1(0);
    for (int i = 2; i < argc; i++) {
        int fd = open_listener(argv[i]);
        if (fd < 0)
            return 1;
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    printf("ready\n");
    fflush(stdout);
    struct epoll_event events[64];
    while (now() < deadline) {
        int n = epoll_wait(ep, events, 64, 500);
        for (int i = 0; i < n; i++) {
            for (int k = 0; k < 1024; k++) {
                int c = accept4(events[i].data.fd, NULL, NULL, SOCK_NONBLOCK);
                if (c < 0)
                    break;
                close(c);
            }
        }
    }
    return 0;
}
