/*
 * render/seccomp.c - the seccomp allow-list of mugai-render.
 *
 * Installed by main.c inside the jail once the input is mapped and fonts and
 * decoder modules are loaded. Anything not listed kills the process (SIGSYS).
 * It must never allow sockets, exec, ptrace, new processes, writes to fds
 * other than 1 and 2, file creation, or memory that is writable and executable.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stddef.h>
#include <sys/mman.h>
#include <seccomp.h>
#include "rnd_int.h"

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
    SCMP_SYS(prlimit64),
    SCMP_SYS(getcwd),
    SCMP_SYS(uname),
    SCMP_SYS(poll),
    SCMP_SYS(ppoll),
    SCMP_SYS(eventfd2),
    SCMP_SYS(restart_syscall),
    SCMP_SYS(membarrier),
    SCMP_SYS(flock),
    SCMP_SYS(fadvise64),
    SCMP_SYS(fcntl),
};

/* Calls answered with an error instead of a kill: harmless probes libraries make. */
static const struct {
    int call;
    int err;
} denied_calls[] = {
    {SCMP_SYS(ioctl), ENOTTY},    {SCMP_SYS(clone3), ENOSYS},  {SCMP_SYS(sysinfo), EPERM},
    {SCMP_SYS(mkdir), EACCES},    {SCMP_SYS(mkdirat), EACCES}, {SCMP_SYS(unlink), EACCES},
    {SCMP_SYS(unlinkat), EACCES}, {SCMP_SYS(prctl), EPERM},
};

/* Allow call when (arg & mask) == value. 0 or -1. */
static int allow_masked(scmp_filter_ctx ctx, int call, unsigned arg, uint64_t mask, uint64_t value)
{
    struct scmp_arg_cmp cmp = {arg, SCMP_CMP_MASKED_EQ, mask, value};
    return seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, call, 1, &cmp) == 0 ? 0 : -1;
}

/* mmap and mprotect: never writable and executable at once. */
static int add_memory_rules(scmp_filter_ctx ctx)
{
    const uint64_t wx = PROT_WRITE | PROT_EXEC;
    const int calls[] = {SCMP_SYS(mmap), SCMP_SYS(mprotect)};

    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
        if (allow_masked(ctx, calls[i], 2, wx, 0) < 0 ||
            allow_masked(ctx, calls[i], 2, wx, PROT_WRITE) < 0 ||
            allow_masked(ctx, calls[i], 2, wx, PROT_EXEC) < 0)
            return -1;
    return 0;
}

/* write only to stdout and stderr; openat only read-only; clone only threads. */
static int add_arg_rules(scmp_filter_ctx ctx)
{
    const uint64_t wflags = O_ACCMODE | O_CREAT | O_TRUNC;

    if (allow_masked(ctx, SCMP_SYS(write), 0, ~(uint64_t)0, 1) < 0 ||
        allow_masked(ctx, SCMP_SYS(write), 0, ~(uint64_t)0, 2) < 0 ||
        allow_masked(ctx, SCMP_SYS(writev), 0, ~(uint64_t)0, 1) < 0 ||
        allow_masked(ctx, SCMP_SYS(writev), 0, ~(uint64_t)0, 2) < 0 ||
        allow_masked(ctx, SCMP_SYS(openat), 2, wflags, O_RDONLY) < 0 ||
        allow_masked(ctx, SCMP_SYS(clone), 0, CLONE_THREAD, CLONE_THREAD) < 0)
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
static int add_rules(scmp_filter_ctx ctx)
{
    for (size_t i = 0; i < sizeof plain_calls / sizeof plain_calls[0]; i++)
        if (plain_calls[i] >= 0 && seccomp_rule_add(ctx, SCMP_ACT_ALLOW, plain_calls[i], 0) != 0)
            return -1;
    for (size_t i = 0; i < sizeof denied_calls / sizeof denied_calls[0]; i++)
        if (denied_calls[i].call >= 0 && seccomp_rule_add(ctx, SCMP_ACT_ERRNO(denied_calls[i].err),
                                                          denied_calls[i].call, 0) != 0)
            return -1;
    return add_memory_rules(ctx) < 0 ? -1 : add_arg_rules(ctx);
}

int rnd_seccomp_install(void)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    int rc = -1;

    if (!ctx)
        return -1;
    if (add_rules(ctx) == 0 && seccomp_load(ctx) == 0)
        rc = 0;
    seccomp_release(ctx);
    return rc;
}
