/*
 * sanitize/jailns.c - the jail's namespaces, user and file system view.
 *
 * Runs in the sanitizer worker (trusted) and in the jail's first process, the
 * small init that jail.c starts per conversion. jailns_clone makes that init
 * in new PID, mount, network, IPC and UTS namespaces (and a user namespace of
 * its own when the worker cannot switch users); jailns_enter gives it a root
 * that holds only the system's programs and libraries read-only, fonts, a few
 * device nodes, its own /proc and its conversion's private work directory;
 * jailns_drop makes the jailed program the jail user, who owns nothing of
 * mugai's. san_jail_userns_enter lets mugai-milter, started as root, run as its
 * own user while its workers can still switch jailed programs to the jail user.
 * jailns_office_profile gives LibreOffice (cold, and the Office service's children) a
 * profile holding only the read-only settings every conversion gets.
 *
 * It must never fall back to running a program with the host's network, the
 * host's processes or file system, or the worker's user: a namespace or mount
 * that cannot be made fails the conversion.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <seccomp.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib.h>
#include "mg.h"
#include "san.h"
#include "san_int.h"

/* Read-only parts of the host shown in the jail, when they exist. Nothing else of the host
 * is there: no /etc/shadow, no /home, no /var/lib/mugai, no spool, no other /tmp. */
static const char *const ro_paths[] = {
    "/usr",           "/etc/fonts",       "/etc/ld.so.cache",      "/etc/alternatives",
    "/etc/localtime", "/etc/libreoffice", "/var/cache/fontconfig", "/etc/mime.types",
};
/* Top-level names that are symbolic links into /usr on a merged-/usr system, else bound. */
static const char *const top_paths[] = {"/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"};
/* Device nodes shown in the jail's /dev. */
static const char *const dev_nodes[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random",
                                        "/dev/urandom"};

/* Ids set by san_jail_userns_enter: jailed programs become them (0: look up [jail] user). */
static int preset;
static uid_t preset_uid;
static gid_t preset_gid;

/* Why the last jailns_enter or jailns_drop step failed, for the child's stderr. */
static const char *step = "";

void san_jail_ids_set(uid_t uid, gid_t gid)
{
    preset = 1;
    preset_uid = uid;
    preset_gid = gid;
}

/* Look up name as the jail user into ids. 0 or -1 (reason in why). */
static int ids_lookup(const char *name, jail_ids *ids, char *why, size_t why_len)
{
    static char cached[64];
    static uid_t uid;
    static gid_t gid;
    struct passwd *pw;

    if (!name || !*name)
        return mg_snprintf(why, why_len, "[jail] user is empty"), -1;
    if (strcmp(cached, name) != 0) {
        pw = getpwnam(name);
        if (!pw)
            return mg_snprintf(why, why_len, "unknown [jail] user %s", name), -1;
        if (pw->pw_uid == 0 || pw->pw_gid == 0)
            return mg_snprintf(why, why_len, "[jail] user %s is root", name), -1;
        uid = pw->pw_uid;
        gid = pw->pw_gid;
        if (g_strlcpy(cached, name, sizeof cached) >= sizeof cached)
            cached[0] = '\0';
    }
    ids->sw = 1;
    ids->uid = uid;
    ids->gid = gid;
    return 0;
}

int jailns_ids(const conf *c, jail_ids *ids, char *why, size_t why_len)
{
    static int warned;

    memset(ids, 0, sizeof *ids);
    if (geteuid() != 0) {
        /* No privilege to switch: the program keeps this user, in namespaces that hide its
         * files and processes. */
        if (!warned++)
            mg_warn("jail: running as uid %u, not root: jailed programs keep that uid (in "
                    "their own user, PID, mount and network namespaces); start as root for "
                    "a separate [jail] user",
                    (unsigned)geteuid());
        ids->uid = geteuid();
        ids->gid = getegid();
        return 0;
    }
    if (preset) {
        ids->sw = 1;
        ids->uid = preset_uid;
        ids->gid = preset_gid;
        return 0;
    }
    return ids_lookup(c->jail_user, ids, why, why_len);
}

