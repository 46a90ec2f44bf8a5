/*
 * tests/unit/test_jail.c - the render jail: a misbehaving probe must be
 * contained (memory, CPU, time, network, protocol, processes), and the real
 * mugai-render, with its seccomp filter on, must render PDFs and images.
 *
 * Runs as root in CI (network namespaces need it); creates its inputs itself.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cairo.h>
#include <cairo-pdf.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib.h>
#include "mg.h"
#include "san_int.h"

/* Pages received by a sink. */
typedef struct pages {
    unsigned announced;
    unsigned count;
    unsigned w, h;
    int white_corner;
} pages;

/* A conf with small limits for the tests. */
static conf *test_conf(const char *render)
{
    static conf c;

    memset(&c, 0, sizeof c);
    c.render_path = (char *)render;
    c.soffice_path = "/usr/bin/soffice";
    c.pdf_dpi = 144;
    c.max_pages = 20;
    c.max_image_mpixels = 40;
    c.max_text_mb = 1;
    c.charsets = "UTF-8,CP932,EUC-JP,ISO-2022-JP";
    c.jail_timeout = 60;
    c.jail_cpu = 30;
    c.jail_memory_mb = 1024;
    c.jail_file_size_mb = 64;
    c.jail_open_files = 64;
    c.jail_processes = 64;
    c.jail_seccomp = 1;
    c.jail_network_namespace = 1;
    c.jail_user = "nobody";
    c.office_timeout = 180;
    c.office_memory_mb = 4096;
    return &c;
}

/* An unlinked temporary file holding len bytes of data, at offset 0. */
static int temp_input(const void *data, size_t len)
{
    char path[] = "/tmp/test_jail-XXXXXX";
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

/* Processes still running (not zombies) whose program is the probe; sent sig unless 0. */
static int probes(int sig)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    char path[300], exe[4096], stat[512];
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/exe", e->d_name);
        ssize_t k = readlink(path, exe, sizeof exe - 1);
        if (k <= 0)
            continue;
        exe[k] = '\0';
        if (strcmp(exe, JAIL_PROBE) != 0)
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (f && fgets(stat, sizeof stat, f) && !strstr(stat, ") Z")) {
            n++;
            if (sig)
                kill(atoi(e->d_name), sig);
        }
        if (f)
            fclose(f);
    }
    closedir(d);
    return n;
}

/* Processes still running (not zombies) whose program is the probe. */
static int running_probes(void)
{
    return probes(0);
}

/* Seconds on a monotonic clock. */
static double now(void)
{
    return g_get_monotonic_time() / 1e6;
}

/* Wait up to secs for running_probes() to equal n; returns the last count. */
static int wait_probes(int n, double secs)
{
    double end = now() + secs;
    int k;

    while ((k = running_probes()) != n && now() < end)
        usleep(20000);
    return k;
}

/* Run the probe with cmd in text mode; returns the status, text in *out. */
static jail_status run_probe(conf *c, const char *cmd, char **out, char *why, size_t why_len)
{
    size_t len = 0;
    int fd = temp_input(cmd, strlen(cmd));
    jail_status st = jail_render_text(c, "text", NULL, fd, out, &len, why, why_len);

    close(fd);
    return st;
}

/* One row per misbehaviour: what it does, the limits, what the jail must answer. */
typedef struct probe_case {
    const char *cmd;
    unsigned timeout, cpu;
    size_t memory_mb;
    jail_status want, also;
    const char *why_has;
    double max_seconds;
} probe_case;

static const probe_case probe_cases[] = {
    {"hog\n", 60, 30, 128, JAIL_LIMIT, JAIL_CRASHED, "memory", 30},
    {"spin\n", 60, 1, 256, JAIL_LIMIT, JAIL_LIMIT, "CPU", 30},
    {"sleep\n", 2, 30, 256, JAIL_TIMEOUT, JAIL_TIMEOUT, "time", 6},
    {"garbage\n", 10, 30, 256, JAIL_PROTOCOL, JAIL_PROTOCOL, "", 6},
    {"huge\n", 10, 30, 256, JAIL_PROTOCOL, JAIL_PROTOCOL, "20000x20000", 6},
    {"sigsys\n", 10, 30, 256, JAIL_CRASHED, JAIL_CRASHED, "SIGSYS (seccomp)", 6},
    {"linger\n", 60, 30, 256, JAIL_CRASHED, JAIL_CRASHED, "did not exit after its output", 6},
};

