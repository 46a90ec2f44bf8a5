/*
 * sanitize/confine.c - a sanitizer worker confines itself for good.
 *
 * Runs once in each pool worker of mugai-milter (milter/pool.c), after the
 * worker has forked its jail spawner (spawn.c) and opened the quarantine
 * store, before it reads a job; from then on the worker parses untrusted mail.
 * Should a message take the worker over, what it reaches is small: it holds
 * no capability and runs under no_new_privs; Landlock, when the kernel has
 * it, lets it read only the system's libraries and data it needs and the
 * spool, write only the quarantine, its temporary directory (the jails'
 * private directories) and the audit log, connect or bind no TCP port, and
 * neither signal nor reach through an abstract socket any process outside
 * itself; a seccomp filter refuses the calls a worker never makes (sockets
 * other than local ones, connecting or binding any socket, ptrace, mounts,
 * namespaces, exec, symbolic links, kernel modules, BPF, keys, io_uring) and,
 * whatever the kernel's Landlock, signals to any process but the worker itself
 * and input pushed into a terminal. Jails are made by the spawner, which is
 * not confined.
 * The spool is the front end's: a worker gets its job's files as descriptors
 * and must not make, remove or change anything there (the pool's socket, other
 * messages in flight). No symbolic link of a worker's making may exist for
 * the spawner's mounts or the supervisor's sweep of private directories to
 * follow out of its temporary directory.
 * It must never let a worker go on half confined: a step that fails makes
 * san_confine_worker fail, and the worker exits. Only a kernel without
 * Landlock is tolerated, and san_confine_check says so once.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/landlock.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>
#include <glib.h>
#include "mg.h"
#include "san.h"

/* Landlock as of ABI 7; the system's header may be older. */
#define LL_FS_REFER (1ULL << 13)     /* ABI 2 */
#define LL_FS_TRUNCATE (1ULL << 14)  /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#define LL_NET_BIND_TCP (1ULL << 0)  /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX (1ULL << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ULL << 1)

/* The ruleset's attribute as of ABI 6; an older kernel is given only its first fields. */
typedef struct ll_ruleset {
    uint64_t fs;
    uint64_t net;
    uint64_t scoped;
} ll_ruleset;

/* Reading a file or a directory's entries. */
#define LL_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
/* Everything a worker does in its own directories: files and directories made, written,
 * renamed and removed; no devices, pipes, sockets, links or execution. */
#define LL_WRITE                                                                                   \
    (LL_READ | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |                     \
     LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |  \
     LL_FS_REFER | LL_FS_TRUNCATE)
/* The rights that apply to a file (rather than to a directory's entries). */
#define LL_FILE_RIGHTS                                                                             \
    (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |   \
     LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)

/* What a worker reads besides its own directories: libraries and what they load late (gconv
 * modules, gdk-pixbuf loaders, zoneinfo, OpenSSL's configuration for libclamav, locale
 * aliases), the random devices, its own /proc entries and the CPU count. Not /etc as a whole:
 * /etc/shadow, keys and the other daemons' secrets stay out of reach. */
static const char *const read_only[] = {
    "/usr",
    "/lib",
    "/lib64",
    "/lib32",
    "/libx32",
    "/etc/localtime",
    "/etc/ld.so.cache",
    "/etc/mime.types",
    "/etc/locale.alias",
    "/etc/ssl/openssl.cnf",
    "/dev/zero",
    "/dev/random",
    "/dev/urandom",
    "/proc/self",
    "/sys/devices/system/cpu",
};

/* Calls no worker makes: other processes' memory, mounts, namespaces, exec (the spawner
 * starts every program), sockets reached by name (its own come as descriptors; Landlock leaves
 * unix sockets in the file system alone: a system bus, a resolver that asks the network),
 * symbolic links, signals by descriptor, the kernel's less-trodden paths. Refused with EPERM. */
