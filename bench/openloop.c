/*
 * Open-loop HTTP/1.1 load for bench/lookup: request i is due at start + i / rate, whatever the
 * server does; it goes out on the next free keep-alive connection in turn, and its latency is
 * counted from the instant it was due, so a stall is charged to every request it delays (as wrk2
 * does; wrk2 is not in Debian). Written in C so that the load costs the shared cores little.
 *
 *   openloop PORT RATE WARMUP SECONDS CONNECTIONS METHOD TOKEN PREFIX SEED ITEMS OUT
 *
 * METHOD GET: each line of ITEMS is a request target; POST: each line is a JSON body for
 * /api/v1/verify. Prints "ready" once connected; writes the result as JSON to OUT: statuses,
 * answered and failed request ids (PREFIX + i), latencies and service times in ms of the
 * requests after the warm-up, errors, sent, measured, window (seconds), cpu (seconds).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int fd, busy;
    long req;  /* request index in flight */
    double sent;
    char *out; size_t out_len, out_off;
    char in[65536]; size_t in_len;
} conn_t;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int port;
static int connect_one(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static char **items; static long nitems;
static void load_items(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) { perror(path); exit(2); }
    char *line = NULL; size_t cap = 0; ssize_t n; long size = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (!n) continue;
        if (nitems == size) { size = size ? 2 * size : 1024; items = realloc(items, size * sizeof *items); }
        items[nitems++] = strdup(line);
    }
    free(line); fclose(f);
    if (!nitems) { fprintf(stderr, "no items\n"); exit(2); }
}

/* Status code and the end of a whole response in buf, or 0 when more is needed. */
static size_t parse(const char *buf, size_t len, int *status, int *close_after) {
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t head = (size_t)(end - buf) + 4, body = 0;
    *status = atoi(buf + 9);
    *close_after = 0;
    for (const char *p = buf; p < end; ) {
        const char *nl = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!nl) nl = end;
        if (!strncasecmp(p, "content-length:", 15)) body = (size_t)atol(p + 15);
        if (!strncasecmp(p, "connection:", 11) && strcasestr(p, "close") && strcasestr(p, "close") < nl)
            *close_after = 1;
        p = nl + 2;
    }
    return len >= head + body ? head + body : 0;
}

