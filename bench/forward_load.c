/* Load tools for bench/forward.py: an epoll echo backend and loopback clients.
 * Built by the bench at run time (cc -O2 -pthread); kept in C so the client
 * is never the bottleneck of the forwarder being measured. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int echo_server(int port) {
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (void *)&a, sizeof a) || listen(ls, 4096)) { perror("listen"); return 1; }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls}, evs[256];
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    char buf[65536];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == ls) {
                int c;
                while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
                }
                continue;
            }
            ssize_t r = read(fd, buf, sizeof buf);
            if (r <= 0) { if (r == 0 || errno != EAGAIN) close(fd); continue; }
            ssize_t off = 0;
            while (off < r) {            /* small echoes: the send buffer takes them */
                ssize_t w = write(fd, buf + off, r - off);
                if (w < 0) { if (errno == EAGAIN) continue; break; }
                off += w;
            }
        }
    }
}

struct job { const char *host, *src; int port, size; double until; long count;
             double *lat; long nlat, cap; int mode; };

static int dial(struct job *j) {
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct linger lg = {1, 0};          /* RST on close: no TIME_WAIT pile-up on the client */
    setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    if (j->src) {
        struct sockaddr_in b = {.sin_family = AF_INET};
        inet_pton(AF_INET, j->src, &b.sin_addr);
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        bind(s, (void *)&b, sizeof b);
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(j->port)};
    inet_pton(AF_INET, j->host, &a.sin_addr);
    if (connect(s, (void *)&a, sizeof a)) { close(s); return -1; }
    return s;
}

static void *worker(void *arg) {
    struct job *j = arg;
    char buf[65536];
    memset(buf, 'x', sizeof buf);
    while (now() < j->until) {
        double t0 = now();
        int s = dial(j);
        if (s < 0) continue;
        if (j->mode != 1) {            /* short, probe: send size bytes, read them back */
            if (write(s, buf, j->size) != j->size) { close(s); continue; }
            int got = 0;
            while (got < j->size) { ssize_t r = read(s, buf, sizeof buf); if (r <= 0) break; got += r; }
            if (got < j->size) { close(s); continue; }
        } else {                        /* flood: wait for the server to close */
            while (read(s, buf, sizeof buf) > 0) {}
        }
        close(s);
        j->count++;
        if (j->nlat < j->cap) j->lat[j->nlat++] = now() - t0;
        if (j->mode == 2) usleep(5000); /* probe: a trickle of admitted clients */
    }
    return NULL;
}

static int cmp(const void *a, const void *b) {
    double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y;
}

static int run(int mode, const char *host, int port, int conc, double secs, int size,
               const char *src) {
    pthread_t t[conc]; struct job jobs[conc];
    double until = now() + secs;
    for (int i = 0; i < conc; i++) {
        jobs[i] = (struct job){host, src, port, size, until, 0, malloc(sizeof(double) * 200000),
                               0, 200000, mode};
        pthread_create(&t[i], NULL, worker, &jobs[i]);
    }
    long total = 0, nl = 0;
    for (int i = 0; i < conc; i++) { pthread_join(t[i], NULL); total += jobs[i].count; nl += jobs[i].nlat; }
    double *all = malloc(sizeof(double) * (nl + 1)); long k = 0;
    for (int i = 0; i < conc; i++) for (long m = 0; m < jobs[i].nlat; m++) all[k++] = jobs[i].lat[m];
    qsort(all, nl, sizeof(double), cmp);
    double p50 = nl ? all[nl / 2] : 0, p99 = nl ? all[(long)(nl * 0.99)] : 0;
    printf("%ld %.1f %.6f %.6f\n", total, total / secs, p50, p99);
    return 0;
}

static int hold(const char *host, int port, int n) {
    struct job j = {.host = host, .port = port};
    char c = 'h';
    for (int i = 0; i < n; i++) {
        int s = dial(&j);
        if (s < 0 || write(s, &c, 1) != 1 || read(s, &c, 1) != 1) { perror("hold"); return 1; }
    }
    printf("ready\n"); fflush(stdout);
    char b; while (read(0, &b, 1) > 0) {}
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && !strcmp(argv[1], "echo")) return echo_server(atoi(argv[2]));
    if (argc >= 5 && !strcmp(argv[1], "hold")) return hold(argv[2], atoi(argv[3]), atoi(argv[4]));
    if (argc >= 7) {
        int mode = !strcmp(argv[1], "short") ? 0 : !strcmp(argv[1], "flood") ? 1 : 2;
        return run(mode, argv[2], atoi(argv[3]), atoi(argv[4]), atof(argv[5]), atoi(argv[6]),
                   argc > 7 ? argv[7] : NULL);
    }
    fprintf(stderr, "usage: echo PORT | hold HOST PORT N | short|flood|probe HOST PORT CONC SECS SIZE [SRC]\n");
    return 2;
}
