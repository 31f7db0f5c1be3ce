/*
 * moat-udp: the UDP services of a honeyfarm clone (issue 17, section 3), a static program the farm binds read-only
 * into every container clone at /.honeyfarm/moat-udp. busybox nc has no UDP mode; this is the clone's UDP side.
 *
 *   moat-udp serve PORT...    answer datagrams on each PORT (until killed):
 *                               53    a DNS answer: A IN gets the address the query was sent to, other types an empty
 *                                     answer; an answer longer than its query goes out truncated (TC set, the
 *                                     question only), as DNS servers do, and the asker may retry over TCP
 *                               123   an NTP server reply (mode 4, stratum 1, the asker's transmit time as origin)
 *                               161   an SNMP GetResponse: the request with its PDU turned into a response
 *                               1434  runs the datagram as a shell script (the worm's door, as the clone's TCP ports
 *                                     hand a caller a shell); the datagram is also in $DATAGRAM; no answer
 *                               else  echoes the datagram (to a source port of 1024 or more: never service to service)
 *   moat-udp send ADDR PORT   sends standard input (at most 65,507 bytes) as one datagram, for what runs inside
 *
 * Amplification: no answer is ever longer than the datagram it answers, whoever sent it; and answers (and runs of
 * port 1434) are limited to 10 a second per sender (hashed into 256 buckets, so spoofed senders cost no memory) and
 * 100 a second in all, as the farm's in-process clones are (Limits/UdpReplyBudget.cs).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PORTS 32
#define MAX_DATAGRAM 65507
#define BUCKETS 256
#define PER_SENDER_PER_SECOND 10.0
#define PER_SECOND 100.0

struct bucket {
    double tokens;
    double last;
};

static struct bucket senders[BUCKETS];
static struct bucket everyone;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int take(struct bucket *b, double rate, double t)
{
    if (b->last == 0) {
        b->tokens = rate;
    } else {
        b->tokens += (t - b->last) * rate;
        if (b->tokens > rate)
            b->tokens = rate;
    }
    b->last = t;
    if (b->tokens < 1)
        return 0;
    b->tokens -= 1;
    return 1;
}

static int allowed(uint32_t sender)
{
    double t = now();
    uint32_t h = (sender * 2654435761u) >> 24;
    return take(&senders[h], PER_SENDER_PER_SECOND, t) && take(&everyone, PER_SECOND, t);
}

/* A DNS answer no longer than the query n; 0 = no answer (not a standard query with one question). */
static size_t dns(const uint8_t *q, size_t n, uint8_t *r, struct in_addr asked)
{
    if (n < 12 || (q[2] & 0x80) || (q[2] & 0x78) != 0 || q[4] != 0 || q[5] != 1)
        return 0;
    size_t i = 12;
    while (i < n && q[i] != 0) {
        if ((q[i] & 0xC0) != 0 || i + 1 + q[i] >= n)
            return 0;
        i += 1 + (size_t)q[i];
    }
    if (i + 5 > n)
        return 0;
    size_t end = i + 5;
    unsigned type = (unsigned)q[i + 1] << 8 | q[i + 2];
    unsigned class = (unsigned)q[i + 3] << 8 | q[i + 4];
    memcpy(r, q, end);
    r[2] = (uint8_t)(0x84 | (q[2] & 0x01)); /* QR, AA; RD as asked */
    r[3] = 0;                                 /* NOERROR */
    memset(r + 6, 0, 6);                      /* no answer, authority or additional records yet */
    if (type == 1 && class == 1) {
        if (end + 16 > n) {
            r[2] |= 0x02; /* TC: the answer would be longer than the query */
            return end;
        }
        static const uint8_t head[] = {0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4};
        memcpy(r + end, head, sizeof head);
        memcpy(r + end + sizeof head, &asked.s_addr, 4);
        r[7] = 1;
        return end + 16;
    }
    return end;
}

