/*
 * tests/unit/jail_probe.c - a misbehaving stand-in for mugai-render, used by
 * test_jail as conf->render_path to check that the jail contains it.
 *
 * Run only by the unit tests, inside the jail. The first line of stdin picks
 * the misbehaviour: hog, spin, sleep, net PORT, garbage, huge, fork, sigsys,
 * escape (try the kernel's namespace, mount and netlink paths), fill (write files until
 * the work directory is full), linger (answer, then stay), or
 * snoop PORT PID,PID... PATH,PATH... (report what of the host it can reach). Started
 * with LibreOffice's arguments (--convert-to ... --outdir DIR FILE), it plays
 * LibreOffice: the command is the first line of FILE, and the report goes into
 * DIR/input.pdf behind a "%PDF-" header.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

/* The report of snoop, and where it goes. */
static char report[8192];
static size_t report_len;
static const char *office_out; /* LibreOffice's --outdir, when playing LibreOffice */
static const char *input_path = "/proc/self/fd/0"; /* the input, as LibreOffice gets it */

/* Append one line to the report. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(report + report_len, sizeof report - report_len, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof report - report_len)
        report_len += (size_t)n;
}

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

/* Send text in a proper TEXT frame and end the stream; as LibreOffice, write the PDF. */
static void send_text(const char *text)
{
    size_t len = strlen(text);

    if (office_out) {
        char path[4096];
        snprintf(path, sizeof path, "%s/input.pdf", office_out);
        FILE *f = fopen(path, "w");
        if (!f || fprintf(f, "%%PDF-\n%s", text) < 0 || fclose(f) != 0)
            exit(3);
        exit(0);
    }
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

/* The pids in /proc, as a list. */
static void snoop_proc(void)
{
    DIR *d = opendir("/proc");
    struct dirent *e;

    say("proc:");
    while (d && (e = readdir(d)))
        if (e->d_name[0] >= '1' && e->d_name[0] <= '9')
            say(" %s", e->d_name);
    say("\n");
    if (d)
        closedir(d);
}

/* Signal and lower the limits of each pid of the comma-separated list. */
static void snoop_pids(char *list)
{
    for (char *t = strtok(list, ","); t; t = strtok(NULL, ",")) {
        pid_t pid = atoi(t);
        struct rlimit zero = {0, 0};
        int k = kill(pid, 0) == 0 ? 0 : errno;
        int k9 = kill(pid, SIGCONT) == 0 ? 0 : errno;
        int pl = prlimit(pid, RLIMIT_NOFILE, &zero, NULL) == 0 ? 0 : errno;
        say("pid %d: kill %d sigcont %d prlimit %d\n", (int)pid, k, k9, pl);
    }
}

/* Open each path of the comma-separated list for reading. */
static void snoop_paths(char *list)
{
    for (char *t = strtok(list, ","); t; t = strtok(NULL, ",")) {
        int fd = open(t, O_RDONLY);
        say("open %s: %d\n", t, fd >= 0 ? 0 : errno);
        if (fd >= 0)
            close(fd);
    }
}

/* Try to create a file in each of a few places, the work directory last. */
static void snoop_writes(void)
{
    char cwd[4096];
    const char *places[] = {"/", "/etc", "/usr", "/var/tmp", "/dev", cwd};

    if (!getcwd(cwd, sizeof cwd))
        exit(3);
    for (size_t i = 0; i < sizeof places / sizeof places[0]; i++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/probe-written", places[i]);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        say("write %s: %d\n", i + 1 == sizeof places / sizeof places[0] ? "work" : places[i],
            fd >= 0 ? 0 : errno);
        if (fd >= 0)
            close(fd);
    }
}

/* Report what of the host the jail can reach: "snoop PORT PIDS PATHS". */
static void snoop(char *args)
{
    char *port = strtok(args, " \n"), *pids = strtok(NULL, " \n"), *paths = strtok(NULL, " \n");
    struct sockaddr_in sa = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (!port || !pids || !paths)
        exit(2);
    say("uid %u gid %u\n", (unsigned)getuid(), (unsigned)getgid());
    FILE *oom = fopen("/proc/self/oom_score_adj", "r");
    int adj = 0;
    say("oom_score_adj %d\n", oom && fscanf(oom, "%d", &adj) == 1 ? adj : -1);
    if (oom)
        fclose(oom);
    snoop_proc();
    snoop_pids(pids);
    snoop_paths(paths);
    snoop_writes();
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)atoi(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    say("connect: %d\n",
        fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 ? 0 : errno);
    send_text(report);
    exit(0);
}

/* Try what a compromised LibreOffice would reach for: new namespaces, mounts, netlink. */
static void escape(void)
{
    say("unshare-user: %d\n", unshare(CLONE_NEWUSER) == 0 ? 0 : errno);
    say("unshare-net: %d\n", unshare(CLONE_NEWNET) == 0 ? 0 : errno);
    say("mount: %d\n", mount("none", "/tmp", "tmpfs", 0, "size=4g") == 0 ? 0 : errno);
    int fd = socket(AF_NETLINK, SOCK_RAW, 12 /* NETLINK_NETFILTER */);
    say("netlink: %d\n", fd >= 0 ? 0 : errno);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    say("unix: %d\n", fd >= 0 ? 0 : errno);
    /* The input, reopened and mapped executable: the work directory is noexec. */
    int in = open(input_path, O_RDONLY);
    void *m = in < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, in, 0);
    say("execmap: %d\n", m != MAP_FAILED ? 0 : errno);
    send_text(report);
    exit(0);
}

/* Write 8 MiB files into the work directory until that fails; report MiB and errno. */
static void fill(void)
{
    static char chunk[1 << 20];
    unsigned mb = 0;
    int err = 0;

    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; !err && i < 4096; i++) {
        char name[32];
        snprintf(name, sizeof name, "fill-%d", i);
        int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0)
            err = errno;
        for (int k = 0; fd >= 0 && !err && k < 8; k++, mb++)
            if (write(fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk)
                err = errno ? errno : ENOSPC;
        if (fd >= 0)
            close(fd);
    }
    say("filled %u MiB: %d\n", mb, err);
    send_text(report);
    exit(0);
}

/* Playing LibreOffice: read the command from the input file, answer into --outdir. */
static FILE *office_input(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--outdir") == 0)
            office_out = argv[i + 1];
    if (!office_out || mkdir(office_out, 0700) < 0)
        exit(2);
    input_path = argv[argc - 1];
    return fopen(argv[argc - 1], "r");
}

int main(int argc, char **argv)
{
    char line[4096] = "";
    FILE *in = argc > 2 && strcmp(argv[1], "--headless") == 0 ? office_input(argc, argv) : stdin;

    if (!in || !fgets(line, sizeof line, in))
        return 2;
    if (strncmp(line, "snoop ", 6) == 0)
        snoop(line + 6);
    if (strncmp(line, "escape", 6) == 0)
        escape();
    if (strncmp(line, "fill", 4) == 0)
        fill();
    if (strncmp(line, "linger", 6) == 0) {
        send_text("done");
        for (;;)
            pause();
    }
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