static const int denied[] = {
    SCMP_SYS(ptrace),
    SCMP_SYS(process_vm_readv),
    SCMP_SYS(process_vm_writev),
    SCMP_SYS(kcmp),
    SCMP_SYS(pidfd_getfd),
    SCMP_SYS(mount),
    SCMP_SYS(umount2),
    SCMP_SYS(pivot_root),
    SCMP_SYS(chroot),
    SCMP_SYS(fsopen),
    SCMP_SYS(fsconfig),
    SCMP_SYS(fsmount),
    SCMP_SYS(fspick),
    SCMP_SYS(move_mount),
    SCMP_SYS(open_tree),
    SCMP_SYS(mount_setattr),
    SCMP_SYS(unshare),
    SCMP_SYS(setns),
    SCMP_SYS(execve),
    SCMP_SYS(execveat),
    SCMP_SYS(kexec_load),
    SCMP_SYS(kexec_file_load),
    SCMP_SYS(reboot),
    SCMP_SYS(init_module),
    SCMP_SYS(finit_module),
    SCMP_SYS(delete_module),
    SCMP_SYS(bpf),
    SCMP_SYS(perf_event_open),
    SCMP_SYS(keyctl),
    SCMP_SYS(add_key),
    SCMP_SYS(request_key),
    SCMP_SYS(userfaultfd),
    SCMP_SYS(io_uring_setup),
    SCMP_SYS(io_uring_enter),
    SCMP_SYS(io_uring_register),
    SCMP_SYS(open_by_handle_at),
    SCMP_SYS(swapon),
    SCMP_SYS(swapoff),
    SCMP_SYS(acct),
    SCMP_SYS(connect),
    SCMP_SYS(bind),
    SCMP_SYS(listen),
    SCMP_SYS(symlink),
    SCMP_SYS(symlinkat),
    SCMP_SYS(pidfd_send_signal),
    SCMP_SYS(process_madvise),
    SCMP_SYS(quotactl),
    SCMP_SYS(quotactl_fd),
    SCMP_SYS(lookup_dcookie),
    SCMP_SYS(syslog),
    SCMP_SYS(name_to_handle_at),
    SCMP_SYS(modify_ldt),
    SCMP_SYS(uselib),
    SCMP_SYS(fanotify_init),
};

/* Calls that signal a process named by their first argument: the worker may signal itself
 * (raise, abort) and nothing else, not even its spawner, the supervisor or, by pid 0 or -1,
 * their process group and every process of its user. Landlock's signal scope does this only
 * from ABI 6 (Linux 6.12). */
static const int signalling[] = {
    SCMP_SYS(kill),
    SCMP_SYS(tkill),
    SCMP_SYS(tgkill),
    SCMP_SYS(rt_sigqueueinfo),
    SCMP_SYS(rt_tgsigqueueinfo),
};

/* fcntl and ioctl commands refused (the kernel reads them as 32 bits): making another process
 * a descriptor's owner, to which SIGIO or any signal F_SETSIG names goes; pushing input into
 * a terminal (a worker of mugai-milter -f holds the administrator's). */
static const struct {
    int nr;
    unsigned long cmd;
} commands[] = {
    {SCMP_SYS(fcntl), F_SETOWN},  {SCMP_SYS(fcntl), F_SETOWN_EX}, {SCMP_SYS(ioctl), FIOSETOWN},
    {SCMP_SYS(ioctl), SIOCSPGRP}, {SCMP_SYS(ioctl), TIOCSTI},     {SCMP_SYS(ioctl), TIOCLINUX},
};

/* System calls numbered from here on (x86_64: statmount, listmount and later) are newer than
 * the worker's code: refused as unknown, as in the jail (jailns.c). */
#define NEWER_CALLS_FROM 457
#define NEWER_CALLS_TO 600

/* Namespace flags clone must not carry. */
static const uint64_t clone_new[] = {CLONE_NEWUSER, CLONE_NEWNS,  CLONE_NEWPID,   CLONE_NEWNET,
                                     CLONE_NEWIPC,  CLONE_NEWUTS, CLONE_NEWCGROUP};

/* The kernel's Landlock ABI version, or 0 with the reason in why when it has none. */
static int ll_abi(const char **why)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

    if (abi > 0)
        return (int)abi;
    *why = errno == EOPNOTSUPP ? "Landlock is not enabled (lsm= on the kernel's command line)"
                               : "the kernel has no Landlock";
    return 0;
}

