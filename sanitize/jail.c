/*
 * sanitize/jail.c - run mugai-render (or LibreOffice) on untrusted input in a
 * jailed child and read back only pixels or UTF-8 text.
 *
 * Runs in the sanitizer worker (trusted, single-threaded). Per conversion it
 * forks a child that gets its own process group, rlimits, a new network
 * namespace (inside a user namespace of its own when the worker is not root),
 * an empty private directory, a clean environment and only the
 * input, output and error fds, and is killed if the worker dies; then it execs
 * the renderer. The parent enforces a wall-clock deadline (the conversion's own
 * or the job's, whichever comes first) and checks every byte of the wire format
 * (rnd.h). It must never trust a count, size or length from the child before
 * checking it, never leave a zombie or a stray process, and never pass anything
 * on but checked pixels and valid UTF-8. Private directories are named after
 * the process that made them ($TMPDIR/mugai-jail-PID-XXXXXX), so that those of
 * a killed worker can be found and removed by san_jail_dirs_sweep.
 * A pool worker, which confines itself (confine.c) and can then no longer make
 * namespaces or mounts, has its spawner (spawn.c) make the same child from a
 * jail_task: the program and mode, never an argument vector or a limit.
 * With [office] mode = warm, Office documents go to the Office service (render/office.c)
 * instead: the input, the PDF's file and a spreadsheet's sheets' file as descriptors over its
 * socket (a pool worker's, connected before it confined itself; sanitize-file starts its
 * own), with the job's deadline. When there is no service, or it could not load the
 * document, the document is converted cold as before.
 * To open a held encrypted zip or PDF ([ppap]), mugai-render runs in unlock mode
 * (jail_unlock): the password candidates reach it only through an anonymous
 * file on the jail's fifth descriptor (never argv, the environment or a named
 * file), and a zip's decrypted members come back, like LibreOffice's PDF, as a
 * file the jail's init copies out once the program has ended.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <glib.h>
#include "mg.h"
#include "office.h"
#include "san_int.h"

#define TAIL_MAX 400
/* The longest argument vector of mugai-render, its NULL included. */
#define RENDER_ARGV_MAX 24
#define DIR_PREFIX "mugai-jail-"
/* The jail's init passes the program's wait status to the worker on this fd. */
#define JAIL_STATUS_FD 3
/* ... and writes LibreOffice's PDF to the worker's output file on this one. */
#define JAIL_OUTPUT_FD 4
/* ... and a spreadsheet's sheets as CSV (jail_office_convert) on this one. */
#define JAIL_SHEETS_FD 5
/* The runs for the sheets end this long (at least) before the jail's deadline, so that the
 * PDF is never lost to them. */
#define SHEETS_MARGIN_MIN 2.0
/* Exit codes of the jail's own processes: the program could not be started; the jail
 * (namespaces, mounts, user) could not be made. */
#define JAIL_EXIT_EXEC 127
#define JAIL_EXIT_SETUP 126
/* Bytes the renderer's output pipe may hold: Linux's default pipe-max-size. */
#define JAIL_PIPE_SIZE (1 << 20)

/* The deadline of the job in progress (0: none) and whether it has cut a conversion. */
static double job_deadline;
static int job_deadline_hit;
/* In the jail's init: when it started (mg_now), for the deadline of the sheets' runs. */
static double init_started;
/* In the jail's init: the file in the work directory an unlocking renderer writes to. */
static int init_out_work = -1;
/* In the worker, while jail_unlock runs: its password candidates, so that no text of the
 * jail's own (a FAIL frame, its stderr) that holds one reaches a reason or the log. */
static const char *const *unlock_cands;
static size_t unlock_ncands;

/* One running child and what the parent has read from it. */
typedef struct run {
    pid_t pid;
    int out;  /* read end of the child's stdout, -1 once closed */
    int err;  /* read end of the child's stderr, -1 once closed */
    int stat; /* read end of the init's status pipe, -1 once closed */
    double deadline;
    char tail[TAIL_MAX + 1]; /* last bytes of the child's stderr */
    size_t tail_len;
    int timed_out;
    int job_limited;    /* the deadline is the job's, not the conversion's own */
    double grace_until; /* once its output has ended, the renderer must exit by then */
    int lingered;       /* ... and it did not */
    int ended;          /* made by the spawner: 1 once it told the end, -1 when it is gone */
    int end_status;     /* ... and then the init's wait status and CPU time */
    double end_cpu;
    int output_errno; /* once ended: what became of the output the init copies (0: copied) */
} run;

/* How to start a child. */
typedef struct spec {
    const conf *c;
    const char *path;
    char **argv;
    int in_fd;
    int out_fd;             /* LibreOffice's PDF goes here; -1 for mugai-render, which
                               reads its input on fd 0 and answers on fd 1 */
    const char *input_name; /* the input's name in the work directory */
    jail_view view;
    jail_ids ids;
    size_t memory_mb;
    unsigned timeout;
    const jail_task *task; /* what the child runs, as the spawner is asked for it */
    int sheets_fd;         /* LibreOffice on a spreadsheet: its sheets go here; else -1 */
    char **argv_csv;       /* ... made by this run of LibreOffice (report to work/csv.log) */
    char **argv_fods;      /* ... whose hidden ones this run's flat ODS marks */
    int keys_fd;           /* mugai-render in unlock mode: its password candidates; else -1 */
    const char *out_file;  /* ... and the file in the work directory it writes its output to,
                              which the init copies to out_fd; else NULL */
    int sevenzip;          /* 7-Zip opening a 7z: the init runs it (unlock7z.c) */
} spec;

/* A conversion's private directory: dir (the worker's, 0700) holds root, the mount point of
 * the jail's root; work is the path of the jail's work directory, a tmpfs that exists only
 * inside the jail. */
typedef struct priv {
    char dir[PATH_MAX];
    char work[PATH_MAX + 8];
    char root[PATH_MAX + 8];
} priv;

/* The exit of a child. */
typedef struct ending {
    int status;
    double cpu;
    int setup_failed; /* the jail's init could not make the jail */
    int output_errno; /* LibreOffice's PDF could not be taken (0: it was) */
} ending;