/* An NTP server reply (48 bytes) to a client request of at least 48 bytes. */
static size_t ntp(const uint8_t *q, size_t n, uint8_t *r)
{
    if (n < 48 || (q[0] & 7) != 3)
        return 0;
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    uint32_t seconds = (uint32_t)((uint64_t)t.tv_sec + 2208988800u);
    uint32_t fraction = (uint32_t)(((uint64_t)t.tv_nsec << 32) / 1000000000u);
    memset(r, 0, 48);
    r[0] = (uint8_t)((q[0] & 0x38) | 4); /* LI 0, the asker's version, mode 4 (server) */
    r[1] = 1;                             /* stratum 1 */
    r[2] = q[2];
    r[3] = 0xEC;
    memcpy(r + 12, "GPS", 3);
    for (int at = 16; at <= 40; at += 8) {
        if (at == 24) {
            memcpy(r + 24, q + 40, 8); /* origin: the asker's transmit time */
            continue;
        }
        uint32_t s = htonl(seconds), f = htonl(fraction);
        memcpy(r + at, &s, 4);
        memcpy(r + at + 4, &f, 4);
    }
    return 48;
}

/* Skips one BER tag-length header at *i; returns the content length or -1. */
static long ber(const uint8_t *q, size_t n, size_t *i, uint8_t tag)
{
    if (*i + 2 > n || q[*i] != tag)
        return -1;
    size_t at = *i + 1;
    size_t length = q[at++];
    if (length & 0x80) {
        size_t bytes = length & 0x7F;
        if (bytes == 0 || bytes > 2 || at + bytes > n)
            return -1;
        length = 0;
        while (bytes--)
            length = length << 8 | q[at++];
    }
    if (at + length > n)
        return -1;
    *i = at;
    return (long)length;
}

/* An SNMP GetResponse: the Get or GetNext request, its PDU tag turned into a response, same length. */
static size_t snmp(const uint8_t *q, size_t n, uint8_t *r)
{
    size_t i = 0;
    long length;
    if (ber(q, n, &i, 0x30) < 0)
        return 0;
    if ((length = ber(q, n, &i, 0x02)) < 0)
        return 0;
    i += (size_t)length;
    if ((length = ber(q, n, &i, 0x04)) < 0)
        return 0;
    i += (size_t)length;
    if (i >= n || (q[i] != 0xA0 && q[i] != 0xA1))
        return 0;
    memcpy(r, q, n);
    r[i] = 0xA2;
    return n;
}

/* Port 1434: the datagram runs as a shell script, detached, with nothing of this process but the datagram. */
static void run(const uint8_t *q, size_t n)
{
    static char script[MAX_DATAGRAM + 1];
    memcpy(script, q, n);
    script[n] = 0;
    pid_t pid = fork();
    if (pid != 0)
        return;
    setsid();
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
    }
    for (int fd = 3; fd < 1024; fd++)
        close(fd);
    setenv("DATAGRAM", script, 1);
    execl("/bin/sh", "sh", "-c", script, (char *)NULL);
    _exit(127);
}

