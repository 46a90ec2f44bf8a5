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
 * its confinement. Last, the spawner's check of what a worker asks for, row by
 * row.
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
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <seccomp.h>
#include "san_int.h"

/* The test's directories: base holds the worker's spool, quarantine and TMPDIR, and a
 * directory outside all of them. */
static char base[64];
static char spool[96], quar[96], tmp[96], outside[96];
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
    c.audit_log = "";
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
    return open_in(spool, "msg-1", O_RDWR);
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
    int confined; /* confine the child first */
    int err;      /* 0: must succeed; else the errno it must fail with */
    int min_abi;  /* the Landlock ABI the outcome needs (0: none) */
} row;

static const row rows[] = {
    /* The controls: unconfined, the same attempts succeed (as root). */
    {"unconfined: /etc/shadow", read_shadow, 0, 0, 0},
    {"unconfined: outside", read_outside, 0, 0, 0},
    {"unconfined: connect", connect_early, 0, 0, 0},
    {"unconfined: socket(AF_INET)", socket_inet, 0, 0, 0},
    /* Out of reach once confined. */
    {"/etc/shadow", read_shadow, 1, EACCES, 1},
    {"a file outside its directories", read_outside, 1, EACCES, 1},
    {"a new file outside its directories", write_outside, 1, EACCES, 1},
    {"TCP connect to a live listener", connect_early, 1, EACCES, 4},
    {"signal to a process outside", signal_parent, 1, EPERM, 6},
    {"socket(AF_INET)", socket_inet, 1, EAFNOSUPPORT, 0},
    {"socket(AF_INET6, UDP)", socket_inet6_udp, 1, EAFNOSUPPORT, 0},
    {"socket(AF_NETLINK)", socket_netlink, 1, EAFNOSUPPORT, 0},
    {"ptrace", trace_parent, 1, EPERM, 0},
    {"mount", mount_tmpfs, 1, EPERM, 0},
    {"execve", exec_true, 1, EPERM, 0},
    {"unshare(CLONE_NEWUSER)", new_user_namespace, 1, EPERM, 0},
    /* What a worker must still do. */
    {"a spool file", read_spool, 1, 0, 0},
    {"a new file in the quarantine", create_in_quarantine, 1, 0, 0},
    {"a new file in TMPDIR", create_in_tmp, 1, 0, 0},
    {"an anonymous file in TMPDIR", tmpfile_in_tmp, 1, 0, 0},
    {"a library", read_library, 1, 0, 0},
    {"/proc/self/status", read_proc_self, 1, 0, 0},
    {"/dev/null", write_dev_null, 1, 0, 0},
    {"socket(AF_UNIX)", socket_unix, 1, 0, 0},
    {"fork", fork_child, 1, 0, 0},
    {"memfd_create", memory_file, 1, 0, 0},
};

/* Run one row in a child; its exit status: 0, the errno, or 255 when confinement failed. */
static int run_row(const row *r)
{
    pid_t pid = fork();
    int st = 0;

    assert_true(pid >= 0);
    if (pid == 0) {
        early_tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
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
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (!ctx ||
            seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(landlock_create_ruleset), 0) ||
            seccomp_load(ctx) || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
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

/* Make the directories, the files and the listener. */
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
    snprintf(path, sizeof path, "%s/msg-1", spool);
    write_file(path, "From: a@b\r\n\r\nhello\r\n");
    snprintf(path, sizeof path, "%s/secret", outside);
    write_file(path, "not for workers\n");
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
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_no_capabilities),
        cmocka_unit_test(test_without_landlock),
        cmocka_unit_test(test_jail_through_the_spawner),
        cmocka_unit_test(test_task_check),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
