/*
 * sanitize/spawn.c - a sanitizer worker's jail spawner, and the worker's side
 * of it.
 *
 * A pool worker confines itself (confine.c); a process under Landlock may no
 * longer mount or pivot_root, and its seccomp filter would pass to every jail.
 * So before it confines itself, the worker forks its spawner: a single-threaded
 * child that keeps the worker's capabilities in mugai-milter's user namespace,
 * holds nothing but its socket to the worker (and the standard streams, for
 * the log), and ends with the worker: at the end of its socket, or by its
 * parent-death signal (which a worker under Landlock's signal scope cannot
 * send; the supervisor kills a spawner that outlives its worker as a stray
 * either way). It makes the worker's jails, one at a time, exactly as a
 * worker without a spawner does (jail.c jail_task_clone: jailns_clone, then
 * the jail's init), answers with the init's pid, kills that jail when asked
 * (or when it outlives its program's own time limit), and when the init ends
 * answers with its wait status and CPU time.
 *
 * The spawner is the privileged side of a worker that parses untrusted mail:
 * every byte it receives is hostile. A request is one fixed-size message
 * (short, long or malformed ones end the spawner, and with it the worker's
 * jails, which then fail closed) that names a jail_task: the program and its
 * mode, never an argument vector, a path, a user or a limit, which the spawner
 * takes from its own configuration; the private directory must be one of the
 * worker's own, and the descriptors must be of the kinds a jail is given. It
 * never signals anything but the jail it started last, and never waits on its
 * worker: an answer the worker does not take ends the spawner too.
 *
 * Messages follow the house rule for typed messages between processes: a fixed
 * header (magic, type, sequence number), one size per type, descriptors by
 * SCM_RIGHTS on a SOCK_SEQPACKET pair.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>
#include "mg.h"
#include "san_int.h"

#define SPAWN_MAGIC 0x5053474dU /* "MGSP" */
/* Received descriptors are moved up to here, clear of the numbers the jail's init gives them. */
#define SPAWN_FD_MIN 10
/* The spawner's socket, once it has closed everything else. */
#define SPAWN_SOCK_FD 3
/* How long past its program's own time limit a jail may run before the spawner kills it: the
 * worker kills it at that limit or at its job's deadline, whichever comes first. */
#define SPAWN_GRACE 10
/* How long the worker waits for the answer to a start. */
#define SPAWN_REPLY_MS 10000

typedef enum {
    SPAWN_START = 1, /* worker: start a jail (task and descriptors) */
    SPAWN_KILL,      /* worker: kill the jail of start seq */
    SPAWN_STARTED,   /* spawner: the init's pid, or why there is none */
    SPAWN_ENDED      /* spawner: the init of start seq has ended */
} spawn_type;

/* A worker's request. */
typedef struct spawn_req {
    uint32_t magic;
    uint32_t type;
    uint32_t seq;   /* the start's number; a kill names the start whose jail it ends */
    jail_task task; /* SPAWN_START; zeros otherwise */
} spawn_req;

/* The spawner's answer. */
typedef struct spawn_rep {
    uint32_t magic;
    uint32_t type;
    uint32_t seq;    /* of the start it answers */
    int32_t pid;     /* SPAWN_STARTED: the init's pid, -1 when none was made */
    int32_t err;     /* SPAWN_STARTED without a pid: errno */
    int32_t status;  /* SPAWN_ENDED: the init's wait status */
    uint64_t cpu_us; /* SPAWN_ENDED: CPU time of the init and of what it waited for */
    char why[200];   /* SPAWN_STARTED without a pid: the reason */
} spawn_rep;

/* The spawner's state: the worker and the one jail it may run. */
typedef struct spawner {
    const conf *c;
    pid_t worker;
    pid_t pid;    /* the jail's init, 0 when none runs */
    int pidfd;    /* readable once the init has ended */
    uint32_t seq; /* of the start that made it */
    double until; /* when the spawner kills it itself */
} spawner;

/* The worker's side: the socket to its spawner (-1: none), whether the spawner is gone, and
 * the number of the last start. */
static int spawner_fd = -1;
static int spawner_lost;
static uint32_t spawn_seq;