static int serve(int count, char **ports)
{
    struct pollfd fds[MAX_PORTS];
    int numbers[MAX_PORTS];
    if (count < 1 || count > MAX_PORTS) {
        fprintf(stderr, "moat-udp: serve takes 1 to %d ports\n", MAX_PORTS);
        return 2;
    }
    signal(SIGCHLD, SIG_IGN); /* children of port 1434 are reaped by the kernel */
    for (int k = 0; k < count; k++) {
        char *end;
        long port = strtol(ports[k], &end, 10);
        if (*end != 0 || port < 1 || port > 65535) {
            fprintf(stderr, "moat-udp: '%s' is not a port (1 to 65535)\n", ports[k]);
            return 2;
        }
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        int on = 1;
        struct sockaddr_in at = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_ANY)};
        if (s < 0 || setsockopt(s, IPPROTO_IP, IP_PKTINFO, &on, sizeof on) < 0 || bind(s, (struct sockaddr *)&at, sizeof at) < 0) {
            fprintf(stderr, "moat-udp: udp port %ld: %s\n", port, strerror(errno));
            return 1;
        }
        fds[k] = (struct pollfd){.fd = s, .events = POLLIN};
        numbers[k] = (int)port;
    }

    static uint8_t in[MAX_DATAGRAM + 1], out[MAX_DATAGRAM + 1];
    for (;;) {
        if (poll(fds, (nfds_t)count, -1) < 0) {
            if (errno == EINTR)
                continue;
            perror("moat-udp: poll");
            return 1;
        }
        for (int k = 0; k < count; k++) {
            if (!(fds[k].revents & POLLIN))
                continue;
            struct sockaddr_in from;
            char control[CMSG_SPACE(sizeof(struct in_pktinfo))];
            struct iovec io = {.iov_base = in, .iov_len = MAX_DATAGRAM};
            struct msghdr m = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &io, .msg_iovlen = 1,
                               .msg_control = control, .msg_controllen = sizeof control};
            ssize_t got = recvmsg(fds[k].fd, &m, MSG_DONTWAIT);
            if (got <= 0)
                continue;
            struct in_addr asked = {0};
            for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c)) {
                if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO)
                    asked = ((struct in_pktinfo *)CMSG_DATA(c))->ipi_addr;
            }
            if (!allowed(ntohl(from.sin_addr.s_addr)))
                continue;
            size_t n = (size_t)got, answer;
            switch (numbers[k]) {
            case 53:
                answer = dns(in, n, out, asked);
                break;
            case 123:
                answer = ntp(in, n, out);
                break;
            case 161:
                answer = snmp(in, n, out);
                break;
            case 1434:
                run(in, n);
                answer = 0;
                break;
            default:
                /* Not to a privileged port: two services echoing each other (one datagram with a forged source
                 * between two clones, or a clone and an echo server outside) would bounce for ever. */
                answer = ntohs(from.sin_port) >= 1024 ? n : 0;
                memcpy(out, in, answer);
                break;
            }
            if (answer > n) /* never: every answer above is at most the query's length; kept as the rule */
                answer = 0;
            if (answer > 0)
                sendto(fds[k].fd, out, answer, MSG_DONTWAIT, (struct sockaddr *)&from, sizeof from);
        }
    }
}

static int send_stdin(const char *address, const char *port)
{
    static uint8_t data[MAX_DATAGRAM];
    size_t n = 0;
    ssize_t got;
    while (n < sizeof data && (got = read(0, data + n, sizeof data - n)) > 0)
        n += (size_t)got;
    struct sockaddr_in to = {.sin_family = AF_INET};
    char *end;
    long number = strtol(port, &end, 10);
    if (inet_pton(AF_INET, address, &to.sin_addr) != 1 || *end != 0 || number < 1 || number > 65535) {
        fprintf(stderr, "moat-udp: send needs an IPv4 address and a port, not '%s' '%s'\n", address, port);
        return 2;
    }
    to.sin_port = htons((uint16_t)number);
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0 || sendto(s, data, n, 0, (struct sockaddr *)&to, sizeof to) < 0) {
        fprintf(stderr, "moat-udp: send to %s:%s: %s\n", address, port, strerror(errno));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "serve") == 0)
        return serve(argc - 2, argv + 2);
    if (argc == 4 && strcmp(argv[1], "send") == 0)
        return send_stdin(argv[2], argv[3]);
    fprintf(stderr, "usage: moat-udp serve PORT...   (answer UDP: 53 DNS, 123 NTP, 161 SNMP, 1434 runs the datagram, others echo)\n"
                    "       moat-udp send ADDR PORT  (standard input as one datagram)\n"
                    "example: echo hello | moat-udp send 198.18.128.5 1434\n");
    return 2;
}
