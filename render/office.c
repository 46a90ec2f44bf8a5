/*
 * render/office.c - mugai-office, the Office service: LibreOffice loaded once,
 * a fresh jailed child per document.
 *
 * The service loads LibreOffice through LibreOfficeKit's lok_preinit (its
 * libraries, components and read-only configuration, from a private profile
 * that holds only the settings every conversion gets: jailns.c
 * jailns_office_settings) and never opens a document. Once it is single-
 * threaded again it takes requests (office.h) on its sockets: the one it was
 * given (--fd, sanitize-file) or those its listening socket accepts (--listen,
 * a worker connects before it confines itself). Each document gets a child of
 * its own, made exactly as a cold jail is made (jailns.c: new user when not
 * root, mount, network, IPC, UTS and PID namespaces; a root with only the
 * system's programs and libraries, fonts and fontconfig read-only and a work
 * tmpfs for this document alone). The child's init (pid 1) starts the program
 * (pid 2), which becomes the jail user, installs the seccomp filter (no execve
 * here) while it still has one thread, takes its rlimits and starts LibreOffice
 * (libreofficekit_hook_2); [office] spares such children are made ahead of
 * their documents. Given a document, the init becomes the jail user, copies the input in and
 * hands the program its extension alone; the program loads the document, saves it as PDF in
 * the work directory and exits; the init ends whatever else runs in the jail, copies the PDF to
 * the output (never the program's) and exits. What LibreOffice's start left open in the
 * service (an eventfd, pipes) is made the child's own before anything runs in it. A
 * child serves one document and is never reused. The service kills a child at its deadline or when
 * its requester goes away, answers with how it ended, and after [office] recycle_after documents
 * exits once idle, to be started afresh.
 *
 * Every request comes from a process that parses untrusted mail: a message of
 * the wrong size, type or descriptors ends that socket (and its conversion).
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
/* For the parts of a document (its sheets) and commands with their arguments. */
#define LOK_USE_UNSTABLE_API
#include <LibreOfficeKit/LibreOfficeKit.h>
#include <glib.h>
#include "conf.h"
#include "mg.h"
#include "office.h"
#include "san_int.h"

/* The most sockets served at once (one per worker: as many as mugai-milter may have, [milter]
 * workers; a worker whose socket is refused exits and is started again, to be refused again),
 * and the longest wait for LibreOffice's start-up threads to end before the first fork. */
#define CHAN_MAX 256
#define SINGLE_WAIT 15.0
/* In the poll map: the entry is a socket's child, or a spare child, not the socket. */
#define MAP_CHILD ((SIZE_MAX >> 1) + 1)
#define MAP_SPARE ((SIZE_MAX >> 2) + 1)
/* The most children started ahead of their documents. */
#define SPARES_MAX 8

/* One requester's socket and its conversion in progress. */
typedef struct chan {
    int fd;    /* -1: free */
    pid_t pid; /* the conversion's child, 0 when idle */
    int pidfd; /* ... readable once it has ended */
    uint32_t seq;
    double deadline;
    double started;
    int timed_out;
    char ext[12]; /* the document's extension, for the log */
} chan;

/* A child started ahead of its document, waiting for it on ctl (pid 0: none). */
typedef struct spare {
    pid_t pid;
    int pidfd;
    int ctl;
} spare;

/* The service. */
typedef struct svc {
    const conf *c;
    jail_ids ids;
    char program[PATH_MAX]; /* LibreOffice's program directory */
    char dir[PATH_MAX];     /* private: profile/ (the preinit's), root/ (mount point) */
    char root[PATH_MAX + 8];
    char work[PATH_MAX + 8]; /* the child's work directory, inside its jail */
    void *lok;               /* libmergedlo.so */
    int listen_fd;           /* -1 with --fd */
    chan ch[CHAN_MAX];
    spare spare[SPARES_MAX];
    int job_fds[3];     /* the input, output and sheets of the request being handed, -1 */
    size_t spares;      /* how many to keep ready ([office] spares) */
    double spare_after; /* when to try again after one could not be made or died */
    unsigned long done;
    unsigned long recycle_after; /* 0: never */
} svc;

static volatile sig_atomic_t stopping;

/* Number of threads of this process (0: unknown). */
static size_t threads(void);

/* SIGTERM and SIGINT: stop taking requests, end the children, exit. */
static void on_stop(int sig)
{
    (void)sig;
    stopping = 1;
}

/* ---- the conversion child ---- */

/* Set one limit. 0 or -1. */
static int limit(int res, rlim_t v)
{
    struct rlimit r = {v, v};

    return setrlimit(res, &r);
}

/* The size of this process's address space in bytes (0: unknown). */
static rlim_t vm_size(void)
{
    char buf[4096];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    unsigned long pages = 0;

    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    if (sscanf(buf, "%lu", &pages) != 1)
        return 0;
    return (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE);
}

/* The child's limits: its address space may grow by [jail] office_memory_mb beyond what it
 * inherits (LibreOffice's libraries, mapped before the fork), and the rest as a cold jail. */
static int child_limits(const conf *c)
{
    rlim_t mem = vm_size() + ((rlim_t)c->office_memory_mb << 20);
    rlim_t fsize = (rlim_t)c->jail_file_size_mb << 20;

    return limit(RLIMIT_AS, mem) | limit(RLIMIT_FSIZE, fsize) |
           limit(RLIMIT_NOFILE, c->jail_open_files) | limit(RLIMIT_NPROC, c->jail_processes) |
           limit(RLIMIT_CORE, 0) | limit(RLIMIT_MEMLOCK, 0) | limit(RLIMIT_MSGQUEUE, 0) |
           limit(RLIMIT_RTPRIO, 0) | limit(RLIMIT_NICE, 0) | limit(RLIMIT_SIGPENDING, 256) |
           setrlimit(RLIMIT_CPU, &(struct rlimit){c->jail_cpu, (rlim_t)c->jail_cpu + 2});
}

/* The child's own filter, on top of the jail's (jailns_filter): LibreOffice converting one
 * document starts no program. 0 or -1. */
static int child_filter(void)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    int rc = -1;

    if (ctx && seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(execve), 0) == 0 &&
        seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(execveat), 0) == 0 &&
        seccomp_load(ctx) == 0)
        rc = 0;
    if (ctx)
        seccomp_release(ctx);
    return rc;
}

/* Copy all of in (from offset 0) to the new file path, the jail user's. 0 or -1. */
static int input_copy(int in, const char *path, const jail_ids *ids)
{
    char buf[65536];
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    off_t off = 0;
    int rc = fd < 0 || (ids->sw && fchown(fd, ids->uid, ids->gid) < 0) ? -1 : 0;

    for (ssize_t n; rc == 0 && (n = pread(in, buf, sizeof buf, off)) != 0; off += n > 0 ? n : 0)
        if ((n < 0 && errno != EINTR) || (n > 0 && mg_write_all(fd, buf, (size_t)n) < 0))
            rc = -1;
    if (fd >= 0 && close(fd) < 0)
        rc = -1;
    return rc;
}

