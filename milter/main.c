/*
 * milter/main.c - mugai-milter: the Postfix front end of mugai.
 *
 * Started by systemd (or by hand) as root or as the milter user. Binds the
 * milter socket, writes the pid file, becomes [milter] user, then forks: the
 * child becomes the libmilter front end (threads), the parent stays the
 * single-threaded pool supervisor that forks the sanitizer workers. Must never
 * start libmilter threads before that fork, never run as root without a
 * [milter] user, and never keep root privileges after binding: it becomes the
 * milter user inside a user namespace of its own, where the only other id is
 * the [jail] user that jailed programs are switched to (sanitize/jailns.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <dirent.h>
#include <limits.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <glib.h>
#include <libmilter/mfapi.h>

#include "mg.h"
#include "milter.h"
#include "san.h"

#define EXIT_USAGE 2

typedef struct opts {
    const char *conf_path;
    const char *socket;
    int foreground;
} opts;

/* The --help text. */
static void usage(FILE *out)
{
    fputs("Usage: mugai-milter [-c FILE] [-f] [-p SOCKET]\n"
          "\n"
          "The Postfix milter of the mugai sanitization gateway. Every message Postfix\n"
          "receives is spooled, its original stored in the quarantine, and replaced by a\n"
          "sanitized copy (plain-text body, attachments flattened) before Postfix accepts it.\n"
          "Any internal failure answers 451 4.7.1 so that no mail is lost or passed unsanitized.\n"
          "\n"
          "Options:\n"
          "  -c, --config FILE   configuration file (default " CONF_DEFAULT_PATH ")\n"
          "  -f, --foreground    stay in the foreground and log to stderr as well as syslog\n"
          "  -p, --socket SOCKET listen on SOCKET instead of [milter] socket:\n"
          "                      unix:/path/to/socket or inet:PORT@HOST\n"
          "  -h, --help          show this help and exit\n"
          "\n"
          "Processes: the main process is the pool supervisor (pid file, SIGHUP reloads the\n"
          "configuration and virus signatures and replaces the workers; SIGTERM stops\n"
          "accepting connections, finishes messages in flight and exits). It forks the\n"
          "libmilter front end and [milter] workers sanitizer processes. Each worker\n"
          "forks its jail spawner (mugai-spawner), which alone makes the worker's jails,\n"
          "then confines itself: no capabilities, Landlock (where the kernel has it) and\n"
          "seccomp. With [office] mode = warm it also starts the Office service\n"
          "(mugai-office: LibreOffice loaded once, a fresh jailed child per document) before\n"
          "the workers, which connect to it before they confine themselves; it is started\n"
          "again when it ends, and ends by itself after [office] recycle_after documents.\n"
          "A message that stopped workers [milter] poison_attempts times is\n"
          "quarantined as failed and replaced by a notice. The review console (mugai-web)\n"
          "hands IT's password for a held encrypted attachment to a worker through\n"
          "SPOOL/unlock.sock (mode 0600, owned by [web] user: only the console connects;\n"
          "the spool directory is 0710), one request per connection, answered within\n"
          "[milter] job_timeout.\n"
          "\n"
          "Privileges: it must be started as root. After binding the socket it becomes\n"
          "[milter] user (default mugai) in a user namespace of its own, where the only\n"
          "other user is [jail] user (default nobody), whom the jailed renderer and\n"
          "LibreOffice run as. The two users must differ, and neither may be root.\n"
          "\n"
          "Configuration keys used ([milter]): socket, socket_group, user, pid_file,\n"
          "spool_dir, workers, jobs_per_worker, queue_wait, job_timeout, max_headers,\n"
          "poison_attempts; [jail] user and limits; [ppap] for held encrypted attachments\n"
          "(the password mail, replies to submit_address from trusted_networks, expiry);\n"
          "and [scan], [quarantine], [mail] for the engine. See mugai-config --sample.\n"
          "\n"
          "Exit status: 0 on a clean stop, 2 on a usage or configuration error, 1 on a fatal\n"
          "error (socket, privileges, engine or quarantine store).\n",
          out);
}