/* Every misbehaviour ends with the expected status, in time, with nothing left running. */
static void test_probe_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof probe_cases / sizeof probe_cases[0]; i++) {
        const probe_case *pc = &probe_cases[i];
        conf *c = test_conf(JAIL_PROBE);
        char why[256] = "", *out = NULL;
        c->jail_timeout = pc->timeout;
        c->jail_cpu = pc->cpu;
        c->jail_memory_mb = pc->memory_mb;
        jail_status st;
        double t0 = g_get_monotonic_time() / 1e6;
        if (strncmp(pc->cmd, "huge", 4) == 0) {
            pages p = {0};
            int (*begin)(void *, unsigned) = NULL;
            jail_sink sink = {begin, NULL, &p, NULL};
            int fd = temp_input(pc->cmd, strlen(pc->cmd));
            st = jail_render_pages(c, "pdf", NULL, fd, &sink, why, sizeof why);
            close(fd);
        } else {
            st = run_probe(c, pc->cmd, &out, why, sizeof why);
        }
        double dt = g_get_monotonic_time() / 1e6 - t0;
        print_message("probe %s -> %s (%s) in %.1f s\n", pc->cmd, jail_status_name(st), why, dt);
        assert_true(st == pc->want || st == pc->also);
        assert_non_null(strstr(why, pc->why_has));
        assert_true(dt < pc->max_seconds);
        assert_null(out);
        assert_int_equal(running_probes(), 0);
    }
}

/* A listener on 127.0.0.1 outside the jail; the port in *port. */
static int listen_loopback(int *port)
{
    struct sockaddr_in sa = {0};
    socklen_t sl = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* The probe cannot reach a port that is listening outside the jail: the system-call filter
 * refuses Internet sockets (EAFNOSUPPORT), and behind it the network namespace has no
 * interfaces. Without the namespace ([jail] network_namespace = false) the filter holds. */
static void test_probe_net(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    conf *c = test_conf(JAIL_PROBE);
    char cmd[32], why[256] = "", *out = NULL;
    int port;
    int lfd = listen_loopback(&port);
    snprintf(cmd, sizeof cmd, "net %d\n", port);
    for (int ns = 0; ns <= 1; ns++) {
        c->jail_network_namespace = ns;
        assert_int_equal(run_probe(c, cmd, &out, why, sizeof why), JAIL_OK);
        print_message("net probe in the jail: %s\n", out);
        assert_string_equal(out, "connect failed: errno 97");
        g_free(out);
    }
    struct pollfd p = {lfd, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 0), 0); /* nothing ever connected */
    close(lfd);
}

/* A copy of the probe in a fresh 0755 directory that any user can run it from. */
static void probe_copy(char *dir, char *probe, size_t len)
{
    gchar *bin = NULL;
    gsize n = 0;

    assert_non_null(mkdtemp(dir));
    assert_int_equal(chmod(dir, 0755), 0);
    snprintf(probe, len, "%s/probe", dir);
    assert_true(g_file_get_contents(JAIL_PROBE, &bin, &n, NULL));
    assert_true(g_file_set_contents(probe, bin, (gssize)n, NULL));
    g_free(bin);
    assert_int_equal(chmod(probe, 0755), 0);
}

/* What of mugai's the jail must not reach: a quarantine and a spool directory (0700, with
 * a file each) and a listener on 127.0.0.1. */
typedef struct host {
    char quar[64], spool[64];
    int lfd, port;
} host;

/* Make h's directories and listener. */
static void host_new(host *h)
{
    char f[128];

    snprintf(h->quar, sizeof h->quar, "/tmp/test_jail-quar-XXXXXX");
    snprintf(h->spool, sizeof h->spool, "/tmp/test_jail-spool-XXXXXX");
    assert_non_null(mkdtemp(h->quar));
    assert_non_null(mkdtemp(h->spool));
    snprintf(f, sizeof f, "%s/index.sqlite", h->quar);
    assert_true(g_file_set_contents(f, "SQLite format 3", -1, NULL));
    snprintf(f, sizeof f, "%s/msg-1", h->spool);
    assert_true(g_file_set_contents(f, "From: a@example.jp\r\n\r\nhi\r\n", -1, NULL));
    h->lfd = listen_loopback(&h->port);
}

/* Remove h's directories and listener. */
static void host_free(host *h)
{
    char cmd[200];

    snprintf(cmd, sizeof cmd, "rm -rf %s %s", h->quar, h->spool);
    assert_int_equal(system(cmd), 0);
    close(h->lfd);
}

/* Read all of fd from offset 0 into a g_malloc'ed string. */
static char *fd_text(int fd)
{
    GString *g = g_string_new(NULL);
    char buf[4096];
    ssize_t n;

    lseek(fd, 0, SEEK_SET);
    while ((n = read(fd, buf, sizeof buf)) > 0)
        g_string_append_len(g, buf, n);
    return g_string_free(g, FALSE);
}