/* Copy the PDF at path to out, from offset 0, replacing what out held. 0 or -1. */
static int output_copy(const char *path, int out)
{
    char buf[65536];
    struct stat st;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    off_t off = 0;
    int rc = fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || ftruncate(out, 0) < 0 ? -1 : 0;

    for (ssize_t n; rc == 0 && (n = read(fd, buf, sizeof buf)) != 0; off += n > 0 ? n : 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = -1;
        for (ssize_t w = 0, k; rc == 0 && w < n; w += k)
            if ((k = pwrite(out, buf + w, (size_t)(n - w), off + w)) <= 0)
                rc = -1;
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Exit the child with code, after a line on stderr naming what failed. */
static void child_die(const char *what, int code)
{
    char msg[320];

    if (mg_snprintf(msg, sizeof msg, "mugai-office: child: %s: %s\n", what, strerror(errno)) >= 0)
        (void)mg_write_all(STDERR_FILENO, msg, strlen(msg));
    _exit(code);
}

/* A line on stderr: what happened, with how the program ended (its wait status st). */
static void child_note(const char *what, int st)
{
    char msg[320];
    const char *sig = WIFSIGNALED(st) ? sigabbrev_np(WTERMSIG(st)) : NULL;

    if ((WIFEXITED(st) ? mg_snprintf(msg, sizeof msg, "mugai-office: child: %s (exit status %d)\n",
                                     what, WEXITSTATUS(st))
                       : mg_snprintf(msg, sizeof msg, "mugai-office: child: %s (signal SIG%s)\n",
                                     what, sig ? sig : "?")) >= 0)
        (void)mg_write_all(STDERR_FILENO, msg, strlen(msg));
}

/* What a child's init is sent for its document, with the input and output descriptors (and
 * the sheets', with OFFICE_SHEETS); the program then gets the same without any. The times are
 * mg_now()'s (CLOCK_MONOTONIC: the jail has no time namespace of its own). */
typedef struct office_job {
    uint32_t flags;
    char ext[12];
    double deadline;     /* when the service ends the child */
    double sheets_until; /* when the program stops waiting for the sheets' export */
} office_job;

/* The sheets' export ends this long (at least; a tenth of the conversion's time when more)
 * before the deadline, as the cold path's, and the init stops sending them this long before
 * it: the PDF is never lost to the sheets. */
#define SHEETS_MARGIN_MIN 2.0
#define SHEETS_CUT 0.5
/* What a spreadsheet's program sends its init once the PDF is saved, and its exit when the
 * sheets' export did not end in time. */
#define PROGRAM_PDF_SAVED 'P'
#define PROGRAM_EXIT_NO_SHEETS 12

/* How many descriptors come with a request or job of these flags. */
static size_t job_nfds(uint32_t flags)
{
    return flags & OFFICE_SHEETS ? 3 : 2;
}

/* Send msg (len bytes) with the n descriptors fds on sock. 0 or -1. */
static int fds_send(int sock, const void *msg, size_t len, const int *fds, size_t n)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * 3)];
    } u;
    struct iovec iov = {(void *)msg, len};
    struct msghdr m = {.msg_iov = &iov,
                       .msg_iovlen = 1,
                       .msg_control = u.buf,
                       .msg_controllen = CMSG_SPACE(sizeof(int) * n)};

    if (n < 1 || n > 3)
        return errno = EINVAL, -1;
    memset(&u, 0, sizeof u);
    u.h.cmsg_level = SOL_SOCKET;
    u.h.cmsg_type = SCM_RIGHTS;
    u.h.cmsg_len = CMSG_LEN(sizeof(int) * n);
    memcpy(CMSG_DATA(&u.h), fds, sizeof(int) * n);
    return sendmsg(sock, &m, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* Receive exactly len bytes into msg with 1 to n descriptors into fds (blocking; the rest of
 * fds -1). How many came, or -1 (nothing kept). */
static int fds_recv(int sock, void *msg, size_t len, int *fds, size_t n)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * 4)];
    } u;
    struct iovec iov = {msg, len};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    ssize_t got;
    size_t k = 0;

    for (size_t i = 0; i < n; i++)
        fds[i] = -1;
    while ((got = recvmsg(sock, &m, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    for (struct cmsghdr *h = got > 0 ? CMSG_FIRSTHDR(&m) : NULL; h; h = CMSG_NXTHDR(&m, h))
        if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS)
            for (size_t i = 0; i < (h->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++, k++) {
                int fd;
                memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof fd);
                if (k < n)
                    fds[k] = fd;
                else
                    close(fd);
            }
    if (got == (ssize_t)len && k >= 1 && k <= n && !(m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
        return (int)k;
    for (size_t i = 0; i < k && i < n; i++)
        close(fds[i]);
    return -1;
}

/* Non-zero when ext is 1 to 8 ASCII letters and digits. */
static int ext_ok(const char *ext, size_t size)
{
    size_t n = strnlen(ext, size);

    if (n == 0 || n > 8)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((ext[i] >= 'a' && ext[i] <= 'z') || (ext[i] >= 'A' && ext[i] <= 'Z') ||
              (ext[i] >= '0' && ext[i] <= '9')))
            return 0;
    return 1;
}

/* The path of the input with extension ext in the jail's work directory, into path. 0 or -1. */
static int input_path(const svc *s, const char *ext, char path[PATH_MAX])
{
    return mg_snprintf(path, PATH_MAX, "%s/input.%s", s->work, ext);
}

/* In the child, before any document: enter the jail's root; its work directory gets
 * LibreOffice's profile and out/, the jail user's. */
static void child_enter(const svc *s)
{
    /* Room for the largest input the engine takes and what LibreOffice may write. */
    jail_view view = {s->root, s->work, s->program,
                      s->c->jail_file_size_mb + s->c->scan_max_file_mb + 64};
    char out[PATH_MAX], profile[PATH_MAX];

    if (prctl(PR_SET_DUMPABLE, 1) < 0 || jailns_proc_write("/proc/self/oom_score_adj", "1000") < 0)
        child_die("oom_score_adj", OFFICE_EXIT_SETUP);
    if (jailns_enter(&view, &s->ids) < 0)
        child_die(jailns_step(), OFFICE_EXIT_SETUP);
    if (mg_snprintf(out, PATH_MAX, "%s/out", s->work) < 0 ||
        mg_snprintf(profile, PATH_MAX, "%s/profile", s->work) < 0)
        child_die("paths", OFFICE_EXIT_SETUP);
    if (mkdir(out, 0700) < 0 || (s->ids.sw && chown(out, s->ids.uid, s->ids.gid) < 0))
        child_die("out", OFFICE_EXIT_SETUP);
    if (mg_snprintf(out, PATH_MAX, "%s/csv", s->work) < 0 || mkdir(out, 0700) < 0 ||
        (s->ids.sw && chown(out, s->ids.uid, s->ids.gid) < 0))
        child_die("csv", OFFICE_EXIT_SETUP);
    if (jailns_office_profile(profile, s->c->soffice_path, &s->ids) < 0)
        child_die("LibreOffice's profile", OFFICE_EXIT_SETUP);
}

/* In the child: a clean environment for LibreOffice, inside the jail. */
static void child_env(const svc *s)
{
    clearenv();
    if (setenv("PATH", "/usr/bin:/bin", 1) < 0 || setenv("HOME", s->work, 1) < 0 ||
        setenv("TMPDIR", s->work, 1) < 0 || setenv("LANG", "C.UTF-8", 1) < 0 ||
        setenv("SAL_USE_VCLPLUGIN", "svp", 1) < 0)
        child_die("environment", OFFICE_EXIT_SETUP);
}

/* How often the program looks whether LibreOffice has ended the sheets' export. */
#define SHEETS_POLL_NS (10 * 1000 * 1000)

/* LibreOffice's export of every sheet as CSV (ScDocShell's "all sheets", -1, one file
 * input-SHEET.csv each, hidden ones too): comma, double quote, UTF-8 (76), cells as shown,
 * results rather than formulas, as the cold path's OFFICE_CSV in sanitize/jail.c. Given as
 * the arguments of .uno:SaveAs: LibreOfficeKit's saveAs would rejoin the options with ", ",
 * which the CSV filter reads as other values. */
#define SHEETS_SAVE_ARGS                                                                           \
    "{\"URL\":{\"type\":\"string\",\"value\":\"%s/csv/input.csv\"},"                               \
    "\"FilterName\":{\"type\":\"string\",\"value\":\"Text - txt - csv (StarCalc)\"},"              \
    "\"FilterOptions\":{\"type\":\"string\","                                                      \
    "\"value\":\"44,34,76,1,,0,false,true,true,false,false,-1\"}}"

/* LOK_CALLBACK_UNO_COMMAND_RESULT (LibreOfficeKitEnums.h, which is C++ with the unstable
 * API): a command sent with a request to be told has ended. */
#define LOK_UNO_COMMAND_RESULT 16

/* Set from LibreOffice's thread when the sheets' export has ended. */
static volatile int sheets_saved;

/* LibreOffice's callback: notes the end of the .uno:SaveAs the program sent. */
static void sheets_callback(int type, const char *payload, void *data)
{
    (void)data;
    if (type == LOK_UNO_COMMAND_RESULT && payload && strstr(payload, ".uno:SaveAs"))
        __atomic_store_n(&sheets_saved, 1, __ATOMIC_SEQ_CST);
}

/* Write the new file name in the work directory with the len bytes at data. 0 or -1. */
static int work_file(const svc *s, const char *name, const char *data, size_t len)
{
    char path[PATH_MAX];
    int fd = mg_snprintf(path, sizeof path, "%s/%s", s->work, name) < 0
                 ? -1
                 : open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    int rc = fd < 0 || mg_write_all(fd, data, len) < 0 ? -1 : 0;

    if (fd >= 0 && close(fd) < 0)
        rc = -1;
    return rc;
}

/* Write down the sheets of doc for jail_sheets_send: their files in their order (csv.log,
 * as LibreOffice's own report on the command line names them) and which are visible
 * (sheets.vis), from LibreOffice's answers. 0 or -1. */
static int sheets_list(const svc *s, LibreOfficeKitDocument *doc)
{
    int parts = doc->pClass->getParts(doc);
    size_t n = parts < 0 ? 0 : parts > JAIL_SHEETS_MAX ? JAIL_SHEETS_MAX : (size_t)parts;
    GString *log = g_string_new(NULL);
    char *vis = g_malloc0(n + 1);

    for (size_t i = 0; i < n; i++) {
        char *name = doc->pClass->getPartName(doc, (int)i);
        char *info = doc->pClass->getPartInfo(doc, (int)i);
        vis[i] = info && strstr(info, "\"visible\": \"1\"") ? '1' : '0';
        /* A name that would break the line still counts its place. */
        if (name && !strpbrk(name, "/\n\r"))
            g_string_append_printf(log, "Writing sheet %s -> %s/csv/input-%s.csv\n", name, s->work,
                                   name);
        else
            g_string_append_printf(log, "Writing sheet ? -> %s/csv/input-\n", s->work);
        free(name);
        free(info);
    }
    int rc = work_file(s, "csv.log", log->str, log->len) | work_file(s, "sheets.vis", vis, n);
    g_string_free(log, TRUE);
    g_free(vis);
    return rc;
}

/* Export every sheet of doc as CSV into the work directory's csv/, and list them, when the time
 * until (mg_now) has not come, which leaves the init the time to send the PDF and the sheets
 * before the deadline. LibreOffice exports within postUnoCommand, in this thread: the init ends
 * the program at until when it is still there; after it, LibreOffice's word comes by
 * sheets_callback. 0 when the export ended, else -1 (the sheets are not to be sent: some may
 * be missing). */
static int program_sheets(const svc *s, LibreOfficeKitDocument *doc, double until)
{
    char url[3 * PATH_MAX + 8], args[3 * PATH_MAX + 512];
    struct timespec tick = {0, SHEETS_POLL_NS};

    /* The URL has no character JSON would need escaped: mg_file_url encodes all others. */
    if (mg_now() >= until || sheets_list(s, doc) < 0 || mg_file_url(url, sizeof url, s->work) < 0 ||
        mg_snprintf(args, sizeof args, SHEETS_SAVE_ARGS, url) < 0)
        return -1;
    doc->pClass->registerCallback(doc, sheets_callback, NULL);
    doc->pClass->postUnoCommand(doc, ".uno:SaveAs", args, true);
    while (!__atomic_load_n(&sheets_saved, __ATOMIC_SEQ_CST) && mg_now() < until)
        (void)nanosleep(&tick, NULL);
    return __atomic_load_n(&sheets_saved, __ATOMIC_SEQ_CST) ? 0 : -1;
}

/* In the jail, the jail user: take the filters and limits while single-threaded, start
 * LibreOffice, then wait on sock for the document (its extension) and convert the input the
 * init copied in to PDF in out/, for the init to take; a spreadsheet's program then tells the
 * init on sock that the PDF is saved (whatever the sheets' export does to it, a crash, a limit,
 * costs the sheets alone) and exports the sheets. Never returns. */
static void program_main(const svc *s, int sock)
{
    char url[3 * PATH_MAX + 16], input[PATH_MAX], pdf[PATH_MAX];
    office_job job;

    if (jailns_drop(&s->ids) < 0)
        child_die(jailns_step(), OFFICE_EXIT_SETUP);
    child_env(s);
    /* The filters first: building them allocates, which the address-space limit may forbid. */
    if ((s->c->jail_seccomp && (child_filter() < 0 || jailns_filter() < 0)) ||
        child_limits(s->c) < 0)
        child_die("seccomp or limits", OFFICE_EXIT_SETUP);
    /* Its own stderr gone too: what LibreOffice prints is the document's to choose. */
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null < 0 || dup2(null, STDERR_FILENO) < 0)
        _exit(OFFICE_EXIT_SETUP);
    close(null);
    LibreOfficeKit *(*hook)(const char *, const char *) =
        (LibreOfficeKit * (*)(const char *, const char *)) dlsym(s->lok, "libreofficekit_hook_2");
    if (!hook || jailns_office_profile_url(s->work, url, sizeof url) < 0 ||
        mg_snprintf(pdf, sizeof pdf, "%s/out/input.pdf", s->work) < 0)
        _exit(OFFICE_EXIT_SETUP);
    LibreOfficeKit *kit = hook(s->program, url);
    if (!kit)
        _exit(OFFICE_EXIT_SETUP);
    /* Started: from here on this child waits for its document. */
    ssize_t got;
    while ((got = recv(sock, &job, sizeof job, 0)) < 0 && errno == EINTR)
        ;
    if (got != (ssize_t)sizeof job || !ext_ok(job.ext, sizeof job.ext) ||
        input_path(s, job.ext, input) < 0)
        _exit(OFFICE_EXIT_SETUP);
    LibreOfficeKitDocument *doc =
        kit->pClass->documentLoadWithOptions(kit, input, "Language=en-US,Batch=true");
    if (!doc)
        _exit(OFFICE_EXIT_LOAD);
    if (!doc->pClass->saveAs(doc, pdf, "pdf", NULL))
        _exit(OFFICE_EXIT_SAVE);
    if (!(job.flags & OFFICE_SHEETS))
        _exit(OFFICE_EXIT_OK);
    (void)send(sock, &(char){PROGRAM_PDF_SAVED}, 1, MSG_NOSIGNAL);
    _exit(program_sheets(s, doc, job.sheets_until) == 0 ? OFFICE_EXIT_OK : PROGRAM_EXIT_NO_SHEETS);
}

/* What the init keeps of its document for the end: the output, the sheets' file (-1: not
 * asked for) and the job's times. */
typedef struct init_doc {
    int out;
    int sheets;
    double deadline;
    double sheets_until;
} init_doc;

/* In the jail's init, while the program starts: wait on ctl for the document (its
 * extension, the input and the output), become the jail user, copy the input in and hand the
 * program (on prog_sock, which stays open for its word that the PDF is saved) the extension
 * alone: the output, the worker's file, is never the program's. Puts what the end needs in d.
 * Ends the child when the service drops it unused (its socket closes) or the program dies
 * first. */
static void init_take(const svc *s, int ctl, int prog_sock, init_doc *d)
{
    char input[PATH_MAX];
    office_job job;
    int fds[3];
    struct pollfd p[2] = {{ctl, POLLIN, 0}, {prog_sock, 0, 0}};

    while (poll(p, 2, -1) < 0)
        if (errno != EINTR)
            _exit(OFFICE_EXIT_SETUP);
    if (!(p[0].revents & POLLIN) || fds_recv(ctl, &job, sizeof job, fds, 3) < 0 ||
        (job.flags & ~OFFICE_SHEETS) || fds[job_nfds(job.flags) - 1] < 0 ||
        (job_nfds(job.flags) < 3 && fds[2] >= 0))
        _exit(OFFICE_EXIT_SETUP);
    close(ctl);
    if (!ext_ok(job.ext, sizeof job.ext) || input_path(s, job.ext, input) < 0)
        _exit(OFFICE_EXIT_SETUP);
    /* The jail user before it reads the input (a descriptor of a worker's, which parses
     * untrusted mail), and before the program has the document, which may take the program over.
     * The change of user clears the parent-death signal: set it after. */
    if (jailns_drop(&s->ids) < 0 || prctl(PR_SET_DUMPABLE, 0) < 0 ||
        prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        _exit(OFFICE_EXIT_SETUP);
    if (input_copy(fds[0], input, &s->ids) < 0)
        child_die("copying the input into the jail", OFFICE_EXIT_SETUP);
    close(fds[0]);
    if (send(prog_sock, &job, sizeof job, MSG_NOSIGNAL) != (ssize_t)sizeof job)
        _exit(OFFICE_EXIT_SETUP);
    *d = (init_doc){fds[1], fds[2], job.deadline, job.sheets_until};
}

/* SIGALRM in the init while it sends the sheets: their time is up. The stream stops short,
 * which the trusted side refuses; the PDF, already copied, stands. */
static void init_cut(int sig)
{
    (void)sig;
    _exit(OFFICE_EXIT_OK);
}

/* In the init, the PDF copied: send the sheets the program exported to d->sheets, stopping
 * SHEETS_CUT before the deadline. */
static void init_sheets(const svc *s, const init_doc *d)
{
    double left = d->deadline - SHEETS_CUT - mg_now();
    struct itimerval t = {{0, 0}, {(time_t)left, (suseconds_t)((left - (time_t)left) * 1e6)}};

    if (left <= 0 || signal(SIGALRM, init_cut) == SIG_ERR || setitimer(ITIMER_REAL, &t, NULL) < 0)
        return;
    (void)jail_sheets_send(s->c, s->work, d->sheets);
}

/* Non-zero when the program's first word on prog_sock (read now, without waiting) is that its
 * PDF is saved; *heard is set once it said anything or hung up. */
static int init_heard_saved(int prog_sock, int *heard)
{
    char said = 0;
    ssize_t n = recv(prog_sock, &said, 1, MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    *heard = 1;
    return n == 1 && said == PROGRAM_PDF_SAVED;
}

/* In the init: wait for the program to end, into *st. For a spreadsheet, *saved is set when the
 * program said the PDF is saved, and a program still exporting the sheets at d->sheets_until
 * is ended then (as the cold path ends its export): LibreOffice runs the export in the
 * program's own thread, which cannot look at the time meanwhile. */
static void init_wait_program(pid_t prog, int prog_sock, const init_doc *d, int *st, int *saved)
{
    int pidfd = d->sheets < 0 ? -1 : (int)syscall(SYS_pidfd_open, prog, 0);
    int heard = 0, ended = 0;
    pid_t w;

    *saved = 0;
    while (pidfd >= 0) {
        struct pollfd p[2] = {{pidfd, POLLIN, 0}, {prog_sock, POLLIN, 0}};
        double left = d->sheets_until - mg_now();
        int ms = !*saved || ended ? -1 : left > 0 ? (int)(left * 1000) + 1 : 0;
        int r = poll(p, heard ? 1 : 2, ms);
        if (r < 0 && errno != EINTR)
            _exit(OFFICE_EXIT_SETUP);
        if (r > 0 && p[0].revents)
            break;
        if (r > 0 && !heard && p[1].revents)
            *saved = init_heard_saved(prog_sock, &heard);
        else if (r == 0)
            ended = 1, (void)kill(prog, SIGKILL);
    }
    if (pidfd >= 0)
        close(pidfd);
    while ((w = waitpid(-1, st, 0)) != prog)
        if (w < 0 && errno != EINTR)
            _exit(OFFICE_EXIT_SETUP);
    if (d->sheets >= 0 && !heard)
        *saved = init_heard_saved(prog_sock, &heard);
}

/* The jail's init, once the document is the program's: wait for the program; when it
 * converted (or, for a spreadsheet, said on prog_sock that the PDF was saved before it ended
 * otherwise), end whatever else runs in the jail, then copy its PDF to d->out (and, when the
 * program ended well, send the sheets it exported) and exit 0 (or OFFICE_EXIT_SAVE), else
 * exit with its exit code, or OFFICE_EXIT_SIGNAL + the signal that killed it. Leaving ends the
 * PID namespace: the kernel kills whatever the program left. A failure with the sheets fails
 * nothing but their stream, which the trusted side then refuses. */
static void init_wait(const svc *s, pid_t prog, int prog_sock, const init_doc *d)
{
    char pdf[PATH_MAX];
    int st = 0, saved;
    pid_t w;

    init_wait_program(prog, prog_sock, d, &st, &saved);
    int done = WIFEXITED(st) && WEXITSTATUS(st) == OFFICE_EXIT_OK;
    if (!done && !saved)
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : OFFICE_EXIT_SIGNAL + WTERMSIG(st));
    if (!done)
        child_note("the sheets' export did not end; the PDF is kept", st);
    /* Nothing the document started may change the PDF while it is copied. */
    (void)kill(-1, SIGKILL);
    while ((w = waitpid(-1, NULL, 0)) > 0 || (w < 0 && errno == EINTR))
        ;
    if (mg_snprintf(pdf, sizeof pdf, "%s/out/input.pdf", s->work) < 0 ||
        output_copy(pdf, d->out) < 0)
        _exit(OFFICE_EXIT_SAVE);
    if (d->sheets >= 0 && done)
        init_sheets(s, d);
    _exit(OFFICE_EXIT_OK);
}

/* The most descriptors a child takes over from the service (LibreOffice's start leaves a
 * dozen). */
#define INHERITED_MAX 256

/* Non-zero when /proc/self/fdinfo of fd says it is an eventfd in semaphore mode. */
static int eventfd_semaphore(int fd)
{
    char path[64], buf[512];
    int in = mg_snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd) < 0
                 ? -1
                 : open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = in < 0 ? -1 : read(in, buf, sizeof buf - 1);

    if (in >= 0)
        close(in);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *f = strstr(buf, "eventfd-semaphore:");
    return f && atoi(f + 18) == 1;
}

/* Put a new eventfd of this process's own at fd, with fd's flags. 0 or -1. */
static int eventfd_renew(int fd)
{
    int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);
    int e = fl < 0 || fdfl < 0 ? -1
                               : eventfd(0, EFD_CLOEXEC | (fl & O_NONBLOCK ? EFD_NONBLOCK : 0) |
                                                (eventfd_semaphore(fd) ? EFD_SEMAPHORE : 0));
    int rc = e < 0 || dup3(e, fd, fdfl & FD_CLOEXEC ? O_CLOEXEC : 0) < 0 ? -1 : 0;

    if (e >= 0)
        close(e);
    return rc;
}

