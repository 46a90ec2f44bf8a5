/*
 * tests/unit/test_confine.c - a sanitizer worker's confinement, attacked, and
 * the jail spawner that makes its jails.
 *
 * Each row forks a child that confines itself with the real function
 * (san_confine_worker, as a pool worker does) and then tries one thing a
 * worker taken over by a message could try, or one thing a worker must still
 * do; the parent sees the outcome as the child's exit status (0 or the
 * errno). Then a confined child converts a text file through its jail spawner
 * (the real mugai-render in the real jail), while one without a spawner
 * cannot make a jail at all, and without Landlock a worker keeps the rest of
 * its confinement (rows marked so run as on such a kernel). Last, the
 * spawner's check of what a worker asks for, row by row, and the spawner
 * spoken to directly, as a worker taken over would: descriptors of other
 * kinds, kills for jails it did not make, malformed messages, answers left
 * unread.
 *
 * Runs as root in CI (as root, only Landlock keeps /etc/shadow out of reach,
 * and jails need it).
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
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <seccomp.h>
#include "mg.h"
#include "san_int.h"

/* The test's directories: base holds the worker's spool, quarantine and TMPDIR, and a
 * directory outside all of them. */
static char base[64];
static char spool[96], quar[96], tmp[96], outside[96];
/* The audit log (made by the first confined worker), a unix socket listening outside, and the
 * pool's socket in the spool. */
static char audit[96], outside_sock[104], pool_sock[104];
static int unix_listener = -1, pool_listener = -1;
/* A child's controlling terminal (prepare_tty). */
static int tty_fd = -1;
/* A TCP listener on the loopback, open in the parent for every row. */
static int listener = -1;
static struct sockaddr_in listen_addr;
/* The Landlock ABI of the kernel (0: none). */
static int abi;
/* The test's own pid: outside every confined child's domain. */
static pid_t parent;
/* A TCP socket made before the child confines itself. */
static int early_tcp = -1;

/* What a confined worker is given: the test's directories. */
static conf *test_conf(void)
{
    static conf c;

    memset(&c, 0, sizeof c);
    c.milter_spool_dir = spool;
    c.quarantine_dir = quar;
    c.audit_log = audit;
    c.mail_notice_template = "builtin";
    c.render_path = JAIL_RENDER;
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

/* Write text to path (0600). */
static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(close(fd), 0);
}

/* Open dir/name with flags; close it. 0, or -1 with errno. */
static long open_in(const char *dir, const char *name, int flags)
{
    char path[160];

    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, flags | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    return close(fd);
}

/* ---- attempts, each returning 0 or -1 with errno ---- */

static long read_shadow(void)
{
    return open_in("/etc", "shadow", O_RDONLY);
}

static long read_outside(void)
{
    return open_in(outside, "secret", O_RDONLY);
}

static long write_outside(void)
{
    return open_in(outside, "new", O_WRONLY | O_CREAT);
}

static long read_spool(void)
{
    return open_in(spool, "msg-1", O_RDONLY);
}

static long create_in_spool(void)
{
    return open_in(spool, "msg-2", O_WRONLY | O_CREAT | O_EXCL);
}

/* The gateway's own mails (PPAP follow-ups) are queued by workers in SPOOL/outbox. */
static long create_in_outbox(void)
{
    char dir[128];

    snprintf(dir, sizeof dir, "%s/outbox", spool);
    return open_in(dir, "tmp-1", O_WRONLY | O_CREAT | O_EXCL);
}

/* Without the pool's socket, no message reaches any worker. */
static long remove_pool_socket(void)
{
    return unlink(pool_sock);
}

static long append_audit(void)
{
    int fd = open(audit, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

    return fd < 0 ? -1 : close(fd);
}

/* A file of its own making beside the audit log, say one that log rotation takes for a log. */
static long create_beside_audit(void)
{
    char path[128];

    snprintf(path, sizeof path, "%s.1", audit);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    return fd < 0 ? -1 : close(fd);
}

/* A link for the supervisor's sweep or the spawner's mounts to follow out of TMPDIR. */
static long symlink_in_tmp(void)
{
    char path[128];

    snprintf(path, sizeof path, "%s/mugai-jail-1-AbCdEf", tmp);
    long rc = symlink("/etc", path);
    if (rc == 0)
        (void)unlink(path); /* the outcome is told; TMPDIR stays as it was */
    return rc;
}

static long create_in_quarantine(void)
{
    return open_in(quar, "original", O_WRONLY | O_CREAT | O_EXCL);
}

static long create_in_tmp(void)
{
    return open_in(tmp, "part", O_RDWR | O_CREAT | O_EXCL);
}

static long tmpfile_in_tmp(void)
{
    int fd = open(tmp, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

    return fd < 0 ? -1 : close(fd);
}

static long read_library(void)
{
    return open_in("/usr/lib/x86_64-linux-gnu", "libc.so.6", O_RDONLY);
}

static long read_proc_self(void)
{
    return open_in("/proc/self", "status", O_RDONLY);
}

static long write_dev_null(void)
{
    return open_in("/dev", "null", O_WRONLY);
}

/* A TCP connection out through a socket made before confinement, to a live listener. */
static long connect_early(void)
{
    return connect(early_tcp, (struct sockaddr *)&listen_addr, sizeof listen_addr);
}

static long socket_inet(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);

    return s < 0 ? -1 : close(s);
}

static long socket_inet6_udp(void)
{
    int s = socket(AF_INET6, SOCK_DGRAM, 0);

    return s < 0 ? -1 : close(s);
}

static long socket_netlink(void)
{
    int s = socket(AF_NETLINK, SOCK_RAW, 0);

    return s < 0 ? -1 : close(s);
}

static long socket_unix(void)
{
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);

    return s < 0 ? -1 : close(s);
}