/* Parse the command line; returns -1 after printing a usage error, 1 for --help. */
static int parse_args(int argc, char **argv, opts *o)
{
    static const struct option lo[] = {{"config", required_argument, NULL, 'c'},
                                       {"foreground", no_argument, NULL, 'f'},
                                       {"socket", required_argument, NULL, 'p'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    int ch;

    while ((ch = getopt_long(argc, argv, "c:fp:h", lo, NULL)) != -1) {
        switch (ch) {
        case 'c':
            o->conf_path = optarg;
            break;
        case 'f':
            o->foreground = 1;
            break;
        case 'p':
            o->socket = optarg;
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            fputs("Try 'mugai-milter --help'.\n", stderr);
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "mugai-milter: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

/* Create the spool directory and remove files left by an earlier run. It is 0710: its group
 * (the milter user's, of which the console's user is a member) may reach unlock.sock in it by
 * name, and list or read nothing (every file in it is 0600, the outbox 0700; unlock.sock is
 * the console user's alone, see unlock_prepare). */
static int spool_prepare(const conf *c, const struct passwd *pw)
{
    char out[PATH_MAX];
    DIR *d;
    struct dirent *e;

    if (mkdir(c->milter_spool_dir, 0710) < 0 && errno != EEXIST)
        return -1;
    if (chown(c->milter_spool_dir, pw->pw_uid, pw->pw_gid) < 0 ||
        chmod(c->milter_spool_dir, 0710) < 0)
        return -1;
    d = opendir(c->milter_spool_dir);
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "msg-", 4) != 0 && strncmp(e->d_name, "clean-", 6) != 0)
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) == 0)
            mg_info("removed leftover spool file %s", e->d_name);
    }
    closedir(d);
    /* The gateway's own mails wait here for the release listener (outbox.c). */
    if (milter_outbox_dir(c, out, sizeof(out)) < 0 || (mkdir(out, 0700) < 0 && errno != EEXIST) ||
        chown(out, pw->pw_uid, pw->pw_gid) < 0)
        return -1;
    return 0;
}

/* Write our pid to the pid file (if any). */
static int write_pid(const conf *c)
{
    char buf[32];
    int fd, n;

    if (c->milter_pid_file == NULL || *c->milter_pid_file == '\0')
        return 0;
    /* Its directory (/run/mugai) is root's: made here when missing, as systemd would. */
    char *dir = g_path_get_dirname(c->milter_pid_file);
    int made = mkdir(dir, 0755) == 0 || errno == EEXIST;
    g_free(dir);
    if (!made)
        return -1;
    /* Never through a link someone left where the pid file goes. */
    fd = open(c->milter_pid_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return -1;
    n = mg_snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (n < 0 || mg_write_all(fd, buf, (size_t)n) < 0) {
        close(fd);
        return -1;
    }
    return close(fd);
}

/* The file of a unix milter socket, or NULL for an inet one. */
static const char *socket_path(const char *sock)
{
    if (strncmp(sock, "unix:", 5) == 0)
        return sock + 5;
    if (strncmp(sock, "local:", 6) == 0)
        return sock + 6;
    return sock[0] == '/' ? sock : NULL;
}

/* Create a missing directory (mode) for the milter user (milter_user made sure it is started
 * as root and pw is not root). One that exists is left as the administrator made it. */
static int dir_for_user(const char *dir, mode_t mode, const struct passwd *pw)
{
    if (mkdir(dir, mode) < 0)
        return errno == EEXIST ? 0 : -1;
    return chown(dir, pw->pw_uid, pw->pw_gid);
}

/* The group the milter socket and its directory get: [milter] socket_group (Postfix's), so
 * that Postfix need not be in the milter user's group, which owns the quarantine; the milter
 * user's own group when it is empty or unknown (said). */
static gid_t socket_gid(const conf *c, const struct passwd *pw)
{
    const struct group *g;

    if (!c->milter_socket_group || !*c->milter_socket_group)
        return pw->pw_gid;
    g = getgrnam(c->milter_socket_group);
    if (g)
        return g->gr_gid;
    mg_warn("[milter] socket_group %s: no such group; the milter socket gets group %lu",
            c->milter_socket_group, (unsigned long)pw->pw_gid);
    return pw->pw_gid;
}

/* The directory of a unix milter socket, the milter user's with group gid, 0750 (Postfix
 * reaches it through the group). */
static int socket_dir_prepare(const char *sock, const struct passwd *pw, gid_t gid)
{
    const char *path = socket_path(sock);
    char *dir;
    int rc;

    if (path == NULL)
        return 0;
    dir = g_path_get_dirname(path);
    rc = mkdir(dir, 0750) < 0 ? (errno == EEXIST ? 0 : -1) : chown(dir, pw->pw_uid, gid);
    if (rc < 0)
        mg_error("milter socket directory %s: %s", dir, strerror(errno));
    g_free(dir);
    return rc;
}

/* Give the unix milter socket to the milter user and group gid, 0660: Postfix reaches it
 * through the group. */
static void socket_owner(const char *sock, const struct passwd *pw, gid_t gid)
{
    const char *path = socket_path(sock);
    struct stat st;

    if (path == NULL)
        return;
    /* Never through a link put where the socket was just made. */
    if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode) || lchown(path, pw->pw_uid, gid) < 0 ||
        chmod(path, 0660) < 0)
        mg_warn("milter socket %s: %s", path, strerror(errno));
}