/* Run the snoop in the calling process (the worker), with c->render_path as the renderer
 * (office 0) or as the LibreOffice stand-in (office 1); the report, g_malloc'ed, or NULL. */
static char *snoop_run(conf *c, const host *h, int office)
{
    char cmd[512], why[256] = "", *out = NULL;
    size_t len = 0;

    snprintf(cmd, sizeof cmd, "snoop %d %ld,%ld %s,%s/index.sqlite,%s,%s/msg-1,/etc/shadow,/root\n",
             h->port, (long)getpid(), (long)getppid(), h->quar, h->quar, h->spool, h->spool);
    int in = temp_input(cmd, strlen(cmd));
    if (!office) {
        jail_status st = jail_render_text(c, "text", NULL, in, &out, &len, why, sizeof why);
        close(in);
        return st == JAIL_OK ? out : (fprintf(stderr, "snoop: %s\n", why), NULL);
    }
    int pdf = temp_input("", 0);
    c->soffice_path = c->render_path;
    jail_status st = jail_office_to_pdf(c, in, "docx", pdf, why, sizeof why);
    close(in);
    if (st == JAIL_OK)
        out = fd_text(pdf);
    else
        fprintf(stderr, "snoop as LibreOffice: %s\n", why);
    close(pdf);
    return out;
}

/* Check a report: the jail's user, only the jail's own processes, none of mugai's
 * processes, files or ports reachable, nothing writable but the work directory. */
static void snoop_check(const char *rep, uid_t uid)
{
    char **lines = g_strsplit(rep, "\n", -1);
    unsigned u = 0, g = 0, pids = 0, opens = 0, writes = 0, connects = 0, procs = 0;

    print_message("%s", rep);
    for (char **l = lines; *l; l++) {
        int a, b, c2, d;
        char what[256];
        if (sscanf(*l, "uid %u gid %u", &u, &g) == 2)
            assert_int_equal(u, uid);
        else if (sscanf(*l, "oom_score_adj %d", &a) == 1)
            assert_int_equal(a, 1000); /* the jail goes first under memory pressure */
        else if (strncmp(*l, "proc:", 5) == 0) {
            gchar **ids = g_strsplit(*l + 5, " ", -1);
            for (gchar **id = ids; *id; id++)
                if (**id) {
                    procs++;
                    assert_true(atoi(*id) < 10); /* the jail's own: init, the program */
                }
            g_strfreev(ids);
        } else if (sscanf(*l, "pid %d: kill %d sigcont %d prlimit %d", &a, &b, &c2, &d) == 4) {
            pids++;
            assert_true(b != 0 && c2 != 0 && d != 0);
        } else if (sscanf(*l, "open %255[^:]: %d", what, &a) == 2) {
            opens++;
            assert_int_not_equal(a, 0);
        } else if (sscanf(*l, "write %255[^:]: %d", what, &a) == 2) {
            writes++;
            if (strcmp(what, "work") == 0)
                assert_int_equal(a, 0); /* shows the probe can tell success */
            else
                assert_int_not_equal(a, 0);
        } else if (sscanf(*l, "connect: %d", &a) == 1) {
            connects++;
            assert_int_not_equal(a, 0);
        }
    }
    g_strfreev(lines);
    assert_true(procs >= 1 && procs <= 3);
    assert_int_equal(pids, 2);
    assert_int_equal(opens, 6);
    assert_int_equal(writes, 6);
    assert_int_equal(connects, 1);
}

/* Started by root, the renderer and LibreOffice run as [jail] user (nobody) and reach
 * nothing of the worker's, the supervisor's or the host's. */
static void test_snoop_root_worker(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    struct passwd *pw = getpwnam("nobody");
    host h;

    assert_non_null(pw);
    host_new(&h);
    for (int office = 0; office <= 1; office++) {
        conf *c = test_conf(JAIL_PROBE);
        char *rep = snoop_run(c, &h, office);
        assert_non_null(rep);
        snoop_check(rep, pw->pw_uid);
        g_free(rep);
    }
    host_free(&h);
}

/* mugai-milter's way to run as its own user: a user namespace where the jail user is 1. */
static int prepare_milter_user(void)
{
    struct passwd *d = getpwnam("daemon");
    uid_t du = d ? d->pw_uid : 0;
    gid_t dg = d ? d->pw_gid : 0;
    struct passwd *n = getpwnam("nobody"); /* the same static storage as d */

    if (!d || !n || san_jail_userns_enter(du, dg, n->pw_uid, n->pw_gid) < 0)
        return -1;
    /* Only the capabilities jails need: SYS_ADMIN, SETUID, SETGID, CHOWN, SETPCAP,
     * DAC_OVERRIDE, KILL; in particular no SYS_PTRACE. */
    char line[256] = "";
    FILE *f = fopen("/proc/self/status", "r");
    unsigned long long eff = ~0ULL;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "CapEff: %llx", &eff) == 1)
            break;
    if (f)
        fclose(f);
    return eff == 0x2001e3ULL ? 0 : -1;
}