/* Put a new pipe of this process's own at every descriptor of fds (n) that is an end of the
 * pipe ino, each end where the old one was, with its flags; each is marked in done. 0 or -1. */
static int pipe_renew(const int *fds, char *done, size_t n, ino_t ino)
{
    int p[2];
    struct stat st;
    int rc = 0;

    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (fstat(fds[i], &st) < 0 || !S_ISFIFO(st.st_mode) || st.st_ino != ino)
            continue;
        int fl = fcntl(fds[i], F_GETFL), fdfl = fcntl(fds[i], F_GETFD);
        int end = (fl & O_ACCMODE) == O_WRONLY ? p[1] : p[0];
        if (fl < 0 || fdfl < 0 || dup3(end, fds[i], fdfl & FD_CLOEXEC ? O_CLOEXEC : 0) < 0 ||
            fcntl(fds[i], F_SETFL, fl & O_NONBLOCK) < 0)
            rc = -1;
        done[i] = 1;
    }
    close(p[0]);
    close(p[1]);
    return rc;
}

/* The descriptors of this process from 3 on but keep, into fds (at most INHERITED_MAX). Their
 * number, or -1. */
static int fds_list(int keep, int *fds)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || fd < 3 || fd == keep || fd == dirfd(d))
            continue;
        if (n == INHERITED_MAX) {
            closedir(d);
            return errno = EMFILE, -1;
        }
        fds[n++] = fd;
    }
    closedir(d);
    return n;
}