/* A local daemon's socket (the system bus, a resolver, the pool's own): Landlock leaves
 * connecting to a socket file alone. */
static long connect_unix(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", outside_sock);
    long rc = s < 0 ? -1 : connect(s, (struct sockaddr *)&sa, sizeof sa);
    int saved = errno;
    if (s >= 0)
        close(s);
    errno = saved;
    return rc;
}

/* An abstract name another program may connect to, taking it for its peer. */
static long bind_abstract(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    memcpy(sa.sun_path, "\0mugai-test-confine", 20);
    long rc =
        s < 0 ? -1 : bind(s, (struct sockaddr *)&sa, offsetof(struct sockaddr_un, sun_path) + 20);
    int saved = errno;
    if (s >= 0)
        close(s);
    errno = saved;
    return rc;
}

static long trace_parent(void)
{
    return ptrace(PTRACE_ATTACH, parent, NULL, NULL);
}

static long mount_tmpfs(void)
{
    return mount("tmpfs", tmp, "tmpfs", 0, NULL);
}

static long exec_true(void)
{
    char *argv[] = {"/bin/true", NULL}, *envp[] = {NULL};

    return execve("/bin/true", argv, envp);
}

static long new_user_namespace(void)
{
    return unshare(CLONE_NEWUSER);
}

static long signal_parent(void)
{
    return kill(parent, 0);
}

/* Its process group is the supervisor's. */
static long signal_group(void)
{
    return kill(0, 0);
}

static long signal_everyone(void)
{
    return kill(-1, 0);
}

/* SIGIO (or any signal F_SETSIG names) goes to a descriptor's owner. */
static long own_by_parent(void)
{
    int p[2];

    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    long rc = fcntl(p[0], F_SETOWN, parent);
    int saved = errno;
    close(p[0]);
    close(p[1]);
    errno = saved;
    return rc;
}

/* abort() and raise() signal the worker itself. */
static long signal_self(void)
{
    return kill(getpid(), 0) == 0 && raise(0) == 0 ? 0 : -1;
}

/* Before confinement: a session of its own whose controlling terminal is a new pty, as a worker
 * of mugai-milter -f has the administrator's. */
static void prepare_tty(void)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY);

    if (m < 0 || setsid() < 0 || grantpt(m) < 0 || unlockpt(m) < 0 || !ptsname(m) ||
        (tty_fd = open(ptsname(m), O_RDWR)) < 0)
        _exit(253);
}

/* Typing a command into the terminal the administrator's shell reads once mugai-milter ends. */
static long inject_tty(void)
{
    char c = '\n';

    return ioctl(tty_fd, TIOCSTI, &c);
}

/* Before confinement: no audit log yet (the first worker's start). */
static void prepare_no_audit_log(void)
{
    if (unlink(audit) < 0 && errno != ENOENT)
        _exit(253);
}

/* What the engine does: a child of its own (7z probing), a memory file. */
static long fork_child(void)
{
    pid_t pid = fork();

    if (pid == 0)
        _exit(0);
    return pid < 0 ? -1 : waitpid(pid, NULL, 0) == pid ? 0 : -1;
}

static long memory_file(void)
{
    int fd = memfd_create("part", MFD_CLOEXEC);

    return fd < 0 ? -1 : close(fd);
}

/* One attempt and its expected outcome. */
typedef struct row {
    const char *name;
    long (*attempt)(void);
    int confined;          /* confine the child first */
    int err;               /* 0: must succeed; else the errno it must fail with */
    int min_abi;           /* the Landlock ABI the outcome needs (0: none) */
    int no_landlock;       /* as on a kernel without Landlock */
    void (*prepare)(void); /* run before confinement, or NULL */
} row;