/* A plain unprivileged worker (sanitize-file run by a user): no user to switch to. */
static int prepare_nobody(void)
{
    struct passwd *n = getpwnam("nobody");

    return n && setgroups(0, NULL) == 0 && setgid(n->pw_gid) == 0 && setuid(n->pw_uid) == 0 ? 0
                                                                                            : -1;
}

/* Check the NUL-separated reports of both snoops of a forked worker. */
static void snoop_check_all(char *all, size_t len, uid_t uid)
{
    size_t n = 0;

    for (char *r = all; r < all + len; r += strlen(r) + 1, n++)
        snoop_check(r, uid);
    assert_int_equal(n, 2);
}

/* Run both snoops in a worker prepared by prepare and check them against uid. */
static void snoop_worker(int (*prepare)(void), uid_t uid)
{
    char dir[] = "/tmp/test_jail-user-XXXXXX", probe[64];
    host h;
    int p[2], st = -1;

    probe_copy(dir, probe, sizeof probe);
    host_new(&h);
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        if (prepare() < 0)
            _exit(2);
        for (int office = 0; office <= 1; office++) {
            char *rep = snoop_run(test_conf(probe), &h, office);
            if (!rep || write(p[1], rep, strlen(rep) + 1) < 0)
                _exit(3);
        }
        _exit(0);
    }
    close(p[1]);
    GString *all = g_string_new(NULL);
    char buf[4096];
    ssize_t n;
    while ((n = read(p[0], buf, sizeof buf)) > 0)
        g_string_append_len(all, buf, n);
    close(p[0]);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    snoop_check_all(all->str, all->len, uid);
    g_string_free(all, TRUE);
    host_free(&h);
    unlink(probe);
    rmdir(dir);
}

/* mugai-milter started as root with [milter] user: its workers run as that user (in their
 * user namespace), and the jailed programs still run as the jail user, uid 1 there. */
static void test_snoop_milter_user_worker(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    snoop_worker(prepare_milter_user, 1);
}

/* A worker that is neither root nor mugai-milter's: the jailed programs keep its uid, but
 * still see none of its processes, files or ports. */
static void test_snoop_unprivileged_worker(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    snoop_worker(prepare_nobody, getpwnam("nobody")->pw_uid);
}

/* With its network namespace impossible, the jail fails closed: nothing runs. */
static void test_netns_fails_closed(void **state)
{
    (void)state;
    conf *c = test_conf(JAIL_PROBE);
    char cmd[32], why[256] = "", *out = NULL;
    int port, lfd = listen_loopback(&port);

    snprintf(cmd, sizeof cmd, "net %d\n", port);
    assert_int_equal(setenv("MUGAI_JAIL_TEST_FAIL", "netns", 1), 0);
    assert_int_equal(run_probe(c, cmd, &out, why, sizeof why), JAIL_UNAVAILABLE);
    assert_null(out);
    assert_non_null(strstr(why, "namespaces"));
    int in = temp_input("x", 1), pdf = temp_input("", 0);
    c->soffice_path = JAIL_PROBE;
    assert_int_equal(jail_office_to_pdf(c, in, "docx", pdf, why, sizeof why), JAIL_UNAVAILABLE);
    close(in);
    close(pdf);
    assert_int_equal(unsetenv("MUGAI_JAIL_TEST_FAIL"), 0);
    /* Nothing connected while the namespace was missing. */
    struct pollfd p = {lfd, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 0), 0);
    close(lfd);
}

/* Neither the renderer nor LibreOffice may make namespaces, mount, reach netlink (the
 * kernel's less-trodden paths) or run code from the input; a local socket, which LibreOffice
 * needs, still works. */
static void test_escape_refused(void **state)
{
    (void)state;
    for (int office = 0; office <= 1; office++) {
        conf *c = test_conf(JAIL_PROBE);
        char why[256] = "", *out = NULL;
        int in = temp_input("escape\n", 7);
        if (office) {
            int pdf = temp_input("", 0);
            c->soffice_path = JAIL_PROBE;
            assert_int_equal(jail_office_to_pdf(c, in, "docx", pdf, why, sizeof why), JAIL_OK);
            out = fd_text(pdf);
            close(pdf);
        } else {
            size_t len = 0;
            assert_int_equal(jail_render_text(c, "text", NULL, in, &out, &len, why, sizeof why),
                             JAIL_OK);
        }
        close(in);
        print_message("%s", out);
        assert_non_null(strstr(out, "unshare-user: 1\n")); /* EPERM */
        assert_non_null(strstr(out, "unshare-net: 1\n"));
        assert_non_null(strstr(out, "mount: 1\n"));
        assert_non_null(strstr(out, "netlink: 97\n")); /* EAFNOSUPPORT */
        assert_non_null(strstr(out, "unix: 0\n"));
        assert_non_null(strstr(out, "execmap: 1\n")); /* EPERM: the work directory is noexec */
        g_free(out);
    }
}