/* The file system rights ABI abi knows. */
static uint64_t ll_fs_handled(int abi)
{
    uint64_t fs = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;

    if (abi >= 2)
        fs |= LL_FS_REFER;
    if (abi >= 3)
        fs |= LL_FS_TRUNCATE;
    if (abi >= 5)
        fs |= LL_FS_IOCTL_DEV;
    return fs;
}

/* Allow access (within handled) beneath path; a file gets only the rights that apply to
 * files. A path that does not exist is skipped. 0, or -1 (logged). */
static int ll_allow(int ruleset, const char *path, uint64_t access, uint64_t handled)
{
    struct landlock_path_beneath_attr rule = {0, -1};
    struct stat st;

    rule.parent_fd = open(path, O_PATH | O_CLOEXEC);
    if (rule.parent_fd < 0 && errno == ENOENT)
        return 0;
    if (rule.parent_fd < 0 || fstat(rule.parent_fd, &st) < 0) {
        mg_error("confine: %s: %s", path, strerror(errno));
        if (rule.parent_fd >= 0)
            close(rule.parent_fd);
        return -1;
    }
    rule.allowed_access = access & handled & (S_ISDIR(st.st_mode) ? ~0ULL : LL_FILE_RIGHTS);
    int rc = (int)syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
    if (rc < 0)
        mg_error("confine: Landlock rule for %s: %s", path, strerror(errno));
    close(rule.parent_fd);
    return rc < 0 ? -1 : 0;
}

/* The directory the worker's temporary files and the jails' private directories go to, as
 * jail.c and GLib find it. */
static const char *tmp_dir(void)
{
    const char *tmp = getenv("TMPDIR");

    return tmp && tmp[0] == '/' ? tmp : "/tmp";
}

/* Allow the audit log, and only that file: made here first when it does not exist yet (as
 * report.c makes it), so that the worker needs no right in its directory, where it could make
 * files of its own for log rotation or whoever reads that directory. */
static int ll_allow_audit(int ruleset, const conf *c, uint64_t handled)
{
    if (!c->audit_log || !c->audit_log[0])
        return 0;
    int fd = open(c->audit_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        mg_warn("confine: the audit log %s: %s", c->audit_log, strerror(errno));
    else
        close(fd);
    return ll_allow(ruleset, c->audit_log, LL_READ | LANDLOCK_ACCESS_FS_WRITE_FILE, handled);
}

/* Add every rule of a worker running with c. 0 or -1. */
static int ll_rules(int ruleset, const conf *c, uint64_t handled)
{
    const char *const rw[] = {c->quarantine_dir, tmp_dir()};

    for (size_t i = 0; i < sizeof read_only / sizeof read_only[0]; i++)
        if (ll_allow(ruleset, read_only[i], LL_READ, handled) < 0)
            return -1;
    if (c->milter_spool_dir && c->milter_spool_dir[0] &&
        ll_allow(ruleset, c->milter_spool_dir, LL_READ, handled) < 0)
        return -1;
    /* The gateway's own mails (PPAP follow-ups) are queued by the workers in SPOOL/outbox,
     * which the front end sends (milter/outbox.c). */
    char outbox[PATH_MAX];
    if (c->milter_spool_dir && c->milter_spool_dir[0] &&
        (mg_snprintf(outbox, sizeof outbox, "%s/outbox", c->milter_spool_dir) < 0 ||
         ll_allow(ruleset, outbox, LL_WRITE, handled) < 0))
        return -1;
    for (size_t i = 0; i < sizeof rw / sizeof rw[0]; i++)
        if (rw[i] && rw[i][0] && ll_allow(ruleset, rw[i], LL_WRITE, handled) < 0)
            return -1;
    if (ll_allow(ruleset, "/dev/null", LL_READ | LANDLOCK_ACCESS_FS_WRITE_FILE | LL_FS_TRUNCATE,
                 handled) < 0)
        return -1;
    if (c->mail_notice_template && c->mail_notice_template[0] == '/' &&
        ll_allow(ruleset, c->mail_notice_template, LL_READ, handled) < 0)
        return -1;
    return ll_allow_audit(ruleset, c, handled);
}

/* Restrict the process with Landlock for a worker running with c, as far as the kernel's ABI
 * goes. 0, 1 when the kernel has no Landlock, -1 on failure (logged). */
static int ll_confine(const conf *c)
{
    const char *why = NULL;
    int abi = ll_abi(&why);
    ll_ruleset attr = {ll_fs_handled(abi), 0, 0};
    size_t size = sizeof attr.fs;

    if (abi == 0) {
        mg_debug("confine: no Landlock: %s", why);
        return 1;
    }
    if (abi >= 4) {
        attr.net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP; /* no rule: no TCP port at all */
        size = offsetof(ll_ruleset, scoped);
    }
    if (abi >= 6) {
        attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
        size = sizeof attr;
    }
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    if (ruleset < 0) {
        mg_error("confine: cannot create a Landlock ruleset (ABI %d): %s", abi, strerror(errno));
        return -1;
    }
    int rc = ll_rules(ruleset, c, attr.fs);
    if (rc == 0 && syscall(SYS_landlock_restrict_self, ruleset, 0) < 0) {
        mg_error("confine: cannot restrict the worker with Landlock: %s", strerror(errno));
        rc = -1;
    }
    close(ruleset);
    return rc;
}

/* Add the rules on signals and on fcntl and ioctl commands to ctx, for the worker self. 0 or
 * -1. */
static int filter_signal_rules(scmp_filter_ctx ctx, pid_t self)
{
    for (size_t i = 0; i < sizeof signalling / sizeof signalling[0]; i++)
        if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), signalling[i], 1,
                             SCMP_A0(SCMP_CMP_NE, (uint64_t)self, 0)) != 0)
            return -1;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), commands[i].nr, 1,
                             SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffULL, commands[i].cmd)) != 0)
            return -1;
    return 0;
}