static const row rows[] = {
    /* The controls: unconfined, the same attempts succeed (as root). */
    {"unconfined: /etc/shadow", read_shadow, 0, 0, 0, 0, NULL},
    {"unconfined: outside", read_outside, 0, 0, 0, 0, NULL},
    {"unconfined: connect", connect_early, 0, 0, 0, 0, NULL},
    {"unconfined: socket(AF_INET)", socket_inet, 0, 0, 0, 0, NULL},
    {"unconfined: a unix socket outside", connect_unix, 0, 0, 0, 0, NULL},
    {"unconfined: signal to its process group", signal_group, 0, 0, 0, 0, NULL},
    {"unconfined: TIOCSTI", inject_tty, 0, 0, 0, 0, prepare_tty},
    /* Out of reach once confined. */
    {"/etc/shadow", read_shadow, 1, EACCES, 1, 0, NULL},
    {"a file outside its directories", read_outside, 1, EACCES, 1, 0, NULL},
    {"a new file outside its directories", write_outside, 1, EACCES, 1, 0, NULL},
    {"TCP connect to a live listener", connect_early, 1, EPERM, 0, 0, NULL},
    {"TCP connect, without Landlock", connect_early, 1, EPERM, 0, 1, NULL},
    {"connect to a unix socket outside", connect_unix, 1, EPERM, 0, 0, NULL},
    {"bind an abstract unix socket", bind_abstract, 1, EPERM, 0, 0, NULL},
    {"signal to a process outside", signal_parent, 1, EPERM, 0, 0, NULL},
    {"signal to a process outside, without Landlock", signal_parent, 1, EPERM, 0, 1, NULL},
    {"signal to its process group, without Landlock", signal_group, 1, EPERM, 0, 1, NULL},
    {"signal to every process, without Landlock", signal_everyone, 1, EPERM, 0, 1, NULL},
    {"SIGIO to a process outside, without Landlock", own_by_parent, 1, EPERM, 0, 1, NULL},
    {"TIOCSTI on its controlling terminal", inject_tty, 1, EPERM, 0, 0, prepare_tty},
    {"a symbolic link in TMPDIR", symlink_in_tmp, 1, EPERM, 0, 0, NULL},
    {"a symbolic link in TMPDIR, without Landlock", symlink_in_tmp, 1, EPERM, 0, 1, NULL},
    {"a new file in the spool", create_in_spool, 1, EACCES, 1, 0, NULL},
    {"removing the pool's socket", remove_pool_socket, 1, EACCES, 1, 0, NULL},
    {"a new file beside the audit log", create_beside_audit, 1, EACCES, 1, 0, prepare_no_audit_log},
    {"socket(AF_INET)", socket_inet, 1, EAFNOSUPPORT, 0, 0, NULL},
    {"socket(AF_INET6, UDP)", socket_inet6_udp, 1, EAFNOSUPPORT, 0, 0, NULL},
    {"socket(AF_NETLINK)", socket_netlink, 1, EAFNOSUPPORT, 0, 0, NULL},
    {"ptrace", trace_parent, 1, EPERM, 0, 0, NULL},
    {"mount", mount_tmpfs, 1, EPERM, 0, 0, NULL},
    {"execve", exec_true, 1, EPERM, 0, 0, NULL},
    {"unshare(CLONE_NEWUSER)", new_user_namespace, 1, EPERM, 0, 0, NULL},
    /* What a worker must still do. */
    {"a spool file", read_spool, 1, 0, 0, 0, NULL},
    {"the audit log", append_audit, 1, 0, 0, 0, NULL},
    {"a signal to itself", signal_self, 1, 0, 0, 0, NULL},
    {"a new file in the quarantine", create_in_quarantine, 1, 0, 0, 0, NULL},
    {"a new file in the spool's outbox", create_in_outbox, 1, 0, 0, 0, NULL},
    {"a new file in TMPDIR", create_in_tmp, 1, 0, 0, 0, NULL},
    {"an anonymous file in TMPDIR", tmpfile_in_tmp, 1, 0, 0, 0, NULL},
    {"a library", read_library, 1, 0, 0, 0, NULL},
    {"/proc/self/status", read_proc_self, 1, 0, 0, 0, NULL},
    {"/dev/null", write_dev_null, 1, 0, 0, 0, NULL},
    {"socket(AF_UNIX)", socket_unix, 1, 0, 0, 0, NULL},
    {"fork", fork_child, 1, 0, 0, 0, NULL},
    {"memfd_create", memory_file, 1, 0, 0, 0, NULL},
};

/* Make this process's Landlock calls answer ENOSYS, as on a kernel without Landlock. 0 or -1. */
static int hide_landlock(void)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    int rc = !ctx ||
                     seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS),
                                      SCMP_SYS(landlock_create_ruleset), 0) ||
                     prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || seccomp_load(ctx)
                 ? -1
                 : 0;

    seccomp_release(ctx);
    return rc;
}