/* ---- the spawner ---- */

/* Move the descriptors of the SCM_RIGHTS messages in m into fds (at most JAIL_NFDS, each at
 * SPAWN_FD_MIN or above); *n is how many. 0, or -1 when there were more or other control
 * data (all that came is closed). */
static int fds_take(struct msghdr *m, int fds[JAIL_NFDS], size_t *n)
{
    int bad = (m->msg_flags & MSG_CTRUNC) != 0;

    *n = 0;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(m); h; h = CMSG_NXTHDR(m, h)) {
        if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) {
            bad = 1;
            continue;
        }
        size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof fd);
            int up = *n < JAIL_NFDS ? fcntl(fd, F_DUPFD_CLOEXEC, SPAWN_FD_MIN) : -1;
            close(fd);
            if (up < 0)
                bad = 1;
            else
                fds[(*n)++] = up;
        }
    }
    if (!bad)
        return 0;
    while (*n > 0)
        close(fds[--*n]);
    return -1;
}

/* Receive one request into q with its descriptors. 1 when one came, 0 when the worker has
 * gone, -1 on a malformed message (what came with it is closed). */
static int req_recv(int sock, spawn_req *q, int fds[JAIL_NFDS], size_t *n)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * JAIL_NFDS)];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {q, sizeof *q};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
    ssize_t got;

    *n = 0;
    do
        got = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    while (got < 0 && errno == EINTR);
    if (got <= 0)
        return 0;
    if (fds_take(&m, fds, n) < 0)
        return -1;
    if ((size_t)got == sizeof *q && !(m.msg_flags & MSG_TRUNC) && q->magic == SPAWN_MAGIC &&
        (q->type == SPAWN_START || q->type == SPAWN_KILL))
        return 1;
    while (*n > 0)
        close(fds[--*n]);
    return -1;
}

/* Send a to the worker, never waiting: a worker reads every answer at once, and one that
 * leaves its answers unread would keep the spawner from ending its jail in time. 0, or -1
 * when the worker has gone or reads no more. */
static int rep_send(int sock, spawn_rep *a)
{
    a->magic = SPAWN_MAGIC;
    if (send(sock, a, sizeof *a, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)sizeof *a)
        return 0;
    if (errno == EAGAIN)
        mg_error("jail spawner: its worker reads no answers: stopping");
    return -1;
}

/* Non-zero when fd is of kind (S_IFREG, S_IFIFO) and open in one of the access modes in
 * modes (a mask of 1 << O_RDONLY, O_WRONLY, O_RDWR); never an O_PATH descriptor, which
 * reads nothing itself but could be reopened through /proc by whoever holds it. */
static int fd_is(int fd, mode_t kind, int modes)
{
    struct stat st;
    int fl = fcntl(fd, F_GETFL);

    return fl >= 0 && !(fl & O_PATH) && fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == kind &&
           (modes >> (fl & O_ACCMODE) & 1);
}

/* Non-zero when t opens a held encrypted part: mugai-render in unlock mode, or 7-Zip. */
static int task_unlock(const jail_task *t)
{
    return (!t->office && strcmp(t->mode, "unlock") == 0) || t->office == 2;
}

/* Non-zero when fd is an anonymous file sealed against any write. */
static int fd_sealed(int fd)
{
    int seals = fcntl(fd, F_GET_SEALS);

    return seals >= 0 && (seals & F_SEAL_WRITE) && (seals & F_SEAL_GROW);
}

/* 0 when fds are what a jail of this kind starts with: a file to read, three pipes to write
 * and, for LibreOffice only, a file to write, and a second one exactly when the task asks for
 * a spreadsheet's sheets; for unlock mode, a file to write and the sealed file of candidates.
 * Else -1 with the reason in why. */