pid_t jailns_clone(const conf *c, const jail_ids *ids)
{
    unsigned long flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD;
    const char *t = getenv("MUGAI_JAIL_TEST_FAIL");

    if (!ids->sw)
        flags |= CLONE_NEWUSER;
    if (c->jail_network_namespace) {
        /* Lets the tests show that a jail without its network namespace fails closed. */
        if (t && strcmp(t, "netns") == 0)
            return errno = EPERM, -1;
        flags |= CLONE_NEWNET;
    }
    /* Like fork, but the child is the first process of its new namespaces. */
    return (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
}

int jailns_proc_write(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return -1;
    rc = mg_write_all(fd, text, strlen(text));
    return close(fd) < 0 ? -1 : rc;
}

/* Map the caller's own ids in its new user namespace (no privilege needed for that). */
static int map_self(const jail_ids *ids)
{
    char u[64], g[64];

    /* A process that changed its user is not dumpable, and then its /proc files belong to
     * root: it could not write its own maps. */
    if (prctl(PR_SET_DUMPABLE, 1) < 0)
        return step = "prctl", -1;
    if (mg_snprintf(u, sizeof u, "%u %u 1", (unsigned)ids->uid, (unsigned)ids->uid) < 0 ||
        mg_snprintf(g, sizeof g, "%u %u 1", (unsigned)ids->gid, (unsigned)ids->gid) < 0)
        return -1;
    if (jailns_proc_write("/proc/self/setgroups", "deny") < 0 ||
        jailns_proc_write("/proc/self/uid_map", u) < 0 ||
        jailns_proc_write("/proc/self/gid_map", g) < 0)
        return step = "user namespace maps", -1;
    return 0;
}

/* Make path and its parents as directories (0755). 0 or -1. */
static int mkdir_p(const char *path)
{
    char buf[PATH_MAX];

    if (g_strlcpy(buf, path, sizeof buf) >= sizeof buf)
        return errno = ENAMETOOLONG, -1;
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return -1;
        if (c == '\0')
            return 0;
        *p = c;
    }
}

/* Make the mount point for src under root: a directory, or an empty file for a file. */
static int mount_point(const char *root, const char *src, int is_dir, char *dst, size_t len)
{
    if (mg_snprintf(dst, len, "%s%s", root, src) < 0)
        return -1;
    if (is_dir)
        return mkdir_p(dst);
    char *slash = strrchr(dst, '/');
    *slash = '\0';
    int rc = mkdir_p(dst);
    *slash = '/';
    if (rc < 0)
        return -1;
    int fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    return fd < 0 ? -1 : close(fd);
}

/* The mount flags a bind remount must keep: in a user namespace, those of a mount made
 * outside it are locked. */
static unsigned long kept_flags(const char *path)
{
    struct statvfs sv;
    unsigned long f = 0;

    if (statvfs(path, &sv) < 0)
        return 0;
    if (sv.f_flag & ST_NOSUID)
        f |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV)
        f |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC)
        f |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME)
        f |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME)
        f |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME)
        f |= MS_RELATIME;
    return f;
}

/* Bind src at the same path under root; read-only unless rw; devices only when dev.
 * A missing src is skipped. 0 or -1. */
static int bind_path(const char *root, const char *src, int rw, int dev)
{
    char dst[PATH_MAX];
    struct stat st;

    if (stat(src, &st) < 0)
        return errno == ENOENT ? 0 : -1;
    if (mount_point(root, src, S_ISDIR(st.st_mode), dst, sizeof dst) < 0 ||
        mount(src, dst, NULL, MS_BIND, NULL) < 0)
        return -1;
    unsigned long f = MS_REMOUNT | MS_BIND | MS_NOSUID | kept_flags(dst);
    if (!rw)
        f |= MS_RDONLY;
    if (!dev)
        f |= MS_NODEV;
    return mount(NULL, dst, NULL, f, NULL);
}