int main(int argc, char **argv) {
    if (argc != 12) { fprintf(stderr, "usage: see the top of openloop.c\n"); return 2; }
    port = atoi(argv[1]);
    double rate = atof(argv[2]), warmup = atof(argv[3]), seconds = atof(argv[4]);
    int nconn = atoi(argv[5]);
    const char *method = argv[6], *token = argv[7], *prefix = argv[8];
    srand48(atol(argv[9]));
    load_items(argv[10]);
    long total = (long)(rate * (warmup + seconds)), warm = (long)(rate * warmup);
    int *status = calloc(total, sizeof *status);      /* 0: no answer */
    double *latency = calloc(total, sizeof *latency), *service = calloc(total, sizeof *service);
    long *queue = malloc(total * sizeof *queue), qhead = 0, qtail = 0;
    long errors = 0, done = 0;
    conn_t *c = calloc(nconn, sizeof *c);
    int ep = epoll_create1(0);
    for (int k = 0; k < nconn; k++) {
        if ((c[k].fd = connect_one()) < 0) { perror("connect"); return 1; }
        struct epoll_event e = { .events = EPOLLIN, .data.u32 = (uint32_t)k };
        epoll_ctl(ep, EPOLL_CTL_ADD, c[k].fd, &e);
    }
    printf("ready\n"); fflush(stdout);
    struct rusage r0; getrusage(RUSAGE_SELF, &r0);
    double start = now() + 0.2, window0 = 0, window1 = 0;
    long next = 0;
    int rr = 0;
    while (done < total) {
        double t = now();
        while (next < total && start + next / rate <= t) {
            if (next == warm) window0 = t;
            queue[qtail++] = next++;
        }
        /* Free connections in turn, not the first free one: that one would carry nearly all
         * the load, and with it the uvicorn worker that happened to accept it, while the
         * other worker idles (a load balancer or wrk spreads the load over the connections). */
        for (int step = 0; step < nconn && qhead < qtail; step++) {
            int k = (rr + step) % nconn;
            if (c[k].busy || c[k].fd < 0) continue;
            rr = (k + 1) % nconn;
            long i = queue[qhead++];
            const char *item = items[lrand48() % nitems];
            free(c[k].out);
            int n = !strcmp(method, "GET")
                ? asprintf(&c[k].out, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                           "X-Request-Id: %s%ld\r\n\r\n", item, token, prefix, i)
                : asprintf(&c[k].out, "POST /api/v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Authorization: Bearer %s\r\nX-Request-Id: %s%ld\r\n"
                           "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                           token, prefix, i, strlen(item), item);
            c[k].out_len = (size_t)n; c[k].out_off = 0; c[k].busy = 1; c[k].req = i;
            c[k].sent = now(); c[k].in_len = 0;
            ssize_t w = write(c[k].fd, c[k].out, c[k].out_len);
            if (w > 0) c[k].out_off = (size_t)w;
            if (c[k].out_off < c[k].out_len) {
                struct epoll_event e = { .events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)k };
                epoll_ctl(ep, EPOLL_CTL_MOD, c[k].fd, &e);
            }
        }
        int wait_ms = 50;
        if (next < total) {
            double due = start + next / rate - now();
            wait_ms = due <= 0 ? 0 : (int)(due * 1000) + 1;
            if (wait_ms > 50) wait_ms = 50;
        }
        if (qhead < qtail) {  /* requests wait for a connection: only answers can free one */
            int idle = 0;
            for (int k = 0; k < nconn; k++) idle |= !c[k].busy && c[k].fd >= 0;
            if (idle) wait_ms = 0;
        }
        struct epoll_event ev[256];
        int got = epoll_wait(ep, ev, 256, wait_ms);
        for (int j = 0; j < got; j++) {
            conn_t *x = &c[ev[j].data.u32];
            int failed = (ev[j].events & (EPOLLERR | EPOLLHUP)) != 0;
            if (!failed && (ev[j].events & EPOLLOUT) && x->out_off < x->out_len) {
                ssize_t w = write(x->fd, x->out + x->out_off, x->out_len - x->out_off);
                if (w > 0) x->out_off += (size_t)w; else if (errno != EAGAIN) failed = 1;
                if (x->out_off == x->out_len) {
                    struct epoll_event e = { .events = EPOLLIN, .data.u32 = ev[j].data.u32 };
                    epoll_ctl(ep, EPOLL_CTL_MOD, x->fd, &e);
                }
            }
            if (!failed && (ev[j].events & EPOLLIN)) {
                ssize_t n = read(x->fd, x->in + x->in_len, sizeof x->in - x->in_len);
                if (n <= 0) failed = 1;
                else {
                    x->in_len += (size_t)n;
                    int st, close_after;
                    size_t whole = x->busy ? parse(x->in, x->in_len, &st, &close_after) : 0;
                    if (whole) {
                        double t2 = now();
                        long i = x->req;
                        status[i] = st;
                        latency[i] = (t2 - (start + i / rate)) * 1000;
                        service[i] = (t2 - x->sent) * 1000;
                        x->busy = 0; done++;
                        memmove(x->in, x->in + whole, x->in_len - whole); x->in_len -= whole;
                        if (close_after) failed = 2;
                    } else if (x->in_len == sizeof x->in) failed = 1;
                }
            }
            if (failed) {  /* reconnect; a request in flight is lost and counted as an error */
                if (x->busy && failed == 1) { errors++; done++; status[x->req] = -1; x->busy = 0; }
                epoll_ctl(ep, EPOLL_CTL_DEL, x->fd, NULL);
                close(x->fd);
                x->fd = connect_one();
                x->in_len = 0;
                if (x->fd >= 0) {
                    struct epoll_event e = { .events = EPOLLIN, .data.u32 = ev[j].data.u32 };
                    epoll_ctl(ep, EPOLL_CTL_ADD, x->fd, &e);
                }
            }
        }
    }
    window1 = now();
    struct rusage r1; getrusage(RUSAGE_SELF, &r1);
    double cpu = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) + (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6
               + (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) + (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
    FILE *out = fopen(argv[11], "w");
    if (!out) { perror(argv[11]); return 1; }
    fprintf(out, "{\"statuses\": {");
    int first = 1;
    for (int code = 100; code < 600; code++) {
        long n = 0;
        for (long i = 0; i < total; i++) n += status[i] == code;
        if (n) { fprintf(out, "%s\"%d\": %ld", first ? "" : ", ", code, n); first = 0; }
    }
    fprintf(out, "}, \"answered\": [");
    first = 1;
    for (long i = 0; i < total; i++)
        if (status[i] > 0 && status[i] < 500) { fprintf(out, "%s\"%s%ld\"", first ? "" : ", ", prefix, i); first = 0; }
    fprintf(out, "], \"failed\": [");
    first = 1;
    for (long i = 0; i < total; i++)
        if (status[i] >= 500) { fprintf(out, "%s\"%s%ld\"", first ? "" : ", ", prefix, i); first = 0; }
    long counted = 0;
    fprintf(out, "], \"latencies\": [");
    for (long i = warm; i < total; i++)
        if (status[i] > 0) fprintf(out, "%s%.3f", counted++ ? ", " : "", latency[i]);
    fprintf(out, "], \"service\": [");
    first = 1;
    for (long i = warm; i < total; i++)
        if (status[i] > 0) { fprintf(out, "%s%.3f", first ? "" : ", ", service[i]); first = 0; }
    fprintf(out, "], \"counted\": %ld, \"errors\": {\"connection\": %ld}, \"sent\": %ld, "
            "\"measured\": %ld, \"window\": [%.6f, %.6f], \"cpu\": %.6f}\n",
            counted, errors, total, total - warm, window0, window1, cpu);
    fclose(out);
    return 0;
}