/* Add the worker's deny rules to ctx. 0 or -1. */
static int filter_rules(scmp_filter_ctx ctx)
{
    for (size_t i = 0; i < sizeof denied / sizeof denied[0]; i++)
        if (denied[i] >= 0 && seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), denied[i], 0) != 0)
            return -1;
    if (filter_signal_rules(ctx, getpid()) < 0)
        return -1;
    for (int nr = NEWER_CALLS_FROM; nr <= NEWER_CALLS_TO; nr++)
        if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0) != 0)
            return -1;
    for (size_t i = 0; i < sizeof clone_new / sizeof clone_new[0]; i++)
        if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, clone_new[i], clone_new[i])) != 0)
            return -1;
    /* clone3 passes its flags in memory a filter cannot read: glibc falls back to clone. */
    if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) != 0)
        return -1;
    /* Only local sockets: syslog, the pool's socket, the spawner. */
    if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socketpair), 1,
                         SCMP_A0(SCMP_CMP_NE, AF_UNIX, 0)) != 0)
        return -1;
    return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
                            SCMP_A0(SCMP_CMP_NE, AF_UNIX, 0)) == 0
               ? 0
               : -1;
}

/* Install the worker's seccomp filter. 0, or -1 (logged). */
static int filter_load(void)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    int rc = -1;

    if (ctx && filter_rules(ctx) == 0 && seccomp_load(ctx) == 0)
        rc = 0;
    seccomp_release(ctx);
    if (rc < 0)
        mg_error("confine: cannot install the worker's seccomp filter");
    return rc;
}

int san_confine_worker(const conf *c)
{
    /* The spawner keeps what making jails needs; the worker needs no capability: its files
     * and directories are its user's, and the spawner ends its jails. */
    if (san_caps_drop() < 0) {
        mg_error("confine: cannot drop capabilities: %s", strerror(errno));
        return -1;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        mg_error("confine: cannot set no_new_privs: %s", strerror(errno));
        return -1;
    }
    if (ll_confine(c) < 0)
        return -1;
    return filter_load();
}

int san_confine_check(void)
{
    const char *why = NULL;
    int abi = ll_abi(&why);

    if (abi == 0)
        mg_warn("sanitizer workers confine themselves without Landlock (%s): only their "
                "seccomp filter and dropped capabilities apply",
                why);
    else
        mg_info("sanitizer workers confine themselves with Landlock (ABI %d) and seccomp", abi);
    return abi;
}