/* Copy a top-level symbolic link (merged /usr) into root, or bind the directory. */
static int top_entry(const char *root, const char *path)
{
    char target[PATH_MAX], dst[PATH_MAX];
    ssize_t n = readlink(path, target, sizeof target - 1);

    if (n < 0)
        return errno == EINVAL ? bind_path(root, path, 0, 0) : errno == ENOENT ? 0 : -1;
    target[n] = '\0';
    if (mg_snprintf(dst, sizeof dst, "%s%s", root, path) < 0)
        return -1;
    return symlink(target, dst);
}

/* The work directory: a tmpfs of its own, bounded in bytes and files, the jail user's, gone
 * with the jail. Nothing the jail writes reaches the host's file systems. 0 or -1. */
static int work_mount(const jail_view *v, const jail_ids *ids)
{
    char dst[PATH_MAX], opts[128];

    if (mg_snprintf(dst, sizeof dst, "%s%s", v->root, v->work) < 0 || mkdir_p(dst) < 0 ||
        mg_snprintf(opts, sizeof opts, "size=%zum,nr_inodes=4096,mode=0700,uid=%u,gid=%u",
                    v->work_mb, (unsigned)ids->uid, (unsigned)ids->gid) < 0)
        return -1;
    return mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts);
}

/* Fill the empty tmpfs at root with what the jail may see. 0 or -1 (step set). */
static int populate(const jail_view *v, const jail_ids *ids)
{
    char proc[PATH_MAX];

    for (size_t i = 0; i < sizeof ro_paths / sizeof ro_paths[0]; i++)
        if (bind_path(v->root, ro_paths[i], 0, 0) < 0)
            return step = ro_paths[i], -1;
    for (size_t i = 0; i < sizeof top_paths / sizeof top_paths[0]; i++)
        if (top_entry(v->root, top_paths[i]) < 0)
            return step = top_paths[i], -1;
    for (size_t i = 0; i < sizeof dev_nodes / sizeof dev_nodes[0]; i++)
        if (bind_path(v->root, dev_nodes[i], 0, 1) < 0)
            return step = dev_nodes[i], -1;
    /* A small /tmp of the jail's own: LibreOffice puts its pipe there whatever TMPDIR says. */
    if (mg_snprintf(proc, sizeof proc, "%s/tmp", v->root) < 0 || mkdir_p(proc) < 0 ||
        mount("tmpfs", proc, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "mode=1777,size=16m,nr_inodes=1024") < 0)
        return step = "/tmp", -1;
    /* The program itself, when it is not under /usr (a build tree, /opt). */
    if (strncmp(v->program, "/usr/", 5) != 0 && bind_path(v->root, v->program, 0, 0) < 0)
        return step = "the program", -1;
    if (work_mount(v, ids) < 0)
        return step = "the work directory", -1;
    if (mg_snprintf(proc, sizeof proc, "%s/proc", v->root) < 0 || mkdir_p(proc) < 0 ||
        mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL) < 0)
        return step = "/proc", -1;
    return 0;
}

