/* The kernel's price of a TCP check: connect, close with RST, and nothing else.
 *
 *   probe SECONDS ADDR:PORT [ADDR:PORT ...]
 *
 * Does what pulse's plain TCP check does (non-blocking socket, SO_LINGER 0,
 * connect, wait for the handshake only when it did not finish inside
 * connect(), close), round robin over the targets, one at a time, for SECONDS.
 * Prints "connects OK FAILED cpu_s CPU wall_s WALL": OK / CPU is the ceiling
 * for checks per CPU-second on this kernel, to which the daemons are compared.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int parse(const char *spec, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(spec, ':');
    if (!colon || colon - spec >= (long)sizeof(host))
        return -1;
    memcpy(host, spec, colon - spec);
    host[colon - spec] = 0;
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons(atoi(colon + 1));
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static int check(const struct sockaddr_in *sa)
{
    static const struct linger rst = {1, 0};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return 0;
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
    int ok = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
    if (!ok && errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int err = 0;
        socklen_t len = sizeof(err);
        ok = poll(&p, 1, 1000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && !err;
    }
    close(fd);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s SECONDS ADDR:PORT...\n", argv[0]);
        return 2;
    }
    int n = argc - 2;
    struct sockaddr_in *targets = calloc(n, sizeof(*targets));
    for (int i = 0; i < n; i++)
        if (parse(argv[i + 2], &targets[i]) < 0) {
            fprintf(stderr, "bad target %s\n", argv[i + 2]);
            return 2;
        }
    double start = now(), end = start + atof(argv[1]);
    long ok = 0, failed = 0;
    for (long i = 0; now() < end; i++) {
        if (check(&targets[i % n]))
            ok++;
        else
            failed++;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    printf("connects %ld %ld cpu_s %.3f wall_s %.3f\n", ok, failed, cpu, now() - start);
    return 0;
}