/* The [jail] user, looked up when mugai-milter starts as root. */
static uid_t jail_uid;
static gid_t jail_gid;

/* Become the milter user: as root of a user namespace mapped to that user, where jailed
 * programs can still be switched to the jail user (and to nothing else). */
static int drop_privileges(const struct passwd *pw)
{
    return san_jail_userns_enter(pw->pw_uid, pw->pw_gid, jail_uid, jail_gid);
}

/* The libmilter front end (child of the supervisor). */
static int front_end(const conf *c)
{
    double until;

    prctl(PR_SET_PDEATHSIG, SIGTERM);
    /* Told apart from the workers by its name, also before libmilter starts its threads. */
    (void)prctl(PR_SET_NAME, "mugai-front");
    signal(SIGHUP, SIG_IGN); /* reload is the supervisor's job */
    /* The front end talks to Postfix and passes file descriptors: it needs none of the
     * capabilities the workers keep in their user namespace to make jails. */
    if (san_caps_drop() < 0)
        mg_fatal("cannot drop capabilities: %s", strerror(errno));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (milter_outbox_start(c) < 0)
        mg_fatal("cannot start the outbox thread: %s", strerror(errno));
    if (smfi_main() != MI_SUCCESS)
        mg_error("libmilter stopped with an error");
    until = mg_now() + c->milter_queue_wait + c->milter_job_timeout + 15;
    while (milter_active() > 0 && mg_now() < until)
        usleep(100000);
    milter_spool_drop_all();
    mg_info("milter front end stopped");
    return 0;
}

/* Bind the milter socket and register the callbacks. */
static int milter_setup(conf *c, const struct passwd *pw)
{
    gid_t gid = socket_gid(c, pw);

    if (milter_register(c) < 0) {
        mg_error("smfi_register failed");
        return -1;
    }
    if (socket_dir_prepare(c->milter_socket, pw, gid) < 0)
        return -1;
    if (smfi_setconn(c->milter_socket) != MI_SUCCESS || smfi_settimeout(600) != MI_SUCCESS ||
        smfi_opensocket(1) != MI_SUCCESS) {
        mg_error("cannot listen on %s", c->milter_socket);
        return -1;
    }
    socket_owner(c->milter_socket, pw, gid);
    return 0;
}

/* Load the configuration and apply -p. Exits 2 on error. */
static conf *load_conf(const opts *o)
{
    char *err = NULL;
    conf *c = conf_load(o->conf_path, &err);

    if (c == NULL) {
        fprintf(stderr, "mugai-milter: %s\n", err ? err : "cannot load the configuration");
        exit(EXIT_USAGE);
    }
    if (o->socket != NULL) {
        free(c->milter_socket);
        c->milter_socket = strdup(o->socket);
        if (c->milter_socket == NULL)
            mg_fatal("out of memory");
    }
    return c;
}

/* Print a configuration error about the file of o and exit 2. */
static void conf_refuse(const opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void conf_refuse(const opts *o, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "mugai-milter: %s: ", o->conf_path ? o->conf_path : CONF_DEFAULT_PATH);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(EXIT_USAGE);
}

/* Started as root: look up [jail] user, who must exist and be neither root nor the milter
 * user. Exits 2 otherwise. */
static void jail_user(const conf *c, const opts *o)
{
    struct passwd *jp = getpwnam(c->jail_user);

    if (jp == NULL)
        conf_refuse(o, "unknown [jail] user %s", c->jail_user);
    if (jp->pw_uid == 0 || jp->pw_gid == 0)
        conf_refuse(o, "[jail] user %s is root; name an unprivileged user such as nobody",
                    c->jail_user);
    jail_uid = jp->pw_uid;
    jail_gid = jp->pw_gid;
}

/* Look up [milter] user; exits 2 when not started as root, or when the user is empty,
 * unknown, root, or the same as [jail] user. */
static struct passwd *milter_user(const conf *c, const opts *o)
{
    struct passwd *pw;