static int fds_check(const jail_task *t, const int fds[JAIL_NFDS], size_t n, char *why,
                     size_t why_len)
{
    const int rd = 1 << O_RDONLY, wr = 1 << O_WRONLY | 1 << O_RDWR;
    int unlock = task_unlock(t);

    if (n != (unlock ? JAIL_NFDS : t->office ? JAIL_NFDS - !t->sheets : JAIL_NFDS - 2))
        return mg_snprintf(why, why_len, "%zu descriptors for this program", n), -1;
    if (!fd_is(fds[JAIL_FD_IN], S_IFREG, rd) || !fd_is(fds[JAIL_FD_OUT], S_IFIFO, wr) ||
        !fd_is(fds[JAIL_FD_ERR], S_IFIFO, wr) || !fd_is(fds[JAIL_FD_STAT], S_IFIFO, wr) ||
        ((t->office || unlock) && !fd_is(fds[JAIL_FD_PDF], S_IFREG, wr)) ||
        (t->sheets && !fd_is(fds[JAIL_FD_SHEETS], S_IFREG, wr)) ||
        (unlock &&
         (!fd_is(fds[JAIL_FD_SHEETS], S_IFREG, rd | wr) || !fd_sealed(fds[JAIL_FD_SHEETS]))))
        return mg_snprintf(why, why_len, "a descriptor is not of the kind a jail is given"), -1;
    return 0;
}

/* Kill the running jail: its process group, then its init, whose PID namespace ends with
 * it. The init is not reaped before its end is read, so its pid still names it. */
static void spawner_kill(spawner *sp)
{
    if (sp->pid <= 0)
        return;
    (void)kill(-sp->pid, SIGKILL);
    (void)kill(sp->pid, SIGKILL);
}

/* Make the jail of task t on fds; the answer goes into a. */
static void spawner_make(spawner *sp, uint32_t seq, const jail_task *t, int fds[JAIL_NFDS],
                         spawn_rep *a)
{
    int all[JAIL_NFDS] = {fds[0],
                          fds[1],
                          fds[2],
                          fds[3],
                          t->office || task_unlock(t) ? fds[JAIL_FD_PDF] : -1,
                          t->sheets || task_unlock(t) ? fds[JAIL_FD_SHEETS] : -1};
    pid_t pid = jail_task_clone(sp->c, t, all, a->why, sizeof a->why);
    int pidfd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;

    if (pid > 0 && pidfd < 0) {
        a->err = errno;
        (void)mg_snprintf(a->why, sizeof a->why, "cannot watch the jail: %s", strerror(errno));
        (void)kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return;
    }
    if (pid < 0) {
        a->err = errno;
        return;
    }
    a->pid = pid;
    sp->pid = pid;
    sp->pidfd = pidfd;
    sp->seq = seq;
    sp->until =
        mg_now() + (t->office == 1 ? sp->c->office_timeout : sp->c->jail_timeout) + SPAWN_GRACE;
}

/* Answer a start: check the request, make the jail, tell its pid or why there is none. */
static int spawner_start(spawner *sp, int sock, const spawn_req *q, int fds[JAIL_NFDS], size_t n)
{
    spawn_rep a;

    memset(&a, 0, sizeof a);
    a.type = SPAWN_STARTED;
    a.seq = q->seq;
    a.pid = -1;
    if (sp->pid > 0) {
        a.err = EBUSY;
        (void)mg_snprintf(a.why, sizeof a.why, "the jail spawner still runs a jail");
    } else if (jail_task_check(&q->task, sp->worker, a.why, sizeof a.why) < 0 ||
               fds_check(&q->task, fds, n, a.why, sizeof a.why) < 0) {
        a.err = EINVAL;
        mg_warn("jail spawner: refused a request of worker %ld: %s", (long)sp->worker, a.why);
    } else {
        spawner_make(sp, q->seq, &q->task, fds, &a);
    }
    while (n > 0)
        close(fds[--n]);
    return rep_send(sock, &a);
}

/* Serve one message of the worker. 0, or -1 when the spawner is to end. */
static int spawner_request(spawner *sp, int sock)
{
    int fds[JAIL_NFDS];
    size_t n = 0;
    spawn_req q;
    int rc = req_recv(sock, &q, fds, &n);

    if (rc < 0)
        mg_error("jail spawner: a malformed message from worker %ld: stopping", (long)sp->worker);
    if (rc <= 0)
        return -1;
    if (q.type == SPAWN_START)
        return spawner_start(sp, sock, &q, fds, n);
    while (n > 0)
        close(fds[--n]);
    if (q.seq == sp->seq)
        spawner_kill(sp);
    return 0;
}