/* Make root the jail's / and forget the host's. 0 or -1 (step set). */
static int switch_root(const jail_view *v)
{
    if (chdir(v->root) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
        return step = "pivot_root", -1;
    if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
        return step = "detaching the host's root", -1;
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
        return step = "read-only root", -1;
    return chdir(v->work) < 0 ? (step = "chdir", -1) : 0;
}

int jailns_enter(const jail_view *v, const jail_ids *ids)
{
    if (!ids->sw && map_self(ids) < 0)
        return -1;
    /* Dumpable only as long as writing the maps needed: the program, same user in self
     * mode, must never read the init's memory or descriptors. */
    if (prctl(PR_SET_DUMPABLE, 0) < 0)
        return step = "prctl", -1;
    if (sethostname("mugai-jail", 10) < 0)
        return step = "sethostname", -1;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return step = "private mounts", -1;
    if (mount("tmpfs", v->root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") < 0)
        return step = "tmpfs root", -1;
    if (populate(v, ids) < 0)
        return -1;
    return switch_root(v);
}

/* Drop from the bounding set every capability not in keep (a mask of CAP_* bits). */
static int caps_bound_keep(uint64_t keep)
{
    for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
        if (!(keep >> cap & 1) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            return -1;
    return 0;
}

/* Drop every capability from the bounding set (while that is still allowed). */
static int caps_bound_drop(void)
{
    return caps_bound_keep(0);
}

/* Set the effective and permitted sets to keep, the inheritable set to none. */
static int caps_set(uint64_t keep)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];

    memset(d, 0, sizeof d);
    d[0].effective = d[0].permitted = (uint32_t)keep;
    d[1].effective = d[1].permitted = (uint32_t)(keep >> 32);
    return (int)syscall(SYS_capset, &h, d);
}

/* Empty the effective, permitted and inheritable sets. */
static int caps_clear(void)
{
    return caps_set(0);
}

int san_caps_drop(void)
{
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return -1;
    if (caps_bound_drop() < 0 && errno != EPERM)
        return -1;
    return caps_clear();
}

int jailns_drop(const jail_ids *ids)
{
    /* Without CAP_SETPCAP (self mode keeps its own uid) the bounding set stays; exec as a
     * non-root user still leaves no capability. */
    if (caps_bound_drop() < 0 && errno != EPERM)
        return step = "dropping capabilities", -1;
    if (ids->sw) {
        if (setgroups(0, NULL) < 0)
            return step = "setgroups", -1;
        if (setresgid(ids->gid, ids->gid, ids->gid) < 0 ||
            setresuid(ids->uid, ids->uid, ids->uid) < 0)
            return step = "switching to the jail user", -1;
        if (setuid(0) == 0 || geteuid() != ids->uid)
            return step = "the jail user kept root", -1;
    }
    if (caps_clear() < 0)
        return step = "dropping capabilities", -1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return step = "no_new_privs", -1;
    return 0;
}

/* Calls no jailed program needs that open the kernel's less-trodden paths (namespaces,
 * mounts, keys, BPF, io_uring, tracing, other processes' memory): refused with EPERM. */
static const int denied[] = {
    SCMP_SYS(unshare),
    SCMP_SYS(setns),
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
    SCMP_SYS(keyctl),
    SCMP_SYS(add_key),
    SCMP_SYS(request_key),
    SCMP_SYS(bpf),
    SCMP_SYS(perf_event_open),
    SCMP_SYS(userfaultfd),
    SCMP_SYS(io_uring_setup),
    SCMP_SYS(io_uring_enter),
    SCMP_SYS(io_uring_register),
    SCMP_SYS(ptrace),
    SCMP_SYS(process_vm_readv),
    SCMP_SYS(process_vm_writev),
    SCMP_SYS(kcmp),
    SCMP_SYS(pidfd_getfd),
    SCMP_SYS(init_module),
    SCMP_SYS(finit_module),
    SCMP_SYS(delete_module),
    SCMP_SYS(kexec_load),
    SCMP_SYS(kexec_file_load),
    SCMP_SYS(reboot),
    SCMP_SYS(swapon),
    SCMP_SYS(swapoff),
    SCMP_SYS(acct),
    SCMP_SYS(quotactl),
    SCMP_SYS(lookup_dcookie),
    SCMP_SYS(personality),
    SCMP_SYS(syslog),
    SCMP_SYS(name_to_handle_at),
    SCMP_SYS(open_by_handle_at),
    SCMP_SYS(modify_ldt),
    SCMP_SYS(uselib),
    SCMP_SYS(fanotify_init),
    SCMP_SYS(quotactl_fd),
    SCMP_SYS(io_setup),
    SCMP_SYS(io_submit),
    SCMP_SYS(io_destroy),
    SCMP_SYS(io_getevents),
    SCMP_SYS(io_pgetevents),
    SCMP_SYS(io_cancel),
    /* Memory that the address-space limit does not count. */
    SCMP_SYS(memfd_create),
    SCMP_SYS(memfd_secret),
    SCMP_SYS(shmget),
    SCMP_SYS(shmat),
    SCMP_SYS(shmctl),
    SCMP_SYS(msgget),
    SCMP_SYS(msgsnd),
    SCMP_SYS(semget),
    SCMP_SYS(mq_open),
};

/* System calls numbered from here on (x86_64: statmount, listmount and later) are newer than
 * anything the jailed programs were built to use: refused as unknown. */
#define NEWER_CALLS_FROM 457
#define NEWER_CALLS_TO 600

/* Namespace flags clone must not carry. */
static const uint64_t clone_new[] = {CLONE_NEWUSER, CLONE_NEWNS,  CLONE_NEWPID,   CLONE_NEWNET,
                                     CLONE_NEWIPC,  CLONE_NEWUTS, CLONE_NEWCGROUP};

/* Add the deny rules to ctx. 0 or -1. */
static int filter_rules(scmp_filter_ctx ctx)
{
    for (size_t i = 0; i < sizeof denied / sizeof denied[0]; i++)
        if (denied[i] >= 0 && seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), denied[i], 0) != 0)
            return -1;
    for (size_t i = 0; i < sizeof clone_new / sizeof clone_new[0]; i++)
        if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, clone_new[i], clone_new[i])) != 0)
            return -1;
    for (int nr = NEWER_CALLS_FROM; nr <= NEWER_CALLS_TO; nr++)
        if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0) != 0)
            return -1;
    /* clone3 passes its flags in memory a filter cannot read: glibc falls back to clone. */
    if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) != 0)
        return -1;
    /* Only local sockets (LibreOffice talks to itself over one); the network namespace has
     * no interfaces anyway, and netlink reaches the kernel's network configuration. */
    if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socketpair), 1,
                         SCMP_A0(SCMP_CMP_NE, AF_UNIX, 0)) != 0)
        return -1;
    return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
                            SCMP_A0(SCMP_CMP_NE, AF_UNIX, 0)) == 0
               ? 0
               : -1;
}