    if (getuid() != 0) {
        /* Only a start as root lets jailed programs run as a user of their own. */
        fprintf(stderr, "mugai-milter: must be started as root (it then runs as [milter] user, "
                        "and its jails as [jail] user)\n");
        exit(EXIT_USAGE);
    }
    if (c->milter_user == NULL || *c->milter_user == '\0')
        conf_refuse(o, "refusing to run as root: set [milter] user (e.g. user = mugai) "
                       "to the user mugai-milter runs as after binding its socket");
    jail_user(c, o);
    pw = getpwnam(c->milter_user); /* last: getpwnam's storage is shared */
    if (pw == NULL) {
        fprintf(stderr, "mugai-milter: unknown [milter] user %s\n", c->milter_user);
        exit(EXIT_USAGE);
    }
    if (pw->pw_uid == 0 || pw->pw_gid == 0)
        conf_refuse(o,
                    "[milter] user %s is root or in group root; name the user mugai-milter "
                    "runs as",
                    c->milter_user);
    if (pw->pw_uid == jail_uid || pw->pw_gid == jail_gid)
        conf_refuse(o,
                    "[milter] user %s and [jail] user %s must differ (jailed programs must "
                    "own nothing of mugai's)",
                    c->milter_user, c->jail_user);
    return pw;
}

/* Create the console's unlock socket while still root, for [web] user alone: 0600, owned by
 * that user, in the milter user's group. Postfix and anything else in that group reach the
 * spool directory (0710) but may not connect: none of them may try passwords on held parts
 * as IT, past their lock, or write a console user of their choosing into the audit trail.
 * Without such a user on this system it stays the milter user's (only root connects). Returns
 * the listening socket; exits when it cannot be made. */
static int unlock_prepare(const conf *c, const struct passwd *pw)
{
    char path[PATH_MAX], buf[4096];
    struct passwd wpw, *web = NULL;
    uid_t owner = pw->pw_uid;
    struct stat st;
    int s = milter_unlock_listen(c);

    if (s < 0)
        exit(1);
    if (c->web_user != NULL && *c->web_user != '\0' &&
        getpwnam_r(c->web_user, &wpw, buf, sizeof(buf), &web) == 0 && web != NULL)
        owner = web->pw_uid;
    else
        mg_warn("[web] user %s is not on this system: the review console cannot reach "
                "the unlock socket",
                c->web_user && *c->web_user ? c->web_user : "(empty)");
    /* Never through a link put where the socket was just made. */
    if (milter_unlock_path(c, path, sizeof(path)) < 0 || lstat(path, &st) < 0 ||
        !S_ISSOCK(st.st_mode) || lchown(path, owner, pw->pw_gid) < 0)
        mg_fatal("unlock socket in %s: %s", c->milter_spool_dir, strerror(errno));
    return s;
}

/* Prepare everything that needs the starting privileges; the unlock socket is returned. */
static int start(conf *c, const opts *o, struct passwd *pw)
{
    int usock;

    int lvl = mg_log_level_parse(c->log_level);

    mg_log_init("mugai-milter", !o->foreground, lvl < 0 ? MG_LOG_INFO : (mg_log_level)lvl);
    if (spool_prepare(c, pw) < 0)
        mg_fatal("spool directory %s: %s", c->milter_spool_dir, strerror(errno));
    usock = unlock_prepare(c, pw);
    if (dir_for_user(c->quarantine_dir, 0700, pw) < 0)
        mg_fatal("quarantine directory %s: %s", c->quarantine_dir, strerror(errno));
    if (milter_setup(c, pw) < 0)
        exit(1);
    if (!o->foreground && daemon(0, 0) < 0)
        mg_fatal("daemon: %s", strerror(errno));
    if (write_pid(c) < 0)
        mg_fatal("pid file %s: %s", c->milter_pid_file, strerror(errno));
    if (drop_privileges(pw) < 0)
        mg_fatal("cannot become user %s in a user namespace of its own: %s", c->milter_user,
                 strerror(errno));
    return usock;
}

/* mugai-milter. */
int main(int argc, char **argv)
{
    opts o = {NULL, NULL, 0};
    conf *c;
    struct passwd *pw;
    int lsock, usock, rc;
    pid_t child;

    rc = parse_args(argc, argv, &o);
    if (rc != 0)
        return rc > 0 ? 0 : EXIT_USAGE;
    c = load_conf(&o);
    pw = milter_user(c, &o);
    /* usock: the console's way to the workers (open a held part with IT's password). */
    usock = start(c, &o, pw);
    lsock = milter_pool_listen(c);
    if (lsock < 0)
        return 1;
    child = fork();
    if (child < 0)
        mg_fatal("fork: %s", strerror(errno));
    if (child == 0) {
        close(lsock);
        close(usock);
        return front_end(c);
    }
    mg_info("started on %s (pid %ld)", c->milter_socket, (long)getpid());
    rc = milter_pool_run(c, o.conf_path, lsock, usock, child);
    return rc;
}