/* In a child, before anything else: what LibreOffice's start left open in the service (an
 * eventfd, pipes) is the same kernel object in the service and in every other child, a channel
 * from one document to another. Each eventfd and pipe becomes a new one of this child's own at
 * the same number; files open read-only (LibreOffice's type libraries, images) stay; every other
 * descriptor but keep (sockets, directories, files open for writing) is closed. 0 or -1. */
static int fds_own(int keep)
{
    int fds[INHERITED_MAX];
    char done[INHERITED_MAX] = {0};
    int n = fds_list(keep, fds);
    struct stat st;
    char link[64], target[64];

    for (int i = 0; i < n; i++) {
        int fl = fcntl(fds[i], F_GETFL);
        ssize_t len = mg_snprintf(link, sizeof link, "/proc/self/fd/%d", fds[i]) < 0
                          ? -1
                          : readlink(link, target, sizeof target - 1);
        if (done[i])
            continue;
        if (fl < 0 || fstat(fds[i], &st) < 0)
            return -1;
        target[len > 0 ? len : 0] = '\0';
        if (S_ISREG(st.st_mode) && (fl & O_ACCMODE) == O_RDONLY)
            continue;
        if (strcmp(target, "anon_inode:[eventfd]") == 0) {
            if (eventfd_renew(fds[i]) < 0)
                return -1;
        } else if (S_ISFIFO(st.st_mode)) {
            /* Both ends at once. */
            if (pipe_renew(fds, done, (size_t)n, st.st_ino) < 0)
                return -1;
        } else {
            close(fds[i]);
        }
    }
    return n < 0 ? -1 : 0;
}