int jailns_filter(void)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    int rc = -1;

    if (!ctx)
        return step = "seccomp", -1;
    if (filter_rules(ctx) == 0 && seccomp_load(ctx) == 0)
        rc = 0;
    seccomp_release(ctx);
    return rc < 0 ? (step = "seccomp", -1) : 0;
}

const char *jailns_step(void)
{
    return step;
}

/* In a helper forked before the unshare: wait for the go on sync, then write pid's maps
 * (root writes any map of a child namespace). Exit status 0 on success. */
static void write_maps(int sync, pid_t pid, uid_t uid, gid_t gid, uid_t juid, gid_t jgid)
{
    char path[64], map[128];
    char go;

    if (read(sync, &go, 1) != 1)
        _exit(1);
    if (mg_snprintf(map, sizeof map, "0 %u 1\n1 %u 1\n", (unsigned)uid, (unsigned)juid) < 0 ||
        mg_snprintf(path, sizeof path, "/proc/%ld/uid_map", (long)pid) < 0 ||
        jailns_proc_write(path, map) < 0)
        _exit(1);
    if (mg_snprintf(map, sizeof map, "0 %u 1\n1 %u 1\n", (unsigned)gid, (unsigned)jgid) < 0 ||
        mg_snprintf(path, sizeof path, "/proc/%ld/gid_map", (long)pid) < 0 ||
        jailns_proc_write(path, map) < 0)
        _exit(1);
    _exit(0);
}

/* The capabilities a process that makes jails keeps in mugai-milter's user namespace: new
 * namespaces and mounts, switching to the jail user and handing it its input, dropping its
 * capabilities, creating files in its work directory, and ending it. */
#define CAP_BIT(c) ((uint64_t)1 << (c))
#define SAN_JAIL_MAKER_CAPS                                                                        \
    (CAP_BIT(CAP_SYS_ADMIN) | CAP_BIT(CAP_SETUID) | CAP_BIT(CAP_SETGID) | CAP_BIT(CAP_CHOWN) |     \
     CAP_BIT(CAP_SETPCAP) | CAP_BIT(CAP_DAC_OVERRIDE) | CAP_BIT(CAP_KILL))