/* The work directory is a bounded tmpfs of the jail's own: writing stops at its size, and
 * nothing of it is left on the host. */
static void test_work_is_bounded(void **state)
{
    (void)state;
    char tmp[64], why[256] = "", *out = NULL;
    unsigned mb = 0;
    int err = 0;

    snprintf(tmp, sizeof tmp, "/tmp/test_jail-tmp-XXXXXX");
    assert_non_null(mkdtemp(tmp));
    assert_int_equal(setenv("TMPDIR", tmp, 1), 0);
    conf *c = test_conf(JAIL_PROBE);
    c->jail_file_size_mb = 32;
    assert_int_equal(run_probe(c, "fill\n", &out, why, sizeof why), JAIL_OK);
    print_message("%s", out);
    assert_int_equal(sscanf(out, "filled %u MiB: %d", &mb, &err), 2);
    assert_int_equal(err, ENOSPC);
    assert_true(mb >= 16 && mb <= 34);
    g_free(out);
    assert_int_equal(unsetenv("TMPDIR"), 0);
    assert_int_equal(rmdir(tmp), 0); /* empty: the jail wrote nothing here */
}

/* Children forked by the probe are gone once the jail returns. */
static void test_probe_fork(void **state)
{
    (void)state;
    conf *c = test_conf(JAIL_PROBE);
    char why[256] = "", *out = NULL;

    assert_int_equal(run_probe(c, "fork\n", &out, why, sizeof why), JAIL_OK);
    assert_non_null(out);
    assert_true(strlen(out) > 0);
    g_free(out);
    assert_int_equal(running_probes(), 0);
}

/* The job's deadline stops a conversion before its own time limit, then refuses the next
 * one at once, until it is lifted. */
static void test_job_deadline(void **state)
{
    (void)state;
    conf *c = test_conf(JAIL_PROBE);
    char why[256] = "", *out = NULL;

    c->jail_timeout = 60;
    double t0 = now();
    san_deadline_set(t0 + 2);
    assert_false(san_deadline_reached());
    assert_int_equal(run_probe(c, "sleep\n", &out, why, sizeof why), JAIL_TIMEOUT);
    double dt = now() - t0;
    print_message("deadline: %s after %.1f s\n", why, dt);
    assert_true(dt >= 1.9 && dt < 4);
    assert_non_null(strstr(why, "job's time limit"));
    assert_true(san_deadline_reached());
    assert_int_equal(running_probes(), 0);
    t0 = now();
    assert_int_equal(run_probe(c, "fork\n", &out, why, sizeof why), JAIL_TIMEOUT);
    assert_true(now() - t0 < 0.5);
    assert_null(out);
    san_deadline_set(0);
    assert_false(san_deadline_reached());
    assert_int_equal(run_probe(c, "fork\n", &out, why, sizeof why), JAIL_OK);
    g_free(out);
    /* A later deadline leaves the conversion's own limit in charge. */
    c->jail_timeout = 1;
    san_deadline_set(now() + 60);
    assert_int_equal(run_probe(c, "sleep\n", &out, why, sizeof why), JAIL_TIMEOUT);
    assert_non_null(strstr(why, "time limit of 1 s"));
    assert_false(san_deadline_reached());
    san_deadline_set(0);
}

/* A private TMPDIR for the jail; path into dir. */
static void private_tmpdir(char *dir, size_t len)
{
    snprintf(dir, len, "/tmp/test_jail-tmp-XXXXXX");
    assert_non_null(mkdtemp(dir));
    assert_int_equal(setenv("TMPDIR", dir, 1), 0);
}

/* Number of entries in dir besides . and .. */
static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* A conversion dies with the process that runs it (a worker killed mid-job); the private
 * directory it leaves is named after that process and swept once it is gone. */
