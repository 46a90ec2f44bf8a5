/*
 * tests/unit/test_seccomp.c - the seccomp allow-list of mugai-render, attacked.
 *
 * Each row forks a child that installs the renderer's filter (render/seccomp.c,
 * linked in) and then makes one call a compromised renderer could try against
 * the processes around it, or one call rendering needs. The parent observes
 * the outcome: killed by SIGSYS, or the call's success or errno (the child's
 * exit status). The child's fd 1 is a pipe of its own, like the renderer's
 * output, so that no row touches the test's real stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "rnd_int.h"

/* What the parent sees of one attempt. */
enum outcome { OUT_OK, OUT_ERRNO, OUT_SIGSYS };

/* The parent's pid, taken before the filter (getppid itself is not allowed). */
static pid_t parent;
/* No open files, under the hard limit it has (so that a failing row can be undone). */
static struct rlimit starve;

typedef struct row {
    const char *name;
    long (*attempt)(void); /* -1 with errno set on failure */
    enum outcome want;
    int err; /* for OUT_ERRNO */
} row;

/* prlimit64 on the parent (the front end): lower its open-file limit to zero. */
static long prlimit_parent_set(void)
{
    return syscall(SYS_prlimit64, parent, RLIMIT_NOFILE, &starve, NULL);
}

/* prlimit64 on the parent, only reading. */
static long prlimit_parent_get(void)
{
    struct rlimit old;

    return syscall(SYS_prlimit64, parent, RLIMIT_NOFILE, NULL, &old);
}

/* prlimit64 on the parent named with garbage in the upper half of the pid register. */
static long prlimit_parent_wide(void)
{
    return syscall(SYS_prlimit64, (long)parent | (1L << 32), RLIMIT_NOFILE, &starve, NULL);
}

/* Reading its own limits, as libraries do. */
static long prlimit_self_get(void)
{
    struct rlimit old;

    return syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &old);
}

/* Raising its own limits is not needed by rendering. */
static long prlimit_self_set(void)
{
    struct rlimit cur;

    if (getrlimit(RLIMIT_NOFILE, &cur) < 0)
        return -1;
    return syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &cur, NULL);
}

/* Make the parent the owner of the output pipe's signals. */
static long fcntl_setown(void)
{
    return fcntl(1, F_SETOWN, parent);
}

/* Choose the signal the output pipe raises. */
static long fcntl_setsig(void)
{
    return fcntl(1, F_SETSIG, SIGKILL);
}

/* Turn on signal-driven I/O on the output pipe. */
static long fcntl_async(void)
{
    return fcntl(1, F_SETFL, O_ASYNC);
}

/* The same with F_SETOWN_EX. */
static long fcntl_setown_ex(void)
{
    struct f_owner_ex o = {F_OWNER_PID, 0};

    o.pid = parent;
    return fcntl(1, F_SETOWN_EX, &o);
}

/* A lease delivers signals too. */
static long fcntl_lease(void)
{
    return fcntl(0, F_SETLEASE, F_RDLCK);
}

/* A second descriptor on the input. */
static long fcntl_dupfd(void)
{
    return fcntl(0, F_DUPFD_CLOEXEC, 10);
}

/* What fontconfig and glib do with descriptors. */
static long fcntl_fd_flags(void)
{
    int fl = fcntl(1, F_GETFD);

    if (fl < 0 || fcntl(1, F_SETFD, fl | FD_CLOEXEC) < 0)
        return -1;
    return fcntl(1, F_GETFL) < 0 ? -1 : 0;
}

/* O_NONBLOCK through F_SETFL stays possible. */
static long fcntl_nonblock(void)
{
    int fl = fcntl(1, F_GETFL);

    return fl < 0 ? -1 : fcntl(1, F_SETFL, fl | O_NONBLOCK);
}

/* A fresh writable page. */
static void *rw_page(void)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (p != MAP_FAILED)
        memset(p, 0xc3, 4096);
    return p;
}

/* Make written memory executable. */
static long mprotect_exec(void)
{
    void *p = rw_page();

    return p == MAP_FAILED ? -1 : mprotect(p, 4096, PROT_READ | PROT_EXEC);
}

/* Writable and executable at once. */
static long mprotect_wx(void)
{
    void *p = rw_page();

    return p == MAP_FAILED ? -1 : mprotect(p, 4096, PROT_READ | PROT_WRITE | PROT_EXEC);
}

/* Drop write access, as the dynamic loader does for RELRO. */
static long mprotect_ro(void)
{
    void *p = rw_page();

    return p == MAP_FAILED ? -1 : mprotect(p, 4096, PROT_READ);
}

/* Executable anonymous memory. */
static long mmap_anon_exec(void)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    return p == MAP_FAILED ? -1 : 0;
}