/* The running jail's init has ended: reap it and tell the worker. 0, or -1 when the worker
 * has gone. */
static int spawner_reap(spawner *sp, int sock)
{
    struct rusage ru;
    spawn_rep a;
    int status = 0;
    pid_t got;

    do
        got = wait4(sp->pid, &status, 0, &ru);
    while (got < 0 && errno == EINTR);
    memset(&a, 0, sizeof a);
    a.type = SPAWN_ENDED;
    a.seq = sp->seq;
    a.pid = sp->pid;
    a.status = got == sp->pid ? status : SIGKILL;
    if (got == sp->pid)
        a.cpu_us = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
                   (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    close(sp->pidfd);
    sp->pidfd = -1;
    sp->pid = 0;
    return rep_send(sock, &a);
}

/* Milliseconds from now until t, for poll; at least 0. */
static int ms_until(double t)
{
    double left = (t - mg_now()) * 1000.0;

    return left <= 0 ? 0 : left > 3600000.0 ? 3600000 : (int)left + 1;
}

/* Serve the worker until it goes or breaks the protocol. */
static void spawner_loop(spawner *sp, int sock)
{
    for (;;) {
        struct pollfd pf[2] = {{sock, POLLIN, 0}, {sp->pid > 0 ? sp->pidfd : -1, POLLIN, 0}};
        int rc = poll(pf, 2, sp->pid > 0 ? ms_until(sp->until) : -1);

        if (rc < 0 && errno != EINTR)
            return;
        if (rc == 0 && sp->pid > 0) {
            mg_warn("jail spawner: jail %ld outlived its time limit: killed", (long)sp->pid);
            spawner_kill(sp);
            sp->until = mg_now() + 3600;
        }
        if (rc <= 0)
            continue;
        if (pf[1].revents && spawner_reap(sp, sock) < 0)
            return;
        if ((pf[0].revents & POLLIN) && spawner_request(sp, sock) < 0)
            return;
        if (!(pf[0].revents & POLLIN) && (pf[0].revents & (POLLHUP | POLLERR)))
            return;
    }
}

/* The spawner's life, in the child of worker: keep only the socket, serve, then end the jail
 * it may still run. Never returns. */
static void spawner_main(const conf *c, int sock, pid_t worker)
{
    spawner sp = {.c = c, .worker = worker, .pidfd = -1};
    sigset_t none;

    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != worker)
        _exit(1);
    (void)prctl(PR_SET_NAME, "mugai-spawner");
    /* Syslog's socket goes with the rest: the next line opens a new one, never one of the
     * descriptors a request brings. */
    closelog();
    if (sock != SPAWN_SOCK_FD && (dup2(sock, SPAWN_SOCK_FD) < 0 || close(sock) < 0))
        _exit(1);
    if (close_range(SPAWN_SOCK_FD + 1, ~0U, 0) < 0)
        for (int fd = SPAWN_SOCK_FD + 1; fd < 4096; fd++)
            (void)close(fd);
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    spawner_loop(&sp, SPAWN_SOCK_FD);
    spawner_kill(&sp);
    while (sp.pid > 0 && waitpid(sp.pid, NULL, 0) < 0 && errno == EINTR)
        ;
    _exit(0);
}

int san_jail_spawner_start(const conf *c)
{
    int sv[2];
    pid_t worker = getpid();

    if (spawner_fd >= 0)
        return 0;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        mg_error("jail spawner: socketpair: %s", strerror(errno));
        return -1;
    }
    fflush(NULL); /* an exit in the child must not write our buffers twice */
    pid_t pid = fork();
    if (pid < 0) {
        mg_error("jail spawner: fork: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (pid == 0) {
        close(sv[0]);
        spawner_main(c, sv[1], worker);
    }
    close(sv[1]);
    spawner_fd = sv[0];
    mg_debug("worker %ld: jail spawner %ld", (long)worker, (long)pid);
    return 0;
}

/* ---- the worker's side ---- */

int san_jail_spawner_ok(void)
{
    return !spawner_lost;
}

int spawn_active(void)
{
    return spawner_fd >= 0;
}

