/*
 * render/seccomp.c - the seccomp allow-list of mugai-render.
 *
 * Installed by main.c inside the jail once the input is mapped and fonts and
 * decoder modules are loaded. Anything not listed kills the process (SIGSYS).
 * It must never allow sockets, exec, ptrace, new processes, writes to fds
 * other than 1 and 2 (and, in unlock mode, its output file RND_FD_OUTPUT), file
 * creation, or memory that is writable and executable.
 *
 * Every call is allowed only as far as its arguments reach the renderer
 * itself: prlimit64 reads its own limits only (another pid would let it starve
 * the worker of fds); fcntl has no F_SETOWN, F_SETSIG, O_ASYNC or leases (its
 * output pipe would signal any process of the same uid) and no F_DUPFD;
 * clone makes threads with glibc's exact flags and nothing else; openat opens
 * read-only, without O_PATH or O_CREAT. Memory never becomes executable once
 * the filter is in: mprotect never adds PROT_EXEC, and mmap maps executable
 * only files other than the input, read-only (iconv loads gconv modules once
 * the filter is in). What rendering calls was taken from strace of
 * mugai-render on PDFs (LibreOffice's among them), every image type and text,
 * CSV and HTML in Japanese and other charsets.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stddef.h>
#include <sys/mman.h>
#include <seccomp.h>
#include "rnd_int.h"

/* The flags of glibc's pthread_create (clone3 is refused, so it falls back to clone). */
#define THREAD_FLAGS                                                                               \
    (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SYSVSEM | CLONE_SIGHAND | CLONE_THREAD |            \
     CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID)

/* The only openat flags besides O_RDONLY. */
#define OPEN_FLAGS (O_CLOEXEC | O_NONBLOCK | O_DIRECTORY | O_NOFOLLOW | O_NOCTTY)

/* Calls allowed with any arguments: memory, reading, time, signals, exit. */
static const int plain_calls[] = {
    SCMP_SYS(read),
    SCMP_SYS(pread64),
    SCMP_SYS(readv),
    SCMP_SYS(munmap),
    SCMP_SYS(mremap),
    SCMP_SYS(brk),
    SCMP_SYS(madvise),
    SCMP_SYS(lseek),
    SCMP_SYS(fstat),
    SCMP_SYS(newfstatat),
    SCMP_SYS(statx),
    SCMP_SYS(stat),
    SCMP_SYS(lstat),
    SCMP_SYS(access),
    SCMP_SYS(faccessat),
    SCMP_SYS(faccessat2),
    SCMP_SYS(close),
    SCMP_SYS(getdents64),
    SCMP_SYS(readlink),
    SCMP_SYS(readlinkat),
    SCMP_SYS(futex),
    SCMP_SYS(exit),
    SCMP_SYS(exit_group),
    SCMP_SYS(rt_sigreturn),
    SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(rt_sigaction),
    SCMP_SYS(sigaltstack),
    SCMP_SYS(clock_gettime),
    SCMP_SYS(clock_nanosleep),
    SCMP_SYS(nanosleep),
    SCMP_SYS(gettimeofday),
    SCMP_SYS(getrandom),
    SCMP_SYS(getpid),
    SCMP_SYS(gettid),
    SCMP_SYS(getuid),
    SCMP_SYS(geteuid),
    SCMP_SYS(getgid),
    SCMP_SYS(getegid),
    SCMP_SYS(sched_yield),
    SCMP_SYS(sched_getaffinity),
    SCMP_SYS(set_robust_list),
    SCMP_SYS(rseq),
    SCMP_SYS(set_tid_address),
    SCMP_SYS(getcwd),
    SCMP_SYS(uname),
    SCMP_SYS(poll),
    SCMP_SYS(ppoll),
    SCMP_SYS(eventfd2),
    SCMP_SYS(restart_syscall),
    SCMP_SYS(membarrier),
    SCMP_SYS(fadvise64),
};

/* Calls answered with an error instead of a kill: harmless probes libraries make. */
static const struct {
    int call;
    int err;
} denied_calls[] = {
    {SCMP_SYS(ioctl), ENOTTY},    {SCMP_SYS(clone3), ENOSYS},  {SCMP_SYS(sysinfo), EPERM},
    {SCMP_SYS(mkdir), EACCES},    {SCMP_SYS(mkdirat), EACCES}, {SCMP_SYS(unlink), EACCES},
    {SCMP_SYS(unlinkat), EACCES}, {SCMP_SYS(prctl), EPERM},    {SCMP_SYS(flock), EPERM},
};

/* Allow call when every comparison holds. 0 or -1. */
static int allow_if(scmp_filter_ctx ctx, int call, unsigned n, const struct scmp_arg_cmp *cmp)
{
    return seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, call, n, cmp) == 0 ? 0 : -1;
}

/* Allow call when (arg & mask) == value. 0 or -1. */
static int allow_masked(scmp_filter_ctx ctx, int call, unsigned arg, uint64_t mask, uint64_t value)
{
    struct scmp_arg_cmp cmp = {arg, SCMP_CMP_MASKED_EQ, mask, value};
    return allow_if(ctx, call, 1, &cmp);
}

/* Allow call when arg == value. 0 or -1. */
static int allow_eq(scmp_filter_ctx ctx, int call, unsigned arg, uint64_t value)
{
    return allow_masked(ctx, call, arg, ~(uint64_t)0, value);
}