const char *jail_status_name(jail_status s)
{
    static const char *const names[] = {"ok",       "malformed", "encrypted",
                                        "limit",    "timeout",   "crashed",
                                        "protocol", "error",     "unavailable"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}

/* Format a one-line reason into why; an over-long reason is cut. */
static void why_set(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void why_set(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;

    if (!why || why_len == 0)
        return;
    va_start(ap, fmt);
    if (vsnprintf(why, why_len, fmt, ap) < 0)
        why[0] = '\0';
    va_end(ap);
    for (char *p = why; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
}

void san_deadline_set(double until)
{
    job_deadline = until;
    job_deadline_hit = 0;
}

int san_deadline_reached(void)
{
    return job_deadline_hit;
}

/* Non-zero (with a reason in why) when the job's deadline has passed: nothing more starts. */
static int deadline_passed(char *why, size_t why_len)
{
    if (job_deadline <= 0 || mg_now() < job_deadline)
        return 0;
    job_deadline_hit = 1;
    why_set(why, why_len, "the job's time limit ran out before the conversion");
    return 1;
}

/* The directory private directories are made in: $TMPDIR when absolute, else /tmp. */
static const char *tmp_root(void)
{
    const char *tmp = getenv("TMPDIR");

    return tmp && tmp[0] == '/' ? tmp : "/tmp";
}

/* Fill the paths of the work directory and root mount point of p->dir. 0 or -1. */
static int priv_paths(priv *p)
{
    return mg_snprintf(p->work, sizeof p->work, "%s/work", p->dir) < 0 ||
                   mg_snprintf(p->root, sizeof p->root, "%s/root", p->dir) < 0
               ? -1
               : 0;
}

/* Create a fresh 0700 directory $TMPDIR/mugai-jail-PID-XXXXXX with its work directory
 * (given to the jail user) and its root mount point. 0 or -1. */
static int private_dir_new(priv *p)
{
    const char *tmp = tmp_root();

    if (mg_snprintf(p->dir, sizeof p->dir, "%s/" DIR_PREFIX "%ld-XXXXXX", tmp, (long)getpid()) <
            0 ||
        !mkdtemp(p->dir)) {
        mg_error("jail: cannot create a private directory under %s: %s", tmp, strerror(errno));
        p->dir[0] = '\0';
        return -1;
    }
    if (priv_paths(p) < 0 || mkdir(p->root, 0700) < 0) {
        mg_error("jail: cannot prepare %s: %s", p->dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* The process that made the private directory called name, or 0 when name is not one. */
static pid_t private_dir_owner(const char *name)
{
    char *end;
    long pid;

    if (strncmp(name, DIR_PREFIX, strlen(DIR_PREFIX)) != 0)
        return 0;
    name += strlen(DIR_PREFIX);
    if (*name < '1' || *name > '9')
        return 0;
    errno = 0;
    pid = strtol(name, &end, 10);
    if (errno != 0 || *end != '-' || strlen(end) != 7 || pid <= 0 || (pid_t)pid != pid)
        return 0;
    return (pid_t)pid;
}

void san_jail_dirs_sweep(void)
{
    const char *tmp = tmp_root();
    DIR *d = opendir(tmp);
    struct dirent *e;
    struct stat st;
    char path[PATH_MAX];

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        pid_t owner = private_dir_owner(e->d_name);
        if (owner <= 0 || owner == getpid() || kill(owner, 0) == 0 || errno != ESRCH)
            continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode) ||
            st.st_uid != geteuid())
            continue;
        if (mg_snprintf(path, sizeof path, "%s/%s", tmp, e->d_name) < 0)
            continue;
        mg_remove_tree(path);
        mg_info("jail: removed %s, left by process %ld", path, (long)owner);
    }
    closedir(d);
}

/* Set one rlimit in the child; soft and hard. 0 or -1. */
static int limit(int res, rlim_t soft, rlim_t hard)
{
    struct rlimit rl = {soft, hard};
    return setrlimit(res, &rl);
}

/* Apply every rlimit of the jail in the child. 0 or -1. */
static int child_limits(const spec *s)
{
    const conf *c = s->c;
    rlim_t mem = (rlim_t)s->memory_mb << 20;
    rlim_t fsize = (rlim_t)c->jail_file_size_mb << 20;

    return limit(RLIMIT_AS, mem, mem) | limit(RLIMIT_CPU, c->jail_cpu, (rlim_t)c->jail_cpu + 2) |
           limit(RLIMIT_FSIZE, fsize, fsize) |
           limit(RLIMIT_NOFILE, c->jail_open_files, c->jail_open_files) |
           limit(RLIMIT_NPROC, c->jail_processes, c->jail_processes) | limit(RLIMIT_CORE, 0, 0) |
           limit(RLIMIT_MEMLOCK, 0, 0) | limit(RLIMIT_MSGQUEUE, 0, 0) | limit(RLIMIT_RTPRIO, 0, 0) |
           limit(RLIMIT_NICE, 0, 0) | limit(RLIMIT_SIGPENDING, 256, 256);
}

/* Report a failure on the child's stderr and exit with code. */
static void child_die_code(const char *what, int code)
{
    char msg[320];

    if (mg_snprintf(msg, sizeof msg, "jail setup: %s: %s\n", what, strerror(errno)) < 0)
        _exit(code);
    (void)mg_write_all(STDERR_FILENO, msg, strlen(msg));
    _exit(code);
}

/* Report a failure to start the program and exit. */
static void child_die(const char *what)
{
    child_die_code(what, JAIL_EXIT_EXEC);
}

/* Copy the rest of from to to. 0, or -1 with errno. */
static int fd_copy(int from, int to)
{
    char buf[65536];
    ssize_t n;

    while ((n = read(from, buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || mg_write_all(to, buf, (size_t)n) < 0)
            return -1;
    }
    return 0;
}

/* In the jail's init, before the program starts: copy the input (fd 0) into the work
 * directory as name, the jail user's, and make a read-only descriptor of that copy fd 0.
 * The program never gets the worker's file, which it could otherwise reopen for writing
 * through /proc when it runs as the worker's user. 0 or -1. */
static int input_copy(const spec *s)
{
    char path[PATH_MAX + 64];

    if (mg_snprintf(path, sizeof path, "%s/%s", s->view.work, s->input_name) < 0)
        return errno = ENAMETOOLONG, -1;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int rc = s->ids.sw && fchown(fd, s->ids.uid, s->ids.gid) < 0 ? -1 : fd_copy(STDIN_FILENO, fd);
    if (close(fd) < 0 || rc < 0)
        return -1;
    int ro = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (ro < 0 || dup2(ro, STDIN_FILENO) < 0)
        return -1;
    return close(ro);
}

/* In the jail's init, before the program starts: a new empty file name in the work directory,
 * the jail user's, for the program to write to. Its descriptor (read-write, close-on-exec),
 * or -1. */
static int work_file_new(const spec *s, const char *name)
{
    char path[PATH_MAX + 64];

    if (mg_snprintf(path, sizeof path, "%s/%s", s->view.work, name) < 0)
        return errno = ENAMETOOLONG, -1;
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0 && s->ids.sw && fchown(fd, s->ids.uid, s->ids.gid) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* In the jail's init, before LibreOffice starts: its profile, work/profile, with only the
 * settings every conversion gets (jailns_office_profile). 0 or -1. */
static int office_profile(const spec *s)
{
    char dir[PATH_MAX + 16];

    if (mg_snprintf(dir, sizeof dir, "%s/profile", s->view.work) < 0)
        return errno = ENAMETOOLONG, -1;
    return jailns_office_profile(dir, s->c->soffice_path, &s->ids);
}

/* In the jailed program (pid 2 of the jail, or a later one the init starts as the jail user
 * it has become: dropped): become the jail user, take the limits and the system-call filter,
 * exec argv. */
static void program_exec(const spec *s, char **argv, int dropped)
{
    char home[PATH_MAX + 8], tmpdir[PATH_MAX + 8];

    if (s->out_file) { /* the candidates and the output file at their places in rnd.h */
        if (dup2(JAIL_SHEETS_FD, RND_FD_KEYS) < 0 || dup2(init_out_work, RND_FD_OUTPUT) < 0)
            child_die("dup2");
        close(JAIL_SHEETS_FD);
        close(init_out_work);
    } else {
        close(JAIL_STATUS_FD);
        close(JAIL_OUTPUT_FD);
        close(JAIL_SHEETS_FD);
    }
    if (s->out_fd >= 0 && !s->out_file && !s->sevenzip) { /* LibreOffice reads its input by name */
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null < 0 || dup2(null, STDIN_FILENO) < 0)
            child_die("/dev/null");
    }
    if (!dropped && jailns_drop(&s->ids) < 0)
        child_die_code(jailns_step(), JAIL_EXIT_SETUP);
    if (mg_snprintf(home, sizeof home, "HOME=%s", s->view.work) < 0 ||
        mg_snprintf(tmpdir, sizeof tmpdir, "TMPDIR=%s", s->view.work) < 0)
        _exit(JAIL_EXIT_EXEC);
    char *envp[] = {"PATH=/usr/bin:/bin", home, tmpdir, "LANG=C.UTF-8", NULL};
    /* The filter first: building it allocates, which the address-space limit may forbid. */
    if (jailns_filter() < 0)
        child_die_code(jailns_step(), JAIL_EXIT_SETUP);
    if (child_limits(s) < 0)
        child_die("setrlimit");
    execve(s->path, argv, envp);
    child_die(s->path);
}

/* In the jail's init, once the program has ended and nothing else runs: copy the PDF
 * LibreOffice left in work/out/input.pdf (an unlocking renderer's output: work/OUT_FILE) to
 * JAIL_OUTPUT_FD. Every component must be a real directory or file (no links, FIFOs or
 * devices). 0, or an errno value. */
static int output_copy(const spec *s)
{
    struct stat st;
    int rc = 0;

    int d = open(s->view.work, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int o = -1;
    if (d >= 0 && s->out_file)
        o = fcntl(d, F_DUPFD_CLOEXEC, 0);
    else if (d >= 0)
        o = openat(d, "out", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    const char *name = s->out_file ? s->out_file : "input.pdf";
    int fd = o < 0 ? -1 : openat(o, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        rc = fd < 0 ? errno : EINVAL;
    else if (fd_copy(fd, JAIL_OUTPUT_FD) < 0)
        rc = errno ? errno : EIO;
    int opened[] = {d, o, fd};
    for (size_t i = 0; i < sizeof opened / sizeof opened[0]; i++)
        if (opened[i] >= 0)
            close(opened[i]);
    return rc;
}

/* In the jail's init, already the jail user: run LibreOffice with argv, its standard streams
 * /dev/null but its report (stdout) to the file log, a new file (whatever an earlier run left
 * there, a FIFO, a link, is removed first); wait for it until the time until (mg_now), then
 * end whatever it left. Non-zero when it ended by itself (exited, with a status under 128), 0
 * when it was ended: at until, or by a signal (a limit's: CPU, file size). soffice is a script
 * that execs LibreOffice's launcher (oosplash), which runs soffice.bin and exits with 128 + the
 * signal's number when a signal ended it, as a shell does. */
static int init_pass(const spec *s, char **argv, const char *log, double until)
{
    struct timespec tick = {0, 20 * 1000 * 1000};
    int status = 0;
    pid_t pid = fork(), w = 0;

    if (pid == 0) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0 ||
            dup2(null, STDERR_FILENO) < 0)
            _exit(JAIL_EXIT_EXEC);
        if (log && unlink(log) < 0 && errno != ENOENT)
            _exit(JAIL_EXIT_EXEC);
        int fd = log ? open(log, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600) : -1;
        if (log && (fd < 0 || dup2(fd, STDOUT_FILENO) < 0))
            _exit(JAIL_EXIT_EXEC);
        program_exec(s, argv, 1);
    }
    while (pid > 0 && w == 0 && mg_now() < until) {
        w = waitpid(pid, &status, WNOHANG);
        if (w == 0 || (w < 0 && errno == EINTR))
            w = 0, (void)nanosleep(&tick, NULL);
    }
    (void)kill(-1, SIGKILL);
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
        ;
    return pid > 0 && w == pid && WIFEXITED(status) && WEXITSTATUS(status) < 128;
}

/* Write v as 4 little-endian bytes to fd. 0 or -1. */
static int put_u32(int fd, uint32_t v)
{
    unsigned char b[4] = {v & 0xff, v >> 8 & 0xff, v >> 16 & 0xff, v >> 24 & 0xff};

    return mg_write_all(fd, b, 4);
}

/* In the jail's init, after the PDF: a spreadsheet's sheets as CSV, one LibreOffice run, and
 * which of them are visible, a second, then the sheets sent. Nothing that fails here fails
 * the PDF: the trusted side finds a short or empty stream and goes without the sheets, and
 * both runs end a tenth of the jail's time (at least SHEETS_MARGIN_MIN) before its deadline,
 * so that the init still sends the PDF's status in time. A run that had to be ended sends
 * nothing, as the Office service does: its last CSV may be cut in the middle of a row, the
 * sheets after it never written, and which are hidden unknown. */
static void init_sheets(const spec *s)
{
    char log[PATH_MAX + 16];
    double margin = MAX(SHEETS_MARGIN_MIN, s->timeout / 10.0);
    double until = init_started + s->timeout - margin;

    if (mg_snprintf(log, sizeof log, "%s/csv.log", s->view.work) < 0)
        return;
    if (init_pass(s, s->argv_csv, log, until) && init_pass(s, s->argv_fods, NULL, until))
        (void)jail_sheets_send(s->c, s->view.work, JAIL_SHEETS_FD);
}

/* In the jail's init (the jail user): run 7-Zip with argv, key and a line end on its standard
 * input, its output and errors to /dev/null, until a tenth of the jail's time (at least
 * SHEETS_MARGIN_MIN) before its deadline; then end whatever it left. Its wait status, or -1
 * (unlock7z_run_fn). */
static int init_run_7z(void *ctx, char *const *argv, const char *key)
{
    const spec *s = ctx;
    struct timespec tick = {0, 10 * 1000 * 1000};
    double until = init_started + s->timeout - MAX(SHEETS_MARGIN_MIN, s->timeout / 10.0);
    int in[2], status = -1;
    pid_t w = 0;

    if (pipe2(in, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        (void)signal(SIGPIPE, SIG_DFL);
        if (null < 0 || dup2(in[0], STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0 ||
            dup2(null, STDERR_FILENO) < 0)
            _exit(JAIL_EXIT_EXEC);
        program_exec(s, (char **)argv, 1);
    }
    close(in[0]);
    if (pid > 0 && (mg_write_all(in[1], key, strlen(key)) < 0 || mg_write_all(in[1], "\n", 1) < 0))
        (void)kill(pid, SIGKILL);
    close(in[1]);
    while (pid > 0 && w == 0 && mg_now() < until) {
        w = waitpid(pid, &status, WNOHANG);
        if (w == 0 || (w < 0 && errno == EINTR))
            w = 0, (void)nanosleep(&tick, NULL);
    }
    (void)kill(-1, SIGKILL);
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
        ;
    return w == pid ? status : -1;
}

/* In the jail's init for a 7z: become the jail user, try the candidates with 7-Zip and answer
 * the worker (unlock7z.c), then send a clean exit as the program's status; never returns. */
static void init_7z(const spec *s)
{
    int rep[2] = {0, 0};
    struct pollfd p = {JAIL_STATUS_FD, 0, 0};

    if (jailns_drop(&s->ids) < 0 || prctl(PR_SET_DUMPABLE, 0) < 0 ||
        prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || (poll(&p, 1, 0) > 0 && (p.revents & POLLERR)))
        _exit(JAIL_EXIT_SETUP);
    (void)signal(SIGPIPE, SIG_IGN); /* a 7-Zip that ends before it reads its candidate */
    /* 7-Zip reads the input's copy by name; fd 0 stays taken, so that no pipe made for a
     * candidate lands there (a dup2 onto itself would keep its close-on-exec). */
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0 || dup2(null, STDIN_FILENO) < 0)
        _exit(JAIL_EXIT_SETUP);
    close(null);
    if (unlock7z_init(s->c, s->path, s->view.work, JAIL_SHEETS_FD, STDOUT_FILENO, JAIL_OUTPUT_FD,
                      init_run_7z, (void *)s) < 0)
        rep[0] = 1 << 8; /* as an exit status of 1 */
    (void)mg_write_all(JAIL_STATUS_FD, rep, sizeof rep);
    _exit(0);
}

/* In the jail's init: wait for the program; then end whatever it left, take LibreOffice's
 * output, send the program's wait status and the output's fate on JAIL_STATUS_FD, exit.
 * Leaving ends the PID namespace: the kernel kills whatever is still there. */
static void init_wait(const spec *s, pid_t prog)
{
    int rep[2] = {0, 0};
    pid_t pid;

    for (int fd = 0; fd <= 2; fd++)
        close(fd);
    /* The change of user cleared the parent-death signal: set it again, then check that the
     * worker did not die in between (the status pipe would have no reader). */
    struct pollfd p = {JAIL_STATUS_FD, 0, 0};
    if (jailns_drop(&s->ids) < 0 || prctl(PR_SET_DUMPABLE, 0) < 0 ||
        prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || (poll(&p, 1, 0) > 0 && (p.revents & POLLERR)))
        _exit(JAIL_EXIT_SETUP);
    while ((pid = waitpid(-1, &rep[0], 0)) != prog)
        if (pid < 0 && errno != EINTR)
            _exit(JAIL_EXIT_SETUP);
    /* Nothing the program started may touch its output while it is copied. */
    (void)kill(-1, SIGKILL);
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
        ;
    if (s->out_fd >= 0)
        rep[1] = output_copy(s);
    if (s->sheets_fd >= 0 && rep[1] == 0 && WIFEXITED(rep[0]) && WEXITSTATUS(rep[0]) == 0)
        init_sheets(s);
    (void)mg_write_all(JAIL_STATUS_FD, rep, sizeof rep);
    _exit(0);
}

/* In the child, pid 1 of the jail's namespaces: take the fds, enter the jail's root, copy
 * the input in, start the program as the jail user and wait for it; never returns. */
static void child_init(const spec *s, int outw, int errw, int statw)
{
    sigset_t none;
    struct pollfd p = {JAIL_STATUS_FD, 0, 0};

    init_started = mg_now();
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++)
        (void)signal(sig, SIG_DFL); /* fails harmlessly for SIGKILL, SIGSTOP and RT gaps */
    if (dup2(errw, STDERR_FILENO) < 0 || dup2(outw, STDOUT_FILENO) < 0 ||
        dup2(s->in_fd, STDIN_FILENO) < 0 || dup2(statw, JAIL_STATUS_FD) < 0 ||
        dup2(s->out_fd >= 0 ? s->out_fd : statw, JAIL_OUTPUT_FD) < 0 ||
        dup2(s->sheets_fd >= 0 ? s->sheets_fd
             : s->keys_fd >= 0 ? s->keys_fd
                               : statw,
             JAIL_SHEETS_FD) < 0)
        _exit(JAIL_EXIT_EXEC);
    if (close_range(JAIL_SHEETS_FD + 1, ~0U, 0) < 0)
        for (int fd = JAIL_SHEETS_FD + 1; fd < 4096; fd++)
            (void)close(fd);
    if (setpgid(0, 0) < 0)
        child_die("setpgid");
    /* Die with the worker (the whole namespace goes with its first process). */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        child_die("prctl(PR_SET_PDEATHSIG)");
    /* The worker may have died before that: then nobody reads the status pipe. */
    if (poll(&p, 1, 0) > 0 && (p.revents & POLLERR))
        _exit(JAIL_EXIT_EXEC);
    /* Under memory pressure the kernel takes the jail first, never the worker or Postfix
     * (raising the score needs no privilege; the program inherits it). */
    if (prctl(PR_SET_DUMPABLE, 1) < 0 || /* /proc/self is root's otherwise; reset below */
        jailns_proc_write("/proc/self/oom_score_adj", "1000") < 0)
        child_die_code("oom_score_adj", JAIL_EXIT_SETUP);
    if (jailns_enter(&s->view, &s->ids) < 0)
        child_die_code(jailns_step(), JAIL_EXIT_SETUP);
    if (input_copy(s) < 0)
        child_die_code("copying the input into the jail", JAIL_EXIT_SETUP);
    if (s->sevenzip)
        init_7z(s);
    if (s->out_fd >= 0 && !s->out_file && office_profile(s) < 0)
        child_die_code("making LibreOffice's profile", JAIL_EXIT_SETUP);
    if (s->out_file && (init_out_work = work_file_new(s, s->out_file)) < 0)
        child_die_code("making the output file in the jail", JAIL_EXIT_SETUP);
    pid_t prog = fork();
    if (prog < 0)
        child_die_code("fork", JAIL_EXIT_SETUP);
    if (prog == 0)
        program_exec(s, s->argv, 0);
    init_wait(s, prog);
}

/* Close both ends of a pipe. */
static void pipe_close(int p[2])
{
    close(p[0]);
    close(p[1]);
}

/* Start the jail's init for s with the pipes' write ends: through the spawner when this
 * process has one, else here. Its pid, or -1 with the reason in why. */
static pid_t run_clone(const spec *s, int outw, int errw, int statw, char *why, size_t why_len)
{
    if (spawn_active()) {
        int fds[JAIL_NFDS] = {s->in_fd, outw,      errw,
                              statw,    s->out_fd, s->sheets_fd >= 0 ? s->sheets_fd : s->keys_fd};
        return spawn_start(s->task, fds, why, why_len);
    }
    pid_t pid = jailns_clone(s->c, &s->ids);
    if (pid == 0)
        child_init(s, outw, errw, statw);
    if (pid < 0)
        why_set(why, why_len, "cannot create the jail's namespaces: %s", strerror(errno));
    else
        (void)setpgid(pid, pid); /* also in the child: whichever runs first; may race */
    return pid;
}

/* Start the child described by s; the parent keeps the read ends in r. JAIL_OK, else
 * JAIL_UNAVAILABLE when the namespaces cannot be made, JAIL_ERROR otherwise. */
static jail_status run_start(run *r, const spec *s, char *why, size_t why_len)
{
    int outp[2], errp[2], statp[2];

    memset(r, 0, sizeof *r);
    r->pid = -1;
    r->out = r->err = r->stat = -1;
    if (pipe2(outp, O_CLOEXEC) < 0)
        return why_set(why, why_len, "cannot create a pipe: %s", strerror(errno)), JAIL_ERROR;
    /* A page of pixels is megabytes: in 64 KiB pieces, most of moving it was waking the other
     * side. Where the system allows less, the default stays. */
    (void)fcntl(outp[0], F_SETPIPE_SZ, JAIL_PIPE_SIZE);
    if (pipe2(errp, O_CLOEXEC) < 0) {
        pipe_close(outp);
        return why_set(why, why_len, "cannot create a pipe: %s", strerror(errno)), JAIL_ERROR;
    }
    if (pipe2(statp, O_CLOEXEC) < 0) {
        pipe_close(outp);
        pipe_close(errp);
        return why_set(why, why_len, "cannot create a pipe: %s", strerror(errno)), JAIL_ERROR;
    }
    r->deadline = mg_now() + s->timeout;
    if (job_deadline > 0 && job_deadline < r->deadline) {
        r->deadline = job_deadline;
        r->job_limited = 1;
    }
    r->pid = run_clone(s, outp[1], errp[1], statp[1], why, why_len);
    close(outp[1]);
    close(errp[1]);
    close(statp[1]);
    r->out = outp[0];
    r->err = errp[0];
    r->stat = statp[0];
    return r->pid < 0 ? JAIL_UNAVAILABLE : JAIL_OK;
}

/* Keep the last TAIL_MAX bytes of the child's stderr. */
static void tail_add(run *r, const char *buf, size_t n)
{
    if (n >= TAIL_MAX) {
        memcpy(r->tail, buf + n - TAIL_MAX, TAIL_MAX);
        r->tail_len = TAIL_MAX;
    } else {
        size_t keep = r->tail_len + n > TAIL_MAX ? TAIL_MAX - n : r->tail_len;
        memmove(r->tail, r->tail + r->tail_len - keep, keep);
        memcpy(r->tail + keep, buf, n);
        r->tail_len = keep + n;
    }
    r->tail[r->tail_len] = '\0';
}

/* Read what stderr has; close it at end of file. */
static void err_drain(run *r)
{
    char buf[1024];
    ssize_t n = read(r->err, buf, sizeof buf);

    if (n > 0) {
        tail_add(r, buf, (size_t)n);
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        close(r->err);
        r->err = -1;
    }
}

/* Drain stderr for up to ms milliseconds. */
static void err_poll(run *r, int ms)
{
    struct pollfd p = {r->err, POLLIN, 0};

    if (r->err < 0) {
        poll(NULL, 0, ms);
        return;
    }
    if (poll(&p, 1, ms) > 0)
        err_drain(r);
}

/* Wait until stdout is readable (want_out) or stderr is closed, draining stderr meanwhile.
 * 0 when ready, -2 at the deadline. */
static int run_wait(run *r, int want_out)
{
    for (;;) {
        struct pollfd p[2] = {{want_out ? r->out : -1, POLLIN, 0}, {r->err, POLLIN, 0}};
        if (!want_out && r->err < 0)
            return 0;
        double left = r->deadline - mg_now();
        if (left <= 0)
            return r->timed_out = 1, -2;
        int rc = poll(p, 2, (int)(left * 1000) + 1);
        if (rc < 0 && errno != EINTR)
            return -2;
        if (rc > 0 && p[1].revents)
            err_drain(r);
        if (rc > 0 && want_out && p[0].revents)
            return 0;
    }
}

/* Read exactly n bytes of stdout. 0, -1 at end of file or error, -2 at the deadline. */
static int rd_exact(run *r, void *buf, size_t n)
{
    size_t got = 0;

    while (got < n) {
        if (run_wait(r, 1) < 0)
            return -2;
        ssize_t k = read(r->out, (char *)buf + got, n - got);
        if (k == 0)
            return -1;
        if (k < 0 && errno != EINTR && errno != EAGAIN)
            return -1;
        if (k > 0)
            got += (size_t)k;
    }
    return 0;
}

/* Read one little-endian 32-bit integer. As rd_exact. */
static int rd_u32(run *r, uint32_t *v)
{
    uint8_t b[4];
    int rc = rd_exact(r, b, 4);

    if (rc == 0)
        *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return rc;
}

/* Non-zero once the child has ended (or can no longer be waited for). */
static int run_gone(run *r)
{
    siginfo_t si;

    if (spawn_active())
        return r->ended || (r->ended = spawn_end(0, &r->end_status, &r->end_cpu)) != 0;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)r->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 && errno != EINTR)
        return 1;
    return si.si_pid == r->pid;
}

/* Kill the child's process group and its init, whose PID namespace ends with it. */
static void run_kill(run *r)
{
    if (spawn_active()) {
        if (!r->ended)
            spawn_kill();
        return;
    }
    (void)kill(-r->pid, SIGKILL); /* the group, while the leader's zombie holds its id */
    (void)kill(r->pid, SIGKILL);  /* the jail's init: its PID namespace ends with it */
}

/* Reap the ended (or killed) child: its wait status and CPU time into e. */
static void run_reap(run *r, ending *e)
{
    struct rusage ru;

    if (spawn_active()) {
        if (!r->ended)
            r->ended = spawn_end(5000, &r->end_status, &r->end_cpu);
        if (r->ended != 1) {
            mg_error("jail: the spawner did not tell the end of jail %ld", (long)r->pid);
            r->end_status = SIGKILL; /* as killed: it went, or goes, with the spawner */
        }
        e->status = r->end_status;
        e->cpu = r->end_cpu;
        return;
    }
    if (wait4(r->pid, &e->status, 0, &ru) == r->pid)
        e->cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
                 (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Wait for the child within the deadline (killing its group at the end) and reap it. */
static void run_end(run *r, ending *e)
{
    memset(e, 0, sizeof *e);
    if (r->pid <= 0)
        return;
    while (!r->timed_out) {
        if (run_gone(r))
            break;
        if (r->grace_until > 0 && mg_now() >= r->grace_until) {
            r->lingered = 1;
            break;
        }
        if (mg_now() >= r->deadline)
            r->timed_out = 1;
        else
            err_poll(r, 10);
    }
    run_kill(r);
    for (double end = mg_now() + 1.0; r->err >= 0 && mg_now() < end;)
        err_poll(r, 50);
    run_reap(r, e);
    r->pid = -1;
    /* The init's own end says only whether the jail could be made; the program's wait
     * status, when it ran, comes on the status pipe (its CPU time is in the init's). */
    int rep[2] = {0, 0};
    e->setup_failed = WIFEXITED(e->status) && WEXITSTATUS(e->status) == JAIL_EXIT_SETUP;
    e->output_errno = EIO;
    if (r->stat >= 0 && read(r->stat, rep, sizeof rep) == (ssize_t)sizeof rep) {
        e->status = rep[0];
        e->output_errno = rep[1];
        e->setup_failed = 0;
    }
    r->output_errno = e->output_errno;
}

/* Close the pipes of r. */
static void run_close(run *r)
{
    if (r->out >= 0)
        close(r->out);
    if (r->err >= 0)
        close(r->err);
    if (r->stat >= 0)
        close(r->stat);
    r->out = r->err = r->stat = -1;
}

/* Non-zero when the stderr tail says memory ran out. */
static int tail_says_memory(const run *r)
{
    static const char *const words[] = {"memory", "alloc", "ENOMEM"};

    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strstr(r->tail, words[i]))
            return 1;
    return 0;
}

/* Replace msg (a string in a buffer of len bytes), text the jail wrote, with a note when it
 * holds a password candidate of the unlock in progress: a jailed program that was made to
 * echo one must not get it into a reason, the store or the log. */
static void candidates_withhold(char *msg, size_t len)
{
    for (size_t i = 0; i < unlock_ncands; i++)
        if (unlock_cands[i][0] && strstr(msg, unlock_cands[i])) {
            g_strlcpy(msg, "(withheld: it held a password candidate)", len);
            return;
        }
}

/* Last line of the stderr tail, for a reason; static buffer. */
static const char *tail_line(run *r)
{
    static char line[TAIL_MAX + 1];
    size_t n = r->tail_len;

    while (n > 0 && (r->tail[n - 1] == '\n' || r->tail[n - 1] == '\r'))
        n--;
    size_t start = n;
    while (start > 0 && r->tail[start - 1] != '\n')
        start--;
    memcpy(line, r->tail + start, n - start);
    line[n - start] = '\0';
    candidates_withhold(line, sizeof line);
    /* It is the jailed program's text: printable ASCII only, as for FAIL frames. */
    for (char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
    return line;
}

/* Classify a child that ended without a complete, valid stream. */
static jail_status classify_end(const spec *s, run *r, const ending *e, char *why, size_t why_len)
{
    if (r->timed_out && r->job_limited) {
        job_deadline_hit = 1;
        why_set(why, why_len, "stopped when the job's time limit ran out");
        return JAIL_TIMEOUT;
    }
    if (r->timed_out) {
        why_set(why, why_len, "renderer exceeded the time limit of %u s", s->timeout);
        return JAIL_TIMEOUT;
    }
    if (e->setup_failed) {
        why_set(why, why_len, "the jail could not be made: %s", tail_line(r));
        return JAIL_UNAVAILABLE;
    }
    int sig = WIFSIGNALED(e->status) ? WTERMSIG(e->status) : 0;
    if (sig == SIGXCPU || (sig == SIGKILL && e->cpu + 0.5 >= s->c->jail_cpu)) {
        why_set(why, why_len, "CPU limit of %u s exceeded", s->c->jail_cpu);
        return JAIL_LIMIT;
    }
    if (tail_says_memory(r)) {
        why_set(why, why_len, "renderer ran out of memory (limit %zu MiB)", s->memory_mb);
        return JAIL_LIMIT;
    }
    if (sig == SIGXFSZ) {
        why_set(why, why_len, "file size limit of %zu MiB exceeded", s->c->jail_file_size_mb);
        return JAIL_LIMIT;
    }
    if (sig) {
        why_set(why, why_len, "renderer killed by signal %s%s", sigabbrev_np(sig) ? "SIG" : "",
                sigabbrev_np(sig) ? sigabbrev_np(sig) : "(unknown)");
        if (sig == SIGSYS)
            why_set(why, why_len, "renderer killed by signal SIGSYS (seccomp)");
        return JAIL_CRASHED;
    }
    if (WIFEXITED(e->status) && WEXITSTATUS(e->status) == JAIL_EXIT_EXEC) {
        why_set(why, why_len, "cannot start %s: %s", s->path, tail_line(r));
        return JAIL_ERROR;
    }
    why_set(why, why_len, "renderer exited with status %d without a complete result%s%s",
            WIFEXITED(e->status) ? WEXITSTATUS(e->status) : -1, r->tail_len ? ": " : "",
            tail_line(r));
    return JAIL_CRASHED;
}

/* Read the rest of a FAIL frame and map its code. */
static jail_status read_fail(run *r, char *why, size_t why_len)
{
    uint32_t code = 0, len = 0;
    char msg[RND_MAX_MSG + 1];

    if (rd_u32(r, &code) < 0 || rd_u32(r, &len) < 0 || len > RND_MAX_MSG ||
        rd_exact(r, msg, len) < 0)
        return why_set(why, why_len, "renderer sent a broken FAIL frame"), JAIL_PROTOCOL;
    msg[len] = '\0';
    candidates_withhold(msg, sizeof msg);
    for (char *p = msg; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            *p = '?';
    why_set(why, why_len, "%s", msg);
    switch (code) {
    case RND_ERR_MALFORMED:
        return JAIL_MALFORMED;
    case RND_ERR_ENCRYPTED:
        return JAIL_ENCRYPTED;
    case RND_ERR_LIMIT:
        return JAIL_LIMIT;
    case RND_ERR_INTERNAL:
    case RND_ERR_USAGE:
        return JAIL_ERROR;
    default:
        why_set(why, why_len, "renderer sent an unknown failure code %u", code);
        return JAIL_PROTOCOL;
    }
}

/* Read a 4-byte tag; a FAIL frame is consumed into *st. 0 when the tag is want, 1 when the
 * stream ended (reason in *st), -1 on a violation. */
static int read_tag(run *r, const char *want, jail_status *st, char *why, size_t why_len)
{
    char tag[4];
    int rc = rd_exact(r, tag, 4);

    if (rc == -2)
        return *st = JAIL_TIMEOUT, 1;
    if (rc == -1)
        return *st = JAIL_CRASHED, 1;
    if (memcmp(tag, want, 4) == 0)
        return 0;
    if (memcmp(tag, RND_TAG_FAIL, 4) == 0)
        return *st = read_fail(r, why, why_len), 1;
    why_set(why, why_len, "renderer sent an unexpected frame where %.4s was due", want);
    return *st = JAIL_PROTOCOL, 1;
}

/* Largest page in pixels that c allows. */
static uint64_t max_pixels(const conf *c)
{
    uint64_t m = (uint64_t)c->max_image_mpixels * 1000000u;
    uint64_t cap = (uint64_t)RND_MAX_DIM * RND_MAX_DIM;
    return m == 0 || m > cap ? cap : m;
}

/* Read n little-endian 32-bit integers into v. As rd_exact. */
static int rd_u32s(run *r, uint32_t *v, size_t n)
{
    uint8_t *b = (uint8_t *)v;
    int rc = rd_exact(r, v, n * 4);

    for (size_t i = 0; rc == 0 && i < n; i++) {
        const uint8_t *p = b + i * 4;
        v[i] = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    }
    return rc;
}

/* Read the PTXT frame that follows the pixels of a w x h page and hand it to the sink. The
 * counts are bounded here; what they hold is the sink's to check. */
static jail_status read_page_text(run *r, const jail_sink *sink, uint32_t w, uint32_t h, char *why,
                                  size_t why_len)
{
    uint32_t nc = 0, nb = 0;
    jail_status st = JAIL_OK;

    if (read_tag(r, RND_TAG_PTXT, &st, why, why_len) != 0)
        return st;
    if (rd_u32(r, &nc) < 0 || rd_u32(r, &nb) < 0)
        return JAIL_CRASHED;
    if (nc > SAN_TEXT_PAGE_MAX || nb > SAN_TEXT_PAGE_MAX)
        return why_set(why, why_len,
                       "renderer sent %u characters and %u boxes of text for a page (limit %u)", nc,
                       nb, (unsigned)SAN_TEXT_PAGE_MAX),
               JAIL_PROTOCOL;
    uint32_t *v = g_new(uint32_t, (size_t)nc + (size_t)nb * 4 + 1);
    int rc = rd_u32s(r, v, (size_t)nc + (size_t)nb * 4);
    san_text_raw raw = {v, nc, v + nc, nb};
    if (rc < 0)
        st = rc == -2 ? JAIL_TIMEOUT : JAIL_CRASHED;
    else if (sink->text(sink->ctx, w, h, &raw) < 0)
        st = (why_set(why, why_len, "the page's text could not be stored"), JAIL_ERROR);
    g_free(v);
    return st;
}

/* Read one PAGE frame into *buf (grown as needed), and its text when the sink takes it, and
 * hand them to the sink. */
static jail_status read_page(run *r, const conf *c, const jail_sink *sink, uint8_t **buf,
                             size_t *cap, char *why, size_t why_len)
{
    uint32_t w = 0, h = 0;
    jail_status st = JAIL_OK;

    if (read_tag(r, RND_TAG_PAGE, &st, why, why_len) != 0)
        return st;
    if (rd_u32(r, &w) < 0 || rd_u32(r, &h) < 0)
        return JAIL_CRASHED;
    if (w < 1 || h < 1 || w > RND_MAX_DIM || h > RND_MAX_DIM || (uint64_t)w * h > max_pixels(c)) {
        why_set(why, why_len, "renderer announced a %ux%u page, over the limits", w, h);
        return JAIL_PROTOCOL;
    }
    size_t need = (size_t)w * h * 3; /* <= 3e8: no overflow after the checks above */
    if (need > *cap) {
        uint8_t *nb = realloc(*buf, need);
        if (!nb)
            return why_set(why, why_len, "cannot allocate a %ux%u page", w, h), JAIL_ERROR;
        *buf = nb;
        *cap = need;
    }
    int rc = rd_exact(r, *buf, need);
    if (rc < 0)
        return rc == -2 ? JAIL_TIMEOUT : JAIL_CRASHED;
    if (sink->text && (st = read_page_text(r, sink, w, h, why, why_len)) != JAIL_OK)
        return st;
    if (sink->page(sink->ctx, w, h, *buf) < 0)
        return why_set(why, why_len, "the page could not be stored"), JAIL_ERROR;
    return JAIL_OK;
}

/* Read "DONE n" and check that the stream ends there. */
static jail_status read_done(run *r, uint32_t n, char *why, size_t why_len)
{
    jail_status st = JAIL_OK;
    uint32_t v = 0;

    if (read_tag(r, RND_TAG_DONE, &st, why, why_len) != 0)
        return st;
    if (rd_u32(r, &v) < 0)
        return JAIL_CRASHED;
    if (v != n)
        return why_set(why, why_len, "renderer closed with DONE %u, expected %u", v, n),
               JAIL_PROTOCOL;
    return JAIL_OK;
}

/* After the group is gone: non-zero when bytes followed DONE. A writer that escaped the group
 * is given at most a second; it cannot add anything that is accepted. */
static int trailing_bytes(run *r)
{
    struct pollfd p = {r->out, POLLIN, 0};
    char extra;

    if (r->out < 0 || poll(&p, 1, 1000) <= 0)
        return 0;
    return read(r->out, &extra, 1) > 0;
}

/* Read "MGR1" and the first tag of want. As read_tag. */
static int read_start(run *r, const char *want, jail_status *st, char *why, size_t why_len)
{
    char magic[4];
    int rc = rd_exact(r, magic, 4);

    if (rc < 0)
        return *st = rc == -2 ? JAIL_TIMEOUT : JAIL_CRASHED, 1;
    if (memcmp(magic, RND_MAGIC, 4) != 0)
        return why_set(why, why_len, "renderer output has no MGR1 header"), *st = JAIL_PROTOCOL, 1;
    return read_tag(r, want, st, why, why_len);
}

/* The pixel stream after its PAGS tag: n, n pages, DONE n. */
static jail_status read_pages_rest(run *r, const conf *c, const jail_sink *sink, char *why,
                                   size_t why_len)
{
    jail_status st = JAIL_OK;
    uint32_t n = 0;
    uint8_t *buf = NULL;
    size_t cap = 0;

    if (rd_u32(r, &n) < 0)
        return JAIL_CRASHED;
    if (n < 1 || n > c->max_pages)
        return why_set(why, why_len, "renderer announced %u pages (limit %u)", n, c->max_pages),
               JAIL_PROTOCOL;
    if (sink->begin && sink->begin(sink->ctx, n) < 0)
        return why_set(why, why_len, "the output could not be started"), JAIL_ERROR;
    for (uint32_t i = 0; i < n && st == JAIL_OK; i++)
        st = read_page(r, c, sink, &buf, &cap, why, why_len);
    free(buf);
    return st == JAIL_OK ? read_done(r, n, why, why_len) : st;
}

/* The whole pixel stream: PAGS n, n pages, DONE n. */
static jail_status read_pages(run *r, const conf *c, const jail_sink *sink, char *why,
                              size_t why_len)
{
    jail_status st = JAIL_OK;

    if (read_start(r, RND_TAG_PAGES, &st, why, why_len) != 0)
        return st;
    return read_pages_rest(r, c, sink, why, why_len);
}

/* The text stream: TEXT len bytes, DONE 0. *out is g_malloc'ed on success. */
static jail_status read_text(run *r, const conf *c, char **out, size_t *out_len, char *why,
                             size_t why_len)
{
    jail_status st = JAIL_OK;
    uint32_t len = 0;
    size_t max = c->max_text_mb > SIZE_MAX >> 21 ? SIZE_MAX >> 1 : c->max_text_mb << 20;

    if (read_start(r, RND_TAG_TEXT, &st, why, why_len) != 0)
        return st;
    if (rd_u32(r, &len) < 0)
        return JAIL_CRASHED;
    if (len > max)
        return why_set(why, why_len, "renderer sent %u bytes of text (limit %zu)", len, max),
               JAIL_PROTOCOL;
    char *text = g_malloc((size_t)len + 1);
    int rc = rd_exact(r, text, len);
    text[len] = '\0';
    if (rc < 0)
        st = rc == -2 ? JAIL_TIMEOUT : JAIL_CRASHED;
    else if (!g_utf8_validate(text, len, NULL))
        st = (why_set(why, why_len, "renderer sent invalid UTF-8 or a NUL byte"), JAIL_PROTOCOL);
    else
        st = read_done(r, 0, why, why_len);
    if (st != JAIL_OK)
        return g_free(text), st;
    *out = text;
    *out_len = len;
    return JAIL_OK;
}

/* One stream read from fd with no renderer behind it, as from a renderer: pages into sink
 * when sink is set, else text into *out (g_malloc'ed). fd is borrowed. */
jail_status jail_wire_read(const conf *c, int fd, const jail_sink *sink, char **out,
                           size_t *out_len, char *why, size_t why_len)
{
    run r = {.pid = -1, .out = fd, .err = -1, .stat = -1, .deadline = mg_now() + 5.0};
    jail_status st =
        sink ? read_pages(&r, c, sink, why, why_len) : read_text(&r, c, out, out_len, why, why_len);

    if (st == JAIL_OK && trailing_bytes(&r)) {
        why_set(why, why_len, "renderer wrote past the end of its stream");
        if (!sink)
            g_free(*out), *out = NULL;
        st = JAIL_PROTOCOL;
    }
    return st;
}

/* Settle the final status from the stream result st and the child's end. */
static jail_status settle(const spec *s, run *r, jail_status st, char *why, size_t why_len)
{
    ending e;

    if (st == JAIL_PROTOCOL || st == JAIL_ERROR || st == JAIL_TIMEOUT) {
        if (st == JAIL_TIMEOUT)
            r->timed_out = 1;
        run_kill(r);
    }
    /* Its output has ended: an honest renderer exits at once. One that stays would only
     * hold the worker until the time limit. */
    if (st == JAIL_OK || st == JAIL_CRASHED)
        r->grace_until = mg_now() + 2.0;
    run_end(r, &e);
    if (st == JAIL_OK && trailing_bytes(r)) {
        why_set(why, why_len, "renderer wrote past the end of its stream");
        st = JAIL_PROTOCOL;
    }
    run_close(r);
    if (st == JAIL_OK && r->timed_out)
        st = JAIL_TIMEOUT;
    if ((st == JAIL_OK || st == JAIL_CRASHED) && r->lingered) {
        why_set(why, why_len, "renderer did not exit after its output ended");
        mg_info("jail: %s: %s", jail_status_name(JAIL_CRASHED), why ? why : "");
        return JAIL_CRASHED;
    }
    if (st == JAIL_OK && !(WIFEXITED(e.status) && WEXITSTATUS(e.status) == 0)) {
        why_set(why, why_len, "renderer reported success but exited abnormally");
        st = JAIL_CRASHED;
    }
    if (st == JAIL_CRASHED || st == JAIL_TIMEOUT)
        st = classify_end(s, r, &e, why, why_len);
    if (st != JAIL_OK)
        mg_info("jail: %s: %s", jail_status_name(st), why ? why : "");
    return st;
}

/* A read-only descriptor of the input at offset 0, not 0..2, close-on-exec; -1 on error. */
static int input_fd(int in_fd)
{
    char path[64];
    int fl = fcntl(in_fd, F_GETFL);

    if (fl < 0)
        return -1;
    if ((fl & O_ACCMODE) != O_RDONLY) {
        if (mg_snprintf(path, sizeof path, "/proc/self/fd/%d", in_fd) < 0)
            return -1;
        return open(path, O_RDONLY | O_CLOEXEC);
    }
    (void)lseek(in_fd, 0, SEEK_SET);
    return fcntl(in_fd, F_DUPFD_CLOEXEC, 3);
}

/* Build the render argument vector into argv (static strings in bufs). In unlock mode img_type
 * is the input's type ("zip", "pdf"). */
static void render_args(const conf *c, const char *mode, const char *img_type, const char *label,
                        char *argv[RENDER_ARGV_MAX], char bufs[6][32])
{
    int unlock = strcmp(mode, "unlock") == 0;
    int pdf = strcmp(mode, "pdf") == 0 || (unlock && img_type && strcmp(img_type, "pdf") == 0);

    size_t i = 0;
    size_t text = c->max_text_mb > (UINT32_MAX >> 20) ? UINT32_MAX : c->max_text_mb << 20;

    if (mg_snprintf(bufs[0], 32, "%u", c->pdf_dpi) < 0 ||
        mg_snprintf(bufs[1], 32, "%u", c->max_pages) < 0 ||
        mg_snprintf(bufs[2], 32, "%llu", (unsigned long long)max_pixels(c)) < 0 ||
        mg_snprintf(bufs[3], 32, "%zu", text) < 0 ||
        mg_snprintf(bufs[4], 32, "%llu", (unsigned long long)c->archive_max_total_mb << 20) < 0 ||
        mg_snprintf(bufs[5], 32, "%u", c->archive_max_entries) < 0)
        mg_panic("jail: argument buffer too small");
    argv[i++] = c->render_path;
    argv[i++] = (char *)mode;
    argv[i++] = "--dpi", argv[i++] = bufs[0];
    argv[i++] = "--max-pages", argv[i++] = bufs[1];
    argv[i++] = "--max-pixels", argv[i++] = bufs[2];
    argv[i++] = "--max-text", argv[i++] = bufs[3];
    if (c->charsets && c->charsets[0])
        argv[i++] = "--charsets", argv[i++] = c->charsets;
    if (img_type)
        argv[i++] = "--type", argv[i++] = (char *)img_type;
    if (label)
        argv[i++] = "--label", argv[i++] = (char *)label;
    if (pdf && c->text_layer)
        argv[i++] = "--text-layer", argv[i++] = G_STRINGIFY(SAN_TEXT_PAGE_MAX);
    if (unlock)
        argv[i++] = "--max-output", argv[i++] = bufs[4], argv[i++] = "--max-entries",
        argv[i++] = bufs[5];
    if (!c->jail_seccomp)
        argv[i++] = "--no-seccomp";
    argv[i] = NULL;
}

/* Size in MiB of the jail's work directory: room for the input and what may be written. */
static size_t work_size_mb(const conf *c, int in_fd)
{
    struct stat st;
    size_t in_mb = fstat(in_fd, &st) == 0 && st.st_size > 0 ? ((size_t)st.st_size >> 20) + 1 : 1;

    return c->jail_file_size_mb + in_mb;
}

/* Decide the jail's user and make the conversion's private directory. JAIL_OK, or the
 * failure with a reason in why (p->dir is then empty or to be removed). */
static jail_status jail_prepare(const conf *c, priv *p, jail_ids *ids, char *why, size_t why_len)
{
    char reason[256];

    p->dir[0] = '\0';
    if (jailns_ids(c, ids, reason, sizeof reason) < 0)
        return why_set(why, why_len, "%s", reason), JAIL_UNAVAILABLE;
    if (private_dir_new(p) < 0)
        return why_set(why, why_len, "cannot create a private directory"), JAIL_ERROR;
    return JAIL_OK;
}

/* Arguments of one LibreOffice conversion: its paths inside the jail's work directory. */
typedef struct office_args {
    char name[32];
    char input[PATH_MAX + 40];
    char profile[3 * PATH_MAX + 64];
    char outdir[PATH_MAX + 8];
    char csvdir[PATH_MAX + 8];
    char fodsdir[PATH_MAX + 8];
} office_args;

/* LibreOffice's CSV export of every sheet to its own file, input-SHEET.csv: comma, double
 * quote, UTF-8 (76), from line 1, standard columns, default language, no quoting of text
 * as such, special numbers detected, cells as shown (dates, separators, percentages),
 * results rather than formulas, spaces kept, all sheets (-1). */
#define OFFICE_CSV "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true,false,false,-1"
/* Its flat ODS export, which says which sheets are hidden. */
#define OFFICE_FODS "fods"

/* Fill a for the work directory and ext. 0 or -1. */
static int office_args_make(office_args *a, const char *work, const char *ext)
{
    char url[3 * PATH_MAX + 16];

    if (mg_snprintf(a->name, sizeof a->name, "input.%s", ext) < 0 ||
        mg_snprintf(a->input, sizeof a->input, "%s/%s", work, a->name) < 0 ||
        jailns_office_profile_url(work, url, sizeof url) < 0 ||
        mg_snprintf(a->profile, sizeof a->profile, "-env:UserInstallation=%s", url) < 0 ||
        mg_snprintf(a->outdir, sizeof a->outdir, "%s/out", work) < 0 ||
        mg_snprintf(a->csvdir, sizeof a->csvdir, "%s/csv", work) < 0 ||
        mg_snprintf(a->fodsdir, sizeof a->fodsdir, "%s/fods", work) < 0)
        return -1;
    return 0;
}

/* LibreOffice's argument vector for a into argv (pointers into a): target is the
 * --convert-to argument, outdir its output directory. */
static void office_argv(const conf *c, office_args *a, const char *target, char *outdir,
                        char *argv[18])
{
    char *const args[] = {c->soffice_path,
                          "--headless",
                          "--norestore",
                          "--nolockcheck",
                          "--nodefault",
                          "--nofirststartwizard",
                          a->profile,
                          "--convert-to",
                          (char *)target,
                          "--outdir",
                          outdir,
                          a->input,
                          NULL};

    memcpy(argv, args, sizeof args);
}

/* The strings behind a spec made from a task. */
typedef struct spec_buf {
    char *argv[RENDER_ARGV_MAX];
    char *argv_csv[18];
    char *argv_fods[18];
    char nums[6][32];
    office_args office;
    priv p;
} spec_buf;

/* Copy src into the task field dst of size n. 0, or -1 when it does not fit. */
static int task_str(char *dst, const char *src, size_t n)
{
    return g_strlcpy(dst, src ? src : "", n) < n ? 0 : -1;
}

/* Fill t for mugai-render in mode (image: img_type; text modes: label or NULL) on the
 * conversion in dir. 0, or -1 when a value does not fit. */
static int task_render(jail_task *t, const char *mode, const char *img_type, const char *label,
                       const char *dir)
{
    memset(t, 0, sizeof *t);
    return task_str(t->mode, mode, sizeof t->mode) |
           task_str(t->img_type, img_type, sizeof t->img_type) |
           task_str(t->label, label, sizeof t->label) | task_str(t->dir, dir, sizeof t->dir);
}

/* Fill t for 7-Zip opening a 7z in dir. 0, or -1 as task_render. */
static int task_7z(jail_task *t, const char *dir)
{
    memset(t, 0, sizeof *t);
    t->office = 2;
    return task_str(t->dir, dir, sizeof t->dir);
}

/* Fill t for LibreOffice on an input with extension ext in dir, with its sheets as CSV
 * when sheets. 0 or -1, as task_render. */
static int task_office(jail_task *t, const char *ext, int sheets, const char *dir)
{
    memset(t, 0, sizeof *t);
    t->office = 1;
    t->sheets = sheets ? 1 : 0;
    return task_str(t->ext, ext, sizeof t->ext) | task_str(t->dir, dir, sizeof t->dir);
}

/* Build in s, its strings in b, the child that runs t on in_fd as ids; LibreOffice's PDF goes
 * to out_fd, a spreadsheet's sheets (t->sheets) to sheets_fd; in unlock mode, sheets_fd is the
 * candidates and out_fd gets the renderer's output. Program, arguments, limits and
 * view come from c and t alone, the same in a worker and in its spawner. 0, or -1 when a
 * path is too long. */
static int task_spec(const conf *c, const jail_task *t, const jail_ids *ids, int in_fd, int out_fd,
                     int sheets_fd, spec_buf *b, spec *s)
{
    if (task_str(b->p.dir, t->dir, sizeof b->p.dir) < 0 || priv_paths(&b->p) < 0)
        return -1;
    *s = (spec){.c = c,
                .path = c->render_path,
                .argv = b->argv,
                .in_fd = in_fd,
                .out_fd = -1,
                .input_name = "input",
                .view = {b->p.root, b->p.work, c->render_path, work_size_mb(c, in_fd)},
                .ids = *ids,
                .memory_mb = c->jail_memory_mb,
                .timeout = c->jail_timeout,
                .task = t,
                .sheets_fd = -1,
                .keys_fd = -1};
    if (t->office == 2) {
        b->argv[0] = SAN_7ZIP_PATH;
        b->argv[1] = NULL;
        s->path = s->view.program = SAN_7ZIP_PATH;
        s->input_name = "input.7z";
        s->out_fd = out_fd;
        s->keys_fd = sheets_fd;
        s->sevenzip = 1;
        return 0;
    }
    if (!t->office) {
        render_args(c, t->mode, t->img_type[0] ? t->img_type : NULL, t->label[0] ? t->label : NULL,
                    b->argv, b->nums);
        if (strcmp(t->mode, "unlock") == 0) {
            s->keys_fd = sheets_fd;
            s->out_fd = out_fd;
            s->out_file = "unlocked";
        }
        return 0;
    }
    if (office_args_make(&b->office, b->p.work, t->ext) < 0)
        return -1;
    office_argv(c, &b->office, "pdf", b->office.outdir, b->argv);
    if (t->sheets) {
        office_argv(c, &b->office, OFFICE_CSV, b->office.csvdir, b->argv_csv);
        office_argv(c, &b->office, OFFICE_FODS, b->office.fodsdir, b->argv_fods);
        s->argv_csv = b->argv_csv;
        s->argv_fods = b->argv_fods;
        s->sheets_fd = sheets_fd;
    }
    s->path = s->view.program = c->soffice_path;
    s->out_fd = out_fd;
    s->input_name = b->office.name;
    s->memory_mb = c->office_memory_mb;
    s->timeout = c->office_timeout;
    return 0;
}

/* Run mugai-render: set up, read with reader, settle. */
static jail_status render_run(const conf *c, const char *mode, const char *img_type,
                              const char *label, int in_fd, const jail_sink *sink, char **out,
                              size_t *out_len, char *why, size_t why_len)
{
    run r = {.pid = -1, .out = -1, .err = -1, .stat = -1};
    jail_task t;
    spec_buf b;
    spec s;
    priv p;
    jail_ids ids;
    jail_status st;

    why_set(why, why_len, "%s", "");
    if (deadline_passed(why, why_len))
        return JAIL_TIMEOUT;
    int fd = input_fd(in_fd);
    if (fd < 0)
        return why_set(why, why_len, "cannot reopen the input: %s", strerror(errno)), JAIL_ERROR;
    st = jail_prepare(c, &p, &ids, why, why_len);
    if (st == JAIL_OK && (task_render(&t, mode, img_type, label, p.dir) < 0 ||
                          task_spec(c, &t, &ids, fd, -1, -1, &b, &s) < 0))
        st = (why_set(why, why_len, "the jail's paths are too long"), JAIL_ERROR);
    if (st == JAIL_OK)
        st = run_start(&r, &s, why, why_len);
    if (st != JAIL_OK) {
        run_close(&r);
        mg_info("jail: %s: %s", jail_status_name(st), why ? why : "");
    } else {
        st = sink ? read_pages(&r, c, sink, why, why_len)
                  : read_text(&r, c, out, out_len, why, why_len);
        st = settle(&s, &r, st, why, why_len);
        if (st != JAIL_OK && !sink && *out)
            g_free(*out), *out = NULL;
    }
    close(fd);
    mg_remove_tree(p.dir);
    return st;
}

jail_status jail_render_pages(const conf *c, const char *mode, const char *img_type, int in_fd,
                              const jail_sink *sink, char *why, size_t why_len)
{
    if (strcmp(mode, "pdf") != 0 && strcmp(mode, "image") != 0)
        return why_set(why, why_len, "unknown page mode %s", mode), JAIL_ERROR;
    if (strcmp(mode, "image") == 0 && !img_type)
        return why_set(why, why_len, "image mode needs a type"), JAIL_ERROR;
    /* The renderer sends text exactly when the configuration asks for it in PDF mode. */
    if (!sink->text != !(strcmp(mode, "pdf") == 0 && c->text_layer))
        return why_set(why, why_len, "the sink %s text, [render] text_layer is %s",
                       sink->text ? "takes" : "takes no", c->text_layer ? "on" : "off"),
               JAIL_ERROR;
    return render_run(c, mode, strcmp(mode, "image") == 0 ? img_type : NULL, NULL, in_fd, sink,
                      NULL, NULL, why, why_len);
}

/* Non-zero when label looks like a charset name: it comes from untrusted mail headers. */
static int label_ok(const char *label)
{
    size_t n = strlen(label);

    return n > 0 && n < 40 &&
           strspn(label, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                         "0123456789-_.:") == n;
}

jail_status jail_render_text(const conf *c, const char *mode, const char *label, int in_fd,
                             char **out, size_t *out_len, char *why, size_t why_len)
{
    *out = NULL;
    *out_len = 0;
    if (strcmp(mode, "text") != 0 && strcmp(mode, "csv") != 0 && strcmp(mode, "html") != 0)
        return why_set(why, why_len, "unknown text mode %s", mode), JAIL_ERROR;
    return render_run(c, mode, NULL, label && label_ok(label) ? label : NULL, in_fd, NULL, out,
                      out_len, why, why_len);
}

/* ---- unlock mode: a held encrypted zip or PDF ([ppap]) ---- */

/* The n candidates as unlock mode reads them (rnd.h) in a new anonymous file, sealed against
 * any change, at offset 0: the jail's fifth descriptor. Its descriptor (close-on-exec), or -1
 * with errno. */
static int keys_fd_new(const char *const *cands, size_t n)
{
    int fd = memfd_create("mugai-keys", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    int rc = fd < 0 || mg_write_all(fd, RND_KEYS_MAGIC, 4) < 0 || put_u32(fd, (uint32_t)n) < 0;

    for (size_t i = 0; !rc && i < n; i++) {
        size_t len = strlen(cands[i]);
        rc = put_u32(fd, (uint32_t)len) < 0 || mg_write_all(fd, cands[i], len) < 0;
    }
    if (!rc &&
        (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0 ||
         lseek(fd, 0, SEEK_SET) < 0))
        rc = 1;
    if (rc && fd >= 0) {
        int saved = errno;
        close(fd);
        return errno = saved, -1;
    }
    return fd;
}

/* 0 when the n candidates can be sent: at most RND_MAX_KEYS of at most RND_MAX_KEY_LEN bytes;
 * else -1 with the reason in why (which candidate, never what it is). */
static int keys_ok(const char *const *cands, size_t n, char *why, size_t why_len)
{
    if (n > RND_MAX_KEYS)
        return why_set(why, why_len, "%zu password candidates, more than %u", n, RND_MAX_KEYS), -1;
    for (size_t i = 0; i < n; i++)
        if (strlen(cands[i]) > RND_MAX_KEY_LEN)
            return why_set(why, why_len, "password candidate %zu is longer than %u bytes", i,
                           RND_MAX_KEY_LEN),
                   -1;
    return 0;
}

/* Read unlock mode's answer: OPEN which tried, checked against the n candidates sent, then
 * DONE 0, or, for a PDF one of them opened, its pages into sink. */
static jail_status read_unlock(run *r, const conf *c, int pdf, size_t n, const jail_sink *sink,
                               int *which, unsigned *tried, char *why, size_t why_len)
{
    jail_status st = JAIL_OK;
    uint32_t w = 0, t = 0;

    if (read_start(r, RND_TAG_OPEN, &st, why, why_len) != 0)
        return st;
    if (rd_u32(r, &w) < 0 || rd_u32(r, &t) < 0)
        return JAIL_CRASHED;
    if (t > n || (w == RND_NONE ? t != n : w + 1 != t))
        return why_set(why, why_len, "renderer answered candidate %u after %u of %zu tried", w, t,
                       n),
               JAIL_PROTOCOL;
    *tried = t;
    *which = w == RND_NONE ? -1 : (int)w;
    if (!pdf || *which < 0)
        return read_done(r, 0, why, why_len);
    if (read_tag(r, RND_TAG_PAGES, &st, why, why_len) != 0)
        return st;
    return read_pages_rest(r, c, sink, why, why_len);
}

/* One unlock answer read from fd with no renderer behind it, as unlock_run reads one: for a
 * PDF (pdf set) its pages into sink. fd is borrowed. */
jail_status jail_wire_read_unlock(const conf *c, int fd, int pdf, size_t n, const jail_sink *sink,
                                  int *which, unsigned *tried, char *why, size_t why_len)
{
    run r = {.pid = -1, .out = fd, .err = -1, .stat = -1, .deadline = mg_now() + 5.0};

    *which = -1;
    *tried = 0;
    jail_status st = read_unlock(&r, c, pdf, n, sink, which, tried, why, why_len);
    if (st == JAIL_OK && trailing_bytes(&r)) {
        why_set(why, why_len, "renderer wrote past the end of its stream");
        st = JAIL_PROTOCOL;
    }
    return st;
}

/* Non-zero when fd starts like a zip (a local header, or the end record of an empty one). */
static int zip_header(int fd)
{
    char head[4];

    return pread(fd, head, sizeof head, 0) == (ssize_t)sizeof head &&
           (memcmp(head, "PK\3\4", 4) == 0 || memcmp(head, "PK\5\6", 4) == 0);
}

/* Run mugai-render in unlock mode on in_fd (type "zip" or "pdf") with the candidates in keys,
 * its output to out_fd; the answer as read_unlock reads it. */
static jail_status unlock_run(const conf *c, const char *type, int in_fd, int keys, size_t n,
                              int out_fd, const jail_sink *sink, int *which, unsigned *tried,
                              char *why, size_t why_len)
{
    run r = {.pid = -1, .out = -1, .err = -1, .stat = -1};
    jail_task t;
    spec_buf b;
    spec s;
    priv p;
    jail_ids ids;
    int pdf = strcmp(type, "pdf") == 0;
    jail_status st = jail_prepare(c, &p, &ids, why, why_len);

    int made =
        strcmp(type, "7z") == 0 ? task_7z(&t, p.dir) : task_render(&t, "unlock", type, NULL, p.dir);
    if (st == JAIL_OK && (made < 0 || task_spec(c, &t, &ids, in_fd, out_fd, keys, &b, &s) < 0))
        st = (why_set(why, why_len, "the jail's paths are too long"), JAIL_ERROR);
    if (st == JAIL_OK)
        st = run_start(&r, &s, why, why_len);
    if (st != JAIL_OK) {
        run_close(&r);
        mg_info("jail: unlock: %s: %s", jail_status_name(st), why ? why : "");
    } else {
        st = read_unlock(&r, c, pdf, n, sink, which, tried, why, why_len);
        st = settle(&s, &r, st, why, why_len);
        if (st == JAIL_OK && !pdf && *which >= 0 && (r.output_errno != 0 || !zip_header(out_fd)))
            st = (why_set(why, why_len, "the jail produced no decrypted %s", type), JAIL_MALFORMED);
    }
    mg_remove_tree(p.dir);
    return st;
}

jail_status jail_unlock(const conf *c, const char *type, int in_fd, const char *const *cands,
                        size_t ncands, int out_fd, const jail_sink *sink, int *which,
                        unsigned *tried, char *why, size_t why_len)
{
    int pdf = strcmp(type, "pdf") == 0;

    *which = -1;
    *tried = 0;
    why_set(why, why_len, "%s", "");
    if (!pdf && strcmp(type, "zip") != 0 && strcmp(type, "7z") != 0)
        return why_set(why, why_len, "unknown unlock type %s", type), JAIL_ERROR;
    if (pdf && (!sink || !sink->text != !c->text_layer))
        return why_set(why, why_len, "the sink does not match [render] text_layer"), JAIL_ERROR;
    if (out_fd < 0 || keys_ok(cands, ncands, why, why_len) < 0)
        return out_fd < 0 ? (why_set(why, why_len, "no output file"), JAIL_ERROR) : JAIL_ERROR;
    if (deadline_passed(why, why_len))
        return JAIL_TIMEOUT;
    int fd = input_fd(in_fd);
    int keys = fd < 0 ? -1 : keys_fd_new(cands, ncands);
    jail_status st = JAIL_ERROR;
    if (fd < 0 || keys < 0)
        why_set(why, why_len, "cannot %s: %s", fd < 0 ? "reopen the input" : "pass the candidates",
                strerror(errno));
    else {
        unlock_cands = cands;
        unlock_ncands = ncands;
        st = unlock_run(c, type, fd, keys, ncands, out_fd, sink, which, tried, why, why_len);
        unlock_cands = NULL;
        unlock_ncands = 0;
    }
    if (keys >= 0)
        close(keys);
    if (fd >= 0)
        close(fd);
    return st;
}

/* Non-zero when ext is 1 to 8 ASCII letters and digits. */
static int ext_ok(const char *ext)
{
    size_t n = strlen(ext);

    for (const char *q = ext; *q; q++)
        if (!g_ascii_isalnum(*q))
            return 0;
    return n > 0 && n <= 8;
}

/* Non-zero when fd holds a PDF's "%PDF-" header at offset 0. */
static int pdf_header(int fd)
{
    char head[5];

    return pread(fd, head, sizeof head, 0) == (ssize_t)sizeof head && memcmp(head, "%PDF-", 5) == 0;
}

/* The end of a LibreOffice run: JAIL_OK when it exited 0 and its PDF reached out_fd. */
static jail_status office_settle(const spec *s, run *r, const ending *e, int out_fd, char *why,
                                 size_t why_len)
{
    if (!r->timed_out && WIFEXITED(e->status) && WEXITSTATUS(e->status) == 0) {
        if (e->output_errno != 0 || !pdf_header(out_fd))
            return why_set(why, why_len, "LibreOffice produced no PDF"), JAIL_MALFORMED;
        return JAIL_OK;
    }
    jail_status st = classify_end(s, r, e, why, why_len);
    if (st == JAIL_TIMEOUT && !r->job_limited)
        why_set(why, why_len, "LibreOffice exceeded the time limit of %u s", s->c->office_timeout);
    return st;
}

/* Run soffice in the jail on in_fd (copied in as input.EXT); its PDF goes to out_fd, the
 * sheets of a spreadsheet to sheets_fd (-1: none asked for). */
static jail_status office_run(const conf *c, const priv *pd, const jail_ids *ids, int in_fd,
                              const char *ext, int out_fd, int sheets_fd, char *why, size_t why_len)
{
    jail_task t;
    spec_buf b;
    spec s;
    run r;
    ending e;

    if (task_office(&t, ext, sheets_fd >= 0, pd->dir) < 0 ||
        task_spec(c, &t, ids, in_fd, out_fd, sheets_fd, &b, &s) < 0)
        return why_set(why, why_len, "the jail's paths are too long"), JAIL_ERROR;
    jail_status st = run_start(&r, &s, why, why_len);
    if (st != JAIL_OK)
        return run_close(&r), st;
    (void)run_wait(&r, 0); /* until its stderr closes or the deadline */
    run_end(&r, &e);
    run_close(&r);
    return office_settle(&s, &r, &e, out_fd, why, why_len);
}

/* ---- the Office service (warm mode) ---- */

/* The socket to mugai-office (-1: none), whether it was given (a pool worker's), or this
 * process starts its own (sanitize-file: its pid, the configuration it is given, and how
 * often in a row it failed to start). */
static int office_fd = -1;
static int office_attached;
static int office_auto;
static char *office_config;
static pid_t office_pid;
static unsigned office_fails;
static uint32_t office_seq;
/* Own services that may fail to start in a row before Office goes cold for good. */
#define OFFICE_FAILS_MAX 3
/* How long past the conversion's deadline the worker waits for the service's answer. */
#define OFFICE_GRACE 5.0

char *san_office_program(const conf *c)
{
    gchar *dir = g_path_get_dirname(c->render_path);
    gchar *path = g_build_filename(dir, "mugai-office", NULL);
    char *found = access(path, X_OK) == 0 ? strdup(path) : NULL;

    g_free(dir);
    g_free(path);
    return found;
}

void san_office_attach(int fd)
{
    office_fd = fd;
    office_attached = fd >= 0;
}

void san_office_autostart(const char *config)
{
    g_free(office_config);
    office_config = config ? g_strdup(config) : NULL;
    office_auto = 1;
}

int san_office_ok(void)
{
    struct pollfd p = {office_fd, 0, 0};

    if (!office_attached)
        return 1;
    return office_fd >= 0 && !(poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR)));
}

int san_office_fd(void)
{
    return office_fd;
}

void san_office_stop(void)
{
    int st = 0;

    if (office_fd >= 0)
        close(office_fd);
    office_fd = -1;
    if (office_pid > 0) {
        /* Its only socket is closed: it ends its children and exits; a stuck one is killed. */
        pid_t w = 0;
        for (double end = mg_now() + 10.0; w == 0 && mg_now() < end;)
            if ((w = waitpid(office_pid, &st, WNOHANG)) == 0)
                (void)poll(NULL, 0, 20);
        if (w == 0 && kill(office_pid, SIGKILL) == 0)
            (void)waitpid(office_pid, &st, 0);
        /* It cannot use LibreOfficeKit: no use starting it again. */
        if (w > 0 && WIFEXITED(st) && WEXITSTATUS(st) == OFFICE_SERVICE_UNUSABLE)
            office_fails = OFFICE_FAILS_MAX;
    }
    office_pid = 0;
}

/* The service is gone or broke its protocol: drop it (this process's own is ended; a
 * pool worker's is restarted by the supervisor, and the worker exits after its job). */
static void office_lost(const char *what)
{
    mg_warn("jail: office: the Office service %s; converting cold", what);
    san_office_stop();
}

/* In a child about to exec the service: fd becomes 3, every other descriptor is closed and
 * no signal is blocked; then exec prog with argv (never returns). */
static void office_exec(char *prog, char **argv, int fd)
{
    sigset_t none;

    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    if (dup2(fd, 3) < 0)
        _exit(127);
    (void)close_range(4, ~0U, 0);
    execv(prog, argv);
    _exit(127);
}

pid_t san_office_serve(const conf *c, const char *config, int lsock)
{
    char ids_arg[32], reason[256];
    jail_ids ids;
    char *prog = san_office_program(c);

    if (!prog)
        return errno = ENOENT, -1;
    if (jailns_ids(c, &ids, reason, sizeof reason) < 0) {
        mg_error("office: %s", reason);
        free(prog);
        return errno = EPERM, -1;
    }
    if (mg_snprintf(ids_arg, sizeof ids_arg, "%u:%u", (unsigned)ids.uid, (unsigned)ids.gid) < 0)
        return free(prog), errno = EINVAL, -1;
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[8] = {prog, "--listen-fd", "3"};
        size_t n = 3;
        if (ids.sw)
            argv[n++] = "--jail-ids", argv[n++] = ids_arg;
        if (config)
            argv[n++] = "--config", argv[n++] = (char *)config;
        argv[n] = NULL;
        office_exec(prog, argv, lsock);
    }
    free(prog);
    return pid;
}

int san_office_connect(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

    if (fd < 0 || strlen(path) >= sizeof a.sun_path) {
        if (fd >= 0)
            close(fd);
        return errno = ENAMETOOLONG, -1;
    }
    memcpy(a.sun_path, path, strlen(path) + 1);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        int saved = errno;
        close(fd);
        return errno = saved, -1;
    }
    san_office_attach(fd);
    return 0;
}

/* Start this process's own service on a socket pair: mugai-office --fd 3. 0 or -1. */
static int office_own_start(const conf *c)
{
    int sv[2];
    char *prog = san_office_program(c);

    if (!prog || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        if (!prog)
            mg_info("jail: office: no mugai-office beside %s; converting cold", c->render_path);
        free(prog);
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        char *level = mg_log_enabled(MG_LOG_INFO) ? "info" : "warning";
        char *argv[] = {prog, "--fd", "3", "--log-level", level, "--config", office_config, NULL};
        if (!office_config)
            argv[5] = NULL;
        office_exec(prog, argv, sv[1]);
    }
    close(sv[1]);
    free(prog);
    if (pid < 0) {
        close(sv[0]);
        return -1;
    }
    office_fd = sv[0];
    office_pid = pid;
    return 0;
}

/* Send the service a request for in_fd to out_fd (and a spreadsheet's sheets to sheets_fd,
 * when not -1) within timeout seconds. 0 or -1. */
static int office_send(const char *ext, int in_fd, int out_fd, int sheets_fd, double timeout)
{
    office_req q;
    int fds[3] = {in_fd, out_fd, sheets_fd};
    size_t nfds = sheets_fd >= 0 ? 3 : 2;
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof fds)];
    } u;
    struct iovec iov = {&q, sizeof q};
    struct msghdr m = {.msg_iov = &iov,
                       .msg_iovlen = 1,
                       .msg_control = u.buf,
                       .msg_controllen = CMSG_SPACE(nfds * sizeof(int))};

    memset(&q, 0, sizeof q);
    memset(&u, 0, sizeof u);
    q.magic = OFFICE_MAGIC;
    q.type = OFFICE_CONVERT;
    q.seq = ++office_seq;
    q.timeout_ms = timeout <= 0 ? 1 : timeout > 86400 ? 86400000u : (uint32_t)(timeout * 1000);
    q.flags = sheets_fd >= 0 ? OFFICE_SHEETS : 0;
    g_strlcpy(q.ext, ext, sizeof q.ext);
    u.h.cmsg_level = SOL_SOCKET;
    u.h.cmsg_type = SCM_RIGHTS;
    u.h.cmsg_len = CMSG_LEN(nfds * sizeof(int));
    memcpy(CMSG_DATA(&u.h), fds, nfds * sizeof(int));
    return sendmsg(office_fd, &m, MSG_NOSIGNAL) == (ssize_t)sizeof q ? 0 : -1;
}