/* The spawner is gone or broke the protocol: no jail can be made any more. */
static void spawner_gone(const char *what)
{
    if (!spawner_lost)
        mg_error("jail spawner: %s: no more conversions in this worker", what);
    spawner_lost = 1;
}

/* Receive one answer within ms milliseconds. 1 when one came, 0 when none did, -1 when the
 * spawner is gone. */
static int rep_recv(spawn_rep *a, int ms)
{
    struct pollfd p = {spawner_fd, POLLIN, 0};
    ssize_t got;
    int rc;

    if (spawner_lost)
        return -1;
    while ((rc = poll(&p, 1, ms)) < 0 && errno == EINTR)
        ;
    if (rc == 0)
        return 0;
    do
        got = recv(spawner_fd, a, sizeof *a, MSG_DONTWAIT | MSG_TRUNC);
    while (got < 0 && errno == EINTR);
    if (got < 0 && errno == EAGAIN)
        return 0;
    if (got != (ssize_t)sizeof *a || a->magic != SPAWN_MAGIC) {
        spawner_gone(got == 0 ? "it has ended" : "a malformed answer");
        return -1;
    }
    a->why[sizeof a->why - 1] = '\0';
    return 1;
}

pid_t spawn_start(const jail_task *t, const int fds[JAIL_NFDS], char *why, size_t why_len)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * JAIL_NFDS)];
        struct cmsghdr align;
    } ctl;
    size_t n = fds[JAIL_FD_PDF] < 0      ? JAIL_NFDS - 2
               : fds[JAIL_FD_SHEETS] < 0 ? JAIL_NFDS - 1
                                         : JAIL_NFDS;
    spawn_req q;
    spawn_rep a;

    memset(&q, 0, sizeof q);
    memset(&ctl, 0, sizeof ctl);
    q.magic = SPAWN_MAGIC;
    q.type = SPAWN_START;
    q.seq = ++spawn_seq;
    q.task = *t;
    struct iovec iov = {&q, sizeof q};
    struct msghdr m = {.msg_iov = &iov,
                       .msg_iovlen = 1,
                       .msg_control = ctl.buf,
                       .msg_controllen = CMSG_SPACE(sizeof(int) * n)};
    struct cmsghdr *h = CMSG_FIRSTHDR(&m);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(sizeof(int) * n);
    memcpy(CMSG_DATA(h), fds, sizeof(int) * n);
    if (!spawner_lost && sendmsg(spawner_fd, &m, MSG_NOSIGNAL) != (ssize_t)sizeof q)
        spawner_gone(strerror(errno));
    for (double until = mg_now() + SPAWN_REPLY_MS / 1000.0;;) {
        int rc = rep_recv(&a, (int)((until - mg_now()) * 1000.0) + 1);
        if (rc == 0 && mg_now() >= until)
            spawner_gone("no answer to a start");
        if (rc < 0 || spawner_lost) {
            (void)mg_snprintf(why, why_len, "the jail spawner is gone");
            return errno = ECHILD, -1;
        }
        if (rc > 0 && a.type == SPAWN_STARTED && a.seq == q.seq)
            break; /* an older jail's end is of no use any more */
    }
    if (a.pid <= 0) {
        (void)mg_snprintf(why, why_len, "%s", a.why);
        return errno = a.err > 0 ? a.err : EPERM, -1;
    }
    return a.pid;
}

void spawn_kill(void)
{
    spawn_req q;

    memset(&q, 0, sizeof q);
    q.magic = SPAWN_MAGIC;
    q.type = SPAWN_KILL;
    q.seq = spawn_seq;
    if (!spawner_lost && send(spawner_fd, &q, sizeof q, MSG_NOSIGNAL) != (ssize_t)sizeof q)
        spawner_gone(strerror(errno));
}

int spawn_end(int ms, int *status, double *cpu)
{
    double until = mg_now() + ms / 1000.0;
    spawn_rep a;

    for (;;) {
        int rc = rep_recv(&a, ms_until(until));
        if (rc <= 0)
            return rc;
        if (a.type == SPAWN_ENDED && a.seq == spawn_seq) {
            *status = a.status;
            *cpu = (double)a.cpu_us / 1e6;
            return 1;
        }
    }
}