/* The conversion child, pid 1 of its namespaces, made before its document is known: enter
 * the jail, start the program (pid 2, which a signal from outside can reach), take the
 * document on ctl and wait for the program; never returns. */
static void child_main(const svc *s, int ctl)
{
    int pair[2];
    sigset_t none;

    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++)
        (void)signal(sig, SIG_DFL);
    /* Nothing of the service's but its own socket. */
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    for (size_t i = 0; i < CHAN_MAX; i++)
        if (s->ch[i].fd >= 0)
            close(s->ch[i].fd), close(s->ch[i].pidfd);
    for (size_t i = 0; i < SPARES_MAX; i++)
        if (s->spare[i].pid > 0)
            close(s->spare[i].ctl), close(s->spare[i].pidfd);
    /* A child made for a request in hand gets that document from its init, never these. */
    for (size_t i = 0; i < 3; i++)
        if (s->job_fds[i] >= 0)
            close(s->job_fds[i]);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0)
        _exit(OFFICE_EXIT_SETUP);
    close(null);
    if (fds_own(ctl) < 0)
        child_die("the descriptors taken over from the service", OFFICE_EXIT_SETUP);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        child_die("prctl(PR_SET_PDEATHSIG)", OFFICE_EXIT_SETUP);
    child_enter(s);
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
        child_die("socketpair", OFFICE_EXIT_SETUP);
    pid_t prog = fork();
    if (prog < 0)
        child_die("fork", OFFICE_EXIT_SETUP);
    if (prog == 0) {
        close(ctl);
        close(pair[0]);
        program_main(s, pair[1]);
    }
    close(pair[1]);
    init_doc d;
    init_take(s, ctl, pair[0], &d);
    init_wait(s, prog, pair[0], &d);
}

/* ---- the service ---- */

/* Send the answer for ch's request. 0 or -1 (then the socket is to be dropped). */
static int rep_send(chan *ch, office_result res, int status, double cpu, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int rep_send(chan *ch, office_result res, int status, double cpu, const char *fmt, ...)
{
    office_rep r;
    va_list ap;

    memset(&r, 0, sizeof r);
    r.magic = OFFICE_MAGIC;
    r.type = OFFICE_DONE;
    r.seq = ch->seq;
    r.result = res;
    r.status = status;
    r.cpu_ms = (uint32_t)(cpu * 1000);
    va_start(ap, fmt);
    (void)vsnprintf(r.why, sizeof r.why, fmt, ap);
    va_end(ap);
    return send(ch->fd, &r, sizeof r, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)sizeof r ? 0 : -1;
}

/* Close ch, killing and reaping its conversion first. */
static void chan_drop(chan *ch)
{
    if (ch->pid > 0) {
        (void)kill(ch->pid, SIGKILL);
        while (waitpid(ch->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        close(ch->pidfd);
    }
    close(ch->fd);
    memset(ch, 0, sizeof *ch);
    ch->fd = ch->pidfd = -1;
}

/* Receive one request on ch with its two or three descriptors into fds (-1 where none).
 * 0, 1 at the end of the socket, 2 when there is nothing to read yet, -1 on a malformed
 * message. */
static int req_recv(chan *ch, office_req *q, int fds[3])
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * 3)];
    } u;
    struct iovec iov = {q, sizeof *q};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    ssize_t n = recvmsg(ch->fd, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    size_t nfds = 0;

    fds[0] = fds[1] = fds[2] = -1;
    if (n == 0)
        return 1;
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 2;
    for (struct cmsghdr *h = n > 0 ? CMSG_FIRSTHDR(&m) : NULL; h; h = CMSG_NXTHDR(&m, h))
        if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS)
            for (size_t i = 0; i < (h->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof fd);
                if (nfds < 3)
                    fds[nfds] = fd;
                else
                    close(fd);
                nfds++;
            }
    if (n == (ssize_t)sizeof *q && !(m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) &&
        q->magic == OFFICE_MAGIC && q->type == OFFICE_CONVERT && (q->flags & ~OFFICE_SHEETS) == 0 &&
        nfds == job_nfds(q->flags))
        return 0;
    for (size_t i = 0; i < 3; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return -1;
}