static void test_dies_with_its_worker(void **state)
{
    (void)state;
    char tmp[64];

    private_tmpdir(tmp, sizeof tmp);
    pid_t worker = fork();
    assert_true(worker >= 0);
    if (worker == 0) {
        conf *c = test_conf(JAIL_PROBE);
        char why[256], *out = NULL;
        c->jail_timeout = 60;
        run_probe(c, "sleep\n", &out, why, sizeof why);
        _exit(0);
    }
    assert_int_equal(wait_probes(1, 10), 1);
    assert_int_equal(entries(tmp), 1);
    kill(worker, SIGKILL);
    assert_int_equal(waitpid(worker, NULL, 0), worker);
    int left = wait_probes(0, 2);
    probes(SIGKILL);
    assert_int_equal(left, 0);
    san_jail_dirs_sweep();
    assert_int_equal(entries(tmp), 0);
    assert_int_equal(rmdir(tmp), 0);
    unsetenv("TMPDIR");
}

/* The sweep removes the directories of processes that are gone and nothing else. */
static void test_dirs_sweep(void **state)
{
    (void)state;
    char tmp[64], dead[128], live[128], other[128], file[160];

    private_tmpdir(tmp, sizeof tmp);
    pid_t gone = fork();
    if (gone == 0)
        _exit(0);
    assert_int_equal(waitpid(gone, NULL, 0), gone);
    snprintf(dead, sizeof dead, "%s/mugai-jail-%ld-AbC123", tmp, (long)gone);
    snprintf(live, sizeof live, "%s/mugai-jail-%ld-XyZ789", tmp, (long)getppid());
    snprintf(other, sizeof other, "%s/mugai-jail-AbC123", tmp);
    snprintf(file, sizeof file, "%s/profile", dead);
    assert_int_equal(mkdir(dead, 0700), 0);
    assert_int_equal(mkdir(file, 0700), 0);
    assert_int_equal(mkdir(live, 0700), 0);
    assert_int_equal(mkdir(other, 0700), 0);
    san_jail_dirs_sweep();
    assert_int_equal(access(dead, F_OK), -1);
    assert_int_equal(access(live, F_OK), 0);
    assert_int_equal(access(other, F_OK), 0);
    assert_int_equal(rmdir(live), 0);
    assert_int_equal(rmdir(other), 0);
    assert_int_equal(rmdir(tmp), 0);
    unsetenv("TMPDIR");
}

/* Sink: count pages and check sizes. */
static int sink_begin(void *ctx, unsigned n)
{
    ((pages *)ctx)->announced = n;
    return 0;
}

static int sink_page(void *ctx, unsigned w, unsigned h, const uint8_t *rgb)
{
    pages *p = ctx;

    p->count++;
    p->w = w;
    p->h = h;
    p->white_corner = rgb[0] == 255 && rgb[1] == 255 && rgb[2] == 255;
    return 0;
}

/* Write a 3-page 200x100 pt PDF with Japanese text to an unlinked file. */
static cairo_status_t to_string(void *closure, const unsigned char *data, unsigned int len)
{
    g_string_append_len(closure, (const char *)data, len);
    return CAIRO_STATUS_SUCCESS;
}

static GString *make_pdf(void)
{
    GString *buf = g_string_new(NULL);
    cairo_surface_t *s = cairo_pdf_surface_create_for_stream(to_string, buf, 200, 100);
    cairo_t *cr = cairo_create(s);

    for (int i = 0; i < 3; i++) {
        cairo_select_font_face(cr, "IPAexGothic", CAIRO_FONT_SLANT_NORMAL,
                               CAIRO_FONT_WEIGHT_NORMAL);
        cairo_set_font_size(cr, 20);
        cairo_move_to(cr, 10, 50);
        cairo_show_text(cr, "無害化 テスト");
        cairo_show_page(cr);
    }
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    return buf;
}

/* Run the real renderer on data in mode. */
static jail_status render(const char *mode, const char *type, const void *data, size_t len,
                          pages *p, char *why, size_t why_len)
{
    conf *c = test_conf(JAIL_RENDER);
    jail_sink sink = {sink_begin, sink_page, p, NULL};
    int fd = temp_input(data, len);
    jail_status st = jail_render_pages(c, mode, type, fd, &sink, why, why_len);

    close(fd);
    return st;
}

/* A 3-page PDF renders to 3 pages of 400x200 pixels at 144 dpi, seccomp on. */
static void test_render_pdf(void **state)
{
    (void)state;
    GString *pdf = make_pdf();
    pages p = {0};
    char why[256] = "";

    assert_int_equal(render("pdf", NULL, pdf->str, pdf->len, &p, why, sizeof why), JAIL_OK);
    assert_int_equal(p.announced, 3);
    assert_int_equal(p.count, 3);
    assert_int_equal(p.w, 400);
    assert_int_equal(p.h, 200);
    assert_true(p.white_corner);
    g_string_free(pdf, TRUE);
}