int san_jail_userns_enter(uid_t uid, gid_t gid, uid_t juid, gid_t jgid)
{
    int sync[2], st = 0;
    pid_t me = getpid(), helper;
    gid_t root_group = 0;

    if (uid == 0 || juid == 0 || uid == juid || pipe2(sync, O_CLOEXEC) < 0)
        return errno = EINVAL, -1;
    helper = fork();
    if (helper == 0) {
        close(sync[1]);
        write_maps(sync[0], me, uid, gid, juid, jgid);
    }
    close(sync[0]);
    int rc = helper < 0 ? -1 : unshare(CLONE_NEWUSER);
    int saved = errno;
    if (helper > 0 && rc == 0 && write(sync[1], "g", 1) != 1)
        rc = -1;
    close(sync[1]);
    if (helper > 0 &&
        (waitpid(helper, &st, 0) != helper || !WIFEXITED(st) || WEXITSTATUS(st) != 0) && rc == 0)
        rc = -1, saved = EPERM;
    if (rc < 0)
        return errno = saved, -1;
    /* Root of the new namespace is uid outside; 1 is the jail user. */
    if (setgroups(1, &root_group) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
        return -1;
    /* Only what making jails needs: no CAP_SYS_PTRACE (the front end and the other workers
     * are not dumpable: a worker taken over by a message cannot reach them), no network or
     * file-ownership capabilities. */
    if (caps_bound_keep(SAN_JAIL_MAKER_CAPS) < 0 || caps_set(SAN_JAIL_MAKER_CAPS) < 0)
        return -1;
    san_jail_ids_set(1, 1);
    return 0;
}

/* The last version that ran here, far above any installed one: LibreOffice then takes no
 * start for its first after an upgrade, which would draw its graphics self-tests (seconds of
 * every conversion, since each starts with a new profile). Calc's link modes: 1 is never;
 * Writer's: 0 is never. Macro security 3 is "very high": only trusted locations, of which
 * there are none. */
const char jailns_office_settings[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<oor:items xmlns:oor=\"http://openoffice.org/2001/registry\" "
    "xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" "
    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n"
    "<item oor:path=\"/org.openoffice.Setup/Product\">"
    "<prop oor:name=\"ooSetupLastVersion\" oor:op=\"fuse\"><value>99.9</value></prop></item>\n"
    "<item oor:path=\"/org.openoffice.Office.Common/Security/Scripting\">"
    "<prop oor:name=\"DisableMacrosExecution\" oor:op=\"fuse\"><value>true</value></prop></item>\n"
    "<item oor:path=\"/org.openoffice.Office.Common/Security/Scripting\">"
    "<prop oor:name=\"MacroSecurityLevel\" oor:op=\"fuse\"><value>3</value></prop></item>\n"
    "<item oor:path=\"/org.openoffice.Office.Common/Security/Scripting\">"
    "<prop oor:name=\"BlockUntrustedRefererLinks\" "
    "oor:op=\"fuse\"><value>true</value></prop></item>\n"
    "<item oor:path=\"/org.openoffice.Office.Writer/Content/Update\">"
    "<prop oor:name=\"Link\" oor:op=\"fuse\"><value>0</value></prop></item>\n"
    "<item oor:path=\"/org.openoffice.Office.Writer/Content/Update\">"
    "<prop oor:name=\"Field\" oor:op=\"fuse\"><value>false</value></prop></item>\n"
    "<item oor:path=\"/org.openoffice.Office.Calc/Content/Update\">"
    "<prop oor:name=\"Link\" oor:op=\"fuse\"><value>1</value></prop></item>\n"
    "<item oor:path=\"/org.openoffice.Office.Common/Misc\">"
    "<prop oor:name=\"UseLocking\" oor:op=\"fuse\"><value>false</value></prop></item>\n"
    "<item oor:path=\"/org.openoffice.Office.Common/Misc\">"
    "<prop oor:name=\"UseDocumentSystemFileLocking\" "
    "oor:op=\"fuse\"><value>false</value></prop></item>\n"
    "<item oor:path=\"/org.openoffice.Office.Common/Misc\">"
    "<prop oor:name=\"UseDocumentOOoLockFile\" oor:op=\"fuse\"><value>false</value></prop></item>\n"
    "<item oor:path=\"/org.openoffice.Office.Recovery/RecoveryInfo\">"
    "<prop oor:name=\"Enabled\" oor:op=\"fuse\"><value>false</value></prop></item>\n"
    "<item oor:path=\"/org.openoffice.Office.Recovery/AutoSave\">"
    "<prop oor:name=\"Enabled\" oor:op=\"fuse\"><value>false</value></prop></item>\n"
    "<item oor:path=\"/org.openoffice.Office.Update/Update\">"
    "<prop oor:name=\"Enabled\" oor:op=\"fuse\"><value>false</value></prop></item>\n"
    "</oor:items>\n";

/* Make path a directory of the jail user's (0700). 0 or -1. */
static int office_dir(const char *path, const jail_ids *ids)
{
    if (mkdir(path, 0700) < 0)
        return -1;
    return ids->sw && chown(path, ids->uid, ids->gid) < 0 ? -1 : 0;
}

/* Write len bytes of data to the new file path, the jail user's. 0 or -1. */
static int office_file(const char *path, const char *data, size_t len, const jail_ids *ids)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int rc = mg_write_all(fd, data, len);
    if (rc == 0 && ids->sw && fchown(fd, ids->uid, ids->gid) < 0)
        rc = -1;
    return close(fd) < 0 ? -1 : rc;
}

int jailns_office_profile_url(const char *dir, char *url, size_t size)
{
    size_t n;

    if (mg_file_url(url, size, dir) < 0 || (n = strlen(url)) + sizeof "/profile" > size)
        return errno = ENAMETOOLONG, -1;
    memcpy(url + n, "/profile", sizeof "/profile");
    return 0;
}

int jailns_office_program(const char *soffice, char *out, size_t size)
{
    char real[PATH_MAX];

    if (!realpath(soffice, real))
        return -1;
    char *slash = strrchr(real, '/');
    if (!slash || slash == real)
        return errno = ENOENT, -1;
    *slash = '\0';
    return mg_snprintf(out, size, "%s", real) < 0 ? (errno = ENAMETOOLONG, -1) : 0;
}

/* The installation's build id (the "buildid=" line of program/versionrc, printable, at most
 * 64 bytes) into id. Its length, or 0 when there is none to read. */
static size_t office_buildid(const char *soffice, char id[65])
{
    char program[PATH_MAX], rc[PATH_MAX + 16], buf[16384];
    size_t n = 0;

    if (!soffice || jailns_office_program(soffice, program, sizeof program) < 0 ||
        mg_snprintf(rc, sizeof rc, "%s/versionrc", program) < 0)
        return 0;
    int fd = open(rc, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    ssize_t len = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    if (fd >= 0)
        close(fd);
    if (len <= 0)
        return 0;
    buf[len] = '\0';
    for (char *line = buf; line && !n; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, "buildid=", 8) != 0)
            continue;
        const char *v = line + 8;
        while (n < 65 && v[n] >= 0x20 && v[n] < 0x7f)
            n++;
        if (n > 64 || (v[n] != '\n' && v[n] != '\r' && v[n] != '\0'))
            return 0;
        memcpy(id, v, n);
    }
    return n;
}

int jailns_office_profile(const char *dir, const char *soffice, const jail_ids *ids)
{
    char user[PATH_MAX], xcu[PATH_MAX + 32], ext[PATH_MAX + 16], bid[PATH_MAX + 32], id[65];

    if (mg_snprintf(user, sizeof user, "%s/user", dir) < 0 ||
        mg_snprintf(xcu, sizeof xcu, "%s/registrymodifications.xcu", user) < 0 ||
        mg_snprintf(ext, sizeof ext, "%s/extensions", user) < 0 ||
        mg_snprintf(bid, sizeof bid, "%s/buildid", ext) < 0)
        return errno = ENAMETOOLONG, -1;
    if (office_dir(dir, ids) < 0 || office_dir(user, ids) < 0 ||
        office_file(xcu, jailns_office_settings, sizeof jailns_office_settings - 1, ids) < 0)
        return -1;
    size_t n = office_buildid(soffice, id);
    if (n > 0 && (office_dir(ext, ids) < 0 || office_file(bid, id, n, ids) < 0))
        return -1;
    return 0;
}