/* Run one row in a child; its exit status: 0, the errno, or 255 when confinement failed. */
static int run_row(const row *r)
{
    pid_t pid = fork();
    int st = 0;

    assert_true(pid >= 0);
    if (pid == 0) {
        early_tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (r->prepare)
            r->prepare();
        if (r->no_landlock && hide_landlock() < 0)
            _exit(255);
        if (early_tcp < 0 || (r->confined && san_confine_worker(test_conf()) < 0))
            _exit(255);
        errno = 0;
        _exit(r->attempt() == 0 ? 0 : errno ? errno & 0xff : 254);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

/* Every row: the outcome the table says. */
static void test_rows(void **state)
{
    (void)state;
    int failed = 0;

    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const row *r = &rows[i];
        if (r->min_abi > abi) {
            printf("# skipped (Landlock ABI %d < %d): %s\n", abi, r->min_abi, r->name);
            continue;
        }
        int got = run_row(r);
        if (got != r->err) {
            printf("# %s: want %s, got %s\n", r->name, r->err ? strerror(r->err) : "success",
                   got == 0     ? "success"
                   : got == 255 ? "no confinement"
                                : strerror(got));
            failed++;
        }
    }
    assert_int_equal(failed, 0);
}

/* The child's capabilities after confinement: none, and no_new_privs. */
static void test_no_capabilities(void **state)
{
    (void)state;
    pid_t pid = fork();
    int st = 0;

    assert_true(pid >= 0);
    if (pid == 0) {
        char line[256];
        int bad = san_confine_worker(test_conf()) < 0;
        FILE *f = fopen("/proc/self/status", "r");
        while (f && fgets(line, sizeof line, f))
            if (strncmp(line, "Cap", 3) == 0 && strncmp(line, "CapInh", 6) != 0)
                bad |= strtoull(strchr(line, ':') + 1, NULL, 16) != 0;
            else if (strncmp(line, "NoNewPrivs:", 11) == 0)
                bad |= atoi(line + 11) != 1;
            else if (strncmp(line, "Seccomp:", 8) == 0)
                bad |= atoi(line + 8) != 2;
        _exit(bad || !f);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* On a kernel without Landlock (here: its calls answer ENOSYS), a worker says so and keeps
 * the rest of its confinement: no network socket, no capability, but /etc/shadow opens (as
 * root). */
static void test_without_landlock(void **state)
{
    (void)state;
    pid_t pid = fork();
    int st = 0;

    assert_true(pid >= 0);
    if (pid == 0) {
        if (hide_landlock() < 0)
            _exit(1);
        if (san_confine_check() != 0 || san_confine_worker(test_conf()) != 0)
            _exit(2);
        if (socket_inet() == 0 || errno != EAFNOSUPPORT)
            _exit(3);
        _exit(geteuid() == 0 && read_shadow() != 0 ? 4 : 0);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* getppid through the i386 entry (int $0x80), whose numbers are not the filter's. */
static void getppid_i386(void)
{
    long rc = -1;

#if defined(__x86_64__)
    __asm__ volatile("int $0x80" : "=a"(rc) : "a"(64L) : "memory");
#endif
    _exit(rc < 0 ? 1 : 0);
}

/* getppid by its x32 number. */
static void getppid_x32(void)
{
    _exit(syscall(0x40000000L | SYS_getppid) < 0 ? 1 : 0);
}

/* In a confined child, call; how it ended. */
static int confined_call(void (*call)(void))
{
    pid_t pid = fork();
    int st = 0;

    assert_true(pid >= 0);
    if (pid == 0) {
        if (san_confine_worker(test_conf()) < 0)
            _exit(255);
        call();
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return st;
}

/* A system call made through another ABI (i386, x32), whose numbers name other calls than the
 * deny-list's, ends the worker with SIGSYS rather than pass the filter. */
static void test_other_abis(void **state)
{
    (void)state;
#if !defined(__x86_64__)
    printf("# skipped: x86-64 only\n");
    return;
#endif
    int st = confined_call(getppid_i386);

    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGSYS);
    st = confined_call(getppid_x32);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGSYS);
}

/* In a child: confine (after starting a spawner when spawner), then convert a text file in
 * the jail. Exit status: 0 when the text came back, 100 + the jail's status otherwise. */
static void convert_child(int spawner)
{
    conf *c = test_conf();
    struct passwd *pw = getpwnam(c->jail_user);
    char why[256], *out = NULL;
    size_t len = 0;

    if (!pw)
        _exit(1);
    san_jail_ids_set(pw->pw_uid, pw->pw_gid); /* as mugai-milter does */
    if ((spawner && san_jail_spawner_start(c) < 0) || san_confine_worker(c) < 0)
        _exit(2);
    int fd = memfd_create("memo", MFD_CLOEXEC);
    const char text[] = "\x8b\x63\x8e\x96\x98\x5e\x82\xc5\x82\xb7\x81\x42\n"; /* 議事録です。 */
    if (fd < 0 || write(fd, text, sizeof text - 1) != (ssize_t)sizeof text - 1)
        _exit(3);
    jail_status st = jail_render_text(c, "text", NULL, fd, &out, &len, why, sizeof why);
    if (st != JAIL_OK) {
        printf("# %s\n", why);
        fflush(stdout);
        _exit(100 + st);
    }
    _exit(strstr(out, "議事録です。") ? 0 : 4);
}

/* Run convert_child in a child; its exit status. */
static int convert(int spawner)
{
    pid_t pid = fork();
    int st = 0;

    assert_true(pid >= 0);
    if (pid == 0)
        convert_child(spawner);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

/* Number of private directories of jails in tmp. */
static int private_dirs(void)
{
    DIR *d = opendir(tmp);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)))
        n += strncmp(e->d_name, "mugai-jail-", 11) == 0;
    closedir(d);
    return n;
}

/* Confined, a worker converts through its spawner, and its spawner's jails leave nothing in
 * TMPDIR; without a spawner it cannot make a jail. */
static void test_jail_through_the_spawner(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        printf("# skipped: jails need root\n");
        return;
    }
    assert_int_equal(convert(1), 0);
    assert_int_equal(convert(0), 100 + JAIL_UNAVAILABLE);
    assert_int_equal(private_dirs(), 0);
}

/* ---- the spawner's check of a request ---- */

/* A private directory as a worker of pid owner makes it, under tmp; name into dir. */
static void private_dir(pid_t owner, const char *suffix, mode_t mode, int with_root, char *dir,
                        size_t len)
{
    char root[192];

    snprintf(dir, len, "%s/mugai-jail-%ld-%s", tmp, (long)owner, suffix);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(chmod(dir, mode), 0);
    snprintf(root, sizeof root, "%s/root", dir);
    if (with_root)
        assert_int_equal(mkdir(root, 0700), 0);
}

/* A task for mugai-render in mode on dir. */
static jail_task render_task(const char *mode, const char *type, const char *label, const char *dir)
{
    jail_task t;

    memset(&t, 0, sizeof t);
    snprintf(t.mode, sizeof t.mode, "%s", mode);
    snprintf(t.img_type, sizeof t.img_type, "%s", type);
    snprintf(t.label, sizeof t.label, "%s", label);
    snprintf(t.dir, sizeof t.dir, "%s", dir);
    return t;
}

/* A task for LibreOffice on ext in dir. */
static jail_task office_task(const char *ext, const char *dir)
{
    jail_task t;

    memset(&t, 0, sizeof t);
    t.office = 1;
    snprintf(t.ext, sizeof t.ext, "%s", ext);
    snprintf(t.dir, sizeof t.dir, "%s", dir);
    return t;
}

/* Assert that jail_task_check gives want for t of owner me. */
static void check(const char *name, const jail_task *t, int want)
{
    char why[256] = "";
    int got = jail_task_check(t, getpid(), why, sizeof why);

    if (got != want)
        printf("# %s: want %d, got %d (%s)\n", name, want, got, why);
    assert_int_equal(got, want);
    if (got < 0)
        assert_true(why[0] != '\0');
}

/* What the spawner accepts is exactly what the worker's own calls ask for. */
static void test_task_check(void **state)
{
    (void)state;
    char ok[192], other[192], open_dir[192], no_root[192], link[192], dotdot[256];
    jail_task t;

    private_dir(getpid(), "AbC123", 0700, 1, ok, sizeof ok);
    private_dir(getppid(), "XyZ789", 0700, 1, other, sizeof other);
    private_dir(getpid(), "Open01", 0755, 1, open_dir, sizeof open_dir);
    private_dir(getpid(), "NoRt01", 0700, 0, no_root, sizeof no_root);
    snprintf(link, sizeof link, "%s/mugai-jail-%ld-Link01", tmp, (long)getpid());
    assert_int_equal(symlink(ok, link), 0);
    snprintf(dotdot, sizeof dotdot, "%s/../mugai-jail-%ld-AbC123", ok, (long)getpid());

    check("pdf", (t = render_task("pdf", "", "", ok), &t), 0);
    check("image", (t = render_task("image", "jpeg", "", ok), &t), 0);
    check("text with a label", (t = render_task("text", "", "Shift_JIS", ok), &t), 0);
    check("office", (t = office_task("docx", ok), &t), 0);
    check("unknown mode", (t = render_task("--no-sec", "", "", ok), &t), -1);
    check("unknown image type", (t = render_task("image", "svg", "", ok), &t), -1);
    check("image type for a pdf", (t = render_task("pdf", "png", "", ok), &t), -1);
    check("label for a pdf", (t = render_task("pdf", "", "UTF-8", ok), &t), -1);
    check("label with a space", (t = render_task("text", "", "UTF-8 --x", ok), &t), -1);
    check("extension for mugai-render", (t = render_task("pdf", "", "", ok), &t), 0);
    t.ext[0] = 'x';
    check("extension for mugai-render", &t, -1);
    check("office with a mode", (t = office_task("docx", ok), &t), 0);
    snprintf(t.mode, sizeof t.mode, "pdf");
    check("office with a mode", &t, -1);
    check("extension with a slash", (t = office_task("d/x", ok), &t), -1);
    check("empty extension", (t = office_task("", ok), &t), -1);
    check("long extension", (t = office_task("abcdefghi", ok), &t), -1);
    check("unknown program", (t = office_task("docx", ok), t.office = 2, &t), -1);
    check("unterminated mode", (t = render_task("pdf", "", "", ok), &t), 0);
    memset(t.mode, 'p', sizeof t.mode);
    check("unterminated mode", &t, -1);
    check("unterminated directory", (t = render_task("pdf", "", "", ok), &t), 0);
    memset(t.dir, 'a', sizeof t.dir);
    check("unterminated directory", &t, -1);
    check("/etc", (t = render_task("pdf", "", "", "/etc"), &t), -1);
    check("another process's directory", (t = render_task("pdf", "", "", other), &t), -1);
    check("a directory others can enter", (t = render_task("pdf", "", "", open_dir), &t), -1);
    check("no root mount point", (t = render_task("pdf", "", "", no_root), &t), -1);
    check("a link to a private directory", (t = render_task("pdf", "", "", link), &t), -1);
    check("a path through ..", (t = render_task("pdf", "", "", dotdot), &t), -1);

    char root[256];
    const char *made[] = {ok, other, open_dir};
    for (size_t i = 0; i < 3; i++) {
        snprintf(root, sizeof root, "%s/root", made[i]);
        assert_int_equal(rmdir(root), 0);
        assert_int_equal(rmdir(made[i]), 0);
    }
    assert_int_equal(rmdir(no_root), 0);
    assert_int_equal(unlink(link), 0);
}

/* ---- the spawner's protocol, spoken by a worker taken over ---- */

/* The spawner's messages, laid out as spawn.c lays them out. */
#define WIRE_MAGIC 0x5053474dU
enum { WIRE_START = 1, WIRE_KILL, WIRE_STARTED, WIRE_ENDED };

typedef struct wire_req {
    uint32_t magic;
    uint32_t type;
    uint32_t seq;
    jail_task task;
} wire_req;

typedef struct wire_rep {
    uint32_t magic;
    uint32_t type;
    uint32_t seq;
    int32_t pid;
    int32_t err;
    int32_t status;
    uint64_t cpu_us;
    char why[200];
} wire_rep;

/* The socket to this process's spawner: its only SOCK_SEQPACKET descriptor, or -1. */
static int spawner_sock(void)
{
    for (int fd = 3; fd < 256; fd++) {
        int type = 0;
        socklen_t len = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_SEQPACKET)
            return fd;
    }
    return -1;
}