/* Random bytes are not a PDF; an encrypted PDF is held. */
static void test_render_pdf_bad(void **state)
{
    (void)state;
    char junk[4096], why[256] = "";
    pages p = {0};

    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)(rand() & 0xff);
    assert_int_equal(render("pdf", NULL, junk, sizeof junk, &p, why, sizeof why), JAIL_MALFORMED);
    if (access("/usr/bin/qpdf", X_OK) != 0)
        return;
    GString *pdf = make_pdf();
    char in[] = "/tmp/test_jail-in-XXXXXX", out[64], cmd[256];
    int fd = mkstemp(in);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, pdf->str, pdf->len), (ssize_t)pdf->len);
    close(fd);
    snprintf(out, sizeof out, "%s.enc", in);
    snprintf(cmd, sizeof cmd, "qpdf --encrypt user owner 256 -- %s %s", in, out);
    assert_int_equal(system(cmd), 0);
    gchar *enc;
    gsize enc_len;
    assert_true(g_file_get_contents(out, &enc, &enc_len, NULL));
    unlink(in);
    unlink(out);
    assert_int_equal(render("pdf", NULL, enc, enc_len, &p, why, sizeof why), JAIL_ENCRYPTED);
    assert_non_null(strstr(why, "encrypted"));
    g_free(enc);
    g_string_free(pdf, TRUE);
}

/* Images saved by gdk-pixbuf in each format come back as one page of the same size. */
static void test_render_images(void **state)
{
    static const char *const types[] = {"png", "jpeg", "tiff", "bmp"};

    (void)state;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        int alpha = strcmp(types[i], "jpeg") != 0 && strcmp(types[i], "bmp") != 0;
        GdkPixbuf *pb = gdk_pixbuf_new(GDK_COLORSPACE_RGB, alpha, 8, 40, 30);
        gdk_pixbuf_fill(pb, 0x2040ff80);
        gchar *buf;
        gsize len;
        if (!gdk_pixbuf_save_to_buffer(pb, &buf, &len, types[i], NULL, NULL)) {
            g_object_unref(pb);
            continue;
        }
        pages p = {0};
        char why[256] = "";
        jail_status st = render("image", types[i], buf, len, &p, why, sizeof why);
        print_message("image %s -> %s %s\n", types[i], jail_status_name(st), why);
        assert_int_equal(st, JAIL_OK);
        assert_int_equal(p.count, 1);
        assert_int_equal(p.w, 40);
        assert_int_equal(p.h, 30);
        assert_int_equal(render("image", "svg", buf, len, &p, why, sizeof why), JAIL_ERROR);
        g_free(buf);
        g_object_unref(pb);
    }
}

/* An image larger than the pixel bound is refused before decoding. */
static void test_render_image_limit(void **state)
{
    (void)state;
    GdkPixbuf *pb = gdk_pixbuf_new(GDK_COLORSPACE_RGB, FALSE, 8, 9000, 9000);
    gchar *buf;
    gsize len;
    pages p = {0};
    char why[256] = "";

    gdk_pixbuf_fill(pb, 0xffffffff);
    assert_true(gdk_pixbuf_save_to_buffer(pb, &buf, &len, "png", NULL, NULL));
    assert_int_equal(render("image", "png", buf, len, &p, why, sizeof why), JAIL_LIMIT);
    assert_int_equal(p.count, 0);
    g_free(buf);
    g_object_unref(pb);
}

/* Plain UTF-8 text goes through the text mode unchanged. */
static void test_render_text(void **state)
{
    (void)state;
    conf *c = test_conf(JAIL_RENDER);
    const char *text = "こんにちは、無害化です。\n";
    char why[256] = "", *out = NULL;
    size_t len = 0;
    int fd = temp_input(text, strlen(text));

    assert_int_equal(jail_render_text(c, "text", NULL, fd, &out, &len, why, sizeof why), JAIL_OK);
    assert_non_null(strstr(out, "無害化"));
    g_free(out);
    close(fd);
}

/* LibreOffice converts a text document to a PDF that renders. */
static void test_office(void **state)
{
    (void)state;
    if (access("/usr/bin/soffice", X_OK) != 0 || getenv("MUGAI_SKIP_OFFICE"))
        skip();
    conf *c = test_conf(JAIL_RENDER);
    const char *text = "議事録\n無害化通信のテストです。\n";
    char why[256] = "";
    int in = temp_input(text, strlen(text));
    int out = temp_input("", 0);

    jail_status st = jail_office_to_pdf(c, in, "txt", out, why, sizeof why);
    print_message("office -> %s %s\n", jail_status_name(st), why);
    assert_int_equal(st, JAIL_OK);
    pages p = {0};
    jail_sink sink = {sink_begin, sink_page, &p, NULL};
    assert_int_equal(jail_render_pages(c, "pdf", NULL, out, &sink, why, sizeof why), JAIL_OK);
    assert_true(p.count >= 1);
    close(in);
    close(out);
}

