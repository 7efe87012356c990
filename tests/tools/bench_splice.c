/* SPDX-License-Identifier: MIT */
/*
 * bench_splice — measures the two ways a relay can move bytes from one TCP
 * socket to another on Linux (docs/design.md, "Decisions"):
 *   copy    read() into a 64 KiB user buffer, write() it out (what linkrelay does)
 *   splice  splice() socket -> pipe -> socket, no copy through user space
 * Loopback: a writer thread pushes N bytes into one connection, the forwarder
 * (this thread) moves them to a second connection, a reader thread drains it.
 * Prints wall time, throughput and the forwarder's CPU time per GiB.
 *
 * usage: bench_splice copy|splice [MiB] [chunk KiB]
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

static uint64_t total;
static size_t chunk = 64 * 1024;

static void die(const char *what)
{
    perror(what);
    exit(1);
}

/* A connected pair of loopback TCP sockets: *a (client), *b (accepted). */
static void tcp_pair(int *a, int *b)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int l = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(l, 1) != 0 ||
        getsockname(l, (struct sockaddr *)&sa, &len) != 0)
        die("listen");
    *a = socket(AF_INET, SOCK_STREAM, 0);
    if (*a < 0 || connect(*a, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        die("connect");
    *b = accept(l, NULL, NULL);
    if (*b < 0)
        die("accept");
    close(l);
}

static void *writer(void *arg)
{
    int fd = *(int *)arg;
    char *buf = malloc(256 * 1024);
    uint64_t left = total;

    memset(buf, 0x42, 256 * 1024);
    while (left > 0) {
        size_t n = left < 256 * 1024 ? (size_t)left : 256 * 1024;
        ssize_t w = write(fd, buf, n);
        if (w <= 0)
            die("writer");
        left -= (uint64_t)w;
    }
    shutdown(fd, SHUT_WR);
    free(buf);
    return NULL;
}

static void *reader(void *arg)
{
    int fd = *(int *)arg;
    char *buf = malloc(256 * 1024);
    uint64_t got = 0;
    ssize_t r;

    while ((r = read(fd, buf, 256 * 1024)) > 0)
        got += (uint64_t)r;
    if (got != total)
        fprintf(stderr, "reader: got %llu of %llu\n", (unsigned long long)got,
                (unsigned long long)total);
    free(buf);
    return NULL;
}

static void forward_copy(int in, int out)
{
    char *buf = malloc(chunk);
    ssize_t r;

    while ((r = read(in, buf, chunk)) > 0) {
        for (ssize_t off = 0; off < r;) {
            ssize_t w = write(out, buf + off, (size_t)(r - off));
            if (w <= 0)
                die("write");
            off += w;
        }
    }
    free(buf);
}

static void forward_splice(int in, int out)
{
    int p[2];
    ssize_t r;

    if (pipe2(p, O_CLOEXEC) != 0)
        die("pipe");
    fcntl(p[1], F_SETPIPE_SZ, (int)chunk);
    while ((r = splice(in, NULL, p[1], NULL, chunk, SPLICE_F_MOVE)) > 0) {
        while (r > 0) {
            ssize_t w = splice(p[0], NULL, out, NULL, (size_t)r, SPLICE_F_MOVE);
            if (w <= 0)
                die("splice out");
            r -= w;
        }
    }
    if (r < 0)
        die("splice in");
    close(p[0]);
    close(p[1]);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int src_w, src_r, dst_w, dst_r;
    pthread_t tw, tr;
    struct rusage ru0, ru1;
    double t0, t1, cpu;
    int splice_mode;

    if (argc < 2 || (strcmp(argv[1], "copy") != 0 && strcmp(argv[1], "splice") != 0)) {
        fprintf(stderr, "usage: bench_splice copy|splice [MiB] [chunk KiB]\n");
        return 2;
    }
    splice_mode = strcmp(argv[1], "splice") == 0;
    total = (uint64_t)(argc > 2 ? strtoul(argv[2], NULL, 10) : 2048) << 20;
    if (argc > 3)
        chunk = (size_t)strtoul(argv[3], NULL, 10) << 10;
    tcp_pair(&src_w, &src_r);
    tcp_pair(&dst_w, &dst_r);
    pthread_create(&tw, NULL, writer, &src_w);
    pthread_create(&tr, NULL, reader, &dst_r);
    getrusage(RUSAGE_THREAD, &ru0);
    t0 = now_s();
    if (splice_mode)
        forward_splice(src_r, dst_w);
    else
        forward_copy(src_r, dst_w);
    shutdown(dst_w, SHUT_WR);
    t1 = now_s();
    getrusage(RUSAGE_THREAD, &ru1);
    pthread_join(tw, NULL);
    pthread_join(tr, NULL);
    cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
          (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
          (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
          (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    printf("%s chunk=%zuKiB bytes=%llu wall=%.3fs rate=%.0fMiB/s forwarder_cpu=%.3fs "
           "cpu_per_GiB=%.3fs\n",
           argv[1], chunk >> 10, (unsigned long long)total, t1 - t0,
           (double)total / (1 << 20) / (t1 - t0), cpu, cpu / ((double)total / (1 << 30)));
    return 0;
}