/* Send a request of type for start seq with task t (NULL: zeros) and n descriptors, with
 * flags. What sendmsg returns. */
static ssize_t req_send(int sock, uint32_t type, uint32_t seq, const jail_task *t, const int *fds,
                        size_t n, int flags)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * 16)];
        struct cmsghdr align;
    } ctl;
    wire_req q;

    memset(&q, 0, sizeof q);
    memset(&ctl, 0, sizeof ctl);
    q.magic = WIRE_MAGIC;
    q.type = type;
    q.seq = seq;
    if (t)
        q.task = *t;
    struct iovec iov = {&q, sizeof q};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    if (n > 0) {
        m.msg_control = ctl.buf;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * n);
        struct cmsghdr *h = CMSG_FIRSTHDR(&m);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int) * n);
        memcpy(CMSG_DATA(h), fds, sizeof(int) * n);
    }
    return sendmsg(sock, &m, MSG_NOSIGNAL | flags);
}

/* The next answer within ms milliseconds: 1, or 0 when none came, -1 when the spawner has
 * ended (or answered with something of another size). */
static int rep_wait(int sock, wire_rep *a, int ms)
{
    struct pollfd p = {sock, POLLIN, 0};

    if (poll(&p, 1, ms) <= 0)
        return 0;
    return recv(sock, a, sizeof *a, MSG_DONTWAIT) == (ssize_t)sizeof *a && a->magic == WIRE_MAGIC
               ? 1
               : -1;
}