/* Map the untrusted input (fd 0) executable. */
static long mmap_input_exec(void)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, 0, 0);

    return p == MAP_FAILED ? -1 : 0;
}

/* The same, with fd 0 hidden behind garbage in the upper half of the register. */
static long mmap_input_exec_wide(void)
{
    long p = syscall(SYS_mmap, 0L, 4096L, (long)(PROT_READ | PROT_EXEC), (long)MAP_PRIVATE,
                     1L << 32, 0L);

    return p == -1 ? -1 : 0;
}

/* A shared library mapped executable, as iconv loads a gconv module. */
static long mmap_library_exec(void)
{
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    void *p;

    if (fd < 0)
        return -1;
    p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
    close(fd);
    return p == MAP_FAILED ? -1 : 0;
}

/* Ordinary heap memory. */
static long mmap_anon_rw(void)
{
    return rw_page() == MAP_FAILED ? -1 : 0;
}

/* A read-only open of a file, as fontconfig opens fonts. */
static long open_read(void)
{
    int fd = openat(AT_FDCWD, "/proc/self/exe", O_RDONLY | O_CLOEXEC | O_NONBLOCK);

    return fd < 0 ? -1 : close(fd);
}

/* O_PATH descriptors are of no use to rendering. */
static long open_path(void)
{
    int fd = openat(AT_FDCWD, "/", O_PATH | O_CLOEXEC);

    return fd < 0 ? -1 : close(fd);
}

/* Creating a file. */
static long open_create(void)
{
    int fd = openat(AT_FDCWD, "/tmp/mugai-seccomp-test", O_RDONLY | O_CREAT | O_CLOEXEC, 0600);

    return fd < 0 ? -1 : close(fd);
}

/* A cache refresh: refused with EACCES. */
static long open_write(void)
{
    int fd = openat(AT_FDCWD, "/proc/self/exe", O_WRONLY | O_CLOEXEC);

    return fd < 0 ? -1 : close(fd);
}

/* An exclusive lock other processes would wait on. */
static long flock_input(void)
{
    return flock(0, LOCK_EX | LOCK_NB);
}

/* Do nothing in a thread. */
static void *idle(void *arg)
{
    return arg;
}

/* A thread, as glibc starts one. */
static long thread(void)
{
    pthread_t t;
    int rc = pthread_create(&t, NULL, idle, NULL);

    if (rc != 0)
        return errno = rc, -1;
    return pthread_join(t, NULL) == 0 ? 0 : -1;
}

/* clone with CLONE_THREAD and a namespace flag: the kernel would refuse it, the filter must
 * not even let it through. */
static long clone_thread_newnet(void)
{
    return syscall(SYS_clone,
                   CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
                       CLONE_SYSVSEM | CLONE_NEWNET | CLONE_NEWUSER,
                   NULL, NULL, NULL, 0);
}

/* Writing anywhere but fds 1 and 2. */
static long write_input(void)
{
    return write(0, "x", 1) < 0 ? -1 : 0;
}

/* Signalling the parent. */
static long kill_parent(void)
{
    return kill(parent, 0);
}

/* Opening a socket. */
static long open_socket(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    return fd < 0 ? -1 : close(fd);
}

static const row rows[] = {
    {"prlimit64 on the parent, setting", prlimit_parent_set, OUT_SIGSYS, 0},
    {"prlimit64 on the parent, reading", prlimit_parent_get, OUT_SIGSYS, 0},
    {"prlimit64 on the parent, pid with high bits", prlimit_parent_wide, OUT_SIGSYS, 0},
    {"prlimit64 on itself, reading", prlimit_self_get, OUT_OK, 0},
    {"prlimit64 on itself, setting", prlimit_self_set, OUT_SIGSYS, 0},
    {"fcntl F_SETOWN", fcntl_setown, OUT_SIGSYS, 0},
    {"fcntl F_SETSIG", fcntl_setsig, OUT_SIGSYS, 0},
    {"fcntl F_SETFL O_ASYNC", fcntl_async, OUT_SIGSYS, 0},
    {"fcntl F_SETOWN_EX", fcntl_setown_ex, OUT_SIGSYS, 0},
    {"fcntl F_SETLEASE", fcntl_lease, OUT_SIGSYS, 0},
    {"fcntl F_DUPFD_CLOEXEC", fcntl_dupfd, OUT_SIGSYS, 0},
    {"fcntl F_GETFD F_SETFD F_GETFL", fcntl_fd_flags, OUT_OK, 0},
    {"fcntl F_SETFL O_NONBLOCK", fcntl_nonblock, OUT_OK, 0},
    {"mprotect PROT_EXEC", mprotect_exec, OUT_SIGSYS, 0},
    {"mprotect PROT_WRITE|PROT_EXEC", mprotect_wx, OUT_SIGSYS, 0},
    {"mprotect PROT_READ", mprotect_ro, OUT_OK, 0},
    {"mmap anonymous PROT_EXEC", mmap_anon_exec, OUT_SIGSYS, 0},
    {"mmap the input PROT_EXEC", mmap_input_exec, OUT_SIGSYS, 0},
    {"mmap the input PROT_EXEC, fd with high bits", mmap_input_exec_wide, OUT_SIGSYS, 0},
    {"mmap a program file PROT_EXEC", mmap_library_exec, OUT_OK, 0},
    {"mmap anonymous PROT_WRITE", mmap_anon_rw, OUT_OK, 0},
    {"openat O_RDONLY", open_read, OUT_OK, 0},
    {"openat O_PATH", open_path, OUT_SIGSYS, 0},
    {"openat O_CREAT", open_create, OUT_SIGSYS, 0},
    {"openat O_WRONLY", open_write, OUT_ERRNO, EACCES},
    {"flock", flock_input, OUT_ERRNO, EPERM},
    {"pthread_create", thread, OUT_OK, 0},
    {"clone CLONE_THREAD|CLONE_NEWNET|CLONE_NEWUSER", clone_thread_newnet, OUT_SIGSYS, 0},
    {"write to fd 0", write_input, OUT_SIGSYS, 0},
    {"kill the parent", kill_parent, OUT_SIGSYS, 0},
    {"socket", open_socket, OUT_SIGSYS, 0},
};