/* Make LibreOffice's profile under base with soffice (a file beside which versionrc holds
 * rc, none when rc is NULL); the build id the profile got, "" for none. Caller g_free()s. */
static char *profile_buildid(const char *base, const char *name, const char *rc)
{
    char *prog = g_build_filename(base, name, NULL);
    char *soffice = g_build_filename(prog, "soffice", NULL);
    char *vrc = g_build_filename(prog, "versionrc", NULL);
    char *profile = g_build_filename(base, name, "profile", NULL);
    char *bid = g_build_filename(profile, "user", "extensions", "buildid", NULL);
    char *got = NULL;
    jail_ids ids = {0, geteuid(), getegid()};

    assert_int_equal(g_mkdir_with_parents(prog, 0700), 0);
    assert_true(g_file_set_contents(soffice, "", 0, NULL));
    if (rc)
        assert_true(g_file_set_contents(vrc, rc, -1, NULL));
    assert_int_equal(jailns_office_profile(profile, soffice, &ids), 0);
    if (!g_file_get_contents(bid, &got, NULL, NULL))
        got = g_strdup("");
    g_free(prog);
    g_free(soffice);
    g_free(vrc);
    g_free(profile);
    g_free(bid);
    return got;
}

/* The profile carries the installation's build id, read from versionrc beside the real
 * soffice, so that LibreOffice does not synchronize its extensions at every start; a build
 * id that is missing, too long or not printable is left out, the profile made all the same. */
static void test_office_profile_buildid(void **state)
{
    static const struct {
        const char *rc, *want;
    } cases[] = {
        {"[Version]\nAllLanguages=en\nbuildid=40(Build:2)\nProductMajor=704\n", "40(Build:2)"},
        {"buildid=7.4.7.2 30(Build:2)\r\n", "7.4.7.2 30(Build:2)"},
        {NULL, ""},
        {"[Version]\nProductMajor=704\n", ""},
        {"buildid=ab\x01"
         "cd\n",
         ""},
        {"buildid=0123456789012345678901234567890123456789012345678901234567890123456789\n", ""},
    };
    char *base = g_dir_make_tmp("mugai-profile-XXXXXX", NULL);

    (void)state;
    assert_non_null(base);
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        char name[16];
        g_snprintf(name, sizeof name, "p%zu", i);
        char *got = profile_buildid(base, name, cases[i].rc);
        assert_string_equal(got, cases[i].want);
        g_free(got);
    }
    /* The real installation's, when there is one: what its versionrc says. */
    char prog[PATH_MAX], *rc = NULL;
    if (jailns_office_program("/usr/bin/soffice", prog, sizeof prog) == 0) {
        char *path = g_build_filename(prog, "versionrc", NULL);
        char *profile = g_build_filename(base, "real", NULL), *bid = NULL;
        jail_ids ids = {0, geteuid(), getegid()};
        assert_true(g_file_get_contents(path, &rc, NULL, NULL));
        assert_int_equal(jailns_office_profile(profile, "/usr/bin/soffice", &ids), 0);
        char *file = g_build_filename(profile, "user", "extensions", "buildid", NULL);
        assert_true(g_file_get_contents(file, &bid, NULL, NULL));
        char *line = g_strdup_printf("\nbuildid=%s\n", bid);
        assert_non_null(strstr(rc, line));
        g_free(line);
        g_free(file);
        g_free(bid);
        g_free(path);
        g_free(profile);
        g_free(rc);
    }
    mg_remove_tree(base);
    g_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_cases),
        cmocka_unit_test(test_probe_net),
        cmocka_unit_test(test_snoop_root_worker),
        cmocka_unit_test(test_snoop_milter_user_worker),
        cmocka_unit_test(test_snoop_unprivileged_worker),
        cmocka_unit_test(test_netns_fails_closed),
        cmocka_unit_test(test_escape_refused),
        cmocka_unit_test(test_work_is_bounded),
        cmocka_unit_test(test_probe_fork),
        cmocka_unit_test(test_job_deadline),
        cmocka_unit_test(test_dies_with_its_worker),
        cmocka_unit_test(test_dirs_sweep),
        cmocka_unit_test(test_render_pdf),
        cmocka_unit_test(test_render_pdf_bad),
        cmocka_unit_test(test_render_images),
        cmocka_unit_test(test_render_image_limit),
        cmocka_unit_test(test_render_text),
        cmocka_unit_test(test_office),
        cmocka_unit_test(test_office_profile_buildid),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