/* Non-zero once the spawner at the end of sock has ended, within ms milliseconds (answers
 * still queued are left unread). */
static int spawner_ended(int sock, int ms)
{
    for (int left = ms; left > 0; left -= 50) {
        struct pollfd p = {sock, 0, 0};
        if (poll(&p, 1, 50) > 0 && (p.revents & POLLHUP))
            return 1;
    }
    return 0;
}

/* A private directory of this process, as the worker makes it, into dir. */
static void own_private_dir(char *dir, size_t len)
{
    char root[200];

    snprintf(dir, len, "%s/mugai-jail-%ld-PrOtO1", tmp, (long)getpid());
    snprintf(root, sizeof root, "%s/root", dir);
    if (mkdir(dir, 0700) < 0 || mkdir(root, 0700) < 0)
        _exit(250);
}

/* Remove what own_private_dir made. */
static void own_private_dir_remove(const char *dir)
{
    char root[200];

    snprintf(root, sizeof root, "%s/root", dir);
    (void)rmdir(root);
    (void)rmdir(dir);
}

/* In a child, as a worker: start a spawner, make a private directory, run body on the
 * spawner's socket; the child's exit status is body's. */
static int as_worker(int (*body)(int sock, const char *dir))
{
    pid_t pid = fork();
    int st = 0;

    assert_true(pid >= 0);
    if (pid == 0) {
        conf *c = test_conf();
        struct passwd *pw = getpwnam(c->jail_user);
        char dir[160];
        if (!pw)
            _exit(251);
        mg_log_init("test_confine", 0, MG_LOG_ERROR); /* a refusal is a warning */
        san_jail_ids_set(pw->pw_uid, pw->pw_gid);
        if (san_jail_spawner_start(c) < 0)
            _exit(252);
        int sock = spawner_sock();
        if (sock < 0)
            _exit(253);
        own_private_dir(dir, sizeof dir);
        int rc = body(sock, dir);
        own_private_dir_remove(dir);
        fflush(stdout);
        _exit(rc);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

/* One set of descriptors a worker may send with a start (make puts n of them into fds), and
 * whether the spawner takes it. */
typedef struct fds_row {
    const char *name;
    int office;
    void (*make)(int *fds, size_t *n);
    int accepted; /* 1: the jail is made; 0: the start is refused (EINVAL) */
} fds_row;

/* Three pipes' write ends into fds[1..3] (their read ends are closed: nothing reads them). */
static void three_pipes(int *fds)
{
    for (int i = 1; i <= 3; i++) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
            _exit(249);
        close(p[0]);
        fds[i] = p[1];
    }
}

/* What a worker gives a jail of mugai-render: the input and three pipes. */
static void fds_render(int *fds, size_t *n)
{
    char path[160];

    snprintf(path, sizeof path, "%s/msg-1", spool);
    fds[0] = open(path, O_RDONLY | O_CLOEXEC);
    three_pipes(fds);
    *n = 4;
}

/* The input as an O_PATH descriptor: of a file the worker may not read, it would be reopened
 * by someone who may. */
static void fds_opath_input(int *fds, size_t *n)
{
    fds_render(fds, n);
    close(fds[0]);
    fds[0] = open("/etc/shadow", O_PATH | O_CLOEXEC);
}

/* A directory as the input (openat from it reaches the host's files). */
static void fds_dir_input(int *fds, size_t *n)
{
    fds_render(fds, n);
    close(fds[0]);
    fds[0] = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* A socket as the jail's standard output (one that reaches a daemon, the supervisor). */
static void fds_socket_output(int *fds, size_t *n)
{
    int sv[2];

    fds_render(fds, n);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        _exit(249);
    close(fds[1]);
    fds[1] = sv[0];
}

/* A pipe's read end as the jail's standard output. */
static void fds_read_end_output(int *fds, size_t *n)
{
    int p[2];

    fds_render(fds, n);
    if (pipe2(p, O_CLOEXEC) < 0)
        _exit(249);
    close(fds[1]);
    close(p[1]);
    fds[1] = p[0];
}

static const fds_row fd_rows[] = {
    {"a file and three pipes", 0, fds_render, 1},
    {"an O_PATH descriptor as the input", 0, fds_opath_input, 0},
    {"a directory as the input", 0, fds_dir_input, 0},
    {"a socket as the output", 0, fds_socket_output, 0},
    {"a pipe's read end as the output", 0, fds_read_end_output, 0},
    {"LibreOffice without a file for its PDF", 1, fds_render, 0},
};

/* Start each row's jail; count the rows whose outcome is not the table's. */
static int fd_rows_body(int sock, const char *dir)
{
    int failed = 0;
    wire_rep a;

    for (size_t i = 0; i < sizeof fd_rows / sizeof fd_rows[0]; i++) {
        const fds_row *r = &fd_rows[i];
        jail_task t = r->office ? office_task("docx", dir) : render_task("text", "", "", dir);
        int fds[8];
        size_t n = 0;
        r->make(fds, &n);
        int sent = req_send(sock, WIRE_START, (uint32_t)i + 1, &t, fds, n, 0) > 0;
        for (size_t k = 0; k < n; k++)
            close(fds[k]);
        int got = sent && rep_wait(sock, &a, 10000) == 1 && a.type == WIRE_STARTED &&
                  a.seq == (uint32_t)i + 1;
        int ok = got && (r->accepted ? a.pid > 0 : a.pid == -1 && a.err == EINVAL);
        /* A jail made ends (its input is no text it can convert, or its output goes nowhere). */
        while (got && a.pid > 0 && rep_wait(sock, &a, 30000) == 1 && a.type != WIRE_ENDED)
            ;
        if (!ok) {
            printf("# %s: %s\n", r->name,
                   !got        ? "no answer"
                   : a.pid > 0 ? "the jail was made"
                               : a.why);
            failed++;
        }
    }
    return failed;
}

/* The spawner makes a jail of the descriptors a jail is given, and of nothing else. */
static void test_spawner_descriptors(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        printf("# skipped: jails need root\n");
        return;
    }
    assert_int_equal(as_worker(fd_rows_body), 0);
}

/* A kill that names no start of the spawner's signals nothing and ends nothing: the spawner
 * still answers. 0 when it does. */
static int stray_kill_body(int sock, const char *dir)
{
    jail_task t = render_task("bogus", "", "", dir);
    wire_rep a;

    if (req_send(sock, WIRE_KILL, 4242, NULL, NULL, 0, 0) <= 0 ||
        req_send(sock, WIRE_START, 7, &t, NULL, 0, 0) <= 0)
        return 1;
    return rep_wait(sock, &a, 10000) == 1 && a.type == WIRE_STARTED && a.seq == 7 && a.pid == -1
               ? 0
               : 2;
}

/* A message of the wrong size ends the spawner. 0 when it has ended. */
static int short_message_body(int sock, const char *dir)
{
    uint32_t m[2] = {WIRE_MAGIC, WIRE_KILL};

    (void)dir;
    return send(sock, m, sizeof m, MSG_NOSIGNAL) == (ssize_t)sizeof m && spawner_ended(sock, 5000)
               ? 0
               : 1;
}

/* More descriptors than a jail is given end the spawner. 0 when it has ended. */
static int many_fds_body(int sock, const char *dir)
{
    jail_task t = render_task("text", "", "", dir);
    int fds[12];

    for (size_t i = 0; i < 12; i++)
        fds[i] = STDERR_FILENO;
    return req_send(sock, WIRE_START, 1, &t, fds, 12, 0) > 0 && spawner_ended(sock, 5000) ? 0 : 1;
}

/* A worker that asks and never reads the answers: the spawner ends (its jail with it) rather
 * than wait for ever to send one, when it could no longer stop its jail at its time limit.
 * 0 when it has ended. */
static int unread_answers_body(int sock, const char *dir)
{
    jail_task t = render_task("bogus", "", "", dir);

    for (uint32_t seq = 1; seq < 100000;) {
        if (req_send(sock, WIRE_START, seq, &t, NULL, 0, MSG_DONTWAIT) > 0) {
            seq++;
            continue;
        }
        struct pollfd p = {sock, POLLOUT, 0};
        if (errno != EAGAIN || poll(&p, 1, 2000) <= 0 || !(p.revents & POLLOUT))
            break; /* the spawner has ended, or reads no more */
    }
    return spawner_ended(sock, 5000) ? 0 : 1;
}

/* What a worker taken over sends its spawner: a kill for a jail it did not make changes
 * nothing; a malformed message, or answers left unread, end the spawner. */
static void test_spawner_protocol(void **state)
{
    (void)state;
    assert_int_equal(as_worker(stray_kill_body), 0);
    assert_int_equal(as_worker(short_message_body), 0);
    assert_int_equal(as_worker(many_fds_body), 0);
    assert_int_equal(as_worker(unread_answers_body), 0);
}

/* A unix socket listening at path, or -1. */
static int unix_listen(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(s, 16) < 0) {
        if (s >= 0)
            close(s);
        return -1;
    }
    return s;
}