/* mmap and mprotect: nothing becomes executable but a file mapped without write access, and
 * never the input, fd 0. The kernel reads the fd as 32 bits and libseccomp takes one comparison
 * per argument, so "not 0" is "one of the low 32 bits set", a rule per bit. */
static int add_memory_rules(scmp_filter_ctx ctx)
{
    struct scmp_arg_cmp exec_file[] = {
        {2, SCMP_CMP_MASKED_EQ, PROT_WRITE | PROT_EXEC, PROT_EXEC},
        {3, SCMP_CMP_MASKED_EQ, MAP_ANONYMOUS, 0},
        {4, SCMP_CMP_MASKED_EQ, 0, 0},
    };

    for (unsigned bit = 0; bit < 32; bit++) {
        exec_file[2].datum_a = exec_file[2].datum_b = (uint64_t)1 << bit;
        if (allow_if(ctx, SCMP_SYS(mmap), 3, exec_file) < 0)
            return -1;
    }
    if (allow_masked(ctx, SCMP_SYS(mmap), 2, PROT_EXEC, 0) < 0 ||
        allow_masked(ctx, SCMP_SYS(mprotect), 2, PROT_EXEC, 0) < 0)
        return -1;
    return 0;
}

/* fcntl: descriptor flags, and status flags without O_ASYNC; no owner, signal, lease or dup. */
static int add_fcntl_rules(scmp_filter_ctx ctx)
{
    const struct scmp_arg_cmp setfl[] = {
        {1, SCMP_CMP_EQ, F_SETFL, 0},
        {2, SCMP_CMP_MASKED_EQ, O_ASYNC, 0},
    };

    if (allow_eq(ctx, SCMP_SYS(fcntl), 1, F_GETFD) < 0 ||
        allow_eq(ctx, SCMP_SYS(fcntl), 1, F_SETFD) < 0 ||
        allow_eq(ctx, SCMP_SYS(fcntl), 1, F_GETFL) < 0 ||
        allow_if(ctx, SCMP_SYS(fcntl), 2, setfl) < 0)
        return -1;
    return 0;
}

/* write only to stdout and stderr; openat only read-only; clone only threads; prlimit64 only
 * reading its own limits. */
static int add_arg_rules(scmp_filter_ctx ctx, int out_fd)
{
    const struct scmp_arg_cmp own_limits[] = {
        {0, SCMP_CMP_EQ, 0, 0},
        {2, SCMP_CMP_EQ, 0, 0},
    };

    if (allow_eq(ctx, SCMP_SYS(write), 0, 1) < 0 || allow_eq(ctx, SCMP_SYS(write), 0, 2) < 0 ||
        allow_eq(ctx, SCMP_SYS(writev), 0, 1) < 0 || allow_eq(ctx, SCMP_SYS(writev), 0, 2) < 0 ||
        allow_masked(ctx, SCMP_SYS(openat), 2, ~(uint64_t)OPEN_FLAGS, O_RDONLY) < 0 ||
        allow_eq(ctx, SCMP_SYS(clone), 0, THREAD_FLAGS) < 0 ||
        allow_if(ctx, SCMP_SYS(prlimit64), 2, own_limits) < 0)
        return -1;
    if (out_fd >= 0 && allow_eq(ctx, SCMP_SYS(write), 0, (uint64_t)out_fd) < 0)
        return -1;
    /* fontconfig may try to refresh a cache: refuse politely rather than kill. */
    struct scmp_arg_cmp w = {2, SCMP_CMP_MASKED_EQ, O_ACCMODE, O_WRONLY};
    struct scmp_arg_cmp rw = {2, SCMP_CMP_MASKED_EQ, O_ACCMODE, O_RDWR};
    if (seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 1, &w) != 0 ||
        seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 1, &rw) != 0)
        return -1;
    return 0;
}

/* Add every rule to ctx. 0 or -1. */
static int add_rules(scmp_filter_ctx ctx, int out_fd)
{
    for (size_t i = 0; i < sizeof plain_calls / sizeof plain_calls[0]; i++)
        if (plain_calls[i] >= 0 && seccomp_rule_add(ctx, SCMP_ACT_ALLOW, plain_calls[i], 0) != 0)
            return -1;
    for (size_t i = 0; i < sizeof denied_calls / sizeof denied_calls[0]; i++)
        if (denied_calls[i].call >= 0 && seccomp_rule_add(ctx, SCMP_ACT_ERRNO(denied_calls[i].err),
                                                          denied_calls[i].call, 0) != 0)
            return -1;
    if (add_memory_rules(ctx) < 0 || add_fcntl_rules(ctx) < 0)
        return -1;
    return add_arg_rules(ctx, out_fd);
}

/* The filter of every mode but unlock's; see rnd_int.h. */
int rnd_seccomp_install(void)
{
    return rnd_seccomp_install_out(-1);
}

/* Build and load the filter; see rnd_int.h. */
int rnd_seccomp_install_out(int out_fd)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    int rc = -1;

    if (!ctx)
        return -1;
    /* Every thread a library may have started by now gets the filter too. */
    if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) == 0 && add_rules(ctx, out_fd) == 0 &&
        seccomp_load(ctx) == 0)
        rc = 0;
    seccomp_release(ctx);
    return rc;
}