/* In the child: fd 0 a regular file, fd 1 a pipe of its own, no core file; install the filter
 * and make the attempt. The exit status is 0 or the errno; never returns. */
static void child(const row *r, int input)
{
    struct rlimit nocore = {0, 0};
    int p[2];

    if (pipe(p) < 0 || dup2(p[1], 1) < 0 || dup2(input, 0) < 0 ||
        setrlimit(RLIMIT_CORE, &nocore) < 0)
        _exit(125);
    parent = getppid();
    if (getrlimit(RLIMIT_NOFILE, &starve) < 0)
        _exit(125);
    starve.rlim_cur = 0;
    if (rnd_seccomp_install() < 0)
        _exit(126);
    errno = 0;
    _exit(r->attempt() >= 0 ? 0 : (errno > 0 && errno < 120 ? errno : 127));
}

/* A regular file standing for the renderer's input. */
static int make_input(void)
{
    char name[] = "/tmp/mugai-seccomp-XXXXXX";
    int fd = mkstemp(name);

    assert_true(fd >= 0);
    unlink(name);
    assert_int_equal(write(fd, "%PDF-1.4\n", 9), 9);
    return fd;
}

/* Describe a wait status for a failure message. */
static void describe(int status, char *buf, size_t len)
{
    if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
    else if (WEXITSTATUS(status) == 0)
        snprintf(buf, len, "succeeded");
    else
        snprintf(buf, len, "failed with errno %d (%s)", WEXITSTATUS(status),
                 strerror(WEXITSTATUS(status)));
}

/* Run one row in a child and compare its outcome; the parent's limits must not move. */
static void run_row(void **state)
{
    const row *r = *state;
    struct rlimit before, after;
    int input = make_input(), status = 0, ok;
    char seen[96];
    pid_t pid;

    assert_int_equal(getrlimit(RLIMIT_NOFILE, &before), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        child(r, input);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    close(input);
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &after), 0);
    if (after.rlim_cur != before.rlim_cur || after.rlim_max != before.rlim_max) {
        (void)setrlimit(RLIMIT_NOFILE, &before); /* the soft limit at least comes back */
        fail_msg("%s: the parent's RLIMIT_NOFILE changed", r->name);
    }
    assert_false(WIFEXITED(status) && WEXITSTATUS(status) >= 125);
    if (r->want == OUT_SIGSYS)
        ok = WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS;
    else if (r->want == OUT_ERRNO)
        ok = WIFEXITED(status) && WEXITSTATUS(status) == r->err;
    else
        ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    describe(status, seen, sizeof seen);
    if (!ok)
        fail_msg("%s: %s, expected %s", r->name, seen,
                 r->want == OUT_SIGSYS  ? "a kill by SIGSYS"
                 : r->want == OUT_ERRNO ? strerror(r->err)
                                        : "success");
}

/* One cmocka test per row, named after it. */
int main(void)
{
    enum { N = sizeof rows / sizeof rows[0] };
    struct CMUnitTest tests[N];

    for (size_t i = 0; i < N; i++)
        tests[i] = (struct CMUnitTest){rows[i].name, run_row, NULL, NULL, (void *)&rows[i]};
    return _cmocka_run_group_tests("seccomp", tests, N, NULL, NULL);
}
