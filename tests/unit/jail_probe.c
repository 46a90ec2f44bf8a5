/*
 * tests/unit/jail_probe.c - a misbehaving stand-in for mugai-render, used by
 * test_jail as conf->render_path to check that the jail contains it.
 *
 * Run only by the unit tests, inside the jail. The first line of stdin picks
 * the misbehaviour: hog, spin, sleep, net PORT, garbage, huge, fork, sigsys.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Write a tag and one or two little-endian integers. */
static void frame(const char *tag, uint32_t a, uint32_t b, int two)
{
    uint8_t buf[12];

    memcpy(buf, tag, 4);
    for (int i = 0; i < 4; i++) {
        buf[4 + i] = (uint8_t)(a >> (8 * i));
        buf[8 + i] = (uint8_t)(b >> (8 * i));
    }
    if (write(1, buf, two ? 12 : 8) < 0)
        exit(3);
}

/* Send text in a proper TEXT frame and end the stream. */
static void send_text(const char *text)
{
    size_t len = strlen(text);

    if (write(1, "MGR1", 4) != 4)
        exit(3);
    frame("TEXT", (uint32_t)len, 0, 0);
    if (write(1, text, len) != (ssize_t)len)
        exit(3);
    frame("DONE", 0, 0, 0);
}

/* Allocate and touch memory until allocation fails. */
static void hog(void)
{
    for (;;) {
        char *p = malloc(1 << 20);
        if (!p) {
            fprintf(stderr, "probe: cannot allocate memory\n");
            abort();
        }
        memset(p, 1, 1 << 20);
    }
}

/* Try to reach 127.0.0.1:port and report the outcome as text. */
static void net(int port)
{
    struct sockaddr_in sa = {0};
    char msg[128];
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
        snprintf(msg, sizeof msg, "connected");
    else
        snprintf(msg, sizeof msg, "connect failed: errno %d", errno);
    send_text(msg);
}

/* Fork children that sleep forever and report their pids. */
static void forker(void)
{
    char msg[2048];
    size_t len = 0;

    msg[0] = '\0';
    for (int i = 0; i < 20; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            for (;;)
                pause();
        }
        if (pid < 0)
            break;
        int n = snprintf(msg + len, sizeof msg - len, "%d ", (int)pid);
        if (n < 0 || (size_t)n >= sizeof msg - len)
            break;
        len += (size_t)n;
    }
    send_text(msg);
}

int main(void)
{
    char line[64] = "";

    if (!fgets(line, sizeof line, stdin))
        return 2;
    if (strncmp(line, "hog", 3) == 0)
        hog();
    if (strncmp(line, "spin", 4) == 0)
        for (volatile unsigned long n = 0;; n++)
            ;
    if (strncmp(line, "sleep", 5) == 0)
        for (;;)
            pause();
    if (strncmp(line, "net ", 4) == 0)
        net(atoi(line + 4));
    if (strncmp(line, "garbage", 7) == 0 && write(1, "MGR1PAGZ\x01\x02\x03garbage", 18) < 0)
        return 3;
    if (strncmp(line, "huge", 4) == 0) {
        if (write(1, "MGR1", 4) != 4)
            return 3;
        frame("PAGS", 1, 0, 0);
        frame("PAGE", 20000, 20000, 1);
        for (;;)
            pause();
    }
    if (strncmp(line, "fork", 4) == 0)
        forker();
    if (strncmp(line, "sigsys", 6) == 0)
        raise(SIGSYS); /* what the seccomp filter does to a forbidden call */
    return 0;
}