/* Wait until until (mg_now) for the answer to the last request. 0, 1 at the time limit,
 * -1 when the service is gone or sent something else. */
static int office_recv(office_rep *a, double until)
{
    for (;;) {
        struct pollfd p = {office_fd, POLLIN, 0};
        double left = until - mg_now();
        if (left <= 0)
            return 1;
        int rc = poll(&p, 1, (int)(left * 1000) + 1);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            return -1;
        if (rc == 0)
            continue;
        ssize_t n = recv(office_fd, a, sizeof *a, MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n != (ssize_t)sizeof *a || a->magic != OFFICE_MAGIC || a->type != OFFICE_DONE ||
            a->seq != office_seq || a->result > OFFICE_REFUSED ||
            !memchr(a->why, '\0', sizeof a->why))
            return -1;
        return 0;
    }
}

/* Map the service's answer a for out_fd to a status, with the reason in why. */
static jail_status office_answer(const conf *c, const office_rep *a, int out_fd, int job_limited,
                                 char *why, size_t why_len)
{
    char reason[sizeof a->why];

    g_strlcpy(reason, a->why, sizeof reason);
    for (char *p = reason; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
    switch ((office_result)a->result) {
    case OFFICE_OK:
        if (!pdf_header(out_fd))
            return why_set(why, why_len, "LibreOffice produced no PDF"), JAIL_MALFORMED;
        return JAIL_OK;
    case OFFICE_LOAD_FAILED:
    case OFFICE_SAVE_FAILED:
        return why_set(why, why_len, "%s", reason), JAIL_MALFORMED;
    case OFFICE_TIMEOUT:
        if (job_limited) {
            job_deadline_hit = 1;
            return why_set(why, why_len, "stopped when the job's time limit ran out"), JAIL_TIMEOUT;
        }
        why_set(why, why_len, "LibreOffice exceeded the time limit of %u s", c->office_timeout);
        return JAIL_TIMEOUT;
    case OFFICE_CRASHED:
        if (a->status >= 0 && WIFSIGNALED(a->status) && WTERMSIG(a->status) == SIGXCPU)
            return why_set(why, why_len, "CPU limit of %u s exceeded", c->jail_cpu), JAIL_LIMIT;
        return why_set(why, why_len, "%s", reason), JAIL_CRASHED;
    case OFFICE_SETUP:
        return why_set(why, why_len, "%s", reason), JAIL_UNAVAILABLE;
    default:
        return why_set(why, why_len, "%s", reason), JAIL_ERROR;
    }
}

/* Convert in_fd (extension ext) to PDF into out_fd (a spreadsheet's sheets to sheets_fd, when
 * not -1) through the Office service. 0 with the outcome in *st, or -1 when there is no
 * service to ask (or it could not load the document, which the cold path then gets): the
 * caller converts cold. */
static int office_warm(const conf *c, int in_fd, const char *ext, int out_fd, int sheets_fd,
                       jail_status *st, char *why, size_t why_len)
{
    office_rep a;
    double timeout = c->office_timeout;
    int job_limited = 0;

    if (!c->office_mode || strcmp(c->office_mode, "warm") != 0)
        return -1;
    if (office_fd < 0 &&
        (!office_auto || office_fails >= OFFICE_FAILS_MAX || office_own_start(c) < 0))
        return -1;
    if (job_deadline > 0 && job_deadline - mg_now() < timeout) {
        timeout = job_deadline - mg_now();
        job_limited = 1;
    }
    if (office_send(ext, in_fd, out_fd, sheets_fd, timeout) < 0) {
        office_fails += office_pid > 0;
        return office_lost("is gone"), -1;
    }
    int rc = office_recv(&a, mg_now() + timeout + OFFICE_GRACE);
    if (rc != 0) {
        office_fails += rc < 0 && office_pid > 0;
        office_lost(rc > 0 ? "did not answer in time" : "is gone");
        if (rc < 0)
            return -1;
        *st = JAIL_TIMEOUT;
        return why_set(why, why_len, "the Office service did not answer in time"), 0;
    }
    office_fails = 0;
    if (a.result == OFFICE_LOAD_FAILED) {
        mg_info("jail: office: warm: %s; converting cold", a.why);
        return -1;
    }
    *st = office_answer(c, &a, out_fd, job_limited, why, why_len);
    return 0;
}

jail_status jail_office_to_pdf(const conf *c, int in_fd, const char *ext, int out_fd, char *why,
                               size_t why_len)
{
    return jail_office_convert(c, in_fd, ext, out_fd, -1, why, why_len);
}

jail_status jail_office_convert(const conf *c, int in_fd, const char *ext, int out_fd,
                                int sheets_fd, char *why, size_t why_len)
{
    priv pd;
    jail_ids ids;
    jail_status st;

    why_set(why, why_len, "%s", "");
    if (!ext_ok(ext))
        return why_set(why, why_len, "bad extension"), JAIL_ERROR;
    if (deadline_passed(why, why_len))
        return JAIL_TIMEOUT;
    int fd = input_fd(in_fd);
    if (fd < 0)
        return why_set(why, why_len, "cannot reopen the input: %s", strerror(errno)), JAIL_ERROR;
    if (office_warm(c, fd, ext, out_fd, sheets_fd, &st, why, why_len) == 0) {
        if (st != JAIL_OK)
            mg_info("jail: office: warm: %s: %s", jail_status_name(st), why ? why : "");
        close(fd);
        return st;
    }
    st = jail_prepare(c, &pd, &ids, why, why_len);
    if (st == JAIL_OK)
        st = office_run(c, &pd, &ids, fd, ext, out_fd, sheets_fd, why, why_len);
    if (st != JAIL_OK)
        mg_info("jail: office: %s: %s", jail_status_name(st), why ? why : "");
    close(fd);
    mg_remove_tree(pd.dir);
    return st;
}

/* Non-zero when s is one of the NULL-terminated names. */
static int one_of(const char *s, const char *const *names)
{
    for (; *names; names++)
        if (strcmp(s, *names) == 0)
            return 1;
    return 0;
}

/* Non-zero when path is a real directory of this user's that only this user can enter. */
static int own_dir(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
           (st.st_mode & 077) == 0;
}

/* 0 when dir is a private directory process owner made (private_dir_new), with its root
 * mount point; else -1 with the reason in why. The worker could still rename them after the
 * check, but only to directories of its own: a confined worker can make no symbolic link
 * (confine.c), so the jail's init, which makes directories and mounts along dir, stays where
 * the worker could write anyway, and its mounts stay in the jail's own mount namespace. */
static int task_dir_check(const char *dir, pid_t owner, char *why, size_t why_len)
{
    const char *tmp = tmp_root();
    size_t n = strlen(tmp);
    char root[PATH_MAX + 8];

    if (strncmp(dir, tmp, n) != 0 || dir[n] != '/' || strchr(dir + n + 1, '/') ||
        private_dir_owner(dir + n + 1) != owner)
        return why_set(why, why_len, "%s is not a private directory of process %ld under %s", dir,
                       (long)owner, tmp),
               -1;
    if (mg_snprintf(root, sizeof root, "%s/root", dir) < 0 || !own_dir(dir) || !own_dir(root))
        return why_set(why, why_len, "%s is not a directory of this user's, 0700, with root", dir),
               -1;
    return 0;
}

/* 0 when t's program, mode and arguments are those jail_render_pages, jail_render_text or
 * jail_office_to_pdf would ask for; else -1 with the reason in why. */
static int task_args_check(const jail_task *t, char *why, size_t why_len)
{
    static const char *const modes[] = {"pdf", "image", "text", "csv", "html", "unlock", NULL};
    static const char *const unlock_types[] = {"zip", "pdf", NULL};
    static const char *const text_modes[] = {"text", "csv", "html", NULL};
    static const char *const types[] = {"png", "jpeg", "gif", "bmp", "tiff", "webp", NULL};

    if (t->office > 2)
        return why_set(why, why_len, "unknown program %u", t->office), -1;
    if (t->office == 2)
        return t->sheets || t->mode[0] || t->img_type[0] || t->label[0] || t->ext[0]
                   ? (why_set(why, why_len, "bad arguments for 7-Zip"), -1)
                   : 0;
    if (t->sheets > 1 || (t->sheets && !t->office))
        return why_set(why, why_len, "sheets asked for with %s",
                       t->office ? "a bad value" : "mugai-render"),
               -1;
    if (t->office)
        return t->mode[0] || t->img_type[0] || t->label[0] || !ext_ok(t->ext)
                   ? (why_set(why, why_len, "bad arguments for LibreOffice"), -1)
                   : 0;
    if (t->ext[0] || !one_of(t->mode, modes))
        return why_set(why, why_len, "bad mode for mugai-render"), -1;
    if (strcmp(t->mode, "image") == 0    ? !one_of(t->img_type, types)
        : strcmp(t->mode, "unlock") == 0 ? !one_of(t->img_type, unlock_types)
                                         : t->img_type[0] != '\0')
        return why_set(why, why_len, "bad image type for mugai-render"), -1;
    if (t->label[0] && (!one_of(t->mode, text_modes) || !label_ok(t->label)))
        return why_set(why, why_len, "bad charset label for mugai-render"), -1;
    return 0;
}

int jail_task_check(const jail_task *t, pid_t owner, char *why, size_t why_len)
{
    if (!memchr(t->mode, '\0', sizeof t->mode) || !memchr(t->img_type, '\0', sizeof t->img_type) ||
        !memchr(t->label, '\0', sizeof t->label) || !memchr(t->ext, '\0', sizeof t->ext) ||
        !memchr(t->dir, '\0', sizeof t->dir))
        return why_set(why, why_len, "a string does not end within its field"), -1;
    if (task_args_check(t, why, why_len) < 0)
        return -1;
    return task_dir_check(t->dir, owner, why, why_len);
}

pid_t jail_task_clone(const conf *c, const jail_task *t, const int fds[JAIL_NFDS], char *why,
                      size_t why_len)
{
    char reason[256];
    jail_ids ids;
    spec_buf b;
    spec s;

    if (jailns_ids(c, &ids, reason, sizeof reason) < 0)
        return why_set(why, why_len, "%s", reason), errno = EPERM, -1;
    if (task_spec(c, t, &ids, fds[JAIL_FD_IN], fds[JAIL_FD_PDF], fds[JAIL_FD_SHEETS], &b, &s) < 0)
        return why_set(why, why_len, "the jail's paths are too long"), errno = ENAMETOOLONG, -1;
    pid_t pid = jailns_clone(c, &ids);
    if (pid == 0)
        child_init(&s, fds[JAIL_FD_OUT], fds[JAIL_FD_ERR], fds[JAIL_FD_STAT]);
    if (pid < 0) {
        int saved = errno;
        why_set(why, why_len, "cannot create the jail's namespaces: %s", strerror(saved));
        return errno = saved, -1;
    }
    (void)setpgid(pid, pid); /* also in the child: whichever runs first; may race */
    return pid;
}