/* Make the directories, the files and the listeners. */
static int setup(void **state)
{
    (void)state;
    char path[160];
    socklen_t len = sizeof listen_addr;

    snprintf(base, sizeof base, "/tmp/test_confine-XXXXXX");
    if (!mkdtemp(base))
        return -1;
    snprintf(spool, sizeof spool, "%s/spool", base);
    snprintf(quar, sizeof quar, "%s/q", base);
    snprintf(tmp, sizeof tmp, "%s/tmp", base);
    snprintf(outside, sizeof outside, "%s/outside", base);
    if (mkdir(spool, 0700) < 0 || mkdir(quar, 0700) < 0 || mkdir(tmp, 0700) < 0 ||
        mkdir(outside, 0700) < 0)
        return -1;
    snprintf(path, sizeof path, "%s/outbox", spool);
    if (mkdir(path, 0700) < 0)
        return -1;
    snprintf(path, sizeof path, "%s/msg-1", spool);
    write_file(path, "From: a@b\r\n\r\nhello\r\n");
    snprintf(path, sizeof path, "%s/secret", outside);
    write_file(path, "not for workers\n");
    if (snprintf(path, sizeof path, "%s/log", base) >= (int)sizeof path ||
        snprintf(audit, sizeof audit, "%s/audit.log", path) >= (int)sizeof audit ||
        snprintf(outside_sock, sizeof outside_sock, "%s/daemon.sock", outside) >=
            (int)sizeof outside_sock ||
        snprintf(pool_sock, sizeof pool_sock, "%s/pool.sock", spool) >= (int)sizeof pool_sock ||
        mkdir(path, 0700) < 0 || (unix_listener = unix_listen(outside_sock)) < 0 ||
        (pool_listener = unix_listen(pool_sock)) < 0)
        return -1;
    setenv("TMPDIR", tmp, 1);
    parent = getpid();
    abi = san_confine_check();
    listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&listen_addr, 0, sizeof listen_addr);
    listen_addr.sin_family = AF_INET;
    listen_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (listener < 0 || bind(listener, (struct sockaddr *)&listen_addr, sizeof listen_addr) < 0 ||
        listen(listener, 16) < 0 ||
        getsockname(listener, (struct sockaddr *)&listen_addr, &len) < 0)
        return -1;
    return 0;
}

/* Remove what setup made (and what the rows created). */
static int teardown(void **state)
{
    (void)state;
    char cmd[128];

    close(listener);
    close(unix_listener);
    close(pool_listener);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_no_capabilities),
        cmocka_unit_test(test_without_landlock),
        cmocka_unit_test(test_other_abis),
        cmocka_unit_test(test_jail_through_the_spawner),
        cmocka_unit_test(test_task_check),
        cmocka_unit_test(test_spawner_descriptors),
        cmocka_unit_test(test_spawner_protocol),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