/* Non-zero when fd is a regular file open for reading (want 0) or writing (want 1). */
static int fd_ok(int fd, int want)
{
    struct stat st;
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return 0;
    return want ? (fl & O_ACCMODE) != O_RDONLY : (fl & O_ACCMODE) != O_WRONLY;
}

/* Make a child that waits for its document, into sp. 0, or -1 with errno. */
static int child_new(svc *s, spare *sp)
{
    int sv[2];

    /* Never fork a process with threads: a lock held by another thread stays held. */
    if (threads() != 1)
        return errno = EDEADLK, -1;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    pid_t pid = jailns_clone(s->c, &s->ids);
    if (pid == 0) {
        close(sv[0]);
        child_main(s, sv[1]);
    }
    int saved = errno;
    close(sv[1]);
    int pidfd = pid < 0 ? -1 : (int)syscall(SYS_pidfd_open, pid, 0);
    if (pid < 0 || pidfd < 0) {
        saved = pid < 0 ? saved : errno;
        if (pid > 0)
            (void)kill(pid, SIGKILL), (void)waitpid(pid, NULL, 0);
        close(sv[0]);
        return errno = saved, -1;
    }
    *sp = (spare){pid, pidfd, sv[0]};
    return 0;
}

/* End and reap the child in sp (unused, or dead). */
static void spare_drop(spare *sp)
{
    (void)kill(sp->pid, SIGKILL);
    while (waitpid(sp->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    close(sp->pidfd);
    close(sp->ctl);
    *sp = (spare){0, -1, -1};
}

/* Keep s->spares children ready (not when a start just failed, or the service is ending). */
static void spares_fill(svc *s)
{
    for (size_t i = 0; i < s->spares && i < SPARES_MAX; i++) {
        if (s->spare[i].pid > 0)
            continue;
        if (stopping || mg_now() < s->spare_after ||
            (s->recycle_after && s->done >= s->recycle_after))
            return;
        if (child_new(s, &s->spare[i]) < 0) {
            mg_warn("office: cannot start a child ahead of its document: %s", strerror(errno));
            s->spare_after = mg_now() + 1.0;
            return;
        }
    }
}

/* A child for a document: a ready one, else a new one. 0, or -1 with errno. */
static int child_take(svc *s, spare *sp)
{
    for (size_t i = 0; i < SPARES_MAX; i++)
        if (s->spare[i].pid > 0) {
            *sp = s->spare[i];
            s->spare[i] = (spare){0, -1, -1};
            return 0;
        }
    return child_new(s, sp);
}

/* Hand the document of request q (fds: input, output, the sheets' when asked) to a child, for
 * ch, which the service ends at deadline (mg_now) after limit_s seconds. 0, or -1 with errno (no
 * child could take it). */
static int job_hand(svc *s, chan *ch, const office_req *q, int fds[3], double deadline,
                    double limit_s)
{
    office_job job;
    spare sp;

    memset(&job, 0, sizeof job);
    job.flags = q->flags & OFFICE_SHEETS;
    job.deadline = deadline;
    job.sheets_until = deadline - MAX(SHEETS_MARGIN_MIN, limit_s / 10.0);
    memcpy(job.ext, q->ext, sizeof job.ext);
    job.ext[sizeof job.ext - 1] = '\0';
    /* A ready child that died meanwhile cannot take it: then a new one. */
    for (int tries = 0; tries < 2; tries++) {
        if (child_take(s, &sp) < 0)
            return -1;
        if (fds_send(sp.ctl, &job, sizeof job, fds, job_nfds(job.flags)) == 0) {
            close(sp.ctl);
            ch->pid = sp.pid;
            ch->pidfd = sp.pidfd;
            return 0;
        }
        spare_drop(&sp);
    }
    return errno = ECHILD, -1;
}

/* Start the conversion of request q on ch with fds (the service's copies are closed). */
static void job_start(svc *s, chan *ch, const office_req *q, int fds[3])
{
    double limit_s = s->c->office_timeout;

    ch->seq = q->seq;
    ch->started = mg_now();
    if (q->timeout_ms / 1000.0 < limit_s)
        limit_s = q->timeout_ms / 1000.0;
    memcpy(s->job_fds, fds, sizeof s->job_fds);
    if (threads() != 1) {
        (void)rep_send(ch, OFFICE_SETUP, -1, 0, "the service runs threads; it restarts");
        mg_error("office: %zu threads in the service; exiting", threads());
        stopping = 1;
    } else if (!fd_ok(fds[0], 0) || !fd_ok(fds[1], 1) || (fds[2] >= 0 && !fd_ok(fds[2], 1))) {
        (void)rep_send(ch, OFFICE_REFUSED, -1, 0, "the descriptors are not an input and an output");
    } else if (job_hand(s, ch, q, fds, ch->started + limit_s, limit_s) < 0) {
        (void)rep_send(ch, OFFICE_SETUP, -1, 0, "cannot create the jail's namespaces: %s",
                       strerror(errno));
    } else {
        ch->timed_out = 0;
        ch->deadline = ch->started + limit_s;
        memcpy(ch->ext, q->ext, sizeof ch->ext);
        ch->ext[sizeof ch->ext - 1] = '\0';
    }
    for (size_t i = 0; i < 3; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    s->job_fds[0] = s->job_fds[1] = s->job_fds[2] = -1;
}

/* A request on ch: start its child, or drop ch when the message is malformed or ch is busy. */
static void chan_request(svc *s, chan *ch)
{
    office_req q;
    int fds[3];
    int rc = req_recv(ch, &q, fds);

    if (rc == 2)
        return;
    if (rc != 0 || ch->pid > 0 || !ext_ok(q.ext, sizeof q.ext)) {
        if (rc < 0 || (rc == 0 && ch->pid > 0))
            mg_warn("office: a malformed request; the socket is closed");
        for (size_t i = 0; rc == 0 && i < 3; i++)
            if (fds[i] >= 0)
                close(fds[i]);
        if (rc == 0 && ch->pid <= 0) {
            ch->seq = q.seq;
            if (rep_send(ch, OFFICE_REFUSED, -1, 0, "bad extension") == 0)
                return;
        }
        chan_drop(ch);
        return;
    }
    job_start(s, ch, &q, fds);
}

/* The name of signal sig, for a reason. */
static const char *sig_name(int sig)
{
    const char *n = sigabbrev_np(sig);

    return n ? n : "unknown";
}

/* ch's child has ended (or was killed): reap it and answer. */
static void job_end(svc *s, chan *ch)
{
    struct rusage ru;
    int st = 0;
    pid_t w;

    while ((w = wait4(ch->pid, &st, 0, &ru)) < 0 && errno == EINTR)
        ;
    double cpu = w == ch->pid ? (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
                                    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6
                              : 0;
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    int rc;
    /* The program killed by a signal, as the jail's init tells it: as a wait status. */
    if (code > OFFICE_EXIT_SIGNAL && code < OFFICE_EXIT_SIGNAL + NSIG)
        st = code - OFFICE_EXIT_SIGNAL, code = -1;
    close(ch->pidfd);
    ch->pid = 0;
    ch->pidfd = -1;
    s->done++;
    if (ch->timed_out)
        rc = rep_send(ch, OFFICE_TIMEOUT, st, cpu, "LibreOffice exceeded its time limit");
    else if (WIFSIGNALED(st))
        rc = rep_send(ch, OFFICE_CRASHED, st, cpu, "LibreOffice killed by signal SIG%s",
                      sig_name(WTERMSIG(st)));
    else if (code == OFFICE_EXIT_OK)
        rc = rep_send(ch, OFFICE_OK, st, cpu, "converted");
    else if (code == OFFICE_EXIT_LOAD)
        rc = rep_send(ch, OFFICE_LOAD_FAILED, st, cpu, "LibreOffice could not load the document");
    else if (code == OFFICE_EXIT_SAVE)
        rc = rep_send(ch, OFFICE_SAVE_FAILED, st, cpu, "LibreOffice produced no PDF");
    else if (code == OFFICE_EXIT_SETUP)
        rc = rep_send(ch, OFFICE_SETUP, st, cpu, "the jail could not be made");
    else
        rc = rep_send(ch, OFFICE_CRASHED, st, cpu, "LibreOffice exited with status %d", code);
    mg_info("office: %s: %s in %.2f s (%.2f s CPU)", ch->ext,
            ch->timed_out            ? "timeout"
            : WIFSIGNALED(st)        ? "crashed"
            : code == OFFICE_EXIT_OK ? "converted"
                                     : "failed",
            mg_now() - ch->started, cpu);
    if (rc < 0)
        chan_drop(ch);
}

/* Take a new socket from the listening one. */
static void chan_accept(svc *s)
{
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

    if (fd < 0)
        return;
    for (size_t i = 0; i < CHAN_MAX; i++)
        if (s->ch[i].fd < 0) {
            s->ch[i].fd = fd;
            return;
        }
    mg_warn("office: more than %d sockets; one refused", CHAN_MAX);
    close(fd);
}

/* Number of sockets open, and of conversions running. */
static void counts(const svc *s, size_t *open, size_t *busy)
{
    *open = *busy = 0;
    for (size_t i = 0; i < CHAN_MAX; i++) {
        *open += s->ch[i].fd >= 0;
        *busy += s->ch[i].pid > 0;
    }
}

/* Kill the children whose deadline has passed; the time in ms until the next one (-1). */
static int deadlines(svc *s)
{
    double now = mg_now(), next = -1;

    for (size_t i = 0; i < CHAN_MAX; i++) {
        chan *ch = &s->ch[i];
        if (ch->pid <= 0 || ch->timed_out)
            continue;
        if (now >= ch->deadline) {
            ch->timed_out = 1;
            (void)kill(ch->pid, SIGKILL);
        } else if (next < 0 || ch->deadline < next) {
            next = ch->deadline;
        }
    }
    return next < 0 ? -1 : (int)((next - now) * 1000) + 1;
}

/* One round of the loop: wait for a request, an end or a deadline, and handle it. */
static void loop_once(svc *s)
{
    struct pollfd p[1 + 2 * CHAN_MAX + SPARES_MAX];
    size_t map[1 + 2 * CHAN_MAX + SPARES_MAX], n = 0;
    int ms = deadlines(s);

    if (s->listen_fd >= 0)
        p[n] = (struct pollfd){s->listen_fd, POLLIN, 0}, map[n++] = SIZE_MAX;
    for (size_t i = 0; i < CHAN_MAX; i++) {
        if (s->ch[i].fd < 0)
            continue;
        p[n] = (struct pollfd){s->ch[i].fd, POLLIN, 0}, map[n++] = i;
        if (s->ch[i].pid > 0)
            p[n] = (struct pollfd){s->ch[i].pidfd, POLLIN, 0}, map[n++] = i | MAP_CHILD;
    }
    for (size_t i = 0; i < SPARES_MAX; i++)
        if (s->spare[i].pid > 0)
            p[n] = (struct pollfd){s->spare[i].pidfd, POLLIN, 0}, map[n++] = i | MAP_SPARE;
    if (poll(p, n, ms) <= 0)
        return;
    for (size_t k = 0; k < n; k++) {
        if (!p[k].revents)
            continue;
        if (map[k] == SIZE_MAX) {
            chan_accept(s);
            continue;
        }
        if (map[k] & MAP_SPARE) {
            /* A ready child ended before its document: replaced after a pause. */
            spare *sp = &s->spare[map[k] & ~MAP_SPARE];
            if (sp->pid > 0) {
                mg_warn("office: a child ended before its document");
                spare_drop(sp);
                s->spare_after = mg_now() + 1.0;
            }
            continue;
        }
        chan *ch = &s->ch[map[k] & ~MAP_CHILD];
        if (ch->fd < 0)
            continue;
        if (map[k] & MAP_CHILD) {
            if (ch->pid > 0)
                job_end(s, ch);
        } else {
            chan_request(s, ch);
        }
    }
}

/* Serve until told to stop, until the one socket of --fd closes, or, once idle, after
 * recycle_after conversions. */
static void serve(svc *s)
{
    for (;;) {
        size_t open, busy;
        counts(s, &open, &busy);
        if (stopping || (s->listen_fd < 0 && open == 0))
            break;
        if (s->recycle_after && s->done >= s->recycle_after && busy == 0) {
            mg_info("office: %lu documents converted; exiting to be started afresh", s->done);
            break;
        }
        spares_fill(s);
        loop_once(s);
    }
    for (size_t i = 0; i < CHAN_MAX; i++)
        if (s->ch[i].fd >= 0)
            chan_drop(&s->ch[i]);
    for (size_t i = 0; i < SPARES_MAX; i++)
        if (s->spare[i].pid > 0)
            spare_drop(&s->spare[i]);
}

/* ---- start-up ---- */

/* Number of threads of this process (0: unknown). */
static size_t threads(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    size_t n = 0;

    if (!d)
        return 0;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Remove the private directories that services no longer running left in tmp (killed
 * before they could): $TMPDIR/mugai-office-PID-*, this user's, PID gone. */
static void private_dirs_sweep(const char *tmp)
{
    DIR *d = opendir(tmp);
    struct dirent *e;
    struct stat st;
    char path[PATH_MAX];

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        char *end;
        if (strncmp(e->d_name, "mugai-office-", 13) != 0)
            continue;
        long pid = strtol(e->d_name + 13, &end, 10);
        if (pid <= 0 || *end != '-' || (kill((pid_t)pid, 0) == 0 || errno != ESRCH) ||
            mg_snprintf(path, sizeof path, "%s/%s", tmp, e->d_name) < 0 || lstat(path, &st) < 0 ||
            !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
            continue;
        mg_remove_tree(path);
    }
    closedir(d);
}

/* The private directory: $TMPDIR/mugai-office-PID-XXXXXX with profile/ and root/. */
static int private_dir(svc *s)
{
    const char *tmp = getenv("TMPDIR");
    char profile[PATH_MAX + 16];
    jail_ids mine = {0, geteuid(), getegid()};

    if (!tmp || tmp[0] != '/')
        tmp = "/tmp";
    private_dirs_sweep(tmp);
    if (mg_snprintf(s->dir, sizeof s->dir, "%s/mugai-office-%ld-XXXXXX", tmp, (long)getpid()) < 0 ||
        !mkdtemp(s->dir) || mg_snprintf(s->root, sizeof s->root, "%s/root", s->dir) < 0 ||
        mg_snprintf(s->work, sizeof s->work, "%s/work", s->dir) < 0 ||
        mg_snprintf(profile, sizeof profile, "%s/profile", s->dir) < 0 || mkdir(s->root, 0700) < 0)
        return -1;
    return jailns_office_profile(profile, s->c->soffice_path, &mine);
}

/* Load LibreOffice once (lok_preinit) from the private profile, and wait until it has no
 * thread left but this one. 0, or -1 with the reason logged. */
static int preinit(svc *s)
{
    char lib[PATH_MAX + 32], url[3 * PATH_MAX + 16];
    double t0 = mg_now();

    if (mg_snprintf(lib, sizeof lib, "%s/libmergedlo.so", s->program) < 0 ||
        jailns_office_profile_url(s->dir, url, sizeof url) < 0)
        return -1;
    s->lok = dlopen(lib, RTLD_NOW | RTLD_GLOBAL);
    int (*pre)(const char *, const char *) =
        s->lok ? (int (*)(const char *, const char *))dlsym(s->lok, "lok_preinit") : NULL;
    if (!pre || !dlsym(s->lok, "libreofficekit_hook_2")) {
        mg_error("office: %s: no LibreOfficeKit: %s", lib, dlerror());
        return -1;
    }
    /* Its configuration is read here, once, from this profile alone. */
    if (setenv("UserInstallation", url, 1) < 0 || setenv("HOME", s->dir, 1) < 0 ||
        setenv("SAL_USE_VCLPLUGIN", "svp", 1) < 0)
        return -1;
    /* What LibreOffice prints while it loads is no news for the log. */
    int saved = dup(STDERR_FILENO), null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (saved < 0 || null < 0 || dup2(null, STDERR_FILENO) < 0)
        return -1;
    close(null);
    int rc = pre(s->program, url);
    if (dup2(saved, STDERR_FILENO) < 0)
        return -1;
    close(saved);
    if (rc != 0) {
        mg_error("office: lok_preinit failed in %s", s->program);
        return -1;
    }
    /* Its configuration writer ends about a second after its last change. */
    while (threads() != 1 && mg_now() < t0 + SINGLE_WAIT)
        (void)poll(NULL, 0, 50);
    if (threads() != 1) {
        mg_error("office: LibreOffice still runs %zu threads after its start; cannot fork",
                 threads());
        return -1;
    }
    mg_info("office: LibreOffice loaded from %s in %.2f s", s->program, mg_now() - t0);
    return 0;
}

/* Remove the private directory: the mount point and the profile the preinit wrote to. */
static void private_dir_remove(const svc *s)
{
    mg_remove_tree(s->dir);
}

/* A listening SOCK_SEQPACKET socket at path, only for this user (0600). */
static int listen_at(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    if (fd < 0 || strlen(path) >= sizeof a.sun_path)
        return -1;
    memcpy(a.sun_path, path, strlen(path) + 1);
    (void)unlink(path);
    mode_t old = umask(077);
    int rc = bind(fd, (struct sockaddr *)&a, sizeof a);
    umask(old);
    if (rc < 0 || listen(fd, 64) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Print the usage on out. */
static void usage(FILE *out)
{
    fprintf(out, "usage: mugai-office [--config FILE] [--log-level LEVEL] [--jail-ids UID:GID]\n"
                 "                    (--fd N | --listen PATH | --listen-fd N)\n"
                 "  The Office service: loads LibreOffice once and converts each document it\n"
                 "  is sent to PDF in a fresh jailed child. --fd serves one connected socket\n"
                 "  and exits at its end; --listen accepts sockets at PATH, --listen-fd on the\n"
                 "  listening socket N it is given (mugai-milter's supervisor).\n");
}

int main(int argc, char **argv)
{
    const char *config = NULL, *listen_path = NULL, *log_level = NULL;
    int fd = -1, listen_fd = -1, jail_ids_given = 0;
    unsigned juid = 0, jgid = 0;
    char *err = NULL;
    static svc s;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[++i];
        else if (strcmp(argv[i], "--fd") == 0 && i + 1 < argc)
            fd = atoi(argv[++i]);
        else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
            listen_path = argv[++i];
        else if (strcmp(argv[i], "--listen-fd") == 0 && i + 1 < argc)
            listen_fd = atoi(argv[++i]);
        else if (strcmp(argv[i], "--jail-ids") == 0 && i + 1 < argc &&
                 sscanf(argv[i + 1], "%u:%u", &juid, &jgid) == 2)
            i++, jail_ids_given = 1;
        else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc &&
                 mg_log_level_parse(argv[i + 1]) >= 0)
            log_level = argv[++i];
        else if (strcmp(argv[i], "--help") == 0)
            return usage(stdout), 0;
        else
            return usage(stderr), 2;
    }
    if ((fd >= 3) + (listen_path != NULL) + (listen_fd >= 3) != 1)
        return usage(stderr), 2;
    conf *c = config ? conf_load(config, &err) : conf_new_defaults();
    if (!c) {
        fprintf(stderr, "mugai-office: %s\n", err ? err : "cannot load the configuration");
        free(err);
        return 1;
    }
    int level = mg_log_level_parse(log_level ? log_level : c->log_level);
    mg_log_init("mugai-office", 0, level < 0 ? MG_LOG_INFO : (mg_log_level)level);
    /* Ends with whoever started it (the supervisor, sanitize-file). */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
        mg_fatal("office: prctl: %s", strerror(errno));
    signal(SIGTERM, on_stop);
    signal(SIGINT, on_stop);
    signal(SIGPIPE, SIG_IGN);
    s.c = c;
    s.listen_fd = -1;
    s.job_fds[0] = s.job_fds[1] = s.job_fds[2] = -1;
    s.recycle_after = c->office_recycle_after;
    for (size_t i = 0; i < CHAN_MAX; i++)
        s.ch[i].fd = s.ch[i].pidfd = -1;
    for (size_t i = 0; i < SPARES_MAX; i++)
        s.spare[i] = (spare){0, -1, -1};
    s.spares = c->office_spares < SPARES_MAX ? c->office_spares : SPARES_MAX;
    char why[256];
    /* Started by mugai-milter in its user namespace: the jail user as mapped there. */
    if (jail_ids_given)
        san_jail_ids_set((uid_t)juid, (gid_t)jgid);
    if (jailns_ids(c, &s.ids, why, sizeof why) < 0)
        mg_fatal("office: %s", why);
    if (jailns_office_program(c->soffice_path, s.program, sizeof s.program) < 0)
        mg_fatal("office: %s: %s", c->soffice_path, strerror(errno));
    if (private_dir(&s) < 0)
        mg_fatal("office: cannot make a private directory: %s", strerror(errno));
    if (preinit(&s) < 0) {
        private_dir_remove(&s);
        return OFFICE_SERVICE_UNUSABLE;
    }
    if (listen_path && (s.listen_fd = listen_at(listen_path)) < 0)
        mg_fatal("office: cannot listen at %s: %s", listen_path, strerror(errno));
    if (listen_fd >= 3) {
        (void)fcntl(listen_fd, F_SETFD, FD_CLOEXEC);
        (void)fcntl(listen_fd, F_SETFL, O_NONBLOCK);
        s.listen_fd = listen_fd;
    } else if (!listen_path) {
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
        (void)fcntl(fd, F_SETFL, O_NONBLOCK);
        s.ch[0].fd = fd;
    }
    serve(&s);
    if (listen_path)
        (void)unlink(listen_path);
    private_dir_remove(&s);
    conf_free(c);
    return 0;
}
